//! Plain pods: a pod with the queue label and no controller (not a Job's, not a ReplicaSet's)
//! is a workload of its own, of one pod, when Muster is the pods' scheduler.
//!
//! Such a pod needs no Workload object: it cannot run before it is bound, and Muster binds it
//! only once it admits it, so the bind is the admission. The binding carries the admission
//! (ClusterQueue, flavors, node) as the pod's [`ADMISSION_ANNOTATION`], which the API server
//! writes with the node name in one request; a restarted controller reads the admission back
//! from the pod. One pod costs the API server what kube-scheduler's path costs it: its
//! creation and its bind.
//!
//! Every cycle stands a Workload in for each plain pod (never written to the API server), so
//! that the core queues, admits, preempts and counts plain pods like any other workload:
//! - unbound: pending, queued from the pod's creation;
//! - bound with the annotation: admitted as recorded; being deleted: being evicted;
//! - finished (`Succeeded`, `Failed`): gone, its quota released.
//!
//! A preempted plain pod is deleted, as Kueue stops plain pods (it cannot be suspended).

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Pod, PodCondition, PodTemplateSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference, Time as K8sTime};
use muster_api::objects::{PodSet, Workload, WorkloadAdmission, WorkloadSpec, WorkloadStatus};

use crate::conditions;
use crate::names::{
    ADMITTED, EVICTED, QUEUE_LABEL, QUOTA_RESERVED, REASON_ADMITTED, REASON_PREEMPTED,
    REASON_PREEMPTING,
};
use crate::snapshot::Objects;

/// Annotation on a plain pod that Muster bound: its admission (a Workload's
/// `status.admission`, as JSON).
pub const ADMISSION_ANNOTATION: &str = "muster.dev/admission";

/// The pod condition a bind sets true, and that says why a plain pod waits while false.
pub const POD_SCHEDULED: &str = "PodScheduled";

/// Prefix of the name of the Workload that stands in for a plain pod.
const NAME_PREFIX: &str = "pod-";

/// The name of the Workload that stands in for the plain pod `pod`.
pub fn workload_name(pod: &str) -> String {
    format!("{NAME_PREFIX}{pod}")
}

/// Whether an object carries the queue label, with a queue named.
pub fn is_queued(meta: &ObjectMeta) -> bool {
    meta.labels
        .as_ref()
        .and_then(|l| l.get(QUEUE_LABEL))
        .is_some_and(|q| !q.is_empty())
}

/// Whether an object has a controller (a Job, a ReplicaSet, ...).
pub fn has_controller(meta: &ObjectMeta) -> bool {
    meta.owner_references
        .iter()
        .flatten()
        .any(|o| o.controller == Some(true))
}

/// Whether `pod` is a plain pod queued to Muster: the queue label, no controller, and
/// `scheduler` as its scheduler.
pub fn is_plain(pod: &Pod, scheduler: &str) -> bool {
    is_queued(&pod.metadata)
        && !has_controller(&pod.metadata)
        && pod.spec.as_ref().and_then(|s| s.scheduler_name.as_deref()) == Some(scheduler)
}

/// Whether a pod has run to its end (`Succeeded` or `Failed`).
pub(crate) fn finished(pod: &Pod) -> bool {
    matches!(
        pod.status.as_ref().and_then(|s| s.phase.as_deref()),
        Some("Succeeded" | "Failed")
    )
}

/// A pod's `PodScheduled` condition.
pub fn scheduled_condition(pod: &Pod) -> Option<&PodCondition> {
    pod.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == POD_SCHEDULED)
}

/// The admission recorded on a bound plain pod, if it carries one that reads.
pub fn recorded_admission(pod: &Pod) -> Option<WorkloadAdmission> {
    let text = pod
        .metadata
        .annotations
        .as_ref()?
        .get(ADMISSION_ANNOTATION)?;
    serde_json::from_str(text).ok()
}

/// The Workload that stands in for a plain pod this cycle; `None` once the pod has finished,
/// or when it is bound without an admission Muster recorded (it was created on its node).
pub fn workload_for_pod(pod: &Pod) -> Option<Workload> {
    if finished(pod) {
        return None;
    }
    let meta = &pod.metadata;
    let name = meta.name.as_deref()?;
    let spec = pod.spec.clone().unwrap_or_default();
    let bound_to = spec.node_name.clone();
    let queue = meta.labels.as_ref()?.get(QUEUE_LABEL)?.clone();
    let status = match &bound_to {
        // A pod that preempted others and waits for them keeps its claim on their room.
        None => scheduled_condition(pod)
            .filter(|c| c.status == "False" && c.reason.as_deref() == Some(REASON_PREEMPTING))
            .map(|c| {
                let mut status = WorkloadStatus::default();
                let at = c
                    .last_transition_time
                    .clone()
                    .unwrap_or(K8sTime(jiff::Timestamp::UNIX_EPOCH));
                let message = c.message.as_deref().unwrap_or_default();
                conditions::set(
                    &mut status.conditions,
                    QUOTA_RESERVED,
                    false,
                    REASON_PREEMPTING,
                    message,
                    &at,
                );
                status
            }),
        Some(_) => {
            let admission = recorded_admission(pod)?;
            let at = scheduled_condition(pod)
                .and_then(|c| c.last_transition_time.clone())
                .or_else(|| meta.creation_timestamp.clone())
                .unwrap_or(K8sTime(jiff::Timestamp::UNIX_EPOCH));
            let mut status = WorkloadStatus {
                admission: Some(admission),
                ..WorkloadStatus::default()
            };
            let c = &mut status.conditions;
            conditions::set(c, QUOTA_RESERVED, true, REASON_ADMITTED, "Bound", &at);
            conditions::set(c, ADMITTED, true, REASON_ADMITTED, "Bound", &at);
            if let Some(deleted) = &meta.deletion_timestamp {
                conditions::set(c, EVICTED, true, REASON_PREEMPTED, "Deleted", deleted);
            }
            Some(status)
        }
    };
    let mut template_spec = spec;
    template_spec.node_name = None;
    Some(Workload {
        metadata: ObjectMeta {
            name: Some(workload_name(name)),
            namespace: meta.namespace.clone(),
            uid: meta.uid.clone(),
            resource_version: meta.resource_version.clone(),
            creation_timestamp: meta.creation_timestamp.clone(),
            owner_references: Some(vec![OwnerReference {
                api_version: "v1".into(),
                kind: "Pod".into(),
                name: name.to_string(),
                uid: meta.uid.clone().unwrap_or_default(),
                controller: Some(true),
                block_owner_deletion: None,
            }]),
            ..ObjectMeta::default()
        },
        spec: WorkloadSpec {
            queue_name: queue,
            priority_class_name: template_spec.priority_class_name.clone(),
            maximum_execution_time_seconds: template_spec.active_deadline_seconds,
            pod_sets: vec![PodSet {
                name: "main".into(),
                count: Some(1),
                min_count: None,
                template: PodTemplateSpec {
                    metadata: Some(ObjectMeta {
                        labels: meta.labels.clone(),
                        annotations: meta.annotations.clone(),
                        ..ObjectMeta::default()
                    }),
                    spec: Some(template_spec),
                },
            }],
        },
        status,
    })
}

/// Stands a Workload in for each plain pod of `objects` (queued to `objects.scheduler_name`),
/// and records which pod each stands for in `objects.plain_pods`. Does nothing when Muster
/// does not bind pods.
pub fn stand_in(objects: &mut Objects) {
    let Some(scheduler) = objects.scheduler_name.as_deref() else {
        return;
    };
    let mut added = false;
    let mut plain = BTreeMap::new();
    for p in &objects.pods {
        if !is_plain(p, scheduler) {
            continue;
        }
        let Some(w) = workload_for_pod(p) else {
            if p.spec.as_ref().is_some_and(|s| s.node_name.is_some()) && !finished(p) {
                tracing::debug!(
                    pod = %format!("{}/{}", p.metadata.namespace.as_deref().unwrap_or_default(), p.metadata.name.as_deref().unwrap_or_default()),
                    "plain pod bound without an admission Muster can read: not counted"
                );
            }
            continue;
        };
        let key = crate::snapshot::meta_key(&w.metadata);
        objects.workloads.push(Arc::new(w));
        plain.insert(key, p.clone());
        added = true;
    }
    if added {
        objects.workloads.sort_by(|a, b| {
            (&a.metadata.namespace, &a.metadata.name)
                .cmp(&(&b.metadata.namespace, &b.metadata.name))
        });
    }
    objects.plain_pods = plain;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::{Phase, phase};
    use serde_json::json;

    fn pod(extra: serde_json::Value) -> Pod {
        let mut p = json!({
            "metadata": {"name": "p", "namespace": "ns", "uid": "u1",
                         "creationTimestamp": "2026-11-29T10:00:00Z",
                         "labels": {"muster.dev/queue-name": "team"}},
            "spec": {"schedulerName": "muster", "priorityClassName": "high",
                     "containers": [{"name": "c", "resources": {"requests": {"cpu": "2"}}}]}
        });
        json_patch::merge(&mut p, &extra);
        serde_json::from_value(p).unwrap()
    }

    #[test]
    fn only_a_queued_pod_without_a_controller_scheduled_by_muster_is_plain() {
        assert!(is_plain(&pod(json!({})), "muster"));
        assert!(!is_plain(&pod(json!({})), "other"));
        assert!(!is_plain(
            &pod(json!({"metadata": {"labels": {"muster.dev/queue-name": null}}})),
            "muster"
        ));
        let owned = pod(json!({"metadata": {"ownerReferences": [
            {"apiVersion": "batch/v1", "kind": "Job", "name": "j", "uid": "j1", "controller": true}
        ]}}));
        assert!(!is_plain(&owned, "muster"));
    }

    #[test]
    fn an_unbound_pod_is_a_pending_workload_of_one_pod_with_its_queue_and_priority() {
        let w = workload_for_pod(&pod(json!({}))).unwrap();
        assert_eq!(w.metadata.name.as_deref(), Some("pod-p"));
        assert_eq!(w.spec.queue_name, "team");
        assert_eq!(w.spec.priority_class_name.as_deref(), Some("high"));
        assert_eq!(w.spec.pod_sets.len(), 1);
        assert_eq!(w.spec.pod_sets[0].count, Some(1));
        assert_eq!(phase(&w), Phase::Pending);
        assert_eq!(
            w.metadata.creation_timestamp,
            pod(json!({})).metadata.creation_timestamp
        );
    }

    #[test]
    fn a_pod_that_preempted_others_keeps_its_claim_and_other_reasons_are_not_carried() {
        let waiting = |reason: &str| {
            pod(
                json!({"status": {"conditions": [{"type": "PodScheduled", "status": "False",
                "reason": reason, "message": "waits for 1 victim",
                "lastTransitionTime": "2026-11-29T10:05:00Z"}]}}),
            )
        };
        let w = workload_for_pod(&waiting(REASON_PREEMPTING)).unwrap();
        assert_eq!(phase(&w), Phase::Pending);
        let reserved = conditions::get(&w.status.as_ref().unwrap().conditions, QUOTA_RESERVED)
            .expect("QuotaReserved");
        assert_eq!(
            (reserved.status.as_str(), reserved.reason.as_str()),
            ("False", REASON_PREEMPTING)
        );
        let w = workload_for_pod(&waiting("Pending")).unwrap();
        assert!(w.status.is_none(), "{:?}", w.status);
    }

    #[test]
    fn a_bound_pod_is_admitted_as_its_annotation_records_and_evicting_once_deleted() {
        let admission = json!({"clusterQueue": "cq", "podSetAssignments": [
            {"name": "main", "flavors": {"cpu": "default"}, "count": 1,
             "nodes": [{"name": "n1", "count": 1}]}]});
        let bound = pod(json!({
            "metadata": {"annotations": {ADMISSION_ANNOTATION: admission.to_string()}},
            "spec": {"nodeName": "n1"},
            "status": {"conditions": [{"type": "PodScheduled", "status": "True",
                                        "lastTransitionTime": "2026-11-29T10:05:00Z"}]}
        }));
        let w = workload_for_pod(&bound).unwrap();
        assert_eq!(phase(&w), Phase::Admitted);
        let a = w.status.as_ref().unwrap().admission.as_ref().unwrap();
        assert_eq!(a.cluster_queue, "cq");
        assert_eq!(a.pod_set_assignments[0].nodes[0].name, "n1");
        let reserved = conditions::get(&w.status.as_ref().unwrap().conditions, QUOTA_RESERVED);
        assert_eq!(
            reserved.unwrap().last_transition_time.0.to_string(),
            "2026-11-29T10:05:00Z"
        );
        assert!(
            w.spec.pod_sets[0]
                .template
                .spec
                .as_ref()
                .unwrap()
                .node_name
                .is_none()
        );

        let mut deleted = bound.clone();
        deleted.metadata.deletion_timestamp = deleted.metadata.creation_timestamp.clone();
        assert_eq!(phase(&workload_for_pod(&deleted).unwrap()), Phase::Evicting);

        let mut done = bound.clone();
        done.status.as_mut().unwrap().phase = Some("Succeeded".into());
        assert!(
            workload_for_pod(&done).is_none(),
            "a finished pod holds nothing"
        );

        let mut unrecorded = bound;
        unrecorded.metadata.annotations = None;
        assert!(
            workload_for_pod(&unrecorded).is_none(),
            "a pod created on its node was not admitted by Muster"
        );
    }

    #[test]
    fn plain_pods_stand_in_as_workloads_in_name_order_and_other_pods_do_not() {
        let mut objects = Objects {
            scheduler_name: Some("muster".into()),
            ..Objects::default()
        };
        let mut b = pod(json!({"metadata": {"name": "b", "uid": "u2"}}));
        b.metadata.name = Some("b".into());
        let owned = pod(json!({"metadata": {"name": "c", "ownerReferences": [
            {"apiVersion": "batch/v1", "kind": "Job", "name": "j", "uid": "j1", "controller": true}
        ]}}));
        objects.pods = vec![Arc::new(b), Arc::new(pod(json!({}))), Arc::new(owned)];
        stand_in(&mut objects);
        let names: Vec<_> = objects
            .workloads
            .iter()
            .map(|w| w.metadata.name.clone().unwrap())
            .collect();
        assert_eq!(names, ["pod-b", "pod-p"]);
        assert_eq!(
            objects.plain_pods.keys().cloned().collect::<Vec<_>>(),
            [
                ("ns".to_string(), "pod-b".to_string()),
                ("ns".to_string(), "pod-p".to_string())
            ]
        );

        let mut admission_only = Objects {
            pods: objects.pods.clone(),
            ..Objects::default()
        };
        stand_in(&mut admission_only);
        assert!(admission_only.workloads.is_empty());
    }
}
