//! The controller against a real control plane: etcd, kube-apiserver,
//! kube-controller-manager (the Job controller), kube-scheduler and kwok nodes, built from
//! the official Go modules by `tools/testenv` and started by `tools/test`.
//!
//! Without a control plane these tests say they were skipped (and fail when CI is set).

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use kube::discovery::Discovery;
use muster_api::objects::{ClusterQueue, NodeResourceTopology, Workload};
use muster_kube::agent;
use serde_json::{Value, json};
use support::*;

fn repo_file(path: &str) -> String {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(path);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

const QUEUES: &str = r#"
apiVersion: muster.dev/v1alpha1
kind: ResourceFlavor
metadata: {name: default}
spec: {nodeLabels: {pool: kwok}}
---
apiVersion: muster.dev/v1alpha1
kind: ClusterQueue
metadata: {name: team}
spec:
  resourceGroups:
  - coveredResources: [cpu]
    flavors:
    - name: default
      resources: [{name: cpu, nominalQuota: "CPU"}]
"#;

fn local_queue(ns: &str) -> String {
    format!(
        "apiVersion: muster.dev/v1alpha1\nkind: LocalQueue\nmetadata: {{name: team, namespace: {ns}}}\nspec: {{clusterQueue: team}}\n"
    )
}

/// One ClusterQueue `team` with `cpu` of quota in flavor `default` (nodes labelled
/// pool=kwok), and a LocalQueue `team` in `ns`.
async fn team_queue(env: &Env, ns: &str, cpu: &str) {
    env.apply_yaml(&QUEUES.replace("CPU", cpu)).await;
    env.apply_yaml(&local_queue(ns)).await;
}

#[test]
fn crds_are_established_and_the_api_server_rejects_an_invalid_cluster_queue() {
    let _guard = lock();
    runtime().block_on(async {
        // Connecting installs the CRDs and waits until they are Established.
        let Some(env) = Env::connect().await else {
            return;
        };
        env.reset(&[]).await;
        let api: Api<ClusterQueue> = Api::all(env.client.clone());
        let bad: ClusterQueue = serde_json::from_value(json!({
            "apiVersion": "muster.dev/v1alpha1", "kind": "ClusterQueue",
            "metadata": {"name": "invalid"},
            "spec": {
                "queueingStrategy": "Sometimes",
                "resourceGroups": [{"coveredResources": ["cpu"], "flavors": [{"name": "default",
                    "resources": [{"name": "cpu", "nominalQuota": "-4"}]}]}]
            }
        }))
        .unwrap();
        let err = api
            .create(&PostParams::default(), &bad)
            .await
            .expect_err("an invalid ClusterQueue must be rejected");
        let kube::Error::Api(status) = err else {
            panic!("expected an API error, got {err}");
        };
        assert_eq!(status.code, 422, "{status:?}");
        assert!(
            status.message.contains("spec.queueingStrategy"),
            "{}",
            status.message
        );
        assert!(
            status.message.contains("nominalQuota"),
            "a negative quota must be rejected: {}",
            status.message
        );
        let mut good = bad.clone();
        good.metadata.name = Some("valid".into());
        good.spec.queueing_strategy = Some("StrictFIFO".into());
        good.spec.resource_groups[0].flavors[0].resources[0].nominal_quota = Some(
            muster_api::objects::Qty(muster_core::Quantity::from_units(4)),
        );
        api.create(&PostParams::default(), &good)
            .await
            .expect("a valid ClusterQueue is accepted");
    });
}

#[test]
fn the_deploy_manifests_and_kubernetes_examples_apply_to_the_api_server() {
    let _guard = lock();
    runtime().block_on(async {
        let Some(env) = Env::connect().await else {
            return;
        };
        env.reset(&[]).await;
        assert_eq!(
            repo_file("deploy/crds.yaml"),
            muster_kube::crd::to_yaml().unwrap(),
            "deploy/crds.yaml is stale: regenerate it with `muster crds > deploy/crds.yaml`"
        );
        let discovery = Discovery::new(env.client.clone())
            .run()
            .await
            .expect("discovery");
        let mut applied = Vec::new();
        let files = [
            "deploy/crds.yaml",
            "deploy/controller.yaml",
            "deploy/agent.yaml",
            "examples/kubernetes/queues.yaml",
            "examples/kubernetes/job.yaml",
            "examples/kubernetes/pod.yaml",
        ];
        for file in files {
            for doc in muster_api::yaml::parse_stream(&repo_file(file)).unwrap() {
                let v: Value = muster_api::yaml::from_node(&doc.root).unwrap();
                if v.is_null() {
                    continue;
                }
                let obj: DynamicObject = serde_json::from_value(v.clone()).unwrap();
                let types = obj.types.clone().expect("apiVersion and kind");
                let gvk = kube::api::GroupVersionKind::try_from(&types).unwrap();
                let (resource, caps) = discovery
                    .resolve_gvk(&gvk)
                    .unwrap_or_else(|| panic!("{file}: the API server does not serve {gvk:?}"));
                let name = obj.metadata.name.clone().unwrap_or_default();
                let api: Api<DynamicObject> = match caps.scope {
                    kube::discovery::Scope::Namespaced => Api::namespaced_with(
                        env.client.clone(),
                        obj.metadata.namespace.as_deref().unwrap_or("default"),
                        &resource,
                    ),
                    kube::discovery::Scope::Cluster => Api::all_with(env.client.clone(), &resource),
                };
                if name.is_empty() {
                    // generateName: only a create can name it.
                    let dry = PostParams {
                        dry_run: true,
                        ..PostParams::default()
                    };
                    api.create(&dry, &obj)
                        .await
                        .unwrap_or_else(|e| panic!("{file}: {}: {e}", types.kind));
                } else {
                    let params = PatchParams::apply("muster-tests").dry_run().force();
                    api.patch(&name, &params, &Patch::Apply(&obj))
                        .await
                        .unwrap_or_else(|e| panic!("{file}: {} {name}: {e}", types.kind));
                }
                applied.push(format!("{} {name}", types.kind));
            }
        }
        for kind in [
            "CustomResourceDefinition workloads.muster.dev",
            "ClusterRole muster-controller",
            "Deployment muster-controller",
            "ClusterRole muster-agent",
            "DaemonSet muster-agent",
            "MutatingWebhookConfiguration muster-webhook",
            "ClusterQueue team",
            "Job ",
        ] {
            assert!(
                applied.iter().any(|a| a == kind),
                "{kind} not in {applied:?}"
            );
        }
    });
}

#[test]
fn a_queued_job_is_suspended_admitted_run_on_kwok_and_releases_its_quota() {
    let _guard = lock();
    runtime().block_on(async {
        let Some(env) = Env::connect().await else {
            return;
        };
        let ns = "e2e";
        env.reset(&[ns]).await;
        env.node("e2e-n1", "4", &[("pool", "kwok")]).await;
        team_queue(&env, ns, "2").await;
        let controller = Controller::start(&env, "e2e", &["--no-leader-election"]);
        env.serve(&controller, ns).await;

        // Each Job needs all of the quota: they must run one after the other.
        let j1 = env
            .create_job(&job(ns, "j1", "team", "2", 1, "3s", None))
            .await;
        let j2 = env
            .create_job(&job(ns, "j2", "team", "2", 1, "3s", None))
            .await;
        for j in [&j1, &j2] {
            assert_eq!(
                j.spec.as_ref().unwrap().suspend,
                Some(true),
                "the webhook suspends a queued Job on creation"
            );
        }
        let admitted = wait_for("job-j1 admitted", Duration::from_secs(30), || async {
            let w = env.workloads(ns).await.remove("job-j1")?;
            condition(&w, "Admitted").then_some(w)
        })
        .await;
        let admission = admitted.status.as_ref().unwrap().admission.clone().unwrap();
        assert_eq!(admission.cluster_queue, "team");
        assert_eq!(admission.pod_set_assignments[0].flavors["cpu"], "default");
        assert_eq!(admission.pod_set_assignments[0].nodes[0].name, "e2e-n1");

        // The Job runs with the flavor's node labels and pinned to the admitted node.
        let started = wait_for("j1 unsuspended", Duration::from_secs(30), || async {
            let j = env.jobs(ns).await.remove("j1")?;
            (j.spec.as_ref()?.suspend == Some(false)).then_some(j)
        })
        .await;
        let pod_spec = started.spec.unwrap().template.spec.unwrap();
        assert_eq!(pod_spec.node_selector.unwrap()["pool"], "kwok");
        let pin = serde_json::to_string(&pod_spec.affinity).unwrap();
        assert!(pin.contains("e2e-n1"), "{pin}");

        // While j1 holds the quota, j2 waits and says why.
        let waiting = env.workloads(ns).await.remove("job-j2").expect("job-j2");
        assert!(!condition(&waiting, "Admitted"));
        let j2_now = env.jobs(ns).await.remove("j2").unwrap();
        assert_eq!(j2_now.spec.unwrap().suspend, Some(true));

        // j1's pod runs on the kwok node and completes; its quota goes to j2.
        let finished = wait_for("job-j1 finished", Duration::from_secs(60), || async {
            let w = env.workloads(ns).await.remove("job-j1")?;
            condition(&w, "Finished").then_some(w)
        })
        .await;
        let j2_admitted = wait_for("job-j2 admitted", Duration::from_secs(30), || async {
            let w = env.workloads(ns).await.remove("job-j2")?;
            condition(&w, "Admitted").then_some(w)
        })
        .await;
        let at = |w: &Workload, t: &str| {
            w.status
                .as_ref()
                .unwrap()
                .conditions
                .iter()
                .find(|c| c.type_ == t)
                .unwrap()
                .last_transition_time
                .clone()
        };
        assert!(
            at(&j2_admitted, "Admitted") >= at(&finished, "Finished"),
            "j2 must be admitted only once j1 has released the quota"
        );
        let pods: Api<k8s_openapi::api::core::v1::Pod> = Api::namespaced(env.client.clone(), ns);
        let j1_pods = pods
            .list(&ListParams::default().labels("job-name=j1"))
            .await
            .unwrap();
        assert!(
            j1_pods
                .items
                .iter()
                .all(|p| p.spec.as_ref().unwrap().node_name.as_deref() == Some("e2e-n1")),
            "j1's pod ran on the kwok node"
        );
        wait_for("job-j2 finished", Duration::from_secs(60), || async {
            let w = env.workloads(ns).await.remove("job-j2")?;
            condition(&w, "Finished").then_some(())
        })
        .await;

        // Queue status and metrics.
        let cq: Api<ClusterQueue> = Api::all(env.client.clone());
        wait_for(
            "the ClusterQueue status to show no usage",
            Duration::from_secs(20),
            || async {
                let s = cq.get("team").await.ok()?.status?;
                let idle = s.admitted_workloads == 0
                    && s.pending_workloads == 0
                    && s.flavors_usage[0].resources[0].total.0.is_zero();
                idle.then_some(())
            },
        )
        .await;
        let metrics = controller.metrics().expect("metrics");
        assert!(
            metrics.contains("muster_admission_wait_time_seconds_count{cluster_queue=\"team\"} 2"),
            "{metrics}"
        );
        assert!(metrics.contains("muster_leader 1"), "{metrics}");
        let events: Api<k8s_openapi::api::events::v1::Event> =
            Api::namespaced(env.client.clone(), ns);
        let events = events.list(&ListParams::default()).await.unwrap();
        let reasons: BTreeSet<(String, String)> = events
            .items
            .iter()
            .map(|e| {
                (
                    e.regarding
                        .as_ref()
                        .and_then(|r| r.name.clone())
                        .unwrap_or_default(),
                    e.reason.clone().unwrap_or_default(),
                )
            })
            .collect();
        for want in [
            ("job-j1", "Admitted"),
            ("job-j1", "Finished"),
            ("job-j2", "Admitted"),
        ] {
            assert!(
                reasons.contains(&(want.0.to_string(), want.1.to_string())),
                "missing Event {want:?} in {reasons:?}\n{}",
                controller.log_tail()
            );
        }
    });
}

/// A decision as the tests compare them: ("Admitted" | "Preempted", workload, preemptor).
type Seen = (String, String, String);

/// What the tests observe of a Workload over time.
#[derive(Default)]
struct Watch {
    /// Decisions in the order first seen.
    events: Vec<Seen>,
    /// Each workload's admissions seen, by the time they were recorded.
    admissions: BTreeMap<String, BTreeSet<String>>,
    preempted: BTreeMap<String, BTreeSet<String>>,
}

impl Watch {
    fn observe(&mut self, workloads: &BTreeMap<String, Workload>) {
        for (name, w) in workloads {
            let Some(s) = &w.status else { continue };
            let name = name.trim_start_matches("job-").to_string();
            for c in &s.conditions {
                let at = format!("{:?}", c.last_transition_time);
                if c.type_ == "Admitted"
                    && c.status == "True"
                    && self
                        .admissions
                        .entry(name.clone())
                        .or_default()
                        .insert(at.clone())
                {
                    self.events
                        .push(("Admitted".into(), name.clone(), String::new()));
                }
                if c.type_ == "Preempted"
                    && c.status == "True"
                    && self.preempted.entry(name.clone()).or_default().insert(at)
                {
                    let by = c
                        .message
                        .split("accommodate ")
                        .nth(1)
                        .and_then(|m| m.split(' ').next())
                        .unwrap_or_default()
                        .rsplit('/')
                        .next()
                        .unwrap_or_default()
                        .trim_start_matches("job-")
                        .to_string();
                    self.events.push(("Preempted".into(), name.clone(), by));
                }
            }
        }
    }
}

#[test]
fn a_simulator_scenario_replays_with_the_same_admissions_and_preemption() {
    let _guard = lock();
    runtime().block_on(async {
        let Some(env) = Env::connect().await else {
            return;
        };
        let ns = "replay";
        env.reset(&[ns]).await;
        let file = "tests/scenarios/borrow-then-preempt.yaml";
        let text = repo_file(file);

        // What the simulator decided (its golden output, checked by the scenario tests).
        let mut expected: Vec<(f64, Vec<Seen>)> = Vec::new();
        for line in repo_file("tests/scenarios/borrow-then-preempt.events.jsonl").lines() {
            let e: Value = serde_json::from_str(line).unwrap();
            let kind = e["event"].as_str().unwrap();
            if kind != "Admitted" && kind != "Preempted" {
                continue;
            }
            let name = e["workload"]
                .as_str()
                .unwrap()
                .rsplit('/')
                .next()
                .unwrap()
                .to_string();
            let by = e["by"]
                .as_str()
                .map(|b| b.rsplit('/').next().unwrap().to_string())
                .unwrap_or_default();
            let t = e["time"].as_f64().unwrap();
            match expected.last_mut() {
                Some((last, group)) if *last == t => group.push((kind.into(), name, by)),
                _ => expected.push((t, vec![(kind.into(), name, by)])),
            }
        }

        // The same cluster, queues and jobs, on the control plane.
        let mut jobs = Vec::new();
        for doc in muster_api::yaml::parse_stream(&text).unwrap() {
            let v: Value = muster_api::yaml::from_node(&doc.root).unwrap();
            match v["kind"].as_str().unwrap() {
                "Node" => {
                    let name = v["metadata"]["name"].as_str().unwrap();
                    let cpu = v["status"]["allocatable"]["cpu"].as_str().unwrap();
                    env.node(name, cpu, &[]).await;
                }
                "Job" => jobs.push(v),
                _ => env.apply_value(v).await,
            }
        }
        let controller = Controller::start(&env, "replay", &["--no-leader-election"]);
        env.serve(&controller, ns).await;

        let start = Instant::now();
        let mut watch = Watch::default();
        for v in &jobs {
            let annotations = &v["metadata"]["annotations"];
            let after = muster_api::duration::parse_duration(
                annotations["muster.dev/sim-submit-after"].as_str().unwrap(),
            )
            .unwrap();
            let run = annotations["muster.dev/sim-duration"].as_str().unwrap();
            let pod = &v["spec"]["template"]["spec"];
            let cpu = pod["containers"][0]["resources"]["requests"]["cpu"]
                .as_str()
                .unwrap();
            let name = v["metadata"]["name"].as_str().unwrap();
            let queue = v["metadata"]["labels"]["muster.dev/queue-name"]
                .as_str()
                .unwrap();
            let due = Duration::from_millis(after.0 as u64);
            while start.elapsed() < due {
                watch.observe(&env.workloads(ns).await);
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            env.create_job(&job(
                ns,
                name,
                queue,
                cpu,
                1,
                run,
                pod["priorityClassName"].as_str(),
            ))
            .await;
        }
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let workloads = env.workloads(ns).await;
            watch.observe(&workloads);
            if workloads.len() == jobs.len() && workloads.values().all(|w| condition(w, "Finished"))
            {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the replay did not finish: {:?}\n{}",
                watch.events,
                controller.log_tail()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }

        // Same decisions, in the same order (decisions the simulator makes at one instant
        // may be seen in any order within it).
        let mut seen = watch.events.clone();
        for (t, group) in &expected {
            assert!(
                seen.len() >= group.len(),
                "at t={t} expected {group:?}, got only {seen:?}"
            );
            let mut got: Vec<_> = seen.drain(..group.len()).collect();
            let mut want = group.clone();
            got.sort();
            want.sort();
            assert_eq!(got, want, "at t={t}: all seen {:?}", watch.events);
        }
        assert!(
            seen.is_empty(),
            "more decisions than the simulator made: {seen:?}"
        );
    });
}

#[test]
fn a_controller_killed_during_a_burst_never_admits_twice_nor_exceeds_the_quota() {
    let _guard = lock();
    runtime().block_on(async {
        let Some(env) = Env::connect().await else {
            return;
        };
        let ns = "burst";
        env.reset(&[ns]).await;
        env.node("burst-n1", "4", &[("pool", "kwok")]).await;
        env.node("burst-n2", "4", &[("pool", "kwok")]).await;
        team_queue(&env, ns, "4").await;
        let port = free_port();
        let mut controller = Controller::start_on(&env, "burst-1", port, &["--no-leader-election"]);
        env.serve(&controller, ns).await;

        let jobs = 16;
        for i in 0..jobs {
            env.create_job(&job(ns, &format!("b{i:02}"), "team", "1", 1, "2s", None))
                .await;
        }
        // Watch everything while the controller is killed twice in mid-burst.
        let client = env.client.clone();
        let monitor = tokio::spawn(async move {
            let env = Env {
                client,
                kubeconfig: Default::default(),
            };
            let mut violations = Vec::new();
            let mut admissions: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
            let mut starts: BTreeMap<String, usize> = BTreeMap::new();
            let mut running_before: BTreeSet<String> = BTreeSet::new();
            let deadline = Instant::now() + Duration::from_secs(150);
            loop {
                let workloads = env.workloads(ns).await;
                let jobs_now = env.jobs(ns).await;
                let mut held = 0i64;
                for (name, w) in &workloads {
                    let Some(s) = &w.status else { continue };
                    if let Some(a) = &s.admission
                        && !condition(w, "Finished")
                    {
                        held += a.pod_set_assignments.iter().map(|p| p.count).sum::<i64>();
                    }
                    for c in &s.conditions {
                        if c.type_ == "QuotaReserved" && c.status == "True" {
                            admissions
                                .entry(name.clone())
                                .or_default()
                                .insert(format!("{:?}", c.last_transition_time));
                        }
                    }
                }
                if held > 4 {
                    violations.push(format!("{held} cpu of quota held with 4 available"));
                }
                let mut running = BTreeSet::new();
                for (name, j) in &jobs_now {
                    let done = j
                        .status
                        .as_ref()
                        .and_then(|s| s.conditions.as_ref())
                        .is_some_and(|c| {
                            c.iter().any(|c| {
                                (c.type_ == "Complete" || c.type_ == "Failed") && c.status == "True"
                            })
                        });
                    if j.spec.as_ref().and_then(|s| s.suspend) == Some(false) && !done {
                        running.insert(name.clone());
                    }
                }
                if running.len() > 4 {
                    violations.push(format!(
                        "{} Jobs running with quota for 4: {running:?}",
                        running.len()
                    ));
                }
                for name in running.difference(&running_before) {
                    *starts.entry(name.clone()).or_default() += 1;
                }
                running_before = running;
                let all_done =
                    workloads.len() == jobs && workloads.values().all(|w| condition(w, "Finished"));
                if all_done || Instant::now() > deadline {
                    return (violations, admissions, starts, all_done);
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        });
        tokio::time::sleep(Duration::from_millis(1500)).await;
        controller.kill();
        controller = Controller::start_on(&env, "burst-2", port, &["--no-leader-election"]);
        tokio::time::sleep(Duration::from_millis(3000)).await;
        controller.kill();
        controller = Controller::start_on(&env, "burst-3", port, &["--no-leader-election"]);
        let (violations, admissions, starts, all_done) = monitor.await.unwrap();
        assert!(
            all_done,
            "not every Job finished\n{}",
            controller.log_tail()
        );
        assert!(violations.is_empty(), "{violations:?}");
        assert_eq!(admissions.len(), jobs, "every Job is admitted");
        for (name, seen) in &admissions {
            assert_eq!(
                seen.len(),
                1,
                "{name} was admitted {} times: {seen:?}",
                seen.len()
            );
        }
        for (name, n) in &starts {
            assert_eq!(*n, 1, "Job {name} was started {n} times");
        }
    });
}

async fn lease_holder(env: &Env) -> Option<String> {
    let api: Api<Lease> = Api::namespaced(env.client.clone(), "muster-system");
    api.get("muster-controller")
        .await
        .ok()?
        .spec?
        .holder_identity
}

#[test]
fn two_replicas_only_the_leader_writes_and_a_killed_leader_is_replaced_within_the_lease() {
    let _guard = lock();
    runtime().block_on(async {
        let Some(env) = Env::connect().await else {
            return;
        };
        let ns = "ha";
        env.reset(&[ns]).await;
        env.node("ha-n1", "4", &[("pool", "kwok")]).await;
        team_queue(&env, ns, "4").await;
        let lease = [
            "--lease-duration",
            "6",
            "--renew-deadline",
            "4",
            "--retry-period",
            "1",
        ];
        let mut a = Controller::start(&env, "ha-a", &lease);
        let mut b = Controller::start(&env, "ha-b", &lease);
        // With failurePolicy Ignore a queued Job is still created while the webhook's replica
        // is down; the leader suspends it before it can run.
        env.register_webhook(a.webhook_port, "Ignore").await;
        a.wait_ready().await;
        b.wait_ready().await;
        let holder = wait_for("a leader", Duration::from_secs(30), || async {
            lease_holder(&env).await
        })
        .await;
        let (leader, follower) = if holder.starts_with("ha-a_") {
            (&mut a, &mut b)
        } else {
            (&mut b, &mut a)
        };
        assert!(holder.starts_with(&format!("{}_", leader.name)), "{holder}");

        env.create_job(&job(ns, "h1", "team", "1", 1, "1s", None))
            .await;
        wait_for("job-h1 admitted", Duration::from_secs(30), || async {
            let w = env.workloads(ns).await.remove("job-h1")?;
            condition(&w, "Admitted").then_some(())
        })
        .await;
        assert!(leader.metrics().unwrap().contains("muster_leader 1"));
        assert!(follower.metrics().unwrap().contains("muster_leader 0"));
        let follower_log = std::fs::read_to_string(&follower.log).unwrap();
        for write in ["writing status", "patched Job", "created Workload"] {
            assert!(
                !follower_log.contains(write),
                "the follower wrote ({write}):\n{}",
                follower.log_tail()
            );
        }
        let events: Api<k8s_openapi::api::events::v1::Event> =
            Api::namespaced(env.client.clone(), ns);
        let ours: Vec<_> = events
            .list(&ListParams::default())
            .await
            .unwrap()
            .into_iter()
            .filter(|e| {
                e.reporting_controller.as_deref() == Some(muster_kube::names::CONTROLLER_NAME)
            })
            .collect();
        assert!(!ours.is_empty(), "the leader records Events");
        for e in ours {
            assert_eq!(
                e.reporting_instance.as_deref(),
                Some(holder.as_str()),
                "an Event came from a replica that does not lead"
            );
        }

        // Kill the leader: the follower takes over once the lease expires.
        let killed = Instant::now();
        leader.kill();
        let new_holder = wait_for("a new leader", Duration::from_secs(30), || async {
            let h = lease_holder(&env).await?;
            (h != holder).then_some(h)
        })
        .await;
        let took = killed.elapsed();
        assert!(
            new_holder.starts_with(&format!("{}_", follower.name)),
            "{new_holder}"
        );
        // Lease duration 6 s, plus up to one retry period (1 s) for the follower to look.
        assert!(took <= Duration::from_secs(8), "handover took {took:?}");

        env.create_job(&job(ns, "h2", "team", "1", 1, "1s", None))
            .await;
        wait_for(
            "job-h2 admitted by the new leader",
            Duration::from_secs(30),
            || async {
                let w = env.workloads(ns).await.remove("job-h2")?;
                condition(&w, "Admitted").then_some(())
            },
        )
        .await;
        wait_for("h2 running", Duration::from_secs(30), || async {
            let j: Job = env.jobs(ns).await.remove("h2")?;
            (j.spec?.suspend == Some(false)).then_some(())
        })
        .await;
        assert!(follower.metrics().unwrap().contains("muster_leader 1"));
    });
}

const FAIR_QUEUES: &str = r#"
apiVersion: muster.dev/v1alpha1
kind: ResourceFlavor
metadata: {name: default}
spec: {nodeLabels: {pool: kwok}}
---
apiVersion: muster.dev/v1alpha1
kind: Cohort
metadata: {name: pool}
spec:
  resourceGroups:
  - coveredResources: [cpu]
    flavors: [{name: default, resources: [{name: cpu, nominalQuota: "4"}]}]
---
apiVersion: muster.dev/v1alpha1
kind: ClusterQueue
metadata: {name: fair-a}
spec:
  cohort: pool
  resourceGroups:
  - coveredResources: [cpu]
    flavors: [{name: default, resources: [{name: cpu, nominalQuota: "0"}]}]
---
apiVersion: muster.dev/v1alpha1
kind: ClusterQueue
metadata: {name: fair-b}
spec:
  cohort: pool
  preemption: {reclaimWithinCohort: Any}
  resourceGroups:
  - coveredResources: [cpu]
    flavors: [{name: default, resources: [{name: cpu, nominalQuota: "0"}]}]
---
apiVersion: muster.dev/v1alpha1
kind: LocalQueue
metadata: {name: team, namespace: fair-a}
spec: {clusterQueue: fair-a}
---
apiVersion: muster.dev/v1alpha1
kind: LocalQueue
metadata: {name: team, namespace: fair-b}
spec: {clusterQueue: fair-b}
"#;

/// Both queues borrow everything from the cohort, so only fair sharing lets b, below its
/// share, take a workload from a, above it (classical preemption would not: b would borrow;
/// without `--config` this test times out).
#[test]
fn with_fair_sharing_in_the_config_a_queue_below_its_share_preempts_one_above() {
    let _guard = lock();
    runtime().block_on(async {
        let Some(env) = Env::connect().await else {
            return;
        };
        let (na, nb) = ("fair-a", "fair-b");
        env.reset(&[na, nb]).await;
        env.node("fair-n1", "4", &[("pool", "kwok")]).await;
        env.apply_yaml(FAIR_QUEUES).await;
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("config.yaml");
        std::fs::write(
            &config,
            "apiVersion: muster.dev/v1alpha1\nkind: Configuration\nmetadata: {name: c}\n\
             spec: {fairSharing: {enable: true}}\n",
        )
        .unwrap();
        let controller = Controller::start(
            &env,
            "fair",
            &["--no-leader-election", "--config", config.to_str().unwrap()],
        );
        env.serve(&controller, na).await;
        for i in 0..4 {
            env.create_job(&job(na, &format!("a{i}"), "team", "1", 1, "600s", None))
                .await;
        }
        wait_for(
            "a's four Jobs admitted",
            Duration::from_secs(60),
            || async {
                let w = env.workloads(na).await;
                (w.len() == 4 && w.values().all(|w| condition(w, "Admitted"))).then_some(())
            },
        )
        .await;
        env.create_job(&job(nb, "b0", "team", "1", 1, "600s", None))
            .await;
        let preempted = |w: &Workload| {
            w.status.as_ref().is_some_and(|s| {
                s.conditions.iter().any(|c| {
                    c.type_ == "Preempted"
                        && c.status == "True"
                        && c.reason == "InCohortFairSharing"
                })
            })
        };
        wait_for(
            "b0 admitted after one of a's Jobs is preempted for fair sharing",
            Duration::from_secs(60),
            || async {
                let a = env.workloads(na).await;
                let b = env.workloads(nb).await;
                let victims = a.values().filter(|w| preempted(w)).count();
                (victims == 1 && b.values().any(|w| condition(w, "Admitted"))).then_some(())
            },
        )
        .await;
        drop(controller);
    });
}

/// A Guaranteed Job (limits equal to requests) of one pod.
fn guaranteed_job(namespace: &str, name: &str, cpu: &str, run: &str) -> Job {
    let mut j = job(namespace, name, "team", cpu, 1, run, None);
    let resources = json!({"requests": {"cpu": cpu, "memory": "1Gi"},
                           "limits": {"cpu": cpu, "memory": "1Gi"}});
    let spec = j.spec.as_mut().unwrap().template.spec.as_mut().unwrap();
    spec.containers[0].resources = Some(serde_json::from_value(resources).unwrap());
    j
}

#[test]
fn the_controller_admits_by_the_nodes_numa_zones_not_only_their_totals() {
    let _guard = lock();
    runtime().block_on(async {
        let Some(env) = Env::connect().await else {
            return;
        };
        let ns = "numa";
        env.reset(&[ns]).await;
        env.node("numa-n1", "8", &[("pool", "kwok")]).await;
        // Two zones of 4 cpu; the kubelet aligns whole pods to one zone.
        let zone = |name: &str| {
            json!({"name": name, "type": "Node", "resources": [
                {"name": "cpu", "capacity": "4", "allocatable": "4", "available": "4"},
                {"name": "memory", "capacity": "32Gi", "allocatable": "32Gi", "available": "32Gi"}]})
        };
        env.node_topology(json!({
            "apiVersion": "topology.node.k8s.io/v1alpha2", "kind": "NodeResourceTopology",
            "metadata": {"name": "numa-n1"},
            "attributes": [{"name": "topologyManagerPolicy", "value": "single-numa-node"},
                           {"name": "topologyManagerScope", "value": "pod"}],
            "zones": [zone("node-0"), zone("node-1")]
        }))
        .await;
        env.apply_yaml(&QUEUES.replace("[cpu]", "[cpu, memory]").replace(
            "[{name: cpu, nominalQuota: \"CPU\"}]",
            "[{name: cpu, nominalQuota: \"8\"}, {name: memory, nominalQuota: 64Gi}]",
        ))
        .await;
        env.apply_yaml(&local_queue(ns)).await;
        let controller = Controller::start(&env, "numa", &["--no-leader-election"]);
        env.serve(&controller, ns).await;
        // Two 3-cpu pods take a zone each; a 2-cpu pod then fits the node's 2 free cpu but
        // no zone (1 cpu left in each).
        env.create_job(&guaranteed_job(ns, "a", "3", "20s")).await;
        env.create_job(&guaranteed_job(ns, "b", "3", "600s")).await;
        wait_for("a and b admitted", Duration::from_secs(60), || async {
            let w = env.workloads(ns).await;
            (w.len() == 2 && w.values().all(|w| condition(w, "Admitted"))).then_some(())
        })
        .await;
        env.create_job(&guaranteed_job(ns, "c", "2", "600s")).await;
        let message = wait_for("c waits for a zone", Duration::from_secs(60), || async {
            let w = env.workloads(ns).await;
            let c = w.get("job-c")?;
            let s = c.status.as_ref()?;
            s.conditions
                .iter()
                .find(|x| x.type_ == "QuotaReserved" && x.status == "False")
                .map(|x| x.message.clone())
        })
        .await;
        assert!(
            message.contains("topology manager policy cannot align it"),
            "{message}"
        );
        // Muster bound a's and b's pods with the zones it counted them in, one zone each, for
        // the node agent to charge.
        let pods: Api<k8s_openapi::api::core::v1::Pod> = Api::namespaced(env.client.clone(), ns);
        let zones = wait_for("a's and b's pods annotated", Duration::from_secs(60), || async {
            let list = pods.list(&ListParams::default()).await.ok()?;
            let zones: BTreeSet<String> = list
                .items
                .iter()
                .filter_map(|p| {
                    let a = p.metadata.annotations.as_ref()?;
                    let z = muster_api::numa_zones::NumaZones::parse(
                        a.get(muster_api::numa_zones::NUMA_ZONES_ANNOTATION)?,
                    )
                    .ok()?;
                    assert_eq!(z.0.len(), 1, "one zone per pod: {z:?}");
                    let (zone, held) = z.0.into_iter().next()?;
                    assert_eq!(held["cpu"], muster_core::Quantity::from_units(3));
                    Some(zone)
                })
                .collect();
            (zones.len() == 2).then_some(zones)
        })
        .await;
        assert_eq!(zones, BTreeSet::from(["node-0".into(), "node-1".into()]));
        // When a ends, its zone is free again and c is admitted.
        wait_for("c admitted after a finished", Duration::from_secs(90), || async {
            let w = env.workloads(ns).await;
            w.get("job-c").filter(|c| condition(c, "Admitted")).map(|_| ())
        })
        .await;
        drop(controller);
    });
}

/// A pod bound to `node` by name (as a scheduler would bind it), which kwok runs for `run`.
fn bound_pod(
    namespace: &str,
    name: &str,
    node: &str,
    resources: Value,
    zones: Option<&str>,
    run: &str,
) -> Pod {
    let mut annotations = json!({"testenv/run-duration": run});
    if let Some(z) = zones {
        annotations[muster_api::numa_zones::NUMA_ZONES_ANNOTATION] = json!(z);
    }
    serde_json::from_value(json!({
        "metadata": {"name": name, "namespace": namespace, "annotations": annotations},
        "spec": {
            "nodeName": node,
            "restartPolicy": "Never",
            "containers": [{"name": "main", "image": "registry.k8s.io/pause:3.10",
                            "resources": resources}]
        }
    }))
    .unwrap()
}

/// Deletes every pod in `namespace` and waits until they are gone.
async fn delete_pods(env: &Env, namespace: &str) {
    let api: Api<Pod> = Api::namespaced(env.client.clone(), namespace);
    let _ = api
        .delete_collection(
            &kube::api::DeleteParams {
                grace_period_seconds: Some(0),
                ..Default::default()
            },
            &ListParams::default(),
        )
        .await;
    wait_for("old pods to go", Duration::from_secs(60), || async {
        let n = api.list(&ListParams::default()).await.ok()?.items.len();
        (n == 0).then_some(())
    })
    .await;
}

/// The agent's settings for `node` on a fixture tree, as the DaemonSet would run it on a
/// single-numa-node/pod kubelet that reserves cpus 0 and 32.
fn agent_config(node: &str, tree: &muster_kube::agent::fixture::SysfsTree) -> agent::Config {
    agent::Config {
        node_name: node.into(),
        sysfs_root: tree.sys(),
        proc_root: tree.proc(),
        devices: agent::pci::DeviceNames::default(),
        reserved: agent::reserved::Reserved::parse("0,32", &[]).unwrap(),
        policy: muster_core::numa::TopologyPolicy::SingleNumaNode,
        scope: muster_core::numa::TopologyScope::Pod,
        scheduler_name: "muster".into(),
        resync: Duration::from_secs(3600),
        metrics_addr: "127.0.0.1:0".parse().unwrap(),
    }
}

/// Zone → resource → available, for the resources named.
fn available_in(t: &NodeResourceTopology, resources: &[&str]) -> BTreeMap<String, Vec<String>> {
    t.zones
        .iter()
        .map(|z| {
            let list = resources
                .iter()
                .map(|r| {
                    z.resources
                        .iter()
                        .find(|x| x.name == *r)
                        .and_then(|x| x.available)
                        .map_or("-".into(), |q| q.0.to_string())
                })
                .collect();
            (z.name.clone(), list)
        })
        .collect()
}

fn row(values: &[&str]) -> Vec<String> {
    values.iter().map(|v| v.to_string()).collect()
}

#[test]
fn the_agent_publishes_its_nodes_zones_with_what_the_nodes_pods_hold() {
    let _guard = lock();
    runtime().block_on(async {
        let Some(env) = Env::connect().await else {
            return;
        };
        let ns = "agent";
        env.reset(&[ns]).await;
        delete_pods(&env, ns).await;
        env.node("agent-n1", "64", &[]).await;
        env.node("agent-n2", "64", &[]).await;
        let pods: Api<Pod> = Api::namespaced(env.client.clone(), ns);
        let gpus = |n: &str| json!({"cpu": "8", "memory": "32Gi", "nvidia.com/gpu": n});
        for pod in [
            // Placed by Muster on node-1: charged there.
            bound_pod(
                ns,
                "trainer",
                "agent-n1",
                json!({"requests": gpus("2"), "limits": {"nvidia.com/gpu": "2"}}),
                Some(r#"{"node-1":{"cpu":"8","memory":"32Gi","nvidia.com/gpu":"2"}}"#),
                "1h",
            ),
            // No annotation: charged to the roomiest zone (node-0: 30 cpu free to 24).
            bound_pod(
                ns,
                "etl",
                "agent-n1",
                json!({"requests": {"cpu": "4", "memory": "8Gi"}}),
                None,
                "1h",
            ),
            // Another node's pod.
            bound_pod(
                ns,
                "other",
                "agent-n2",
                json!({"requests": {"cpu": "16"}}),
                None,
                "1h",
            ),
            // Finishes at once: holds nothing.
            bound_pod(
                ns,
                "done",
                "agent-n1",
                json!({"requests": {"cpu": "16"}}),
                None,
                "1ms",
            ),
        ] {
            pods.create(&PostParams::default(), &pod)
                .await
                .expect("create pod");
        }
        wait_for("pod done to succeed", Duration::from_secs(60), || async {
            let p = pods.get("done").await.ok()?;
            (p.status?.phase.as_deref() == Some("Succeeded")).then_some(())
        })
        .await;

        let dir = tempfile::tempdir().unwrap();
        let tree = muster_kube::agent::fixture::gpu_server(dir.path());
        let config = agent_config("agent-n1", &tree);
        agent::publish_once(env.client.clone(), &config)
            .await
            .expect("publish");

        let topologies: Api<NodeResourceTopology> = Api::all(env.client.clone());
        let t = topologies.get("agent-n1").await.expect("published");
        assert_eq!(t.topology_policies, ["SingleNUMANodePodLevel"]);
        let attributes: Vec<(&str, &str)> = t
            .attributes
            .iter()
            .map(|a| (a.name.as_str(), a.value.as_str()))
            .collect();
        let node_pods: Api<k8s_openapi::api::core::v1::Pod> = Api::all(env.client.clone());
        let node_pods = node_pods
            .list(&ListParams::default().fields("spec.nodeName=agent-n1"))
            .await
            .expect("pods of agent-n1");
        let fingerprint =
            muster_api::numa_zones::pods_fingerprint(&node_pods.items, "agent-n1", "muster");
        assert_eq!(
            attributes,
            [
                ("topologyManagerPolicy", "single-numa-node"),
                ("topologyManagerScope", "pod"),
                ("musterPodsFingerprint", fingerprint.as_str()),
            ]
        );
        let zones: Vec<(&str, &str)> = t
            .zones
            .iter()
            .map(|z| (z.name.as_str(), z.zone_type.as_str()))
            .collect();
        assert_eq!(zones, [("node-0", "Node"), ("node-1", "Node")]);
        assert_eq!(
            available_in(&t, &["cpu", "memory", "nvidia.com/gpu", "rdma/hca"]),
            BTreeMap::from([
                ("node-0".to_string(), row(&["26", "238Gi", "4", "1"])),
                ("node-1".to_string(), row(&["24", "214Gi", "2", "1"])),
            ])
        );
        let cpu0 = t.zones[0]
            .resources
            .iter()
            .find(|r| r.name == "cpu")
            .unwrap();
        assert_eq!(
            (
                cpu0.capacity.unwrap().0.to_string(),
                cpu0.allocatable.unwrap().0.to_string()
            ),
            ("32".to_string(), "30".to_string()),
            "cpus 0 and 32 are reserved, both on node 0"
        );
        assert_eq!(t.zones[0].costs.len(), 2);
        // Owned by its Node, written by the agent's field manager.
        let node = Api::<k8s_openapi::api::core::v1::Node>::all(env.client.clone())
            .get("agent-n1")
            .await
            .unwrap();
        let owners = t.metadata.owner_references.clone().unwrap_or_default();
        assert_eq!(owners.len(), 1, "{owners:?}");
        assert_eq!(
            (owners[0].kind.as_str(), &owners[0].uid),
            ("Node", node.metadata.uid.as_ref().unwrap())
        );
        assert!(
            t.metadata
                .managed_fields
                .iter()
                .flatten()
                .any(|m| m.manager.as_deref() == Some(agent::publish::FIELD_MANAGER)),
            "{:?}",
            t.metadata.managed_fields
        );
        // Publishing what the object already says writes nothing.
        agent::publish_once(env.client.clone(), &config)
            .await
            .expect("publish again");
        let again = topologies.get("agent-n1").await.unwrap();
        assert_eq!(again.metadata.resource_version, t.metadata.resource_version);
        delete_pods(&env, ns).await;
    });
}

/// A `muster agent` process.
struct AgentProcess {
    child: std::process::Child,
    metrics_port: u16,
    log: std::path::PathBuf,
}

impl AgentProcess {
    fn start(env: &Env, node: &str, tree: &muster_kube::agent::fixture::SysfsTree) -> AgentProcess {
        let metrics_port = free_port();
        let dir = std::env::var_os("TESTENV_RUN_DIR")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")))
            .join("logs");
        std::fs::create_dir_all(&dir).unwrap();
        let log = dir.join(format!("agent-{node}.log"));
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_muster"))
            .arg("agent")
            .args(["--node-name", node])
            .arg(format!("--sysfs-root={}", tree.sys().display()))
            .arg(format!("--proc-root={}", tree.proc().display()))
            .args(["--topology-manager-policy", "restricted"])
            .args(["--topology-manager-scope", "container"])
            .args(["--resync-period", "1h"])
            .args(["--metrics-addr", &format!("127.0.0.1:{metrics_port}")])
            .env("KUBECONFIG", &env.kubeconfig)
            .env("RUST_LOG", "muster_kube=debug,info")
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("start muster agent");
        AgentProcess {
            child,
            metrics_port,
            log,
        }
    }

    fn log_tail(&self) -> String {
        log_tail(&self.log)
    }
}

impl Drop for AgentProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn the_agent_process_republishes_when_a_pod_of_its_node_comes_or_goes() {
    let _guard = lock();
    runtime().block_on(async {
        let Some(env) = Env::connect().await else {
            return;
        };
        let ns = "agent";
        env.reset(&[ns]).await;
        delete_pods(&env, ns).await;
        env.node("agent-n1", "64", &[]).await;
        let dir = tempfile::tempdir().unwrap();
        let tree = muster_kube::agent::fixture::cxl_server(dir.path());
        let agent = AgentProcess::start(&env, "agent-n1", &tree);
        let topologies: Api<NodeResourceTopology> = Api::all(env.client.clone());
        let cpu_and_memory = |t: &NodeResourceTopology| available_in(t, &["cpu", "memory"]);
        let empty = BTreeMap::from([
            ("node-0".to_string(), row(&["24", "128Gi"])),
            ("node-1".to_string(), row(&["24", "128Gi"])),
            ("node-2".to_string(), row(&["-", "256Gi"])),
            ("node-3".to_string(), row(&["-", "256Gi"])),
        ]);
        let first = wait_for(
            "the agent's first publish",
            Duration::from_secs(30),
            || async { topologies.get_opt("agent-n1").await.ok().flatten() },
        )
        .await;
        assert_eq!(cpu_and_memory(&first), empty, "{}", agent.log_tail());
        assert_eq!(first.topology_policies, ["RestrictedContainerLevel"]);

        // The resync period is an hour: only the pod watch can make the agent publish now.
        let pods: Api<Pod> = Api::namespaced(env.client.clone(), ns);
        let pod = bound_pod(
            ns,
            "cxl-user",
            "agent-n1",
            json!({"requests": {"cpu": "6", "memory": "100Gi"}}),
            Some(r#"{"node-1":{"cpu":"6"},"node-3":{"memory":"100Gi"}}"#),
            "1h",
        );
        pods.create(&PostParams::default(), &pod).await.unwrap();
        let mut held = empty.clone();
        held.insert("node-1".into(), row(&["18", "128Gi"]));
        held.insert("node-3".into(), row(&["-", "156Gi"]));
        wait_for(
            "the pod charged to node-1 and node-3",
            Duration::from_secs(30),
            || async {
                let t = topologies.get("agent-n1").await.ok()?;
                (cpu_and_memory(&t) == held).then_some(())
            },
        )
        .await;

        pods.delete("cxl-user", &kube::api::DeleteParams::default())
            .await
            .unwrap();
        wait_for("the pod's zones freed", Duration::from_secs(60), || async {
            let t = topologies.get("agent-n1").await.ok()?;
            (cpu_and_memory(&t) == empty).then_some(())
        })
        .await;

        // The agent counts a write once the API server has answered it, so the third write can
        // be visible in the object a moment before it is in the counter.
        let count = |metrics: &str, name: &str| -> u64 {
            metrics
                .lines()
                .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
                .unwrap_or_else(|| panic!("{name} missing from\n{metrics}"))
        };
        let metrics = wait_for(
            "the agent's counters to show three writes",
            Duration::from_secs(10),
            || async {
                let metrics = http_get(agent.metrics_port, "/metrics")?.1;
                (count(&metrics, "muster_agent_writes_total") >= 3).then_some(metrics)
            },
        )
        .await;
        assert!(
            count(&metrics, "muster_agent_resyncs_total") >= 3,
            "{metrics}"
        );
        assert_eq!(
            count(&metrics, "muster_agent_errors_total"),
            0,
            "{}",
            agent.log_tail()
        );
        assert_eq!(
            http_get(agent.metrics_port, "/healthz").map(|(c, _)| c),
            Some(200)
        );
        drop(agent);
    });
}

/// Waits until Job `name` has exactly `count` pods, all bound; returns them.
async fn all_bound(
    env: &Env,
    namespace: &str,
    name: &str,
    count: usize,
    timeout: Duration,
) -> Vec<(String, String, Option<String>)> {
    wait_for(
        &format!("all {count} pods of {name} bound"),
        timeout,
        || async {
            let pods = job_pods(env, namespace, name).await;
            (pods.len() == count && pods.iter().all(|(_, _, n)| n.is_some())).then_some(pods)
        },
    )
    .await
}

/// The pods of Job `name` in `namespace`: (pod name, scheduler, node if bound).
async fn job_pods(env: &Env, namespace: &str, name: &str) -> Vec<(String, String, Option<String>)> {
    let pods: Api<k8s_openapi::api::core::v1::Pod> = Api::namespaced(env.client.clone(), namespace);
    let list = pods
        .list(&ListParams::default().labels(&format!("job-name={name}")))
        .await
        .expect("list pods");
    let mut out: Vec<_> = list
        .items
        .into_iter()
        .map(|p| {
            let spec = p.spec.unwrap_or_default();
            (
                p.metadata.name.unwrap_or_default(),
                spec.scheduler_name.unwrap_or_default(),
                spec.node_name,
            )
        })
        .collect();
    out.sort();
    out
}

/// The planned pods per node of an admitted Workload.
fn planned_nodes(w: &Workload) -> BTreeMap<String, i64> {
    let a = w.status.as_ref().unwrap().admission.as_ref().unwrap();
    a.pod_set_assignments[0]
        .nodes
        .iter()
        .map(|n| (n.name.clone(), n.count))
        .collect()
}

/// Pods per node of `pods`, counting only bound ones.
fn bound_per_node(pods: &[(String, String, Option<String>)]) -> BTreeMap<String, i64> {
    let mut m = BTreeMap::new();
    for (_, _, node) in pods {
        if let Some(n) = node {
            *m.entry(n.clone()).or_default() += 1;
        }
    }
    m
}

/// The value of the series `name` (a metric's name, with its labels if it has any).
fn counter(metrics: &str, name: &str) -> f64 {
    metrics
        .lines()
        .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
        .unwrap_or(0.0)
}

#[test]
fn muster_binds_a_gang_whole_to_its_planned_nodes_and_leaves_other_pods_to_kube_scheduler() {
    let _guard = lock();
    runtime().block_on(async {
        let Some(env) = Env::connect().await else {
            return;
        };
        let ns = "bind";
        env.reset(&[ns]).await;
        for n in ["bind-n1", "bind-n2", "bind-n3"] {
            env.node(n, "4", &[("pool", "kwok")]).await;
        }
        team_queue(&env, ns, "100").await;
        let controller = Controller::start(&env, "bind", &["--no-leader-election"]);
        env.serve(&controller, ns).await;

        // A gang of 5 pods of 2 cpu: it needs all three nodes.
        let gang = env
            .create_job(&job(ns, "gang", "team", "2", 5, "600s", None))
            .await;
        assert_eq!(
            gang.spec
                .as_ref()
                .unwrap()
                .template
                .spec
                .as_ref()
                .unwrap()
                .scheduler_name
                .as_deref(),
            Some("muster"),
            "the webhook makes Muster the scheduler of a queued Job's pods"
        );
        // A gang that can never fit the nodes (7 pods of 2 cpu on 12 cpu) is not bound at all.
        env.create_job(&job(ns, "toobig", "team", "2", 7, "600s", None))
            .await;
        // A Job without the queue label is kube-scheduler's (the reset leaves such Jobs:
        // remove the last run's first).
        let jobs: Api<Job> = Api::namespaced(env.client.clone(), ns);
        let _ = jobs
            .delete("plain", &kube::api::DeleteParams::background())
            .await;
        wait_for(
            "the last run's Job plain gone",
            Duration::from_secs(30),
            || async { jobs.get_opt("plain").await.ok()?.is_none().then_some(()) },
        )
        .await;
        let mut plain = job(ns, "plain", "team", "100m", 1, "600s", None);
        plain.metadata.labels = None;
        env.create_job(&plain).await;

        let admitted = wait_for("job-gang admitted", Duration::from_secs(30), || async {
            let w = env.workloads(ns).await.remove("job-gang")?;
            condition(&w, "Admitted").then_some(w)
        })
        .await;
        let planned = planned_nodes(&admitted);
        assert_eq!(planned.values().sum::<i64>(), 5);
        let pods = all_bound(&env, ns, "gang", 5, Duration::from_secs(60)).await;
        assert!(pods.iter().all(|(_, s, _)| s == "muster"), "{pods:?}");
        assert_eq!(
            bound_per_node(&pods),
            planned,
            "every pod is on a node the core planned, as many as it planned there"
        );

        let plain_pods = wait_for("plain's pod scheduled", Duration::from_secs(60), || async {
            let pods = job_pods(&env, ns, "plain").await;
            (pods.len() == 1 && pods[0].2.is_some()).then_some(pods)
        })
        .await;
        assert_eq!(
            plain_pods[0].1, "default-scheduler",
            "a pod not labelled for Muster keeps kube-scheduler"
        );

        let toobig = env
            .workloads(ns)
            .await
            .remove("job-toobig")
            .expect("job-toobig");
        assert!(!condition(&toobig, "Admitted"));
        assert!(
            job_pods(&env, ns, "toobig").await.is_empty(),
            "a gang that cannot fit has no pod, bound or not"
        );
        let metrics = controller.metrics().unwrap_or_default();
        assert!(counter(&metrics, "muster_binds_total") >= 5.0, "{metrics}");
        assert_eq!(counter(&metrics, "muster_bind_failures_total"), 0.0);
        assert!(
            metrics.contains("muster_gang_bind_duration_seconds_count"),
            "{metrics}"
        );
    });
}

#[test]
fn a_controller_killed_between_two_binds_of_a_gang_completes_it_after_restart() {
    let _guard = lock();
    runtime().block_on(async {
        let Some(env) = Env::connect().await else {
            return;
        };
        let ns = "rebind";
        env.reset(&[ns]).await;
        for n in ["rebind-n1", "rebind-n2"] {
            env.node(n, "4", &[("pool", "kwok")]).await;
        }
        team_queue(&env, ns, "100").await;
        let webhook_port = free_port();
        let mut first = Controller::start_on(
            &env,
            "rebind-1",
            webhook_port,
            &["--no-leader-election", "--exit-after-binds", "2"],
        );
        env.serve(&first, ns).await;
        env.create_job(&job(ns, "gang", "team", "2", 4, "600s", None))
            .await;
        assert_eq!(
            first.wait_exit(Duration::from_secs(60)),
            Some(3),
            "the first controller stops after two binds: {}",
            first.log_tail()
        );
        let pods = job_pods(&env, ns, "gang").await;
        let bound = pods.iter().filter(|(_, _, n)| n.is_some()).count();
        assert_eq!(
            bound, 2,
            "killed between two binds: half the gang is bound {pods:?}"
        );

        // The next controller finishes the gang on the planned nodes.
        let second =
            Controller::start_on(&env, "rebind-2", webhook_port, &["--no-leader-election"]);
        second.wait_ready().await;
        let w = env
            .workloads(ns)
            .await
            .remove("job-gang")
            .expect("job-gang");
        let planned = planned_nodes(&w);
        let pods = all_bound(&env, ns, "gang", 4, Duration::from_secs(60)).await;
        assert_eq!(bound_per_node(&pods), planned, "{}", second.log_tail());
        let w = env
            .workloads(ns)
            .await
            .remove("job-gang")
            .expect("job-gang");
        assert!(condition(&w, "Admitted") && !condition(&w, "Evicted"));
    });
}

/// A plan to start `job` as read: the merge patch the controller sends, guarded by the
/// version it was read at.
fn start_plan(job: &Job) -> muster_kube::plan::Plan {
    let rv = job.metadata.resource_version.clone();
    muster_kube::plan::Plan {
        jobs: vec![muster_kube::plan::JobWrite {
            job: std::sync::Arc::new(job.clone()),
            patch: json!({"metadata": {"resourceVersion": rv}, "spec": {"suspend": false}}),
            action: "start",
            after: None,
        }],
        ..Default::default()
    }
}

#[test]
fn a_job_start_survives_a_status_or_label_change_but_not_a_spec_change() {
    let _guard = lock();
    runtime().block_on(async {
        let Some(env) = Env::connect().await else {
            return;
        };
        let ns = "job-start";
        env.reset(&[ns]).await;
        let api: Api<Job> = Api::namespaced(env.client.clone(), ns);
        let applier = muster_kube::apply::Applier::new(
            env.client.clone(),
            muster_kube::leader::Leadership::always(),
            "test",
        );
        let metrics = muster_kube::metrics::Metrics::new();
        let suspended = |j: &Job| j.spec.as_ref().and_then(|s| s.suspend) == Some(true);
        let pp = PatchParams::default();
        for name in ["touched", "changed"] {
            let mut j = job(ns, name, "team", "100m", 1, "1h", None);
            j.spec.as_mut().unwrap().suspend = Some(true);
            env.create_job(&j).await;
        }

        // The Job controller's status writes and a label move the resourceVersion, not the
        // generation: the start planned from the older version is still carried out.
        let read = api.get("touched").await.unwrap();
        api.patch(
            "touched",
            &pp,
            &Patch::Merge(json!({"metadata": {"labels": {"touched": "yes"}}})),
        )
        .await
        .unwrap();
        applier.apply(&start_plan(&read), &metrics).await;
        let now = api.get("touched").await.unwrap();
        assert!(!suspended(&now), "the start must be carried out");

        // A spec change since the plan was read (a new generation): the Job is left as is.
        let read = api.get("changed").await.unwrap();
        api.patch(
            "changed",
            &pp,
            &Patch::Merge(json!({"spec": {"activeDeadlineSeconds": 600}})),
        )
        .await
        .unwrap();
        applier.apply(&start_plan(&read), &metrics).await;
        let now = api.get("changed").await.unwrap();
        assert!(
            suspended(&now),
            "a Job whose spec changed must not be started from an old plan"
        );
        assert!(
            now.metadata.generation > read.metadata.generation,
            "the spec change moved the generation"
        );
    });
}

/// Whether an Event in `namespace` has a note containing `text`.
async fn event_says(env: &Env, namespace: &str, text: &str) -> bool {
    let events: Api<k8s_openapi::api::events::v1::Event> =
        Api::namespaced(env.client.clone(), namespace);
    events
        .list(&ListParams::default())
        .await
        .expect("list Events")
        .items
        .into_iter()
        .filter_map(|e| e.note)
        .any(|note| note.contains(text))
}

/// The value of a counter with one label, e.g. `muster_gang_replans_total{reason="X"}`.
fn labelled_counter(metrics: &str, name: &str, label: &str, value: &str) -> f64 {
    counter(metrics, &format!("{name}{{{label}=\"{value}\"}}"))
}

#[test]
fn a_gang_whose_pods_cannot_all_be_created_gives_back_its_quota_and_is_bound_once_they_can() {
    use k8s_openapi::api::core::v1::ResourceQuota;
    let _guard = lock();
    runtime().block_on(async {
        let Some(env) = Env::connect().await else {
            return;
        };
        let ns = "podsmissing";
        env.reset(&[ns]).await;
        for n in ["pm-n1", "pm-n2"] {
            env.node(n, "4", &[("pool", "kwok")]).await;
        }
        team_queue(&env, ns, "100").await;
        // The namespace may hold 2 pods: the Job controller can create only half the gang.
        let quotas: Api<ResourceQuota> = Api::namespaced(env.client.clone(), ns);
        let _ = quotas
            .delete("two-pods", &kube::api::DeleteParams::default())
            .await;
        wait_for(
            "the last run's quota gone",
            Duration::from_secs(30),
            || async {
                quotas
                    .get_opt("two-pods")
                    .await
                    .ok()?
                    .is_none()
                    .then_some(())
            },
        )
        .await;
        let quota: ResourceQuota = serde_json::from_value(json!({
            "metadata": {"name": "two-pods", "namespace": ns},
            "spec": {"hard": {"pods": "2"}}
        }))
        .unwrap();
        quotas.create(&PostParams::default(), &quota).await.unwrap();
        // Pods are refused until the quota controller has counted the namespace.
        wait_for("the quota counted", Duration::from_secs(30), || async {
            let q = quotas.get("two-pods").await.ok()?;
            q.status?.used?.contains_key("pods").then_some(())
        })
        .await;

        let controller = Controller::start(
            &env,
            "podsmissing",
            &["--no-leader-election", "--gang-pods-timeout", "3s"],
        );
        env.serve(&controller, ns).await;
        env.create_job(&job(ns, "gang", "team", "1", 4, "600s", None))
            .await;

        wait_for(
            "the gang planned again for want of pods",
            Duration::from_secs(60),
            || async {
                let m = controller.metrics()?;
                (labelled_counter(&m, "muster_gang_replans_total", "reason", "PodsMissing") >= 1.0)
                    .then_some(())
            },
        )
        .await;
        let pods = job_pods(&env, ns, "gang").await;
        assert!(
            pods.iter().all(|(_, _, node)| node.is_none()),
            "no pod of a gang short of pods is ever bound: {pods:?}\n{}",
            controller.log_tail()
        );
        assert!(
            event_says(&env, ns, "pods existed 3s after its admission").await,
            "the eviction says why on the Workload's events"
        );

        // With room for the whole gang, the next admission binds it whole.
        quotas
            .delete("two-pods", &kube::api::DeleteParams::default())
            .await
            .unwrap();
        let pods = all_bound(&env, ns, "gang", 4, Duration::from_secs(90)).await;
        let w = env
            .workloads(ns)
            .await
            .remove("job-gang")
            .expect("job-gang");
        assert_eq!(
            bound_per_node(&pods),
            planned_nodes(&w),
            "{}",
            controller.log_tail()
        );
        let metrics = controller.metrics().unwrap_or_default();
        assert_eq!(counter(&metrics, "muster_gangs_waiting_for_pods"), 0.0);
    });
}

#[test]
fn a_gang_whose_pod_a_kubelet_rejects_for_numa_alignment_is_counted_and_planned_again() {
    use k8s_openapi::api::core::v1::Node;
    let _guard = lock();
    runtime().block_on(async {
        let Some(env) = Env::connect().await else {
            return;
        };
        let ns = "tae";
        env.reset(&[ns]).await;
        // kwok rejects every pod bound to this node, as a kubelet whose Topology Manager
        // cannot align the pod's resources does (tools/testenv/kwok.yaml).
        let reject = "testenv-topology-reject";
        env.node(reject, "4", &[("pool", "kwok")]).await;
        team_queue(&env, ns, "100").await;
        let controller = Controller::start(&env, "tae", &["--no-leader-election"]);
        env.serve(&controller, ns).await;
        let mut gang = job(ns, "gang", "team", "2", 2, "600s", None);
        // Each rejected pod counts against the Job's backoff limit.
        gang.spec.as_mut().unwrap().backoff_limit = Some(50);
        env.create_job(&gang).await;

        wait_for(
            "the rejection counted and the gang planned again",
            Duration::from_secs(60),
            || async {
                let m = controller.metrics()?;
                let replans = labelled_counter(
                    &m,
                    "muster_gang_replans_total",
                    "reason",
                    "TopologyAffinityError",
                );
                (counter(&m, "muster_topology_affinity_errors_total") >= 1.0 && replans >= 1.0)
                    .then_some(())
            },
        )
        .await;
        assert!(
            event_says(
                &env,
                ns,
                "rejected by its kubelet with a Topology Affinity Error"
            )
            .await,
            "the eviction says why on the Workload's events"
        );

        // With a node that can run it, the gang planned again runs there, whole.
        let nodes: Api<Node> = Api::all(env.client.clone());
        nodes
            .delete(reject, &kube::api::DeleteParams::default())
            .await
            .unwrap();
        env.node("tae-good", "4", &[("pool", "kwok")]).await;
        wait_for(
            "the gang running on the node that can run it",
            Duration::from_secs(90),
            || async {
                let pods: Api<Pod> = Api::namespaced(env.client.clone(), ns);
                let running = pods
                    .list(&ListParams::default())
                    .await
                    .ok()?
                    .items
                    .into_iter()
                    .filter(|p| {
                        p.spec.as_ref().and_then(|s| s.node_name.as_deref()) == Some("tae-good")
                            && p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running")
                    })
                    .count();
                (running == 2).then_some(())
            },
        )
        .await;
        let w = env
            .workloads(ns)
            .await
            .remove("job-gang")
            .expect("job-gang");
        assert!(condition(&w, "Admitted"), "{}", controller.log_tail());
    });
}

const PLAIN_QUEUES: &str = r#"
apiVersion: scheduling.k8s.io/v1
kind: PriorityClass
metadata: {name: plain-low}
value: 100
---
apiVersion: scheduling.k8s.io/v1
kind: PriorityClass
metadata: {name: plain-high}
value: 1000
---
apiVersion: muster.dev/v1alpha1
kind: ResourceFlavor
metadata: {name: default}
spec: {nodeLabels: {pool: kwok}}
---
apiVersion: muster.dev/v1alpha1
kind: ClusterQueue
metadata: {name: plain}
spec:
  preemption: {withinClusterQueue: LowerPriority}
  resourceGroups:
  - coveredResources: [cpu]
    flavors:
    - name: default
      resources: [{name: cpu, nominalQuota: "4"}]
---
apiVersion: muster.dev/v1alpha1
kind: LocalQueue
metadata: {name: plain, namespace: plain}
spec: {clusterQueue: plain}
"#;

/// A pod with the queue label and no owner, as a user writes it (no scheduler named).
fn queued_pod(namespace: &str, name: &str, priority_class: &str) -> Pod {
    serde_json::from_value(json!({
        "metadata": {"name": name, "namespace": namespace,
                     "labels": {muster_kube::names::QUEUE_LABEL: "plain"},
                     "annotations": {"testenv/run-duration": "1h"}},
        "spec": {
            "priorityClassName": priority_class,
            "restartPolicy": "Never",
            "containers": [{"name": "main", "image": "registry.k8s.io/pause:3.10",
                            "resources": {"requests": {"cpu": "2"}}}]
        }
    }))
    .unwrap()
}

/// The pods of `namespace` by name: their node, and their PodScheduled condition's reason.
async fn pods_by_name(
    env: &Env,
    namespace: &str,
) -> BTreeMap<String, (Option<String>, Option<String>, Pod)> {
    let api: Api<Pod> = Api::namespaced(env.client.clone(), namespace);
    api.list(&ListParams::default())
        .await
        .expect("list pods")
        .items
        .into_iter()
        .map(|p| {
            let node = p.spec.as_ref().and_then(|s| s.node_name.clone());
            let reason = muster_kube::plain_pod::scheduled_condition(&p)
                .and_then(|c| (c.status == "False").then(|| c.reason.clone().unwrap_or_default()));
            (
                p.metadata.name.clone().unwrap_or_default(),
                (node, reason, p),
            )
        })
        .collect()
}

#[test]
fn plain_pods_are_queued_bound_with_their_admission_kept_across_a_restart_and_preempted() {
    let _guard = lock();
    runtime().block_on(async {
        let Some(env) = Env::connect().await else {
            return;
        };
        let ns = "plain";
        env.reset(&[ns]).await;
        delete_pods(&env, ns).await;
        env.node("plain-n1", "8", &[("pool", "kwok")]).await;
        env.apply_yaml(PLAIN_QUEUES).await;
        let mut controller = Controller::start(&env, "plain", &["--no-leader-election"]);
        env.serve(&controller, ns).await;
        let pods: Api<Pod> = Api::namespaced(env.client.clone(), ns);

        // The quota (4 cpu) holds two of the three pods of 2 cpu.
        for name in ["a", "b"] {
            let created = pods
                .create(&PostParams::default(), &queued_pod(ns, name, "plain-low"))
                .await
                .expect("create pod");
            assert_eq!(
                created.spec.unwrap().scheduler_name.as_deref(),
                Some("muster"),
                "the webhook makes Muster the scheduler of a queued plain pod"
            );
        }
        wait_for("a and b bound", Duration::from_secs(60), || async {
            let p = pods_by_name(&env, ns).await;
            (p.len() == 2 && p.values().all(|(node, _, _)| node.is_some())).then_some(())
        })
        .await;
        pods.create(&PostParams::default(), &queued_pod(ns, "c", "plain-low"))
            .await
            .expect("create pod");
        let seen = wait_for(
            "c waiting for quota, saying so",
            Duration::from_secs(60),
            || async {
                let p = pods_by_name(&env, ns).await;
                let (node, reason, _) = p.get("c")?;
                (node.is_none() && reason.as_deref() == Some("Pending")).then_some(p)
            },
        )
        .await;
        for name in ["a", "b"] {
            let (node, _, pod) = &seen[name];
            let admission = muster_kube::plain_pod::recorded_admission(pod)
                .unwrap_or_else(|| panic!("pod {name} has no admission: {pod:?}"));
            assert_eq!(admission.cluster_queue, "plain");
            assert_eq!(
                Some(&admission.pod_set_assignments[0].nodes[0].name),
                node.as_ref(),
                "the pod is on the node its admission records"
            );
        }
        assert!(
            muster_kube::plain_pod::scheduled_condition(&seen["c"].2)
                .and_then(|c| c.message.clone())
                .is_some_and(|m| m.contains("quota")),
            "{:?}",
            seen["c"].2.status
        );
        let cq: Api<ClusterQueue> = Api::all(env.client.clone());
        wait_for(
            "ClusterQueue plain counting 2 admitted, 1 pending",
            Duration::from_secs(30),
            || async {
                let s = cq.get("plain").await.ok()?.status?;
                (s.admitted_workloads == 2 && s.pending_workloads == 1).then_some(())
            },
        )
        .await;

        // A new controller reads the admissions back from the pods: c still waits.
        controller.kill();
        let controller = Controller::start(&env, "plain-2", &["--no-leader-election"]);
        env.serve(&controller, ns).await;
        wait_for(
            "the new controller's cycles",
            Duration::from_secs(30),
            || async {
                let m = controller.metrics()?;
                (counter(&m, "muster_cycle_duration_seconds_count") >= 2.0
                    && labelled_counter(&m, "muster_admitted_workloads", "cluster_queue", "plain")
                        == 2.0)
                    .then_some(())
            },
        )
        .await;
        let p = pods_by_name(&env, ns).await;
        assert!(p["c"].0.is_none(), "{}", controller.log_tail());

        // A pod of higher priority preempts one of them (deleted, with an Event) and is bound
        // once it is gone; c, of the same priority as the rest, still waits.
        pods.create(
            &PostParams::default(),
            &queued_pod(ns, "urgent", "plain-high"),
        )
        .await
        .expect("create pod");
        let p = wait_for("urgent bound", Duration::from_secs(90), || async {
            let p = pods_by_name(&env, ns).await;
            p.get("urgent")?.0.is_some().then_some(p)
        })
        .await;
        let left: Vec<&str> = ["a", "b"]
            .into_iter()
            .filter(|n| {
                p.get(*n)
                    .is_some_and(|(_, _, pod)| pod.metadata.deletion_timestamp.is_none())
            })
            .collect();
        assert_eq!(left.len(), 1, "one victim: {:?}", p.keys());
        assert!(p["c"].0.is_none());
        assert!(
            event_says(&env, ns, "Preempted to accommodate").await,
            "{}",
            controller.log_tail()
        );
        let m = controller.metrics().unwrap_or_default();
        assert!(
            labelled_counter(
                &m,
                "muster_preempted_workloads_total",
                "reason",
                "InClusterQueue"
            ) >= 1.0,
            "{m}"
        );
    });
}
