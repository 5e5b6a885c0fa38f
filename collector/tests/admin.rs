//! The operator's commands and mistakes, on both backends where both apply:
//! `migrate`, `prune --before`, `copy --from --to`; the database file's
//! mode; errors that say what is wrong; one log line per request.

mod support;

use serde_json::Value;
use std::process::Command;
use support::*;

/// Events over four quarters of 2026 (and one identify), five machines.
fn year_of_events() -> Vec<Value> {
    let days = [
        "2026-02-10T10:00:00Z",
        "2026-05-10T10:00:00Z",
        "2026-08-10T10:00:00Z",
        "2026-11-10T10:00:00.123+02:00",
    ];
    let mut all = Vec::new();
    for (d, day) in days.iter().enumerate() {
        for i in 0..(10 + d) {
            let name = ["App Created", "Error", "Start Begin"][i % 3];
            all.push(event(
                &format!("y{d}-{i}"),
                name,
                &format!("machine-{}", i % 5),
                day,
                ["linux", "darwin"][i % 2],
                "0.1.0",
                ["push", "apps"][i % 2],
            ));
        }
    }
    all.push(serde_json::json!({"type": "identify", "messageId": "who", "userId": "u", "timestamp": "2026-11-11T00:00:00Z"}));
    all
}

fn ingest(db: &Db, events: &[Value]) {
    let c = Collector::start(db, &[]);
    for chunk in events.chunks(9) {
        let r = post(&c.addr, "/v1/batch", &[], &batch(chunk));
        assert_eq!(r.status, 200, "{}", r.body);
    }
    assert!(c.stop().0.success());
}

fn migrate_applies_versions_once(backend: Backend) {
    let db = Db::new(backend);
    let first = run_ok(&["migrate", "--db", &db.arg()]);
    assert!(first.starts_with("0001 "), "{first}");
    assert!(!first.contains("pending"), "{first}");
    let again = run_ok(&["migrate", "--db", &db.arg()]);
    assert_eq!(first, again);
    let versions = db.strings("SELECT version FROM schema_migrations ORDER BY version");
    assert_eq!(versions.len(), first.lines().count());
    assert_eq!(versions[0].as_deref(), Some("1"));
}

fn prune_deletes_quarters_before(backend: Backend) {
    let db = Db::new(backend);
    let all = year_of_events();
    ingest(&db, &all);
    assert_eq!(db.count_rows(), all.len() as i64);
    let out = run_ok(&["prune", "--db", &db.arg(), "--before", "2026-Q3"]);
    assert_eq!(out, "deleted 21 events dated before 2026-Q3\n");
    assert_eq!(db.count_rows(), all.len() as i64 - 21);
    assert_eq!(
        db.string("SELECT MIN(timestamp) FROM tracks"),
        "2026-08-10T10:00:00.000Z"
    );
    let out = run_ok(&["prune", "--db", &db.arg(), "--before", "2026-Q3"]);
    assert_eq!(out, "deleted 0 events dated before 2026-Q3\n");
    if backend == Backend::Postgres {
        let partitions = db.strings(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid ORDER BY 1",
        );
        assert_eq!(
            partitions,
            [Some("tracks_y2026q3".into()), Some("tracks_y2026q4".into())]
        );
    }
    // The report of a kept quarter is untouched.
    assert!(report(&db, "json", 1).contains("\"total_events\": 13"));
}

/// Every column, every row, in a stable order: what `copy` must preserve.
fn dump(db: &Db) -> Vec<Option<String>> {
    db.strings(
        "SELECT id || '|' || type || '|' || COALESCE(event_text, '-') || '|' || \
         COALESCE(anonymous_id, '-') || '|' || COALESCE(user_id, '-') || '|' || timestamp || '|' || \
         timestamp_ms || '|' || COALESCE(context_os_name, '-') || '|' || \
         COALESCE(context_os_arch, '-') || '|' || COALESCE(context_app_name, '-') || '|' || \
         COALESCE(context_app_build, '-') || '|' || COALESCE(command, '-') || '|' || properties || \
         '|' || COALESCE(sent_at, '-') || '|' || received_at FROM tracks ORDER BY id",
    )
}

#[test]
fn copy_moves_events_between_backends_idempotently_and_resumes() {
    let sqlite = Db::new(Backend::Sqlite);
    let postgres = Db::new(Backend::Postgres);
    let back = Db::new(Backend::Sqlite);
    let all = year_of_events();
    ingest(&sqlite, &all);

    let out = run_ok(&["copy", "--from", &sqlite.arg(), "--to", &postgres.arg()]);
    assert!(out.starts_with("copied 47 events from "), "{out}");
    assert!(out.contains(": 47 new, 0 already there"), "{out}");
    assert_eq!(dump(&postgres), dump(&sqlite));
    for format in ["json", "csv"] {
        assert_eq!(report(&postgres, format, 1), report(&sqlite, format, 1));
    }

    // Again: nothing to do, nothing doubled.
    let out = run_ok(&["copy", "--from", &sqlite.arg(), "--to", &postgres.arg()]);
    assert!(
        out.contains("copied 0 events") && out.contains("4 quarter(s) skipped"),
        "{out}"
    );
    assert_eq!(postgres.count_rows(), 47);

    // An interrupted copy: the last quarter was not finished (its progress
    // mark is missing and only some of its rows arrived). Resuming copies
    // that quarter alone and stores only what is missing.
    run_ok(&["copy", "--from", &postgres.arg(), "--to", &back.arg()]);
    let conn = rusqlite::Connection::open(&back.path).unwrap();
    conn.execute("DELETE FROM copy_progress WHERE quarter = '2026-Q4'", [])
        .unwrap();
    conn.execute("DELETE FROM tracks WHERE id IN ('y3-0', 'y3-5', 'who')", [])
        .unwrap();
    drop(conn);
    let out = Command::new(BIN)
        .args(["copy", "--from", &postgres.arg(), "--to", &back.arg()])
        .output()
        .unwrap();
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("resuming: 3 quarter(s) already copied"),
        "{stderr}"
    );
    assert!(
        stdout.contains("copied 14 events") && stdout.contains("3 new, 11 already there"),
        "{stdout}"
    );
    assert_eq!(dump(&back), dump(&sqlite));

    let out = Command::new(BIN)
        .args(["copy", "--from", &sqlite.arg(), "--to", &sqlite.arg()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
}

/// On a terminal, copy shows its progress in place (under a pty from
/// util-linux `script`); in a pipe, one line per quarter.
#[test]
fn copy_shows_progress_on_a_terminal() {
    let source = Db::new(Backend::Sqlite);
    ingest(&source, &year_of_events());
    let to = source.dir.path().join("copy.db");
    let command = format!(
        "'{BIN}' copy --from '{}' --to '{}'",
        source.arg(),
        to.display()
    );
    let out = Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let screen = String::from_utf8_lossy(&out.stdout);
    assert!(
        screen.contains("\rcfdev-collector: copying 2026-Q1: 10 of 47 events (21%)"),
        "{screen:?}"
    );
    assert!(screen.contains("copied 47 events"), "{screen:?}");
    let piped = Command::new(BIN)
        .args(["copy", "--from", &source.arg(), "--to"])
        .arg(source.dir.path().join("piped.db"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&piped.stderr);
    assert!(!stderr.contains('\r'), "{stderr:?}");
    assert_eq!(stderr.lines().count(), 4, "{stderr}");
}

fn every_200_is_committed_even_when_killed_under_load(backend: Backend) {
    let (db, c) = fresh(backend, &[]);
    let acknowledged = std::sync::Mutex::new(Vec::<String>::new());
    let addr = c.addr.clone();
    std::thread::scope(|s| {
        for t in 0..4 {
            let (acknowledged, addr) = (&acknowledged, &addr);
            s.spawn(move || {
                for b in 0..1000 {
                    let events: Vec<Value> = (0..25)
                        .map(|i| {
                            event(
                                &format!("k{t}-{b}-{i}"),
                                "E",
                                "m",
                                "2026-11-25T16:02:03Z",
                                "linux",
                                "b",
                                "push",
                            )
                        })
                        .collect();
                    let Ok(mut s) = std::net::TcpStream::connect(addr) else {
                        return;
                    };
                    let body = batch(&events);
                    let head = format!(
                        "POST /v1/batch HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
                        body.len()
                    );
                    use std::io::{Read, Write};
                    if s.write_all(head.as_bytes()).and_then(|_| s.write_all(&body)).is_err() {
                        return;
                    }
                    let mut answer = String::new();
                    let _ = s.read_to_string(&mut answer);
                    if answer.starts_with("HTTP/1.1 200") {
                        acknowledged
                            .lock()
                            .unwrap()
                            .extend(events.iter().map(|e| e["messageId"].as_str().unwrap().to_string()));
                    } else {
                        return;
                    }
                }
            });
        }
        // Kill once a good number of batches were acknowledged.
        eventually(60, "some acknowledged batches", || {
            acknowledged.lock().unwrap().len() >= 2_000
        });
        c.kill();
    });
    let acknowledged = acknowledged.into_inner().unwrap();
    let stored: std::collections::HashSet<String> = db
        .strings("SELECT id FROM tracks")
        .into_iter()
        .flatten()
        .collect();
    let lost: Vec<&String> = acknowledged
        .iter()
        .filter(|id| !stored.contains(*id))
        .collect();
    assert!(
        lost.is_empty(),
        "{} acknowledged events lost, e.g. {:?}",
        lost.len(),
        &lost[..lost.len().min(3)]
    );
}

on_both_backends!(
    migrate_applies_versions_once,
    prune_deletes_quarters_before,
    every_200_is_committed_even_when_killed_under_load,
);

#[test]
fn a_legacy_sqlite_database_is_adopted_by_migrations() {
    let db = Db::new(Backend::Sqlite);
    let conn = rusqlite::Connection::open(&db.path).unwrap();
    // The schema of collectors before versioned migrations, with a row.
    conn.execute_batch(include_str!("../sql/sqlite/0001_init.sql"))
        .unwrap();
    conn.execute(
        "INSERT INTO tracks (id, type, event_text, anonymous_id, timestamp, timestamp_ms, properties, received_at) \
         VALUES ('old', 'track', 'E', 'a', '2026-11-25T16:02:03.000Z', 1795622523000, '{}', 'x')",
        [],
    )
    .unwrap();
    drop(conn);
    let out = run_ok(&["migrate", "--db", &db.arg()]);
    assert!(
        out.contains("0001 tracks: applied") && out.contains("0002 copy progress: applied"),
        "{out}"
    );
    assert_eq!(db.count_rows(), 1);
}

#[cfg(unix)]
#[test]
fn the_database_file_is_private() {
    use std::os::unix::fs::PermissionsExt;
    let (db, c) = fresh(Backend::Sqlite, &[]);
    let one = [event(
        "p1",
        "E",
        "a",
        "2026-11-25T16:02:03Z",
        "linux",
        "b",
        "push",
    )];
    assert_eq!(post(&c.addr, "/v1/batch", &[], &batch(&one)).status, 200);
    for suffix in ["", "-wal", "-shm"] {
        let path = format!("{}{suffix}", db.path.display());
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{path}");
    }
}

#[test]
fn a_bind_error_comes_before_the_database_is_created() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let db = Db::new(Backend::Sqlite);
    let out = Command::new(BIN)
        .args(["serve", "--listen", &addr, "--db", &db.arg()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with(&format!("cfdev-collector: cannot listen on {addr}:")),
        "{stderr}"
    );
    assert!(!db.path.exists(), "no database left behind");
}

/// As root (CI) the read-only cases run as `nobody`: root may write anyway.
fn serve_error(db: &std::path::Path) -> String {
    let mut cmd = if unsafe { geteuid() } == 0 {
        let mut c = Command::new("runuser");
        c.args(["-u", "nobody", "--", BIN]);
        c
    } else {
        Command::new(BIN)
    };
    let out = cmd
        .args(["serve", "--listen", "127.0.0.1:0", "--db"])
        .arg(db)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    stderr
}

extern "C" {
    fn geteuid() -> u32;
}

#[cfg(unix)]
#[test]
fn unusable_database_paths_say_what_is_wrong() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let missing = dir.path().join("no-such-dir/t.db");
    assert!(
        serve_error(&missing).contains("directory")
            && serve_error(&missing).contains("does not exist")
    );
    let file = dir.path().join("plain-file");
    std::fs::write(&file, "x").unwrap();
    let under_file = file.join("t.db");
    assert!(
        serve_error(&under_file).contains(&format!("{} is not a directory", file.display())),
        "{}",
        serve_error(&under_file)
    );
    let locked = dir.path().join("locked");
    std::fs::create_dir(&locked).unwrap();
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o555)).unwrap();
    let message = serve_error(&locked.join("t.db"));
    assert!(message.contains("is read-only to this user"), "{message}");
    let read_only = dir.path().join("ro.db");
    std::fs::write(&read_only, "").unwrap();
    std::fs::set_permissions(&read_only, std::fs::Permissions::from_mode(0o444)).unwrap();
    let message = serve_error(&read_only);
    assert!(
        message.contains("the file is read-only to this user"),
        "{message}"
    );
}

#[test]
fn one_log_line_per_request_unless_quiet() {
    let db = Db::new(Backend::Sqlite);
    let c = Collector::start(&db, &["key"]);
    let one = batch(&[event(
        "l1",
        "E",
        "a",
        "2026-11-25T16:02:03Z",
        "linux",
        "b",
        "push",
    )]);
    assert_eq!(
        post(&c.addr, "/v1/batch", &[auth("wrong")], &one).status,
        401
    );
    assert_eq!(post(&c.addr, "/v1/batch", &[auth("key")], &one).status, 200);
    assert_eq!(post(&c.addr, "/v1/batch", &[auth("key")], b"{").status, 400);
    assert_eq!(get(&c.addr, "/healthz").status, 200);
    let (_, stderr) = c.stop();
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.ends_with("stopped")).collect();
    assert_eq!(lines.len(), 4, "{stderr}");
    let shape = |line: &str, start: &str| {
        assert!(line.starts_with(start), "{line}");
        assert!(line.ends_with("ms"), "{line}");
    };
    shape(lines[0], "cfdev-collector: POST /v1/batch 401 events=0 ");
    shape(lines[1], "cfdev-collector: POST /v1/batch 200 events=1 ");
    shape(lines[2], "cfdev-collector: POST /v1/batch 400 events=0 ");
    shape(lines[3], "cfdev-collector: GET /healthz 200 events=0 ");

    let quiet = Collector::start_with(&db, &["key"], &["--quiet"]);
    assert_eq!(
        post(&quiet.addr, "/v1/batch", &[auth("wrong")], &one).status,
        401
    );
    let (_, stderr) = quiet.stop();
    assert_eq!(stderr, "cfdev-collector: stopped\n");
}
