//! The whole pipeline as a user sets it up: wrapper with telemetry on →
//! cfdev-collector → quarterly report.

use crate::util::*;
use serde_json::Value;
use std::io::BufRead;
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// The collector binary of this workspace, built on demand.
pub fn collector_binary() -> PathBuf {
    let status = Command::new(env!("CARGO"))
        .args([
            "build",
            "--quiet",
            "-p",
            "cfdev-collector",
            "--bin",
            "cfdev-collector",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .status()
        .unwrap();
    assert!(status.success());
    PathBuf::from(SHIM).with_file_name("cfdev-collector")
}

/// Starts `cfdev-collector serve` on a free loopback port: (process, URL).
pub fn start_collector(
    db: &std::path::Path,
    write_key: &str,
    extra: &[&str],
) -> (std::process::Child, String) {
    let mut server = Command::new(collector_binary())
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--write-key",
            write_key,
            "--db",
        ])
        .arg(db)
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(server.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line.trim().rsplit(' ').next().unwrap().to_string();
    (server, url)
}

#[test]
fn wrapper_to_collector_to_report() {
    let collector = collector_binary();
    let sb = Sandbox::new();
    let db = sb.path("events.db");
    let (mut server, url) = start_collector(&db, "demo-key", &[]);

    sb.telemetry_on();
    run_ok(
        sb.shim()
            .args(["telemetry", "endpoint", &url, "--write-key", "demo-key"]),
    );
    for args in [
        &["push", "app1", "-b", "go_buildpack"][..],
        &["cs", "p.mysql", "small", "db"],
        &["bs", "app1", "db"],
        &["dev", "start"],
    ] {
        run_ok(sb.cf().args(args));
    }
    run_code(sb.cf().args(["apps"]).env("FAKE_CF_EXIT", "1"), 1);
    let pending: Vec<String> = sb
        .events()
        .iter()
        .map(|e| e["messageId"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(pending.len(), 6);
    run_ok(sb.shim().arg("flush"));
    assert!(sb.events().is_empty());

    let quarter = {
        let now = chrono::Utc::now();
        use chrono::Datelike;
        format!("{}-Q{}", now.year(), (now.month() - 1) / 3 + 1)
    };
    let out = run_ok(
        Command::new(&collector)
            .args([
                "report",
                "--format",
                "json",
                "--min-machines",
                "1",
                "--quarter",
                &quarter,
                "--db",
            ])
            .arg(&db),
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["total_events"], 6);
    assert_eq!(report["machines"], 1);
    let names: Vec<&str> = report["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    for expected in [
        "App Created",
        "Service Created",
        "App Bound To Service",
        "Start Begin",
        "Start End",
        "Error",
    ] {
        assert!(names.contains(&expected), "{expected} in {names:?}");
    }
    assert_eq!(report["errors_by_command"][0]["command"], "apps");
    unsafe { libc::kill(server.id() as i32, libc::SIGTERM) };
    assert!(server.wait().unwrap().success());
}
