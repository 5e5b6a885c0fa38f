//! The Markdown and CSV formats. Every string from the data goes through
//! `escape`; numbers and dates are written by this program.

use super::escape;
use super::methodology::{self, Window};
use super::policy::{Report, Row, State, Table};
use super::weeks::Partial;

pub fn percent(x: f64) -> String {
    format!("{:.1}%", x * 100.0)
}

/// The cells of an errors-by-command row after its command: errors,
/// machines, the command's published runs and the failure rate ("—" where
/// the runs are not known), shared by every format that shows the table.
pub fn error_cells(r: &Report, row: &Row) -> Vec<String> {
    let runs = r.runs(row);
    vec![
        row.count.to_string(),
        row.machines.to_string(),
        runs.map(|n| n.to_string()).unwrap_or("—".into()),
        runs.filter(|n| *n > 0)
            .map(|n| percent(row.count as f64 / n as f64))
            .unwrap_or("—".into()),
    ]
}

pub fn signed_percent(x: f64) -> String {
    format!(
        "{}{:.1}%",
        if x >= 0.0 { "+" } else { "−" },
        x.abs() * 100.0
    )
}

pub fn partial_note(p: Partial) -> &'static str {
    match p {
        Partial::No => "",
        Partial::QuarterEdge => "partial: quarter edge",
        Partial::InProgress => "partial: in progress",
    }
}

/// The one-paragraph summary every format starts with.
pub fn summary(r: &Report) -> String {
    let last = r.data_until.format("%Y-%m-%d %H:%M UTC");
    match r.state {
        State::NoData => format!(
            "No event was received for {} (window {} to {last}).",
            r.quarter.label, r.quarter.start
        ),
        State::AllSuppressed => format!(
            "Events were received for {}, but from fewer than K = {} machines, so no number \
             is published.",
            r.quarter.label, r.min_machines
        ),
        State::Published => format!(
            "{} events from {} machines, from {} up to {last}{}. {}",
            r.total_events.unwrap_or(0),
            r.machines.unwrap_or(0),
            r.quarter.start,
            if r.in_progress() {
                " (quarter in progress)"
            } else {
                ""
            },
            match r.suppressed() {
                0 => format!("No row is below K = {}.", r.min_machines),
                1 => format!(
                    "1 row below K = {} is folded into \"other\" or withheld.",
                    r.min_machines
                ),
                n => format!(
                    "{n} rows below K = {} are folded into \"other\" or withheld.",
                    r.min_machines
                ),
            }
        ),
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
        escape::markdown(&row.key)
    }
}

fn md_table(out: &mut String, table: &Table, header: &str, cells: impl Fn(&Row) -> Vec<String>) {
    if table.withheld {
        out.push_str("Withheld: fewer than K machines in all.\n");
        return;
    }
    if table.rows.is_empty() {
        out.push_str("No rows.\n");
        return;
    }
    let columns = header.matches('|').count() - 1;
    out.push_str(header);
    out.push('\n');
    out.push_str(&"|---".repeat(columns));
    out.push_str("|\n");
    for row in &table.rows {
        let mut line = format!("| {} |", key_cell(row));
        for cell in cells(row) {
            line.push_str(&format!(" {cell} |"));
        }
        out.push_str(&line);
        out.push('\n');
    }
}

pub fn markdown(r: &Report) -> String {
    let state = match r.state {
        State::NoData => "**No data.** ",
        State::AllSuppressed => "**All suppressed.** ",
        State::Published => "",
    };
    let mut out = format!(
        "# cfdev-shim usage report — {}\n\n{state}{}\n",
        r.quarter.label,
        escape::markdown_prose(&summary(r))
    );
    if r.state == State::Published {
        let machines = r.machines.unwrap_or(1).max(1) as f64;
        let versus = r
            .previous
            .as_ref()
            .map(|p| format!("change vs {}", p.label))
            .unwrap_or_else(|| "change".into());
        out.push_str("\n## Events\n\n");
        md_table(
            &mut out,
            &r.events,
            &format!("| event | count | machines | share of machines | {versus} |"),
            |row| {
                vec![
                    row.count.to_string(),
                    row.machines.to_string(),
                    percent(row.machines as f64 / machines),
                    r.event_change(row)
                        .map(signed_percent)
                        .unwrap_or("—".into()),
                ]
            },
        );
        out.push_str("\n## Errors by command\n\n");
        md_table(
            &mut out,
            &r.errors_by_command,
            "| command | errors | machines | runs | failure rate |",
            |row| error_cells(r, row),
        );
        for (title, table, key) in [
            ("By operating system", &r.by_os, "os"),
            ("By build", &r.by_build, "build"),
        ] {
            out.push_str(&format!("\n## {title}\n\n"));
            md_table(
                &mut out,
                table,
                &format!("| {key} | count | machines |"),
                |row| vec![row.count.to_string(), row.machines.to_string()],
            );
        }
        out.push_str("\n## Weekly trend\n\n| week starting | days | count | machines | note |\n|---|---|---|---|---|\n");
        for w in &r.weekly.weeks {
            let number = |n: Option<u64>| n.map(|n| n.to_string()).unwrap_or("fewer than K".into());
            out.push_str(&format!(
                "| {} | {} | {} | {} | {} |\n",
                w.span.first,
                w.span.days(),
                number(w.count),
                number(w.machines),
                partial_note(w.span.partial)
            ));
        }
        if let Some(h) = &r.weekly.hidden {
            out.push_str(&format!(
                "\nThe {} suppressed weeks together: {} events from {} machines.\n",
                h.weeks, h.count, h.machines
            ));
        }
    }
    out.push_str("\n## Methodology\n");
    let window = Window::Quarter {
        label: &r.quarter.label,
        from: r.quarter.start.to_string(),
        until: r.data_until,
    };
    for section in methodology::sections(r.min_machines, &window, &r.generated_at) {
        out.push_str(&format!("\n### {}\n\n", section.title));
        for p in &section.paragraphs {
            out.push_str(&escape::markdown_prose(p));
            out.push_str("\n\n");
        }
        for (term, meaning) in &section.list {
            out.push_str(&format!(
                "- {}: {}\n",
                escape::markdown(term),
                escape::markdown_prose(meaning)
            ));
        }
    }
    out
}

pub const CSV_HEADER: &str =
    "section,key,count,machines,share_of_machines,change_vs_previous,runs,failure_rate,days,note";

fn csv_line(cells: &[String]) -> String {
    let mut line = cells
        .iter()
        .map(|c| escape::csv(c))
        .collect::<Vec<_>>()
        .join(",");
    line.push('\n');
    line
}

fn opt<T: ToString>(v: Option<T>) -> String {
    v.map(|v| v.to_string()).unwrap_or_default()
}

fn ratio(x: f64) -> String {
    format!("{:.4}", x)
}

pub fn csv(r: &Report) -> String {
    let mut out = format!("{CSV_HEADER}\n");
    let line = |cells: Vec<String>| {
        let mut cells = cells;
        cells.resize(10, String::new());
        csv_line(&cells)
    };
    out.push_str(&line(vec![
        "total".into(),
        r.quarter.label.clone(),
        opt(r.total_events),
        opt(r.machines),
        String::new(),
        String::new(),
        String::new(),
        String::new(),
        String::new(),
        r.state.as_str().into(),
    ]));
    out.push_str(&line(vec![
        "generated_at".into(),
        r.generated_at.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
    ]));
    out.push_str(&line(vec![
        "min_machines".into(),
        r.min_machines.to_string(),
    ]));
    let machines = r.machines.unwrap_or(1).max(1) as f64;
    let note = |row: &Row| {
        if row.folded > 0 {
            format!("other: {} rows", row.folded)
        } else {
            String::new()
        }
    };
    for row in &r.events.rows {
        out.push_str(&line(vec![
            "event".into(),
            row.key.clone(),
            row.count.to_string(),
            row.machines.to_string(),
            ratio(row.machines as f64 / machines),
            opt(r.event_change(row).map(ratio)),
            String::new(),
            String::new(),
            String::new(),
            note(row),
        ]));
    }
    for (name, table) in [("os", &r.by_os), ("build", &r.by_build)] {
        for row in &table.rows {
            let mut cells = vec![
                name.into(),
                row.key.clone(),
                row.count.to_string(),
                row.machines.to_string(),
            ];
            cells.resize(9, String::new());
            cells.push(note(row));
            out.push_str(&line(cells));
        }
    }
    for row in &r.errors_by_command.rows {
        let runs = r.runs(row);
        out.push_str(&line(vec![
            "error_command".into(),
            row.key.clone(),
            row.count.to_string(),
            row.machines.to_string(),
            String::new(),
            String::new(),
            opt(runs),
            opt(runs
                .filter(|n| *n > 0)
                .map(|n| ratio(row.count as f64 / n as f64))),
            String::new(),
            note(row),
        ]));
    }
    for w in &r.weekly.weeks {
        let mut cells = vec![
            "week".into(),
            w.span.first.to_string(),
            opt(w.count),
            opt(w.machines),
        ];
        cells.resize(8, String::new());
        cells.push(w.span.days().to_string());
        let mut note = partial_note(w.span.partial).to_string();
        if w.count.is_none() {
            note = if note.is_empty() {
                "suppressed".into()
            } else {
                format!("suppressed; {note}")
            };
        }
        cells.push(note);
        out.push_str(&line(cells));
    }
    if let Some(h) = &r.weekly.hidden {
        out.push_str(&line(vec![
            "suppressed_weeks".into(),
            h.weeks.to_string(),
            h.count.to_string(),
            h.machines.to_string(),
        ]));
    }
    for (name, table) in [
        ("events", &r.events),
        ("by_os", &r.by_os),
        ("by_build", &r.by_build),
        ("errors_by_command", &r.errors_by_command),
    ] {
        if table.withheld {
            out.push_str(&line(vec!["withheld".into(), name.into()]));
        }
    }
    out.push_str(&line(vec![
        "suppressed".into(),
        "rows".into(),
        r.suppressed().to_string(),
    ]));
    out
}
