//! Scenario tests: every `tests/scenarios/*.yaml` at the repository root is simulated and its
//! events and summary compared byte for byte with the expected files beside it
//! (`NAME.events.jsonl`, `NAME.summary.json`). Each scenario's header comment tells the
//! story the expected events show.
//!
//! After a deliberate change of behaviour, rewrite the expectations with
//! `MUSTER_BLESS=1 cargo test -p muster-sim --test scenarios` and review the diff.

use std::path::{Path, PathBuf};

use muster_sim::engine::Options;
use muster_sim::events::JsonLines;

fn scenario_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/scenarios")
}

fn scenarios() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(scenario_dir())
        .expect("tests/scenarios exists")
        .map(|e| e.expect("readable").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    v.sort();
    assert!(v.len() >= 10, "scenarios missing: {v:?}");
    v
}

/// Runs a scenario from YAML text, with invariants checked after every cycle; returns the
/// events and the summary (without the wall-clock field) as text.
fn run(name: &str, text: &str) -> (String, String) {
    let scenario = muster_api::scenario_from_str(name, text).unwrap_or_else(|e| panic!("{e}"));
    let options = Options {
        check_invariants: true,
        ..Options::default()
    };
    let mut sink = JsonLines(Vec::new());
    let outcome = muster_sim::simulate(&scenario, &options, &mut sink, &mut |_| {})
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    let mut summary = serde_json::to_value(&outcome.summary).unwrap();
    summary.as_object_mut().unwrap().remove("wallSeconds");
    (
        String::from_utf8(sink.0).unwrap(),
        serde_json::to_string_pretty(&summary).unwrap() + "\n",
    )
}

fn check(path: &Path, suffix: &str, actual: &str, failures: &mut Vec<String>) {
    let expected_path = path.with_extension(suffix);
    if std::env::var_os("MUSTER_BLESS").is_some() {
        std::fs::write(&expected_path, actual).unwrap();
        return;
    }
    match std::fs::read_to_string(&expected_path) {
        Ok(expected) if expected == actual => {}
        Ok(expected) => failures.push(format!(
            "{} differs:\n--- expected\n{expected}\n--- actual\n{actual}",
            expected_path.display()
        )),
        Err(_) => failures.push(format!(
            "{} is missing (run with MUSTER_BLESS=1)",
            expected_path.display()
        )),
    }
}

#[test]
fn scenarios_match_their_expected_timelines() {
    let mut failures = Vec::new();
    for path in scenarios() {
        let text = std::fs::read_to_string(&path).unwrap();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let (events, summary) = run(&name, &text);
        check(&path, "events.jsonl", &events, &mut failures);
        check(&path, "summary.json", &summary, &mut failures);
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn same_input_gives_identical_bytes() {
    for path in scenarios() {
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            run("a.yaml", &text),
            run("a.yaml", &text),
            "{}",
            path.display()
        );
    }
}

#[test]
fn the_order_of_documents_does_not_matter() {
    for path in scenarios() {
        let text = std::fs::read_to_string(&path).unwrap();
        let body: String = text
            .lines()
            .filter(|l| !l.starts_with('#'))
            .map(|l| format!("{l}\n"))
            .collect();
        let mut docs: Vec<&str> = body
            .split("---\n")
            .filter(|d| !d.trim().is_empty())
            .collect();
        docs.reverse();
        let reversed = docs.join("---\n");
        assert_eq!(
            run("a.yaml", &text),
            run("a.yaml", &reversed),
            "{}",
            path.display()
        );
    }
}

#[test]
fn the_quickstart_runs_and_writes_the_three_files() {
    let dir = tempfile::tempdir().unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/quickstart");
    let scenario = muster_api::load_scenario(&[root]).unwrap();
    let options = Options {
        check_invariants: true,
        ..Options::default()
    };
    let outcome =
        muster_sim::output::run_to_dir(&scenario, &options, dir.path(), "quickstart", &mut |_| {})
            .unwrap();
    for f in muster_sim::output::FILES {
        assert!(dir.path().join(f).is_file(), "{f} written");
    }
    let s = &outcome.summary;
    assert_eq!((s.workloads, s.finished, s.inadmissible), (8, 7, 1));
    assert!(s.preemptions >= 3, "the quickstart shows preemption");
    let events = std::fs::read_to_string(dir.path().join("events.jsonl")).unwrap();
    assert!(
        events.contains("\"borrowing\":true"),
        "the quickstart shows borrowing"
    );
    assert!(events.contains("InCohortReclamation") && events.contains("InClusterQueue"));
    let html = std::fs::read_to_string(dir.path().join("report.html")).unwrap();
    assert!(html.contains("<svg") && html.contains("team-a") && html.contains("Wait times"));
    assert!(
        html.contains("preempted: InCohortReclamation") && html.contains("core-hours lost"),
        "the report names the preemption reasons and the work lost"
    );
    // No temporary files are left behind.
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .filter(|n| n.ends_with(".partial"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}
