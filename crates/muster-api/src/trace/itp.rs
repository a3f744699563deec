//! Microsoft ITP GPU training jobs (the ElasticFlow traces): one CSV per cluster with the
//! columns `job_id,submission_time,duration,num_gpu`.
//!
//! | column | becomes |
//! |---|---|
//! | `job_id` | the Job `job-<id>` |
//! | `submission_time` | `sim-submit-after`, counted from the earliest submission in the file |
//! | `duration` | `sim-duration` |
//! | `num_gpu` | `G` GPUs (`nvidia.com/gpu`) as a gang packed by node: `G / g` pods of `g` GPUs, `g` the largest node's GPUs, and one pod of the remainder |
//! | the file name (`cluster04.csv`) | the ClusterQueue (and namespace) `cluster04` |
//!
//! The log has no cpu, memory, user, queue or status columns, and no real start times, so
//! there is no recorded wait to compare with. Skipped and counted: jobs without a positive
//! duration or GPU count. The cluster (the log publishes none) comes from the YAML inputs or
//! from `--nodes N --node-cpu C --node-gpu G`; the queue as for SWF logs: where the YAML's
//! LocalQueue `q/q` points, else the YAML's ClusterQueue of that name, else one of ours in
//! cohort `trace` owning an even share of the GPUs.

use std::collections::BTreeSet;
use std::io::BufRead;
use std::path::Path;

use muster_core::Quantity;
use muster_core::spec::WorkloadSpec;

use super::{NodeShape, Table, TraceReport, dns_name, error};
use crate::error::InputError;
use crate::scenario::{Scenario, ScenarioWorkload};

/// The columns the loader reads.
const COLUMNS: [&str; 4] = ["job_id", "submission_time", "duration", "num_gpu"];

/// Reads an ITP CSV from `reader` (the file `path`) into the scenario.
pub fn load(
    path: &Path,
    reader: impl BufRead,
    nodes: Option<&NodeShape>,
    scenario: &mut Scenario,
) -> Result<TraceReport, InputError> {
    let mut report = TraceReport {
        source: format!("itp:{}", path.display()),
        ..TraceReport::default()
    };
    let queue = dns_name(
        path.file_name()
            .and_then(|n| n.to_str())
            .map(|n| n.trim_end_matches(".csv"))
            .unwrap_or("itp"),
    );
    let mut table = Table::new(path, reader, &COLUMNS)?;
    struct Job {
        id: String,
        submit: i64,
        duration: i64,
        gpus: i64,
    }
    let mut jobs = Vec::new();
    let mut seen = BTreeSet::new();
    while let Some((line_no, cells)) = table.row(path)? {
        report.read += 1;
        let number = |i: usize| -> Result<i64, InputError> {
            cells[i].parse().map_err(|_| {
                error(
                    path,
                    Some(line_no),
                    format!("{}: not an integer: {:?}", COLUMNS[i], cells[i]),
                )
            })
        };
        let (submit, duration, gpus) = (number(1)?, number(2)?, number(3)?);
        let id = cells[0].clone();
        if duration <= 0 {
            report.skip("no positive duration");
        } else if gpus <= 0 {
            report.skip("no GPUs");
        } else if submit < 0 {
            report.skip("no submission time");
        } else if !seen.insert(id.clone()) {
            report.skip("job_id seen twice");
        } else {
            jobs.push(Job {
                id,
                submit,
                duration,
                gpus,
            });
        }
    }

    if let Some(shape) = nodes {
        shape.add_to(scenario);
        report.notes.push(format!(
            "cluster: {} nodes of {} cpu and {} GPUs (from the flags)",
            shape.count,
            shape.cpu,
            shape.gpu.unwrap_or(Quantity::ZERO)
        ));
    }
    let (per_node, total) = super::largest_and_total(scenario, "nvidia.com/gpu");
    if per_node < 1 {
        return Err(error(
            path,
            None,
            "no node has a GPU: the ITP traces publish no cluster, so describe it in YAML or give --nodes N --node-cpu C --node-gpu G".into(),
        ));
    }
    let queues = BTreeSet::from([queue.clone()]);
    let (cluster_queues, notes) = super::ensure_queues(scenario, &queues, "nvidia.com/gpu", total);
    report.notes.extend(notes);
    let cluster_queue = cluster_queues.get(&queue).unwrap_or(&queue).clone();

    let origin = jobs.iter().map(|j| j.submit).min().unwrap_or(0);
    for j in jobs {
        scenario.workloads.push(ScenarioWorkload {
            spec: WorkloadSpec {
                namespace: queue.clone(),
                name: format!("job-{}", j.id),
                cluster_queue: cluster_queue.clone(),
                pod_sets: super::gang("nvidia.com/gpu", j.gpus, per_node),
                ..WorkloadSpec::default()
            },
            kind: "Job",
            submit_after: muster_core::Duration::from_secs(j.submit - origin),
            duration: muster_core::Duration::from_secs(j.duration),
            recorded_wait: None,
        });
        report.loaded += 1;
    }
    *scenario.counts.entry("Job").or_default() += report.loaded as usize;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape() -> NodeShape {
        NodeShape {
            count: 2,
            cpu: Quantity::from_units(64),
            gpu: Some(Quantity::from_units(8)),
            ..NodeShape::default()
        }
    }

    #[test]
    fn gpu_jobs_become_gangs_of_whole_nodes_and_a_remainder() {
        let csv = "job_id,submission_time,duration,num_gpu\na,100,600,1\nb,160,700,20\nc,170,0,1\nd,180,600,0";
        let mut s = Scenario::default();
        let r = load(
            Path::new("x/cluster07.csv"),
            csv.as_bytes(),
            Some(&shape()),
            &mut s,
        )
        .unwrap();
        assert_eq!((r.read, r.loaded), (4, 2));
        assert_eq!(r.skipped["no positive duration"], 1);
        assert_eq!(r.skipped["no GPUs"], 1);
        let b = &s.workloads[1];
        assert_eq!(b.spec.cluster_queue, "cluster07");
        assert_eq!(b.spec.name, "job-b");
        assert_eq!(b.submit_after, muster_core::Duration::from_secs(60));
        let sets: Vec<(u32, Quantity)> = b
            .spec
            .pod_sets
            .iter()
            .map(|p| (p.count, p.request["nvidia.com/gpu"]))
            .collect();
        assert_eq!(
            sets,
            [(2, Quantity::from_units(8)), (1, Quantity::from_units(4))]
        );
        assert_eq!(s.cluster.cluster_queues[0].name, "cluster07");
    }

    #[test]
    fn bad_input_names_the_line_and_column() {
        let mut s = Scenario::default();
        let e = load(
            Path::new("c.csv"),
            "job_id,duration\n".as_bytes(),
            Some(&shape()),
            &mut s,
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.starts_with("c.csv:1: no column \"submission_time\""),
            "{e}"
        );
        let csv = "job_id,submission_time,duration,num_gpu\na,1,600,one\n";
        let e = load(Path::new("c.csv"), csv.as_bytes(), Some(&shape()), &mut s)
            .unwrap_err()
            .to_string();
        assert_eq!(e, "c.csv:2: num_gpu: not an integer: \"one\"");
        let csv = "job_id,submission_time,duration,num_gpu\na,1,600\n";
        let e = load(Path::new("c.csv"), csv.as_bytes(), Some(&shape()), &mut s)
            .unwrap_err()
            .to_string();
        assert_eq!(e, "c.csv:2: 3 columns, the header has 4");
        let ok = "job_id,submission_time,duration,num_gpu\na,1,600,1\n";
        let e = load(
            Path::new("c.csv"),
            ok.as_bytes(),
            None,
            &mut Scenario::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("--node-gpu"), "{e}");
    }
}
