//! The quarterly aggregate report: the SQL lives in `sql/report.sql`; this
//! module runs it, suppresses rows seen on fewer than K machines, and renders
//! Markdown, CSV, JSON or a self-contained HTML page. Anonymous IDs are only
//! ever counted, never output.

use chrono::{Datelike, NaiveDate};
use rusqlite::Connection;
use serde_json::{json, Value};

pub const REPORT_SQL: &str = include_str!("../sql/report.sql");

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quarter {
    pub label: String,
    pub start: NaiveDate,
    /// Exclusive.
    pub end: NaiveDate,
}

impl Quarter {
    /// `2026-Q4` (case-insensitive Q).
    pub fn parse(text: &str) -> Result<Quarter, String> {
        let bad = || format!("'{text}' is not a quarter like 2026-Q4");
        let (year, q) = text.split_once('-').ok_or_else(bad)?;
        let year: i32 = year.parse().map_err(|_| bad())?;
        let q: u32 = q
            .strip_prefix(['Q', 'q'])
            .ok_or_else(bad)?
            .parse()
            .map_err(|_| bad())?;
        if !(1..=4).contains(&q) || !(1970..=9999).contains(&year) {
            return Err(bad());
        }
        let start = NaiveDate::from_ymd_opt(year, 3 * (q - 1) + 1, 1).ok_or_else(bad)?;
        let end = if q == 4 {
            NaiveDate::from_ymd_opt(year + 1, 1, 1)
        } else {
            NaiveDate::from_ymd_opt(year, 3 * q + 1, 1)
        }
        .ok_or_else(bad)?;
        Ok(Quarter {
            label: format!("{year}-Q{q}"),
            start,
            end,
        })
    }

    pub fn ms(date: NaiveDate) -> i64 {
        date.and_hms_opt(0, 0, 0)
            .expect("midnight")
            .and_utc()
            .timestamp_millis()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub key: String,
    pub count: u64,
    pub machines: u64,
}

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

fn statements() -> Vec<(&'static str, String)> {
    let mut out: Vec<(&'static str, String)> = Vec::new();
    for line in REPORT_SQL.lines() {
        if let Some(name) = line.strip_prefix("-- name:") {
            out.push((name.trim(), String::new()));
        } else if let Some((_, sql)) = out.last_mut() {
            if !line.trim_start().starts_with("--") {
                sql.push_str(line);
                sql.push('\n');
            }
        }
    }
    out
}

fn empty_report(quarter: &Quarter, min_machines: u64) -> Report {
    Report {
        quarter: quarter.clone(),
        min_machines,
        total_events: 0,
        machines: 0,
        events: vec![],
        by_os: vec![],
        by_build: vec![],
        errors_by_command: vec![],
        weekly: vec![],
        suppressed: 0,
    }
}

fn bounds(quarter: &Quarter) -> (i64, i64) {
    (Quarter::ms(quarter.start), Quarter::ms(quarter.end))
}

/// Drops rows seen on fewer than K machines, counting them.
fn keep(lines: Vec<Line>, min_machines: u64, suppressed: &mut u64) -> Vec<Line> {
    let (kept, dropped): (Vec<Line>, Vec<Line>) =
        lines.into_iter().partition(|l| l.machines >= min_machines);
    *suppressed += dropped.len() as u64;
    kept
}

/// Count and distinct machines (interned as integers) per key.
#[derive(Default)]
struct Tally(std::collections::HashMap<String, (u64, std::collections::HashSet<u32>)>);

impl Tally {
    fn add(&mut self, key: &str, machine: u32) {
        let entry = match self.0.get_mut(key) {
            Some(e) => e,
            None => self.0.entry(key.to_string()).or_default(),
        };
        entry.0 += 1;
        entry.1.insert(machine);
    }

    /// Count descending, then key (weeks: chronological).
    fn lines(self, chronological: bool) -> Vec<Line> {
        let mut lines: Vec<Line> = self
            .0
            .into_iter()
            .map(|(key, (count, m))| Line {
                key,
                count,
                machines: m.len() as u64,
            })
            .collect();
        if chronological {
            lines.sort_by(|a, b| a.key.cmp(&b.key));
        } else {
            lines.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.key.cmp(&b.key)));
        }
        lines
    }
}

/// Monday (UTC) of the week containing `ms`, as YYYY-MM-DD.
fn week_of(ms: i64) -> String {
    let day = ms.div_euclid(86_400_000);
    let monday = day - (day + 3).rem_euclid(7); // 1970-01-01 was a Thursday
    NaiveDate::from_ymd_opt(1970, 1, 1)
        .and_then(|epoch| epoch.checked_add_signed(chrono::Duration::days(monday)))
        .map(|d| d.to_string())
        .unwrap_or_default()
}

/// The report, in one pass over the quarter's rows (the "rows" statement).
pub fn build(conn: &Connection, quarter: &Quarter, min_machines: u64) -> rusqlite::Result<Report> {
    let sql = statements()
        .into_iter()
        .find(|(n, _)| *n == "rows")
        .map(|(_, s)| s)
        .unwrap_or_default();
    let (start_ms, end_ms) = bounds(quarter);
    let mut stmt = conn.prepare(&sql)?;
    let mut rows =
        stmt.query(rusqlite::named_params! { ":start_ms": start_ms, ":end_ms": end_ms })?;
    let mut machine_ids: std::collections::HashMap<String, u32> = Default::default();
    let (mut events, mut by_os, mut by_build, mut errors) = (
        Tally::default(),
        Tally::default(),
        Tally::default(),
        Tally::default(),
    );
    let mut weeks: std::collections::HashMap<i64, (u64, std::collections::HashSet<u32>)> =
        Default::default();
    let mut total = 0u64;
    while let Some(row) = rows.next()? {
        let text = |i: usize| -> rusqlite::Result<&str> {
            Ok(row.get_ref(i)?.as_str_or_null()?.unwrap_or("unknown"))
        };
        let key = text(1)?;
        let next_id = machine_ids.len() as u32;
        let machine = match machine_ids.get(key) {
            Some(id) => *id,
            None => *machine_ids.entry(key.to_string()).or_insert(next_id),
        };
        let event = text(0)?;
        events.add(event, machine);
        by_os.add(text(2)?, machine);
        by_build.add(text(3)?, machine);
        if event == "Error" {
            errors.add(text(4)?, machine);
        }
        let ms: i64 = row.get(5)?;
        let day = ms.div_euclid(86_400_000);
        let entry = weeks.entry(day - (day + 3).rem_euclid(7)).or_default();
        entry.0 += 1;
        entry.1.insert(machine);
        total += 1;
    }
    let mut report = empty_report(quarter, min_machines);
    report.total_events = total;
    report.machines = machine_ids.len() as u64;
    let mut weekly: Vec<Line> = weeks
        .into_iter()
        .map(|(monday, (count, m))| Line {
            key: week_of(monday * 86_400_000),
            count,
            machines: m.len() as u64,
        })
        .collect();
    weekly.sort_by(|a, b| a.key.cmp(&b.key));
    let mut s = 0;
    report.events = keep(events.lines(false), min_machines, &mut s);
    report.by_os = keep(by_os.lines(false), min_machines, &mut s);
    report.by_build = keep(by_build.lines(false), min_machines, &mut s);
    report.errors_by_command = keep(errors.lines(false), min_machines, &mut s);
    report.weekly = keep(weekly, min_machines, &mut s);
    report.suppressed = s;
    Ok(report)
}

/// The same report computed by the SQL statements (the warehouse path).
pub fn build_with_sql(
    conn: &Connection,
    quarter: &Quarter,
    min_machines: u64,
) -> rusqlite::Result<Report> {
    let mut report = empty_report(quarter, min_machines);
    let (start_ms, end_ms) = bounds(quarter);
    conn.execute_batch("PRAGMA temp_store = MEMORY; DROP TABLE IF EXISTS temp.quarter;")?;
    for (name, sql) in statements() {
        match name {
            "rows" => continue,
            "quarter" => {
                conn.execute(
                    &sql,
                    rusqlite::named_params! { ":start_ms": start_ms, ":end_ms": end_ms },
                )?;
                continue;
            }
            "cleanup" => {
                conn.execute_batch(&sql)?;
                continue;
            }
            _ => {}
        }
        let mut stmt = conn.prepare(&sql)?;
        if name == "totals" {
            let (events, machines) =
                stmt.query_row([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?)))?;
            report.total_events = events as u64;
            report.machines = machines as u64;
            continue;
        }
        let lines = stmt
            .query_map([], |r| {
                Ok(Line {
                    key: r
                        .get::<_, Option<String>>(0)?
                        .unwrap_or_else(|| "unknown".into()),
                    count: r.get::<_, i64>(1)? as u64,
                    machines: r.get::<_, i64>(2)? as u64,
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        let kept = keep(lines, min_machines, &mut report.suppressed);
        match name {
            "events" => report.events = kept,
            "by_os" => report.by_os = kept,
            "by_build" => report.by_build = kept,
            "errors_by_command" => report.errors_by_command = kept,
            "weekly" => report.weekly = kept,
            _ => {}
        }
    }
    Ok(report)
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

/// The quarter containing `date`.
pub fn quarter_of(date: NaiveDate) -> String {
    format!("{}-Q{}", date.year(), (date.month() - 1) / 3 + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weeks_start_on_monday() {
        let ms = |s: &str| {
            chrono::DateTime::parse_from_rfc3339(s)
                .unwrap()
                .timestamp_millis()
        };
        assert_eq!(week_of(ms("2026-11-23T00:00:00Z")), "2026-11-23");
        assert_eq!(week_of(ms("2026-11-29T23:59:59Z")), "2026-11-23");
        assert_eq!(week_of(ms("2026-11-30T00:00:00Z")), "2026-11-30");
        assert_eq!(week_of(ms("1969-12-31T12:00:00Z")), "1969-12-29");
    }

    #[test]
    fn quarter_bounds() {
        let q = Quarter::parse("2026-Q4").unwrap();
        assert_eq!(q.start, NaiveDate::from_ymd_opt(2026, 10, 1).unwrap());
        assert_eq!(q.end, NaiveDate::from_ymd_opt(2027, 1, 1).unwrap());
        assert_eq!(
            Quarter::parse("2026-q1").unwrap().end,
            NaiveDate::from_ymd_opt(2026, 4, 1).unwrap()
        );
        for bad in ["2026-Q5", "2026Q4", "x-Q1", "2026-Q0"] {
            assert!(Quarter::parse(bad).is_err(), "{bad}");
        }
    }
}
