//! From the objects the API server holds to the core's model, at the start of every cycle.
//!
//! The controller keeps no scheduling state of its own: each cycle rebuilds the model from
//! the reflected objects, so whatever a restarted (or newly elected) controller reads is all
//! it needs. Admissions come back from Workload status (flavors and nodes, exactly as
//! recorded), a victim still being stopped from its `Evicted` condition, a requeued
//! workload's place in line from the time it was evicted, a preemptor's claim on its victims'
//! room from its `Preempting` reason.

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::api::scheduling::v1::PriorityClass;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time as K8sTime};
use muster_api::load::{Loaded, Object};
use muster_api::objects::{
    ClusterQueue, Cohort, LocalQueue, NodeResourceTopology, ResourceFlavor, Workload,
};
use muster_api::{InputError, LiveCluster, build_live};
use muster_core::{Model, ModelError, RecordedPodSet, Time, WorkloadId, WorkloadKey};

use crate::conditions;
use crate::job;
use crate::names::{EVICTED, FINISHED, QUOTA_RESERVED, REASON_PREEMPTING};

/// Everything the controller reads, each list in namespace/name order.
#[derive(Clone, Debug, Default)]
pub struct Objects {
    /// Nodes.
    pub nodes: Vec<Arc<Node>>,
    /// PriorityClasses.
    pub priority_classes: Vec<Arc<PriorityClass>>,
    /// ResourceFlavors.
    pub flavors: Vec<Arc<ResourceFlavor>>,
    /// ClusterQueues.
    pub cluster_queues: Vec<Arc<ClusterQueue>>,
    /// Cohorts.
    pub cohorts: Vec<Arc<Cohort>>,
    /// LocalQueues.
    pub local_queues: Vec<Arc<LocalQueue>>,
    /// Workloads.
    pub workloads: Vec<Arc<Workload>>,
    /// Jobs that carry the queue label.
    pub jobs: Vec<Arc<Job>>,
    /// NodeResourceTopologies (empty when their CRD is not installed).
    pub topologies: Vec<Arc<NodeResourceTopology>>,
    /// Pods whose scheduler is Muster (empty when kube-scheduler places the pods).
    pub pods: Vec<Arc<Pod>>,
    /// Muster's scheduler name, when it binds the pods it admits.
    pub scheduler_name: Option<String>,
    /// Workloads (`namespace`, `name`) whose pods' binds failed in the last round, and why:
    /// what the controller remembers from its own writes, not read from the API.
    pub bind_failures: BTreeMap<(String, String), String>,
    /// The plain pod each stand-in Workload (`namespace`, `name`) of `workloads` stands for
    /// (see [`crate::plain_pod`]): those Workloads are never written.
    pub plain_pods: BTreeMap<(String, String), Arc<Pod>>,
}

/// An object's (`namespace`, `name`), empty where unset.
pub(crate) fn meta_key(m: &ObjectMeta) -> (String, String) {
    (
        m.namespace.clone().unwrap_or_default(),
        m.name.clone().unwrap_or_default(),
    )
}

impl Objects {
    /// Puts every list in namespace/name order (stores hand objects out in no set order).
    pub fn sort(&mut self) {
        fn by_key<K: kube::Resource>(v: &mut [Arc<K>]) {
            v.sort_by_key(|o| meta_key(o.meta()));
        }
        by_key(&mut self.nodes);
        by_key(&mut self.priority_classes);
        by_key(&mut self.flavors);
        by_key(&mut self.cluster_queues);
        by_key(&mut self.cohorts);
        by_key(&mut self.local_queues);
        by_key(&mut self.workloads);
        by_key(&mut self.jobs);
        by_key(&mut self.topologies);
        by_key(&mut self.pods);
    }

    /// The Job with this uid.
    pub fn job_by_uid(&self, uid: &str) -> Option<&Arc<Job>> {
        self.jobs
            .iter()
            .find(|j| j.metadata.uid.as_deref() == Some(uid))
    }

    /// The Job a Workload mirrors, if it mirrors one and that Job exists: found by name in
    /// the sorted Jobs (a binary search; every cycle looks up every Workload's Job), its uid
    /// checked; by uid alone when the Jobs are not sorted.
    pub fn job_of(&self, w: &Workload) -> Option<&Arc<Job>> {
        let (uid, name) = job::owner_job(w)?;
        let namespace = w.metadata.namespace.as_deref().unwrap_or_default();
        let found = self
            .jobs
            .binary_search_by(|j| {
                let m = &j.metadata;
                (
                    m.namespace.as_deref().unwrap_or_default(),
                    m.name.as_deref().unwrap_or_default(),
                )
                    .cmp(&(namespace, name))
            })
            .ok()
            .map(|i| &self.jobs[i]);
        match found {
            Some(j) if j.metadata.uid.as_deref() == Some(uid) => Some(j),
            _ => self.job_by_uid(uid),
        }
    }
}

/// A Workload's place in its life, as its status records it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Waiting for admission.
    Pending,
    /// Admitted and running.
    Admitted,
    /// Admitted, and being stopped after an eviction.
    Evicting,
    /// Its job is done.
    Finished,
}

/// Where a Workload is, from its status alone.
pub fn phase(w: &Workload) -> Phase {
    let status = w.status.as_ref();
    let conds = status.map(|s| s.conditions.as_slice()).unwrap_or(&[]);
    if conditions::is_true(conds, FINISHED) {
        return Phase::Finished;
    }
    match status.and_then(|s| s.admission.as_ref()) {
        None => Phase::Pending,
        Some(_) if conditions::is_true(conds, EVICTED) => Phase::Evicting,
        Some(_) => Phase::Admitted,
    }
}

/// Milliseconds since the Unix epoch.
pub fn time_of(t: &K8sTime) -> Time {
    Time(t.0.as_millisecond())
}

/// The model of one cycle, and how its workloads map back to objects.
pub struct Snapshot {
    /// The cluster, with every live workload queued or admitted as the API server records.
    pub model: Model,
    /// What was left out as invalid, and warnings.
    pub live: LiveCluster,
    /// The Workload object of each model workload.
    pub objects_of: BTreeMap<WorkloadId, Arc<Workload>>,
    /// Admitted workloads whose recorded admission no longer fits (their ClusterQueue
    /// changed): kept out of the cycle; the controller evicts them.
    pub unrestorable: Vec<(Arc<Workload>, String)>,
    /// The Job each Job-owned workload mirrors.
    pub job_of: BTreeMap<WorkloadId, Arc<Job>>,
}

/// Why a snapshot could not be built at all (the valid objects contradict each other in a
/// way validation does not catch; a bug, reported rather than panicking).
#[derive(Debug, thiserror::Error)]
#[error("cannot build the model: {0}")]
pub struct SnapshotError(#[from] pub ModelError);

fn loaded<K: kube::Resource>(o: &K, object: Object, namespaced: bool) -> Loaded {
    let (ns, name) = meta_key(o.meta());
    Loaded::from_api(object, name, namespaced.then_some(ns))
}

/// Whether a Workload takes part in scheduling: not finished, and, when it mirrors a Job,
/// that Job still exists and has not finished.
pub fn is_live(objects: &Objects, w: &Workload) -> bool {
    if phase(w) == Phase::Finished {
        return false;
    }
    match job::owner_job_uid(w) {
        None => true,
        Some(_) => objects
            .job_of(w)
            .is_some_and(|j| job::finished(j).is_none()),
    }
}

/// Nodes whose NodeResourceTopology is up to date with Muster's binds: its pods fingerprint
/// is that of the pods Muster knows are bound there. Their reported zone usage is taken as
/// the truth (another scheduler's pods, the kubelet's own choice of zones).
fn reported_nodes(objects: &Objects) -> std::collections::BTreeSet<String> {
    use muster_api::numa_zones::{PODS_FINGERPRINT_ATTRIBUTE, pods_fingerprint};
    let Some(scheduler) = objects.scheduler_name.as_deref() else {
        return Default::default();
    };
    let mut by_node: BTreeMap<&str, Vec<&Pod>> = BTreeMap::new();
    for p in &objects.pods {
        if let Some(n) = p.spec.as_ref().and_then(|s| s.node_name.as_deref()) {
            by_node.entry(n).or_default().push(p);
        }
    }
    objects
        .topologies
        .iter()
        .filter_map(|t| {
            let node = t.metadata.name.as_deref()?;
            let reported = t
                .attributes
                .iter()
                .find(|a| a.name == PODS_FINGERPRINT_ATTRIBUTE)?;
            let pods = by_node.get(node).map(Vec::as_slice).unwrap_or_default();
            (reported.value == pods_fingerprint(pods.iter().copied(), node, scheduler))
                .then(|| node.to_string())
        })
        .collect()
}

/// Makes what each zone reports available the zone's room: everything the node's pods hold
/// (Muster's and others') is then counted once, as the node reports it.
fn take_reported_state(t: &mut NodeResourceTopology) {
    for zone in &mut t.zones {
        for r in &mut zone.resources {
            if let Some(available) = r.available {
                r.allocatable = Some(available);
            }
        }
    }
}

/// How many of a Job's pods are on each node whose report counts them already.
fn reported_pods(
    objects: &Objects,
    job: &Job,
    reported: &std::collections::BTreeSet<String>,
) -> BTreeMap<String, u32> {
    let mut out = BTreeMap::new();
    let (Some(uid), Some(scheduler)) = (job.metadata.uid.as_deref(), &objects.scheduler_name)
    else {
        return out;
    };
    for p in &objects.pods {
        let owned = job::controlling_job_uid(p) == Some(uid);
        let Some(node) = p.spec.as_ref().and_then(|s| s.node_name.as_deref()) else {
            continue;
        };
        if owned
            && reported.contains(node)
            && muster_api::numa_zones::in_fingerprint(p, node, scheduler)
        {
            *out.entry(node.to_string()).or_default() += 1;
        }
    }
    out
}

impl Snapshot {
    /// Validates the objects and builds the model at `now`, with the configured
    /// network-topology levels (empty: the default labels).
    pub fn build(
        objects: &Objects,
        topology_levels: &[muster_core::spec::TopologyLevelSpec],
    ) -> Result<Snapshot, SnapshotError> {
        let mut input: Vec<Loaded> = Vec::with_capacity(
            objects.nodes.len()
                + objects.priority_classes.len()
                + objects.flavors.len()
                + objects.cohorts.len()
                + objects.cluster_queues.len()
                + objects.local_queues.len()
                + objects.topologies.len()
                + objects.workloads.len(),
        );
        for n in &objects.nodes {
            input.push(loaded(&**n, Object::Node((**n).clone()), false));
        }
        for p in &objects.priority_classes {
            input.push(loaded(&**p, Object::PriorityClass((**p).clone()), false));
        }
        for f in &objects.flavors {
            input.push(loaded(&**f, Object::ResourceFlavor((**f).clone()), false));
        }
        for c in &objects.cohorts {
            input.push(loaded(&**c, Object::Cohort((**c).clone()), false));
        }
        for q in &objects.cluster_queues {
            input.push(loaded(&**q, Object::ClusterQueue((**q).clone()), false));
        }
        for q in &objects.local_queues {
            input.push(loaded(&**q, Object::LocalQueue((**q).clone()), true));
        }
        let reported = reported_nodes(objects);
        for t in &objects.topologies {
            let mut topology = (**t).clone();
            if reported.contains(t.metadata.name.as_deref().unwrap_or_default()) {
                take_reported_state(&mut topology);
            }
            input.push(loaded(&**t, Object::NodeResourceTopology(topology), false));
        }
        let live_workloads: Vec<&Arc<Workload>> = objects
            .workloads
            .iter()
            .filter(|w| is_live(objects, w))
            .collect();
        for w in &live_workloads {
            input.push(loaded(&***w, Object::Workload(Arc::clone(w)), true));
        }
        let live = build_live(&input, topology_levels);

        let mut model = Model::new(&live.cluster)?;
        let by_key: BTreeMap<(String, String), &Arc<Workload>> = live_workloads
            .iter()
            .map(|w| (meta_key(&w.metadata), *w))
            .collect();
        let mut objects_of = BTreeMap::new();
        let mut job_of = BTreeMap::new();
        let mut unrestorable = Vec::new();
        for spec in &live.workloads {
            let Some(&w) = by_key.get(&(spec.namespace.clone(), spec.name.clone())) else {
                continue;
            };
            let created = w
                .metadata
                .creation_timestamp
                .as_ref()
                .map(time_of)
                .unwrap_or_default();
            let id = model.submit(spec, created)?;
            objects_of.insert(id, w.clone());
            let job = objects.job_of(w);
            if let Some(j) = job {
                job_of.insert(id, j.clone());
            }
            let status = w.status.clone().unwrap_or_default();
            let conds = &status.conditions;
            match (&status.admission, phase(w)) {
                (Some(admission), Phase::Admitted | Phase::Evicting) => {
                    let records: Vec<RecordedPodSet> = admission
                        .pod_set_assignments
                        .iter()
                        .map(|a| RecordedPodSet {
                            reported: job
                                .map(|j| reported_pods(objects, j, &reported))
                                .unwrap_or_default(),
                            flavors: a.flavors.clone(),
                            nodes: a
                                .nodes
                                .iter()
                                .map(|n| {
                                    (n.name.clone(), n.count.clamp(0, i64::from(u32::MAX)) as u32)
                                })
                                .collect(),
                        })
                        .collect();
                    let at = conditions::get(conds, QUOTA_RESERVED)
                        .map(|c| time_of(&c.last_transition_time))
                        .unwrap_or(created);
                    let cq_matches = model
                        .cluster_queue_id(&admission.cluster_queue)
                        .is_some_and(|cq| cq == model.workload(id).cq);
                    let restored = if cq_matches {
                        model.restore_admission(id, &records, at)
                    } else {
                        Err(ModelError::Unrestorable {
                            workload: format!("{}/{}", spec.namespace, spec.name),
                            message: format!(
                                "it was admitted by ClusterQueue {:?}, its LocalQueue now feeds another",
                                admission.cluster_queue
                            ),
                        })
                    };
                    match restored {
                        Ok(()) => {
                            if phase(w) == Phase::Evicting {
                                model.mark_evicting(id)?;
                            }
                        }
                        Err(e) => {
                            model.withhold(id)?;
                            unrestorable.push((w.clone(), e.to_string()));
                        }
                    }
                }
                _ => {
                    // A Job still running (or not yet reset by the Job controller after a
                    // suspension) cannot take an admission's scheduling fields: it is
                    // suspended first, and admitted in a later cycle.
                    if job.is_some_and(|j| !job::is_suspended(j) || job::has_started(j)) {
                        model.withhold(id)?;
                    }
                    if let Some(c) = conditions::get(conds, EVICTED)
                        && c.status == "True"
                    {
                        model.set_queue_time(id, time_of(&c.last_transition_time).max(created))?;
                    }
                    if conditions::get(conds, QUOTA_RESERVED)
                        .is_some_and(|c| c.status == "False" && c.reason == REASON_PREEMPTING)
                    {
                        model.nominate(id)?;
                    }
                }
            }
        }
        Ok(Snapshot {
            model,
            live,
            objects_of,
            unrestorable,
            job_of,
        })
    }

    /// The Workload object of a model workload.
    pub fn object(&self, id: WorkloadId) -> Option<&Arc<Workload>> {
        self.objects_of.get(&id)
    }

    /// The model id of a Workload object.
    pub fn id_of(&self, w: &Workload) -> Option<WorkloadId> {
        let (namespace, name) = meta_key(&w.metadata);
        self.model.workload_id(&WorkloadKey {
            namespace: namespace.into(),
            name: name.into(),
        })
    }

    /// The problems found with an object, by its label (`Kind "name"`).
    pub fn rejected(&self, label: &str) -> Option<&[InputError]> {
        self.live.rejected.get(label).map(Vec::as_slice)
    }
}
