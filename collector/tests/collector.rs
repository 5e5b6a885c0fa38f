//! cfdev-collector through its binary: ingest over HTTP, durability, and the
//! report checked against numbers computed independently here. The same
//! suite runs on both backends (SQLite file, throwaway PostgreSQL cluster).

use serde_json::{json, Value};
use std::io::Write;
use std::process::Command;

mod support;

use support::*;

fn ingest_is_idempotent_by_message_id(backend: Backend) {
    let (db, c) = fresh(backend, &[]);
    let e = |i: u32| {
        event(
            &format!("m{i}"),
            "App Created",
            "a1",
            "2026-11-25T16:02:03.123Z",
            "linux",
            "b",
            "push",
        )
    };
    let r = post(&c.addr, "/v1/batch", &[], &batch(&[e(1), e(2), e(3)]));
    assert_eq!((r.status, r.body.as_str()), (200, r#"{"success":true}"#));
    assert_eq!(
        post(&c.addr, "/v1/batch", &[], &batch(&[e(1), e(2), e(3)])).status,
        200
    );
    assert_eq!(
        post(&c.addr, "/v1/batch", &[], &batch(&[e(3), e(4)])).status,
        200
    );
    let single = e(5).to_string();
    assert_eq!(
        post(&c.addr, "/v1/track", &[], single.as_bytes()).status,
        200
    );
    assert_eq!(
        post(&c.addr, "/v1/track", &[], single.as_bytes()).status,
        200
    );
    assert_eq!(db.count_rows(), 5);
}

fn accepts_what_segment_accepts(backend: Backend) {
    let (db, c) = fresh(backend, &[]);
    let items = json!([
        {"type": "track", "event": "E", "messageId": "x1", "userId": "u1", "timestamp": "2026-11-25T17:02:03+01:00"},
        {"type": "track", "event": "E", "messageId": "x2", "userId": null, "anonymousId": "a", "timestamp": "2026-11-25T16:02:03.123456Z", "extra": {"deep": [1, 2]}},
        {"type": "track", "event": "E", "messageId": "x3", "anonymousId": "a", "timestamp": "2026-11-25T16:02:03-05:00", "integrations": {}, "context": {"library": {"name": "analytics-python"}}},
        {"type": "identify", "messageId": "x4", "userId": 42, "timestamp": "2026-11-25T16:02:03Z", "traits": {}}
    ]);
    let body =
        json!({"batch": items, "context": {"os": {"name": "darwin"}}, "unknownTopLevel": true})
            .to_string();
    let r = post(&c.addr, "/v1/batch", &[], body.as_bytes());
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(db.count_rows(), 4);
    assert_eq!(
        db.string("SELECT timestamp FROM tracks WHERE id='x1'"),
        "2026-11-25T16:02:03.000Z"
    );
    assert_eq!(
        db.string("SELECT context_os_name FROM tracks WHERE id='x1'"),
        "darwin",
        "batch-level context applies"
    );
}

fn malformed_requests_get_precise_400s(backend: Backend) {
    let (_db, c) = fresh(backend, &[]);
    let cases: &[(&str, &str)] = &[
        ("not json", "body is not valid JSON"),
        ("[1]", "body must be a JSON object"),
        ("{}", "missing batch"),
        (r#"{"batch":{}}"#, "batch must be an array"),
        (
            r#"{"batch":[{"type":"track","messageId":"m","anonymousId":"a","timestamp":"2026-11-25T16:02:03Z"}]}"#,
            "batch[0]: missing event",
        ),
        (
            r#"{"batch":[{"type":"track","event":"E","anonymousId":"a","timestamp":"2026-11-25T16:02:03Z"}]}"#,
            "batch[0]: missing messageId",
        ),
        (
            r#"{"batch":[{"type":"track","event":"E","messageId":"m","anonymousId":"a"}]}"#,
            "batch[0]: missing timestamp",
        ),
        (
            r#"{"batch":[{"type":"track","event":"E","messageId":"m","timestamp":"2026-11-25T16:02:03Z"}]}"#,
            "batch[0]: neither userId nor anonymousId",
        ),
        (
            r#"{"batch":[{"type":"track","event":"E","messageId":"m","anonymousId":"a","timestamp":"25/11/2026"}]}"#,
            "batch[0]: timestamp '25/11/2026' is not an RFC 3339 timestamp",
        ),
        (
            r#"{"batch":[{"type":"track","event":["E"],"messageId":"m","anonymousId":"a","timestamp":"2026-11-25T16:02:03Z"}]}"#,
            "batch[0]: event must be a string",
        ),
        (
            r#"{"batch":[{"type":"bogus","event":"E","messageId":"m","anonymousId":"a","timestamp":"2026-11-25T16:02:03Z"}]}"#,
            "batch[0]: unknown type 'bogus'",
        ),
    ];
    for (body, reason) in cases {
        let r = post(&c.addr, "/v1/batch", &[], body.as_bytes());
        assert_eq!(r.status, 400, "{body}");
        let v: Value = serde_json::from_str(&r.body).unwrap();
        assert!(
            v["error"].as_str().unwrap().starts_with(reason),
            "{body}: {}",
            r.body
        );
    }
}

fn write_keys_are_enforced(backend: Backend) {
    let (db, c) = fresh(backend, &["k1", "k2"]);
    let body = batch(&[event(
        "m1",
        "E",
        "a",
        "2026-11-25T16:02:03Z",
        "linux",
        "b",
        "push",
    )]);
    assert_eq!(post(&c.addr, "/v1/batch", &[], &body).status, 401);
    assert_eq!(
        post(&c.addr, "/v1/batch", &[auth("wrong")], &body).status,
        401
    );
    assert_eq!(db.count_rows(), 0);
    assert_eq!(post(&c.addr, "/v1/batch", &[auth("k2")], &body).status, 200);
    let in_body = json!({"batch": [event("m2", "E", "a", "2026-11-25T16:02:03Z", "linux", "b", "push")], "writeKey": "k1"});
    assert_eq!(
        post(&c.addr, "/v1/batch", &[], in_body.to_string().as_bytes()).status,
        200
    );
    assert_eq!(db.count_rows(), 2);
}

fn size_limits_give_413(backend: Backend) {
    let (db, c) = fresh(backend, &[]);
    let mut big = event("m1", "E", "a", "2026-11-25T16:02:03Z", "linux", "b", "push");
    big["properties"]["pad"] = json!("x".repeat(33 * 1024));
    assert_eq!(post(&c.addr, "/v1/batch", &[], &batch(&[big])).status, 413);
    let many: Vec<Value> = (0..40)
        .map(|i| {
            let mut e = event(
                &format!("m{i}"),
                "E",
                "a",
                "2026-11-25T16:02:03Z",
                "linux",
                "b",
                "push",
            );
            e["properties"]["pad"] = json!("y".repeat(14 * 1024));
            e
        })
        .collect();
    assert_eq!(post(&c.addr, "/v1/batch", &[], &batch(&many)).status, 413);
    assert_eq!(db.count_rows(), 0);
}

fn gzip_bodies_are_accepted(backend: Backend) {
    let (db, c) = fresh(backend, &[]);
    let body = batch(&[event(
        "g1",
        "E",
        "a",
        "2026-11-25T16:02:03Z",
        "linux",
        "b",
        "push",
    )]);
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(&body).unwrap();
    let gz = enc.finish().unwrap();
    let r = post(
        &c.addr,
        "/v1/batch",
        &[("Content-Encoding", "gzip".into())],
        &gz,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(db.count_rows(), 1);
    let r = post(
        &c.addr,
        "/v1/batch",
        &[("Content-Encoding", "gzip".into())],
        b"not gzip",
    );
    assert_eq!(r.status, 400);
}

fn accepted_data_survives_restart_and_kill(backend: Backend) {
    let (db, c) = fresh(backend, &[]);
    let events: Vec<Value> = (0..50)
        .map(|i| {
            event(
                &format!("r{i}"),
                "E",
                "a",
                "2026-11-25T16:02:03Z",
                "linux",
                "b",
                "push",
            )
        })
        .collect();
    assert_eq!(
        post(&c.addr, "/v1/batch", &[], &batch(&events[..25])).status,
        200
    );
    assert!(c.stop().0.success(), "graceful stop on SIGTERM");
    let c = Collector::start(&db, &[]);
    assert_eq!(
        post(&c.addr, "/v1/batch", &[], &batch(&events[25..])).status,
        200
    );
    c.kill(); // SIGKILL right after the 200
    assert_eq!(db.count_rows(), 50);
}

/// A data set over several machines, OSes, builds and weeks, with the
/// expected report computed by plain counting here.
fn report_matches_hand_computed_numbers_and_never_shows_ids(backend: Backend) {
    let (db, c) = fresh(backend, &[]);
    let machines: Vec<String> = (0..8)
        .map(|i| format!("{:064x}", 0xfeed_0000u64 + i))
        .collect();
    let os = ["linux", "darwin", "windows"];
    let names = ["App Created", "Error", "Start Begin", "Route Created"];
    let mut all = Vec::new();
    let mut n = 0;
    // weeks: Mondays 2026-10-05, 10-12, 11-23 (+ one event outside the quarter)
    let days = [
        "2026-10-05T10:00:00Z",
        "2026-10-11T23:59:59Z",
        "2026-10-12T00:00:00Z",
        "2026-11-25T16:02:03Z",
    ];
    for (mi, m) in machines.iter().enumerate() {
        for (di, day) in days.iter().enumerate() {
            for (ei, name) in names.iter().enumerate() {
                if (mi + di + ei) % 3 == 0 {
                    continue;
                }
                let build = if mi < 6 { "0.1.0+aaa" } else { "0.2.0+bbb" };
                let command = if *name == "Error" {
                    ["push", "apps"][mi % 2]
                } else {
                    "push"
                };
                n += 1;
                all.push(event(
                    &format!("e{n}"),
                    name,
                    m,
                    day,
                    os[mi % 3],
                    build,
                    command,
                ));
            }
        }
    }
    all.push(event(
        "outside",
        "App Created",
        &machines[0],
        "2026-09-30T23:59:59.999Z",
        "linux",
        "0.1.0+aaa",
        "push",
    ));
    for chunk in all.chunks(17) {
        assert_eq!(post(&c.addr, "/v1/batch", &[], &batch(chunk)).status, 200);
    }
    // Independent expectation.
    let inside: Vec<&Value> = all.iter().filter(|e| e["messageId"] != "outside").collect();
    let week_of = |ts: &str| match &ts[..10] {
        "2026-10-05" | "2026-10-11" => "2026-10-05",
        "2026-10-12" => "2026-10-12",
        _ => "2026-11-23",
    };
    let k = 3u64;
    let mut suppressed = 0;
    let group = |key: &dyn Fn(&Value) -> Option<String>,
                 label: &str,
                 suppressed: &mut u64|
     -> Vec<Value> {
        let mut map: std::collections::BTreeMap<String, (u64, std::collections::BTreeSet<String>)> =
            Default::default();
        for e in &inside {
            if let Some(k) = key(e) {
                let entry = map.entry(k).or_default();
                entry.0 += 1;
                entry
                    .1
                    .insert(e["anonymousId"].as_str().unwrap().to_string());
            }
        }
        let mut rows: Vec<(String, u64, u64)> = map
            .into_iter()
            .map(|(k, (c, m))| (k, c, m.len() as u64))
            .collect();
        *suppressed += rows.iter().filter(|r| r.2 < k).count() as u64;
        rows.retain(|r| r.2 >= k);
        if label != "week" {
            rows.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        }
        rows.into_iter()
            .map(|(key, count, m)| json!({label: key, "count": count, "machines": m}))
            .collect()
    };
    let expected = json!({
        "quarter": "2026-Q4",
        "total_events": inside.len(),
        "machines": 8,
        "events": group(&|e| Some(e["event"].as_str().unwrap().into()), "event", &mut suppressed),
        "by_os": group(&|e| Some(e["context"]["os"]["name"].as_str().unwrap().into()), "os", &mut suppressed),
        "by_build": group(&|e| Some(e["context"]["app"]["build"].as_str().unwrap().into()), "build", &mut suppressed),
        "errors_by_command": group(&|e| (e["event"] == "Error").then(|| e["properties"]["command"].as_str().unwrap().into()), "command", &mut suppressed),
        "weekly": group(&|e| Some(week_of(e["timestamp"].as_str().unwrap()).into()), "week", &mut suppressed),
        "suppressed": 0,
    });
    let mut expected = expected;
    expected["suppressed"] = json!(suppressed);
    assert!(suppressed > 0, "the data set exercises suppression");
    let got: Value = serde_json::from_str(&report(&db, "json", k)).unwrap();
    assert_eq!(got, expected);
    // On SQLite, the warehouse SQL in sql/sqlite/report.sql gives the very
    // same inputs as the one-pass aggregation.
    let location = cfdev_collector::store::Location::parse(&db.arg()).unwrap();
    let mut database = cfdev_collector::store::Database::open(&location).unwrap();
    let quarter = cfdev_collector::quarter::Quarter::parse("2026-Q4").unwrap();
    if let Some(warehouse) = database.warehouse_tallies(&quarter) {
        assert_eq!(database.tallies(&quarter).unwrap(), warehouse.unwrap());
    }
    for format in ["md", "csv", "json", "html"] {
        let text = report(&db, format, 1);
        for m in &machines {
            assert!(
                !text.contains(m.as_str()) && !text.contains(&m[..16]),
                "{format} leaks an anonymous ID"
            );
        }
    }
    let html = report(&db, "html", 1);
    assert!(html.contains("<svg") && html.contains("<polyline") && html.contains("<rect"));
    assert_balanced(&html);
    assert!(!html.contains("<script"), "no JavaScript");
    let csv = report(&db, "csv", 1);
    assert!(csv.starts_with("section,key,count,machines\n"));
    assert!(csv.contains(&format!("total,2026-Q4,{},8\n", inside.len())));
    let md = report(&db, "md", 1);
    assert!(md.contains("| App Created |"));
}

/// Every element opened is closed, in order (void elements excepted).
fn assert_balanced(html: &str) {
    let mut stack: Vec<String> = Vec::new();
    let mut rest = html;
    while let Some(start) = rest.find('<') {
        let end = rest[start..].find('>').expect("unclosed tag") + start;
        let tag = &rest[start + 1..end];
        rest = &rest[end + 1..];
        if tag.starts_with('!') || tag.ends_with('/') {
            continue;
        }
        let name: String = tag
            .trim_start_matches('/')
            .chars()
            .take_while(|c| c.is_alphanumeric())
            .collect();
        if ["meta", "br", "img", "link"].contains(&name.as_str()) {
            continue;
        }
        if tag.starts_with('/') {
            assert_eq!(
                stack.pop().as_deref(),
                Some(name.as_str()),
                "mismatched </{name}>"
            );
        } else {
            stack.push(name);
        }
    }
    assert!(stack.is_empty(), "unclosed: {stack:?}");
}

#[test]
fn report_rejects_bad_input_with_one_line() {
    let out = Command::new(BIN)
        .args(["report", "--db", "/nonexistent.db", "--quarter", "2026-Q4"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(String::from_utf8_lossy(&out.stderr).lines().count(), 1);
    let db = Db::new(Backend::Sqlite);
    drop(Collector::start(&db, &[]));
    let out = Command::new(BIN)
        .args(["report", "--quarter", "2026-Q9", "--db"])
        .arg(&db.path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("2026-Q9"));
}

/// Segment's own Python library, pointed at the collector. CI installs it
/// (.ci/run); elsewhere the test says so and checks nothing.
fn official_segment_python_library_is_accepted(backend: Backend) {
    let probe = Command::new("python3")
        .args(["-c", "import segment.analytics"])
        .output();
    if !probe.is_ok_and(|o| o.status.success()) {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must install segment-analytics-python"
        );
        eprintln!("note: segment-analytics-python not installed; skipping the library check");
        return;
    }
    let (db, c) = fresh(backend, &["py-key"]);
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/clients/segment_python.py"
    );
    let out = Command::new("python3")
        .args([script, &format!("http://{}", c.addr), "py-key", "20"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(db.count_rows(), 21, "20 tracks and one identify");
    assert_eq!(
        db.string("SELECT COUNT(*) FROM tracks WHERE type='track' AND context_os_name IS NULL"),
        "20"
    );
}

/// The HTML report as a real browser parses it: headless Chromium's DOM has
/// one bar per event row and the weekly line. CI installs Chromium (.ci/run).
#[test]
fn html_report_renders_in_headless_chromium() {
    let chromium = ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|b| {
            Command::new("sh")
                .arg("-c")
                .arg(format!("command -v {b}"))
                .output()
                .is_ok_and(|o| o.status.success())
        });
    let Some(chromium) = chromium else {
        assert!(std::env::var_os("CI").is_none(), "CI must install chromium");
        eprintln!("note: no chromium here; the browser check is not exercised");
        return;
    };
    let (db, c) = fresh(Backend::Sqlite, &[]);
    let dir = &db.dir;
    let names = ["App Created", "Error", "Stop"];
    let events: Vec<Value> = (0..30)
        .map(|i| {
            let day = format!("2026-10-{:02}T10:00:00Z", 1 + i % 20);
            event(
                &format!("h{i}"),
                names[i % 3],
                &format!("m{}", i % 6),
                &day,
                "linux",
                "b",
                "push",
            )
        })
        .collect();
    assert_eq!(post(&c.addr, "/v1/batch", &[], &batch(&events)).status, 200);
    let html = dir.path().join("report.html");
    std::fs::write(&html, report(&db, "html", 1)).unwrap();
    let profile = dir.path().join("profile");
    let dom = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("--dump-dom")
        .arg(format!("file://{}", html.display()))
        .output()
        .unwrap();
    let dom = String::from_utf8_lossy(&dom.stdout);
    assert_eq!(dom.matches("<rect").count(), 3, "one bar per event:\n{dom}");
    assert_eq!(dom.matches("<polyline").count(), 1);
    assert!(dom.contains("cfdev-shim usage report — 2026-Q4"));
    assert!(!dom.contains("<script"));
}

on_both_backends!(
    ingest_is_idempotent_by_message_id,
    accepts_what_segment_accepts,
    malformed_requests_get_precise_400s,
    write_keys_are_enforced,
    size_limits_give_413,
    gzip_bodies_are_accepted,
    accepted_data_survives_restart_and_kill,
    report_matches_hand_computed_numbers_and_never_shows_ids,
    official_segment_python_library_is_accepted,
);
