//! The mutating admission webhook for Jobs: a Job created with the queue label is made
//! suspended, as Kueue's webhook does, so that it waits for admission and users need not
//! write `suspend: true` themselves.

use hyper::StatusCode;
use hyper::body::Bytes;
use kube::core::DynamicObject;
use kube::core::admission::{AdmissionRequest, AdmissionResponse, AdmissionReview, Operation};
use serde_json::json;

use crate::http::{Body, text};
use crate::names::QUEUE_LABEL;

/// The path the webhook is served at (and registered under in `deploy/`).
pub const JOB_PATH: &str = "/mutate-batch-v1-job";

/// The answer to one AdmissionReview: for a Job being created with the queue label and not
/// suspended, a patch that suspends it; for anything else, allowed unchanged.
pub fn review(req: &AdmissionRequest<DynamicObject>) -> AdmissionResponse {
    let response = AdmissionResponse::from(req);
    if req.operation != Operation::Create {
        return response;
    }
    let Some(obj) = &req.object else {
        return response;
    };
    let queued = obj
        .metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(QUEUE_LABEL))
        .is_some_and(|q| !q.is_empty());
    let suspended = obj.data.pointer("/spec/suspend").and_then(|v| v.as_bool()) == Some(true);
    if !queued || suspended {
        return response;
    }
    let patch: json_patch::Patch = match serde_json::from_value(
        json!([{"op": "add", "path": "/spec/suspend", "value": true}]),
    ) {
        Ok(p) => p,
        Err(e) => return AdmissionResponse::invalid(e.to_string()),
    };
    match response.with_patch(patch) {
        Ok(r) => r,
        Err(e) => AdmissionResponse::invalid(e.to_string()),
    }
}

/// Handles an HTTP request to the webhook server.
pub async fn handle(method: hyper::Method, path: String, body: Bytes) -> hyper::Response<Body> {
    if method != hyper::Method::POST || path != JOB_PATH {
        return text(StatusCode::NOT_FOUND, "not found");
    }
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
        Ok(req) => self::review(&req),
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
        let r = review(&request(
            job(json!({"muster.dev/queue-name": "q"}), None),
            "CREATE",
        ));
        assert!(r.allowed);
        let patch = serde_json::to_value(
            r.patch
                .as_ref()
                .map(|p| String::from_utf8_lossy(p).into_owned()),
        )
        .unwrap();
        assert!(patch.as_str().unwrap().contains("/spec/suspend"), "{patch}");
    }

    #[test]
    fn other_jobs_and_updates_pass_unchanged() {
        for (labels, suspend, op) in [
            (json!({}), None, "CREATE"),
            (json!({"muster.dev/queue-name": "q"}), Some(true), "CREATE"),
            (json!({"muster.dev/queue-name": "q"}), Some(false), "UPDATE"),
        ] {
            let r = review(&request(job(labels, suspend), op));
            assert!(r.allowed);
            assert!(r.patch.is_none());
        }
    }
}
