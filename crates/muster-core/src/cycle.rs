//! One scheduling cycle: given the model at `now`, what should happen?
//!
//! [`run_cycle`] is a pure function of its inputs: it works in place on the model's usage
//! through a journal and undoes every change before it returns, so the model is as it was
//! until the shell applies the output. In order:
//!
//! 1. **Screen** workloads never judged before: one that could not be admitted even on an
//!    empty cluster with all the quota its ClusterQueue could reach is `Inadmissible`
//!    (reported once, kept pending, skipped by queues from then on).
//! 2. **Nominated** workloads — those that preempted in an earlier cycle — are tried first:
//!    the room their victims left is theirs (kube-scheduler's nominated pods). Without this, a
//!    higher-priority borrower could take that room back and be preempted again, forever.
//!    Where the shell stops victims over time (Kubernetes), victims still being stopped are
//!    counted as gone for them: a nominated workload that fits once they are gone holds that
//!    room and waits (`Preempting`) instead of preempting again.
//! 3. **Heads.** Every ClusterQueue offers its next candidate (its queue order: priority,
//!    then queue timestamp, then namespace/name). Of all heads, the cycle takes the first by
//!    Kueue's entry order — those within their queue's nominal quota (not borrowing) first, then
//!    priority, timestamp, namespace/name — judged on the usage as it stands after everything
//!    decided so far in the cycle, and tries it:
//!    - it **fits** (quota and a whole-gang placement): admitted;
//!    - it does not, but its queue's preemption policy finds a minimal **victim** set: the
//!      victims are preempted and the room is held for it for the rest of the cycle (it is
//!      admitted by the next cycle, once the shell has removed the victims);
//!    - otherwise it **waits**, with the reason. A `StrictFIFO` queue stops at its first
//!      waiting candidate; a `BestEffortFIFO` queue goes on to the next one, up to
//!      [`MAX_FAILED_ATTEMPTS_PER_QUEUE`] waiting candidates per cycle; a `Backfill` queue's
//!      first waiting candidate takes a reservation that every later candidate of any queue
//!      must respect, and the queue goes on deeper (see `backfill`). (Kueue looks at one
//!      head per queue per cycle; Slurm's main scheduler stops at a partition's first job
//!      that cannot start and leaves deeper jobs to backfill. A cycle runs at every
//!      submission and completion, so a small bound keeps each one cheap.)
//!
//!    With **fair sharing** on, the head taken is the winner of Kueue's tournament instead
//!    (see [`crate::fair`]): from the ClusterQueues up, each cohort passes on the candidate
//!    of the child whose weighted share would be lowest with it admitted; ties go to higher
//!    priority, then earlier queue time, then ClusterQueue name.
//!
//! The queue that offered it then offers its next candidate, until every queue is exhausted
//! or stopped. Picking the best head anew at each step (rather than one head per queue per
//! round) means room freed by a preemption goes first to workloads within their nominal
//! quota, not to whichever borrower happened to be looked at next. A cycle remembers which shapes
//! failed to fit: capacity only shrinks as it admits, so a look-alike of a failed workload
//! fails too, and is answered without a search (the memo is cleared after a preemption).

use std::collections::{BTreeMap, BTreeSet};

use crate::assign::{
    Failure, Found, MAX_PLACEMENT_ATTEMPTS_PER_SEARCH, NodeMemo, QuotaMode, Search,
};
use crate::decision::{Admission, CycleOutput, Decision, InadmissibleReason, PendingReason};
use crate::ids::{CqId, ShapeId, WorkloadId};
use crate::model::{Model, QueueKey};
use crate::place::{NodeTables, Scoring};
use crate::preempt;
use crate::shape::MAX_OPTIONS_PER_POD_SET;
use crate::spec::{QueueingStrategy, ReclaimWithinCohort, WithinClusterQueue};
use crate::time::Time;
use crate::usage::{Mark, Scratch};

/// Candidates per ClusterQueue per cycle that may fail to fit before the queue is left for
/// the next cycle. Chosen for cost: `muster bench` (10,000 jobs on 1,000 nodes) needs about
/// a third fewer instructions than with 8, with the same makespan.
pub const MAX_FAILED_ATTEMPTS_PER_QUEUE: usize = 4;

/// Preemption searches per ClusterQueue per cycle.
pub const MAX_PREEMPTION_SEARCHES_PER_QUEUE: usize = 4;

/// Flavor choices a preemption search considers per workload.
pub const MAX_PREEMPTION_CHOICES: usize = 4;

/// Failure reasons kept to explain why a workload is Inadmissible.
const MAX_INADMISSIBLE_REASONS: usize = 4;

/// Scheduler-wide settings for a cycle.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Profile {
    /// How nodes are scored.
    pub scoring: Scoring,
    /// Fair sharing, when on (the `Configuration`'s `spec.fairSharing.enable`).
    pub fair_sharing: Option<crate::spec::FairSharingSpec>,
    /// Place pods by node totals alone, as a NUMA-blind scheduler does, and record the pods
    /// each node's kubelet would then reject with a Topology Affinity Error (a what-if for
    /// the simulator; the controller never sets it).
    pub numa_blind: bool,
}

/// Runs one cycle over `model` at `now` and returns what should happen.
///
/// The cycle works in place on the model's usage, journaling every change, and rolls all of
/// them back before it returns: the model is left exactly as it was (the `&mut` is for
/// speed, so that no copy of the usage is made per cycle). Apply the output to change it.
pub fn run_cycle(model: &mut Model, now: Time, profile: &Profile) -> CycleOutput {
    cycle(model, now, profile, false)
}

/// Runs one cycle like [`run_cycle`], for a caller that applies its whole output next.
///
/// When the cycle preempts nothing, the usage it leaves is exactly the model's usage with
/// its admissions charged, so it is kept instead of being undone and charged again:
/// [`Model::apply`] then does not charge those admissions a second time. The caller must
/// apply every decision and then [`Model::apply_output`] (which fails with
/// [`crate::ModelError::UnappliedAdmissions`] if an admission was left out) before anything
/// else changes the model. The simulator runs its cycles this way.
pub fn run_cycle_charged(model: &mut Model, now: Time, profile: &Profile) -> CycleOutput {
    cycle(model, now, profile, true)
}

fn cycle(model: &mut Model, now: Time, profile: &Profile, keep_admissions: bool) -> CycleOutput {
    debug_assert!(
        !model.has_charged_ahead(),
        "a cycle's admissions were not applied before the next cycle"
    );
    let (usage, empty) = model.lend_usage();
    let mut verdicts = model.lend_verdicts();
    let (out, usage, empty, kept) = {
        let mut cycle = Cycle::new(
            model,
            Scratch::new(usage),
            Scratch::new(empty),
            now,
            profile,
        );
        cycle.screen(&mut verdicts);
        cycle.rounds();
        let decisions = &cycle.out.decisions;
        let preempted = decisions
            .iter()
            .any(|d| matches!(d, Decision::Preempt { .. }));
        let admitted = decisions.iter().any(|d| matches!(d, Decision::Admit(_)));
        cycle.out.settled = !(preempted || (admitted && cycle.preemption_unfinished));
        cycle.refresh_quota_reasons();
        let Cycle {
            mut s,
            mut empty,
            out,
            ..
        } = cycle;
        // Without preemptions, what stays in the journal is the admissions and nothing else
        // (every trial, phantom charge and hold was undone or is a preemption's).
        let kept = keep_admissions && admitted && !preempted;
        if kept {
            #[cfg(debug_assertions)]
            check_only_admissions_left(model, &mut s, &out);
        } else {
            s.rollback(crate::usage::Mark::START);
        }
        empty.rollback(crate::usage::Mark::START);
        (out, s.into_usage(), empty.into_usage(), kept)
    };
    model.return_usage(usage, empty);
    model.return_verdicts(verdicts);
    if kept {
        model.set_charged_ahead(out.decisions.iter().filter_map(|d| match d {
            Decision::Admit(a) => Some(a.workload),
            _ => None,
        }));
    }
    out
}

/// Checks that the usage a cycle leaves is the usage it started from with its admissions
/// charged, as [`Model::apply`] would charge them (debug builds: every test checks it).
#[cfg(debug_assertions)]
fn check_only_admissions_left(model: &Model, s: &mut Scratch, out: &CycleOutput) {
    let kept = s.usage().clone();
    s.rollback(crate::usage::Mark::START);
    for d in &out.decisions {
        if let Decision::Admit(a) = d {
            model.charge_into(s, a, 1);
        }
    }
    assert!(
        kept == *s.usage(),
        "the usage a cycle left is not its admissions charged"
    );
}

pub(crate) struct Cycle<'m> {
    pub model: &'m Model,
    pub profile: &'m Profile,
    /// The cycle's time (backfill measures runtime limits from it).
    pub now: Time,
    pub s: Scratch,
    /// The empty cluster, for screening.
    empty: Scratch,
    pub tables: NodeTables<'m>,
    /// Admitted or holding room this cycle.
    taken: BTreeSet<WorkloadId>,
    /// Preempted this cycle.
    pub removed: BTreeSet<WorkloadId>,
    /// Judged Inadmissible this cycle.
    inadmissible: BTreeSet<WorkloadId>,
    fail_memo: BTreeMap<ShapeId, PendingReason>,
    /// Pod sets that did not fit on nodes as usage stands.
    node_memo: NodeMemo,
    /// Changes whenever usage changes (an admission or a preemption).
    generation: u64,
    /// Preemption searches that failed at the current generation, by shape, priority and
    /// queue timestamp (what decides the candidates).
    preempt_fail_memo: BTreeSet<(ShapeId, i32, Time)>,
    preempt_fail_generation: u64,
    /// Each queue's admitted workloads in preemption order, built on first use (the model's
    /// admitted sets do not change during a cycle).
    pub admitted_lists: Vec<Option<Vec<WorkloadId>>>,
    /// Whether a preemption search failed or was skipped this cycle (then an admission made
    /// later in the cycle may give it candidates in the next one).
    preemption_unfinished: bool,
    pub out: CycleOutput,
    /// Backfill reservations made so far in this cycle, in cycle order.
    reservations: Vec<backfill::Reservation>,
}

/// One queue's progress through a cycle's rounds.
#[derive(Default)]
struct QueueRounds {
    /// No more candidates are tried this cycle.
    done: bool,
    /// Heads that did not fit (bounded per queue).
    failures: usize,
    /// Preemption searches made for its heads (bounded per queue).
    preempt_searches: usize,
    /// A Backfill queue whose head has been judged for a reservation.
    reserving: bool,
}

struct Head<'m> {
    id: WorkloadId,
    cq: CqId,
    borrows: bool,
    /// The usage generation `borrows` and `found` were computed at.
    generation: u64,
    key: &'m QueueKey,
    /// An assignment that fits, kept when the head was re-ordered after evaluation.
    found: Option<Found>,
    /// With fair sharing: the usage generation `shares` were computed at.
    shares_at: Option<u64>,
    /// With fair sharing: its ClusterQueue's and each ancestor's share were it admitted.
    shares: Vec<(crate::ids::QuotaNodeId, i128)>,
}

enum Evaluation {
    /// It fits; its pods are placed in the usage (not its quota) unless it is undone back to
    /// the mark.
    Fits(Found, Option<Mark>),
    Waits(PendingReason),
}

impl<'m> Cycle<'m> {
    fn new(model: &'m Model, s: Scratch, empty: Scratch, now: Time, profile: &'m Profile) -> Self {
        Cycle {
            model,
            profile,
            now,
            s,
            empty,
            tables: NodeTables {
                capacity: model.capacity_table(),
                resources: model.resources().len(),
                pods: model.resources().pods(),
                zones: model.zones(),
                numa_blind: profile.numa_blind,
            },
            taken: BTreeSet::new(),
            removed: BTreeSet::new(),
            inadmissible: BTreeSet::new(),
            fail_memo: BTreeMap::new(),
            node_memo: NodeMemo::default(),
            generation: 0,
            preempt_fail_memo: BTreeSet::new(),
            preempt_fail_generation: 0,
            preemption_unfinished: false,
            admitted_lists: vec![None; model.cluster_queues().len()],
            out: CycleOutput::default(),
            reservations: Vec::new(),
        }
    }

    pub fn search(
        &self,
        id: WorkloadId,
        keep_failures: usize,
        placement_budget: usize,
    ) -> Search<'m> {
        let w = self.model.workload(id);
        Search {
            model: self.model,
            tables: self.tables,
            shape: self.model.shapes().shape(w.shape),
            cq_node: self.model.cluster_queue(w.cq).quota_node,
            scoring: self.profile.scoring,
            keep_failures,
            placement_budget,
            quick_reject: true,
        }
    }

    /// Builds a queue's list of admitted workloads in preemption order, if not yet built.
    pub fn ensure_admitted_list(&mut self, cq: CqId) {
        let model = self.model;
        self.admitted_lists[cq.index()]
            .get_or_insert_with(|| preempt::admitted_in_order(model, cq));
    }

    /// Quota reasons state what a queue can get; admissions later in the cycle may have
    /// taken it, so they are restated on the usage the cycle ends with (cheap, unlike node
    /// reasons, which stay as the workload's own attempt found them).
    fn refresh_quota_reasons(&mut self) {
        let tree = self.model.quota();
        for (id, reason) in &mut self.out.pending {
            if let PendingReason::InsufficientQuota { fr, available, .. } = reason {
                let node = self
                    .model
                    .cluster_queue(self.model.workload(*id).cq)
                    .quota_node;
                *available = tree.available(&self.s, node, *fr);
            }
        }
    }

    /// Judges every unscreened workload against the empty cluster and its reachable quota,
    /// once per shape (`verdicts` keeps what earlier cycles found).
    fn screen(&mut self, verdicts: &mut BTreeMap<ShapeId, Option<InadmissibleReason>>) {
        let mut memo = NodeMemo::default();
        for &id in self.model.unscreened() {
            let w = self.model.workload(id);
            if !w.is_pending() {
                continue;
            }
            let verdict = match verdicts.get(&w.shape) {
                Some(v) => v.clone(),
                None => {
                    let shape = self.model.shapes().shape(w.shape);
                    let v = match &shape.problem {
                        Some(p) => Some(p.clone()),
                        None => {
                            // Exact counts make better Inadmissible messages, and this runs
                            // once per shape: no quick rejection.
                            let mut search =
                                self.search(id, MAX_INADMISSIBLE_REASONS, MAX_OPTIONS_PER_POD_SET);
                            search.quick_reject = false;
                            let mark = self.empty.mark();
                            let result =
                                search.run(&mut self.empty, &[QuotaMode::Reachable], &mut memo);
                            self.empty.rollback(mark);
                            self.out.counters.placements += result.placements_tried;
                            if result.found.is_some() {
                                None
                            } else {
                                Some(InadmissibleReason::NoFlavorFits(
                                    result
                                        .failures
                                        .into_iter()
                                        .map(Failure::into_option_failure)
                                        .collect(),
                                ))
                            }
                        }
                    };
                    verdicts.insert(w.shape, v.clone());
                    v
                }
            };
            match verdict {
                Some(reason) => {
                    self.inadmissible.insert(id);
                    self.out.decisions.push(Decision::Inadmissible {
                        workload: id,
                        reason,
                    });
                }
                None => self.out.screened.push(id),
            }
        }
    }

    fn is_candidate(&self, id: WorkloadId) -> bool {
        let w = self.model.workload(id);
        w.is_pending()
            && !w.inadmissible
            && !self.inadmissible.contains(&id)
            && !self.taken.contains(&id)
    }

    fn may_preempt(&self, cq: CqId) -> bool {
        let q = self.model.cluster_queue(cq);
        q.preemption.within_cluster_queue != WithinClusterQueue::Never
            || (q.cohort.is_some()
                && q.preemption.reclaim_within_cohort != ReclaimWithinCohort::Never)
    }

    /// Tries first the workloads that preempted in an earlier cycle: the room their victims
    /// left is theirs. One that no longer fits goes back to its queue's turn.
    fn nominated(&mut self) {
        let mut ids: Vec<QueueKey> = self
            .model
            .nominated()
            .iter()
            .filter(|&&id| self.model.workload(id).is_pending())
            .map(|&id| self.model.queue_key(id))
            .collect();
        ids.sort();
        for key in ids {
            if !self.is_candidate(key.id) {
                continue;
            }
            let borrows = self.borrows(key.id);
            match self.evaluate(key.id, borrows) {
                Evaluation::Fits(found, placed) => self.commit(key.id, found, placed.is_some()),
                Evaluation::Waits(_) => {
                    // Its victims may still be on their way out: their room is its own.
                    let mark = self.s.mark();
                    let freed = self.free_evicting();
                    if freed.is_empty() || !self.claim_freed(key.id, &freed) {
                        self.s.rollback(mark);
                    }
                }
            }
        }
    }

    fn rounds(&mut self) {
        self.nominated();
        let model = self.model;
        // The queues with pending workloads, in id order (`i` below indexes this list): in
        // most cycles of a many-queue cluster most queues have nothing pending, and the
        // per-queue state below is then small.
        let queues: Vec<CqId> = (0..model.cluster_queues().len())
            .map(|i| CqId(i as u32))
            .filter(|&cq| !model.queue(cq).pending.is_empty())
            .collect();
        let n = queues.len();
        // Each queue's pending workloads in order; the model does not change during a cycle.
        let mut pending: Vec<std::collections::btree_set::Iter<'m, QueueKey>> = queues
            .iter()
            .map(|&cq| model.queue(cq).pending.iter())
            .collect();
        let mut heads: Vec<Option<Head<'m>>> = (0..n).map(|_| None).collect();
        // The heads in the order they are taken: (would borrow, queue key, index in `queues`).
        let mut order: BTreeSet<(bool, &'m QueueKey, usize)> = BTreeSet::new();
        // Queues that need their next candidate fetched.
        let mut refill: Vec<usize> = (0..n).collect();
        // What each queue's rounds have come to (built by `collect`, not `vec![..; n]`,
        // which would be a `calloc`: glibc serves those without its per-thread cache).
        let mut state: Vec<QueueRounds> = (0..n).map(|_| QueueRounds::default()).collect();
        // Usage changes only on admission and preemption; what was computed about a head is
        // valid while the generation it was computed at is current.
        let mut ordered_at = self.generation;
        let fair = self.profile.fair_sharing.is_some();
        loop {
            let generation = self.generation;
            for i in refill.drain(..) {
                if state[i].done {
                    continue;
                }
                match pending[i].by_ref().find(|k| self.is_candidate(k.id)) {
                    None => state[i].done = true,
                    Some(key) => {
                        let borrows = self.borrows(key.id);
                        order.insert((borrows, key, i));
                        heads[i] = Some(Head {
                            id: key.id,
                            cq: queues[i],
                            borrows,
                            generation,
                            key,
                            found: None,
                            shares_at: None,
                            shares: Vec::new(),
                        });
                    }
                }
            }
            if ordered_at != generation {
                order.clear();
                for (i, h) in heads.iter_mut().enumerate() {
                    if let Some(h) = h {
                        if h.generation != generation {
                            h.borrows = self.borrows(h.id);
                            h.generation = generation;
                            h.found = None;
                        }
                        order.insert((h.borrows, h.key, i));
                    }
                }
                ordered_at = generation;
            }
            let pick = if fair {
                order.clear();
                self.tournament(&mut heads)
            } else {
                order.pop_first().map(|(_, _, i)| i)
            };
            let Some(i) = pick else {
                return;
            };
            let Some(mut h) = heads[i].take() else { return };
            let evaluation = match h.found.take() {
                Some(found) => Evaluation::Fits(found, None),
                None => self.evaluate(h.id, h.borrows),
            };
            let reason = match evaluation {
                Evaluation::Fits(found, placed) if found.borrowing && !h.borrows && !fair => {
                    // Its quota estimate said "within nominal", but the flavors it can
                    // actually be placed with borrow: take its place among the borrowers.
                    if let Some(mark) = placed {
                        self.s.rollback(mark);
                    }
                    h.borrows = true;
                    h.found = Some(found);
                    order.insert((true, h.key, i));
                    heads[i] = Some(h);
                    continue;
                }
                Evaluation::Fits(found, placed) => {
                    self.commit(h.id, found, placed.is_some());
                    refill.push(i);
                    continue;
                }
                Evaluation::Waits(reason) => reason,
            };
            refill.push(i);
            let strategy = self.model.cluster_queue(h.cq).strategy;
            let strict = strategy == QueueingStrategy::StrictFIFO;
            if self.may_preempt(h.cq) && self.model.workload(h.id).evicted_at != Some(self.now) {
                if state[i].preempt_searches < MAX_PREEMPTION_SEARCHES_PER_QUEUE {
                    state[i].preempt_searches += 1;
                    if self.try_preempt(h.id) {
                        if strict {
                            state[i].done = true;
                            self.label_next(&mut pending[i], PendingReason::BlockedBehind(h.id));
                        }
                        continue;
                    }
                } else {
                    self.preemption_unfinished = true;
                }
            }
            // A Backfill queue's first waiting workload is its head: it reserves, if its
            // reservation can be computed, and no later one of the queue does.
            if strategy == QueueingStrategy::Backfill && !state[i].reserving {
                state[i].reserving = true;
                // One held back by another queue's reservation could run now: nothing
                // to reserve.
                if !matches!(reason, PendingReason::DelaysReservation { .. })
                    && let Some(r) = self.reserve(h.id)
                {
                    self.out.reservations.push((r.head, r.at));
                    self.reservations.push(r);
                }
            }
            self.out.pending.push((h.id, reason));
            let bound = if strategy == QueueingStrategy::Backfill {
                backfill::MAX_FAILED_ATTEMPTS_PER_BACKFILL_QUEUE
            } else {
                MAX_FAILED_ATTEMPTS_PER_QUEUE
            };
            if strict {
                state[i].done = true;
                self.label_next(&mut pending[i], PendingReason::BlockedBehind(h.id));
            } else {
                state[i].failures += 1;
                if state[i].failures >= bound {
                    state[i].done = true;
                    self.label_next(&mut pending[i], PendingReason::NotTried);
                }
            }
        }
    }

    /// With fair sharing, the head to try next: Kueue's tournament. Walking up from the
    /// ClusterQueues, each cohort's winner is the candidate of the child (ClusterQueue or
    /// cohort) whose share would be lowest were that candidate admitted; ties go to higher
    /// priority, then earlier queue time, then ClusterQueue name. Roots compete on the ties.
    fn tournament(&mut self, heads: &mut [Option<Head<'m>>]) -> Option<usize> {
        let tree = self.model.quota();
        let generation = self.generation;
        for h in heads.iter_mut().flatten() {
            if h.shares_at != Some(generation) {
                let delta = self.fair_request(h.id);
                let node = self.model.cluster_queue(h.cq).quota_node;
                h.shares = crate::fair::path_shares(tree, &mut self.s, node, &delta);
                h.shares_at = Some(generation);
            }
        }
        type Key<'a> = (i128, std::cmp::Reverse<i32>, Time, &'a str, usize);
        let key = |i: usize, at: Option<crate::ids::QuotaNodeId>| -> Key<'m> {
            let h = heads[i].as_ref().expect("a head");
            let share = at
                .and_then(|n| h.shares.iter().find(|(m, _)| *m == n))
                .map_or(0, |(_, s)| *s);
            let w = self.model.workload(h.id);
            (
                share,
                std::cmp::Reverse(w.priority),
                w.queue_ts,
                self.model.cluster_queue(h.cq).name.as_str(),
                i,
            )
        };
        // Every node on a head's path, deepest first; each passes its winner up.
        let mut nodes: BTreeSet<(std::cmp::Reverse<usize>, crate::ids::QuotaNodeId)> =
            BTreeSet::new();
        let mut winner: BTreeMap<crate::ids::QuotaNodeId, Key<'m>> = BTreeMap::new();
        for (i, h) in heads.iter().enumerate() {
            let Some(h) = h else { continue };
            let depth = h.shares.len();
            for (k, &(n, _)) in h.shares.iter().enumerate() {
                nodes.insert((std::cmp::Reverse(depth - k), n));
            }
            winner.insert(h.shares[0].0, key(i, Some(h.shares[0].0)));
        }
        let mut best: Option<Key<'m>> = None;
        for (_, n) in nodes {
            let Some(w) = winner.get(&n).copied() else {
                continue;
            };
            let contender = key(w.4, tree.node(n).parent.map(|_| n));
            let slot = match tree.node(n).parent {
                Some(p) => winner.get_mut(&p).map(|k| (k, p)),
                None => None,
            };
            match (slot, tree.node(n).parent) {
                (Some((current, _)), _) => {
                    if contender < *current {
                        *current = contender;
                    }
                }
                (None, Some(p)) => {
                    winner.insert(p, contender);
                }
                (None, None) => {
                    let top = key(w.4, None);
                    if best.is_none_or(|b| top < b) {
                        best = Some(top);
                    }
                }
            }
        }
        best.map(|k| k.4)
    }

    /// What a workload would charge, for its share: the first choice of flavors that fits
    /// the quota available now, else the first it could ever reach.
    fn fair_request(&self, id: WorkloadId) -> Vec<(crate::ids::FrId, crate::quantity::Quantity)> {
        let search = self.search(id, 0, 0);
        search
            .quota_choice(&self.s, QuotaMode::Borrow)
            .or_else(|| search.reachable_choices(1).into_iter().next())
            .map(|choice| search.totals(&choice))
            .unwrap_or_default()
    }

    /// Gives the next few candidates of a queue the cycle stopped at their reason for
    /// waiting (bounded: the rest keep the reason they had).
    fn label_next(
        &mut self,
        pending: &mut std::collections::btree_set::Iter<'m, QueueKey>,
        reason: PendingReason,
    ) {
        let next: Vec<WorkloadId> = pending
            .by_ref()
            .filter(|k| self.is_candidate(k.id))
            .take(MAX_FAILED_ATTEMPTS_PER_QUEUE)
            .map(|k| k.id)
            .collect();
        for id in next {
            self.out.pending.push((id, reason.clone()));
        }
    }

    /// Whether a workload would have to borrow: no choice of flavors fits its queue's unused
    /// nominal quota (lent out or not: reclaiming it is not borrowing). An estimate from
    /// quota alone; [`Cycle::rounds`] corrects it with the head's real assignment.
    fn borrows(&self, id: WorkloadId) -> bool {
        !self
            .search(id, 0, 0)
            .quota_fits(&self.s, QuotaMode::WithinNominal)
    }

    /// Whether a workload fits now, and how; leaves the usage as it was.
    ///
    /// `borrows` is the head's quota estimate: when no choice fits the unused nominal quota,
    /// none fits it within what is available either, and the no-borrowing pass is skipped.
    fn evaluate(&mut self, id: WorkloadId, borrows: bool) -> Evaluation {
        if self.reservations.is_empty() {
            self.evaluate_now(id, borrows)
        } else {
            self.evaluate_with_reservations(id, borrows)
        }
    }

    /// [`Cycle::evaluate`] on the usage as it stands, reservations aside.
    fn evaluate_now(&mut self, id: WorkloadId, borrows: bool) -> Evaluation {
        self.out.counters.attempts += 1;
        let shape = self.model.workload(id).shape;
        if let Some(reason) = self.fail_memo.get(&shape) {
            self.out.counters.memo_hits += 1;
            return Evaluation::Waits(reason.clone());
        }
        let search = self.search(id, 4, MAX_PLACEMENT_ATTEMPTS_PER_SEARCH);
        let modes: &[QuotaMode] = if borrows {
            &[QuotaMode::Borrow]
        } else {
            &[QuotaMode::NoBorrow, QuotaMode::Borrow]
        };
        let mark = self.s.mark();
        let result = search.run(&mut self.s, modes, &mut self.node_memo);
        self.out.counters.placements += result.placements_tried;
        match result.found {
            // The search leaves the winning placement applied: keep it for the commit.
            Some(found) => Evaluation::Fits(found, Some(mark)),
            None => {
                let reason = pending_reason(result.failures);
                self.fail_memo.insert(shape, reason.clone());
                Evaluation::Waits(reason)
            }
        }
    }

    /// Admits a workload with an assignment found on the current usage; its pods are
    /// already on their nodes when `placed`.
    fn commit(&mut self, id: WorkloadId, found: Found, placed: bool) {
        let admission = found.into_admission(id, !self.reservations.is_empty());
        if admission.backfilled {
            self.charge_reservations(&admission);
        }
        if placed {
            self.model.charge_quota_into(&mut self.s, &admission, 1);
        } else {
            self.model.charge_into(&mut self.s, &admission, 1);
        }
        self.generation += 1;
        self.taken.insert(id);
        self.out.decisions.push(Decision::Admit(admission));
    }

    fn try_preempt(&mut self, id: WorkloadId) -> bool {
        let w = self.model.workload(id);
        let memo_key = (w.shape, w.priority, w.queue_ts);
        if self.preempt_fail_generation != self.generation {
            self.preempt_fail_memo.clear();
            self.preempt_fail_generation = self.generation;
        }
        if self.preempt_fail_memo.contains(&memo_key) {
            self.preemption_unfinished = true;
            return false;
        }
        // Workloads already being stopped count as gone: if that is room enough, wait for
        // them; otherwise look for victims on top of them.
        let mark = self.s.mark();
        let freed = self.free_evicting();
        if !freed.is_empty() && self.claim_freed(id, &freed) {
            return true;
        }
        if !preempt::may_have_candidates(self, id) {
            // Admissions later in this cycle may still give it candidates in the next one.
            self.s.rollback(mark);
            self.preemption_unfinished = true;
            return false;
        }
        self.out.counters.preemption_searches += 1;
        let search = self.search(id, 0, MAX_PLACEMENT_ATTEMPTS_PER_SEARCH);
        for choice in search.reachable_choices(MAX_PREEMPTION_CHOICES) {
            if let Some(victims) = preempt::find_victims(self, id, &search, &choice) {
                let claimed = self.give_back(&freed);
                self.hold_room(id, &claimed, victims);
                return true;
            }
        }
        self.s.rollback(mark);
        self.preempt_fail_memo.insert(memo_key);
        self.preemption_unfinished = true;
        false
    }

    /// Removes from the usage every workload being stopped that no preemptor has claimed in
    /// this cycle, and returns them.
    fn free_evicting(&mut self) -> Vec<WorkloadId> {
        let freed: Vec<WorkloadId> = self
            .model
            .evicting()
            .iter()
            .copied()
            .filter(|e| !self.removed.contains(e))
            .collect();
        for &e in &freed {
            if let Some((admission, _)) = self.model.workload(e).admission() {
                self.model.charge_into(&mut self.s, admission, -1);
            }
        }
        freed
    }

    /// With the workloads being stopped gone from the usage, whether `id` fits; if so, it
    /// holds that room and waits for them.
    fn claim_freed(&mut self, id: WorkloadId, freed: &[WorkloadId]) -> bool {
        let search = self.search(id, 0, MAX_PLACEMENT_ATTEMPTS_PER_SEARCH);
        let mut memo = NodeMemo::default();
        let result = search.run(
            &mut self.s,
            &[QuotaMode::NoBorrow, QuotaMode::Borrow],
            &mut memo,
        );
        self.out.counters.placements += result.placements_tried;
        let Some(found) = result.found else {
            return false;
        };
        // The search left the pods placed; charging the quota too holds the room.
        let admission = found.into_admission(id, false);
        self.model.charge_quota_into(&mut self.s, &admission, 1);
        let claimed = self.give_back(freed);
        self.hold_room(id, &claimed, Vec::new());
        true
    }

    /// With the preemptor placed and charged, puts back (newest first) every workload being
    /// stopped whose pods and quota still fit beside it: only the rest are its to wait for,
    /// and the others stay counted for everyone else in this cycle. Returns those it keeps.
    fn give_back(&mut self, freed: &[WorkloadId]) -> Vec<WorkloadId> {
        let mut claimed = Vec::new();
        for &e in freed.iter().rev() {
            let Some((admission, _)) = self.model.workload(e).admission() else {
                continue;
            };
            if self.fits_back(admission) {
                self.model.charge_into(&mut self.s, admission, 1);
            } else {
                claimed.push(e);
            }
        }
        claimed.reverse();
        claimed
    }

    /// Whether an admission's pods and quota fit the usage as it stands (its own nodes, and
    /// what its ClusterQueue can get).
    fn fits_back(&self, admission: &Admission) -> bool {
        let model = self.model;
        let tree = model.quota();
        let cq_node = model
            .cluster_queue(model.workload(admission.workload).cq)
            .quota_node;
        let mut needs: BTreeMap<crate::ids::FrId, crate::quantity::Quantity> = BTreeMap::new();
        for (_, option) in model.admitted_options(admission) {
            for &(fr, q) in &option.quota {
                *needs.entry(fr).or_insert(crate::quantity::Quantity::ZERO) += q;
            }
        }
        if needs
            .iter()
            .any(|(&fr, &q)| q > tree.available(&self.s, cq_node, fr))
        {
            return false;
        }
        let r_count = self.tables.resources;
        let one = crate::quantity::Quantity::from_units(1);
        let mut cells: BTreeMap<usize, crate::quantity::Quantity> = BTreeMap::new();
        let mut pod = 0usize;
        for (ps, _) in model.admitted_options(admission) {
            for _ in 0..ps.count {
                let node = admission.placements[pod];
                pod += 1;
                if node == crate::ids::NodeId::LOST {
                    continue;
                }
                for (r, q) in ps.request.iter().chain([(self.tables.pods, one)]) {
                    let cell = node.index() * r_count + r.index();
                    *cells.entry(cell).or_insert(crate::quantity::Quantity::ZERO) += q;
                }
            }
        }
        let zones = model.zones();
        cells
            .iter()
            .all(|(&cell, &q)| self.s.node(cell) + q <= self.tables.capacity[cell])
            && admission.numa.takes.iter().all(|t| {
                self.s.zone(zones.cell(t.zone, t.resource)) + t.amount
                    <= zones.capacity(t.zone, t.resource)
            })
    }

    /// Records a preemption whose room (the victims' and the `freed` workloads', those being
    /// stopped that it waits for) is held for `id` for the rest of the cycle.
    fn hold_room(
        &mut self,
        id: WorkloadId,
        freed: &[WorkloadId],
        victims: Vec<crate::decision::Victim>,
    ) {
        self.generation += 1;
        self.removed.extend(freed.iter().copied());
        self.removed.extend(victims.iter().map(|v| v.workload));
        self.taken.insert(id);
        self.fail_memo.clear();
        self.node_memo.clear();
        self.out.decisions.push(Decision::Preempt {
            preemptor: id,
            victims,
        });
        self.out.pending.push((id, PendingReason::Preempting));
    }
}

/// The reason to show for a failed search: the most preferred failure that is about quota
/// or nodes (a flavor ruled out statically is not why an admissible workload waits).
fn pending_reason(failures: Vec<Failure>) -> PendingReason {
    let mut fallback = None;
    for f in failures {
        match f {
            Failure::Blocked(_) => {
                fallback.get_or_insert(f);
            }
            other => return other.into_pending(),
        }
    }
    fallback
        .map(Failure::into_pending)
        .unwrap_or(PendingReason::NotTried)
}

mod backfill;
#[cfg(test)]
mod tests;
