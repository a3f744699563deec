//! The node agent (`muster agent`): runs on every node, reads the node's NUMA topology from
//! sysfs and publishes it as the node's NodeResourceTopology, with what the node's pods leave
//! available in each zone.
//!
//! One job per module, in the order data flows:
//!
//! - [`cpulist`]: the kernel's CPU list syntax.
//! - [`sysfs`]: NUMA nodes (CPUs, memory, huge pages, distances) from a sysfs tree.
//! - [`pci`]: GPUs and RDMA adapters from the PCI devices in it.
//! - [`reserved`]: what the kubelet reserves, in the kubelet's flag shapes.
//! - [`inventory`]: each zone's capacity and allocatable.
//! - [`available`]: what the node's pods hold in each zone, so what each has available.
//! - [`publish`]: the NodeResourceTopology, and writing it when it changes.
//! - [`metrics`]: the agent's Prometheus metrics.
//! - [`fixture`]: sysfs-shaped trees for tests.
//!
//! [`run`] ties them together: it reads the topology at start (failing loudly when sysfs is
//! not what it should be), watches the pods bound to the node, and resyncs on every pod
//! change and every [`Config::resync`]: re-read sysfs (huge pages can be changed at run time),
//! charge the pods, publish if the object would change.
//!
//! What it does not do yet: read the kubelet's pod-resources socket (gRPC), which would say
//! exactly which zone each container's CPUs, memory and devices came from. Without it, pods
//! are charged by the rules in [`available`].

pub mod available;
pub mod cpulist;
pub mod fixture;
pub mod inventory;
pub mod metrics;
pub mod pci;
pub mod publish;
pub mod reserved;
pub mod sysfs;

#[cfg(test)]
mod tests;

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use hyper::{Method, StatusCode};
use k8s_openapi::api::core::v1::Pod;
use kube::Client;
use kube::api::{Api, ListParams};
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};
use muster_api::objects::NodeResourceTopology;
use muster_core::numa::{TopologyPolicy, TopologyScope};
use tokio::sync::Notify;

use crate::http;
use inventory::{Inventory, InventoryError};
use metrics::AgentMetrics;
use pci::DeviceNames;
use publish::{PublishError, Published, Publisher};
use reserved::Reserved;
use sysfs::SysfsError;

/// Quiet time after a pod change before the resync it triggers (changes in between join it).
pub const POD_DEBOUNCE: Duration = Duration::from_millis(200);

/// How the agent runs.
#[derive(Clone, Debug)]
pub struct Config {
    /// The node this agent describes (the object's name).
    pub node_name: String,
    /// The sysfs root (`/sys`; `/host/sys` in the DaemonSet).
    pub sysfs_root: PathBuf,
    /// The procfs root, read only on a kernel without NUMA support (`meminfo`).
    pub proc_root: PathBuf,
    /// Resource names of devices.
    pub devices: DeviceNames,
    /// What the kubelet reserves.
    pub reserved: Reserved,
    /// The kubelet's topology manager policy.
    pub policy: TopologyPolicy,
    /// The kubelet's topology manager scope.
    pub scope: TopologyScope,
    /// Muster's scheduler name: the pods of that scheduler bound to the node are the ones
    /// the published fingerprint names (see `muster_api::numa_zones::pods_fingerprint`).
    pub scheduler_name: String,
    /// A resync runs at least this often.
    pub resync: Duration,
    /// Address for `/metrics` and `/healthz`.
    pub metrics_addr: SocketAddr,
}

/// Why the agent could not do its work.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// Sysfs could not be read.
    #[error(transparent)]
    Sysfs(#[from] SysfsError),
    /// The reservations do not fit the machine.
    #[error(transparent)]
    Inventory(#[from] InventoryError),
    /// The pods of the node could not be listed.
    #[error("listing the pods of node {node}: {source}")]
    Pods {
        /// The node.
        node: String,
        /// The API error.
        source: kube::Error,
    },
    /// The object could not be published.
    #[error(transparent)]
    Publish(#[from] PublishError),
    /// The metrics server could not start.
    #[error(transparent)]
    Serve(#[from] http::ServeError),
}

/// The node's zones as sysfs and the reservations give them.
pub fn read_inventory(config: &Config) -> Result<Inventory, AgentError> {
    let nodes = sysfs::read_numa_nodes(&config.sysfs_root, &config.proc_root)?;
    let devices = pci::read_devices(&config.sysfs_root)?;
    Ok(Inventory::build(
        &nodes,
        &devices,
        &config.devices,
        &config.reserved,
    )?)
}

/// The object to publish: `inventory` with what `pods` hold charged to its zones; problems met
/// on the way go to `notes`.
pub fn desired<'a>(
    config: &Config,
    inventory: &Inventory,
    pods: impl IntoIterator<Item = &'a Pod>,
    notes: &mut Vec<String>,
) -> NodeResourceTopology {
    let pods: Vec<&Pod> = pods.into_iter().collect();
    let holders = available::holders(pods.iter().copied(), &config.node_name, notes);
    let charged = available::available(inventory, &holders);
    notes.extend(charged.notes.iter().cloned());
    let fingerprint = muster_api::numa_zones::pods_fingerprint(
        pods.iter().copied(),
        &config.node_name,
        &config.scheduler_name,
    );
    publish::build(
        &config.node_name,
        inventory,
        &charged,
        config.policy,
        config.scope,
        &fingerprint,
    )
}

/// The selector of the pods bound to `node`.
pub fn pods_of(node: &str) -> String {
    format!("spec.nodeName={node}")
}

/// Reads sysfs, lists the node's pods and publishes once (writing only if the object on the
/// API server says something else); returns the content published.
pub async fn publish_once(
    client: Client,
    config: &Config,
) -> Result<NodeResourceTopology, AgentError> {
    let inventory = read_inventory(config)?;
    log_inventory(config, &inventory);
    let pods: Api<Pod> = Api::all(client.clone());
    let list = pods
        .list(&ListParams::default().fields(&pods_of(&config.node_name)))
        .await
        .map_err(|source| AgentError::Pods {
            node: config.node_name.clone(),
            source,
        })?;
    let mut notes = Vec::new();
    let object = desired(config, &inventory, &list.items, &mut notes);
    for n in &notes {
        tracing::warn!(note = %n, "charging pods to zones");
    }
    let mut publisher = Publisher::new(client, &config.node_name);
    let outcome = publisher.publish(&object, true).await?;
    tracing::info!(node = %config.node_name, ?outcome, "published");
    Ok(object)
}

fn log_inventory(config: &Config, inventory: &Inventory) {
    for z in &inventory.zones {
        let resources: Vec<String> = z
            .capacity
            .iter()
            .map(|(r, cap)| {
                let alloc = z.allocatable.get(r).copied().unwrap_or_default();
                format!("{r}={cap}/{alloc}")
            })
            .collect();
        tracing::info!(zone = %z.name, resources = %resources.join(" "), "zone (capacity/allocatable)");
    }
    for d in &inventory.outside_zones {
        let numa = d
            .numa_node
            .map_or_else(|| "-1".to_string(), |n| n.to_string());
        tracing::info!(
            device = %d.address,
            resource = config.devices.of(d.kind),
            numa_node = %numa,
            "device in no NUMA zone: counted in the node's total only"
        );
    }
}

/// Runs the agent until `shutdown` completes.
pub async fn run(
    client: Client,
    config: Config,
    shutdown: impl Future<Output = ()>,
) -> Result<(), AgentError> {
    let metrics = Arc::new(AgentMetrics::new());
    let (listener, addr) = http::bind(config.metrics_addr).await?;
    tracing::info!(%addr, "serving /metrics and /healthz");
    {
        let metrics = metrics.clone();
        tokio::spawn(http::serve(listener, None, move |method, path, _body| {
            let metrics = metrics.clone();
            async move {
                match (method, path.as_str()) {
                    (Method::GET, "/metrics") => http::text(StatusCode::OK, metrics.encode()),
                    (Method::GET, "/healthz") => http::text(StatusCode::OK, "ok"),
                    _ => http::text(StatusCode::NOT_FOUND, "not found"),
                }
            }
        }));
    }

    // Fail at start, loudly, when sysfs or the reservations are wrong.
    let mut inventory = read_inventory(&config)?;
    log_inventory(&config, &inventory);

    let trigger = Arc::new(Notify::new());
    let pods = watch_pods(&client, &config.node_name, trigger.clone());
    let mut publisher = Publisher::new(client, &config.node_name);

    let work = async {
        let _ = pods.wait_until_ready().await;
        tracing::info!(node = %config.node_name, "pods of the node listed; publishing");
        let mut next_periodic = tokio::time::Instant::now();
        let mut last_notes: Vec<String> = Vec::new();
        loop {
            let periodic = tokio::select! {
                _ = trigger.notified() => false,
                _ = tokio::time::sleep_until(next_periodic) => true,
            };
            if periodic {
                next_periodic = tokio::time::Instant::now() + config.resync;
                match read_inventory(&config) {
                    Ok(fresh) => {
                        if fresh != inventory {
                            log_inventory(&config, &fresh);
                            inventory = fresh;
                        }
                    }
                    Err(e) => {
                        metrics.errors.inc();
                        tracing::warn!(error = %e, "cannot re-read the topology; keeping the last one read");
                    }
                }
            } else {
                tokio::time::sleep(POD_DEBOUNCE).await;
            }
            metrics.resyncs.inc();
            let state = pods.state();
            let mut notes = Vec::new();
            let object = desired(&config, &inventory, state.iter().map(|p| &**p), &mut notes);
            if notes != last_notes {
                for n in &notes {
                    tracing::warn!(note = %n, "charging pods to zones");
                }
                last_notes = notes;
            }
            match publisher.publish(&object, periodic).await {
                Ok(Published::Written) => {
                    metrics.writes.inc();
                    tracing::info!(node = %config.node_name, "NodeResourceTopology written");
                }
                Ok(Published::Unchanged) => {}
                Err(e) => {
                    metrics.errors.inc();
                    tracing::warn!(error = %e, "publish failed; retrying at the next resync");
                }
            }
        }
    };
    tokio::select! {
        _ = work => {}
        _ = shutdown => tracing::info!("shutting down"),
    }
    Ok(())
}

/// A store of the pods bound to `node`, notifying `trigger` on every change.
fn watch_pods(client: &Client, node: &str, trigger: Arc<Notify>) -> Store<Pod> {
    let api: Api<Pod> = Api::all(client.clone());
    let (reader, writer) = reflector::store();
    let config = watcher::Config::default().fields(&pods_of(node));
    let stream = reflector::reflector(writer, watcher(api, config).default_backoff());
    tokio::spawn(async move {
        let mut stream = std::pin::pin!(stream);
        while let Some(event) = stream.next().await {
            match event {
                Ok(_) => trigger.notify_one(),
                Err(e) => tracing::warn!(error = %e, "pod watch failed; retrying"),
            }
        }
    });
    reader
}
