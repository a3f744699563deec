//! Jobs as Muster runs them: the Workload that mirrors a queued Job, and the changes that
//! start, stop and restore it (what Kueue's job integration does for `batch/v1` Jobs).
//!
//! A Job labelled `muster.dev/queue-name` is created suspended (the webhook sees to it). The
//! controller mirrors it into a Workload named `job-<name>`, owned by the Job, whose pod set
//! holds the Job's original pod template. Admitting it adds the assigned flavors' node labels
//! and tolerations to the Job's template, pins its pods to the nodes the gang was placed on
//! (a required node affinity on `metadata.name`, so that kube-scheduler puts the pods where
//! the admission found room for all of them), and unsuspends it; preempting it suspends it
//! and, once the Job controller has stopped its pods, puts the original template back.

use std::collections::BTreeMap;

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{
    Affinity, NodeAffinity, NodeSelector, NodeSelectorRequirement, NodeSelectorTerm,
    PodTemplateSpec, Toleration,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use muster_api::objects::{PodSet, Workload, WorkloadSpec};
use muster_api::scenario::{TOPOLOGY_PREFERRED, TOPOLOGY_REQUIRED};
use serde_json::{Value, json};

use crate::names::{JOB_NAME_LABEL, JOB_UID_LABEL, QUEUE_LABEL};

/// The name of the Workload that mirrors the Job `job_name`.
pub fn workload_name(job_name: &str) -> String {
    format!("job-{job_name}")
}

/// The LocalQueue a Job is submitted to, if it carries the queue label.
pub fn queue_name(job: &Job) -> Option<&str> {
    job.metadata
        .labels
        .as_ref()?
        .get(QUEUE_LABEL)
        .map(String::as_str)
        .filter(|q| !q.is_empty())
}

/// Pods the Job runs at once: its parallelism, or fewer when it needs fewer completions (as
/// Kueue counts them).
pub fn pod_count(job: &Job) -> i64 {
    let spec = job.spec.as_ref();
    let parallelism = spec.and_then(|s| s.parallelism).unwrap_or(1);
    let count = match spec.and_then(|s| s.completions) {
        Some(c) if c < parallelism => c,
        _ => parallelism,
    };
    i64::from(count)
}

/// The Workload that mirrors a queued Job: one pod set, `main`, with the Job's pod count and
/// original template; owned by the Job, so that deleting the Job deletes it.
pub fn workload_for_job(job: &Job) -> Option<Workload> {
    let queue = queue_name(job)?;
    let name = job.metadata.name.clone()?;
    let uid = job.metadata.uid.clone()?;
    let spec = job.spec.clone().unwrap_or_default();
    let template = spec.template;
    let priority_class_name = template
        .spec
        .as_ref()
        .and_then(|s| s.priority_class_name.clone());
    // The Job's network-topology request travels with its Workload.
    let annotations: BTreeMap<String, String> = job
        .metadata
        .annotations
        .iter()
        .flatten()
        .filter(|(k, _)| [TOPOLOGY_REQUIRED, TOPOLOGY_PREFERRED].contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    Some(Workload {
        metadata: ObjectMeta {
            name: Some(workload_name(&name)),
            namespace: job.metadata.namespace.clone(),
            labels: Some(BTreeMap::from([
                (JOB_NAME_LABEL.to_string(), name.clone()),
                (JOB_UID_LABEL.to_string(), uid.clone()),
            ])),
            owner_references: Some(vec![OwnerReference {
                api_version: "batch/v1".into(),
                kind: "Job".into(),
                name,
                uid,
                controller: Some(true),
                block_owner_deletion: Some(true),
            }]),
            annotations: (!annotations.is_empty()).then_some(annotations),
            ..ObjectMeta::default()
        },
        spec: WorkloadSpec {
            queue_name: queue.to_string(),
            priority_class_name,
            maximum_execution_time_seconds: spec.active_deadline_seconds,
            pod_sets: vec![PodSet {
                name: "main".into(),
                count: Some(pod_count(job)),
                min_count: None,
                template,
            }],
        },
        status: None,
    })
}

/// The uid of the Job a Workload mirrors, if it mirrors one.
pub fn owner_job_uid(workload: &Workload) -> Option<&str> {
    owner_job(workload).map(|(uid, _)| uid)
}

/// The uid and name of the Job a Workload mirrors (in the Workload's namespace), if any.
pub fn owner_job(workload: &Workload) -> Option<(&str, &str)> {
    workload
        .metadata
        .owner_references
        .as_ref()?
        .iter()
        .find(|o| o.kind == "Job" && o.api_version == "batch/v1")
        .map(|o| (o.uid.as_str(), o.name.as_str()))
}

/// How a Job ended: `Some((succeeded, message))` once it has a `Complete` or `Failed`
/// condition that is true.
pub fn finished(job: &Job) -> Option<(bool, String)> {
    let conditions = job.status.as_ref()?.conditions.as_ref()?;
    conditions
        .iter()
        .filter(|c| c.status == "True")
        .find_map(|c| match c.type_.as_str() {
            "Complete" => Some((true, c.message.clone().unwrap_or_default())),
            "Failed" => Some((false, c.message.clone().unwrap_or_default())),
            _ => None,
        })
}

/// Whether the Job is suspended.
pub fn is_suspended(job: &Job) -> bool {
    job.spec.as_ref().and_then(|s| s.suspend) == Some(true)
}

/// Whether the Job still has pods running or terminating.
pub fn has_pods(job: &Job) -> bool {
    let Some(status) = &job.status else {
        return false;
    };
    status.active.unwrap_or(0) > 0 || status.terminating.unwrap_or(0) > 0
}

/// The uid of the Job that controls a pod (the Job controller's pods), if a Job does.
pub fn controlling_job_uid(pod: &k8s_openapi::api::core::v1::Pod) -> Option<&str> {
    pod.metadata
        .owner_references
        .iter()
        .flatten()
        .find(|o| o.controller == Some(true) && o.kind == "Job")
        .map(|o| o.uid.as_str())
}

/// Whether the Job controller has started it and not yet reset it after a suspension (while
/// it has, its template's scheduling fields cannot change).
pub fn has_started(job: &Job) -> bool {
    job.status
        .as_ref()
        .and_then(|s| s.start_time.as_ref())
        .is_some()
}

/// The original template with an admission's node labels and tolerations added, and its
/// pods pinned to `nodes` (when not empty).
pub fn admitted_template(
    original: &PodTemplateSpec,
    node_labels: &BTreeMap<String, String>,
    tolerations: &[Toleration],
    nodes: &[String],
) -> PodTemplateSpec {
    let mut t = original.clone();
    let spec = t.spec.get_or_insert_with(Default::default);
    if !nodes.is_empty() {
        let affinity = spec.affinity.get_or_insert_with(Affinity::default);
        let node_affinity = affinity
            .node_affinity
            .get_or_insert_with(NodeAffinity::default);
        let required = node_affinity
            .required_during_scheduling_ignored_during_execution
            .get_or_insert_with(NodeSelector::default);
        // Terms are ORed and requirements within a term ANDed; a field selector on
        // metadata.name takes one value: one term per (existing term, node).
        let existing = std::mem::take(&mut required.node_selector_terms);
        let existing = if existing.is_empty() {
            vec![NodeSelectorTerm::default()]
        } else {
            existing
        };
        for term in &existing {
            for node in nodes {
                let mut t = term.clone();
                t.match_fields
                    .get_or_insert_with(Vec::new)
                    .push(NodeSelectorRequirement {
                        key: "metadata.name".into(),
                        operator: "In".into(),
                        values: Some(vec![node.clone()]),
                    });
                required.node_selector_terms.push(t);
            }
        }
    }
    if !node_labels.is_empty() {
        let selector = spec.node_selector.get_or_insert_with(BTreeMap::new);
        for (k, v) in node_labels {
            selector.insert(k.clone(), v.clone());
        }
    }
    if !tolerations.is_empty() {
        let list = spec.tolerations.get_or_insert_with(Vec::new);
        for tol in tolerations {
            if !list.contains(tol) {
                list.push(tol.clone());
            }
        }
    }
    t
}

fn node_selector(t: &PodTemplateSpec) -> BTreeMap<String, String> {
    t.spec
        .as_ref()
        .and_then(|s| s.node_selector.clone())
        .unwrap_or_default()
}

fn tolerations(t: &PodTemplateSpec) -> Vec<Toleration> {
    t.spec
        .as_ref()
        .and_then(|s| s.tolerations.clone())
        .unwrap_or_default()
}

fn affinity(t: &PodTemplateSpec) -> Option<Affinity> {
    t.spec.as_ref().and_then(|s| s.affinity.clone())
}

/// Whether the Job's template has the scheduling fields (node selector, tolerations, node
/// affinity) of `wanted`.
pub fn scheduling_matches(job: &Job, wanted: &PodTemplateSpec) -> bool {
    let none = PodTemplateSpec::default();
    let current = job.spec.as_ref().map_or(&none, |s| &s.template);
    node_selector(current) == node_selector(wanted)
        && tolerations(current) == tolerations(wanted)
        && affinity(current) == affinity(wanted)
}

/// A JSON merge patch that gives the Job's template the scheduling fields of `wanted` (keys
/// of the node selector that `wanted` lacks are removed) and sets `suspend`.
pub fn patch(job: &Job, wanted: &PodTemplateSpec, suspend: bool) -> Value {
    let current = job
        .spec
        .as_ref()
        .map(|s| node_selector(&s.template))
        .unwrap_or_default();
    let want = node_selector(wanted);
    let mut selector = serde_json::Map::new();
    for k in current.keys() {
        if !want.contains_key(k) {
            selector.insert(k.clone(), Value::Null);
        }
    }
    for (k, v) in &want {
        selector.insert(k.clone(), Value::String(v.clone()));
    }
    let tols = tolerations(wanted);
    let tolerations = if tols.is_empty() {
        Value::Null
    } else {
        serde_json::to_value(&tols).unwrap_or(Value::Null)
    };
    // A merge patch merges maps: what the wanted affinity lacks must be said to be gone.
    let affinity = match affinity(wanted) {
        None => Value::Null,
        Some(a) => {
            let mut v = serde_json::to_value(&a).unwrap_or(Value::Null);
            if let Some(obj) = v.as_object_mut() {
                for k in ["nodeAffinity", "podAffinity", "podAntiAffinity"] {
                    obj.entry(k).or_insert(Value::Null);
                }
            }
            v
        }
    };
    json!({
        "spec": {
            "suspend": suspend,
            "template": {"spec": {
                "nodeSelector": selector,
                "tolerations": tolerations,
                "affinity": affinity,
            }}
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(yaml_json: Value) -> Job {
        serde_json::from_value(yaml_json).unwrap()
    }

    fn queued_job() -> Job {
        job(json!({
            "metadata": {"name": "train", "namespace": "ml", "uid": "u-1",
                         "labels": {"muster.dev/queue-name": "team"},
                         "annotations": {"muster.dev/topology-required": "rack", "other": "x"}},
            "spec": {"parallelism": 4, "completions": 3, "suspend": true, "activeDeadlineSeconds": 600,
                     "template": {"spec": {"priorityClassName": "high",
                                           "nodeSelector": {"zone": "a"},
                                           "containers": [{"name": "c", "image": "x"}]}}}
        }))
    }

    #[test]
    fn a_queued_job_is_mirrored_by_a_workload_it_owns() {
        let w = workload_for_job(&queued_job()).unwrap();
        assert_eq!(w.metadata.name.as_deref(), Some("job-train"));
        assert_eq!(w.metadata.namespace.as_deref(), Some("ml"));
        assert_eq!(w.spec.queue_name, "team");
        assert_eq!(w.spec.priority_class_name.as_deref(), Some("high"));
        assert_eq!(w.spec.maximum_execution_time_seconds, Some(600));
        assert_eq!(
            w.spec.pod_sets[0].count,
            Some(3),
            "completions below parallelism"
        );
        assert_eq!(owner_job_uid(&w), Some("u-1"));
        assert_eq!(
            w.metadata.annotations,
            Some(BTreeMap::from([(
                "muster.dev/topology-required".to_string(),
                "rack".to_string()
            )])),
            "the topology request goes along, other annotations do not"
        );
        let mut unlabelled = queued_job();
        unlabelled.metadata.labels = None;
        assert!(workload_for_job(&unlabelled).is_none());
    }

    #[test]
    fn admission_adds_flavor_scheduling_and_restoring_removes_it() {
        let j = queued_job();
        let original = j.spec.as_ref().unwrap().template.clone();
        let labels = BTreeMap::from([("pool".to_string(), "gpu".to_string())]);
        let tol: Toleration = serde_json::from_value(
            json!({"key": "gpu", "operator": "Exists", "effect": "NoSchedule"}),
        )
        .unwrap();
        let nodes = vec!["n1".to_string(), "n2".to_string()];
        let admitted = admitted_template(&original, &labels, std::slice::from_ref(&tol), &nodes);
        let p = patch(&j, &admitted, false);
        assert_eq!(
            p,
            json!({"spec": {"suspend": false, "template": {"spec": {
                "nodeSelector": {"zone": "a", "pool": "gpu"},
                "tolerations": [{"key": "gpu", "operator": "Exists", "effect": "NoSchedule"}],
                "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [
                        {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n1"]}]},
                        {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n2"]}]}]}},
                    "podAffinity": null, "podAntiAffinity": null}}}}})
        );
        // The Job as it runs after that patch; restoring removes what admission added.
        let mut running = j.clone();
        running.spec.as_mut().unwrap().template = admitted;
        assert!(!scheduling_matches(&running, &original));
        let back = patch(&running, &original, true);
        assert_eq!(
            back,
            json!({"spec": {"suspend": true, "template": {"spec": {
                "nodeSelector": {"zone": "a", "pool": null}, "tolerations": null,
                "affinity": null}}}})
        );
    }

    #[test]
    fn a_job_finishes_with_a_true_complete_or_failed_condition() {
        let mut j = queued_job();
        assert_eq!(finished(&j), None);
        j.status = Some(
            serde_json::from_value(json!({"conditions": [
                {"type": "Failed", "status": "True", "message": "BackoffLimitExceeded"}]}))
            .unwrap(),
        );
        assert_eq!(finished(&j), Some((false, "BackoffLimitExceeded".into())));
    }
}
