//! Cycle behaviour, one rule per test, through the public model API.

use crate::decision::{Decision, PendingReason};
use crate::model::Model;
use crate::spec::{ReclaimWithinCohort as Reclaim, WithinClusterQueue as Within};
use crate::testing::*;
use crate::time::Time;
use crate::{WorkloadId, WorkloadKey};

fn t(s: i64) -> Time {
    Time(s * 1000)
}

fn submit(m: &mut Model, w: WorkloadBuilder, at: i64) -> WorkloadId {
    m.submit(&w.build(), t(at)).expect("submit")
}

fn step(m: &mut Model, at: i64) -> Vec<String> {
    let d = settle(m, t(at));
    describe(m, &d)
}

fn id(m: &Model, name: &str) -> WorkloadId {
    m.workload_id(&WorkloadKey {
        namespace: "ns".into(),
        name: name.into(),
    })
    .expect("workload exists")
}

/// One CPU-only queue without a cohort over the given nodes.
fn single_queue(nodes: &[(&str, &str)], nominal: &str) -> ClusterBuilder {
    let mut c = cluster().flavor("default", &[]);
    for (name, cpu) in nodes {
        c = c.node(name, &[("cpu", cpu)]);
    }
    c.queue(cq("q").group(group(vec![("default", vec![quota("cpu", nominal)])])))
}

#[test]
fn admits_a_gang_packing_the_fullest_nodes() {
    let mut m = single_queue(&[("n1", "8"), ("n2", "8"), ("n3", "4")], "100").build();
    submit(&mut m, workload("a").queue("q").pods(3).cpu("2"), 0);
    // 2 cpu on the 4-cpu node scores 50, on an 8-cpu node 25: n3, n3, then n1 (tie n1/n2).
    assert_eq!(step(&mut m, 0), ["admit ns/a [default] n3,n3,n1"]);
}

#[test]
fn quota_alone_is_not_enough_fragmented_nodes_keep_a_gang_pending() {
    let mut m = single_queue(&[("n1", "4"), ("n2", "4")], "8").build();
    submit(&mut m, workload("small").queue("q").pods(2).cpu("1"), 0);
    assert_eq!(step(&mut m, 0), ["admit ns/small [default] n1,n1"]);
    // 6 cpus of quota and 6 free cpus remain, but no node has 3 free.
    submit(&mut m, workload("big").queue("q").pods(2).cpu("3"), 1);
    assert!(step(&mut m, 1).is_empty());
    let big = id(&m, "big");
    assert!(
        matches!(m.workload(big).reason, PendingReason::NodesFull(ref f) if f.placed == Some(1) && f.count == 2),
        "{:?}",
        m.workload(big).reason
    );
    assert!(
        m.explain(big).contains("only 1 of its 2 pods fit"),
        "{}",
        m.explain(big)
    );
    m.finish(id(&m, "small")).unwrap();
    assert_eq!(step(&mut m, 2), ["admit ns/big [default] n1,n2"]);
}

#[test]
fn a_gang_that_could_never_fit_is_inadmissible_once() {
    let mut m = single_queue(&[("n1", "4"), ("n2", "4")], "100").build();
    submit(&mut m, workload("huge-pod").queue("q").cpu("5"), 0);
    submit(&mut m, workload("too-many").queue("q").pods(3).cpu("3"), 0);
    submit(
        &mut m,
        workload("over-quota").queue("q").pods(1).cpu("200"),
        0,
    );
    let d = step(&mut m, 0);
    assert_eq!(
        d,
        [
            "inadmissible ns/huge-pod",
            "inadmissible ns/too-many",
            "inadmissible ns/over-quota"
        ]
    );
    assert!(
        m.explain(id(&m, "huge-pod"))
            .contains("none of its 1 pods fits")
    );
    assert!(
        m.explain(id(&m, "too-many"))
            .contains("only 2 of its 3 pods fit")
    );
    assert!(
        m.explain(id(&m, "over-quota"))
            .contains("can reach at most 100"),
        "{}",
        m.explain(id(&m, "over-quota"))
    );
    // Reported once: later cycles stay silent and leave them pending.
    assert!(step(&mut m, 5).is_empty());
    assert!(m.workload(id(&m, "huge-pod")).is_pending());
}

#[test]
fn resource_not_covered_by_the_queue_is_inadmissible() {
    let mut m = cluster()
        .flavor("default", &[])
        .node("n1", &[("cpu", "8"), ("memory", "8Gi")])
        .queue(cq("q").group(group(vec![("default", vec![quota("cpu", "8")])])))
        .build();
    submit(
        &mut m,
        workload("a").queue("q").cpu("1").request("memory", "1Gi"),
        0,
    );
    submit(
        &mut m,
        workload("b")
            .queue("q")
            .cpu("1")
            .request("example.com/fpga", "1"),
        0,
    );
    assert_eq!(step(&mut m, 0), ["inadmissible ns/a", "inadmissible ns/b"]);
    assert!(m.explain(id(&m, "a")).contains("memory is not covered"));
    assert!(
        m.explain(id(&m, "b"))
            .contains("example.com/fpga exists on no node")
    );
}

fn two_teams(
    a_quota: crate::spec::ResourceQuotaSpec,
    b_quota: crate::spec::ResourceQuotaSpec,
) -> ClusterBuilder {
    cluster()
        .flavor("default", &[])
        .nodes("n", 4, &[], &[("cpu", "4")])
        .queue(
            cq("a")
                .cohort("c")
                .group(group(vec![("default", vec![a_quota])])),
        )
        .queue(
            cq("b")
                .cohort("c")
                .group(group(vec![("default", vec![b_quota])])),
        )
}

#[test]
fn borrowing_uses_what_the_cohort_does_not() {
    let mut m = two_teams(quota("cpu", "8"), quota("cpu", "8")).build();
    submit(&mut m, workload("a1").queue("a").pods(3).cpu("4"), 0);
    assert_eq!(
        step(&mut m, 0),
        ["admit ns/a1 [default] n-0,n-1,n-2 borrowing"]
    );
    // b can still get 4 of its 8: the rest is lent out.
    submit(&mut m, workload("b1").queue("b").pods(2).cpu("4"), 1);
    assert!(step(&mut m, 1).is_empty());
    assert!(matches!(
        m.workload(id(&m, "b1")).reason,
        PendingReason::InsufficientQuota { .. }
    ));
}

#[test]
fn borrowing_limit_caps_borrowing() {
    let mut m = two_teams(quota("cpu", "8").borrowing("2"), quota("cpu", "8")).build();
    submit(&mut m, workload("a1").queue("a").pods(2).cpu("4"), 0);
    submit(&mut m, workload("a2").queue("a").pods(1).cpu("3"), 0);
    submit(&mut m, workload("a3").queue("a").pods(1).cpu("2"), 0);
    submit(&mut m, workload("a-never").queue("a").pods(3).cpu("4"), 0);
    // 8 + 3 > 8 + 2: a2 waits; a3 (BestEffortFIFO) takes the 2 it may borrow. 12 > 10 can
    // never be admitted.
    assert_eq!(
        step(&mut m, 0),
        [
            "inadmissible ns/a-never",
            "admit ns/a1 [default] n-0,n-1",
            "admit ns/a3 [default] n-2 borrowing",
        ]
    );
    let reason = m.explain(id(&m, "a2"));
    assert!(
        reason.contains("needs 3 cpu in flavor default but a can get 0"),
        "{reason}"
    );
    assert!(
        m.explain(id(&m, "a-never"))
            .contains("can reach at most 10")
    );
}

#[test]
fn lending_limit_keeps_part_of_the_quota_home() {
    let mut m = two_teams(quota("cpu", "8").lending("4"), quota("cpu", "8")).build();
    // b may borrow at most the 4 that a lends: 12 of 16 cpus, never 16.
    submit(&mut m, workload("b-all").queue("b").pods(4).cpu("4"), 0);
    assert_eq!(step(&mut m, 0), ["inadmissible ns/b-all"]);
    submit(&mut m, workload("b2").queue("b").pods(3).cpu("4"), 1);
    assert_eq!(
        step(&mut m, 1),
        ["admit ns/b2 [default] n-0,n-1,n-2 borrowing"]
    );
    // a's guaranteed 4 stays available to a.
    submit(&mut m, workload("a1").queue("a").pods(1).cpu("4"), 2);
    assert_eq!(step(&mut m, 2), ["admit ns/a1 [default] n-3"]);
}

#[test]
fn strict_fifo_blocks_behind_its_head_best_effort_does_not() {
    for (strict, expected) in [
        (true, vec![]),
        (false, vec!["admit ns/small [default] n-1"]),
    ] {
        let mut queue = cq("q").group(group(vec![("default", vec![quota("cpu", "8")])]));
        if strict {
            queue = queue.strict_fifo();
        }
        let mut m = cluster()
            .flavor("default", &[])
            .nodes("n", 2, &[], &[("cpu", "4")])
            .queue(queue)
            .build();
        submit(&mut m, workload("first").queue("q").cpu("4"), 0);
        assert_eq!(step(&mut m, 0), ["admit ns/first [default] n-0"]);
        submit(&mut m, workload("head").queue("q").pods(2).cpu("4"), 1);
        submit(&mut m, workload("small").queue("q").cpu("1"), 2);
        assert_eq!(step(&mut m, 2), expected, "strict={strict}");
        if strict {
            assert_eq!(
                m.explain(id(&m, "small")),
                "StrictFIFO: waiting behind ns/head"
            );
        }
    }
}

#[test]
fn strict_fifo_does_not_block_behind_an_inadmissible_head() {
    let mut m = cluster()
        .flavor("default", &[])
        .nodes("n", 2, &[], &[("cpu", "4")])
        .queue(
            cq("q")
                .strict_fifo()
                .group(group(vec![("default", vec![quota("cpu", "8")])])),
        )
        .build();
    submit(&mut m, workload("never").queue("q").cpu("16"), 0);
    submit(&mut m, workload("ok").queue("q").cpu("1"), 1);
    assert_eq!(
        step(&mut m, 1),
        ["inadmissible ns/never", "admit ns/ok [default] n-0"]
    );
}

#[test]
fn higher_priority_goes_first_then_submission_then_name() {
    let mut m = single_queue(&[("n1", "4")], "4").build();
    submit(
        &mut m,
        workload("late-high").queue("q").cpu("4").priority(10),
        5,
    );
    submit(&mut m, workload("b-early").queue("q").cpu("4"), 1);
    submit(&mut m, workload("a-early").queue("q").cpu("4"), 1);
    submit(&mut m, workload("first").queue("q").cpu("4"), 0);
    assert_eq!(step(&mut m, 5), ["admit ns/late-high [default] n1"]);
    for next in ["first", "a-early", "b-early"] {
        let running = m
            .queue(crate::CqId(0))
            .admitted
            .iter()
            .next()
            .copied()
            .unwrap();
        m.finish(running).unwrap();
        assert_eq!(step(&mut m, 10), [format!("admit ns/{next} [default] n1")]);
    }
}

#[test]
fn across_queues_workloads_within_nominal_go_before_borrowers() {
    let mut m = cluster()
        .flavor("default", &[])
        .nodes("n", 2, &[], &[("cpu", "4")])
        .queue(
            cq("a")
                .cohort("c")
                .group(group(vec![("default", vec![quota("cpu", "0")])])),
        )
        .queue(
            cq("b")
                .cohort("c")
                .group(group(vec![("default", vec![quota("cpu", "8")])])),
        )
        .build();
    // a's workload would borrow; b's is within nominal and wins though lower priority.
    submit(
        &mut m,
        workload("a-borrower")
            .queue("a")
            .pods(2)
            .cpu("4")
            .priority(100),
        0,
    );
    submit(&mut m, workload("b-nominal").queue("b").pods(2).cpu("4"), 0);
    assert_eq!(step(&mut m, 0), ["admit ns/b-nominal [default] n-0,n-1"]);
}

#[test]
fn preempts_lower_priority_in_the_queue_with_a_minimal_victim_set() {
    let mut m = cluster()
        .flavor("default", &[])
        .nodes("n", 2, &[], &[("cpu", "4")])
        .queue(
            cq("q")
                .group(group(vec![("default", vec![quota("cpu", "8")])]))
                .preemption(Within::LowerPriority, Reclaim::Never),
        )
        .build();
    submit(
        &mut m,
        workload("low-big").queue("q").cpu("4").priority(1),
        0,
    );
    submit(
        &mut m,
        workload("low-small-1").queue("q").cpu("2").priority(0),
        0,
    );
    assert_eq!(
        step(&mut m, 0),
        [
            "admit ns/low-big [default] n-0",
            "admit ns/low-small-1 [default] n-1"
        ]
    );
    submit(
        &mut m,
        workload("low-small-2").queue("q").cpu("2").priority(0),
        1,
    );
    assert_eq!(step(&mut m, 1), ["admit ns/low-small-2 [default] n-1"]);
    // Needs one whole node: candidates in order low-small-2 (newest), low-small-1, low-big.
    // Removing the two small ones frees n-1; low-big is never touched.
    submit(&mut m, workload("high").queue("q").cpu("4").priority(10), 2);
    assert_eq!(
        step(&mut m, 2),
        [
            "preempt ns/low-small-2 by ns/high InClusterQueue; preempt ns/low-small-1 by ns/high InClusterQueue",
            "admit ns/high [default] n-1",
        ]
    );
    let victim = m.workload(id(&m, "low-small-1"));
    assert!(victim.is_pending());
    assert_eq!(
        victim.queue_ts,
        t(2),
        "a victim requeues at its eviction time"
    );
}

#[test]
fn fill_back_returns_victims_that_were_not_needed() {
    let mut m = cluster()
        .flavor("default", &[])
        .node("n1", &[("cpu", "8")])
        .queue(
            cq("q")
                .group(group(vec![("default", vec![quota("cpu", "8")])]))
                .preemption(Within::LowerPriority, Reclaim::Never),
        )
        .build();
    // Admitted in order a (2), b (4), c (2); candidates are tried newest first: c, b, a.
    submit(&mut m, workload("a").queue("q").cpu("2"), 0);
    step(&mut m, 0);
    submit(&mut m, workload("b").queue("q").cpu("4"), 1);
    step(&mut m, 1);
    submit(&mut m, workload("c").queue("q").cpu("2"), 2);
    step(&mut m, 2);
    // p needs 4: removing c frees 2 (not enough), removing b frees 6 (fits). Giving c back
    // leaves 4 free: still fits, so c is spared.
    submit(&mut m, workload("p").queue("q").cpu("4").priority(5), 3);
    assert_eq!(
        step(&mut m, 3),
        [
            "preempt ns/b by ns/p InClusterQueue",
            "admit ns/p [default] n1"
        ]
    );
    assert!(m.workload(id(&m, "c")).is_admitted());
}

#[test]
fn lower_or_newer_equal_priority_preempts_only_newer_equals() {
    for (within, expected) in [
        (Within::LowerPriority, vec![]),
        (
            Within::LowerOrNewerEqualPriority,
            vec![
                "preempt ns/newer by ns/older InClusterQueue".to_string(),
                "admit ns/older [default] n1".to_string(),
            ],
        ),
    ] {
        let mut m = cluster()
            .flavor("default", &[])
            .node("n1", &[("cpu", "4")])
            .queue(
                cq("q")
                    .group(group(vec![("default", vec![quota("cpu", "4")])]))
                    .preemption(within, Reclaim::Never),
            )
            .build();
        submit(&mut m, workload("blocker").queue("q").cpu("2"), 0);
        step(&mut m, 0);
        // "older" (4 cpu) does not fit behind the blocker; "newer" (2 cpu) does and runs.
        submit(&mut m, workload("older").queue("q").cpu("4"), 3);
        step(&mut m, 3);
        submit(&mut m, workload("newer").queue("q").cpu("2"), 10);
        assert_eq!(step(&mut m, 10), ["admit ns/newer [default] n1"]);
        m.finish(id(&m, "blocker")).unwrap();
        assert_eq!(step(&mut m, 11), expected, "{within:?}");
    }
}

#[test]
fn reclaim_within_cohort_never_vs_any() {
    for (reclaim, expected) in [
        (Reclaim::Never, vec![]),
        (
            Reclaim::Any,
            vec![
                "preempt ns/b-big by ns/a1 InCohortReclamation".to_string(),
                "admit ns/a1 [default] n-0,n-1".to_string(),
            ],
        ),
    ] {
        let mut m = cluster()
            .flavor("default", &[])
            .nodes("n", 4, &[], &[("cpu", "4")])
            .queue(
                cq("a")
                    .cohort("c")
                    .group(group(vec![("default", vec![quota("cpu", "8")])]))
                    .preemption(Within::Never, reclaim),
            )
            .queue(
                cq("b")
                    .cohort("c")
                    .group(group(vec![("default", vec![quota("cpu", "8")])])),
            )
            .build();
        submit(
            &mut m,
            workload("b-big").queue("b").pods(4).cpu("4").priority(100),
            0,
        );
        assert_eq!(
            step(&mut m, 0),
            ["admit ns/b-big [default] n-0,n-1,n-2,n-3 borrowing"]
        );
        submit(&mut m, workload("a1").queue("a").pods(2).cpu("4"), 1);
        assert_eq!(step(&mut m, 1), expected, "{reclaim:?}");
    }
}

#[test]
fn reclaim_lower_priority_spares_higher_priority_borrowers() {
    let mut m = cluster()
        .flavor("default", &[])
        .nodes("n", 4, &[], &[("cpu", "4")])
        .queue(
            cq("a")
                .cohort("c")
                .group(group(vec![("default", vec![quota("cpu", "8")])]))
                .preemption(Within::Never, Reclaim::LowerPriority),
        )
        .queue(
            cq("b")
                .cohort("c")
                .group(group(vec![("default", vec![quota("cpu", "8")])])),
        )
        .build();
    submit(
        &mut m,
        workload("b-high").queue("b").pods(2).cpu("4").priority(100),
        0,
    );
    submit(
        &mut m,
        workload("b-low").queue("b").pods(2).cpu("4").priority(0),
        0,
    );
    step(&mut m, 0);
    submit(
        &mut m,
        workload("a1").queue("a").pods(2).cpu("4").priority(50),
        1,
    );
    let d = step(&mut m, 1);
    assert_eq!(
        d,
        [
            "preempt ns/b-low by ns/a1 InCohortReclamation",
            "admit ns/a1 [default] n-2,n-3",
        ]
    );
}

#[test]
fn nominal_flavors_are_tried_before_borrowing_a_preferred_one() {
    let mut m = cluster()
        .flavor("a100", &[("gpu", "a100")])
        .flavor("h100", &[("gpu", "h100")])
        .nodes("a100", 2, &[("gpu", "a100")], &[("nvidia.com/gpu", "8")])
        .nodes("h100", 2, &[("gpu", "h100")], &[("nvidia.com/gpu", "8")])
        .queue(cq("team").cohort("c").group(group(vec![
            ("a100", vec![quota("nvidia.com/gpu", "8")]),
            ("h100", vec![quota("nvidia.com/gpu", "8")]),
        ])))
        .queue(cq("other").cohort("c").group(group(vec![
            ("a100", vec![quota("nvidia.com/gpu", "8")]),
            ("h100", vec![quota("nvidia.com/gpu", "8")]),
        ])))
        .build();
    submit(&mut m, workload("w1").queue("team").gpu("8"), 0);
    submit(&mut m, workload("w2").queue("team").gpu("8"), 0);
    submit(&mut m, workload("w3").queue("team").gpu("8"), 0);
    assert_eq!(
        step(&mut m, 0),
        [
            "admit ns/w1 [a100] a100-0",
            "admit ns/w2 [h100] h100-0",
            "admit ns/w3 [a100] a100-1 borrowing",
        ]
    );
}

#[test]
fn flavor_nodes_taints_and_selectors_decide_where_pods_go() {
    let mut m = cluster()
        .tainted_flavor("gpu", &[("pool", "gpu")], "dedicated", "gpu")
        .flavor("cpu", &[("pool", "cpu")])
        .nodes("cpu", 1, &[("pool", "cpu")], &[("cpu", "16")])
        .nodes("gpu", 1, &[("pool", "gpu")], &[("cpu", "16")])
        .taint("dedicated", "gpu")
        .queue(cq("q").group(group(vec![
            ("cpu", vec![quota("cpu", "8")]),
            ("gpu", vec![quota("cpu", "16")]),
        ])))
        .build();
    // The gpu flavor's nodes are tainted; its toleration comes with the flavor.
    submit(&mut m, workload("w1").queue("q").cpu("8"), 0);
    submit(&mut m, workload("w2").queue("q").cpu("8"), 0);
    // A pod set selecting pool=cpu can only take the cpu flavor.
    submit(
        &mut m,
        workload("w3").queue("q").cpu("1").selector("pool", "cpu"),
        0,
    );
    assert_eq!(
        step(&mut m, 0),
        ["admit ns/w1 [cpu] cpu-0", "admit ns/w2 [gpu] gpu-0"]
    );
    assert!(matches!(
        m.workload(id(&m, "w3")).reason,
        PendingReason::InsufficientQuota { .. }
    ));
}

#[test]
fn pod_sets_of_one_workload_form_one_gang_with_their_own_flavors() {
    let mut m = cluster()
        .flavor("cpu", &[("pool", "cpu")])
        .flavor("gpu", &[("pool", "gpu")])
        .nodes("c", 1, &[("pool", "cpu")], &[("cpu", "8")])
        .nodes(
            "g",
            2,
            &[("pool", "gpu")],
            &[("cpu", "8"), ("nvidia.com/gpu", "4")],
        )
        .queue(
            cq("q")
                .group(group(vec![
                    ("cpu", vec![quota("cpu", "8")]),
                    ("gpu", vec![quota("cpu", "16")]),
                ]))
                .group(group(vec![("gpu", vec![quota("nvidia.com/gpu", "8")])])),
        )
        .build();
    let launcher_and_workers = workload("mpi")
        .queue("q")
        .cpu("1")
        .selector("pool", "cpu")
        .pod_set("worker", 2)
        .cpu("4")
        .gpu("4");
    submit(&mut m, launcher_and_workers, 0);
    let d = settle(&mut m, t(0));
    let Decision::Admit(a) = &d[0] else {
        panic!("{d:?}")
    };
    let flavors = m.admission_flavors(a);
    assert_eq!(flavors[0]["cpu"], "cpu");
    assert_eq!(flavors[1]["cpu"], "gpu");
    assert_eq!(flavors[1]["nvidia.com/gpu"], "gpu");
    assert_eq!(describe(&m, &d), ["admit ns/mpi [cpu gpu+gpu] c-0,g-0,g-1"]);
    // Whole or nothing: a second such gang does not fit (workers), so nothing of it runs.
    let second = workload("mpi2")
        .queue("q")
        .cpu("1")
        .pod_set("worker", 2)
        .cpu("4")
        .gpu("4");
    submit(&mut m, second, 1);
    assert!(step(&mut m, 1).is_empty());
}

#[test]
fn hierarchical_cohorts_lend_through_their_parents() {
    let mut m = cluster()
        .flavor("default", &[])
        .nodes("n", 4, &[], &[("cpu", "4")])
        .cohort(
            "org",
            None,
            vec![group(vec![("default", vec![quota("cpu", "8")])])],
        )
        .cohort("dept", Some("org"), vec![])
        .queue(
            cq("a")
                .cohort("dept")
                .group(group(vec![("default", vec![quota("cpu", "4")])])),
        )
        .queue(
            cq("b")
                .cohort("org")
                .group(group(vec![("default", vec![quota("cpu", "4")])])),
        )
        .build();
    // a reaches its 4, b's 4 and the org's own 8.
    submit(&mut m, workload("a1").queue("a").pods(4).cpu("4"), 0);
    assert_eq!(
        step(&mut m, 0),
        ["admit ns/a1 [default] n-0,n-1,n-2,n-3 borrowing"]
    );
    assert!(crate::invariants::check(&m).is_ok());
}

#[test]
fn cycle_output_is_deterministic_and_leaves_the_model_unchanged() {
    let build = || {
        let mut m = two_teams(quota("cpu", "8"), quota("cpu", "8")).build();
        for i in 0..6 {
            let q = if i % 2 == 0 { "a" } else { "b" };
            submit(
                &mut m,
                workload(&format!("w{i}")).queue(q).pods(1 + i % 3).cpu("2"),
                0,
            );
        }
        m
    };
    let mut m1 = build();
    let before = m1.usage().clone();
    let o1 = crate::run_cycle(&mut m1, t(0), &crate::Profile::default());
    let o2 = crate::run_cycle(&mut build(), t(0), &crate::Profile::default());
    assert_eq!(o1, o2);
    assert_eq!(
        m1.usage(),
        &before,
        "a cycle leaves the usage as it found it"
    );
    // The same decisions again; the shapes' verdicts are remembered, so screening places
    // nothing the second time.
    let mut again = crate::run_cycle(&mut m1, t(0), &crate::Profile::default());
    assert!(again.counters.placements < o1.counters.placements);
    again.counters = o1.counters;
    assert_eq!(o1, again);
}

#[test]
fn best_effort_stops_after_the_failure_bound() {
    use crate::cycle::MAX_FAILED_ATTEMPTS_PER_QUEUE;
    let mut m = single_queue(&[("n1", "4")], "1000").build();
    submit(&mut m, workload("running").queue("q").cpu("4"), 0);
    step(&mut m, 0);
    // Distinct shapes so the memo does not answer: each needs a different amount.
    for i in 0..MAX_FAILED_ATTEMPTS_PER_QUEUE {
        submit(
            &mut m,
            workload(&format!("big{i:03}"))
                .queue("q")
                .cpu(&format!("{}m", 1000 + i)),
            1,
        );
    }
    submit(&mut m, workload("zz-fits-nothing").queue("q").cpu("1"), 2);
    let out = crate::run_cycle(&mut m, t(2), &crate::Profile::default());
    let tried: Vec<WorkloadId> = out
        .pending
        .iter()
        .filter(|(_, r)| *r != PendingReason::NotTried)
        .map(|(w, _)| *w)
        .collect();
    assert_eq!(tried.len(), MAX_FAILED_ATTEMPTS_PER_QUEUE);
    assert!(!tried.contains(&id(&m, "zz-fits-nothing")));
    // The next one is told why it was not tried.
    let zz = id(&m, "zz-fits-nothing");
    assert!(out.pending.contains(&(zz, PendingReason::NotTried)));
    m.apply_output(&out, t(2)).unwrap();
    assert!(m.explain(zz).starts_with("not tried"), "{}", m.explain(zz));
}

// ---- shells that stop victims over time (Kubernetes) -------------------------------------

fn one_cycle(m: &mut Model, at: i64) -> crate::decision::CycleOutput {
    crate::cycle::run_cycle(m, t(at), &crate::cycle::Profile::default())
}

/// What the Kubernetes shell does with a cycle's output: admissions and reasons apply at
/// once, but victims only start stopping (their pods hold their room until they are gone).
fn apply_like_kube(m: &mut Model, out: &crate::decision::CycleOutput, at: i64) -> Vec<String> {
    let text = describe(m, &out.decisions);
    for d in &out.decisions {
        match d {
            Decision::Preempt { preemptor, victims } => {
                for v in victims {
                    m.mark_evicting(v.workload).unwrap();
                }
                m.nominate(*preemptor).unwrap();
            }
            other => m.apply(other, t(at)).unwrap(),
        }
    }
    text
}

fn preempting_queue(cpu: &str) -> Model {
    cluster()
        .flavor("default", &[])
        .node("n1", &[("cpu", cpu)])
        .queue(
            cq("q")
                .group(group(vec![("default", vec![quota("cpu", "100")])]))
                .preemption(Within::LowerPriority, Reclaim::Never),
        )
        .build()
}

#[test]
fn victims_still_stopping_are_waited_for_not_preempted_again() {
    let mut m = preempting_queue("4");
    submit(&mut m, workload("low-a").queue("q").cpu("2"), 0);
    submit(&mut m, workload("low-b").queue("q").cpu("2"), 1);
    let out = one_cycle(&mut m, 1);
    apply_like_kube(&mut m, &out, 1);
    submit(&mut m, workload("high").queue("q").cpu("2").priority(10), 2);
    let out = one_cycle(&mut m, 2);
    assert_eq!(
        apply_like_kube(&mut m, &out, 2),
        ["preempt ns/low-a by ns/high InClusterQueue"]
    );
    // The victim is still running: the next cycles wait for it instead of taking low-b too.
    for at in 3..6 {
        let out = one_cycle(&mut m, at);
        assert_eq!(
            out.decisions,
            [Decision::Preempt {
                preemptor: id(&m, "high"),
                victims: vec![]
            }],
            "cycle at {at}"
        );
        assert!(
            out.pending
                .contains(&(id(&m, "high"), PendingReason::Preempting))
        );
    }
    assert!(m.workload(id(&m, "low-b")).is_admitted());
    // Once it is gone, the preemptor gets its room.
    m.finish(id(&m, "low-a")).unwrap();
    let out = one_cycle(&mut m, 6);
    assert_eq!(
        apply_like_kube(&mut m, &out, 6),
        ["admit ns/high [default] n1"]
    );
    crate::invariants::check(&m).unwrap();
}

#[test]
fn a_bigger_preemptor_adds_victims_on_top_of_evictions_in_progress() {
    let mut m = preempting_queue("6");
    for (i, name) in ["low-a", "low-b", "low-c"].iter().enumerate() {
        submit(&mut m, workload(name).queue("q").cpu("2"), i as i64);
    }
    let out = one_cycle(&mut m, 3);
    apply_like_kube(&mut m, &out, 3);
    // low-a is being stopped (its preemptor has since gone away).
    m.mark_evicting(id(&m, "low-a")).unwrap();
    // A higher workload needing 4 cpus counts low-a's 2 as gone: it takes one more victim,
    // not two, and the evicting low-a is never a victim again.
    submit(&mut m, workload("top").queue("q").cpu("4").priority(10), 5);
    let out = one_cycle(&mut m, 5);
    let text = describe(&m, &out.decisions);
    assert!(
        text.iter().all(|d| !d.contains("low-a")),
        "an evicting workload was chosen again: {text:?}"
    );
    let victims: usize = out
        .decisions
        .iter()
        .map(|d| match d {
            Decision::Preempt { victims, .. } => victims.len(),
            _ => 0,
        })
        .sum();
    assert_eq!(victims, 1, "{text:?}");
}

#[test]
fn a_recorded_admission_is_restored_with_its_flavors_and_nodes() {
    let mut m = single_queue(&[("n1", "4"), ("n2", "4")], "6").build();
    let a = submit(&mut m, workload("a").queue("q").pods(3).cpu("1"), 0);
    let record = crate::model::RecordedPodSet {
        flavors: [("cpu".to_string(), "default".to_string())].into(),
        nodes: vec![("n2".into(), 2), ("gone".into(), 1)],
        reported: Default::default(),
    };
    m.restore_admission(a, &[record], t(0)).unwrap();
    assert!(m.workload(a).is_admitted());
    let cpu = m.resources().id("cpu").unwrap();
    assert_eq!(m.allocated(m.node_id("n2").unwrap(), cpu), q("2"));
    assert_eq!(m.allocated(m.node_id("n1").unwrap(), cpu), q("0"));
    // The pod of the lost node still holds quota: 3 of 6 are left, so 4 more do not fit.
    submit(&mut m, workload("b").queue("q").pods(4).cpu("1"), 1);
    assert!(step(&mut m, 1).is_empty());
    submit(&mut m, workload("c").queue("q").pods(3).cpu("1"), 1);
    assert_eq!(step(&mut m, 1), ["admit ns/c [default] n2,n2,n1"]);

    let d = submit(&mut m, workload("d").queue("q").cpu("1"), 2);
    let wrong = crate::model::RecordedPodSet {
        flavors: [("cpu".to_string(), "h100".to_string())].into(),
        nodes: vec![("n1".into(), 1)],
        reported: Default::default(),
    };
    let err = m.restore_admission(d, &[wrong], t(2)).unwrap_err();
    assert!(err.to_string().contains("no longer offers"), "{err}");
    assert!(m.workload(d).is_pending());
}

#[test]
fn each_preemptor_waits_only_for_its_own_victims() {
    // Two queues on separate nodes, each preempting for its own high-priority workload.
    let queue = |name: &str, flavor: &str| {
        cq(name)
            .group(group(vec![(flavor, vec![quota("cpu", "100")])]))
            .preemption(Within::LowerPriority, Reclaim::Never)
    };
    let mut m = cluster()
        .flavor("fa", &[("pool", "a")])
        .flavor("fb", &[("pool", "b")])
        .node("na", &[("cpu", "4")])
        .labels(&[("pool", "a")])
        .node("nb", &[("cpu", "4")])
        .labels(&[("pool", "b")])
        .queue(queue("qa", "fa"))
        .queue(queue("qb", "fb"))
        .build();
    submit(&mut m, workload("low-a").queue("qa").cpu("4"), 0);
    submit(&mut m, workload("low-b").queue("qb").cpu("4"), 0);
    let out = one_cycle(&mut m, 0);
    apply_like_kube(&mut m, &out, 0);
    submit(
        &mut m,
        workload("high-a").queue("qa").cpu("4").priority(10),
        1,
    );
    submit(
        &mut m,
        workload("high-b").queue("qb").cpu("4").priority(10),
        1,
    );
    let out = one_cycle(&mut m, 1);
    assert_eq!(
        apply_like_kube(&mut m, &out, 1),
        [
            "preempt ns/low-a by ns/high-a InClusterQueue",
            "preempt ns/low-b by ns/high-b InClusterQueue"
        ]
    );
    // Both victims are still stopping: neither preemptor may start, and neither takes the
    // other's room.
    let out = one_cycle(&mut m, 2);
    assert!(
        out.decisions
            .iter()
            .all(|d| matches!(d, Decision::Preempt { victims, .. } if victims.is_empty())),
        "{:?}",
        describe(&m, &out.decisions)
    );
    assert_eq!(out.decisions.len(), 2, "both wait, each for its own victim");
    // One victim stops: only its preemptor starts.
    m.finish(id(&m, "low-b")).unwrap();
    let out = one_cycle(&mut m, 3);
    let admitted: Vec<String> = describe(&m, &out.decisions)
        .into_iter()
        .filter(|d| d.starts_with("admit"))
        .collect();
    assert_eq!(admitted, ["admit ns/high-b [fb] nb"]);
}

// ---- backfill -----------------------------------------------------------------------------

/// One Backfill queue owning 8 cpu on a 16-cpu node: quota, not nodes, is what is short.
fn backfill_queue() -> Model {
    cluster()
        .flavor("default", &[])
        .node("n1", &[("cpu", "16")])
        .queue(
            cq("q")
                .backfill()
                .group(group(vec![("default", vec![quota("cpu", "8")])])),
        )
        .build()
}

#[test]
fn backfill_reserves_quota_and_admits_only_what_ends_by_then_or_leaves_it_alone() {
    let mut m = backfill_queue();
    submit(
        &mut m,
        workload("running").queue("q").cpu("6").limit_secs(100),
        0,
    );
    assert_eq!(step(&mut m, 0), ["admit ns/running [default] n1"]);
    // 7 cpu do not fit beside 6 of 8: the head reserves the quota from t=100.
    submit(
        &mut m,
        workload("head").queue("q").cpu("7").limit_secs(50),
        1,
    );
    let out = one_cycle(&mut m, 1);
    let head = id(&m, "head");
    assert_eq!(out.reservations, vec![(head, t(100))]);
    m.apply_output(&out, t(1)).unwrap();
    // 2 cpu fit now, but running to t=1002 they would leave the head 6 of 8 at t=100.
    submit(
        &mut m,
        workload("long").queue("q").cpu("2").limit_secs(1000),
        2,
    );
    assert!(step(&mut m, 2).is_empty());
    assert_eq!(
        m.workload(id(&m, "long")).reason,
        PendingReason::DelaysReservation { head, at: t(100) }
    );
    assert!(m.explain(id(&m, "long")).starts_with("would delay ns/head"));
    // Ending exactly at the reservation is allowed.
    submit(
        &mut m,
        workload("short").queue("q").cpu("2").limit_secs(97),
        3,
    );
    let out = one_cycle(&mut m, 3);
    let admitted: Vec<_> = out
        .decisions
        .iter()
        .filter_map(|d| match d {
            Decision::Admit(a) => Some((a.workload, a.backfilled)),
            _ => None,
        })
        .collect();
    assert_eq!(admitted, vec![(id(&m, "short"), true)]);
}

#[test]
fn backfill_admits_beside_the_reservation_what_does_not_touch_it() {
    let mut m = backfill_queue();
    submit(
        &mut m,
        workload("running").queue("q").cpu("6").limit_secs(100),
        0,
    );
    step(&mut m, 0);
    // A 5-cpu head leaves 3 of 8 at t=100: a 2-cpu job that runs long fits beside it.
    submit(&mut m, workload("head").queue("q").cpu("5"), 1);
    submit(
        &mut m,
        workload("long").queue("q").cpu("2").limit_secs(1000),
        1,
    );
    assert_eq!(step(&mut m, 1), ["admit ns/long [default] n1"]);
}

#[test]
fn a_head_that_waits_on_a_workload_without_a_limit_reserves_nothing() {
    let mut m = backfill_queue();
    submit(&mut m, workload("forever").queue("q").cpu("6"), 0);
    step(&mut m, 0);
    submit(&mut m, workload("head").queue("q").cpu("7"), 1);
    submit(&mut m, workload("long").queue("q").cpu("2"), 1);
    let out = one_cycle(&mut m, 1);
    assert!(out.reservations.is_empty());
    m.apply_output(&out, t(1)).unwrap();
    assert_eq!(describe(&m, &out.decisions), ["admit ns/long [default] n1"]);
}
