//! `cfdev-collector publish`: the quarterly reports as a static site.
//!
//! `DIR/index.html` lists every quarter (newest first) with its headline
//! numbers; each `DIR/<quarter>/` has `index.html`, `report.json` and
//! `report.csv`; `DIR/schema.html` documents the JSON. Quarters run from the
//! first one with anything publishable (at most ten years back) to the
//! current one, so a quarter without data or with everything suppressed
//! between them is listed with that state. Each file is replaced atomically
//! (written beside, then renamed), so a reader or `/reports/` never sees
//! half a file.

use crate::report::{self, html, json, text, weeks, Report, State};
use crate::store::Database;
use chrono::{DateTime, Utc};
use std::path::{Path, PathBuf};

/// How far back the site goes at most: a client sending events dated in
/// 1970 must not make the site list fifty years of empty quarters.
pub const MAX_QUARTERS: usize = 40;

/// What one run wrote.
#[derive(Debug)]
pub struct Published {
    pub quarters: Vec<String>,
    pub files: usize,
}

/// The quarters the site covers, oldest first, with their reports.
pub fn reports(
    db: &mut Database,
    min_machines: u64,
    now: DateTime<Utc>,
) -> Result<Vec<Report>, String> {
    let current = weeks::containing(now.date_naive());
    let mut oldest = current.clone();
    for _ in 1..MAX_QUARTERS {
        match weeks::previous(&oldest) {
            Some(q) => oldest = q,
            None => break,
        }
    }
    let first = db
        .quarters()?
        .into_iter()
        .find(|q| q.start >= oldest.start && q.start <= current.start)
        .unwrap_or_else(|| current.clone());
    let mut all: Vec<Report> = Vec::new();
    let mut quarter = first;
    loop {
        let mut built = report::build_alone(db, &quarter, min_machines, now)?;
        if let Some(previous) = all.last() {
            built.set_previous(previous);
        }
        all.push(built);
        if quarter == current {
            break;
        }
        quarter = weeks::next(&quarter).ok_or("no quarter after the current one")?;
    }
    // Quarters before the first with published numbers say nothing.
    let start = all
        .iter()
        .position(|r| r.state == State::Published)
        .unwrap_or(all.len() - 1);
    Ok(all.split_off(start))
}

fn write_atomically(path: &Path, text: &str) -> Result<(), String> {
    let tmp = path.with_extension(format!(
        "{}.tmp-{}",
        path.extension().and_then(|e| e.to_str()).unwrap_or(""),
        std::process::id()
    ));
    std::fs::write(&tmp, text)
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            format!("cannot write {}: {e}", path.display())
        })
}

/// Writes the site for `reports` (oldest first) into `out`.
pub fn write_site(
    out: &Path,
    reports: &[Report],
    min_machines: u64,
    now: DateTime<Utc>,
) -> Result<Published, String> {
    std::fs::create_dir_all(out).map_err(|e| format!("cannot create {}: {e}", out.display()))?;
    let mut files = 0;
    let link = |r: &Report| {
        (
            format!("../{}/index.html", r.quarter.label),
            r.quarter.label.clone(),
        )
    };
    for (i, r) in reports.iter().enumerate() {
        let dir: PathBuf = out.join(&r.quarter.label);
        std::fs::create_dir_all(&dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let links = html::Links {
            index: Some("../index.html".into()),
            json: Some("report.json".into()),
            csv: Some("report.csv".into()),
            schema: Some("../schema.html".into()),
            previous: i.checked_sub(1).map(|p| link(&reports[p])),
            next: reports.get(i + 1).map(link),
        };
        write_atomically(&dir.join("index.html"), &html::quarter_page(r, &links))?;
        write_atomically(&dir.join("report.json"), &json::render(r))?;
        write_atomically(&dir.join("report.csv"), &text::csv(r))?;
        files += 3;
    }
    write_atomically(
        &out.join("schema.html"),
        &html::schema_page(reports, min_machines, &now),
    )?;
    write_atomically(
        &out.join("index.html"),
        &html::index_page(reports, min_machines, &now),
    )?;
    Ok(Published {
        quarters: reports.iter().map(|r| r.quarter.label.clone()).collect(),
        files: files + 2,
    })
}

/// Builds every report and writes the site.
pub fn publish(
    db: &mut Database,
    out: &Path,
    min_machines: u64,
    now: DateTime<Utc>,
) -> Result<Published, String> {
    let reports = reports(db, min_machines, now)?;
    write_site(out, &reports, min_machines, now)
}
