//! Capture (SPEC §3, §4, §6): the catalogue, the privacy rule, the spool.

use crate::util::*;
use serde_json::Value;
use std::collections::HashSet;
use std::os::unix::fs::PermissionsExt;

fn on() -> Sandbox {
    let sb = Sandbox::new();
    sb.telemetry_on();
    sb
}

/// (cf arguments, exit code, expected events in order)
const CASES: &[(&str, i32, &[&str])] = &[
    ("dev start", 0, &["Start Begin", "Start End"]),
    ("dev start -m 8192", 3, &["Start Begin", "Error"]),
    ("dev stop", 0, &["Stop"]),
    ("uninstall-plugin cfdev", 0, &["Uninstall"]),
    ("uninstall-plugin CFDev -f", 0, &["Uninstall"]),
    ("uninstall-plugin other-plugin", 0, &[]),
    ("push myapp", 0, &["App Created"]),
    ("p myapp", 0, &["App Created"]),
    ("-v push myapp", 0, &["App Created"]),
    ("push myapp", 1, &["Error"]),
    (
        "create-route example.com --hostname h",
        0,
        &["Route Created"],
    ),
    ("dev deploy-service mysql", 0, &["Deployed Service"]),
    // cf v8 has no `deploy-service` command: an unknown (plugin) command.
    ("deploy-service rabbitmq", 0, &[]),
    ("deploy-service rabbitmq", 1, &["Error"]),
    // hidden and v6-era names cf v8 still accepts
    ("v3-push myapp", 0, &["App Created"]),
    ("stage myapp --package-guid g", 1, &["Error"]),
    // a command's own --version is not a version request
    ("rollback myapp --version 2", 1, &["Error"]),
    ("push myapp --version", 0, &["App Created"]),
    // plugins are matched on the first argument only; --h is help for them
    ("-v dev start", 0, &[]),
    ("-v dev start", 1, &["Error"]),
    ("dev start --h", 0, &[]),
    ("dev start --h", 1, &[]),
    (
        "create-service p-mysql db-small mydb",
        0,
        &["Service Created"],
    ),
    ("cs p-redis small cache", 0, &["Service Created"]),
    (
        "create-user-provided-service ups -p {}",
        0,
        &["User Provided Service Created"],
    ),
    (
        "cups ups -l syslog://x",
        0,
        &["User Provided Service Created"],
    ),
    ("bind-service app db", 0, &["App Bound To Service"]),
    ("bs app db", 0, &["App Bound To Service"]),
    ("restage app", 0, &["App Restage"]),
    ("rg app", 0, &["App Restage"]),
    ("create-org org", 0, &["Org Created"]),
    ("co org", 0, &["Org Created"]),
    ("create-space sp -o org", 0, &["Space Created"]),
    ("csp sp", 0, &["Space Created"]),
    ("create-user bob pw", 0, &["User Created"]),
    ("dev bosh env", 0, &["Bosh"]),
    ("apps", 0, &[]),
    ("apps", 1, &["Error"]),
    ("some-plugin-command x", 2, &["Error"]),
    // version and help requests record nothing, even when they fail
    ("", 1, &[]),
    ("-v", 1, &[]),
    ("--version", 1, &[]),
    ("help push", 1, &[]),
    ("h", 1, &[]),
    ("push -h", 1, &[]),
    ("create-service --help", 1, &[]),
    ("push myapp -b -h", 1, &["Error"]),
];

#[test]
fn every_catalogue_row_and_alias() {
    let sb = on();
    for (line, code, expected) in CASES {
        std::fs::remove_file(sb.spool_file()).ok();
        std::fs::remove_file(sb.state().join("spool/events.lock")).ok();
        let args: Vec<&str> = line.split_whitespace().collect();
        run_code(
            sb.cf().args(&args).env("FAKE_CF_EXIT", code.to_string()),
            *code,
        );
        assert_eq!(sb.event_names(), *expected, "cf {line} (exit {code})");
    }
}

#[test]
fn error_carries_command_and_exit_code_or_signal() {
    let sb = on();
    run_code(
        sb.cf()
            .args(["cs", "mysql", "x", "y"])
            .env("FAKE_CF_EXIT", "42"),
        42,
    );
    run_code(
        sb.cf()
            .args(["frobnicate", "secret-value"])
            .env("FAKE_CF_EXIT", "9"),
        9,
    );
    let out = run(sb.cf().args(["logs", "app"]).env("FAKE_CF_SIGNAL", "9"));
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&out.status),
        Some(9)
    );
    let props: Vec<Value> = sb
        .events()
        .iter()
        .map(|e| e["properties"].clone())
        .collect();
    assert_eq!(
        props[0],
        serde_json::json!({"command": "create-service", "exit_code": 42})
    );
    assert_eq!(
        props[1],
        serde_json::json!({"command": "unknown", "exit_code": 9})
    );
    assert_eq!(
        props[2],
        serde_json::json!({"command": "logs", "signal": "SIGKILL"})
    );
}

#[test]
fn start_end_has_duration() {
    let sb = on();
    run_ok(
        sb.cf()
            .args(["dev", "start"])
            .env("FAKE_CF_SLEEP_MS", "300"),
    );
    let events = sb.events();
    assert_eq!(sb.event_names(), ["Start Begin", "Start End"]);
    assert_eq!(
        events[0]["properties"],
        serde_json::json!({"command": "dev start", "flags": []})
    );
    let ms = events[1]["properties"]["duration_ms"].as_u64().unwrap();
    assert!((300..10_000).contains(&ms), "duration_ms {ms}");
}

fn is_hex(s: &str, len: usize) -> bool {
    s.len() == len
        && s.chars()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
}

#[test]
fn event_shape_is_a_segment_track_message() {
    let sb = on();
    run_ok(sb.cf().args([
        "push",
        "app",
        "-b",
        "nodejs_buildpack",
        "--no-start",
        "-m=1G",
    ]));
    let e = &sb.events()[0];
    let keys: HashSet<&str> = e.as_object().unwrap().keys().map(String::as_str).collect();
    let expected: HashSet<&str> = [
        "type",
        "event",
        "messageId",
        "anonymousId",
        "timestamp",
        "properties",
        "context",
    ]
    .into();
    assert_eq!(keys, expected);
    assert_eq!(e["type"], "track");
    assert_eq!(e["event"], "App Created");
    assert!(is_hex(e["anonymousId"].as_str().unwrap(), 64));
    let id = e["messageId"].as_str().unwrap();
    let parts: Vec<&str> = id.split('-').collect();
    assert_eq!(
        parts.iter().map(|p| p.len()).collect::<Vec<_>>(),
        [8, 4, 4, 4, 12],
        "{id}"
    );
    assert!(parts[2].starts_with('4'), "uuid v4: {id}");
    assert!("89ab".contains(&parts[3][..1]), "uuid variant: {id}");
    let ts = e["timestamp"].as_str().unwrap();
    let parsed = chrono::DateTime::parse_from_rfc3339(ts).unwrap();
    assert!(ts.ends_with('Z') && ts.len() == 24, "UTC with ms: {ts}");
    let age = chrono::Utc::now().signed_duration_since(parsed);
    assert!(age.num_seconds().abs() < 60);
    assert_eq!(
        e["properties"],
        serde_json::json!({"command": "push", "flags": ["--buildpack", "--no-start", "--memory"], "buildpack": "nodejs"})
    );
    assert_eq!(e["context"]["os"]["name"], std::env::consts::OS);
    assert_eq!(e["context"]["os"]["arch"], std::env::consts::ARCH);
    assert_eq!(e["context"]["app"]["name"], "cfdev-shim");
    let build = e["context"]["app"]["build"].as_str().unwrap();
    assert!(
        build.starts_with(concat!(env!("CARGO_PKG_VERSION"), "+")),
        "{build}"
    );
}

#[test]
fn allowlisted_values() {
    let sb = on();
    let cases: &[(&[&str], &str, &str)] = &[
        (&["push", "a", "-b", "java_buildpack"], "buildpack", "java"),
        (
            &["push", "a", "-b", "dotnet_core_buildpack"],
            "buildpack",
            "dotnet_core",
        ),
        (
            &["push", "a", "--buildpack=staticfile"],
            "buildpack",
            "staticfile",
        ),
        (
            &["push", "a", "-b", "https://github.com/me/secret-bp.git"],
            "buildpack",
            "custom",
        ),
        (&["push", "a"], "buildpack", "unspecified"),
        (
            &["create-service", "p.rabbitmq", "plan", "name"],
            "service",
            "p.rabbitmq",
        ),
        (
            &[
                "create-service",
                "-c",
                "{\"a\":1}",
                "p-config-server",
                "plan",
                "n",
            ],
            "service",
            "p-config-server",
        ),
        (
            &["cs", "my-private-broker-svc", "plan", "name"],
            "service",
            "other",
        ),
    ];
    for (args, key, value) in cases {
        std::fs::remove_file(sb.spool_file()).ok();
        std::fs::remove_file(sb.state().join("spool/events.lock")).ok();
        run_ok(sb.cf().args(*args));
        assert_eq!(sb.events()[0]["properties"][key], *value, "{args:?}");
    }
}

/// Unique markers in every position a user types a value; none may reach
/// the disk or `telemetry show`.
#[test]
fn canary_values_never_leave_the_command_line() {
    let sb = on();
    let canary = |n: u32| format!("CANARY{n}x9q");
    let lines: Vec<Vec<String>> = vec![
        vec![
            "push".into(),
            canary(1),
            "-b".into(),
            canary(2),
            "-p".into(),
            format!("/home/{}", canary(3)),
        ],
        vec![
            "push".into(),
            canary(4),
            format!("--path={}", canary(5)),
            format!("--{}", canary(6)),
        ],
        vec![
            "push".into(),
            format!("-{}", canary(7)),
            format!("--var={}=v", canary(8)),
        ],
        vec![
            "create-service".into(),
            canary(9),
            canary(10),
            canary(11),
            "-c".into(),
            format!("{{\"pw\":\"{}\"}}", canary(12)),
        ],
        vec![
            "cups".into(),
            canary(13),
            "-p".into(),
            format!("{{\"user\":\"{}\"}}", canary(14)),
        ],
        vec!["create-user".into(), canary(15), canary(16)],
        vec!["create-org".into(), canary(17)],
        vec!["create-space".into(), canary(18), "-o".into(), canary(19)],
        vec![
            "create-route".into(),
            format!("{}.example.com", canary(20)),
            "--hostname".into(),
            canary(21),
        ],
        vec!["bind-service".into(), canary(22), canary(23)],
        vec![
            "dev".into(),
            "start".into(),
            "-r".into(),
            format!("https://{}.io", canary(24)),
        ],
        vec!["dev".into(), "deploy-service".into(), canary(25)],
        vec!["uninstall-plugin".into(), canary(26)],
        vec![canary(27), canary(28)],
        vec!["dev".into(), canary(29)],
        vec![
            "login".into(),
            "-a".into(),
            format!("https://api.{}.io", canary(30)),
            "-u".into(),
            canary(31),
            "-p".into(),
            canary(32),
        ],
        // Dash-led values: never a flag name, whatever cf makes of them.
        vec![
            "set-env".into(),
            canary(33),
            "NAME".into(),
            format!("-{}", canary(34)),
        ],
        vec![
            "dev".into(),
            "start".into(),
            "-f".into(),
            format!("--{}", canary(35)),
        ],
        vec![
            "push".into(),
            canary(36),
            format!("-c={}", canary(37)),
            format!("-b-{}", canary(38)),
        ],
    ];
    for (i, line) in lines.iter().enumerate() {
        for code in ["0", "1"] {
            run(sb
                .cf()
                .args(line)
                .env("FAKE_CF_EXIT", code)
                .env("CANARY_ENV", canary(100 + i as u32)));
        }
    }
    assert!(
        sb.events().len() > 20,
        "events were recorded: {}",
        sb.events().len()
    );
    let show = run_ok(sb.shim().args(["telemetry", "show"]));
    let status = run_ok(sb.shim().args(["telemetry", "status", "--json"]));
    let mut haystack = Vec::new();
    for file in sb.state_files() {
        haystack.extend(std::fs::read(&file).unwrap());
    }
    haystack.extend(show.stdout);
    haystack.extend(status.stdout);
    let text = String::from_utf8_lossy(&haystack);
    assert!(!text.contains("CANARY"), "a typed value leaked:\n{text}");
}

#[test]
fn nothing_is_captured_unless_on() {
    let cases: &[(&str, &[(&str, &str)])] = &[
        ("undecided", &[]),
        ("off", &[]),
        ("on-but-do-not-track", &[("DO_NOT_TRACK", "1")]),
        ("on-but-env-off", &[("CFDEV_SHIM_TELEMETRY", "off")]),
    ];
    for (name, env) in cases {
        let sb = Sandbox::new();
        match *name {
            "off" => drop(run_ok(sb.shim().args(["telemetry", "off"]))),
            "undecided" => {}
            _ => sb.telemetry_on(),
        }
        let before = sb.state_files();
        for args in [&["push", "a"][..], &["dev", "start"], &["apps"]] {
            let mut cmd = sb.cf();
            cmd.args(args).env("FAKE_CF_EXIT", "1");
            for (k, v) in *env {
                cmd.env(k, v);
            }
            run_code(&mut cmd, 1);
        }
        assert!(sb.events().is_empty(), "{name}: {:?}", sb.events());
        assert_eq!(sb.state_files(), before, "{name}: no file written");
    }
    let sb = Sandbox::new();
    assert!(sb.state_files().is_empty());
    run_ok(
        sb.cf()
            .arg("push")
            .env("DO_NOT_TRACK", "0")
            .env("CFDEV_SHIM_TELEMETRY", "on"),
    );
    assert_eq!(
        sb.event_names(),
        ["App Created"],
        "DO_NOT_TRACK=0 does not opt out; env opt-in works"
    );
}

#[test]
fn concurrent_calls_never_lose_or_tear_lines() {
    let sb = on();
    let children: Vec<_> = (0..200)
        .map(|i| {
            let args = if i % 2 == 0 {
                vec!["push", "app"]
            } else {
                vec!["apps"]
            };
            sb.cf()
                .args(args)
                .env("FAKE_CF_EXIT", (i % 2).to_string())
                .spawn()
                .unwrap()
        })
        .collect();
    for mut c in children {
        c.wait().unwrap();
    }
    let text = std::fs::read_to_string(sb.spool_file()).unwrap();
    assert_eq!(text.lines().count(), 200);
    let events = sb.events();
    let ids: HashSet<&str> = events
        .iter()
        .map(|e| e["messageId"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 200, "unique messageIds");
    assert_eq!(
        events
            .iter()
            .filter(|e| e["event"] == "App Created")
            .count(),
        100
    );
    assert_eq!(events.iter().filter(|e| e["event"] == "Error").count(), 100);
    let status: Value =
        serde_json::from_slice(&run_ok(sb.shim().args(["telemetry", "status", "--json"])).stdout)
            .unwrap();
    assert_eq!(status["pending"], 200);
}

#[test]
fn spool_is_bounded_oldest_dropped_and_counted() {
    let sb = on();
    let commands = [
        "co",
        "csp",
        "create-user",
        "rg",
        "bs",
        "create-route",
        "push",
        "cs",
    ];
    for c in commands {
        run_ok(
            sb.cf()
                .args([c, "x", "y", "z"])
                .env("CFDEV_SHIM_SPOOL_LIMIT", "5"),
        );
    }
    assert_eq!(
        sb.event_names(),
        [
            "User Created",
            "App Restage",
            "App Bound To Service",
            "Route Created",
            "App Created",
            "Service Created"
        ][1..]
    );
    let status: Value =
        serde_json::from_slice(&run_ok(sb.shim().args(["telemetry", "status", "--json"])).stdout)
            .unwrap();
    assert_eq!(status["pending"], 5);
    assert_eq!(status["dropped"]["spool_full"], 3);
}

#[test]
fn corrupt_spool_lines_are_skipped_and_counted() {
    let sb = on();
    run_ok(sb.cf().arg("push"));
    let mut text = std::fs::read_to_string(sb.spool_file()).unwrap();
    text.push_str("{not json\n\u{0}\u{1}garbage\n{\"half\": ");
    std::fs::write(sb.spool_file(), text).unwrap();
    run_ok(sb.cf().arg("restage"));
    assert_eq!(
        run_ok(sb.shim().args(["telemetry", "show"]))
            .stdout
            .iter()
            .filter(|b| **b == b'\n')
            .count(),
        2
    );
    let status: Value =
        serde_json::from_slice(&run_ok(sb.shim().args(["telemetry", "status", "--json"])).stdout)
            .unwrap();
    assert_eq!(status["pending"], 2);
    assert_eq!(status["dropped"]["corrupt"], 3);
}

#[test]
fn state_is_private() {
    let sb = on();
    run_ok(sb.cf().arg("push"));
    for file in sb.state_files() {
        let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{}", file.display());
    }
    let mode = std::fs::metadata(sb.state().join("spool"))
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o700);
}

#[test]
fn anonymous_id_is_hmac_of_machine_id_never_the_raw_id() {
    let sb = on();
    let machine_id = "4c4c4544004e3510804cb4c04f4d3733";
    std::fs::write(sb.path("machine-id"), format!("{machine_id}\n")).unwrap();
    run_ok(
        sb.cf()
            .arg("push")
            .env("CFDEV_SHIM_MACHINE_ID_FILE", sb.path("machine-id")),
    );
    let expected = cfdev_shim::identity::hex(&cfdev_shim::identity::hmac_sha256(
        machine_id.as_bytes(),
        b"cfdev-shim",
    ));
    assert_eq!(sb.events()[0]["anonymousId"], expected.as_str());
    for file in sb.state_files() {
        assert!(!String::from_utf8_lossy(&std::fs::read(&file).unwrap()).contains(machine_id));
    }
    // No stable machine ID: a random one, persisted and reused.
    let missing = sb.path("no-such-machine-id");
    run_ok(
        sb.cf()
            .arg("push")
            .env("CFDEV_SHIM_MACHINE_ID_FILE", &missing),
    );
    run_ok(
        sb.cf()
            .arg("push")
            .env("CFDEV_SHIM_MACHINE_ID_FILE", &missing),
    );
    let events = sb.events();
    assert_ne!(events[1]["anonymousId"], expected.as_str());
    assert_eq!(events[1]["anonymousId"], events[2]["anonymousId"]);
    assert!(sb.state().join("install-id").exists());
}

#[test]
fn telemetry_failures_never_change_cf() {
    let sb = on();
    std::fs::write(sb.path("a-file"), "x").unwrap();
    let broken_roots = [
        sb.path("a-file/state"),
        std::path::PathBuf::from("/proc/self/nope"),
    ];
    for root in &broken_roots {
        for code in [0, 7] {
            let out = run_code(
                sb.cf()
                    .args(["push", "app"])
                    .env("CFDEV_SHIM_HOME", root)
                    .env("CFDEV_SHIM_TELEMETRY", "on")
                    .env("FAKE_CF_EXIT", code.to_string())
                    .env("FAKE_CF_STDOUT", "cf output\n"),
                code,
            );
            assert_eq!(stdout(&out), "cf output\n");
            assert!(out.stderr.is_empty(), "{}", stderr(&out));
        }
    }
    // No HOME at all.
    let out = run_ok(
        sb.cf()
            .arg("push")
            .env_remove("HOME")
            .env_remove("CFDEV_SHIM_HOME")
            .env("FAKE_CF_STDOUT", "ok\n"),
    );
    assert_eq!(stdout(&out), "ok\n");
    // Corrupt config: cf runs, nothing is captured, status says why.
    std::fs::write(sb.state().join("config.json"), "{\"telemetry\": on!!").unwrap();
    let out = run_code(
        sb.cf()
            .arg("apps")
            .env("FAKE_CF_EXIT", "3")
            .env("FAKE_CF_STDOUT", "x\n"),
        3,
    );
    assert_eq!(stdout(&out), "x\n");
    assert!(out.stderr.is_empty());
    let status = stdout(&run_ok(sb.shim().args(["telemetry", "status"])));
    assert!(status.contains("not valid JSON"), "{status}");
    // Corrupt spool and a spool path replaced by a symlink.
    std::fs::write(
        sb.state().join("config.json"),
        "{\"telemetry\":\"on\",\"data_version\":2}",
    )
    .unwrap();
    std::fs::remove_file(sb.spool_file()).ok();
    std::fs::create_dir_all(sb.spool_file().parent().unwrap()).unwrap();
    std::os::unix::fs::symlink(sb.path("a-file"), sb.spool_file()).unwrap();
    let out = run_code(
        sb.cf()
            .arg("push")
            .env("FAKE_CF_EXIT", "0")
            .env("FAKE_CF_STDOUT", "y\n"),
        0,
    );
    assert_eq!(stdout(&out), "y\n");
    assert_eq!(
        std::fs::read_to_string(sb.path("a-file")).unwrap(),
        "x",
        "symlink target untouched"
    );
    let status = stdout(&run_ok(sb.shim().args(["telemetry", "status"])));
    assert!(status.contains("problem:"), "{status}");
}
