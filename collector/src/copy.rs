//! `cfdev-collector copy --from DB --to DB`: moves stored events between
//! databases of either backend, unchanged (received_at included).
//!
//! Idempotent: rows are written with the same dedupe by messageId as
//! ingest, so copying twice stores each event once. Resumable: the
//! destination records each quarter finished from a source; a copy started
//! again skips those and redoes the unfinished one (whose rows already
//! there are skipped as duplicates). A finished quarter is not read again,
//! so copy from a source no longer receiving events for it.

use crate::store::{Database, Location};
use std::io::{IsTerminal, Write};

/// Rows per destination transaction.
const CHUNK: usize = 5_000;

#[derive(Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// Events read from the source.
    pub read: u64,
    /// Of those, events new to the destination.
    pub stored: u64,
    /// Quarters skipped because an earlier copy finished them.
    pub skipped_quarters: usize,
}

/// A stable name for the source, so a resumed copy recognises it.
fn identity(location: &Location) -> String {
    match location {
        Location::Sqlite(path) => std::fs::canonicalize(path)
            .unwrap_or_else(|_| path.clone())
            .display()
            .to_string(),
        Location::Postgres(_) => location.describe(),
    }
}

pub fn run(from: &Location, to: &Location) -> Result<Summary, String> {
    if identity(from) == identity(to) {
        return Err("--from and --to are the same database".into());
    }
    let mut source = Database::open(from).map_err(|e| format!("source: {e}"))?;
    let mut destination = Database::create(to).map_err(|e| format!("destination: {e}"))?;
    let name = identity(from);
    let finished = destination.copied(&name)?;
    let quarters = source.stored_quarters()?;
    let mut todo = Vec::new();
    let mut summary = Summary::default();
    let mut total = 0u64;
    for q in quarters {
        if finished.contains(&q.label) {
            summary.skipped_quarters += 1;
        } else {
            total += source.count(&q)?;
            todo.push(q);
        }
    }
    let terminal = std::io::stderr().is_terminal();
    if summary.skipped_quarters > 0 {
        eprintln!(
            "cfdev-collector: resuming: {} quarter(s) already copied from {name}",
            summary.skipped_quarters
        );
    }
    for q in todo {
        let mut new_here = 0u64;
        source.read_quarter(&q, CHUNK, &mut |records| {
            new_here += destination.write(&records)?;
            summary.read += records.len() as u64;
            if terminal {
                let percent = summary.read as f64 * 100.0 / total.max(1) as f64;
                eprint!(
                    "\rcfdev-collector: copying {}: {} of {total} events ({percent:.0}%)",
                    q.label, summary.read
                );
                let _ = std::io::stderr().flush();
            }
            Ok(())
        })?;
        destination.mark_copied(&name, &q.label)?;
        summary.stored += new_here;
        if terminal {
            eprint!("\r\x1b[K");
        }
        eprintln!(
            "cfdev-collector: copied {}: {} events read so far of {total}, {new_here} new",
            q.label, summary.read
        );
    }
    Ok(summary)
}
