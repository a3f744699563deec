//! The controller: reflectors fill the stores, a debounced loop runs the core over a fresh
//! snapshot of them, and the leader writes the resulting plan.
//!
//! Every replica watches (so that a new leader starts warm) and serves the webhook; only
//! the leader runs cycles and writes. After writing, the next cycle waits (briefly) until
//! the stores have seen those writes, so that no cycle decides from a view older than the
//! last cycle's own decisions.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt;
use hyper::{Method, StatusCode};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::api::scheduling::v1::PriorityClass;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time as K8sTime;
use kube::api::{Api, ListParams};
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, Resource};
use muster_api::objects::{
    ClusterQueue, Cohort, LocalQueue, NodeResourceTopology, ResourceFlavor, Workload,
};
use serde::de::DeserializeOwned;
use tokio::sync::Notify;

use crate::apply::{Applier, Written};
use crate::certs;
use crate::http;
use crate::leader::{Elector, Leadership, LeaseConfig};
use crate::metrics::Metrics;
use crate::names::QUEUE_LABEL;
use crate::plan;
use crate::snapshot::{Objects, Snapshot};
use crate::webhook;

/// Where the webhook's certificate comes from.
#[derive(Clone, Debug)]
pub enum WebhookCert {
    /// A self-signed certificate shared through this Secret (in the controller's namespace),
    /// valid for these DNS names and IP addresses.
    Secret {
        /// Secret name.
        name: String,
        /// Names the API server reaches the webhook by.
        dns_names: Vec<String>,
    },
    /// `tls.crt` and `tls.key` in this directory.
    Dir(PathBuf),
}

/// How the controller runs.
#[derive(Clone, Debug)]
pub struct Config {
    /// The controller's namespace: its Lease and certificate Secret live here.
    pub namespace: String,
    /// This replica's identity (pod name).
    pub identity: String,
    /// Elect a leader (off: this replica always writes; for a single replica only).
    pub leader_election: bool,
    /// Lease name and timing.
    pub lease: LeaseConfig,
    /// Address for `/metrics`, `/healthz` and `/readyz`.
    pub metrics_addr: SocketAddr,
    /// Address for the webhook (HTTPS); `None` serves no webhook.
    pub webhook_addr: Option<SocketAddr>,
    /// The webhook's certificate.
    pub webhook_cert: WebhookCert,
    /// The MutatingWebhookConfiguration whose caBundle the controller keeps current.
    pub webhook_config: String,
    /// Quiet time after a change before a cycle runs (changes in between join it).
    pub debounce: Duration,
    /// A cycle runs at least this often.
    pub resync: Duration,
    /// The scheduler's settings (from the config file's `Configuration`).
    pub settings: Settings,
    /// The scheduler name of the pods Muster binds to the nodes it planned (`None`:
    /// kube-scheduler places the pods of admitted Jobs, Muster only admits).
    pub scheduler_name: Option<String>,
    /// A test of restart safety: exit right after this many binds, sent one at a time.
    pub exit_after_binds: Option<u64>,
}

/// The scheduler-wide settings a `Configuration` gives the controller.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Settings {
    /// How cycles decide: fair sharing, the scoring strategy.
    pub profile: muster_core::Profile,
    /// Network-topology levels, widest first (empty: level `L` is the node label
    /// `topology.muster.dev/L`).
    pub topology_levels: Vec<muster_core::spec::TopologyLevelSpec>,
    /// How long an admitted gang whose pods Muster binds may wait for all of them to exist
    /// before it is planned again (`None`: for ever).
    pub gang_pods_timeout: Option<Duration>,
}

/// Why the controller stopped.
#[derive(Debug, thiserror::Error)]
pub enum ControllerError {
    /// A server could not start.
    #[error(transparent)]
    Serve(#[from] http::ServeError),
    /// The webhook certificate could not be had.
    #[error(transparent)]
    Cert(#[from] certs::CertError),
}

/// The stores the reflectors fill.
#[derive(Clone)]
struct Stores {
    nodes: Store<Node>,
    priority_classes: Store<PriorityClass>,
    flavors: Store<ResourceFlavor>,
    cluster_queues: Store<ClusterQueue>,
    cohorts: Store<Cohort>,
    local_queues: Store<LocalQueue>,
    workloads: Store<Workload>,
    jobs: Store<Job>,
    topologies: Option<Store<NodeResourceTopology>>,
    /// Pods whose scheduler is Muster, when Muster binds.
    pods: Option<Store<Pod>>,
    /// Muster's scheduler name, when it binds.
    scheduler_name: Option<String>,
}

fn reflect<K>(api: Api<K>, config: watcher::Config, trigger: Arc<Notify>) -> Store<K>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
{
    let (reader, writer) = reflector::store();
    let kind = K::kind(&()).to_string();
    let stream = reflector::reflector(writer, watcher(api, config).default_backoff());
    tokio::spawn(async move {
        let mut stream = std::pin::pin!(stream);
        while let Some(event) = stream.next().await {
            match event {
                Ok(_) => trigger.notify_one(),
                Err(e) => tracing::warn!(%kind, error = %e, "watch failed; retrying"),
            }
        }
    });
    reader
}

fn version_in<K: Resource<DynamicType = ()> + Clone>(
    store: &Store<K>,
    ns: &str,
    name: &str,
) -> Option<Option<String>> {
    // A lookup by key: after a cycle that bound 10,000 pods, each of them is looked up here
    // every 20 ms until all are seen.
    let key = reflector::ObjectRef::new(name);
    let key = if ns.is_empty() { key } else { key.within(ns) };
    store.get(&key).map(|o| o.meta().resource_version.clone())
}

impl Stores {
    fn start(
        client: &Client,
        trigger: &Arc<Notify>,
        topologies: bool,
        scheduler_name: Option<&str>,
    ) -> Stores {
        let all = watcher::Config::default().any_semantic();
        Stores {
            nodes: reflect(Api::all(client.clone()), all.clone(), trigger.clone()),
            priority_classes: reflect(Api::all(client.clone()), all.clone(), trigger.clone()),
            flavors: reflect(Api::all(client.clone()), all.clone(), trigger.clone()),
            cluster_queues: reflect(Api::all(client.clone()), all.clone(), trigger.clone()),
            cohorts: reflect(Api::all(client.clone()), all.clone(), trigger.clone()),
            local_queues: reflect(Api::all(client.clone()), all.clone(), trigger.clone()),
            workloads: reflect(Api::all(client.clone()), all.clone(), trigger.clone()),
            jobs: reflect(
                Api::all(client.clone()),
                all.clone().labels(QUEUE_LABEL),
                trigger.clone(),
            ),
            topologies: topologies
                .then(|| reflect(Api::all(client.clone()), all.clone(), trigger.clone())),
            scheduler_name: scheduler_name.map(str::to_string),
            pods: scheduler_name.map(|name| {
                reflect(
                    Api::all(client.clone()),
                    all.clone().fields(&format!("spec.schedulerName={name}")),
                    trigger.clone(),
                )
            }),
        }
    }

    async fn wait_until_ready(&self) {
        let _ = self.nodes.wait_until_ready().await;
        let _ = self.priority_classes.wait_until_ready().await;
        let _ = self.flavors.wait_until_ready().await;
        let _ = self.cluster_queues.wait_until_ready().await;
        let _ = self.cohorts.wait_until_ready().await;
        let _ = self.local_queues.wait_until_ready().await;
        let _ = self.workloads.wait_until_ready().await;
        let _ = self.jobs.wait_until_ready().await;
        if let Some(t) = &self.topologies {
            let _ = t.wait_until_ready().await;
        }
        if let Some(p) = &self.pods {
            let _ = p.wait_until_ready().await;
        }
    }

    fn objects(&self, bind_failures: BTreeMap<(String, String), String>) -> Objects {
        let mut o = Objects {
            nodes: self.nodes.state(),
            priority_classes: self.priority_classes.state(),
            flavors: self.flavors.state(),
            cluster_queues: self.cluster_queues.state(),
            cohorts: self.cohorts.state(),
            local_queues: self.local_queues.state(),
            workloads: self.workloads.state(),
            jobs: self.jobs.state(),
            topologies: self
                .topologies
                .as_ref()
                .map(|t| t.state())
                .unwrap_or_default(),
            pods: self.pods.as_ref().map(|p| p.state()).unwrap_or_default(),
            scheduler_name: self.scheduler_name.clone(),
            bind_failures,
            plain_pods: BTreeMap::new(),
        };
        o.sort();
        o
    }

    /// Whether the stores have seen a write (the object changed from its version before the
    /// write, or appeared, or went away).
    fn has_seen(&self, w: &Written) -> bool {
        let now = match w.kind {
            "Workload" => version_in(&self.workloads, &w.namespace, &w.name),
            "Job" => version_in(&self.jobs, &w.namespace, &w.name),
            "ClusterQueue" => version_in(&self.cluster_queues, &w.namespace, &w.name),
            "LocalQueue" => version_in(&self.local_queues, &w.namespace, &w.name),
            "Pod" => match &self.pods {
                Some(pods) => version_in(pods, &w.namespace, &w.name),
                None => return true,
            },
            _ => return true,
        };
        match (&w.before, now) {
            (None, found) => found.is_some(),
            (Some(_), None) => true,
            (Some(before), Some(now)) => now.as_ref() != Some(before),
        }
    }
}

/// Whether the NodeResourceTopology API is served.
async fn topologies_served(client: &Client) -> bool {
    let api: Api<NodeResourceTopology> = Api::all(client.clone());
    match api.list_metadata(&ListParams::default().limit(1)).await {
        Ok(_) => true,
        Err(e) => {
            tracing::info!(error = %e, "NodeResourceTopology is not served; not watching it");
            false
        }
    }
}

/// Decides one cycle from a snapshot of the stores: model, core, plan (the controller runs
/// it off the async runtime; the benchmark times it).
pub fn decide(
    mut objects: Objects,
    now: K8sTime,
    settings: &Settings,
) -> Result<plan::Plan, String> {
    crate::plain_pod::stand_in(&mut objects);
    let mut snap =
        Snapshot::build(&objects, &settings.topology_levels).map_err(|e| e.to_string())?;
    for w in &snap.live.warnings {
        tracing::debug!(warning = %w, "input warning");
    }
    let t = muster_core::Time(now.0.as_millisecond());
    let out = muster_core::run_cycle(&mut snap.model, t, &settings.profile);
    Ok(plan::plan(
        &objects,
        &mut snap,
        &out,
        &now,
        settings.gang_pods_timeout,
    ))
}

/// Runs the controller until `shutdown` completes.
pub async fn run(
    client: Client,
    config: Config,
    shutdown: impl Future<Output = ()>,
) -> Result<(), ControllerError> {
    let metrics = Arc::new(Metrics::new());
    let ready = Arc::new(AtomicBool::new(false));

    // Health and metrics first, so that probes answer while the rest starts.
    let (listener, addr) = http::bind(config.metrics_addr).await?;
    tracing::info!(%addr, "serving /metrics, /healthz and /readyz");
    {
        let metrics = metrics.clone();
        let ready = ready.clone();
        tokio::spawn(http::serve(listener, None, move |method, path, _body| {
            let metrics = metrics.clone();
            let ready = ready.clone();
            async move {
                match (method, path.as_str()) {
                    (Method::GET, "/metrics") => http::text(StatusCode::OK, metrics.encode()),
                    (Method::GET, "/healthz") => http::text(StatusCode::OK, "ok"),
                    (Method::GET, "/readyz") if ready.load(Ordering::SeqCst) => {
                        http::text(StatusCode::OK, "ok")
                    }
                    (Method::GET, "/readyz") => {
                        http::text(StatusCode::SERVICE_UNAVAILABLE, "caches not synced")
                    }
                    _ => http::text(StatusCode::NOT_FOUND, "not found"),
                }
            }
        }));
    }

    if let Some(addr) = config.webhook_addr {
        let cert = match &config.webhook_cert {
            WebhookCert::Dir(dir) => certs::from_dir(dir)?,
            WebhookCert::Secret { name, dns_names } => {
                certs::from_secret(client.clone(), &config.namespace, name, dns_names).await?
            }
        };
        if !certs::inject_ca_bundle(client.clone(), &config.webhook_config, &cert).await? {
            tracing::warn!(config = %config.webhook_config, "no MutatingWebhookConfiguration of that name: Jobs are not suspended on creation, plain pods not given Muster as their scheduler");
        }
        let tls = http::tls_config(&cert)?;
        let (listener, addr) = http::bind(addr).await?;
        tracing::info!(%addr, jobs = webhook::JOB_PATH, pods = webhook::POD_PATH, "serving the webhooks");
        let scheduler = config.scheduler_name.clone();
        tokio::spawn(http::serve(
            listener,
            Some(tls),
            move |method, path, body| webhook::handle(scheduler.clone(), method, path, body),
        ));
    }

    let (elector, leadership) = if config.leader_election {
        let (e, l) = Elector::new(client.clone(), config.lease.clone());
        (Some(Arc::new(e)), l)
    } else {
        (None, Leadership::always())
    };
    if let Some(e) = &elector {
        tokio::spawn(e.clone().run());
    }

    let trigger = Arc::new(Notify::new());
    let topologies = topologies_served(&client).await;
    let stores = Stores::start(
        &client,
        &trigger,
        topologies,
        config.scheduler_name.as_deref(),
    );
    let applier = Applier::new(client.clone(), leadership.clone(), &config.identity)
        .exit_after_binds(config.exit_after_binds);

    let work = async {
        stores.wait_until_ready().await;
        ready.store(true, Ordering::SeqCst);
        tracing::info!("caches synced");
        let mut leadership = leadership.clone();
        let mut changes = leadership.changes();
        let mut written: Vec<Written> = Vec::new();
        let mut bind_failures = BTreeMap::new();
        let mut wake_at: Option<jiff::Timestamp> = None;
        loop {
            if !leadership.is_leader() {
                metrics.leader.set(0);
                leadership.wait_until_leader().await;
                tracing::info!("leading: scheduling cycles start");
            }
            metrics.leader.set(1);
            tokio::time::sleep(config.debounce).await;
            // Read our own writes before deciding again.
            let deadline = Instant::now() + Duration::from_secs(5);
            while !written.iter().all(|w| stores.has_seen(w)) && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            let objects = stores.objects(std::mem::take(&mut bind_failures));
            let now = K8sTime(jiff::Timestamp::now());
            let started = Instant::now();
            let settings = config.settings.clone();
            let decided =
                tokio::task::spawn_blocking(move || decide(objects, now, &settings)).await;
            metrics
                .cycle_duration
                .observe(started.elapsed().as_secs_f64());
            written = match decided {
                Ok(Ok(plan)) => {
                    metrics.record_plan(&plan);
                    wake_at = plan.wake_at;
                    let applied = applier.apply(&plan, &metrics).await;
                    bind_failures = applied.bind_failures;
                    if !bind_failures.is_empty() {
                        trigger.notify_one();
                    }
                    applied.written
                }
                Ok(Err(e)) => {
                    tracing::error!(error = %e, "cycle failed");
                    Vec::new()
                }
                Err(e) => {
                    tracing::error!(error = %e, "cycle panicked");
                    Vec::new()
                }
            };
            if !written.is_empty() {
                continue;
            }
            // The next cycle: on a change, at the resync, or when a gang waiting for its
            // pods runs out of time (a moment after, so that the deadline has passed).
            let until_due = wake_at.map_or(config.resync, |at| {
                // Past already (a negative span): at once.
                let left = Duration::try_from(jiff::Timestamp::now().duration_until(at))
                    .unwrap_or(Duration::ZERO);
                (left + Duration::from_millis(100)).min(config.resync)
            });
            tokio::select! {
                _ = trigger.notified() => {}
                _ = tokio::time::sleep(until_due) => {}
                _ = changes.changed() => {}
            }
        }
    };
    tokio::select! {
        _ = work => {}
        _ = shutdown => {
            tracing::info!("shutting down");
        }
    }
    if let Some(e) = elector {
        e.release().await;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::runtime::reflector::store::Writer;

    fn object<T: DeserializeOwned>(v: serde_json::Value) -> T {
        serde_json::from_value(v).expect("valid object")
    }

    #[test]
    fn an_object_is_found_by_namespace_and_name_or_by_name_alone_when_cluster_scoped() {
        let mut pods: Writer<Pod> = Writer::default();
        for (ns, name, rv) in [("a", "p", "1"), ("b", "p", "2")] {
            let pod: Pod = object(serde_json::json!({
                "metadata": {"name": name, "namespace": ns, "resourceVersion": rv}}));
            pods.apply_watcher_event(&watcher::Event::Apply(pod));
        }
        let pods = pods.as_reader();
        assert_eq!(version_in(&pods, "b", "p"), Some(Some("2".into())));
        assert_eq!(version_in(&pods, "a", "p"), Some(Some("1".into())));
        assert_eq!(version_in(&pods, "c", "p"), None);

        let mut queues: Writer<ClusterQueue> = Writer::default();
        let q: ClusterQueue = object(
            serde_json::json!({"metadata": {"name": "q", "resourceVersion": "7"}, "spec": {}}),
        );
        queues.apply_watcher_event(&watcher::Event::Apply(q));
        let queues = queues.as_reader();
        assert_eq!(version_in(&queues, "", "q"), Some(Some("7".into())));
        assert_eq!(version_in(&queues, "", "r"), None);
    }
}
