//! Which pods to bind where, when Muster is the scheduler of the pods it admits: a pure
//! function of the objects, so that every rule is tested without an API server.
//!
//! A Job admitted by Muster runs pods whose `schedulerName` is Muster's; nothing else places
//! them. Its Workload's admission records the nodes the core planned and how many pods go on
//! each. The rules, checked every cycle (so a controller that restarts between two binds
//! finishes the gang it started):
//!
//! - A gang none of whose pods is bound yet is bound only once all the pods it expects
//!   exist, and then all at once.
//! - A gang with a pod bound already is completed: each pod that appears (the rest of the
//!   gang after a restart, or a replacement for a failed pod) goes to a planned node with a
//!   slot left.
//! - A gang whose planned node is gone, or whose bind failed, is re-planned as a whole: its
//!   Workload is evicted, the Job suspended (its pods deleted), and it queues again.
//! - So is a gang that still lacks some of its pods, none bound, a set time after its
//!   admission (`--gang-pods-timeout`; a namespace's ResourceQuota or an admission policy
//!   can keep a Job from creating them all): it held quota and nodes that nothing used.
//! - Pods are matched to slots in completion-index order (then by name), slots in the order
//!   the admission lists its nodes: an indexed Job's neighbouring ranks share a node.
//!
//! Pods that are not Muster's (another `schedulerName`) are never in the input.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use muster_api::objects::Workload;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use crate::conditions;
use crate::job;
use crate::names::ADMITTED;
use crate::snapshot::{Objects, Phase, phase};

/// The annotation the Job controller gives an indexed Job's pods: their completion index.
pub const COMPLETION_INDEX: &str = "batch.kubernetes.io/job-completion-index";

/// One pod to bind.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PodBind {
    /// Namespace.
    pub namespace: String,
    /// Pod name.
    pub name: String,
    /// The pod's uid (the binding names it, so that a pod recreated under the same name is
    /// not bound by mistake).
    pub uid: Option<String>,
    /// The pod's resourceVersion as read (the next cycle waits until it has changed).
    pub resource_version: Option<String>,
    /// The node to bind it to.
    pub node: String,
    /// Which of the admission's planned pods it is (their order: the admission's nodes in
    /// order, each repeated by its count), for the NUMA zones planned for it.
    pub slot: usize,
    /// The `muster.dev/numa-zones` annotation the bind gives it, when its node has zones.
    pub numa_zones: Option<String>,
    /// The `muster.dev/admission` annotation the bind gives a plain pod: the bind is its
    /// admission (see [`crate::plain_pod`]).
    pub admission: Option<String>,
}

/// The pods of one gang to bind in one burst.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GangBind {
    /// The Workload (`namespace`, `name`).
    pub workload: (String, String),
    /// Its pods and their nodes.
    pub pods: Vec<PodBind>,
    /// Whether these are the gang's first binds (all its pods at once), not a completion.
    pub whole: bool,
}

/// A gang to plan again as a whole.
#[derive(Clone, Debug)]
pub struct Replan {
    /// Its Workload.
    pub workload: Arc<Workload>,
    /// Reason of its `Evicted` condition (CamelCase).
    pub reason: &'static str,
    /// Why, in words.
    pub message: String,
}

/// Reason of `Evicted=True` when a node a gang was planned on is gone.
pub const REASON_NODE_GONE: &str = "NodeGone";
/// Reason of `Evicted=True` when binding a gang's pod failed.
pub const REASON_BIND_FAILED: &str = "BindFailed";
/// Reason of `Evicted=True` when a kubelet rejected a gang's pod for want of aligned NUMA
/// resources (the pod's own status reason).
pub const REASON_TOPOLOGY_AFFINITY_ERROR: &str = "TopologyAffinityError";
/// Reason of `Evicted=True` when a gang still lacked some of its pods, none bound, when its
/// time to create them ran out.
pub const REASON_PODS_MISSING: &str = "PodsMissing";

/// How long an admitted gang may wait for all its pods to exist, and the time now.
#[derive(Clone, Copy, Debug)]
pub struct PodsTimeout {
    /// The time now.
    pub now: jiff::Timestamp,
    /// The wait allowed from admission.
    pub after: std::time::Duration,
}

/// What to bind and what to re-plan.
#[derive(Clone, Debug, Default)]
pub struct BindPlan {
    /// Gangs to bind, in Workload order.
    pub binds: Vec<GangBind>,
    /// Gangs to re-plan, in Workload order.
    pub replans: Vec<Replan>,
    /// Gangs waiting for the rest of their pods: (Workload, pods there, pods expected).
    pub waiting: Vec<((String, String), usize, usize)>,
    /// When the first of the waiting gangs runs out of time (a cycle is due then).
    pub wake_at: Option<jiff::Timestamp>,
    /// Pods of admitted gangs that their kubelet rejected with a Topology Affinity Error.
    pub topology_affinity_errors: usize,
}

fn key(namespace: Option<&String>, name: Option<&String>) -> (String, String) {
    (
        namespace.cloned().unwrap_or_default(),
        name.cloned().unwrap_or_default(),
    )
}

/// Whether a pod still runs or will: not finished and not being deleted.
fn is_active(p: &Pod) -> bool {
    p.metadata.deletion_timestamp.is_none() && !crate::plain_pod::finished(p)
}

fn node_of(p: &Pod) -> Option<&str> {
    p.spec
        .as_ref()
        .and_then(|s| s.node_name.as_deref())
        .filter(|n| !n.is_empty())
}

fn completion_index(p: &Pod) -> u64 {
    p.metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(COMPLETION_INDEX))
        .and_then(|i| i.parse().ok())
        .unwrap_or(u64::MAX)
}

/// Whether the kubelet rejected the pod for want of NUMA-aligned resources.
fn rejected_for_topology(p: &Pod) -> bool {
    p.status.as_ref().and_then(|s| s.reason.as_deref()) == Some(REASON_TOPOLOGY_AFFINITY_ERROR)
}

/// When the Workload was last admitted.
fn admitted_at(w: &Workload) -> Option<Time> {
    let status = w.status.as_ref()?;
    conditions::get(&status.conditions, ADMITTED).map(|c| c.last_transition_time.clone())
}

/// Whether the pod was created at or after `at` (a pod of an earlier admission is not this
/// one's; times have one-second resolution).
fn created_since(p: &Pod, at: Option<&Time>) -> bool {
    match (at, &p.metadata.creation_timestamp) {
        (Some(at), Some(created)) => created.0 >= at.0,
        _ => true,
    }
}

/// How many pods the Job runs at once from now: its admitted count, or fewer when fewer
/// completions are left or its parallelism was lowered.
fn expected_pods(job: &Job, admitted: i64) -> i64 {
    let spec = job.spec.as_ref();
    let status = job.status.as_ref();
    let mut n = admitted;
    if let Some(p) = spec.and_then(|s| s.parallelism) {
        n = n.min(i64::from(p));
    }
    if let Some(c) = spec.and_then(|s| s.completions) {
        let done = status.and_then(|s| s.succeeded).unwrap_or(0);
        n = n.min(i64::from(c) - i64::from(done));
    }
    n.max(0)
}

/// Whether the Job's pods name `scheduler`: they are Muster's to bind.
fn pods_scheduled_by(job: &Job, scheduler: Option<&str>) -> bool {
    let named = job
        .spec
        .as_ref()
        .and_then(|s| s.template.spec.as_ref())
        .and_then(|s| s.scheduler_name.as_deref());
    scheduler.is_some() && named == scheduler
}

/// The binds and re-plans for every admitted gang, given Muster's pods (`objects.pods`),
/// the Workloads whose binds failed in the last round (`bind_failures`, with why), and how
/// long a gang may wait for its pods (`None`: for ever).
pub fn plan_binds(
    objects: &Objects,
    bind_failures: &BTreeMap<(String, String), String>,
    pods_timeout: Option<&PodsTimeout>,
) -> BindPlan {
    let mut out = BindPlan::default();
    let mut by_job: BTreeMap<&str, Vec<&Arc<Pod>>> = BTreeMap::new();
    for p in &objects.pods {
        if let Some(uid) = job::controlling_job_uid(p) {
            by_job.entry(uid).or_default().push(p);
        }
    }
    let nodes: BTreeSet<&str> = objects
        .nodes
        .iter()
        .filter_map(|n| n.metadata.name.as_deref())
        .collect();
    for w in &objects.workloads {
        if phase(w) != Phase::Admitted {
            continue;
        }
        let Some(j) = objects.job_of(w) else { continue };
        if job::is_suspended(j) || job::finished(j).is_some() {
            continue;
        }
        let Some(admission) = w.status.as_ref().and_then(|s| s.admission.as_ref()) else {
            continue;
        };
        let wkey = key(w.metadata.namespace.as_ref(), w.metadata.name.as_ref());
        let all: &[&Arc<Pod>] = j
            .metadata
            .uid
            .as_deref()
            .and_then(|uid| by_job.get(uid))
            .map(Vec::as_slice)
            .unwrap_or_default();
        let pods: Vec<&Arc<Pod>> = all.iter().copied().filter(|p| is_active(p)).collect();
        // Without Muster's pods (they are kube-scheduler's, or not created yet) there is
        // nothing to bind.
        let Some(assignment) = admission.pod_set_assignments.first() else {
            continue;
        };
        let planned: Vec<(&str, i64)> = assignment
            .nodes
            .iter()
            .map(|n| (n.name.as_str(), n.count))
            .collect();
        if let Some(why) = bind_failures.get(&wkey) {
            out.replans.push(Replan {
                workload: w.clone(),
                reason: REASON_BIND_FAILED,
                message: format!("Binding its pods failed ({why}); the gang is planned again"),
            });
            continue;
        }
        let admitted_at = admitted_at(w);
        let rejected: Vec<&Arc<Pod>> = all
            .iter()
            .copied()
            .filter(|p| rejected_for_topology(p) && created_since(p, admitted_at.as_ref()))
            .collect();
        if let Some(first) = rejected.first() {
            out.topology_affinity_errors += rejected.len();
            out.replans.push(Replan {
                workload: w.clone(),
                reason: REASON_TOPOLOGY_AFFINITY_ERROR,
                message: format!(
                    "Pod {} was rejected by its kubelet with a Topology Affinity Error; the \
                     gang is planned again",
                    first.metadata.name.as_deref().unwrap_or_default()
                ),
            });
            continue;
        }
        let expected = expected_pods(j, planned.iter().map(|(_, c)| c).sum());
        if pods.is_empty() {
            // No pod yet: waiting, if its pods are to be Muster's.
            if expected > 0 && pods_scheduled_by(j, objects.scheduler_name.as_deref()) {
                out.wait(
                    w,
                    wkey,
                    0,
                    expected as usize,
                    admitted_at.as_ref(),
                    pods_timeout,
                );
            }
            continue;
        }
        if let Some(gone) = planned.iter().find(|(n, _)| !nodes.contains(n)) {
            out.replans.push(Replan {
                workload: w.clone(),
                reason: REASON_NODE_GONE,
                message: format!(
                    "Node {} it was planned on is gone; the gang is planned again",
                    gone.0
                ),
            });
            continue;
        }
        let mut taken: BTreeMap<&str, i64> = BTreeMap::new();
        let mut unbound: Vec<&Arc<Pod>> = Vec::new();
        for p in &pods {
            match node_of(p) {
                Some(n) => *taken.entry(n).or_default() += 1,
                None => unbound.push(p),
            }
        }
        if unbound.is_empty() {
            continue;
        }
        let started = !taken.is_empty();
        if !started && (unbound.len() as i64) < expected {
            out.wait(
                w,
                wkey,
                unbound.len(),
                expected as usize,
                admitted_at.as_ref(),
                pods_timeout,
            );
            continue;
        }
        unbound.sort_by_key(|p| (completion_index(p), p.metadata.name.clone()));
        // A node's first slots are those of the pods bound there already.
        let mut first = 0usize;
        let slots: Vec<(&str, usize)> = planned
            .iter()
            .flat_map(|&(n, count)| {
                let count = count.max(0) as usize;
                let held = (taken.get(n).copied().unwrap_or(0).max(0) as usize).min(count);
                let start = first;
                first += count;
                (start + held..start + count).map(move |slot| (n, slot))
            })
            .collect();
        let binds: Vec<PodBind> = unbound
            .iter()
            .zip(slots)
            .map(|(p, (node, slot))| PodBind {
                namespace: p.metadata.namespace.clone().unwrap_or_default(),
                name: p.metadata.name.clone().unwrap_or_default(),
                uid: p.metadata.uid.clone(),
                resource_version: p.metadata.resource_version.clone(),
                node: node.to_string(),
                slot,
                numa_zones: None,
                admission: None,
            })
            .collect();
        if !binds.is_empty() {
            out.binds.push(GangBind {
                workload: wkey,
                pods: binds,
                whole: !started,
            });
        }
    }
    out
}

impl BindPlan {
    /// A gang admitted at `admitted_at` has `there` of the `expected` pods it waits for, none
    /// bound: it waits, or is planned again when its time is up.
    fn wait(
        &mut self,
        w: &Arc<Workload>,
        wkey: (String, String),
        there: usize,
        expected: usize,
        admitted_at: Option<&Time>,
        pods_timeout: Option<&PodsTimeout>,
    ) {
        let deadline = pods_timeout.zip(admitted_at).and_then(|(t, at)| {
            let after = jiff::SignedDuration::try_from(t.after).ok()?;
            Some((t, at.0.checked_add(after).ok()?))
        });
        match deadline {
            Some((t, deadline)) if deadline <= t.now => self.replans.push(Replan {
                workload: w.clone(),
                reason: REASON_PODS_MISSING,
                message: format!(
                    "Only {there} of its {expected} pods existed {}s after its admission; the \
                     gang is planned again",
                    t.after.as_secs()
                ),
            }),
            _ => {
                if let Some((_, deadline)) = deadline {
                    self.wake_at = Some(self.wake_at.map_or(deadline, |w| w.min(deadline)));
                }
                self.waiting.push((wkey, there, expected));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    fn arc<T: serde::de::DeserializeOwned>(v: Value) -> Arc<T> {
        Arc::new(serde_json::from_value(v).expect("valid object"))
    }

    const ADMITTED_AT: &str = "2027-01-15T08:00:00Z";

    /// Nodes `n1`..`n3`, and Job `ns/j` (parallelism 4, completions 4, started) admitted with
    /// 3 pods planned on n1 and 1 on n2.
    fn objects() -> Objects {
        let nodes = ["n1", "n2", "n3"]
            .iter()
            .map(|n| arc(json!({"metadata": {"name": n}})))
            .collect();
        let job = arc(json!({
            "metadata": {"name": "j", "namespace": "ns", "uid": "uid-j"},
            "spec": {"suspend": false, "parallelism": 4, "completions": 4,
                     "template": {"spec": {"containers": []}}},
            "status": {"active": 4}
        }));
        let workload = arc(json!({
            "metadata": {"name": "job-j", "namespace": "ns",
                         "labels": {"muster.dev/job-name": "j", "muster.dev/job-uid": "uid-j"},
                         "ownerReferences": [{"apiVersion": "batch/v1", "kind": "Job",
                                              "name": "j", "uid": "uid-j", "controller": true}]},
            "spec": {"queueName": "lq", "podSets": []},
            "status": {
                "admission": {"clusterQueue": "q", "podSetAssignments": [{
                    "name": "main", "count": 4,
                    "nodes": [{"name": "n1", "count": 3}, {"name": "n2", "count": 1}]}]},
                "conditions": [{"type": "Admitted", "status": "True", "reason": "Admitted",
                                "message": "", "lastTransitionTime": ADMITTED_AT}]
            }
        }));
        Objects {
            nodes,
            jobs: vec![job],
            workloads: vec![workload],
            ..Objects::default()
        }
    }

    /// Pod `j-<index>` of Job `j`, on `node` when given, in `phase`.
    fn pod(index: u32, node: Option<&str>, phase: &str) -> Arc<Pod> {
        let mut spec = json!({"containers": [], "schedulerName": "muster"});
        if let Some(n) = node {
            spec["nodeName"] = json!(n);
        }
        arc(json!({
            "metadata": {"name": format!("j-{index}-x"), "namespace": "ns",
                         "uid": format!("pod-{index}"), "resourceVersion": "5",
                         "creationTimestamp": "2027-01-15T08:00:01Z",
                         "annotations": {COMPLETION_INDEX: index.to_string()},
                         "ownerReferences": [{"apiVersion": "batch/v1", "kind": "Job",
                                              "name": "j", "uid": "uid-j", "controller": true}]},
            "spec": spec,
            "status": {"phase": phase}
        }))
    }

    fn placed(plan: &BindPlan) -> Vec<(String, String)> {
        plan.binds
            .iter()
            .flat_map(|g| g.pods.iter().map(|p| (p.name.clone(), p.node.clone())))
            .collect()
    }

    #[test]
    fn a_gang_waits_for_all_its_pods_then_is_bound_whole_in_index_order() {
        let mut o = objects();
        o.pods = vec![
            pod(2, None, "Pending"),
            pod(0, None, "Pending"),
            pod(1, None, "Pending"),
        ];
        let plan = plan_binds(&o, &BTreeMap::new(), None);
        assert!(plan.binds.is_empty(), "3 of 4 pods: nothing is bound");
        assert_eq!(plan.waiting, vec![(("ns".into(), "job-j".into()), 3, 4)]);

        o.pods.push(pod(3, None, "Pending"));
        let plan = plan_binds(&o, &BTreeMap::new(), None);
        assert_eq!(plan.binds.len(), 1);
        assert!(plan.binds[0].whole);
        assert_eq!(
            placed(&plan),
            [
                ("j-0-x", "n1"),
                ("j-1-x", "n1"),
                ("j-2-x", "n1"),
                ("j-3-x", "n2")
            ]
            .map(|(p, n)| (p.to_string(), n.to_string()))
        );
        assert_eq!(plan.binds[0].pods[0].uid.as_deref(), Some("pod-0"));
        let slots: Vec<usize> = plan.binds[0].pods.iter().map(|p| p.slot).collect();
        assert_eq!(slots, [0, 1, 2, 3]);
    }

    /// The time `secs` seconds after the test Workload's admission, and a 300 s limit.
    fn after_admission(secs: i64) -> PodsTimeout {
        let admitted: jiff::Timestamp = ADMITTED_AT.parse().expect("a timestamp");
        PodsTimeout {
            now: admitted + jiff::SignedDuration::from_secs(secs),
            after: std::time::Duration::from_secs(300),
        }
    }

    #[test]
    fn a_gang_short_of_pods_is_planned_again_when_its_time_is_up() {
        let mut o = objects();
        o.pods = vec![pod(0, None, "Pending"), pod(1, None, "Pending")];
        let admitted: jiff::Timestamp = ADMITTED_AT.parse().expect("a timestamp");

        let plan = plan_binds(&o, &BTreeMap::new(), Some(&after_admission(299)));
        assert!(plan.replans.is_empty() && plan.binds.is_empty());
        assert_eq!(plan.waiting, vec![(("ns".into(), "job-j".into()), 2, 4)]);
        assert_eq!(
            plan.wake_at,
            Some(admitted + jiff::SignedDuration::from_secs(300)),
            "a cycle is due when its time runs out"
        );

        let plan = plan_binds(&o, &BTreeMap::new(), Some(&after_admission(300)));
        assert!(plan.binds.is_empty() && plan.waiting.is_empty());
        assert_eq!(plan.replans.len(), 1);
        assert_eq!(plan.replans[0].reason, REASON_PODS_MISSING);
        assert!(
            plan.replans[0].message.contains("Only 2 of its 4 pods"),
            "{}",
            plan.replans[0].message
        );

        // Without a limit it waits for ever.
        let plan = plan_binds(&o, &BTreeMap::new(), None);
        assert!(plan.replans.is_empty() && plan.wake_at.is_none());

        // A gang with a pod bound already is being completed, not waiting: no limit.
        o.pods[0] = pod(0, Some("n1"), "Running");
        let plan = plan_binds(&o, &BTreeMap::new(), Some(&after_admission(3600)));
        assert!(plan.replans.is_empty() && plan.waiting.is_empty());
        assert_eq!(placed(&plan), [("j-1-x".to_string(), "n1".to_string())]);
    }

    #[test]
    fn a_gang_with_no_pod_at_all_waits_only_if_its_pods_are_musters() {
        let late = after_admission(301);
        // Muster binds, and the Job's pods name it: no pod in 300 s is a gang short of pods.
        let mut o = objects();
        o.scheduler_name = Some("muster".into());
        let mut job = (*o.jobs[0]).clone();
        let template = job.spec.as_mut().unwrap().template.spec.as_mut().unwrap();
        template.scheduler_name = Some("muster".into());
        o.jobs = vec![Arc::new(job.clone())];
        let plan = plan_binds(&o, &BTreeMap::new(), Some(&after_admission(10)));
        assert_eq!(plan.waiting, vec![(("ns".into(), "job-j".into()), 0, 4)]);
        let plan = plan_binds(&o, &BTreeMap::new(), Some(&late));
        assert_eq!(plan.replans.len(), 1);
        assert!(plan.replans[0].message.contains("Only 0 of its 4 pods"));

        // Its pods are another scheduler's (the webhook left the template alone): not ours
        // to wait for.
        let template = job.spec.as_mut().unwrap().template.spec.as_mut().unwrap();
        template.scheduler_name = Some("volcano".into());
        o.jobs = vec![Arc::new(job)];
        let plan = plan_binds(&o, &BTreeMap::new(), Some(&late));
        assert!(plan.replans.is_empty() && plan.waiting.is_empty());

        // Muster only admits (kube-scheduler places the pods): nothing to wait for either.
        let mut o = objects();
        o.scheduler_name = None;
        let plan = plan_binds(&o, &BTreeMap::new(), Some(&late));
        assert!(plan.replans.is_empty() && plan.waiting.is_empty());
    }

    #[test]
    fn a_partly_bound_gang_is_completed_on_the_slots_left() {
        // A controller stopped after binding two pods; the next one finishes the gang.
        let mut o = objects();
        o.pods = vec![
            pod(0, Some("n1"), "Pending"),
            pod(1, Some("n2"), "Running"),
            pod(2, None, "Pending"),
            pod(3, None, "Pending"),
        ];
        let plan = plan_binds(&o, &BTreeMap::new(), None);
        assert!(!plan.binds[0].whole);
        assert_eq!(
            placed(&plan),
            [("j-2-x", "n1"), ("j-3-x", "n1")].map(|(p, n)| (p.to_string(), n.to_string()))
        );
        let slots: Vec<usize> = plan.binds[0].pods.iter().map(|p| p.slot).collect();
        assert_eq!(slots, [1, 2], "n1's first slot is its bound pod's");
        // A replacement for a failed pod goes where the failed one was, even alone.
        o.pods = vec![
            pod(0, Some("n1"), "Running"),
            pod(1, Some("n1"), "Failed"),
            pod(2, Some("n1"), "Running"),
            pod(3, Some("n2"), "Running"),
            pod(4, None, "Pending"),
        ];
        assert_eq!(
            placed(&plan_binds(&o, &BTreeMap::new(), None)),
            [("j-4-x".to_string(), "n1".to_string())]
        );
    }

    #[test]
    fn fewer_pods_are_expected_when_fewer_completions_are_left() {
        let mut o = objects();
        let mut job = (*o.jobs[0]).clone();
        job.status.as_mut().unwrap().succeeded = Some(2);
        o.jobs = vec![Arc::new(job)];
        o.pods = vec![pod(2, None, "Pending"), pod(3, None, "Pending")];
        let plan = plan_binds(&o, &BTreeMap::new(), None);
        assert_eq!(
            placed(&plan).len(),
            2,
            "2 completions left: 2 pods are the whole gang"
        );
    }

    #[test]
    fn a_gang_whose_node_is_gone_or_whose_bind_failed_is_planned_again() {
        let mut o = objects();
        o.pods = (0..4).map(|i| pod(i, None, "Pending")).collect();
        o.nodes.retain(|n| n.metadata.name.as_deref() != Some("n2"));
        let plan = plan_binds(&o, &BTreeMap::new(), None);
        assert!(plan.binds.is_empty());
        assert_eq!(plan.replans.len(), 1);
        assert_eq!(plan.replans[0].reason, REASON_NODE_GONE);
        assert!(
            plan.replans[0].message.contains("n2"),
            "{}",
            plan.replans[0].message
        );

        let o = {
            let mut o = objects();
            o.pods = (0..4).map(|i| pod(i, None, "Pending")).collect();
            o
        };
        let failed =
            BTreeMap::from([(("ns".to_string(), "job-j".to_string()), "boom".to_string())]);
        let plan = plan_binds(&o, &failed, None);
        assert!(plan.binds.is_empty());
        assert_eq!(plan.replans[0].reason, REASON_BIND_FAILED);
        assert!(plan.replans[0].message.contains("boom"));
    }

    #[test]
    fn a_topology_affinity_error_of_this_admission_replans_the_gang_and_is_counted() {
        let mut o = objects();
        let mut rejected = (*pod(1, Some("n1"), "Failed")).clone();
        rejected.status.as_mut().unwrap().reason = Some("TopologyAffinityError".into());
        o.pods = vec![
            pod(0, Some("n1"), "Running"),
            Arc::new(rejected.clone()),
            pod(2, Some("n1"), "Running"),
            pod(3, Some("n2"), "Running"),
        ];
        let plan = plan_binds(&o, &BTreeMap::new(), None);
        assert_eq!(plan.topology_affinity_errors, 1);
        assert_eq!(plan.replans[0].reason, REASON_TOPOLOGY_AFFINITY_ERROR);
        // One left over from an earlier admission is not this one's.
        rejected.metadata.creation_timestamp =
            Some(Time(jiff::Timestamp::from_second(1_700_000_000).unwrap()));
        o.pods[1] = Arc::new(rejected);
        let plan = plan_binds(&o, &BTreeMap::new(), None);
        assert_eq!(plan.topology_affinity_errors, 0);
        assert!(plan.replans.is_empty());
    }

    #[test]
    fn suspended_jobs_and_other_owners_pods_are_not_bound() {
        let mut o = objects();
        let mut stranger = (*pod(0, None, "Pending")).clone();
        stranger.metadata.owner_references.as_mut().unwrap()[0].uid = "uid-other".into();
        o.pods = vec![Arc::new(stranger)];
        assert!(plan_binds(&o, &BTreeMap::new(), None).binds.is_empty());

        let mut o = objects();
        o.pods = (0..4).map(|i| pod(i, None, "Pending")).collect();
        let mut job = (*o.jobs[0]).clone();
        job.spec.as_mut().unwrap().suspend = Some(true);
        o.jobs = vec![Arc::new(job)];
        assert!(plan_binds(&o, &BTreeMap::new(), None).binds.is_empty());
    }
}
