//! The `muster.dev/v1alpha1` objects, and NodeResourceTopology, as serde types.
//!
//! Names and shapes follow Kueue (`kueue.x-k8s.io/v1beta1`) where Kueue's concepts are the
//! right ones, so a Kueue user recognises every field. Kubernetes' own objects (Node,
//! PriorityClass, Job, pod templates) come from `k8s-openapi`. Unknown fields are ignored, as
//! the API server ignores them on read.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{PodTemplateSpec, Taint, Toleration};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use muster_core::Quantity;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The API group and version of Muster's objects.
pub const API_VERSION: &str = "muster.dev/v1alpha1";

/// A Kubernetes quantity read exactly: a string (`500m`, `4Gi`) or a YAML number (`8`, `1.5`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Qty(pub Quantity);

impl<'de> Deserialize<'de> for Qty {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Qty;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a quantity such as 500m, 4Gi or 8")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Qty, E> {
                Quantity::parse(v).map(Qty).map_err(E::custom)
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Qty, E> {
                self.visit_str(&v.to_string())
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Qty, E> {
                self.visit_str(&v.to_string())
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Qty, E> {
                self.visit_str(&v.to_string())
            }
        }
        d.deserialize_any(V)
    }
}

impl Serialize for Qty {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0.to_string())
    }
}

/// ResourceFlavor: a class of nodes that quota is counted against.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
pub struct ResourceFlavor {
    /// Standard metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// The flavor.
    #[serde(default)]
    pub spec: ResourceFlavorSpec,
}

/// What makes a node of this flavor, and what pods on it need.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ResourceFlavorSpec {
    /// Labels a node must carry to be of this flavor; added as node selector to admitted pods.
    #[serde(default)]
    pub node_labels: BTreeMap<String, String>,
    /// Taints the flavor's nodes carry; a workload must tolerate them to be assigned it.
    #[serde(default)]
    pub node_taints: Vec<Taint>,
    /// Tolerations added to pods admitted with this flavor.
    #[serde(default)]
    pub tolerations: Vec<Toleration>,
}

/// Quota of one resource in one flavor.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ResourceQuota {
    /// Resource name.
    #[serde(default)]
    pub name: String,
    /// Quota owned.
    #[serde(default)]
    pub nominal_quota: Option<Qty>,
    /// Most that may be borrowed above the nominal quota (unset: no limit).
    #[serde(default)]
    pub borrowing_limit: Option<Qty>,
    /// Most of the nominal quota that may be lent to others (unset: all of it).
    #[serde(default)]
    pub lending_limit: Option<Qty>,
}

/// Quotas of one flavor in a resource group.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct FlavorQuotas {
    /// Flavor name.
    #[serde(default)]
    pub name: String,
    /// One entry per covered resource, in the order of `coveredResources`.
    #[serde(default)]
    pub resources: Vec<ResourceQuota>,
}

/// Resources whose flavor is chosen together, and the flavors in order of preference.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ResourceGroup {
    /// The resources covered.
    #[serde(default)]
    pub covered_resources: Vec<String>,
    /// The flavors to try, in order.
    #[serde(default)]
    pub flavors: Vec<FlavorQuotas>,
}

/// `borrowWithinCohort` preemption.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct BorrowWithinCohort {
    /// `Never` (default) or `LowerPriority`.
    #[serde(default)]
    pub policy: Option<String>,
    /// Only workloads up to this priority may be preempted while borrowing.
    #[serde(default)]
    pub max_priority_threshold: Option<i32>,
}

/// A ClusterQueue's preemption policies.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ClusterQueuePreemption {
    /// `Never` (default), `LowerPriority` or `LowerOrNewerEqualPriority`.
    #[serde(default)]
    pub within_cluster_queue: Option<String>,
    /// `Never` (default), `LowerPriority` or `Any`.
    #[serde(default)]
    pub reclaim_within_cohort: Option<String>,
    /// Preemption while borrowing.
    #[serde(default)]
    pub borrow_within_cohort: Option<BorrowWithinCohort>,
}

/// Fair-sharing settings of a queue or cohort.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct FairSharing {
    /// Weight of this queue or cohort in fair sharing (default 1).
    #[serde(default)]
    pub weight: Option<Qty>,
}

/// ClusterQueue: quota, a queue of workloads, and the policies between them.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
pub struct ClusterQueue {
    /// Standard metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// The queue.
    #[serde(default)]
    pub spec: ClusterQueueSpec,
}

/// The ClusterQueue's quota and policies.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ClusterQueueSpec {
    /// The cohort it shares quota in.
    #[serde(default)]
    pub cohort: Option<String>,
    /// `BestEffortFIFO` (default), `StrictFIFO` or `Backfill`.
    #[serde(default)]
    pub queueing_strategy: Option<String>,
    /// Resource groups.
    #[serde(default)]
    pub resource_groups: Vec<ResourceGroup>,
    /// Preemption policies.
    #[serde(default)]
    pub preemption: Option<ClusterQueuePreemption>,
    /// Fair sharing.
    #[serde(default)]
    pub fair_sharing: Option<FairSharing>,
}

/// Cohort: a node of the quota tree above ClusterQueues, with quota of its own.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
pub struct Cohort {
    /// Standard metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// The cohort.
    #[serde(default)]
    pub spec: CohortSpec,
}

/// A cohort's parent and quota.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct CohortSpec {
    /// Parent cohort.
    #[serde(default)]
    pub parent: Option<String>,
    /// Quota the cohort owns and lends to its subtree.
    #[serde(default)]
    pub resource_groups: Vec<ResourceGroup>,
    /// Fair sharing.
    #[serde(default)]
    pub fair_sharing: Option<FairSharing>,
}

/// LocalQueue: where a namespace submits, pointing at a ClusterQueue.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
pub struct LocalQueue {
    /// Standard metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// The queue.
    #[serde(default)]
    pub spec: LocalQueueSpec,
}

/// The ClusterQueue a LocalQueue feeds.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct LocalQueueSpec {
    /// ClusterQueue name.
    #[serde(default)]
    pub cluster_queue: String,
}

/// Workload: a gang of pod sets submitted to a LocalQueue.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
pub struct Workload {
    /// Standard metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// The workload.
    #[serde(default)]
    pub spec: WorkloadSpec,
}

/// What a Workload runs and where it queues.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct WorkloadSpec {
    /// LocalQueue name, in the Workload's namespace.
    #[serde(default)]
    pub queue_name: String,
    /// PriorityClass name.
    #[serde(default)]
    pub priority_class_name: Option<String>,
    /// Declared runtime limit, in seconds.
    #[serde(default)]
    pub maximum_execution_time_seconds: Option<i64>,
    /// Pod sets; together one gang.
    #[serde(default)]
    pub pod_sets: Vec<PodSet>,
}

/// A group of identical pods.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PodSet {
    /// Name, unique in the Workload.
    #[serde(default)]
    pub name: String,
    /// Number of pods.
    #[serde(default)]
    pub count: Option<i64>,
    /// Fewest pods the pod set can run with (partial admission; not used yet).
    #[serde(default)]
    pub min_count: Option<i64>,
    /// The pods' template.
    #[serde(default)]
    pub template: PodTemplateSpec,
}

/// Configuration: scheduler-wide settings.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
pub struct Configuration {
    /// Standard metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// Settings.
    #[serde(default)]
    pub spec: ConfigurationSpec,
}

/// Scheduler-wide settings.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ConfigurationSpec {
    /// Fair sharing.
    #[serde(default)]
    pub fair_sharing: Option<FairSharingConfig>,
}

/// Fair-sharing settings of the scheduler.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct FairSharingConfig {
    /// Whether fair sharing orders and preempts.
    #[serde(default)]
    pub enable: bool,
    /// `LessThanOrEqualToFinalShare`, `LessThanInitialShare`.
    #[serde(default)]
    pub preemption_strategies: Vec<String>,
}

/// NodeResourceTopology (`topology.node.k8s.io/v1alpha2`): a node's NUMA zones.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct NodeResourceTopology {
    /// Standard metadata; the name is the node's.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// Deprecated policy list (v1alpha1 style); read for completeness.
    #[serde(default)]
    pub topology_policies: Vec<String>,
    /// Attributes, e.g. `topologyManagerPolicy`, `topologyManagerScope`.
    #[serde(default)]
    pub attributes: Vec<NrtAttribute>,
    /// Zones.
    #[serde(default)]
    pub zones: Vec<NrtZone>,
}

/// A name/value attribute.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
pub struct NrtAttribute {
    /// Name.
    #[serde(default)]
    pub name: String,
    /// Value.
    #[serde(default)]
    pub value: String,
}

/// A topology zone.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
pub struct NrtZone {
    /// Zone name, e.g. `node-0`.
    #[serde(default)]
    pub name: String,
    /// Zone type; NUMA zones are `Node`.
    #[serde(default, rename = "type")]
    pub zone_type: String,
    /// Resources in the zone.
    #[serde(default)]
    pub resources: Vec<NrtResource>,
}

/// A resource of a zone.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
pub struct NrtResource {
    /// Resource name.
    #[serde(default)]
    pub name: String,
    /// Capacity.
    #[serde(default)]
    pub capacity: Option<Qty>,
    /// Allocatable.
    #[serde(default)]
    pub allocatable: Option<Qty>,
    /// Available.
    #[serde(default)]
    pub available: Option<Qty>,
}
