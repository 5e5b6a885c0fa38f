//! Consent (SPEC §5): the stored choice, `cf dev telemetry`, the first-run
//! prompt, and what turning off does.

use crate::pty::run_on_pty;
use crate::util::*;
use serde_json::Value;

#[test]
fn shim_commands_store_the_choice() {
    let sb = Sandbox::new();
    assert_eq!(status(&sb)["telemetry"], "undecided");
    for (args, expected, line) in [
        (&["telemetry", "on"][..], "on", "Telemetry is turned ON\n"),
        (&["telemetry", "--off"], "off", "Telemetry is turned OFF\n"),
        (&["telemetry", "--on"], "on", "Telemetry is turned ON\n"),
        (&["telemetry", "off"], "off", "Telemetry is turned OFF\n"),
    ] {
        let out = run_ok(sb.shim().args(args));
        assert_eq!(stdout(&out), line);
        assert_eq!(status(&sb)["telemetry"], expected);
    }
    let config: Value =
        serde_json::from_slice(&std::fs::read(sb.state().join("config.json")).unwrap()).unwrap();
    assert_eq!(config["telemetry"], "off");
}

#[test]
fn status_reports_overrides_and_paths() {
    let sb = Sandbox::new();
    sb.telemetry_on();
    let s: Value = serde_json::from_slice(
        &run_ok(
            sb.shim()
                .args(["telemetry", "status", "--json"])
                .env("DO_NOT_TRACK", "1"),
        )
        .stdout,
    )
    .unwrap();
    assert_eq!(s["telemetry"], "off");
    assert_eq!(s["stored_choice"], "on");
    assert!(s["reason"].as_str().unwrap().contains("DO_NOT_TRACK"));
    assert_eq!(
        s["paths"]["config"],
        sb.state().join("config.json").to_str().unwrap()
    );
    assert_eq!(s["pending"], 0);
    assert!(s["endpoint"].is_null());
    let text = stdout(&run_ok(sb.shim().args(["telemetry", "status"])));
    assert!(text.contains("telemetry: on"), "{text}");
    assert!(text.contains("endpoint: none configured"), "{text}");
}

#[test]
fn cf_dev_telemetry_works_without_the_plugin() {
    let sb = Sandbox::new();
    let out = run_ok(sb.cf().args(["dev", "telemetry", "--on"]));
    assert_eq!(stdout(&out), "Telemetry is turned ON\n");
    assert!(
        sb.calls().is_empty(),
        "not forwarded: the plugin is not installed"
    );
    assert_eq!(status(&sb)["telemetry"], "on");
    run_ok(sb.cf().args(["push", "app"]));
    let out = run_ok(sb.cf().args(["dev", "telemetry", "--off"]));
    assert_eq!(stdout(&out), "Telemetry is turned OFF\n");
    assert_eq!(status(&sb)["telemetry"], "off");
    assert_eq!(
        status(&sb)["pending"],
        0,
        "pending events deleted when turned off"
    );
    let out = run_ok(sb.cf().args(["dev", "telemetry"]));
    assert_eq!(stdout(&out), "Telemetry is turned OFF\n");
}

#[test]
fn cf_dev_telemetry_is_forwarded_when_the_plugin_is_installed() {
    let sb = Sandbox::new();
    let plugins = sb.path("home/.cf/plugins");
    std::fs::create_dir_all(&plugins).unwrap();
    std::fs::write(
        plugins.join("config.json"),
        r#"{"Plugins":{"cfdev":{"Location":"/x"}}}"#,
    )
    .unwrap();
    let out = run_ok(
        sb.cf()
            .args(["dev", "telemetry", "--on"])
            .env("FAKE_CF_STDOUT", "plugin says hi\n"),
    );
    assert_eq!(stdout(&out), "Telemetry is turned ON\nplugin says hi\n");
    assert_eq!(sb.calls().len(), 1);
    // CF_PLUGIN_HOME moves the plugin config.
    let sb2 = Sandbox::new();
    let out = run_ok(
        sb2.cf()
            .args(["dev", "telemetry", "--off"])
            .env("CF_PLUGIN_HOME", sb.path("home")),
    );
    assert_eq!(stdout(&out), "Telemetry is turned OFF\n");
    assert_eq!(sb2.calls().len(), 1);
}

#[test]
fn turning_off_records_telemetry_off_before_deleting() {
    // With a dead endpoint the final attempt fails and everything is deleted.
    let sb = Sandbox::new();
    sb.telemetry_on();
    run_ok(
        sb.cf()
            .args(["push", "app"])
            .env("CFDEV_SHIM_FLUSH_INTERVAL", "99999"),
    );
    let started = std::time::Instant::now();
    run_ok(
        sb.cf()
            .args(["dev", "telemetry", "--off"])
            .env("CFDEV_SHIM_ENDPOINT", "http://127.0.0.1:9"),
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(2),
        "turning off never waits on the network"
    );
    wait_until(
        "pending to be deleted",
        std::time::Duration::from_secs(10),
        || sb.events().is_empty(),
    );
    run_ok(sb.cf().args(["push", "app"]));
    assert!(sb.events().is_empty(), "nothing captured after off");
}

#[test]
fn first_interactive_dev_start_asks_once() {
    let sb = Sandbox::new();
    let run = run_on_pty(sb.cf().args(["dev", "start"]), "[y/N]", b"y\n");
    assert!(run.status.success(), "{}", run.output);
    assert!(
        run.output.contains("cfdev-shim telemetry show"),
        "{}",
        run.output
    );
    assert!(
        run.output.contains("Start Begin"),
        "lists the events: {}",
        run.output
    );
    assert!(
        run.output.contains("Telemetry is turned ON"),
        "{}",
        run.output
    );
    assert_eq!(sb.event_names(), ["Start Begin", "Start End"]);
    // Asked only once.
    let run = run_on_pty(sb.cf().args(["dev", "start"]), "", b"");
    assert!(!run.output.contains("[y/N]"), "{}", run.output);
    assert_eq!(sb.event_names().len(), 4);
    assert_eq!(sb.calls().len(), 2);
}

#[test]
fn enter_means_no() {
    let sb = Sandbox::new();
    let run = run_on_pty(sb.cf().args(["dev", "start"]), "[y/N]", b"\n");
    assert!(run.status.success(), "{}", run.output);
    assert!(
        run.output.contains("Telemetry is turned OFF"),
        "{}",
        run.output
    );
    assert_eq!(status(&sb)["telemetry"], "off");
    assert!(sb.events().is_empty());
    assert_eq!(sb.calls().len(), 1, "cf dev start still ran");
}

#[test]
fn the_answer_is_taken_from_stdin_without_eating_what_follows() {
    let sb = Sandbox::new();
    let run = run_on_pty(
        sb.cf()
            .args(["dev", "start"])
            .env("FAKE_CF_READ_STDIN", "1"),
        "[y/N]",
        b"yes\nrest\n\x04",
    );
    assert!(run.status.success(), "{}", run.output);
    assert_eq!(status(&sb)["telemetry"], "on");
    assert_eq!(sb.calls()[0].stdin, b"rest\n");
}

#[test]
fn never_asks_without_a_terminal_or_in_ci() {
    let sb = Sandbox::new();
    let out = run_ok(sb.cf().args(["dev", "start"]));
    assert!(!stderr(&out).contains("[y/N]"));
    let run = run_on_pty(sb.cf().args(["dev", "start"]).env("CI", "true"), "", b"");
    assert!(!run.output.contains("[y/N]"), "{}", run.output);
    assert_eq!(status(&sb)["telemetry"], "undecided");
    assert!(sb
        .state_files()
        .iter()
        .all(|f| !f.ends_with("events.jsonl")));
}

#[test]
fn our_output_into_a_closed_pipe_is_quiet() {
    use std::os::unix::process::CommandExt;
    let sb = Sandbox::new();
    sb.telemetry_on();
    run_ok(sb.cf().arg("push"));
    for args in [
        &["telemetry", "status"][..],
        &["telemetry", "show"],
        &["--help"],
    ] {
        let mut cmd = sb.shim();
        cmd.args(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        // As under a shell that ignores SIGPIPE: the write fails with EPIPE.
        unsafe {
            cmd.pre_exec(|| {
                libc::signal(libc::SIGPIPE, libc::SIG_IGN);
                Ok(())
            });
        }
        let mut child = cmd.spawn().unwrap();
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert!(out.status.code().is_some(), "{args:?}: not killed");
    }
}

#[test]
fn invalid_environment_values_are_shown_as_problems() {
    let sb = Sandbox::new();
    sb.telemetry_on();
    let status_with = |vars: &[(&str, &str)]| -> Value {
        let mut cmd = sb.shim();
        cmd.args(["telemetry", "status", "--json"]);
        for (k, v) in vars {
            cmd.env(k, v);
        }
        serde_json::from_slice(&run_ok(&mut cmd).stdout).unwrap()
    };
    let s = status_with(&[
        ("CFDEV_SHIM_TELEMETRY", "maybe"),
        ("CFDEV_SHIM_FLUSH_INTERVAL", "1h"),
        ("CFDEV_SHIM_SPOOL_LIMIT", "-3"),
    ]);
    assert_eq!(s["telemetry"], "on", "an unusable override is not applied");
    assert_eq!(s["spool_limit"], 10000, "the default limit applies");
    let problems: Vec<&str> = s["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    assert_eq!(
        problems,
        [
            "CFDEV_SHIM_TELEMETRY=\"maybe\" ignored: expected on or off; the stored choice applies",
            "CFDEV_SHIM_FLUSH_INTERVAL=\"1h\" ignored: expected whole seconds (0 or more); \
             the default 3600 applies",
            "CFDEV_SHIM_SPOOL_LIMIT=\"-3\" ignored: expected a whole number of events, at least 1; \
             the default 10000 applies",
        ]
    );
    let valid = status_with(&[
        ("CFDEV_SHIM_SPOOL_LIMIT", "7"),
        ("CFDEV_SHIM_FLUSH_INTERVAL", "0"),
    ]);
    assert_eq!(valid["spool_limit"], 7);
    assert_eq!(valid["problems"], serde_json::json!([]));
    // The text form shows them too, and cf still runs untouched.
    let text = stdout(&run_ok(
        sb.shim()
            .args(["telemetry", "status"])
            .env("CFDEV_SHIM_SPOOL_LIMIT", "lots"),
    ));
    assert!(
        text.contains("problem: CFDEV_SHIM_SPOOL_LIMIT=\"lots\" ignored"),
        "{text}"
    );
    run_ok(
        sb.cf()
            .args(["push", "app"])
            .env("CFDEV_SHIM_SPOOL_LIMIT", "lots"),
    );
    assert_eq!(sb.event_names(), ["App Created"]);
}
