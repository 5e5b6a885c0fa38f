//! Migration 0003 (the report index keyed by quarter and arrival instead of
//! timestamp) on a database written by the collectors before it: the
//! columns it fills agree with what the collector now writes at ingest, and
//! every report, the published site and the operator's commands give the
//! same output as on a database that had the new schema from the start.

mod support;

use serde_json::Value;
use std::path::Path;
use support::site::{self, database, publish};
use support::{data, event, run_ok, Backend, Db};

const AS_OF: &str = "2027-02-01T00:00:00Z";

/// The columns of `tracks` before migration 0003, in its order.
const OLD_COLUMNS: &str = "id, type, event_text, anonymous_id, user_id, timestamp, timestamp_ms, \
     context_os_name, context_os_arch, context_app_name, context_app_build, command, \
     properties, sent_at, received_at";

/// `data::normal()` plus events on both sides of quarter boundaries (in
/// UTC and with offsets that move them across one), before 1970, in year
/// 0000, and one identify.
fn events() -> Vec<Value> {
    let mut all = data::normal();
    let edges = [
        "2026-09-30T23:59:59.999Z",
        "2026-10-01T00:00:00Z",
        "2026-10-01T01:30:00+02:00",
        "2026-12-31T23:59:59.999Z",
        "2026-12-31T23:30:00-01:00",
        "2027-01-01T00:00:00.000Z",
        "1969-12-31T23:59:59.999Z",
        "1970-01-01T00:00:00Z",
        "0000-01-01T00:00:00Z",
    ];
    for (i, ts) in edges.iter().enumerate() {
        for m in 0..6 {
            all.push(event(
                &format!("edge-{i}-{m}"),
                ["App Created", "Error"][m % 2],
                &data::machine(m as u64),
                ts,
                data::os_of(m as u64),
                data::build_of(m as u64),
                "push",
            ));
        }
    }
    all.push(
        serde_json::json!({"type": "identify", "messageId": "who", "userId": "u",
        "timestamp": "2026-11-11T00:00:00Z"}),
    );
    all
}

/// A database as the collectors before 0003 left it: migrations 1 and 2
/// applied, the same rows as `source` (all their columns of that time).
fn legacy_copy_of(source: &Db) -> Db {
    let old = Db::new(Backend::Sqlite);
    let conn = rusqlite::Connection::open(&old.path).unwrap();
    conn.execute_batch(include_str!("../sql/sqlite/0001_init.sql"))
        .unwrap();
    conn.execute_batch(include_str!("../sql/sqlite/0002_copy_progress.sql"))
        .unwrap();
    conn.execute_batch(
        "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, \
         applied_at TEXT NOT NULL); \
         INSERT INTO schema_migrations VALUES (1, 'tracks', '2026-11-01T00:00:00.000Z'), \
         (2, 'copy progress', '2026-11-01T00:00:00.000Z');",
    )
    .unwrap();
    conn.execute(
        "ATTACH DATABASE ?1 AS source",
        [source.path.to_str().unwrap()],
    )
    .unwrap();
    conn.execute_batch(&format!(
        "INSERT INTO tracks ({OLD_COLUMNS}) SELECT {OLD_COLUMNS} FROM source.tracks ORDER BY rowid"
    ))
    .unwrap();
    old
}

/// Asserts two lists equal, showing only the first entries that differ.
fn assert_same<T: PartialEq + std::fmt::Debug>(left: &[T], right: &[T], what: &str) {
    let differing: Vec<_> = left
        .iter()
        .zip(right)
        .filter(|(l, r)| l != r)
        .take(5)
        .collect();
    assert!(differing.is_empty(), "{what}: {differing:?}");
    assert_eq!(left.len(), right.len(), "{what}");
}

/// Every file of a published site with its contents, sorted by path.
fn files_under(dir: &Path) -> Vec<(String, String)> {
    site::files_under(dir)
        .into_iter()
        .map(|rel| {
            let text = std::fs::read_to_string(dir.join(&rel)).unwrap();
            (rel.display().to_string(), text)
        })
        .collect()
}

/// The "rows" statement of sql/sqlite/report.sql, the only one the
/// collector runs.
fn report_rows_statement() -> String {
    let sql = include_str!("../sql/sqlite/report.sql");
    let rows = sql.split("-- name: rows").nth(1).unwrap();
    let rows = rows.split("-- name:").next().unwrap();
    rows.lines()
        .filter(|l| !l.trim_start().starts_with("--"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn a_database_from_before_0003_migrates_to_identical_reports() {
    let fresh = database(Backend::Sqlite, &events());
    let old = legacy_copy_of(&fresh);
    assert_eq!(old.count_rows(), fresh.count_rows());

    let out = run_ok(&["migrate", "--db", &old.arg()]);
    assert!(
        out.contains("0003 report index by quarter and arrival: applied"),
        "{out}"
    );
    // What the migration's SQL computed for the old rows is what the
    // collector's Rust computed at ingest, row for row.
    let keys = "SELECT id || ' ' || quarter || ' ' || received_ms FROM tracks ORDER BY id";
    assert_same(
        &old.strings(keys),
        &fresh.strings(keys),
        "quarter, received_ms",
    );
    assert_eq!(
        old.string("SELECT COUNT(*) FROM tracks WHERE quarter IS NULL OR received_ms IS NULL"),
        "0"
    );
    assert_eq!(
        fresh.string("SELECT quarter FROM tracks WHERE id = 'edge-1-0'"),
        (2026 * 4 + 3).to_string()
    );
    assert_eq!(
        fresh.string("SELECT quarter FROM tracks WHERE id = 'edge-0-0'"),
        (2026 * 4 + 2).to_string()
    );
    assert_eq!(
        fresh.string("SELECT quarter FROM tracks WHERE id = 'edge-2-0'"),
        (2026 * 4 + 2).to_string(),
        "01:30+02:00 on 1 October is still September in UTC"
    );
    assert_eq!(
        fresh.string("SELECT quarter FROM tracks WHERE id = 'edge-6-0'"),
        (1969 * 4 + 3).to_string()
    );
    assert_eq!(
        fresh.string("SELECT quarter FROM tracks WHERE id = 'edge-8-0'"),
        "0"
    );

    for quarter in ["2026-Q2", "2026-Q3", "2026-Q4", "2027-Q1", "1970-Q1"] {
        for format in ["json", "csv", "md", "html"] {
            assert_eq!(
                site::report_at(&old, quarter, format, 1, AS_OF),
                site::report_at(&fresh, quarter, format, 1, AS_OF),
                "{quarter} {format}"
            );
        }
    }
    let q4: Value =
        serde_json::from_str(&site::report_at(&old, "2026-Q4", "json", 1, AS_OF)).unwrap();
    assert!(q4["total_events"].as_u64().unwrap() > 100, "{q4}");

    let (old_site, fresh_site) = (old.dir.path().join("site"), fresh.dir.path().join("site"));
    publish(&old, &old_site, 1, AS_OF);
    publish(&fresh, &fresh_site, 1, AS_OF);
    let (old_files, fresh_files) = (files_under(&old_site), files_under(&fresh_site));
    assert!(old_files.len() > 5, "{old_files:?}");
    assert_same(&old_files, &fresh_files, "published files");

    // The report still reads the quarter from the index alone.
    let conn = rusqlite::Connection::open(&old.path).unwrap();
    let plan: Vec<String> = conn
        .prepare(&format!("EXPLAIN QUERY PLAN {}", report_rows_statement()))
        .unwrap()
        .query_map(
            rusqlite::named_params! { ":quarter": 8107, ":start_ms": 0, ":end_ms": 1 },
            |r| r.get::<_, String>(3),
        )
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(
        plan,
        ["SEARCH tracks USING COVERING INDEX tracks_report (quarter=?)"]
    );
    drop(conn);

    // The operator's commands that select by quarter agree too.
    for db in [&old, &fresh] {
        let out = run_ok(&["prune", "--db", &db.arg(), "--before", "2026-Q4"]);
        assert!(out.starts_with("deleted "), "{out}");
    }
    assert_same(&old.strings(keys), &fresh.strings(keys), "after prune");
    assert_eq!(
        old.string("SELECT MIN(timestamp) FROM tracks"),
        "2026-10-01T00:00:00.000Z"
    );
}
