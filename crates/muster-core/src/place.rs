//! Gang placement: every pod of a workload on a real node, or none.
//!
//! Pods are placed in pod-set order, then index order. Each pod goes to the eligible node
//! that fits it (every requested resource and one `pods` slot within allocatable) with the
//! highest score; ties go to the lower node id, which is the node name. Placing a pod changes
//! only that node's score, so a pod set is placed with one scan of its eligible nodes and a
//! heap: `O(nodes + pods · log nodes)`.
//!
//! Placement writes its allocations into a [`Scratch`]; the caller takes a mark first and
//! rolls back if any pod set fails, so a gang is whole or absent (Armada's node-database
//! transaction, Volcano's `Statement`).

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use crate::ids::NodeId;
use crate::quantity::Quantity;
use crate::resource::{Request, ResourceId};
use crate::usage::Scratch;

/// How nodes are scored for a pod.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scoring {
    /// Prefer the node that is fullest after placement (bin-packing, what batch wants):
    /// the mean over the requested resources of `(allocated + request) × 100 / allocatable`,
    /// in integers.
    #[default]
    MostAllocated,
}

/// Read-only node capacity, as placement needs it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct NodeTables<'a> {
    /// `capacity[node * resources + resource]`.
    pub capacity: &'a [Quantity],
    /// Number of resources.
    pub resources: usize,
    /// The `pods` resource.
    pub pods: ResourceId,
}

impl NodeTables<'_> {
    /// The node's score for a pod, or `None` if the pod does not fit.
    #[inline]
    fn fit_score(
        &self,
        s: &Scratch,
        node: NodeId,
        request: &Request,
        scoring: Scoring,
    ) -> Option<i64> {
        let base = node.index() * self.resources;
        let pods_cell = base + self.pods.index();
        if s.node(pods_cell) + Quantity::from_units(1) > self.capacity[pods_cell] {
            return None;
        }
        let mut total: i128 = 0;
        for (r, q) in request.iter() {
            let cell = base + r.index();
            let cap = self.capacity[cell];
            let after = s.node(cell) + q;
            if after > cap {
                return None;
            }
            match scoring {
                Scoring::MostAllocated => total += after.milli() * 100 / cap.milli(),
            }
        }
        if request.is_empty() {
            return Some(0);
        }
        Some((total / request.len() as i128) as i64)
    }

    /// Allocates one pod on a node in `s`.
    #[inline]
    fn allocate(&self, s: &mut Scratch, node: NodeId, request: &Request) {
        let base = node.index() * self.resources;
        for (r, q) in request.iter() {
            let cell = base + r.index();
            s.set_node(cell, s.node(cell) + q);
        }
        let cell = base + self.pods.index();
        s.set_node(cell, s.node(cell) + Quantity::from_units(1));
    }

    /// Places `count` pods asking `request` on `eligible` nodes, appending each pod's node to
    /// `out`. On failure returns how many pods were placed; their allocations are left in
    /// `s` for the caller to roll back.
    pub fn place_pod_set(
        &self,
        s: &mut Scratch,
        eligible: &[NodeId],
        request: &Request,
        count: u32,
        scoring: Scoring,
        out: &mut Vec<NodeId>,
    ) -> Result<(), u32> {
        if count == 1 {
            // One pod: a linear scan, no heap.
            let mut best: Option<(i64, NodeId)> = None;
            for &n in eligible {
                if let Some(score) = self.fit_score(s, n, request, scoring)
                    && best.is_none_or(|(b, _)| score > b)
                {
                    best = Some((score, n));
                }
            }
            let Some((_, n)) = best else { return Err(0) };
            self.allocate(s, n, request);
            out.push(n);
            return Ok(());
        }
        let candidates: Vec<(i64, Reverse<NodeId>)> = eligible
            .iter()
            .filter_map(|&n| {
                self.fit_score(s, n, request, scoring)
                    .map(|sc| (sc, Reverse(n)))
            })
            .collect();
        let mut heap = BinaryHeap::from(candidates);
        for placed in 0..count {
            let Some((_, Reverse(n))) = heap.pop() else {
                return Err(placed);
            };
            self.allocate(s, n, request);
            out.push(n);
            if let Some(score) = self.fit_score(s, n, request, scoring) {
                heap.push((score, Reverse(n)));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::usage::Usage;

    const CPU: ResourceId = ResourceId(0);
    const PODS: ResourceId = ResourceId(1);

    fn setup(cpus: &[i64]) -> (Vec<Quantity>, Scratch) {
        let mut cap = Vec::new();
        for &c in cpus {
            cap.push(Quantity::from_units(c));
            cap.push(Quantity::from_units(110));
        }
        let s = Scratch::new(Usage::zero(cap.len(), 0));
        (cap, s)
    }

    fn cpu(n: i64) -> Request {
        Request::new([(CPU, Quantity::from_units(n))])
    }

    fn nodes(n: u32) -> Vec<NodeId> {
        (0..n).map(NodeId).collect()
    }

    #[test]
    fn most_allocated_packs_the_fullest_node_first() {
        let (cap, mut s) = setup(&[8, 8, 4]);
        let t = NodeTables {
            capacity: &cap,
            resources: 2,
            pods: PODS,
        };
        let mut out = Vec::new();
        // 4 cpu on a 4-cpu node scores 100, on an 8-cpu node 50.
        t.place_pod_set(
            &mut s,
            &nodes(3),
            &cpu(4),
            1,
            Scoring::MostAllocated,
            &mut out,
        )
        .unwrap();
        assert_eq!(out, [NodeId(2)]);
        // Two more: node 0 (tie with node 1, lower name) then node 0 again (now fullest).
        t.place_pod_set(
            &mut s,
            &nodes(3),
            &cpu(2),
            2,
            Scoring::MostAllocated,
            &mut out,
        )
        .unwrap();
        assert_eq!(out, [NodeId(2), NodeId(0), NodeId(0)]);
    }

    #[test]
    fn a_gang_that_does_not_fit_reports_how_far_it_got() {
        let (cap, mut s) = setup(&[4, 4]);
        let t = NodeTables {
            capacity: &cap,
            resources: 2,
            pods: PODS,
        };
        let mut out = Vec::new();
        let r = t.place_pod_set(
            &mut s,
            &nodes(2),
            &cpu(3),
            3,
            Scoring::MostAllocated,
            &mut out,
        );
        assert_eq!(r, Err(2));
        assert_eq!(out, [NodeId(0), NodeId(1)]);
    }

    #[test]
    fn pod_slots_are_capacity_too() {
        let cap = vec![Quantity::from_units(64), Quantity::from_units(2)];
        let mut s = Scratch::new(Usage::zero(2, 0));
        let t = NodeTables {
            capacity: &cap,
            resources: 2,
            pods: PODS,
        };
        let mut out = Vec::new();
        let r = t.place_pod_set(
            &mut s,
            &nodes(1),
            &cpu(1),
            3,
            Scoring::MostAllocated,
            &mut out,
        );
        assert_eq!(r, Err(2), "a node holds at most its allocatable pods");
    }

    #[test]
    fn fragmentation_free_total_is_not_enough() {
        // 4 free cpus in total, but no node has 3.
        let (cap, mut s) = setup(&[2, 2]);
        let t = NodeTables {
            capacity: &cap,
            resources: 2,
            pods: PODS,
        };
        let mut out = Vec::new();
        assert_eq!(
            t.place_pod_set(
                &mut s,
                &nodes(2),
                &cpu(3),
                1,
                Scoring::MostAllocated,
                &mut out
            ),
            Err(0)
        );
    }
}
