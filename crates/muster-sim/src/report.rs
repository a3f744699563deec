//! `report.html`: one self-contained page (no scripts, no external assets) with the summary,
//! utilization over time, pending and running workloads per ClusterQueue as inline SVG step
//! charts, and a table of wait times per ClusterQueue.
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

struct Series<'a> {
    name: &'a str,
    points: Vec<(f64, f64)>,
}

/// A step chart of several series over `[0, end]` seconds, values in `[0, max_y]`.
fn step_chart(title: &str, series: &[Series<'_>], end: f64, max_y: f64, percent: bool) -> String {
    let mut svg = String::new();
    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let end = if end > 0.0 { end } else { 1.0 };
    // Counts get whole-number gridlines: the top is rounded up to a multiple of 4.
    let max_y = match (percent, max_y > 0.0) {
        (_, false) => 1.0,
        (true, true) => max_y,
        (false, true) => (max_y / 4.0).ceil() * 4.0,
    };
    let x = |t: f64| LEFT + t / end * plot_w;
    let y = |v: f64| TOP + plot_h - (v / max_y).clamp(0.0, 1.0) * plot_h;
    let _ = write!(
        svg,
        r#"<figure><figcaption>{}</figcaption><svg viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" role="img" aria-label="{}">"#,
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
    for (i, s) in series.iter().enumerate() {
        if s.points.is_empty() {
            continue;
        }
        let color = PALETTE[i % PALETTE.len()];
        let mut d = String::new();
        let mut prev_y = None;
        for &(t, v) in &s.points {
            let (px, py) = (x(t), y(v));
            match prev_y {
                None => {
                    let _ = write!(d, "M{:.1},{:.1}", x(0.0), y(0.0));
                    let _ = write!(d, "H{px:.1}V{py:.1}");
                }
                Some(_) => {
                    let _ = write!(d, "H{px:.1}V{py:.1}");
                }
            }
            prev_y = Some(py);
        }
        let _ = write!(d, "H{:.1}", x(end));
        let _ = write!(
            svg,
            r#"<path d="{d}" fill="none" stroke="{color}" stroke-width="1.6"><title>{}</title></path>"#,
            escape(s.name)
        );
    }
    svg.push_str("</svg><div class=\"legend\">");
    for (i, s) in series.iter().enumerate() {
        let _ = write!(
            svg,
            r#"<span><i style="background:{}"></i>{}</span>"#,
            PALETTE[i % PALETTE.len()],
            escape(s.name)
        );
    }
    svg.push_str("</div></figure>");
    svg
}

/// Reduces points to at most one column per pixel, keeping each column's peak then its last
/// value.
fn reduce(points: Vec<(f64, f64)>, end: f64) -> Vec<(f64, f64)> {
    let columns = (WIDTH - LEFT - RIGHT) as usize;
    if points.len() <= columns * 2 || end <= 0.0 {
        return points;
    }
    let mut out: Vec<(f64, f64)> = Vec::new();
    let mut current: Option<(usize, f64, f64, f64)> = None; // column, first t, peak, last
    for (t, v) in points {
        let col = ((t / end) * columns as f64) as usize;
        match &mut current {
            Some((c, _, peak, last)) if *c == col => {
                *peak = peak.max(v);
                *last = v;
            }
            _ => {
                if let Some((_, t0, peak, last)) = current.take() {
                    out.push((t0, peak));
                    out.push((t0, last));
                }
                current = Some((col, t, v, v));
            }
        }
    }
    if let Some((_, t0, peak, last)) = current {
        out.push((t0, peak));
        out.push((t0, last));
    }
    out
}

/// Points a wait-time CDF keeps per ClusterQueue.
const CDF_POINTS: usize = 200;

/// The wait-time CDF per ClusterQueue: for each wait x, the fraction of the queue's admitted
/// workloads that waited at most x (quantiles of the sorted waits, at most [`CDF_POINTS`]
/// per queue).
fn wait_cdf(outcome: &Outcome) -> String {
    let max = outcome
        .queue_wait_samples
        .values()
        .filter_map(|w| w.last())
        .max()
        .copied()
        .unwrap_or(0) as f64
        / 1000.0;
    let series: Vec<Series<'_>> = outcome
        .queue_wait_samples
        .iter()
        .filter(|(_, w)| !w.is_empty())
        .map(|(name, w)| {
            let n = w.len();
            let step = n.div_ceil(CDF_POINTS).max(1);
            let mut points: Vec<(f64, f64)> = (step - 1..n)
                .step_by(step)
                .map(|i| (w[i] as f64 / 1000.0, (i + 1) as f64 / n as f64))
                .collect();
            if points.last().is_none_or(|p| p.1 < 1.0) {
                points.push((w[n - 1] as f64 / 1000.0, 1.0));
            }
            Series { name, points }
        })
        .collect();
    if series.is_empty() {
        return String::new();
    }
    step_chart(
        "Wait-time CDF per ClusterQueue: share of admitted workloads that waited at most this long",
        &series,
        max.max(1.0),
        1.0,
        true,
    )
}

fn column(
    timeline: &Timeline,
    end: f64,
    f: impl Fn(&crate::stats::Sample) -> f64,
) -> Vec<(f64, f64)> {
    reduce(
        timeline.samples.iter().map(|s| (s.time, f(s))).collect(),
        end,
    )
}

/// A step chart of one count per ClusterQueue over time.
fn queue_chart(
    title: &str,
    tl: &Timeline,
    end: f64,
    counts: impl Fn(&crate::stats::Sample) -> &[u32],
) -> String {
    let max = tl
        .samples
        .iter()
        .flat_map(|s| counts(s).iter())
        .copied()
        .max()
        .unwrap_or(0);
    let series: Vec<Series<'_>> = tl
        .cluster_queues
        .iter()
        .enumerate()
        .map(|(i, name)| Series {
            name,
            points: column(tl, end, |s| f64::from(counts(s)[i])),
        })
        .collect();
    step_chart(title, &series, end, f64::from(max.max(1)), false)
}

/// Renders the report.
pub fn render(outcome: &Outcome, title: &str) -> String {
    let s = &outcome.summary;
    let tl = &outcome.timeline;
    let end = s.makespan_seconds;
    let mut html = String::new();
    let _ = write!(
        html,
        r#"<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Muster simulation: {}</title><style>
body{{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:2rem auto;max-width:920px;color:#222}}
h1{{font-size:1.5rem}}h2{{font-size:1.15rem;margin-top:2rem}}
table{{border-collapse:collapse;margin:.5rem 0;font-size:.9rem}}td,th{{padding:.25rem .5rem;border-bottom:1px solid #e5e5e5;text-align:right}}
.wide{{overflow-x:auto}}
th:first-child,td:first-child{{text-align:left}}figure{{margin:1rem 0}}figcaption{{font-weight:600;margin-bottom:.3rem}}
.legend span{{margin-right:1rem;font-size:.85rem}}.legend i{{display:inline-block;width:.8rem;height:.8rem;margin-right:.3rem;vertical-align:middle}}
.kpi{{display:flex;flex-wrap:wrap;gap:1rem}}.kpi div{{background:#f5f7fa;padding:.6rem .9rem;border-radius:6px}}.kpi b{{display:block;font-size:1.2rem}}
</style></head><body><h1>Muster simulation: {}</h1>"#,
        escape(title),
        escape(title)
    );
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
    let util: Vec<Series<'_>> = tl
        .resources
        .iter()
        .enumerate()
        .map(|(i, name)| Series {
            name,
            points: column(tl, end, |s| s.utilization[i]),
        })
        .collect();
    html.push_str(&step_chart(
        "Allocated / allocatable over time",
        &util,
        end,
        1.0,
        true,
    ));

    html.push_str("<h2>Queues</h2>");
    html.push_str(&queue_chart(
        "Pending workloads per ClusterQueue",
        tl,
        end,
        |s| &s.pending,
    ));
    html.push_str(&queue_chart(
        "Running workloads per ClusterQueue",
        tl,
        end,
        |s| &s.running,
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
    html.push_str("<p style=\"color:#777;font-size:.85rem\">Generated by <code>muster simulate</code>. Times are simulated time.</p></body></html>\n");
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
        let r = reduce(points, 100_000.0);
        assert!(r.len() < 2000);
        assert!(r.iter().any(|&(_, v)| v == 9.0));
    }
}
