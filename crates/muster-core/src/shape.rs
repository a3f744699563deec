//! Gang shapes: what a workload needs, independent of which workload it is.
//!
//! Many workloads look alike: same ClusterQueue, same pod sets, same requests, same node
//! selector. The model interns each distinct [`Shape`] once, with everything the cycle needs
//! precomputed: the flavor options of each pod set (in the ClusterQueue's order of
//! preference), the quota each option charges, and the set of nodes each option may use.
//! A cycle can then remember "this shape did not fit" and answer the next look-alike at once.
//!
//! The flavor options of a pod set are the combinations of one flavor per resource group the
//! pod set uses, in lexicographic order of the groups' flavor lists (the first group varies
//! slowest): Kueue's "try flavors in order", extended to several groups at once.

use std::collections::BTreeMap;

use crate::decision::{InadmissibleReason, OptionFailure};
use crate::ids::{CqId, FlavorId, FrId, LevelId, NodeId, NodeSetId, ShapeId};
use crate::node::{Labels, Node, Toleration, selector_matches, untolerated};
use crate::numa::PodNuma;
use crate::quantity::Quantity;
use crate::resource::{Request, ResourceId};

/// The most pod sets a workload may have (Kueue's limit too).
pub const MAX_POD_SETS: usize = 8;

/// The most flavor options considered per pod set; options past it are not tried.
pub const MAX_OPTIONS_PER_POD_SET: usize = 64;

/// One choice of flavors for a pod set, with what it costs and where it may go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PodSetOption {
    /// (resource group index, flavor) for each group the pod set uses.
    pub flavors: Vec<(u16, FlavorId)>,
    /// The flavor of every requested resource (and of `pods` when the queue covers it).
    pub resource_flavors: Vec<(ResourceId, FlavorId)>,
    /// Nodes the pods may use with these flavors.
    pub node_set: NodeSetId,
    /// Quota the whole pod set charges, per (flavor, resource).
    pub quota: Vec<(FrId, Quantity)>,
    /// Why this option can never be used, when a flavor rules it out statically.
    pub blocked: Option<OptionFailure>,
}

/// A pod set as the scheduler sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PodSetShape {
    /// Number of pods.
    pub count: u32,
    /// What each pod requests.
    pub request: Request,
    /// Node selector.
    pub node_selector: Labels,
    /// Tolerations.
    pub tolerations: Vec<Toleration>,
    /// What each pod asks of NUMA zones.
    pub numa: PodNuma,
    /// Flavor options, most preferred first.
    pub options: Vec<PodSetOption>,
}

/// A gang's network-topology request, resolved.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TopologyAsk {
    /// The level whose domains the gang is packed into.
    pub level: LevelId,
    /// Whether one domain is required (else preferred).
    pub required: bool,
}

/// A distinct gang: its ClusterQueue and pod sets, with precomputed options.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Shape {
    /// The ClusterQueue.
    pub cq: CqId,
    /// Pod sets, in order.
    pub pod_sets: Vec<PodSetShape>,
    /// Its network-topology request.
    pub topology: Option<TopologyAsk>,
    /// A structural problem that makes the shape Inadmissible whatever the cluster holds.
    pub problem: Option<InadmissibleReason>,
}

/// What makes two shapes the same: the queue, the topology request and each pod set's key.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct ShapeKey {
    pub cq: CqId,
    pub topology: Option<TopologyAsk>,
    pub pod_sets: Vec<PodSetKey>,
}

/// What makes two pod sets the same.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct PodSetKey {
    pub count: u32,
    pub request: Request,
    pub selector: Labels,
    pub tolerations: Vec<Toleration>,
    pub numa: PodNuma,
    /// Names of requested resources the model does not know.
    pub unknown: Vec<String>,
}

/// What makes two node sets the same.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct NodeSetKey {
    pub flavors: Vec<FlavorId>,
    pub selector: Labels,
    pub tolerations: Vec<Toleration>,
}

/// Interned shapes and node sets.
#[derive(Clone, Debug, Default)]
pub struct ShapeTable {
    shapes: Vec<Shape>,
    shape_index: BTreeMap<ShapeKey, ShapeId>,
    node_sets: Vec<std::sync::Arc<[NodeId]>>,
    node_set_index: BTreeMap<NodeSetKey, NodeSetId>,
}

/// A flavor as shapes need it.
pub(crate) struct FlavorView<'a> {
    pub node_labels: &'a Labels,
    pub node_taints: &'a [crate::node::Taint],
    pub tolerations: &'a [Toleration],
}

impl ShapeTable {
    /// A shape by id.
    pub fn shape(&self, id: ShapeId) -> &Shape {
        &self.shapes[id.index()]
    }

    /// A node set by id: node ids in name order.
    pub fn node_set(&self, id: NodeSetId) -> &[NodeId] {
        &self.node_sets[id.index()]
    }

    /// Number of distinct shapes.
    pub fn len(&self) -> usize {
        self.shapes.len()
    }

    /// Whether there are no shapes.
    pub fn is_empty(&self) -> bool {
        self.shapes.is_empty()
    }

    pub(crate) fn lookup(&self, key: &ShapeKey) -> Option<ShapeId> {
        self.shape_index.get(key).copied()
    }

    pub(crate) fn insert(&mut self, key: ShapeKey, shape: Shape) -> ShapeId {
        let id = ShapeId(self.shapes.len() as u32);
        self.shapes.push(shape);
        self.shape_index.insert(key, id);
        id
    }

    /// The node set for a key, computed on first use; the members are returned when the set
    /// is new (the usage must index it).
    pub(crate) fn node_set_for(
        &mut self,
        key: NodeSetKey,
        nodes: &[Node],
        flavors: &[FlavorView<'_>],
    ) -> (NodeSetId, Option<std::sync::Arc<[NodeId]>>) {
        if let Some(id) = self.node_set_index.get(&key) {
            return (*id, None);
        }
        let mut tolerations: Vec<&[Toleration]> = vec![&key.tolerations];
        for f in flavors {
            tolerations.push(f.tolerations);
        }
        let members: std::sync::Arc<[NodeId]> = nodes
            .iter()
            .enumerate()
            .filter(|(_, n)| {
                flavors
                    .iter()
                    .all(|f| selector_matches(f.node_labels, &n.labels))
                    && selector_matches(&key.selector, &n.labels)
                    && untolerated(&n.taints, &tolerations).is_none()
            })
            .map(|(i, _)| NodeId(i as u32))
            .collect();
        let id = NodeSetId(self.node_sets.len() as u32);
        self.node_sets.push(members.clone());
        self.node_set_index.insert(key, id);
        (id, Some(members))
    }
}

/// Why a flavor can never host a pod set, if it cannot.
pub(crate) fn flavor_blocks(
    flavor: &FlavorView<'_>,
    node_selector: &Labels,
    tolerations: &[Toleration],
    pod_set: u16,
    option: u16,
) -> Option<OptionFailure> {
    if let Some(t) = untolerated(flavor.node_taints, &[tolerations, flavor.tolerations]) {
        return Some(OptionFailure::TaintNotTolerated {
            pod_set,
            option,
            key: t.key.clone(),
        });
    }
    for (k, v) in flavor.node_labels {
        if node_selector.get(k).is_some_and(|sel| sel != v) {
            return Some(OptionFailure::SelectorConflict {
                pod_set,
                option,
                key: k.clone(),
            });
        }
    }
    None
}

/// Every combination of one flavor per group, in lexicographic order, at most `limit`.
pub(crate) fn flavor_combinations(
    groups: &[(u16, &[FlavorId])],
    limit: usize,
) -> Vec<Vec<(u16, FlavorId)>> {
    let mut out: Vec<Vec<(u16, FlavorId)>> = vec![Vec::new()];
    for (g, flavors) in groups {
        let mut next = Vec::new();
        'outer: for prefix in &out {
            for f in *flavors {
                if next.len() == limit {
                    break 'outer;
                }
                let mut v = prefix.clone();
                v.push((*g, *f));
                next.push(v);
            }
        }
        out = next;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn combinations_are_lexicographic_and_bounded() {
        let a = [FlavorId(0), FlavorId(1)];
        let b = [FlavorId(5), FlavorId(6), FlavorId(7)];
        let combos = flavor_combinations(&[(0, &a), (1, &b)], 100);
        let flat: Vec<(u32, u32)> = combos.iter().map(|c| (c[0].1.0, c[1].1.0)).collect();
        assert_eq!(flat, [(0, 5), (0, 6), (0, 7), (1, 5), (1, 6), (1, 7)]);
        assert_eq!(flavor_combinations(&[(0, &a), (1, &b)], 4).len(), 4);
        assert_eq!(
            flavor_combinations(&[], 4),
            vec![Vec::<(u16, FlavorId)>::new()]
        );
    }

    #[test]
    fn many_flavors_stop_at_the_option_bound() {
        let many: Vec<FlavorId> = (0..10).map(FlavorId).collect();
        let combos = flavor_combinations(&[(0, &many), (1, &many)], MAX_OPTIONS_PER_POD_SET);
        assert_eq!(combos.len(), MAX_OPTIONS_PER_POD_SET);
        assert_eq!(
            combos[MAX_OPTIONS_PER_POD_SET - 1],
            vec![(0, FlavorId(6)), (1, FlavorId(3))]
        );
    }
}
