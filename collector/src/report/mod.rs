//! The quarterly aggregate report, in layers that do not know each other's
//! insides:
//! - inputs: `input` (what storage streams through `Database::scan_groups`,
//!   tallied per public key);
//! - policy: `vocabulary` (the only words that may be published) and
//!   `policy` (k-anonymity: folding, secondary suppression, states);
//! - rendering: `text` (Markdown, CSV), `json`, `html` + `chart`, with
//!   `escape` and the shared `methodology`.
//!
//! Anonymous IDs are only ever counted, never output.

mod chart;
pub mod escape;
pub mod html;
pub mod input;
pub mod json;
mod methodology;
pub mod policy;
pub mod text;
pub mod vocabulary;
pub mod weeks;

pub use crate::quarter::{quarter_of, Quarter};
pub use input::Aggregates;
pub use policy::{Report, State};

use crate::store::Database;
use chrono::{DateTime, Utc};

/// One quarter's report without the comparison with the previous one.
pub fn build_alone(
    db: &mut Database,
    quarter: &Quarter,
    min_machines: u64,
    now: DateTime<Utc>,
) -> Result<Report, String> {
    let aggregates = Aggregates::collect(db, quarter, now.timestamp_millis())?;
    Ok(Report::from_aggregates(
        quarter,
        &aggregates,
        min_machines,
        now,
    ))
}

/// A quarter's report as of `now`, compared with the previous quarter.
pub fn build(
    db: &mut Database,
    quarter: &Quarter,
    min_machines: u64,
    now: DateTime<Utc>,
) -> Result<Report, String> {
    let mut report = build_alone(db, quarter, min_machines, now)?;
    if let Some(previous) = weeks::previous(quarter) {
        report.set_previous(&build_alone(db, &previous, min_machines, now)?);
    }
    Ok(report)
}

pub fn render(r: &Report, format: &str) -> Result<String, String> {
    match format {
        "json" => Ok(json::render(r)),
        "md" | "markdown" => Ok(text::markdown(r)),
        "csv" => Ok(text::csv(r)),
        "html" => Ok(html::quarter_page(r, &html::Links::default())),
        other => Err(format!("unknown format '{other}' (md, csv, json or html)")),
    }
}
