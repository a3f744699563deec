//! Flavor assignment: choosing one flavor option per pod set so that the gang fits quota and
//! nodes.
//!
//! Options are searched depth-first in the ClusterQueue's order of preference (pod set 0's
//! options outermost). A branch is cut as soon as the quota charged so far does not fit;
//! at a leaf the whole gang is placed. The search runs in passes: first quota must fit
//! without borrowing ("nominal first"), then borrowing is allowed, so a less preferred flavor
//! with free nominal quota wins over borrowing a preferred one (Kueue's
//! `whenCanBorrow: TryNextFlavor`). Screening for admissibility uses a third mode, the
//! reachable quota on empty nodes.

use crate::decision::{Admission, NodeFitFailure, OptionFailure, PendingReason};
use crate::ids::{FrId, NodeId, NodeSetId, QuotaNodeId, WorkloadId};
use crate::model::Model;
use crate::numa::{NumaPlacement, PodNuma};
use crate::place::{NodeTables, Placed, PodAsk, Scoring};
use crate::quantity::Quantity;
use crate::resource::{Request, ResourceId};
use crate::shape::Shape;
use crate::topology::per_mille_left;
use crate::usage::Scratch;

/// Leaves (complete flavor choices) whose gang placement a search may try.
pub const MAX_PLACEMENT_ATTEMPTS_PER_SEARCH: usize = 8;

/// A choice of one flavor option per pod set, without allocating (a workload has at most
/// [`crate::shape::MAX_POD_SETS`] pod sets).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Choice {
    len: usize,
    items: [u16; crate::shape::MAX_POD_SETS],
}

impl Choice {
    fn new() -> Self {
        Choice {
            len: 0,
            items: [0; crate::shape::MAX_POD_SETS],
        }
    }

    fn push(&mut self, o: u16) {
        self.items[self.len] = o;
        self.len += 1;
    }

    fn pop(&mut self) {
        self.len -= 1;
    }
}

impl std::ops::Deref for Choice {
    type Target = [u16];
    fn deref(&self) -> &[u16] {
        &self.items[..self.len]
    }
}

/// Most entries a [`NodeMemo`] keeps.
pub const MAX_NODE_MEMO: usize = 64;

/// Pod sets that did not fit on a node set as usage stands.
///
/// A pod set that does not fit bounds every pod set at least as big (no fewer pods, no
/// smaller request in any resource): a node holds at least as many of the smaller pods, and
/// greedy placement of identical pods fails only when the nodes together cannot hold them.
/// So while usage only grows (admissions), a look-alike that is at least as big fails
/// without a scan. With NUMA zones, where a pod's containers and QoS matter too, only a pod
/// set asking exactly the same of each pod is bounded (placement is deterministic, so its
/// first pods go where the failed set's did). The memo must be cleared when usage shrinks
/// (a preemption).
#[derive(Clone, Debug, Default)]
pub(crate) struct NodeMemo {
    entries: Vec<(NodeSetId, Request, u32, Option<PodNuma>)>,
}

impl NodeMemo {
    fn dominated(
        &self,
        set: NodeSetId,
        request: &Request,
        count: u32,
        numa: Option<&PodNuma>,
    ) -> bool {
        self.entries.iter().any(|(s, r, k, n)| {
            *s == set
                && count >= *k
                && match numa {
                    None => r.iter().all(|(res, q)| request.get(res) >= q),
                    Some(numa) => r == request && n.as_ref() == Some(numa),
                }
        })
    }

    fn insert(&mut self, set: NodeSetId, request: &Request, count: u32, numa: Option<&PodNuma>) {
        if self.entries.len() < MAX_NODE_MEMO && !self.dominated(set, request, count, numa) {
            self.entries
                .push((set, request.clone(), count, numa.cloned()));
        }
    }

    /// Forgets everything (usage shrank).
    pub fn clear(&mut self) {
        self.entries.clear();
    }
}

/// How quota is checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum QuotaMode {
    /// Within the ClusterQueue's nominal quota and what is available now.
    NoBorrow,
    /// Within what is available now, borrowing allowed.
    Borrow,
    /// Within what the ClusterQueue could ever reach.
    Reachable,
    /// Within the ClusterQueue's unused nominal quota, whether or not it is lent out now
    /// (Kueue's "does this assignment borrow").
    WithinNominal,
}

/// A complete assignment that fits; its placement is applied in the scratch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Found {
    pub options: Vec<u16>,
    pub placements: Vec<NodeId>,
    pub numa: NumaPlacement,
    pub borrowing: bool,
}

impl Found {
    /// The admission of `workload` with this assignment.
    pub fn into_admission(self, workload: WorkloadId, backfilled: bool) -> Admission {
        Admission {
            workload,
            options: self.options,
            placements: self.placements,
            borrowing: self.borrowing,
            backfilled,
            numa: self.numa,
        }
    }
}

/// Why one option or leaf failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Failure {
    Blocked(OptionFailure),
    Quota {
        fr: FrId,
        requested: Quantity,
        limit: Quantity,
    },
    Nodes(NodeFitFailure),
}

impl Failure {
    pub fn into_pending(self) -> PendingReason {
        match self {
            Failure::Blocked(f) => PendingReason::Inadmissible(
                crate::decision::InadmissibleReason::NoFlavorFits(vec![f]),
            ),
            Failure::Quota {
                fr,
                requested,
                limit,
            } => PendingReason::InsufficientQuota {
                fr,
                requested,
                available: limit,
            },
            Failure::Nodes(n) => PendingReason::NodesFull(n),
        }
    }

    pub fn into_option_failure(self) -> OptionFailure {
        match self {
            Failure::Blocked(f) => f,
            Failure::Quota {
                fr,
                requested,
                limit,
            } => OptionFailure::ExceedsReachableQuota {
                fr,
                requested,
                reachable: limit,
            },
            Failure::Nodes(n) => OptionFailure::DoesNotFitEmptyNodes(n),
        }
    }
}

/// The outcome of a search.
#[derive(Clone, Debug, Default)]
pub(crate) struct SearchResult {
    pub found: Option<Found>,
    /// Failures in search order (most preferred first), at most `keep_failures`.
    pub failures: Vec<Failure>,
    /// Gang placements tried.
    pub placements_tried: u64,
}

/// One search over a shape's options.
pub(crate) struct Search<'a> {
    pub model: &'a Model,
    pub tables: NodeTables<'a>,
    pub shape: &'a Shape,
    pub cq_node: QuotaNodeId,
    pub scoring: Scoring,
    /// How many distinct failures to keep for the reason.
    pub keep_failures: usize,
    /// How many leaves may be placed.
    pub placement_budget: usize,
    /// Whether a pod set the nodes together cannot hold may be ruled out without counting
    /// how many of its pods would fit (cheaper; the count makes better messages).
    pub quick_reject: bool,
}

struct State<'m> {
    memo: &'m mut NodeMemo,
    chosen: Choice,
    placement_budget: usize,
    /// Leaves placed in an earlier pass, with why they failed.
    tried_leaves: Vec<(Choice, Failure)>,
    result: SearchResult,
}

impl Search<'_> {
    /// Searches with each mode in turn; the first leaf that fits wins and stays placed in `s`.
    pub fn run(&self, s: &mut Scratch, modes: &[QuotaMode], memo: &mut NodeMemo) -> SearchResult {
        let mut st = State {
            memo,
            chosen: Choice::new(),
            placement_budget: self.placement_budget,
            tried_leaves: Vec::new(),
            result: SearchResult::default(),
        };
        for &mode in modes {
            // The reason reported is the last (most permissive) pass's.
            st.result.failures.clear();
            if let Some(found) = self.dfs(s, mode, &mut st) {
                st.result.found = Some(found);
                break;
            }
        }
        st.result
    }

    fn fail(&self, st: &mut State<'_>, f: Failure) {
        if st.result.failures.len() < self.keep_failures && !st.result.failures.contains(&f) {
            st.result.failures.push(f);
        }
    }

    /// Total quota of `fr` charged by the options chosen so far.
    fn charged(&self, chosen: &[u16], fr: FrId) -> Quantity {
        chosen
            .iter()
            .enumerate()
            .flat_map(|(pi, &o)| &self.shape.pod_sets[pi].options[o as usize].quota)
            .filter(|(f, _)| *f == fr)
            .map(|(_, q)| *q)
            .sum()
    }

    fn quota_check(
        &self,
        s: &Scratch,
        mode: QuotaMode,
        fr: FrId,
        total: Quantity,
    ) -> Result<(), Failure> {
        let tree = self.model.quota();
        let limit = match mode {
            QuotaMode::Reachable => tree.potential(self.cq_node, fr),
            QuotaMode::Borrow => tree.available(s, self.cq_node, fr),
            QuotaMode::WithinNominal => {
                tree.subtree(self.cq_node, fr) - tree.usage(s, self.cq_node, fr)
            }
            QuotaMode::NoBorrow => {
                let nominal_left = tree.subtree(self.cq_node, fr) - tree.usage(s, self.cq_node, fr);
                nominal_left.min(tree.available(s, self.cq_node, fr))
            }
        };
        if total > limit {
            Err(Failure::Quota {
                fr,
                requested: total,
                limit,
            })
        } else {
            Ok(())
        }
    }

    fn dfs(&self, s: &mut Scratch, mode: QuotaMode, st: &mut State<'_>) -> Option<Found> {
        let pi = st.chosen.len();
        if pi == self.shape.pod_sets.len() {
            return self.leaf(s, st);
        }
        let ps = &self.shape.pod_sets[pi];
        'options: for (oi, option) in ps.options.iter().enumerate() {
            if let Some(b) = &option.blocked {
                self.fail(st, Failure::Blocked(b.clone()));
                continue;
            }
            for &(fr, q) in &option.quota {
                let total = self.charged(&st.chosen, fr) + q;
                if let Err(f) = self.quota_check(s, mode, fr, total) {
                    self.fail(st, f);
                    continue 'options;
                }
            }
            st.chosen.push(oi as u16);
            let found = self.dfs(s, mode, st);
            st.chosen.pop();
            if found.is_some() {
                return found;
            }
        }
        None
    }

    fn leaf(&self, s: &mut Scratch, st: &mut State<'_>) -> Option<Found> {
        if let Some((_, f)) = st.tried_leaves.iter().find(|(l, _)| *l == st.chosen) {
            let f = f.clone();
            self.fail(st, f);
            return None;
        }
        if st.placement_budget == 0 {
            return None;
        }
        // The first pod set is placed on the usage as the search found it: a bigger one that
        // failed there bounds it (an identical one when nodes have NUMA zones; none with a
        // topology request, where the other pod sets decide the domain too).
        let memo_ok = self.shape.topology.is_none();
        let first = &self.shape.pod_sets[0];
        let exact = (!self.model.zones().is_empty()).then_some(&first.numa);
        let first_set = first.options[st.chosen[0] as usize].node_set;
        if memo_ok
            && st
                .memo
                .dominated(first_set, &first.request, first.count, exact)
        {
            let f = Failure::Nodes(NodeFitFailure {
                pod_set: 0,
                option: st.chosen[0],
                placed: None,
                count: first.count,
                eligible_nodes: self.model.shapes().node_set(first_set).len() as u32,
                within: None,
                numa: false,
            });
            st.tried_leaves.push((st.chosen, f.clone()));
            self.fail(st, f);
            return None;
        }
        st.placement_budget -= 1;
        st.result.placements_tried += 1;
        let (placements, numa) = match self.place_gang(s, &st.chosen, self.quick_reject) {
            Ok(placed) => placed,
            Err(miss) => {
                let ps = &self.shape.pod_sets[miss.pod_set as usize];
                let option = &ps.options[miss.option as usize];
                if memo_ok && miss.pod_set == 0 {
                    st.memo
                        .insert(option.node_set, &ps.request, ps.count, exact);
                }
                let f = Failure::Nodes(NodeFitFailure {
                    pod_set: miss.pod_set,
                    option: miss.option,
                    placed: miss.placed,
                    count: ps.count,
                    eligible_nodes: self.model.shapes().node_set(option.node_set).len() as u32,
                    within: miss.within,
                    numa: miss.numa,
                });
                st.tried_leaves.push((st.chosen, f.clone()));
                self.fail(st, f);
                return None;
            }
        };
        let tree = self.model.quota();
        let mut frs: Vec<FrId> = st
            .chosen
            .iter()
            .enumerate()
            .flat_map(|(pi, &o)| {
                self.shape.pod_sets[pi].options[o as usize]
                    .quota
                    .iter()
                    .map(|(fr, _)| *fr)
            })
            .collect();
        frs.sort();
        frs.dedup();
        let borrowing = frs.iter().any(|&fr| {
            tree.usage(s, self.cq_node, fr) + self.charged(&st.chosen, fr)
                > tree.subtree(self.cq_node, fr)
        });
        Some(Found {
            options: st.chosen.to_vec(),
            placements,
            numa,
            borrowing: borrowing && tree.node(self.cq_node).parent.is_some(),
        })
    }

    /// Total quota per (flavor, resource) of a complete choice of options, sorted.
    pub fn totals(&self, options: &[u16]) -> Vec<(FrId, Quantity)> {
        let mut totals: Vec<(FrId, Quantity)> = Vec::new();
        for (pi, &o) in options.iter().enumerate() {
            for &(fr, q) in &self.shape.pod_sets[pi].options[o as usize].quota {
                match totals.iter_mut().find(|(f, _)| *f == fr) {
                    Some((_, t)) => *t += q,
                    None => totals.push((fr, q)),
                }
            }
        }
        totals.sort();
        totals
    }

    /// Whether some choice of options fits quota in `mode` (nodes not checked).
    pub fn quota_fits(&self, s: &Scratch, mode: QuotaMode) -> bool {
        let mut chosen = Choice::new();
        self.quota_dfs(s, mode, &mut chosen)
    }

    fn quota_dfs(&self, s: &Scratch, mode: QuotaMode, chosen: &mut Choice) -> bool {
        let pi = chosen.len();
        if pi == self.shape.pod_sets.len() {
            return true;
        }
        for (oi, option) in self.shape.pod_sets[pi].options.iter().enumerate() {
            if option.blocked.is_some() {
                continue;
            }
            let fits = option.quota.iter().all(|&(fr, q)| {
                self.quota_check(s, mode, fr, self.charged(chosen, fr) + q)
                    .is_ok()
            });
            if !fits {
                continue;
            }
            chosen.push(oi as u16);
            if self.quota_dfs(s, mode, chosen) {
                return true; // the complete choice stays in `chosen`
            }
            chosen.pop();
        }
        false
    }

    /// The first choice of options (in search order) whose quota fits in `mode`.
    pub fn quota_choice(&self, s: &Scratch, mode: QuotaMode) -> Option<Vec<u16>> {
        let mut chosen = Choice::new();
        self.quota_dfs(s, mode, &mut chosen)
            .then(|| chosen.to_vec())
    }

    /// Complete choices whose quota fits the reachable quota, in search order, at most
    /// `limit` (for preemption, which then decides what to remove).
    pub fn reachable_choices(&self, limit: usize) -> Vec<Vec<u16>> {
        let mut out = Vec::new();
        let mut chosen = Choice::new();
        self.collect_reachable(&mut chosen, limit, &mut out);
        out
    }

    fn collect_reachable(&self, chosen: &mut Choice, limit: usize, out: &mut Vec<Vec<u16>>) {
        if out.len() >= limit {
            return;
        }
        let pi = chosen.len();
        if pi == self.shape.pod_sets.len() {
            out.push(chosen.to_vec());
            return;
        }
        let tree = self.model.quota();
        for (oi, option) in self.shape.pod_sets[pi].options.iter().enumerate() {
            if option.blocked.is_some() {
                continue;
            }
            let fits = option
                .quota
                .iter()
                .all(|&(fr, q)| self.charged(chosen, fr) + q <= tree.potential(self.cq_node, fr));
            if !fits {
                continue;
            }
            chosen.push(oi as u16);
            self.collect_reachable(chosen, limit, out);
            chosen.pop();
            if out.len() >= limit {
                return;
            }
        }
    }

    /// Places a complete choice on nodes in `s`; on failure nothing stays placed.
    pub fn place_choice(
        &self,
        s: &mut Scratch,
        options: &[u16],
    ) -> Option<(Vec<NodeId>, NumaPlacement)> {
        self.place_gang(s, options, true).ok()
    }

    /// Places every pod set of a complete choice, packed into the topology domains the shape
    /// asks for; on failure nothing stays placed.
    fn place_gang(
        &self,
        s: &mut Scratch,
        options: &[u16],
        quick_reject: bool,
    ) -> Result<(Vec<NodeId>, NumaPlacement), GangMiss> {
        let Some(ask) = self.shape.topology else {
            return self.place_within(s, options, quick_reject, None);
        };
        let level = self.model.level(ask.level);
        let (resources, totals) = self.gang_totals(options);
        let (capacity, r_count) = (self.tables.capacity, self.tables.resources);
        // Best fit: the domain left with the least room, ties to the name.
        let mut best: Option<(i128, usize)> = None;
        for d in 0..level.domain_count() {
            let room = level.room(d, s, capacity, r_count, &resources);
            if room.iter().zip(&totals).any(|(&(free, _), &t)| free < t) {
                continue;
            }
            let in_d = |n: NodeId| level.domain_of(n) == Some(d);
            let mark = s.mark();
            if self
                .place_within(s, options, quick_reject, Some(&in_d))
                .is_ok()
            {
                let left = per_mille_left(&level.room(d, s, capacity, r_count, &resources));
                s.rollback(mark);
                if best.is_none_or(|(b, _)| left < b) {
                    best = Some((left, d));
                }
            }
        }
        if let Some((_, d)) = best {
            let in_d = |n: NodeId| level.domain_of(n) == Some(d);
            return self.place_within(s, options, quick_reject, Some(&in_d));
        }
        if ask.required {
            return Err(GangMiss {
                pod_set: 0,
                option: options[0],
                placed: None,
                within: Some(ask.level),
                numa: false,
            });
        }
        // Preferred: the k roomiest domains, k growing, then anywhere.
        let mut roomiest: Vec<(std::cmp::Reverse<i128>, usize)> = (0..level.domain_count())
            .map(|d| {
                let room = level.room(d, s, capacity, r_count, &resources);
                let held: i128 = room
                    .iter()
                    .zip(&totals)
                    .map(|(&(free, _), &t)| if t > 0 { free.min(t) * 1000 / t } else { 0 })
                    .sum();
                (std::cmp::Reverse(held), d)
            })
            .collect();
        roomiest.sort();
        let mut chosen = vec![false; level.domain_count()];
        for (k, &(_, d)) in roomiest.iter().enumerate() {
            chosen[d] = true;
            if k == 0 {
                continue;
            }
            let in_chosen = |n: NodeId| level.domain_of(n).is_some_and(|d| chosen[d]);
            if let Ok(placed) = self.place_within(s, options, quick_reject, Some(&in_chosen)) {
                return Ok(placed);
            }
        }
        self.place_within(s, options, quick_reject, None)
    }

    /// The resources a complete choice requests, and the gang's total of each (milli).
    fn gang_totals(&self, options: &[u16]) -> (Vec<ResourceId>, Vec<i128>) {
        let mut totals: std::collections::BTreeMap<ResourceId, i128> = Default::default();
        for (pi, _) in options.iter().enumerate() {
            let ps = &self.shape.pod_sets[pi];
            for (r, q) in ps.request.iter() {
                *totals.entry(r).or_default() += q.milli() * i128::from(ps.count);
            }
        }
        totals.into_iter().unzip()
    }

    /// Places every pod set of a choice on nodes `allowed` lets through (all when `None`);
    /// on failure nothing stays placed.
    fn place_within(
        &self,
        s: &mut Scratch,
        options: &[u16],
        quick_reject: bool,
        allowed: Option<&dyn Fn(NodeId) -> bool>,
    ) -> Result<(Vec<NodeId>, NumaPlacement), GangMiss> {
        let mark = s.mark();
        let total_pods: u32 = self.shape.pod_sets.iter().map(|p| p.count).sum();
        let mut nodes = Vec::with_capacity(total_pods as usize);
        let mut numa = NumaPlacement::default();
        for (pi, &oi) in options.iter().enumerate() {
            let ps = &self.shape.pod_sets[pi];
            let ask = PodAsk {
                request: &ps.request,
                numa: &ps.numa,
                count: ps.count,
            };
            let mut out = Placed {
                nodes: &mut nodes,
                numa: &mut numa,
                numa_rejected: false,
            };
            if let Err(placed) = self.tables.place_pod_set(
                s,
                ps.options[oi as usize].node_set,
                ask,
                self.scoring,
                quick_reject,
                allowed,
                &mut out,
            ) {
                let numa = out.numa_rejected;
                s.rollback(mark);
                return Err(GangMiss {
                    pod_set: pi as u16,
                    option: oi,
                    placed,
                    within: None,
                    numa,
                });
            }
        }
        Ok((nodes, numa))
    }
}

/// Where a gang placement stopped: the pod set and its option, how many of its pods were
/// placed (when counted), and the topology level when no domain could hold the gang.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct GangMiss {
    pub pod_set: u16,
    pub option: u16,
    pub placed: Option<u32>,
    pub within: Option<crate::ids::LevelId>,
    pub numa: bool,
}
