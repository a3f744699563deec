//! One controller cycle (snapshot of the objects → model → core → plan of writes) on
//! synthetic clusters: the work the leader does on every change, before any API write.
//!
//!   cargo bench -p muster-kube --bench cycle

use std::sync::Arc;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use muster_kube::snapshot::Objects;
use serde_json::json;

fn main() {
    divan::main();
}

fn arc<T: serde::de::DeserializeOwned>(v: serde_json::Value) -> Arc<T> {
    Arc::new(serde_json::from_value(v).expect("valid object"))
}

/// `nodes` 32-cpu nodes, 8 ClusterQueues sharing a cohort, and `jobs` pending Workloads of
/// 1–8 pods × 1–4 cpu, mirrored from suspended Jobs (about 1.5× the cluster's capacity).
fn objects(nodes: usize, jobs: usize) -> Objects {
    let queues = 8;
    let per_queue = (nodes * 32 / queues).to_string();
    let mut o = Objects {
        flavors: vec![arc(json!({"metadata": {"name": "default"}, "spec": {}}))],
        ..Objects::default()
    };
    for i in 0..nodes {
        o.nodes.push(arc(json!({
            "metadata": {"name": format!("node-{i:05}")},
            "status": {"allocatable": {"cpu": "32", "memory": "256Gi", "pods": "110"}}
        })));
    }
    for q in 0..queues {
        o.cluster_queues.push(arc(json!({
            "metadata": {"name": format!("team-{q}")},
            "spec": {"cohort": "all", "preemption": {"withinClusterQueue": "LowerPriority"},
                     "resourceGroups": [{"coveredResources": ["cpu"], "flavors": [
                         {"name": "default", "resources": [{"name": "cpu", "nominalQuota": per_queue}]}]}]}
        })));
        o.local_queues.push(arc(json!({
            "metadata": {"name": format!("team-{q}"), "namespace": "bench"},
            "spec": {"clusterQueue": format!("team-{q}")}
        })));
    }
    for j in 0..jobs {
        let name = format!("job-{j:06}");
        let pods = 1 + (j * 7) % 8;
        let cpu = 1 + (j * 3) % 4;
        let job = json!({
            "metadata": {"name": name, "namespace": "bench", "uid": format!("uid-{j}"),
                         "resourceVersion": "1",
                         "labels": {"muster.dev/queue-name": format!("team-{}", j % queues)}},
            "spec": {"suspend": true, "parallelism": pods, "completions": pods,
                     "template": {"spec": {"containers": [{"name": "c", "image": "x",
                         "resources": {"requests": {"cpu": cpu.to_string()}}}]}}}
        });
        let typed: k8s_openapi::api::batch::v1::Job = serde_json::from_value(job).unwrap();
        let mut w =
            serde_json::to_value(muster_kube::job::workload_for_job(&typed).unwrap()).unwrap();
        w["metadata"]["creationTimestamp"] = json!(format!(
            "2027-01-01T{:02}:{:02}:{:02}Z",
            j / 3600 % 24,
            j / 60 % 60,
            j % 60
        ));
        w["metadata"]["resourceVersion"] = json!("1");
        o.workloads.push(arc(w));
        o.jobs.push(Arc::new(typed));
    }
    o.sort();
    o
}

#[divan::bench(args = [(100, 1_000), (1_000, 2_000), (1_000, 10_000)], sample_count = 5, sample_size = 1)]
fn decide(bencher: divan::Bencher, (nodes, jobs): (usize, usize)) {
    let o = objects(nodes, jobs);
    let now = Time(jiff::Timestamp::from_second(1_830_000_000).unwrap());
    bencher.bench(|| {
        let plan = muster_kube::controller::decide(o.clone(), now.clone(), &Default::default())
            .expect("a plan");
        assert!(!plan.admissions.is_empty());
        plan
    });
}

/// The cluster of [`objects`] with no Jobs, and `pods` pending plain pods of 100m cpu (the
/// side-by-side benchmark's `pods` scenario): all of them fit at once.
fn plain_pods(nodes: usize, pods: usize) -> Objects {
    let mut o = objects(nodes, 0);
    o.scheduler_name = Some("muster".into());
    for p in 0..pods {
        o.pods.push(arc(json!({
            "metadata": {"name": format!("pod-{p:06}"), "namespace": "bench",
                         "uid": format!("uid-{p}"), "resourceVersion": "1",
                         "creationTimestamp": format!("2027-01-01T00:{:02}:{:02}Z", p / 60 % 60, p % 60),
                         "labels": {"muster.dev/queue-name": format!("team-{}", p % 8)}},
            "spec": {"schedulerName": "muster", "containers": [{"name": "c", "image": "x",
                     "resources": {"requests": {"cpu": "100m"}}}]}
        })));
    }
    o.sort();
    o
}

#[divan::bench(args = [(1_000, 1_000), (1_000, 10_000)], sample_count = 5, sample_size = 1)]
fn decide_plain_pods(bencher: divan::Bencher, (nodes, pods): (usize, usize)) {
    let o = plain_pods(nodes, pods);
    let now = Time(jiff::Timestamp::from_second(1_830_000_000).unwrap());
    bencher.bench(|| {
        let plan = muster_kube::controller::decide(o.clone(), now.clone(), &Default::default())
            .expect("a plan");
        assert_eq!(plan.binds.len(), pods, "every pod fits at once");
        plan
    });
}
