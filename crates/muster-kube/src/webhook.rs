//! The mutating admission webhooks.
//!
//! - Jobs: a Job created with the queue label is made suspended, as Kueue's webhook does, so
//!   that it waits for admission and users need not write `suspend: true` themselves; and,
//!   when Muster places the pods it admits, its pods are given Muster as their scheduler
//!   (unless the Job names another scheduler).
//! - Pods: when Muster places the pods it admits, a plain pod (the queue label, no
//!   controller) is given Muster as its scheduler, which keeps it off every node until
//!   Muster admits and binds it (see [`crate::plain_pod`]).

use hyper::StatusCode;
use hyper::body::Bytes;
use kube::core::DynamicObject;
use kube::core::admission::{AdmissionRequest, AdmissionResponse, AdmissionReview, Operation};
use serde_json::json;

use crate::http::{Body, text};
use crate::plain_pod::{has_controller, is_queued};

/// The path the Job webhook is served at (and registered under in `deploy/`).
pub const JOB_PATH: &str = "/mutate-batch-v1-job";

/// The path the Pod webhook is served at (and registered under in `deploy/`).
pub const POD_PATH: &str = "/mutate-v1-pod";

/// The answer to one AdmissionReview of a Pod: for a plain pod created with the queue label,
/// not bound and naming no other scheduler, when `scheduler` is given, a patch that makes
/// `scheduler` its scheduler; for anything else, allowed unchanged.
pub fn review_pod(
    req: &AdmissionRequest<DynamicObject>,
    scheduler: Option<&str>,
) -> AdmissionResponse {
    let response = AdmissionResponse::from(req);
    let (Some(name), Some(obj), Operation::Create) = (scheduler, &req.object, &req.operation)
    else {
        return response;
    };
    let bound = obj
        .data
        .pointer("/spec/nodeName")
        .and_then(|v| v.as_str())
        .is_some_and(|n| !n.is_empty());
    if !is_queued(&obj.metadata)
        || has_controller(&obj.metadata)
        || bound
        || !takes_scheduler(obj, "/spec")
        || !obj.data.pointer("/spec").is_some_and(|v| v.is_object())
    {
        return response;
    }
    patched(
        response,
        vec![json!({"op": "add", "path": "/spec/schedulerName", "value": name})],
    )
}

/// Whether the pod spec at `pod_spec` (a JSON pointer: a Job's template, or a pod's own) is
/// Muster's to take when Muster places the pods: one that names no scheduler, or
/// kube-scheduler's default; another scheduler named on purpose (Volcano, a custom one) is
/// left alone.
fn takes_scheduler(obj: &DynamicObject, pod_spec: &str) -> bool {
    let named = obj
        .data
        .pointer(&format!("{pod_spec}/schedulerName"))
        .and_then(|v| v.as_str())
        .unwrap_or_default();
    named.is_empty() || named == DEFAULT_SCHEDULER
}

/// `response` with the JSON patch `ops`.
fn patched(response: AdmissionResponse, ops: Vec<serde_json::Value>) -> AdmissionResponse {
    let patch: json_patch::Patch = match serde_json::from_value(serde_json::Value::Array(ops)) {
        Ok(p) => p,
        Err(e) => return AdmissionResponse::invalid(e.to_string()),
    };
    match response.with_patch(patch) {
        Ok(r) => r,
        Err(e) => AdmissionResponse::invalid(e.to_string()),
    }
}

/// kube-scheduler's name.
pub const DEFAULT_SCHEDULER: &str = "default-scheduler";

/// The answer to one AdmissionReview: for a Job being created with the queue label, a patch
/// that suspends it (when it is not) and, when `scheduler` is given (Muster binds the pods
/// it admits), that makes `scheduler` its pods' scheduler; for anything else, allowed
/// unchanged.
pub fn review(req: &AdmissionRequest<DynamicObject>, scheduler: Option<&str>) -> AdmissionResponse {
    let response = AdmissionResponse::from(req);
    if req.operation != Operation::Create {
        return response;
    }
    let Some(obj) = &req.object else {
        return response;
    };
    if !is_queued(&obj.metadata) {
        return response;
    }
    let mut ops = Vec::new();
    if obj.data.pointer("/spec/suspend").and_then(|v| v.as_bool()) != Some(true) {
        ops.push(json!({"op": "add", "path": "/spec/suspend", "value": true}));
    }
    if let Some(name) = scheduler
        && takes_scheduler(obj, "/spec/template/spec")
        && obj
            .data
            .pointer("/spec/template/spec")
            .is_some_and(|v| v.is_object())
    {
        ops.push(json!({"op": "add", "path": "/spec/template/spec/schedulerName", "value": name}));
    }
    if ops.is_empty() {
        return response;
    }
    patched(response, ops)
}

/// Handles an HTTP request to the webhook server (`scheduler`: see [`review`]).
pub async fn handle(
    scheduler: Option<String>,
    method: hyper::Method,
    path: String,
    body: Bytes,
) -> hyper::Response<Body> {
    let review_of: fn(&AdmissionRequest<DynamicObject>, Option<&str>) -> AdmissionResponse =
        match (method, path.as_str()) {
            (hyper::Method::POST, JOB_PATH) => review,
            (hyper::Method::POST, POD_PATH) => review_pod,
            _ => return text(StatusCode::NOT_FOUND, "not found"),
        };
    let review: AdmissionReview<DynamicObject> = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            return text(
                StatusCode::BAD_REQUEST,
                format!("not an AdmissionReview: {e}"),
            );
        }
    };
    let request: Result<AdmissionRequest<DynamicObject>, _> = review.try_into();
    let response = match request {
        Ok(req) => review_of(&req, scheduler.as_deref()),
        Err(e) => AdmissionResponse::invalid(e.to_string()),
    };
    match serde_json::to_vec(&response.into_review()) {
        Ok(json) => {
            let mut r = text(StatusCode::OK, json);
            r.headers_mut().insert(
                hyper::header::CONTENT_TYPE,
                hyper::header::HeaderValue::from_static("application/json"),
            );
            r
        }
        Err(e) => text(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(job: serde_json::Value, operation: &str) -> AdmissionRequest<DynamicObject> {
        let review: AdmissionReview<DynamicObject> = serde_json::from_value(json!({
            "apiVersion": "admission.k8s.io/v1",
            "kind": "AdmissionReview",
            "request": {
                "uid": "705ab4f5-6393-11e8-b7cc-42010a800002",
                "kind": {"group": "batch", "version": "v1", "kind": "Job"},
                "resource": {"group": "batch", "version": "v1", "resource": "jobs"},
                "requestKind": {"group": "batch", "version": "v1", "kind": "Job"},
                "requestResource": {"group": "batch", "version": "v1", "resource": "jobs"},
                "name": "j", "namespace": "ns", "operation": operation,
                "userInfo": {"username": "u"},
                "object": job,
                "dryRun": false
            }
        }))
        .unwrap();
        review.try_into().unwrap()
    }

    fn job(labels: serde_json::Value, suspend: Option<bool>) -> serde_json::Value {
        let mut spec = json!({"template": {"spec": {"containers": []}}});
        if let Some(s) = suspend {
            spec["suspend"] = json!(s);
        }
        json!({"apiVersion": "batch/v1", "kind": "Job",
               "metadata": {"name": "j", "namespace": "ns", "labels": labels}, "spec": spec})
    }

    #[test]
    fn a_queued_job_is_created_suspended() {
        let r = review(
            &request(job(json!({"muster.dev/queue-name": "q"}), None), "CREATE"),
            None,
        );
        assert!(r.allowed);
        let patch = serde_json::to_value(
            r.patch
                .as_ref()
                .map(|p| String::from_utf8_lossy(p).into_owned()),
        )
        .unwrap();
        assert!(patch.as_str().unwrap().contains("/spec/suspend"), "{patch}");
        assert!(
            !patch.as_str().unwrap().contains("schedulerName"),
            "{patch}"
        );
    }

    fn patch_of(r: &AdmissionResponse) -> Vec<serde_json::Value> {
        r.patch
            .as_ref()
            .map(|p| serde_json::from_slice(p).unwrap())
            .unwrap_or_default()
    }

    #[test]
    fn when_muster_binds_a_queued_jobs_pods_get_muster_as_their_scheduler() {
        let queued = json!({"muster.dev/queue-name": "q"});
        let r = review(
            &request(job(queued.clone(), None), "CREATE"),
            Some("muster"),
        );
        assert_eq!(
            patch_of(&r),
            vec![
                json!({"op": "add", "path": "/spec/suspend", "value": true}),
                json!({"op": "add", "path": "/spec/template/spec/schedulerName", "value": "muster"}),
            ]
        );
        // Already suspended: only the scheduler.
        let r = review(
            &request(job(queued.clone(), Some(true)), "CREATE"),
            Some("muster"),
        );
        assert_eq!(
            patch_of(&r),
            vec![
                json!({"op": "add", "path": "/spec/template/spec/schedulerName", "value": "muster"})
            ]
        );
        // kube-scheduler's name is taken over; another scheduler's is kept.
        let mut j = job(queued.clone(), Some(true));
        j["spec"]["template"]["spec"]["schedulerName"] = json!("default-scheduler");
        let r = review(&request(j.clone(), "CREATE"), Some("muster"));
        assert_eq!(patch_of(&r).len(), 1);
        j["spec"]["template"]["spec"]["schedulerName"] = json!("volcano");
        let r = review(&request(j, "CREATE"), Some("muster"));
        assert!(r.patch.is_none());
        // A Job without the queue label is never touched.
        let r = review(&request(job(json!({}), None), "CREATE"), Some("muster"));
        assert!(r.patch.is_none());
    }

    #[test]
    fn other_jobs_and_updates_pass_unchanged() {
        for (labels, suspend, op) in [
            (json!({}), None, "CREATE"),
            (json!({"muster.dev/queue-name": "q"}), Some(true), "CREATE"),
            (json!({"muster.dev/queue-name": "q"}), Some(false), "UPDATE"),
        ] {
            let r = review(&request(job(labels, suspend), op), None);
            assert!(r.allowed);
            assert!(r.patch.is_none());
        }
    }

    fn pod(metadata: serde_json::Value, spec: serde_json::Value) -> serde_json::Value {
        let mut m = json!({"name": "p", "namespace": "ns"});
        json_patch::merge(&mut m, &metadata);
        let mut sp = json!({"containers": []});
        json_patch::merge(&mut sp, &spec);
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": m, "spec": sp})
    }

    #[test]
    fn a_plain_queued_pod_gets_muster_as_its_scheduler_when_muster_binds() {
        let queued = json!({"labels": {"muster.dev/queue-name": "q"}});
        let r = review_pod(
            &request(pod(queued.clone(), json!({})), "CREATE"),
            Some("muster"),
        );
        assert!(r.allowed);
        assert_eq!(
            patch_of(&r),
            vec![json!({"op": "add", "path": "/spec/schedulerName", "value": "muster"})]
        );
        let r = review_pod(
            &request(
                pod(
                    queued.clone(),
                    json!({"schedulerName": "default-scheduler"}),
                ),
                "CREATE",
            ),
            Some("muster"),
        );
        assert_eq!(patch_of(&r).len(), 1, "kube-scheduler's name is taken over");
    }

    #[test]
    fn other_pods_pass_unchanged() {
        let queued = json!({"labels": {"muster.dev/queue-name": "q"}});
        let owned = json!({"labels": {"muster.dev/queue-name": "q"}, "ownerReferences": [
            {"apiVersion": "batch/v1", "kind": "Job", "name": "j", "uid": "u", "controller": true}]});
        for (metadata, spec, op, scheduler) in [
            // Muster only admits: a plain pod cannot be held, kube-scheduler places it.
            (queued.clone(), json!({}), "CREATE", None),
            (json!({}), json!({}), "CREATE", Some("muster")),
            (owned, json!({}), "CREATE", Some("muster")),
            (
                queued.clone(),
                json!({"schedulerName": "volcano"}),
                "CREATE",
                Some("muster"),
            ),
            (
                queued.clone(),
                json!({"nodeName": "n1"}),
                "CREATE",
                Some("muster"),
            ),
            (queued, json!({}), "UPDATE", Some("muster")),
        ] {
            let r = review_pod(&request(pod(metadata, spec), op), scheduler);
            assert!(r.allowed);
            assert!(r.patch.is_none());
        }
    }
}
