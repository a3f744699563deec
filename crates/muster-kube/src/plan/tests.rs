//! The controller's rules, on objects as the API server would hold them, without one.

use std::sync::Arc;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time as K8sTime;
use serde_json::{Value, json};

use super::*;
use crate::snapshot::{Objects, Snapshot};

fn now() -> K8sTime {
    K8sTime(jiff::Timestamp::from_second(1_800_000_000).unwrap())
}

fn arc<T: serde::de::DeserializeOwned>(v: Value) -> Arc<T> {
    Arc::new(serde_json::from_value(v).expect("valid object"))
}

/// One 4-cpu node, flavor `default` (label pool=a), ClusterQueue `q` with `quota` cpu,
/// LocalQueue `ns/lq`.
fn cluster(quota: &str) -> Objects {
    Objects {
        nodes: vec![arc(json!({
            "metadata": {"name": "n1", "labels": {"pool": "a"}},
            "status": {"allocatable": {"cpu": "4", "pods": "110"}}
        }))],
        flavors: vec![arc(
            json!({"metadata": {"name": "default"}, "spec": {"nodeLabels": {"pool": "a"}}}),
        )],
        cluster_queues: vec![arc(json!({
            "metadata": {"name": "q"},
            "spec": {"resourceGroups": [{"coveredResources": ["cpu"], "flavors": [
                {"name": "default", "resources": [{"name": "cpu", "nominalQuota": quota}]}]}]}
        }))],
        local_queues: vec![arc(json!({
            "metadata": {"name": "lq", "namespace": "ns"}, "spec": {"clusterQueue": "q"}
        }))],
        ..Objects::default()
    }
}

fn job(name: &str, suspended: bool, status: Value) -> Value {
    json!({
        "metadata": {"name": name, "namespace": "ns", "uid": format!("uid-{name}"),
                     "resourceVersion": "7", "labels": {"muster.dev/queue-name": "lq"}},
        "spec": {"suspend": suspended, "template": {"spec": {"containers": [
            {"name": "c", "image": "x", "resources": {"requests": {"cpu": "2"}}}]}}},
        "status": status
    })
}

/// The Workload mirroring `job(name, ..)`, with `status`.
fn workload(name: &str, status: Value) -> Value {
    let j: k8s_openapi::api::batch::v1::Job =
        serde_json::from_value(job(name, true, json!({}))).unwrap();
    let mut w = serde_json::to_value(crate::job::workload_for_job(&j).unwrap()).unwrap();
    w["metadata"]["creationTimestamp"] = json!("2027-01-15T08:00:00Z");
    w["metadata"]["resourceVersion"] = json!("3");
    w["status"] = status;
    w
}

fn admitted(at: &str) -> Value {
    json!({
        "admission": {"clusterQueue": "q", "podSetAssignments": [{
            "name": "main", "flavors": {"cpu": "default"}, "count": 1,
            "resourceUsage": {"cpu": "2"}, "nodes": [{"name": "n1", "count": 1}]}]},
        "conditions": [
            {"type": "QuotaReserved", "status": "True", "reason": "Admitted", "message": "", "lastTransitionTime": at},
            {"type": "Admitted", "status": "True", "reason": "Admitted", "message": "", "lastTransitionTime": at}
        ]
    })
}

fn run(objects: &mut Objects) -> Plan {
    objects.sort();
    crate::plain_pod::stand_in(objects);
    let mut snap = Snapshot::build(objects, &[]).expect("snapshot");
    let t = muster_core::Time(now().0.as_millisecond());
    let out = muster_core::run_cycle(&mut snap.model, t, &muster_core::Profile::default());
    plan(objects, &mut snap, &out, &now(), None)
}

fn job_actions(p: &Plan) -> Vec<(String, &'static str)> {
    p.jobs
        .iter()
        .map(|j| (j.job.metadata.name.clone().unwrap(), j.action))
        .collect()
}

#[test]
fn a_new_queued_job_gets_a_workload_and_is_kept_suspended() {
    let mut o = cluster("4");
    o.jobs = vec![arc(job("a", false, json!({})))];
    let p = run(&mut o);
    assert_eq!(p.creates.len(), 1);
    assert_eq!(p.creates[0].metadata.name.as_deref(), Some("job-a"));
    // It was created without the webhook (or before it was up): suspend it first.
    assert_eq!(job_actions(&p), [("a".to_string(), "suspend")]);
}

#[test]
fn an_admission_is_recorded_before_its_job_starts() {
    let mut o = cluster("4");
    o.jobs = vec![arc(job("a", true, json!({})))];
    o.workloads = vec![arc(workload("a", json!({})))];
    let p = run(&mut o);
    assert_eq!(p.workloads.len(), 1);
    let record = p.workloads[0]
        .status
        .admission
        .clone()
        .expect("admission recorded");
    assert_eq!(record.pod_set_assignments[0].nodes[0].name, "n1");
    assert_eq!(p.jobs.len(), 1);
    let start = &p.jobs[0];
    assert_eq!(start.action, "start");
    assert_eq!(
        start.after,
        Some(("ns".into(), "job-a".into())),
        "the Job starts only once the Workload's status is written"
    );
    assert_eq!(start.patch["spec"]["suspend"], json!(false));
    assert_eq!(
        start.patch["spec"]["template"]["spec"]["nodeSelector"]["pool"],
        json!("a")
    );
    assert_eq!(start.patch["metadata"]["resourceVersion"], json!("7"));
    assert_eq!(p.admissions.len(), 1);
}

#[test]
fn after_a_restart_a_recorded_admission_is_finished_not_repeated() {
    // Killed after writing the status, before starting the Job.
    let mut o = cluster("2");
    o.jobs = vec![
        arc(job("a", true, json!({}))),
        arc(job("b", true, json!({}))),
    ];
    o.workloads = vec![
        arc(workload("a", admitted("2027-01-15T08:00:01Z"))),
        arc(workload("b", json!({}))),
    ];
    let p = run(&mut o);
    assert_eq!(job_actions(&p), [("a".to_string(), "start")]);
    assert!(p.jobs[0].after.is_none(), "the record is already there");
    assert!(p.admissions.is_empty(), "nothing is admitted again");
    // b does not fit next to a's recorded admission: it waits, saying so.
    let b = p
        .workloads
        .iter()
        .find(|w| w.workload.metadata.name.as_deref() == Some("job-b"));
    let b = b.expect("b's pending reason is written");
    assert!(b.status.admission.is_none());
    let reserved = crate::conditions::get(&b.status.conditions, QUOTA_RESERVED).unwrap();
    assert_eq!(reserved.status, "False");
    assert!(reserved.message.contains("quota"), "{}", reserved.message);
}

#[test]
fn an_evicted_workload_keeps_its_quota_until_its_job_has_stopped() {
    let mut evicting = admitted("2027-01-15T08:00:01Z");
    evicting["conditions"].as_array_mut().unwrap().push(json!(
        {"type": "Evicted", "status": "True", "reason": "Preempted", "message": "by x",
         "lastTransitionTime": "2027-01-15T08:00:05Z"}));
    // Still running: suspend it; the quota stays held.
    let mut o = cluster("2");
    o.jobs = vec![arc(job(
        "a",
        false,
        json!({"active": 1, "startTime": "2027-01-15T08:00:02Z"}),
    ))];
    o.workloads = vec![arc(workload("a", evicting.clone()))];
    let p = run(&mut o);
    assert_eq!(job_actions(&p), [("a".to_string(), "suspend")]);
    assert!(p.workloads.iter().all(|w| w.status.admission.is_some()));
    // Suspended but its pod is still terminating: still held.
    o.jobs = vec![arc(job("a", true, json!({"active": 1})))];
    let p = run(&mut o);
    assert!(p.workloads.iter().all(|w| w.status.admission.is_some()));
    // Stopped: the quota goes back and the workload queues again.
    o.jobs = vec![arc(job("a", true, json!({"active": 0})))];
    let p = run(&mut o);
    let released = &p.workloads[0];
    assert!(released.status.admission.is_none());
    assert!(!crate::conditions::is_true(
        &released.status.conditions,
        ADMITTED
    ));
    assert!(crate::conditions::is_true(
        &released.status.conditions,
        EVICTED
    ));
}

#[test]
fn a_finished_job_releases_its_quota_to_the_next() {
    let mut o = cluster("2");
    let complete =
        json!({"conditions": [{"type": "Complete", "status": "True", "message": "done"}]});
    o.jobs = vec![
        arc(job("a", false, complete)),
        arc(job("b", true, json!({}))),
    ];
    o.workloads = vec![
        arc(workload("a", admitted("2027-01-15T08:00:01Z"))),
        arc(workload("b", json!({}))),
    ];
    let p = run(&mut o);
    let a = p
        .workloads
        .iter()
        .find(|w| w.workload.metadata.name.as_deref() == Some("job-a"))
        .unwrap();
    assert!(crate::conditions::is_true(&a.status.conditions, FINISHED));
    // a's job is done, so b gets the quota in the same cycle.
    assert_eq!(job_actions(&p), [("b".to_string(), "start")]);
}

#[test]
fn queue_statuses_count_and_sum_usage() {
    let mut o = cluster("4");
    o.jobs = vec![
        arc(job("a", false, json!({}))),
        arc(job("b", true, json!({}))),
        arc(job("c", true, json!({}))),
    ];
    o.workloads = vec![
        arc(workload("a", admitted("2027-01-15T08:00:01Z"))),
        arc(workload("b", json!({}))),
        arc(workload("c", json!({}))),
    ];
    let p = run(&mut o);
    // b is admitted now (2 + 2 of 4); c waits.
    let (_, cq) = &p.cluster_queues[0];
    assert_eq!((cq.pending_workloads, cq.admitted_workloads), (1, 2));
    assert_eq!(
        cq.flavors_usage[0].resources[0].total.0,
        muster_core::Quantity::from_units(4)
    );
    let (_, lq) = &p.local_queues[0];
    assert_eq!((lq.pending_workloads, lq.admitted_workloads), (1, 2));
    assert_eq!(p.queue_counts["q"], (1, 2));
}

#[test]
fn an_invalid_cluster_queue_is_reported_and_its_workloads_wait() {
    let mut o = cluster("4");
    o.cluster_queues = vec![arc(json!({
        "metadata": {"name": "q"},
        "spec": {"resourceGroups": [{"coveredResources": ["cpu"], "flavors": [
            {"name": "missing", "resources": [{"name": "cpu", "nominalQuota": "4"}]}]}]}
    }))];
    o.jobs = vec![arc(job("a", true, json!({})))];
    o.workloads = vec![arc(workload("a", json!({})))];
    let p = run(&mut o);
    let (_, cq) = &p.cluster_queues[0];
    let active = crate::conditions::get(&cq.conditions, ACTIVE).unwrap();
    assert_eq!(active.status, "False");
    assert!(
        active.message.contains("unknown ResourceFlavor"),
        "{}",
        active.message
    );
    let w = &p.workloads[0];
    let reserved = crate::conditions::get(&w.status.conditions, QUOTA_RESERVED).unwrap();
    assert_eq!(reserved.reason, REASON_INADMISSIBLE);
    assert!(
        reserved.message.contains("not active"),
        "{}",
        reserved.message
    );
    assert!(p.jobs.is_empty());
}

/// A queued Job of `cpu` with an optional `activeDeadlineSeconds`, and its Workload.
fn limited(name: &str, cpu: &str, deadline: Option<i64>, status: Value) -> (Value, Value) {
    let mut j = job(name, true, json!({}));
    j["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"]["cpu"] = json!(cpu);
    if let Some(d) = deadline {
        j["spec"]["activeDeadlineSeconds"] = json!(d);
    }
    let typed: k8s_openapi::api::batch::v1::Job = serde_json::from_value(j.clone()).unwrap();
    let mut w = serde_json::to_value(crate::job::workload_for_job(&typed).unwrap()).unwrap();
    w["metadata"]["creationTimestamp"] = json!("2027-01-15T08:00:00Z");
    w["metadata"]["resourceVersion"] = json!("3");
    w["status"] = status;
    (j, w)
}

#[test]
fn backfill_plans_with_active_deadlines_from_the_recorded_admission() {
    let mut o = cluster("4");
    let mut q: Value = serde_json::to_value(&*o.cluster_queues[0]).unwrap();
    q["spec"]["queueingStrategy"] = json!("Backfill");
    o.cluster_queues = vec![arc(q)];
    // Admitted a minute ago with a 10-minute deadline: it ends by now + 540 s.
    let mut running = admitted("2027-01-15T07:59:00Z");
    running["admission"]["podSetAssignments"][0]["resourceUsage"]["cpu"] = json!("2");
    let objects = [
        limited("r", "2", Some(600), running),
        limited("h", "4", None, json!({})), // the head: needs the whole node
        limited("l", "2", None, json!({})), // fits now, but never ends
        limited("s", "2", Some(300), json!({})), // fits now and ends before the head's turn
    ];
    for (j, w) in objects {
        o.jobs.push(arc(j));
        o.workloads.push(arc(w));
    }
    let p = run(&mut o);
    let started: Vec<String> = p
        .jobs
        .iter()
        .filter(|j| j.action == "start")
        .map(|j| j.job.metadata.name.clone().unwrap())
        .collect();
    // r's recorded admission is completed (its Job was still suspended); of the new ones
    // only s starts.
    assert_eq!(started, ["r", "s"]);
    let status_of = |name: &str| {
        p.workloads
            .iter()
            .find(|w| w.workload.metadata.name.as_deref() == Some(format!("job-{name}").as_str()))
            .unwrap_or_else(|| panic!("a status for job-{name}"))
    };
    let waiting = status_of("l")
        .status
        .conditions
        .iter()
        .find(|c| c.type_ == "QuotaReserved")
        .expect("QuotaReserved condition");
    assert!(
        waiting.message.starts_with("would delay ns/job-h"),
        "{}",
        waiting.message
    );
}

#[test]
fn a_workloads_job_is_found_by_name_and_uid_sorted_or_not() {
    let (j, w) = limited("a", "1", None, json!({}));
    let w: Workload = serde_json::from_value(w).unwrap();
    let mut o = cluster("4");
    let mut other = job("b", true, json!({}));
    other["metadata"]["uid"] = json!("uid-b");
    o.jobs = vec![arc(other), arc(j.clone())]; // not sorted: found by uid
    assert_eq!(
        o.job_of(&w)
            .and_then(|j| j.metadata.name.clone())
            .as_deref(),
        Some("a")
    );
    o.sort();
    assert!(o.job_of(&w).is_some());
    // A Job recreated under the same name is another Job: the Workload's is gone.
    let mut recreated = j;
    recreated["metadata"]["uid"] = json!("uid-new");
    o.jobs = vec![arc(recreated)];
    assert!(o.job_of(&w).is_none());
}

/// Node n1 with 4 GPUs in two NUMA zones (single-numa-node), a ClusterQueue with quota for
/// them, and a pending Job of 2 pods of 2 GPUs each. The node's report says zone node-0's
/// GPUs are taken (by pods of another scheduler), with `fingerprint` as its pods
/// fingerprint.
fn gpu_node_reporting(fingerprint: &str) -> Objects {
    let zone = |name: &str, available: &str| {
        json!({"name": name, "type": "Node", "resources": [
            {"name": "example.com/gpu", "capacity": "2", "allocatable": "2", "available": available}]})
    };
    let mut o = Objects {
        nodes: vec![arc(json!({
            "metadata": {"name": "n1", "labels": {"pool": "a"}},
            "status": {"allocatable": {"cpu": "8", "example.com/gpu": "4", "pods": "110"}}
        }))],
        topologies: vec![arc(json!({
            "metadata": {"name": "n1"},
            "attributes": [
                {"name": "topologyManagerPolicy", "value": "single-numa-node"},
                {"name": "topologyManagerScope", "value": "container"},
                {"name": "musterPodsFingerprint", "value": fingerprint}],
            "zones": [zone("node-0", "0"), zone("node-1", "2")]
        }))],
        flavors: vec![arc(
            json!({"metadata": {"name": "default"}, "spec": {"nodeLabels": {"pool": "a"}}}),
        )],
        cluster_queues: vec![arc(json!({
            "metadata": {"name": "q"},
            "spec": {"resourceGroups": [{"coveredResources": ["example.com/gpu"], "flavors": [
                {"name": "default", "resources": [{"name": "example.com/gpu", "nominalQuota": "4"}]}]}]}
        }))],
        local_queues: vec![arc(json!({
            "metadata": {"name": "lq", "namespace": "ns"}, "spec": {"clusterQueue": "q"}
        }))],
        scheduler_name: Some("muster".into()),
        ..Objects::default()
    };
    let mut j = job("g", true, json!({}));
    j["spec"]["parallelism"] = json!(2);
    j["spec"]["template"]["spec"]["containers"][0]["resources"] =
        json!({"requests": {"example.com/gpu": "2"}, "limits": {"example.com/gpu": "2"}});
    let jv: k8s_openapi::api::batch::v1::Job = serde_json::from_value(j.clone()).unwrap();
    let mut w = serde_json::to_value(crate::job::workload_for_job(&jv).unwrap()).unwrap();
    w["metadata"]["creationTimestamp"] = json!("2027-01-15T08:00:00Z");
    w["metadata"]["resourceVersion"] = json!("3");
    o.jobs = vec![arc(j)];
    o.workloads = vec![arc(w)];
    o
}

#[test]
fn an_up_to_date_node_report_is_taken_over_musters_own_view_of_its_zones() {
    // Muster has bound no pod to n1: the fingerprint of no pods.
    let none = muster_api::numa_zones::pods_fingerprint([], "n1", "muster");
    let p = run(&mut gpu_node_reporting(&none));
    assert!(
        p.admissions.is_empty(),
        "only zone node-1 has GPUs left: one pod of two fits, so the gang waits"
    );

    // A report that does not count the pods Muster knows of is stale: Muster's own view
    // (both zones free) decides.
    let p = run(&mut gpu_node_reporting("mpf1-0000000000000000"));
    assert_eq!(p.admissions.len(), 1, "by Muster's own view the gang fits");
}

#[test]
fn a_pod_the_node_report_counts_is_not_counted_again() {
    // Job r runs one pod of 2 GPUs on n1 (bound by Muster); the report counts it in
    // node-0 (its fingerprint names it). The pending gang g asks for one pod of 2 GPUs.
    let mut o = gpu_node_reporting("");
    let mut g = (*o.jobs[0]).clone();
    g.spec.as_mut().unwrap().parallelism = Some(1);
    o.jobs[0] = Arc::new(g);
    let mut w = (*o.workloads[0]).clone();
    w.spec.pod_sets[0].count = Some(1);
    o.workloads[0] = Arc::new(w);
    let mut r = job("r", false, json!({"active": 1}));
    r["spec"]["template"]["spec"]["containers"][0]["resources"] =
        json!({"requests": {"example.com/gpu": "2"}, "limits": {"example.com/gpu": "2"}});
    let rv: k8s_openapi::api::batch::v1::Job = serde_json::from_value(r.clone()).unwrap();
    let mut rw = serde_json::to_value(crate::job::workload_for_job(&rv).unwrap()).unwrap();
    rw["metadata"]["creationTimestamp"] = json!("2027-01-15T07:00:00Z");
    rw["metadata"]["resourceVersion"] = json!("3");
    rw["status"] = json!({
        "admission": {"clusterQueue": "q", "podSetAssignments": [{
            "name": "main", "flavors": {"example.com/gpu": "default"}, "count": 1,
            "resourceUsage": {"example.com/gpu": "2"}, "nodes": [{"name": "n1", "count": 1}]}]},
        "conditions": [
            {"type": "QuotaReserved", "status": "True", "reason": "Admitted", "message": "", "lastTransitionTime": "2027-01-15T07:00:00Z"},
            {"type": "Admitted", "status": "True", "reason": "Admitted", "message": "", "lastTransitionTime": "2027-01-15T07:00:00Z"}]
    });
    o.jobs.push(arc(r));
    o.workloads.push(arc(rw));
    let pod: Arc<k8s_openapi::api::core::v1::Pod> = arc(json!({
        "metadata": {"name": "r-0", "namespace": "ns", "uid": "pod-r-0",
                     "ownerReferences": [{"apiVersion": "batch/v1", "kind": "Job", "name": "r",
                                          "uid": "uid-r", "controller": true}]},
        "spec": {"containers": [], "schedulerName": "muster", "nodeName": "n1"},
        "status": {"phase": "Running"}
    }));
    let fingerprint = muster_api::numa_zones::pods_fingerprint([&*pod], "n1", "muster");
    o.pods = vec![pod];
    let mut t = (*o.topologies[0]).clone();
    t.attributes[2].value = fingerprint;
    o.topologies[0] = Arc::new(t);
    let p = run(&mut o);
    assert_eq!(
        p.admissions.len(),
        1,
        "r's pod is in node-0's reported usage, not also in node-1: g fits node-1"
    );
}

/// A plain pod in `ns` queued to `lq`, scheduled by Muster, of `cpu`, with `priority_class`.
fn plain_pod(name: &str, cpu: &str, priority_class: &str) -> Value {
    json!({
        "metadata": {"name": name, "namespace": "ns", "uid": format!("uid-{name}"),
                     "resourceVersion": "5", "creationTimestamp": "2027-01-15T07:00:00Z",
                     "labels": {"muster.dev/queue-name": "lq"}},
        "spec": {"schedulerName": "muster", "priorityClassName": priority_class,
                 "containers": [{"name": "c", "image": "x", "resources": {"requests": {"cpu": cpu}}}]}
    })
}

/// `pod` as Muster's bind leaves it: on `node`, with the admission the bind carried.
fn bound(mut pod: Value, bind: &crate::binding::PodBind) -> Value {
    pod["spec"]["nodeName"] = json!(bind.node);
    pod["metadata"]["annotations"] = json!({
        crate::plain_pod::ADMISSION_ANNOTATION: bind.admission.clone().expect("an admission")
    });
    pod["status"] = json!({"phase": "Running", "conditions": [
        {"type": "PodScheduled", "status": "True", "lastTransitionTime": "2027-01-15T08:00:00Z"}]});
    pod
}

/// `cluster(quota)` with Muster binding pods, PriorityClasses `low` (1) and `high` (100),
/// and preemption of lower priorities within the ClusterQueue.
fn binding_cluster(quota: &str) -> Objects {
    let mut o = cluster(quota);
    o.scheduler_name = Some("muster".into());
    o.priority_classes = vec![
        arc(json!({"metadata": {"name": "low"}, "value": 1})),
        arc(json!({"metadata": {"name": "high"}, "value": 100})),
    ];
    let mut q: Value = serde_json::to_value(&*o.cluster_queues[0]).unwrap();
    q["spec"]["preemption"] = json!({"withinClusterQueue": "LowerPriority"});
    o.cluster_queues = vec![arc(q)];
    o
}

#[test]
fn a_plain_pod_is_admitted_by_its_bind_which_records_the_admission_and_writes_no_workload() {
    let mut o = binding_cluster("4");
    o.pods = ["a", "b", "c"]
        .map(|n| arc(plain_pod(n, "2", "low")))
        .to_vec();
    let p = run(&mut o);
    assert!(p.creates.is_empty() && p.workloads.is_empty() && p.jobs.is_empty());
    let binds: Vec<&crate::binding::PodBind> = p.binds.iter().flat_map(|g| &g.pods).collect();
    assert_eq!(
        binds.iter().map(|b| b.name.as_str()).collect::<Vec<_>>(),
        ["a", "b"],
        "two pods of 2 cpu fit the quota of 4, in the order they queued (then by name)"
    );
    let record: muster_api::objects::WorkloadAdmission =
        serde_json::from_str(binds[0].admission.as_deref().unwrap()).unwrap();
    assert_eq!(record.cluster_queue, "q");
    assert_eq!(record.pod_set_assignments[0].flavors["cpu"], "default");
    assert_eq!(record.pod_set_assignments[0].nodes[0].name, "n1");
    assert_eq!(binds[0].uid.as_deref(), Some("uid-a"));
    assert_eq!(p.admissions.len(), 2);
    let waiting: Vec<_> = p
        .pods_waiting
        .iter()
        .map(|w| (w.pod.metadata.name.clone().unwrap(), w.reason))
        .collect();
    assert_eq!(waiting, [("c".to_string(), REASON_PENDING)]);
    assert!(
        p.pods_waiting[0].message.contains("quota"),
        "{}",
        p.pods_waiting[0].message
    );
    assert_eq!(p.queue_counts["q"], (1, 2));

    // The next cycle (or a restarted controller) reads the admissions back from the pods:
    // nothing is bound twice, and the third pod still waits, without a second write.
    let mut again = binding_cluster("4");
    let c_waiting = {
        let mut c = plain_pod("c", "2", "low");
        c["status"] = json!({"conditions": [{"type": "PodScheduled", "status": "False",
            "reason": p.pods_waiting[0].reason, "message": p.pods_waiting[0].message}]});
        c
    };
    again.pods = vec![
        arc(bound(plain_pod("a", "2", "low"), binds[0])),
        arc(bound(plain_pod("b", "2", "low"), binds[1])),
        arc(c_waiting),
    ];
    let p2 = run(&mut again);
    assert!(p2.binds.is_empty(), "{:?}", p2.binds);
    assert!(p2.pods_waiting.is_empty(), "{:?}", p2.pods_waiting);
    assert_eq!(p2.queue_counts["q"], (1, 2));
}

#[test]
fn a_plain_pod_is_preempted_by_deleting_it_and_a_finished_one_frees_its_quota() {
    let mut first = binding_cluster("4");
    first.pods = vec![
        arc(plain_pod("a", "2", "low")),
        arc(plain_pod("b", "2", "low")),
    ];
    let p = run(&mut first);
    let binds: Vec<crate::binding::PodBind> = p.binds.iter().flat_map(|g| g.pods.clone()).collect();
    assert_eq!(binds.len(), 2);

    let mut o = binding_cluster("4");
    o.pods = vec![
        arc(bound(plain_pod("a", "2", "low"), &binds[0])),
        arc(bound(plain_pod("b", "2", "low"), &binds[1])),
        arc(plain_pod("urgent", "2", "high")),
    ];
    let p = run(&mut o);
    assert!(
        p.binds.is_empty(),
        "the preemptor waits for its victim to go"
    );
    assert_eq!(p.pod_deletes.len(), 1);
    assert_eq!(p.pod_deletes[0].reason, REASON_PREEMPTED);
    assert!(
        p.pod_deletes[0].message.contains("urgent"),
        "{}",
        p.pod_deletes[0].message
    );
    assert_eq!(p.preemptions.len(), 1);
    assert!(p.workloads.is_empty() && p.jobs.is_empty());
    let waiting: Vec<_> = p
        .pods_waiting
        .iter()
        .map(|w| (w.pod.metadata.name.clone().unwrap(), w.reason))
        .collect();
    assert_eq!(
        waiting,
        [("urgent".to_string(), REASON_PREEMPTING)],
        "the preemptor's claim is written, once"
    );

    // The victim finished (or is gone): the preemptor is bound in its place.
    let victim = p.pod_deletes[0].pod.metadata.name.clone().unwrap();
    let mut o = binding_cluster("4");
    let mut pods = vec![arc(plain_pod("urgent", "2", "high"))];
    for b in &binds {
        let mut pod = bound(plain_pod(&b.name, "2", "low"), b);
        if b.name == victim {
            pod["status"]["phase"] = json!("Failed");
        }
        pods.push(arc(pod));
    }
    o.pods = pods;
    let p = run(&mut o);
    let names: Vec<&str> = p
        .binds
        .iter()
        .flat_map(|g| &g.pods)
        .map(|b| b.name.as_str())
        .collect();
    assert_eq!(names, ["urgent"]);
}

#[test]
fn a_plain_pod_for_a_queue_that_does_not_exist_says_so_in_its_condition() {
    let mut o = binding_cluster("4");
    let mut pod = plain_pod("lost", "2", "low");
    pod["metadata"]["labels"]["muster.dev/queue-name"] = json!("nope");
    o.pods = vec![arc(pod)];
    let p = run(&mut o);
    assert!(p.binds.is_empty());
    assert_eq!(p.pods_waiting.len(), 1);
    assert_eq!(p.pods_waiting[0].reason, REASON_INADMISSIBLE);
    assert!(
        p.pods_waiting[0].message.contains("nope"),
        "{}",
        p.pods_waiting[0].message
    );
    assert!(
        p.workloads.is_empty(),
        "a stand-in Workload is never written"
    );
}

#[test]
fn a_plain_pod_that_can_never_fit_is_written_once_a_cycle_with_the_reason() {
    let mut o = binding_cluster("4");
    o.pods = vec![arc(plain_pod("huge", "6", "low"))];
    let p = run(&mut o);
    assert!(p.binds.is_empty());
    let waiting: Vec<_> = p
        .pods_waiting
        .iter()
        .map(|w| (w.pod.metadata.name.clone().unwrap(), w.reason))
        .collect();
    assert_eq!(waiting, [("huge".to_string(), REASON_INADMISSIBLE)]);
}
