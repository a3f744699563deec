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
//! - **Policy flow**: own-queue candidates only → borrowing allowed; with
//!   `borrowWithinCohort` → borrowing allowed, other queues' victims below the threshold;
//!   otherwise → first without borrowing (only when the queue is under its nominal quota in
//!   what it needs), then own-queue candidates with borrowing.

use std::cmp::Reverse;

use crate::assign::Search;
use crate::cycle::Cycle;
use crate::decision::{PreemptionReason, Victim};
use crate::ids::{CqId, FrId, WorkloadId};
use crate::model::Workload;
use crate::spec::{BorrowWithinCohort, ReclaimWithinCohort, WithinClusterQueue};

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

    let mut candidates = find_candidates(cycle, w, &needed);
    if candidates.is_empty() {
        return None;
    }
    candidates.sort_by_key(|&c| {
        let cw = model.workload(c);
        let admitted_at = cw.admission().map(|(_, at)| at).unwrap_or_default();
        (
            cw.cq == w.cq,
            cw.priority,
            Reverse(admitted_at),
            cw.key.clone(),
        )
    });
    let same_queue: Vec<WorkloadId> = candidates
        .iter()
        .copied()
        .filter(|&c| model.workload(c).cq == w.cq)
        .collect();

    let trial = Trial {
        preemptor: w,
        search,
        choice,
        totals: &totals,
        needed: &needed,
    };
    if same_queue.len() == candidates.len() {
        return trial.minimal(cycle, &candidates, true, None);
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
        return trial.minimal(cycle, &candidates, true, Some(threshold));
    }
    if trial.under_nominal(cycle)
        && let Some(v) = trial.minimal(cycle, &candidates, false, None)
    {
        return Some(v);
    }
    trial.minimal(cycle, &same_queue, true, None)
}

/// Admitted workloads the policies allow to preempt and that use a needed resource.
fn find_candidates(cycle: &Cycle<'_>, w: &Workload, needed: &[FrId]) -> Vec<WorkloadId> {
    let model = cycle.model;
    let cq = model.cluster_queue(w.cq);
    let uses_needed = |c: WorkloadId| -> bool {
        let cw = model.workload(c);
        let Some((admission, _)) = cw.admission() else {
            return false;
        };
        let shape = model.shapes().shape(cw.shape);
        shape
            .pod_sets
            .iter()
            .zip(&admission.options)
            .any(|(ps, &o)| {
                ps.options[o as usize]
                    .quota
                    .iter()
                    .any(|(fr, _)| needed.contains(fr))
            })
    };
    let mut out = Vec::new();
    let within = cq.preemption.within_cluster_queue;
    if within != WithinClusterQueue::Never {
        for &c in &model.queue(w.cq).admitted {
            if cycle.removed.contains(&c) {
                continue;
            }
            let cw = model.workload(c);
            let allowed = cw.priority < w.priority
                || (cw.priority == w.priority
                    && within == WithinClusterQueue::LowerOrNewerEqualPriority
                    && w.queue_ts < cw.queue_ts);
            if allowed && uses_needed(c) {
                out.push(c);
            }
        }
    }
    let reclaim = cq.preemption.reclaim_within_cohort;
    if cq.cohort.is_some() && reclaim != ReclaimWithinCohort::Never {
        for &peer in &cq.peers {
            if !is_borrowing(cycle, peer, needed) {
                continue;
            }
            for &c in &model.queue(peer).admitted {
                if cycle.removed.contains(&c) {
                    continue;
                }
                let cw = model.workload(c);
                if reclaim == ReclaimWithinCohort::LowerPriority && cw.priority >= w.priority {
                    continue;
                }
                if uses_needed(c) {
                    out.push(c);
                }
            }
        }
    }
    out
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
        let tree = cycle.model.quota();
        let node = self.cq_node(cycle);
        for &(fr, q) in self.totals {
            if !allow_borrowing && tree.usage(&cycle.s, node, fr) + q > tree.subtree(node, fr) {
                return false;
            }
            if q > tree.available(&cycle.s, node, fr) {
                return false;
            }
        }
        cycle.out.counters.placements += 1;
        let mark = cycle.s.mark();
        let placed = self
            .search
            .place_choice(&mut cycle.s, self.choice)
            .is_some();
        cycle.s.rollback(mark);
        placed
    }

    fn remove(&self, cycle: &mut Cycle<'_>, c: WorkloadId) {
        let model = cycle.model;
        if let Some((admission, _)) = model.workload(c).admission() {
            model.charge_into(&mut cycle.s, admission, -1);
        }
    }

    fn restore(&self, cycle: &mut Cycle<'_>, c: WorkloadId) {
        let model = cycle.model;
        if let Some((admission, _)) = model.workload(c).admission() {
            model.charge_into(&mut cycle.s, admission, 1);
        }
    }

    fn minimal(
        &self,
        cycle: &mut Cycle<'_>,
        candidates: &[WorkloadId],
        mut allow_borrowing: bool,
        threshold: Option<i32>,
    ) -> Option<Vec<Victim>> {
        let mark = cycle.s.mark();
        let mut targets: Vec<Victim> = Vec::new();
        let mut fits = false;
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
            self.remove(cycle, c);
            targets.push(Victim {
                workload: c,
                reason,
            });
            if self.fits(cycle, allow_borrowing) {
                fits = true;
                break;
            }
        }
        if !fits {
            cycle.s.rollback(mark);
            return None;
        }
        // Give back, in reverse order, every victim the preemptor does not need. The last
        // one removed is needed by construction.
        let mut i = targets.len().saturating_sub(1);
        while i > 0 {
            i -= 1;
            let c = targets[i].workload;
            self.restore(cycle, c);
            if self.fits(cycle, allow_borrowing) {
                targets.remove(i);
            } else {
                self.remove(cycle, c);
            }
        }
        // Hold the room: place and charge the preemptor.
        let Some(_placements) = self.search.place_choice(&mut cycle.s, self.choice) else {
            cycle.s.rollback(mark);
            return None;
        };
        let node = self.cq_node(cycle);
        for &(fr, q) in self.totals {
            cycle.model.quota().add_usage(&mut cycle.s, node, fr, q);
        }
        Some(targets)
    }
}
