//! Fault injection through the real binaries (SPEC §2: no telemetry failure
//! ever changes what cf does). Each case compares cf's output and status with
//! the same call run directly, and checks that `telemetry status` shows it.

use crate::server::{Reply, Server};
use crate::util::*;
use std::process::Command;
use std::time::{Duration, Instant, SystemTime};

/// Runs `args` directly and through the wrapper; both must match exactly.
fn same_as_direct(sb: &Sandbox, args: &[&str], env: &[(&str, &str)]) {
    let prep = |mut c: Command| {
        c.args(args)
            .env("FAKE_CF_STDOUT", "cf says hello\n")
            .env("FAKE_CF_STDERR", "cf warns\n")
            .env("FAKE_CF_EXIT", "3");
        for (k, v) in env {
            c.env(k, v);
        }
        c
    };
    let direct = run(&mut prep(sb.direct()));
    let mut cmd = prep(sb.cf());
    let wrapped = run(&mut cmd);
    assert_eq!(
        wrapped.stdout,
        direct.stdout,
        "stdout\n{}",
        describe(&cmd, &wrapped)
    );
    assert_eq!(
        wrapped.stderr,
        direct.stderr,
        "stderr\n{}",
        describe(&cmd, &wrapped)
    );
    assert_eq!(
        wrapped.status.code(),
        Some(3),
        "{}",
        describe(&cmd, &wrapped)
    );
}

fn problems(sb: &Sandbox) -> String {
    status(sb)["problems"].to_string()
}

/// A tiny tmpfs mounted for the test, unmounted on drop.
struct TinyFs(std::path::PathBuf);

impl TinyFs {
    fn mount(dir: std::path::PathBuf, size: &str) -> Option<TinyFs> {
        std::fs::create_dir_all(&dir).unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&dir)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI runs as root and must be able to mount a tmpfs"
            );
            eprintln!("note: cannot mount a tmpfs here; full-disk case not exercised");
            return None;
        }
        Some(TinyFs(dir))
    }
}

impl Drop for TinyFs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

#[test]
fn full_disk() {
    let sb = Sandbox::new();
    let Some(fs) = TinyFs::mount(sb.path("tiny"), "32k") else {
        return;
    };
    let state = fs.0.join("state");
    std::fs::create_dir_all(&state).unwrap();
    let env = [("CFDEV_SHIM_HOME", state.to_str().unwrap())];
    run_ok(
        sb.shim()
            .args(["telemetry", "on"])
            .env("CFDEV_SHIM_HOME", &state),
    );
    // Fill the filesystem.
    let filler = fs.0.join("filler");
    let _ = std::fs::write(&filler, vec![b'x'; 64 * 1024]);
    for _ in 0..3 {
        same_as_direct(&sb, &["push", "app"], &env);
    }
    let s: serde_json::Value = serde_json::from_slice(
        &run_ok(
            sb.shim()
                .args(["telemetry", "status", "--json"])
                .env("CFDEV_SHIM_HOME", &state),
        )
        .stdout,
    )
    .unwrap();
    assert!(!s["problems"].as_array().unwrap().is_empty(), "{s}");
}

#[test]
fn state_root_deleted_mid_run() {
    let sb = Sandbox::new();
    sb.telemetry_on();
    let state = sb.state();
    let child = sb
        .cf()
        .args(["push", "app"])
        .env("FAKE_CF_SLEEP_MS", "400")
        .env("FAKE_CF_STDOUT", "done\n")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    wait_until("cf to start", Duration::from_secs(10), || {
        !sb.calls().is_empty()
    });
    std::fs::remove_dir_all(&state).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(out.stdout, b"done\n");
}

#[test]
fn corrupt_truncated_and_oversized_config() {
    let sb = Sandbox::new();
    let config = sb.state().join("config.json");
    let big = format!(
        "{{\"telemetry\":\"on\",\"pad\":\"{}\"}}",
        "x".repeat(200 * 1024)
    );
    for (content, reason) in [
        (&b"\x00\xff\xfe garbage"[..], "not valid JSON"),
        (&b"{\"telemetry\": \"o"[..], "not valid JSON"),
        (&b"[\"on\"]"[..], "not a JSON object"),
        (big.as_bytes(), "larger than"),
    ] {
        std::fs::write(&config, content).unwrap();
        same_as_direct(&sb, &["push", "app"], &[]);
        assert!(
            sb.events().is_empty(),
            "an unusable config means nothing is captured"
        );
        assert!(
            problems(&sb).contains(reason),
            "{reason}: {}",
            problems(&sb)
        );
    }
}

#[test]
fn corrupt_truncated_and_oversized_spool() {
    let sb = Sandbox::new();
    sb.telemetry_on();
    std::fs::create_dir_all(sb.state().join("spool")).unwrap();
    let mut big = Vec::new();
    for i in 0..3000 {
        big.extend_from_slice(
            format!(
                "{{\"messageId\":\"old-{i}\",\"event\":\"E\",\"pad\":\"{}\"}}\n",
                "p".repeat(300)
            )
            .as_bytes(),
        );
    }
    big.extend_from_slice(b"{\"truncated\": tr");
    for content in [&b"\x00\x01\x02"[..], &b"{\"messageId\":\"x\""[..], &big[..]] {
        std::fs::write(sb.spool_file(), content).unwrap();
        std::fs::remove_file(sb.state().join("spool/events.lock")).ok();
        same_as_direct(&sb, &["push", "app"], &[("CFDEV_SHIM_SPOOL_LIMIT", "2000")]);
        assert!(
            sb.events_lossy().iter().any(|e| e["event"] == "Error"),
            "recorded after the damage"
        );
    }
    let s = status(&sb);
    let corrupt_left = sb.events_lossy().len() as u64;
    assert_eq!(
        std::fs::read_to_string(sb.spool_file())
            .unwrap()
            .lines()
            .count(),
        2000,
        "bounded"
    );
    assert_eq!(s["pending"], corrupt_left, "{s}");
    assert!(s["dropped"]["spool_full"].as_u64().unwrap() > 0);
}

#[test]
fn spool_path_is_a_directory_or_a_symlink() {
    let sb = Sandbox::new();
    sb.telemetry_on();
    std::fs::create_dir_all(sb.spool_file()).unwrap();
    same_as_direct(&sb, &["push", "app"], &[]);
    assert!(
        problems(&sb).contains("could not record"),
        "{}",
        problems(&sb)
    );
    std::fs::remove_dir(sb.spool_file()).unwrap();
    run_ok(sb.cf().arg("push"));
    assert!(
        problems(&sb).contains("events were recorded again since"),
        "{}",
        problems(&sb)
    );
    std::fs::remove_file(sb.spool_file()).unwrap();
    let victim = sb.path("victim");
    std::fs::write(&victim, "precious").unwrap();
    std::os::unix::fs::symlink(&victim, sb.spool_file()).unwrap();
    same_as_direct(&sb, &["push", "app"], &[]);
    assert_eq!(
        std::fs::read_to_string(&victim).unwrap(),
        "precious",
        "never written through a symlink"
    );
}

#[test]
fn no_home_and_unwritable_root() {
    let sb = Sandbox::new();
    same_as_direct(&sb, &["push", "app"], &[("CFDEV_SHIM_TELEMETRY", "on")]);
    let mut cmd = sb.cf();
    cmd.env_remove("HOME")
        .env_remove("CFDEV_SHIM_HOME")
        .env("CFDEV_SHIM_TELEMETRY", "on")
        .args(["push", "x"]);
    let out = run(&mut cmd);
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "{}",
        describe(&cmd, &out)
    );
    std::fs::write(sb.path("plainfile"), "").unwrap();
    let root = sb.path("plainfile").join("state");
    same_as_direct(
        &sb,
        &["push", "app"],
        &[
            ("CFDEV_SHIM_HOME", root.to_str().unwrap()),
            ("CFDEV_SHIM_TELEMETRY", "on"),
        ],
    );
}

#[test]
fn clock_far_in_the_future_or_past() {
    let server = Server::ok();
    let sb = Sandbox::new();
    sb.telemetry_on();
    run_ok(sb.shim().args(["telemetry", "endpoint", &server.url]));
    run_ok(
        sb.cf()
            .arg("push")
            .env("CFDEV_SHIM_FLUSH_INTERVAL", "999999"),
    );
    // A backoff stamp in 2100 (the clock jumped back): ignored, not obeyed.
    let far = SystemTime::UNIX_EPOCH + Duration::from_secs(4_102_444_800);
    cfdev_shim::fsutil::touch_at(&sb.state().join("retry-after"), far).unwrap();
    // A last attempt "in the future" counts as due.
    cfdev_shim::fsutil::touch_at(&sb.state().join("last-attempt"), far).unwrap();
    run_ok(
        sb.cf()
            .arg("push")
            .env("CFDEV_SHIM_FLUSH_INTERVAL", "999999"),
    );
    wait_until(
        "delivery despite the stamps",
        Duration::from_secs(15),
        || server.accepted().len() == 2,
    );
    // A last attempt in 1970: due as well.
    cfdev_shim::fsutil::touch_at(
        &sb.state().join("last-attempt"),
        SystemTime::UNIX_EPOCH + Duration::from_secs(1),
    )
    .unwrap();
    run_ok(
        sb.cf()
            .arg("push")
            .env("CFDEV_SHIM_FLUSH_INTERVAL", "999999"),
    );
    wait_until(
        "delivery after a stamp in 1970",
        Duration::from_secs(15),
        || server.accepted().len() == 3,
    );
}

#[test]
fn endpoints_that_misbehave() {
    for (name, reply) in [
        ("reset", Reply::Reset),
        ("garbage", Reply::Garbage),
        ("trickle", Reply::Trickle),
    ] {
        let server = Server::start(move |_, _| reply.clone());
        let sb = Sandbox::new();
        sb.telemetry_on();
        run_ok(sb.shim().args(["telemetry", "endpoint", &server.url]));
        let started = Instant::now();
        same_as_direct(&sb, &["push", "app"], &[("CFDEV_SHIM_FLUSH_INTERVAL", "0")]);
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{name}: cf never waits"
        );
        wait_until(
            &format!("{name}: delivery gives up"),
            Duration::from_secs(40),
            || !server.requests().is_empty() && deliveries_running(&sb) == 0,
        );
        let s = status(&sb);
        assert_eq!(s["pending"], 1, "{name}: nothing lost");
        assert_eq!(s["last_attempt"]["ok"], false, "{name}: {s}");
        let out = run_code(sb.shim().arg("flush"), 1);
        assert_eq!(stderr(&out).lines().count(), 1, "{name}: {}", stderr(&out));
    }
}

#[test]
fn proxies_are_honoured_and_an_unreachable_one_is_survived() {
    // The endpoint's host does not resolve; only the proxy can deliver.
    let proxy = Server::ok();
    let sb = Sandbox::new();
    sb.telemetry_on();
    run_ok(
        sb.shim()
            .args(["telemetry", "endpoint", "http://telemetry.invalid:8080"]),
    );
    run_ok(
        sb.cf()
            .arg("push")
            .env("CFDEV_SHIM_FLUSH_INTERVAL", "999999"),
    );
    run_ok(sb.shim().arg("flush").env("HTTP_PROXY", &proxy.url));
    assert_eq!(
        proxy.requests()[0].path,
        "http://telemetry.invalid:8080/v1/batch"
    );
    assert_eq!(proxy.accepted().len(), 1);
    // NO_PROXY sends it direct (and fails: the host does not exist).
    run_ok(
        sb.cf()
            .arg("push")
            .env("CFDEV_SHIM_FLUSH_INTERVAL", "999999"),
    );
    run_code(
        sb.shim()
            .arg("flush")
            .env("HTTP_PROXY", &proxy.url)
            .env("NO_PROXY", "telemetry.invalid"),
        1,
    );
    assert_eq!(proxy.requests().len(), 1);
    // An unreachable proxy: cf unaffected, events kept.
    same_as_direct(
        &sb,
        &["push", "app"],
        &[
            ("HTTP_PROXY", "http://127.0.0.1:9"),
            ("CFDEV_SHIM_FLUSH_INTERVAL", "0"),
        ],
    );
    run_code(
        sb.shim()
            .arg("flush")
            .env("HTTP_PROXY", "http://127.0.0.1:9"),
        1,
    );
    assert_eq!(
        status(&sb)["pending"],
        2,
        "the second push and the Error are kept"
    );
}
