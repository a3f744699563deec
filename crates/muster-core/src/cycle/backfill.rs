//! Backfill: EASY backfilling, as Slurm does it, for `queueingStrategy: Backfill`.
//!
//! When a Backfill ClusterQueue's first waiting workload (its head) cannot start, it takes a
//! **reservation**: the earliest time at which, by the running workloads' runtime limits
//! (`activeDeadlineSeconds`, counted from their admission), both its quota and a whole-gang
//! placement would be free, and the nodes of that placement. Workloads without a limit are
//! assumed to run forever; a head that only such workloads block reserves nothing.
//!
//! For the rest of the cycle, any workload (of any ClusterQueue) may start only if, by its
//! own limit, it ends at or before the reservation, or it takes none of the reserved
//! capacity: its pods fit beside the head's on the reserved nodes as they will be at the
//! reservation time, and the head's quota still fits then. Each Backfill ClusterQueue holds
//! one reservation per cycle; later reservations are computed with earlier ones held
//! (they are made in cycle order and every later admission is charged to them). Preemption
//! ignores reservations.
//!
//! Each reservation keeps a **view**: the usage at its time — running workloads that end by
//! then removed, the head placed and charged, and every later admission that runs past it
//! added. A candidate's placement is steered away from reserved capacity by charging, on the
//! reserved node cells, what the view has there beyond the usage now; it is then sure to fit
//! beside the head at the reservation time, and its quota is checked against the view.

use crate::assign::{MAX_PLACEMENT_ATTEMPTS_PER_SEARCH, NodeMemo, QuotaMode};
use crate::decision::{Admission, PendingReason};
use crate::ids::{CqId, FrId, NodeId, QuotaNodeId, WorkloadId};
use crate::quantity::Quantity;
use crate::time::Time;
use crate::usage::Scratch;

use super::{Cycle, Evaluation};

/// Candidates per Backfill ClusterQueue per cycle that may fail to fit before the queue is
/// left for the next cycle: backfilling looks deeper into a queue than the other strategies
/// (Slurm's backfill scheduler tests hundreds of jobs per pass; this bounds the cost).
pub const MAX_FAILED_ATTEMPTS_PER_BACKFILL_QUEUE: usize = 32;

/// A Backfill head's claim on future capacity.
pub(super) struct Reservation {
    /// The head.
    pub head: WorkloadId,
    /// When its reserved capacity is free, by the running workloads' limits.
    pub at: Time,
    /// The usage at `at`, the head included.
    view: Scratch,
    /// The node cells the head's pods take.
    cells: Vec<usize>,
    /// The head's assignment in the view.
    admission: Admission,
    /// Its quota per (flavor, resource).
    quota: Vec<(FrId, Quantity)>,
    quota_node: QuotaNodeId,
}

impl Cycle<'_> {
    /// When a workload started now would end by its runtime limit; `None` is never.
    fn end_if_started_now(&self, id: WorkloadId) -> Option<Time> {
        self.model.workload(id).runtime_limit.map(|d| self.now + d)
    }

    /// The workloads charged in the cycle's usage that will end by their limits, with when:
    /// admitted ones (from their admission) not preempted in this cycle, and those admitted
    /// in it (from now). Workloads being stopped end now. Those without a limit, and the
    /// room held for preemptors, never end.
    fn ending(&self) -> Vec<(Time, WorkloadId)> {
        let mut out = Vec::new();
        for q in 0..self.model.cluster_queues().len() {
            for &id in &self.model.queue(CqId(q as u32)).admitted {
                if self.removed.contains(&id) {
                    continue;
                }
                let w = self.model.workload(id);
                let Some((_, at)) = w.admission() else {
                    continue;
                };
                if w.evicting {
                    out.push((self.now, id));
                } else if let Some(limit) = w.runtime_limit {
                    out.push(((at + limit).max(self.now), id));
                }
            }
        }
        for d in &self.out.decisions {
            if let crate::decision::Decision::Admit(a) = d
                && let Some(end) = self.end_if_started_now(a.workload)
            {
                out.push((end, a.workload));
            }
        }
        out.sort();
        out
    }

    /// The admission of a workload charged in the cycle's usage.
    fn charged_admission(&self, id: WorkloadId) -> Option<&Admission> {
        if let Some((a, _)) = self.model.workload(id).admission() {
            return Some(a);
        }
        self.out.decisions.iter().find_map(|d| match d {
            crate::decision::Decision::Admit(a) if a.workload == id => Some(a),
            _ => None,
        })
    }

    /// Computes the reservation of a Backfill head that cannot start now: the earliest end
    /// time after which it would fit, found by bisection (room only grows as workloads end).
    pub(super) fn reserve(&mut self, id: WorkloadId) -> Option<Reservation> {
        let ending = self.ending();
        // Group boundaries: the last index of each distinct end time.
        let mut groups: Vec<usize> = Vec::new();
        for (i, (t, _)) in ending.iter().enumerate() {
            if ending.get(i + 1).is_none_or(|(next, _)| next != t) {
                groups.push(i);
            }
        }
        if groups.is_empty() {
            return None;
        }
        let mut view = Scratch::new(self.s.usage().clone());
        let base = view.mark();
        let search = self.search(id, 0, MAX_PLACEMENT_ATTEMPTS_PER_SEARCH);
        let model = self.model;
        let try_after = |cycle: &mut Self, view: &mut Scratch, g: usize| {
            view.rollback(base);
            for &(_, e) in &ending[..=groups[g]] {
                if let Some(a) = cycle.charged_admission(e) {
                    model.charge_into(view, a, -1);
                }
            }
            if !search.quota_fits(view, QuotaMode::Borrow) {
                return None;
            }
            let mut memo = NodeMemo::default();
            let result = search.run(view, &[QuotaMode::NoBorrow, QuotaMode::Borrow], &mut memo);
            cycle.out.counters.placements += result.placements_tried;
            result.found
        };
        let last = groups.len() - 1;
        try_after(self, &mut view, last)?;
        let (mut lo, mut hi) = (0, last);
        while lo < hi {
            let mid = (lo + hi) / 2;
            if try_after(self, &mut view, mid).is_some() {
                hi = mid;
            } else {
                lo = mid + 1;
            }
        }
        let found = try_after(self, &mut view, lo)?;
        let admission = found.into_admission(id, false);
        // The search left the pods placed in the view; charge the quota too.
        model.charge_quota_into(&mut view, &admission, 1);
        let quota = search.totals(&admission.options);
        let cells = pod_cells(self, &admission);
        Some(Reservation {
            head: id,
            at: ending[groups[lo]].0,
            view,
            cells,
            quota_node: model.cluster_queue(model.workload(id).cq).quota_node,
            admission,
            quota,
        })
    }

    /// Whether a workload started now must respect a reservation: it is not its head and,
    /// by its limit, it would still run when the reservation begins.
    fn bound_by(&self, id: WorkloadId, r: &Reservation) -> bool {
        r.head != id && self.end_if_started_now(id).is_none_or(|end| end > r.at)
    }

    /// [`Cycle::evaluate`] with reservations held: a workload bound by one must leave its
    /// capacity alone. On success the candidate is placed in the usage (not its quota).
    pub(super) fn evaluate_with_reservations(
        &mut self,
        id: WorkloadId,
        borrows: bool,
    ) -> Evaluation {
        let bound: Vec<usize> = (0..self.reservations.len())
            .filter(|&i| self.bound_by(id, &self.reservations[i]))
            .collect();
        if bound.is_empty() {
            return self.evaluate_now(id, borrows);
        }
        let shape = self.model.workload(id).shape;
        if let Some(reason) = self.fail_memo.get(&shape) {
            // It does not fit even without the reservations.
            self.out.counters.memo_hits += 1;
            return Evaluation::Waits(reason.clone());
        }
        self.out.counters.attempts += 1;
        let mark = self.s.mark();
        // Steer its pods off the reserved capacity: what each view holds on a reserved cell
        // beyond the usage now is charged for the search, then taken back.
        let mut phantom: Vec<(usize, Quantity)> = Vec::new();
        for &i in &bound {
            let r = &self.reservations[i];
            for &cell in &r.cells {
                let extra = (r.view.node(cell) - self.s.node(cell)).clamp_non_negative();
                if !extra.is_zero() {
                    phantom.push((cell, extra));
                }
            }
        }
        for &(cell, q) in &phantom {
            let v = self.s.node(cell) + q;
            self.s.set_node(cell, v);
        }
        let search = self.search(id, 4, MAX_PLACEMENT_ATTEMPTS_PER_SEARCH);
        let modes: &[QuotaMode] = if borrows {
            &[QuotaMode::Borrow]
        } else {
            &[QuotaMode::NoBorrow, QuotaMode::Borrow]
        };
        let mut memo = NodeMemo::default();
        let result = search.run(&mut self.s, modes, &mut memo);
        self.out.counters.placements += result.placements_tried;
        let Some(found) = result.found else {
            self.s.rollback(mark);
            let head = self.reservations[bound[0]].head;
            let at = self.reservations[bound[0]].at;
            // Say why: the reservation, if it would fit without it.
            return match self.evaluate_now(id, borrows) {
                Evaluation::Fits(_, placed) => {
                    if let Some(m) = placed {
                        self.s.rollback(m);
                    }
                    Evaluation::Waits(PendingReason::DelaysReservation { head, at })
                }
                waits => waits,
            };
        };
        for &(cell, q) in &phantom {
            let v = self.s.node(cell) - q;
            self.s.set_node(cell, v);
        }
        let admission = found.clone().into_admission(id, true);
        for &i in &bound {
            if !self.head_quota_still_fits(i, &admission) {
                self.s.rollback(mark);
                let r = &self.reservations[i];
                return Evaluation::Waits(PendingReason::DelaysReservation {
                    head: r.head,
                    at: r.at,
                });
            }
        }
        Evaluation::Fits(found, Some(mark))
    }

    /// Whether reservation `i`'s head would still get its quota at the reservation time with
    /// `admission` running too.
    fn head_quota_still_fits(&mut self, i: usize, admission: &Admission) -> bool {
        let model = self.model;
        let tree = model.quota();
        let r = &mut self.reservations[i];
        let mark = r.view.mark();
        model.charge_quota_into(&mut r.view, &r.admission, -1);
        model.charge_quota_into(&mut r.view, admission, 1);
        let fits = r
            .quota
            .iter()
            .all(|&(fr, q)| q <= tree.available(&r.view, r.quota_node, fr));
        r.view.rollback(mark);
        fits
    }

    /// Records an admission in every reservation it runs past.
    pub(super) fn charge_reservations(&mut self, admission: &Admission) {
        let model = self.model;
        for i in 0..self.reservations.len() {
            if self.bound_by(admission.workload, &self.reservations[i]) {
                model.charge_into(&mut self.reservations[i].view, admission, 1);
            }
        }
    }
}

/// The node cells an admission's pods take.
fn pod_cells(cycle: &Cycle<'_>, admission: &Admission) -> Vec<usize> {
    let model = cycle.model;
    let r_count = cycle.tables.resources;
    let mut cells = Vec::new();
    let mut pod = 0usize;
    for (ps, _) in model.admitted_options(admission) {
        for _ in 0..ps.count {
            let node = admission.placements[pod];
            pod += 1;
            if node == NodeId::LOST {
                continue;
            }
            for (r, _) in ps
                .request
                .iter()
                .chain([(cycle.tables.pods, Quantity::ZERO)])
            {
                cells.push(node.index() * r_count + r.index());
            }
        }
    }
    cells.sort_unstable();
    cells.dedup();
    cells
}
