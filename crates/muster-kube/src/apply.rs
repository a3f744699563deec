//! Carrying out a [`Plan`] against the API server.
//!
//! Only the leader writes: leadership is checked before every write, and a replica that
//! lost it stops mid-plan. Writes are conditional on the resourceVersion the plan was made
//! from; a conflict means the object changed, and the next cycle plans again from the new
//! version. A failed write is logged and counted, never retried blindly.

use std::collections::BTreeSet;

use k8s_openapi::api::batch::v1::Job;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::{Client, Resource};
use muster_api::objects::{ClusterQueue, LocalQueue, Workload};
use serde_json::{Value, json};

use crate::leader::Leadership;
use crate::metrics::Metrics;
use crate::names::CONTROLLER_NAME;
use crate::plan::Plan;

/// An object written, and the resourceVersion it had before (`None`: created), so that the
/// next cycle can wait until its cache has seen the write.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Written {
    /// `Workload`, `Job`, `ClusterQueue` or `LocalQueue`.
    pub kind: &'static str,
    /// Namespace (empty for cluster-scoped objects).
    pub namespace: String,
    /// Name.
    pub name: String,
    /// Its resourceVersion before the write.
    pub before: Option<String>,
}

/// Writes plans to the API server.
pub struct Applier {
    client: Client,
    recorder: Recorder,
    leadership: Leadership,
}

fn is_conflict(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.is_conflict() || s.is_not_found())
}

impl Applier {
    /// An applier that records Events as `instance` of the Muster controller.
    pub fn new(client: Client, leadership: Leadership, instance: &str) -> Applier {
        let reporter = Reporter {
            controller: CONTROLLER_NAME.into(),
            instance: Some(instance.into()),
        };
        Applier {
            recorder: Recorder::new(client.clone(), reporter),
            client,
            leadership,
        }
    }

    fn params() -> PatchParams {
        PatchParams {
            field_manager: Some(CONTROLLER_NAME.into()),
            ..PatchParams::default()
        }
    }

    fn failed(&self, metrics: &Metrics, what: &str, e: &kube::Error) {
        if is_conflict(e) {
            tracing::debug!(%what, error = %e, "object changed since the cycle read it; replanning");
        } else {
            metrics.write_errors.inc();
            tracing::warn!(%what, error = %e, "write failed");
        }
    }

    /// Writes the plan, in order; returns what was written.
    pub async fn apply(&self, plan: &Plan, metrics: &Metrics) -> Vec<Written> {
        let mut written = Vec::new();
        let pp = PostParams {
            field_manager: Some(CONTROLLER_NAME.into()),
            ..PostParams::default()
        };
        for w in &plan.creates {
            if !self.leadership.is_leader() {
                return written;
            }
            let ns = w.metadata.namespace.clone().unwrap_or_default();
            let name = w.metadata.name.clone().unwrap_or_default();
            let api: Api<Workload> = Api::namespaced(self.client.clone(), &ns);
            match api.create(&pp, w).await {
                Ok(_) => {
                    tracing::info!(workload = %format!("{ns}/{name}"), "created Workload for Job");
                    written.push(Written {
                        kind: "Workload",
                        namespace: ns,
                        name,
                        before: None,
                    });
                }
                Err(kube::Error::Api(s)) if s.is_already_exists() => {}
                Err(e) => self.failed(metrics, &format!("create Workload {ns}/{name}"), &e),
            }
        }

        let mut failed: BTreeSet<(String, String)> = BTreeSet::new();
        for w in &plan.workloads {
            let ns = w.workload.metadata.namespace.clone().unwrap_or_default();
            let name = w.workload.metadata.name.clone().unwrap_or_default();
            if !self.leadership.is_leader() {
                return written;
            }
            let mut status = serde_json::to_value(&w.status).unwrap_or(Value::Null);
            if w.status.admission.is_none()
                && let Some(obj) = status.as_object_mut()
            {
                // A merge patch keeps what it does not mention: say it is gone.
                obj.insert("admission".into(), Value::Null);
            }
            let patch = json!({
                "metadata": {"resourceVersion": w.workload.metadata.resource_version},
                "status": status,
            });
            tracing::debug!(workload = %format!("{ns}/{name}"), "writing status");
            let api: Api<Workload> = Api::namespaced(self.client.clone(), &ns);
            match api
                .patch_status(&name, &Self::params(), &Patch::Merge(&patch))
                .await
            {
                Ok(_) => {
                    written.push(Written {
                        kind: "Workload",
                        namespace: ns.clone(),
                        name: name.clone(),
                        before: w.workload.metadata.resource_version.clone(),
                    });
                    for e in &w.events {
                        self.event(&w.workload, e).await;
                    }
                }
                Err(e) => {
                    self.failed(metrics, &format!("status of Workload {ns}/{name}"), &e);
                    failed.insert((ns, name));
                }
            }
        }

        for j in &plan.jobs {
            if j.after.as_ref().is_some_and(|k| failed.contains(k)) {
                continue;
            }
            if !self.leadership.is_leader() {
                return written;
            }
            let ns = j.job.metadata.namespace.clone().unwrap_or_default();
            let name = j.job.metadata.name.clone().unwrap_or_default();
            let api: Api<Job> = Api::namespaced(self.client.clone(), &ns);
            match api
                .patch(&name, &Self::params(), &Patch::Merge(&j.patch))
                .await
            {
                Ok(_) => {
                    tracing::info!(job = %format!("{ns}/{name}"), action = j.action, "patched Job");
                    written.push(Written {
                        kind: "Job",
                        namespace: ns,
                        name,
                        before: j.job.metadata.resource_version.clone(),
                    });
                }
                Err(e) => self.failed(metrics, &format!("{} Job {ns}/{name}", j.action), &e),
            }
        }

        for (q, status) in &plan.cluster_queues {
            if !self.leadership.is_leader() {
                return written;
            }
            let name = q.metadata.name.clone().unwrap_or_default();
            let api: Api<ClusterQueue> = Api::all(self.client.clone());
            let patch = json!({"status": status});
            tracing::debug!(cluster_queue = %name, "writing status");
            match api
                .patch_status(&name, &Self::params(), &Patch::Merge(&patch))
                .await
            {
                Ok(_) => written.push(Written {
                    kind: "ClusterQueue",
                    namespace: String::new(),
                    name,
                    before: q.metadata.resource_version.clone(),
                }),
                Err(e) => self.failed(metrics, &format!("status of ClusterQueue {name}"), &e),
            }
        }
        for (q, status) in &plan.local_queues {
            if !self.leadership.is_leader() {
                return written;
            }
            let ns = q.metadata.namespace.clone().unwrap_or_default();
            let name = q.metadata.name.clone().unwrap_or_default();
            let api: Api<LocalQueue> = Api::namespaced(self.client.clone(), &ns);
            let patch = json!({"status": status});
            tracing::debug!(local_queue = %format!("{ns}/{name}"), "writing status");
            match api
                .patch_status(&name, &Self::params(), &Patch::Merge(&patch))
                .await
            {
                Ok(_) => written.push(Written {
                    kind: "LocalQueue",
                    namespace: ns,
                    name,
                    before: q.metadata.resource_version.clone(),
                }),
                Err(e) => self.failed(metrics, &format!("status of LocalQueue {ns}/{name}"), &e),
            }
        }
        written
    }

    async fn event(&self, w: &Workload, e: &crate::plan::EventSpec) {
        let reference = w.object_ref(&());
        let event = Event {
            type_: if e.warning {
                EventType::Warning
            } else {
                EventType::Normal
            },
            reason: e.reason.clone(),
            note: Some(e.note.chars().take(1000).collect()),
            action: e.reason.clone(),
            secondary: None,
        };
        if let Err(err) = self.recorder.publish(&event, &reference).await {
            tracing::debug!(error = %err, "could not record an Event");
        }
    }
}
