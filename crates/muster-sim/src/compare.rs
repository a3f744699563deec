//! Two runs of the same workload side by side: `muster compare`.
//!
//! The same nodes and jobs are simulated under a base and a candidate configuration
//! (quotas, queueing strategies, fair sharing, scoring…); this module lines up what a
//! platform team asks of the change — waits per queue, utilisation, fairness, preemptions,
//! backfills — and says how each figure moved — and draws both runs on the same charts
//! ([`report`]): utilisation per resource, pending workloads and the wait-time CDF per
//! ClusterQueue, the base a solid blue line, the candidate a dashed red one.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

use serde::Serialize;

use crate::engine::{Outcome, Summary};
use crate::report::{self, Axes, Series, Stroke, escape, human_time};
use crate::stats::Timeline;

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
    /// The ClusterQueue the figure is about, or `None` for the whole cluster.
    #[serde(skip)]
    pub cluster_queue: Option<String>,
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
            cluster_queue: None,
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
        for (metric, b, c, unit) in [
            (
                "wait mean",
                b.wait_seconds_mean,
                c.wait_seconds_mean,
                Unit::Seconds,
            ),
            (
                "admitted",
                count(b.admitted),
                count(c.admitted),
                Unit::Number,
            ),
            (
                "preempted",
                count(b.preempted),
                count(c.preempted),
                Unit::Number,
            ),
            ("usage share", b.usage_share, c.usage_share, Unit::Fraction),
        ] {
            rows.push(Row {
                metric: format!("{q}: {metric}"),
                base: b,
                candidate: c,
                unit,
                cluster_queue: Some(q.clone()),
            });
        }
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

/// One run as the compare report draws it: an [`Outcome`] without its model, so that two
/// large runs fit in memory side by side.
#[derive(Clone, Debug, Default)]
pub struct Run {
    /// The configuration it ran under (a path), as the report names it.
    pub config: String,
    /// Its summary.
    pub summary: Summary,
    /// Utilisation and queue lengths over time.
    pub timeline: Timeline,
    /// Per ClusterQueue, its admitted workloads' waits in milliseconds, sorted.
    pub queue_wait_samples: BTreeMap<String, Vec<i64>>,
}

impl Run {
    /// Keeps what the compare report draws of `outcome`, run under `config`.
    pub fn new(config: impl Into<String>, outcome: Outcome) -> Run {
        Run {
            config: config.into(),
            summary: outcome.summary,
            timeline: outcome.timeline,
            queue_wait_samples: outcome.queue_wait_samples,
        }
    }

    /// The sorted waits of `queue`'s admitted workloads, if it admitted any.
    fn waits(&self, queue: &str) -> Option<&Vec<i64>> {
        self.queue_wait_samples.get(queue).filter(|w| !w.is_empty())
    }
}

/// The two runs' roles, in the order [`report`] takes them.
const ROLES: [&str; 2] = ["base", "candidate"];

/// How each run is drawn: the base a solid blue line, the candidate a dashed red one, so they
/// differ in colour and in pattern (and the candidate, drawn last, never hides the base).
const STROKES: [Stroke; 2] = [
    Stroke {
        color: "#1f77b4",
        dash: None,
    },
    Stroke {
        color: "#d62728",
        dash: Some("7 4"),
    },
];

/// A run's name in the legends: its role and its configuration's file name, e.g.
/// `candidate (queue-backfill.yaml)`.
fn label(role: &str, config: &str) -> String {
    let name = std::path::Path::new(config)
        .file_name()
        .map_or(config.into(), |n| n.to_string_lossy());
    format!("{role} ({name})")
}

/// An HTML table of rows: metric, base, candidate, difference.
fn rows_table<'a>(rows: impl Iterator<Item = &'a Row>) -> String {
    let mut html = String::from(
        "<table><tr><th>metric</th><th>base</th><th>candidate</th><th>difference</th></tr>",
    );
    for r in rows {
        let _ = write!(
            html,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&r.metric),
            escape(&r.unit.show(r.base)),
            escape(&r.unit.show(r.candidate)),
            escape(&r.unit.change(r.base, r.candidate))
        );
    }
    html.push_str("</table>");
    html
}

/// A chart of the runs overlaid: for each run that has the series (`points` gives its
/// points and where its line ends), a line in the run's stroke, named by `labels`.
fn overlay(
    title: &str,
    runs: [&Run; 2],
    labels: &[String; 2],
    axes: Axes,
    points: impl Fn(&Run) -> Option<(Vec<(f64, f64)>, f64)>,
) -> String {
    let series: Vec<Series<'_>> = runs
        .iter()
        .zip(labels.iter().zip(STROKES))
        .filter_map(|(run, (name, stroke))| {
            points(run).map(|(points, until)| Series {
                name,
                points,
                until,
                stroke,
            })
        })
        .collect();
    report::step_chart(title, &series, axes)
}

/// `report.html` of a comparison: the figures side by side (base, candidate, difference),
/// then both runs overlaid on the same axes — allocated / allocatable over time per
/// resource, pending workloads over time per ClusterQueue, the wait-time CDF per
/// ClusterQueue —, the base solid blue, the candidate dashed red. Resources and
/// ClusterQueues of either run appear, by name; a run that lacks one has no line there.
pub fn report(base: &Run, candidate: &Run, rows: &[Row]) -> String {
    let runs = [base, candidate];
    let labels = [
        label(ROLES[0], &base.config),
        label(ROLES[1], &candidate.config),
    ];
    let end = base
        .summary
        .makespan_seconds
        .max(candidate.summary.makespan_seconds);
    let mut html = report::page_start(&format!("Muster compare: {} vs {}", labels[0], labels[1]));
    html.push_str("<div class=\"legend\">");
    for ((run, name), stroke) in runs.iter().zip(&labels).zip(STROKES) {
        let _ = write!(
            html,
            "<p>{}<code>{}</code></p>",
            report::legend_entry(stroke, name),
            escape(&run.config)
        );
    }
    html.push_str("</div>");

    html.push_str("<h2>The whole cluster</h2>");
    html.push_str(&rows_table(
        rows.iter().filter(|r| r.cluster_queue.is_none()),
    ));

    let _ = write!(html, "<h2>{}</h2>", report::UTILIZATION_TITLE);
    let resources: BTreeSet<&String> = runs
        .iter()
        .flat_map(|r| r.timeline.resources.iter())
        .collect();
    for resource in resources {
        html.push_str(&overlay(
            &format!("{}: {resource}", report::UTILIZATION_TITLE),
            runs,
            &labels,
            Axes {
                end,
                max_y: 1.0,
                percent: true,
            },
            |run| {
                let tl = &run.timeline;
                let i = tl.resources.iter().position(|r| r == resource)?;
                let points =
                    report::column(tl, end, |s| s.utilization.get(i).copied().unwrap_or(0.0));
                Some((points, run.summary.makespan_seconds))
            },
        ));
    }

    let queues: BTreeSet<&String> = runs
        .iter()
        .flat_map(|r| {
            r.timeline
                .cluster_queues
                .iter()
                .chain(r.queue_wait_samples.keys())
        })
        .collect();
    let _ = write!(html, "<h2>{}</h2>", report::PENDING_TITLE);
    for &queue in &queues {
        // The queue's column in a run's timeline, if the run has the queue.
        let column = |run: &Run| run.timeline.cluster_queues.iter().position(|q| q == queue);
        let mut max = 0;
        for (r, i) in runs.iter().filter_map(|r| column(r).map(|i| (r, i))) {
            r.timeline
                .for_each(|s| max = s.pending.get(i).copied().unwrap_or(0).max(max));
        }
        html.push_str(&overlay(
            &format!("Pending workloads: {queue}"),
            runs,
            &labels,
            Axes {
                end,
                max_y: f64::from(max.max(1)),
                percent: false,
            },
            |run| {
                let i = column(run)?;
                let points = report::column(&run.timeline, end, |s| {
                    s.pending.get(i).copied().map_or(0.0, f64::from)
                });
                Some((points, run.summary.makespan_seconds))
            },
        ));
    }

    let _ = write!(html, "<h2>{}</h2>", report::CDF_TITLE);
    html.push_str(
        "<p>For each wait, the share of the ClusterQueue's admitted workloads that waited at \
         most that long: the higher and further left a line, the shorter the waits.</p>",
    );
    for &queue in &queues {
        let wait_end = report::longest_wait(runs.iter().filter_map(|r| r.waits(queue)));
        if runs.iter().all(|r| r.waits(queue).is_none()) {
            let _ = write!(
                html,
                "<p>{}: no admitted workloads in either run.</p>",
                escape(queue)
            );
            continue;
        }
        html.push_str(&overlay(
            &format!("Wait-time CDF: {queue}"),
            runs,
            &labels,
            Axes {
                end: wait_end,
                max_y: 1.0,
                percent: true,
            },
            |run| run.waits(queue).map(|w| (report::cdf_points(w), wait_end)),
        ));
    }

    html.push_str("<h2>Figures per ClusterQueue</h2>");
    html.push_str(&rows_table(
        rows.iter().filter(|r| r.cluster_queue.is_some()),
    ));
    html.push_str(&report::page_end("muster compare"));
    html
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::QueueSummary;
    use crate::stats::Sample;

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

    /// A run of one resource (`cpu`) and the given ClusterQueues: at each `(time, pending)`
    /// every queue has that many pending workloads and the cpu is half allocated; each queue
    /// admitted workloads that waited 0, 10 and `wait` seconds.
    fn run(config: &str, queues: &[&str], samples: &[(f64, u32)], wait: i64) -> Run {
        let mut summary = Summary {
            makespan_seconds: samples.last().map_or(0.0, |s| s.0),
            ..Summary::default()
        };
        for q in queues {
            summary
                .cluster_queues
                .insert(q.to_string(), QueueSummary::default());
        }
        Run {
            config: config.into(),
            summary,
            timeline: {
                let mut tl = Timeline::new(
                    vec!["cpu".into()],
                    queues.iter().map(|q| q.to_string()).collect(),
                );
                for &(time, pending) in samples {
                    tl.push(Sample {
                        time,
                        utilization: &[0.5],
                        pending: &vec![pending; queues.len()],
                        running: &vec![0; queues.len()],
                        queue_share: &vec![0.0; queues.len()],
                    });
                }
                tl
            },
            queue_wait_samples: queues
                .iter()
                .map(|q| (q.to_string(), vec![0, 10_000, wait * 1000]))
                .collect(),
        }
    }

    /// The `<figure>` of the chart titled `title`.
    fn figure<'a>(html: &'a str, title: &str) -> &'a str {
        let start = html
            .find(&format!("<figure><figcaption>{title}</figcaption>"))
            .unwrap_or_else(|| panic!("no chart {title:?} in {html}"));
        let len = html[start..].find("</figure>").expect("a closed figure");
        &html[start..start + len]
    }

    #[test]
    fn the_report_overlays_both_runs_on_the_same_charts() {
        let base = run(
            "cfg/base.yaml",
            &["a"],
            &[(0.0, 3), (50.0, 1), (100.0, 0)],
            60,
        );
        let candidate = run(
            "cfg/candidate.yaml",
            &["a", "b"],
            &[(0.0, 2), (200.0, 0)],
            30,
        );
        let rows = rows(&base.summary, &candidate.summary);
        let html = report(&base, &candidate, &rows);
        let (base_name, candidate_name) = ("base (base.yaml)", "candidate (candidate.yaml)");
        for title in [
            "Allocated / allocatable over time: cpu",
            "Pending workloads: a",
            "Wait-time CDF: a",
        ] {
            let f = figure(&html, title);
            assert_eq!(f.matches("<path ").count(), 2, "both runs in {f}");
            // Told apart by colour and by dash pattern, and named in the legend.
            assert!(f.contains(r##"stroke="#1f77b4" stroke-width"##), "{f}");
            assert!(
                f.contains(r##"stroke="#d62728" stroke-dasharray="7 4""##),
                "{f}"
            );
            assert!(f.contains(base_name) && f.contains(candidate_name), "{f}");
        }
        // A queue only the candidate has: only its line.
        for title in ["Pending workloads: b", "Wait-time CDF: b"] {
            let f = figure(&html, title);
            assert_eq!(f.matches("<path ").count(), 1, "{f}");
            assert!(f.contains(candidate_name) && !f.contains(base_name), "{f}");
        }
        // Same axes: the base ran half as long, so its line stops half way (x = 56 + 792 / 2)
        // on the 200 s axis.
        let util = figure(&html, "Allocated / allocatable over time: cpu");
        assert!(util.contains("H452.0\" fill"), "{util}");
        assert!(util.contains(">3m20s</text>"), "{util}");
        // The figures, whole cluster and per queue, with the difference.
        assert!(html.contains("<th>difference</th>"), "{html}");
        assert!(
            html.contains("<tr><td>makespan</td><td>1m40s</td><td>3m20s</td><td>+1m40s</td></tr>"),
            "{html}"
        );
        let per_queue = &html[html
            .find("Figures per ClusterQueue")
            .expect("per-queue table")..];
        assert!(per_queue.contains("<td>b: admitted</td>"), "{per_queue}");
        // Both configurations are named in full, and the output is the same every time.
        assert!(html.contains("<code>cfg/base.yaml</code>"), "{html}");
        assert_eq!(html, report(&base, &candidate, &rows));
    }

    #[test]
    fn a_queue_no_run_admitted_from_has_no_cdf_but_says_so() {
        let mut base = run("base.yaml", &["idle"], &[(0.0, 1)], 0);
        base.queue_wait_samples.insert("idle".into(), Vec::new());
        let candidate = base.clone();
        let html = report(&base, &candidate, &rows(&base.summary, &candidate.summary));
        assert!(!html.contains("Wait-time CDF: idle"), "{html}");
        assert!(
            html.contains("idle: no admitted workloads in either run"),
            "{html}"
        );
        // A zero-length run still draws its (empty) axes without dividing by zero.
        assert!(!html.contains("NaN") && !html.contains("Hinf"), "{html}");
    }
}
