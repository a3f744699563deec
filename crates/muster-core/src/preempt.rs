//! Preemption: the fewest admitted workloads to stop so that a pending one fits.
//!
//! This is Kueue's classical preemption, with one addition: "fits" means quota **and** a
//! whole-gang placement on nodes, so preemption frees node capacity too, not only quota.
//!
//! - **Candidates** are admitted workloads the ClusterQueue's policies allow, that use some
//!   (flavor, resource) the preemptor needs: from its own queue by `withinClusterQueue`
//!   (strictly lower priority, or equal priority and queued later), and from other queues
//!   of its cohort tree that borrow, by `reclaimWithinCohort` (lower priority, or any).
//!   When quota is not what is short (only nodes are), every (flavor, resource) the preemptor
//!   charges counts as needed.
//! - **Order**: other queues first, then lower priority, then most recently admitted, then
//!   namespace/name.
//! - **Minimal set**: remove candidates in order (skipping those of a queue that stopped
//!   borrowing) until the preemptor fits, then give back, in reverse order, every victim
//!   without which it still fits.
//! - **Workloads already being stopped** (a shell's evictions still under way, see
//!   [`crate::model::Model::mark_evicting`]) are never candidates; the cycle counts their
//!   room as free for a workload that would otherwise preempt, and if that is enough it
//!   waits for them (`Preempting`, no new victims) rather than preempting more.
//! - **Policy flow**: own-queue candidates only → borrowing allowed; with
//!   `borrowWithinCohort` → borrowing allowed, other queues' victims below the threshold;
//!   otherwise → first without borrowing (only when the queue is under its nominal quota in
//!   what it needs), then own-queue candidates with borrowing.
//! - **Fair sharing** (when the profile turns it on) replaces the cohort part of that flow
//!   when candidates include other queues: targets are taken by share and admitted by the
//!   configured strategies (see `Trial::fair`); `borrowWithinCohort` is not used then.

use std::cmp::Reverse;
use std::collections::{BTreeMap, VecDeque};

use crate::assign::Search;
use crate::cycle::Cycle;
use crate::cycle::MAX_PREEMPTION_CHOICES;
use crate::decision::{PreemptionReason, Victim};
use crate::ids::{CqId, FrId, WorkloadId};
use crate::model::Workload;
use crate::spec::{BorrowWithinCohort, FairShareStrategy, ReclaimWithinCohort, WithinClusterQueue};

/// On success, returns the victims and leaves `cycle.s` with the victims removed and the
/// preemptor charged and placed; on failure, leaves it unchanged.
pub(crate) fn find_victims(
    cycle: &mut Cycle<'_>,
    preemptor: WorkloadId,
    search: &Search<'_>,
    choice: &[u16],
) -> Option<Vec<Victim>> {
    let model = cycle.model;
    let tree = model.quota();
    let w = model.workload(preemptor);
    let cq = model.cluster_queue(w.cq);
    let totals = search.totals(choice);
    let mut needed: Vec<FrId> = totals
        .iter()
        .filter(|(fr, q)| *q > tree.available(&cycle.s, cq.quota_node, *fr))
        .map(|(fr, _)| *fr)
        .collect();
    if needed.is_empty() {
        needed = totals.iter().map(|(fr, _)| *fr).collect();
    }

    let candidates = find_candidates(cycle, w, &needed);
    if candidates.is_empty() {
        return None;
    }
    let trial = Trial {
        preemptor: w,
        search,
        choice,
        totals: &totals,
        needed: &needed,
    };
    // Every attempt below removes a subset of these candidates: if freeing all of them could
    // not make room, none can.
    if !trial.could_fit_without(cycle, &candidates) {
        return None;
    }
    let mut candidates = candidates;
    let same_queue: Vec<WorkloadId> = candidates
        .iter()
        .copied()
        .filter(|&c| model.workload(c).cq == w.cq)
        .collect();
    if same_queue.len() == candidates.len() {
        return trial.minimal(cycle, &candidates, true, None);
    }
    if let Some(fs) = &cycle.profile.fair_sharing {
        return trial.fair(cycle, &candidates, &fs.preemption_strategies);
    }
    if let BorrowWithinCohort::LowerPriority {
        max_priority_threshold,
    } = cq.preemption.borrow_within_cohort
    {
        let mut threshold = w.priority;
        if let Some(max) = max_priority_threshold
            && max < threshold
        {
            threshold = max.saturating_add(1);
        }
        if !trial.under_nominal(cycle) {
            candidates.retain(|&c| {
                let cw = model.workload(c);
                cw.cq == w.cq || cw.priority < threshold
            });
        }
        // A borrowing preemptor must not take a workload its own queue's nominal quota
        // covers: that queue would reclaim it at once, and the two would trade places
        // forever. Such victims are left out and the search is repeated.
        for _ in 0..MAX_PREEMPTION_CHOICES {
            let mark = cycle.s.mark();
            let victims = trial.minimal(cycle, &candidates, true, Some(threshold))?;
            let reclaimable: Vec<WorkloadId> = victims
                .iter()
                .map(|v| v.workload)
                .filter(|&v| trial.would_reclaim(cycle, v))
                .collect();
            if reclaimable.is_empty() {
                return Some(victims);
            }
            cycle.s.rollback(mark);
            candidates.retain(|c| !reclaimable.contains(c));
        }
        return None;
    }
    if trial.under_nominal(cycle)
        && let Some(v) = trial.minimal(cycle, &candidates, false, None)
    {
        return Some(v);
    }
    trial.minimal(cycle, &same_queue, true, None)
}

/// Whether the policies could allow any candidate at all (a cheap upper bound, so that a
/// workload nothing can make room for does not pay for a search).
pub(crate) fn may_have_candidates(cycle: &Cycle<'_>, id: WorkloadId) -> bool {
    let model = cycle.model;
    let w = model.workload(id);
    let cq = model.cluster_queue(w.cq);
    let within = cq.preemption.within_cluster_queue;
    if within != WithinClusterQueue::Never
        && let Some(lowest) = model.queue(w.cq).lowest_admitted_priority()
        && (lowest < w.priority
            || (lowest == w.priority && within == WithinClusterQueue::LowerOrNewerEqualPriority))
    {
        return true;
    }
    let reclaim = cq.preemption.reclaim_within_cohort;
    if cq.cohort.is_none() || reclaim == ReclaimWithinCohort::Never {
        return false;
    }
    let tree = model.quota();
    cq.peers.iter().any(|&peer| {
        let queue = model.queue(peer);
        let lowest_ok = match queue.lowest_admitted_priority() {
            None => false,
            Some(lowest) => reclaim == ReclaimWithinCohort::Any || lowest < w.priority,
        };
        let node = model.cluster_queue(peer).quota_node;
        lowest_ok
            && (0..tree.fr_count())
                .any(|fr| tree.is_borrowing(&cycle.s, node, crate::ids::FrId(fr as u32)))
    })
}

/// The order in which candidates of one queue are tried: lower priority first, then most
/// recently admitted, then namespace/name.
fn victim_order(
    model: &crate::model::Model,
    c: WorkloadId,
) -> (i32, Reverse<crate::time::Time>, &crate::model::WorkloadKey) {
    let cw = model.workload(c);
    let admitted_at = cw.admission().map(|(_, at)| at).unwrap_or_default();
    (cw.priority, Reverse(admitted_at), &cw.key)
}

/// Admitted workloads the policies allow to preempt and that use a needed resource, in
/// Kueue's order: other queues' first, then the preemptor's own; within each, lower
/// priority, then most recently admitted, then namespace/name.
fn find_candidates(cycle: &mut Cycle<'_>, w: &Workload, needed: &[FrId]) -> Vec<WorkloadId> {
    let model = cycle.model;
    let cq = model.cluster_queue(w.cq);
    let uses_needed = |c: WorkloadId| -> bool {
        model.workload(c).admission().is_some_and(|(admission, _)| {
            model
                .admitted_options(admission)
                .any(|(_, option)| option.quota.iter().any(|(fr, _)| needed.contains(fr)))
        })
    };
    for &q in cq.peers.iter().chain([&w.cq]) {
        cycle.ensure_admitted_list(q);
    }
    let cycle: &Cycle<'_> = cycle;
    let admitted = |q: CqId| cycle.admitted_lists[q.index()].as_deref().unwrap_or(&[]);
    let mut others = Vec::new();
    let reclaim = cq.preemption.reclaim_within_cohort;
    if cq.cohort.is_some() && reclaim != ReclaimWithinCohort::Never {
        for &peer in &cq.peers {
            if !is_borrowing(cycle, peer, needed) {
                continue;
            }
            for &c in admitted(peer) {
                let cw = model.workload(c);
                if reclaim == ReclaimWithinCohort::LowerPriority && cw.priority >= w.priority {
                    break; // sorted by priority: none further is lower
                }
                if !cycle.removed.contains(&c) && !cw.evicting && uses_needed(c) {
                    others.push(c);
                }
            }
        }
        others.sort_by(|&a, &b| victim_order(model, a).cmp(&victim_order(model, b)));
    }
    let within = cq.preemption.within_cluster_queue;
    if within != WithinClusterQueue::Never {
        for &c in admitted(w.cq) {
            let cw = model.workload(c);
            if cw.priority > w.priority {
                break;
            }
            let allowed = cw.priority < w.priority
                || (within == WithinClusterQueue::LowerOrNewerEqualPriority
                    && w.queue_ts < cw.queue_ts);
            if allowed && !cycle.removed.contains(&c) && !cw.evicting && uses_needed(c) {
                others.push(c);
            }
        }
    }
    others
}

/// A queue's admitted workloads in [`victim_order`].
pub(crate) fn admitted_in_order(model: &crate::model::Model, cq: CqId) -> Vec<WorkloadId> {
    let mut v: Vec<WorkloadId> = model.queue(cq).admitted.iter().copied().collect();
    v.sort_by(|&a, &b| victim_order(model, a).cmp(&victim_order(model, b)));
    v
}

/// Whether a ClusterQueue uses more than its nominal quota of any of `frs`.
fn is_borrowing(cycle: &Cycle<'_>, cq: CqId, frs: &[FrId]) -> bool {
    let q = cycle.model.cluster_queue(cq);
    q.cohort.is_some()
        && frs
            .iter()
            .any(|&fr| cycle.model.quota().is_borrowing(&cycle.s, q.quota_node, fr))
}

struct Trial<'a, 'm> {
    preemptor: &'a Workload,
    search: &'a Search<'m>,
    choice: &'a [u16],
    totals: &'a [(FrId, crate::quantity::Quantity)],
    needed: &'a [FrId],
}

impl Trial<'_, '_> {
    fn cq_node(&self, cycle: &Cycle<'_>) -> crate::ids::QuotaNodeId {
        cycle.model.cluster_queue(self.preemptor.cq).quota_node
    }

    /// A necessary condition for the preemptor to fit once `candidates` are gone: for each
    /// quota it needs, what is available plus what the candidates use; for each resource of
    /// its first pod set, the free room of its nodes plus what the candidates hold there.
    fn could_fit_without(&self, cycle: &Cycle<'_>, candidates: &[WorkloadId]) -> bool {
        let model = cycle.model;
        let tree = model.quota();
        let node = self.cq_node(cycle);
        let admission_of = |c: WorkloadId| model.workload(c).admission().map(|(a, _)| a);
        for &(fr, q) in self.totals {
            let mut room = tree.available(&cycle.s, node, fr);
            for &c in candidates {
                if room >= q {
                    break;
                }
                let Some(a) = admission_of(c) else { continue };
                for (_, option) in model.admitted_options(a) {
                    room += option
                        .quota
                        .iter()
                        .filter(|(f, _)| *f == fr)
                        .map(|(_, q)| *q)
                        .sum();
                }
            }
            if room < q {
                return false;
            }
        }
        let first = &self.search.shape.pod_sets[0];
        let set = first.options[self.choice[0] as usize].node_set;
        let index = cycle.s.usage().free_index(set);
        let pods = model.resources().pods();
        let one = crate::quantity::Quantity::from_units(1);
        let needs = first.request.iter().chain([(pods, one)]);
        for (r, q) in needs {
            let need = q.milli() * i128::from(first.count);
            let mut room = index.total_free(r.index());
            for &c in candidates {
                if room >= need {
                    break;
                }
                let Some(a) = admission_of(c) else { continue };
                let shape = model.shape_of(c);
                let mut k = 0;
                for ps in &shape.pod_sets {
                    let per_pod = if r == pods { one } else { ps.request.get(r) };
                    for _ in 0..ps.count {
                        if index.members().binary_search(&a.placements[k]).is_ok() {
                            room += per_pod.milli();
                        }
                        k += 1;
                    }
                }
            }
            if room < need {
                return false;
            }
        }
        true
    }

    /// With the victims gone and the preemptor charged: whether the preemptor borrows and
    /// victim `v`, of another queue, would fit back within its own queue's nominal quota
    /// (so that its queue could reclaim that quota from the preemptor).
    fn would_reclaim(&self, cycle: &Cycle<'_>, v: WorkloadId) -> bool {
        let model = cycle.model;
        let tree = model.quota();
        let vw = model.workload(v);
        if vw.cq == self.preemptor.cq {
            return false;
        }
        let p_node = self.cq_node(cycle);
        let borrows = self
            .totals
            .iter()
            .any(|&(fr, _)| tree.usage(&cycle.s, p_node, fr) > tree.subtree(p_node, fr));
        let Some((admission, _)) = vw.admission() else {
            return false;
        };
        let v_node = model.cluster_queue(vw.cq).quota_node;
        borrows
            && model.admitted_options(admission).all(|(_, option)| {
                option.quota.iter().all(|&(fr, q)| {
                    tree.usage(&cycle.s, v_node, fr) + q <= tree.subtree(v_node, fr)
                })
            })
    }

    /// Whether the preemptor's queue is below its nominal quota in every needed resource.
    fn under_nominal(&self, cycle: &Cycle<'_>) -> bool {
        let tree = cycle.model.quota();
        let node = self.cq_node(cycle);
        self.needed
            .iter()
            .all(|&fr| tree.usage(&cycle.s, node, fr) < tree.subtree(node, fr))
    }

    /// Whether the preemptor fits now: quota (borrowing as allowed) and nodes.
    fn fits(&self, cycle: &mut Cycle<'_>, allow_borrowing: bool) -> bool {
        self.quota_fits(cycle, allow_borrowing) && self.placement_fits(cycle)
    }

    /// Removes (`sign` -1) or restores (1) a candidate's nodes (`nodes`) or quota usage.
    fn charge(&self, cycle: &mut Cycle<'_>, c: WorkloadId, sign: i8, nodes: bool) {
        let model = cycle.model;
        if let Some((admission, _)) = model.workload(c).admission() {
            if nodes {
                model.charge_nodes_into(&mut cycle.s, admission, sign);
            } else {
                model.charge_quota_into(&mut cycle.s, admission, sign);
            }
        }
    }

    fn remove(&self, cycle: &mut Cycle<'_>, c: WorkloadId) {
        self.charge(cycle, c, -1, false);
        self.charge(cycle, c, -1, true);
    }

    fn restore(&self, cycle: &mut Cycle<'_>, c: WorkloadId) {
        self.charge(cycle, c, 1, false);
        self.charge(cycle, c, 1, true);
    }

    fn quota_fits(&self, cycle: &Cycle<'_>, allow_borrowing: bool) -> bool {
        let tree = cycle.model.quota();
        let node = self.cq_node(cycle);
        self.totals.iter().all(|&(fr, q)| {
            (allow_borrowing || tree.usage(&cycle.s, node, fr) + q <= tree.subtree(node, fr))
                && q <= tree.available(&cycle.s, node, fr)
        })
    }

    fn placement_fits(&self, cycle: &mut Cycle<'_>) -> bool {
        cycle.out.counters.placements += 1;
        let mark = cycle.s.mark();
        let placed = self
            .search
            .place_choice(&mut cycle.s, self.choice)
            .is_some();
        cycle.s.rollback(mark);
        placed
    }

    /// Kueue's minimal preemption: remove candidates in order until the preemptor fits,
    /// then give back what it does not need.
    ///
    /// Same result as trying "fits?" after every removal, with far fewer gang placements:
    /// removals are first applied with quota checks only (cheap), then, since removing more
    /// never makes nodes fuller, the first removal after which the gang is placeable is
    /// found by bisection over the steps where quota fits.
    fn minimal(
        &self,
        cycle: &mut Cycle<'_>,
        candidates: &[WorkloadId],
        mut allow_borrowing: bool,
        threshold: Option<i32>,
    ) -> Option<Vec<Victim>> {
        let mark = cycle.s.mark();
        // Phase 1: remove candidates in order from quota only (cheap), noting after each the
        // borrowing rule then in force and whether quota fits. Nodes only get emptier along
        // the sequence, so placement is probed at the 1st, 2nd, 4th, 8th... step where quota
        // fits (their pods leaving their nodes only then), stopping at the first that fits.
        let mut steps: Vec<(Victim, bool, bool)> = Vec::new();
        let mut quota_steps: Vec<usize> = Vec::new();
        let mut nodes_freed = 0usize; // steps whose pods have left their nodes
        let mut next_probe = 1usize;
        let mut probed_fail: Option<usize> = None; // index into quota_steps
        let mut probed_fit: Option<usize> = None;
        for &c in candidates {
            let cw = cycle.model.workload(c);
            let same = cw.cq == self.preemptor.cq;
            let mut reason = PreemptionReason::InClusterQueue;
            if !same {
                if !is_borrowing(cycle, cw.cq, self.needed) {
                    continue;
                }
                reason = PreemptionReason::InCohortReclamation;
                if let Some(t) = threshold {
                    if cw.priority >= t {
                        // A victim at or above the threshold: the preemptor may then not borrow.
                        allow_borrowing = false;
                    } else {
                        reason = PreemptionReason::InCohortReclaimWhileBorrowing;
                    }
                }
            }
            self.charge(cycle, c, -1, false);
            let quota_ok = self.quota_fits(cycle, allow_borrowing);
            steps.push((
                Victim {
                    workload: c,
                    reason,
                },
                allow_borrowing,
                quota_ok,
            ));
            if quota_ok {
                quota_steps.push(steps.len() - 1);
                if quota_steps.len() == next_probe {
                    for (v, _, _) in &steps[nodes_freed..] {
                        self.charge(cycle, v.workload, -1, true);
                    }
                    nodes_freed = steps.len();
                    if self.placement_fits(cycle) {
                        probed_fit = Some(quota_steps.len() - 1);
                        break;
                    }
                    probed_fail = Some(quota_steps.len() - 1);
                    next_probe *= 2;
                }
            }
        }
        // The state "after step `to`", rebuilt from the start.
        let state_after = |cycle: &mut Cycle<'_>, to: usize| {
            cycle.s.rollback(mark);
            for (v, _, _) in &steps[..=to] {
                self.charge(cycle, v.workload, -1, false);
                self.charge(cycle, v.workload, -1, true);
            }
        };
        // Phase 2: the first quota-fitting step whose nodes also fit.
        let hi = match probed_fit {
            Some(hi) => hi,
            None => {
                // If even the last quota-fitting step does not fit the nodes, nothing does.
                let Some(last) = quota_steps.len().checked_sub(1) else {
                    cycle.s.rollback(mark);
                    return None;
                };
                if probed_fail == Some(last) {
                    cycle.s.rollback(mark);
                    return None;
                }
                state_after(cycle, quota_steps[last]);
                if !self.placement_fits(cycle) {
                    cycle.s.rollback(mark);
                    return None;
                }
                last
            }
        };
        let (mut lo, mut hi) = (probed_fail.map_or(0, |f| f + 1), hi);
        while lo < hi {
            let mid = (lo + hi) / 2;
            state_after(cycle, quota_steps[mid]);
            if self.placement_fits(cycle) {
                hi = mid;
            } else {
                lo = mid + 1;
            }
        }
        let first = quota_steps[hi];
        state_after(cycle, first);
        allow_borrowing = steps[first].1;
        let mut targets: Vec<Victim> = steps
            .into_iter()
            .take(first + 1)
            .map(|(v, _, _)| v)
            .collect();
        self.give_back(cycle, &mut targets, allow_borrowing);
        // Hold the room: place and charge the preemptor.
        self.hold(cycle, mark).then_some(targets)
    }

    /// Gives back, newest first, every victim the preemptor fits without. The last one
    /// removed is needed by construction.
    fn give_back(&self, cycle: &mut Cycle<'_>, victims: &mut Vec<Victim>, allow_borrowing: bool) {
        let mut i = victims.len().saturating_sub(1);
        while i > 0 {
            i -= 1;
            let c = victims[i].workload;
            self.restore(cycle, c);
            if self.fits(cycle, allow_borrowing) {
                victims.remove(i);
            } else {
                self.remove(cycle, c);
            }
        }
    }

    /// Fair-sharing preemption (Kueue's), when fair sharing is on and candidates include
    /// other ClusterQueues. Target queues are visited highest share first (the share at the
    /// level where the target's and the preemptor's branches meet; the preemptor's own queue
    /// with the preemptor admitted), ties by name:
    ///
    /// - the preemptor's own queue gives its next candidate (`InClusterQueue`);
    /// - while the preemptor's queue, with the preemptor, stays within its nominal quota in
    ///   every resource, another queue gives its next candidate unconditionally
    ///   (`InCohortReclamation`);
    /// - otherwise a candidate of another queue is taken if the first strategy holds
    ///   (`InCohortFairSharing`), and the queues are ranked again;
    /// - with a second strategy (`LessThanInitialShare`), candidates the first refused are
    ///   tried again, at most one per queue.
    ///
    /// Candidates stop being taken as soon as the preemptor fits (quota, borrowing allowed,
    /// and nodes); then every victim it does not need is given back, newest first.
    fn fair(
        &self,
        cycle: &mut Cycle<'_>,
        candidates: &[WorkloadId],
        strategies: &[FairShareStrategy],
    ) -> Option<Vec<Victim>> {
        let model = cycle.model;
        let tree = model.quota();
        let p_node = self.cq_node(cycle);
        let mark = cycle.s.mark();
        let mut queues: BTreeMap<CqId, VecDeque<WorkloadId>> = BTreeMap::new();
        for &c in candidates {
            queues.entry(model.workload(c).cq).or_default().push_back(c);
        }
        // Reclaiming needs the preemptor's queue to borrow nothing at all with it admitted
        // (a share of 0): a queue that borrows some other resource has a share, and its
        // victims' queue could otherwise take the victims back by share at once.
        let within_nominal = (0..tree.fr_count()).all(|i| {
            let fr = FrId(i as u32);
            let own: crate::quantity::Quantity = self
                .totals
                .iter()
                .filter(|(f, _)| *f == fr)
                .map(|(_, q)| *q)
                .sum();
            tree.usage(&cycle.s, p_node, fr) + own <= tree.subtree(p_node, fr)
        });
        let mut victims: Vec<Victim> = Vec::new();
        let mut fits = false;
        let mut refused: BTreeMap<CqId, VecDeque<WorkloadId>> = BTreeMap::new();
        let first = strategies
            .first()
            .copied()
            .unwrap_or(FairShareStrategy::LessThanOrEqualToFinalShare);
        while !fits {
            let Some(target) = self.highest_share(cycle, &queues) else {
                break;
            };
            let queue = queues.get_mut(&target).expect("a listed queue");
            let mut taken = None;
            if target == self.preemptor.cq {
                taken = queue
                    .pop_front()
                    .map(|c| (c, PreemptionReason::InClusterQueue));
            } else if within_nominal {
                while let Some(c) = queue.pop_front() {
                    if is_borrowing(cycle, target, self.needed) {
                        taken = Some((c, PreemptionReason::InCohortReclamation));
                        break;
                    }
                }
            } else {
                let (preemptor_new, target_old, t_side) = self.shares_against(cycle, target);
                while let Some(c) = queue.pop_front() {
                    if !is_borrowing(cycle, target, self.needed) {
                        continue;
                    }
                    let passes = match first {
                        FairShareStrategy::LessThanInitialShare => preemptor_new < target_old,
                        FairShareStrategy::LessThanOrEqualToFinalShare => {
                            let m = cycle.s.mark();
                            self.charge(cycle, c, -1, false);
                            let target_new = crate::fair::weighted_share(tree, &cycle.s, t_side);
                            cycle.s.rollback(m);
                            preemptor_new <= target_new
                        }
                    };
                    if passes {
                        taken = Some((c, PreemptionReason::InCohortFairSharing));
                        break;
                    }
                    refused.entry(target).or_default().push_back(c);
                }
            }
            if queues.get(&target).is_some_and(VecDeque::is_empty) {
                queues.remove(&target);
            }
            if let Some((c, reason)) = taken {
                fits = self.take(cycle, &mut victims, c, reason);
            }
        }
        if !fits && strategies.get(1) == Some(&FairShareStrategy::LessThanInitialShare) {
            while !fits {
                let Some(target) = self.highest_share(cycle, &refused) else {
                    break;
                };
                let mut queue = refused.remove(&target).expect("a listed queue");
                let (preemptor_new, target_old, _) = self.shares_against(cycle, target);
                if preemptor_new < target_old
                    && is_borrowing(cycle, target, self.needed)
                    && let Some(c) = queue.pop_front()
                {
                    fits = self.take(
                        cycle,
                        &mut victims,
                        c,
                        PreemptionReason::InCohortFairSharing,
                    );
                }
            }
        }
        if !fits {
            cycle.s.rollback(mark);
            return None;
        }
        self.give_back(cycle, &mut victims, true);
        self.hold(cycle, mark).then_some(victims)
    }

    /// The nodes at which the preemptor's and `target`'s shares are compared: the children
    /// of their lowest common cohort on each side (peers share a root, so they always meet).
    fn sides(
        &self,
        cycle: &Cycle<'_>,
        target: CqId,
    ) -> (crate::ids::QuotaNodeId, crate::ids::QuotaNodeId) {
        let p_node = self.cq_node(cycle);
        let t_node = cycle.model.cluster_queue(target).quota_node;
        crate::fair::meeting_sides(cycle.model.quota(), p_node, t_node).unwrap_or((p_node, t_node))
    }

    /// The preemptor's share with it admitted and `target`'s share now, where they are
    /// compared, and the target's side.
    fn shares_against(
        &self,
        cycle: &mut Cycle<'_>,
        target: CqId,
    ) -> (i128, i128, crate::ids::QuotaNodeId) {
        let tree = cycle.model.quota();
        let p_node = self.cq_node(cycle);
        let (p_side, t_side) = self.sides(cycle, target);
        let preemptor_new =
            crate::fair::share_with(tree, &mut cycle.s, p_node, self.totals, p_side);
        let target_old = crate::fair::weighted_share(tree, &cycle.s, t_side);
        (preemptor_new, target_old, t_side)
    }

    /// Removes a victim and records it; whether the preemptor now fits.
    fn take(
        &self,
        cycle: &mut Cycle<'_>,
        victims: &mut Vec<Victim>,
        c: WorkloadId,
        reason: PreemptionReason,
    ) -> bool {
        self.remove(cycle, c);
        victims.push(Victim {
            workload: c,
            reason,
        });
        self.fits(cycle, true)
    }

    /// The queue of `queues` with the highest share, ties by name: another queue's share at
    /// the level where its branch meets the preemptor's, the preemptor's own queue's share
    /// with the preemptor admitted.
    fn highest_share(
        &self,
        cycle: &mut Cycle<'_>,
        queues: &BTreeMap<CqId, VecDeque<WorkloadId>>,
    ) -> Option<CqId> {
        let model = cycle.model;
        let tree = model.quota();
        let p_node = self.cq_node(cycle);
        let mut best: Option<(i128, Reverse<&str>, CqId)> = None;
        for (&q, list) in queues {
            if list.is_empty() {
                continue;
            }
            let share = if q == self.preemptor.cq {
                crate::fair::share_with(tree, &mut cycle.s, p_node, self.totals, p_node)
            } else {
                let (_, t_side) = self.sides(cycle, q);
                crate::fair::weighted_share(tree, &cycle.s, t_side)
            };
            let key = (share, Reverse(model.cluster_queue(q).name.as_str()), q);
            if best.as_ref().is_none_or(|b| key > *b) {
                best = Some(key);
            }
        }
        best.map(|(_, _, q)| q)
    }

    /// Places and charges the preemptor, holding the room its victims leave; on failure
    /// rolls back to `mark`.
    fn hold(&self, cycle: &mut Cycle<'_>, mark: crate::usage::Mark) -> bool {
        if self
            .search
            .place_choice(&mut cycle.s, self.choice)
            .is_none()
        {
            cycle.s.rollback(mark);
            return false;
        }
        let node = self.cq_node(cycle);
        for &(fr, q) in self.totals {
            cycle.model.quota().add_usage(&mut cycle.s, node, fr, q);
        }
        true
    }
}
