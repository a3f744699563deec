//! The `muster.dev/v1alpha1` objects, and NodeResourceTopology, as serde types.
//!
//! Names and shapes follow Kueue (`kueue.x-k8s.io/v1beta1`) where Kueue's concepts are the
//! right ones, so a Kueue user recognises every field. Kubernetes' own objects (Node,
//! PriorityClass, Job, pod templates) come from `k8s-openapi`. Unknown fields are ignored, as
//! the API server ignores them on read.
//!
//! The five kinds a cluster stores (ResourceFlavor, ClusterQueue, Cohort, LocalQueue,
//! Workload) are custom resources: their CustomResourceDefinitions, with OpenAPI schemas,
//! status subresources and printer columns, are generated from these types, so the simulator
//! and the controller read exactly the same objects.

use std::borrow::Cow;
use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{PodTemplateSpec, Taint, Toleration};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, ObjectMeta};
use kube::CustomResource;
use muster_core::Quantity;
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
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

/// A Kubernetes quantity that must not be negative: an integer, or a string in quantity syntax
/// without a minus sign (the pattern is Kubernetes' own, less the sign).
const NON_NEGATIVE_QUANTITY: &str = r"^\+?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$";

impl JsonSchema for Qty {
    fn schema_name() -> Cow<'static, str> {
        "Quantity".into()
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "x-kubernetes-int-or-string": true,
            "pattern": NON_NEGATIVE_QUANTITY,
            "minimum": 0,
        })
    }
}

/// A schema that accepts any object and keeps its fields (for embedded pod templates, which
/// the Job they come from has validated).
fn any_object(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "object",
        "x-kubernetes-preserve-unknown-fields": true,
    })
}

/// ResourceFlavor: what makes a node of this flavor, and what pods on it need.
#[derive(CustomResource, Clone, Debug, Default, Deserialize, Serialize, PartialEq, JsonSchema)]
#[kube(
    group = "muster.dev",
    version = "v1alpha1",
    kind = "ResourceFlavor",
    shortname = "rf",
    derive = "Default",
    derive = "PartialEq",
    doc = "ResourceFlavor: a class of nodes that quota is counted against."
)]
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
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ResourceQuota {
    /// Resource name.
    #[serde(default)]
    pub name: String,
    /// Quota owned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Qty")]
    pub nominal_quota: Option<Qty>,
    /// Most that may be borrowed above the nominal quota (unset: no limit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Qty")]
    pub borrowing_limit: Option<Qty>,
    /// Most of the nominal quota that may be lent to others (unset: all of it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Qty")]
    pub lending_limit: Option<Qty>,
}

/// Quotas of one flavor in a resource group.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, JsonSchema)]
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
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, JsonSchema)]
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
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BorrowWithinCohort {
    /// `Never` (default) or `LowerPriority`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "String", extend("enum" = ["Never", "LowerPriority"]))]
    pub policy: Option<String>,
    /// Only workloads up to this priority may be preempted while borrowing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_priority_threshold: Option<i32>,
}

/// A ClusterQueue's preemption policies.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClusterQueuePreemption {
    /// `Never` (default), `LowerPriority` or `LowerOrNewerEqualPriority`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "String", extend("enum" = ["Never", "LowerPriority", "LowerOrNewerEqualPriority"]))]
    pub within_cluster_queue: Option<String>,
    /// `Never` (default), `LowerPriority` or `Any`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "String", extend("enum" = ["Never", "LowerPriority", "Any"]))]
    pub reclaim_within_cohort: Option<String>,
    /// Preemption while borrowing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub borrow_within_cohort: Option<BorrowWithinCohort>,
}

/// Fair-sharing settings of a queue or cohort.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FairSharing {
    /// Weight of this queue or cohort in fair sharing (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Qty")]
    pub weight: Option<Qty>,
}

/// The ClusterQueue's quota and policies.
#[derive(CustomResource, Clone, Debug, Default, Deserialize, Serialize, PartialEq, JsonSchema)]
#[kube(
    group = "muster.dev",
    version = "v1alpha1",
    kind = "ClusterQueue",
    shortname = "cq",
    status = "ClusterQueueStatus",
    derive = "Default",
    derive = "PartialEq",
    printcolumn = r#"{"name":"Cohort","type":"string","jsonPath":".spec.cohort"}"#,
    printcolumn = r#"{"name":"Strategy","type":"string","jsonPath":".spec.queueingStrategy","priority":1}"#,
    printcolumn = r#"{"name":"Pending","type":"integer","jsonPath":".status.pendingWorkloads"}"#,
    printcolumn = r#"{"name":"Admitted","type":"integer","jsonPath":".status.admittedWorkloads"}"#,
    printcolumn = r#"{"name":"Active","type":"string","jsonPath":".status.conditions[?(@.type==\"Active\")].status"}"#,
    doc = "ClusterQueue: quota, a queue of workloads, and the policies between them."
)]
#[serde(rename_all = "camelCase")]
pub struct ClusterQueueSpec {
    /// The cohort it shares quota in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cohort: Option<String>,
    /// `BestEffortFIFO` (default), `StrictFIFO` or `Backfill` (EASY backfill by the
    /// workloads' runtime limits).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "String", extend("enum" = ["BestEffortFIFO", "StrictFIFO", "Backfill"]))]
    pub queueing_strategy: Option<String>,
    /// Resource groups.
    #[serde(default)]
    pub resource_groups: Vec<ResourceGroup>,
    /// Preemption policies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preemption: Option<ClusterQueuePreemption>,
    /// Fair sharing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fair_sharing: Option<FairSharing>,
}

/// A cohort's parent and quota.
#[derive(CustomResource, Clone, Debug, Default, Deserialize, Serialize, PartialEq, JsonSchema)]
#[kube(
    group = "muster.dev",
    version = "v1alpha1",
    kind = "Cohort",
    derive = "Default",
    derive = "PartialEq",
    printcolumn = r#"{"name":"Parent","type":"string","jsonPath":".spec.parent"}"#,
    doc = "Cohort: a node of the quota tree above ClusterQueues, with quota of its own."
)]
#[serde(rename_all = "camelCase")]
pub struct CohortSpec {
    /// Parent cohort.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
    /// Quota the cohort owns and lends to its subtree.
    #[serde(default)]
    pub resource_groups: Vec<ResourceGroup>,
    /// Fair sharing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fair_sharing: Option<FairSharing>,
}

/// The ClusterQueue a LocalQueue feeds.
#[derive(CustomResource, Clone, Debug, Default, Deserialize, Serialize, PartialEq, JsonSchema)]
#[kube(
    group = "muster.dev",
    version = "v1alpha1",
    kind = "LocalQueue",
    namespaced,
    shortname = "lq",
    status = "LocalQueueStatus",
    derive = "Default",
    derive = "PartialEq",
    printcolumn = r#"{"name":"ClusterQueue","type":"string","jsonPath":".spec.clusterQueue"}"#,
    printcolumn = r#"{"name":"Pending","type":"integer","jsonPath":".status.pendingWorkloads"}"#,
    printcolumn = r#"{"name":"Admitted","type":"integer","jsonPath":".status.admittedWorkloads"}"#,
    doc = "LocalQueue: where a namespace submits, pointing at a ClusterQueue."
)]
#[serde(rename_all = "camelCase")]
pub struct LocalQueueSpec {
    /// ClusterQueue name.
    #[serde(default)]
    #[schemars(length(min = 1))]
    pub cluster_queue: String,
}

/// What a Workload runs and where it queues.
#[derive(CustomResource, Clone, Debug, Default, Deserialize, Serialize, PartialEq, JsonSchema)]
#[kube(
    group = "muster.dev",
    version = "v1alpha1",
    kind = "Workload",
    namespaced,
    shortname = "wl",
    status = "WorkloadStatus",
    derive = "Default",
    derive = "PartialEq",
    printcolumn = r#"{"name":"Queue","type":"string","jsonPath":".spec.queueName"}"#,
    printcolumn = r#"{"name":"Reserved in","type":"string","jsonPath":".status.admission.clusterQueue"}"#,
    printcolumn = r#"{"name":"Admitted","type":"string","jsonPath":".status.conditions[?(@.type==\"Admitted\")].status"}"#,
    printcolumn = r#"{"name":"Finished","type":"string","jsonPath":".status.conditions[?(@.type==\"Finished\")].status"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#,
    doc = "Workload: a gang of pod sets submitted to a LocalQueue."
)]
#[serde(rename_all = "camelCase")]
pub struct WorkloadSpec {
    /// LocalQueue name, in the Workload's namespace.
    #[serde(default)]
    pub queue_name: String,
    /// PriorityClass name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority_class_name: Option<String>,
    /// Declared runtime limit, in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub maximum_execution_time_seconds: Option<i64>,
    /// Pod sets; together one gang.
    #[serde(default)]
    pub pod_sets: Vec<PodSet>,
}

/// A group of identical pods.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PodSet {
    /// Name, unique in the Workload.
    #[serde(default)]
    pub name: String,
    /// Number of pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub count: Option<i64>,
    /// Fewest pods the pod set can run with (partial admission; not used yet).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub min_count: Option<i64>,
    /// The pods' template.
    #[serde(default)]
    #[schemars(schema_with = "any_object")]
    pub template: PodTemplateSpec,
}

/// What a queue uses of one flavor.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FlavorUsage {
    /// Flavor name.
    pub name: String,
    /// Usage per resource, in name order.
    #[serde(default)]
    pub resources: Vec<ResourceUsage>,
}

/// What a queue uses of one resource of a flavor.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ResourceUsage {
    /// Resource name.
    pub name: String,
    /// Quota in use by admitted workloads.
    pub total: Qty,
    /// The part of `total` above the queue's nominal quota, borrowed from its cohort.
    #[serde(default)]
    pub borrowed: Qty,
}

/// What a ClusterQueue holds and whether it can admit.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClusterQueueStatus {
    /// Workloads waiting in it.
    #[serde(default)]
    pub pending_workloads: i64,
    /// Workloads admitted and not finished.
    #[serde(default)]
    pub admitted_workloads: i64,
    /// Quota in use per flavor, in name order.
    #[serde(default)]
    pub flavors_usage: Vec<FlavorUsage>,
    /// `Active`: whether the ClusterQueue is valid and admits workloads.
    #[serde(default)]
    pub conditions: Vec<Condition>,
}

/// What a LocalQueue holds and whether it can submit.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LocalQueueStatus {
    /// Workloads of this LocalQueue waiting in its ClusterQueue.
    #[serde(default)]
    pub pending_workloads: i64,
    /// Workloads of this LocalQueue admitted and not finished.
    #[serde(default)]
    pub admitted_workloads: i64,
    /// Quota in use by this LocalQueue's workloads, per flavor.
    #[serde(default)]
    pub flavors_usage: Vec<FlavorUsage>,
    /// `Active`: whether the LocalQueue and its ClusterQueue are valid.
    #[serde(default)]
    pub conditions: Vec<Condition>,
}

/// Where a Workload stands: its conditions and, once admitted, its admission.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WorkloadStatus {
    /// `QuotaReserved`, `Admitted`, `Evicted`, `Preempted`, `Finished` (Kueue's names).
    #[serde(default)]
    pub conditions: Vec<Condition>,
    /// The admission: ClusterQueue, flavors and nodes; the record a restarted controller
    /// rebuilds its state from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admission: Option<WorkloadAdmission>,
}

/// A Workload's admission.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WorkloadAdmission {
    /// The ClusterQueue whose quota it holds.
    pub cluster_queue: String,
    /// One entry per pod set, in the Workload's order.
    #[serde(default)]
    pub pod_set_assignments: Vec<PodSetAssignment>,
}

/// The flavors and nodes a pod set was admitted with.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PodSetAssignment {
    /// Pod set name.
    pub name: String,
    /// Resource name → flavor name.
    #[serde(default)]
    pub flavors: BTreeMap<String, String>,
    /// Pods admitted.
    #[serde(default)]
    pub count: i64,
    /// Quota charged for the whole pod set, per resource.
    #[serde(default)]
    pub resource_usage: BTreeMap<String, Qty>,
    /// The nodes the gang was placed on when admitted, with how many pods each.
    #[serde(default)]
    pub nodes: Vec<NodePods>,
}

/// Pods of a pod set placed on one node.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NodePods {
    /// Node name.
    pub name: String,
    /// Pods on it.
    pub count: i64,
}

/// Configuration: scheduler-wide settings.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, JsonSchema)]
pub struct Configuration {
    /// Standard metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// Settings.
    #[serde(default)]
    pub spec: ConfigurationSpec,
}

/// Scheduler-wide settings.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConfigurationSpec {
    /// Fair sharing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fair_sharing: Option<FairSharingConfig>,
    /// How nodes are scored: `MostAllocated` (default), `LeastAllocated`,
    /// `BalancedAllocation`, `LeastNUMANodes`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scoring_strategy: Option<String>,
    /// Network-topology levels, widest first (e.g. block, rack, hostname). Without them, a
    /// level `L` is the node label `topology.muster.dev/L`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub topology_levels: Vec<TopologyLevelConfig>,
}

/// A network-topology level: the name workloads use and the node label that holds it.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TopologyLevelConfig {
    /// The level's name, e.g. `rack`.
    #[serde(default)]
    pub name: String,
    /// The node label whose values are the level's domains.
    #[serde(default)]
    pub node_label: String,
}

/// Fair-sharing settings of the scheduler.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, JsonSchema)]
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
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, JsonSchema)]
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
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, JsonSchema)]
pub struct NrtAttribute {
    /// Name.
    #[serde(default)]
    pub name: String,
    /// Value.
    #[serde(default)]
    pub value: String,
}

/// A topology zone.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, JsonSchema)]
pub struct NrtZone {
    /// Zone name, e.g. `node-0`.
    #[serde(default)]
    pub name: String,
    /// Zone type; NUMA zones are `Node`.
    #[serde(default, rename = "type")]
    pub zone_type: String,
    /// The distance from this zone to each zone (itself included), as the kernel's NUMA
    /// distance table gives it (10 is local).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub costs: Vec<NrtCost>,
    /// Attributes of the zone.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attributes: Vec<NrtAttribute>,
    /// Resources in the zone.
    #[serde(default)]
    pub resources: Vec<NrtResource>,
}

/// The cost (distance) from a zone to the zone named.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq, JsonSchema)]
pub struct NrtCost {
    /// The other zone's name.
    #[serde(default)]
    pub name: String,
    /// The distance.
    #[serde(default)]
    pub value: i64,
}

/// A resource of a zone.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, JsonSchema)]
pub struct NrtResource {
    /// Resource name.
    #[serde(default)]
    pub name: String,
    /// Capacity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Qty")]
    pub capacity: Option<Qty>,
    /// Allocatable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Qty")]
    pub allocatable: Option<Qty>,
    /// Available.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Qty")]
    pub available: Option<Qty>,
}

/// NodeResourceTopology is a cluster-scoped custom resource of the community API
/// (`topology.node.k8s.io/v1alpha2`, installed by NFD's topology-updater and similar agents),
/// not one Muster defines: this lets the controller watch it.
impl kube::Resource for NodeResourceTopology {
    type DynamicType = ();
    type Scope = kube::core::ClusterResourceScope;

    fn kind(_: &()) -> Cow<'_, str> {
        "NodeResourceTopology".into()
    }

    fn group(_: &()) -> Cow<'_, str> {
        "topology.node.k8s.io".into()
    }

    fn version(_: &()) -> Cow<'_, str> {
        "v1alpha2".into()
    }

    fn plural(_: &()) -> Cow<'_, str> {
        "noderesourcetopologies".into()
    }

    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }

    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}
