//! The operator's mistakes (SPEC §6): a wrong write key, a wrong path, a
//! redirect, a TLS or DNS failure keep the events, make `flush` fail naming
//! what to fix, show in `status`, and back background delivery off. And the
//! one set of endpoint rules for every way an endpoint is given.

use crate::server::{Reply, Server, TestCert};
use crate::util::*;
use std::time::Duration;

fn sandbox_with(endpoint: &str, write_key: Option<&str>) -> Sandbox {
    let sb = Sandbox::new();
    sb.telemetry_on();
    let mut cmd = sb.shim();
    cmd.args(["telemetry", "endpoint", endpoint]);
    if let Some(key) = write_key {
        cmd.args(["--write-key", key]);
    }
    run_ok(&mut cmd);
    sb
}

fn record(sb: &Sandbox, n: usize) -> Vec<String> {
    for _ in 0..n {
        run_ok(
            sb.cf()
                .args(["restage", "a"])
                .env("CFDEV_SHIM_FLUSH_INTERVAL", "999999"),
        );
    }
    pending_ids(sb)
}

fn pending_ids(sb: &Sandbox) -> Vec<String> {
    sb.events()
        .iter()
        .map(|e| e["messageId"].as_str().unwrap().to_string())
        .collect()
}

/// `flush` fails with one line naming `what`, the events stay, `status`
/// says so (JSON and text).
fn assert_configuration_problem(sb: &Sandbox, ids: &[String], what: &[&str]) {
    let out = run_code(sb.shim().arg("flush"), 1);
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with(&format!("cfdev-shim: {} events kept: ", ids.len())),
        "{err}"
    );
    for w in what {
        assert!(err.contains(w), "{w:?} not in {err}");
    }
    assert_eq!(pending_ids(sb), ids, "the events are kept");
    let s = status(sb);
    assert_eq!(s["ok"], false, "{s}");
    assert_eq!(s["pending"], ids.len());
    assert_eq!(s["dropped"]["total"], 0);
    let problems = s["problems"].to_string();
    for w in what {
        assert!(problems.contains(w), "{w:?} not in {problems}");
    }
    let text = stdout(&run_ok(sb.shim().args(["telemetry", "status"])));
    assert!(
        text.lines()
            .any(|l| l.starts_with("problem: delivery failed: ") && l.contains(what[0])),
        "{text}"
    );
}

#[test]
fn wrong_write_key_wrong_path_and_redirects_keep_the_events() {
    for (code, headers, what) in [
        (401, vec![], vec!["HTTP 401", "check the write key"]),
        (403, vec![], vec!["HTTP 403", "check the write key"]),
        (
            404,
            vec![],
            vec!["HTTP 404", "give the base URL, without /v1/batch"],
        ),
        (
            405,
            vec![],
            vec!["HTTP 405", "give the base URL, without /v1/batch"],
        ),
        (
            301,
            vec![(
                "Location".to_string(),
                "https://new.example/v1/batch".to_string(),
            )],
            vec!["HTTP 301", "redirect to https://new.example/v1/batch"],
        ),
        (307, vec![], vec!["HTTP 307", "redirect"]),
    ] {
        let server = Server::start(move |_, _| Reply::Status(code, headers.clone()));
        let sb = sandbox_with(&server.url, Some("wk-123"));
        let ids = record(&sb, 3);
        assert_configuration_problem(&sb, &ids, &what);
        assert_eq!(
            server.requests().len(),
            1,
            "{code}: one request, no retry loop"
        );
        let s = status(&sb);
        assert_eq!(s["delivery_problem"]["http_status"], code, "{s}");
        assert!(s["next_attempt"].is_string(), "{code}: backing off: {s}");
    }
}

#[test]
fn a_configuration_problem_backs_background_delivery_off_until_fixed() {
    let server = Server::start(|_, r| {
        // "good-key:" in Basic auth.
        if r.header("authorization") == Some("Basic Z29vZC1rZXk6") {
            Reply::Status(200, vec![])
        } else {
            Reply::Status(401, vec![])
        }
    });
    let sb = sandbox_with(&server.url, Some("bad-key"));
    run_ok(sb.cf().arg("push").env("CFDEV_SHIM_FLUSH_INTERVAL", "0"));
    wait_until("the problem is recorded", Duration::from_secs(15), || {
        status(&sb)["delivery_problem"]["http_status"] == 401
    });
    wait_until("the delivery exits", Duration::from_secs(10), || {
        deliveries_running(&sb) == 0
    });
    for _ in 0..5 {
        run_ok(sb.cf().arg("push").env("CFDEV_SHIM_FLUSH_INTERVAL", "0"));
        assert_eq!(
            deliveries_running(&sb),
            0,
            "no delivery started while backing off"
        );
    }
    assert_eq!(server.requests().len(), 1, "no hot loop");
    assert_eq!(sb.events().len(), 6, "every event kept");
    // Fixing the key clears the problem; the next flush delivers everything.
    run_ok(sb.shim().args([
        "telemetry",
        "endpoint",
        &server.url,
        "--write-key",
        "good-key",
    ]));
    let s = status(&sb);
    assert!(s["delivery_problem"].is_null(), "{s}");
    let out = run_ok(sb.shim().arg("flush"));
    assert_eq!(stdout(&out), "delivered 6 events\n");
    let s = status(&sb);
    assert_eq!(
        (s["ok"].clone(), s["pending"].clone()),
        (true.into(), 0.into()),
        "{s}"
    );
}

#[test]
fn https_works_and_an_untrusted_certificate_is_a_configuration_problem() {
    let dir = tempfile::tempdir().unwrap();
    let cert = TestCert::new(dir.path());
    let server = Server::start_tls(&cert, |_, _| Reply::Status(200, vec![]));
    let sb = sandbox_with(&server.url, Some("wk-123"));
    let ids = record(&sb, 2);
    assert_configuration_problem(&sb, &ids, &["TLS failed", "UnknownIssuer"]);
    assert_eq!(status(&sb)["delivery_problem"]["kind"], "tls");
    assert!(server.requests().is_empty());
    // Trusted through the system's store (as a company CA would be).
    let out = run_ok(sb.shim().arg("flush").env("SSL_CERT_FILE", &cert.cert_file));
    assert_eq!(stdout(&out), "delivered 2 events\n");
    assert_eq!(server.accepted_ids(), ids);
    let s = status(&sb);
    assert_eq!(s["ok"], true, "{s}");
    assert!(s["delivery_problem"].is_null(), "{s}");
}

#[test]
fn a_host_that_does_not_resolve_is_a_configuration_problem() {
    // .invalid never resolves (RFC 6761).
    let sb = sandbox_with("http://telemetry.invalid:8080", None);
    let ids = record(&sb, 2);
    assert_configuration_problem(&sb, &ids, &["does not resolve"]);
    assert_eq!(status(&sb)["delivery_problem"]["kind"], "dns");
}

#[test]
fn a_trailing_v1_batch_is_normalised_everywhere() {
    let server = Server::ok();
    let sb = sandbox_with(&format!("{}/v1/batch/", server.url), None);
    let config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(sb.state().join("config.json")).unwrap()).unwrap();
    assert_eq!(config["endpoint"], server.url.as_str(), "stored normalised");
    assert_eq!(status(&sb)["endpoint"], format!("{}/v1/batch", server.url));
    record(&sb, 1);
    run_ok(sb.shim().arg("flush"));
    // A stored endpoint written by an older version, and the environment.
    let config_file = sb.state().join("config.json");
    let mut config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&config_file).unwrap()).unwrap();
    config["endpoint"] = format!("{}/v1/batch", server.url).into();
    std::fs::write(&config_file, config.to_string()).unwrap();
    record(&sb, 1);
    run_ok(sb.shim().arg("flush"));
    record(&sb, 1);
    run_ok(
        sb.shim()
            .arg("flush")
            .env("CFDEV_SHIM_ENDPOINT", format!("{}/v1/batch", server.url)),
    );
    let paths: Vec<String> = server.requests().iter().map(|r| r.path.clone()).collect();
    assert_eq!(paths, ["/v1/batch", "/v1/batch", "/v1/batch"]);
}

#[test]
fn endpoints_breaking_the_rules_are_refused_with_one_line() {
    let sb = Sandbox::new();
    for (url, why) in [
        ("not-a-url", "is not a URL"),
        ("ftp://h.example", "http:// or https://"),
        ("https://user:hunter2@h.example", "user name or password"),
        ("https://h.example/?x=1", "query"),
        ("https://h.example/#top", "fragment"),
    ] {
        let out = run_code(sb.shim().args(["telemetry", "endpoint", url]), 2);
        let err = stderr(&out);
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains(why), "{url}: {err}");
        assert!(!err.contains("hunter2"), "{err}");
        let out = run_code(sb.shim().args(["check-endpoint", url]), 2);
        assert!(stderr(&out).contains(why), "{}", stderr(&out));
        assert!(stdout(&out).is_empty());
    }
    assert!(!sb.state().join("config.json").exists(), "nothing stored");
    let out = run_ok(
        sb.shim()
            .args(["check-endpoint", "HTTPS://Collector.Example/v1/batch"]),
    );
    assert_eq!(stdout(&out), "https://collector.example\n");
}

#[test]
fn an_invalid_endpoint_in_the_environment_is_a_problem_not_a_crash() {
    let sb = Sandbox::new();
    sb.telemetry_on();
    let bad = [("CFDEV_SHIM_ENDPOINT", "not-a-url")];
    let out = run(sb
        .cf()
        .arg("push")
        .envs(bad)
        .env("CFDEV_SHIM_FLUSH_INTERVAL", "0"));
    assert_eq!(out.status.code(), Some(0), "cf unaffected: {out:?}");
    assert_eq!(sb.events().len(), 1, "recorded, kept");
    let out = run_code(sb.shim().arg("flush").envs(bad), 1);
    assert_eq!(
        stderr(&out),
        "cfdev-shim: 1 events kept: CFDEV_SHIM_ENDPOINT: 'not-a-url' is not a URL \
         (relative URL without a base); give the base URL, e.g. https://collector.example.com\n"
    );
    let out = run_ok(sb.shim().args(["telemetry", "status", "--json"]).envs(bad));
    let s: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(s["ok"], false);
    assert!(s["endpoint"].is_null());
    assert!(
        s["problems"]
            .to_string()
            .contains("CFDEV_SHIM_ENDPOINT: 'not-a-url' is not a URL"),
        "{s}"
    );
    let text = stdout(&run_ok(sb.shim().args(["telemetry", "status"]).envs(bad)));
    assert!(text.contains("endpoint: unusable (see problems)"), "{text}");
}

#[test]
fn endpoint_clear_and_the_write_key_never_shown_in_full() {
    let secret = "wk-0123456789-very-secret";
    let sb = sandbox_with("http://127.0.0.1:9", Some(secret));
    let json = stdout(&run_ok(sb.shim().args(["telemetry", "status", "--json"])));
    let text = stdout(&run_ok(sb.shim().args(["telemetry", "status"])));
    for shown in [&json, &text] {
        assert!(!shown.contains(secret), "{shown}");
        assert!(shown.contains("wk-0… (25 characters)"), "{shown}");
    }
    let out = run_ok(sb.shim().args(["telemetry", "endpoint", "--clear"]));
    assert_eq!(
        stdout(&out),
        "No endpoint stored: events stay in the local spool\n"
    );
    let s = status(&sb);
    assert!(s["endpoint"].is_null() && s["write_key"].is_null(), "{s}");
    let config = std::fs::read_to_string(sb.state().join("config.json")).unwrap();
    assert!(
        !config.contains(secret) && !config.contains("endpoint"),
        "{config}"
    );
    run_code(
        sb.shim()
            .args(["telemetry", "endpoint", "--clear", "http://h.example"]),
        2,
    );
}
