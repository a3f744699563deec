//! What to write, given the objects and one cycle's decisions: a pure function, so every
//! rule here is tested without an API server.
//!
//! Each object gets at most one write per cycle, and each write is conditional on the
//! version of the object the plan was made from (a stale leader's write fails instead of
//! undoing a newer decision). Order matters for restart safety: a Workload's status (the
//! record) is written before its Job is started, and a Job is suspended before its
//! Workload gives back its quota, so a controller killed between two writes leaves a state
//! the next one completes and never one that admits twice or exceeds a quota.

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Pod, PodTemplateSpec, Toleration};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time as K8sTime};
use muster_api::objects::{
    ClusterQueue, ClusterQueueStatus, FlavorUsage, LocalQueue, LocalQueueStatus, NodePods,
    PodSetAssignment, Qty, ResourceUsage, Workload, WorkloadAdmission, WorkloadStatus,
};
use muster_core::decision::{CycleOutput, Decision, PendingReason};
use muster_core::{Model, Quantity, WorkloadId, WorkloadKey};
use serde_json::{Value, json};

use crate::conditions;
use crate::job;
use crate::names::*;
use crate::snapshot::{Objects, Phase, Snapshot, phase};

/// A Kubernetes Event to record about an object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventSpec {
    /// `Normal` (false) or `Warning` (true).
    pub warning: bool,
    /// CamelCase reason.
    pub reason: String,
    /// What happened, in words.
    pub note: String,
}

/// A new status for a Workload, and the Events that go with it.
#[derive(Clone, Debug)]
pub struct WorkloadWrite {
    /// The Workload as read (its resourceVersion guards the write).
    pub workload: Arc<Workload>,
    /// The status to write.
    pub status: WorkloadStatus,
    /// Events to record once it is written.
    pub events: Vec<EventSpec>,
}

/// A change to a Job.
#[derive(Clone, Debug)]
pub struct JobWrite {
    /// The Job as read (its resourceVersion guards the write).
    pub job: Arc<Job>,
    /// A JSON merge patch.
    pub patch: Value,
    /// What the change does, for logs: `start`, `suspend`, `restore`.
    pub action: &'static str,
    /// The Workload whose status write must succeed first, if any (`namespace`, `name`).
    pub after: Option<(String, String)>,
}

/// Why a plain pod is deleted (Muster stops a plain pod by deleting it: it cannot be
/// suspended).
#[derive(Clone, Debug)]
pub struct PodDelete {
    /// The pod as read (its uid guards the delete).
    pub pod: Arc<Pod>,
    /// The Event's reason (CamelCase).
    pub reason: &'static str,
    /// Why, in words (the Event's note).
    pub message: String,
}

/// A plain pod's `PodScheduled=False` condition: why it waits.
#[derive(Clone, Debug)]
pub struct PodWaiting {
    /// The pod as read.
    pub pod: Arc<Pod>,
    /// The condition's reason (CamelCase).
    pub reason: &'static str,
    /// Why, in words.
    pub message: String,
}

/// Everything one cycle writes, in the order to write it.
#[derive(Clone, Debug, Default)]
pub struct Plan {
    /// Workloads to create for newly queued Jobs.
    pub creates: Vec<Workload>,
    /// Workload statuses (first: they are the record).
    pub workloads: Vec<WorkloadWrite>,
    /// Job changes (after the statuses they depend on).
    pub jobs: Vec<JobWrite>,
    /// ClusterQueue statuses that changed.
    pub cluster_queues: Vec<(Arc<ClusterQueue>, ClusterQueueStatus)>,
    /// LocalQueue statuses that changed.
    pub local_queues: Vec<(Arc<LocalQueue>, LocalQueueStatus)>,
    /// For metrics: each admission's ClusterQueue and how long it waited, in seconds.
    pub admissions: Vec<(String, f64)>,
    /// For metrics: the reason of each preemption.
    pub preemptions: Vec<&'static str>,
    /// For metrics: pending and admitted workloads per ClusterQueue, after the decisions.
    pub queue_counts: BTreeMap<String, (i64, i64)>,
    /// Gangs whose pods to bind (last: after the writes that start their Jobs), when Muster
    /// is the pods' scheduler.
    pub binds: Vec<crate::binding::GangBind>,
    /// For metrics: the reason of each gang planned again as a whole.
    pub replans: Vec<&'static str>,
    /// For metrics: pods of admitted gangs rejected with a Topology Affinity Error.
    pub topology_affinity_errors: usize,
    /// For metrics: admitted gangs waiting for all their pods to exist.
    pub gangs_waiting_for_pods: usize,
    /// When a gang waiting for its pods runs out of time: a cycle is due then.
    pub wake_at: Option<jiff::Timestamp>,
    /// Plain pods to delete (preempted, or their admission no longer fits).
    pub pod_deletes: Vec<PodDelete>,
    /// Plain pods whose reason for waiting changed.
    pub pods_waiting: Vec<PodWaiting>,
}

fn key_of(w: &Workload) -> (String, String) {
    crate::snapshot::meta_key(&w.metadata)
}

/// A Workload, the status being built for it, and the Events to go with it.
type Draft = (Arc<Workload>, WorkloadStatus, Vec<EventSpec>);

/// Statuses being built, starting from what each Workload has.
struct Statuses<'a> {
    now: &'a K8sTime,
    by_key: BTreeMap<(String, String), Draft>,
}

impl<'a> Statuses<'a> {
    fn edit(&mut self, w: &Arc<Workload>) -> (&mut WorkloadStatus, &mut Vec<EventSpec>) {
        let entry = self
            .by_key
            .entry(key_of(w))
            .or_insert_with(|| (w.clone(), w.status.clone().unwrap_or_default(), Vec::new()));
        (&mut entry.1, &mut entry.2)
    }

    fn set(&mut self, w: &Arc<Workload>, type_: &str, status: bool, reason: &str, msg: &str) {
        let now = self.now;
        let (s, _) = self.edit(w);
        conditions::set(&mut s.conditions, type_, status, reason, msg, now);
    }

    fn event(&mut self, w: &Arc<Workload>, warning: bool, reason: &str, note: String) {
        let (_, events) = self.edit(w);
        events.push(EventSpec {
            warning,
            reason: reason.to_string(),
            note,
        });
    }

    /// The writes: statuses that differ from what the object has.
    fn into_writes(self) -> Vec<WorkloadWrite> {
        self.by_key
            .into_values()
            .filter(|(w, status, _)| w.status.as_ref() != Some(status))
            .map(|(workload, status, events)| WorkloadWrite {
                workload,
                status,
                events,
            })
            .collect()
    }
}

/// `patch`, guarded by the resourceVersion `job` was read at.
pub(crate) fn with_version(job: &Job, mut patch: Value) -> Value {
    if let (Some(rv), Some(obj)) = (&job.metadata.resource_version, patch.as_object_mut()) {
        obj.insert("metadata".into(), json!({"resourceVersion": rv}));
    }
    patch
}

/// Suspends a Job once its Workload's status (which says why) is written.
fn suspend_after(j: &Arc<Job>, w: &Workload) -> JobWrite {
    JobWrite {
        job: j.clone(),
        patch: with_version(j, json!({"spec": {"suspend": true}})),
        action: "suspend",
        after: Some(key_of(w)),
    }
}

fn original_template(w: &Workload) -> std::borrow::Cow<'_, PodTemplateSpec> {
    match w.spec.pod_sets.first() {
        Some(p) => std::borrow::Cow::Borrowed(&p.template),
        None => std::borrow::Cow::Owned(PodTemplateSpec::default()),
    }
}

/// The original template plus the node labels and tolerations of the flavors an admission
/// assigned to the Job's pod set, pinned to the nodes it placed the pods on.
fn admitted_template(
    objects: &Objects,
    w: &Workload,
    admission: &WorkloadAdmission,
) -> PodTemplateSpec {
    let mut labels = BTreeMap::new();
    let mut tolerations: Vec<Toleration> = Vec::new();
    let flavors = admission
        .pod_set_assignments
        .first()
        .map(|a| {
            a.flavors
                .values()
                .cloned()
                .collect::<std::collections::BTreeSet<_>>()
        })
        .unwrap_or_default();
    let nodes: Vec<String> = admission
        .pod_set_assignments
        .first()
        .map(|a| a.nodes.iter().map(|n| n.name.clone()).collect())
        .unwrap_or_default();
    for name in flavors {
        if let Some(f) = objects
            .flavors
            .iter()
            .find(|f| f.metadata.name.as_deref() == Some(name.as_str()))
        {
            labels.extend(f.spec.node_labels.clone());
            tolerations.extend(f.spec.tolerations.clone());
        }
    }
    job::admitted_template(&original_template(w), &labels, &tolerations, &nodes)
}

/// The record of an admission, as Workload status keeps it.
fn admission_record(model: &Model, a: &muster_core::Admission) -> WorkloadAdmission {
    let w = model.workload(a.workload);
    let flavors = model.admission_flavors(a);
    let mut pod = 0usize;
    let mut assignments = Vec::new();
    for (i, (ps, _)) in model.admitted_options(a).enumerate() {
        let mut nodes: BTreeMap<String, i64> = BTreeMap::new();
        for n in &a.placements[pod..pod + ps.count as usize] {
            if let Some(node) = model.nodes().get(n.index()) {
                *nodes.entry(node.name.clone()).or_default() += 1;
            }
        }
        pod += ps.count as usize;
        let usage = ps
            .request
            .iter()
            .map(|(r, q)| {
                (
                    model.resources().name(r).to_string(),
                    Qty(q.times(ps.count)),
                )
            })
            .collect();
        assignments.push(PodSetAssignment {
            name: w.pod_set_names[i].clone(),
            flavors: flavors[i].clone(),
            count: i64::from(ps.count),
            resource_usage: usage,
            nodes: nodes
                .into_iter()
                .map(|(name, count)| NodePods { name, count })
                .collect(),
        });
    }
    WorkloadAdmission {
        cluster_queue: model.cluster_queue(w.cq).name.clone(),
        pod_set_assignments: assignments,
    }
}

fn describe_admission(a: &WorkloadAdmission) -> String {
    let sets: Vec<String> = a
        .pod_set_assignments
        .iter()
        .map(|p| {
            let flavors: Vec<String> = p.flavors.iter().map(|(r, f)| format!("{r}={f}")).collect();
            format!("{} ({} pods: {})", p.name, p.count, flavors.join(", "))
        })
        .collect();
    format!(
        "Admitted by ClusterQueue {}: {}",
        a.cluster_queue,
        sets.join("; ")
    )
}

fn pending_condition(
    model: &Model,
    id: WorkloadId,
    reason: &PendingReason,
) -> (&'static str, String) {
    let why = match reason {
        PendingReason::Preempting => REASON_PREEMPTING,
        PendingReason::Inadmissible(_) => REASON_INADMISSIBLE,
        _ => REASON_PENDING,
    };
    (why, reason.describe(model, id))
}

/// Gives each pod of a gang to bind the `muster.dev/numa-zones` annotation of the zones the
/// model counts it in (on nodes with zones), so that the node agent charges it there.
fn zones_for_binds(snap: &Snapshot, g: &mut crate::binding::GangBind) {
    let model = &snap.model;
    let key = WorkloadKey {
        namespace: g.workload.0.as_str().into(),
        name: g.workload.1.as_str().into(),
    };
    let Some((admission, _)) = model
        .workload_id(&key)
        .and_then(|id| model.workload(id).admission())
    else {
        return;
    };
    for p in &mut g.pods {
        p.numa_zones = zones_annotation(model, admission, p.slot);
    }
}

/// The `muster.dev/numa-zones` annotation of the pod `slot` of an admission: the zones the
/// model counts it in, if its node has zones.
fn zones_annotation(
    model: &Model,
    admission: &muster_core::Admission,
    slot: usize,
) -> Option<String> {
    let mut zones = muster_api::numa_zones::NumaZones::default();
    for t in admission
        .numa
        .takes
        .iter()
        .filter(|t| t.pod as usize == slot)
    {
        *zones
            .0
            .entry(model.zones().name(t.zone).to_string())
            .or_default()
            .entry(model.resources().name(t.resource).to_string())
            .or_insert(Quantity::ZERO) += t.amount;
    }
    (!zones.0.is_empty()).then(|| zones.to_annotation())
}

/// The bind that admits a plain pod: to its planned node, with its admission recorded.
fn plain_pod_bind(
    model: &Model,
    pod: &Pod,
    key: (String, String),
    a: &muster_core::Admission,
    record: &WorkloadAdmission,
) -> Option<crate::binding::GangBind> {
    let node = record
        .pod_set_assignments
        .first()?
        .nodes
        .first()?
        .name
        .clone();
    let admission = serde_json::to_string(record).ok()?;
    Some(crate::binding::GangBind {
        workload: key,
        pods: vec![crate::binding::PodBind {
            namespace: pod.metadata.namespace.clone().unwrap_or_default(),
            name: pod.metadata.name.clone().unwrap_or_default(),
            uid: pod.metadata.uid.clone(),
            resource_version: pod.metadata.resource_version.clone(),
            node,
            slot: 0,
            numa_zones: zones_annotation(model, a, 0),
            admission: Some(admission),
        }],
        whole: true,
    })
}

/// Why a plain pod waits, unless its `PodScheduled` condition says so already.
fn pod_waiting(pod: &Arc<Pod>, reason: &'static str, message: String) -> Option<PodWaiting> {
    let said = crate::plain_pod::scheduled_condition(pod).is_some_and(|c| {
        c.status == "False"
            && c.reason.as_deref() == Some(reason)
            && c.message.as_deref() == Some(message.as_str())
    });
    (!said).then(|| PodWaiting {
        pod: pod.clone(),
        reason,
        message,
    })
}

/// Plans the writes for one cycle: `out` is the cycle's output over `snap`'s model (not yet
/// applied); `now` stamps the conditions.
pub fn plan(
    objects: &Objects,
    snap: &mut Snapshot,
    out: &CycleOutput,
    now: &K8sTime,
    gang_pods_timeout: Option<std::time::Duration>,
) -> Plan {
    let mut plan = Plan::default();
    let mut st = Statuses {
        now,
        by_key: BTreeMap::new(),
    };
    let mut job_writes: BTreeMap<(String, String), JobWrite> = BTreeMap::new();
    let job_key = |j: &Job| {
        (
            j.metadata.namespace.clone().unwrap_or_default(),
            j.metadata.name.clone().unwrap_or_default(),
        )
    };

    // 1. Jobs and the Workloads that mirror them.
    let by_uid: BTreeMap<&str, &Arc<Workload>> = objects
        .workloads
        .iter()
        .filter_map(|w| job::owner_job_uid(w).map(|u| (u, w)))
        .collect();
    for j in &objects.jobs {
        let Some(uid) = j.metadata.uid.as_deref() else {
            continue;
        };
        let w = by_uid.get(uid).copied();
        if let Some((succeeded, message)) = job::finished(j) {
            if let Some(w) = w
                && phase(w) != Phase::Finished
            {
                let reason = if succeeded { "Succeeded" } else { "Failed" };
                let msg = if message.is_empty() {
                    format!("Job {reason}")
                } else {
                    message
                };
                st.set(w, FINISHED, true, reason, &msg);
                st.event(
                    w,
                    !succeeded,
                    "Finished",
                    format!("Job finished: {msg}; its quota is released"),
                );
            }
            continue;
        }
        let Some(w) = w else {
            if let Some(new) = job::workload_for_job(j) {
                plan.creates.push(new);
            }
            if !job::is_suspended(j) {
                let current = j
                    .spec
                    .as_ref()
                    .map(|s| s.template.clone())
                    .unwrap_or_default();
                job_writes.insert(
                    job_key(j),
                    JobWrite {
                        job: j.clone(),
                        patch: with_version(j, job::patch(j, &current, true)),
                        action: "suspend",
                        after: None,
                    },
                );
            }
            continue;
        };
        let write = |patch: Value, action: &'static str| JobWrite {
            job: j.clone(),
            patch: with_version(j, patch),
            action,
            after: Some(key_of(w)),
        };
        match phase(w) {
            Phase::Admitted => {
                if job::is_suspended(j) {
                    let admission = w.status.as_ref().and_then(|s| s.admission.as_ref());
                    if let Some(a) = admission {
                        let t = admitted_template(objects, w, a);
                        job_writes.insert(job_key(j), write(job::patch(j, &t, false), "start"));
                    }
                }
            }
            Phase::Evicting => {
                if !job::is_suspended(j) {
                    job_writes.insert(job_key(j), suspend_after(j, w));
                } else if !job::has_pods(j) {
                    // Stopped: the quota goes back and the workload queues again.
                    let evicted = w
                        .status
                        .as_ref()
                        .and_then(|s| conditions::get(&s.conditions, EVICTED))
                        .map(|c| c.message.clone())
                        .unwrap_or_default();
                    let msg = format!("Requeued after eviction: {evicted}");
                    let (s, _) = st.edit(w);
                    s.admission = None;
                    conditions::set(
                        &mut s.conditions,
                        QUOTA_RESERVED,
                        false,
                        REASON_PENDING,
                        &msg,
                        now,
                    );
                    conditions::set(
                        &mut s.conditions,
                        ADMITTED,
                        false,
                        REASON_PENDING,
                        &msg,
                        now,
                    );
                }
            }
            Phase::Pending => {
                let original = original_template(w);
                if !job::is_suspended(j) {
                    job_writes.insert(job_key(j), suspend_after(j, w));
                } else if !job::has_started(j) && !job::scheduling_matches(j, &original) {
                    job_writes.insert(job_key(j), write(job::patch(j, &original, true), "restore"));
                }
            }
            Phase::Finished => {}
        }
    }

    // 2. Admitted workloads whose admission no longer matches their ClusterQueue.
    for (w, why) in &snap.unrestorable {
        if let Some(pod) = objects.plain_pods.get(&key_of(w)) {
            if pod.metadata.deletion_timestamp.is_none() {
                plan.pod_deletes.push(PodDelete {
                    pod: pod.clone(),
                    reason: REASON_ADMISSION_INVALID,
                    message: why.clone(),
                });
            }
            continue;
        }
        st.set(w, EVICTED, true, REASON_ADMISSION_INVALID, why);
        st.event(w, true, "Evicted", why.clone());
        if let Some(j) = objects.job_of(w)
            && !job::is_suspended(j)
        {
            job_writes.insert(job_key(j), suspend_after(j, w));
        }
    }

    // 3. Gangs to bind, and gangs to plan again as a whole (a planned node is gone, a bind
    //    failed, a kubelet rejected a pod with a Topology Affinity Error, its pods did not
    //    all appear in time).
    let pods_timeout =
        gang_pods_timeout.map(|after| crate::binding::PodsTimeout { now: now.0, after });
    let binding =
        crate::binding::plan_binds(objects, &objects.bind_failures, pods_timeout.as_ref());
    for r in &binding.replans {
        st.set(&r.workload, EVICTED, true, r.reason, &r.message);
        st.event(&r.workload, true, "Evicted", r.message.clone());
        plan.replans.push(r.reason);
        if let Some(j) = objects.job_of(&r.workload)
            && !job::is_suspended(j)
        {
            job_writes.insert(job_key(j), suspend_after(j, &r.workload));
        }
    }
    plan.binds = binding.binds;
    for g in &mut plan.binds {
        zones_for_binds(snap, g);
    }
    plan.topology_affinity_errors = binding.topology_affinity_errors;
    plan.gangs_waiting_for_pods = binding.waiting.len();
    plan.wake_at = binding.wake_at;

    // 4. Workloads left out as invalid wait, saying why.
    for w in &objects.workloads {
        if phase(w) != Phase::Pending || snap.id_of(w).is_some() {
            continue;
        }
        let (ns, name) = key_of(w);
        let label = format!("Workload \"{ns}/{name}\"");
        if let Some(errors) = snap.rejected(&label) {
            let msg: Vec<String> = errors
                .iter()
                .map(|e| match &e.path {
                    Some(p) if !p.is_empty() => format!("{p}: {}", e.message),
                    _ => e.message.clone(),
                })
                .collect();
            if let Some(pod) = objects.plain_pods.get(&(ns, name)) {
                plan.pods_waiting
                    .extend(pod_waiting(pod, REASON_INADMISSIBLE, msg.join("; ")));
                continue;
            }
            st.set(
                w,
                QUOTA_RESERVED,
                false,
                REASON_INADMISSIBLE,
                &msg.join("; "),
            );
        }
    }

    // 5. The cycle's decisions.
    let model = &snap.model;
    for d in &out.decisions {
        match d {
            Decision::Admit(a) => {
                let Some(w) = snap.object(a.workload) else {
                    continue;
                };
                let record = admission_record(model, a);
                let msg = describe_admission(&record);
                let wl = model.workload(a.workload);
                plan.admissions.push((
                    record.cluster_queue.clone(),
                    (now.0.as_millisecond() - wl.queue_ts.0).max(0) as f64 / 1000.0,
                ));
                let key = key_of(w);
                if let Some(pod) = objects.plain_pods.get(&key) {
                    plan.binds
                        .extend(plain_pod_bind(model, pod, key, a, &record));
                    continue;
                }
                let (s, events) = st.edit(w);
                s.admission = Some(record.clone());
                conditions::set(
                    &mut s.conditions,
                    QUOTA_RESERVED,
                    true,
                    REASON_ADMITTED,
                    &msg,
                    now,
                );
                conditions::set(
                    &mut s.conditions,
                    ADMITTED,
                    true,
                    REASON_ADMITTED,
                    &msg,
                    now,
                );
                if conditions::get(&s.conditions, EVICTED).is_some() {
                    conditions::set(
                        &mut s.conditions,
                        EVICTED,
                        false,
                        REASON_ADMITTED,
                        "Admitted again",
                        now,
                    );
                }
                if conditions::get(&s.conditions, PREEMPTED).is_some() {
                    conditions::set(
                        &mut s.conditions,
                        PREEMPTED,
                        false,
                        REASON_ADMITTED,
                        "Admitted again",
                        now,
                    );
                }
                events.push(EventSpec {
                    warning: false,
                    reason: "Admitted".into(),
                    note: msg,
                });
                if let Some(j) = snap.job_of.get(&a.workload) {
                    let t = admitted_template(objects, w, &record);
                    job_writes.insert(
                        job_key(j),
                        JobWrite {
                            job: j.clone(),
                            patch: with_version(j, job::patch(j, &t, false)),
                            action: "start",
                            after: Some(key_of(w)),
                        },
                    );
                }
            }
            Decision::Preempt { preemptor, victims } => {
                let p = model.workload(*preemptor);
                let cq = &model.cluster_queue(p.cq).name;
                for v in victims {
                    let Some(w) = snap.object(v.workload) else {
                        continue;
                    };
                    let reason = v.reason.as_str();
                    plan.preemptions.push(reason);
                    let msg = format!(
                        "Preempted to accommodate {} (priority {}) in ClusterQueue {cq}: {reason}",
                        p.key, p.priority
                    );
                    if let Some(pod) = objects.plain_pods.get(&key_of(w)) {
                        if pod.metadata.deletion_timestamp.is_none() {
                            plan.pod_deletes.push(PodDelete {
                                pod: pod.clone(),
                                reason: REASON_PREEMPTED,
                                message: msg,
                            });
                        }
                        continue;
                    }
                    st.set(w, EVICTED, true, REASON_PREEMPTED, &msg);
                    st.set(w, PREEMPTED, true, reason, &msg);
                    st.event(w, false, "Preempted", msg.clone());
                    if let Some(j) = snap.job_of.get(&v.workload)
                        && !job::is_suspended(j)
                    {
                        job_writes.insert(job_key(j), suspend_after(j, w));
                    }
                }
            }
            Decision::Inadmissible { workload, reason } => {
                let Some(w) = snap.object(*workload) else {
                    continue;
                };
                let msg = reason.describe(model, *workload);
                if let Some(pod) = objects.plain_pods.get(&key_of(w)) {
                    plan.pods_waiting
                        .extend(pod_waiting(pod, REASON_INADMISSIBLE, msg));
                    continue;
                }
                let changed = w
                    .status
                    .as_ref()
                    .and_then(|s| conditions::get(&s.conditions, QUOTA_RESERVED))
                    .is_none_or(|c| c.reason != REASON_INADMISSIBLE || c.message != msg);
                st.set(w, QUOTA_RESERVED, false, REASON_INADMISSIBLE, &msg);
                if changed {
                    st.event(w, true, "Inadmissible", msg);
                }
            }
        }
    }
    for (id, reason) in &out.pending {
        let Some(w) = snap.object(*id) else { continue };
        if phase(w) != Phase::Pending {
            continue;
        }
        let (why, msg) = pending_condition(model, *id, reason);
        if let Some(pod) = objects.plain_pods.get(&key_of(w)) {
            // A pod that no cycle has tried yet waits without a word, as in kube-scheduler's
            // queue: a condition only says why an attempt did not admit it.
            if !matches!(reason, PendingReason::Queued | PendingReason::NotTried) {
                plan.pods_waiting.extend(pod_waiting(pod, why, msg));
            }
            continue;
        }
        st.set(w, QUOTA_RESERVED, false, why, &msg);
    }

    // 6. The model as it stands once the decisions are carried out, for queue statuses.
    for d in &out.decisions {
        let _ = match d {
            Decision::Preempt { preemptor, victims } => {
                for v in victims {
                    let _ = snap.model.mark_evicting(v.workload);
                }
                snap.model.nominate(*preemptor)
            }
            other => snap
                .model
                .apply(other, muster_core::Time(now.0.as_millisecond())),
        };
    }
    queue_statuses(objects, snap, &mut plan, now);

    // A gang being stopped (preempted, evicted) is not bound.
    plan.binds.retain(|b| {
        st.by_key
            .get(&b.workload)
            .is_none_or(|(_, s, _)| !conditions::is_true(&s.conditions, EVICTED))
    });
    plan.workloads = st.into_writes();
    // One write per pod, as per Workload: should a cycle give a pod two reasons to wait, the
    // last is written (as a Workload's status keeps the last); written side by side, two
    // patches of one pod could land in either order.
    let mut waiting: BTreeMap<(String, String), PodWaiting> = BTreeMap::new();
    for w in std::mem::take(&mut plan.pods_waiting) {
        waiting.insert(crate::snapshot::meta_key(&w.pod.metadata), w);
    }
    plan.pods_waiting = waiting.into_values().collect();
    let written: std::collections::BTreeSet<(String, String)> =
        plan.workloads.iter().map(|w| key_of(&w.workload)).collect();
    // A Job change that depends on a status write which is not needed (already recorded)
    // goes ahead on its own.
    plan.jobs = job_writes
        .into_values()
        .map(|mut j| {
            if j.after.as_ref().is_some_and(|k| !written.contains(k)) {
                j.after = None;
            }
            j
        })
        .collect();
    plan
}

fn active_condition(
    existing: &[Condition],
    ok: bool,
    reason: &str,
    msg: &str,
    now: &K8sTime,
) -> Vec<Condition> {
    let mut c = existing.to_vec();
    conditions::set(&mut c, ACTIVE, ok, reason, msg, now);
    c
}

fn rejected_message(snap: &Snapshot, label: &str) -> Option<String> {
    snap.rejected(label).map(|errors| {
        errors
            .iter()
            .map(|e| match &e.path {
                Some(p) if !p.is_empty() => format!("{p}: {}", e.message),
                _ => e.message.clone(),
            })
            .collect::<Vec<_>>()
            .join("; ")
    })
}

/// Pending and admitted workloads of a LocalQueue, and their usage per (flavor, resource).
type LocalQueueCount = (i64, i64, BTreeMap<(String, String), Quantity>);

fn queue_statuses(objects: &Objects, snap: &Snapshot, plan: &mut Plan, now: &K8sTime) {
    let model = &snap.model;
    let scratch = model.scratch();
    let quota = model.quota();
    for q in &objects.cluster_queues {
        let name = q.metadata.name.clone().unwrap_or_default();
        let existing = q.status.clone().unwrap_or_default();
        let status = match model.cluster_queue_id(&name) {
            None => {
                let msg = rejected_message(snap, &format!("ClusterQueue {name:?}"))
                    .unwrap_or_else(|| "not valid".into());
                ClusterQueueStatus {
                    conditions: active_condition(&existing.conditions, false, "Invalid", &msg, now),
                    ..ClusterQueueStatus::default()
                }
            }
            Some(cq) => {
                let node = model.cluster_queue(cq).quota_node;
                let queue = model.queue(cq);
                let mut usage = Vec::new();
                for g in &q.spec.resource_groups {
                    for f in &g.flavors {
                        let mut resources = Vec::new();
                        for r in &f.resources {
                            let (Some(fid), Some(rid)) =
                                (model.flavor_id(&f.name), model.resources().id(&r.name))
                            else {
                                continue;
                            };
                            let Some(fr) = quota.fr(fid, rid) else {
                                continue;
                            };
                            let total = quota.usage(&scratch, node, fr);
                            let nominal = quota.limits(node, fr).nominal;
                            let borrowed = if total > nominal {
                                total - nominal
                            } else {
                                Quantity::ZERO
                            };
                            resources.push(ResourceUsage {
                                name: r.name.clone(),
                                total: Qty(total),
                                borrowed: Qty(borrowed),
                            });
                        }
                        usage.push(FlavorUsage {
                            name: f.name.clone(),
                            resources,
                        });
                    }
                }
                let pending = queue.pending.len() as i64;
                let admitted = queue.admitted.len() as i64;
                plan.queue_counts.insert(name.clone(), (pending, admitted));
                ClusterQueueStatus {
                    pending_workloads: pending,
                    admitted_workloads: admitted,
                    flavors_usage: usage,
                    conditions: active_condition(
                        &existing.conditions,
                        true,
                        "Ready",
                        "Can admit new workloads",
                        now,
                    ),
                }
            }
        };
        if q.status.as_ref() != Some(&status) {
            plan.cluster_queues.push((q.clone(), status));
        }
    }

    // LocalQueues: their workloads' counts and usage, from the model.
    let mut per_lq: BTreeMap<(String, String), LocalQueueCount> = BTreeMap::new();
    for (id, w) in &snap.objects_of {
        let ns = w.metadata.namespace.clone().unwrap_or_default();
        let entry = per_lq.entry((ns, w.spec.queue_name.clone())).or_default();
        let mw = model.workload(*id);
        if mw.is_pending() {
            entry.0 += 1;
        } else if let Some((a, _)) = mw.admission() {
            entry.1 += 1;
            for (ps, option) in model.admitted_options(a) {
                for &(r, f) in &option.resource_flavors {
                    let q = if r == model.resources().pods() {
                        Quantity::from_units(i64::from(ps.count))
                    } else {
                        ps.request.get(r).times(ps.count)
                    };
                    let k = (
                        model.flavors()[f.index()].name.clone(),
                        model.resources().name(r).to_string(),
                    );
                    let e = entry.2.entry(k).or_insert(Quantity::ZERO);
                    *e += q;
                }
            }
        }
    }
    for q in &objects.local_queues {
        let ns = q.metadata.namespace.clone().unwrap_or_default();
        let name = q.metadata.name.clone().unwrap_or_default();
        let existing = q.status.clone().unwrap_or_default();
        let label = format!("LocalQueue \"{ns}/{name}\"");
        let (pending, admitted, usage) = per_lq.remove(&(ns, name)).unwrap_or_default();
        let mut flavors: BTreeMap<String, Vec<ResourceUsage>> = BTreeMap::new();
        for ((f, r), total) in usage {
            flavors.entry(f).or_default().push(ResourceUsage {
                name: r,
                total: Qty(total),
                borrowed: Qty(Quantity::ZERO),
            });
        }
        let conditions = match rejected_message(snap, &label) {
            Some(msg) => active_condition(&existing.conditions, false, "Invalid", &msg, now),
            None => active_condition(
                &existing.conditions,
                true,
                "Ready",
                "Can submit new workloads to its ClusterQueue",
                now,
            ),
        };
        let status = LocalQueueStatus {
            pending_workloads: pending,
            admitted_workloads: admitted,
            flavors_usage: flavors
                .into_iter()
                .map(|(name, resources)| FlavorUsage { name, resources })
                .collect(),
            conditions,
        };
        if q.status.as_ref() != Some(&status) {
            plan.local_queues.push((q.clone(), status));
        }
    }
}

#[cfg(test)]
mod tests;
