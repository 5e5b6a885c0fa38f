//! The quarterly aggregate report: the SQL lives in `sql/report.sql`; this
//! module runs it, suppresses rows seen on fewer than K machines, and renders
//! Markdown, CSV, JSON or a self-contained HTML page. Anonymous IDs are only
//! ever counted, never output.

use crate::store::{Database, Tallies};
use chrono::NaiveDate;
use serde_json::{json, Value};

pub use crate::quarter::{quarter_of, Quarter};
pub use crate::store::Line;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub quarter: Quarter,
    pub min_machines: u64,
    pub total_events: u64,
    pub machines: u64,
    pub events: Vec<Line>,
    pub by_os: Vec<Line>,
    pub by_build: Vec<Line>,
    pub errors_by_command: Vec<Line>,
    pub weekly: Vec<Line>,
    pub suppressed: u64,
}

/// Drops rows seen on fewer than K machines, counting them.
fn keep(lines: Vec<Line>, min_machines: u64, suppressed: &mut u64) -> Vec<Line> {
    let (kept, dropped): (Vec<Line>, Vec<Line>) =
        lines.into_iter().partition(|l| l.machines >= min_machines);
    *suppressed += dropped.len() as u64;
    kept
}

/// The report from the backend's aggregation inputs: suppression is applied
/// here, the same for every backend.
pub fn from_tallies(t: Tallies, quarter: &Quarter, min_machines: u64) -> Report {
    let mut s = 0;
    let events = keep(t.events, min_machines, &mut s);
    let by_os = keep(t.by_os, min_machines, &mut s);
    let by_build = keep(t.by_build, min_machines, &mut s);
    let errors_by_command = keep(t.errors_by_command, min_machines, &mut s);
    let weekly = keep(t.weekly, min_machines, &mut s);
    Report {
        quarter: quarter.clone(),
        min_machines,
        total_events: t.total_events,
        machines: t.machines,
        events,
        by_os,
        by_build,
        errors_by_command,
        weekly,
        suppressed: s,
    }
}

/// The quarter's report from whichever database holds the events.
pub fn build(db: &mut Database, quarter: &Quarter, min_machines: u64) -> Result<Report, String> {
    Ok(from_tallies(db.tallies(quarter)?, quarter, min_machines))
}

fn lines_json(lines: &[Line], key: &str) -> Value {
    Value::Array(
        lines
            .iter()
            .map(|l| json!({ key: l.key, "count": l.count, "machines": l.machines }))
            .collect(),
    )
}

pub fn to_json(r: &Report) -> String {
    let value = json!({
        "quarter": r.quarter.label,
        "total_events": r.total_events,
        "machines": r.machines,
        "events": lines_json(&r.events, "event"),
        "by_os": lines_json(&r.by_os, "os"),
        "by_build": lines_json(&r.by_build, "build"),
        "errors_by_command": lines_json(&r.errors_by_command, "command"),
        "weekly": lines_json(&r.weekly, "week"),
        "suppressed": r.suppressed,
    });
    serde_json::to_string_pretty(&value).unwrap_or_default() + "\n"
}

/// (section title, key column, lines)
fn sections(r: &Report) -> [(&'static str, &'static str, &[Line]); 5] {
    [
        ("Events", "event", &r.events),
        ("By operating system", "os", &r.by_os),
        ("By build", "build", &r.by_build),
        ("Errors by command", "command", &r.errors_by_command),
        (
            "Weekly trend (weeks start on Monday, UTC)",
            "week",
            &r.weekly,
        ),
    ]
}

fn last_day(q: &Quarter) -> NaiveDate {
    q.end.pred_opt().unwrap_or(q.end)
}

fn summary(r: &Report) -> String {
    format!(
        "Quarter {} to {} (UTC): {} events from {} machines. Rows seen on fewer than {} machines are \
         suppressed ({} suppressed). Anonymous IDs are never published.",
        r.quarter.start,
        last_day(&r.quarter),
        r.total_events,
        r.machines,
        r.min_machines,
        r.suppressed
    )
}

pub fn to_markdown(r: &Report) -> String {
    let mut out = format!(
        "# cfdev-shim usage report — {}\n\n{}\n",
        r.quarter.label,
        summary(r)
    );
    for (title, key, lines) in sections(r) {
        out.push_str(&format!(
            "\n## {title}\n\n| {key} | count | machines |\n|---|---:|---:|\n"
        ));
        if lines.is_empty() {
            out.push_str("| (none) | | |\n");
        }
        for l in lines {
            out.push_str(&format!(
                "| {} | {} | {} |\n",
                l.key.replace('|', "\\|"),
                l.count,
                l.machines
            ));
        }
    }
    out
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

pub fn to_csv(r: &Report) -> String {
    let mut out = String::from("section,key,count,machines\n");
    out.push_str(&format!(
        "total,{},{},{}\n",
        csv_field(&r.quarter.label),
        r.total_events,
        r.machines
    ));
    let names = ["event", "os", "build", "error_command", "week"];
    for (name, (_, _, lines)) in names.iter().zip(sections(r)) {
        for l in lines {
            out.push_str(&format!(
                "{name},{},{},{}\n",
                csv_field(&l.key),
                l.count,
                l.machines
            ));
        }
    }
    out.push_str(&format!("suppressed,rows,{},\n", r.suppressed));
    out
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn bar_chart(lines: &[Line]) -> String {
    let max = lines.iter().map(|l| l.count).max().unwrap_or(1).max(1) as f64;
    let row_h = 26;
    let height = (lines.len().max(1) * row_h + 10) as u32;
    let mut svg = format!(
        "<svg role=\"img\" aria-label=\"Events by count\" xmlns=\"http://www.w3.org/2000/svg\" \
         width=\"720\" height=\"{height}\" viewBox=\"0 0 720 {height}\">\n"
    );
    for (i, l) in lines.iter().enumerate() {
        let y = i * row_h + 5;
        let w = (l.count as f64 / max * 440.0).max(1.0);
        svg.push_str(&format!(
            "<text x=\"210\" y=\"{}\" text-anchor=\"end\" class=\"label\">{}</text>\
             <rect x=\"220\" y=\"{y}\" width=\"{w:.1}\" height=\"18\" class=\"bar\"/>\
             <text x=\"{:.1}\" y=\"{}\" class=\"value\">{}</text>\n",
            y + 14,
            esc(&l.key),
            220.0 + w + 6.0,
            y + 14,
            l.count
        ));
    }
    svg.push_str("</svg>");
    svg
}

fn trend_chart(lines: &[Line]) -> String {
    let (w, h, pad) = (720.0, 220.0, 40.0);
    let max = lines.iter().map(|l| l.count).max().unwrap_or(1).max(1) as f64;
    let n = lines.len();
    let x = |i: usize| {
        if n <= 1 {
            w / 2.0
        } else {
            pad + i as f64 * (w - 2.0 * pad) / (n - 1) as f64
        }
    };
    let y = |c: u64| h - pad - c as f64 / max * (h - 2.0 * pad);
    let points: Vec<String> = lines
        .iter()
        .enumerate()
        .map(|(i, l)| format!("{:.1},{:.1}", x(i), y(l.count)))
        .collect();
    let mut svg = format!(
        "<svg role=\"img\" aria-label=\"Weekly events\" xmlns=\"http://www.w3.org/2000/svg\" \
         width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\">\n\
         <line x1=\"{pad}\" y1=\"{0}\" x2=\"{1}\" y2=\"{0}\" class=\"axis\"/>\n",
        h - pad,
        w - pad
    );
    svg.push_str(&format!(
        "<polyline points=\"{}\" class=\"trend\"/>\n",
        points.join(" ")
    ));
    for (i, l) in lines.iter().enumerate() {
        svg.push_str(&format!(
            "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"3\" class=\"dot\"><title>{}: {}</title></circle>\
             <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" class=\"value\">{}</text>\
             <text x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\" class=\"tick\">{}</text>\n",
            x(i),
            y(l.count),
            esc(&l.key),
            l.count,
            x(i),
            y(l.count) - 8.0,
            l.count,
            x(i),
            h - pad + 16.0,
            esc(&l.key[5.min(l.key.len())..])
        ));
    }
    svg.push_str("</svg>");
    svg
}

pub fn to_html(r: &Report) -> String {
    let mut tables = String::new();
    for (title, key, lines) in sections(r) {
        tables.push_str(&format!(
            "<h2>{}</h2>\n<table><thead><tr><th>{key}</th><th>count</th><th>machines</th></tr></thead><tbody>\n",
            esc(title)
        ));
        if lines.is_empty() {
            tables.push_str("<tr><td colspan=\"3\">(none)</td></tr>\n");
        }
        for l in lines {
            tables.push_str(&format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td></tr>\n",
                esc(&l.key),
                l.count,
                l.machines
            ));
        }
        tables.push_str("</tbody></table>\n");
    }
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <title>cfdev-shim usage report {label}</title>\n<style>\n\
         body {{ font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 800px; color: #222; }}\n\
         table {{ border-collapse: collapse; margin-bottom: 1.5rem; }}\n\
         th, td {{ border-bottom: 1px solid #ddd; padding: .3rem .8rem; text-align: left; }}\n\
         td + td, th + th {{ text-align: right; }}\n\
         .bar {{ fill: #2b7bb9; }} .label, .value, .tick {{ font-size: 12px; fill: #333; }}\n\
         .trend {{ fill: none; stroke: #2b7bb9; stroke-width: 2; }} .dot {{ fill: #2b7bb9; }}\n\
         .axis {{ stroke: #999; }}\n</style>\n</head>\n<body>\n\
         <h1>cfdev-shim usage report — {label}</h1>\n<p>{summary}</p>\n\
         <h2>Events</h2>\n{bars}\n<h2>Weekly trend</h2>\n{trend}\n{tables}</body>\n</html>\n",
        label = esc(&r.quarter.label),
        summary = esc(&summary(r)),
        bars = bar_chart(&r.events),
        trend = trend_chart(&r.weekly),
        tables = tables
    )
}

pub fn render(r: &Report, format: &str) -> Result<String, String> {
    match format {
        "json" => Ok(to_json(r)),
        "md" | "markdown" => Ok(to_markdown(r)),
        "csv" => Ok(to_csv(r)),
        "html" => Ok(to_html(r)),
        other => Err(format!("unknown format '{other}' (md, csv, json or html)")),
    }
}
