//! `report.json`: a versioned schema (`SCHEMA`), documented field by field
//! in `FIELDS` (published as `schema.html` beside the reports). SPEC §7's keys
//! keep their meaning; version 1 adds keys and may put `null` where a number
//! is suppressed. A breaking change would bump the version.

use super::policy::{Report, Row, Table};
use super::weeks::Partial;
use serde_json::{json, Value};

pub const SCHEMA: &str = "cfdev-shim-report/1";

/// (field, meaning): the schema's documentation.
pub const FIELDS: &[(&str, &str)] = &[
    ("schema", "\"cfdev-shim-report/1\". Fields are only added within a version."),
    ("quarter", "The quarter, such as \"2026-Q4\"."),
    ("state", "\"published\", \"no_data\" (nothing was received) or \"all_suppressed\" (events came from fewer than min_machines machines, so no number is published)."),
    ("generated_at", "When the report was made (UTC, RFC 3339)."),
    ("data_window", "{\"from\", \"until\"}: events timestamped in [from, until) are counted (UTC). until is the quarter's end or, while it runs, the generation time."),
    ("in_progress", "true while the quarter is still running."),
    ("min_machines", "K: a row seen on fewer machines is never published on its own."),
    ("total_events", "Events in the window (null when all_suppressed). Every table's rows, \"other\" included, add up to it (errors: to the Error event's count)."),
    ("machines", "Distinct machines (anonymous IDs) in the window (null when all_suppressed)."),
    ("events[]", "{\"event\", \"count\", \"machines\", \"share_of_machines\" (machines / machines of the quarter), \"change_vs_previous\" (count change as a fraction, null unless both quarters are complete and both counts published), \"other\", \"rows_folded\"}."),
    ("by_os[]", "{\"os\", \"count\", \"machines\", \"other\", \"rows_folded\"}: operating system names as Rust reports them (linux, macos, windows, …)."),
    ("by_build[]", "{\"build\", \"count\", \"machines\", \"other\", \"rows_folded\"}: the wrapper's version, MAJOR.MINOR.PATCH+commit."),
    ("errors_by_command[]", "{\"command\", \"count\", \"machines\", \"runs\", \"failure_rate\", \"other\", \"rows_folded\"}: Error events by cf command. runs and failure_rate (count / runs) only where the event catalogue tells how often the command ran and those numbers are published, else null."),
    ("weekly[]", "{\"week\" (first day, inside the quarter), \"last_day\", \"days\", \"partial\" (null, \"quarter_edge\" or \"in_progress\"), \"count\", \"machines\", \"suppressed\"}: weeks start on Monday (UTC); a suppressed week has null numbers."),
    ("weekly_suppressed", "{\"weeks\", \"count\", \"machines\"}: the suppressed weeks together (they cover at least K machines), or null when no week is suppressed."),
    ("suppressed", "How many rows (and weeks) are not published on their own because of K."),
    ("suppressed_by_section", "The same, per section."),
    ("withheld_sections", "Sections covering fewer than K machines in all, so not shown at all."),
    ("other / rows_folded", "The row named \"other\" (other: true) holds names outside the public vocabulary and rows below K; rows_folded says how many rows it holds."),
    ("previous_quarter", "The quarter change_vs_previous compares with, or null."),
];

fn row_json(row: &Row, key: &str) -> Value {
    json!({
        key: row.key,
        "count": row.count,
        "machines": row.machines,
        "other": row.folded > 0,
        "rows_folded": row.folded,
    })
}

fn table_json(table: &Table, key: &str) -> Value {
    Value::Array(table.rows.iter().map(|r| row_json(r, key)).collect())
}

fn rfc3339(t: &chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

pub fn value(r: &Report) -> Value {
    let machines = r.machines.unwrap_or(0).max(1) as f64;
    let events: Vec<Value> = r
        .events
        .rows
        .iter()
        .map(|row| {
            let mut v = row_json(row, "event");
            v["share_of_machines"] = json!(round4(row.machines as f64 / machines));
            v["change_vs_previous"] = json!(r.event_change(row).map(round4));
            v
        })
        .collect();
    let errors: Vec<Value> = r
        .errors_by_command
        .rows
        .iter()
        .map(|row| {
            let mut v = row_json(row, "command");
            let runs = r.runs(row);
            v["runs"] = json!(runs);
            v["failure_rate"] = json!(runs
                .filter(|n| *n > 0)
                .map(|n| round4(row.count as f64 / n as f64)));
            v
        })
        .collect();
    let weekly: Vec<Value> = r
        .weekly
        .weeks
        .iter()
        .map(|w| {
            json!({
                "week": w.span.first.to_string(),
                "last_day": w.span.end.pred_opt().unwrap_or(w.span.end).to_string(),
                "days": w.span.days(),
                "partial": match w.span.partial {
                    Partial::No => Value::Null,
                    Partial::QuarterEdge => json!("quarter_edge"),
                    Partial::InProgress => json!("in_progress"),
                },
                "count": w.count,
                "machines": w.machines,
                "suppressed": w.count.is_none(),
            })
        })
        .collect();
    let withheld: Vec<&str> = [
        ("events", &r.events),
        ("by_os", &r.by_os),
        ("by_build", &r.by_build),
        ("errors_by_command", &r.errors_by_command),
    ]
    .iter()
    .filter(|(_, t)| t.withheld)
    .map(|(name, _)| *name)
    .collect();
    json!({
        "schema": SCHEMA,
        "quarter": r.quarter.label,
        "state": r.state.as_str(),
        "generated_at": rfc3339(&r.generated_at),
        "data_window": {
            "from": format!("{}T00:00:00Z", r.quarter.start),
            "until": rfc3339(&r.data_until),
        },
        "in_progress": r.in_progress(),
        "min_machines": r.min_machines,
        "total_events": r.total_events,
        "machines": r.machines,
        "events": events,
        "by_os": table_json(&r.by_os, "os"),
        "by_build": table_json(&r.by_build, "build"),
        "errors_by_command": errors,
        "weekly": weekly,
        "weekly_suppressed": r.weekly.hidden.as_ref().map(|h| json!({
            "weeks": h.weeks, "count": h.count, "machines": h.machines
        })),
        "suppressed": r.suppressed(),
        "suppressed_by_section": {
            "events": r.events.suppressed,
            "by_os": r.by_os.suppressed,
            "by_build": r.by_build.suppressed,
            "errors_by_command": r.errors_by_command.suppressed,
            "weekly": r.weekly.suppressed,
        },
        "withheld_sections": withheld,
        "previous_quarter": r.previous.as_ref().map(|p| p.label.clone()),
    })
}

fn round4(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}

pub fn render(r: &Report) -> String {
    serde_json::to_string_pretty(&value(r)).unwrap_or_default() + "\n"
}
