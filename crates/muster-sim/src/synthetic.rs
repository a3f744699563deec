//! Synthetic scenarios for benchmarks: a cluster of CPU and GPU nodes shared by teams in one
//! cohort, and a stream of gang jobs that keeps it busy.
//!
//! The generator is seeded and deterministic (a small xorshift generator, so the numbers do
//! not depend on a crate's version). Its shape:
//! - nodes: 80% CPU nodes (64 cpu, 256Gi, pool=cpu), 20% GPU nodes (96 cpu, 768Gi,
//!   8 GPUs, pool=gpu);
//! - flavors `cpu` and `gpu`; eight teams in cohort `org`, each owning an eighth of each
//!   flavor and borrowing the rest; optionally preempting lower priorities in their queue
//!   and reclaiming lent quota;
//! - jobs: gangs of 1–16 pods; 20% GPU jobs (1, 2, 4 or 8 GPUs and 8 cpu per GPU per pod),
//!   the rest CPU jobs (4–32 cpu, 4Gi per cpu per pod); three priorities; runtimes of
//!   10 minutes to 4 hours; arrivals spread so that the offered load is about 1.2× the
//!   cluster, so queues build up and preemption happens.

use std::collections::BTreeMap;

use muster_api::{Scenario, ScenarioWorkload};
use muster_core::node::Labels;
use muster_core::spec::*;
use muster_core::{Duration, Quantity};

/// A deterministic pseudo-random sequence (xorshift64*).
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A sequence from a seed.
    pub fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `lo..=hi`.
    pub fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + (self.next_u64() % (hi - lo + 1) as u64) as i64
    }

    /// One of `items`.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[(self.next_u64() % items.len() as u64) as usize]
    }
}

/// Number of teams (ClusterQueues) in a synthetic scenario.
pub const TEAMS: usize = 8;

fn labels(pool: &str) -> Labels {
    [("pool".to_string(), pool.to_string())].into()
}

/// A scenario of `nodes` nodes and `jobs` gang jobs, from `seed`; with `preemption`, the
/// teams preempt lower priorities in their queue and reclaim lent quota (Any).
pub fn scenario(nodes: usize, jobs: usize, seed: u64, preemption: bool) -> Scenario {
    let mut rng = Rng::new(seed);
    let gpu_nodes = nodes / 5;
    let cpu_nodes = nodes - gpu_nodes;
    let mut cluster = ClusterSpec::default();
    for i in 0..nodes {
        let gpu = i >= cpu_nodes;
        let mut allocatable = BTreeMap::new();
        let (cpu, mem_gi) = if gpu { (96, 768) } else { (64, 256) };
        allocatable.insert("cpu".to_string(), Quantity::from_units(cpu));
        allocatable.insert("memory".to_string(), Quantity::from_units(mem_gi << 30));
        if gpu {
            allocatable.insert("nvidia.com/gpu".to_string(), Quantity::from_units(8));
        }
        cluster.nodes.push(NodeSpec {
            name: format!("{}-{i:05}", if gpu { "gpu" } else { "cpu" }),
            labels: labels(if gpu { "gpu" } else { "cpu" }),
            taints: Vec::new(),
            allocatable,
            topology: None,
        });
    }
    for pool in ["cpu", "gpu"] {
        cluster.flavors.push(FlavorSpec {
            name: pool.into(),
            node_labels: labels(pool),
            ..FlavorSpec::default()
        });
    }
    let share = |total: i64| Quantity::from_units(total / TEAMS as i64);
    let quota = |name: &str, nominal: Quantity| ResourceQuotaSpec {
        name: name.into(),
        nominal,
        borrowing_limit: None,
        lending_limit: None,
    };
    for t in 0..TEAMS {
        cluster.cluster_queues.push(ClusterQueueSpec {
            name: format!("team-{t}"),
            cohort: Some("org".into()),
            resource_groups: vec![ResourceGroupSpec {
                covered_resources: vec!["cpu".into(), "memory".into(), "nvidia.com/gpu".into()],
                flavors: vec![
                    FlavorQuotaSpec {
                        name: "cpu".into(),
                        resources: vec![
                            quota("cpu", share(64 * cpu_nodes as i64)),
                            quota("memory", share((256i64 << 30) * cpu_nodes as i64)),
                            quota("nvidia.com/gpu", Quantity::ZERO),
                        ],
                    },
                    FlavorQuotaSpec {
                        name: "gpu".into(),
                        resources: vec![
                            quota("cpu", share(96 * gpu_nodes as i64)),
                            quota("memory", share((768i64 << 30) * gpu_nodes as i64)),
                            quota("nvidia.com/gpu", share(8 * gpu_nodes as i64)),
                        ],
                    },
                ],
            }],
            queueing_strategy: QueueingStrategy::BestEffortFIFO,
            preemption: if preemption {
                PreemptionSpec {
                    within_cluster_queue: WithinClusterQueue::LowerPriority,
                    reclaim_within_cohort: ReclaimWithinCohort::Any,
                    borrow_within_cohort: BorrowWithinCohort::Never,
                }
            } else {
                PreemptionSpec::default()
            },
            fair_weight: None,
        });
    }

    // Arrivals: offered cpu-seconds ≈ 1.2 × cluster cpu × span.
    let mean_runtime_s = (600 + 14_400) / 2;
    let mean_cpu_per_job = 8.5 * 18.0; // pods × cpu per pod, roughly
    let cluster_cpu = (64 * cpu_nodes + 96 * gpu_nodes) as f64;
    let span_s = (jobs as f64 * mean_cpu_per_job * mean_runtime_s as f64 / (1.2 * cluster_cpu))
        .max(1.0) as i64;
    let mut workloads = Vec::with_capacity(jobs);
    for j in 0..jobs {
        let pods = rng.range(1, 16) as u32;
        let gpu_job = gpu_nodes > 0 && rng.range(0, 99) < 20;
        let mut request = BTreeMap::new();
        if gpu_job {
            let gpus = *rng.pick(&[1i64, 2, 4, 8]);
            request.insert("nvidia.com/gpu".to_string(), Quantity::from_units(gpus));
            request.insert("cpu".to_string(), Quantity::from_units(8 * gpus));
            request.insert(
                "memory".to_string(),
                Quantity::from_units((64 * gpus) << 30),
            );
        } else {
            let cpu = rng.range(4, 32);
            request.insert("cpu".to_string(), Quantity::from_units(cpu));
            request.insert("memory".to_string(), Quantity::from_units((4 * cpu) << 30));
        }
        let team = rng.range(0, TEAMS as i64 - 1);
        workloads.push(ScenarioWorkload {
            spec: WorkloadSpec {
                namespace: format!("team-{team}"),
                name: format!("job-{j:06}"),
                cluster_queue: format!("team-{team}"),
                priority: *rng.pick(&[0, 0, 0, 100, 100, 1000]),
                pod_sets: vec![PodSetSpec {
                    name: "main".into(),
                    count: pods,
                    request,
                    node_selector: Labels::new(),
                    tolerations: Vec::new(),
                    ..PodSetSpec::default()
                }],
                runtime_limit: None,
                topology: None,
            },
            kind: "Job",
            submit_after: Duration::from_secs(rng.range(0, span_s)),
            duration: Duration::from_secs(rng.range(600, 14_400)),
            recorded_wait: None,
        });
    }
    Scenario {
        cluster,
        workloads,
        ..Scenario::default()
    }
}

/// Gives every node of a synthetic scenario two NUMA zones, each with half of the node's
/// allocatable, with pod scope — `single-numa-node` on CPU nodes, `restricted` on GPU nodes
/// (so an 8-GPU pod may span both zones, and nothing smaller may) — and makes every pod
/// Guaranteed, so that cpu and memory are aligned too (the NUMA-heavy variant
/// `muster bench --numa` measures).
pub fn add_numa(scenario: &mut Scenario) {
    use muster_core::numa::{NodeTopologySpec, TopologyPolicy, TopologyScope, ZoneSpec};
    for node in &mut scenario.cluster.nodes {
        let half: BTreeMap<String, Quantity> = node
            .allocatable
            .iter()
            .filter(|(name, _)| name.as_str() != "pods")
            .map(|(name, q)| (name.clone(), Quantity::from_milli(q.milli() / 2)))
            .collect();
        let gpu = node.allocatable.contains_key("nvidia.com/gpu");
        node.topology = Some(NodeTopologySpec {
            policy: if gpu {
                TopologyPolicy::Restricted
            } else {
                TopologyPolicy::SingleNumaNode
            },
            scope: TopologyScope::Pod,
            zones: (0..2)
                .map(|z| ZoneSpec {
                    name: format!("node-{z}"),
                    allocatable: half.clone(),
                })
                .collect(),
        });
    }
    for w in &mut scenario.workloads {
        for ps in &mut w.spec.pod_sets {
            ps.guaranteed = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn is_deterministic_and_valid() {
        let a = scenario(50, 200, 7, true);
        let b = scenario(50, 200, 7, true);
        assert_eq!(a.workloads, b.workloads);
        assert_eq!(a.cluster, b.cluster);
        let model = muster_core::Model::new(&a.cluster).unwrap();
        assert_eq!(model.nodes().len(), 50);
        assert!(
            a.workloads
                .iter()
                .all(|w| (1..=16).contains(&w.spec.pod_sets[0].count))
        );
    }
}
