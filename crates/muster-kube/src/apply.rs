//! Carrying out a [`Plan`] against the API server.
//!
//! Only the leader writes: leadership is checked before every write, and a replica that
//! lost it stops mid-plan. Writes of one kind go side by side (a burst of a thousand
//! admissions is a thousand status writes); the phases follow each other. Writes are conditional on the resourceVersion the plan was made
//! from; a conflict means the object changed, and the next cycle plans again from the new
//! version. The one exception is a Job whose spec is unchanged (see `patch_job`). A failed
//! write is logged and counted, never retried blindly.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use futures::StreamExt;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Binding, ObjectReference, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time as K8sTime};
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::{Client, Resource};
use muster_api::objects::{ClusterQueue, LocalQueue, Workload};
use serde_json::{Value, json};

use crate::binding::{GangBind, PodBind};
use crate::leader::Leadership;
use crate::metrics::Metrics;
use crate::names::CONTROLLER_NAME;
use crate::plan::{EventSpec, Plan, WorkloadWrite};
use crate::snapshot::meta_key;

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

/// Writes in flight at once within one phase of a plan (Workload statuses, Jobs, ...).
pub const WRITE_PARALLELISM: usize = 32;

/// Bind requests in flight at once (kube-scheduler binds each pod in a goroutine of its
/// own; a bound keeps a burst of thousands from opening thousands of requests).
pub const BIND_PARALLELISM: usize = 32;

/// What writing a plan did.
#[derive(Clone, Debug, Default)]
pub struct Applied {
    /// Objects written.
    pub written: Vec<Written>,
    /// Workloads (`namespace`, `name`) a bind of which failed, and why: the next cycle plans
    /// them again.
    pub bind_failures: BTreeMap<(String, String), String>,
}

/// Whether a status write gives quota back: the Workload held an admission and the new
/// status drops it or says it finished.
fn releases_quota(w: &WorkloadWrite) -> bool {
    let held = w
        .workload
        .status
        .as_ref()
        .is_some_and(|s| s.admission.is_some());
    let finished = crate::conditions::is_true(&w.status.conditions, crate::names::FINISHED);
    held && (w.status.admission.is_none() || finished)
}

fn key_of_workload(w: &Workload) -> (String, String) {
    meta_key(&w.metadata)
}

/// Writes plans to the API server.
pub struct Applier {
    client: Client,
    recorder: Recorder,
    leadership: Leadership,
    /// A test of restart safety: binds are sent one at a time and the process exits right
    /// after this many have succeeded.
    exit_after_binds: Option<u64>,
    binds_done: Arc<AtomicU64>,
}

/// The annotations a bind gives its pod (the API server copies a binding's annotations onto
/// the pod): the NUMA zones it is charged to, and a plain pod's admission.
fn bind_annotations(p: &PodBind) -> Option<BTreeMap<String, String>> {
    let annotations: BTreeMap<String, String> = [
        (muster_api::numa_zones::NUMA_ZONES_ANNOTATION, &p.numa_zones),
        (crate::plain_pod::ADMISSION_ANNOTATION, &p.admission),
    ]
    .into_iter()
    .filter_map(|(k, v)| Some((k.to_string(), v.clone()?)))
    .collect();
    (!annotations.is_empty()).then_some(annotations)
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
            exit_after_binds: None,
            binds_done: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Makes the process exit right after `n` successful binds, sending binds one at a time
    /// (to kill the controller between two binds of a gang, in tests).
    pub fn exit_after_binds(mut self, n: Option<u64>) -> Applier {
        self.exit_after_binds = n;
        self
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

    /// Patches a Job as planned; returns the resourceVersion the patch was made against.
    ///
    /// The patch is guarded by the version the plan was made from, but the Job controller
    /// rewrites a Job's status right after its creation and as its pods change: a conflict
    /// that leaves the spec the plan was made from as it was. So on a conflict the Job is
    /// read again and, if its spec is unchanged (the same generation), patched once more
    /// against the new version, instead of waiting for the next cycle. The patch carries
    /// out a decision whose Workload status (the record) is already written.
    async fn patch_job(
        &self,
        api: &Api<Job>,
        name: &str,
        j: &crate::plan::JobWrite,
    ) -> Result<Option<String>, kube::Error> {
        let planned = j.job.metadata.resource_version.clone();
        let e = match api
            .patch(name, &Self::params(), &Patch::Merge(&j.patch))
            .await
        {
            Ok(_) => return Ok(planned),
            Err(e) if is_conflict(&e) => e,
            Err(e) => return Err(e),
        };
        let fresh = api.get(name).await?;
        if fresh.metadata.generation != j.job.metadata.generation || !self.leadership.is_leader() {
            return Err(e);
        }
        let patch = crate::plan::with_version(&fresh, j.patch.clone());
        api.patch(name, &Self::params(), &Patch::Merge(&patch))
            .await
            .map(|_| fresh.metadata.resource_version)
    }

    /// Writes the plan, in order; returns what was written and which binds failed.
    pub async fn apply(&self, plan: &Plan, metrics: &Metrics) -> Applied {
        let (written, admissions_may_go) = self.write(plan, metrics).await;
        let mut applied = Applied {
            written,
            ..Applied::default()
        };
        if self.leadership.is_leader() {
            applied.written.extend(self.write_pods(plan, metrics).await);
        }
        // A plain pod's bind is its admission: like a Workload's, it waits while a release
        // of quota it may count on is not recorded.
        let binds: Vec<&GangBind> = plan
            .binds
            .iter()
            .filter(|g| admissions_may_go || g.pods.iter().all(|p| p.admission.is_none()))
            .collect();
        if !binds.is_empty() && self.leadership.is_leader() {
            let (bound, failures) = self.bind_all(&binds, metrics).await;
            applied.written.extend(bound);
            applied.bind_failures = failures;
        }
        applied
    }

    /// Deletes the plain pods the plan stops (with an Event saying why) and writes why the
    /// waiting ones wait; returns what was written.
    async fn write_pods(&self, plan: &Plan, metrics: &Metrics) -> Vec<Written> {
        let deletes = futures::stream::iter(&plan.pod_deletes)
            .map(|d| async move {
                if !self.leadership.is_leader() {
                    return None;
                }
                let (ns, name) = meta_key(&d.pod.metadata);
                let api: Api<Pod> = Api::namespaced(self.client.clone(), &ns);
                let params = DeleteParams {
                    preconditions: Some(kube::api::Preconditions {
                        uid: d.pod.metadata.uid.clone(),
                        resource_version: None,
                    }),
                    ..DeleteParams::default()
                };
                match api.delete(&name, &params).await {
                    Ok(_) => {
                        tracing::info!(pod = %format!("{ns}/{name}"), reason = d.reason, "deleted plain pod");
                        let event = EventSpec {
                            warning: false,
                            reason: d.reason.to_string(),
                            note: d.message.clone(),
                        };
                        self.event(&d.pod.object_ref(&()), &event).await;
                        Some(Written {
                            kind: "Pod",
                            namespace: ns,
                            name,
                            before: d.pod.metadata.resource_version.clone(),
                        })
                    }
                    Err(e) if is_conflict(&e) => None,
                    Err(e) => {
                        self.failed(metrics, &format!("delete Pod {ns}/{name}"), &e);
                        None
                    }
                }
            })
            .buffer_unordered(WRITE_PARALLELISM)
            .collect::<Vec<_>>()
            .await;
        let now = K8sTime(jiff::Timestamp::now());
        let now = &now;
        let waiting = futures::stream::iter(&plan.pods_waiting)
            .map(|w| async move {
                if !self.leadership.is_leader() {
                    return None;
                }
                let (ns, name) = meta_key(&w.pod.metadata);
                let api: Api<Pod> = Api::namespaced(self.client.clone(), &ns);
                // The uid makes the API server refuse the patch for a pod recreated under
                // the same name since the plan was made (its uid cannot change).
                let patch = json!({"metadata": {"uid": w.pod.metadata.uid}, "status": {"conditions": [{
                    "type": crate::plain_pod::POD_SCHEDULED,
                    "status": "False",
                    "reason": w.reason,
                    "message": w.message.chars().take(1000).collect::<String>(),
                    "lastTransitionTime": now,
                }]}});
                match api
                    .patch_status(&name, &Self::params(), &Patch::Strategic(&patch))
                    .await
                {
                    Ok(_) => Some(Written {
                        kind: "Pod",
                        namespace: ns,
                        name,
                        before: w.pod.metadata.resource_version.clone(),
                    }),
                    Err(e) if is_conflict(&e) => None,
                    Err(e) => {
                        self.failed(metrics, &format!("status of Pod {ns}/{name}"), &e);
                        None
                    }
                }
            })
            .buffer_unordered(WRITE_PARALLELISM)
            .collect::<Vec<_>>()
            .await;
        deletes.into_iter().chain(waiting).flatten().collect()
    }

    /// Binds every gang's pods, gangs side by side, at most [`BIND_PARALLELISM`] requests
    /// at once; returns the pods bound and the gangs a bind of which failed.
    async fn bind_all(
        &self,
        gangs: &[&GangBind],
        metrics: &Metrics,
    ) -> (Vec<Written>, BTreeMap<(String, String), String>) {
        let permits = Arc::new(tokio::sync::Semaphore::new(
            if self.exit_after_binds.is_some() {
                1
            } else {
                BIND_PARALLELISM
            },
        ));
        let gang_results = futures::future::join_all(gangs.iter().map(|g| {
            let permits = permits.clone();
            async move {
                let started = Instant::now();
                let results = futures::future::join_all(g.pods.iter().map(|p| {
                    let permits = permits.clone();
                    async move {
                        let Ok(_permit) = permits.acquire().await else {
                            return Err("the bind queue closed".to_string());
                        };
                        if !self.leadership.is_leader() {
                            return Err("no longer the leader".to_string());
                        }
                        self.bind(p, metrics).await.map(|()| p)
                    }
                }))
                .await;
                metrics
                    .gang_bind_duration
                    .observe(started.elapsed().as_secs_f64());
                (g, results)
            }
        }))
        .await;
        let mut bound = Vec::new();
        let mut failures = BTreeMap::new();
        for (g, results) in gang_results {
            let mut ok = 0;
            for r in results {
                match r {
                    Ok(p) => {
                        ok += 1;
                        bound.push(Written {
                            kind: "Pod",
                            namespace: p.namespace.clone(),
                            name: p.name.clone(),
                            before: p.resource_version.clone(),
                        });
                    }
                    Err(why) => {
                        failures.entry(g.workload.clone()).or_insert(why);
                    }
                }
            }
            tracing::info!(
                workload = %format!("{}/{}", g.workload.0, g.workload.1),
                pods = ok,
                whole = g.whole,
                "bound gang"
            );
        }
        (bound, failures)
    }

    /// Binds one pod to its planned node. A pod that is gone or already bound is not a
    /// failure (the next cycle sees where it is); any other error is.
    async fn bind(&self, p: &PodBind, metrics: &Metrics) -> Result<(), String> {
        let api: Api<Pod> = Api::namespaced(self.client.clone(), &p.namespace);
        let binding = Binding {
            metadata: ObjectMeta {
                name: Some(p.name.clone()),
                namespace: Some(p.namespace.clone()),
                uid: p.uid.clone(),
                // The API server copies a binding's annotations onto the pod.
                annotations: bind_annotations(p),
                ..ObjectMeta::default()
            },
            target: ObjectReference {
                api_version: Some("v1".into()),
                kind: Some("Node".into()),
                name: Some(p.node.clone()),
                ..ObjectReference::default()
            },
        };
        let pp = PostParams {
            field_manager: Some(CONTROLLER_NAME.into()),
            ..PostParams::default()
        };
        match api
            .create_subresource::<Binding, Value>("binding", &p.name, &pp, &binding)
            .await
        {
            Ok(_) => {
                metrics.binds.inc();
                let done = self.binds_done.fetch_add(1, Ordering::SeqCst) + 1;
                if self.exit_after_binds.is_some_and(|n| done >= n) {
                    tracing::warn!(
                        binds = done,
                        "exiting after binds, as asked (--exit-after-binds)"
                    );
                    std::process::exit(3);
                }
                Ok(())
            }
            Err(e) if is_conflict(&e) => {
                tracing::debug!(pod = %format!("{}/{}", p.namespace, p.name), error = %e, "pod gone or bound already");
                Ok(())
            }
            Err(e) => {
                metrics.bind_failures.inc();
                tracing::warn!(pod = %format!("{}/{}", p.namespace, p.name), node = %p.node, error = %e, "bind failed; the gang is planned again");
                Err(format!(
                    "pod {}/{} to node {}: {e}",
                    p.namespace, p.name, p.node
                ))
            }
        }
    }

    /// Writes the plan's objects, phase by phase (creates, Workload statuses, Jobs, queue
    /// statuses), each phase's writes side by side, at most [`WRITE_PARALLELISM`] at once:
    /// a Job's write starts only once every Workload status of the plan was written, so a
    /// Job never starts before its admission is recorded. Returns what was written.
    async fn write(&self, plan: &Plan, metrics: &Metrics) -> (Vec<Written>, bool) {
        let mut written = Vec::new();
        let pp = PostParams {
            field_manager: Some(CONTROLLER_NAME.into()),
            ..PostParams::default()
        };
        let creates = futures::stream::iter(&plan.creates)
            .map(|w| {
                let pp = &pp;
                async move {
                    if !self.leadership.is_leader() {
                        return None;
                    }
                    let ns = w.metadata.namespace.clone().unwrap_or_default();
                    let name = w.metadata.name.clone().unwrap_or_default();
                    let api: Api<Workload> = Api::namespaced(self.client.clone(), &ns);
                    match api.create(pp, w).await {
                        Ok(_) => {
                            tracing::info!(workload = %format!("{ns}/{name}"), "created Workload for Job");
                            Some(Written {
                                kind: "Workload",
                                namespace: ns,
                                name,
                                before: None,
                            })
                        }
                        Err(kube::Error::Api(s)) if s.is_already_exists() => None,
                        Err(e) => {
                            self.failed(metrics, &format!("create Workload {ns}/{name}"), &e);
                            None
                        }
                    }
                }
            })
            .buffer_unordered(WRITE_PARALLELISM)
            .collect::<Vec<_>>()
            .await;
        written.extend(creates.into_iter().flatten());
        if !self.leadership.is_leader() {
            return (written, false);
        }

        // Statuses that take quota (new admissions) go after every other status write of the
        // plan (finishes, requeues), so that the API server never records quota reused before
        // its release is recorded, even when the controller is killed mid-plan.
        let (admitting, others): (Vec<&WorkloadWrite>, Vec<&WorkloadWrite>) =
            plan.workloads.iter().partition(|w| {
                w.status.admission.is_some()
                    && w.workload
                        .status
                        .as_ref()
                        .is_none_or(|s| s.admission.is_none())
            });
        let mut failed: BTreeSet<(String, String)> = BTreeSet::new();
        let (done, not) = self.write_statuses(&others, metrics).await;
        written.extend(done);
        let release_failed = not.iter().any(|key| {
            others
                .iter()
                .any(|w| releases_quota(w) && key_of_workload(&w.workload) == *key)
        });
        failed.extend(not);
        if !self.leadership.is_leader() {
            return (written, false);
        }
        if release_failed {
            // A release was not recorded: the admissions that may count on it wait for the
            // next cycle (and so do their Jobs).
            failed.extend(admitting.iter().map(|w| key_of_workload(&w.workload)));
        } else {
            let (done, not) = self.write_statuses(&admitting, metrics).await;
            written.extend(done);
            failed.extend(not);
        }
        if !self.leadership.is_leader() {
            return (written, false);
        }

        let failed = &failed;
        let jobs = futures::stream::iter(&plan.jobs)
            .map(|j| async move {
                if j.after.as_ref().is_some_and(|k| failed.contains(k))
                    || !self.leadership.is_leader()
                {
                    return None;
                }
                let ns = j.job.metadata.namespace.clone().unwrap_or_default();
                let name = j.job.metadata.name.clone().unwrap_or_default();
                let api: Api<Job> = Api::namespaced(self.client.clone(), &ns);
                match self.patch_job(&api, &name, j).await {
                    Ok(before) => {
                        tracing::info!(job = %format!("{ns}/{name}"), action = j.action, "patched Job");
                        Some(Written {
                            kind: "Job",
                            namespace: ns,
                            name,
                            before,
                        })
                    }
                    Err(e) => {
                        self.failed(metrics, &format!("{} Job {ns}/{name}", j.action), &e);
                        None
                    }
                }
            })
            .buffer_unordered(WRITE_PARALLELISM)
            .collect::<Vec<_>>()
            .await;
        written.extend(jobs.into_iter().flatten());
        if !self.leadership.is_leader() {
            return (written, false);
        }

        let cluster_queues = futures::stream::iter(&plan.cluster_queues)
            .map(|(q, status)| async move {
                if !self.leadership.is_leader() {
                    return None;
                }
                let name = q.metadata.name.clone().unwrap_or_default();
                let api: Api<ClusterQueue> = Api::all(self.client.clone());
                let patch = json!({"status": status});
                tracing::debug!(cluster_queue = %name, "writing status");
                match api
                    .patch_status(&name, &Self::params(), &Patch::Merge(&patch))
                    .await
                {
                    Ok(_) => Some(Written {
                        kind: "ClusterQueue",
                        namespace: String::new(),
                        name,
                        before: q.metadata.resource_version.clone(),
                    }),
                    Err(e) => {
                        self.failed(metrics, &format!("status of ClusterQueue {name}"), &e);
                        None
                    }
                }
            })
            .buffer_unordered(WRITE_PARALLELISM)
            .collect::<Vec<_>>()
            .await;
        written.extend(cluster_queues.into_iter().flatten());
        let local_queues = futures::stream::iter(&plan.local_queues)
            .map(|(q, status)| async move {
                if !self.leadership.is_leader() {
                    return None;
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
                    Ok(_) => Some(Written {
                        kind: "LocalQueue",
                        namespace: ns,
                        name,
                        before: q.metadata.resource_version.clone(),
                    }),
                    Err(e) => {
                        self.failed(metrics, &format!("status of LocalQueue {ns}/{name}"), &e);
                        None
                    }
                }
            })
            .buffer_unordered(WRITE_PARALLELISM)
            .collect::<Vec<_>>()
            .await;
        written.extend(local_queues.into_iter().flatten());
        (written, !release_failed)
    }

    /// Writes Workload statuses side by side; returns those written and those that failed.
    async fn write_statuses(
        &self,
        writes: &[&WorkloadWrite],
        metrics: &Metrics,
    ) -> (Vec<Written>, Vec<(String, String)>) {
        let results = futures::stream::iter(writes.iter().copied())
            .map(|w| async move {
                let ns = w.workload.metadata.namespace.clone().unwrap_or_default();
                let name = w.workload.metadata.name.clone().unwrap_or_default();
                if !self.leadership.is_leader() {
                    return Err((ns, name));
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
                        for e in &w.events {
                            self.event(&w.workload.object_ref(&()), e).await;
                        }
                        Ok(Written {
                            kind: "Workload",
                            namespace: ns,
                            name,
                            before: w.workload.metadata.resource_version.clone(),
                        })
                    }
                    Err(e) => {
                        self.failed(metrics, &format!("status of Workload {ns}/{name}"), &e);
                        Err((ns, name))
                    }
                }
            })
            .buffer_unordered(WRITE_PARALLELISM)
            .collect::<Vec<_>>()
            .await;
        let mut done = Vec::new();
        let mut failed = Vec::new();
        for r in results {
            match r {
                Ok(w) => done.push(w),
                Err(key) => failed.push(key),
            }
        }
        (done, failed)
    }

    async fn event(&self, reference: &ObjectReference, e: &crate::plan::EventSpec) {
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
        if let Err(err) = self.recorder.publish(&event, reference).await {
            tracing::debug!(error = %err, "could not record an Event");
        }
    }
}
