//! Property: for any set of stored events, PostgreSQL's report SQL
//! (sql/postgres/report.sql) and SQLite's one-pass aggregation (and its
//! warehouse SQL) give the same report inputs, for every quarter and any K.
//! Generated data sets cover quarter and week boundaries (UTC), machines
//! known by anonymousId or only by userId, missing os/build/command,
//! non-track types, duplicate messageIds, non-ASCII keys.

mod support;

use cfdev_collector::ingest::Row;
use cfdev_collector::quarter::Quarter;
use cfdev_collector::report;
use cfdev_collector::store::{Database, Location, Record};
use proptest::prelude::*;
use support::pg;

/// Instants around the edges that matter: quarter starts, Mondays, midnight.
fn timestamp_ms() -> impl Strategy<Value = i64> {
    let edges = [
        "2026-07-01T00:00:00Z",
        "2026-09-30T23:59:59.999Z",
        "2026-10-01T00:00:00Z",
        "2026-10-04T23:59:59.999Z", // a Sunday
        "2026-10-05T00:00:00Z",     // a Monday
        "2026-12-31T23:59:59.999Z",
        "2027-01-01T00:00:00Z",
    ]
    .map(|t| {
        chrono::DateTime::parse_from_rfc3339(t)
            .unwrap()
            .timestamp_millis()
    });
    prop_oneof![
        proptest::sample::select(edges.to_vec()),
        (edges[0]..edges[6]),
        (-3_600_000i64..3_600_000).prop_map(move |d| edges[2] + d),
    ]
}

fn text_of(options: &'static [&'static str]) -> impl Strategy<Value = Option<String>> {
    proptest::option::weighted(
        0.8,
        proptest::sample::select(options).prop_map(String::from),
    )
}

fn row() -> impl Strategy<Value = Row> {
    (
        0u32..60,
        prop_oneof![8 => Just("track"), 1 => Just("identify"), 1 => Just("page")],
        proptest::sample::select(vec![
            "App Created",
            "Error",
            "Start Begin",
            "Ünïcode ✓",
            "a|b,c",
        ]),
        (0u32..12, any::<bool>()),
        timestamp_ms(),
        text_of(&["linux", "darwin", "windows", "Linux"]),
        text_of(&["0.1.0+a", "0.2.0+b"]),
        text_of(&["push", "apps", "start"]),
    )
        .prop_map(
            |(id, kind, event, (machine, by_user), ms, os, build, command)| {
                let t = chrono::DateTime::from_timestamp_millis(ms).unwrap();
                let machine = format!("m{machine}");
                Row {
                    message_id: format!("id-{id}"),
                    kind: kind.into(),
                    event: (kind == "track").then(|| event.into()),
                    anonymous_id: (!by_user).then(|| machine.clone()),
                    user_id: by_user.then_some(machine),
                    timestamp: t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
                    timestamp_ms: ms,
                    os_name: os,
                    os_arch: Some("x86_64".into()),
                    app_name: Some("cfdev-shim".into()),
                    app_build: build,
                    command,
                    properties: "{}".into(),
                    sent_at: None,
                }
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, ..ProptestConfig::default() })]

    #[test]
    fn postgres_and_sqlite_reports_are_identical(rows in proptest::collection::vec(row(), 0..120), k in 1u64..4) {
        let dir = tempfile::tempdir().unwrap();
        let sqlite = Location::parse(dir.path().join("p.db").to_str().unwrap()).unwrap();
        let cluster = pg::shared();
        let postgres = Location::parse(&cluster.url(&cluster.create_database())).unwrap();
        let records: Vec<Record> = rows
            .into_iter()
            .map(|row| Record { row, received_at: "2026-11-25T00:00:00.000Z".into() })
            .collect();
        let mut a = Database::create(&sqlite).unwrap();
        let mut b = Database::create(&postgres).unwrap();
        // Written in two transactions, so duplicates also meet stored rows.
        let half = records.len() / 2;
        for part in [&records[..half], &records[half..]] {
            prop_assert_eq!(a.write(part).unwrap(), b.write(part).unwrap());
        }
        for label in ["2026-Q3", "2026-Q4", "2027-Q1"] {
            let q = Quarter::parse(label).unwrap();
            let (ta, tb) = (a.tallies(&q).unwrap(), b.tallies(&q).unwrap());
            prop_assert_eq!(&ta, &tb, "{}", label);
            prop_assert_eq!(&ta, &a.warehouse_tallies(&q).unwrap().unwrap(), "{}", label);
            let now = chrono::DateTime::parse_from_rfc3339("2027-02-01T00:00:00Z").unwrap().to_utc();
            let (ra, rb) = (report::build(&mut a, &q, k, now).unwrap(), report::build(&mut b, &q, k, now).unwrap());
            prop_assert_eq!(report::json::render(&ra), report::json::render(&rb));
        }
        prop_assert_eq!(a.quarters().unwrap(), b.quarters().unwrap());
    }
}
