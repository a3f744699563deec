//! The Standard Workload Format of the Parallel Workloads Archive.
//!
//! Header lines start with `;` (`; MaxNodes: 100`, `; Queue: 1 express`); every other line is
//! one job of 18 numbers (integers, though some logs give averages with decimals, which are
//! truncated), `-1` meaning unknown. How a job becomes a workload:
//!
//! | SWF field | becomes |
//! |---|---|
//! | 1 job number | the Job's name `job-<number>` |
//! | 2 submit time | `sim-submit-after`, counted from the earliest submission in the file |
//! | 3 wait time | the recorded wait, compared with the simulated one (fidelity) |
//! | 4 run time | `sim-duration` |
//! | 5 allocated processors (else 8, requested) | `P` cpu, as a gang of `ceil(P / C)` pods no larger than a node of `C` cpu: `P / C` pods of `C` cpu and one of the remainder (an MPI job's ranks packed by node) |
//! | 9 requested time | `activeDeadlineSeconds`, the runtime limit backfill plans with |
//! | 15 queue (else 16, partition) | the queue `q` named as the header names it (`queue-<n>` when it does not), or `default` without either: the Job's namespace and LocalQueue `q`, which decides its ClusterQueue (below) |
//!
//! Skipped and counted: jobs without a run time (`-1`), jobs that ran 0 s (cancelled
//! before they started, most of them), jobs without a processor count, jobs without a
//! submit time, and a job number seen twice.
//!
//! The cluster: nodes from the YAML inputs or the `--nodes` flags; else `MaxNodes` nodes of
//! `MaxProcs / MaxNodes` cpu from the header, when that divides evenly. Queues: a job of
//! queue `q` goes to the ClusterQueue that the YAML's LocalQueue `q/q` points to, else to
//! the YAML's ClusterQueue named `q` (with its quota and policies); every other queue gets
//! a ClusterQueue of its own in cohort `trace`, with an even share of the cluster's cpu as
//! nominal quota and free to borrow the rest — queues sharing one machine, as they did.

use std::collections::{BTreeMap, BTreeSet};
use std::io::BufRead;
use std::path::Path;

use muster_core::spec::WorkloadSpec;
use muster_core::{Duration, Quantity};

use super::{Lines, NodeShape, TraceReport, dns_name, error};
use crate::error::InputError;
use crate::scenario::{Scenario, ScenarioWorkload};

/// The names of the 18 fields, for messages.
const FIELDS: [&str; 18] = [
    "job number",
    "submit time",
    "wait time",
    "run time",
    "allocated processors",
    "average CPU time used",
    "used memory",
    "requested processors",
    "requested time",
    "requested memory",
    "status",
    "user id",
    "group id",
    "executable number",
    "queue number",
    "partition number",
    "preceding job number",
    "think time",
];

/// Why records are skipped.
const NO_RUN_TIME: &str = "no run time";
const ZERO_RUN_TIME: &str = "ran 0 s (cancelled before it started)";
const NO_PROCESSORS: &str = "no processor count";
const NO_SUBMIT_TIME: &str = "no submit time";
const DUPLICATE: &str = "job number seen twice";

/// The header fields the loader uses.
#[derive(Default)]
struct Header {
    max_nodes: Option<i64>,
    max_procs: Option<i64>,
    queues: BTreeMap<i64, String>,
    partitions: BTreeMap<i64, String>,
}

impl Header {
    fn read(&mut self, line: &str) {
        let Some((key, value)) = line.trim_start_matches(';').split_once(':') else {
            return;
        };
        let value = value.trim();
        let number_and_name = || {
            let mut parts = value.split_whitespace();
            let n = parts.next()?.parse().ok()?;
            let name = parts.next()?.to_string();
            Some((n, name))
        };
        match key.trim() {
            "MaxNodes" => self.max_nodes = value.parse().ok(),
            "MaxProcs" => self.max_procs = value.parse().ok(),
            "Queue" => {
                if let Some((n, name)) = number_and_name() {
                    self.queues.insert(n, name);
                }
            }
            "Partition" => {
                if let Some((n, name)) = number_and_name() {
                    self.partitions.insert(n, name);
                }
            }
            _ => {}
        }
    }
}

/// A job read from the log, before the cluster is known.
struct Job {
    number: i64,
    submit: i64,
    wait: Option<i64>,
    run: i64,
    procs: i64,
    limit: Option<i64>,
    queue: String,
}

/// Reads an SWF log from `reader` (the file `path`) into the scenario.
pub fn load(
    path: &Path,
    reader: impl BufRead,
    nodes: Option<&NodeShape>,
    scenario: &mut Scenario,
) -> Result<TraceReport, InputError> {
    let mut report = TraceReport {
        source: format!("swf:{}", path.display()),
        ..TraceReport::default()
    };
    let mut header = Header::default();
    let mut jobs: Vec<Job> = Vec::new();
    let mut seen: BTreeSet<i64> = BTreeSet::new();
    let mut lines = Lines::new(reader);
    let mut fields = [0i64; 18];
    loop {
        let (line_no, line) = match lines.next_line() {
            Ok(Some(l)) => l,
            Ok(None) => break,
            Err(e) => return Err(error(path, None, format!("cannot read: {e}"))),
        };
        let trimmed = line.trim();
        if trimmed.is_empty() {
            continue;
        }
        if trimmed.starts_with(';') {
            header.read(trimmed);
            continue;
        }
        let mut n = 0;
        for word in trimmed.split_whitespace() {
            if n == 18 {
                return Err(error(
                    path,
                    Some(line_no),
                    "more than 18 fields: not an SWF job line".into(),
                ));
            }
            // Integers, but some logs write averages (field 6) with decimals.
            fields[n] = match word.parse::<i64>() {
                Ok(v) => v,
                Err(_) => match word.parse::<f64>() {
                    Ok(v) if v.is_finite() => v as i64,
                    _ => {
                        return Err(error(
                            path,
                            Some(line_no),
                            format!("field {} ({}): not a number: {word:?}", n + 1, FIELDS[n]),
                        ));
                    }
                },
            };
            n += 1;
        }
        if n < 18 {
            return Err(error(
                path,
                Some(line_no),
                format!("{n} fields, an SWF job line has 18 (missing values are -1)"),
            ));
        }
        report.read += 1;
        let [number, submit, wait, run, alloc, _, _, req, limit, ..] = fields;
        let (queue, partition) = (fields[14], fields[15]);
        let procs = if alloc > 0 { alloc } else { req };
        if run < 0 {
            report.skip(NO_RUN_TIME);
        } else if run == 0 {
            report.skip(ZERO_RUN_TIME);
        } else if procs <= 0 {
            report.skip(NO_PROCESSORS);
        } else if submit < 0 {
            report.skip(NO_SUBMIT_TIME);
        } else if !seen.insert(number) {
            report.skip(DUPLICATE);
        } else {
            let queue = if queue >= 0 {
                header
                    .queues
                    .get(&queue)
                    .cloned()
                    .unwrap_or_else(|| format!("queue-{queue}"))
            } else if partition >= 0 {
                header
                    .partitions
                    .get(&partition)
                    .cloned()
                    .unwrap_or_else(|| format!("partition-{partition}"))
            } else {
                "default".into()
            };
            jobs.push(Job {
                number,
                submit,
                wait: (wait >= 0).then_some(wait),
                run,
                procs,
                limit: (limit > 0).then_some(limit),
                queue: dns_name(&queue),
            });
        }
    }

    // The cluster.
    if let Some(shape) = nodes {
        shape.add_to(scenario);
        report.notes.push(format!(
            "cluster: {} nodes of {} cpu (from the flags)",
            shape.count, shape.cpu
        ));
    } else if scenario.cluster.nodes.is_empty() {
        let (Some(max_nodes), Some(max_procs)) = (header.max_nodes, header.max_procs) else {
            return Err(error(
                path,
                None,
                "the log's header gives no MaxNodes and MaxProcs: describe the cluster in YAML or give --nodes N --node-cpu C".into(),
            ));
        };
        if max_nodes <= 0 || max_procs <= 0 || max_procs % max_nodes != 0 {
            return Err(error(
                path,
                None,
                format!(
                    "the log's MaxProcs ({max_procs}) is not a whole number of cpu per node over MaxNodes ({max_nodes}): describe the cluster in YAML or give --nodes N --node-cpu C"
                ),
            ));
        }
        let shape = NodeShape {
            count: max_nodes as usize,
            cpu: Quantity::from_units(max_procs / max_nodes),
            ..NodeShape::default()
        };
        shape.add_to(scenario);
        report.notes.push(format!(
            "cluster: {} nodes of {} cpu (from the log's MaxNodes and MaxProcs)",
            shape.count, shape.cpu
        ));
    }
    let (per_node, total_cpu) = super::largest_and_total(scenario, "cpu");
    if per_node < 1 {
        return Err(error(
            path,
            None,
            "no node has a whole cpu: a job's processors cannot be placed".into(),
        ));
    }

    // The queues: where the YAML's LocalQueues point, or the YAML's ClusterQueues by name,
    // else one of ours each.
    let queues: BTreeSet<String> = jobs.iter().map(|j| j.queue.clone()).collect();
    let (cluster_queues, notes) = super::ensure_queues(scenario, &queues, "cpu", total_cpu);
    report.notes.extend(notes);

    // The workloads.
    let origin = jobs.iter().map(|j| j.submit).min().unwrap_or(0);
    scenario.workloads.reserve(jobs.len());
    for j in jobs {
        let pod_sets = super::gang("cpu", j.procs, per_node);
        scenario.workloads.push(ScenarioWorkload {
            spec: WorkloadSpec {
                cluster_queue: cluster_queues.get(&j.queue).unwrap_or(&j.queue).clone(),
                namespace: j.queue,
                name: format!("job-{}", j.number),
                pod_sets,
                runtime_limit: j.limit.map(Duration::from_secs),
                ..WorkloadSpec::default()
            },
            kind: "Job",
            submit_after: Duration::from_secs(j.submit - origin),
            duration: Duration::from_secs(j.run),
            recorded_wait: j.wait.map(Duration::from_secs),
        });
        report.loaded += 1;
    }
    *scenario.counts.entry("Job").or_default() += report.loaded as usize;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use muster_core::spec::ClusterQueueSpec;

    fn load_text(text: &str, nodes: Option<&NodeShape>) -> Result<(Scenario, TraceReport), String> {
        let mut s = Scenario::default();
        load(Path::new("t.swf"), text.as_bytes(), nodes, &mut s)
            .map(|r| (s, r))
            .map_err(|e| e.to_string())
    }

    const LOG: &str = "; MaxNodes: 4\n; MaxProcs: 32\n; Queue: 1 express\n\
        1 100 5 60 20 -1 -1 20 120 -1 1 1 1 -1 1 -1 -1 -1\n\
        2 110 -1 30 -1 -1 -1 3 -1 -1 1 1 1 -1 -1 -1 -1 -1\n\
        3 120 0 0 8 -1 -1 8 60 -1 5 1 1 -1 1 -1 -1 -1\n\
        4 130 0 -1 8 -1 -1 8 60 -1 5 1 1 -1 1 -1 -1 -1\n\
        5 140 0 10 -1 -1 -1 -1 60 -1 0 1 1 -1 1 -1 -1 -1\n\
        1 150 0 10 2 -1 -1 2 60 -1 1 1 1 -1 1 -1 -1 -1\n";

    #[test]
    fn jobs_become_gangs_packed_by_node_and_skips_are_counted() {
        let (s, r) = load_text(LOG, None).unwrap();
        assert_eq!((r.read, r.loaded), (6, 2));
        assert_eq!(r.skipped[ZERO_RUN_TIME], 1);
        assert_eq!(r.skipped[NO_RUN_TIME], 1);
        assert_eq!(r.skipped[NO_PROCESSORS], 1);
        assert_eq!(r.skipped[DUPLICATE], 1);
        // The header's cluster: 4 nodes of 8 cpu.
        assert_eq!(s.cluster.nodes.len(), 4);
        let w = &s.workloads[0];
        assert_eq!(w.spec.name, "job-1");
        assert_eq!(w.spec.cluster_queue, "express");
        // 20 processors on 8-cpu nodes: two pods of 8 and one of 4.
        let sets: Vec<(u32, Quantity)> = w
            .spec
            .pod_sets
            .iter()
            .map(|p| (p.count, p.request["cpu"]))
            .collect();
        assert_eq!(
            sets,
            [(2, Quantity::from_units(8)), (1, Quantity::from_units(4))]
        );
        assert_eq!(w.submit_after, Duration::ZERO);
        assert_eq!(w.duration, Duration::from_secs(60));
        assert_eq!(w.spec.runtime_limit, Some(Duration::from_secs(120)));
        assert_eq!(w.recorded_wait, Some(Duration::from_secs(5)));
        // Requested processors stand in for missing allocated ones; no queue: `default`.
        let w = &s.workloads[1];
        assert_eq!(w.spec.cluster_queue, "default");
        assert_eq!(w.submit_after, Duration::from_secs(10));
        assert_eq!(w.spec.pod_sets[0].request["cpu"], Quantity::from_units(3));
        assert_eq!((w.recorded_wait, w.spec.runtime_limit), (None, None));
        // One ClusterQueue per queue, in cohort trace, an even share of the 32 cpu each.
        let names: Vec<&str> = s
            .cluster
            .cluster_queues
            .iter()
            .map(|q| q.name.as_str())
            .collect();
        assert_eq!(names, ["default", "express"]);
        let q = &s.cluster.cluster_queues[0];
        assert_eq!(q.cohort.as_deref(), Some(super::super::TRACE_COHORT));
        assert_eq!(
            q.resource_groups[0].flavors[0].resources[0].nominal,
            Quantity::from_units(16)
        );
    }

    #[test]
    fn flags_give_the_cluster_and_yaml_queues_take_their_jobs() {
        let mut s = Scenario::default();
        s.cluster.cluster_queues.push(ClusterQueueSpec {
            name: "express".into(),
            ..ClusterQueueSpec::default()
        });
        let shape = NodeShape {
            count: 2,
            cpu: Quantity::from_units(16),
            ..NodeShape::default()
        };
        let r = load(Path::new("t.swf"), LOG.as_bytes(), Some(&shape), &mut s).unwrap();
        assert_eq!(s.cluster.nodes.len(), 2);
        assert_eq!(
            s.workloads[0].spec.pod_sets[0].request["cpu"],
            Quantity::from_units(16)
        );
        let names: Vec<&str> = s
            .cluster
            .cluster_queues
            .iter()
            .map(|q| q.name.as_str())
            .collect();
        assert_eq!(names, ["express", "default"], "express is the YAML's");
        assert!(
            r.notes
                .iter()
                .any(|n| n.contains("queues given in YAML: express"))
        );
    }

    #[test]
    fn malformed_lines_name_the_line_and_field() {
        let e = load_text("; MaxNodes: 1\n1 2 3\n", None).unwrap_err();
        assert_eq!(
            e,
            "t.swf:2: 3 fields, an SWF job line has 18 (missing values are -1)"
        );
        let bad = "1 2 3 4 x 6 7 8 9 10 11 12 13 14 15 16 17 18\n";
        let e = load_text(bad, None).unwrap_err();
        assert_eq!(
            e,
            "t.swf:1: field 5 (allocated processors): not a number: \"x\""
        );
        let e = load_text("; MaxNodes: 3\n; MaxProcs: 10\n", None).unwrap_err();
        assert!(e.contains("give --nodes N --node-cpu C"), "{e}");
    }
}
