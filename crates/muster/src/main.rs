//! The `muster` command.
//!
//! Exit codes: 0 success; 2 invalid input (every problem printed as
//! `file:line: Kind "name": field.path: message`); 1 internal error.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use muster_api::trace::NodeShape;
use muster_api::{InputErrors, Scenario};
use muster_sim::engine::Options;

/// `print!` that ends the process quietly when stdout is closed (`muster simulate | head`)
/// instead of panicking; other write errors are reported on stderr.
macro_rules! out {
    ($($arg:tt)*) => {
        write_stdout(&format!($($arg)*))
    };
}

/// `println!` with the same handling as [`out!`].
macro_rules! outln {
    ($($arg:tt)*) => {
        write_stdout(&format!("{}\n", format!($($arg)*)))
    };
}

fn write_stdout(text: &str) {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    if let Err(e) = stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("error: cannot write to stdout: {e}");
        std::process::exit(1);
    }
}

/// Muster: batch and HPC scheduling for Kubernetes, and a simulator that runs the same
/// scheduling code.
#[derive(Parser, Debug)]
#[command(name = "muster", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Replay workloads on a cluster through Muster's scheduler and report what happens.
    ///
    /// Reads Kubernetes-style YAML (Nodes, PriorityClasses, ResourceFlavors, Cohorts,
    /// ClusterQueues, LocalQueues, Jobs, Workloads, ...). Every Job and Workload needs the
    /// annotation muster.dev/sim-duration (how long it runs once admitted) and may have
    /// muster.dev/sim-submit-after (when it is submitted). Writes events.jsonl, summary.json
    /// and report.html into --out and prints a summary.
    #[command(after_help = "Example:\n  muster simulate examples/quickstart --out muster-out")]
    Simulate {
        /// YAML files (multi-document allowed) or directories (every *.yaml/*.yml inside,
        /// recursively, in name order).
        #[arg(value_name = "PATH", required_unless_present = "trace")]
        paths: Vec<PathBuf>,
        #[command(flatten)]
        traces: TraceArgs,
        /// Directory for events.jsonl, summary.json and report.html.
        #[arg(long, value_name = "DIR", default_value = "muster-out")]
        out: PathBuf,
        /// Seed for randomized choices. The scheduler makes none today, so every seed gives
        /// the same output; the flag is part of the simulate contract.
        #[arg(long, value_name = "N", default_value_t = 0)]
        seed: u64,
        /// Stop at this simulated time (Go duration such as 12h or 90m, or seconds).
        #[arg(long, value_name = "DURATION", value_parser = parse_until)]
        until: Option<muster_core::Duration>,
        /// Print nothing on success (no summary table, no progress bar).
        #[arg(long)]
        quiet: bool,
        /// Place pods by node totals only, as a NUMA-blind scheduler (kube-scheduler without
        /// the NodeResourceTopology plugin) does, and count the pods each node's kubelet
        /// would then reject with a Topology Affinity Error (summary.json `numa`).
        #[arg(long)]
        numa_blind: bool,
    },
    /// Simulate the same workload under two configurations and show the differences: waits
    /// per queue, utilisation, fairness, preemptions, backfills.
    ///
    /// BASE and CANDIDATE are YAML files (or directories) holding what differs — queues,
    /// a Configuration —; the PATHs after `--` (and any --trace) hold what both share —
    /// nodes, jobs. Writes each run into OUT/base and OUT/candidate, the figures side by side
    /// into OUT/compare.json, a report with both runs overlaid on the same charts into
    /// OUT/report.html, and prints the figures.
    #[command(
        after_help = "Example:\n  muster compare examples/backfill/queue-besteffort.yaml \\\n    examples/backfill/queue-backfill.yaml -- examples/backfill/cluster.yaml examples/backfill/jobs.yaml"
    )]
    Compare {
        /// The base configuration.
        base: PathBuf,
        /// The candidate configuration.
        candidate: PathBuf,
        /// What both runs share (after `--`).
        #[arg(last = true, value_name = "PATH")]
        paths: Vec<PathBuf>,
        #[command(flatten)]
        traces: TraceArgs,
        /// Directory for base/, candidate/, compare.json and report.html.
        #[arg(long, value_name = "DIR", default_value = "muster-out/compare")]
        out: PathBuf,
        /// Stop both runs at this simulated time.
        #[arg(long, value_name = "DURATION", value_parser = parse_until)]
        until: Option<muster_core::Duration>,
    },
    /// Check input files without simulating: the same parsing and the same errors.
    Validate {
        /// YAML files or directories.
        #[arg(required = true, value_name = "PATH")]
        paths: Vec<PathBuf>,
    },
    /// Measure the scheduler: simulate a synthetic cluster and job stream and report wall
    /// time, pods scheduled per second and peak memory.
    ///
    /// The scenario: 80% CPU nodes and 20% 8-GPU nodes shared by eight teams in one cohort
    /// with preemption and reclaim; gangs of 1–16 pods, offered at about 1.2× capacity.
    Bench {
        /// Nodes in the cluster.
        #[arg(long, default_value_t = 1_000)]
        nodes: usize,
        /// Jobs to simulate.
        #[arg(long, default_value_t = 10_000)]
        jobs: usize,
        /// Seed of the synthetic scenario.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Let teams preempt lower priorities in their queue and reclaim lent quota.
        #[arg(long)]
        preemption: bool,
        /// Give every node two NUMA zones (single-numa-node on CPU nodes, restricted on GPU
        /// nodes) and make every pod Guaranteed, so each pod is aligned to zones.
        #[arg(long)]
        numa: bool,
    },
    /// Print the CustomResourceDefinitions of muster.dev/v1alpha1 as YAML.
    #[command(after_help = "Example:\n  muster crds | kubectl apply --server-side -f -")]
    Crds,
    /// Run the admission controller against a Kubernetes cluster (in-cluster config, or
    /// $KUBECONFIG).
    ///
    /// Watches Nodes, PriorityClasses, Muster's objects and Jobs labelled
    /// muster.dev/queue-name; admits, preempts and requeues them with the same scheduling
    /// core the simulator runs; serves the Job webhook, /metrics, /healthz and /readyz.
    Controller(Box<ControllerArgs>),
    /// Run the node agent: publish this node's NUMA topology as its NodeResourceTopology
    /// (in-cluster config, or $KUBECONFIG).
    ///
    /// Reads the NUMA nodes, huge pages, GPUs and RDMA adapters from sysfs, subtracts what
    /// the kubelet reserves, charges the node's pods to zones, and publishes
    /// topology.node.k8s.io/v1alpha2 NodeResourceTopology named after the node, on every pod
    /// change and every --resync-period, only when it changes. Serves /metrics and /healthz.
    #[command(after_help = "Example:
  muster agent --node-name gpu-01 --topology-manager-policy single-numa-node \
    --topology-manager-scope pod --reserved-cpus 0,32 --reserved-memory 0:memory=1Gi --once")]
    Agent(Box<AgentArgs>),
}

/// Real traces to replay, and the nodes to build for them.
#[derive(clap::Args, Debug)]
struct TraceArgs {
    /// A real cluster trace to replay (repeatable): swf:FILE (Parallel Workloads Archive
    /// log, plain or gzip), itp:FILE (Microsoft ITP GPU jobs, one cluster's CSV),
    /// alibaba-openb:PODS.csv (Alibaba GPU cluster 2023; its node list beside it).
    #[arg(long, value_name = "FORMAT:FILE")]
    trace: Vec<muster_api::trace::TraceSource>,
    /// Build this many identical nodes for a trace that describes no cluster.
    #[arg(long, value_name = "N", requires = "node_cpu")]
    nodes: Option<usize>,
    /// Cpu of each node --nodes builds.
    #[arg(long, value_name = "QUANTITY", requires = "nodes", value_parser = parse_quantity)]
    node_cpu: Option<muster_core::Quantity>,
    /// Memory of each node --nodes builds.
    #[arg(long, value_name = "QUANTITY", requires = "nodes", value_parser = parse_quantity)]
    node_memory: Option<muster_core::Quantity>,
    /// GPUs (nvidia.com/gpu) of each node --nodes builds.
    #[arg(long, value_name = "QUANTITY", requires = "nodes", value_parser = parse_quantity)]
    node_gpu: Option<muster_core::Quantity>,
}

impl TraceArgs {
    /// Reads the traces into the scenario (with the flags' nodes, if any).
    fn load_into(&self, scenario: &mut Scenario) -> Result<(), ExitCode> {
        let shape = self.nodes.zip(self.node_cpu).map(|(count, cpu)| NodeShape {
            count,
            cpu,
            memory: self.node_memory,
            gpu: self.node_gpu,
        });
        load_traces(scenario, &self.trace, shape.as_ref())
    }
}

#[derive(clap::Args, Debug)]
struct ControllerArgs {
    /// Namespace of the controller's Lease and webhook certificate Secret.
    #[arg(long, env = "POD_NAMESPACE", default_value = "muster-system")]
    namespace: String,
    /// This replica's name (default: the host name).
    #[arg(long, env = "POD_NAME")]
    identity: Option<String>,
    /// Run without leader election (only ever with a single replica).
    #[arg(long)]
    no_leader_election: bool,
    /// Name of the leader Lease.
    #[arg(long, default_value = "muster-controller")]
    lease_name: String,
    /// Lease duration in seconds: how long a dead leader blocks a successor.
    #[arg(long, default_value_t = 15)]
    lease_duration: u64,
    /// Seconds after its last renewal that a leader stops writing (less than the lease).
    #[arg(long, default_value_t = 10)]
    renew_deadline: u64,
    /// Seconds between acquire/renew attempts.
    #[arg(long, default_value_t = 2)]
    retry_period: u64,
    /// Address for /metrics, /healthz and /readyz.
    #[arg(long, default_value = "0.0.0.0:8080")]
    metrics_addr: std::net::SocketAddr,
    /// Address for the Job webhook (HTTPS).
    #[arg(long, default_value = "0.0.0.0:9443")]
    webhook_addr: std::net::SocketAddr,
    /// Serve no webhook.
    #[arg(long)]
    no_webhook: bool,
    /// Directory with tls.crt and tls.key for the webhook (default: a self-signed
    /// certificate kept in the Secret --webhook-secret).
    #[arg(long, value_name = "DIR")]
    webhook_cert_dir: Option<PathBuf>,
    /// Secret holding the self-signed webhook certificate.
    #[arg(long, default_value = "muster-webhook-cert")]
    webhook_secret: String,
    /// DNS names and IPs the API server reaches the webhook by (default: the Service
    /// muster-webhook in --namespace).
    #[arg(long, value_delimiter = ',')]
    webhook_hosts: Vec<String>,
    /// MutatingWebhookConfiguration whose caBundle the controller keeps current.
    #[arg(long, default_value = "muster-webhook")]
    webhook_config: String,
    /// Milliseconds of quiet after a change before a cycle runs.
    #[arg(long, default_value_t = 100)]
    debounce_ms: u64,
    /// YAML file with a muster.dev/v1alpha1 Configuration (fair sharing), the same object
    /// `muster simulate` reads among its inputs.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// The scheduler name Muster takes for the pods it admits: the webhook gives queued
    /// Jobs' pods this schedulerName, and the controller binds each admitted gang's pods to
    /// the nodes it planned.
    #[arg(long, value_name = "NAME", default_value = "muster")]
    scheduler_name: String,
    /// Only admit: leave the pods of admitted Jobs to kube-scheduler (pinned to the planned
    /// nodes by node affinity) instead of binding them.
    #[arg(long)]
    admission_only: bool,
    /// How long an admitted gang may wait for all its pods to exist (none is bound before
    /// they all do) before it is evicted and queued again, giving back its quota (Go
    /// duration such as 5m; 0 waits for ever).
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = parse_timeout)]
    gang_pods_timeout: std::time::Duration,
    /// Testing aid: exit right after this many pod binds, sent one at a time (to check that
    /// a controller killed in the middle of a gang leaves it whole after a restart).
    #[arg(long, value_name = "N", hide = true)]
    exit_after_binds: Option<u64>,
    /// Log as JSON lines.
    #[arg(long)]
    log_json: bool,
}

#[derive(clap::Args, Debug)]
struct AgentArgs {
    /// The node described: the NodeResourceTopology's name (in the DaemonSet, from the
    /// downward API's spec.nodeName).
    #[arg(long, env = "NODE_NAME")]
    node_name: String,
    /// Root of the sysfs tree to read: the host's /sys (mounted read-only at /host/sys in the
    /// DaemonSet).
    #[arg(long, value_name = "DIR", default_value = "/sys")]
    sysfs_root: PathBuf,
    /// Root of the procfs tree: only its meminfo is read, and only on a kernel without NUMA
    /// support (no devices/system/node in sysfs).
    #[arg(long, value_name = "DIR", default_value = "/proc")]
    proc_root: PathBuf,
    /// The kubelet's --topology-manager-policy: none, best-effort, restricted,
    /// single-numa-node.
    #[arg(long, value_name = "POLICY", default_value = "none", value_parser = muster_kube::agent::publish::parse_policy)]
    topology_manager_policy: muster_core::numa::TopologyPolicy,
    /// The kubelet's --topology-manager-scope: container, pod.
    #[arg(long, value_name = "SCOPE", default_value = "container", value_parser = muster_kube::agent::publish::parse_scope)]
    topology_manager_scope: muster_core::numa::TopologyScope,
    /// The kubelet's --reserved-cpus: CPUs no pod gets (taken from the zones they are in).
    #[arg(long, value_name = "LIST", default_value = "")]
    reserved_cpus: String,
    /// The kubelet's --reserved-memory, repeatable: memory and huge pages kept on a NUMA
    /// node, e.g. 0:memory=1Gi,hugepages-1Gi=2Gi.
    #[arg(long, value_name = "N:RESOURCE=QUANTITY,...")]
    reserved_memory: Vec<String>,
    /// Resource name of NVIDIA GPUs (as the device plugin offers them).
    #[arg(long, value_name = "NAME", default_value = "nvidia.com/gpu")]
    gpu_resource: String,
    /// Resource name of RDMA adapters: InfiniBand HCAs and RoCE NICs (as the device plugin
    /// offers them).
    #[arg(long, value_name = "NAME", default_value = "rdma/hca")]
    rdma_resource: String,
    /// Muster's scheduler name (the controller's --scheduler-name): the published
    /// fingerprint names the node's pods of that scheduler, so that the controller knows
    /// when the report counts every pod it bound there.
    #[arg(long, value_name = "NAME", default_value = "muster")]
    scheduler_name: String,
    /// How often to resync even when no pod changed (Go duration such as 10s, or seconds).
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_period)]
    resync_period: std::time::Duration,
    /// Address for /metrics and /healthz.
    #[arg(long, default_value = "0.0.0.0:8081")]
    metrics_addr: std::net::SocketAddr,
    /// Publish once and exit (no watch, no metrics server).
    #[arg(long)]
    once: bool,
    /// Log as JSON lines.
    #[arg(long)]
    log_json: bool,
}

/// A Go duration of at least 0 (0: no limit).
fn parse_timeout(s: &str) -> Result<std::time::Duration, String> {
    let d = muster_api::duration::parse_duration(s).map_err(|e| e.to_string())?;
    let ms = u64::try_from(d.0).map_err(|_| format!("{s:?} is negative"))?;
    Ok(std::time::Duration::from_millis(ms))
}

fn parse_period(s: &str) -> Result<std::time::Duration, String> {
    let d = parse_timeout(s)?;
    if d.is_zero() {
        return Err("must be more than 0".into());
    }
    Ok(d)
}

/// Reads the controller's `--config` file: one `Configuration` and nothing else.
fn controller_settings(
    path: &std::path::Path,
) -> anyhow::Result<muster_kube::controller::Settings> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let scenario = muster_api::scenario_from_str(&path.display().to_string(), &text)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let others: Vec<&str> = scenario
        .counts
        .keys()
        .copied()
        .filter(|k| *k != "Configuration")
        .collect();
    if !others.is_empty() {
        anyhow::bail!(
            "{}: a controller config holds only a Configuration, found {}",
            path.display(),
            others.join(", ")
        );
    }
    Ok(muster_kube::controller::Settings {
        profile: muster_core::Profile {
            fair_sharing: scenario.fair_sharing,
            scoring: scenario.scoring,
            ..muster_core::Profile::default()
        },
        topology_levels: scenario.cluster.topology_levels,
        gang_pods_timeout: None,
    })
}

fn parse_until(s: &str) -> Result<muster_core::Duration, String> {
    muster_api::duration::parse_duration(s).map_err(|e| e.to_string())
}

/// Most input errors printed; the rest are counted.
const MAX_PRINTED_ERRORS: usize = 50;

fn print_input_errors(errors: &InputErrors) {
    for e in errors.0.iter().take(MAX_PRINTED_ERRORS) {
        eprintln!("error: {e}");
    }
    if errors.0.len() > MAX_PRINTED_ERRORS {
        eprintln!(
            "error: ... and {} more",
            errors.0.len() - MAX_PRINTED_ERRORS
        );
    }
}

/// Reads the traces into the scenario; `shape`'s nodes are added once, before the first.
fn load_traces(
    scenario: &mut Scenario,
    traces: &[muster_api::trace::TraceSource],
    shape: Option<&NodeShape>,
) -> Result<(), ExitCode> {
    if traces.is_empty() {
        if let Some(shape) = shape {
            shape.add_to(scenario);
        }
        return Ok(());
    }
    for (i, t) in traces.iter().enumerate() {
        match muster_api::trace::load(t, if i == 0 { shape } else { None }, scenario) {
            Ok(report) => scenario.traces.push(report),
            Err(e) => {
                print_input_errors(&InputErrors(vec![e]));
                return Err(ExitCode::from(2));
            }
        }
    }
    Ok(())
}

fn parse_quantity(s: &str) -> Result<muster_core::Quantity, String> {
    muster_core::Quantity::parse(s).map_err(|e| e.to_string())
}

fn load(paths: &[PathBuf]) -> Result<Scenario, ExitCode> {
    match muster_api::load_scenario(paths) {
        Ok(s) => {
            for w in &s.warnings {
                eprintln!("{w}");
            }
            Ok(s)
        }
        Err(errors) => {
            print_input_errors(&errors);
            Err(ExitCode::from(2))
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Validate { paths } => match load(&paths) {
            Err(code) => code,
            Ok(s) => {
                let kinds: Vec<String> = s.counts.iter().map(|(k, n)| format!("{n} {k}")).collect();
                outln!(
                    "ok: {} objects ({}), {} workloads to simulate",
                    s.counts.values().sum::<usize>(),
                    kinds.join(", "),
                    s.workloads.len()
                );
                ExitCode::SUCCESS
            }
        },
        Command::Bench {
            nodes,
            jobs,
            seed,
            preemption,
            numa,
        } => match bench(nodes, jobs, seed, preemption, numa) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e:#}");
                ExitCode::from(1)
            }
        },
        Command::Crds => match muster_kube::crd::to_yaml() {
            Ok(yaml) => {
                out!("{yaml}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::from(1)
            }
        },
        Command::Agent(args) => match agent(*args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e:#}");
                ExitCode::from(1)
            }
        },
        Command::Controller(args) => match controller(args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e:#}");
                ExitCode::from(1)
            }
        },
        Command::Compare {
            base,
            candidate,
            paths,
            traces,
            out,
            until,
        } => {
            let mut scenarios = Vec::new();
            for config in [&base, &candidate] {
                let mut all = paths.clone();
                all.push(config.clone());
                let mut scenario = match load(&all) {
                    Ok(s) => s,
                    Err(code) => return code,
                };
                if let Err(code) = traces.load_into(&mut scenario) {
                    return code;
                }
                scenarios.push(scenario);
            }
            match compare(&scenarios, (&base, &candidate), &out, until) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("error: {e:#}");
                    ExitCode::from(1)
                }
            }
        }
        Command::Simulate {
            paths,
            traces,
            out,
            seed: _,
            until,
            quiet,
            numa_blind,
        } => {
            let mut scenario = match load(&paths) {
                Ok(s) => s,
                Err(code) => return code,
            };
            if let Err(code) = traces.load_into(&mut scenario) {
                return code;
            }
            let options = Options {
                until,
                profile: muster_core::Profile {
                    numa_blind,
                    ..muster_core::Profile::default()
                },
                ..Options::default()
            };
            let result = simulate(&scenario, &paths, &out, options, quiet);
            // As for the outcome: the process ends next, and the kernel frees faster.
            std::mem::forget(scenario);
            match result {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("error: {e:#}");
                    ExitCode::from(1)
                }
            }
        }
    }
}

/// Logs to stderr, as text or JSON lines, at `RUST_LOG`'s levels (default info).
fn init_logging(json: bool) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

fn agent(args: AgentArgs) -> anyhow::Result<()> {
    init_logging(args.log_json);
    if args.node_name.is_empty() {
        anyhow::bail!("--node-name (or NODE_NAME) must name the node");
    }
    let reserved =
        muster_kube::agent::reserved::Reserved::parse(&args.reserved_cpus, &args.reserved_memory)?;
    let config = muster_kube::agent::Config {
        node_name: args.node_name,
        sysfs_root: args.sysfs_root,
        proc_root: args.proc_root,
        devices: muster_kube::agent::pci::DeviceNames {
            gpu: args.gpu_resource,
            rdma: args.rdma_resource,
        },
        reserved,
        policy: args.topology_manager_policy,
        scope: args.topology_manager_scope,
        scheduler_name: args.scheduler_name,
        resync: args.resync_period,
        metrics_addr: args.metrics_addr,
    };
    // Sysfs and the reservations first: their errors say more than a connection's would.
    muster_kube::agent::read_inventory(&config)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async {
        let client = kube::Client::try_default()
            .await
            .context("connecting to the Kubernetes API (in-cluster config or $KUBECONFIG)")?;
        if args.once {
            muster_kube::agent::publish_once(client, &config).await?;
        } else {
            muster_kube::agent::run(client, config, shutdown_signal()).await?;
        }
        Ok(())
    })
}

fn controller(args: Box<ControllerArgs>) -> anyhow::Result<()> {
    let args = *args;
    init_logging(args.log_json);
    let identity = match args.identity {
        Some(i) => i,
        None => std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_string())
            .unwrap_or_else(|_| "muster".into()),
    };
    // A suffix tells apart two runs under one name (a restarted process).
    let identity = format!("{identity}_{:08x}", std::process::id() ^ nanos());
    let hosts = if args.webhook_hosts.is_empty() {
        vec![
            format!("muster-webhook.{}.svc", args.namespace),
            format!("muster-webhook.{}.svc.cluster.local", args.namespace),
        ]
    } else {
        args.webhook_hosts
    };
    let mut lease =
        muster_kube::leader::LeaseConfig::new(&args.namespace, &args.lease_name, &identity);
    lease.lease_duration = std::time::Duration::from_secs(args.lease_duration);
    lease.renew_deadline = std::time::Duration::from_secs(args.renew_deadline);
    lease.retry_period = std::time::Duration::from_secs(args.retry_period);
    if lease.renew_deadline >= lease.lease_duration {
        anyhow::bail!("--renew-deadline must be less than --lease-duration");
    }
    let mut settings = match &args.config {
        Some(path) => controller_settings(path)?,
        None => muster_kube::controller::Settings::default(),
    };
    settings.gang_pods_timeout =
        (!args.gang_pods_timeout.is_zero()).then_some(args.gang_pods_timeout);
    let config = muster_kube::controller::Config {
        namespace: args.namespace,
        identity,
        leader_election: !args.no_leader_election,
        lease,
        metrics_addr: args.metrics_addr,
        webhook_addr: (!args.no_webhook).then_some(args.webhook_addr),
        webhook_cert: match args.webhook_cert_dir {
            Some(dir) => muster_kube::controller::WebhookCert::Dir(dir),
            None => muster_kube::controller::WebhookCert::Secret {
                name: args.webhook_secret,
                dns_names: hosts,
            },
        },
        webhook_config: args.webhook_config,
        debounce: std::time::Duration::from_millis(args.debounce_ms),
        resync: std::time::Duration::from_secs(30),
        settings,
        scheduler_name: (!args.admission_only).then_some(args.scheduler_name),
        exit_after_binds: args.exit_after_binds,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async {
        let client = kube::Client::try_default()
            .await
            .context("connecting to the Kubernetes API (in-cluster config or $KUBECONFIG)")?;
        muster_kube::controller::run(client, config, shutdown_signal()).await?;
        Ok(())
    })
}

fn nanos() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0)
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

/// Runs both scenarios into `out`/base and `out`/candidate and prints their figures side
/// by side (also written to `out`/compare.json), and writes `out`/report.html with both
/// runs overlaid.
fn compare(
    scenarios: &[Scenario],
    (base, candidate): (&PathBuf, &PathBuf),
    out: &std::path::Path,
    until: Option<muster_core::Duration>,
) -> anyhow::Result<()> {
    let mut runs = Vec::new();
    for (scenario, (dir, config)) in scenarios
        .iter()
        .zip([("base", base), ("candidate", candidate)])
    {
        let options = Options {
            until,
            ..Options::default()
        };
        let target = out.join(dir);
        let title = format!("{dir}: {}", config.display());
        let outcome =
            muster_sim::output::run_to_dir(scenario, &options, &target, &title, &mut |_| {})
                .with_context(|| format!("simulation into {} failed", target.display()))?;
        runs.push(muster_sim::compare::Run::new(
            config.display().to_string(),
            outcome,
        ));
    }
    let [base_run, candidate_run] = &runs[..] else {
        anyhow::bail!("compare needs two scenarios, got {}", runs.len());
    };
    let rows = muster_sim::compare::rows(&base_run.summary, &candidate_run.summary);
    let json = muster_sim::compare::to_json(
        (
            &base.display().to_string(),
            &candidate.display().to_string(),
        ),
        &rows,
    );
    let path = out.join("compare.json");
    std::fs::write(&path, json).with_context(|| format!("cannot write {}", path.display()))?;
    let report = out.join("report.html");
    let html = muster_sim::compare::report(base_run, candidate_run, &rows);
    std::fs::write(&report, html).with_context(|| format!("cannot write {}", report.display()))?;
    out!(
        "{}",
        muster_sim::compare::table(&rows, ("base", "candidate"))
    );
    outln!(
        "\nbase: {}\ncandidate: {}\nwrote {}/base/, {}/candidate/, {} and {}",
        base.display(),
        candidate.display(),
        out.display(),
        out.display(),
        path.display(),
        report.display()
    );
    Ok(())
}

/// Runs long enough to deserve a progress bar.
const PROGRESS_MIN_WORKLOADS: usize = 5_000;

fn simulate(
    scenario: &Scenario,
    paths: &[PathBuf],
    out: &std::path::Path,
    options: Options,
    quiet: bool,
) -> anyhow::Result<()> {
    let title = paths
        .iter()
        .map(|p| p.display().to_string())
        .chain(scenario.traces.iter().map(|t| t.source.clone()))
        .collect::<Vec<_>>()
        .join(", ");
    let bar = (!quiet
        && std::io::stderr().is_terminal()
        && scenario.workloads.len() >= PROGRESS_MIN_WORKLOADS)
        .then(|| {
            let bar = indicatif::ProgressBar::new(2 * scenario.workloads.len() as u64);
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{spinner} simulating [{bar:40}] {pos}/{len} events ({eta})",
                )
                .expect("valid template")
                .progress_chars("=> "),
            );
            bar
        });
    let mut progress = |p: muster_sim::Progress| {
        if let Some(bar) = &bar {
            bar.set_length(p.expected.max(p.events));
            bar.set_position(p.events);
        }
    };
    let outcome = muster_sim::output::run_to_dir(scenario, &options, out, &title, &mut progress)
        .with_context(|| format!("simulation into {} failed", out.display()))?;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    if !quiet {
        out!("{}", muster_sim::output::summary_table(&outcome));
        outln!(
            "\nwrote {}/events.jsonl, summary.json, report.html ({:.2}s)",
            out.display(),
            outcome.summary.wall_seconds
        );
    }
    // The process ends next: freeing a large replay's millions of small allocations one by
    // one takes longer than the kernel's reclaiming the whole heap at exit.
    std::mem::forget(outcome);
    Ok(())
}

/// Peak resident memory of this process, from `/proc/self/status` (Linux), in KiB.
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

fn bench(nodes: usize, jobs: usize, seed: u64, preemption: bool, numa: bool) -> anyhow::Result<()> {
    let mut scenario = muster_sim::synthetic::scenario(nodes, jobs, seed, preemption);
    if numa {
        muster_sim::synthetic::add_numa(&mut scenario);
    }
    let pods: u64 = scenario
        .workloads
        .iter()
        .map(|w| {
            w.spec
                .pod_sets
                .iter()
                .map(|p| u64::from(p.count))
                .sum::<u64>()
        })
        .sum();
    let rss_before = peak_rss_kib();
    let started = std::time::Instant::now();
    let mut sink = muster_sim::events::JsonLines(std::io::sink());
    let outcome = muster_sim::simulate(&scenario, &Options::default(), &mut sink, &mut |_| {})?;
    let wall = started.elapsed().as_secs_f64();
    let s = &outcome.summary;
    let placed: u64 = outcome
        .model
        .workloads()
        .iter()
        .filter(|w| !w.inadmissible)
        .map(|w| {
            outcome
                .model
                .shape_of(outcome.model.workload_id(&w.key).expect("known"))
                .pod_sets
                .iter()
                .map(|p| u64::from(p.count))
                .sum::<u64>()
        })
        .sum();
    outln!(
        "scenario   {nodes} nodes, {jobs} jobs ({pods} pods), seed {seed}, preemption {}, NUMA zones {}",
        if preemption { "on" } else { "off" },
        if numa { "on" } else { "off" }
    );
    outln!(
        "result     {} admitted, {} finished, {} preemptions, makespan {}",
        s.admitted,
        s.finished,
        s.preemptions,
        muster_sim::report::human_time(s.makespan_seconds)
    );
    let w = &outcome.work;
    outln!(
        "core work  {} cycles, {} attempts ({} answered by the memo), {} gang placements, {} preemption searches",
        w.cycles,
        w.counters.attempts,
        w.counters.memo_hits,
        w.counters.placements,
        w.counters.preemption_searches
    );
    outln!("wall       {wall:.3} s");
    outln!(
        "throughput {:.0} pods/s (pods of admitted workloads / wall time)",
        placed as f64 / wall
    );
    match (rss_before, peak_rss_kib()) {
        (Some(before), Some(after)) => outln!(
            "memory     peak RSS {:.1} MiB (before the run {:.1} MiB)",
            after as f64 / 1024.0,
            before as f64 / 1024.0
        ),
        _ => outln!("memory     peak RSS not available on this platform"),
    }
    Ok(())
}
