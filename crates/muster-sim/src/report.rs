//! `report.html`: one self-contained page (no scripts, no external assets) with the summary,
//! utilization over time, pending and running workloads per ClusterQueue as inline SVG step
//! charts, and a table of wait times per ClusterQueue with a wait-time CDF per ClusterQueue.
//!
//! The charts are drawn here by a few dozen lines (`step_chart` and the functions that turn
//! a timeline or a queue's waits into points); `muster compare`'s report
//! ([`crate::compare::report`]) draws its overlays with the same functions and the same page
//! style. Each chart's title is text in the DOM (a `<figcaption>`, and the SVG's `<title>`).
//!
//! Long timelines are reduced to at most one column of points per pixel, keeping each
//! column's peak and its last value, so a spike is never lost to down-sampling.

use std::fmt::Write;

use crate::engine::Outcome;
use crate::stats::Timeline;

const WIDTH: f64 = 860.0;
const HEIGHT: f64 = 220.0;
const LEFT: f64 = 56.0;
const RIGHT: f64 = 12.0;
const TOP: f64 = 12.0;
const BOTTOM: f64 = 28.0;
const PALETTE: [&str; 10] = [
    "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
    "#bcbd22", "#17becf",
];

/// Escapes text for HTML.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A duration in seconds as `1h30m`, `45m`, `30s`.
pub fn human_time(secs: f64) -> String {
    let s = secs.round() as i64;
    if s == 0 {
        return "0".into();
    }
    let (d, h, m, sec) = (s / 86_400, (s % 86_400) / 3600, (s % 3600) / 60, s % 60);
    let mut out = String::new();
    if d > 0 {
        let _ = write!(out, "{d}d");
    }
    if h > 0 {
        let _ = write!(out, "{h}h");
    }
    if m > 0 && d == 0 {
        let _ = write!(out, "{m}m");
    }
    if sec > 0 && d == 0 && h == 0 {
        let _ = write!(out, "{sec}s");
    }
    if out.is_empty() { format!("{s}s") } else { out }
}

/// How a series is drawn: its colour, and its dash pattern (solid when `None`), so that two
/// series can be told apart without colour too.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Stroke {
    /// An SVG colour.
    pub color: &'static str,
    /// An SVG `stroke-dasharray`, or `None` for a solid line.
    pub dash: Option<&'static str>,
}

impl Stroke {
    /// The `i`-th colour of the palette, solid: how a single run tells its series apart.
    pub fn palette(i: usize) -> Stroke {
        Stroke {
            color: PALETTE[i % PALETTE.len()],
            dash: None,
        }
    }

    fn attributes(self) -> String {
        match self.dash {
            Some(dash) => format!(r#"stroke="{}" stroke-dasharray="{dash}""#, self.color),
            None => format!(r#"stroke="{}""#, self.color),
        }
    }
}

/// One line of a step chart.
pub(crate) struct Series<'a> {
    /// Its name in the legend and in the line's tooltip.
    pub name: &'a str,
    /// `(x, y)` in time order; the line holds each value until the next point.
    pub points: Vec<(f64, f64)>,
    /// Where the line's last value ends: the run's makespan for a timeline (a shorter run's
    /// line stops where the run did), the chart's end for a CDF (it stays at 100%).
    pub until: f64,
    /// How it is drawn.
    pub stroke: Stroke,
}

/// What a step chart's axes show: x over `[0, end]` seconds, y over `[0, max_y]`, as a
/// percentage or as a count (whose top is rounded up to a multiple of 4).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Axes {
    /// The last second on the x axis.
    pub end: f64,
    /// The largest value on the y axis.
    pub max_y: f64,
    /// Whether y is a fraction shown as a percentage.
    pub percent: bool,
}

/// A step chart of several series, titled in the DOM (a `<figcaption>` and the SVG's
/// `<title>`), with a legend that shows each series' colour and dash pattern.
pub(crate) fn step_chart(title: &str, series: &[Series<'_>], axes: Axes) -> String {
    let mut svg = String::new();
    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let Axes {
        end,
        max_y,
        percent,
    } = axes;
    let end = if end > 0.0 { end } else { 1.0 };
    // Counts get whole-number gridlines: the top is rounded up to a multiple of 4.
    let max_y = match (percent, max_y > 0.0) {
        (_, false) => 1.0,
        (true, true) => max_y,
        (false, true) => (max_y / 4.0).ceil() * 4.0,
    };
    let x = |t: f64| LEFT + (t / end).clamp(0.0, 1.0) * plot_w;
    let y = |v: f64| TOP + plot_h - (v / max_y).clamp(0.0, 1.0) * plot_h;
    let _ = write!(
        svg,
        r#"<figure><figcaption>{}</figcaption><svg viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" role="img" aria-label="{}"><title>{}</title>"#,
        escape(title),
        escape(title),
        escape(title)
    );
    // Grid and axes.
    for i in 0..=4 {
        let v = max_y * i as f64 / 4.0;
        let label = if percent {
            format!("{:.0}%", v * 100.0)
        } else {
            format!("{}", v.round())
        };
        let _ = write!(
            svg,
            r##"<line x1="{LEFT}" x2="{}" y1="{yy:.1}" y2="{yy:.1}" stroke="#e5e5e5"/><text x="{}" y="{:.1}" font-size="11" text-anchor="end" fill="#555">{label}</text>"##,
            WIDTH - RIGHT,
            LEFT - 6.0,
            y(v) + 4.0,
            yy = y(v)
        );
    }
    for i in 0..=6 {
        let t = end * i as f64 / 6.0;
        let anchor = match i {
            0 => "start",
            6 => "end",
            _ => "middle",
        };
        let _ = write!(
            svg,
            r##"<text x="{:.1}" y="{}" font-size="11" text-anchor="{anchor}" fill="#555">{}</text>"##,
            x(t),
            HEIGHT - 8.0,
            human_time(t)
        );
    }
    let _ = write!(
        svg,
        r##"<line x1="{LEFT}" x2="{LEFT}" y1="{TOP}" y2="{}" stroke="#999"/><line x1="{LEFT}" x2="{}" y1="{}" y2="{}" stroke="#999"/>"##,
        TOP + plot_h,
        WIDTH - RIGHT,
        TOP + plot_h,
        TOP + plot_h
    );
    for s in series {
        if s.points.is_empty() {
            continue;
        }
        let mut d = format!("M{:.1},{:.1}", x(0.0), y(0.0));
        for &(t, v) in &s.points {
            let _ = write!(d, "H{:.1}V{:.1}", x(t), y(v));
        }
        let _ = write!(d, "H{:.1}", x(s.until));
        let _ = write!(
            svg,
            r#"<path d="{d}" fill="none" {} stroke-width="1.6"><title>{}</title></path>"#,
            s.stroke.attributes(),
            escape(s.name)
        );
    }
    svg.push_str("</svg><div class=\"legend\">");
    for s in series {
        svg.push_str(&legend_entry(s.stroke, s.name));
    }
    svg.push_str("</div></figure>");
    svg
}

/// A legend entry: a short line drawn as the series is (colour and dash), then its name.
pub(crate) fn legend_entry(stroke: Stroke, name: &str) -> String {
    format!(
        r#"<span><svg width="28" height="10" aria-hidden="true"><line x1="1" x2="27" y1="5" y2="5" {} stroke-width="2.4"/></svg>{}</span>"#,
        stroke.attributes(),
        escape(name)
    )
}

/// Reduces a line's points, as they come, to at most one column per pixel, keeping each
/// column's peak then its last value (a line with few points keeps them all).
struct Reducer {
    /// Pixel columns of the plot area; `None` keeps every point.
    columns: Option<usize>,
    end: f64,
    out: Vec<(f64, f64)>,
    /// The column being filled: (column, its first time, peak, last value).
    current: Option<(usize, f64, f64, f64)>,
}

impl Reducer {
    /// A reducer for a line of `points` points over `[0, end]`.
    fn new(points: usize, end: f64) -> Self {
        let columns = (WIDTH - LEFT - RIGHT) as usize;
        let keep_all = points <= columns * 2 || end <= 0.0;
        Reducer {
            columns: (!keep_all).then_some(columns),
            end,
            out: Vec::with_capacity(points.min(columns * 2)),
            current: None,
        }
    }

    fn push(&mut self, t: f64, v: f64) {
        let Some(columns) = self.columns else {
            self.out.push((t, v));
            return;
        };
        let col = ((t / self.end) * columns as f64) as usize;
        match &mut self.current {
            Some((c, _, peak, last)) if *c == col => {
                *peak = peak.max(v);
                *last = v;
            }
            current => {
                if let Some((_, t0, peak, last)) = current.take() {
                    self.out.push((t0, peak));
                    self.out.push((t0, last));
                }
                *current = Some((col, t, v, v));
            }
        }
    }

    fn finish(mut self) -> Vec<(f64, f64)> {
        if let Some((_, t0, peak, last)) = self.current.take() {
            self.out.push((t0, peak));
            self.out.push((t0, last));
        }
        self.out
    }
}

/// Reduces points to at most one column per pixel, keeping each column's peak then its last
/// value.
#[cfg(test)]
fn reduce(points: impl ExactSizeIterator<Item = (f64, f64)>, end: f64) -> Vec<(f64, f64)> {
    let mut r = Reducer::new(points.len(), end);
    for (t, v) in points {
        r.push(t, v);
    }
    r.finish()
}

/// Points a wait-time CDF keeps per ClusterQueue.
const CDF_POINTS: usize = 200;

/// The wait-time CDF of one ClusterQueue, from its admitted workloads' waits in
/// milliseconds, sorted: for each wait x (seconds), the fraction of them that waited at most
/// x — quantiles of the sorted waits, at most [`CDF_POINTS`] of them. Empty for no waits.
pub(crate) fn cdf_points(waits_ms: &[i64]) -> Vec<(f64, f64)> {
    let n = waits_ms.len();
    if n == 0 {
        return Vec::new();
    }
    let step = n.div_ceil(CDF_POINTS).max(1);
    let mut points: Vec<(f64, f64)> = (step - 1..n)
        .step_by(step)
        .map(|i| (waits_ms[i] as f64 / 1000.0, (i + 1) as f64 / n as f64))
        .collect();
    if points.last().is_none_or(|p| p.1 < 1.0) {
        points.push((waits_ms[n - 1] as f64 / 1000.0, 1.0));
    }
    points
}

/// The longest wait, in seconds, over the queues' sorted waits in milliseconds: the end of a
/// wait-time CDF's x axis (at least one second).
pub(crate) fn longest_wait<'a>(waits_ms: impl IntoIterator<Item = &'a Vec<i64>>) -> f64 {
    let max = waits_ms
        .into_iter()
        .filter_map(|w| w.last())
        .max()
        .copied()
        .unwrap_or(0);
    (max as f64 / 1000.0).max(1.0)
}

/// Title of the wait-time CDF charts.
pub(crate) const CDF_TITLE: &str = "Wait-time CDF per ClusterQueue";
/// What a wait-time CDF's y axis is.
const CDF_MEANING: &str = "share of admitted workloads that waited at most this long";

/// The wait-time CDF per ClusterQueue: one line a queue.
fn wait_cdf(outcome: &Outcome) -> String {
    let end = longest_wait(outcome.queue_wait_samples.values());
    let series: Vec<Series<'_>> = outcome
        .queue_wait_samples
        .iter()
        .filter(|(_, w)| !w.is_empty())
        .enumerate()
        .map(|(i, (name, w))| Series {
            name,
            points: cdf_points(w),
            until: end,
            stroke: Stroke::palette(i),
        })
        .collect();
    if series.is_empty() {
        return String::new();
    }
    step_chart(
        &format!("{CDF_TITLE}: {CDF_MEANING}"),
        &series,
        Axes {
            end,
            max_y: 1.0,
            percent: true,
        },
    )
}

/// One column of the timeline as points over `[0, end]`, reduced to the chart's width.
pub(crate) fn column(
    timeline: &Timeline,
    end: f64,
    f: impl Fn(crate::stats::Sample<'_>) -> f64,
) -> Vec<(f64, f64)> {
    columns(timeline, end, 1, |s, _| f(s))
        .pop()
        .unwrap_or_default()
}

/// Columns `0..n` of the timeline (`f(sample, i)` is column i's value) as points over
/// `[0, end]`, each reduced to the chart's width, in one pass over the samples.
pub(crate) fn columns(
    timeline: &Timeline,
    end: f64,
    n: usize,
    f: impl Fn(crate::stats::Sample<'_>, usize) -> f64,
) -> Vec<Vec<(f64, f64)>> {
    let mut reducers: Vec<Reducer> = (0..n).map(|_| Reducer::new(timeline.len(), end)).collect();
    timeline.for_each(|sample| {
        for (i, r) in reducers.iter_mut().enumerate() {
            r.push(sample.time, f(sample, i));
        }
    });
    reducers.into_iter().map(Reducer::finish).collect()
}

/// A step chart of one count per ClusterQueue over time.
fn queue_chart(
    title: &str,
    tl: &Timeline,
    end: f64,
    counts: impl for<'s> Fn(crate::stats::Sample<'s>) -> &'s [u32],
) -> String {
    let mut max = 0;
    tl.for_each(|s| max = counts(s).iter().copied().fold(max, u32::max));
    let lines = columns(tl, end, tl.cluster_queues.len(), |s, i| {
        counts(s).get(i).copied().map_or(0.0, f64::from)
    });
    let series: Vec<Series<'_>> = tl
        .cluster_queues
        .iter()
        .zip(lines)
        .enumerate()
        .map(|(i, (name, points))| Series {
            name,
            points,
            until: end,
            stroke: Stroke::palette(i),
        })
        .collect();
    step_chart(
        title,
        &series,
        Axes {
            end,
            max_y: f64::from(max.max(1)),
            percent: false,
        },
    )
}

/// Title of the utilisation charts.
pub(crate) const UTILIZATION_TITLE: &str = "Allocated / allocatable over time";
/// Title of the pending-workloads charts.
pub(crate) const PENDING_TITLE: &str = "Pending workloads per ClusterQueue";

/// The start of a report page, up to and including its `<h1>`: the document's title, and
/// the style every report shares.
pub(crate) fn page_start(title: &str) -> String {
    format!(
        r#"<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{t}</title><style>
body{{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:2rem auto;max-width:920px;color:#222;background:#fff}}
h1{{font-size:1.5rem}}h2{{font-size:1.15rem;margin-top:2rem}}
table{{border-collapse:collapse;margin:.5rem 0;font-size:.9rem}}td,th{{padding:.25rem .5rem;border-bottom:1px solid #e5e5e5;text-align:right}}
.wide{{overflow-x:auto}}
th:first-child,td:first-child{{text-align:left}}figure{{margin:1rem 0}}figcaption{{font-weight:600;margin-bottom:.3rem}}
.legend span{{margin-right:1rem;font-size:.85rem}}.legend svg{{margin-right:.3rem;vertical-align:middle}}
.kpi{{display:flex;flex-wrap:wrap;gap:1rem}}.kpi div{{background:#f5f7fa;padding:.6rem .9rem;border-radius:6px}}.kpi b{{display:block;font-size:1.2rem}}
</style></head><body><h1>{t}</h1>"#,
        t = escape(title)
    )
}

/// The end of a report page: which command generated it.
pub(crate) fn page_end(command: &str) -> String {
    format!(
        "<p style=\"color:#777;font-size:.85rem\">Generated by <code>{}</code>. Times are simulated time.</p></body></html>\n",
        escape(command)
    )
}

/// Renders the report of one run.
pub fn render(outcome: &Outcome, title: &str) -> String {
    let s = &outcome.summary;
    let tl = &outcome.timeline;
    let end = s.makespan_seconds;
    let mut html = page_start(&format!("Muster simulation: {title}"));
    let _ = write!(
        html,
        r#"<div class="kpi"><div><b>{}</b>workloads</div><div><b>{}</b>admitted</div><div><b>{}</b>finished</div><div><b>{}</b>pending at end</div><div><b>{}</b>preemptions</div><div><b>{}</b>makespan</div><div><b>{}</b>mean wait</div><div><b>{}</b>p95 wait</div><div><b>{:.3}</b>Jain fairness</div></div>"#,
        s.workloads,
        s.admitted,
        s.finished,
        s.pending_at_end,
        s.preemptions,
        human_time(s.makespan_seconds),
        human_time(s.wait_seconds.mean),
        human_time(s.wait_seconds.p95),
        s.fairness.jain
    );
    if s.preemptions > 0 || s.backfilled > 0 {
        html.push_str(r#"<div class="kpi" style="margin-top:1rem">"#);
        for (reason, n) in &s.preemptions_by_reason {
            let _ = write!(html, "<div><b>{n}</b>preempted: {}</div>", escape(reason));
        }
        if s.preemptions > 0 {
            let _ = write!(
                html,
                "<div><b>{:.1}</b>core-hours lost</div><div><b>{:.1}</b>GPU-hours lost</div>",
                s.lost_to_preemption.core_hours, s.lost_to_preemption.gpu_hours
            );
        }
        if s.backfilled > 0 {
            let _ = write!(html, "<div><b>{}</b>backfilled</div>", s.backfilled);
        }
        html.push_str("</div>");
    }
    if let Some(numa) = &s.numa {
        let _ = write!(
            html,
            r#"<div class="kpi" style="margin-top:1rem"><div><b>{}</b>pods on NUMA nodes ({})</div><div><b>{}</b>Topology Affinity Errors</div></div>"#,
            numa.pods_on_topology_nodes,
            if numa.mode == "blind" {
                "NUMA-blind placement"
            } else {
                "NUMA-aware placement"
            },
            numa.topology_affinity_errors
        );
    }

    html.push_str(
        "<h2>Utilization</h2><table><tr><th>resource</th><th>time-weighted utilization</th></tr>",
    );
    for (r, u) in &s.utilization {
        let _ = write!(
            html,
            "<tr><td>{}</td><td>{:.1}%</td></tr>",
            escape(r),
            u * 100.0
        );
    }
    html.push_str("</table>");
    let lines = columns(tl, end, tl.resources.len(), |s, i| {
        s.utilization.get(i).copied().unwrap_or(0.0)
    });
    let util: Vec<Series<'_>> = tl
        .resources
        .iter()
        .zip(lines)
        .enumerate()
        .map(|(i, (name, points))| Series {
            name,
            points,
            until: end,
            stroke: Stroke::palette(i),
        })
        .collect();
    html.push_str(&step_chart(
        UTILIZATION_TITLE,
        &util,
        Axes {
            end,
            max_y: 1.0,
            percent: true,
        },
    ));

    html.push_str("<h2>Queues</h2>");
    html.push_str(&queue_chart(PENDING_TITLE, tl, end, |s| s.pending));
    html.push_str(&queue_chart(
        "Running workloads per ClusterQueue",
        tl,
        end,
        |s| s.running,
    ));

    html.push_str(
        "<h2>Wait times per ClusterQueue</h2><div class=\"wide\"><table><tr><th>ClusterQueue</th><th>workloads</th><th>admitted</th>\
         <th>pending at end</th><th>preempted</th><th>mean wait</th><th>p50</th><th>p95</th><th>p99</th><th>max</th>\
         <th>usage share</th></tr>",
    );
    for (name, q) in &s.cluster_queues {
        let w = outcome.queue_waits.get(name).copied().unwrap_or_default();
        let _ = write!(
            html,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.1}%</td></tr>",
            escape(name),
            q.workloads,
            q.admitted,
            q.pending_at_end,
            q.preempted,
            human_time(w.mean),
            human_time(w.p50),
            human_time(w.p95),
            human_time(w.p99),
            human_time(w.max),
            q.usage_share * 100.0
        );
    }
    html.push_str("</table></div>");
    html.push_str(&wait_cdf(outcome));

    // Workloads still pending at the end, with the core's reason.
    let model = &outcome.model;
    let pending_list: Vec<_> = model
        .workloads()
        .iter()
        .enumerate()
        .filter(|(_, w)| w.is_pending())
        .take(200)
        .collect();
    if !pending_list.is_empty() {
        html.push_str("<h2>Pending at the end</h2><table><tr><th>workload</th><th>ClusterQueue</th><th>why</th></tr>");
        for (i, w) in &pending_list {
            let _ = write!(
                html,
                "<tr><td>{}</td><td>{}</td><td style=\"text-align:left\">{}</td></tr>",
                escape(&w.key.to_string()),
                escape(&model.cluster_queue(w.cq).name),
                escape(&model.explain(muster_core::WorkloadId(*i as u32)))
            );
        }
        if s.pending_at_end as usize > pending_list.len() {
            let _ = write!(
                html,
                "<tr><td colspan=\"3\">… and {} more</td></tr>",
                s.pending_at_end as usize - pending_list.len()
            );
        }
        html.push_str("</table>");
    }
    html.push_str(&page_end("muster simulate"));
    html
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_times() {
        assert_eq!(human_time(0.0), "0");
        assert_eq!(human_time(30.0), "30s");
        assert_eq!(human_time(90.0), "1m30s");
        assert_eq!(human_time(5400.0), "1h30m");
        assert_eq!(human_time(90000.0), "1d1h");
    }

    #[test]
    fn escapes_html() {
        assert_eq!(escape("a<b & \"c\""), "a&lt;b &amp; &quot;c&quot;");
    }

    #[test]
    fn reduction_keeps_peaks() {
        let points: Vec<(f64, f64)> = (0..100_000)
            .map(|i| (i as f64, if i == 50_000 { 9.0 } else { 1.0 }))
            .collect();
        let r = reduce(points.into_iter(), 100_000.0);
        assert!(r.len() < 2000);
        assert!(r.iter().any(|&(_, v)| v == 9.0));
    }

    #[test]
    fn a_chart_has_its_title_in_the_dom_and_a_legend_drawn_like_its_lines() {
        let series = [
            Series {
                name: "solid <a>",
                points: vec![(0.0, 1.0), (50.0, 2.0)],
                until: 50.0,
                stroke: Stroke::palette(0),
            },
            Series {
                name: "dashed",
                points: vec![(10.0, 4.0)],
                until: 100.0,
                stroke: Stroke {
                    color: "#000",
                    dash: Some("3 2"),
                },
            },
        ];
        let axes = Axes {
            end: 100.0,
            max_y: 3.0,
            percent: false,
        };
        let svg = step_chart("Title & more", &series, axes);
        assert!(
            svg.contains("<figcaption>Title &amp; more</figcaption>"),
            "{svg}"
        );
        assert!(svg.contains("<title>Title &amp; more</title>"), "{svg}");
        // Each line and its legend entry share colour and dash pattern.
        let dashed = r##"stroke="#000" stroke-dasharray="3 2""##;
        assert_eq!(svg.matches(dashed).count(), 2, "{svg}");
        assert_eq!(svg.matches(r##"stroke="#1f77b4""##).count(), 2, "{svg}");
        assert!(svg.contains("</svg>solid &lt;a&gt;</span>"), "{svg}");
        // A line ends at its own end (x = 56 + 792 / 2), the other at the axis' end; counts
        // get a top rounded up to a multiple of 4.
        assert!(svg.contains("H452.0\" fill"), "{svg}");
        assert!(svg.contains("H848.0\" fill"), "{svg}");
        assert!(svg.contains(">4</text>"), "{svg}");
    }

    #[test]
    fn a_cdf_reaches_one_at_the_longest_wait() {
        assert!(cdf_points(&[]).is_empty());
        let waits: Vec<i64> = (1..=1000).map(|i| i * 1000).collect();
        let p = cdf_points(&waits);
        assert!(p.len() <= CDF_POINTS + 1, "{}", p.len());
        assert_eq!(p.last(), Some(&(1000.0, 1.0)));
        assert!(p.windows(2).all(|w| w[0].0 <= w[1].0 && w[0].1 <= w[1].1));
        assert_eq!(longest_wait([&waits, &vec![5]]), 1000.0);
        assert_eq!(longest_wait(std::iter::empty()), 1.0);
    }
}
