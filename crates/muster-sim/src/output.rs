//! Writing a run's results into a directory: `events.jsonl`, `summary.json`, `report.html`.
//!
//! Each file is written under a temporary name and renamed into place only when the whole
//! run succeeded, so a failed or interrupted run never leaves output that looks complete.
//! A previous run's files stay until the new ones replace them.

use std::fs::{self, File};
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::time::Instant;

use muster_api::Scenario;

use crate::engine::{Options, Outcome, Progress, SimError, simulate};
use crate::events::Background;
use crate::report;

/// The files a run writes.
pub const FILES: [&str; 3] = ["events.jsonl", "summary.json", "report.html"];

fn partial(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!(".{name}.partial"))
}

/// Runs the scenario and writes its results into `dir` (created if needed).
pub fn run_to_dir(
    scenario: &Scenario,
    options: &Options,
    dir: &Path,
    title: &str,
    progress: &mut dyn FnMut(Progress),
) -> Result<Outcome, SimError> {
    fs::create_dir_all(dir)?;
    let result = write_all(scenario, options, dir, title, progress);
    if result.is_err() {
        for name in FILES {
            let _ = fs::remove_file(partial(dir, name));
        }
    }
    result
}

fn write_all(
    scenario: &Scenario,
    options: &Options,
    dir: &Path,
    title: &str,
    progress: &mut dyn FnMut(Progress),
) -> Result<Outcome, SimError> {
    let started = Instant::now();
    let mut events =
        Background::spawn(BufWriter::new(File::create(partial(dir, "events.jsonl"))?))?;
    let mut outcome = simulate(scenario, options, &mut events, progress)?;
    events
        .finish()?
        .into_inner()
        .map_err(|e| e.into_error())?
        .sync_all()?;
    outcome.summary.wall_seconds = (started.elapsed().as_secs_f64() * 1000.0).round() / 1000.0;

    let mut summary =
        serde_json::to_string_pretty(&outcome.summary).map_err(std::io::Error::other)?;
    summary.push('\n');
    fs::write(partial(dir, "summary.json"), summary)?;
    fs::write(partial(dir, "report.html"), report::render(&outcome, title))?;
    for name in FILES {
        fs::rename(partial(dir, name), dir.join(name))?;
    }
    Ok(outcome)
}

/// The human summary printed after a run.
pub fn summary_table(outcome: &Outcome) -> String {
    let s = &outcome.summary;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "workloads {}  admitted {}  finished {}  pending {}  preemptions {}  inadmissible {}",
        s.workloads, s.admitted, s.finished, s.pending_at_end, s.preemptions, s.inadmissible
    );
    let _ = writeln!(
        out,
        "makespan {}  wait mean {}  p50 {}  p95 {}  p99 {}  max {}",
        report::human_time(s.makespan_seconds),
        report::human_time(s.wait_seconds.mean),
        report::human_time(s.wait_seconds.p50),
        report::human_time(s.wait_seconds.p95),
        report::human_time(s.wait_seconds.p99),
        report::human_time(s.wait_seconds.max),
    );
    let util: Vec<String> = s
        .utilization
        .iter()
        .map(|(r, u)| format!("{r} {:.1}%", u * 100.0))
        .collect();
    let _ = writeln!(
        out,
        "utilization {}  fairness (Jain) {:.3}, weighted {:.3}",
        util.join(", "),
        s.fairness.jain,
        s.fairness.jain_weighted
    );
    if s.preemptions > 0 {
        let reasons: Vec<String> = s
            .preemptions_by_reason
            .iter()
            .map(|(r, n)| format!("{r} {n}"))
            .collect();
        let _ = writeln!(
            out,
            "preempted: {}  lost {:.1} core-hours, {:.1} GPU-hours",
            reasons.join(", "),
            s.lost_to_preemption.core_hours,
            s.lost_to_preemption.gpu_hours
        );
    }
    if s.backfilled > 0 {
        let _ = writeln!(out, "backfilled {} admissions", s.backfilled);
    }
    for t in &s.traces {
        let skipped: u64 = t.skipped.values().sum();
        let why: Vec<String> = t.skipped.iter().map(|(k, n)| format!("{n} {k}")).collect();
        let _ = writeln!(
            out,
            "trace {}: {} records read, {} replayed, {} skipped{}",
            t.source,
            t.read,
            t.loaded,
            skipped,
            if why.is_empty() {
                String::new()
            } else {
                format!(" ({})", why.join(", "))
            }
        );
        for n in &t.notes {
            let _ = writeln!(out, "  {n}");
        }
    }
    if let Some(f) = &s.fidelity {
        let _ = writeln!(
            out,
            "wait, recorded vs simulated ({} jobs): mean {} vs {}, p95 {} vs {}",
            f.workloads,
            report::human_time(f.recorded_wait_seconds.mean),
            report::human_time(f.simulated_wait_seconds.mean),
            report::human_time(f.recorded_wait_seconds.p95),
            report::human_time(f.simulated_wait_seconds.p95)
        );
    }
    if let Some(numa) = &s.numa {
        let _ = match numa.mode {
            "blind" => writeln!(
                out,
                "NUMA-blind: {} of {} pods on NUMA nodes would fail with Topology Affinity Error ({} admissions)",
                numa.topology_affinity_errors,
                numa.pods_on_topology_nodes,
                numa.admissions_with_errors
            ),
            _ => writeln!(
                out,
                "NUMA-aware: {} pods placed on NUMA nodes, every one aligned as its kubelet requires",
                numa.pods_on_topology_nodes
            ),
        };
    }
    let width = s
        .cluster_queues
        .keys()
        .map(String::len)
        .max()
        .unwrap_or(0)
        .max("ClusterQueue".len());
    let _ = writeln!(
        out,
        "\n{:<width$}  {:>9}  {:>8}  {:>8}  {:>9}  {:>10}  {:>11}",
        "ClusterQueue", "workloads", "admitted", "pending", "preempted", "wait mean", "usage share"
    );
    for (name, q) in &s.cluster_queues {
        let _ = writeln!(
            out,
            "{:<width$}  {:>9}  {:>8}  {:>8}  {:>9}  {:>10}  {:>10.1}%",
            name,
            q.workloads,
            q.admitted,
            q.pending_at_end,
            q.preempted,
            report::human_time(q.wait_seconds_mean),
            q.usage_share * 100.0
        );
    }
    out
}

use std::fmt::Write as _;
