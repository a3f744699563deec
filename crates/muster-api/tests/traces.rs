//! Trace loaders on extracts of the real logs (tests/traces/, provenance in its README).

use std::path::{Path, PathBuf};

use muster_api::Scenario;
use muster_api::trace::{TraceFormat, TraceSource, load};
use muster_core::Quantity;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/traces")
        .join(name)
}

#[test]
fn the_sdsc_extract_maps_its_queues_and_skips_jobs_without_a_run_time() {
    let source = TraceSource {
        format: TraceFormat::Swf,
        path: fixture("SDSC-BLUE-2000-4.2-cln.first400.swf"),
    };
    let mut s = Scenario::default();
    let r = load(&source, None, &mut s).expect("loads");
    assert_eq!((r.read, r.loaded), (400, 377));
    assert_eq!(r.skipped.get("no run time"), Some(&23));
    // The header's cluster: 144 nodes of 8 cpu.
    assert_eq!(s.cluster.nodes.len(), 144);
    assert_eq!(
        s.cluster.nodes[0].allocatable["cpu"],
        Quantity::from_units(8)
    );
    // The header names the queues the jobs use.
    let count = |q: &str| {
        s.workloads
            .iter()
            .filter(|w| w.spec.cluster_queue == q)
            .count()
    };
    assert_eq!(
        [
            count("interactive"),
            count("express"),
            count("high"),
            count("normal"),
            count("low")
        ],
        [104, 19, 36, 203, 15]
    );
    // Job 9: 256 processors are 32 pods of one 8-cpu node each, submitted first.
    let w = &s.workloads[0];
    assert_eq!(w.spec.name, "job-9");
    assert_eq!(w.spec.pod_sets.len(), 1);
    assert_eq!(w.spec.pod_sets[0].count, 32);
    assert_eq!(w.submit_after.as_millis(), 0);
    assert_eq!(w.duration.as_millis(), 50_866_000);
    assert_eq!(
        w.spec.runtime_limit.map(|d| d.as_millis()),
        Some(64_800_000)
    );
    assert_eq!(w.recorded_wait.map(|d| d.as_millis()), Some(13_000));
}

#[test]
fn the_gzip_log_streams_whole() {
    let source: TraceSource = format!("swf:{}", fixture("KTH-SP2-1996-2.1-cln.swf.gz").display())
        .parse()
        .unwrap();
    let mut s = Scenario::default();
    let r = load(&source, None, &mut s).expect("loads");
    assert_eq!((r.read, r.loaded), (27_992, 27_992));
    assert!(r.skipped.is_empty());
    assert_eq!(s.cluster.nodes.len(), 100);
}

#[test]
fn the_itp_extract_becomes_gpu_gangs_in_one_queue_per_cluster() {
    let source: TraceSource = format!("itp:{}", fixture("itp-cluster10.first100.csv").display())
        .parse()
        .unwrap();
    let shape = muster_api::trace::NodeShape {
        count: 4,
        cpu: Quantity::from_units(32),
        gpu: Some(Quantity::from_units(8)),
        ..Default::default()
    };
    let mut s = Scenario::default();
    let r = load(&source, Some(&shape), &mut s).expect("loads");
    assert_eq!((r.read, r.loaded), (100, 100));
    let q = &s.cluster.cluster_queues[0];
    assert_eq!(q.name, "itp-cluster10-first100");
    // Sizes 1 (72 jobs), 2 (22), 4 (4) and 16 (2): the 16-GPU jobs are two 8-GPU pods.
    let gpus = |w: &muster_api::ScenarioWorkload| -> i128 {
        w.spec
            .pod_sets
            .iter()
            .map(|p| p.request["nvidia.com/gpu"].milli() / 1000 * i128::from(p.count))
            .sum()
    };
    let sixteen: Vec<_> = s.workloads.iter().filter(|w| gpus(w) == 16).collect();
    assert_eq!(sixteen.len(), 2);
    assert_eq!(sixteen[0].spec.pod_sets[0].count, 2);
    assert_eq!(s.workloads.iter().filter(|w| gpus(w) == 1).count(), 72);
    // GPU-hours are the log's: sum(duration × num_gpu) / 3600.
    let hours: f64 = s
        .workloads
        .iter()
        .map(|w| w.duration.as_millis() as f64 / 3.6e6 * gpus(w) as f64)
        .sum();
    assert!((hours - 724.224).abs() < 0.01, "{hours}");
    assert_eq!(s.workloads[0].submit_after.as_millis(), 0);
}

#[test]
fn the_alibaba_extract_reads_its_node_list_beside_the_pods() {
    let source: TraceSource = format!(
        "alibaba-openb:{}",
        fixture("alibaba-openb/openb_pod_list_default.first200.csv").display()
    )
    .parse()
    .unwrap();
    let mut s = Scenario::default();
    let r = load(&source, None, &mut s).expect("loads");
    assert_eq!((r.read, r.loaded), (200, 185));
    assert_eq!(
        r.skipped.get("never scheduled (Pending in the trace)"),
        Some(&15)
    );
    // The whole node list: 1,523 nodes, 6,212 GPUs.
    assert_eq!(s.cluster.nodes.len(), 1523);
    let gpus: i128 = s
        .cluster
        .nodes
        .iter()
        .filter_map(|n| n.allocatable.get("nvidia.com/gpu"))
        .map(|q| q.milli() / 1000)
        .sum();
    assert_eq!(gpus, 6212);
    // 60 pods share a GPU: their fraction is kept as alibaba.com/gpu-milli.
    let shared = s
        .workloads
        .iter()
        .filter(|w| {
            let r = &w.spec.pod_sets[0].request;
            r.contains_key("alibaba.com/gpu-milli") && !r.contains_key("nvidia.com/gpu")
        })
        .count();
    assert_eq!(shared, 60);
    assert_eq!(s.workloads[0].spec.name, "openb-pod-0000");
}

#[test]
fn local_queues_in_yaml_map_trace_queues_to_cluster_queues() {
    let yaml =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/traces/sdsc-two-tiers.yaml");
    let mut s = muster_api::load_scenario(&[yaml]).expect("the example loads");
    let source = TraceSource {
        format: TraceFormat::Swf,
        path: fixture("SDSC-BLUE-2000-4.2-cln.first400.swf"),
    };
    let r = load(&source, None, &mut s).expect("loads");
    assert_eq!(r.loaded, 377);
    let count = |q: &str| {
        s.workloads
            .iter()
            .filter(|w| w.spec.cluster_queue == q)
            .count()
    };
    // interactive 104 + express 19; high 36 + normal 203 + low 15.
    assert_eq!((count("short"), count("batch")), (123, 254));
    // No ClusterQueue of its own for a mapped queue; the jobs keep their queue's namespace.
    let names: Vec<&str> = s
        .cluster
        .cluster_queues
        .iter()
        .map(|q| q.name.as_str())
        .collect();
    assert_eq!(names, ["short", "batch"]);
    let first = &s.workloads[0].spec;
    assert_eq!(
        (
            first.name.as_str(),
            first.namespace.as_str(),
            first.cluster_queue.as_str()
        ),
        ("job-9", "low", "batch")
    );
    assert!(
        r.notes.iter().any(|n| n.contains("normal → batch")),
        "{:?}",
        r.notes
    );
}
