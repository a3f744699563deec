//! Property tests: random clusters, queues and workloads, simulated to the end.
//!
//! After every cycle the model's invariants are checked (no node over allocatable; no
//! ClusterQueue over what it may reach or its borrowing limit; no cohort lending more than it
//! holds, so no lender over its lending limit; every gang whole or absent; usage equal to a
//! full recount). Then: every workload that is not Inadmissible finishes once arrivals stop;
//! the same input gives the same bytes; the order of the input does not matter. Queues may be
//! StrictFIFO, BestEffortFIFO or Backfill, weighted, in a three-level cohort tree (a root
//! cohort, a child cohort with quota and a borrowing limit, and one without), with fair
//! sharing on or off. And with
//! one Backfill queue whose workloads keep their declared limits, no head that took a
//! reservation is admitted later than that reservation.

use muster_api::{Scenario, ScenarioWorkload};
use muster_core::node::Labels;
use muster_core::spec::*;
use muster_core::{Duration, Quantity};
use muster_sim::engine::Options;
use muster_sim::events::JsonLines;
use proptest::prelude::*;

fn cpu(milli: i64) -> Quantity {
    Quantity::from_milli(i128::from(milli))
}

#[derive(Clone, Debug)]
struct Case {
    scenario: Scenario,
}

fn labels(pool: usize) -> Labels {
    [("pool".to_string(), format!("p{pool}"))].into()
}

fn queue_strategy() -> impl Strategy<
    Value = (
        QueueingStrategy,
        WithinClusterQueue,
        ReclaimWithinCohort,
        Option<i32>,
    ),
> {
    (
        prop_oneof![
            Just(QueueingStrategy::BestEffortFIFO),
            Just(QueueingStrategy::StrictFIFO),
            Just(QueueingStrategy::Backfill)
        ],
        prop_oneof![
            Just(WithinClusterQueue::Never),
            Just(WithinClusterQueue::LowerPriority),
            Just(WithinClusterQueue::LowerOrNewerEqualPriority)
        ],
        prop_oneof![
            Just(ReclaimWithinCohort::Never),
            Just(ReclaimWithinCohort::LowerPriority),
            Just(ReclaimWithinCohort::Any)
        ],
        prop_oneof![Just(None), (0..3i32).prop_map(Some)],
    )
}

#[allow(clippy::type_complexity)]
fn case() -> impl Strategy<Value = Case> {
    let nodes = prop::collection::vec((1..=16i64, 0..=4i64, 0..2usize, 1..=8i64), 1..=6);
    let queues = prop::collection::vec(
        (
            0..4usize, // no cohort, the root cohort c, or its children c1, c2
            prop::collection::vec(
                (
                    0..=12i64,
                    prop::option::of(0..=8i64),
                    prop::option::of(0..=12i64),
                ),
                2,
            ),
            0..=8i64, // gpu nominal
            queue_strategy(),
            any::<bool>(), // two flavors or one
            prop_oneof![Just(None), Just(Some(0i64)), (1..=3i64).prop_map(Some)], // weight
        ),
        1..=4,
    );
    let workloads = prop::collection::vec(
        (
            0..4usize,
            1..=4u32,
            1..=8i64,
            0..=2i64,
            0..4i32,
            0..60i64,
            1..50i64,
            prop::option::of(0..2usize),
            any::<bool>(), // declares its duration as its runtime limit
        ),
        1..=24,
    );
    let fair = prop_oneof![
        Just(None),
        Just(Some(FairSharingSpec::default())),
        Just(Some(FairSharingSpec {
            preemption_strategies: vec![FairShareStrategy::LessThanInitialShare],
        })),
    ];
    (nodes, queues, workloads, fair).prop_map(|(nodes, queues, workloads, fair)| {
        let mut cluster = ClusterSpec::default();
        for (i, (cpus, gpus, pool, pods)) in nodes.into_iter().enumerate() {
            let mut allocatable = std::collections::BTreeMap::new();
            allocatable.insert("cpu".to_string(), Quantity::from_units(cpus));
            allocatable.insert("pods".to_string(), Quantity::from_units(pods));
            if gpus > 0 {
                allocatable.insert("nvidia.com/gpu".to_string(), Quantity::from_units(gpus));
            }
            cluster.nodes.push(NodeSpec {
                name: format!("n{i}"),
                labels: labels(pool),
                taints: vec![],
                allocatable,
                topology: None,
            });
        }
        for p in 0..2 {
            cluster.flavors.push(FlavorSpec {
                name: format!("f{p}"),
                node_labels: labels(p),
                ..FlavorSpec::default()
            });
        }
        let cq_count = queues.len();
        for (
            i,
            (
                cohort,
                flavor_quotas,
                gpu_nominal,
                (strategy, within, reclaim, threshold),
                two,
                weight,
            ),
        ) in queues.into_iter().enumerate()
        {
            let in_cohort = cohort > 0;
            let flavors = if two { 2 } else { 1 };
            let flavor_quota = |f: usize| {
                let (nominal, bl, ll) = flavor_quotas[f];
                let nominal_q = Quantity::from_units(nominal);
                FlavorQuotaSpec {
                    name: format!("f{f}"),
                    resources: vec![
                        ResourceQuotaSpec {
                            name: "cpu".into(),
                            nominal: nominal_q,
                            borrowing_limit: bl.filter(|_| in_cohort).map(Quantity::from_units),
                            lending_limit: ll
                                .filter(|_| in_cohort)
                                .map(|l| Quantity::from_units(l.min(nominal))),
                        },
                        ResourceQuotaSpec {
                            name: "nvidia.com/gpu".into(),
                            nominal: Quantity::from_units(gpu_nominal),
                            borrowing_limit: None,
                            lending_limit: None,
                        },
                    ],
                }
            };
            let borrow_within_cohort = match threshold {
                Some(t) if in_cohort && reclaim != ReclaimWithinCohort::Never => {
                    BorrowWithinCohort::LowerPriority {
                        max_priority_threshold: Some(t),
                    }
                }
                _ => BorrowWithinCohort::Never,
            };
            cluster.cluster_queues.push(ClusterQueueSpec {
                name: format!("q{i}"),
                cohort: [None, Some("c"), Some("c1"), Some("c2")][cohort].map(String::from),
                resource_groups: vec![ResourceGroupSpec {
                    covered_resources: vec!["cpu".into(), "nvidia.com/gpu".into()],
                    flavors: (0..flavors).map(flavor_quota).collect(),
                }],
                queueing_strategy: strategy,
                preemption: PreemptionSpec {
                    within_cluster_queue: within,
                    reclaim_within_cohort: reclaim,
                    borrow_within_cohort,
                },
                fair_weight: weight.map(Quantity::from_units),
            });
        }
        // A tree: c1 (with quota of its own, borrowing at most 4 cpu from c) and c2 (none)
        // under the root c.
        let cohort_quota = |cpu: i64, bl: Option<i64>| ResourceGroupSpec {
            covered_resources: vec!["cpu".into()],
            flavors: vec![FlavorQuotaSpec {
                name: "f0".into(),
                resources: vec![ResourceQuotaSpec {
                    name: "cpu".into(),
                    nominal: Quantity::from_units(cpu),
                    borrowing_limit: bl.map(Quantity::from_units),
                    lending_limit: None,
                }],
            }],
        };
        cluster.cohorts.push(CohortSpec {
            name: "c1".into(),
            parent: Some("c".into()),
            resource_groups: vec![cohort_quota(4, Some(4))],
            fair_weight: Some(Quantity::from_units(2)),
        });
        cluster.cohorts.push(CohortSpec {
            name: "c2".into(),
            parent: Some("c".into()),
            ..CohortSpec::default()
        });
        let mut scenario = Scenario {
            cluster,
            fair_sharing: fair,
            ..Scenario::default()
        };
        for (i, (q, pods, cpu_half, gpus, priority, submit, duration, selector, limited)) in
            workloads.into_iter().enumerate()
        {
            let mut request = std::collections::BTreeMap::new();
            request.insert("cpu".to_string(), cpu(cpu_half * 500));
            if gpus > 0 {
                request.insert("nvidia.com/gpu".to_string(), Quantity::from_units(gpus));
            }
            scenario.workloads.push(ScenarioWorkload {
                spec: WorkloadSpec {
                    namespace: "ns".into(),
                    name: format!("w{i:02}"),
                    cluster_queue: format!("q{}", q % cq_count),
                    priority,
                    pod_sets: vec![PodSetSpec {
                        name: "main".into(),
                        count: pods,
                        request,
                        node_selector: selector.map(labels).unwrap_or_default(),
                        tolerations: vec![],
                        ..PodSetSpec::default()
                    }],
                    runtime_limit: limited.then(|| Duration::from_secs(duration)),
                    topology: None,
                },
                kind: "Job",
                submit_after: Duration::from_secs(submit),
                duration: Duration::from_secs(duration),
                recorded_wait: None,
            });
        }
        Case { scenario }
    })
}

/// One Backfill ClusterQueue without a cohort or preemption, workloads of one priority
/// whose runtime limits (when declared) are exactly their durations.
fn backfill_case() -> impl Strategy<Value = Case> {
    let nodes = prop::collection::vec(1..=16i64, 1..=4);
    let workloads = prop::collection::vec(
        (
            1..=3u32,
            1..=16i64,
            0..80i64,
            1..60i64,
            prop::bool::weighted(0.85),
        ),
        2..=30,
    );
    (nodes, workloads).prop_map(|(nodes, workloads)| {
        let mut cluster = ClusterSpec::default();
        for (i, cpus) in nodes.into_iter().enumerate() {
            cluster.nodes.push(NodeSpec {
                name: format!("n{i}"),
                allocatable: [("cpu".to_string(), Quantity::from_units(cpus))].into(),
                ..NodeSpec::default()
            });
        }
        cluster.flavors.push(FlavorSpec {
            name: "f".into(),
            ..FlavorSpec::default()
        });
        cluster.cluster_queues.push(ClusterQueueSpec {
            name: "q".into(),
            resource_groups: vec![ResourceGroupSpec {
                covered_resources: vec!["cpu".into()],
                flavors: vec![FlavorQuotaSpec {
                    name: "f".into(),
                    resources: vec![ResourceQuotaSpec {
                        name: "cpu".into(),
                        nominal: Quantity::from_units(40),
                        ..ResourceQuotaSpec::default()
                    }],
                }],
            }],
            queueing_strategy: QueueingStrategy::Backfill,
            ..ClusterQueueSpec::default()
        });
        let mut scenario = Scenario {
            cluster,
            ..Scenario::default()
        };
        for (i, (pods, cpu_half, submit, duration, limited)) in workloads.into_iter().enumerate() {
            scenario.workloads.push(ScenarioWorkload {
                spec: WorkloadSpec {
                    namespace: "ns".into(),
                    name: format!("w{i:02}"),
                    cluster_queue: "q".into(),
                    pod_sets: vec![PodSetSpec {
                        name: "main".into(),
                        count: pods,
                        request: [("cpu".to_string(), cpu(cpu_half * 500))].into(),
                        ..PodSetSpec::default()
                    }],
                    runtime_limit: limited.then(|| Duration::from_secs(duration)),
                    ..WorkloadSpec::default()
                },
                kind: "Job",
                submit_after: Duration::from_secs(submit),
                duration: Duration::from_secs(duration),
                recorded_wait: None,
            });
        }
        Case { scenario }
    })
}

/// Nodes with NUMA zones (2–4 zones of cpu and GPUs, each node with its own policy and
/// scope) in two racks, and one ClusterQueue with in-queue preemption whose gangs of
/// Guaranteed or Burstable pods, of one or two containers, may ask to be packed in one rack.
fn numa_case() -> impl Strategy<Value = Case> {
    let nodes = prop::collection::vec(
        (
            2..=4usize,
            1..=8i64,
            0..=2i64,
            0..4usize,
            any::<bool>(),
            any::<bool>(),
        ),
        1..=6,
    );
    let workloads = prop::collection::vec(
        (
            1..=4u32,      // pods
            1..=12i64,     // cpu halves per container
            0..=2i64,      // gpus per pod
            1..=2usize,    // containers
            any::<bool>(), // Guaranteed
            0..3usize,     // no topology request, rack required, rack preferred
            0..3i32,       // priority
            0..60i64,      // submit
            1..50i64,      // duration
        ),
        1..=20,
    );
    (nodes, workloads).prop_map(|(nodes, workloads)| {
        let mut cluster = ClusterSpec::default();
        for (i, (zones, cpu_per_zone, gpu_per_zone, policy, pod_scope, topo)) in
            nodes.into_iter().enumerate()
        {
            let z = zones as i64;
            let mut allocatable = std::collections::BTreeMap::new();
            allocatable.insert("cpu".to_string(), Quantity::from_units(cpu_per_zone * z));
            allocatable.insert(
                "nvidia.com/gpu".to_string(),
                Quantity::from_units(gpu_per_zone * z),
            );
            allocatable.insert(
                "memory".to_string(),
                Quantity::from_units((cpu_per_zone << 30) * z),
            );
            let policy = [
                muster_core::numa::TopologyPolicy::None,
                muster_core::numa::TopologyPolicy::BestEffort,
                muster_core::numa::TopologyPolicy::Restricted,
                muster_core::numa::TopologyPolicy::SingleNumaNode,
            ][policy];
            let topology = topo.then(|| muster_core::numa::NodeTopologySpec {
                policy,
                scope: if pod_scope {
                    muster_core::numa::TopologyScope::Pod
                } else {
                    muster_core::numa::TopologyScope::Container
                },
                zones: (0..zones)
                    .map(|zi| muster_core::numa::ZoneSpec {
                        name: format!("node-{zi}"),
                        allocatable: [
                            ("cpu".to_string(), Quantity::from_units(cpu_per_zone)),
                            (
                                "nvidia.com/gpu".to_string(),
                                Quantity::from_units(gpu_per_zone),
                            ),
                            (
                                "memory".to_string(),
                                Quantity::from_units(cpu_per_zone << 30),
                            ),
                        ]
                        .into(),
                    })
                    .collect(),
            });
            cluster.nodes.push(NodeSpec {
                name: format!("n{i}"),
                labels: [(
                    "topology.muster.dev/rack".to_string(),
                    format!("r{}", i % 2),
                )]
                .into(),
                allocatable,
                topology,
                ..NodeSpec::default()
            });
        }
        cluster.flavors.push(FlavorSpec {
            name: "f".into(),
            ..FlavorSpec::default()
        });
        let quota = |name: &str| ResourceQuotaSpec {
            name: name.into(),
            nominal: Quantity::from_units(1 << 50),
            ..ResourceQuotaSpec::default()
        };
        cluster.cluster_queues.push(ClusterQueueSpec {
            name: "q".into(),
            resource_groups: vec![ResourceGroupSpec {
                covered_resources: vec!["cpu".into(), "memory".into(), "nvidia.com/gpu".into()],
                flavors: vec![FlavorQuotaSpec {
                    name: "f".into(),
                    resources: vec![quota("cpu"), quota("memory"), quota("nvidia.com/gpu")],
                }],
            }],
            preemption: PreemptionSpec {
                within_cluster_queue: WithinClusterQueue::LowerPriority,
                ..PreemptionSpec::default()
            },
            ..ClusterQueueSpec::default()
        });
        let mut scenario = Scenario {
            cluster,
            ..Scenario::default()
        };
        for (i, (pods, cpu_half, gpus, containers, guaranteed, topo, priority, submit, duration)) in
            workloads.into_iter().enumerate()
        {
            let container: std::collections::BTreeMap<String, Quantity> = [
                ("cpu".to_string(), cpu(cpu_half * 500)),
                ("memory".to_string(), Quantity::from_units(cpu_half << 29)),
            ]
            .into();
            let mut containers = vec![container; containers];
            if gpus > 0 {
                containers[0].insert("nvidia.com/gpu".to_string(), Quantity::from_units(gpus));
            }
            let mut request = std::collections::BTreeMap::new();
            for c in &containers {
                for (k, v) in c {
                    *request.entry(k.clone()).or_insert(Quantity::ZERO) += *v;
                }
            }
            scenario.workloads.push(ScenarioWorkload {
                spec: WorkloadSpec {
                    namespace: "ns".into(),
                    name: format!("w{i:02}"),
                    cluster_queue: "q".into(),
                    priority,
                    pod_sets: vec![PodSetSpec {
                        name: "main".into(),
                        count: pods,
                        request,
                        containers,
                        guaranteed,
                        ..PodSetSpec::default()
                    }],
                    topology: [
                        None,
                        Some(TopologyRequestSpec {
                            level: "rack".into(),
                            required: true,
                        }),
                        Some(TopologyRequestSpec {
                            level: "rack".into(),
                            required: false,
                        }),
                    ][topo]
                        .clone(),
                    ..WorkloadSpec::default()
                },
                kind: "Job",
                submit_after: Duration::from_secs(submit),
                duration: Duration::from_secs(duration),
                recorded_wait: None,
            });
        }
        Case { scenario }
    })
}

fn run(scenario: &Scenario) -> (String, muster_sim::Summary) {
    run_with(scenario, false)
}

fn run_with(scenario: &Scenario, numa_blind: bool) -> (String, muster_sim::Summary) {
    let options = Options {
        check_invariants: true,
        profile: muster_core::Profile {
            numa_blind,
            ..muster_core::Profile::default()
        },
        ..Options::default()
    };
    let mut sink = JsonLines(Vec::new());
    let outcome = muster_sim::simulate(scenario, &options, &mut sink, &mut |_| {})
        .unwrap_or_else(|e| panic!("{e}"));
    (String::from_utf8(sink.0).unwrap(), outcome.summary)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn invariants_hold_and_every_admissible_workload_finishes(case in case()) {
        let (events, summary) = run(&case.scenario);
        prop_assert_eq!(summary.finished + summary.inadmissible, summary.workloads, "{}", events);
        prop_assert_eq!(summary.pending_at_end, summary.inadmissible);
        // Each admission is followed by exactly one finish or preemption.
        let admitted = events.matches("\"Admitted\"").count() as u64;
        prop_assert_eq!(admitted, summary.finished + summary.preemptions);
    }

    #[test]
    fn backfill_never_delays_a_reserved_head_beyond_its_reservation(case in backfill_case()) {
        let options = Options { check_invariants: true, ..Options::default() };
        let mut sink = muster_sim::events::Collect::default();
        let outcome = muster_sim::simulate(&case.scenario, &options, &mut sink, &mut |_| {})
            .unwrap_or_else(|e| panic!("{e}"));
        for (&head, &at) in &outcome.reservations {
            let key = outcome.model.workload(head).key.to_string();
            let admitted = sink.0.iter().find(|e| {
                e.event == muster_sim::events::EventKind::Admitted && *e.workload == *key
            });
            let admitted = admitted.map(|e| e.time).unwrap_or(f64::INFINITY);
            prop_assert!(
                admitted <= at.as_secs_f64(),
                "{key} reserved from {}s but admitted at {admitted}s\n{}",
                at.as_secs_f64(),
                sink.0.iter().map(|e| format!("{} {:?} {} {:?}", e.time, e.event, e.workload, e.pods.as_ref().map(|p| p.iter().map(|p| p.node.to_string()).collect::<Vec<_>>()))).collect::<Vec<_>>().join("\n")
            );
        }
    }

    #[test]
    fn same_input_same_bytes_in_any_order(case in case()) {
        let (a, _) = run(&case.scenario);
        let (b, _) = run(&case.scenario);
        prop_assert_eq!(&a, &b);
        let mut shuffled = case.scenario.clone();
        shuffled.workloads.reverse();
        shuffled.cluster.nodes.reverse();
        shuffled.cluster.cluster_queues.reverse();
        shuffled.cluster.flavors.reverse();
        let (c, _) = run(&shuffled);
        prop_assert_eq!(&a, &c);
    }
}

/// With NUMA zones (every policy, both scopes, racks required or preferred): no zone ever
/// holds more than its allocatable (the invariants, checked after every cycle), every
/// admissible gang finishes, a single-numa-node pod-scope pod takes one zone, a gang that
/// requires a rack is in one rack, and NUMA-aware placement causes no Topology Affinity
/// Error. NUMA-blind placement keeps the invariants too.
#[test]
fn numa_zones_are_never_overcommitted() {
    let aligned = std::sync::atomic::AtomicU64::new(0);
    let errors_blind = std::sync::atomic::AtomicU64::new(0);
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: 300,
        ..ProptestConfig::default()
    });
    let result = runner.run(&numa_case(), |case| {
        let (events, summary) = run(&case.scenario);
        prop_assert_eq!(
            summary.finished + summary.inadmissible,
            summary.workloads,
            "{}",
            events
        );
        let numa = summary.numa.clone().unwrap_or_default();
        prop_assert_eq!(numa.topology_affinity_errors, 0);
        let nodes: std::collections::BTreeMap<&str, &NodeSpec> = case
            .scenario
            .cluster
            .nodes
            .iter()
            .map(|n| (n.name.as_str(), n))
            .collect();
        for line in events.lines().filter(|l| l.contains("\"Admitted\"")) {
            let e: serde_json::Value = serde_json::from_str(line).unwrap();
            let key = e["workload"].as_str().unwrap();
            let w = case
                .scenario
                .workloads
                .iter()
                .find(|w| key.ends_with(&w.spec.name))
                .unwrap();
            let mut racks = std::collections::BTreeSet::new();
            for pod in e["pods"].as_array().unwrap() {
                let node = nodes[pod["node"].as_str().unwrap()];
                racks.insert(node.labels["topology.muster.dev/rack"].clone());
                if let Some(t) = &node.topology
                    && t.policy == muster_core::numa::TopologyPolicy::SingleNumaNode
                    && t.scope == muster_core::numa::TopologyScope::Pod
                    && let Some(z) = pod.get("numaZones")
                {
                    prop_assert_eq!(z.as_array().unwrap().len(), 1, "{}", line);
                }
            }
            if w.spec.topology.as_ref().is_some_and(|t| t.required) {
                prop_assert_eq!(racks.len(), 1, "{}", line);
            }
        }
        let (blind_events, blind) = run_with(&case.scenario, true);
        prop_assert_eq!(
            blind.finished + blind.inadmissible,
            blind.workloads,
            "{}",
            blind_events
        );
        aligned.fetch_add(
            events.matches("numaZones").count() as u64,
            std::sync::atomic::Ordering::Relaxed,
        );
        errors_blind.fetch_add(
            blind.numa.map_or(0, |n| n.topology_affinity_errors),
            std::sync::atomic::Ordering::Relaxed,
        );
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    // The cases must exercise alignment, and blind placement must hit the kubelet's rule.
    let aligned = aligned.into_inner();
    let errors_blind = errors_blind.into_inner();
    assert!(aligned > 500, "only {aligned} aligned pods in all cases");
    assert!(
        errors_blind > 10,
        "only {errors_blind} Topology Affinity Errors when blind"
    );
}
