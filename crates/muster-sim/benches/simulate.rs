//! Benchmarks of the scheduler and the simulator (divan). Run with
//! `cargo bench -p muster-sim`; results and the machine they were measured on are in
//! `bench/README.md`.
//!
//! - `simulate_jobs`: a whole simulation of the synthetic scenario (see
//!   `muster_sim::synthetic`): 10,000 gang jobs of 1–16 pods on 1,000 nodes, the target being
//!   under one second; events are serialized to JSON and discarded.
//! - `simulate_jobs_with_preemption`: the same with preemption and reclaim on, smaller.
//! - `cycle`: one scheduling cycle on a saturated cluster of 1k/5k/10k nodes with a backlog
//!   of pending gangs (a cycle leaves the model as it found it, so it can be repeated).

use muster_core::{Model, Profile, Time, run_cycle};
use muster_sim::engine::Options;
use muster_sim::events::JsonLines;

fn main() {
    divan::main();
}

fn simulate(nodes: usize, jobs: usize, preemption: bool) -> u64 {
    let scenario = muster_sim::synthetic::scenario(nodes, jobs, 1, preemption);
    let mut sink = JsonLines(std::io::sink());
    let outcome = muster_sim::simulate(&scenario, &Options::default(), &mut sink, &mut |_| {})
        .expect("simulates");
    outcome.summary.finished
}

#[divan::bench(sample_count = 3, sample_size = 1)]
fn simulate_jobs(bencher: divan::Bencher) {
    bencher.bench_local(|| simulate(1_000, 10_000, false));
}

#[divan::bench(sample_count = 3, sample_size = 1)]
fn simulate_jobs_with_preemption(bencher: divan::Bencher) {
    bencher.bench_local(|| simulate(200, 2_000, true));
}

/// A model of `nodes` nodes, filled by admitting a backlog submitted at once, with the rest
/// of the backlog still pending.
fn saturated(nodes: usize) -> Model {
    let scenario = muster_sim::synthetic::scenario(nodes, nodes * 2, 2, false);
    let mut model = Model::new(&scenario.cluster).expect("valid");
    for w in &scenario.workloads {
        model.submit(&w.spec, Time::ZERO).expect("valid");
    }
    let profile = Profile::default();
    loop {
        let out = run_cycle(&mut model, Time::ZERO, &profile);
        model.apply_output(&out, Time::ZERO).expect("applies");
        if !out.changes_anything() {
            return model;
        }
    }
}

#[divan::bench(args = [1_000, 5_000, 10_000], sample_count = 10)]
fn cycle(bencher: divan::Bencher, nodes: usize) {
    let mut model = saturated(nodes);
    let profile = Profile::default();
    bencher.bench_local(|| run_cycle(&mut model, Time(1), &profile));
}
