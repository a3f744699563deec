//! What a cycle decides, and why a workload waits.
//!
//! Decisions are data: the simulator and the Kubernetes shell apply the same values through
//! [`crate::model::Model::apply`] and never second-guess them. Reasons are structured (ids and
//! quantities, no strings) so that recording one costs nothing in the hot path; `describe`
//! turns them into the words `muster explain` and the Workload status show.

use crate::ids::{FrId, NodeId, WorkloadId};
use crate::model::Model;
use crate::quantity::Quantity;
use crate::resource::ResourceId;

/// A workload admitted: the flavors chosen for each pod set and the node of every pod.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Admission {
    /// The workload.
    pub workload: WorkloadId,
    /// For each pod set, the index of the chosen flavor option of its shape.
    pub options: Vec<u16>,
    /// The node of every pod, pod sets in order, then pod index.
    pub placements: Vec<NodeId>,
    /// Whether the admission uses quota borrowed from the cohort.
    pub borrowing: bool,
    /// Whether it started ahead of a Backfill queue's head that holds a reservation
    /// (it was backfilled).
    pub backfilled: bool,
    /// Where its pods hold resources in NUMA zones (on nodes that have them).
    pub numa: crate::numa::NumaPlacement,
}

/// Why a victim is preempted; the names are Kueue's.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PreemptionReason {
    /// By a higher-priority (or older) workload of the same ClusterQueue.
    InClusterQueue,
    /// Its ClusterQueue borrowed quota that the preemptor's ClusterQueue reclaims.
    InCohortReclamation,
    /// The preemptor borrows too, under `borrowWithinCohort`.
    InCohortReclaimWhileBorrowing,
    /// Fair sharing moves quota to a queue below its share.
    InCohortFairSharing,
}

impl PreemptionReason {
    /// The reason as events and conditions spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            PreemptionReason::InClusterQueue => "InClusterQueue",
            PreemptionReason::InCohortReclamation => "InCohortReclamation",
            PreemptionReason::InCohortReclaimWhileBorrowing => "InCohortReclaimWhileBorrowing",
            PreemptionReason::InCohortFairSharing => "InCohortFairSharing",
        }
    }
}

/// One workload to preempt, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Victim {
    /// The admitted workload to stop.
    pub workload: WorkloadId,
    /// Why.
    pub reason: PreemptionReason,
}

/// Why a workload can never be admitted as the cluster stands (judged on empty nodes and the
/// ClusterQueue's reachable quota).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InadmissibleReason {
    /// A pod set requests a resource that no node, quota or flavor mentions.
    UnknownResource {
        /// Pod set index.
        pod_set: u16,
        /// The resource name.
        resource: String,
    },
    /// A pod set requests a resource no resource group of the ClusterQueue covers.
    NotCovered {
        /// Pod set index.
        pod_set: u16,
        /// The resource.
        resource: ResourceId,
    },
    /// Every flavor option failed; one reason per option tried, most preferred first.
    NoFlavorFits(Vec<OptionFailure>),
}

/// Why one choice of flavors can never work.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OptionFailure {
    /// A flavor's node taint is not tolerated by the pod set.
    TaintNotTolerated {
        /// Pod set index.
        pod_set: u16,
        /// Flavor option index.
        option: u16,
        /// The taint key.
        key: String,
    },
    /// The pod set's node selector contradicts a flavor's node labels.
    SelectorConflict {
        /// Pod set index.
        pod_set: u16,
        /// Flavor option index.
        option: u16,
        /// The conflicting label key.
        key: String,
    },
    /// The whole request exceeds the quota the ClusterQueue could ever reach.
    ExceedsReachableQuota {
        /// The (flavor, resource).
        fr: FrId,
        /// Total requested.
        requested: Quantity,
        /// Reachable quota.
        reachable: Quantity,
    },
    /// The gang cannot be placed even on empty nodes.
    DoesNotFitEmptyNodes(NodeFitFailure),
}

/// Where a gang placement stopped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeFitFailure {
    /// Pod set index that could not be placed.
    pub pod_set: u16,
    /// Flavor option index of that pod set.
    pub option: u16,
    /// Pods of that pod set placed before no node was left; `None` when not counted because
    /// a pod set at most as big had already failed on the same nodes.
    pub placed: Option<u32>,
    /// Pods in that pod set.
    pub count: u32,
    /// Nodes the pod set could use at all.
    pub eligible_nodes: u32,
    /// The network-topology level none of whose domains could hold the whole gang, when the
    /// gang requires one domain.
    pub within: Option<crate::ids::LevelId>,
    /// Whether a node whose totals would hold a pod was ruled out by its NUMA topology
    /// manager policy (no zone, or no preferred set of zones, can align the pod).
    pub numa: bool,
}

/// Why a workload is pending right now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PendingReason {
    /// Submitted; no cycle has considered it yet.
    Queued,
    /// It can never be admitted.
    Inadmissible(InadmissibleReason),
    /// Not enough quota: the first (flavor, resource) short, with what is left.
    InsufficientQuota {
        /// The (flavor, resource).
        fr: FrId,
        /// What the workload needs of it in total.
        requested: Quantity,
        /// What the ClusterQueue can get now, borrowing included.
        available: Quantity,
    },
    /// Quota is there but the gang does not fit on the nodes now.
    NodesFull(NodeFitFailure),
    /// Its StrictFIFO ClusterQueue is blocked behind this head.
    BlockedBehind(WorkloadId),
    /// It preempted workloads and is admitted once they are gone.
    Preempting,
    /// The last cycle's bounds stopped before reaching it (its queue had as many workloads
    /// fail to fit as a cycle tries).
    NotTried,
    /// It would fit now, but it would run past a Backfill head's reservation (by its
    /// runtime limit, or it has none) and take capacity reserved for that head.
    DelaysReservation {
        /// The head holding the reservation.
        head: WorkloadId,
        /// When the reservation begins.
        at: crate::time::Time,
    },
}

/// Counters for one cycle, for benchmarks and metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CycleCounters {
    /// Workloads a cycle tried to fit.
    pub attempts: u64,
    /// Attempts answered from the cycle's memo of failed shapes.
    pub memo_hits: u64,
    /// Gang placements tried.
    pub placements: u64,
    /// Preemption searches run.
    pub preemption_searches: u64,
}

/// Everything one cycle decided.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CycleOutput {
    /// Decisions, in the order they were made (apply them in this order).
    pub decisions: Vec<Decision>,
    /// Workloads screened this cycle and found admissible in principle.
    pub screened: Vec<WorkloadId>,
    /// The reason each workload the cycle considered and left pending is waiting.
    pub pending: Vec<(WorkloadId, PendingReason)>,
    /// Counters.
    pub counters: CycleCounters,
    /// Backfill reservations held in this cycle: each Backfill ClusterQueue's first
    /// waiting workload, and when its reserved capacity would be free.
    pub reservations: Vec<(WorkloadId, crate::time::Time)>,
    /// Whether another cycle at the same time, after this output is applied, would decide
    /// nothing: no victims will free room, and nothing admitted in this cycle could become a
    /// preemption candidate for a workload that failed to preempt in it.
    pub settled: bool,
}

impl CycleOutput {
    /// Whether applying this output changes what runs (anything but reasons).
    pub fn changes_anything(&self) -> bool {
        !self.decisions.is_empty()
    }
}

/// One decision of a cycle.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Start a workload.
    Admit(Admission),
    /// Stop these workloads so that `preemptor` can be admitted.
    Preempt {
        /// The pending workload that needs the room.
        preemptor: WorkloadId,
        /// The admitted workloads to stop. Empty when the room it needs is already being
        /// freed by workloads the shell is stopping: it holds that room and waits.
        victims: Vec<Victim>,
    },
    /// A workload can never be admitted; report it once, keep it pending.
    Inadmissible {
        /// The workload.
        workload: WorkloadId,
        /// Why.
        reason: InadmissibleReason,
    },
}

impl NodeFitFailure {
    fn describe(&self, model: &Model, w: WorkloadId) -> String {
        self.describe_where(model, w, "")
    }

    /// Words for this failure, with `context` (e.g. " even with the cluster empty") placed
    /// before the NUMA note.
    fn describe_where(&self, model: &Model, w: WorkloadId, context: &str) -> String {
        let name = model.pod_set_name(w, self.pod_set);
        if let Some(level) = self.within {
            let level = model.level(level);
            return format!(
                "no single {} (node label {}) can hold the whole gang",
                level.name, level.label
            );
        }
        if self.eligible_nodes == 0 {
            return format!(
                "pod set {name}: no node matches its flavors, node selector and tolerations"
            );
        }
        let numa = if self.numa {
            format!(
                "{context}: where node totals would hold a pod, the node's topology manager \
                 policy cannot align it to the node's NUMA zones"
            )
        } else {
            context.to_string()
        };
        match self.placed {
            Some(0) => format!(
                "pod set {name}: none of its {} pods fits on any of the {} eligible nodes{numa}",
                self.count, self.eligible_nodes
            ),
            Some(placed) => format!(
                "pod set {name}: only {placed} of its {} pods fit on the {} eligible nodes{numa}",
                self.count, self.eligible_nodes
            ),
            None => format!(
                "pod set {name}: its {} pods do not fit on the {} eligible nodes{numa}",
                self.count, self.eligible_nodes
            ),
        }
    }
}

impl OptionFailure {
    /// Words for this failure.
    pub fn describe(&self, model: &Model, w: WorkloadId) -> String {
        match self {
            OptionFailure::TaintNotTolerated {
                pod_set,
                option,
                key,
            } => format!(
                "pod set {}: flavor {} has node taint {key:?} that the pods do not tolerate",
                model.pod_set_name(w, *pod_set),
                model.option_flavor_names(w, *pod_set, *option),
            ),
            OptionFailure::SelectorConflict {
                pod_set,
                option,
                key,
            } => format!(
                "pod set {}: node selector {key:?} contradicts the node labels of flavor {}",
                model.pod_set_name(w, *pod_set),
                model.option_flavor_names(w, *pod_set, *option),
            ),
            OptionFailure::ExceedsReachableQuota {
                fr,
                requested,
                reachable,
            } => format!(
                "requests {requested} {} but ClusterQueue {} can reach at most {reachable}",
                model.describe_fr(*fr),
                model.cluster_queue(model.workload(w).cq).name,
            ),
            OptionFailure::DoesNotFitEmptyNodes(f) if f.eligible_nodes == 0 => f.describe(model, w),
            OptionFailure::DoesNotFitEmptyNodes(f) => {
                f.describe_where(model, w, " even with the cluster empty")
            }
        }
    }
}

impl InadmissibleReason {
    /// Words for this reason.
    pub fn describe(&self, model: &Model, w: WorkloadId) -> String {
        match self {
            InadmissibleReason::UnknownResource { pod_set, resource } => format!(
                "pod set {}: resource {resource} exists on no node and in no quota",
                model.pod_set_name(w, *pod_set)
            ),
            InadmissibleReason::NotCovered { pod_set, resource } => format!(
                "pod set {}: resource {} is not covered by ClusterQueue {}",
                model.pod_set_name(w, *pod_set),
                model.resources().name(*resource),
                model.cluster_queue(model.workload(w).cq).name
            ),
            InadmissibleReason::NoFlavorFits(failures) => failures
                .iter()
                .map(|f| f.describe(model, w))
                .collect::<Vec<_>>()
                .join("; "),
        }
    }
}

impl PendingReason {
    /// Words for this reason, as `muster explain` and the Workload status show them.
    pub fn describe(&self, model: &Model, w: WorkloadId) -> String {
        match self {
            PendingReason::Queued => "queued; not yet considered by a scheduling cycle".into(),
            PendingReason::Inadmissible(r) => format!("inadmissible: {}", r.describe(model, w)),
            PendingReason::InsufficientQuota {
                fr,
                requested,
                available,
            } => format!(
                "insufficient quota: needs {requested} {} but {} can get {} now",
                model.describe_fr(*fr),
                model.cluster_queue(model.workload(w).cq).name,
                available.clamp_non_negative(),
            ),
            PendingReason::NodesFull(f) => {
                format!("quota fits, nodes do not: {}", f.describe(model, w))
            }
            PendingReason::BlockedBehind(head) => {
                format!("StrictFIFO: waiting behind {}", model.workload(*head).key)
            }
            PendingReason::Preempting => {
                "preempting workloads to make room; admitted when they are gone".into()
            }
            PendingReason::NotTried => {
                "not tried: its ClusterQueue reached the per-cycle attempt bound".into()
            }
            PendingReason::DelaysReservation { head, at } => format!(
                "would delay {}, which has capacity reserved from {}s (Backfill): it must end by then (activeDeadlineSeconds) or fit beside the reservation",
                model.workload(*head).key,
                at.as_secs_f64()
            ),
        }
    }
}
