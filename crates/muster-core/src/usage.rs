//! The mutable counts of a cluster — what each node has allocated, what each quota node
//! uses — with an index of free capacity per node set and an undo journal for what-ifs.
//!
//! [`Usage`] is the state. [`Scratch`] wraps it with a journal of old cell values so that a
//! gang placement, a preemption trial or a whole cycle can be rolled back exactly (Volcano's
//! `Statement`, as a log). The model applies its own decisions through a `Scratch` too, so
//! there is one code path for every change of usage.
//!
//! Every change of a node cell also updates the [`FreeIndex`] of each node set the node
//! belongs to: per resource, a max-tree of the members' free capacity, the members ordered
//! by free capacity, and the total. A fit query then visits only nodes with enough room in
//! the request's scarcest resource — fullest first when the scoring favours full nodes, so
//! that it can stop early — and rules out a gang that cannot fit without visiting any (the
//! design's "free-capacity structures that make a fit query sub-linear").
//!
//! Invariant: every index agrees with the cells it summarises ([`Usage::check_indexes`]).

use std::sync::Arc;

use crate::free_order::FreeOrder;
use crate::ids::{NodeId, NodeSetId};
use crate::quantity::Quantity;

/// Free capacity of one node set: per resource, a max-tree over its members, the members in
/// order of free capacity (once a query has asked for it), and the total.
#[derive(Clone, Debug)]
pub struct FreeIndex {
    members: Arc<[NodeId]>,
    /// Leaves per resource tree (a power of two, at least the member count).
    leaves: usize,
    /// `tree[r * 2 * leaves + i]`: heap-ordered max-tree of free milli-units; padding
    /// leaves hold `i64::MIN`.
    tree: Vec<i64>,
    /// Per resource, the members in order of free milli-units; `None` until a query walks
    /// that order (keeping it costs every change of the resource).
    by_free: Vec<Option<FreeOrder>>,
    /// Per resource, the least positive and the most allocatable of any member (milli);
    /// `(0, 0)` when no member has any.
    capacity_range: Vec<(i64, i64)>,
    /// Total free per resource, milli-units.
    total: Vec<i128>,
}

impl FreeIndex {
    fn build(
        members: Arc<[NodeId]>,
        resources: usize,
        capacity: impl Fn(NodeId, usize) -> i64,
        free: impl Fn(NodeId, usize) -> i64,
    ) -> Self {
        let leaves = members.len().next_power_of_two().max(1);
        let mut tree = vec![i64::MIN; resources * 2 * leaves];
        let mut total = vec![0i128; resources];
        let mut capacity_range = Vec::with_capacity(resources);
        for (r, sum) in total.iter_mut().enumerate() {
            let base = r * 2 * leaves;
            let (mut least, mut most) = (i64::MAX, 0);
            for (pos, &n) in members.iter().enumerate() {
                let f = free(n, r);
                tree[base + leaves + pos] = f;
                *sum += i128::from(f);
                let c = capacity(n, r);
                if c > 0 {
                    least = least.min(c);
                    most = most.max(c);
                }
            }
            for i in (1..leaves).rev() {
                tree[base + i] = tree[base + 2 * i].max(tree[base + 2 * i + 1]);
            }
            capacity_range.push(if most > 0 { (least, most) } else { (0, 0) });
        }
        FreeIndex {
            members,
            leaves,
            tree,
            by_free: vec![None; resources],
            capacity_range,
            total,
        }
    }

    /// Starts keeping the members in order of free `r`, if not kept yet.
    fn ensure_order(&mut self, r: usize) {
        if self.by_free[r].is_some() {
            return;
        }
        let mut order = FreeOrder::new(self.members.len());
        let leaves = &self.tree[r * 2 * self.leaves + self.leaves..][..self.members.len()];
        for (pos, &f) in leaves.iter().enumerate() {
            order.insert(f, pos as u32);
        }
        self.by_free[r] = Some(order);
    }

    fn update(&mut self, pos: usize, r: usize, free: i64) {
        let base = r * 2 * self.leaves;
        let mut i = self.leaves + pos;
        let old = self.tree[base + i];
        if old == free {
            return;
        }
        if let Some(o) = &mut self.by_free[r] {
            o.remove(old, pos as u32);
            o.insert(free, pos as u32);
        }
        self.total[r] += i128::from(free) - i128::from(old);
        self.tree[base + i] = free;
        while i > 1 {
            i /= 2;
            let m = self.tree[base + 2 * i].max(self.tree[base + 2 * i + 1]);
            if self.tree[base + i] == m {
                break;
            }
            self.tree[base + i] = m;
        }
    }

    /// The node set's members, in name order.
    pub fn members(&self) -> &[NodeId] {
        &self.members
    }

    /// The most free of resource `r` on any one member (milli-units).
    pub fn max_free(&self, r: usize) -> i64 {
        if self.members.is_empty() {
            return i64::MIN;
        }
        self.tree[r * 2 * self.leaves + 1]
    }

    /// Total free of resource `r` over the members (milli-units).
    pub fn total_free(&self, r: usize) -> i128 {
        self.total[r]
    }

    /// The least positive and the most allocatable of resource `r` on any member (milli);
    /// `(0, 0)` when no member has any.
    pub fn capacity_range(&self, r: usize) -> (i64, i64) {
        self.capacity_range[r]
    }

    /// The members with at least `at_least` free of `r`, as `(free, node)`: the least free
    /// first, equal free in name order. Empty until the order of `r` is kept
    /// ([`Scratch::ensure_order`]).
    pub fn fullest_from(
        &self,
        r: usize,
        at_least: i64,
    ) -> impl Iterator<Item = (i64, NodeId)> + '_ {
        Named {
            walk: self.by_free[r].as_ref().map(|o| o.ascending_from(at_least)),
            members: &self.members,
        }
    }

    /// The members with at least `at_least` and less than `below` (when given) free of `r`,
    /// as `(free, node)`: the most free first, equal free in name order. Empty until the
    /// order of `r` is kept ([`Scratch::ensure_order`]).
    pub fn emptiest_below(
        &self,
        r: usize,
        at_least: i64,
        below: Option<i64>,
    ) -> impl Iterator<Item = (i64, NodeId)> + '_ {
        Named {
            walk: self.by_free[r]
                .as_ref()
                .map(|o| o.descending_below(at_least, below)),
            members: &self.members,
        }
    }

    /// Appends to `out`, in name order, the members with at least `at_least` free of `r`.
    pub fn members_with(&self, r: usize, at_least: i64, out: &mut Vec<NodeId>) {
        let base = r * 2 * self.leaves;
        // Depth-first, left first; the stack holds at most one pending right child per level.
        let mut stack = [0usize; usize::BITS as usize + 1];
        let mut top = 1;
        stack[0] = 1;
        while top > 0 {
            top -= 1;
            let i = stack[top];
            if self.tree[base + i] < at_least {
                continue;
            }
            if i >= self.leaves {
                out.push(self.members[i - self.leaves]);
            } else {
                stack[top] = 2 * i + 1;
                stack[top + 1] = 2 * i;
                top += 2;
            }
        }
    }
}

/// A walk over positions, as the members at those positions (no walk: nothing).
struct Named<'a, W> {
    walk: Option<W>,
    members: &'a [NodeId],
}

impl<W: Iterator<Item = (i64, u32)>> Iterator for Named<'_, W> {
    type Item = (i64, NodeId);

    #[inline]
    fn next(&mut self) -> Option<(i64, NodeId)> {
        let (free, pos) = self.walk.as_mut()?.next()?;
        Some((free, self.members[pos as usize]))
    }
}

/// Two indexes are equal when they summarise the same free capacity; an order one of them
/// does not keep yet is not compared.
impl PartialEq for FreeIndex {
    fn eq(&self, other: &Self) -> bool {
        self.members == other.members
            && self.leaves == other.leaves
            && self.tree == other.tree
            && self.capacity_range == other.capacity_range
            && self.total == other.total
            && self
                .by_free
                .iter()
                .zip(&other.by_free)
                .all(|(a, b)| match (a, b) {
                    (Some(a), Some(b)) => a == b,
                    _ => true,
                })
    }
}

impl Eq for FreeIndex {}

/// Allocated node capacity, quota usage and the free-capacity indexes of node sets.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    /// `node_alloc[node * resources + resource]`.
    pub(crate) node_alloc: Vec<Quantity>,
    /// `quota[quota_node * frs + fr]`.
    pub(crate) quota: Vec<Quantity>,
    /// `zone_alloc[zone * resources + resource]`: what pods hold in each NUMA zone.
    pub(crate) zone_alloc: Vec<Quantity>,
    capacity: Arc<[Quantity]>,
    resources: usize,
    sets: Vec<FreeIndex>,
    /// For each node, the node sets it belongs to and its position in each.
    membership: Vec<Vec<(u32, u32)>>,
    /// A journal's buffer, kept between scratches so that a cycle does not regrow it.
    spare_journal: Vec<Undo>,
}

fn capacity_of(capacity: &[Quantity], cell: usize) -> i64 {
    let milli = capacity[cell].milli();
    milli.clamp(i128::from(i64::MIN + 1), i128::from(i64::MAX)) as i64
}

fn free_of(capacity: &[Quantity], alloc: &[Quantity], cell: usize) -> i64 {
    let milli = (capacity[cell] - alloc[cell]).milli();
    milli.clamp(i128::from(i64::MIN + 1), i128::from(i64::MAX)) as i64
}

impl Usage {
    /// Nothing allocated on nodes of `capacity` (`resources` per node), no quota used.
    pub fn new(capacity: Arc<[Quantity]>, resources: usize, quota_cells: usize) -> Self {
        let nodes = capacity.len().checked_div(resources).unwrap_or(0);
        Usage {
            node_alloc: vec![Quantity::ZERO; capacity.len()],
            quota: vec![Quantity::ZERO; quota_cells],
            zone_alloc: Vec::new(),
            capacity,
            resources,
            sets: Vec::new(),
            membership: vec![Vec::new(); nodes],
            spare_journal: Vec::new(),
        }
    }

    /// The same cluster with nothing allocated and no quota used (same node sets).
    pub fn empty_like(&self) -> Self {
        let mut empty = Usage::new(self.capacity.clone(), self.resources, self.quota.len());
        empty.zone_alloc = vec![Quantity::ZERO; self.zone_alloc.len()];
        for set in &self.sets {
            empty.add_set(set.members.clone());
        }
        empty
    }

    /// What pods hold in each NUMA zone cell (`zone * resources + resource`).
    pub fn zone_alloc(&self) -> &[Quantity] {
        &self.zone_alloc
    }

    /// Makes room for `cells` NUMA zone cells, nothing held.
    pub(crate) fn set_zone_cells(&mut self, cells: usize) {
        self.zone_alloc = vec![Quantity::ZERO; cells];
    }

    /// Indexes a new node set; its id is the number of sets indexed before it.
    pub(crate) fn add_set(&mut self, members: Arc<[NodeId]>) -> NodeSetId {
        let id = self.sets.len();
        for (pos, n) in members.iter().enumerate() {
            self.membership[n.index()].push((id as u32, pos as u32));
        }
        let (capacity, alloc, r) = (&self.capacity, &self.node_alloc, self.resources);
        self.sets.push(FreeIndex::build(
            members,
            r,
            |n, res| capacity_of(capacity, n.index() * r + res),
            |n, res| free_of(capacity, alloc, n.index() * r + res),
        ));
        NodeSetId(id as u32)
    }

    /// The free-capacity index of a node set.
    pub fn free_index(&self, set: NodeSetId) -> &FreeIndex {
        &self.sets[set.index()]
    }

    fn node_changed(&mut self, cell: usize) {
        let free = free_of(&self.capacity, &self.node_alloc, cell);
        let (node, r) = (cell / self.resources, cell % self.resources);
        for &(set, pos) in &self.membership[node] {
            self.sets[set as usize].update(pos as usize, r, free);
        }
    }

    /// Checks that every index agrees with the cells: used by the invariants.
    pub fn check_indexes(&self) -> Result<(), String> {
        for (s, set) in self.sets.iter().enumerate() {
            let r = self.resources;
            let mut fresh = FreeIndex::build(
                set.members.clone(),
                r,
                |n, res| capacity_of(&self.capacity, n.index() * r + res),
                |n, res| free_of(&self.capacity, &self.node_alloc, n.index() * r + res),
            );
            for (res, order) in set.by_free.iter().enumerate() {
                if order.is_some() {
                    fresh.ensure_order(res);
                }
            }
            if &fresh != set {
                return Err(format!("free-capacity index of node set {s} is stale"));
            }
        }
        Ok(())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Undo {
    Node(u32, Quantity),
    Quota(u32, Quantity),
    Zone(u32, Quantity),
}

/// A [`Usage`] being changed, with a journal that can undo changes back to a mark.
#[derive(Debug)]
pub struct Scratch {
    usage: Usage,
    journal: Vec<Undo>,
}

/// A point in a [`Scratch`]'s journal to roll back to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mark(usize);

impl Mark {
    /// Before any change.
    pub const START: Mark = Mark(0);
}

impl Scratch {
    /// A scratch over `usage`.
    pub fn new(mut usage: Usage) -> Self {
        let mut journal = std::mem::take(&mut usage.spare_journal);
        journal.clear();
        Scratch { usage, journal }
    }

    /// The usage as it stands.
    pub fn usage(&self) -> &Usage {
        &self.usage
    }

    /// Gives the usage back, changes kept.
    pub fn into_usage(mut self) -> Usage {
        self.journal.clear();
        self.usage.spare_journal = self.journal;
        self.usage
    }

    /// Allocated amount of node cell `i`.
    #[inline]
    pub fn node(&self, i: usize) -> Quantity {
        self.usage.node_alloc[i]
    }

    /// Quota usage of cell `i`.
    #[inline]
    pub fn quota(&self, i: usize) -> Quantity {
        self.usage.quota[i]
    }

    /// What pods hold of zone cell `i`.
    #[inline]
    pub fn zone(&self, i: usize) -> Quantity {
        self.usage.zone_alloc[i]
    }

    /// Sets zone cell `i`, remembering its old value.
    #[inline]
    pub fn set_zone(&mut self, i: usize, v: Quantity) {
        self.journal
            .push(Undo::Zone(i as u32, self.usage.zone_alloc[i]));
        self.usage.zone_alloc[i] = v;
    }

    /// Sets node cell `i`, remembering its old value.
    #[inline]
    pub fn set_node(&mut self, i: usize, v: Quantity) {
        self.journal
            .push(Undo::Node(i as u32, self.usage.node_alloc[i]));
        self.usage.node_alloc[i] = v;
        self.usage.node_changed(i);
    }

    /// Sets quota cell `i`, remembering its old value.
    #[inline]
    pub fn set_quota(&mut self, i: usize, v: Quantity) {
        self.journal
            .push(Undo::Quota(i as u32, self.usage.quota[i]));
        self.usage.quota[i] = v;
    }

    /// Starts keeping the members of node set `set` in order of free `r` (what
    /// [`FreeIndex::fullest_from`] walks), if not kept yet. Not a change of usage: nothing
    /// to undo.
    pub fn ensure_order(&mut self, set: NodeSetId, r: usize) {
        self.usage.sets[set.index()].ensure_order(r);
    }

    /// The current point of the journal.
    pub fn mark(&self) -> Mark {
        Mark(self.journal.len())
    }

    /// Undoes every change made since `mark`.
    pub fn rollback(&mut self, mark: Mark) {
        while self.journal.len() > mark.0 {
            match self.journal.pop() {
                Some(Undo::Node(i, v)) => {
                    self.usage.node_alloc[i as usize] = v;
                    self.usage.node_changed(i as usize);
                }
                Some(Undo::Quota(i, v)) => self.usage.quota[i as usize] = v,
                Some(Undo::Zone(i, v)) => self.usage.zone_alloc[i as usize] = v,
                None => break,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usage(cpus: &[i64]) -> Usage {
        let cap: Arc<[Quantity]> = cpus.iter().map(|&c| Quantity::from_units(c)).collect();
        let mut u = Usage::new(cap, 1, 2);
        u.add_set((0..cpus.len() as u32).map(NodeId).collect());
        u
    }

    #[test]
    fn rollback_restores_exactly_and_nests() {
        let mut s = Scratch::new(usage(&[4, 4]));
        s.set_node(0, Quantity::from_units(1));
        let outer = s.mark();
        s.set_node(0, Quantity::from_units(2));
        s.set_quota(1, Quantity::from_units(5));
        let inner = s.mark();
        s.set_node(1, Quantity::from_units(3));
        s.rollback(inner);
        assert_eq!(s.node(1), Quantity::ZERO);
        assert_eq!(s.node(0), Quantity::from_units(2));
        s.rollback(outer);
        assert_eq!(s.node(0), Quantity::from_units(1));
        assert_eq!(s.quota(1), Quantity::ZERO);
        s.usage().check_indexes().unwrap();
    }

    #[test]
    fn the_index_finds_nodes_with_room_and_follows_changes() {
        let mut s = Scratch::new(usage(&[8, 2, 6, 4, 1]));
        let set = NodeSetId(0);
        let idx = s.usage().free_index(set);
        assert_eq!(idx.max_free(0), 8000);
        assert_eq!(idx.total_free(0), 21_000);
        let mut out = Vec::new();
        idx.members_with(0, 4000, &mut out);
        assert_eq!(out, [NodeId(0), NodeId(2), NodeId(3)]);
        s.set_node(0, Quantity::from_units(7));
        let idx = s.usage().free_index(set);
        assert_eq!(idx.max_free(0), 6000);
        assert_eq!(idx.total_free(0), 14_000);
        let mark = s.mark();
        s.set_node(2, Quantity::from_units(6));
        assert_eq!(s.usage().free_index(set).max_free(0), 4000);
        s.rollback(mark);
        assert_eq!(s.usage().free_index(set).max_free(0), 6000);
        s.usage().check_indexes().unwrap();
    }

    #[test]
    fn an_empty_set_has_no_room() {
        let mut u = usage(&[4]);
        let id = u.add_set(Arc::from(Vec::<NodeId>::new()));
        let mut out = Vec::new();
        u.free_index(id).members_with(0, 0, &mut out);
        assert!(out.is_empty());
        assert!(u.free_index(id).max_free(0) < 0);
    }
}
