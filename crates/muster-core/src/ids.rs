//! Dense ids for the things the model holds.
//!
//! Each id is an index into one of the model's tables. Tables of named things (nodes,
//! flavors, ClusterQueues, cohorts) are sorted by name when the model is built, so id order
//! is name order and "ties go to the name" is "ties go to the lower id".

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(pub u32);

        impl $name {
            /// The position of this id in its table.
            pub fn index(self) -> usize {
                self.0 as usize
            }
        }
    };
}

id_type!(
    /// A node, in name order.
    NodeId
);
id_type!(
    /// A ResourceFlavor, in name order.
    FlavorId
);
id_type!(
    /// A ClusterQueue, in name order.
    CqId
);
id_type!(
    /// A cohort (explicit or implicit), in name order.
    CohortId
);
id_type!(
    /// A node of the quota tree: a ClusterQueue or a cohort.
    QuotaNodeId
);
id_type!(
    /// A (flavor, resource) pair that some quota mentions.
    FrId
);
id_type!(
    /// A workload, in order of submission to the model.
    WorkloadId
);
id_type!(
    /// A distinct gang shape: ClusterQueue, pod sets, requests and placement constraints.
    ShapeId
);
id_type!(
    /// A set of nodes eligible for a pod set under one flavor choice.
    NodeSetId
);
id_type!(
    /// A NUMA zone of some node; a node's zones have consecutive ids, lowest-numbered first.
    ZoneId
);
id_type!(
    /// A network-topology level (a node label whose values are the level's domains).
    LevelId
);

impl NodeId {
    /// Where a pod of a restored admission is when its node has left the cluster: it holds
    /// quota but no node.
    pub const LOST: NodeId = NodeId(u32::MAX);
}
