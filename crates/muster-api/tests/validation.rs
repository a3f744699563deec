//! Every kind of bad input gives one precise message: file, line, object, field path.

use muster_api::scenario_from_str;

const BASE: &str = r#"apiVersion: v1
kind: Node
metadata:
  name: n1
status:
  allocatable: {cpu: "8", memory: 32Gi}
---
apiVersion: muster.dev/v1alpha1
kind: ResourceFlavor
metadata:
  name: default
---
apiVersion: muster.dev/v1alpha1
kind: ClusterQueue
metadata:
  name: team-a
spec:
  cohort: shared
  resourceGroups:
  - coveredResources: [cpu, memory]
    flavors:
    - name: default
      resources:
      - name: cpu
        nominalQuota: 8
      - name: memory
        nominalQuota: 32Gi
---
apiVersion: muster.dev/v1alpha1
kind: LocalQueue
metadata:
  namespace: team-a
  name: main
spec:
  clusterQueue: team-a
"#;

const JOB: &str = r#"apiVersion: batch/v1
kind: Job
metadata:
  namespace: team-a
  name: train
  labels:
    muster.dev/queue-name: main
  annotations:
    muster.dev/sim-duration: 1h
spec:
  parallelism: 2
  template:
    spec:
      containers:
      - name: c
        resources:
          requests: {cpu: "2", memory: 4Gi}
"#;

fn with(extra: &str) -> String {
    format!("{BASE}---\n{extra}")
}

fn errors(text: &str) -> Vec<String> {
    match scenario_from_str("cluster.yaml", text) {
        Ok(_) => vec![],
        Err(e) => e.0.iter().map(ToString::to_string).collect(),
    }
}

fn one_error(text: &str) -> String {
    let e = errors(text);
    assert_eq!(e.len(), 1, "expected exactly one error, got {e:#?}");
    e.into_iter().next().unwrap()
}

#[test]
fn the_base_scenario_is_valid() {
    let s = scenario_from_str("cluster.yaml", &with(JOB)).unwrap();
    assert_eq!(s.workloads.len(), 1);
    let w = &s.workloads[0];
    assert_eq!(w.spec.cluster_queue, "team-a");
    assert_eq!(w.spec.pod_sets[0].count, 2);
    assert_eq!(w.duration.as_millis(), 3_600_000);
    assert_eq!(s.counts["Node"], 1);
}

#[test]
fn unknown_flavor_names_the_line_and_path() {
    let text = BASE.replace("    - name: default\n", "    - name: h100\n");
    assert_eq!(
        one_error(&text),
        "cluster.yaml:22: ClusterQueue \"team-a\": spec.resourceGroups[0].flavors[0].name: unknown ResourceFlavor \"h100\""
    );
}

#[test]
fn malformed_quantity() {
    let text = BASE.replace("nominalQuota: 32Gi", "nominalQuota: 32GB");
    let e = one_error(&text);
    assert!(
        e.starts_with("cluster.yaml:27: ClusterQueue \"team-a\": spec.resourceGroups[0].flavors[0].resources[1].nominalQuota: "),
        "{e}"
    );
    assert!(e.contains("unknown suffix"), "{e}");
}

#[test]
fn negative_quota() {
    let text = BASE.replace("nominalQuota: 8", "nominalQuota: -8");
    assert_eq!(
        one_error(&text),
        "cluster.yaml:25: ClusterQueue \"team-a\": spec.resourceGroups[0].flavors[0].resources[0].nominalQuota: must not be negative, got -8"
    );
}

#[test]
fn job_without_sim_duration() {
    let job = JOB.replace("  annotations:\n    muster.dev/sim-duration: 1h\n", "");
    assert_eq!(
        one_error(&with(&job)),
        "cluster.yaml:39: Job \"team-a/train\": metadata.annotations[muster.dev/sim-duration]: required in simulation: how long the workload runs once admitted"
    );
}

#[test]
fn bad_durations() {
    let job = JOB.replace("sim-duration: 1h", "sim-duration: 1d");
    let e = one_error(&with(&job));
    assert!(e.starts_with("cluster.yaml:45: Job \"team-a/train\": metadata.annotations[muster.dev/sim-duration]: \"1d\" is not a duration"), "{e}");
}

#[test]
fn broken_yaml_names_the_line() {
    let e = one_error("apiVersion: v1\nkind: Node\nmetadata: {name: [n1\n");
    assert!(e.starts_with("cluster.yaml:"), "{e}");
    assert!(e.contains("invalid YAML"), "{e}");
}

#[test]
fn wrong_types_name_the_field() {
    let job = JOB.replace("parallelism: 2", "parallelism: two");
    let e = one_error(&with(&job));
    assert!(e.starts_with("cluster.yaml:47: Job \"team-a/train\": spec.parallelism: expected an integer, found \"two\""), "{e}");
}

#[test]
fn unknown_kinds_are_skipped_with_a_warning_and_unknown_fields_ignored() {
    let extra = "apiVersion: example.com/v1\nkind: Gadget\nmetadata:\n  name: g\n---\n";
    let job = JOB.replace(
        "spec:\n  parallelism",
        "spec:\n  someFutureField: {x: 1}\n  parallelism",
    );
    let s = scenario_from_str("cluster.yaml", &with(&format!("{extra}{job}"))).unwrap();
    assert_eq!(s.workloads.len(), 1);
    assert_eq!(s.warnings.len(), 1);
    assert!(
        s.warnings[0]
            .to_string()
            .contains("unknown kind Gadget in example.com/v1: skipped")
    );
}

#[test]
fn references_must_resolve() {
    let job = JOB.replace("queue-name: main", "queue-name: nope");
    assert_eq!(
        one_error(&with(&job)),
        "cluster.yaml:43: Job \"team-a/train\": metadata.labels[muster.dev/queue-name]: unknown LocalQueue \"team-a/nope\""
    );
    let lq = BASE.replace("clusterQueue: team-a", "clusterQueue: team-z");
    assert!(one_error(&lq).ends_with(
        "LocalQueue \"team-a/main\": spec.clusterQueue: unknown ClusterQueue \"team-z\""
    ));
    let job = JOB.replace(
        "    spec:\n      containers",
        "    spec:\n      priorityClassName: vip\n      containers",
    );
    assert!(
        one_error(&with(&job))
            .ends_with("spec.template.spec.priorityClassName: unknown PriorityClass \"vip\"")
    );
}

#[test]
fn kueue_quota_rules() {
    let lending = BASE.replace(
        "nominalQuota: 8\n",
        "nominalQuota: 8\n        lendingLimit: 9\n",
    );
    assert!(one_error(&lending).ends_with("resources[0].lendingLimit: 9 exceeds nominalQuota 8"));
    let no_cohort = BASE.replace("  cohort: shared\n", "").replace(
        "nominalQuota: 8\n",
        "nominalQuota: 8\n        borrowingLimit: 2\n",
    );
    assert!(one_error(&no_cohort).ends_with(
        "borrowingLimit: may only be set when there is a cohort to borrow from or lend to"
    ));
    let order = BASE.replace(
        "coveredResources: [cpu, memory]",
        "coveredResources: [memory, cpu]",
    );
    let e = errors(&order);
    assert!(
        e[0].ends_with("resources[0].name: expected \"memory\" (coveredResources[0]), got \"cpu\""),
        "{e:?}"
    );
    let missing = BASE.replace("        nominalQuota: 32Gi\n", "");
    assert!(one_error(&missing).ends_with("resources[1].nominalQuota: required"));
}

#[test]
fn closed_vocabularies() {
    let strict = BASE.replace(
        "  cohort: shared\n",
        "  cohort: shared\n  queueingStrategy: Fifo\n",
    );
    assert!(one_error(&strict).ends_with(
        "spec.queueingStrategy: unknown value \"Fifo\" (use BestEffortFIFO, StrictFIFO, Backfill)"
    ));
    let policy = BASE.replace(
        "  cohort: shared\n",
        "  cohort: shared\n  preemption:\n    withinClusterQueue: Always\n",
    );
    assert!(
        one_error(&policy).contains("spec.preemption.withinClusterQueue: unknown value \"Always\"")
    );
    let strategy = with(
        "apiVersion: muster.dev/v1alpha1\nkind: Configuration\nmetadata:\n  name: c\n\
         spec:\n  fairSharing:\n    enable: true\n    preemptionStrategies: [LessThanFinalShare]\n",
    );
    assert!(one_error(&strategy).ends_with(
        "spec.fairSharing.preemptionStrategies[0]: unknown value \"LessThanFinalShare\" (use LessThanOrEqualToFinalShare, LessThanInitialShare)"
    ));
}

#[test]
fn backfill_and_fair_sharing_are_read() {
    let text = BASE.replace(
        "  cohort: shared\n",
        "  cohort: shared\n  queueingStrategy: Backfill\n  fairSharing:\n    weight: 2\n",
    ) + "---\napiVersion: muster.dev/v1alpha1\nkind: Configuration\nmetadata:\n  name: c\n\
         spec:\n  fairSharing:\n    enable: true\n    preemptionStrategies: [LessThanInitialShare]\n";
    let s = scenario_from_str("cluster.yaml", &text).expect("valid");
    let q = &s.cluster.cluster_queues[0];
    assert_eq!(
        q.queueing_strategy,
        muster_core::spec::QueueingStrategy::Backfill
    );
    assert_eq!(q.fair_weight, Some(muster_core::Quantity::from_units(2)));
    assert_eq!(
        s.fair_sharing.expect("on").preemption_strategies,
        vec![muster_core::spec::FairShareStrategy::LessThanInitialShare]
    );
}

#[test]
fn duplicates_and_cycles() {
    let dup =
        with("apiVersion: muster.dev/v1alpha1\nkind: ResourceFlavor\nmetadata:\n  name: default\n");
    assert!(one_error(&dup).contains("ResourceFlavor \"default\": metadata.name: ResourceFlavor \"default\" is defined twice (first at cluster.yaml:8)"));
    let cycle = with(
        "apiVersion: muster.dev/v1alpha1\nkind: Cohort\nmetadata:\n  name: a\nspec:\n  parent: b\n---\n\
         apiVersion: muster.dev/v1alpha1\nkind: Cohort\nmetadata:\n  name: b\nspec:\n  parent: a\n",
    );
    assert!(one_error(&cycle).ends_with("spec.parent: cohort parents form a cycle: a -> b -> a"));
}

#[test]
fn several_problems_are_all_reported() {
    let text = BASE.replace("nominalQuota: 8", "nominalQuota: -1").replace(
        "name: default\n      resources",
        "name: nope\n      resources",
    );
    let e = errors(&text);
    assert_eq!(e.len(), 2, "{e:#?}");
}

#[test]
fn bad_requests_in_pod_templates() {
    let job = JOB.replace(
        "requests: {cpu: \"2\", memory: 4Gi}",
        "requests: {cpu: \"-2\", memory: 4Gi}",
    );
    assert!(one_error(&with(&job)).ends_with(
        "spec.template.spec.containers[0].resources.requests.cpu: must not be negative, got -2"
    ));
    let job = JOB.replace("      containers:\n      - name: c\n        resources:\n          requests: {cpu: \"2\", memory: 4Gi}\n", "      containers: []\n");
    assert!(
        one_error(&with(&job))
            .ends_with("spec.template.spec.containers: at least one container is required")
    );
}

#[test]
fn not_an_object() {
    assert!(one_error("- a\n- b\n").contains("document 1 is not a Kubernetes object"));
    assert!(
        one_error("kind: Node\nmetadata: {name: x}\n").contains("document 1 has no apiVersion")
    );
    assert!(
        one_error("apiVersion: v1\nkind: Node\nmetadata: {}\n")
            .ends_with("Node: metadata.name: required")
    );
}

#[test]
fn workloads_with_pod_sets() {
    let wl = r#"apiVersion: muster.dev/v1alpha1
kind: Workload
metadata:
  namespace: team-a
  name: mpi
  annotations: {muster.dev/sim-duration: 30m, muster.dev/sim-submit-after: 90}
spec:
  queueName: main
  podSets:
  - name: launcher
    count: 1
    template: {spec: {containers: [{name: l, resources: {requests: {cpu: 1}}}]}}
  - name: worker
    count: 4
    template: {spec: {containers: [{name: w, resources: {requests: {cpu: 2}}}]}}
"#;
    let s = scenario_from_str("w.yaml", &with(wl)).unwrap();
    let w = &s.workloads[0];
    assert_eq!(w.kind, "Workload");
    assert_eq!(w.submit_after.as_millis(), 90_000);
    assert_eq!(
        w.spec.pod_sets.iter().map(|p| p.count).collect::<Vec<_>>(),
        [1, 4]
    );
    let dup = wl.replace("name: worker", "name: launcher");
    assert!(
        one_error(&with(&dup))
            .ends_with("spec.podSets[1].name: pod set \"launcher\" is defined twice")
    );
    let zero = wl.replace("count: 4", "count: 0");
    assert!(one_error(&with(&zero)).ends_with("spec.podSets[1].count: must be at least 1, got 0"));
}

/// A live cluster (the controller's view) keeps what is valid and says why the rest is out.
#[test]
fn a_live_cluster_leaves_out_invalid_objects_and_what_depends_on_them() {
    let text = r#"
apiVersion: muster.dev/v1alpha1
kind: ResourceFlavor
metadata: {name: default}
---
apiVersion: muster.dev/v1alpha1
kind: ClusterQueue
metadata: {name: good}
spec:
  resourceGroups:
  - coveredResources: [cpu]
    flavors: [{name: default, resources: [{name: cpu, nominalQuota: 4}]}]
---
apiVersion: muster.dev/v1alpha1
kind: ClusterQueue
metadata: {name: bad}
spec:
  resourceGroups:
  - coveredResources: [cpu]
    flavors: [{name: h100, resources: [{name: cpu, nominalQuota: 4}]}]
---
apiVersion: muster.dev/v1alpha1
kind: LocalQueue
metadata: {name: to-good, namespace: ns}
spec: {clusterQueue: good}
---
apiVersion: muster.dev/v1alpha1
kind: LocalQueue
metadata: {name: to-bad, namespace: ns}
spec: {clusterQueue: bad}
---
apiVersion: muster.dev/v1alpha1
kind: Workload
metadata: {name: fine, namespace: ns}
spec:
  queueName: to-good
  podSets: [{name: main, count: 1, template: {spec: {containers: [{name: c}]}}}]
---
apiVersion: muster.dev/v1alpha1
kind: Workload
metadata: {name: stuck, namespace: ns}
spec:
  queueName: to-bad
  podSets: [{name: main, count: 1, template: {spec: {containers: [{name: c}]}}}]
"#;
    let mut inputs = muster_api::load::Inputs::default();
    let mut errors = Vec::new();
    muster_api::load::load_str("live.yaml", text, &mut inputs, &mut errors);
    assert!(errors.is_empty(), "{errors:?}");
    let live = muster_api::build_live(&inputs.objects, &[]);
    let names: Vec<&str> = live.workloads.iter().map(|w| w.name.as_str()).collect();
    assert_eq!(names, ["fine"], "no simulation annotations are needed");
    assert_eq!(live.cluster.cluster_queues.len(), 1);
    let why = |label: &str| live.rejected[label][0].message.clone();
    assert!(why("ClusterQueue \"bad\"").contains("unknown ResourceFlavor \"h100\""));
    assert_eq!(
        why("LocalQueue \"ns/to-bad\""),
        "ClusterQueue \"bad\" is not active: see its status"
    );
    assert_eq!(
        why("Workload \"ns/stuck\""),
        "LocalQueue \"ns/to-bad\" is not active: see its status"
    );
    assert_eq!(live.rejected.len(), 3);

    // The controller's configured topology levels judge the Workloads' annotations.
    let rack = text.replace(
        "metadata: {name: fine, namespace: ns}",
        "metadata: {name: fine, namespace: ns, annotations: {muster.dev/topology-required: rack}}",
    );
    let mut inputs = muster_api::load::Inputs::default();
    muster_api::load::load_str("live.yaml", &rack, &mut inputs, &mut errors);
    let block = muster_core::spec::TopologyLevelSpec {
        name: "block".into(),
        node_label: "example.com/block".into(),
    };
    let live = muster_api::build_live(&inputs.objects, std::slice::from_ref(&block));
    assert!(live.workloads.is_empty());
    assert!(
        why_of(&live, "Workload \"ns/fine\"").contains("unknown topology level \"rack\""),
        "{:?}",
        live.rejected
    );
    let live = muster_api::build_live(&inputs.objects, &[]);
    assert_eq!(
        live.workloads[0]
            .topology
            .as_ref()
            .map(|t| t.level.as_str()),
        Some("rack")
    );
}

fn why_of(live: &muster_api::LiveCluster, label: &str) -> String {
    live.rejected[label][0].message.clone()
}

const NRT: &str = r#"apiVersion: topology.node.k8s.io/v1alpha2
kind: NodeResourceTopology
metadata:
  name: n1
attributes:
- {name: topologyManagerPolicy, value: single-numa-node}
- {name: topologyManagerScope, value: pod}
zones:
- name: node-1
  type: Node
  resources:
  - {name: cpu, capacity: "4", allocatable: "4", available: "2"}
  - {name: memory, capacity: 16Gi}
- name: node-0
  type: Node
  resources:
  - {name: cpu, capacity: "4", allocatable: "4"}
- name: socket-0
  type: Socket
"#;

#[test]
fn a_node_resource_topology_gives_its_node_zones_policy_and_scope() {
    use muster_core::numa::{TopologyPolicy, TopologyScope};
    let s = scenario_from_str("cluster.yaml", &with(NRT)).expect("valid");
    let t = s.cluster.nodes[0]
        .topology
        .as_ref()
        .expect("attached to n1");
    assert_eq!(t.policy, TopologyPolicy::SingleNumaNode);
    assert_eq!(t.scope, TopologyScope::Pod);
    let names: Vec<&str> = t.zones.iter().map(|z| z.name.as_str()).collect();
    assert_eq!(names, ["node-1", "node-0"], "only zones of type Node");
    let cpu = muster_core::Quantity::from_units(4);
    assert_eq!(
        t.zones[0].allocatable["cpu"], cpu,
        "allocatable, not available"
    );
    assert_eq!(
        t.zones[0].allocatable["memory"],
        "16Gi".parse().unwrap(),
        "capacity when allocatable is absent"
    );
    // The v1alpha1 policy list is read too.
    let old = NRT.replace(
        "attributes:\n- {name: topologyManagerPolicy, value: single-numa-node}\n- {name: topologyManagerScope, value: pod}\n",
        "topologyPolicies: [SingleNUMANodeContainerLevel]\n",
    );
    let s = scenario_from_str("cluster.yaml", &with(&old)).expect("valid");
    let t = s.cluster.nodes[0].topology.as_ref().unwrap();
    assert_eq!(
        (t.policy, t.scope),
        (TopologyPolicy::SingleNumaNode, TopologyScope::Container)
    );
    // Every value of the community enum, as NFD's topology-updater writes it beside the
    // attributes in v1alpha2.
    for (value, expected) in [
        (
            "RestrictedContainerLevel",
            (TopologyPolicy::Restricted, TopologyScope::Container),
        ),
        (
            "RestrictedPodLevel",
            (TopologyPolicy::Restricted, TopologyScope::Pod),
        ),
        (
            "BestEffortContainerLevel",
            (TopologyPolicy::BestEffort, TopologyScope::Container),
        ),
        (
            "BestEffortPodLevel",
            (TopologyPolicy::BestEffort, TopologyScope::Pod),
        ),
    ] {
        let text = old.replace("SingleNUMANodeContainerLevel", value);
        let s = scenario_from_str("cluster.yaml", &with(&text)).expect(value);
        let t = s.cluster.nodes[0].topology.as_ref().unwrap();
        assert_eq!((t.policy, t.scope), expected, "{value}");
    }
}

#[test]
fn bad_node_resource_topologies_are_named_precisely() {
    let e = one_error(&with(&NRT.replace("single-numa-node}", "strict}")));
    assert!(
        e.contains("NodeResourceTopology \"n1\": attributes[0].value: unknown value \"strict\""),
        "{e}"
    );
    let e = one_error(&with(&NRT.replace("name: n1\n", "name: n9\n")));
    assert!(e.contains("no Node named \"n9\""), "{e}");
    let e = one_error(&with(&NRT.replace("- name: node-0\n", "- name: node-1\n")));
    assert!(
        e.contains("zones[1].name: zone \"node-1\" is listed twice"),
        "{e}"
    );
    let e = one_error(&with(&NRT.replace(
        "{name: cpu, capacity: \"4\", allocatable: \"4\"}",
        "{name: cpu}",
    )));
    assert!(
        e.contains("zones[1].resources[0].allocatable: required"),
        "{e}"
    );
    let e = one_error(&with(&NRT.replace(
        "allocatable: \"4\", available",
        "allocatable: \"-4\", available",
    )));
    assert!(e.contains("zones[0].resources[0].allocatable"), "{e}");
    let twice = with(NRT) + "---\n" + NRT;
    let e = one_error(&twice);
    assert!(
        e.contains("NodeResourceTopology \"n1\" is defined twice"),
        "{e}"
    );
}

#[test]
fn scoring_strategy_and_topology_levels_come_from_the_configuration() {
    let config = "apiVersion: muster.dev/v1alpha1\nkind: Configuration\nmetadata:\n  name: c\n\
                  spec:\n  scoringStrategy: LeastNUMANodes\n  topologyLevels:\n  \
                  - {name: block, nodeLabel: example.com/block}\n  - {name: rack, nodeLabel: example.com/rack}\n";
    let job = JOB.replace(
        "    muster.dev/sim-duration: 1h\n",
        "    muster.dev/sim-duration: 1h\n    muster.dev/topology-required: rack\n",
    );
    let s = scenario_from_str("cluster.yaml", &(with(config) + "---\n" + &job)).expect("valid");
    assert_eq!(s.scoring, muster_core::place::Scoring::LeastNUMANodes);
    assert_eq!(s.cluster.topology_levels.len(), 2);
    assert_eq!(s.cluster.topology_levels[1].node_label, "example.com/rack");
    let t = s.workloads[0].spec.topology.as_ref().expect("read");
    assert!(t.required);
    assert_eq!(t.level, "rack");

    let e = one_error(&with(&config.replace("LeastNUMANodes", "Packed")));
    assert!(
        e.contains("spec.scoringStrategy: unknown value \"Packed\""),
        "{e}"
    );
    let unknown = job.replace("topology-required: rack", "topology-required: pod");
    let e = one_error(&(with(config) + "---\n" + &unknown));
    assert!(
        e.contains("metadata.annotations[muster.dev/topology-required]: unknown topology level \"pod\" (the Configuration defines block, rack)"),
        "{e}"
    );
    let both = job.replace(
        "muster.dev/topology-required: rack\n",
        "muster.dev/topology-required: rack\n    muster.dev/topology-preferred: block\n",
    );
    let e = one_error(&(with(config) + "---\n" + &both));
    assert!(e.contains("not both"), "{e}");
}

#[test]
fn pods_carry_their_containers_and_qos() {
    let job = JOB.replace(
        "          requests: {cpu: \"2\", memory: 4Gi}\n",
        "          requests: {cpu: \"2\", memory: 4Gi}\n          limits: {cpu: \"2\", memory: 4Gi}\n      \
         - name: side\n        resources:\n          limits: {cpu: \"1\", memory: 1Gi}\n",
    );
    let s = scenario_from_str("cluster.yaml", &with(&job)).expect("valid");
    let ps = &s.workloads[0].spec.pod_sets[0];
    assert!(ps.guaranteed, "limits everywhere, requests equal to them");
    assert_eq!(ps.containers.len(), 2);
    assert_eq!(ps.request["cpu"], muster_core::Quantity::from_units(3));
    let s = scenario_from_str("cluster.yaml", &with(JOB)).expect("valid");
    assert!(
        !s.workloads[0].spec.pod_sets[0].guaranteed,
        "requests without limits: Burstable"
    );
}
