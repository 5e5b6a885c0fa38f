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

#[test]
fn the_prompt_discloses_every_kind_of_data() {
    let sb = Sandbox::new();
    let run = run_on_pty(
        sb.cf()
            .args(["dev", "start"])
            .env("CFDEV_SHIM_ENDPOINT", "https://telemetry.example"),
        "[y/N]",
        b"n\n",
    );
    assert!(run.status.success(), "{}", run.output);
    for needle in [
        "the event name",
        "anonymous machine ID",
        "the operating system",
        "the cfdev-shim build",
        "the time of the event",
        "the cf command name",
        "the names of the flags used",
        "the exit code, or the signal",
        "how long the command took",
        "the buildpack or service category",
        "the processor architecture",
        "Never collected: app, org, space, service, route or user names, paths, URLs or credentials",
        "Sent to: https://telemetry.example.",
        "cfdev-shim telemetry show",
        "cf dev telemetry --off (events not yet sent are deleted)",
        "Start Begin",
        "Are you ok with CF Dev periodically capturing anonymized telemetry [y/N]?",
    ] {
        assert!(run.output.contains(needle), "{needle}: {}", run.output);
    }
    assert!(
        run.output.contains("Telemetry is turned OFF"),
        "{}",
        run.output
    );
}

fn write_config(sb: &Sandbox, config: Value) {
    std::fs::write(sb.state().join("config.json"), config.to_string()).unwrap();
}

fn config_of(sb: &Sandbox) -> Value {
    serde_json::from_slice(&std::fs::read(sb.state().join("config.json")).unwrap()).unwrap()
}

#[test]
fn a_choice_stored_for_older_data_kinds_pauses_capture() {
    for older in [
        serde_json::json!({ "telemetry": "on" }),
        serde_json::json!({ "telemetry": "on", "data_version": 1, "endpoint": "http://127.0.0.1:9" }),
    ] {
        let sb = Sandbox::new();
        write_config(&sb, older.clone());
        // Nothing is captured, cf runs as usual.
        run_ok(sb.cf().args(["push", "app"]));
        run_ok(sb.cf().args(["dev", "start"]));
        assert_eq!(sb.calls().len(), 2);
        assert!(sb.events().is_empty(), "{older}: paused captures nothing");
        let s = status(&sb);
        assert_eq!(s["telemetry"], "paused", "{s}");
        assert_eq!(s["stored_choice"], "on");
        assert_eq!(s["data_version"]["agreed"], 1);
        assert_eq!(s["data_version"]["current"], 2);
        let reason = s["reason"].as_str().unwrap();
        assert!(
            reason.contains("you agreed to data version 1")
                && reason.contains("the cf command name")
                && reason.contains("cfdev-shim telemetry on"),
            "{reason}"
        );
        let text = stdout(&run_ok(sb.shim().args(["telemetry", "status"])));
        assert!(
            text.starts_with("telemetry: paused (paused: you agreed"),
            "{text}"
        );
        let line = stdout(&run_ok(sb.cf().args(["dev", "telemetry"])));
        assert!(line.starts_with("Telemetry is paused: "), "{line}");
        // The next interactive `cf dev start` asks again, saying what is new.
        let run = run_on_pty(sb.cf().args(["dev", "start"]), "[y/N]", b"y\n");
        assert!(run.status.success(), "{}", run.output);
        assert!(
            run.output.contains(
                "This release of cfdev-shim collects more than you agreed to: the cf command name"
            ),
            "{}",
            run.output
        );
        assert_eq!(sb.event_names(), ["Start Begin", "Start End"]);
        let config = config_of(&sb);
        assert_eq!(config["telemetry"], "on");
        assert_eq!(config["data_version"], 2);
        if older.get("endpoint").is_some() {
            assert_eq!(config["endpoint"], "http://127.0.0.1:9", "other keys kept");
        }
        assert_eq!(status(&sb)["telemetry"], "on");
    }
}

#[test]
fn telemetry_on_agrees_to_the_current_data_kinds() {
    let sb = Sandbox::new();
    write_config(
        &sb,
        serde_json::json!({ "telemetry": "on", "data_version": 1 }),
    );
    // Without a terminal nothing is asked and nothing captured.
    let out = run_ok(sb.cf().args(["dev", "start"]));
    assert!(!stderr(&out).contains("[y/N]"), "{}", stderr(&out));
    assert!(sb.events().is_empty());
    // Turning off from paused records nothing: no Telemetry Off is owed.
    let sb_off = Sandbox::new();
    write_config(
        &sb_off,
        serde_json::json!({ "telemetry": "on", "data_version": 1 }),
    );
    run_ok(sb_off.shim().args(["telemetry", "off"]));
    assert!(sb_off.events().is_empty());
    assert_eq!(config_of(&sb_off)["data_version"], 2);
    // `telemetry on` resumes.
    assert_eq!(
        stdout(&run_ok(sb.shim().args(["telemetry", "on"]))),
        "Telemetry is turned ON\n"
    );
    assert_eq!(config_of(&sb)["data_version"], 2);
    run_ok(sb.cf().args(["push", "app"]));
    assert_eq!(sb.event_names(), ["App Created"]);
    // An old "off" stays off, without a pause.
    let sb_old_off = Sandbox::new();
    write_config(&sb_old_off, serde_json::json!({ "telemetry": "off" }));
    assert_eq!(status(&sb_old_off)["telemetry"], "off");
}

/// Every file under the state root with its size and modification time.
fn snapshot(sb: &Sandbox) -> Vec<(std::path::PathBuf, u64, std::time::SystemTime)> {
    let mut files: Vec<_> = sb
        .state_files()
        .into_iter()
        .map(|f| {
            let meta = std::fs::symlink_metadata(&f).unwrap();
            (f, meta.len(), meta.modified().unwrap())
        })
        .collect();
    let mut dirs = Vec::new();
    for entry in walkdirs(&sb.state()) {
        dirs.push((entry, 0, std::time::UNIX_EPOCH));
    }
    files.extend(dirs);
    files.sort();
    files
}

fn walkdirs(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = entry.path();
        if p.is_dir() {
            out.extend(walkdirs(&p));
            out.push(p);
        }
    }
    out
}

const READERS: &[&[&str]] = &[
    &["telemetry", "status"],
    &["telemetry", "status", "--json"],
    &["telemetry", "show"],
    &["telemetry"],
];

#[test]
fn status_and_show_never_write() {
    // A fresh root: nothing at all may appear.
    let sb = Sandbox::new();
    for args in READERS {
        run_ok(sb.shim().args(*args));
    }
    assert_eq!(snapshot(&sb), [], "a fresh state root stays empty");
    let text = stdout(&run_ok(sb.shim().args(["telemetry", "status"])));
    assert!(
        text.starts_with("telemetry: undecided (no choice stored)\n"),
        "{text}"
    );
    assert!(
        text.contains("\npending: 0 events (at most 10000 kept)\n"),
        "{text}"
    );
    assert!(text.contains("\ndropped: 0 events ("), "{text}");
    assert!(text.contains("\nanonymous id: "), "{text}");
    // A root with a choice and events: nothing changes either.
    sb.telemetry_on();
    run_ok(sb.cf().args(["push", "app"]));
    let before = snapshot(&sb);
    for args in READERS {
        run_ok(sb.shim().args(*args));
    }
    assert_eq!(snapshot(&sb), before);
    let text = stdout(&run_ok(sb.shim().args(["telemetry", "status"])));
    assert!(
        text.starts_with("telemetry: on (stored choice)\n"),
        "{text}"
    );
    assert!(text.contains("\npending: 1 event (at most"), "{text}");
}

/// The state root made read-only for the test: a read-only bind mount when
/// we may mount (root, as in CI), else permissions (which bind non-root).
struct ReadOnly(std::path::PathBuf, bool);

impl ReadOnly {
    fn make(dir: std::path::PathBuf) -> ReadOnly {
        let mount = |args: &[&str]| {
            std::process::Command::new("mount")
                .args(args)
                .arg(&dir)
                .arg(&dir)
                .stderr(std::process::Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        };
        if mount(&["--bind"]) {
            let ro = std::process::Command::new("mount")
                .args(["-o", "remount,bind,ro"])
                .arg(&dir)
                .status()
                .is_ok_and(|s| s.success());
            assert!(ro, "remounting read-only failed");
            return ReadOnly(dir, true);
        }
        assert!(
            std::env::var_os("CI").is_none(),
            "CI runs as root and must be able to bind-mount"
        );
        for d in walkdirs(&dir).into_iter().chain([dir.clone()]) {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o500)).unwrap();
        }
        ReadOnly(dir, false)
    }
}

impl Drop for ReadOnly {
    fn drop(&mut self) {
        if self.1 {
            let _ = std::process::Command::new("umount").arg(&self.0).status();
        } else {
            for d in walkdirs(&self.0).into_iter().chain([self.0.clone()]) {
                use std::os::unix::fs::PermissionsExt;
                let _ = std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o700));
            }
        }
    }
}

#[test]
fn read_only_state_is_read_correctly() {
    let sb = Sandbox::new();
    sb.telemetry_on();
    run_ok(sb.cf().args(["push", "app"]));
    run_ok(sb.cf().args(["create-space", "s"]));
    let spool = std::fs::read_to_string(sb.spool_file()).unwrap();
    assert_eq!(spool.lines().count(), 2);
    let _ro = ReadOnly::make(sb.state());
    let s = status(&sb);
    assert_eq!(s["telemetry"], "on");
    assert_eq!(s["pending"], 2, "{s}");
    let problems = s["problems"].to_string();
    assert!(problems.contains("events cannot be recorded"), "{problems}");
    assert!(!problems.contains("cannot read"), "{problems}");
    let shown = run_ok(sb.shim().args(["telemetry", "show"]));
    assert_eq!(stdout(&shown), spool);
    // cf itself is untouched by the read-only state.
    let out = run_ok(sb.cf().args(["push", "app"]).env("FAKE_CF_STDOUT", "ok\n"));
    assert_eq!(stdout(&out), "ok\n");
    assert!(out.stderr.is_empty(), "{}", stderr(&out));
}

/// Every command, argument and option in every `--help` screen has a text,
/// and the opt-out entries say what turning off does.
#[test]
fn every_help_entry_has_text() {
    let sb = Sandbox::new();
    let screens: &[&[&str]] = &[
        // (`cfdev-shim cf --help` is cf's own help: wrapper mode.)
        &["--help"],
        &["telemetry", "--help"],
        &["telemetry", "on", "--help"],
        &["telemetry", "off", "--help"],
        &["telemetry", "status", "--help"],
        &["telemetry", "show", "--help"],
        &["telemetry", "endpoint", "--help"],
        &["flush", "--help"],
    ];
    let mut all = String::new();
    for args in screens {
        let out = run_ok(sb.shim().args(*args));
        let text = stdout(&out);
        let mut section = "";
        let mut entries = 0;
        for line in text.lines() {
            if line.ends_with(':') && !line.starts_with(' ') {
                section = line;
                continue;
            }
            let in_list = matches!(section, "Commands:" | "Options:" | "Arguments:");
            // An entry starts two spaces in; its text follows after a gap.
            if in_list && line.starts_with("  ") && !line.starts_with("        ") {
                entries += 1;
                let entry = line.trim_start();
                let gap = entry.find("  ");
                assert!(
                    gap.is_some_and(|i| !entry[i..].trim().is_empty()),
                    "{args:?}: entry without text: {line:?}\n{text}"
                );
            }
        }
        assert!(entries > 0, "{args:?}: no entries found\n{text}");
        all.push_str(&text);
    }
    assert!(
        all.contains("pending events are deleted unsent"),
        "opt-out says what happens to pending events:\n{all}"
    );
    assert!(all.contains("Telemetry Off event alone"), "{all}");
}
