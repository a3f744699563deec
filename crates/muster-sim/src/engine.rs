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
use std::sync::Arc;

use muster_api::Scenario;
use muster_core::decision::Decision;
use muster_core::model::WorkloadState;
use muster_core::resource::ResourceId;
use muster_core::{
    CqId, Duration, Model, ModelError, PreemptionReason, Profile, Time, WorkloadId,
    run_cycle_charged,
};
use serde::Serialize;

use crate::events::{EventKind, EventRecord, EventSink, Placements, PodPlacement};
use crate::stats::{Distribution, Integral, Sample, Timeline, jain, round6, thin_indices};

/// The most points of a ClusterQueue's `usageShareOverTime` (the last sample always kept).
pub const MAX_SHARE_POINTS: usize = 200;

/// Milli-units × milliseconds in one unit-hour.
const MILLI_MS_PER_UNIT_HOUR: f64 = 1000.0 * 3_600_000.0;

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
    #[error("scenario rejected by the model")]
    Model(#[from] ModelError),
    /// Writing events failed.
    #[error("cannot write events")]
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
    /// Times one of its workloads was preempted, per reason (only reasons that occurred).
    pub preemptions_by_reason: BTreeMap<String, u64>,
    /// Admissions of its workloads that were backfilled.
    pub backfilled: u64,
    /// `(seconds, share)` at the timeline's sample instants (thinned to at most
    /// [`MAX_SHARE_POINTS`]): its dominant share of the cluster then, the largest over the
    /// reported resources of its allocated / the cluster's allocatable.
    pub usage_share_over_time: Vec<(f64, f64)>,
}

/// Fairness across ClusterQueues.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Fairness {
    /// Jain's index over the `usage_share`s (shares of the resource-time used, unweighted) of
    /// the queues that had workloads.
    pub jain: f64,
    /// Jain's index over time-averaged dominant share / fair-sharing weight of the queues that
    /// had workloads and a non-zero weight.
    pub jain_weighted: f64,
}

/// Work lost to preemption: each victim's running time until it was preempted × its request.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LostWork {
    /// cpu cores × hours.
    pub core_hours: f64,
    /// `nvidia.com/gpu` × hours.
    pub gpu_hours: f64,
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
    /// Preemptions per reason (only reasons that occurred).
    pub preemptions_by_reason: BTreeMap<String, u64>,
    /// Work the victims of preemptions had done and lost.
    pub lost_to_preemption: LostWork,
    /// Admissions that were backfilled (started ahead of a Backfill queue's reserved head).
    pub backfilled: u64,
    /// NUMA placement, when some node has a NodeResourceTopology.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub numa: Option<NumaSummary>,
    /// The traces replayed, with what their loaders read and skipped.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub traces: Vec<TraceSummary>,
    /// Recorded against simulated waits, over the workloads a trace recorded a wait for
    /// that were admitted in the simulation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fidelity: Option<Fidelity>,
    /// Wall-clock seconds the run took (the only field that differs between runs).
    pub wall_seconds: f64,
}

/// One trace replayed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TraceSummary {
    /// `FORMAT:FILE`.
    pub source: String,
    /// Records read.
    pub read: u64,
    /// Records turned into workloads.
    pub loaded: u64,
    /// Records skipped, by reason.
    pub skipped: BTreeMap<String, u64>,
    /// How the trace was mapped.
    pub notes: Vec<String>,
}

/// The waits a trace recorded beside the simulated ones, for the same workloads.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Fidelity {
    /// Workloads compared.
    pub workloads: u64,
    /// Their waits in the real system, seconds.
    pub recorded_wait_seconds: Distribution,
    /// Their waits in the simulation, seconds.
    pub simulated_wait_seconds: Distribution,
}

/// What NUMA-aware placement did, or what NUMA-blind placement would cost.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NumaSummary {
    /// `aware` (Muster's placement) or `blind` (`--numa-blind`: by node totals only).
    pub mode: &'static str,
    /// Pods placed on nodes with a NodeResourceTopology.
    pub pods_on_topology_nodes: u64,
    /// Pods the node's kubelet would reject with a Topology Affinity Error (always 0 in
    /// `aware` mode).
    pub topology_affinity_errors: u64,
    /// Admissions with at least one such pod.
    pub admissions_with_errors: u64,
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
    /// Per ClusterQueue, its admitted workloads' waits in milliseconds, sorted (for the
    /// report's wait-time CDF).
    pub queue_wait_samples: BTreeMap<String, Vec<i64>>,
    /// The model at the end.
    pub model: Model,
    /// Work the core did, summed over all cycles.
    pub work: Work,
    /// Each Backfill head's first reservation: when its reserved capacity was to be free.
    pub reservations: BTreeMap<WorkloadId, Time>,
}

/// Work the core did in a run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Work {
    /// Cycles run.
    pub cycles: u64,
    /// Counters summed over the cycles.
    pub counters: muster_core::decision::CycleCounters,
}

/// The columns of the timeline's next sample.
struct Row {
    utilization: Vec<f64>,
    pending: Vec<u32>,
    running: Vec<u32>,
    queue_share: Vec<f64>,
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
    /// Node names, shared by the events that place pods on them.
    node_names: Arc<[String]>,
    /// ClusterQueue names, shared by the events of their workloads.
    cq_names: Vec<Arc<str>>,
    /// Per workload submitted, its `namespace/name`, shared by its events.
    workload_names: Vec<Arc<str>>,
    // Measurement.
    reported: Vec<usize>,
    cluster_use: Integral,
    queue_use: Vec<Integral>,
    capacity: Vec<i128>,
    timeline: Timeline,
    /// The next sample's columns, kept up to date as usage changes.
    row: Row,
    preemptions_by_cq: Vec<u64>,
    preemptions: u64,
    /// Per ClusterQueue (the victim's): preemptions per reason.
    preemptions_by_reason: Vec<BTreeMap<PreemptionReason, u64>>,
    /// Backfilled admissions per ClusterQueue.
    backfilled_by_cq: Vec<u64>,
    /// NUMA counts, when some node has zones.
    numa: Option<NumaSummary>,
    /// The `cpu` and `nvidia.com/gpu` resources, when the model knows them.
    cpu: Option<ResourceId>,
    gpu: Option<ResourceId>,
    /// Lost to preemption: running time × request, milli-units × ms, for cpu and gpu.
    lost_cpu: i128,
    lost_gpu: i128,
    events_done: u64,
    work: Work,
    reservations: BTreeMap<WorkloadId, Time>,
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
        let timeline = Timeline::new(
            reported
                .iter()
                .map(|&r| {
                    resources
                        .name(muster_core::resource::ResourceId(r as u16))
                        .to_string()
                })
                .collect(),
            model
                .cluster_queues()
                .iter()
                .map(|q| q.name.clone())
                .collect(),
        );
        let (cpu, gpu) = (resources.id("cpu"), resources.id("nvidia.com/gpu"));
        let mut profile = options.profile.clone();
        if scenario.fair_sharing.is_some() {
            profile.fair_sharing = scenario.fair_sharing.clone();
        }
        if scenario.scoring != muster_core::place::Scoring::default() {
            profile.scoring = scenario.scoring;
        }
        let numa = (!model.zones().is_empty()).then(|| NumaSummary {
            mode: if profile.numa_blind { "blind" } else { "aware" },
            ..NumaSummary::default()
        });
        let node_names = model.nodes().iter().map(|n| n.name.clone()).collect();
        Sim {
            scenario,
            options,
            profile,
            node_names,
            cq_names: model
                .cluster_queues()
                .iter()
                .map(|q| Arc::from(q.name.as_str()))
                .collect(),
            workload_names: Vec::with_capacity(scenario.workloads.len()),
            cluster_use: Integral::new(reported.len()),
            queue_use: vec![Integral::new(reported.len()); cqs],
            row: Row {
                utilization: vec![0.0; reported.len()],
                pending: vec![0; cqs],
                running: vec![0; cqs],
                queue_share: vec![0.0; cqs],
            },
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
            preemptions_by_reason: vec![BTreeMap::new(); cqs],
            backfilled_by_cq: vec![0; cqs],
            numa,
            cpu,
            gpu,
            lost_cpu: 0,
            lost_gpu: 0,
            events_done: 0,
            work: Work::default(),
            reservations: BTreeMap::new(),
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
            let completed = self.complete_at(now, sink)?;
            let submitted = self.submit_at(now, sink)?;
            // An instant with only stale completions (of runs lost to preemption) changes
            // nothing, so no cycle runs: cycles follow real changes, which are finite (each
            // workload is submitted once and finishes once), so the run always ends.
            if completed || submitted {
                self.settle(now, sink)?;
            }
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
        EventRecord::new(
            time.as_secs_f64(),
            kind,
            self.workload_names[w.index()].clone(),
            self.cq_names[self.model.workload(w).cq.index()].clone(),
        )
    }

    /// Finishes the runs that end at `now`; whether any did.
    fn complete_at(&mut self, now: Time, sink: &mut dyn EventSink) -> Result<bool, SimError> {
        let mut any = false;
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
            sink.record(e)?;
            any = true;
        }
        Ok(any)
    }

    /// Submits the workloads due at `now`; whether any were.
    fn submit_at(&mut self, now: Time, sink: &mut dyn EventSink) -> Result<bool, SimError> {
        let mut any = false;
        while let Some(&i) = self.submissions.get(self.next_submission) {
            let sw = &self.scenario.workloads[i];
            if Time::ZERO + sw.submit_after != now {
                break;
            }
            self.next_submission += 1;
            let w = self.model.submit(&sw.spec, now)?;
            debug_assert_eq!(w.index(), self.tracks.len());
            self.workload_names
                .push(Arc::from(self.model.workload(w).key.to_string()));
            self.tracks.push(Track {
                scenario_index: i,
                queued_since: now,
                ..Track::default()
            });
            self.events_done += 1;
            let e = self.record(now, EventKind::Submitted, w);
            sink.record(e)?;
            any = true;
        }
        Ok(any)
    }

    fn settle(&mut self, now: Time, sink: &mut dyn EventSink) -> Result<(), SimError> {
        for _ in 0..MAX_CYCLES_PER_INSTANT {
            let out = run_cycle_charged(&mut self.model, now, &self.profile);
            self.work.cycles += 1;
            let c = &mut self.work.counters;
            c.attempts += out.counters.attempts;
            c.memo_hits += out.counters.memo_hits;
            c.placements += out.counters.placements;
            c.preemption_searches += out.counters.preemption_searches;
            for &(head, at) in &out.reservations {
                self.reservations.entry(head).or_insert(at);
            }
            for d in &out.decisions {
                self.record_decision(now, d, sink)?;
                self.before_decision(now, d);
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
                sink.record(e)?;
            }
            Decision::Admit(a) => {
                let mut e = self.record(now, EventKind::Admitted, a.workload);
                let per_set = self.model.admission_flavors(a);
                let names = &self.model.workload(a.workload).pod_set_names;
                if per_set.windows(2).any(|w| w[0] != w[1]) {
                    // Each resource's flavor in the first pod set that asks for it.
                    let mut flavors: BTreeMap<String, String> = BTreeMap::new();
                    for m in per_set.iter().rev() {
                        flavors.extend(m.clone());
                    }
                    e.flavors = Some(flavors);
                    e.pod_set_flavors = Some(names.iter().cloned().zip(per_set).collect());
                } else {
                    // All pod sets alike: any one of them is the whole.
                    e.flavors = Some(per_set.into_iter().next().unwrap_or_default());
                }
                e.borrowing = Some(a.borrowing);
                let shape = self.model.shape_of(a.workload);
                let mut pods =
                    Placements::new(self.node_names.clone(), names.clone(), a.placements.len());
                let mut k = 0;
                let zones = self.model.zones();
                for (pi, ps) in shape.pod_sets.iter().enumerate() {
                    for index in 0..ps.count {
                        let node = a.placements[k];
                        let held = zones
                            .has_topology(node)
                            .then(|| a.numa.zones_of(k as u32))
                            .filter(|held| !held.is_empty());
                        let known = pods.push(PodPlacement {
                            pod_set: pi as u32,
                            index,
                            node: node.0,
                            numa_zones: held.map(|held| {
                                held.iter().map(|z| zones.name(*z).to_string()).collect()
                            }),
                            topology_affinity_error: a.numa.affinity_errors.contains(&(k as u32)),
                        });
                        if !known {
                            return Err(SimError::Invariant {
                                time: now.as_secs_f64(),
                                message: format!(
                                    "{} placed a pod of pod set {pi} on node {}: not in the model",
                                    self.workload_names[a.workload.index()],
                                    node.0
                                ),
                            });
                        }
                        k += 1;
                    }
                }
                e.pods = Some(pods);
                sink.record(e)?;
            }
            Decision::Preempt { preemptor, victims } => {
                let by = &self.workload_names[preemptor.index()];
                for v in victims {
                    let mut e = self.record(now, EventKind::Preempted, v.workload);
                    e.by = Some(by.clone());
                    e.reason = Some(v.reason.as_str().to_string());
                    sink.record(e)?;
                }
            }
        }
        Ok(())
    }

    /// Measurement that needs the model as it was before a decision: a victim's admission time.
    fn before_decision(&mut self, now: Time, d: &Decision) {
        let Decision::Preempt { victims, .. } = d else {
            return;
        };
        for v in victims {
            let Some((_, at)) = self.model.workload(v.workload).admission() else {
                continue;
            };
            let ran_ms = i128::from((now - at).as_millis().max(0));
            let (mut cpu, mut gpu) = (0i128, 0i128);
            for (r, amount) in total_requests(&self.model, v.workload) {
                if Some(r) == self.cpu {
                    cpu += amount;
                }
                if Some(r) == self.gpu {
                    gpu += amount;
                }
            }
            self.lost_cpu += ran_ms * cpu;
            self.lost_gpu += ran_ms * gpu;
        }
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
                if a.backfilled {
                    self.backfilled_by_cq[self.model.workload(w).cq.index()] += 1;
                }
                if let Some(numa) = &mut self.numa {
                    let zones = self.model.zones();
                    numa.pods_on_topology_nodes += a
                        .placements
                        .iter()
                        .filter(|&&n| zones.has_topology(n))
                        .count() as u64;
                    numa.topology_affinity_errors += a.numa.affinity_errors.len() as u64;
                    numa.admissions_with_errors += u64::from(!a.numa.affinity_errors.is_empty());
                }
            }
            Decision::Preempt { victims, .. } => {
                for v in victims {
                    self.charge_usage(v.workload, -1);
                    self.tracks[v.workload.index()].queued_since = now;
                    let cq = self.model.workload(v.workload).cq;
                    self.preemptions_by_cq[cq.index()] += 1;
                    *self.preemptions_by_reason[cq.index()]
                        .entry(v.reason)
                        .or_default() += 1;
                    self.preemptions += 1;
                }
            }
            Decision::Inadmissible { .. } => {}
        }
    }

    /// Adds or removes a workload's total request in the usage integrals.
    fn charge_usage(&mut self, w: WorkloadId, sign: i128) {
        let cq = self.model.workload(w).cq.index();
        for (r, amount) in total_requests(&self.model, w) {
            if let Some(col) = self.reported.iter().position(|&x| x == r.index()) {
                self.cluster_use.current[col] += sign * amount;
                self.queue_use[cq].current[col] += sign * amount;
                let (u, c) = (self.cluster_use.current[col], self.capacity[col]);
                self.row.utilization[col] = if c > 0 { u as f64 / c as f64 } else { 0.0 };
            }
        }
        self.row.queue_share[cq] = dominant(&self.queue_use[cq].current, &self.capacity, 1);
    }

    fn sample(&mut self, now: Time) {
        let row = &mut self.row;
        for i in 0..row.pending.len() {
            let queue = self.model.queue(muster_core::CqId(i as u32));
            row.pending[i] = queue.pending.len() as u32;
            row.running[i] = queue.admitted.len() as u32;
        }
        self.timeline.push(Sample {
            time: now.as_secs_f64(),
            utilization: &row.utilization,
            pending: &row.pending,
            running: &row.running,
            queue_share: &row.queue_share,
        });
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
        summary.numa = self.numa.clone();
        summary.traces = self
            .scenario
            .traces
            .iter()
            .map(|t| TraceSummary {
                source: t.source.clone(),
                read: t.read,
                loaded: t.loaded,
                skipped: t.skipped.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
                notes: t.notes.clone(),
            })
            .collect();
        let (mut recorded, mut simulated) = (Vec::new(), Vec::new());
        for t in &self.tracks {
            if let Some(r) = self.scenario.workloads[t.scenario_index].recorded_wait
                && t.admitted_once
            {
                recorded.push(r.as_millis());
                simulated.push(t.waited_ms);
            }
        }
        if !recorded.is_empty() {
            summary.fidelity = Some(Fidelity {
                workloads: recorded.len() as u64,
                recorded_wait_seconds: Distribution::of_millis(&recorded),
                simulated_wait_seconds: Distribution::of_millis(&simulated),
            });
        }
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
        let mut weighted = Vec::new();
        let mut share_over_time = vec![Vec::new(); queues.len()];
        let mut keep = thin_indices(self.timeline.len(), MAX_SHARE_POINTS).peekable();
        let mut index = 0;
        self.timeline.for_each(|s| {
            if keep.next_if_eq(&index).is_some() {
                for (over_time, &share) in share_over_time.iter_mut().zip(s.queue_share) {
                    over_time.push((s.time, round6(share)));
                }
            }
            index += 1;
        });
        for (i, q) in queues.iter_mut().enumerate() {
            q.preempted = self.preemptions_by_cq[i];
            q.preemptions_by_reason = self.preemptions_by_reason[i]
                .iter()
                .map(|(r, &n)| (r.as_str().to_string(), n))
                .collect();
            for (reason, n) in &q.preemptions_by_reason {
                *summary
                    .preemptions_by_reason
                    .entry(reason.clone())
                    .or_default() += n;
            }
            q.backfilled = self.backfilled_by_cq[i];
            summary.backfilled += q.backfilled;
            q.usage_share_over_time = std::mem::take(&mut share_over_time[i]);
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
                let weight = model
                    .quota()
                    .node(model.cluster_queue(CqId(i as u32)).quota_node)
                    .weight
                    .milli();
                if weight > 0 {
                    let share = dominant(&self.queue_use[i].area, &self.capacity, makespan_ms);
                    weighted.push(share / (weight as f64 / 1000.0));
                }
            }
        }
        summary.fairness.jain = jain(&shares);
        summary.fairness.jain_weighted = jain(&weighted);
        summary.lost_to_preemption = LostWork {
            core_hours: round6(self.lost_cpu as f64 / MILLI_MS_PER_UNIT_HOUR),
            gpu_hours: round6(self.lost_gpu as f64 / MILLI_MS_PER_UNIT_HOUR),
        };
        let queue_wait_distributions = cq_names
            .iter()
            .cloned()
            .zip(queue_waits.iter().map(|w| Distribution::of_millis(w)))
            .collect();
        let queue_wait_samples = cq_names
            .iter()
            .cloned()
            .zip(queue_waits.into_iter().map(|mut w| {
                w.sort_unstable();
                w
            }))
            .collect();
        summary.cluster_queues = cq_names.into_iter().zip(queues).collect();
        Outcome {
            summary,
            timeline: self.timeline,
            queue_waits: queue_wait_distributions,
            queue_wait_samples,
            model,
            work: self.work,
            reservations: self.reservations,
        }
    }
}

/// A workload's request per resource, summed over the pods of each pod set (milli-units);
/// a resource appears once per pod set that requests it.
fn total_requests(model: &Model, w: WorkloadId) -> impl Iterator<Item = (ResourceId, i128)> + '_ {
    model.shape_of(w).pod_sets.iter().flat_map(|ps| {
        ps.request
            .iter()
            .map(move |(r, q)| (r, q.milli() * i128::from(ps.count)))
    })
}

/// The dominant share of `amounts` (per reported resource) against `capacity × span`: the
/// largest `amount / (capacity × span)` over the resources with capacity; 0 when none has or
/// `span` is not positive. With `span` 1 it is the share of an instant's allocation; with the
/// makespan in ms and integrals as amounts, the time-averaged share.
fn dominant(amounts: &[i128], capacity: &[i128], span: i64) -> f64 {
    if span <= 0 {
        return 0.0;
    }
    amounts
        .iter()
        .zip(capacity)
        .filter(|&(_, &c)| c > 0)
        .map(|(&a, &c)| a as f64 / (c as f64 * span as f64))
        .fold(0.0, f64::max)
}
