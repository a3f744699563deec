//! Fair sharing: the weighted dominant resource share of a node of the quota tree.
//!
//! The definition is Kueue's, in integers. For a ClusterQueue or cohort `n` with parent `p`:
//!
//! - per resource name (summed over flavors), what `n` **borrows**: its usage above its
//!   subtree quota;
//! - per resource name, what `p` could ever **lend** it: `p`'s reachable quota with the
//!   cluster empty ([`QuotaTree::potential`]), summed over flavors;
//! - the dominant resource share is the largest `borrowed × 1000 / lendable` (per mille), and
//!   the weighted share divides it by the weight (`× 1000 / weight in milli-units`).
//!
//! A node that borrows nothing, and a root, has share 0; a node of weight 0 that borrows has
//! an infinite share ([`INFINITE_SHARE`]): it gets only what nobody else wants. Shares are
//! computed at every level of the tree, and two queues are compared at the level where their
//! branches meet ([`meeting_sides`]).

use crate::ids::{FrId, QuotaNodeId};
use crate::quantity::Quantity;
use crate::quota::QuotaTree;
use crate::resource::ResourceId;
use crate::usage::Scratch;

/// The share of a weight-0 node that borrows.
pub const INFINITE_SHARE: i128 = i128::MAX;

/// A node's weighted dominant resource share as usage stands in `s`.
pub fn weighted_share(tree: &QuotaTree, s: &Scratch, n: QuotaNodeId) -> i128 {
    let node = tree.node(n);
    let Some(parent) = node.parent else {
        return 0;
    };
    // (resource, borrowed) in resource order; few resources, so a small sorted vector.
    let mut borrowed: Vec<(ResourceId, i128)> = Vec::new();
    for i in 0..tree.fr_count() {
        let fr = FrId(i as u32);
        let b = (tree.usage(s, n, fr) - tree.subtree(n, fr)).milli();
        if b > 0 {
            let r = tree.fr_pair(fr).1;
            match borrowed.binary_search_by_key(&r, |(r, _)| *r) {
                Ok(k) => borrowed[k].1 += b,
                Err(k) => borrowed.insert(k, (r, b)),
            }
        }
    }
    if borrowed.is_empty() {
        return 0;
    }
    if node.weight.milli() <= 0 {
        return INFINITE_SHARE;
    }
    let mut dominant = 0i128;
    for (r, b) in borrowed {
        let lendable: i128 = (0..tree.fr_count())
            .map(|i| FrId(i as u32))
            .filter(|&fr| tree.fr_pair(fr).1 == r)
            .map(|fr| tree.potential(parent, fr).milli().max(0))
            .sum();
        if lendable > 0 {
            dominant = dominant.max(b * 1000 / lendable);
        }
    }
    dominant * 1000 / node.weight.milli()
}

/// The weighted share of `at` with `delta` (per (flavor, resource)) added to the usage of
/// ClusterQueue node `cq` (negative quantities remove). `s` is left as it was.
pub fn share_with(
    tree: &QuotaTree,
    s: &mut Scratch,
    cq: QuotaNodeId,
    delta: &[(FrId, Quantity)],
    at: QuotaNodeId,
) -> i128 {
    let mark = s.mark();
    for &(fr, q) in delta {
        tree.add_usage(s, cq, fr, q);
    }
    let share = weighted_share(tree, s, at);
    s.rollback(mark);
    share
}

/// The shares of `cq` and each of its ancestors (nearest first) with `delta` added to the
/// usage of `cq`. `s` is left as it was.
pub fn path_shares(
    tree: &QuotaTree,
    s: &mut Scratch,
    cq: QuotaNodeId,
    delta: &[(FrId, Quantity)],
) -> Vec<(QuotaNodeId, i128)> {
    let mark = s.mark();
    for &(fr, q) in delta {
        tree.add_usage(s, cq, fr, q);
    }
    let mut out = Vec::new();
    let mut n = Some(cq);
    while let Some(node) = n {
        out.push((node, weighted_share(tree, s, node)));
        n = tree.node(node).parent;
    }
    s.rollback(mark);
    out
}

/// Where the branches of two nodes of one tree meet: the child of their lowest common
/// ancestor on `a`'s side and on `b`'s side (a node itself when it is that child). `None`
/// when they are in different trees or one is an ancestor of the other.
pub fn meeting_sides(
    tree: &QuotaTree,
    a: QuotaNodeId,
    b: QuotaNodeId,
) -> Option<(QuotaNodeId, QuotaNodeId)> {
    let ancestors = |mut n: QuotaNodeId| {
        let mut v = vec![n];
        while let Some(p) = tree.node(n).parent {
            v.push(p);
            n = p;
        }
        v.reverse(); // root first
        v
    };
    let (pa, pb) = (ancestors(a), ancestors(b));
    if pa.first() != pb.first() {
        return None;
    }
    let common = pa.iter().zip(&pb).take_while(|(x, y)| x == y).count();
    Some((*pa.get(common)?, *pb.get(common)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{CohortId, CqId, FlavorId};
    use crate::quota::{Limits, QuotaNodeInput, QuotaOwner};
    use crate::usage::Usage;

    fn units(n: i64) -> Quantity {
        Quantity::from_units(n)
    }

    /// cohort(0) owning `pool` cpu, with ClusterQueues a(1) and b(2) of nominal 0 and the
    /// given weights; one (flavor, resource) per resource name in `resources`.
    fn tree(pool: i64, wa: i128, wb: i128, resources: u32) -> QuotaTree {
        let frs: Vec<_> = (0..resources)
            .map(|r| (FlavorId(0), ResourceId(r as u16)))
            .collect();
        let limits = |nominal: i64| {
            (0..resources)
                .map(|r| {
                    (
                        FrId(r),
                        Limits {
                            nominal: units(nominal),
                            ..Limits::default()
                        },
                    )
                })
                .collect()
        };
        let node = |name: &str, owner, parent, nominal, weight: i128| QuotaNodeInput {
            name: name.into(),
            owner,
            parent,
            limits: limits(nominal),
            weight: Quantity::from_milli(weight),
        };
        QuotaTree::new(
            frs,
            vec![
                node("all", QuotaOwner::Cohort(CohortId(0)), None, pool, 1000),
                node(
                    "a",
                    QuotaOwner::ClusterQueue(CqId(0)),
                    Some(QuotaNodeId(0)),
                    0,
                    wa,
                ),
                node(
                    "b",
                    QuotaOwner::ClusterQueue(CqId(1)),
                    Some(QuotaNodeId(0)),
                    0,
                    wb,
                ),
            ],
        )
    }

    fn scratch(t: &QuotaTree) -> Scratch {
        Scratch::new(Usage::new(
            Vec::new().into(),
            0,
            t.node_count() * t.fr_count(),
        ))
    }

    #[test]
    fn share_is_borrowed_over_lendable_per_mille_divided_by_weight() {
        let t = tree(10, 1000, 2000, 1);
        let mut s = scratch(&t);
        let (a, b) = (QuotaNodeId(1), QuotaNodeId(2));
        t.add_usage(&mut s, a, FrId(0), units(4));
        t.add_usage(&mut s, b, FrId(0), units(4));
        assert_eq!(weighted_share(&t, &s, a), 400);
        assert_eq!(weighted_share(&t, &s, b), 200, "weight 2 halves the share");
        assert_eq!(weighted_share(&t, &s, QuotaNodeId(0)), 0, "a root has none");
    }

    #[test]
    fn the_dominant_resource_decides() {
        let t = tree(10, 1000, 1000, 2);
        let mut s = scratch(&t);
        let a = QuotaNodeId(1);
        t.add_usage(&mut s, a, FrId(0), units(1));
        t.add_usage(&mut s, a, FrId(1), units(7));
        assert_eq!(weighted_share(&t, &s, a), 700);
    }

    #[test]
    fn weight_zero_borrowing_is_infinite_and_not_borrowing_is_zero() {
        let t = tree(10, 0, 1000, 1);
        let mut s = scratch(&t);
        let a = QuotaNodeId(1);
        assert_eq!(weighted_share(&t, &s, a), 0);
        t.add_usage(&mut s, a, FrId(0), units(1));
        assert_eq!(weighted_share(&t, &s, a), INFINITE_SHARE);
    }

    #[test]
    fn share_with_a_delta_leaves_usage_alone() {
        let t = tree(10, 1000, 1000, 1);
        let mut s = scratch(&t);
        let a = QuotaNodeId(1);
        assert_eq!(share_with(&t, &mut s, a, &[(FrId(0), units(5))], a), 500);
        assert_eq!(weighted_share(&t, &s, a), 0);
        assert_eq!(
            path_shares(&t, &mut s, a, &[(FrId(0), units(3))]),
            vec![(a, 300), (QuotaNodeId(0), 0)]
        );
    }

    #[test]
    fn branches_meet_below_the_common_ancestor() {
        let t = tree(10, 1000, 1000, 1);
        assert_eq!(
            meeting_sides(&t, QuotaNodeId(1), QuotaNodeId(2)),
            Some((QuotaNodeId(1), QuotaNodeId(2)))
        );
        assert_eq!(meeting_sides(&t, QuotaNodeId(1), QuotaNodeId(0)), None);
    }
}
