//! Harness for the tests against a real control plane (`tools/testenv`, started by
//! `tools/test`, which exports `MUSTER_TESTENV_KUBECONFIG`).
//!
//! Tests share one API server, so they run one at a time ([`lock`]) and each starts from a
//! clean slate ([`Env::reset`]): every Muster object, every queued Job and every test node
//! left by an earlier test is removed first.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::future::Future;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use k8s_openapi::api::admissionregistration::v1::MutatingWebhookConfiguration;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Namespace, Node};
use k8s_openapi::api::scheduling::v1::PriorityClass;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config, Resource};
use muster_api::objects::{ClusterQueue, Cohort, LocalQueue, ResourceFlavor, Workload};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

/// Label on every node a test creates.
pub const TEST_NODE_LABEL: &str = "muster.dev/test-node";

static LOCK: Mutex<()> = Mutex::new(());

/// Serializes the tests that share the control plane.
pub fn lock() -> MutexGuard<'static, ()> {
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// The control plane, or `None` (after saying why) when it is not running and CI is not set.
pub fn kubeconfig() -> Option<PathBuf> {
    match std::env::var_os("MUSTER_TESTENV_KUBECONFIG") {
        Some(p) => Some(PathBuf::from(p)),
        None if std::env::var_os("CI").is_some() => panic!(
            "CI is set but MUSTER_TESTENV_KUBECONFIG is not: run the suite with tools/test, \
             which builds and starts the control plane"
        ),
        None => {
            // Straight to stderr: the test harness captures eprintln! of passing tests.
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED {}: no control plane (MUSTER_TESTENV_KUBECONFIG is not set). Run \
                 tools/test to build and start one from the Go modules in tools/testenv.",
                std::thread::current().name().unwrap_or("test")
            );
            None
        }
    }
}

/// A tokio runtime for one test.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// The control plane, connected.
pub struct Env {
    /// A client with the admin token.
    pub client: Client,
    /// The kubeconfig the controller processes get.
    pub kubeconfig: PathBuf,
}

/// Polls `f` every 200 ms until it returns `Some`, or panics after `timeout` naming `what`.
pub async fn wait_for<T, F, Fut>(what: &str, timeout: Duration, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        if Instant::now() > deadline {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn pp() -> PostParams {
    PostParams::default()
}

/// Server-side apply of a typed object.
pub async fn apply<K>(api: &Api<K>, obj: &K) -> K
where
    K: Resource + Clone + DeserializeOwned + Serialize + std::fmt::Debug,
{
    let name = obj.meta().name.clone().expect("named");
    let ssa = PatchParams::apply("muster-tests").force();
    api.patch(&name, &ssa, &Patch::Apply(obj))
        .await
        .unwrap_or_else(|e| panic!("apply {name}: {e}"))
}

fn delete_params() -> DeleteParams {
    DeleteParams {
        grace_period_seconds: Some(0),
        propagation_policy: Some(kube::api::PropagationPolicy::Background),
        ..DeleteParams::default()
    }
}

/// Deletes every cluster-scoped object of a kind that `lp` selects.
async fn delete_all<K>(api: Api<K>, lp: &ListParams)
where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug,
{
    if let Ok(list) = api.list(lp).await {
        for o in list {
            if let Some(name) = o.meta().name.clone() {
                let _ = api.delete(&name, &delete_params()).await;
            }
        }
    }
}

/// Deletes every namespaced object of a kind that `lp` selects, in every namespace.
async fn delete_namespaced<K>(client: &Client, lp: &ListParams)
where
    K: Resource<Scope = kube::core::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug,
{
    let all: Api<K> = Api::all(client.clone());
    if let Ok(list) = all.list(lp).await {
        for o in list {
            let (Some(name), Some(ns)) = (o.meta().name.clone(), o.meta().namespace.clone()) else {
                continue;
            };
            let api: Api<K> = Api::namespaced(client.clone(), &ns);
            let _ = api.delete(&name, &delete_params()).await;
        }
    }
}

impl Env {
    /// Connects to the control plane, or `None` when there is none to connect to.
    pub async fn connect() -> Option<Env> {
        let path = kubeconfig()?;
        let kc = Kubeconfig::read_from(&path).expect("read the testenv kubeconfig");
        let config = Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
            .await
            .expect("kubeconfig");
        let client = Client::try_from(config).expect("client");
        let env = Env {
            client,
            kubeconfig: path,
        };
        env.install_crds().await;
        Some(env)
    }

    /// Installs Muster's CRDs (from `muster crds`) and the community NodeResourceTopology
    /// CRD (as NFD's topology-updater installs it), and waits until they are Established.
    pub async fn install_crds(&self) {
        let api: Api<CustomResourceDefinition> = Api::all(self.client.clone());
        let mut crds = muster_kube::crd::all();
        crds.push(node_resource_topology_crd());
        for crd in &crds {
            apply(&api, crd).await;
        }
        for crd in crds {
            let name = crd.metadata.name.clone().unwrap();
            wait_for(
                &format!("CRD {name} Established"),
                Duration::from_secs(30),
                || {
                    let api = api.clone();
                    let name = name.clone();
                    async move {
                        let c = api.get(&name).await.ok()?;
                        let established = c
                            .status?
                            .conditions?
                            .iter()
                            .any(|c| c.type_ == "Established" && c.status == "True");
                        established.then_some(())
                    }
                },
            )
            .await;
        }
    }

    /// Removes what earlier tests left: Muster's objects, queued Jobs, test nodes, the
    /// webhook configuration and the leader Lease; creates the given namespaces.
    pub async fn reset(&self, namespaces: &[&str]) {
        let c = &self.client;
        let all = ListParams::default();
        delete_all(
            Api::<MutatingWebhookConfiguration>::all(c.clone()),
            &ListParams::default().fields("metadata.name=muster-webhook"),
        )
        .await;
        delete_namespaced::<Job>(
            c,
            &ListParams::default().labels(muster_kube::names::QUEUE_LABEL),
        )
        .await;
        delete_namespaced::<Workload>(c, &all).await;
        delete_namespaced::<LocalQueue>(c, &all).await;
        delete_all(Api::<ClusterQueue>::all(c.clone()), &all).await;
        delete_all(Api::<Cohort>::all(c.clone()), &all).await;
        delete_all(Api::<ResourceFlavor>::all(c.clone()), &all).await;
        delete_all(
            Api::<Node>::all(c.clone()),
            &ListParams::default().labels(TEST_NODE_LABEL),
        )
        .await;
        delete_all(topology_api(c), &all).await;
        let _ = Api::<Lease>::namespaced(c.clone(), "muster-system")
            .delete("muster-controller", &DeleteParams::default())
            .await;
        // Wait for the Workloads (Jobs' pods go with kwok's delete stage).
        wait_for("old Workloads to go", Duration::from_secs(60), || async {
            let n = Api::<Workload>::all(c.clone())
                .list(&all)
                .await
                .ok()?
                .items
                .len();
            (n == 0).then_some(())
        })
        .await;
        let ns_api: Api<Namespace> = Api::all(c.clone());
        for ns in ["muster-system"].iter().chain(namespaces) {
            let n: Namespace = serde_json::from_value(json!({"metadata": {"name": ns}})).unwrap();
            apply(&ns_api, &n).await;
            // Events of earlier runs would confuse assertions about who wrote what.
            let events: Api<k8s_openapi::api::events::v1::Event> = Api::namespaced(c.clone(), ns);
            let _ = events
                .delete_collection(&DeleteParams::default(), &ListParams::default())
                .await;
        }
    }

    /// Registers the Job and Pod webhooks at `https://127.0.0.1:<port>` (the controller fills
    /// in the CA bundle).
    pub async fn register_webhook(&self, port: u16, failure_policy: &str) {
        let webhook = |name: &str, path: &str, group: &str, resource: &str| {
            json!({
                "name": name,
                "admissionReviewVersions": ["v1"],
                "sideEffects": "None",
                "failurePolicy": failure_policy,
                "timeoutSeconds": 5,
                "clientConfig": {"url": format!("https://127.0.0.1:{port}{path}")},
                "objectSelector": {"matchExpressions": [{"key": muster_kube::names::QUEUE_LABEL, "operator": "Exists"}]},
                "rules": [{"apiGroups": [group], "apiVersions": ["v1"], "operations": ["CREATE"], "resources": [resource]}]
            })
        };
        let config: MutatingWebhookConfiguration = serde_json::from_value(json!({
            "metadata": {"name": "muster-webhook"},
            "webhooks": [
                webhook("jobs.muster.dev", muster_kube::webhook::JOB_PATH, "batch", "jobs"),
                webhook("pods.muster.dev", muster_kube::webhook::POD_PATH, "", "pods"),
            ]
        }))
        .unwrap();
        apply(&Api::all(self.client.clone()), &config).await;
    }

    /// Registers `controller`'s webhook (failure policy Fail) and waits until the
    /// controller is ready and the webhook suspends labelled Jobs in `namespace`.
    pub async fn serve(&self, controller: &Controller, namespace: &str) {
        self.register_webhook(controller.webhook_port, "Fail").await;
        controller.wait_ready().await;
        self.wait_for_webhook(namespace).await;
    }

    /// Waits until the webhook has a CA bundle and answers (a queued dry-run Job comes back
    /// suspended).
    pub async fn wait_for_webhook(&self, namespace: &str) {
        let api: Api<Job> = Api::namespaced(self.client.clone(), namespace);
        wait_for(
            "the webhook to suspend queued Jobs",
            Duration::from_secs(60),
            || {
                let api = api.clone();
                async move {
                    let probe = job(namespace, "webhook-probe", "none", "1", 1, "1s", None);
                    let dry = PostParams {
                        dry_run: true,
                        ..PostParams::default()
                    };
                    let created = api.create(&dry, &probe).await.ok()?;
                    (created.spec?.suspend == Some(true)).then_some(())
                }
            },
        )
        .await;
    }

    /// Creates a kwok node with this much cpu (and room for 110 pods).
    pub async fn node(&self, name: &str, cpu: &str, labels: &[(&str, &str)]) {
        let mut l: BTreeMap<String, String> = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        l.insert(TEST_NODE_LABEL.into(), "true".into());
        l.insert("kubernetes.io/hostname".into(), name.into());
        let n: Node = serde_json::from_value(json!({
            "metadata": {"name": name, "labels": l, "annotations": {"kwok.x-k8s.io/node": "fake"}},
            "status": {
                "capacity": {"cpu": cpu, "memory": "64Gi", "pods": "110"},
                "allocatable": {"cpu": cpu, "memory": "64Gi", "pods": "110"}
            }
        }))
        .unwrap();
        let api: Api<Node> = Api::all(self.client.clone());
        api.create(&pp(), &n).await.expect("create node");
        wait_for(
            &format!("node {name} Ready"),
            Duration::from_secs(30),
            || {
                let api = api.clone();
                async move {
                    let n = api.get(name).await.ok()?;
                    node_ready(&n).then_some(())
                }
            },
        )
        .await;
    }

    /// Applies YAML text (one or more documents) of Muster's kinds, PriorityClasses and
    /// LocalQueues.
    pub async fn apply_yaml(&self, text: &str) {
        for doc in muster_api::yaml::parse_stream(text).expect("yaml") {
            let v: Value = muster_api::yaml::from_node(&doc.root).expect("object");
            self.apply_value(v).await;
        }
    }

    /// Applies one object given as JSON.
    pub async fn apply_value(&self, mut v: Value) {
        let c = self.client.clone();
        if v.get("spec").is_none() && v["kind"] != "PriorityClass" {
            v["spec"] = json!({});
        }
        let ns = v["metadata"]["namespace"].as_str().map(str::to_string);
        match v["kind"].as_str().unwrap_or_default() {
            "ResourceFlavor" => {
                apply(&Api::<ResourceFlavor>::all(c), &from(v)).await;
            }
            "ClusterQueue" => {
                apply(&Api::<ClusterQueue>::all(c), &from(v)).await;
            }
            "Cohort" => {
                apply(&Api::<Cohort>::all(c), &from(v)).await;
            }
            "LocalQueue" => {
                apply(&Api::<LocalQueue>::namespaced(c, &ns.unwrap()), &from(v)).await;
            }
            "PriorityClass" => {
                apply(&Api::<PriorityClass>::all(c), &from(v)).await;
            }
            other => panic!("apply_yaml does not take {other}"),
        };
    }

    /// Creates a Job; returns it as the API server stored it.
    pub async fn create_job(&self, j: &Job) -> Job {
        let ns = j.metadata.namespace.clone().unwrap();
        Api::<Job>::namespaced(self.client.clone(), &ns)
            .create(&pp(), j)
            .await
            .unwrap_or_else(|e| panic!("create Job {:?}: {e}", j.metadata.name))
    }

    /// All Workloads, by name.
    pub async fn workloads(&self, namespace: &str) -> BTreeMap<String, Workload> {
        Api::<Workload>::namespaced(self.client.clone(), namespace)
            .list(&ListParams::default())
            .await
            .map(|l| {
                l.items
                    .into_iter()
                    .map(|w| (w.metadata.name.clone().unwrap_or_default(), w))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// All queued Jobs, by name.
    pub async fn jobs(&self, namespace: &str) -> BTreeMap<String, Job> {
        Api::<Job>::namespaced(self.client.clone(), namespace)
            .list(&ListParams::default())
            .await
            .map(|l| {
                l.items
                    .into_iter()
                    .map(|j| (j.metadata.name.clone().unwrap_or_default(), j))
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// The CRD of `topology.node.k8s.io/v1alpha2` NodeResourceTopology: cluster-scoped, its
/// fields (`attributes`, `topologyPolicies`, `zones`) at the top level, as the community CRD
/// has them (the schema is kept open here; the controller validates what it reads).
fn node_resource_topology_crd() -> CustomResourceDefinition {
    serde_json::from_value(json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        // *.k8s.io is a protected group: the community CRD carries its KEP's approval.
        "metadata": {"name": "noderesourcetopologies.topology.node.k8s.io",
                     "annotations": {"api-approved.kubernetes.io":
                                     "https://github.com/kubernetes/enhancements/pull/1870"}},
        "spec": {
            "group": "topology.node.k8s.io",
            "scope": "Cluster",
            "names": {"kind": "NodeResourceTopology", "listKind": "NodeResourceTopologyList",
                      "plural": "noderesourcetopologies", "singular": "noderesourcetopology",
                      "shortNames": ["node-res-topo"]},
            "versions": [{
                "name": "v1alpha2", "served": true, "storage": true,
                "schema": {"openAPIV3Schema": {"type": "object",
                                               "x-kubernetes-preserve-unknown-fields": true}}
            }]
        }
    }))
    .expect("NodeResourceTopology CRD")
}

fn topology_api(client: &Client) -> Api<kube::api::DynamicObject> {
    let gvk = kube::api::GroupVersionKind::gvk(
        "topology.node.k8s.io",
        "v1alpha2",
        "NodeResourceTopology",
    );
    let ar = kube::api::ApiResource::from_gvk_with_plural(&gvk, "noderesourcetopologies");
    Api::all_with(client.clone(), &ar)
}

impl Env {
    /// Creates a node's NodeResourceTopology from JSON (apiVersion and kind included).
    pub async fn node_topology(&self, v: Value) {
        let o: kube::api::DynamicObject = from(v);
        topology_api(&self.client)
            .create(&pp(), &o)
            .await
            .expect("create NodeResourceTopology");
    }
}

fn from<K: DeserializeOwned>(v: Value) -> K {
    serde_json::from_value(v).expect("typed object")
}

/// A queued Job: `pods` pods of `cpu` each, running for `run` on kwok.
pub fn job(
    namespace: &str,
    name: &str,
    queue: &str,
    cpu: &str,
    pods: i32,
    run: &str,
    priority_class: Option<&str>,
) -> Job {
    let mut spec = json!({
        "restartPolicy": "Never",
        "containers": [{"name": "main", "image": "registry.k8s.io/pause:3.10",
                        "resources": {"requests": {"cpu": cpu}}}]
    });
    if let Some(p) = priority_class {
        spec["priorityClassName"] = json!(p);
    }
    serde_json::from_value(json!({
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": name, "namespace": namespace,
                     "labels": {muster_kube::names::QUEUE_LABEL: queue}},
        "spec": {
            "parallelism": pods, "completions": pods, "backoffLimit": 0,
            "template": {"metadata": {"annotations": {"testenv/run-duration": run}}, "spec": spec}
        }
    }))
    .unwrap()
}

/// Whether a condition of a Workload is true.
pub fn condition(w: &Workload, type_: &str) -> bool {
    w.status.as_ref().is_some_and(|s| {
        s.conditions
            .iter()
            .any(|c| c.type_ == type_ && c.status == "True")
    })
}

/// A free TCP port on the loopback interface.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A `muster controller` process.
pub struct Controller {
    child: Child,
    /// Port of /metrics, /healthz and /readyz.
    pub metrics_port: u16,
    /// Port of the webhook.
    pub webhook_port: u16,
    /// Its log.
    pub log: PathBuf,
    /// Its name (`--identity`).
    pub name: String,
}

fn log_dir() -> PathBuf {
    let dir = std::env::var_os("TESTENV_RUN_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_TARGET_TMPDIR")))
        .join("logs");
    let _ = std::fs::create_dir_all(&dir);
    dir
}

impl Controller {
    /// Starts a controller named `name` with these extra arguments.
    pub fn start(env: &Env, name: &str, extra: &[&str]) -> Controller {
        Self::start_on(env, name, free_port(), extra)
    }

    /// Starts a controller serving the webhook on `webhook_port`.
    pub fn start_on(env: &Env, name: &str, webhook_port: u16, extra: &[&str]) -> Controller {
        Self::start_logging(env, name, webhook_port, extra, "muster_kube=debug,info")
    }

    /// Starts a controller whose log has `rust_log`'s levels (`RUST_LOG`).
    pub fn start_logging(
        env: &Env,
        name: &str,
        webhook_port: u16,
        extra: &[&str],
        rust_log: &str,
    ) -> Controller {
        let metrics_port = free_port();
        let log = log_dir().join(format!("controller-{name}.log"));
        let file = std::fs::File::create(&log).expect("log file");
        let child = Command::new(env!("CARGO_BIN_EXE_muster"))
            .arg("controller")
            .args(["--namespace", "muster-system", "--identity", name])
            .args(["--metrics-addr", &format!("127.0.0.1:{metrics_port}")])
            .args(["--webhook-addr", &format!("127.0.0.1:{webhook_port}")])
            .args(["--webhook-hosts", "127.0.0.1,localhost"])
            .args(extra)
            .env("KUBECONFIG", &env.kubeconfig)
            .env("RUST_LOG", rust_log)
            .stdout(Stdio::null())
            .stderr(file)
            .spawn()
            .expect("start muster controller");
        Controller {
            child,
            metrics_port,
            webhook_port,
            log,
            name: name.to_string(),
        }
    }

    /// Waits until it is ready (caches synced).
    pub async fn wait_ready(&self) {
        let port = self.metrics_port;
        wait_for(
            &format!("controller {} ready", self.name),
            Duration::from_secs(60),
            || async move {
                let (code, _) = http_get(port, "/readyz")?;
                (code == 200).then_some(())
            },
        )
        .await;
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Kills it with SIGKILL, as a node failure or OOM kill would.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Waits up to `timeout` for it to exit on its own; its exit code, if it did.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<i32> {
        let deadline = std::time::Instant::now() + timeout;
        while std::time::Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status.code().unwrap_or(-1));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }

    /// Its metrics, as text.
    pub fn metrics(&self) -> Option<String> {
        http_get(self.metrics_port, "/metrics").map(|(_, body)| body)
    }

    /// The tail of its log, for failure messages.
    pub fn log_tail(&self) -> String {
        log_tail(&self.log)
    }
}

impl Drop for Controller {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The last 30 lines of a log file, for failure messages.
pub fn log_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

/// Whether a node's `Ready` condition is true.
pub fn node_ready(n: &Node) -> bool {
    n.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

/// A plain HTTP GET on loopback: (status code, body).
pub fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    let code = out.split_whitespace().nth(1)?.parse().ok()?;
    let body = out
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Some((code, body))
}
