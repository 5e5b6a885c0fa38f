//! What only the PostgreSQL backend has to prove: several collectors on one
//! database store each messageId once, the collector rides out the database
//! going away (503 and a clear /healthz, then recovery by itself), the
//! password comes from the URL or PGPASSWORD, events land in the partition
//! of their quarter. Each test uses its own database on a throwaway cluster
//! (outage tests: their own cluster).

mod support;

use serde_json::Value;
use support::pg::{self, PgCluster};
use support::*;

fn events(prefix: &str, n: usize, ts: &str) -> Vec<Value> {
    (0..n)
        .map(|i| {
            event(
                &format!("{prefix}{i}"),
                "App Created",
                &format!("m{}", i % 7),
                ts,
                "linux",
                "b",
                "push",
            )
        })
        .collect()
}

#[test]
fn two_collectors_store_each_message_id_once() {
    let db = Db::new(Backend::Postgres);
    let a = Collector::start(&db, &[]);
    let b = Collector::start(&db, &[]);
    let all = events("dup", 300, "2026-11-25T16:02:03Z");
    // The same batches go to both collectors at once, from several threads,
    // as a client retrying through a load balancer would send them.
    std::thread::scope(|s| {
        for (t, addr) in [&a.addr, &b.addr, &a.addr, &b.addr].into_iter().enumerate() {
            let all = &all;
            s.spawn(move || {
                for chunk in all.chunks(20 + t * 7) {
                    let r = post(addr, "/v1/batch", &[], &batch(chunk));
                    assert_eq!(r.status, 200, "{}", r.body);
                }
            });
        }
    });
    assert_eq!(db.count_rows(), 300);
    assert_eq!(db.string("SELECT COUNT(*) FROM seen"), "300");
    let from_a = report(&db, "json", 1);
    drop(a);
    assert_eq!(report(&db, "json", 1), from_a);
}

#[test]
fn events_go_to_the_partition_of_their_quarter() {
    let (db, c) = fresh(Backend::Postgres, &[]);
    let mut all = events("q3-", 3, "2026-09-30T23:59:59.999Z");
    all.extend(events("q4-", 2, "2026-10-01T00:00:00Z"));
    all.extend(events("q4b-", 2, "2026-12-31T23:59:59+01:00")); // still Q4 in UTC
    all.extend(events("old-", 1, "1999-02-03T04:05:06Z"));
    assert_eq!(post(&c.addr, "/v1/batch", &[], &batch(&all)).status, 200);
    let count = |table: &str| db.string(&format!("SELECT COUNT(*) FROM ONLY {table}"));
    assert_eq!(count("tracks_y2026q3"), "3");
    assert_eq!(count("tracks_y2026q4"), "4");
    assert_eq!(count("tracks_y1999q1"), "1");
    assert_eq!(db.string("SELECT COUNT(*) FROM ONLY tracks"), "0");
    assert_eq!(
        db.string("SELECT relkind::text FROM pg_class WHERE relname = 'tracks'"),
        "p",
        "declaratively partitioned"
    );
}

#[test]
fn password_from_pgpassword_and_a_wrong_one_is_reported() {
    let cluster = pg::shared();
    let name = cluster.create_database();
    let url = cluster.url_without_password(&name);
    let start = |password: &str| {
        let mut child = Reaped(
            std::process::Command::new(BIN)
                .args(["serve", "--listen", "127.0.0.1:0", "--db", &url])
                .env("PGPASSWORD", password)
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap(),
        );
        let mut line = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(child.0.stdout.take().unwrap()),
            &mut line,
        )
        .unwrap();
        (
            child,
            line.trim().rsplit("http://").next().unwrap().to_string(),
        )
    };
    let (good, addr) = start(pg::PASSWORD);
    let one = events("pw", 1, "2026-11-25T16:02:03Z");
    assert_eq!(post(&addr, "/v1/batch", &[], &batch(&one)).status, 200);
    assert_eq!(get(&addr, "/healthz").status, 200);
    drop(good);

    let (bad, addr) = start("not-the-password");
    let r = post(&addr, "/v1/batch", &[], &batch(&one));
    assert_eq!(r.status, 503, "{}", r.body);
    let health = get(&addr, "/healthz");
    assert_eq!(health.status, 503);
    assert!(
        health.body.contains("password authentication failed"),
        "{}",
        health.body
    );
    assert!(!health.body.contains("not-the-password"));
    drop(bad);
}

/// A child process killed when the test ends, passing or not.
struct Reaped(std::process::Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The database stops under a running collector and comes back: meanwhile
/// ingest answers 503 (clients keep their events and retry) and /healthz
/// says why; afterwards the collector recovers by itself. A collector
/// started while the database is down starts anyway and recovers too.
#[test]
fn outage_gives_503_then_recovers_by_itself() {
    let cluster = PgCluster::start();
    let db = Db::on(&cluster);
    let c = Collector::start(&db, &[]);
    let first = events("before", 10, "2026-11-25T16:02:03Z");
    assert_eq!(post(&c.addr, "/v1/batch", &[], &batch(&first)).status, 200);
    assert_eq!(get(&c.addr, "/healthz").status, 200);

    cluster.pause();
    let during = events("during", 10, "2026-11-25T16:02:03Z");
    let r = post(&c.addr, "/v1/batch", &[], &batch(&during));
    assert_eq!(r.status, 503, "{}", r.body);
    eventually(10, "/healthz to report the outage", || {
        let h = get(&c.addr, "/healthz");
        h.status == 503 && h.body.contains("database unreachable")
    });
    // Started during the outage: it answers, with 503s.
    let late = Collector::start(&db, &[]);
    assert_eq!(get(&late.addr, "/healthz").status, 503);
    assert_eq!(
        post(&late.addr, "/v1/batch", &[], &batch(&during)).status,
        503
    );

    cluster.resume();
    for collector in [&c, &late] {
        eventually(20, "/healthz to recover", || {
            get(&collector.addr, "/healthz").status == 200
        });
        let r = post(&collector.addr, "/v1/batch", &[], &batch(&during));
        assert_eq!(r.status, 200, "{}", r.body);
    }
    assert_eq!(db.count_rows(), 20);
    let (status, stderr) = c.stop();
    assert!(status.success());
    assert!(stderr.contains("POST /v1/batch 503 events=10"), "{stderr}");
}

#[test]
fn a_database_migrated_by_a_newer_collector_is_refused() {
    let db = Db::new(Backend::Postgres);
    run_ok(&["migrate", "--db", &db.arg()]);
    pg::execute(
        &db.url,
        "INSERT INTO schema_migrations (version, name, applied_at) VALUES (99, 'future', 'x')",
    );
    for args in [
        vec!["migrate", "--db", &db.url],
        vec!["serve", "--listen", "127.0.0.1:0", "--db", &db.url],
    ] {
        let out = std::process::Command::new(BIN)
            .args(&args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("schema version 99"), "{stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
    }
}

/// `prune` drops a partition under a running collector that has created
/// it: an event for that quarter arriving later is still stored (the
/// partition is made again), not refused forever.
#[test]
fn a_collector_recreates_a_partition_pruned_under_it() {
    let (db, c) = fresh(Backend::Postgres, &[]);
    let old = events("old-", 2, "2026-02-01T00:00:00Z");
    assert_eq!(post(&c.addr, "/v1/batch", &[], &batch(&old)).status, 200);
    let out = run_ok(&["prune", "--db", &db.arg(), "--before", "2026-Q2"]);
    assert_eq!(out, "deleted 2 events dated before 2026-Q2\n");
    assert_eq!(db.count_rows(), 0);
    let late = events("late-", 1, "2026-02-02T00:00:00Z");
    let r = post(&c.addr, "/v1/batch", &[], &batch(&late));
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(db.string("SELECT COUNT(*) FROM ONLY tracks_y2026q1"), "1");
}
