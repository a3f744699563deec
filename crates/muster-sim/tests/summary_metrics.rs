//! The summary's derived metrics on small scenarios built in code, where the exact values can
//! be worked out by hand: work lost to preemption, preemptions per reason, backfilled
//! admissions, per-queue usage share over time and weighted fairness.

use std::path::Path;

use muster_sim::engine::{Options, Outcome};
use muster_sim::events::Collect;

fn simulate(text: &str) -> Outcome {
    let scenario =
        muster_api::scenario_from_str("test.yaml", text).unwrap_or_else(|e| panic!("{e}"));
    let options = Options {
        check_invariants: true,
        ..Options::default()
    };
    muster_sim::simulate(&scenario, &options, &mut Collect::default(), &mut |_| {})
        .unwrap_or_else(|e| panic!("{e}"))
}

fn json(outcome: &Outcome) -> serde_json::Value {
    serde_json::to_value(&outcome.summary).unwrap()
}

const PRIORITIES: &str = r#"
apiVersion: muster.dev/v1alpha1
kind: ResourceFlavor
metadata: {name: default}
---
apiVersion: scheduling.k8s.io/v1
kind: PriorityClass
metadata: {name: low}
value: 10
globalDefault: true
---
apiVersion: scheduling.k8s.io/v1
kind: PriorityClass
metadata: {name: high}
value: 1000
"#;

/// A Job document.
fn job(
    queue: &str,
    name: &str,
    submit: &str,
    duration: &str,
    parallelism: u32,
    requests: &str,
    priority: &str,
) -> String {
    format!(
        r#"
---
apiVersion: batch/v1
kind: Job
metadata:
  namespace: ns
  name: {name}
  labels: {{muster.dev/queue-name: {queue}}}
  annotations: {{muster.dev/sim-submit-after: "{submit}", muster.dev/sim-duration: "{duration}"}}
spec:
  parallelism: {parallelism}
  template:
    spec:
      priorityClassName: {priority}
      containers:
      - {{name: main, resources: {{requests: {requests}}}}}
"#
    )
}

/// One ClusterQueue (with its LocalQueue of the same name in namespace `ns`).
fn queue(name: &str, extra_spec: &str, covered: &str, quotas: &str) -> String {
    format!(
        r#"
---
apiVersion: muster.dev/v1alpha1
kind: ClusterQueue
metadata: {{name: {name}}}
spec:
{extra_spec}
  resourceGroups:
  - coveredResources: [{covered}]
    flavors:
    - name: default
      resources: [{quotas}]
---
apiVersion: muster.dev/v1alpha1
kind: LocalQueue
metadata: {{namespace: ns, name: {name}}}
spec: {{clusterQueue: {name}}}
"#
    )
}

fn node(name: &str, allocatable: &str) -> String {
    format!(
        r#"
---
apiVersion: v1
kind: Node
metadata: {{name: {name}}}
status: {{allocatable: {allocatable}}}
"#
    )
}

/// `low` (2 pods × 1.5 cpu, 1 gpu) runs from 0; `urgent` (4 cpu, 2 gpu, high priority)
/// arrives at 600s and preempts it within the ClusterQueue. Lost: 600s × 3 cores = 0.5
/// core-hours, 600s × 2 gpus = 1/3 gpu-hour.
#[test]
fn lost_work_and_reasons_of_a_preemption_within_the_queue() {
    let text = [
        PRIORITIES.to_string(),
        node("n1", r#"{cpu: "4", nvidia.com/gpu: "2"}"#),
        queue(
            "q",
            "  preemption: {withinClusterQueue: LowerPriority}",
            "cpu, nvidia.com/gpu",
            r#"{name: cpu, nominalQuota: "4"}, {name: nvidia.com/gpu, nominalQuota: "2"}"#,
        ),
        job(
            "q",
            "low",
            "0s",
            "1000s",
            2,
            r#"{cpu: "1500m", nvidia.com/gpu: "1"}"#,
            "low",
        ),
        job(
            "q",
            "urgent",
            "600s",
            "100s",
            1,
            r#"{cpu: "4", nvidia.com/gpu: "2"}"#,
            "high",
        ),
    ]
    .concat();
    let outcome = simulate(&text);
    let s = &outcome.summary;
    assert_eq!(s.preemptions, 1);
    assert_eq!(s.lost_to_preemption.core_hours, 0.5);
    assert_eq!(s.lost_to_preemption.gpu_hours, 0.333333);
    let v = json(&outcome);
    assert_eq!(
        v["preemptionsByReason"],
        serde_json::json!({"InClusterQueue": 1})
    );
    assert_eq!(
        v["clusterQueues"]["q"]["preemptionsByReason"],
        serde_json::json!({"InClusterQueue": 1})
    );
    assert_eq!(
        v["lostToPreemption"],
        serde_json::json!({"coreHours": 0.5, "gpuHours": 0.333333})
    );
    // Low restarts when urgent finishes at 700s and runs to 1700s.
    assert_eq!(s.makespan_seconds, 1700.0);
    // Dominant share: low holds 2/2 gpus, urgent too; nothing at the end. The instant at
    // 1000s is low's first run's (forgotten) completion: the timeline samples it too.
    let series = &s.cluster_queues["q"].usage_share_over_time;
    assert_eq!(
        series.as_slice(),
        &[
            (0.0, 1.0),
            (600.0, 1.0),
            (700.0, 1.0),
            (1000.0, 1.0),
            (1700.0, 0.0)
        ]
    );
}

/// Two queues in a cohort; `b-big` (6 cpu) borrows 2 of `a`'s 4 and runs from 0; `a-job`
/// (4 cpu) arrives at 300s and reclaims. Lost: 300s × 6 cores = 0.5 core-hours, no gpu.
#[test]
fn lost_work_and_reasons_of_a_reclamation_are_the_victims_queue() {
    let text = [
        PRIORITIES.to_string(),
        node("n1", r#"{cpu: "8"}"#),
        queue(
            "a",
            "  cohort: shared\n  preemption: {reclaimWithinCohort: Any}",
            "cpu",
            r#"{name: cpu, nominalQuota: "4"}"#,
        ),
        queue(
            "b",
            "  cohort: shared",
            "cpu",
            r#"{name: cpu, nominalQuota: "4"}"#,
        ),
        job("b", "b-big", "0s", "1000s", 1, r#"{cpu: "6"}"#, "low"),
        job("a", "a-job", "300s", "100s", 1, r#"{cpu: "4"}"#, "low"),
    ]
    .concat();
    let outcome = simulate(&text);
    let v = json(&outcome);
    assert_eq!(
        v["preemptionsByReason"],
        serde_json::json!({"InCohortReclamation": 1})
    );
    assert_eq!(
        v["clusterQueues"]["b"]["preemptionsByReason"],
        serde_json::json!({"InCohortReclamation": 1})
    );
    assert_eq!(
        v["clusterQueues"]["a"]["preemptionsByReason"],
        serde_json::json!({})
    );
    assert_eq!(
        v["lostToPreemption"],
        serde_json::json!({"coreHours": 0.5, "gpuHours": 0.0})
    );
}

/// Two independent queues on 8 cpu: `a` runs 4 cpu for 100s, `b` runs `b_cpu` for `b_secs`.
fn two_queues(a_weight: &str, b_cpu: &str, b_secs: &str) -> String {
    [
        PRIORITIES.to_string(),
        node("n1", r#"{cpu: "8"}"#),
        queue(
            "a",
            &format!("  fairSharing: {{weight: \"{a_weight}\"}}"),
            "cpu",
            r#"{name: cpu, nominalQuota: "4"}"#,
        ),
        queue("b", "", "cpu", r#"{name: cpu, nominalQuota: "4"}"#),
        job("a", "a-job", "0s", "100s", 1, r#"{cpu: "4"}"#, "low"),
        job(
            "b",
            "b-job",
            "0s",
            b_secs,
            1,
            &format!(r#"{{cpu: "{b_cpu}"}}"#),
            "low",
        ),
    ]
    .concat()
}

#[test]
fn jain_weighted_is_one_when_shares_are_equal() {
    let outcome = simulate(&two_queues("1", "4", "100s"));
    let f = &outcome.summary.fairness;
    assert_eq!((f.jain, f.jain_weighted), (1.0, 1.0));
    let v = json(&outcome);
    assert_eq!(v["fairness"]["jainWeighted"], serde_json::json!(1.0));
}

#[test]
fn jain_weighted_is_below_one_when_shares_differ() {
    // Time-averaged dominant shares: a 4×100/(8×100) = 0.5, b 1×50/(8×100) = 0.0625.
    // Jain = 0.5625² / (2 × (0.25 + 0.00390625)) = 0.623077 (rounded).
    let outcome = simulate(&two_queues("1", "1", "50s"));
    let f = &outcome.summary.fairness;
    assert_eq!(f.jain_weighted, 0.623077);
    // `jain` is over the shares of the resource-time used, 400/450 and 50/450: with one
    // resource and equal weights they are proportional to the above, so the index is equal.
    assert_eq!(f.jain, 0.623077);
}

#[test]
fn jain_weighted_divides_by_the_weight() {
    // a's weight 8 brings its 0.5 down to b's 0.0625: weighted, the queues are equal.
    let outcome = simulate(&two_queues("8", "1", "50s"));
    let f = &outcome.summary.fairness;
    assert_eq!(f.jain_weighted, 1.0);
    assert!(f.jain < 1.0);
    // A weight of 0 leaves the queue out: b alone is perfectly fair.
    let outcome = simulate(&two_queues("0", "1", "50s"));
    assert_eq!(outcome.summary.fairness.jain_weighted, 1.0);
}

#[test]
fn usage_share_over_time_follows_the_timeline() {
    let outcome = simulate(&two_queues("1", "1", "50s"));
    let qs = &outcome.summary.cluster_queues;
    assert_eq!(
        qs["a"].usage_share_over_time.as_slice(),
        &[(0.0, 0.5), (50.0, 0.5), (100.0, 0.0)]
    );
    assert_eq!(
        qs["b"].usage_share_over_time.as_slice(),
        &[(0.0, 0.125), (50.0, 0.0), (100.0, 0.0)]
    );
    let times: Vec<f64> = outcome.timeline.times().to_vec();
    assert_eq!(times, [0.0, 50.0, 100.0]);
    let v = json(&outcome);
    assert_eq!(
        v["clusterQueues"]["b"]["usageShareOverTime"],
        serde_json::json!([[0.0, 0.125], [50.0, 0.0], [100.0, 0.0]])
    );
}

#[test]
fn usage_share_over_time_is_capped_and_keeps_the_ends() {
    // 300 one-second jobs one after another: 301 sample instants.
    let mut text = [
        PRIORITIES.to_string(),
        node("n1", r#"{cpu: "8"}"#),
        queue("q", "", "cpu", r#"{name: cpu, nominalQuota: "8"}"#),
    ]
    .concat();
    for i in 0..300 {
        text += &job(
            "q",
            &format!("j{i:03}"),
            &format!("{i}s"),
            "1s",
            1,
            r#"{cpu: "2"}"#,
            "low",
        );
    }
    let outcome = simulate(&text);
    assert_eq!(outcome.timeline.len(), 301);
    let series = &outcome.summary.cluster_queues["q"].usage_share_over_time;
    assert!(series.len() <= muster_sim::engine::MAX_SHARE_POINTS);
    // k = ceil(300 / 199) = 2: instants 0, 2, …, 298, then 300.
    assert_eq!(series.len(), 151);
    assert_eq!(series[0], (0.0, 0.25));
    assert_eq!(series[1], (2.0, 0.25));
    assert_eq!(*series.last().unwrap(), (300.0, 0.0));
}

#[test]
fn new_fields_are_present_and_zero_without_preemption_or_backfill() {
    let outcome = simulate(&two_queues("1", "4", "100s"));
    let v = json(&outcome);
    assert_eq!(v["backfilled"], serde_json::json!(0));
    assert_eq!(v["preemptionsByReason"], serde_json::json!({}));
    assert_eq!(
        v["lostToPreemption"],
        serde_json::json!({"coreHours": 0.0, "gpuHours": 0.0})
    );
    for q in ["a", "b"] {
        assert_eq!(v["clusterQueues"][q]["backfilled"], serde_json::json!(0));
        assert_eq!(
            v["clusterQueues"][q]["preemptionsByReason"],
            serde_json::json!({})
        );
    }
}

/// Over every shipped scenario and the quickstart: reasons add up to the preemptions, per
/// queue and in total, and backfilled admissions never exceed admissions.
#[test]
fn preemptions_by_reason_add_up_everywhere() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut paths: Vec<_> = std::fs::read_dir(root.join("tests/scenarios"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    paths.sort();
    let mut scenarios: Vec<_> = paths
        .iter()
        .map(|p| muster_api::load_scenario(std::slice::from_ref(p)).unwrap())
        .collect();
    scenarios.push(muster_api::load_scenario(&[root.join("examples/quickstart")]).unwrap());
    let mut reasons_seen = std::collections::BTreeSet::new();
    for scenario in &scenarios {
        let outcome = muster_sim::simulate(
            scenario,
            &Options::default(),
            &mut Collect::default(),
            &mut |_| {},
        )
        .unwrap();
        let s = &outcome.summary;
        assert_eq!(s.preemptions_by_reason.values().sum::<u64>(), s.preemptions);
        for q in s.cluster_queues.values() {
            assert_eq!(q.preemptions_by_reason.values().sum::<u64>(), q.preempted);
            assert!(q.usage_share_over_time.len() <= muster_sim::engine::MAX_SHARE_POINTS);
            assert!(
                q.usage_share_over_time
                    .iter()
                    .all(|&(_, share)| (0.0..=1.0).contains(&share))
            );
        }
        // Every admission after the first of a workload follows a preemption of it.
        assert!(s.backfilled <= s.admitted + s.preemptions);
        assert!(s.lost_to_preemption.core_hours >= 0.0 && s.lost_to_preemption.gpu_hours >= 0.0);
        if s.preemptions == 0 {
            assert_eq!(s.lost_to_preemption, Default::default());
        }
        reasons_seen.extend(s.preemptions_by_reason.keys().cloned());
    }
    assert!(reasons_seen.contains("InClusterQueue"));
    assert!(reasons_seen.contains("InCohortReclamation"));
}
