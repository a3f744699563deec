//! The quota tree: ClusterQueues and cohorts, their quotas, and how usage borrows up the tree.
//!
//! The semantics are Kueue's hierarchical quota, restated for integers:
//!
//! - Every node (a ClusterQueue or a cohort) has, per (flavor, resource), a `nominal` quota,
//!   an optional `borrowingLimit` and an optional `lendingLimit`.
//! - A node's **subtree quota** is its own nominal quota plus what each child lends it: a
//!   child lends its subtree quota minus its **guaranteed** part, which is
//!   `subtree - lendingLimit` when a lending limit is set and nothing otherwise.
//! - A node's usage counts in its parent only above its guaranteed part: a parent's usage is
//!   the sum over its children of `max(0, usage - guaranteed)`.
//! - What a node can still use ([`QuotaTree::available`]) is its unused guaranteed quota plus
//!   what its parent can still give, the latter capped by the node's borrowing limit.
//! - What a node could ever use, the cluster empty ([`QuotaTree::potential`]), is the same
//!   with zero usage; it decides whether a workload is Inadmissible.
//!
//! Architecture invariant: usage is updated incrementally (one walk up the tree per change),
//! never recounted in a cycle. [`crate::invariants`] recounts it in tests to prove the two
//! agree.

use std::collections::BTreeMap;

use crate::ids::{FlavorId, FrId, QuotaNodeId};
use crate::quantity::Quantity;
use crate::resource::ResourceId;
use crate::usage::Scratch;

/// What a quota node stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum QuotaOwner {
    /// A ClusterQueue (always a leaf).
    ClusterQueue(crate::ids::CqId),
    /// A cohort (explicit or implicit).
    Cohort(crate::ids::CohortId),
}

/// The limits one quota node sets on one (flavor, resource).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Limits {
    /// Owned quota.
    pub nominal: Quantity,
    /// Cap on borrowing above nominal; `None` is unlimited.
    pub borrowing_limit: Option<Quantity>,
    /// Cap on what the parent may lend out of nominal; `None` is all of it.
    pub lending_limit: Option<Quantity>,
}

/// One node of the tree, with its quotas and derived totals per (flavor, resource).
#[derive(Clone, Debug)]
pub struct QuotaNode {
    /// The ClusterQueue's or cohort's name.
    pub name: String,
    /// What the node stands for.
    pub owner: QuotaOwner,
    /// Parent cohort.
    pub parent: Option<QuotaNodeId>,
    /// Children, in id order.
    pub children: Vec<QuotaNodeId>,
    /// Its weight in fair sharing, milli-units (1000 is weight 1).
    pub weight: Quantity,
    limits: Vec<Limits>,
    subtree: Vec<Quantity>,
    guaranteed: Vec<Quantity>,
    potential: Vec<Quantity>,
}

/// Input for one node when the tree is built.
#[derive(Clone, Debug)]
pub struct QuotaNodeInput {
    /// Name.
    pub name: String,
    /// Owner.
    pub owner: QuotaOwner,
    /// Parent node (index into the same input list).
    pub parent: Option<QuotaNodeId>,
    /// Its own limits per (flavor, resource).
    pub limits: BTreeMap<FrId, Limits>,
    /// Its weight in fair sharing.
    pub weight: Quantity,
}

/// The quota tree with its static totals; usage lives in a [`Scratch`].
#[derive(Clone, Debug, Default)]
pub struct QuotaTree {
    frs: Vec<(FlavorId, ResourceId)>,
    fr_index: BTreeMap<(FlavorId, ResourceId), FrId>,
    nodes: Vec<QuotaNode>,
}

impl QuotaTree {
    /// Builds the tree. `frs` lists every (flavor, resource) any quota mentions, sorted;
    /// `inputs` must form a forest (the caller has rejected cycles).
    pub fn new(frs: Vec<(FlavorId, ResourceId)>, inputs: Vec<QuotaNodeInput>) -> Self {
        let fr_index = frs
            .iter()
            .enumerate()
            .map(|(i, fr)| (*fr, FrId(i as u32)))
            .collect();
        let f = frs.len();
        let mut nodes: Vec<QuotaNode> = inputs
            .iter()
            .map(|input| {
                let mut limits = vec![Limits::default(); f];
                for (fr, l) in &input.limits {
                    limits[fr.index()] = *l;
                }
                QuotaNode {
                    name: input.name.clone(),
                    owner: input.owner,
                    parent: input.parent,
                    children: Vec::new(),
                    weight: input.weight,
                    limits,
                    subtree: vec![Quantity::ZERO; f],
                    guaranteed: vec![Quantity::ZERO; f],
                    potential: vec![Quantity::ZERO; f],
                }
            })
            .collect();
        for i in 0..nodes.len() {
            if let Some(p) = nodes[i].parent {
                nodes[p.index()].children.push(QuotaNodeId(i as u32));
            }
        }
        let mut tree = QuotaTree {
            frs,
            fr_index,
            nodes,
        };
        let order = tree.post_order();
        for &n in &order {
            tree.compute_subtree(n);
        }
        for &n in order.iter().rev() {
            tree.compute_potential(n);
        }
        tree
    }

    /// Nodes ordered children before parents.
    fn post_order(&self) -> Vec<QuotaNodeId> {
        let mut out = Vec::with_capacity(self.nodes.len());
        let mut stack: Vec<(QuotaNodeId, bool)> = self
            .nodes
            .iter()
            .enumerate()
            .filter(|(_, n)| n.parent.is_none())
            .map(|(i, _)| (QuotaNodeId(i as u32), false))
            .collect();
        while let Some((n, expanded)) = stack.pop() {
            if expanded {
                out.push(n);
            } else {
                stack.push((n, true));
                for &c in &self.nodes[n.index()].children {
                    stack.push((c, false));
                }
            }
        }
        out
    }

    fn compute_subtree(&mut self, n: QuotaNodeId) {
        let f = self.frs.len();
        for fr in 0..f {
            let mut total = self.nodes[n.index()].limits[fr].nominal;
            for &c in &self.nodes[n.index()].children {
                let child = &self.nodes[c.index()];
                total += child.subtree[fr] - child.guaranteed[fr];
            }
            let node = &mut self.nodes[n.index()];
            node.subtree[fr] = total;
            node.guaranteed[fr] = match node.limits[fr].lending_limit {
                Some(ll) => (total - ll).clamp_non_negative(),
                None => Quantity::ZERO,
            };
        }
    }

    fn compute_potential(&mut self, n: QuotaNodeId) {
        for fr in 0..self.frs.len() {
            let node = &self.nodes[n.index()];
            let value = match node.parent {
                None => node.subtree[fr],
                Some(p) => {
                    let mut v = node.guaranteed[fr] + self.nodes[p.index()].potential[fr];
                    if let Some(bl) = node.limits[fr].borrowing_limit {
                        v = v.min(node.subtree[fr] + bl);
                    }
                    v
                }
            };
            self.nodes[n.index()].potential[fr] = value;
        }
    }

    /// Number of (flavor, resource) pairs.
    pub fn fr_count(&self) -> usize {
        self.frs.len()
    }

    /// Number of tree nodes.
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// The id of a (flavor, resource) pair, if any quota mentions it.
    pub fn fr(&self, flavor: FlavorId, resource: ResourceId) -> Option<FrId> {
        self.fr_index.get(&(flavor, resource)).copied()
    }

    /// The (flavor, resource) pair of an id.
    pub fn fr_pair(&self, fr: FrId) -> (FlavorId, ResourceId) {
        self.frs[fr.index()]
    }

    /// A node.
    pub fn node(&self, n: QuotaNodeId) -> &QuotaNode {
        &self.nodes[n.index()]
    }

    /// All nodes, by id.
    pub fn nodes(&self) -> &[QuotaNode] {
        &self.nodes
    }

    /// The limits a node sets on `fr`.
    pub fn limits(&self, n: QuotaNodeId, fr: FrId) -> Limits {
        self.nodes[n.index()].limits[fr.index()]
    }

    /// A node's subtree quota: its own nominal quota plus what its children lend it. For a
    /// ClusterQueue this is its nominal quota.
    pub fn subtree(&self, n: QuotaNodeId, fr: FrId) -> Quantity {
        self.nodes[n.index()].subtree[fr.index()]
    }

    /// The part of a node's subtree quota its parent may not lend to others.
    pub fn guaranteed(&self, n: QuotaNodeId, fr: FrId) -> Quantity {
        self.nodes[n.index()].guaranteed[fr.index()]
    }

    /// The most a node could ever use of `fr`, with nothing else running.
    pub fn potential(&self, n: QuotaNodeId, fr: FrId) -> Quantity {
        self.nodes[n.index()].potential[fr.index()]
    }

    /// The root of a node's tree.
    pub fn root(&self, mut n: QuotaNodeId) -> QuotaNodeId {
        while let Some(p) = self.nodes[n.index()].parent {
            n = p;
        }
        n
    }

    /// Index of the usage cell of (node, fr).
    #[inline]
    pub fn cell(&self, n: QuotaNodeId, fr: FrId) -> usize {
        n.index() * self.frs.len() + fr.index()
    }

    /// What a node uses of `fr` now.
    pub fn usage(&self, s: &Scratch, n: QuotaNodeId, fr: FrId) -> Quantity {
        s.quota(self.cell(n, fr))
    }

    /// Whether a node uses more of `fr` than its subtree quota (it borrows).
    pub fn is_borrowing(&self, s: &Scratch, n: QuotaNodeId, fr: FrId) -> bool {
        self.usage(s, n, fr) > self.subtree(n, fr)
    }

    /// How much more of `fr` a node can use now, borrowing from its ancestors within every
    /// limit on the way up. May be negative when usage exceeds what is allowed.
    pub fn available(&self, s: &Scratch, n: QuotaNodeId, fr: FrId) -> Quantity {
        let node = &self.nodes[n.index()];
        let usage = self.usage(s, n, fr);
        let Some(parent) = node.parent else {
            return node.subtree[fr.index()] - usage;
        };
        let guaranteed = node.guaranteed[fr.index()];
        let local = (guaranteed - usage).clamp_non_negative();
        let mut from_parent = self.available(s, parent, fr);
        if let Some(bl) = node.limits[fr.index()].borrowing_limit {
            let stored_in_parent = node.subtree[fr.index()] - guaranteed;
            let used_in_parent = (usage - guaranteed).clamp_non_negative();
            from_parent = from_parent.min(stored_in_parent - used_in_parent + bl);
        }
        local + from_parent
    }

    /// Changes a node's usage of `fr` by `delta` (positive to add, negative to release) and
    /// carries the change up the tree: a parent sees only usage above the guaranteed part.
    pub fn add_usage(&self, s: &mut Scratch, mut n: QuotaNodeId, fr: FrId, mut delta: Quantity) {
        loop {
            if delta.is_zero() {
                return;
            }
            let cell = self.cell(n, fr);
            let old = s.quota(cell);
            let new = old + delta;
            s.set_quota(cell, new);
            let node = &self.nodes[n.index()];
            let Some(parent) = node.parent else {
                return;
            };
            let g = node.guaranteed[fr.index()];
            delta = (new - g).clamp_non_negative() - (old - g).clamp_non_negative();
            n = parent;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{CohortId, CqId};
    use crate::usage::Usage;

    fn units(n: i64) -> Quantity {
        Quantity::from_units(n)
    }

    /// cohort(0) with cq a(1) and cq b(2), one (flavor, resource).
    fn tree(a: Limits, b: Limits, cohort_nominal: i64) -> QuotaTree {
        let fr = FrId(0);
        let node = |name: &str, owner, parent, l: Limits| QuotaNodeInput {
            name: name.into(),
            owner,
            parent,
            limits: [(fr, l)].into(),
            weight: Quantity::from_units(1),
        };
        QuotaTree::new(
            vec![(FlavorId(0), ResourceId(0))],
            vec![
                node(
                    "cohort",
                    QuotaOwner::Cohort(CohortId(0)),
                    None,
                    Limits {
                        nominal: units(cohort_nominal),
                        ..Limits::default()
                    },
                ),
                node(
                    "a",
                    QuotaOwner::ClusterQueue(CqId(0)),
                    Some(QuotaNodeId(0)),
                    a,
                ),
                node(
                    "b",
                    QuotaOwner::ClusterQueue(CqId(1)),
                    Some(QuotaNodeId(0)),
                    b,
                ),
            ],
        )
    }

    fn nominal(n: i64) -> Limits {
        Limits {
            nominal: units(n),
            ..Limits::default()
        }
    }

    const FR: FrId = FrId(0);
    const COHORT: QuotaNodeId = QuotaNodeId(0);
    const A: QuotaNodeId = QuotaNodeId(1);
    const B: QuotaNodeId = QuotaNodeId(2);

    fn scratch(t: &QuotaTree) -> Scratch {
        Scratch::new(Usage::new(
            std::sync::Arc::from(Vec::new()),
            1,
            t.node_count() * t.fr_count(),
        ))
    }

    #[test]
    fn borrowing_takes_what_others_do_not_use() {
        let t = tree(nominal(10), nominal(5), 0);
        let mut s = scratch(&t);
        assert_eq!(t.subtree(COHORT, FR), units(15));
        assert_eq!(t.available(&s, A, FR), units(15));
        t.add_usage(&mut s, A, FR, units(12));
        assert!(t.is_borrowing(&s, A, FR));
        assert_eq!(t.usage(&s, COHORT, FR), units(12));
        assert_eq!(
            t.available(&s, B, FR),
            units(3),
            "b must reclaim 2 to reach its nominal 5"
        );
        t.add_usage(&mut s, A, FR, units(-12));
        assert_eq!(t.usage(&s, COHORT, FR), units(0));
    }

    #[test]
    fn borrowing_limit_caps_what_a_queue_takes_from_its_cohort() {
        let a = Limits {
            nominal: units(10),
            borrowing_limit: Some(units(1)),
            lending_limit: None,
        };
        let t = tree(a, nominal(5), 0);
        let mut s = scratch(&t);
        assert_eq!(t.available(&s, A, FR), units(11));
        assert_eq!(t.potential(A, FR), units(11));
        assert_eq!(t.potential(B, FR), units(15));
        t.add_usage(&mut s, A, FR, units(11));
        assert_eq!(t.available(&s, A, FR), units(0));
    }

    #[test]
    fn lending_limit_keeps_a_guaranteed_part() {
        let a = Limits {
            nominal: units(10),
            borrowing_limit: None,
            lending_limit: Some(units(4)),
        };
        let t = tree(a, nominal(0), 0);
        let mut s = scratch(&t);
        assert_eq!(t.guaranteed(A, FR), units(6));
        assert_eq!(t.subtree(COHORT, FR), units(4));
        assert_eq!(
            t.potential(B, FR),
            units(4),
            "b can borrow only what a lends"
        );
        assert_eq!(t.potential(A, FR), units(10));
        t.add_usage(&mut s, A, FR, units(6));
        assert_eq!(
            t.usage(&s, COHORT, FR),
            units(0),
            "guaranteed usage stays local"
        );
        t.add_usage(&mut s, A, FR, units(1));
        assert_eq!(t.usage(&s, COHORT, FR), units(1));
        assert_eq!(t.available(&s, B, FR), units(3));
        t.add_usage(&mut s, B, FR, units(3));
        assert_eq!(t.available(&s, A, FR), units(0));
        t.add_usage(&mut s, A, FR, units(-7));
        assert_eq!(t.usage(&s, COHORT, FR), units(3));
        assert_eq!(
            t.available(&s, A, FR),
            units(7),
            "6 guaranteed + 1 left in the cohort"
        );
    }

    #[test]
    fn cohort_quota_is_lent_to_its_queues() {
        let t = tree(nominal(0), nominal(0), 8);
        assert_eq!(t.potential(A, FR), units(8));
        assert_eq!(t.potential(B, FR), units(8));
    }

    #[test]
    fn queue_without_cohort_has_only_its_nominal_quota() {
        let t = QuotaTree::new(
            vec![(FlavorId(0), ResourceId(0))],
            vec![QuotaNodeInput {
                name: "solo".into(),
                owner: QuotaOwner::ClusterQueue(CqId(0)),
                parent: None,
                limits: [(FR, nominal(4))].into(),
                weight: Quantity::from_units(1),
            }],
        );
        let mut s = scratch(&t);
        let solo = QuotaNodeId(0);
        assert_eq!(t.available(&s, solo, FR), units(4));
        t.add_usage(&mut s, solo, FR, units(3));
        assert_eq!(t.available(&s, solo, FR), units(1));
        assert_eq!(t.potential(solo, FR), units(4));
    }
}
