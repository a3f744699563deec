//! What a shell hands the core to build a model: the cluster and its workloads, by name.
//!
//! These are plain data with names as references. [`crate::model::Model::new`] resolves the
//! names into ids and checks the references; the `muster-api` crate produces these from
//! Kubernetes objects after its own, more detailed validation.

use std::collections::BTreeMap;

use crate::node::{Labels, Taint, Toleration};
use crate::quantity::Quantity;
use crate::time::Duration;

/// A node: its name, placement attributes and allocatable capacity.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NodeSpec {
    /// Node name.
    pub name: String,
    /// Node labels.
    pub labels: Labels,
    /// Node taints.
    pub taints: Vec<Taint>,
    /// Allocatable capacity by resource name; `pods` defaults to 110 when absent.
    pub allocatable: BTreeMap<String, Quantity>,
    /// Its NUMA zones and topology manager settings (its NodeResourceTopology), if known.
    pub topology: Option<crate::numa::NodeTopologySpec>,
}

/// A ResourceFlavor: a class of nodes that quota is counted against.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FlavorSpec {
    /// Flavor name.
    pub name: String,
    /// Labels a node must carry to be of this flavor.
    pub node_labels: Labels,
    /// Taints the nodes of this flavor carry; a workload must tolerate them to use it.
    pub node_taints: Vec<Taint>,
    /// Tolerations added to pods admitted with this flavor.
    pub tolerations: Vec<Toleration>,
}

/// Quota for one resource of one flavor, as Kueue defines it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ResourceQuotaSpec {
    /// Resource name.
    pub name: String,
    /// The quota this queue or cohort owns.
    pub nominal: Quantity,
    /// How much it may borrow above `nominal` from its parent; `None` is unlimited.
    pub borrowing_limit: Option<Quantity>,
    /// How much of `nominal` its parent may lend to others; `None` is all of it.
    pub lending_limit: Option<Quantity>,
}

/// The quotas of one flavor within a resource group.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FlavorQuotaSpec {
    /// Flavor name.
    pub name: String,
    /// One entry per covered resource.
    pub resources: Vec<ResourceQuotaSpec>,
}

/// A set of resources whose flavors are chosen together, with the flavors in order of
/// preference.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ResourceGroupSpec {
    /// The resources this group covers.
    pub covered_resources: Vec<String>,
    /// The flavors to try, in order.
    pub flavors: Vec<FlavorQuotaSpec>,
}

/// How a ClusterQueue orders and blocks its pending workloads.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum QueueingStrategy {
    /// Try workloads in order; one that does not fit does not block those behind it.
    #[default]
    BestEffortFIFO,
    /// Only the head may be admitted; if it does not fit, the queue waits.
    StrictFIFO,
    /// EASY backfill: a head that cannot start reserves the earliest time and the nodes at
    /// which it could (by the running workloads' runtime limits); others may start ahead of
    /// it only if they end by then or leave the reserved capacity alone.
    Backfill,
}

/// Whether a pending workload may preempt admitted workloads of its own ClusterQueue.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum WithinClusterQueue {
    /// Never.
    #[default]
    Never,
    /// Workloads of lower priority.
    LowerPriority,
    /// Workloads of lower priority, or of equal priority submitted later.
    LowerOrNewerEqualPriority,
}

/// Whether a pending workload may take back quota its ClusterQueue lent within the cohort.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ReclaimWithinCohort {
    /// Never.
    #[default]
    Never,
    /// From borrowing workloads of lower priority.
    LowerPriority,
    /// From any borrowing workload.
    Any,
}

/// Whether a workload may preempt in the cohort while it itself borrows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum BorrowWithinCohort {
    /// It may not.
    #[default]
    Never,
    /// It may preempt lower-priority workloads of other ClusterQueues, at or below the
    /// threshold priority when one is given.
    LowerPriority {
        /// Only workloads with priority at most this may be preempted.
        max_priority_threshold: Option<i32>,
    },
}

/// A ClusterQueue's preemption policies.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PreemptionSpec {
    /// Preemption inside the queue.
    pub within_cluster_queue: WithinClusterQueue,
    /// Reclaiming lent quota in the cohort.
    pub reclaim_within_cohort: ReclaimWithinCohort,
    /// Preempting while borrowing.
    pub borrow_within_cohort: BorrowWithinCohort,
}

/// A ClusterQueue: a pool of quota, its queue of workloads, and its policies.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClusterQueueSpec {
    /// ClusterQueue name.
    pub name: String,
    /// The cohort it shares quota in, if any.
    pub cohort: Option<String>,
    /// Its resource groups.
    pub resource_groups: Vec<ResourceGroupSpec>,
    /// Its queueing strategy.
    pub queueing_strategy: QueueingStrategy,
    /// Its preemption policies.
    pub preemption: PreemptionSpec,
    /// Its weight in fair sharing; `None` is 1.
    pub fair_weight: Option<Quantity>,
}

/// A Cohort node of the quota tree. Cohorts named only by a ClusterQueue or by another
/// cohort's parent exist implicitly, with no quota of their own.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CohortSpec {
    /// Cohort name.
    pub name: String,
    /// Parent cohort, if any.
    pub parent: Option<String>,
    /// Quota the cohort itself owns (lent to its subtree).
    pub resource_groups: Vec<ResourceGroupSpec>,
    /// Its weight in fair sharing among its parent's children; `None` is 1.
    pub fair_weight: Option<Quantity>,
}

/// A rule by which, with fair sharing on, a ClusterQueue may preempt a workload of another
/// ClusterQueue (Kueue's `preemptionStrategies`). Shares are compared at the level where the
/// two queues' branches of the cohort tree meet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FairShareStrategy {
    /// The preemptor's share with the workload admitted is at most the target's share with
    /// the victim gone.
    LessThanOrEqualToFinalShare,
    /// The preemptor's share with the workload admitted is below the target's share before
    /// the preemption.
    LessThanInitialShare,
}

/// Fair sharing, when it is on: the scheduler orders and preempts by weighted dominant
/// resource share.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FairSharingSpec {
    /// The preemption strategies, tried in order.
    pub preemption_strategies: Vec<FairShareStrategy>,
}

impl Default for FairSharingSpec {
    /// Kueue's default: `[LessThanOrEqualToFinalShare, LessThanInitialShare]`.
    fn default() -> Self {
        FairSharingSpec {
            preemption_strategies: vec![
                FairShareStrategy::LessThanOrEqualToFinalShare,
                FairShareStrategy::LessThanInitialShare,
            ],
        }
    }
}

/// Everything static about a cluster: nodes, flavors, the quota tree and its queues.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClusterSpec {
    /// Nodes.
    pub nodes: Vec<NodeSpec>,
    /// ResourceFlavors.
    pub flavors: Vec<FlavorSpec>,
    /// Explicit Cohorts.
    pub cohorts: Vec<CohortSpec>,
    /// ClusterQueues.
    pub cluster_queues: Vec<ClusterQueueSpec>,
    /// Resource names workloads may request that appear nowhere else (so that a workload
    /// asking for them is judged, not rejected as unknown).
    pub extra_resources: Vec<String>,
    /// Network-topology levels, widest first; empty means any level `L` a workload names is
    /// the node label `topology.muster.dev/L` (`hostname`: `kubernetes.io/hostname`).
    pub topology_levels: Vec<TopologyLevelSpec>,
}

/// A level of the network topology: a name workloads use and the node label that holds each
/// node's domain at that level.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TopologyLevelSpec {
    /// The level's name, e.g. `rack`.
    pub name: String,
    /// The node label whose values are the level's domains, e.g. `topology.muster.dev/rack`.
    pub node_label: String,
}

/// A workload's request to keep its gang within one domain of a network-topology level.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TopologyRequestSpec {
    /// The level's name, e.g. `rack`.
    pub level: String,
    /// Whether the gang must be in one domain (it waits otherwise) or only prefers it (it
    /// then spans as few domains as it can).
    pub required: bool,
}

/// A group of identical pods of one workload.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PodSetSpec {
    /// Pod set name (`main` for a Job).
    pub name: String,
    /// Number of pods.
    pub count: u32,
    /// What each pod requests, by resource name (the Kubernetes effective request).
    pub request: BTreeMap<String, Quantity>,
    /// The pods' node selector.
    pub node_selector: Labels,
    /// The pods' tolerations.
    pub tolerations: Vec<Toleration>,
    /// Each app container's request, by resource name (empty: one container asking
    /// `request`); NUMA alignment with container scope uses them.
    pub containers: Vec<BTreeMap<String, Quantity>>,
    /// Each init container's request, by resource name.
    pub init_containers: Vec<BTreeMap<String, Quantity>>,
    /// Whether the pods are of Guaranteed QoS (every container's cpu and memory limits set
    /// and equal to its requests), which the kubelet aligns cpu and memory for.
    pub guaranteed: bool,
}

/// A workload to schedule: a gang of pod sets queued in one ClusterQueue.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WorkloadSpec {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// The ClusterQueue it is queued in (resolved from its LocalQueue by the shell).
    pub cluster_queue: String,
    /// Priority (from its PriorityClass).
    pub priority: i32,
    /// Its pod sets; together they form one gang.
    pub pod_sets: Vec<PodSetSpec>,
    /// Its declared runtime limit (`activeDeadlineSeconds`), if any.
    pub runtime_limit: Option<Duration>,
    /// Its network-topology request, if any.
    pub topology: Option<TopologyRequestSpec>,
}
