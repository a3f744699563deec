//! The cluster model: nodes, flavors, the quota tree, queues, workloads and their usage.
//!
//! A shell builds a [`Model`] from a [`ClusterSpec`], submits workloads to it, runs
//! [`crate::cycle::run_cycle`] over it and applies the [`CycleOutput`] it gets back. The
//! model changes only through those calls (`submit`, `apply_output`, `finish`), so the two
//! shells keep identical state for identical inputs.
//!
//! Architecture invariant: every table of named things is sorted by name when the model is
//! built, and every collection the cycle iterates is ordered (`Vec`, `BTreeMap`, `BTreeSet`),
//! so the model has one deterministic iteration order.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::Arc;

use crate::decision::{Admission, CycleOutput, Decision, InadmissibleReason, PendingReason};
use crate::ids::{
    CohortId, CqId, FlavorId, FrId, LevelId, NodeId, QuotaNodeId, ShapeId, WorkloadId,
};
use crate::lookup::LookupMap;
use crate::node::{Labels, Node, Taint, Toleration};
use crate::numa::Zones;
use crate::quantity::Quantity;
use crate::quota::{Limits, QuotaNodeInput, QuotaOwner, QuotaTree};
use crate::resource::{PODS, Request, ResourceId, ResourceTable};
use crate::shape::{
    FlavorView, MAX_OPTIONS_PER_POD_SET, NodeSetKey, PodSetKey, PodSetOption, PodSetShape, Shape,
    ShapeKey, ShapeTable, TopologyAsk, flavor_blocks, flavor_combinations,
};
use crate::spec::{ClusterSpec, PreemptionSpec, QueueingStrategy, ResourceGroupSpec, WorkloadSpec};
use crate::time::{Duration, Time};
use crate::topology::Level;
use crate::usage::{Scratch, Usage};

/// Pods a node holds when its allocatable does not say.
pub const DEFAULT_PODS_PER_NODE: i64 = 110;

/// A reference the model could not resolve, or a structure it cannot hold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ModelError {
    /// Two objects of one kind share a name.
    #[error("duplicate {kind} {name:?}")]
    Duplicate {
        /// Kind of object.
        kind: &'static str,
        /// The name.
        name: String,
    },
    /// A ClusterQueue or Cohort names a flavor that does not exist.
    #[error("{owner:?} refers to unknown ResourceFlavor {flavor:?}")]
    UnknownFlavor {
        /// The ClusterQueue or Cohort.
        owner: String,
        /// The flavor.
        flavor: String,
    },
    /// A workload names a ClusterQueue that does not exist.
    #[error("workload {workload} refers to unknown ClusterQueue {cluster_queue:?}")]
    UnknownClusterQueue {
        /// The workload.
        workload: String,
        /// The ClusterQueue.
        cluster_queue: String,
    },
    /// Cohort parents form a cycle.
    #[error("cohort parents form a cycle: {0}")]
    CohortCycle(String),
    /// A resource group is malformed.
    #[error("{owner:?}: {message}")]
    BadResourceGroup {
        /// The ClusterQueue or Cohort.
        owner: String,
        /// What is wrong.
        message: String,
    },
    /// A workload has no pod set or an empty one.
    #[error("workload {0} has no pods")]
    NoPods(String),
    /// A workload has more pod sets than a gang may have.
    #[error("workload {0} has more than {max} pod sets", max = crate::shape::MAX_POD_SETS)]
    TooManyPodSets(String),
    /// The operation needs an admitted workload.
    #[error("workload {0} is not admitted")]
    NotAdmitted(String),
    /// A decision does not match the model (applied twice, or to a different model).
    #[error("decision does not apply: {0}")]
    StaleDecision(String),
    /// A cycle run by [`crate::run_cycle_charged`] left admissions charged that were not
    /// applied before the rest of its output.
    #[error("admissions decided by a cycle were not applied: {0}")]
    UnappliedAdmissions(String),
    /// A node's NUMA zones are malformed.
    #[error("NodeResourceTopology {node:?}: {message}")]
    BadTopology {
        /// The node.
        node: String,
        /// What is wrong.
        message: String,
    },
    /// A workload names a network-topology level the configuration does not define.
    #[error("workload {workload} asks for topology level {level:?}, which is not configured")]
    UnknownTopologyLevel {
        /// The workload.
        workload: String,
        /// The level.
        level: String,
    },
    /// A recorded admission no longer fits the workload or its ClusterQueue.
    #[error("cannot restore the admission of {workload}: {message}")]
    Unrestorable {
        /// The workload.
        workload: String,
        /// What does not match.
        message: String,
    },
}

/// How one pod set was admitted, as a shell records it outside the model.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RecordedPodSet {
    /// Resource name → flavor name.
    pub flavors: BTreeMap<String, String>,
    /// Node name and the number of the pod set's pods on it.
    pub nodes: Vec<(String, u32)>,
    /// Node name and how many of the pod set's pods there are already counted in the zones'
    /// usage, because that node's NodeResourceTopology reports them and the model takes the
    /// reported state (these pods hold no zones of their own).
    pub reported: BTreeMap<String, u32>,
}

/// A workload's namespace and name; workloads are ordered by it last.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct WorkloadKey {
    /// Namespace.
    pub namespace: Arc<str>,
    /// Name.
    pub name: Arc<str>,
}

impl fmt::Display for WorkloadKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// A ResourceFlavor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Flavor {
    /// Name.
    pub name: String,
    /// Labels of its nodes.
    pub node_labels: Labels,
    /// Taints of its nodes.
    pub node_taints: Vec<Taint>,
    /// Tolerations given to pods admitted with it.
    pub tolerations: Vec<Toleration>,
}

impl Flavor {
    fn view(&self) -> FlavorView<'_> {
        FlavorView {
            node_labels: &self.node_labels,
            node_taints: &self.node_taints,
            tolerations: &self.tolerations,
        }
    }
}

/// A resource group of a ClusterQueue.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResourceGroup {
    /// Covered resources.
    pub covered: Vec<ResourceId>,
    /// Flavors in order of preference.
    pub flavors: Vec<FlavorId>,
}

/// A ClusterQueue.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClusterQueue {
    /// Name.
    pub name: String,
    /// Its cohort, if any.
    pub cohort: Option<CohortId>,
    /// Its node in the quota tree.
    pub quota_node: QuotaNodeId,
    /// Resource groups.
    pub resource_groups: Vec<ResourceGroup>,
    /// Queueing strategy.
    pub strategy: QueueingStrategy,
    /// Preemption policies.
    pub preemption: PreemptionSpec,
    /// The other ClusterQueues in the same cohort tree, in id order.
    pub peers: Vec<CqId>,
    group_of: Vec<Option<u16>>,
}

impl ClusterQueue {
    /// The resource group covering `r`, if any.
    pub fn group_of(&self, r: ResourceId) -> Option<u16> {
        self.group_of.get(r.index()).copied().flatten()
    }
}

/// A cohort.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cohort {
    /// Name.
    pub name: String,
    /// Parent cohort.
    pub parent: Option<CohortId>,
    /// Its node in the quota tree.
    pub quota_node: QuotaNodeId,
    /// Whether a Cohort object defines it (otherwise it is implicit, with no quota).
    pub explicit: bool,
}

/// Where a workload is in its life.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WorkloadState {
    /// Waiting in its ClusterQueue.
    Pending,
    /// Admitted and running.
    Admitted {
        /// Where and with which flavors.
        admission: Admission,
        /// When.
        at: Time,
    },
    /// Done; its quota and nodes are released.
    Finished,
}

/// A workload in the model.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Workload {
    /// Namespace and name.
    pub key: WorkloadKey,
    /// Its ClusterQueue.
    pub cq: CqId,
    /// Priority.
    pub priority: i32,
    /// When it was submitted.
    pub submitted_at: Time,
    /// Its place in the queue's FIFO order: submission, or its last eviction (Kueue's
    /// default requeuing timestamp), whichever is later.
    pub queue_ts: Time,
    /// Names of its pod sets.
    pub pod_set_names: Vec<String>,
    /// Its shape.
    pub shape: ShapeId,
    /// Declared runtime limit.
    pub runtime_limit: Option<Duration>,
    /// Life-cycle state.
    pub state: WorkloadState,
    /// Why it last waited.
    pub reason: PendingReason,
    /// Whether it was judged Inadmissible.
    pub inadmissible: bool,
    /// Admitted, but being stopped: its pods hold their nodes and quota until the shell
    /// reports them gone. It is never chosen as a victim again, and the room it will leave
    /// goes to a workload that would otherwise have to preempt (see [`Model::mark_evicting`]).
    pub evicting: bool,
    /// When it was last preempted. At that same instant it does not preempt in turn (the
    /// simulator's counterpart of Kueue's requeue backoff): without this, chains of
    /// preemptions by different rules could pass workloads around forever.
    pub evicted_at: Option<Time>,
}

impl Workload {
    /// Whether it is admitted now.
    pub fn is_admitted(&self) -> bool {
        matches!(self.state, WorkloadState::Admitted { .. })
    }

    /// Whether it is pending now.
    pub fn is_pending(&self) -> bool {
        matches!(self.state, WorkloadState::Pending)
    }

    /// Its admission, when admitted.
    pub fn admission(&self) -> Option<(&Admission, Time)> {
        match &self.state {
            WorkloadState::Admitted { admission, at } => Some((admission, *at)),
            _ => None,
        }
    }
}

/// Order of pending workloads within a ClusterQueue: higher priority, then earlier queue
/// timestamp, then namespace/name.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct QueueKey {
    priority: Reverse<i32>,
    ts: Time,
    key: WorkloadKey,
    /// The workload.
    pub id: WorkloadId,
}

/// A ClusterQueue's pending and admitted workloads.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CqQueue {
    /// Pending workloads in queue order.
    pub pending: BTreeSet<QueueKey>,
    /// Admitted workloads.
    pub admitted: BTreeSet<WorkloadId>,
    /// How many admitted workloads have each priority.
    admitted_priorities: BTreeMap<i32, u32>,
}

impl CqQueue {
    /// The lowest priority among the admitted workloads.
    pub fn lowest_admitted_priority(&self) -> Option<i32> {
        self.admitted_priorities.keys().next().copied()
    }

    fn admit(&mut self, id: WorkloadId, priority: i32) {
        self.admitted.insert(id);
        *self.admitted_priorities.entry(priority).or_default() += 1;
    }

    fn release(&mut self, id: WorkloadId, priority: i32) {
        if self.admitted.remove(&id)
            && let Some(n) = self.admitted_priorities.get_mut(&priority)
        {
            *n -= 1;
            if *n == 0 {
                self.admitted_priorities.remove(&priority);
            }
        }
    }
}

/// The cluster and everything queued and running on it.
#[derive(Clone, Debug)]
pub struct Model {
    resources: ResourceTable,
    nodes: Vec<Node>,
    capacity: std::sync::Arc<[Quantity]>,
    node_index: BTreeMap<String, NodeId>,
    flavors: Vec<Flavor>,
    flavor_index: BTreeMap<String, FlavorId>,
    quota: QuotaTree,
    cluster_queues: Vec<ClusterQueue>,
    cq_index: BTreeMap<String, CqId>,
    cohorts: Vec<Cohort>,
    workloads: Vec<Workload>,
    workload_index: LookupMap<WorkloadKey, WorkloadId>,
    queues: Vec<CqQueue>,
    unscreened: BTreeSet<WorkloadId>,
    nominated: BTreeSet<WorkloadId>,
    evicting: BTreeSet<WorkloadId>,
    shapes: ShapeTable,
    usage: Usage,
    /// The same cluster with nothing running, for judging admissibility.
    empty: Usage,
    /// What screening found for each shape: `Some(reason)` when it is Inadmissible. Nodes,
    /// flavors and quotas do not change during a model's life, so a verdict holds for good.
    verdicts: BTreeMap<ShapeId, Option<InadmissibleReason>>,
    /// Admissions that [`crate::run_cycle_charged`] left charged to `usage` and that have
    /// not been applied yet: applying them must not charge them again.
    charged_ahead: BTreeSet<WorkloadId>,
    /// NUMA zones of the nodes that report them.
    zones: Zones,
    /// Configured network-topology levels (name → node label), widest first; empty means
    /// the default labels.
    level_config: Vec<(String, String)>,
    /// Network-topology levels workloads have asked for, in order of first use.
    levels: Vec<Level>,
}

fn duplicate(kind: &'static str, name: &str) -> ModelError {
    ModelError::Duplicate {
        kind,
        name: name.to_string(),
    }
}

impl Model {
    /// Builds a model of a cluster with nothing queued or running.
    pub fn new(spec: &ClusterSpec) -> Result<Model, ModelError> {
        // Resources: every name a node, a quota or a workload may mention.
        let mut names: BTreeSet<String> = spec.extra_resources.iter().cloned().collect();
        for n in &spec.nodes {
            names.extend(n.allocatable.keys().cloned());
        }
        let groups = spec
            .cluster_queues
            .iter()
            .flat_map(|cq| &cq.resource_groups)
            .chain(spec.cohorts.iter().flat_map(|c| &c.resource_groups));
        for g in groups {
            names.extend(g.covered_resources.iter().cloned());
        }
        let resources = ResourceTable::new(names);
        let r_count = resources.len();

        // Nodes, in name order, with their capacity.
        let mut node_specs: Vec<_> = spec.nodes.iter().collect();
        node_specs.sort_by(|a, b| a.name.cmp(&b.name));
        let mut nodes = Vec::with_capacity(node_specs.len());
        let mut capacity = vec![Quantity::ZERO; node_specs.len() * r_count];
        let mut node_index = BTreeMap::new();
        for (i, n) in node_specs.iter().enumerate() {
            if node_index
                .insert(n.name.clone(), NodeId(i as u32))
                .is_some()
            {
                return Err(duplicate("Node", &n.name));
            }
            for (name, q) in &n.allocatable {
                if let Some(r) = resources.id(name) {
                    capacity[i * r_count + r.index()] = *q;
                }
            }
            if !n.allocatable.contains_key(PODS) {
                capacity[i * r_count + resources.pods().index()] =
                    Quantity::from_units(DEFAULT_PODS_PER_NODE);
            }
            nodes.push(Node {
                name: n.name.clone(),
                labels: n.labels.clone(),
                taints: n.taints.clone(),
            });
        }

        // Flavors.
        let mut flavors: Vec<Flavor> = spec
            .flavors
            .iter()
            .map(|f| Flavor {
                name: f.name.clone(),
                node_labels: f.node_labels.clone(),
                node_taints: f.node_taints.clone(),
                tolerations: f.tolerations.clone(),
            })
            .collect();
        flavors.sort_by(|a, b| a.name.cmp(&b.name));
        let mut flavor_index = BTreeMap::new();
        for (i, f) in flavors.iter().enumerate() {
            if flavor_index
                .insert(f.name.clone(), FlavorId(i as u32))
                .is_some()
            {
                return Err(duplicate("ResourceFlavor", &f.name));
            }
        }

        // Cohorts: explicit ones and those only named as a parent or by a ClusterQueue.
        let mut explicit: BTreeMap<&str, &crate::spec::CohortSpec> = BTreeMap::new();
        for c in &spec.cohorts {
            if explicit.insert(c.name.as_str(), c).is_some() {
                return Err(duplicate("Cohort", &c.name));
            }
        }
        let mut cohort_names: BTreeSet<String> = explicit.keys().map(|s| s.to_string()).collect();
        cohort_names.extend(spec.cohorts.iter().filter_map(|c| c.parent.clone()));
        cohort_names.extend(spec.cluster_queues.iter().filter_map(|q| q.cohort.clone()));
        let cohort_list: Vec<String> = cohort_names.into_iter().collect();
        let cohort_index: BTreeMap<&str, CohortId> = cohort_list
            .iter()
            .enumerate()
            .map(|(i, n)| (n.as_str(), CohortId(i as u32)))
            .collect();

        // ClusterQueues in name order; quota node i is ClusterQueue i, then cohorts follow.
        let mut cq_specs: Vec<_> = spec.cluster_queues.iter().collect();
        cq_specs.sort_by(|a, b| a.name.cmp(&b.name));
        let mut cq_index = BTreeMap::new();
        for (i, q) in cq_specs.iter().enumerate() {
            if cq_index.insert(q.name.clone(), CqId(i as u32)).is_some() {
                return Err(duplicate("ClusterQueue", &q.name));
            }
        }
        let cq_count = cq_specs.len();
        let cohort_node = |c: CohortId| QuotaNodeId((cq_count + c.index()) as u32);

        let mut cohorts = Vec::with_capacity(cohort_list.len());
        for (i, name) in cohort_list.iter().enumerate() {
            let spec = explicit.get(name.as_str());
            let parent = spec
                .and_then(|s| s.parent.as_deref())
                .map(|p| cohort_index[p]);
            cohorts.push(Cohort {
                name: name.clone(),
                parent,
                quota_node: cohort_node(CohortId(i as u32)),
                explicit: spec.is_some(),
            });
        }
        check_cohort_cycles(&cohorts)?;

        // Every (flavor, resource) a quota mentions.
        let mut fr_set: BTreeSet<(FlavorId, ResourceId)> = BTreeSet::new();
        let all_groups = cq_specs
            .iter()
            .map(|q| (q.name.as_str(), &q.resource_groups))
            .chain(
                spec.cohorts
                    .iter()
                    .map(|c| (c.name.as_str(), &c.resource_groups)),
            );
        for (owner, groups) in all_groups {
            for g in groups {
                for f in &g.flavors {
                    let fid =
                        *flavor_index
                            .get(&f.name)
                            .ok_or_else(|| ModelError::UnknownFlavor {
                                owner: owner.to_string(),
                                flavor: f.name.clone(),
                            })?;
                    for r in &f.resources {
                        let rid = resources.id(&r.name).expect("interned above");
                        fr_set.insert((fid, rid));
                    }
                }
            }
        }
        let frs: Vec<(FlavorId, ResourceId)> = fr_set.into_iter().collect();
        let fr_of: BTreeMap<(FlavorId, ResourceId), FrId> = frs
            .iter()
            .enumerate()
            .map(|(i, p)| (*p, FrId(i as u32)))
            .collect();
        let limits_of = |owner: &str,
                         groups: &[ResourceGroupSpec]|
         -> Result<BTreeMap<FrId, Limits>, ModelError> {
            let mut out = BTreeMap::new();
            for g in groups {
                for f in &g.flavors {
                    let fid = flavor_index[&f.name];
                    for r in &f.resources {
                        let rid = resources.id(&r.name).expect("interned above");
                        let fr = fr_of[&(fid, rid)];
                        let l = Limits {
                            nominal: r.nominal,
                            borrowing_limit: r.borrowing_limit,
                            lending_limit: r.lending_limit,
                        };
                        if out.insert(fr, l).is_some() {
                            return Err(ModelError::BadResourceGroup {
                                owner: owner.to_string(),
                                message: format!(
                                    "flavor {} lists resource {} twice",
                                    f.name, r.name
                                ),
                            });
                        }
                    }
                }
            }
            Ok(out)
        };

        let mut quota_inputs = Vec::with_capacity(cq_count + cohorts.len());
        let mut cluster_queues = Vec::with_capacity(cq_count);
        for (i, q) in cq_specs.iter().enumerate() {
            let cohort = q.cohort.as_deref().map(|c| cohort_index[c]);
            quota_inputs.push(QuotaNodeInput {
                name: q.name.clone(),
                owner: QuotaOwner::ClusterQueue(CqId(i as u32)),
                parent: cohort.map(cohort_node),
                limits: limits_of(&q.name, &q.resource_groups)?,
                weight: q.fair_weight.unwrap_or(Quantity::from_units(1)),
            });
            let mut group_of = vec![None; r_count];
            let mut resource_groups = Vec::new();
            for (gi, g) in q.resource_groups.iter().enumerate() {
                let mut covered = Vec::new();
                for name in &g.covered_resources {
                    let r = resources.id(name).expect("interned above");
                    if group_of[r.index()].is_some() {
                        return Err(ModelError::BadResourceGroup {
                            owner: q.name.clone(),
                            message: format!("resource {name} is covered by two resource groups"),
                        });
                    }
                    group_of[r.index()] = Some(gi as u16);
                    covered.push(r);
                }
                for f in &g.flavors {
                    let listed: Vec<&str> = f.resources.iter().map(|r| r.name.as_str()).collect();
                    if listed
                        != g.covered_resources
                            .iter()
                            .map(String::as_str)
                            .collect::<Vec<_>>()
                    {
                        return Err(ModelError::BadResourceGroup {
                            owner: q.name.clone(),
                            message: format!(
                                "flavor {} must list the covered resources {:?} in order, not {:?}",
                                f.name, g.covered_resources, listed
                            ),
                        });
                    }
                }
                let flavors_in_group: Vec<FlavorId> =
                    g.flavors.iter().map(|f| flavor_index[&f.name]).collect();
                resource_groups.push(ResourceGroup {
                    covered,
                    flavors: flavors_in_group,
                });
            }
            cluster_queues.push(ClusterQueue {
                name: q.name.clone(),
                cohort,
                quota_node: QuotaNodeId(i as u32),
                resource_groups,
                strategy: q.queueing_strategy,
                preemption: q.preemption,
                peers: Vec::new(),
                group_of,
            });
        }
        for (i, c) in cohorts.iter().enumerate() {
            let groups = explicit
                .get(c.name.as_str())
                .map(|s| s.resource_groups.as_slice())
                .unwrap_or(&[]);
            quota_inputs.push(QuotaNodeInput {
                name: c.name.clone(),
                owner: QuotaOwner::Cohort(CohortId(i as u32)),
                parent: c.parent.map(cohort_node),
                limits: limits_of(&c.name, groups)?,
                weight: explicit
                    .get(c.name.as_str())
                    .and_then(|s| s.fair_weight)
                    .unwrap_or(Quantity::from_units(1)),
            });
        }
        let quota = QuotaTree::new(frs, quota_inputs);

        // Peers: ClusterQueues under the same root cohort.
        let roots: Vec<QuotaNodeId> = cluster_queues
            .iter()
            .map(|q| quota.root(q.quota_node))
            .collect();
        for i in 0..cluster_queues.len() {
            if cluster_queues[i].cohort.is_none() {
                continue;
            }
            let peers = (0..cluster_queues.len())
                .filter(|&j| j != i && roots[j] == roots[i])
                .map(|j| CqId(j as u32))
                .collect();
            cluster_queues[i].peers = peers;
        }

        let topologies: Vec<(&str, Option<&crate::numa::NodeTopologySpec>)> = node_specs
            .iter()
            .map(|n| (n.name.as_str(), n.topology.as_ref()))
            .collect();
        let zones = Zones::build(&topologies, &resources).map_err(|e| ModelError::BadTopology {
            node: e.node,
            message: e.message,
        })?;
        let mut level_config: Vec<(String, String)> = Vec::new();
        for l in &spec.topology_levels {
            if level_config.iter().any(|(n, _)| *n == l.name) {
                return Err(duplicate("topology level", &l.name));
            }
            level_config.push((l.name.clone(), l.node_label.clone()));
        }

        let capacity: std::sync::Arc<[Quantity]> = capacity.into();
        let mut usage = Usage::new(
            capacity.clone(),
            r_count,
            quota.node_count() * quota.fr_count(),
        );
        usage.set_zone_cells(zones.cells());
        let empty = usage.clone();
        Ok(Model {
            resources,
            nodes,
            capacity,
            node_index,
            flavors,
            flavor_index,
            quota,
            queues: vec![CqQueue::default(); cluster_queues.len()],
            cluster_queues,
            cq_index,
            cohorts,
            workloads: Vec::new(),
            workload_index: LookupMap::default(),
            unscreened: BTreeSet::new(),
            nominated: BTreeSet::new(),
            evicting: BTreeSet::new(),
            shapes: ShapeTable::default(),
            usage,
            empty,
            verdicts: BTreeMap::new(),
            charged_ahead: BTreeSet::new(),
            zones,
            level_config,
            levels: Vec::new(),
        })
    }

    /// Queues a workload at `now`. It is pending until a cycle admits it.
    pub fn submit(&mut self, spec: &WorkloadSpec, now: Time) -> Result<WorkloadId, ModelError> {
        let key = WorkloadKey {
            namespace: spec.namespace.as_str().into(),
            name: spec.name.as_str().into(),
        };
        let cq = *self.cq_index.get(&spec.cluster_queue).ok_or_else(|| {
            ModelError::UnknownClusterQueue {
                workload: key.to_string(),
                cluster_queue: spec.cluster_queue.clone(),
            }
        })?;
        if spec.pod_sets.is_empty() || spec.pod_sets.iter().any(|p| p.count == 0) {
            return Err(ModelError::NoPods(key.to_string()));
        }
        if spec.pod_sets.len() > crate::shape::MAX_POD_SETS {
            return Err(ModelError::TooManyPodSets(key.to_string()));
        }
        let topology = match &spec.topology {
            Some(t) => Some(TopologyAsk {
                level: self
                    .level_id(&t.level)
                    .ok_or_else(|| ModelError::UnknownTopologyLevel {
                        workload: key.to_string(),
                        level: t.level.clone(),
                    })?,
                required: t.required,
            }),
            None => None,
        };
        // The last check: from here on the workload is added.
        let id = WorkloadId(self.workloads.len() as u32);
        if !self.workload_index.insert_new(key.clone(), id) {
            return Err(duplicate("workload", &key.to_string()));
        }
        let mut shape_key = ShapeKey {
            cq,
            topology,
            pod_sets: Vec::with_capacity(spec.pod_sets.len()),
        };
        for ps in &spec.pod_sets {
            let mut unknown = Vec::new();
            let mut items = Vec::new();
            for (name, q) in &ps.request {
                match self.resources.id(name) {
                    Some(r) => items.push((r, *q)),
                    None if q.is_zero() => {}
                    None => unknown.push(name.clone()),
                }
            }
            let known = |m: &BTreeMap<String, Quantity>| {
                Request::new(
                    m.iter()
                        .filter_map(|(name, q)| self.resources.id(name).map(|r| (r, *q))),
                )
            };
            let numa = crate::numa::PodNuma {
                guaranteed: ps.guaranteed,
                containers: ps.containers.iter().map(known).collect(),
                init_containers: ps.init_containers.iter().map(known).collect(),
            };
            let mut tolerations = ps.tolerations.clone();
            tolerations.sort();
            tolerations.dedup();
            shape_key.pod_sets.push(PodSetKey {
                count: ps.count,
                request: Request::new(items),
                selector: ps.node_selector.clone(),
                tolerations,
                numa,
                unknown,
            });
        }
        let shape = match self.shapes.lookup(&shape_key) {
            Some(id) => id,
            None => {
                let shape = self.build_shape(&shape_key);
                self.shapes.insert(shape_key, shape)
            }
        };
        self.workloads.push(Workload {
            key,
            cq,
            priority: spec.priority,
            submitted_at: now,
            queue_ts: now,
            pod_set_names: spec.pod_sets.iter().map(|p| p.name.clone()).collect(),
            shape,
            runtime_limit: spec.runtime_limit,
            state: WorkloadState::Pending,
            reason: PendingReason::Queued,
            inadmissible: false,
            evicting: false,
            evicted_at: None,
        });
        self.enqueue(id);
        self.unscreened.insert(id);
        Ok(id)
    }

    /// The level a workload names, built on first use; `None` when levels are configured
    /// and `name` is not one of them.
    fn level_id(&mut self, name: &str) -> Option<LevelId> {
        if let Some(i) = self.levels.iter().position(|l| l.name == name) {
            return Some(LevelId(i as u32));
        }
        let label = if self.level_config.is_empty() {
            crate::topology::default_label(name)
        } else {
            self.level_config
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, label)| label.clone())?
        };
        self.levels.push(Level::build(name, &label, &self.nodes));
        Some(LevelId(self.levels.len() as u32 - 1))
    }

    fn build_shape(&mut self, key: &ShapeKey) -> Shape {
        let cq = &self.cluster_queues[key.cq.index()];
        let pods = self.resources.pods();
        let covers_pods = cq.group_of(pods);
        let mut problem = None;
        let mut pod_sets = Vec::with_capacity(key.pod_sets.len());
        for (pi, k) in key.pod_sets.iter().enumerate() {
            let (count, request, selector, tolerations, unknown) = (
                &k.count,
                &k.request,
                &k.selector,
                &k.tolerations,
                &k.unknown,
            );
            let pi = pi as u16;
            if let Some(name) = unknown.first() {
                problem.get_or_insert(InadmissibleReason::UnknownResource {
                    pod_set: pi,
                    resource: name.clone(),
                });
            }
            let mut used: BTreeSet<u16> = BTreeSet::new();
            for (r, _) in request.iter() {
                match cq.group_of(r) {
                    Some(g) => {
                        used.insert(g);
                    }
                    None => {
                        problem.get_or_insert(InadmissibleReason::NotCovered {
                            pod_set: pi,
                            resource: r,
                        });
                    }
                }
            }
            if let Some(g) = covers_pods {
                used.insert(g);
            }
            let groups: Vec<(u16, &[FlavorId])> = used
                .iter()
                .map(|&g| (g, cq.resource_groups[g as usize].flavors.as_slice()))
                .collect();
            let combos = flavor_combinations(&groups, MAX_OPTIONS_PER_POD_SET);
            let mut options = Vec::with_capacity(combos.len());
            for (oi, combo) in combos.into_iter().enumerate() {
                let flavor_of_group: BTreeMap<u16, FlavorId> = combo.iter().copied().collect();
                let blocked = combo.iter().find_map(|(_, f)| {
                    flavor_blocks(
                        &self.flavors[f.index()].view(),
                        selector,
                        tolerations,
                        pi,
                        oi as u16,
                    )
                });
                let mut flavor_ids: Vec<FlavorId> = combo.iter().map(|(_, f)| *f).collect();
                flavor_ids.sort();
                flavor_ids.dedup();
                let views: Vec<FlavorView<'_>> = flavor_ids
                    .iter()
                    .map(|f| self.flavors[f.index()].view())
                    .collect();
                let (node_set, new_members) = self.shapes.node_set_for(
                    NodeSetKey {
                        flavors: flavor_ids.clone(),
                        selector: selector.clone(),
                        tolerations: tolerations.clone(),
                    },
                    &self.nodes,
                    &views,
                );
                if let Some(members) = new_members {
                    self.usage.add_set(members.clone());
                    self.empty.add_set(members);
                }
                let mut quota = Vec::new();
                let mut resource_flavors = Vec::new();
                for (r, q) in request.iter() {
                    if let Some(g) = cq.group_of(r) {
                        let f = flavor_of_group[&g];
                        resource_flavors.push((r, f));
                        if let Some(fr) = self.quota.fr(f, r) {
                            quota.push((fr, q.times(*count)));
                        }
                    }
                }
                if let Some(g) = covers_pods {
                    let f = flavor_of_group[&g];
                    resource_flavors.push((pods, f));
                    if let Some(fr) = self.quota.fr(f, pods) {
                        quota.push((fr, Quantity::from_units(i64::from(*count))));
                    }
                }
                resource_flavors.sort();
                quota.sort();
                options.push(PodSetOption {
                    flavors: combo,
                    resource_flavors,
                    node_set,
                    quota,
                    blocked,
                });
            }
            pod_sets.push(PodSetShape {
                count: *count,
                request: request.clone(),
                node_selector: selector.clone(),
                tolerations: tolerations.clone(),
                numa: k.numa.clone(),
                options,
            });
        }
        Shape {
            cq: key.cq,
            pod_sets,
            topology: key.topology,
            problem,
        }
    }

    /// A pending workload's key in its queue's order.
    pub fn queue_key(&self, id: WorkloadId) -> QueueKey {
        let w = &self.workloads[id.index()];
        QueueKey {
            priority: Reverse(w.priority),
            ts: w.queue_ts,
            key: w.key.clone(),
            id,
        }
    }

    fn enqueue(&mut self, id: WorkloadId) {
        let k = self.queue_key(id);
        let cq = self.workloads[id.index()].cq;
        self.queues[cq.index()].pending.insert(k);
    }

    fn dequeue(&mut self, id: WorkloadId) {
        let k = self.queue_key(id);
        let cq = self.workloads[id.index()].cq;
        self.queues[cq.index()].pending.remove(&k);
    }

    /// Applies a cycle's output at `now`: its decisions in order, then its screening results
    /// and pending reasons.
    pub fn apply_output(&mut self, out: &CycleOutput, now: Time) -> Result<(), ModelError> {
        for d in &out.decisions {
            self.apply(d, now)?;
        }
        if let Some(first) = self.charged_ahead.first() {
            return Err(ModelError::UnappliedAdmissions(format!(
                "{} and {} more",
                self.workloads[first.index()].key,
                self.charged_ahead.len() - 1
            )));
        }
        for id in &out.screened {
            self.unscreened.remove(id);
        }
        for (id, reason) in &out.pending {
            let w = &mut self.workloads[id.index()];
            if w.is_pending() {
                w.reason = reason.clone();
            }
            if *reason != PendingReason::Preempting {
                self.nominated.remove(id);
            }
        }
        Ok(())
    }

    /// Applies one decision at `now`.
    pub fn apply(&mut self, d: &Decision, now: Time) -> Result<(), ModelError> {
        match d {
            Decision::Admit(admission) => {
                let id = admission.workload;
                self.pending_checked(id)?;
                self.dequeue(id);
                if !self.charged_ahead.remove(&id) {
                    self.charge(admission, 1);
                }
                let w = &mut self.workloads[id.index()];
                w.state = WorkloadState::Admitted {
                    admission: admission.clone(),
                    at: now,
                };
                let (cq, priority) = (w.cq, w.priority);
                self.queues[cq.index()].admit(id, priority);
                self.unscreened.remove(&id);
                self.nominated.remove(&id);
            }
            Decision::Preempt { preemptor, victims } => {
                self.workload_checked(*preemptor)?;
                for v in victims {
                    self.evict(v.workload, now)?;
                }
                let w = &mut self.workloads[preemptor.index()];
                if w.is_pending() {
                    w.reason = PendingReason::Preempting;
                    self.nominated.insert(*preemptor);
                }
            }
            Decision::Inadmissible { workload, reason } => {
                self.workload_checked(*workload)?;
                let w = &mut self.workloads[workload.index()];
                w.inadmissible = true;
                w.reason = PendingReason::Inadmissible(reason.clone());
                self.unscreened.remove(workload);
            }
        }
        Ok(())
    }

    fn workload_checked(&self, id: WorkloadId) -> Result<&Workload, ModelError> {
        self.workloads
            .get(id.index())
            .ok_or_else(|| ModelError::StaleDecision(format!("no workload {}", id.0)))
    }

    /// The workload, if it exists and is pending.
    fn pending_checked(&self, id: WorkloadId) -> Result<&Workload, ModelError> {
        let w = self.workload_checked(id)?;
        if !w.is_pending() {
            return Err(ModelError::StaleDecision(format!(
                "{} is not pending",
                w.key
            )));
        }
        Ok(w)
    }

    /// Stops an admitted workload and queues it again (its progress is lost).
    fn evict(&mut self, id: WorkloadId, now: Time) -> Result<(), ModelError> {
        self.release(id)?;
        let w = &mut self.workloads[id.index()];
        w.state = WorkloadState::Pending;
        w.queue_ts = w.queue_ts.max(now);
        w.evicted_at = Some(now);
        w.reason = PendingReason::Queued;
        self.enqueue(id);
        Ok(())
    }

    /// Releases an admitted workload's nodes and quota and returns its admission.
    fn release(&mut self, id: WorkloadId) -> Result<Admission, ModelError> {
        let w = self.workload_checked(id)?;
        let Some((admission, _)) = w.admission() else {
            return Err(ModelError::NotAdmitted(w.key.to_string()));
        };
        let admission = admission.clone();
        self.charge(&admission, -1);
        let (cq, priority) = (
            self.workloads[id.index()].cq,
            self.workloads[id.index()].priority,
        );
        self.queues[cq.index()].release(id, priority);
        self.workloads[id.index()].evicting = false;
        self.evicting.remove(&id);
        Ok(admission)
    }

    /// Records that an admitted workload is being stopped (a preemption the shell has begun
    /// but that takes time, as a Kubernetes Job's pods take time to terminate). It keeps its
    /// nodes and quota until [`Model::finish`] or until the shell rebuilds the model without
    /// it; meanwhile no cycle picks it as a victim again, and a workload that needs its room
    /// waits for it (`Preempting`) instead of preempting more. The simulator stops victims
    /// at once and never needs this.
    pub fn mark_evicting(&mut self, id: WorkloadId) -> Result<(), ModelError> {
        let w = self.workload_checked(id)?;
        if !w.is_admitted() {
            return Err(ModelError::NotAdmitted(w.key.to_string()));
        }
        self.workloads[id.index()].evicting = true;
        self.evicting.insert(id);
        Ok(())
    }

    /// Records that a pending workload preempted in an earlier cycle (a shell restoring
    /// state it keeps outside the model): the next cycle tries it first.
    pub fn nominate(&mut self, id: WorkloadId) -> Result<(), ModelError> {
        self.pending_checked(id)?;
        self.nominated.insert(id);
        Ok(())
    }

    /// Keeps a pending workload out of every cycle of this model (a shell holds it in a state
    /// the model cannot express, such as an admission it is undoing).
    pub fn withhold(&mut self, id: WorkloadId) -> Result<(), ModelError> {
        self.pending_checked(id)?;
        self.workloads[id.index()].inadmissible = true;
        self.unscreened.remove(&id);
        Ok(())
    }

    /// Moves a pending workload's place in its queue to `ts` (its last requeue, as a shell
    /// restoring a workload that was evicted before records it).
    pub fn set_queue_time(&mut self, id: WorkloadId, ts: Time) -> Result<(), ModelError> {
        self.pending_checked(id)?;
        self.dequeue(id);
        self.workloads[id.index()].queue_ts = ts;
        self.enqueue(id);
        Ok(())
    }

    /// Admits a pending workload as an earlier admission recorded it: for each pod set, the
    /// flavor of each resource and the node of each pod. A node that has left the cluster
    /// is recorded as [`NodeId::LOST`]: its pods hold quota but no node.
    pub fn restore_admission(
        &mut self,
        id: WorkloadId,
        pod_sets: &[RecordedPodSet],
        at: Time,
    ) -> Result<(), ModelError> {
        let w = self.workload_checked(id)?;
        let key = w.key.to_string();
        let shape = self.shape_of(id);
        if pod_sets.len() != shape.pod_sets.len() {
            return Err(ModelError::Unrestorable {
                workload: key,
                message: format!(
                    "the admission records {} pod sets, the workload has {}",
                    pod_sets.len(),
                    shape.pod_sets.len()
                ),
            });
        }
        let mut options = Vec::with_capacity(pod_sets.len());
        let mut placements = Vec::new();
        for (pi, (ps, rec)) in shape.pod_sets.iter().zip(pod_sets).enumerate() {
            let found = ps.options.iter().position(|o| {
                o.resource_flavors.len() == rec.flavors.len()
                    && o.resource_flavors.iter().all(|(r, f)| {
                        rec.flavors.get(self.resources.name(*r))
                            == Some(&self.flavors[f.index()].name)
                    })
            });
            let Some(option) = found else {
                return Err(ModelError::Unrestorable {
                    workload: key,
                    message: format!(
                        "pod set {}: its ClusterQueue no longer offers the flavors {:?} it was admitted with",
                        self.workloads[id.index()].pod_set_names[pi],
                        rec.flavors
                    ),
                });
            };
            options.push(option as u16);
            let start = placements.len();
            for (node, count) in &rec.nodes {
                let n = self.node_id(node).unwrap_or(NodeId::LOST);
                placements.extend(std::iter::repeat_n(n, *count as usize));
            }
            let placed = placements.len() - start;
            if placed > ps.count as usize {
                return Err(ModelError::Unrestorable {
                    workload: key,
                    message: format!(
                        "pod set {}: the admission places {placed} pods, the pod set has {}",
                        self.workloads[id.index()].pod_set_names[pi],
                        ps.count
                    ),
                });
            }
            placements.resize(start + ps.count as usize, NodeId::LOST);
        }
        let mut reported: Vec<(NodeId, u32)> = Vec::new();
        for rec in pod_sets {
            for (node, count) in &rec.reported {
                if let Some(n) = self.node_id(node) {
                    reported.push((n, *count));
                }
            }
        }
        let numa = self.restored_zones(id, &placements, reported);
        let admission = Admission {
            workload: id,
            options,
            placements,
            borrowing: false,
            backfilled: false,
            numa,
        };
        self.apply(&Decision::Admit(admission), at)?;
        let cq_node = self.cluster_queues[self.workloads[id.index()].cq.index()].quota_node;
        let s = Scratch::new(std::mem::take(&mut self.usage));
        let borrowing = match self.workloads[id.index()].admission() {
            Some((admission, _)) => self
                .admitted_options(admission)
                .flat_map(|(_, o)| &o.quota)
                .any(|&(fr, _)| self.quota.is_borrowing(&s, cq_node, fr)),
            None => false,
        };
        self.usage = s.into_usage();
        if let WorkloadState::Admitted { admission, .. } = &mut self.workloads[id.index()].state {
            admission.borrowing = borrowing;
        }
        Ok(())
    }

    /// The zones a restored admission's pods hold: as each node's kubelet would align them
    /// now, pod by pod (where it would not, from the lowest zones first: the pods run, and
    /// are not counted as Topology Affinity Errors, which only a NUMA-blind placement makes).
    fn restored_zones(
        &mut self,
        id: WorkloadId,
        placements: &[NodeId],
        mut reported: Vec<(NodeId, u32)>,
    ) -> crate::numa::NumaPlacement {
        let mut numa = crate::numa::NumaPlacement::default();
        if self.zones.is_empty() {
            return numa;
        }
        let mut s = Scratch::new(std::mem::take(&mut self.usage));
        let shape = self.shape_of(id);
        let pods = shape
            .pod_sets
            .iter()
            .flat_map(|ps| std::iter::repeat_n(ps, ps.count as usize));
        for (pod, (ps, &node)) in pods.zip(placements).enumerate() {
            if node == NodeId::LOST {
                continue;
            }
            // Pods the node's report counts already hold nothing more.
            if let Some((_, left)) = reported
                .iter_mut()
                .find(|(n, left)| *n == node && *left > 0)
            {
                *left -= 1;
                continue;
            }
            // Nodes without zones hold nothing (`hold` says so).
            self.zones
                .hold(&mut s, node, (&ps.request, &ps.numa), pod as u32, &mut numa);
        }
        numa.affinity_errors.clear();
        s.rollback(crate::usage::Mark::START);
        self.usage = s.into_usage();
        numa
    }

    /// Marks an admitted workload finished and releases what it held.
    pub fn finish(&mut self, id: WorkloadId) -> Result<(), ModelError> {
        self.release(id)?;
        self.workloads[id.index()].state = WorkloadState::Finished;
        Ok(())
    }

    /// Adds (`sign` 1) or removes (`sign` -1) an admission's usage to the model's own usage.
    fn charge(&mut self, admission: &Admission, sign: i8) {
        let usage = std::mem::take(&mut self.usage);
        let mut s = Scratch::new(usage);
        self.charge_into(&mut s, admission, sign);
        self.usage = s.into_usage();
    }

    /// Adds or removes an admission's node allocations and quota usage in `s`.
    pub(crate) fn charge_into(&self, s: &mut Scratch, admission: &Admission, sign: i8) {
        self.charge_nodes_into(s, admission, sign);
        self.charge_quota_into(s, admission, sign);
    }

    /// Adds or removes an admission's pods on their nodes in `s`.
    pub(crate) fn charge_nodes_into(&self, s: &mut Scratch, admission: &Admission, sign: i8) {
        let shape = self.shape_of(admission.workload);
        let r_count = self.resources.len();
        let pods = self.resources.pods();
        let one = Quantity::from_units(1);
        let mut pod = 0usize;
        for ps in &shape.pod_sets {
            for _ in 0..ps.count {
                let node = admission.placements[pod];
                pod += 1;
                if node == NodeId::LOST {
                    continue;
                }
                let node = node.index();
                for (r, q) in ps.request.iter().chain([(pods, one)]) {
                    let cell = node * r_count + r.index();
                    let v = if sign > 0 {
                        s.node(cell) + q
                    } else {
                        s.node(cell) - q
                    };
                    s.set_node(cell, v);
                }
            }
        }
        for t in &admission.numa.takes {
            let cell = self.zones.cell(t.zone, t.resource);
            let v = if sign > 0 {
                s.zone(cell) + t.amount
            } else {
                s.zone(cell) - t.amount
            };
            s.set_zone(cell, v);
        }
    }

    /// Adds or removes an admission's quota usage in `s`.
    pub(crate) fn charge_quota_into(&self, s: &mut Scratch, admission: &Admission, sign: i8) {
        let w = &self.workloads[admission.workload.index()];
        let cq_node = self.cluster_queues[w.cq.index()].quota_node;
        for (_, option) in self.admitted_options(admission) {
            for &(fr, q) in &option.quota {
                let delta = if sign > 0 { q } else { -q };
                self.quota.add_usage(s, cq_node, fr, delta);
            }
        }
    }

    // ---- read access -------------------------------------------------------------------

    /// The resource table.
    pub fn resources(&self) -> &ResourceTable {
        &self.resources
    }

    /// NUMA zones of the nodes that report them.
    pub fn zones(&self) -> &Zones {
        &self.zones
    }

    /// A network-topology level workloads asked for.
    pub fn level(&self, id: LevelId) -> &Level {
        &self.levels[id.index()]
    }

    /// Nodes, in name order.
    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    /// A node's id by name.
    pub fn node_id(&self, name: &str) -> Option<NodeId> {
        self.node_index.get(name).copied()
    }

    /// A node's allocatable amount of a resource.
    pub fn allocatable(&self, n: NodeId, r: ResourceId) -> Quantity {
        self.capacity[n.index() * self.resources.len() + r.index()]
    }

    /// A node's allocated amount of a resource.
    pub fn allocated(&self, n: NodeId, r: ResourceId) -> Quantity {
        self.usage.node_alloc[n.index() * self.resources.len() + r.index()]
    }

    pub(crate) fn capacity_table(&self) -> &[Quantity] {
        &self.capacity
    }

    /// Flavors, in name order.
    pub fn flavors(&self) -> &[Flavor] {
        &self.flavors
    }

    /// A flavor's id by name.
    pub fn flavor_id(&self, name: &str) -> Option<FlavorId> {
        self.flavor_index.get(name).copied()
    }

    /// The quota tree.
    pub fn quota(&self) -> &QuotaTree {
        &self.quota
    }

    /// ClusterQueues, in name order.
    pub fn cluster_queues(&self) -> &[ClusterQueue] {
        &self.cluster_queues
    }

    /// A ClusterQueue.
    pub fn cluster_queue(&self, id: CqId) -> &ClusterQueue {
        &self.cluster_queues[id.index()]
    }

    /// A ClusterQueue's id by name.
    pub fn cluster_queue_id(&self, name: &str) -> Option<CqId> {
        self.cq_index.get(name).copied()
    }

    /// Cohorts, in name order.
    pub fn cohorts(&self) -> &[Cohort] {
        &self.cohorts
    }

    /// A ClusterQueue's pending and admitted workloads.
    pub fn queue(&self, id: CqId) -> &CqQueue {
        &self.queues[id.index()]
    }

    /// All workloads ever submitted, by id.
    pub fn workloads(&self) -> &[Workload] {
        &self.workloads
    }

    /// A workload.
    pub fn workload(&self, id: WorkloadId) -> &Workload {
        &self.workloads[id.index()]
    }

    /// A workload's id by namespace/name.
    pub fn workload_id(&self, key: &WorkloadKey) -> Option<WorkloadId> {
        self.workload_index.get(key).copied()
    }

    /// Pending workloads that preempted others to make room and are not admitted yet: the
    /// next cycle tries them first, so that the room they made is theirs (kube-scheduler's
    /// nominated pods).
    pub fn nominated(&self) -> &BTreeSet<WorkloadId> {
        &self.nominated
    }

    /// Admitted workloads being stopped (see [`Model::mark_evicting`]).
    pub fn evicting(&self) -> &BTreeSet<WorkloadId> {
        &self.evicting
    }

    /// Workloads not yet screened for admissibility.
    pub fn unscreened(&self) -> &BTreeSet<WorkloadId> {
        &self.unscreened
    }

    /// The interned shapes.
    pub fn shapes(&self) -> &ShapeTable {
        &self.shapes
    }

    /// A workload's shape.
    pub fn shape_of(&self, id: WorkloadId) -> &Shape {
        self.shapes.shape(self.workloads[id.index()].shape)
    }

    /// The current usage.
    pub fn usage(&self) -> &Usage {
        &self.usage
    }

    /// A scratch copy of the current usage, for what-ifs.
    pub fn scratch(&self) -> Scratch {
        Scratch::new(self.usage.clone())
    }

    /// Lends the current usage and the empty-cluster usage to a cycle, which must give them
    /// back unchanged with [`Model::return_usage`].
    pub(crate) fn lend_usage(&mut self) -> (Usage, Usage) {
        (
            std::mem::take(&mut self.usage),
            std::mem::take(&mut self.empty),
        )
    }

    /// Lends the screening verdicts by shape to a cycle, which gives them back, with what
    /// it added, through [`Model::return_verdicts`].
    pub(crate) fn lend_verdicts(&mut self) -> BTreeMap<ShapeId, Option<InadmissibleReason>> {
        std::mem::take(&mut self.verdicts)
    }

    /// Takes back what [`Model::lend_verdicts`] lent.
    pub(crate) fn return_verdicts(
        &mut self,
        verdicts: BTreeMap<ShapeId, Option<InadmissibleReason>>,
    ) {
        self.verdicts = verdicts;
    }

    /// Takes back what [`Model::lend_usage`] lent.
    pub(crate) fn return_usage(&mut self, usage: Usage, empty: Usage) {
        self.usage = usage;
        self.empty = empty;
    }

    /// Records that the usage given back holds these admissions already (see
    /// [`crate::run_cycle_charged`]).
    pub(crate) fn set_charged_ahead(&mut self, admitted: impl IntoIterator<Item = WorkloadId>) {
        self.charged_ahead.extend(admitted);
    }

    /// Whether admissions a cycle left charged are still to be applied.
    pub(crate) fn has_charged_ahead(&self) -> bool {
        !self.charged_ahead.is_empty()
    }

    /// A pod set's name.
    pub fn pod_set_name(&self, w: WorkloadId, pod_set: u16) -> &str {
        &self.workloads[w.index()].pod_set_names[pod_set as usize]
    }

    /// The flavors of one option of a pod set, as `a100` or `a100+default`.
    pub fn option_flavor_names(&self, w: WorkloadId, pod_set: u16, option: u16) -> String {
        let opt = &self.shape_of(w).pod_sets[pod_set as usize].options[option as usize];
        opt.flavors
            .iter()
            .map(|(_, f)| self.flavors[f.index()].name.as_str())
            .collect::<Vec<_>>()
            .join("+")
    }

    /// `nvidia.com/gpu in flavor a100`.
    pub fn describe_fr(&self, fr: FrId) -> String {
        let (f, r) = self.quota.fr_pair(fr);
        format!(
            "{} in flavor {}",
            self.resources.name(r),
            self.flavors[f.index()].name
        )
    }

    /// Each pod set of an admission with the flavor option it was given.
    pub fn admitted_options<'a>(
        &'a self,
        admission: &'a Admission,
    ) -> impl Iterator<Item = (&'a PodSetShape, &'a PodSetOption)> + 'a {
        self.shape_of(admission.workload)
            .pod_sets
            .iter()
            .zip(&admission.options)
            .map(|(ps, &o)| (ps, &ps.options[o as usize]))
    }

    /// For each pod set, resource name → flavor name of an admission.
    pub fn admission_flavors(&self, admission: &Admission) -> Vec<BTreeMap<String, String>> {
        self.admitted_options(admission)
            .map(|(_, option)| {
                option
                    .resource_flavors
                    .iter()
                    .map(|(r, f)| {
                        (
                            self.resources.name(*r).to_string(),
                            self.flavors[f.index()].name.clone(),
                        )
                    })
                    .collect()
            })
            .collect()
    }

    /// Why a workload waits, in words.
    pub fn explain(&self, id: WorkloadId) -> String {
        self.workloads[id.index()].reason.describe(self, id)
    }
}

fn check_cohort_cycles(cohorts: &[Cohort]) -> Result<(), ModelError> {
    for start in 0..cohorts.len() {
        let mut seen = vec![start];
        let mut cur = cohorts[start].parent;
        while let Some(p) = cur {
            if p.index() == start {
                let names: Vec<&str> = seen.iter().map(|&i| cohorts[i].name.as_str()).collect();
                return Err(ModelError::CohortCycle(format!(
                    "{} -> {}",
                    names.join(" -> "),
                    cohorts[start].name
                )));
            }
            if seen.len() > cohorts.len() {
                break;
            }
            seen.push(p.index());
            cur = cohorts[p.index()].parent;
        }
    }
    Ok(())
}
