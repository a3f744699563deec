//! The discrete-event loop.
//!
//! The simulator is the clock. Two kinds of events drive it: submissions (from the scenario,
//! at `muster.dev/sim-submit-after`) and completions (an admitted workload finishes
//! `muster.dev/sim-duration` after its admission). At each instant, in order:
//!
//! 1. completions, in the order their workloads were admitted;
//! 2. submissions, in namespace/name order (so the input's order does not matter);
//! 3. scheduling cycles of the core, each applied at once, until one decides nothing or
//!    reports that another would decide nothing (`settled`).
//!    Preempted workloads leave at once, so their preemptor is admitted in the next cycle of
//!    the same instant; a preempted workload's pending completion is forgotten.
//!
//! The loop owns no scheduling logic: every admission, preemption and verdict comes from
//! [`muster_core::run_cycle`]. Same scenario, same options → same events, byte for byte.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};

use muster_api::Scenario;
use muster_core::decision::Decision;
use muster_core::model::WorkloadState;
use muster_core::{Duration, Model, ModelError, Profile, Time, WorkloadId, run_cycle};
use serde::Serialize;

use crate::events::{EventKind, EventRecord, EventSink, PodRecord};
use crate::stats::{Distribution, Integral, Sample, Timeline, jain, round6};

/// Cycles one instant may take before the simulation is declared stuck.
pub const MAX_CYCLES_PER_INSTANT: usize = 10_000;

/// How to run a simulation.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Stop at this time (events after it are not processed).
    pub until: Option<Duration>,
    /// The scheduler's settings.
    pub profile: Profile,
    /// Check the model's invariants after every cycle (tests; slow).
    pub check_invariants: bool,
}

/// Why a simulation could not finish.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The scenario does not fit the model (a bug in validation if it happens).
    #[error("scenario rejected by the model: {0}")]
    Model(#[from] ModelError),
    /// Writing events failed.
    #[error("cannot write events: {0}")]
    Io(#[from] std::io::Error),
    /// An invariant broke (only with `check_invariants`).
    #[error("invariant broken at {time}s: {message}")]
    Invariant {
        /// When.
        time: f64,
        /// What.
        message: String,
    },
    /// Cycles at one instant did not settle.
    #[error("scheduling did not settle at {0}s")]
    NoProgress(f64),
}

/// How far a run is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Progress {
    /// Submissions and completions processed.
    pub events: u64,
    /// Submissions and completions expected if every workload finishes once.
    pub expected: u64,
}

/// Per-ClusterQueue results.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct QueueSummary {
    /// Workloads submitted to it.
    pub workloads: u64,
    /// Workloads admitted at least once.
    pub admitted: u64,
    /// Workloads finished.
    pub finished: u64,
    /// Workloads pending at the end.
    pub pending_at_end: u64,
    /// Times one of its workloads was preempted.
    pub preempted: u64,
    /// Mean wait of its admitted workloads, seconds.
    pub wait_seconds_mean: f64,
    /// Its share of all resource-time used: per resource, its resource-seconds over everyone's,
    /// averaged over the resources anyone used.
    pub usage_share: f64,
}

/// Fairness across ClusterQueues.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Fairness {
    /// Jain's index over the usage shares of the queues that had workloads.
    pub jain: f64,
}

/// `summary.json`.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    /// Workloads submitted.
    pub workloads: u64,
    /// Workloads admitted at least once.
    pub admitted: u64,
    /// Workloads that ran to completion.
    pub finished: u64,
    /// Workloads pending at the end (Inadmissible ones included).
    pub pending_at_end: u64,
    /// Preemptions (one per victim).
    pub preemptions: u64,
    /// Workloads running at the end (only with `--until`).
    pub running_at_end: u64,
    /// Workloads judged Inadmissible.
    pub inadmissible: u64,
    /// Simulated time covered: the last event, or `--until`.
    pub makespan_seconds: f64,
    /// Time admitted workloads spent pending (every queueing episode up to their last
    /// admission), seconds.
    pub wait_seconds: Distribution,
    /// Time-weighted allocated / allocatable over the makespan, per resource.
    pub utilization: BTreeMap<String, f64>,
    /// Per ClusterQueue.
    pub cluster_queues: BTreeMap<String, QueueSummary>,
    /// Fairness.
    pub fairness: Fairness,
    /// Wall-clock seconds the run took (the only field that differs between runs).
    pub wall_seconds: f64,
}

/// What a simulation produced besides its events.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// The summary (`wall_seconds` left at zero for the caller to fill in).
    pub summary: Summary,
    /// Utilization and queue lengths over time.
    pub timeline: Timeline,
    /// Wait distribution per ClusterQueue.
    pub queue_waits: BTreeMap<String, Distribution>,
    /// The model at the end.
    pub model: Model,
    /// Work the core did, summed over all cycles.
    pub work: Work,
}

/// Work the core did in a run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Work {
    /// Cycles run.
    pub cycles: u64,
    /// Counters summed over the cycles.
    pub counters: muster_core::decision::CycleCounters,
}

#[derive(Clone, Debug, Default)]
struct Track {
    scenario_index: usize,
    queued_since: Time,
    waited_ms: i64,
    generation: u32,
    admitted_once: bool,
}

/// Runs a scenario to the end (or to `options.until`).
pub fn simulate(
    scenario: &Scenario,
    options: &Options,
    sink: &mut dyn EventSink,
    progress: &mut dyn FnMut(Progress),
) -> Result<Outcome, SimError> {
    let model = Model::new(&scenario.cluster)?;
    Sim::new(scenario, options, model).run(sink, progress)
}

struct Sim<'a> {
    scenario: &'a Scenario,
    options: &'a Options,
    /// The options' profile, with fair sharing as the scenario's `Configuration` sets it.
    profile: Profile,
    model: Model,
    /// Scenario indices in submission order.
    submissions: Vec<usize>,
    next_submission: usize,
    /// (time, sequence, workload, generation) of pending completions.
    completions: BinaryHeap<Reverse<(Time, u64, WorkloadId, u32)>>,
    seq: u64,
    tracks: Vec<Track>,
    // Measurement.
    reported: Vec<usize>,
    cluster_use: Integral,
    queue_use: Vec<Integral>,
    capacity: Vec<i128>,
    timeline: Timeline,
    preemptions_by_cq: Vec<u64>,
    preemptions: u64,
    events_done: u64,
    work: Work,
}

impl<'a> Sim<'a> {
    fn new(scenario: &'a Scenario, options: &'a Options, model: Model) -> Self {
        let mut submissions: Vec<usize> = (0..scenario.workloads.len()).collect();
        submissions.sort_by(|&a, &b| {
            let (wa, wb) = (&scenario.workloads[a], &scenario.workloads[b]);
            (wa.submit_after, &wa.spec.namespace, &wa.spec.name).cmp(&(
                wb.submit_after,
                &wb.spec.namespace,
                &wb.spec.name,
            ))
        });
        let resources = model.resources();
        let reported: Vec<usize> = resources
            .ids()
            .filter(|&r| r != resources.pods())
            .map(|r| r.index())
            .collect();
        let capacity: Vec<i128> = reported
            .iter()
            .map(|&r| {
                (0..model.nodes().len())
                    .map(|n| {
                        model
                            .allocatable(
                                muster_core::NodeId(n as u32),
                                muster_core::resource::ResourceId(r as u16),
                            )
                            .milli()
                    })
                    .sum()
            })
            .collect();
        let cqs = model.cluster_queues().len();
        let timeline = Timeline {
            resources: reported
                .iter()
                .map(|&r| {
                    resources
                        .name(muster_core::resource::ResourceId(r as u16))
                        .to_string()
                })
                .collect(),
            cluster_queues: model
                .cluster_queues()
                .iter()
                .map(|q| q.name.clone())
                .collect(),
            samples: Vec::new(),
        };
        let mut profile = options.profile.clone();
        if scenario.fair_sharing.is_some() {
            profile.fair_sharing = scenario.fair_sharing.clone();
        }
        Sim {
            scenario,
            options,
            profile,
            cluster_use: Integral::new(reported.len()),
            queue_use: vec![Integral::new(reported.len()); cqs],
            reported,
            capacity,
            timeline,
            model,
            submissions,
            next_submission: 0,
            completions: BinaryHeap::new(),
            seq: 0,
            tracks: Vec::new(),
            preemptions_by_cq: vec![0; cqs],
            preemptions: 0,
            events_done: 0,
            work: Work::default(),
        }
    }

    fn next_time(&self) -> Option<Time> {
        let sub = self
            .submissions
            .get(self.next_submission)
            .map(|&i| Time::ZERO + self.scenario.workloads[i].submit_after);
        let done = self.completions.peek().map(|Reverse((t, ..))| *t);
        match (sub, done) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn run(
        mut self,
        sink: &mut dyn EventSink,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<Outcome, SimError> {
        let until = self.options.until.map(|d| Time::ZERO + d);
        let expected = 2 * self.scenario.workloads.len() as u64;
        let mut end = Time::ZERO;
        while let Some(now) = self.next_time() {
            if until.is_some_and(|u| now > u) {
                break;
            }
            end = now;
            self.advance(now);
            self.complete_at(now, sink)?;
            self.submit_at(now, sink)?;
            self.settle(now, sink)?;
            self.sample(now);
            progress(Progress {
                events: self.events_done,
                expected,
            });
        }
        if let Some(u) = until {
            end = end.max(u);
        }
        self.advance(end);
        Ok(self.finish(end))
    }

    fn advance(&mut self, now: Time) {
        self.cluster_use.advance(now);
        for q in &mut self.queue_use {
            q.advance(now);
        }
    }

    fn record(&self, time: Time, kind: EventKind, w: WorkloadId) -> EventRecord {
        let wl = self.model.workload(w);
        EventRecord::new(
            time.as_secs_f64(),
            kind,
            wl.key.to_string(),
            self.model.cluster_queue(wl.cq).name.clone(),
        )
    }

    fn complete_at(&mut self, now: Time, sink: &mut dyn EventSink) -> Result<(), SimError> {
        while let Some(Reverse((t, _, w, generation))) = self.completions.peek().copied() {
            if t != now {
                break;
            }
            self.completions.pop();
            if self.tracks[w.index()].generation != generation
                || !self.model.workload(w).is_admitted()
            {
                continue; // preempted since: its run was lost
            }
            self.charge_usage(w, -1);
            self.model.finish(w)?;
            self.events_done += 1;
            let e = self.record(now, EventKind::Finished, w);
            sink.record(&e)?;
        }
        Ok(())
    }

    fn submit_at(&mut self, now: Time, sink: &mut dyn EventSink) -> Result<(), SimError> {
        while let Some(&i) = self.submissions.get(self.next_submission) {
            let sw = &self.scenario.workloads[i];
            if Time::ZERO + sw.submit_after != now {
                break;
            }
            self.next_submission += 1;
            let w = self.model.submit(sw.spec.clone(), now)?;
            debug_assert_eq!(w.index(), self.tracks.len());
            self.tracks.push(Track {
                scenario_index: i,
                queued_since: now,
                ..Track::default()
            });
            self.events_done += 1;
            let e = self.record(now, EventKind::Submitted, w);
            sink.record(&e)?;
        }
        Ok(())
    }

    fn settle(&mut self, now: Time, sink: &mut dyn EventSink) -> Result<(), SimError> {
        for _ in 0..MAX_CYCLES_PER_INSTANT {
            let out = run_cycle(&mut self.model, now, &self.profile);
            self.work.cycles += 1;
            let c = &mut self.work.counters;
            c.attempts += out.counters.attempts;
            c.memo_hits += out.counters.memo_hits;
            c.placements += out.counters.placements;
            c.preemption_searches += out.counters.preemption_searches;
            for d in &out.decisions {
                self.record_decision(now, d, sink)?;
                self.model.apply(d, now)?;
                self.after_decision(now, d);
            }
            let changed = out.changes_anything();
            let out_settled = out.settled;
            // Reasons and screening results, without re-applying the decisions.
            let rest = muster_core::CycleOutput {
                decisions: Vec::new(),
                ..out
            };
            self.model.apply_output(&rest, now)?;
            if self.options.check_invariants {
                muster_core::invariants::check(&self.model).map_err(|message| {
                    SimError::Invariant {
                        time: now.as_secs_f64(),
                        message,
                    }
                })?;
            }
            if !changed || out_settled {
                return Ok(());
            }
        }
        Err(SimError::NoProgress(now.as_secs_f64()))
    }

    fn record_decision(
        &self,
        now: Time,
        d: &Decision,
        sink: &mut dyn EventSink,
    ) -> Result<(), SimError> {
        match d {
            Decision::Inadmissible { workload, reason } => {
                let mut e = self.record(now, EventKind::Inadmissible, *workload);
                e.reason = Some(reason.describe(&self.model, *workload));
                sink.record(&e)?;
            }
            Decision::Admit(a) => {
                let mut e = self.record(now, EventKind::Admitted, a.workload);
                let per_set = self.model.admission_flavors(a);
                let names = &self.model.workload(a.workload).pod_set_names;
                let mut flavors: BTreeMap<String, String> = BTreeMap::new();
                for m in per_set.iter().rev() {
                    flavors.extend(m.clone());
                }
                e.flavors = Some(flavors);
                if per_set.windows(2).any(|w| w[0] != w[1]) {
                    e.pod_set_flavors =
                        Some(names.iter().cloned().zip(per_set.iter().cloned()).collect());
                }
                e.borrowing = Some(a.borrowing);
                let shape = self.model.shape_of(a.workload);
                let mut pods = Vec::with_capacity(a.placements.len());
                let mut k = 0;
                for (pi, ps) in shape.pod_sets.iter().enumerate() {
                    for index in 0..ps.count {
                        pods.push(PodRecord {
                            pod_set: names[pi].clone(),
                            index,
                            node: self.model.nodes()[a.placements[k].index()].name.clone(),
                        });
                        k += 1;
                    }
                }
                e.pods = Some(pods);
                sink.record(&e)?;
            }
            Decision::Preempt { preemptor, victims } => {
                let by = self.model.workload(*preemptor).key.to_string();
                for v in victims {
                    let mut e = self.record(now, EventKind::Preempted, v.workload);
                    e.by = Some(by.clone());
                    e.reason = Some(v.reason.as_str().to_string());
                    sink.record(&e)?;
                }
            }
        }
        Ok(())
    }

    /// Bookkeeping after a decision was applied to the model.
    fn after_decision(&mut self, now: Time, d: &Decision) {
        match d {
            Decision::Admit(a) => {
                let w = a.workload;
                let t = &mut self.tracks[w.index()];
                t.waited_ms += (now - t.queued_since).as_millis();
                t.admitted_once = true;
                t.generation += 1;
                let generation = t.generation;
                let duration = self.scenario.workloads[t.scenario_index].duration;
                self.seq += 1;
                self.completions
                    .push(Reverse((now + duration, self.seq, w, generation)));
                self.charge_usage(w, 1);
            }
            Decision::Preempt { victims, .. } => {
                for v in victims {
                    self.charge_usage(v.workload, -1);
                    self.tracks[v.workload.index()].queued_since = now;
                    let cq = self.model.workload(v.workload).cq;
                    self.preemptions_by_cq[cq.index()] += 1;
                    self.preemptions += 1;
                }
            }
            Decision::Inadmissible { .. } => {}
        }
    }

    /// Adds or removes a workload's total request in the usage integrals.
    fn charge_usage(&mut self, w: WorkloadId, sign: i128) {
        let shape = self.model.shape_of(w);
        let cq = self.model.workload(w).cq.index();
        for ps in &shape.pod_sets {
            for (r, q) in ps.request.iter() {
                if let Some(col) = self.reported.iter().position(|&x| x == r.index()) {
                    let amount = sign * q.milli() * i128::from(ps.count);
                    self.cluster_use.current[col] += amount;
                    self.queue_use[cq].current[col] += amount;
                }
            }
        }
    }

    fn sample(&mut self, now: Time) {
        let utilization = self
            .cluster_use
            .current
            .iter()
            .zip(&self.capacity)
            .map(|(&u, &c)| if c > 0 { u as f64 / c as f64 } else { 0.0 })
            .collect();
        let pending = (0..self.model.cluster_queues().len())
            .map(|i| self.model.queue(muster_core::CqId(i as u32)).pending.len() as u32)
            .collect();
        let running = (0..self.model.cluster_queues().len())
            .map(|i| self.model.queue(muster_core::CqId(i as u32)).admitted.len() as u32)
            .collect();
        let s = Sample {
            time: now.as_secs_f64(),
            utilization,
            pending,
            running,
        };
        match self.timeline.samples.last_mut() {
            Some(last) if last.time == s.time => *last = s,
            _ => self.timeline.samples.push(s),
        }
    }

    fn finish(self, end: Time) -> Outcome {
        let model = self.model;
        let makespan_ms = end.as_millis();
        let mut summary = Summary {
            makespan_seconds: end.as_secs_f64(),
            preemptions: self.preemptions,
            ..Summary::default()
        };
        let cq_names: Vec<String> = model
            .cluster_queues()
            .iter()
            .map(|q| q.name.clone())
            .collect();
        let mut queues: Vec<QueueSummary> = vec![QueueSummary::default(); cq_names.len()];
        let mut waits: Vec<i64> = Vec::new();
        let mut queue_waits: Vec<Vec<i64>> = vec![Vec::new(); cq_names.len()];
        for (i, w) in model.workloads().iter().enumerate() {
            let t = &self.tracks[i];
            let q = &mut queues[w.cq.index()];
            summary.workloads += 1;
            q.workloads += 1;
            if t.admitted_once {
                summary.admitted += 1;
                q.admitted += 1;
                waits.push(t.waited_ms);
                queue_waits[w.cq.index()].push(t.waited_ms);
            }
            match w.state {
                WorkloadState::Finished => {
                    summary.finished += 1;
                    q.finished += 1;
                }
                WorkloadState::Pending => {
                    summary.pending_at_end += 1;
                    q.pending_at_end += 1;
                }
                WorkloadState::Admitted { .. } => summary.running_at_end += 1,
            }
            if w.inadmissible {
                summary.inadmissible += 1;
            }
        }
        summary.wait_seconds = Distribution::of_millis(&waits);
        for (col, name) in self.timeline.resources.iter().enumerate() {
            let cap = self.capacity[col];
            if cap > 0 && makespan_ms > 0 {
                let u = self.cluster_use.area[col] as f64 / (cap as f64 * makespan_ms as f64);
                summary.utilization.insert(name.clone(), round6(u));
            }
        }
        let used_cols: Vec<usize> = (0..self.reported.len())
            .filter(|&c| self.cluster_use.area[c] > 0)
            .collect();
        let mut shares = Vec::new();
        for (i, q) in queues.iter_mut().enumerate() {
            q.preempted = self.preemptions_by_cq[i];
            q.wait_seconds_mean = Distribution::of_millis(&queue_waits[i]).mean;
            if !used_cols.is_empty() {
                let s: f64 = used_cols
                    .iter()
                    .map(|&c| self.queue_use[i].area[c] as f64 / self.cluster_use.area[c] as f64)
                    .sum::<f64>()
                    / used_cols.len() as f64;
                q.usage_share = round6(s);
            }
            if q.workloads > 0 {
                shares.push(q.usage_share);
            }
        }
        summary.fairness.jain = jain(&shares);
        let queue_waits = cq_names
            .iter()
            .cloned()
            .zip(queue_waits.iter().map(|w| Distribution::of_millis(w)))
            .collect();
        summary.cluster_queues = cq_names.into_iter().zip(queues).collect();
        Outcome {
            summary,
            timeline: self.timeline,
            queue_waits,
            model,
            work: self.work,
        }
    }
}
