//! Two runs of the same workload side by side: `muster compare`.
//!
//! The same nodes and jobs are simulated under a base and a candidate configuration
//! (quotas, queueing strategies, fair sharing, scoring…); this module lines up what a
//! platform team asks of the change — waits per queue, utilisation, fairness, preemptions,
//! backfills — and says how each figure moved.

use std::collections::BTreeSet;
use std::fmt::Write;

use serde::Serialize;

use crate::engine::Summary;
use crate::report::human_time;

/// One figure in both runs.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Row {
    /// What is measured, e.g. `wait mean` or `team-a wait p95`.
    pub metric: String,
    /// The base run's value.
    pub base: f64,
    /// The candidate run's value.
    pub candidate: f64,
    /// How the value is shown: seconds, a fraction (as a percentage), or a count.
    #[serde(skip)]
    pub unit: Unit,
}

/// How a figure is shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    /// A duration in seconds.
    Seconds,
    /// A fraction, shown as a percentage.
    Fraction,
    /// A count or an index.
    Number,
}

impl Unit {
    fn show(self, v: f64) -> String {
        match self {
            Unit::Seconds => human_time(v),
            Unit::Fraction => format!("{:.1}%", v * 100.0),
            Unit::Number if v.fract() == 0.0 => format!("{v:.0}"),
            Unit::Number => format!("{v:.3}"),
        }
    }

    fn change(self, base: f64, candidate: f64) -> String {
        let d = candidate - base;
        if d == 0.0 {
            return "=".into();
        }
        let sign = if d > 0.0 { "+" } else { "-" };
        match self {
            Unit::Seconds => format!("{sign}{}", human_time(d.abs())),
            Unit::Fraction => format!("{sign}{:.1} pts", d.abs() * 100.0),
            Unit::Number if d.fract() == 0.0 => format!("{sign}{:.0}", d.abs()),
            Unit::Number => format!("{sign}{:.3}", d.abs()),
        }
    }
}

/// The figures of two runs, in a fixed order: the whole cluster first, then each
/// ClusterQueue of either run by name.
pub fn rows(base: &Summary, candidate: &Summary) -> Vec<Row> {
    let mut rows = Vec::new();
    let mut row = |metric: String, b: f64, c: f64, unit: Unit| {
        rows.push(Row {
            metric,
            base: b,
            candidate: c,
            unit,
        })
    };
    let count = |v: u64| v as f64;
    row(
        "finished".into(),
        count(base.finished),
        count(candidate.finished),
        Unit::Number,
    );
    row(
        "pending at end".into(),
        count(base.pending_at_end),
        count(candidate.pending_at_end),
        Unit::Number,
    );
    row(
        "makespan".into(),
        base.makespan_seconds,
        candidate.makespan_seconds,
        Unit::Seconds,
    );
    row(
        "wait mean".into(),
        base.wait_seconds.mean,
        candidate.wait_seconds.mean,
        Unit::Seconds,
    );
    row(
        "wait p95".into(),
        base.wait_seconds.p95,
        candidate.wait_seconds.p95,
        Unit::Seconds,
    );
    row(
        "wait p99".into(),
        base.wait_seconds.p99,
        candidate.wait_seconds.p99,
        Unit::Seconds,
    );
    let resources: BTreeSet<&String> = base
        .utilization
        .keys()
        .chain(candidate.utilization.keys())
        .collect();
    for r in resources {
        let u = |s: &Summary| s.utilization.get(r).copied().unwrap_or(0.0);
        row(
            format!("utilization {r}"),
            u(base),
            u(candidate),
            Unit::Fraction,
        );
    }
    row(
        "fairness (Jain)".into(),
        base.fairness.jain,
        candidate.fairness.jain,
        Unit::Number,
    );
    row(
        "fairness (Jain, weighted)".into(),
        base.fairness.jain_weighted,
        candidate.fairness.jain_weighted,
        Unit::Number,
    );
    row(
        "preemptions".into(),
        count(base.preemptions),
        count(candidate.preemptions),
        Unit::Number,
    );
    let reasons: BTreeSet<&String> = base
        .preemptions_by_reason
        .keys()
        .chain(candidate.preemptions_by_reason.keys())
        .collect();
    for r in reasons {
        let n = |s: &Summary| count(s.preemptions_by_reason.get(r).copied().unwrap_or(0));
        row(
            format!("preempted: {r}"),
            n(base),
            n(candidate),
            Unit::Number,
        );
    }
    row(
        "backfilled".into(),
        count(base.backfilled),
        count(candidate.backfilled),
        Unit::Number,
    );
    let queues: BTreeSet<&String> = base
        .cluster_queues
        .keys()
        .chain(candidate.cluster_queues.keys())
        .collect();
    for q in queues {
        let get = |s: &Summary| s.cluster_queues.get(q).cloned().unwrap_or_default();
        let (b, c) = (get(base), get(candidate));
        row(
            format!("{q}: wait mean"),
            b.wait_seconds_mean,
            c.wait_seconds_mean,
            Unit::Seconds,
        );
        row(
            format!("{q}: admitted"),
            count(b.admitted),
            count(c.admitted),
            Unit::Number,
        );
        row(
            format!("{q}: preempted"),
            count(b.preempted),
            count(c.preempted),
            Unit::Number,
        );
        row(
            format!("{q}: usage share"),
            b.usage_share,
            c.usage_share,
            Unit::Fraction,
        );
    }
    rows
}

/// `compare.json`: which configurations, and the rows (metric, base, candidate).
pub fn to_json((base, candidate): (&str, &str), rows: &[Row]) -> String {
    let v = serde_json::json!({"base": base, "candidate": candidate, "rows": rows});
    serde_json::to_string_pretty(&v).expect("plain data serializes") + "\n"
}

/// The rows as a text table: metric, base, candidate, change.
pub fn table(rows: &[Row], names: (&str, &str)) -> String {
    let width = rows
        .iter()
        .map(|r| r.metric.len())
        .max()
        .unwrap_or(0)
        .max(6);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<width$}  {:>12}  {:>12}  {:>12}",
        "metric", names.0, names.1, "change"
    );
    for r in rows {
        let _ = writeln!(
            out,
            "{:<width$}  {:>12}  {:>12}  {:>12}",
            r.metric,
            r.unit.show(r.base),
            r.unit.show(r.candidate),
            r.unit.change(r.base, r.candidate)
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::QueueSummary;

    #[test]
    fn rows_line_up_both_runs_and_say_how_each_figure_moved() {
        let mut base = Summary::default();
        base.wait_seconds.mean = 3600.0;
        base.utilization.insert("cpu".into(), 0.5);
        base.cluster_queues.insert(
            "a".into(),
            QueueSummary {
                wait_seconds_mean: 60.0,
                ..QueueSummary::default()
            },
        );
        let mut cand = base.clone();
        cand.wait_seconds.mean = 1800.0;
        cand.utilization.insert("cpu".into(), 0.625);
        cand.backfilled = 3;
        cand.cluster_queues
            .insert("b".into(), QueueSummary::default());
        let rows = rows(&base, &cand);
        let t = table(&rows, ("base", "candidate"));
        let line = |m: &str| {
            t.lines()
                .find(|l| l.starts_with(m))
                .unwrap_or_default()
                .to_string()
        };
        assert!(line("wait mean ").ends_with("-30m"), "{t}");
        assert!(line("utilization cpu").ends_with("+12.5 pts"), "{t}");
        assert!(line("backfilled").ends_with("+3"), "{t}");
        assert!(line("a: wait mean").ends_with("="), "{t}");
        // A queue of only one run still has its rows.
        assert!(t.contains("b: admitted"), "{t}");
    }
}
