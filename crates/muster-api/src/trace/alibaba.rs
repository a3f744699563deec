//! Alibaba's 2023 GPU cluster trace (`cluster-trace-gpu-v2023`, the "openb" files of the
//! FGD paper): a node list and a pod list, as CSV.
//!
//! `--trace alibaba-openb:PODS.csv` reads the pod list; the node list is
//! `openb_node_list_all_node.csv` in the same directory, unless the YAML inputs or the flags
//! give the nodes.
//!
//! Nodes (`sn,cpu_milli,memory_mib,gpu,model`): each becomes a Node with `cpu`, `memory`,
//! `nvidia.com/gpu` and `alibaba.com/gpu-milli` (1000 per GPU) and the label
//! `muster.dev/gpu-model` (`none` without GPUs). Each GPU model gets a ResourceFlavor
//! `gpu-<model>` and CPU-only nodes the flavor `cpu`; the ClusterQueue `openb` (unless the
//! YAML defines one, or its LocalQueue `openb/openb` points elsewhere) offers `cpu` first,
//! then the models by name, each with the quota its nodes hold.
//!
//! Pods (`name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,creation_time,
//! deletion_time,scheduled_time,…`): each becomes a Job of one pod.
//!
//! | column | becomes |
//! |---|---|
//! | `cpu_milli`, `memory_mib` | the pod's `cpu` and `memory` |
//! | `num_gpu`, `gpu_milli` | whole GPUs: `nvidia.com/gpu: n` and `alibaba.com/gpu-milli: n × 1000`; a shared GPU (`num_gpu` 1, `gpu_milli` below 1000): `alibaba.com/gpu-milli` only, so the fraction is kept |
//! | `gpu_spec` | one model: a node selector on `muster.dev/gpu-model`; several: not enforced (counted in the notes) |
//! | `qos` | priority: Guaranteed 3, LS 2, Burstable 1, BE 0 |
//! | `creation_time` | `sim-submit-after`, counted from the earliest creation |
//! | `scheduled_time − creation_time` | the recorded wait |
//! | `deletion_time − scheduled_time` | `sim-duration` |
//!
//! Skipped and counted: pods never scheduled in the trace (Pending, no `scheduled_time`),
//! pods without a positive run time, a name seen twice. GPU sharing is counted per node
//! (`alibaba.com/gpu-milli`), not per GPU: a shared pod may use the remainders of two GPUs,
//! which a real device plugin would not allow.

use std::collections::{BTreeMap, BTreeSet};
use std::io::BufRead;
use std::path::Path;

use muster_core::Quantity;
use muster_core::spec::{
    ClusterQueueSpec, FlavorQuotaSpec, FlavorSpec, NodeSpec, PodSetSpec, ResourceGroupSpec,
    ResourceQuotaSpec, WorkloadSpec,
};

use super::{NodeShape, Table, TraceReport, dns_name, error};
use crate::error::InputError;
use crate::scenario::{Scenario, ScenarioWorkload};

/// The node label holding a node's GPU model.
pub const GPU_MODEL_LABEL: &str = "muster.dev/gpu-model";
/// The resource holding GPU shares, 1000 per GPU.
pub const GPU_MILLI: &str = "alibaba.com/gpu-milli";
/// The ClusterQueue of the trace's pods.
pub const QUEUE: &str = "openb";
/// The node list read beside the pod list.
pub const NODE_LIST: &str = "openb_node_list_all_node.csv";

const GPU: &str = "nvidia.com/gpu";

/// A cell holding a non-negative integer (every number in these lists is one).
fn integer(path: &Path, line: usize, column: &str, cell: &str) -> Result<i64, InputError> {
    match cell.parse::<i64>() {
        Ok(v) if v >= 0 => Ok(v),
        Ok(v) => Err(error(path, Some(line), format!("{column}: negative: {v}"))),
        Err(_) => Err(error(
            path,
            Some(line),
            format!("{column}: not an integer: {cell:?}"),
        )),
    }
}

/// Reads the node list into the scenario's nodes.
fn load_nodes(path: &Path, scenario: &mut Scenario) -> Result<usize, InputError> {
    const COLUMNS: [&str; 5] = ["sn", "cpu_milli", "memory_mib", "gpu", "model"];
    let mut table = Table::new(path, super::open(path)?, &COLUMNS)?;
    let mut count = 0;
    while let Some((line, cells)) = table.row(path)? {
        let [cpu, mem, gpus] = [1, 2, 3].map(|i| integer(path, line, COLUMNS[i], &cells[i]));
        let (cpu, mem, gpus) = (cpu?, mem?, gpus?);
        let mut allocatable = BTreeMap::from([
            ("cpu".to_string(), Quantity::from_milli(i128::from(cpu))),
            ("memory".to_string(), Quantity::from_units(mem << 20)),
        ]);
        let model = if gpus > 0 {
            allocatable.insert(GPU.into(), Quantity::from_units(gpus));
            allocatable.insert(GPU_MILLI.into(), Quantity::from_units(gpus * 1000));
            dns_name(&cells[4])
        } else {
            "none".to_string()
        };
        scenario.cluster.nodes.push(NodeSpec {
            name: cells[0].clone(),
            labels: BTreeMap::from([(GPU_MODEL_LABEL.to_string(), model)]),
            allocatable,
            ..NodeSpec::default()
        });
        count += 1;
    }
    Ok(count)
}

/// The ClusterQueue `openb`: flavor `cpu` for CPU-only nodes, then `gpu-<model>` by name,
/// each with the quota its nodes hold.
fn add_queue(scenario: &mut Scenario) {
    let mut totals: BTreeMap<String, BTreeMap<&str, Quantity>> = BTreeMap::new();
    for n in &scenario.cluster.nodes {
        let model = n.labels.get(GPU_MODEL_LABEL).cloned().unwrap_or_default();
        let flavor = if model == "none" || model.is_empty() {
            "cpu".to_string()
        } else {
            format!("gpu-{model}")
        };
        let t = totals.entry(flavor).or_default();
        for r in ["cpu", "memory", GPU, GPU_MILLI] {
            *t.entry(r).or_default() += n.allocatable.get(r).copied().unwrap_or_default();
        }
    }
    let mut order: Vec<&String> = totals.keys().collect();
    order.sort_by_key(|f| (f.as_str() != "cpu", f.as_str()));
    let mut flavors = Vec::new();
    for f in order {
        if !scenario.cluster.flavors.iter().any(|x| &x.name == f) {
            let model = f.strip_prefix("gpu-").unwrap_or("none");
            scenario.cluster.flavors.push(FlavorSpec {
                name: f.clone(),
                node_labels: BTreeMap::from([(GPU_MODEL_LABEL.to_string(), model.to_string())]),
                ..FlavorSpec::default()
            });
        }
        flavors.push(FlavorQuotaSpec {
            name: f.clone(),
            // In the order the group covers them.
            resources: ["cpu", "memory", GPU, GPU_MILLI]
                .iter()
                .map(|r| ResourceQuotaSpec {
                    name: r.to_string(),
                    nominal: totals[f][r],
                    ..ResourceQuotaSpec::default()
                })
                .collect(),
        });
    }
    scenario.cluster.cluster_queues.push(ClusterQueueSpec {
        name: QUEUE.into(),
        resource_groups: vec![ResourceGroupSpec {
            covered_resources: vec!["cpu".into(), "memory".into(), GPU.into(), GPU_MILLI.into()],
            flavors,
        }],
        ..ClusterQueueSpec::default()
    });
}

/// Reads an openb pod list (the file `path`) into the scenario.
pub fn load(
    path: &Path,
    reader: impl BufRead,
    nodes: Option<&NodeShape>,
    scenario: &mut Scenario,
) -> Result<TraceReport, InputError> {
    const COLUMNS: [&str; 10] = [
        "name",
        "cpu_milli",
        "memory_mib",
        "num_gpu",
        "gpu_milli",
        "gpu_spec",
        "qos",
        "creation_time",
        "deletion_time",
        "scheduled_time",
    ];
    let mut report = TraceReport {
        source: format!("alibaba-openb:{}", path.display()),
        ..TraceReport::default()
    };
    if let Some(shape) = nodes {
        shape.add_to(scenario);
        report
            .notes
            .push(format!("cluster: {} nodes (from the flags)", shape.count));
    } else if scenario.cluster.nodes.is_empty() {
        let list = path.with_file_name(NODE_LIST);
        let n = load_nodes(&list, scenario)?;
        report
            .notes
            .push(format!("cluster: {n} nodes from {}", list.display()));
    }
    let mapped = scenario
        .local_queues
        .get(&(QUEUE.to_string(), QUEUE.to_string()))
        .cloned();
    if let Some(cq) = &mapped {
        report
            .notes
            .push(format!("queue mapped by LocalQueue: {QUEUE} → {cq}"));
    } else if !scenario
        .cluster
        .cluster_queues
        .iter()
        .any(|q| q.name == QUEUE)
    {
        add_queue(scenario);
        let flavors: Vec<&str> = scenario
            .cluster
            .cluster_queues
            .last()
            .expect("added")
            .resource_groups[0]
            .flavors
            .iter()
            .map(|f| f.name.as_str())
            .collect();
        report.notes.push(format!(
            "queue: {QUEUE}, flavors {} (the quota their nodes hold)",
            flavors.join(", ")
        ));
    } else {
        report.notes.push(format!("queue given in YAML: {QUEUE}"));
    }

    let mut table = Table::new(path, reader, &COLUMNS)?;
    struct Pod {
        name: String,
        request: BTreeMap<String, Quantity>,
        selector: Option<String>,
        priority: i32,
        created: i64,
        scheduled: i64,
        deleted: i64,
    }
    let mut pods = Vec::new();
    let mut seen = BTreeSet::new();
    let mut several_models = 0u64;
    while let Some((line, c)) = table.row(path)? {
        report.read += 1;
        let int = |i: usize| integer(path, line, COLUMNS[i], &c[i]);
        let (cpu, mem, num_gpu, gpu_milli) = (int(1)?, int(2)?, int(3)?, int(4)?);
        let (created, deleted) = (int(7)?, int(8)?);
        let priority = match c[6].as_str() {
            "Guaranteed" => 3,
            "LS" => 2,
            "Burstable" => 1,
            "BE" | "" => 0,
            other => {
                return Err(error(
                    path,
                    Some(line),
                    format!("qos: unknown value {other:?} (LS, BE, Burstable, Guaranteed)"),
                ));
            }
        };
        if c[9].is_empty() {
            report.skip("never scheduled (Pending in the trace)");
            continue;
        }
        let scheduled = int(9)?;
        if deleted <= scheduled {
            report.skip("no positive run time");
            continue;
        }
        if !seen.insert(c[0].clone()) {
            report.skip("name seen twice");
            continue;
        }
        let mut request =
            BTreeMap::from([("cpu".to_string(), Quantity::from_milli(i128::from(cpu)))]);
        if mem > 0 {
            request.insert("memory".into(), Quantity::from_units(mem << 20));
        }
        if num_gpu == 1 && (0..1000).contains(&gpu_milli) && gpu_milli > 0 {
            request.insert(GPU_MILLI.into(), Quantity::from_units(gpu_milli));
        } else if num_gpu > 0 {
            request.insert(GPU.into(), Quantity::from_units(num_gpu));
            request.insert(GPU_MILLI.into(), Quantity::from_units(num_gpu * 1000));
        }
        let models: Vec<&str> = c[5].split('|').filter(|m| !m.is_empty()).collect();
        let selector = match models.as_slice() {
            [one] => Some(dns_name(one)),
            [] => None,
            _ => {
                several_models += 1;
                None
            }
        };
        pods.push(Pod {
            name: c[0].clone(),
            request,
            selector,
            priority,
            created,
            scheduled,
            deleted,
        });
    }
    if several_models > 0 {
        report.notes.push(format!(
            "{several_models} pods allow several GPU models (gpu_spec): not enforced"
        ));
    }
    let origin = pods.iter().map(|p| p.created).min().unwrap_or(0);
    for p in pods {
        scenario.workloads.push(ScenarioWorkload {
            spec: WorkloadSpec {
                namespace: QUEUE.into(),
                name: p.name,
                cluster_queue: mapped.clone().unwrap_or_else(|| QUEUE.into()),
                priority: p.priority,
                pod_sets: vec![PodSetSpec {
                    name: "main".into(),
                    count: 1,
                    request: p.request,
                    node_selector: p
                        .selector
                        .map(|m| BTreeMap::from([(GPU_MODEL_LABEL.to_string(), m)]))
                        .unwrap_or_default(),
                    ..PodSetSpec::default()
                }],
                ..WorkloadSpec::default()
            },
            kind: "Job",
            submit_after: muster_core::Duration::from_secs(p.created - origin),
            duration: muster_core::Duration::from_secs(p.deleted - p.scheduled),
            recorded_wait: Some(muster_core::Duration::from_secs(
                (p.scheduled - p.created).max(0),
            )),
        });
        report.loaded += 1;
    }
    *scenario.counts.entry("Job").or_default() += report.loaded as usize;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NODES: &str = "sn,cpu_milli,memory_mib,gpu,model\nn0,32000,262144,0,\nn1,96000,786432,8,V100M32\nn2,64000,393216,2,T4\n";
    const PODS: &str = "name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,pod_phase,creation_time,deletion_time,scheduled_time\n\
        p0,12000,16384,1,1000,,LS,Running,0,1000,0\n\
        p1,6000,12288,1,460,T4,BE,Running,10,500,40\n\
        p2,4000,0,0,0,,LS,Pending,20,900,\n\
        p3,8000,1024,8,1000,V100M32|G2,Guaranteed,Failed,30,30,30\n";

    fn run() -> (Scenario, TraceReport) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(NODE_LIST), NODES).unwrap();
        let pods = dir.path().join("openb_pod_list_default.csv");
        let mut s = Scenario::default();
        let r = load(&pods, PODS.as_bytes(), None, &mut s).unwrap();
        (s, r)
    }

    #[test]
    fn nodes_get_model_flavors_and_pods_keep_their_gpu_shares() {
        let (s, r) = run();
        assert_eq!((r.read, r.loaded), (4, 2));
        assert_eq!(r.skipped["never scheduled (Pending in the trace)"], 1);
        assert_eq!(r.skipped["no positive run time"], 1);
        assert_eq!(s.cluster.nodes.len(), 3);
        assert_eq!(s.cluster.nodes[1].labels[GPU_MODEL_LABEL], "v100m32");
        assert_eq!(
            s.cluster.nodes[1].allocatable[GPU_MILLI],
            Quantity::from_units(8000)
        );
        let q = &s.cluster.cluster_queues[0];
        let flavors: Vec<&str> = q.resource_groups[0]
            .flavors
            .iter()
            .map(|f| f.name.as_str())
            .collect();
        assert_eq!(flavors, ["cpu", "gpu-t4", "gpu-v100m32"]);
        // A whole GPU, and a shared one kept as 460 milli-GPU on a T4 node.
        let p0 = &s.workloads[0].spec.pod_sets[0];
        assert_eq!(p0.request[GPU], Quantity::from_units(1));
        assert_eq!(p0.request[GPU_MILLI], Quantity::from_units(1000));
        let p1 = &s.workloads[1];
        assert_eq!(
            p1.spec.pod_sets[0].request[GPU_MILLI],
            Quantity::from_units(460)
        );
        assert!(!p1.spec.pod_sets[0].request.contains_key(GPU));
        assert_eq!(p1.spec.pod_sets[0].node_selector[GPU_MODEL_LABEL], "t4");
        assert_eq!(p1.spec.priority, 0);
        assert_eq!(p1.submit_after, muster_core::Duration::from_secs(10));
        assert_eq!(p1.duration, muster_core::Duration::from_secs(460));
        assert_eq!(p1.recorded_wait, Some(muster_core::Duration::from_secs(30)));
        assert_eq!(s.workloads[0].spec.priority, 2);
    }

    #[test]
    fn bad_rows_name_the_line_and_column() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(NODE_LIST), NODES).unwrap();
        let pods = dir.path().join("p.csv");
        let bad = PODS.replace("p1,6000", "p1,lots");
        let e = load(&pods, bad.as_bytes(), None, &mut Scenario::default())
            .unwrap_err()
            .to_string();
        assert!(
            e.ends_with("p.csv:3: cpu_milli: not an integer: \"lots\""),
            "{e}"
        );
        let e = load(
            &dir.path().join("none/p.csv"),
            PODS.as_bytes(),
            None,
            &mut Scenario::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("openb_node_list_all_node.csv: cannot read"),
            "{e}"
        );
    }
}
