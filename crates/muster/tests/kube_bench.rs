//! Muster and kube-scheduler side by side on the same control plane (`tools/testenv`: one
//! etcd, kube-apiserver, kube-controller-manager and kwok, kube-scheduler built from the same
//! Kubernetes version): the same Jobs on the same kwok nodes, once placed by kube-scheduler
//! and once queued, admitted and bound by Muster.
//!
//! Three scenarios:
//!
//! - **single**: single-pod Jobs, all of which fit at once. Measures how fast each scheduler
//!   places pods.
//! - **pods**: the same number of plain pods (no Job), all of which fit at once: for Muster,
//!   pods with the queue label, each a workload of its own admitted by its bind
//!   (`muster_kube::plain_pod`).
//!
//! Each scheduler runs as the pods appear, and, for single pods and plain pods, also "on a
//! backlog" as kube-scheduler's `scheduler_perf` measures it: started only once every pod
//! exists (`kube-scheduler-backlog`, a second kube-scheduler of the same build with its own
//! profile; `muster-backlog`, plain pods only, queued by label and scheduler name with no
//! webhook).
//! - **gangs**: Jobs of [`GANG_SIZE`] pods (parallelism = completions), on nodes with room
//!   for about half of them at a time, so that the rest must wait for the first ones to
//!   finish (kwok completes each pod after its `testenv/run-duration`). Counts the gangs that
//!   were ever partially running.
//!
//! How it measures (see also `bench/README.md`):
//!
//! - A pod watch, started before the first Job is created, notes the moment each pod is
//!   first seen with `spec.nodeName` set ("bound"), and with phase Running. Throughput is
//!   `(pods - 1) / (last bound - first bound)`. Beside it: kube-scheduler's own
//!   `scheduler_perf` measure (the number of bound pods sampled every second, the first
//!   sample skipped, the mean of the per-interval rates), the same ratio from the pods'
//!   `PodScheduled` condition (whose `lastTransitionTime` has whole seconds only), and the
//!   end-to-end time from the first Job's creation to the last pod bound.
//! - A gang is **partial** at an observed moment when at least one of its pods is Running
//!   while at least one other has no node yet (not bound, or not created yet); pods that
//!   finished count as placed, so pods of one gang finishing a little apart are not partial.
//!   A gang counts as *partially running* when such a moment lasted more than
//!   [`PARTIAL_GRACE`]: binding one gang takes one API call per pod, so even a gang whose
//!   binds are all sent together is seen placed pod by pod over a few milliseconds; gangs
//!   partial for any time at all are reported too.
//!
//! The small size runs in the normal test suite; `MUSTER_KUBE_BENCH=full` runs the full
//! one (1,000 nodes, 10,000 single pods, 1,000 gangs of 10) by hand.
//! `MUSTER_KUBE_BENCH_SCHEDULERS` (`kube-scheduler,muster`) and `MUSTER_KUBE_BENCH_SCENARIOS`
//! (`single,pods,gangs`) choose what runs. The table is printed and written as JSON to
//! `target/kube-bench/`.

mod support;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::admissionregistration::v1::MutatingWebhookConfiguration;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Namespace, Node, Pod};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::runtime::{WatchStreamExt, watcher};
use muster_api::objects::{ClusterQueue, ResourceFlavor, Workload};
use serde_json::{Value, json};
use support::*;

/// Pods per gang in the gangs scenario.
const GANG_SIZE: usize = 10;
/// Cpu of every node: room for five one-cpu gang pods.
const NODE_CPU: usize = 5;
/// Cpu of a single-pod Job's pod (all of them fit at once).
const SINGLE_POD_CPU: &str = "100m";
/// Cpu of a gang's pod.
const GANG_POD_CPU: &str = "1";
/// How long a moment of partial running must last to count (see the module doc).
const PARTIAL_GRACE: f64 = 1.0;
/// Label of every bench node (the ResourceFlavor selects it).
const BENCH_NODE: &str = "muster.dev/bench-node";
/// Label of the nodes the gangs may use (their Jobs select it, for both schedulers).
const GANG_NODE: &str = "muster.dev/bench-gangs";
/// Jobs (and nodes) created at once.
const CREATE_CONCURRENCY: usize = 32;
/// Name of the queues Muster's run uses.
const QUEUE: &str = "bench";

/// One size of the benchmark.
#[derive(Clone, Debug)]
struct Size {
    name: &'static str,
    nodes: usize,
    single_pods: usize,
    gangs: usize,
    /// Nodes labelled for the gangs: room for `gang_nodes * NODE_CPU / GANG_SIZE` gangs at a
    /// time, about half of them.
    gang_nodes: usize,
    /// How long a gang's pods run on kwok.
    gang_run: &'static str,
    /// Longest a run may take.
    timeout: Duration,
}

const SMALL: Size = Size {
    name: "small",
    nodes: 100,
    single_pods: 300,
    gangs: 20,
    gang_nodes: 20,
    gang_run: "5s",
    timeout: Duration::from_secs(300),
};

const FULL: Size = Size {
    name: "full",
    nodes: 1000,
    single_pods: 10_000,
    gangs: 1000,
    gang_nodes: 1000,
    gang_run: "10s",
    timeout: Duration::from_secs(3600),
};

/// Who places the pods.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(clippy::enum_variant_names)] // kube-scheduler is its name
enum Scheduler {
    /// The testenv's kube-scheduler, placing pods as the Job controller creates them.
    KubeScheduler,
    /// A kube-scheduler of the same build started only once every pod exists, as
    /// kube-scheduler's own `scheduler_perf` measures it: its placement rate on a backlog.
    KubeSchedulerBacklog,
    /// Muster: the webhook queues the Jobs, the controller admits them and binds their pods.
    Muster,
    /// Muster started only once every pod exists (queued to it by label and scheduler name,
    /// with no webhook), as the backlog kube-scheduler is: its placement rate on a backlog.
    MusterBacklog,
}

/// The scheduler name (`spec.schedulerName`) of the backlog run's kube-scheduler profile.
const BACKLOG_SCHEDULER: &str = "bench-backlog";

impl Scheduler {
    fn name(self) -> &'static str {
        match self {
            Scheduler::KubeScheduler => "kube-scheduler",
            Scheduler::KubeSchedulerBacklog => "kube-scheduler-backlog",
            Scheduler::Muster => "muster",
            Scheduler::MusterBacklog => "muster-backlog",
        }
    }

    /// Whether its Jobs and pods are queued to Muster.
    fn queued(self) -> bool {
        matches!(self, Scheduler::Muster | Scheduler::MusterBacklog)
    }

    /// The `spec.schedulerName` its pods carry.
    fn pod_scheduler_name(self) -> &'static str {
        match self {
            Scheduler::KubeScheduler => "default-scheduler",
            Scheduler::KubeSchedulerBacklog => BACKLOG_SCHEDULER,
            Scheduler::Muster | Scheduler::MusterBacklog => "muster",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Scenario {
    Single,
    Pods,
    Gangs,
}

impl Scenario {
    fn name(self) -> &'static str {
        match self {
            Scenario::Single => "single",
            Scenario::Pods => "pods",
            Scenario::Gangs => "gangs",
        }
    }
}

/// Comma-separated names from an environment variable, or all of `all`.
fn chosen<T: Copy>(var: &str, all: &[T], name: fn(T) -> &'static str) -> Vec<T> {
    match std::env::var(var) {
        Ok(v) if !v.trim().is_empty() => v
            .split(',')
            .map(|s| {
                let s = s.trim();
                *all.iter()
                    .find(|t| name(**t) == s)
                    .unwrap_or_else(|| panic!("{var}: unknown {s:?}"))
            })
            .collect(),
        _ => all.to_vec(),
    }
}

/// What the pod watch saw of one pod; times in seconds since the run's start.
#[derive(Debug, Default)]
struct PodSeen {
    created: f64,
    bound: Option<f64>,
    /// `PodScheduled`'s lastTransitionTime, whole seconds since the epoch.
    scheduled_condition: Option<i64>,
    scheduler_name: String,
    placed: bool,
    running: bool,
}

/// A gang's pods as the watch sees them now, and its partial moments so far.
#[derive(Debug, Default)]
struct GangSeen {
    placed: usize,
    running: usize,
    partial_since: Option<f64>,
    partial_any: bool,
    partial_longest: f64,
}

/// Everything the pod watch saw.
struct Tracker {
    start: Instant,
    gang_size: usize,
    pods: BTreeMap<String, PodSeen>,
    gangs: BTreeMap<String, GangSeen>,
    synced: bool,
}

impl Tracker {
    fn new(gang_size: usize) -> Tracker {
        Tracker {
            start: Instant::now(),
            gang_size,
            pods: BTreeMap::new(),
            gangs: BTreeMap::new(),
            synced: false,
        }
    }

    fn now(&self) -> f64 {
        self.start.elapsed().as_secs_f64()
    }

    fn observe(&mut self, pod: &Pod, deleted: bool) {
        let t = self.now();
        let Some(uid) = pod.metadata.uid.clone() else {
            return;
        };
        let labels = pod.metadata.labels.clone().unwrap_or_default();
        // A Job's pods are its gang; a plain pod is a gang of one.
        let Some(gang) = labels
            .get("batch.kubernetes.io/job-name")
            .or(pod.metadata.name.as_ref())
            .cloned()
        else {
            return;
        };
        let spec = pod.spec.as_ref();
        let node = spec.and_then(|s| s.node_name.as_deref()).unwrap_or("");
        let phase = pod
            .status
            .as_ref()
            .and_then(|s| s.phase.as_deref())
            .unwrap_or("");
        let seen = self.pods.entry(uid).or_insert_with(|| PodSeen {
            created: t,
            ..PodSeen::default()
        });
        seen.scheduler_name = spec
            .and_then(|s| s.scheduler_name.clone())
            .unwrap_or_default();
        if !node.is_empty() && seen.bound.is_none() {
            seen.bound = Some(t);
        }
        if seen.scheduled_condition.is_none() {
            seen.scheduled_condition = pod
                .status
                .as_ref()
                .and_then(|s| s.conditions.as_ref())
                .and_then(|cs| {
                    cs.iter()
                        .find(|c| c.type_ == "PodScheduled" && c.status == "True")
                })
                .and_then(|c| c.last_transition_time.as_ref())
                .map(|time| time.0.as_second());
        }
        let placed = !deleted && !node.is_empty();
        let running = !deleted && phase == "Running";
        let (was_placed, was_running) = (seen.placed, seen.running);
        seen.placed = placed;
        seen.running = running;
        let g = self.gangs.entry(gang).or_default();
        g.placed = g.placed + usize::from(placed) - usize::from(was_placed);
        g.running = g.running + usize::from(running) - usize::from(was_running);
        let partial = g.running > 0 && g.placed < self.gang_size;
        match (partial, g.partial_since) {
            (true, None) => {
                g.partial_since = Some(t);
                g.partial_any = true;
            }
            (false, Some(since)) => {
                g.partial_since = None;
                g.partial_longest = g.partial_longest.max(t - since);
            }
            _ => {}
        }
    }

    /// Closes the partial moments still open at the end of the run.
    fn finish(&mut self) {
        let t = self.now();
        for g in self.gangs.values_mut() {
            if let Some(since) = g.partial_since.take() {
                g.partial_longest = g.partial_longest.max(t - since);
            }
        }
    }

    fn bound(&self) -> usize {
        self.pods.values().filter(|p| p.bound.is_some()).count()
    }
}

/// Watches the pods of `ns` into a tracker until the returned handle is aborted.
async fn watch_pods(
    env: &Env,
    ns: &str,
    gang_size: usize,
) -> (Arc<Mutex<Tracker>>, tokio::task::JoinHandle<()>) {
    let tracker = Arc::new(Mutex::new(Tracker::new(gang_size)));
    let api: Api<Pod> = Api::namespaced(env.client.clone(), ns);
    let t = tracker.clone();
    let task = tokio::spawn(async move {
        let mut events = watcher(api, watcher::Config::default())
            .default_backoff()
            .boxed();
        while let Some(e) = events.next().await {
            let mut t = t.lock().unwrap();
            match e {
                Ok(watcher::Event::Apply(p) | watcher::Event::InitApply(p)) => t.observe(&p, false),
                Ok(watcher::Event::Delete(p)) => t.observe(&p, true),
                Ok(watcher::Event::InitDone) => t.synced = true,
                Ok(watcher::Event::Init) | Err(_) => {}
            }
        }
    });
    wait_for("the pod watch", Duration::from_secs(30), || {
        let synced = tracker.lock().unwrap().synced;
        async move { synced.then_some(()) }
    })
    .await;
    // The run starts now: times are seconds from here.
    tracker.lock().unwrap().start = Instant::now();
    (tracker, task)
}

/// CPU seconds used so far by the processes of a run, and by the whole host.
#[derive(Clone, Debug, Default)]
struct CpuSample {
    processes: BTreeMap<String, f64>,
    host_busy: f64,
    host_total: f64,
}

/// Clock ticks a second in `/proc` (Linux's USER_HZ, 100 on every architecture it fixes).
const USER_HZ: f64 = 100.0;

/// User and system CPU seconds of a process so far, from `/proc/PID/stat`.
fn process_cpu(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command, in parentheses, may hold spaces; utime and stime are the 14th and 15th
    // fields, the 12th and 13th after it.
    let fields: Vec<&str> = stat[stat.rfind(')')? + 1..].split_whitespace().collect();
    let ticks = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / USER_HZ)
}

/// The host's busy and total CPU seconds so far (all cores), from `/proc/stat`.
fn host_cpu() -> Option<(f64, f64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let ticks: Vec<f64> = stat
        .lines()
        .next()?
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse().ok())
        .collect();
    let total: f64 = ticks.iter().take(8).sum();
    let idle = ticks.get(3)? + ticks.get(4)?;
    Some(((total - idle) / USER_HZ, total / USER_HZ))
}

/// The testenv's processes (by the pid files `up.sh` writes), the harness itself and
/// `others` (name, pid).
fn cpu_sample(others: &[(&str, u32)]) -> CpuSample {
    let mut pids: Vec<(String, u32)> = vec![("harness".into(), std::process::id())];
    if let Some(run) = std::env::var_os("TESTENV_RUN_DIR") {
        for name in [
            "etcd",
            "kube-apiserver",
            "kube-controller-manager",
            "kube-scheduler",
            "kwok",
        ] {
            let pid = std::fs::read_to_string(PathBuf::from(&run).join(format!("{name}.pid")));
            if let Some(pid) = pid.ok().and_then(|p| p.trim().parse().ok()) {
                pids.push((name.into(), pid));
            }
        }
    }
    pids.extend(others.iter().map(|(n, p)| (n.to_string(), *p)));
    let (host_busy, host_total) = host_cpu().unwrap_or_default();
    CpuSample {
        processes: pids
            .into_iter()
            .filter_map(|(name, pid)| Some((name, process_cpu(pid)?)))
            .collect(),
        host_busy,
        host_total,
    }
}

/// The figures of one run.
#[derive(Debug)]
struct Outcome {
    scheduler: Scheduler,
    scenario: Scenario,
    jobs: usize,
    pods: usize,
    /// Seconds to create all Jobs.
    jobs_created: f64,
    /// When the scheduler was let loose: 0, or for the backlog run when every pod existed.
    released: f64,
    /// First and last pod seen (created), first and last seen bound.
    first_created: f64,
    last_created: f64,
    first_bound: f64,
    last_bound: f64,
    /// `(pods - 1) / (last bound - first bound)`.
    pods_per_s: f64,
    /// scheduler_perf's SchedulingThroughput: mean and median of one-second samples.
    sampled_mean: Option<f64>,
    sampled_median: Option<f64>,
    /// The same ratio from PodScheduled's lastTransitionTime (whole seconds).
    condition_pods_per_s: Option<f64>,
    /// Seconds from creation to bound: median and 99th percentile.
    latency_p50: f64,
    latency_p99: f64,
    partial_gangs: usize,
    partial_gangs_any: usize,
    longest_partial: f64,
    /// Pods whose schedulerName is not the scheduler's own.
    foreign_scheduler_pods: usize,
    /// CPU seconds each process used from the first Job's creation to the last pod bound.
    cpu: BTreeMap<String, f64>,
    /// CPU seconds the whole host was busy in that time, and how many it had.
    host_busy: f64,
    host_total: f64,
    /// Requests kube-apiserver served in the same time, by verb and resource.
    requests: RequestCounts,
}

/// Requests kube-apiserver counted in `apiserver_request_total`, summed over API versions and
/// successful codes, by `(verb, resource[/subresource])`, failed ones apart with their code
/// (`pods [404]`): the load a scheduler puts on the API server, as the server counts it.
#[derive(Clone, Debug, Default, PartialEq)]
struct RequestCounts(BTreeMap<(String, String), f64>);

/// Verbs that change an object (everything but reads and watches).
const WRITE_VERBS: [&str; 5] = ["POST", "PUT", "PATCH", "DELETE", "APPLY"];

impl RequestCounts {
    /// The counts in a Prometheus text exposition of kube-apiserver's `/metrics`.
    fn parse(text: &str) -> RequestCounts {
        let mut counts = BTreeMap::new();
        for line in text.lines() {
            let Some(rest) = line.strip_prefix("apiserver_request_total{") else {
                continue;
            };
            let Some((labels, value)) = rest.rsplit_once('}') else {
                continue;
            };
            let Ok(value) = value.trim().parse::<f64>() else {
                continue;
            };
            let label = |name: &str| {
                let key = format!("{name}=\"");
                labels
                    .split(',')
                    .find_map(|l| l.strip_prefix(&key)?.strip_suffix('"'))
                    .unwrap_or("")
                    .to_string()
            };
            let (resource, subresource) = (label("resource"), label("subresource"));
            let mut resource = if subresource.is_empty() {
                resource
            } else {
                format!("{resource}/{subresource}")
            };
            // Failed requests load the server too, but are told apart: a 404 DELETE is
            // often the garbage collector late after the previous run's cleanup.
            let code = label("code");
            if !code.starts_with('2') {
                resource = format!("{resource} [{code}]");
            }
            *counts.entry((label("verb"), resource)).or_insert(0.0) += value;
        }
        RequestCounts(counts)
    }

    /// What was counted after `before` was taken.
    fn since(&self, before: &RequestCounts) -> RequestCounts {
        RequestCounts(
            self.0
                .iter()
                .map(|(k, n)| (k.clone(), n - before.0.get(k).copied().unwrap_or(0.0)))
                .filter(|(_, n)| *n > 0.0)
                .collect(),
        )
    }

    fn total(&self) -> f64 {
        self.0.values().sum()
    }

    /// The writes among the requests, by verb and resource.
    fn write_counts(&self) -> impl Iterator<Item = (&(String, String), f64)> {
        self.0
            .iter()
            .filter(|((verb, _), _)| WRITE_VERBS.contains(&verb.as_str()))
            .map(|(k, n)| (k, *n))
    }

    fn writes(&self) -> f64 {
        self.write_counts().map(|(_, n)| n).sum()
    }

    /// The writes per pod, by verb and resource, most first: `POST pods/binding 1.00, ...`.
    fn writes_per_pod_line(&self, pods: usize) -> String {
        let mut writes: Vec<(&(String, String), f64)> = self.write_counts().collect();
        writes.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(b.0)));
        writes
            .iter()
            .map(|((verb, resource), n)| format!("{verb} {resource} {:.2}", n / pods as f64))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Waits (up to a minute) until the API server has had a second without writes other than
/// leases' renewals: the garbage collector goes on deleting the previous run's pods (by then
/// gone: 404s) for a while after its cleanup, and that load would count against the next run.
async fn api_quiet(env: &Env) {
    let started = Instant::now();
    let mut before = request_counts(env).await;
    while started.elapsed() < Duration::from_secs(60) {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let now = request_counts(env).await;
        let mut since = now.since(&before);
        since
            .0
            .retain(|(_, resource), _| !resource.starts_with("leases"));
        if since.writes() == 0.0 {
            return;
        }
        before = now;
    }
    say("the API server was still busy with writes after a minute; going on");
}

/// kube-apiserver's request counters now.
async fn request_counts(env: &Env) -> RequestCounts {
    let request = http::Request::get("/metrics")
        .body(Vec::new())
        .expect("a GET /metrics request");
    let text = env
        .client
        .request_text(request)
        .await
        .unwrap_or_else(|e| panic!("GET kube-apiserver /metrics: {e}"));
    RequestCounts::parse(&text)
}

fn percentile(sorted: &[f64], p: usize) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[(sorted.len() * p).div_ceil(100).max(1) - 1]
}

/// kube-scheduler's `scheduler_perf` throughput over the bound times (seconds from the
/// start, sorted): the number bound, sampled every second; the first sample with any pod
/// bound is skipped, a second with none bound is folded into the next; each sample's rate
/// is counted once per second it spans. `None` when all pods were bound within one sample.
fn sampled_throughput(bound: &[f64]) -> Option<(f64, f64)> {
    let n = bound.len();
    let mut samples = Vec::new();
    let (mut last_count, mut last_t, mut skipped, mut started) = (0, 0.0, 0, false);
    let mut i = 0;
    for tick in 1.. {
        let t = tick as f64;
        while i < n && bound[i] <= t {
            i += 1;
        }
        if i > 0 && !started {
            (started, last_count, last_t) = (true, i, t);
        } else if started && i == last_count {
            skipped += 1;
        } else if started {
            let rate = (i - last_count) as f64 / (t - last_t);
            samples.extend(std::iter::repeat_n(rate, skipped + 1));
            (last_count, last_t, skipped) = (i, t, 0);
        }
        if i == n {
            break;
        }
    }
    if samples.is_empty() {
        return None;
    }
    let mean = samples.iter().sum::<f64>() / samples.len() as f64;
    samples.sort_by(f64::total_cmp);
    Some((mean, percentile(&samples, 50)))
}

fn outcome(
    t: &Tracker,
    scheduler: Scheduler,
    scenario: Scenario,
    jobs: usize,
    (jobs_created, released): (f64, f64),
    (cpu_before, cpu_after): (&CpuSample, &CpuSample),
    requests: RequestCounts,
) -> Outcome {
    let pods = t.pods.len();
    let mut bound: Vec<f64> = t.pods.values().filter_map(|p| p.bound).collect();
    bound.sort_by(f64::total_cmp);
    let created: Vec<f64> = t.pods.values().map(|p| p.created).collect();
    let (first_bound, last_bound) = (bound[0], bound[bound.len() - 1]);
    let conditions: Vec<i64> = t
        .pods
        .values()
        .filter_map(|p| p.scheduled_condition)
        .collect();
    let condition_pods_per_s = match (conditions.iter().min(), conditions.iter().max()) {
        (Some(a), Some(b)) if b > a => Some((conditions.len() - 1) as f64 / (b - a) as f64),
        _ => None,
    };
    let mut latency: Vec<f64> = t
        .pods
        .values()
        .filter_map(|p| Some(p.bound? - p.created))
        .collect();
    latency.sort_by(f64::total_cmp);
    let sampled = sampled_throughput(&bound);
    let own = scheduler.pod_scheduler_name();
    Outcome {
        scheduler,
        scenario,
        jobs,
        pods,
        jobs_created,
        released,
        first_created: created.iter().copied().fold(f64::INFINITY, f64::min),
        last_created: created.iter().copied().fold(0.0, f64::max),
        first_bound,
        last_bound,
        pods_per_s: if last_bound > first_bound {
            (bound.len() - 1) as f64 / (last_bound - first_bound)
        } else {
            f64::INFINITY
        },
        sampled_mean: sampled.map(|s| s.0),
        sampled_median: sampled.map(|s| s.1),
        condition_pods_per_s,
        latency_p50: percentile(&latency, 50),
        latency_p99: percentile(&latency, 99),
        partial_gangs: t
            .gangs
            .values()
            .filter(|g| g.partial_longest > PARTIAL_GRACE)
            .count(),
        partial_gangs_any: t.gangs.values().filter(|g| g.partial_any).count(),
        longest_partial: t
            .gangs
            .values()
            .map(|g| g.partial_longest)
            .fold(0.0, f64::max),
        foreign_scheduler_pods: t.pods.values().filter(|p| p.scheduler_name != own).count(),
        cpu: cpu_after
            .processes
            .iter()
            .map(|(name, after)| {
                let before = cpu_before.processes.get(name).copied().unwrap_or(0.0);
                (name.clone(), after - before)
            })
            .collect(),
        host_busy: cpu_after.host_busy - cpu_before.host_busy,
        host_total: cpu_after.host_total - cpu_before.host_total,
        requests,
    }
}

impl Outcome {
    /// Seconds from the start (the first Job's creation, or the backlog's release) to the
    /// last pod bound.
    fn end_to_end(&self) -> f64 {
        self.last_bound - self.released
    }

    /// Pods bound per second of [`Outcome::end_to_end`].
    fn end_to_end_pods_per_s(&self) -> f64 {
        self.pods as f64 / self.end_to_end()
    }

    fn json(&self) -> Value {
        json!({
            "scheduler": self.scheduler.name(),
            "scenario": self.scenario.name(),
            "jobs": self.jobs,
            "pods": self.pods,
            "jobs_created_s": self.jobs_created,
            "released_s": self.released,
            "first_pod_created_s": self.first_created,
            "last_pod_created_s": self.last_created,
            "first_bound_s": self.first_bound,
            "last_bound_s": self.last_bound,
            "pods_per_s": self.pods_per_s,
            "scheduler_perf_throughput_mean": self.sampled_mean,
            "scheduler_perf_throughput_median": self.sampled_median,
            "pod_scheduled_condition_pods_per_s": self.condition_pods_per_s,
            "end_to_end_s": self.end_to_end(),
            "end_to_end_pods_per_s": self.end_to_end_pods_per_s(),
            "pod_latency_p50_s": self.latency_p50,
            "pod_latency_p99_s": self.latency_p99,
            "partial_gangs": self.partial_gangs,
            "partial_gangs_any_time": self.partial_gangs_any,
            "longest_partial_s": self.longest_partial,
            "cpu_s": self.cpu,
            "host_cpu_busy_s": self.host_busy,
            "host_cpu_s": self.host_total,
            "api_requests": self.requests.total(),
            "api_writes": self.requests.writes(),
            "api_writes_per_pod": self.requests.writes() / self.pods as f64,
            "api_requests_by_verb_resource": self.requests.0.iter()
                .map(|((verb, resource), n)| (format!("{verb} {resource}"), *n))
                .collect::<BTreeMap<String, f64>>(),
        })
    }
}

fn opt(v: Option<f64>) -> String {
    v.map_or("—".into(), |v| format!("{v:.0}"))
}

fn table(outcomes: &[Outcome]) -> String {
    let mut s = format!(
        "{:<22} {:<7} {:>5} {:>7} {:>7} {:>7} {:>8} {:>7} {:>7} {:>7}  {}\n",
        "scheduler",
        "scenario",
        "pods",
        "e2e s",
        "span s",
        "pods/s",
        "e2e p/s",
        "perf",
        "cond",
        "p50 lat",
        "partial gangs (any)"
    );
    for o in outcomes {
        s += &format!(
            "{:<22} {:<7} {:>5} {:>7.1} {:>7.1} {:>7.0} {:>8.0} {:>7} {:>7} {:>7.2}  {} ({})\n",
            o.scheduler.name(),
            o.scenario.name(),
            o.pods,
            o.end_to_end(),
            o.last_bound - o.first_bound,
            o.pods_per_s,
            o.end_to_end_pods_per_s(),
            opt(o.sampled_mean),
            opt(o.condition_pods_per_s),
            o.latency_p50,
            o.partial_gangs,
            o.partial_gangs_any,
        );
        let window = o.last_bound;
        let cores: Vec<String> = o
            .cpu
            .iter()
            .map(|(name, cpu)| format!("{name} {:.2}", cpu / window))
            .collect();
        s += &format!(
            "  cpu cores: {}; host busy {:.2} of {:.2}\n",
            cores.join(", "),
            o.host_busy / window,
            o.host_total / window
        );
        s += &format!(
            "  api requests: {:.0}, of which writes {:.0} ({:.2} per pod): {}\n",
            o.requests.total(),
            o.requests.writes(),
            o.requests.writes() / o.pods as f64,
            o.requests.writes_per_pod_line(o.pods)
        );
    }
    for scenario in [Scenario::Single, Scenario::Pods, Scenario::Gangs] {
        let find = |s: Scheduler| {
            outcomes
                .iter()
                .find(|o| o.scheduler == s && o.scenario == scenario)
        };
        let pairs = [
            (Scheduler::Muster, Scheduler::KubeScheduler),
            (Scheduler::Muster, Scheduler::KubeSchedulerBacklog),
            (Scheduler::MusterBacklog, Scheduler::KubeSchedulerBacklog),
        ];
        for (m, k) in pairs {
            if let (Some(m), Some(k)) = (find(m), find(k)) {
                s += &format!(
                    "{}: {} / {} = {:.2}x pods/s, {:.2}x end-to-end pods/s\n",
                    scenario.name(),
                    m.scheduler.name(),
                    k.scheduler.name(),
                    m.pods_per_s / k.pods_per_s,
                    m.end_to_end_pods_per_s() / k.end_to_end_pods_per_s(),
                );
            }
        }
    }
    s
}

/// Creates `count` kwok nodes of [`NODE_CPU`] cpu; the first `gang_nodes` also carry
/// [`GANG_NODE`]. Waits until all are Ready.
async fn create_nodes(env: &Env, count: usize, gang_nodes: usize) {
    let api: Api<Node> = Api::all(env.client.clone());
    let creates = (0..count).map(|i| {
        let api = api.clone();
        async move {
            let name = format!("bench-{i:04}");
            let mut labels = json!({
                TEST_NODE_LABEL: "true", BENCH_NODE: "true", "kubernetes.io/hostname": &name,
            });
            if i < gang_nodes {
                labels[GANG_NODE] = json!("true");
            }
            let cpu = NODE_CPU.to_string();
            let n: Node = serde_json::from_value(json!({
                "metadata": {"name": name, "labels": labels,
                             "annotations": {"kwok.x-k8s.io/node": "fake"}},
                "status": {
                    "capacity": {"cpu": cpu, "memory": "64Gi", "pods": "110"},
                    "allocatable": {"cpu": cpu, "memory": "64Gi", "pods": "110"}
                }
            }))
            .unwrap();
            api.create(&PostParams::default(), &n)
                .await
                .unwrap_or_else(|e| panic!("create node {name}: {e}"));
        }
    });
    futures::stream::iter(creates)
        .buffer_unordered(CREATE_CONCURRENCY)
        .collect::<Vec<()>>()
        .await;
    wait_for(
        &format!("{count} bench nodes Ready"),
        Duration::from_secs(120),
        || {
            let api = api.clone();
            async move {
                let nodes = api
                    .list(&ListParams::default().labels(BENCH_NODE))
                    .await
                    .ok()?;
                let ready = nodes.items.iter().filter(|n| node_ready(n)).count();
                (ready == count).then_some(())
            }
        },
    )
    .await;
}

async fn delete_nodes(env: &Env) {
    let api: Api<Node> = Api::all(env.client.clone());
    let _ = api
        .delete_collection(
            &DeleteParams::default(),
            &ListParams::default().labels(BENCH_NODE),
        )
        .await;
}

/// A Job of the scenario's pods for `scheduler`: queued to Muster's LocalQueue (the webhook
/// names Muster the pods' scheduler), or plain, or for the backlog's kube-scheduler. Gangs
/// select the gang nodes.
fn bench_job(ns: &str, name: &str, scheduler: Scheduler, scenario: Scenario, size: &Size) -> Job {
    let (pods, cpu, run) = match scenario {
        Scenario::Single | Scenario::Pods => (1, SINGLE_POD_CPU, "1h"),
        Scenario::Gangs => (GANG_SIZE, GANG_POD_CPU, size.gang_run),
    };
    let mut pod_spec = json!({
        "restartPolicy": "Never",
        "containers": [{"name": "main", "image": "registry.k8s.io/pause:3.10",
                        "resources": {"requests": {"cpu": cpu}}}]
    });
    if scenario == Scenario::Gangs {
        pod_spec["nodeSelector"] = json!({GANG_NODE: "true"});
    }
    if scheduler != Scheduler::KubeScheduler {
        // Without the webhook (the backlog runs), the pods name their scheduler themselves.
        pod_spec["schedulerName"] = json!(scheduler.pod_scheduler_name());
    }
    let labels = if scheduler.queued() {
        json!({muster_kube::names::QUEUE_LABEL: QUEUE})
    } else {
        json!({})
    };
    serde_json::from_value(json!({
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": name, "namespace": ns, "labels": labels},
        "spec": {
            "parallelism": pods, "completions": pods, "backoffLimit": 0,
            "template": {"metadata": {"annotations": {"testenv/run-duration": run}},
                         "spec": pod_spec}
        }
    }))
    .unwrap()
}

/// A plain pod (no Job) of the pods scenario for `scheduler`: queued to Muster's LocalQueue
/// (the webhook names Muster its scheduler), or plain, or for the backlog's kube-scheduler.
fn bench_pod(ns: &str, name: &str, scheduler: Scheduler) -> Pod {
    let job = bench_job(ns, name, scheduler, Scenario::Pods, &SMALL);
    let template = job.spec.unwrap_or_default().template;
    Pod {
        metadata: kube::api::ObjectMeta {
            name: Some(name.to_string()),
            namespace: Some(ns.to_string()),
            labels: job.metadata.labels,
            annotations: template.metadata.and_then(|m| m.annotations),
            ..Default::default()
        },
        spec: template.spec,
        status: None,
    }
}

/// Muster's flavor (every bench node), a ClusterQueue with quota for the whole cluster,
/// and a LocalQueue in `ns`.
async fn muster_queues(env: &Env, ns: &str, size: &Size) {
    let quota = size.nodes * NODE_CPU;
    env.apply_yaml(&format!(
        "apiVersion: muster.dev/v1alpha1
kind: ResourceFlavor
metadata: {{name: {QUEUE}}}
spec: {{nodeLabels: {{{BENCH_NODE}: \"true\"}}}}
---
apiVersion: muster.dev/v1alpha1
kind: ClusterQueue
metadata: {{name: {QUEUE}}}
spec:
  resourceGroups:
  - coveredResources: [cpu]
    flavors:
    - name: {QUEUE}
      resources: [{{name: cpu, nominalQuota: \"{quota}\"}}]
---
apiVersion: muster.dev/v1alpha1
kind: LocalQueue
metadata: {{name: {QUEUE}, namespace: {ns}}}
spec: {{clusterQueue: {QUEUE}}}
"
    ))
    .await;
}

async fn delete_muster_objects(env: &Env) {
    let c = &env.client;
    let dp = DeleteParams::default();
    let _ = Api::<MutatingWebhookConfiguration>::all(c.clone())
        .delete("muster-webhook", &dp)
        .await;
    let _ = Api::<ClusterQueue>::all(c.clone()).delete(QUEUE, &dp).await;
    let _ = Api::<ResourceFlavor>::all(c.clone())
        .delete(QUEUE, &dp)
        .await;
}

/// The names of the objects `api` lists now (none if the list fails).
async fn names<K>(api: &Api<K>) -> Vec<String>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    api.list_metadata(&ListParams::default())
        .await
        .map(|l| {
            l.items
                .into_iter()
                .filter_map(|o| o.metadata.name)
                .collect()
        })
        .unwrap_or_default()
}

/// Deletes the Jobs, pods and Workloads in `ns` and waits until no pod is left, so that the
/// next run finds the nodes empty.
///
/// Object by object, many at a time: the API server's delete-collection deletes one object
/// after the other (about 28 ms a Job here), and the Job controller's
/// `batch.kubernetes.io/job-tracking` finalizer keeps a deleted Job's pods until its single
/// orphan worker removes it, pod by pod; the harness removes it itself. Deleting the
/// namespace would also wait for the namespace controller.
async fn empty_namespace(env: &Env, ns: &str, timeout: Duration) {
    let c = &env.client;
    let all = ListParams::default();
    let now = DeleteParams {
        grace_period_seconds: Some(0),
        propagation_policy: Some(kube::api::PropagationPolicy::Background),
        ..DeleteParams::default()
    };
    let jobs: Api<Job> = Api::namespaced(c.clone(), ns);
    let pods: Api<Pod> = Api::namespaced(c.clone(), ns);
    let job_names = names(&jobs).await;
    futures::stream::iter(job_names.into_iter().map(|name| {
        let (jobs, now) = (jobs.clone(), now.clone());
        async move {
            let _ = jobs.delete(&name, &now).await;
        }
    }))
    .buffer_unordered(CREATE_CONCURRENCY)
    .collect::<Vec<()>>()
    .await;
    let _ = Api::<Workload>::namespaced(c.clone(), ns)
        .delete_collection(&now, &all)
        .await;
    let pod_names = names(&pods).await;
    futures::stream::iter(pod_names.into_iter().map(|name| {
        let (pods, now) = (pods.clone(), now.clone());
        async move {
            let release = Patch::Merge(json!({"metadata": {"finalizers": null}}));
            let _ = pods.patch(&name, &PatchParams::default(), &release).await;
            let _ = pods.delete(&name, &now).await;
        }
    }))
    .buffer_unordered(CREATE_CONCURRENCY)
    .collect::<Vec<()>>()
    .await;
    wait_for(&format!("namespace {ns} emptied"), timeout, || {
        let (jobs, pods) = (jobs.clone(), pods.clone());
        async move {
            let lp = ListParams::default().limit(1);
            let empty = jobs.list_metadata(&lp).await.ok()?.items.is_empty()
                && pods.list_metadata(&lp).await.ok()?.items.is_empty();
            empty.then_some(())
        }
    })
    .await;
}

/// Creates `ns`, after waiting out its deletion if an earlier run's is still terminating.
async fn create_namespace(env: &Env, ns: &str, timeout: Duration) {
    let api: Api<Namespace> = Api::all(env.client.clone());
    wait_for(&format!("namespace {ns} not terminating"), timeout, || {
        let api = api.clone();
        async move {
            let old = api.get_opt(ns).await.ok()?;
            old.is_none_or(|n| n.metadata.deletion_timestamp.is_none())
                .then_some(())
        }
    })
    .await;
    let n: Namespace = serde_json::from_value(json!({"metadata": {"name": ns}})).unwrap();
    apply(&api, &n).await;
}

/// Prints a line straight to stderr (the test harness captures `eprintln!`).
fn say(text: &str) {
    let _ = writeln!(std::io::stderr(), "{text}");
}

/// One scheduler on one scenario, from an empty namespace to every pod bound.
async fn run(env: &Env, size: &Size, scheduler: Scheduler, scenario: Scenario) -> Outcome {
    let ns = format!("bench-{}-{}", scheduler.name(), scenario.name());
    let what = format!("{} {}", scheduler.name(), scenario.name());
    let prepared = Instant::now();
    create_namespace(env, &ns, size.timeout).await;
    empty_namespace(env, &ns, size.timeout).await;
    api_quiet(env).await;
    let queued = scheduler.queued();
    let start_controller = || {
        Controller::start_logging(
            env,
            &format!("bench-{}", scenario.name()),
            free_port(),
            &["--no-leader-election"],
            "info",
        )
    };
    if queued {
        muster_queues(env, &ns, size).await;
    }
    let mut controller = if scheduler == Scheduler::Muster {
        let c = start_controller();
        env.serve(&c, &ns).await;
        Some(c)
    } else {
        None
    };
    let (jobs, gang_size) = match scenario {
        Scenario::Single | Scenario::Pods => (size.single_pods, 1),
        Scenario::Gangs => (size.gangs, GANG_SIZE),
    };
    let kind = if scenario == Scenario::Pods {
        "pods"
    } else {
        "Jobs"
    };
    let pods = jobs * gang_size;
    let (tracker, watch) = watch_pods(env, &ns, gang_size).await;
    say(&format!(
        "{what}: ready in {:.1} s; creating {jobs} {kind}",
        prepared.elapsed().as_secs_f64()
    ));

    let muster_pid: Vec<(&str, u32)> = controller.iter().map(|c| ("muster", c.pid())).collect();
    let cpu_before = cpu_sample(&muster_pid);
    let requests_before = request_counts(env).await;
    let api: Api<Job> = Api::namespaced(env.client.clone(), &ns);
    let pod_api: Api<Pod> = Api::namespaced(env.client.clone(), &ns);
    let creates = (0..jobs).map(|i| {
        let api = api.clone();
        let pod_api = pod_api.clone();
        let name = format!("j{i:05}");
        let ns = ns.clone();
        async move {
            let pp = PostParams::default();
            let created = if scenario == Scenario::Pods {
                pod_api
                    .create(&pp, &bench_pod(&ns, &name, scheduler))
                    .await
                    .map(drop)
            } else {
                api.create(&pp, &bench_job(&ns, &name, scheduler, scenario, size))
                    .await
                    .map(drop)
            };
            created.unwrap_or_else(|e| panic!("create {kind} {name}: {e}"));
        }
    });
    futures::stream::iter(creates)
        .buffer_unordered(CREATE_CONCURRENCY)
        .collect::<Vec<()>>()
        .await;
    let jobs_created = tracker.lock().unwrap().now();
    let mut released = 0.0;
    let on_backlog = matches!(
        scheduler,
        Scheduler::KubeSchedulerBacklog | Scheduler::MusterBacklog
    );
    if on_backlog {
        wait_for(&format!("all {pods} pods created"), size.timeout, || {
            let n = tracker.lock().unwrap().pods.len();
            async move { (n >= pods).then_some(()) }
        })
        .await;
        released = tracker.lock().unwrap().now();
    }
    let backlog =
        (scheduler == Scheduler::KubeSchedulerBacklog).then(|| BacklogScheduler::start(env));
    let late_muster = if scheduler == Scheduler::MusterBacklog {
        let c = start_controller();
        let pid = c.pid();
        controller = Some(c);
        Some(pid)
    } else {
        None
    };

    let deadline = Instant::now() + size.timeout;
    let mut progress = Instant::now();
    loop {
        let (bound, seen, now) = {
            let t = tracker.lock().unwrap();
            (t.bound(), t.pods.len(), t.now())
        };
        if bound >= pods {
            break;
        }
        if progress.elapsed() > Duration::from_secs(30) {
            progress = Instant::now();
            say(&format!(
                "{what}: {now:.0} s: {seen} of {pods} pods created, {bound} bound"
            ));
        }
        if Instant::now() > deadline {
            let tail = controller
                .as_ref()
                .map(|c| c.log_tail())
                .or_else(|| backlog.as_ref().map(|b| b.log_tail()))
                .unwrap_or_default();
            panic!(
                "{} {}: {bound} of {pods} pods bound after {:?}\n{tail}",
                scheduler.name(),
                scenario.name(),
                size.timeout
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut others = muster_pid;
    others.extend(
        backlog
            .iter()
            .map(|b| ("kube-scheduler-backlog", b.child.id())),
    );
    others.extend(late_muster.map(|pid| ("muster", pid)));
    let cpu_after = cpu_sample(&others);
    let requests = request_counts(env).await.since(&requests_before);
    watch.abort();
    let outcome = {
        let mut t = tracker.lock().unwrap();
        t.finish();
        outcome(
            &t,
            scheduler,
            scenario,
            jobs,
            (jobs_created, released),
            (&cpu_before, &cpu_after),
            requests,
        )
    };
    say(&table(std::slice::from_ref(&outcome)));

    let cleaned = Instant::now();
    drop(controller);
    drop(backlog);
    empty_namespace(env, &ns, size.timeout).await;
    if queued {
        delete_muster_objects(env).await;
    }
    say(&format!(
        "{what}: cleaned up in {:.1} s",
        cleaned.elapsed().as_secs_f64()
    ));
    outcome
}

/// The backlog run's kube-scheduler: the testenv's binary and configuration (the same
/// client QPS), with one profile, [`BACKLOG_SCHEDULER`]. Killed when dropped.
struct BacklogScheduler {
    child: Child,
    log: PathBuf,
}

impl BacklogScheduler {
    fn start(env: &Env) -> BacklogScheduler {
        let var = |name: &str| {
            PathBuf::from(std::env::var_os(name).unwrap_or_else(|| {
                panic!("{name} is not set: source the testenv's env file (tools/test does)")
            }))
        };
        let run = var("TESTENV_RUN_DIR");
        let base = std::fs::read_to_string(run.join("kube-scheduler.yaml"))
            .expect("the testenv's kube-scheduler.yaml (restart it with this up.sh)");
        let config = run.join("kube-scheduler-backlog.yaml");
        std::fs::write(
            &config,
            format!("{base}profiles:\n- schedulerName: {BACKLOG_SCHEDULER}\n"),
        )
        .expect("write the backlog scheduler's configuration");
        let log = run.join("logs").join("kube-scheduler-backlog.log");
        let file = std::fs::File::create(&log).expect("log file");
        let kubeconfig = env.kubeconfig.display().to_string();
        let child = Command::new(var("TESTENV_BIN").join("kube-scheduler"))
            .arg(format!("--config={}", config.display()))
            .arg(format!("--authentication-kubeconfig={kubeconfig}"))
            .arg(format!("--authorization-kubeconfig={kubeconfig}"))
            .arg("--bind-address=127.0.0.1")
            .arg(format!("--secure-port={}", free_port()))
            .stdout(Stdio::null())
            .stderr(file)
            .spawn()
            .expect("start kube-scheduler");
        BacklogScheduler { child, log }
    }

    fn log_tail(&self) -> String {
        log_tail(&self.log)
    }
}

impl Drop for BacklogScheduler {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn out_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("the target directory")
        .join("kube-bench")
}

#[test]
fn muster_and_kube_scheduler_side_by_side() {
    let _guard = lock();
    let size = match std::env::var("MUSTER_KUBE_BENCH").as_deref() {
        Ok("full") => FULL,
        Ok("small") | Ok("") | Err(_) => SMALL,
        Ok(other) => panic!("MUSTER_KUBE_BENCH={other}: expected small or full"),
    };
    let schedulers = chosen(
        "MUSTER_KUBE_BENCH_SCHEDULERS",
        &[
            Scheduler::KubeScheduler,
            Scheduler::KubeSchedulerBacklog,
            Scheduler::Muster,
            Scheduler::MusterBacklog,
        ],
        Scheduler::name,
    );
    let scenarios = chosen(
        "MUSTER_KUBE_BENCH_SCENARIOS",
        &[Scenario::Single, Scenario::Pods, Scenario::Gangs],
        Scenario::name,
    );
    // On a backlog, only how fast pods are placed differs; the gangs' time is set by their
    // run durations, so the backlog run is for the single pods unless named.
    let explicit = std::env::var("MUSTER_KUBE_BENCH_SCHEDULERS").is_ok_and(|v| !v.is_empty());
    let runs: Vec<(Scenario, Scheduler)> = scenarios
        .iter()
        .flat_map(|&sc| schedulers.iter().map(move |&s| (sc, s)))
        .filter(|&(sc, s)| {
            // Muster's backlog runs plain pods only: a Job created without the webhook
            // would start before Muster could suspend it.
            (s != Scheduler::MusterBacklog || sc == Scenario::Pods)
                && (explicit || sc != Scenario::Gangs || s != Scheduler::KubeSchedulerBacklog)
        })
        .collect();
    runtime().block_on(async {
        let Some(env) = Env::connect().await else {
            return;
        };
        let started = Instant::now();
        env.reset(&[]).await;
        delete_nodes(&env).await;
        create_nodes(&env, size.nodes, size.gang_nodes).await;
        say(&format!(
            "{} nodes Ready in {:.1} s",
            size.nodes,
            started.elapsed().as_secs_f64()
        ));

        let mut outcomes = Vec::new();
        for &(scenario, scheduler) in &runs {
            outcomes.push(run(&env, &size, scheduler, scenario).await);
        }
        delete_nodes(&env).await;
        for &(scenario, scheduler) in &runs {
            let ns = format!("bench-{}-{}", scheduler.name(), scenario.name());
            let _ = Api::<Namespace>::all(env.client.clone())
                .delete(&ns, &DeleteParams::default())
                .await;
        }

        let text = table(&outcomes);
        let _ = writeln!(
            std::io::stderr(),
            "\nkube bench, size {} ({} nodes of {NODE_CPU} cpu; {} single pods; {} gangs of \
             {GANG_SIZE} on {} nodes, running {}):\n{text}",
            size.name,
            size.nodes,
            size.single_pods,
            size.gangs,
            size.gang_nodes,
            size.gang_run
        );
        let dir = out_dir();
        std::fs::create_dir_all(&dir).expect("target/kube-bench");
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let path = dir.join(format!("{}-{stamp}.json", size.name));
        let doc = json!({
            "size": size.name,
            "nodes": size.nodes,
            "node_cpu": NODE_CPU,
            "single_pods": size.single_pods,
            "single_pod_cpu": SINGLE_POD_CPU,
            "gangs": size.gangs,
            "gang_size": GANG_SIZE,
            "gang_pod_cpu": GANG_POD_CPU,
            "gang_nodes": size.gang_nodes,
            "gang_run": size.gang_run,
            "partial_grace_s": PARTIAL_GRACE,
            "runs": outcomes.iter().map(Outcome::json).collect::<Vec<_>>(),
        });
        std::fs::write(&path, serde_json::to_string_pretty(&doc).unwrap()).expect("write json");
        say(&format!("written to {}", path.display()));

        for o in &outcomes {
            let what = format!("{} {}", o.scheduler.name(), o.scenario.name());
            let expected = match o.scenario {
                Scenario::Single | Scenario::Pods => size.single_pods,
                Scenario::Gangs => size.gangs * GANG_SIZE,
            };
            assert_eq!(o.pods, expected, "{what}: pods seen");
            assert_eq!(
                o.foreign_scheduler_pods, 0,
                "{what}: every pod must be placed by the scheduler under test"
            );
            if o.scheduler == Scheduler::Muster {
                assert_eq!(
                    o.partial_gangs, 0,
                    "{what}: Muster binds a gang whole, none may run partially"
                );
            }
        }
    });
}

#[test]
fn sampled_throughput_follows_scheduler_perf() {
    // 10 pods in the first second (skipped), 20 in the second, none in the third, 10 in the
    // fourth: samples 20, 5, 5.
    let mut bound: Vec<f64> = (0..10).map(|i| 0.5 + i as f64 * 0.01).collect();
    bound.extend((0..20).map(|i| 1.5 + i as f64 * 0.01));
    bound.extend((0..10).map(|i| 3.5 + i as f64 * 0.01));
    let (mean, median) = sampled_throughput(&bound).unwrap();
    assert!((mean - 10.0).abs() < 1e-9, "{mean}");
    assert!((median - 5.0).abs() < 1e-9, "{median}");
    assert_eq!(sampled_throughput(&[0.1, 0.2]), None);
}

#[test]
fn a_gang_is_partial_while_a_pod_runs_and_another_has_no_node() {
    let pod = |uid: &str, node: &str, phase: &str| -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": uid, "uid": uid,
                         "labels": {"batch.kubernetes.io/job-name": "g"}},
            "spec": {"containers": [], "nodeName": node},
            "status": {"phase": phase}
        }))
        .unwrap()
    };
    let mut t = Tracker::new(2);
    t.observe(&pod("a", "", "Pending"), false);
    t.observe(&pod("b", "", "Pending"), false);
    t.observe(&pod("a", "n1", "Pending"), false);
    assert!(!t.gangs["g"].partial_any, "bound but not running yet");
    t.observe(&pod("a", "n1", "Running"), false);
    assert!(t.gangs["g"].partial_any, "a runs, b has no node");
    t.observe(&pod("b", "n2", "Pending"), false);
    assert_eq!(t.gangs["g"].partial_since, None, "both placed");
    t.observe(&pod("a", "n1", "Succeeded"), false);
    t.observe(&pod("b", "n2", "Running"), false);
    assert_eq!(
        t.gangs["g"].partial_since, None,
        "finishing apart is not partial"
    );
    assert_eq!(t.bound(), 2);
}

#[test]
fn api_requests_are_summed_by_verb_and_resource_and_failures_kept_apart() {
    let text = r#"# HELP apiserver_request_total [STABLE] Counter of apiserver requests
# TYPE apiserver_request_total counter
apiserver_request_total{code="201",component="apiserver",dry_run="",group="",resource="pods",scope="resource",subresource="binding",verb="POST",version="v1"} 7
apiserver_request_total{code="409",component="apiserver",dry_run="",group="",resource="pods",scope="resource",subresource="binding",verb="POST",version="v1"} 1
apiserver_request_total{code="200",component="apiserver",dry_run="",group="",resource="pods",scope="namespace",subresource="",verb="LIST",version="v1"} 3
apiserver_request_total{code="201",component="apiserver",dry_run="",group="events.k8s.io",resource="events",scope="resource",subresource="",verb="POST",version="v1"} 2
apiserver_request_duration_seconds_count{resource="pods",verb="POST"} 99
"#;
    let before = RequestCounts::parse(text);
    let key = |v: &str, r: &str| (v.to_string(), r.to_string());
    assert_eq!(before.0[&key("POST", "pods/binding")], 7.0);
    assert_eq!(before.0[&key("POST", "pods/binding [409]")], 1.0);
    assert_eq!(before.total(), 13.0);
    assert_eq!(before.writes(), 10.0);
    let after = RequestCounts::parse(&text.replace("} 7", "} 17"));
    let run = after.since(&before);
    assert_eq!(run.0.len(), 1, "{run:?}");
    assert_eq!(run.writes(), 10.0);
    assert_eq!(run.writes_per_pod_line(10), "POST pods/binding 1.00");
}
