//! HTML pages: one quarter's report (also `report --format html`), the
//! index of quarters and the JSON schema page of the published site. Each
//! page is one self-contained file: inline CSS, inline SVG, no script, no
//! external resource; it prints well and every chart has its table.

use super::chart;
use super::escape::html as esc;
use super::methodology::{self, Window};
use super::policy::{Report, Row, State, Table};
use super::text::{error_cells, partial_note, percent, signed_percent, summary};
use chrono::{DateTime, Utc};

const CSS: &str = "\
:root { color-scheme: light; }
body { font: 16px/1.5 system-ui, -apple-system, 'Segoe UI', sans-serif; margin: 0 auto; max-width: 60rem; padding: 1rem 1.5rem 3rem; color: #1d1d1f; background: #fff; }
header nav { font-size: .9rem; display: flex; flex-wrap: wrap; gap: .3rem 1.2rem; }
a { color: #0b5cad; }
h1 { font-size: 1.8rem; margin: .6rem 0 .2rem; }
h2 { font-size: 1.35rem; margin-top: 2.2rem; border-bottom: 1px solid #ddd; padding-bottom: .2rem; }
h3 { font-size: 1.05rem; margin: 1.2rem 0 .3rem; }
.window, .note, figcaption { color: #555; font-size: .9rem; }
.headline { display: flex; flex-wrap: wrap; gap: 1rem 3rem; margin: 1.2rem 0; }
.headline div { min-width: 9rem; }
.headline dt { color: #555; font-size: .85rem; }
.headline dd { margin: 0; font-size: 1.9rem; font-weight: 600; font-variant-numeric: tabular-nums; }
.state { border-left: 5px solid #888; background: #f4f4f4; padding: .8rem 1rem; margin: 1.2rem 0; }
.state.no_data { border-color: #8a8a8a; }
.state.all_suppressed { border-color: #b36b00; background: #fff6e8; }
.state strong { display: block; font-size: 1.2rem; }
table { border-collapse: collapse; margin: .6rem 0 1rem; font-variant-numeric: tabular-nums; }
caption { text-align: left; color: #555; font-size: .85rem; padding-bottom: .2rem; }
th, td { border-bottom: 1px solid #e2e2e2; padding: .25rem .9rem .25rem 0; text-align: left; vertical-align: top; }
th { font-weight: 600; font-size: .9rem; }
td.n, th.n { text-align: right; }
tr.other td { color: #555; font-style: italic; }
figure { margin: .5rem 0; }
svg.chart { max-width: 100%; height: auto; display: block; }
svg .label, svg .value, svg .tick { font: 12px system-ui, sans-serif; fill: #333; }
svg .year { font-weight: 600; }
svg .axis-title { font: 11px system-ui, sans-serif; fill: #555; }
svg .bar, svg .col { fill: #2f6db5; }
svg .bar.other { fill: #9aa5b1; }
svg .hatch-bg { fill: #a9c4e6; } svg .hatch-line { stroke: #2f6db5; stroke-width: 2; }
svg .col.hidden { fill: none; stroke: #888; stroke-dasharray: 4 3; }
svg .grid { stroke: #e6e6e6; } svg .axis { stroke: #888; }
.legend { font-size: .85rem; color: #555; }
.swatch { display: inline-block; width: .9em; height: .9em; vertical-align: -.1em; margin: 0 .3em 0 1em; border: 1px solid #2f6db5; }
.swatch.full { background: #2f6db5; } .swatch.partial { background: repeating-linear-gradient(45deg, #2f6db5 0 2px, #a9c4e6 2px 6px); }
.swatch.hidden { border: 1px dashed #888; }
dl.terms { display: grid; grid-template-columns: max-content 1fr; gap: .15rem 1.2rem; }
dl.terms dt { font-weight: 600; } dl.terms dd { margin: 0; }
footer { margin-top: 3rem; color: #555; font-size: .85rem; border-top: 1px solid #ddd; padding-top: .5rem; }
@media print {
  body { max-width: none; padding: 0; font-size: 11pt; }
  header nav, .skip { display: none; }
  a { color: inherit; text-decoration: none; }
  h2 { break-after: avoid; } figure, table, .state, .headline { break-inside: avoid; }
  thead { display: table-header-group; }
  * { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
}
";

/// Links a page shows in its navigation (site pages; none for a standalone
/// `report --format html`).
#[derive(Default)]
pub struct Links {
    pub index: Option<String>,
    pub json: Option<String>,
    pub csv: Option<String>,
    pub schema: Option<String>,
    pub previous: Option<(String, String)>,
    pub next: Option<(String, String)>,
}

fn page(title: &str, state: &str, nav: &str, body: &str, footer: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{title}</title>\n<style>\n{CSS}</style>\n</head>\n<body data-state=\"{state}\">\n\
         <header>\n{nav}</header>\n<main>\n{body}</main>\n<footer>{footer}</footer>\n</body>\n</html>\n",
        title = esc(title),
    )
}

fn nav(links: &Links) -> String {
    let mut items = Vec::new();
    if let Some(index) = &links.index {
        items.push(format!("<a href=\"{}\">All quarters</a>", esc(index)));
    }
    if let Some((href, label)) = &links.previous {
        items.push(format!(
            "<a href=\"{}\" rel=\"prev\">← {}</a>",
            esc(href),
            esc(label)
        ));
    }
    if let Some((href, label)) = &links.next {
        items.push(format!(
            "<a href=\"{}\" rel=\"next\">{} →</a>",
            esc(href),
            esc(label)
        ));
    }
    if let Some(json) = &links.json {
        items.push(format!("<a href=\"{}\">report.json</a>", esc(json)));
    }
    if let Some(csv) = &links.csv {
        items.push(format!("<a href=\"{}\">report.csv</a>", esc(csv)));
    }
    if let Some(schema) = &links.schema {
        items.push(format!("<a href=\"{}\">JSON schema</a>", esc(schema)));
    }
    if items.is_empty() {
        String::new()
    } else {
        format!("<nav>{}</nav>\n", items.join("\n"))
    }
}

fn key_cell(row: &Row) -> String {
    if row.folded > 0 {
        format!(
            "other ({} {})",
            row.folded,
            if row.folded == 1 { "row" } else { "rows" }
        )
    } else {
        esc(&row.key)
    }
}

/// A chart and its table, or why there is none.
fn section(
    id: &str,
    title: &str,
    table: &Table,
    columns: &[&str],
    cells: impl Fn(&Row) -> Vec<String>,
    chart_label: impl Fn(&Row) -> String,
) -> String {
    let mut out = format!("<section id=\"{id}\">\n<h2>{}</h2>\n", esc(title));
    if table.withheld {
        out.push_str(
            "<p class=\"note withheld\">Withheld: fewer than K machines in all, so no row is \
             published.</p>\n</section>\n",
        );
        return out;
    }
    if table.rows.is_empty() {
        out.push_str("<p class=\"note empty\">None in this quarter.</p>\n</section>\n");
        return out;
    }
    out.push_str(&format!(
        "<figure>\n{}\n</figure>\n",
        chart::bars(&table.rows, chart_label),
    ));
    out.push_str(&format!(
        "<table>\n<caption>{}</caption>\n<thead><tr>",
        esc(title)
    ));
    for (i, c) in columns.iter().enumerate() {
        let class = if i == 0 { "" } else { " class=\"n\"" };
        out.push_str(&format!("<th scope=\"col\"{class}>{}</th>", esc(c)));
    }
    out.push_str("</tr></thead>\n<tbody>\n");
    for row in &table.rows {
        let class = if row.folded > 0 {
            " class=\"other\""
        } else {
            ""
        };
        out.push_str(&format!(
            "<tr{class}><th scope=\"row\">{}</th>",
            key_cell(row)
        ));
        for cell in cells(row) {
            out.push_str(&format!("<td class=\"n\">{}</td>", esc(&cell)));
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody>\n</table>\n");
    if table.suppressed > 0 {
        out.push_str(&format!(
            "<p class=\"note\">\"other\" holds {} rows seen on fewer than K machines (or joined \
             to them so that \"other\" covers K machines), and any names outside the public \
             vocabulary.</p>\n",
            table.suppressed
        ));
    }
    out.push_str("</section>\n");
    out
}

fn weekly(r: &Report) -> String {
    let mut out = String::from("<section id=\"weekly\">\n<h2>Weekly trend</h2>\n");
    out.push_str(&format!(
        "<figure>\n{}\n<figcaption><span class=\"legend\"><span class=\"swatch full\"></span>full \
         week<span class=\"swatch partial\"></span>partial week (cut by the quarter's edge or \
         still running)<span class=\"swatch hidden\"></span>suppressed (fewer than K machines)\
         </span></figcaption>\n</figure>\n",
        chart::weeks(&r.weekly.weeks, "weekly")
    ));
    out.push_str(
        "<table>\n<caption>Events per week (weeks start on Monday, UTC)</caption>\n<thead><tr>\
         <th scope=\"col\">week</th><th scope=\"col\" class=\"n\">days</th>\
         <th scope=\"col\" class=\"n\">events</th><th scope=\"col\" class=\"n\">machines</th>\
         <th scope=\"col\">note</th></tr></thead>\n<tbody>\n",
    );
    for w in &r.weekly.weeks {
        let last = w.span.end.pred_opt().unwrap_or(w.span.end);
        let number = |n: Option<u64>| n.map(|n| n.to_string()).unwrap_or("&lt;K".into());
        let mut note = partial_note(w.span.partial).to_string();
        if w.count.is_none() {
            note = if note.is_empty() {
                "suppressed".into()
            } else {
                format!("suppressed; {note}")
            };
        }
        out.push_str(&format!(
            "<tr><th scope=\"row\"><time datetime=\"{first}\">{first}</time> – {last}</th>\
             <td class=\"n\">{days}</td><td class=\"n\">{count}</td><td class=\"n\">{machines}</td>\
             <td>{note}</td></tr>\n",
            first = w.span.first,
            days = w.span.days(),
            count = number(w.count),
            machines = number(w.machines),
        ));
    }
    out.push_str("</tbody>\n</table>\n");
    if let Some(h) = &r.weekly.hidden {
        out.push_str(&format!(
            "<p class=\"note\">The {} suppressed weeks together: {} events from {} machines.</p>\n",
            h.weeks, h.count, h.machines
        ));
    }
    out.push_str("</section>\n");
    out
}

fn methodology_html(k: u64, window: &Window<'_>, generated_at: &DateTime<Utc>) -> String {
    let mut out = String::from("<section id=\"methodology\">\n<h2>Methodology</h2>\n");
    for s in methodology::sections(k, window, generated_at) {
        out.push_str(&format!("<h3>{}</h3>\n", esc(s.title)));
        for p in &s.paragraphs {
            out.push_str(&format!("<p>{}</p>\n", esc(p)));
        }
        if !s.list.is_empty() {
            out.push_str("<dl class=\"terms\">\n");
            for (term, meaning) in &s.list {
                out.push_str(&format!(
                    "<dt>{}</dt><dd>{}</dd>\n",
                    esc(term),
                    esc(meaning)
                ));
            }
            out.push_str("</dl>\n");
        }
    }
    out.push_str("</section>\n");
    out
}

fn headline(r: &Report) -> String {
    let change = |now: Option<u64>, before: Option<u64>| {
        match (now, before) {
            (Some(n), Some(b)) => super::policy::change(b, n).map(signed_percent),
            _ => None,
        }
        .unwrap_or("—".into())
    };
    let previous = r.previous.as_ref();
    let versus = previous
        .map(|p| format!("vs {}", p.label))
        .unwrap_or_else(|| {
            if r.in_progress() {
                "quarter in progress".into()
            } else {
                "no published previous quarter".into()
            }
        });
    format!(
        "<dl class=\"headline\">\n\
         <div><dt>events</dt><dd id=\"total-events\">{}</dd></div>\n\
         <div><dt>machines</dt><dd id=\"total-machines\">{}</dd></div>\n\
         <div><dt>events, change {}</dt><dd id=\"change-events\">{}</dd></div>\n\
         <div><dt>machines, change</dt><dd id=\"change-machines\">{}</dd></div>\n</dl>\n",
        r.total_events.unwrap_or(0),
        r.machines.unwrap_or(0),
        esc(&versus),
        change(r.total_events, previous.and_then(|p| p.total_events)),
        change(r.machines, previous.and_then(|p| p.machines)),
    )
}

/// One quarter's page.
pub fn quarter_page(r: &Report, links: &Links) -> String {
    let title = format!("cfdev-shim usage — {}", r.quarter.label);
    let mut body = format!(
        "<h1>{}</h1>\n<p class=\"window\">{} to {} (UTC){} · generated {}</p>\n",
        esc(&title),
        r.quarter.start.format("%-d %B %Y"),
        super::weeks::last_day(&r.quarter).format("%-d %B %Y"),
        if r.in_progress() { ", in progress" } else { "" },
        r.generated_at.format("%Y-%m-%d %H:%M UTC"),
    );
    match r.state {
        State::NoData => body.push_str(&format!(
            "<div class=\"state no_data\" id=\"state\"><strong>No data</strong>{}</div>\n",
            esc(&summary(r))
        )),
        State::AllSuppressed => body.push_str(&format!(
            "<div class=\"state all_suppressed\" id=\"state\"><strong>All suppressed</strong>{}</div>\n",
            esc(&summary(r))
        )),
        State::Published => {
            body.push_str(&headline(r));
            body.push_str(&format!("<p id=\"summary\">{}</p>\n", esc(&summary(r))));
            let machines = r.machines.unwrap_or(1).max(1) as f64;
            let versus = r
                .previous
                .as_ref()
                .map(|p| format!("change vs {}", p.label))
                .unwrap_or_else(|| "change".into());
            body.push_str(&section(
                "events",
                "Events",
                &r.events,
                &["event", "count", "machines", "share of machines", &versus],
                |row| {
                    vec![
                        row.count.to_string(),
                        row.machines.to_string(),
                        percent(row.machines as f64 / machines),
                        r.event_change(row).map(signed_percent).unwrap_or("—".into()),
                    ]
                },
                |row| if row.folded > 0 { "other".into() } else { row.key.clone() },
            ));
            body.push_str(&section(
                "errors",
                "Errors by command",
                &r.errors_by_command,
                &["command", "errors", "machines", "runs", "failure rate"],
                |row| error_cells(r, row),
                |row| if row.folded > 0 { "other".into() } else { row.key.clone() },
            ));
            for (id, title, table, key) in [
                ("os", "Operating systems", &r.by_os, "operating system"),
                ("builds", "Builds", &r.by_build, "build"),
            ] {
                body.push_str(&section(
                    id,
                    title,
                    table,
                    &[key, "count", "machines", "share of machines"],
                    |row| {
                        vec![
                            row.count.to_string(),
                            row.machines.to_string(),
                            percent(row.machines as f64 / machines),
                        ]
                    },
                    |row| if row.folded > 0 { "other".into() } else { row.key.clone() },
                ));
            }
            body.push_str(&weekly(r));
        }
    }
    let window = Window::Quarter {
        label: &r.quarter.label,
        from: r.quarter.start.to_string(),
        until: r.data_until,
    };
    body.push_str(&methodology_html(r.min_machines, &window, &r.generated_at));
    let footer = format!(
        "cfdev-shim usage report {} · K = {} · generated {}",
        esc(&r.quarter.label),
        r.min_machines,
        r.generated_at.format("%Y-%m-%dT%H:%M:%SZ")
    );
    page(&title, r.state.as_str(), &nav(links), &body, &footer)
}

/// The site's front page: every quarter, newest first.
pub fn index_page(reports: &[Report], k: u64, generated_at: &DateTime<Utc>) -> String {
    let mut body = String::from(
        "<h1>cfdev-shim usage reports</h1>\n<p>Anonymous, aggregated usage of cfdev-shim, the \
         wrapper for the Cloud Foundry cf CLI, from people who turned its telemetry on. One \
         report per quarter; each is also available as JSON and CSV.</p>\n",
    );
    body.push_str(
        "<table id=\"quarters\">\n<caption>Quarters, newest first</caption>\n<thead><tr>\
         <th scope=\"col\">quarter</th><th scope=\"col\">state</th>\
         <th scope=\"col\" class=\"n\">events</th><th scope=\"col\" class=\"n\">machines</th>\
         <th scope=\"col\" class=\"n\">events, change</th><th scope=\"col\">data</th></tr></thead>\n<tbody>\n",
    );
    for r in reports.iter().rev() {
        let label = esc(&r.quarter.label);
        let state = match r.state {
            State::Published if r.in_progress() => "in progress",
            State::Published => "published",
            State::NoData => "no data",
            State::AllSuppressed => "all suppressed",
        };
        let number = |n: Option<u64>| match r.state {
            State::Published => n.map(|n| n.to_string()).unwrap_or("—".into()),
            State::NoData => "0".into(),
            State::AllSuppressed => "&lt;K".into(),
        };
        let change = r
            .previous
            .as_ref()
            .and_then(|p| super::policy::change(p.total_events?, r.total_events?))
            .map(signed_percent)
            .unwrap_or("—".into());
        body.push_str(&format!(
            "<tr data-state=\"{state_id}\"><th scope=\"row\"><a href=\"{label}/index.html\">{label}</a></th>\
             <td>{state}</td><td class=\"n\">{events}</td><td class=\"n\">{machines}</td>\
             <td class=\"n\">{change}</td><td><a href=\"{label}/report.json\">json</a> \
             <a href=\"{label}/report.csv\">csv</a></td></tr>\n",
            state_id = r.state.as_str(),
            events = number(r.total_events),
            machines = number(r.machines),
            change = esc(&change),
        ));
    }
    body.push_str("</tbody>\n</table>\n");
    body.push_str(&site_methodology(reports, k, generated_at));
    let links = Links {
        schema: Some("schema.html".into()),
        ..Links::default()
    };
    let footer = format!(
        "cfdev-shim usage reports · K = {k} · generated {}",
        generated_at.format("%Y-%m-%dT%H:%M:%SZ")
    );
    page(
        "cfdev-shim usage reports",
        "index",
        &nav(&links),
        &body,
        &footer,
    )
}

/// The methodology of a site-wide page: its data window runs from the first
/// to the last published quarter.
fn site_methodology(reports: &[Report], k: u64, generated_at: &DateTime<Utc>) -> String {
    fn label(report: Option<&Report>) -> &str {
        report.map_or("", |r| r.quarter.label.as_str())
    }
    let window = Window::Quarters {
        first: label(reports.first()),
        last: label(reports.last()),
    };
    methodology_html(k, &window, generated_at)
}

/// `schema.html`: the JSON format, field by field.
pub fn schema_page(reports: &[Report], k: u64, generated_at: &DateTime<Utc>) -> String {
    let mut body = format!(
        "<h1>report.json — schema {}</h1>\n<p>Each quarter's <code>report.json</code> has these \
         fields. Within a schema version fields are only added; SPEC's original keys \
         (quarter, total_events, machines, events, by_os, by_build, errors_by_command, weekly, \
         suppressed) keep their meaning.</p>\n<table>\n<caption>Fields</caption>\n<thead><tr>\
         <th scope=\"col\">field</th><th scope=\"col\">meaning</th></tr></thead>\n<tbody>\n",
        esc(super::json::SCHEMA)
    );
    for (field, meaning) in super::json::FIELDS {
        body.push_str(&format!(
            "<tr><th scope=\"row\"><code>{}</code></th><td>{}</td></tr>\n",
            esc(field),
            esc(meaning)
        ));
    }
    body.push_str("</tbody>\n</table>\n");
    body.push_str(&site_methodology(reports, k, generated_at));
    let links = Links {
        index: Some("index.html".into()),
        ..Links::default()
    };
    page(
        "cfdev-shim usage reports — JSON schema",
        "schema",
        &nav(&links),
        &body,
        &format!("generated {}", generated_at.format("%Y-%m-%dT%H:%M:%SZ")),
    )
}
