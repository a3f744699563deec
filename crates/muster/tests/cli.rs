//! End-to-end tests of the `muster` binary: exit codes, messages, files written.

use std::process::{Command, Output};

mod common;
use common::{muster, repo};

fn quickstart() -> String {
    repo().join("examples/quickstart").display().to_string()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).to_string()
}

#[test]
fn simulate_writes_the_three_files_and_prints_a_summary() {
    let dir = tempfile::tempdir().unwrap();
    let o = muster(&["simulate", &quickstart(), "--out", "out"], dir.path());
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("workloads 8"), "{out}");
    assert!(
        out.contains("team-a") && out.contains("usage share"),
        "{out}"
    );
    for f in ["events.jsonl", "summary.json", "report.html"] {
        assert!(dir.path().join("out").join(f).is_file(), "{f}");
    }
    let summary: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("out/summary.json")).unwrap(),
    )
    .unwrap();
    for field in [
        "workloads",
        "admitted",
        "finished",
        "pendingAtEnd",
        "preemptions",
        "makespanSeconds",
        "waitSeconds",
        "utilization",
        "clusterQueues",
        "fairness",
        "wallSeconds",
    ] {
        assert!(summary.get(field).is_some(), "summary.json lacks {field}");
    }
    for field in ["mean", "p50", "p95", "p99", "max"] {
        assert!(
            summary["waitSeconds"].get(field).is_some(),
            "waitSeconds.{field}"
        );
    }
    let team_a = &summary["clusterQueues"]["team-a"];
    for field in ["admitted", "waitSecondsMean", "usageShare"] {
        assert!(team_a.get(field).is_some(), "clusterQueues.team-a.{field}");
    }
    assert!(summary["fairness"]["jain"].is_number());
}

#[test]
fn the_default_out_dir_is_muster_out() {
    let dir = tempfile::tempdir().unwrap();
    let o = muster(&["simulate", &quickstart(), "--quiet"], dir.path());
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).is_empty(), "--quiet prints nothing");
    assert!(dir.path().join("muster-out/events.jsonl").is_file());
}

#[test]
fn two_runs_give_identical_bytes_but_for_wall_seconds() {
    let dir = tempfile::tempdir().unwrap();
    for out in ["a", "b"] {
        let o = muster(
            &[
                "simulate",
                &quickstart(),
                "--out",
                out,
                "--seed",
                "7",
                "--quiet",
            ],
            dir.path(),
        );
        assert!(o.status.success(), "{}", stderr(&o));
    }
    let read = |p: &str| std::fs::read_to_string(dir.path().join(p)).unwrap();
    assert_eq!(read("a/events.jsonl"), read("b/events.jsonl"));
    let strip = |s: String| -> serde_json::Value {
        let mut v: serde_json::Value = serde_json::from_str(&s).unwrap();
        v.as_object_mut().unwrap().remove("wallSeconds");
        v
    };
    assert_eq!(strip(read("a/summary.json")), strip(read("b/summary.json")));
}

#[test]
fn until_stops_the_clock() {
    let dir = tempfile::tempdir().unwrap();
    let o = muster(
        &["simulate", &quickstart(), "--until", "1h", "--quiet"],
        dir.path(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let summary: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("muster-out/summary.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(summary["makespanSeconds"], serde_json::json!(3600.0));
    assert!(summary["runningAtEnd"].as_u64().unwrap() > 0);
    let events = std::fs::read_to_string(dir.path().join("muster-out/events.jsonl")).unwrap();
    for line in events.lines() {
        let e: serde_json::Value = serde_json::from_str(line).unwrap();
        assert!(e["time"].as_f64().unwrap() <= 3600.0, "{line}");
    }
}

/// Writes `text` to `cluster.yaml` in a temp dir and runs `muster simulate` on it.
fn simulate_text(text: &str) -> (tempfile::TempDir, Output) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("cluster.yaml"), text).unwrap();
    let o = muster(&["simulate", "cluster.yaml", "--out", "out"], dir.path());
    (dir, o)
}

fn quickstart_text() -> String {
    let mut text = String::new();
    for f in ["cluster.yaml", "queues.yaml", "jobs.yaml"] {
        text.push_str("---\n");
        text.push_str(
            &std::fs::read_to_string(repo().join("examples/quickstart").join(f)).unwrap(),
        );
    }
    text
}

fn assert_input_error(text: &str, expected: &str) {
    let (dir, o) = simulate_text(text);
    assert_eq!(
        o.status.code(),
        Some(2),
        "exit code 2 for invalid input; stderr: {}",
        stderr(&o)
    );
    let err = stderr(&o);
    assert!(
        err.contains(expected),
        "stderr should contain {expected:?}:\n{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
    assert!(
        !dir.path().join("out").exists(),
        "no output is written for invalid input"
    );
}

#[test]
fn an_unknown_flavor_is_exit_2_naming_file_line_object_and_field() {
    let text = quickstart_text().replacen("    - name: a100\n", "    - name: h100\n", 1);
    assert_input_error(
        &text,
        "cluster.yaml:72: ClusterQueue \"team-a\": spec.resourceGroups[0].flavors[0].name: unknown ResourceFlavor \"h100\"",
    );
}

#[test]
fn a_malformed_quantity_is_exit_2() {
    let text = quickstart_text().replacen("nominalQuota: 1Ti", "nominalQuota: 1TB", 1);
    assert_input_error(
        &text,
        "spec.resourceGroups[0].flavors[0].resources[1].nominalQuota: quantity \"1TB\" has an unknown suffix",
    );
}

#[test]
fn a_negative_quota_is_exit_2() {
    let text = quickstart_text().replacen("nominalQuota: 16}", "nominalQuota: -16}", 1);
    assert_input_error(&text, "nominalQuota: must not be negative, got -16");
}

#[test]
fn a_job_without_sim_duration_is_exit_2() {
    let text = quickstart_text().replacen("    muster.dev/sim-duration: 2h\n", "", 1);
    assert_input_error(
        &text,
        "Job \"team-b/sweep-1\": metadata.annotations[muster.dev/sim-duration]: required in simulation",
    );
}

#[test]
fn broken_yaml_is_exit_2_with_a_line() {
    assert_input_error(
        "apiVersion: v1\nkind: Node\nmetadata: {name: [n1\n",
        "cluster.yaml:",
    );
    assert_input_error(
        "apiVersion: v1\nkind: Node\nmetadata: {name: [n1\n",
        "invalid YAML",
    );
}

#[test]
fn a_missing_path_is_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let o = muster(&["simulate", "nope.yaml"], dir.path());
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("nope.yaml: cannot read"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn unknown_kinds_warn_and_the_run_goes_on() {
    let text = format!(
        "{}---\napiVersion: example.com/v1\nkind: Gadget\nmetadata: {{name: g}}\n",
        quickstart_text()
    );
    let (dir, o) = simulate_text(&text);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("warning: cluster.yaml:"),
        "{}",
        stderr(&o)
    );
    assert!(stderr(&o).contains("unknown kind Gadget"), "{}", stderr(&o));
    assert!(dir.path().join("out/summary.json").is_file());
}

#[test]
fn validate_checks_without_simulating() {
    let dir = tempfile::tempdir().unwrap();
    let o = muster(&["validate", &quickstart()], dir.path());
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).starts_with("ok: 19 objects"), "{}", stdout(&o));
    assert!(
        !dir.path().join("muster-out").exists(),
        "validate writes nothing"
    );
    std::fs::write(
        dir.path().join("bad.yaml"),
        "apiVersion: v1\nkind: Node\nmetadata: {}\n",
    )
    .unwrap();
    let o = muster(&["validate", "bad.yaml"], dir.path());
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("bad.yaml:3: Node: metadata.name: required"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn help_describes_the_commands() {
    let dir = tempfile::tempdir().unwrap();
    let o = muster(&["--help"], dir.path());
    assert!(o.status.success());
    let out = stdout(&o);
    for word in ["simulate", "validate", "bench"] {
        assert!(out.contains(word), "{out}");
    }
    let o = muster(&["simulate", "--help"], dir.path());
    let out = stdout(&o);
    for flag in [
        "--out",
        "--seed",
        "--until",
        "--quiet",
        "muster.dev/sim-duration",
    ] {
        assert!(out.contains(flag), "{out}");
    }
}

#[test]
fn bench_reports_throughput_and_memory() {
    let dir = tempfile::tempdir().unwrap();
    let o = muster(&["bench", "--nodes", "20", "--jobs", "100"], dir.path());
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("pods/s") && out.contains("peak RSS"), "{out}");
}

#[test]
fn crds_prints_exactly_the_crds_in_deploy() {
    let o = muster(&["crds"], &repo());
    assert!(o.status.success(), "{}", stderr(&o));
    let committed = std::fs::read_to_string(repo().join("deploy/crds.yaml")).unwrap();
    assert_eq!(
        stdout(&o),
        committed,
        "deploy/crds.yaml is stale: regenerate it with `muster crds > deploy/crds.yaml`"
    );
    for kind in [
        "ResourceFlavor",
        "Cohort",
        "ClusterQueue",
        "LocalQueue",
        "Workload",
    ] {
        assert!(stdout(&o).contains(&format!("kind: {kind}\n")), "{kind}");
    }
}

#[test]
fn the_controller_without_a_cluster_fails_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-kubeconfig");
    let o = Command::new(env!("CARGO_BIN_EXE_muster"))
        .args([
            "controller",
            "--metrics-addr",
            "127.0.0.1:0",
            "--webhook-addr",
            "127.0.0.1:0",
        ])
        .env("KUBECONFIG", &missing)
        .env_remove("KUBERNETES_SERVICE_HOST")
        .output()
        .expect("muster runs");
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("connecting to the Kubernetes API"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn the_controller_config_must_hold_only_a_configuration() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.yaml");
    std::fs::write(
        &path,
        "apiVersion: muster.dev/v1alpha1\nkind: Configuration\nmetadata: {name: c}\n\
         spec: {fairSharing: {enable: true}}\n---\n\
         apiVersion: v1\nkind: Node\nmetadata: {name: n1}\nstatus: {allocatable: {cpu: \"1\"}}\n",
    )
    .unwrap();
    let o = muster(
        &[
            "controller",
            "--config",
            path.to_str().unwrap(),
            "--no-webhook",
        ],
        dir.path(),
    );
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("a controller config holds only a Configuration, found Node"),
        "{}",
        stderr(&o)
    );
    std::fs::write(
        &path,
        "apiVersion: muster.dev/v1alpha1\nkind: Configuration\nmetadata: {name: c}\n\
         spec: {fairSharing: {enable: true, preemptionStrategies: [Sometimes]}}\n",
    )
    .unwrap();
    let o = muster(
        &["controller", "--config", path.to_str().unwrap()],
        dir.path(),
    );
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("spec.fairSharing.preemptionStrategies[0]: unknown value"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn the_deployed_controller_config_is_a_valid_configuration() {
    let manifest = std::fs::read_to_string(repo().join("deploy/controller.yaml")).unwrap();
    let start = manifest
        .find("  config.yaml: |\n")
        .expect("deploy/controller.yaml has the muster-config ConfigMap");
    let body: String = manifest[start..]
        .lines()
        .skip(1)
        .take_while(|l| l.starts_with("    "))
        .map(|l| format!("{}\n", &l[4..]))
        .collect();
    let scenario = muster_api::scenario_from_str("config.yaml", &body).expect("valid");
    assert_eq!(scenario.counts.get("Configuration"), Some(&1));
    assert_eq!(
        scenario.fair_sharing, None,
        "fair sharing is off by default"
    );
}

#[test]
fn a_closed_stdout_ends_quietly_without_a_panic() {
    use std::io::Read;
    // A summary table longer than a pipe's buffer (64 KiB): 1,500 ClusterQueues.
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::from(
        "apiVersion: v1\nkind: Node\nmetadata: {name: n1}\nstatus: {allocatable: {cpu: \"1\"}}\n\
         ---\napiVersion: muster.dev/v1alpha1\nkind: ResourceFlavor\nmetadata: {name: f}\n",
    );
    for i in 0..1500 {
        text.push_str(&format!(
            "---\napiVersion: muster.dev/v1alpha1\nkind: ClusterQueue\n\
             metadata: {{name: a-rather-long-cluster-queue-name-{i:04}}}\nspec:\n  resourceGroups:\n  \
             - coveredResources: [cpu]\n    flavors: [{{name: f, resources: [{{name: cpu, nominalQuota: 1}}]}}]\n"
        ));
    }
    std::fs::write(dir.path().join("big.yaml"), text).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_muster"))
        .args(["simulate", "big.yaml", "--out", "out"])
        .current_dir(dir.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = [0u8; 1];
    child.stdout.take().unwrap().read_exact(&mut first).unwrap(); // then closed
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!stderr(&out).contains("panicked"), "{}", stderr(&out));
}

/// The NUMA example: NUMA-aware placement causes no Topology Affinity Error, NUMA-blind
/// placement of the same jobs causes many (the figures docs/topology.md reports).
#[test]
fn numa_blind_placement_shows_the_topology_affinity_errors_aware_placement_avoids() {
    let numa = repo().join("examples/numa").display().to_string();
    let run = |blind: bool| {
        let dir = tempfile::tempdir().unwrap();
        let mut args = vec!["simulate", numa.as_str(), "--quiet", "--out", "out"];
        if blind {
            args.push("--numa-blind");
        }
        let o = muster(&args, dir.path());
        assert!(o.status.success(), "{}", stderr(&o));
        let summary: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(dir.path().join("out/summary.json")).unwrap(),
        )
        .unwrap();
        let events = std::fs::read_to_string(dir.path().join("out/events.jsonl")).unwrap();
        (
            summary["numa"].clone(),
            summary["finished"].as_u64(),
            events,
        )
    };
    let (aware, finished, events) = run(false);
    assert_eq!(aware["mode"], "aware");
    assert_eq!(aware["topologyAffinityErrors"], 0);
    assert_eq!(aware["podsOnTopologyNodes"], 757);
    assert_eq!(finished, Some(400));
    assert!(!events.contains("topologyAffinityError"));
    assert!(events.matches("numaZones").count() > 700);
    let (blind, _, events) = run(true);
    assert_eq!(blind["mode"], "blind");
    assert_eq!(blind["topologyAffinityErrors"], 107);
    assert_eq!(blind["admissionsWithErrors"], 83);
    assert_eq!(
        events.matches("\"topologyAffinityError\":true").count(),
        107
    );
}

fn kth() -> String {
    repo()
        .join("tests/traces/KTH-SP2-1996-2.1-cln.swf.gz")
        .display()
        .to_string()
}

/// The KTH SP2 log replayed whole (BestEffortFIFO: the Backfill replay takes ten times as
/// long in a debug build): the summary's counts are the trace's own (27,992 jobs, none
/// skipped, all finished), on the cluster its header describes, with the recorded waits
/// beside the simulated ones.
#[test]
fn the_kth_log_replays_whole_with_its_recorded_waits_beside_the_simulated() {
    let trace = format!("swf:{}", kth());
    let dir = tempfile::tempdir().unwrap();
    let yaml = repo().join("examples/traces/kth-fifo.yaml");
    let o = muster(
        &[
            "simulate",
            yaml.to_str().unwrap(),
            "--trace",
            &trace,
            "--out",
            "out",
        ],
        dir.path(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains("27992 records read, 27992 replayed, 0 skipped"),
        "{out}"
    );
    assert!(
        out.contains("wait, recorded vs simulated (27992 jobs): mean 4h15m vs"),
        "{out}"
    );
    let s: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("out/summary.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(s["workloads"], 27992);
    assert_eq!(s["finished"], 27992);
    assert_eq!(s["traces"][0]["read"], 27992);
    assert_eq!(s["traces"][0]["loaded"], 27992);
    assert_eq!(s["fidelity"]["workloads"], 27992);
    let recorded = s["fidelity"]["recordedWaitSeconds"]["mean"]
        .as_f64()
        .unwrap();
    assert!((recorded - 15347.843).abs() < 0.01, "{recorded}");
}

#[test]
fn trace_flags_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    let o = muster(&["simulate", "--trace", "csv:x.csv"], dir.path());
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("unknown trace format \"csv\""),
        "{}",
        stderr(&o)
    );
    let o = muster(&["simulate", "--trace", "swf:missing.swf"], dir.path());
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("missing.swf: cannot read"),
        "{}",
        stderr(&o)
    );
    std::fs::write(dir.path().join("bad.swf"), "; MaxNodes: 2\n1 2 3\n").unwrap();
    let o = muster(&["simulate", "--trace", "swf:bad.swf"], dir.path());
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("bad.swf:2: 3 fields, an SWF job line has 18"),
        "{}",
        stderr(&o)
    );
    assert!(
        !dir.path().join("muster-out").exists(),
        "nothing written on bad input"
    );
    let o = muster(
        &["simulate", "--trace", "swf:bad.swf", "--nodes", "4"],
        dir.path(),
    );
    assert_eq!(o.status.code(), Some(2), "--nodes needs --node-cpu");
}

/// `muster compare`: the same jobs under two queueing strategies, side by side.
#[test]
fn compare_runs_both_configurations_and_shows_the_differences() {
    let dir = tempfile::tempdir().unwrap();
    let ex = |f: &str| {
        repo()
            .join("examples/backfill")
            .join(f)
            .display()
            .to_string()
    };
    let o = muster(
        &[
            "compare",
            &ex("queue-besteffort.yaml"),
            &ex("queue-backfill.yaml"),
            "--out",
            "cmp",
            "--",
            &ex("cluster.yaml"),
            &ex("jobs.yaml"),
        ],
        dir.path(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    let line = |m: &str| {
        out.lines()
            .find(|l| l.starts_with(m))
            .unwrap_or_default()
            .to_string()
    };
    assert!(line("backfilled").ends_with("+785"), "{out}");
    assert!(
        line("wait mean").contains('-'),
        "Backfill waits less: {out}"
    );
    for f in [
        "base/summary.json",
        "candidate/events.jsonl",
        "compare.json",
        "report.html",
    ] {
        assert!(dir.path().join("cmp").join(f).exists(), "{f}");
    }
    assert!(
        out.contains("cmp/report.html"),
        "prints the report's path: {out}"
    );
    // The report overlays the two runs: each chart has both lines, named in its legend.
    let html = std::fs::read_to_string(dir.path().join("cmp/report.html")).unwrap();
    for title in [
        "Allocated / allocatable over time: cpu",
        "Pending workloads: hpc",
        "Wait-time CDF: hpc",
    ] {
        let start = html
            .find(&format!("<figcaption>{title}</figcaption>"))
            .unwrap_or_else(|| panic!("no chart {title:?}"));
        let chart = &html[start..start + html[start..].find("</figure>").unwrap()];
        assert_eq!(chart.matches("<path ").count(), 2, "{title}: {chart}");
        for name in [
            "base (queue-besteffort.yaml)",
            "candidate (queue-backfill.yaml)",
        ] {
            assert!(chart.contains(name), "{title} lacks {name}: {chart}");
        }
    }
    assert!(
        html.contains("<tr><td>backfilled</td><td>0</td><td>785</td><td>+785</td></tr>"),
        "{html}"
    );
    let json: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("cmp/compare.json")).unwrap(),
    )
    .unwrap();
    let backfilled = json["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["metric"] == "backfilled")
        .unwrap();
    assert_eq!(
        (
            backfilled["base"].as_f64(),
            backfilled["candidate"].as_f64()
        ),
        (Some(0.0), Some(785.0))
    );
    // A configuration that clashes with the shared inputs is an input error.
    let o = muster(
        &[
            "compare",
            &ex("queue-backfill.yaml"),
            &ex("queue-backfill.yaml"),
            "--",
            &ex("cluster.yaml"),
            &ex("queue-backfill.yaml"),
        ],
        dir.path(),
    );
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
}

#[test]
fn the_agent_names_the_sysfs_file_and_field_it_cannot_read_before_it_connects() {
    let dir = tempfile::tempdir().unwrap();
    let tree = muster_kube::agent::fixture::gpu_server(dir.path());
    tree.file(
        "devices/system/node/node1/meminfo",
        "Node 1 MemTotal:       x kB\n",
    );
    let agent = |extra: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_muster"))
            .args(["agent", "--once", "--sysfs-root"])
            .arg(tree.sys())
            .args(extra)
            .env("KUBECONFIG", dir.path().join("no-such-kubeconfig"))
            .env_remove("KUBERNETES_SERVICE_HOST")
            .env_remove("NODE_NAME")
            .output()
            .expect("muster runs")
    };
    let o = agent(&["--node-name", "n1"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let meminfo = tree.sys().join("devices/system/node/node1/meminfo");
    assert!(
        stderr(&o).contains(&format!(
            "error: {}: line 'Node 1 MemTotal: x kB': not a number",
            meminfo.display()
        )),
        "{}",
        stderr(&o)
    );
    let o = agent(&["--node-name", "n1", "--reserved-cpus", "0-"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("error: --reserved-cpus: cpu list \"0-\""),
        "{}",
        stderr(&o)
    );
    let o = agent(&[]);
    assert_eq!(o.status.code(), Some(2), "no node name: {}", stderr(&o));
    assert!(stderr(&o).contains("--node-name"), "{}", stderr(&o));
}
