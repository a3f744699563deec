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

use crate::ids::{NodeId, NodeSetId};
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
    /// Whether a pod fits on a node (cheap: comparisons only).
    #[inline]
    fn fits(&self, s: &Scratch, node: NodeId, request: &Request) -> bool {
        let base = node.index() * self.resources;
        let pods_cell = base + self.pods.index();
        if s.node(pods_cell) + Quantity::from_units(1) > self.capacity[pods_cell] {
            return false;
        }
        request.iter().all(|(r, q)| {
            let cell = base + r.index();
            s.node(cell) + q <= self.capacity[cell]
        })
    }

    /// The node's score for a pod that fits.
    #[inline]
    fn score(&self, s: &Scratch, node: NodeId, request: &Request, scoring: Scoring) -> i64 {
        if request.is_empty() {
            return 0;
        }
        let base = node.index() * self.resources;
        let mut total: i64 = 0;
        for (r, q) in request.iter() {
            let cell = base + r.index();
            let (after, cap) = ((s.node(cell) + q).milli(), self.capacity[cell].milli());
            match scoring {
                Scoring::MostAllocated => total += percent(after, cap),
            }
        }
        total / request.len() as i64
    }

    /// The node's score for a pod, or `None` if the pod does not fit.
    #[inline]
    fn fit_score(
        &self,
        s: &Scratch,
        node: NodeId,
        request: &Request,
        scoring: Scoring,
    ) -> Option<i64> {
        self.fits(s, node, request)
            .then(|| self.score(s, node, request, scoring))
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

    /// Places `count` pods asking `request` on the nodes of `set`, appending each pod's node
    /// to `out`.
    ///
    /// Only nodes with room in the request's most selective resource are visited (the node
    /// set's free-capacity index finds them). On failure returns how many pods were placed,
    /// or `None` when `quick_reject` let the index rule the pod set out without counting
    /// (the nodes together lack the room); allocations made are left in `s` for the caller
    /// to roll back.
    #[allow(clippy::too_many_arguments)]
    pub fn place_pod_set(
        &self,
        s: &mut Scratch,
        set: NodeSetId,
        request: &Request,
        count: u32,
        scoring: Scoring,
        quick_reject: bool,
        out: &mut Vec<NodeId>,
    ) -> Result<(), Option<u32>> {
        let one_pod = Quantity::from_units(1).milli();
        let idx = s.usage().free_index(set);
        let pods = self.pods.index();
        // Each (resource index, request per pod), the pod slot included.
        let needs = request
            .iter()
            .map(|(r, q)| (r.index(), q.milli()))
            .chain([(pods, one_pod)]);
        // The most selective resource: the largest request relative to the most any node has
        // free (compared by cross-multiplying: no division).
        let mut selective: Option<(usize, i128, i128)> = None; // (resource, q, max free)
        for (r, q) in needs {
            let max = i128::from(idx.max_free(r));
            if max < q {
                return Err(Some(0));
            }
            if quick_reject && idx.total_free(r) < q * i128::from(count) {
                return Err(None);
            }
            if selective.is_none_or(|(_, bq, bmax)| q * bmax > bq * max) {
                selective = Some((r, q, max));
            }
        }
        let mut candidates = CANDIDATES.with_borrow_mut(std::mem::take);
        candidates.clear();
        if let Some((r, q, _)) = selective {
            idx.members_with(r, q as i64, &mut candidates);
        }
        let result = self.place_on(s, &candidates, request, count, scoring, out);
        CANDIDATES.set(candidates);
        result
    }

    /// Places the pods on the best of `candidates` (nodes in name order).
    fn place_on(
        &self,
        s: &mut Scratch,
        candidates: &[NodeId],
        request: &Request,
        count: u32,
        scoring: Scoring,
        out: &mut Vec<NodeId>,
    ) -> Result<(), Option<u32>> {
        if count == 1 {
            // One pod: the best fitting node, no heap.
            let mut best: Option<(i64, NodeId)> = None;
            for &n in candidates {
                if let Some(score) = self.fit_score(s, n, request, scoring)
                    && best.is_none_or(|(b, _)| score > b)
                {
                    best = Some((score, n));
                }
            }
            let Some((_, n)) = best else {
                return Err(Some(0));
            };
            self.allocate(s, n, request);
            out.push(n);
            return Ok(());
        }
        let mut scored = SCORED.with_borrow_mut(std::mem::take);
        scored.clear();
        scored.extend(candidates.iter().filter_map(|&n| {
            self.fit_score(s, n, request, scoring)
                .map(|sc| (sc, Reverse(n)))
        }));
        let mut heap = BinaryHeap::from(scored);
        let mut result = Ok(());
        for placed in 0..count {
            let Some((_, Reverse(n))) = heap.pop() else {
                result = Err(Some(placed));
                break;
            };
            self.allocate(s, n, request);
            out.push(n);
            if let Some(score) = self.fit_score(s, n, request, scoring) {
                heap.push((score, Reverse(n)));
            }
        }
        SCORED.set(heap.into_vec());
        result
    }
}

thread_local! {
    /// Buffers reused by every placement on this thread, so that the hot path does not
    /// allocate (their contents never outlive a call).
    static CANDIDATES: std::cell::RefCell<Vec<NodeId>> = const { std::cell::RefCell::new(Vec::new()) };
    static SCORED: std::cell::RefCell<Vec<(i64, Reverse<NodeId>)>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

/// `part × 100 / whole` for `0 <= part <= whole`, a percentage in `0..=100`, in 64-bit
/// arithmetic when that is exact (128-bit division is many times slower and this runs for
/// every candidate node).
#[inline]
fn percent(part: i128, whole: i128) -> i64 {
    if whole <= 0 {
        return 0;
    }
    if whole < i128::from(i64::MAX / 100) {
        (part as i64 * 100) / whole as i64
    } else {
        (part * 100 / whole) as i64
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::usage::Usage;

    const CPU: ResourceId = ResourceId(0);
    const PODS: ResourceId = ResourceId(1);
    const ALL: NodeSetId = NodeSetId(0);

    /// Nodes with these cpus and pod slots, all in node set 0.
    fn setup(nodes: &[(i64, i64)]) -> (Arc<[Quantity]>, Scratch) {
        let mut cap = Vec::new();
        for &(cpu, pods) in nodes {
            cap.push(Quantity::from_units(cpu));
            cap.push(Quantity::from_units(pods));
        }
        let cap: Arc<[Quantity]> = cap.into();
        let mut usage = Usage::new(cap.clone(), 2, 0);
        usage.add_set((0..nodes.len() as u32).map(NodeId).collect());
        (cap, Scratch::new(usage))
    }

    fn cpu(n: i64) -> Request {
        Request::new([(CPU, Quantity::from_units(n))])
    }

    fn tables(cap: &[Quantity]) -> NodeTables<'_> {
        NodeTables {
            capacity: cap,
            resources: 2,
            pods: PODS,
        }
    }

    #[test]
    fn most_allocated_packs_the_fullest_node_first() {
        let (cap, mut s) = setup(&[(8, 110), (8, 110), (4, 110)]);
        let t = tables(&cap);
        let mut out = Vec::new();
        // 4 cpu on a 4-cpu node scores 100, on an 8-cpu node 50.
        t.place_pod_set(
            &mut s,
            ALL,
            &cpu(4),
            1,
            Scoring::MostAllocated,
            true,
            &mut out,
        )
        .unwrap();
        assert_eq!(out, [NodeId(2)]);
        // Two more: node 0 (tie with node 1, lower name) then node 0 again (now fullest).
        t.place_pod_set(
            &mut s,
            ALL,
            &cpu(2),
            2,
            Scoring::MostAllocated,
            true,
            &mut out,
        )
        .unwrap();
        assert_eq!(out, [NodeId(2), NodeId(0), NodeId(0)]);
        s.usage().check_indexes().unwrap();
    }

    #[test]
    fn a_gang_that_does_not_fit_reports_how_far_it_got() {
        let (cap, mut s) = setup(&[(4, 110), (4, 110)]);
        let t = tables(&cap);
        let mut out = Vec::new();
        let r = t.place_pod_set(
            &mut s,
            ALL,
            &cpu(3),
            3,
            Scoring::MostAllocated,
            false,
            &mut out,
        );
        assert_eq!(r, Err(Some(2)));
        assert_eq!(out, [NodeId(0), NodeId(1)]);
    }

    #[test]
    fn quick_reject_rules_out_without_placing() {
        let (cap, mut s) = setup(&[(4, 110), (4, 110)]);
        let t = tables(&cap);
        let mut out = Vec::new();
        let r = t.place_pod_set(
            &mut s,
            ALL,
            &cpu(3),
            3,
            Scoring::MostAllocated,
            true,
            &mut out,
        );
        assert_eq!(r, Err(None));
        assert!(out.is_empty());
    }

    #[test]
    fn pod_slots_are_capacity_too() {
        let (cap, mut s) = setup(&[(64, 2)]);
        let t = tables(&cap);
        let mut out = Vec::new();
        let r = t.place_pod_set(
            &mut s,
            ALL,
            &cpu(1),
            3,
            Scoring::MostAllocated,
            false,
            &mut out,
        );
        assert_eq!(r, Err(Some(2)), "a node holds at most its allocatable pods");
    }

    #[test]
    fn fragmentation_free_total_is_not_enough() {
        // 4 free cpus in total, but no node has 3.
        let (cap, mut s) = setup(&[(2, 110), (2, 110)]);
        let t = tables(&cap);
        let mut out = Vec::new();
        let r = t.place_pod_set(
            &mut s,
            ALL,
            &cpu(3),
            1,
            Scoring::MostAllocated,
            true,
            &mut out,
        );
        assert_eq!(r, Err(Some(0)));
    }
}
