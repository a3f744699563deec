//! Gang placement: every pod of a workload on a real node, or none.
//!
//! Pods are placed in pod-set order, then index order. Each pod goes to the eligible node
//! that fits it (every requested resource and one `pods` slot within allocatable, and, on a
//! node with NUMA zones, the kubelet's topology manager admits it: see [`crate::numa`]) with
//! the highest score; ties go to the lower node id, which is the node name. Placing a pod
//! changes only that node's score, so a pod set is placed with one scan of its eligible nodes
//! and a heap: `O(nodes + pods · log nodes)`.
//!
//! Placement writes its allocations into a [`Scratch`]; the caller takes a mark first and
//! rolls back if any pod set fails, so a gang is whole or absent (Armada's node-database
//! transaction, Volcano's `Statement`).

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use crate::ids::{NodeId, NodeSetId};
use crate::numa::{NumaPlacement, PodNuma, ZoneTake, Zones};
use crate::quantity::Quantity;
use crate::resource::{Request, ResourceId};
use crate::usage::Scratch;

/// How nodes are scored for a pod: the scoring strategies of the NodeResourceTopologyMatch
/// plugin, applied to the node's totals (a node's zones decide only whether the pod fits and
/// where its aligned resources come from, as the kubelet decides it).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scoring {
    /// Prefer the node that is fullest after placement (bin-packing, what batch wants):
    /// the mean over the requested resources of `(allocated + request) × 100 / allocatable`,
    /// in integers.
    #[default]
    MostAllocated,
    /// Prefer the emptiest node after placement (spreading): the mean over the requested
    /// resources of `(allocatable − allocated − request) × 100 / allocatable`.
    LeastAllocated,
    /// Prefer the node whose requested resources end up equally used: `100 × (1 − σ)` where
    /// σ is the standard deviation of the used fractions of the requested resources.
    BalancedAllocation,
    /// Prefer the node where the pod's aligned resources span the fewest NUMA zones
    /// (`100 − 100 × (zones − 1) / 8`; a node without zones, or a pod with nothing aligned,
    /// counts as one zone); ties are scored as `MostAllocated`.
    LeastNUMANodes,
}

impl Scoring {
    /// The name a Configuration spells.
    pub fn as_str(self) -> &'static str {
        match self {
            Scoring::MostAllocated => "MostAllocated",
            Scoring::LeastAllocated => "LeastAllocated",
            Scoring::BalancedAllocation => "BalancedAllocation",
            Scoring::LeastNUMANodes => "LeastNUMANodes",
        }
    }

    /// The strategy a Configuration spells `name`.
    pub fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "MostAllocated" => Scoring::MostAllocated,
            "LeastAllocated" => Scoring::LeastAllocated,
            "BalancedAllocation" => Scoring::BalancedAllocation,
            "LeastNUMANodes" => Scoring::LeastNUMANodes,
            _ => return None,
        })
    }
}

/// The most NUMA zones `LeastNUMANodes` tells apart (the kubelet's limit too).
const MAX_NUMA_ZONES: i64 = 8;

/// Read-only node capacity, as placement needs it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct NodeTables<'a> {
    /// `capacity[node * resources + resource]`.
    pub capacity: &'a [Quantity],
    /// Number of resources.
    pub resources: usize,
    /// The `pods` resource.
    pub pods: ResourceId,
    /// NUMA zones of the nodes that have them.
    pub zones: &'a Zones,
    /// Place by node totals only, then judge each pod as the kubelet would and record the
    /// rejections (what a NUMA-blind scheduler causes).
    pub numa_blind: bool,
}

/// A pod set to place: `count` pods, each asking `request` (and `numa` of NUMA zones).
#[derive(Clone, Copy, Debug)]
pub(crate) struct PodAsk<'a> {
    /// Each pod's request.
    pub request: &'a Request,
    /// Each pod's containers and QoS.
    pub numa: &'a PodNuma,
    /// Number of pods.
    pub count: u32,
}

/// Where placed pods go: their nodes, and their NUMA zone holdings.
#[derive(Debug)]
pub(crate) struct Placed<'a> {
    /// The node of each pod placed so far (its index is the pod's index in the gang).
    pub nodes: &'a mut Vec<NodeId>,
    /// Zone holdings of the pods placed so far.
    pub numa: &'a mut NumaPlacement,
    /// Whether some node's totals would have held a pod that its NUMA topology manager
    /// policy rejected (so "does not fit" was NUMA's doing, at least in part).
    pub numa_rejected: bool,
}

impl NodeTables<'_> {
    /// Whether a pod's request fits a node's totals (cheap: comparisons only).
    #[inline]
    fn fits_totals(&self, s: &Scratch, node: NodeId, request: &Request) -> bool {
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

    /// The node's score for a pod that fits, given how many NUMA zones it would span there.
    #[inline]
    fn score(
        &self,
        s: &Scratch,
        node: NodeId,
        request: &Request,
        scoring: Scoring,
        zones: usize,
    ) -> i64 {
        match scoring {
            Scoring::MostAllocated => self.most_allocated(s, node, request),
            Scoring::LeastAllocated => {
                if request.is_empty() {
                    return 0;
                }
                let base = node.index() * self.resources;
                let mut total = 0;
                for (r, q) in request.iter() {
                    let cell = base + r.index();
                    let (after, cap) = ((s.node(cell) + q).milli(), self.capacity[cell].milli());
                    total += percent((cap - after).max(0), cap);
                }
                total / request.len() as i64
            }
            Scoring::BalancedAllocation => {
                if request.len() < 2 {
                    return 100;
                }
                let base = node.index() * self.resources;
                let fraction = |(r, q): (ResourceId, Quantity)| {
                    let cell = base + r.index();
                    let (after, cap) = ((s.node(cell) + q).milli(), self.capacity[cell].milli());
                    if cap > 0 {
                        after as f64 / cap as f64
                    } else {
                        0.0
                    }
                };
                let n = request.len() as f64;
                let mean = request.iter().map(fraction).sum::<f64>() / n;
                let var = request
                    .iter()
                    .map(|x| (fraction(x) - mean).powi(2))
                    .sum::<f64>()
                    / n;
                ((1.0 - var.sqrt()) * 100.0) as i64
            }
            Scoring::LeastNUMANodes => {
                let spans = (zones.max(1) as i64).min(MAX_NUMA_ZONES);
                (100 - 100 * (spans - 1) / MAX_NUMA_ZONES) * 1000
                    + self.most_allocated(s, node, request)
            }
        }
    }

    /// The mean over the requested resources of `(allocated + request) × 100 / allocatable`.
    #[inline]
    fn most_allocated(&self, s: &Scratch, node: NodeId, request: &Request) -> i64 {
        if request.is_empty() {
            return 0;
        }
        let base = node.index() * self.resources;
        let mut total: i64 = 0;
        for (r, q) in request.iter() {
            let cell = base + r.index();
            total += percent((s.node(cell) + q).milli(), self.capacity[cell].milli());
        }
        total / request.len() as i64
    }

    /// The node's score for one pod of `ask`, or `None` if the pod does not fit there
    /// (setting `numa_rejected` when only the node's NUMA policy stood in the way).
    #[inline]
    fn fit_score(
        &self,
        s: &Scratch,
        node: NodeId,
        ask: PodAsk<'_>,
        scoring: Scoring,
        numa_rejected: &mut bool,
    ) -> Option<i64> {
        if !self.fits_totals(s, node, ask.request) {
            return None;
        }
        let mut zones = 1;
        if !self.numa_blind && !self.zones.is_empty() && self.zones.has_topology(node) {
            let plan = PLAN.with_borrow_mut(|plan| {
                plan.clear();
                self.zones
                    .plan(s, node, (ask.request, ask.numa), 0, true, plan)
                    .then(|| {
                        // A plan lists its zones in order: count the changes.
                        let mut spans = 0;
                        let mut last = None;
                        for t in plan.iter() {
                            if last != Some(t.zone) {
                                spans += 1;
                                last = Some(t.zone);
                            }
                        }
                        spans
                    })
            });
            let Some(spans) = plan else {
                *numa_rejected = true;
                return None;
            };
            zones = spans;
        }
        Some(self.score(s, node, ask.request, scoring, zones))
    }

    /// Allocates one pod on a node in `s`, with its zone holdings.
    #[inline]
    fn allocate(&self, s: &mut Scratch, node: NodeId, ask: PodAsk<'_>, out: &mut Placed<'_>) {
        let pod = out.nodes.len() as u32;
        let base = node.index() * self.resources;
        for (r, q) in ask.request.iter() {
            let cell = base + r.index();
            s.set_node(cell, s.node(cell) + q);
        }
        let cell = base + self.pods.index();
        s.set_node(cell, s.node(cell) + Quantity::from_units(1));
        out.nodes.push(node);
        // Placement checked the zones, so the kubelet accepts the pod, unless NUMA-blind.
        self.zones
            .hold(s, node, (ask.request, ask.numa), pod, out.numa);
    }

    /// Places the pods of `ask` on the nodes of `set` (those `allowed` lets through, when
    /// given), appending each pod's node and zone holdings to `out`.
    ///
    /// Only nodes with room in the request's most selective resource are visited (the node
    /// set's free-capacity index finds them). On failure returns how many pods were placed,
    /// or `None` when `quick_reject` let the index rule the pod set out without counting
    /// (the nodes together lack the room); allocations made are left in `s` and `out` for
    /// the caller to roll back.
    #[allow(clippy::too_many_arguments)]
    pub fn place_pod_set(
        &self,
        s: &mut Scratch,
        set: NodeSetId,
        ask: PodAsk<'_>,
        scoring: Scoring,
        quick_reject: bool,
        allowed: Option<&dyn Fn(NodeId) -> bool>,
        out: &mut Placed<'_>,
    ) -> Result<(), Option<u32>> {
        let one_pod = Quantity::from_units(1).milli();
        let idx = s.usage().free_index(set);
        let pods = self.pods.index();
        // Each (resource index, request per pod), the pod slot included.
        let needs = ask
            .request
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
            if quick_reject && idx.total_free(r) < q * i128::from(ask.count) {
                return Err(None);
            }
            if selective.is_none_or(|(_, bq, bmax)| q * bmax > bq * max) {
                selective = Some((r, q, max));
            }
        }
        if let Some(key) = self.order_key(ask, scoring) {
            s.ensure_order(set, key.0);
            return self.place_in_order(s, set, key, ask, scoring, allowed, out);
        }
        let idx = s.usage().free_index(set);
        let mut candidates = CANDIDATES.with_borrow_mut(std::mem::take);
        candidates.clear();
        if let Some((r, q, _)) = selective {
            idx.members_with(r, q as i64, &mut candidates);
        }
        if let Some(allowed) = allowed {
            candidates.retain(|&n| allowed(n));
        }
        let result = self.place_on(s, &candidates, ask, scoring, out);
        CANDIDATES.set(candidates);
        result
    }

    /// The resource to walk nodes in order of, and each pod's request of it, when the
    /// scoring strategy can stop such a walk early: most-allocated (fullest first) and
    /// least-allocated (emptiest first) of a pod that requests one resource (the score is
    /// then that resource's alone, so the walk stops at the first node that cannot beat the
    /// best so far), on nodes whose NUMA zones do not decide the fit.
    fn order_key(&self, ask: PodAsk<'_>, scoring: Scoring) -> Option<(usize, i64)> {
        if !matches!(scoring, Scoring::MostAllocated | Scoring::LeastAllocated)
            || !(self.zones.is_empty() || self.numa_blind)
            || ask.request.len() != 1
        {
            return None;
        }
        let (r, q) = ask.request.iter().next()?;
        let q = i64::try_from(q.milli()).ok()?;
        (q > 0 && r != self.pods).then_some((r.index(), q))
    }

    /// Places the pods one at a time, each on the best node (highest score, ties to the
    /// name) found by walking the node set in order of free `key.0` and stopping once no
    /// node further on can score as high: the same choice as scoring every node, without
    /// visiting most of them.
    #[allow(clippy::too_many_arguments)]
    fn place_in_order(
        &self,
        s: &mut Scratch,
        set: NodeSetId,
        key: (usize, i64),
        ask: PodAsk<'_>,
        scoring: Scoring,
        allowed: Option<&dyn Fn(NodeId) -> bool>,
        out: &mut Placed<'_>,
    ) -> Result<(), Option<u32>> {
        if ask.count > 1 {
            // Identical pods fit wherever there is room for them, in any order: count the
            // room first, so that a pod set that does not fit is not placed and undone.
            let room = self.room_for(s, set, key, ask, allowed);
            if room < ask.count {
                return Err(Some(room));
            }
        }
        for placed in 0..ask.count {
            let Some(node) = self.best_in_order(s, set, key, ask, scoring, allowed) else {
                return Err(Some(placed));
            };
            self.allocate(s, node, ask, out);
        }
        Ok(())
    }

    /// How many pods of `ask` the nodes of `set` (those `allowed` lets through) have room
    /// for, counted up to `ask.count`.
    fn room_for(
        &self,
        s: &Scratch,
        set: NodeSetId,
        (r, q): (usize, i64),
        ask: PodAsk<'_>,
        allowed: Option<&dyn Fn(NodeId) -> bool>,
    ) -> u32 {
        let wanted = i128::from(ask.count);
        let mut room: i128 = 0;
        for (_, n) in s.usage().free_index(set).fullest_from(r, q) {
            if allowed.is_some_and(|allowed| !allowed(n)) {
                continue;
            }
            room += self.pods_fitting(s, n, ask.request);
            if room >= wanted {
                break;
            }
        }
        room.min(wanted) as u32
    }

    /// How many pods of `request` a node has room for, by its totals.
    fn pods_fitting(&self, s: &Scratch, node: NodeId, request: &Request) -> i128 {
        let base = node.index() * self.resources;
        let free = |cell: usize| (self.capacity[cell] - s.node(cell)).milli();
        let mut most = free(base + self.pods.index()) / Quantity::from_units(1).milli();
        for (r, q) in request.iter() {
            if q.milli() > 0 {
                most = most.min(free(base + r.index()) / q.milli());
            }
        }
        most.max(0)
    }

    /// The best node for one pod of `ask` (see [`NodeTables::place_in_order`]).
    fn best_in_order(
        &self,
        s: &Scratch,
        set: NodeSetId,
        (r, q): (usize, i64),
        ask: PodAsk<'_>,
        scoring: Scoring,
        allowed: Option<&dyn Fn(NodeId) -> bool>,
    ) -> Option<NodeId> {
        let idx = s.usage().free_index(set);
        let mut walk = OrderWalk {
            bound: ScoreBound::new(scoring, idx.capacity_range(r), q),
            best: None,
            ignored: false,
        };
        // Where the walk resumes after skipping the rest of a run of equal free.
        let mut resume: Option<i64> = None;
        loop {
            let next = if scoring == Scoring::LeastAllocated {
                self.walk_best(s, idx.emptiest_below(r, q, resume), &mut walk, ask, allowed)
            } else {
                let from = resume.unwrap_or(q);
                self.walk_best(s, idx.fullest_from(r, from), &mut walk, ask, allowed)
            };
            match next {
                Some(at) => resume = Some(at),
                None => break,
            }
        }
        walk.best.map(|(_, n)| n)
    }

    /// Walks `nodes` (in the walk's order) for the best node, and returns where to resume
    /// when the rest of a run of equal free cannot win (`None`: the walk is over).
    fn walk_best(
        &self,
        s: &Scratch,
        nodes: impl Iterator<Item = (i64, NodeId)>,
        walk: &mut OrderWalk,
        ask: PodAsk<'_>,
        allowed: Option<&dyn Fn(NodeId) -> bool>,
    ) -> Option<i64> {
        let scoring = walk.bound.scoring;
        for (free, n) in nodes {
            if let Some((best_score, best_node)) = walk.best {
                let most = walk.bound.at(free);
                if most < best_score {
                    return None;
                }
                if most == best_score && n > best_node {
                    // The rest of this run of equal free is later in name order: at best
                    // a tie that loses.
                    return match scoring {
                        Scoring::LeastAllocated => Some(free),
                        _ => free.checked_add(1),
                    };
                }
            }
            if allowed.is_some_and(|allowed| !allowed(n)) {
                continue;
            }
            if let Some(score) = self.fit_score(s, n, ask, scoring, &mut walk.ignored)
                && walk
                    .best
                    .is_none_or(|(b, bn)| score > b || (score == b && n < bn))
            {
                walk.best = Some((score, n));
            }
        }
        None
    }

    /// Places the pods on the best of `candidates` (nodes in name order).
    fn place_on(
        &self,
        s: &mut Scratch,
        candidates: &[NodeId],
        ask: PodAsk<'_>,
        scoring: Scoring,
        out: &mut Placed<'_>,
    ) -> Result<(), Option<u32>> {
        if ask.count == 1 {
            // One pod: the best fitting node, no heap.
            let mut best: Option<(i64, NodeId)> = None;
            for &n in candidates {
                if let Some(score) = self.fit_score(s, n, ask, scoring, &mut out.numa_rejected)
                    && best.is_none_or(|(b, _)| score > b)
                {
                    best = Some((score, n));
                }
            }
            let Some((_, n)) = best else {
                return Err(Some(0));
            };
            self.allocate(s, n, ask, out);
            return Ok(());
        }
        let mut scored = SCORED.with_borrow_mut(std::mem::take);
        scored.clear();
        let mut numa_rejected = false;
        scored.extend(candidates.iter().filter_map(|&n| {
            self.fit_score(s, n, ask, scoring, &mut numa_rejected)
                .map(|sc| (sc, Reverse(n)))
        }));
        let mut heap = BinaryHeap::from(scored);
        let mut result = Ok(());
        for placed in 0..ask.count {
            let Some((_, Reverse(n))) = heap.pop() else {
                result = Err(Some(placed));
                break;
            };
            self.allocate(s, n, ask, out);
            if let Some(score) = self.fit_score(s, n, ask, scoring, &mut numa_rejected) {
                heap.push((score, Reverse(n)));
            }
        }
        out.numa_rejected |= numa_rejected;
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
    static PLAN: std::cell::RefCell<Vec<ZoneTake>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Where a walk in order of free capacity stands.
struct OrderWalk {
    bound: ScoreBound,
    /// The best node so far and its score.
    best: Option<(i64, NodeId)>,
    /// NUMA rejections, not reported by a walk (its nodes have no zones that decide).
    ignored: bool,
}

/// The highest score a node can have for a pod that requests only the walked resource,
/// given how much of it the node has free.
struct ScoreBound {
    scoring: Scoring,
    /// The pod's request of the walked resource (milli).
    request: i128,
    /// The least positive and the most allocatable of the walked resource on any node.
    capacity: (i128, i128),
}

impl ScoreBound {
    fn new(scoring: Scoring, (least, most): (i64, i64), request: i64) -> Self {
        ScoreBound {
            scoring,
            request: i128::from(request),
            capacity: (i128::from(least), i128::from(most)),
        }
    }

    /// The most a node with `free` of the walked resource (and at least the pod's request)
    /// can score. Most-allocated: the score is `100 − 100 × (free − request) / allocatable`,
    /// at most that with the largest allocatable, and no more on a node with more free.
    /// Least-allocated: it is `100 × (free − request) / allocatable`, at most that with the
    /// least allocatable, and no more on a node with less free.
    fn at(&self, free: i64) -> i64 {
        let spare = i128::from(free) - self.request;
        let bound = match self.scoring {
            Scoring::LeastAllocated => {
                let cap = self.capacity.0;
                if cap <= 0 {
                    return 100;
                }
                (100 * spare).div_euclid(cap)
            }
            _ => {
                let cap = self.capacity.1;
                if cap <= 0 {
                    return 100;
                }
                (100 * cap - 100 * spare).div_euclid(cap)
            }
        };
        bound.clamp(0, 100) as i64
    }
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

    static NO_ZONES: std::sync::LazyLock<Zones> = std::sync::LazyLock::new(Zones::default);

    fn tables(cap: &[Quantity]) -> NodeTables<'_> {
        NodeTables {
            capacity: cap,
            resources: 2,
            pods: PODS,
            zones: &NO_ZONES,
            numa_blind: false,
        }
    }

    /// Places `count` pods of `cpus` cpus each on node set 0, most-allocated first.
    fn place(
        t: &NodeTables<'_>,
        s: &mut Scratch,
        cpus: i64,
        count: u32,
        quick_reject: bool,
        out: &mut Vec<NodeId>,
    ) -> Result<(), Option<u32>> {
        let request = cpu(cpus);
        let numa = PodNuma::default();
        let mut zones = NumaPlacement::default();
        t.place_pod_set(
            s,
            ALL,
            PodAsk {
                request: &request,
                numa: &numa,
                count,
            },
            Scoring::MostAllocated,
            quick_reject,
            None,
            &mut Placed {
                nodes: out,
                numa: &mut zones,
                numa_rejected: false,
            },
        )
    }

    #[test]
    fn most_allocated_packs_the_fullest_node_first() {
        let (cap, mut s) = setup(&[(8, 110), (8, 110), (4, 110)]);
        let t = tables(&cap);
        let mut out = Vec::new();
        // 4 cpu on a 4-cpu node scores 100, on an 8-cpu node 50.
        place(&t, &mut s, 4, 1, true, &mut out).unwrap();
        assert_eq!(out, [NodeId(2)]);
        // Two more: node 0 (tie with node 1, lower name) then node 0 again (now fullest).
        place(&t, &mut s, 2, 2, true, &mut out).unwrap();
        assert_eq!(out, [NodeId(2), NodeId(0), NodeId(0)]);
        s.usage().check_indexes().unwrap();
    }

    #[test]
    fn a_gang_that_does_not_fit_reports_how_far_it_got() {
        let (cap, mut s) = setup(&[(4, 110), (4, 110)]);
        let t = tables(&cap);
        let mut out = Vec::new();
        let r = place(&t, &mut s, 3, 3, false, &mut out);
        assert_eq!(r, Err(Some(2)));
        // The room was counted first: nothing was placed to be undone.
        assert!(out.is_empty());
        assert_eq!(s.mark(), crate::usage::Mark::START);
    }

    #[test]
    fn quick_reject_rules_out_without_placing() {
        let (cap, mut s) = setup(&[(4, 110), (4, 110)]);
        let t = tables(&cap);
        let mut out = Vec::new();
        let r = place(&t, &mut s, 3, 3, true, &mut out);
        assert_eq!(r, Err(None));
        assert!(out.is_empty());
    }

    #[test]
    fn pod_slots_are_capacity_too() {
        let (cap, mut s) = setup(&[(64, 2)]);
        let t = tables(&cap);
        let mut out = Vec::new();
        let r = place(&t, &mut s, 1, 3, false, &mut out);
        assert_eq!(r, Err(Some(2)), "a node holds at most its allocatable pods");
    }

    #[test]
    fn fragmentation_free_total_is_not_enough() {
        // 4 free cpus in total, but no node has 3.
        let (cap, mut s) = setup(&[(2, 110), (2, 110)]);
        let t = tables(&cap);
        let mut out = Vec::new();
        let r = place(&t, &mut s, 3, 1, true, &mut out);
        assert_eq!(r, Err(Some(0)));
    }

    #[test]
    fn least_allocated_spreads_where_most_allocated_packs() {
        let (cap, s) = setup(&[(8, 110), (4, 110)]);
        let t = tables(&cap);
        let r = cpu(2);
        // After 2 cpu: node 0 is 25% used, node 1 50%.
        assert_eq!(t.score(&s, NodeId(0), &r, Scoring::MostAllocated, 1), 25);
        assert_eq!(t.score(&s, NodeId(1), &r, Scoring::MostAllocated, 1), 50);
        assert_eq!(t.score(&s, NodeId(0), &r, Scoring::LeastAllocated, 1), 75);
        assert_eq!(t.score(&s, NodeId(1), &r, Scoring::LeastAllocated, 1), 50);
    }

    #[test]
    fn balanced_allocation_prefers_equal_fractions_and_least_numa_nodes_fewer_zones() {
        // Two nodes of (cpu, memory, pods): 8 cpu/8 units, and 8 cpu/32 units.
        let cap: Arc<[Quantity]> = [8, 8, 110, 8, 32, 110]
            .iter()
            .map(|&q| Quantity::from_units(q))
            .collect();
        let s = Scratch::new(Usage::new(cap.clone(), 3, 0));
        let t = NodeTables {
            capacity: &cap,
            resources: 3,
            pods: ResourceId(2),
            zones: &NO_ZONES,
            numa_blind: false,
        };
        let r = Request::new([
            (ResourceId(0), Quantity::from_units(4)),
            (ResourceId(1), Quantity::from_units(4)),
        ]);
        // Node 0 ends 50%/50% (σ 0), node 1 50%/12.5% (σ 0.1875).
        assert_eq!(
            t.score(&s, NodeId(0), &r, Scoring::BalancedAllocation, 1),
            100
        );
        assert_eq!(
            t.score(&s, NodeId(1), &r, Scoring::BalancedAllocation, 1),
            81
        );
        // Fewer zones always beat more, whatever the packing.
        let one = t.score(&s, NodeId(1), &r, Scoring::LeastNUMANodes, 1);
        let two = t.score(&s, NodeId(0), &r, Scoring::LeastNUMANodes, 2);
        assert!(one > two, "{one} <= {two}");
        assert!(
            t.score(&s, NodeId(0), &r, Scoring::LeastNUMANodes, 1) > one,
            "ties go to the fuller node"
        );
    }

    #[test]
    fn strategies_parse_their_names() {
        for s in [
            Scoring::MostAllocated,
            Scoring::LeastAllocated,
            Scoring::BalancedAllocation,
            Scoring::LeastNUMANodes,
        ] {
            assert_eq!(Scoring::parse(s.as_str()), Some(s));
        }
        assert_eq!(Scoring::parse("mostallocated"), None);
    }

    /// A cluster of nodes with three resources (cpu, memory, pods), in node set 0.
    fn cluster3(nodes: &[(i64, i64, i64)]) -> (Arc<[Quantity]>, Usage) {
        let mut cap = Vec::new();
        for &(c, m, p) in nodes {
            cap.extend([
                Quantity::from_milli(c.into()),
                Quantity::from_milli(m.into()),
                Quantity::from_units(p),
            ]);
        }
        let cap: Arc<[Quantity]> = cap.into();
        let mut usage = Usage::new(cap.clone(), 3, 0);
        usage.add_set((0..nodes.len() as u32).map(NodeId).collect());
        (cap, usage)
    }

    proptest::proptest! {
        /// Walking nodes in order of free capacity and stopping early places every pod where
        /// scoring every node would (highest score, ties to the name), and fails at the same
        /// pod: on nodes of different sizes, partly used, for a request of cpu or of memory,
        /// with and without a filter on the nodes.
        #[test]
        fn walking_in_order_places_as_scoring_every_node_does(
            nodes in proptest::collection::vec((1i64..9, 1i64..9, 1i64..4), 1..40),
            used in proptest::collection::vec((0usize..40, 0i64..5, 0i64..5), 0..60),
            ask in (0u16..2, 1i64..4, 1u32..12),
            least in proptest::bool::ANY,
            odd_only in proptest::bool::ANY,
        ) {
            let nodes: Vec<(i64, i64, i64)> =
                nodes.iter().map(|&(c, m, p)| (c * 500, m * 1000, p)).collect();
            let (cap, usage) = cluster3(&nodes);
            let mut s = Scratch::new(usage);
            for (n, c, m) in used {
                let n = n % nodes.len();
                for (r, q) in [(0, c * 250), (1, m * 500)] {
                    let cell = n * 3 + r;
                    let v = (s.node(cell) + Quantity::from_milli(q.into())).min(cap[cell]);
                    s.set_node(cell, v);
                }
            }
            let t = NodeTables { resources: 3, pods: ResourceId(2), ..tables(&cap) };
            // One resource, cpu or memory: what the walk serves.
            let amount = ask.1 * if ask.0 == 0 { 250 } else { 500 };
            let request = Request::new([(ResourceId(ask.0), Quantity::from_milli(amount.into()))]);
            let numa = PodNuma::default();
            let pod = PodAsk { request: &request, numa: &numa, count: ask.2 };
            let scoring = if least { Scoring::LeastAllocated } else { Scoring::MostAllocated };
            let odd = |n: NodeId| n.0 % 2 == 1;
            let allowed: Option<&dyn Fn(NodeId) -> bool> = odd_only.then_some(&odd as _);

            let mut zones = NumaPlacement::default();
            let (mut walked, mut scanned) = (Vec::new(), Vec::new());
            let mark = s.mark();
            proptest::prop_assert!(t.order_key(pod, scoring).is_some());
            let by_walk = t.place_pod_set(&mut s, ALL, pod, scoring, false, allowed, &mut Placed {
                nodes: &mut walked, numa: &mut zones, numa_rejected: false,
            });
            s.usage().check_indexes().map_err(proptest::test_runner::TestCaseError::fail)?;
            s.rollback(mark);
            let mut all = Vec::new();
            s.usage().free_index(ALL).members_with(2, 1000, &mut all);
            all.retain(|&n| allowed.is_none_or(|a| a(n)));
            let by_scan = t.place_on(&mut s, &all, pod, scoring, &mut Placed {
                nodes: &mut scanned, numa: &mut zones, numa_rejected: false,
            });
            // A pod set that does not fit is not placed at all by the walk (it counts the
            // room first); the scan places what it can before it fails.
            proptest::prop_assert_eq!(by_walk, by_scan);
            if by_walk.is_ok() {
                proptest::prop_assert_eq!(walked, scanned);
            } else {
                proptest::prop_assert!(walked.is_empty());
            }
        }
    }
}
