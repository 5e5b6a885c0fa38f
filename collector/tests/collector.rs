//! cfdev-collector through its binary: ingest over HTTP and durability. The
//! same suite runs on both backends (SQLite file, throwaway PostgreSQL
//! cluster). The report's tests are in report.rs and publish.rs.

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

on_both_backends!(
    ingest_is_idempotent_by_message_id,
    accepts_what_segment_accepts,
    malformed_requests_get_precise_400s,
    write_keys_are_enforced,
    size_limits_give_413,
    gzip_bodies_are_accepted,
    accepted_data_survives_restart_and_kill,
    official_segment_python_library_is_accepted,
);
