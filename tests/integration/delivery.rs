//! Delivery (SPEC §6): batches to `{endpoint}/v1/batch`, outcomes, backoff,
//! background runs with hard limits, crash safety, and the final attempt.

use crate::server::{Reply, Server};
use crate::util::*;
use base64::Engine;
use std::collections::HashSet;
use std::time::{Duration, Instant};

fn on_with(server: &Server) -> Sandbox {
    let sb = Sandbox::new();
    sb.telemetry_on();
    run_ok(sb.shim().args([
        "telemetry",
        "endpoint",
        &server.url,
        "--write-key",
        "wk-123",
    ]));
    sb
}

/// Records `n` events without triggering a background delivery.
fn record(sb: &Sandbox, n: usize) {
    for i in 0..n {
        let args = if i % 3 == 0 {
            vec!["push", "a"]
        } else {
            vec!["restage", "a"]
        };
        run_ok(
            sb.cf()
                .args(args)
                .env("CFDEV_SHIM_FLUSH_INTERVAL", "999999"),
        );
    }
}

fn pending_ids(sb: &Sandbox) -> Vec<String> {
    sb.events()
        .iter()
        .map(|e| e["messageId"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn flush_delivers_every_event_exactly_once() {
    let server = Server::ok();
    let sb = on_with(&server);
    record(&sb, 25);
    let ids = pending_ids(&sb);
    let spooled = sb.events();
    // Turning the shim on writes a first delivery stamp only when something is sent.
    let out = run_ok(sb.shim().arg("flush"));
    assert!(stdout(&out).contains("delivered 25"), "{}", stdout(&out));
    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    let req = &requests[0];
    assert_eq!(req.method, "POST");
    assert_eq!(req.path, "/v1/batch");
    let expected_auth = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode("wk-123:")
    );
    assert_eq!(req.header("authorization"), Some(expected_auth.as_str()));
    assert!(req.header("user-agent").unwrap().starts_with("cfdev-shim/"));
    assert!(req
        .header("content-type")
        .unwrap()
        .starts_with("application/json"));
    let body = req.json();
    chrono::DateTime::parse_from_rfc3339(body["sentAt"].as_str().unwrap()).unwrap();
    assert_eq!(server.accepted_ids(), ids);
    assert_eq!(
        server.accepted(),
        spooled,
        "sent exactly as spooled (and as `show` prints)"
    );
    assert!(sb.events().is_empty());
    let s = status(&sb);
    assert_eq!(s["pending"], 0);
    assert_eq!(s["last_attempt"]["ok"], true);
    run_ok(sb.shim().arg("flush"));
    assert_eq!(server.requests().len(), 1, "nothing left to send");
}

#[test]
fn server_errors_keep_events_until_success() {
    let server = Server::start(|n, _| {
        if n < 2 {
            Reply::Status(503, vec![])
        } else {
            Reply::Status(200, vec![])
        }
    });
    let sb = on_with(&server);
    record(&sb, 10);
    let ids = pending_ids(&sb);
    for _ in 0..2 {
        let out = run_code(sb.shim().arg("flush"), 1);
        assert!(
            stderr(&out).starts_with("cfdev-shim: 10 events still pending"),
            "{}",
            stderr(&out)
        );
        assert_eq!(stderr(&out).lines().count(), 1);
        assert_eq!(pending_ids(&sb), ids);
    }
    let s = status(&sb);
    assert_eq!(s["last_attempt"]["ok"], false);
    assert!(s["next_attempt"].is_string(), "backoff recorded: {s}");
    run_ok(sb.shim().arg("flush"));
    assert_eq!(server.accepted_ids(), ids);
    assert!(status(&sb)["next_attempt"].is_null());
}

#[test]
fn client_errors_drop_and_count() {
    let server = Server::start(|_, _| Reply::Status(400, vec![]));
    let sb = on_with(&server);
    record(&sb, 4);
    let out = run_ok(sb.shim().arg("flush"));
    assert_eq!(
        stdout(&out),
        "delivered 0 events, dropped 4 refused by the endpoint\n"
    );
    let s = status(&sb);
    assert_eq!(s["pending"], 0);
    assert_eq!(s["dropped"]["rejected"], 4, "a 400 drops the batch");
    assert_eq!(s["dropped"]["total"], 4);
}

#[test]
fn too_large_batches_are_split_and_lone_refusals_dropped() {
    let server = Server::start(|_, r| {
        if r.body.len() > 1200 {
            Reply::Status(413, vec![])
        } else {
            Reply::Status(200, vec![])
        }
    });
    let sb = on_with(&server);
    record(&sb, 9);
    let ids = pending_ids(&sb);
    run_ok(sb.shim().arg("flush"));
    let mut got = server.accepted_ids();
    got.sort();
    let mut want = ids.clone();
    want.sort();
    assert_eq!(got, want);
    assert!(server.requests().len() > 1, "split into several requests");
    assert!(
        server.requests().iter().any(|r| r.body.len() > 1200),
        "the first, too large, was refused"
    );

    let server = Server::start(|_, r| {
        if r.body.len() > 100 {
            Reply::Status(413, vec![])
        } else {
            Reply::Status(200, vec![])
        }
    });
    let sb = on_with(&server);
    record(&sb, 3);
    let out = run_ok(sb.shim().arg("flush"));
    assert_eq!(stdout(&out), "delivered 0 events, dropped 3 too large\n");
    let s = status(&sb);
    assert_eq!(s["pending"], 0);
    assert_eq!(s["dropped"]["oversize"], 3, "a 413 for one event drops it");
    assert_eq!(s["dropped"]["rejected"], 0);
    assert_eq!(s["ok"], true, "{s}");
}

#[test]
fn retry_after_is_honoured_by_background_runs() {
    let server =
        Server::start(|_, _| Reply::Status(429, vec![("Retry-After".into(), "600".into())]));
    let sb = on_with(&server);
    run_ok(sb.cf().arg("push").env("CFDEV_SHIM_FLUSH_INTERVAL", "0"));
    wait_until("the first attempt", Duration::from_secs(10), || {
        server.requests().len() == 1
    });
    wait_until("attempt recorded", Duration::from_secs(10), || {
        status(&sb)["next_attempt"].is_string()
    });
    let next = chrono::DateTime::parse_from_rfc3339(status(&sb)["next_attempt"].as_str().unwrap())
        .unwrap();
    assert!(
        next.signed_duration_since(chrono::Utc::now()).num_seconds() >= 590,
        "{next}"
    );
    for _ in 0..3 {
        run_ok(sb.cf().arg("push").env("CFDEV_SHIM_FLUSH_INTERVAL", "0"));
    }
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        server.requests().len(),
        1,
        "no background attempt during backoff"
    );
    run_code(sb.shim().arg("flush"), 1);
    assert_eq!(server.requests().len(), 2, "flush ignores backoff");
}

#[test]
fn background_delivery_with_interval_zero() {
    let server = Server::ok();
    let sb = on_with(&server);
    let started = Instant::now();
    run_ok(
        sb.cf()
            .args(["push", "a"])
            .env("CFDEV_SHIM_FLUSH_INTERVAL", "0"),
    );
    assert!(started.elapsed() < Duration::from_secs(2));
    wait_until("background delivery", Duration::from_secs(15), || {
        server.accepted().len() == 1
    });
    wait_until("spool emptied", Duration::from_secs(5), || {
        sb.events().is_empty()
    });
    wait_until("delivery exits", Duration::from_secs(5), || {
        deliveries_running(&sb) == 0
    });
}

#[test]
fn no_delivery_without_due_interval() {
    let server = Server::ok();
    let sb = on_with(&server);
    run_ok(sb.shim().arg("flush"));
    record(&sb, 3);
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        server.requests().is_empty(),
        "default interval: not due yet"
    );
    assert_eq!(deliveries_running(&sb), 0);
}

#[test]
fn a_server_that_never_answers_never_slows_cf() {
    let server = Server::start(|_, _| Reply::Hang);
    let sb = on_with(&server);
    for _ in 0..5 {
        let started = Instant::now();
        run_ok(sb.cf().arg("push").env("CFDEV_SHIM_FLUSH_INTERVAL", "0"));
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "cf call took {:?}",
            started.elapsed()
        );
    }
    wait_until("the attempt", Duration::from_secs(10), || {
        !server.requests().is_empty()
    });
    // While the first delivery hangs on its request, the others started by
    // the later calls find the lock taken and leave: no second request.
    // (Counting processes would race with those that are about to leave.)
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(server.requests().len(), 1, "one delivery at a time");
    wait_until("the delivery to give up", Duration::from_secs(40), || {
        deliveries_running(&sb) == 0
    });
    assert_eq!(sb.events().len(), 5, "nothing lost");
    assert_eq!(status(&sb)["last_attempt"]["ok"], false);
}

#[test]
fn killing_deliveries_loses_nothing() {
    let server = Server::start(|n, _| {
        std::thread::sleep(Duration::from_millis((n % 7) as u64 * 5));
        Reply::Status(200, vec![])
    });
    let sb = on_with(&server);
    let mut generated: HashSet<String> = HashSet::new();
    for round in 0..50u64 {
        record(&sb, 1 + (round % 3) as usize);
        generated.extend(pending_ids(&sb));
        let mut child = sb
            .shim()
            .arg("flush")
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis((round * 7919) % 40));
        let _ = child.kill();
        let _ = child.wait();
    }
    run_ok(sb.shim().arg("flush"));
    let delivered: HashSet<String> = server.accepted_ids().into_iter().collect();
    let missing: Vec<_> = generated.difference(&delivered).collect();
    assert!(
        missing.is_empty(),
        "missing {} of {}",
        missing.len(),
        generated.len()
    );
    assert!(sb.events().is_empty());
}

#[test]
fn parallel_calls_one_delivery_at_a_time_all_delivered() {
    let server = Server::start(|_, _| {
        std::thread::sleep(Duration::from_millis(20));
        Reply::Status(200, vec![])
    });
    let sb = on_with(&server);
    let children: Vec<_> = (0..200)
        .map(|_| {
            sb.cf()
                .arg("push")
                .env("CFDEV_SHIM_FLUSH_INTERVAL", "0")
                .spawn()
                .unwrap()
        })
        .collect();
    for mut c in children {
        assert!(c.wait().unwrap().success());
    }
    // On cf's path the spool lock is waited for ~50 ms at most, then the
    // event is skipped and counted (lock_busy): under this much contention
    // some are. Nothing may go missing uncounted. No explicit flush: the
    // background runs alone must deliver everything recorded.
    let skipped = status(&sb)["dropped"]["lock_busy"].as_u64().unwrap();
    wait_until(
        "all 200 delivered or counted",
        Duration::from_secs(60),
        || server.accepted().len() as u64 + skipped >= 200,
    );
    assert_eq!(
        server
            .max_concurrent
            .load(std::sync::atomic::Ordering::SeqCst),
        1
    );
    let ids: HashSet<String> = server.accepted_ids().into_iter().collect();
    assert_eq!(ids.len() as u64 + skipped, 200, "{skipped} skipped");
    assert!(skipped < 100, "{skipped} skipped");
    wait_until("deliveries exit", Duration::from_secs(10), || {
        deliveries_running(&sb) == 0
    });
}

/// The names of the events in each batch the server received.
fn batches(server: &Server) -> Vec<Vec<String>> {
    server
        .requests()
        .iter()
        .map(|r| {
            r.json()["batch"]
                .as_array()
                .map(|b| {
                    b.iter()
                        .map(|e| e["event"].as_str().unwrap_or("?").to_string())
                        .collect()
                })
                .unwrap_or_default()
        })
        .collect()
}

#[test]
fn telemetry_off_deletes_pending_events_and_sends_telemetry_off_alone() {
    let server = Server::ok();
    let sb = on_with(&server);
    record(&sb, 2);
    let out = run_ok(sb.cf().args(["dev", "telemetry", "--off"]));
    assert_eq!(stdout(&out), "Telemetry is turned OFF\n");
    assert!(sb.events().is_empty(), "deleted unsent, at once");
    wait_until("the Telemetry Off event", Duration::from_secs(10), || {
        !server.requests().is_empty()
    });
    wait_until("the final attempt exits", Duration::from_secs(10), || {
        deliveries_running(&sb) == 0
    });
    assert_eq!(batches(&server), vec![vec!["Telemetry Off".to_string()]]);
    let event = &server.accepted()[0];
    assert_eq!(event["properties"]["command"], "dev telemetry");
    record(&sb, 1);
    assert!(sb.events().is_empty(), "nothing captured after");
    run_code(sb.shim().arg("flush"), 0);
    assert_eq!(server.requests().len(), 1, "nothing sent after");
    assert_eq!(
        status(&sb)["last_attempt"]["result"],
        "sent the Telemetry Off event"
    );
}

#[test]
fn telemetry_off_stops_a_delivery_in_flight() {
    // A slow sink that takes two events at a time: a delivery of 30 events
    // posts batch after batch for seconds.
    let server = Server::start(|_, r| {
        if r.body.len() > 1500 {
            return Reply::Status(413, vec![]);
        }
        std::thread::sleep(Duration::from_millis(300));
        Reply::Status(200, vec![])
    });
    let sb = on_with(&server);
    record(&sb, 30);
    run_ok(sb.cf().arg("push").env("CFDEV_SHIM_FLUSH_INTERVAL", "0"));
    wait_until("a delivery in flight", Duration::from_secs(15), || {
        server.accepted().len() >= 2
    });
    let out = run_ok(sb.cf().args(["dev", "telemetry", "--off"]));
    assert_eq!(stdout(&out), "Telemetry is turned OFF\n");
    assert_eq!(stderr(&out), "");
    let returned_at = server.requests().len();
    assert!(sb.events().is_empty());
    wait_until("the Telemetry Off event", Duration::from_secs(10), || {
        batches(&server).contains(&vec!["Telemetry Off".to_string()])
    });
    wait_until(
        "every delivery process exits",
        Duration::from_secs(10),
        || deliveries_running(&sb) == 0,
    );
    let after: Vec<Vec<String>> = batches(&server).split_off(returned_at);
    assert_eq!(
        after,
        vec![vec!["Telemetry Off".to_string()]],
        "after the command returned, only the Telemetry Off event, alone"
    );
    assert!(
        server.accepted().len() < 31,
        "the delivery was stopped, not finished"
    );
}

#[test]
fn telemetry_off_without_a_way_to_send_still_deletes_and_says_so() {
    let server = Server::ok();
    let sb = on_with(&server);
    record(&sb, 3);
    let copy = wrapper_copy(&sb);
    // Holding the delivery lock pauses the opt-out before it starts the
    // final attempt, long enough to make the executable unexecutable.
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(sb.state().join("delivery.lock"))
        .unwrap();
    lock.lock().unwrap();
    let child = sb
        .command(&copy)
        .args(["dev", "telemetry", "--off"])
        .env("CFDEV_SHIM_REAL_CF", sb.path("real/cf"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    make_unexecutable(&copy);
    drop(lock);
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(stdout(&out), "Telemetry is turned OFF\n");
    assert!(
        stderr(&out).contains("could not send the Telemetry Off event")
            && stderr(&out).contains("Permission denied"),
        "{}",
        stderr(&out)
    );
    assert!(
        sb.events().is_empty(),
        "pending events deleted all the same"
    );
    assert!(!sb.state().join("telemetry-off.json").exists());
    assert!(server.requests().is_empty());
}

#[test]
fn flush_without_endpoint_explains() {
    let sb = Sandbox::new();
    sb.telemetry_on();
    record(&sb, 2);
    let out = run_code(sb.shim().arg("flush"), 1);
    assert!(stderr(&out).contains("no endpoint"), "{}", stderr(&out));
    let out = run_code(sb.shim().args(["telemetry", "endpoint", "not a url"]), 2);
    assert_eq!(stderr(&out).lines().count(), 1, "{}", stderr(&out));
}

/// A copy of the wrapper, named `cf`, that the test can make unexecutable
/// once it runs: the background deliverer is the same executable.
fn wrapper_copy(sb: &Sandbox) -> std::path::PathBuf {
    let dir = sb.path("copy");
    std::fs::create_dir_all(&dir).unwrap();
    let copy = dir.join("cf");
    copy_executable(std::path::Path::new(SHIM), &copy);
    copy
}

fn make_unexecutable(path: &std::path::Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o644)).unwrap();
}

#[test]
fn a_deliverer_that_cannot_be_executed_is_reported() {
    let server = Server::ok();
    let sb = on_with(&server);
    let copy = wrapper_copy(&sb);
    let mut child = sb
        .command(&copy)
        .args(["push", "a"])
        .env("CFDEV_SHIM_FLUSH_INTERVAL", "0")
        .env("CFDEV_SHIM_REAL_CF", sb.path("real/cf"))
        // The fake cf waits for its stdin to close: the wrapper is running
        // (exec done) and has not yet started the deliverer.
        .env("FAKE_CF_READ_STDIN", "1")
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    make_unexecutable(&copy);
    drop(child.stdin.take());
    assert!(child.wait().unwrap().success(), "cf itself is unaffected");
    let problems = status(&sb)["problems"].to_string();
    assert!(
        problems.contains("could not start background delivery")
            && problems.contains("Permission denied"),
        "{problems}"
    );
    assert_eq!(sb.events().len(), 1, "the event stays pending");
    assert!(server.requests().is_empty());
}

#[test]
fn the_deliverer_leaves_the_callers_directory_and_descriptors() {
    let server = Server::start(|_, _| Reply::Hang);
    let sb = on_with(&server);
    let started = Instant::now();
    // fd 3 is a copy of the captured stdout, inherited without close-on-exec:
    // were it kept by the deliverer, this call would wait for it to exit.
    let mut cmd = sb.command("/bin/sh");
    cmd.args(["-c", "exec 3>&1; cf push a"])
        .env("CFDEV_SHIM_FLUSH_INTERVAL", "0");
    run_ok(&mut cmd);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
    wait_until("the attempt", Duration::from_secs(10), || {
        !server.requests().is_empty()
    });
    let pids = delivery_pids(&sb);
    assert_eq!(pids.len(), 1, "{pids:?}");
    let cwd = std::fs::read_link(format!("/proc/{}/cwd", pids[0])).unwrap();
    assert_eq!(
        cwd,
        std::path::Path::new("/"),
        "a umount must not be blocked"
    );
    let work = sb.path("work");
    for fd in std::fs::read_dir(format!("/proc/{}/fd", pids[0])).unwrap() {
        let target = std::fs::read_link(fd.unwrap().path()).unwrap_or_default();
        assert!(!target.starts_with(&work), "{target:?}");
        assert!(!target.to_string_lossy().starts_with("pipe:"), "{target:?}");
    }
}
