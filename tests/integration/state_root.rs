//! Nothing in the state root can block, slow or redirect cf (SPEC §2): a
//! FIFO, a device or a symlink to /dev/zero in place of any state file, a
//! symlinked `spool/`, a root writable by others, a spool lock held by
//! another process. cf runs as if directly, on the exec path (undecided)
//! and the spawn path (on); our own commands finish too.

use crate::util::*;
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Runs `cmd`, failing the test (and killing it) if it takes longer than
/// `limit`: a hang must fail, not stall the suite.
fn run_within(cmd: &mut Command, limit: Duration) -> (Output, Duration) {
    let started = Instant::now();
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id() as i32;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || tx.send(child.wait_with_output().unwrap()));
    match rx.recv_timeout(limit) {
        Ok(out) => (out, started.elapsed()),
        Err(_) => {
            unsafe { libc::kill(pid, libc::SIGKILL) };
            panic!("{cmd:?} still running after {limit:?}: it blocked");
        }
    }
}

fn mkfifo(path: &Path) {
    let c = CString::new(path.as_os_str().as_bytes()).unwrap();
    assert_eq!(
        unsafe { libc::mkfifo(c.as_ptr(), 0o600) },
        0,
        "mkfifo {path:?}"
    );
}

/// A character device like /dev/null; false when we may not create one.
fn mknod_null(path: &Path) -> bool {
    let c = CString::new(path.as_os_str().as_bytes()).unwrap();
    let dev = libc::makedev(1, 3);
    unsafe { libc::mknod(c.as_ptr(), libc::S_IFCHR | 0o600, dev) == 0 }
}

/// The state files, relative to the root (spool files need `spool/`).
const STATE_FILES: &[&str] = &[
    "config.json",
    "telemetry-on",
    "state.json",
    "state.lock",
    "install-id",
    "spool/events.jsonl",
    "spool/events.lock",
    "last-attempt",
    "retry-after",
    "delivery.lock",
    "skipped-lock-busy",
];

/// cf is run once and behaves as directly, promptly; then our own commands
/// finish promptly too.
fn cf_and_commands_are_not_blocked(sb: &Sandbox, what: &str) {
    let setup = |cmd: &mut Command| {
        cmd.env("CFDEV_SHIM_MACHINE_ID_FILE", sb.path("empty-machine-id"))
            .env("CFDEV_SHIM_ENDPOINT", "http://127.0.0.1:9")
            .env("CFDEV_SHIM_FLUSH_INTERVAL", "0")
            .env("FAKE_CF_STDOUT", "out\n")
            .env("FAKE_CF_EXIT", "3");
    };
    std::fs::write(sb.path("empty-machine-id"), "").unwrap();
    sb.clear_calls();
    let mut cf = sb.cf();
    setup(&mut cf);
    let (out, took) = run_within(cf.args(["push", "app"]), Duration::from_secs(10));
    assert_eq!(out.status.code(), Some(3), "{what}: {}", stderr(&out));
    assert_eq!(stdout(&out), "out\n", "{what}");
    assert!(out.stderr.is_empty(), "{what}: {}", stderr(&out));
    assert_eq!(sb.calls().len(), 1, "{what}");
    assert!(took < Duration::from_secs(3), "{what}: took {took:?}");
    for args in [
        &["telemetry", "status"][..],
        &["telemetry", "show"],
        &["flush"],
    ] {
        let mut cmd = sb.shim();
        setup(&mut cmd);
        run_within(cmd.args(args), Duration::from_secs(15));
    }
}

#[test]
fn special_files_in_place_of_state_files_never_block() {
    for file in STATE_FILES {
        for kind in ["fifo", "dev-zero-symlink", "device"] {
            for mode in ["exec", "exec-late", "spawn", "spawn-late"] {
                let mut sb = Sandbox::new();
                if mode.ends_with("-late") {
                    sb.extra_env.push(("CFDEV_SHIM_EARLY", "0"));
                }
                if mode.starts_with("spawn") || *file == "config.json" {
                    sb.telemetry_on();
                }
                if mode.starts_with("exec") {
                    run_ok(sb.shim().args(["telemetry", "off"]));
                }
                let path = sb.state().join(file);
                std::fs::create_dir_all(path.parent().unwrap()).unwrap();
                std::fs::remove_file(&path).ok();
                match kind {
                    "fifo" => mkfifo(&path),
                    "dev-zero-symlink" => std::os::unix::fs::symlink("/dev/zero", &path).unwrap(),
                    _ => {
                        if !mknod_null(&path) {
                            eprintln!("not testing a device node: mknod not permitted");
                            continue;
                        }
                    }
                }
                cf_and_commands_are_not_blocked(&sb, &format!("{mode}: {kind} at {file}"));
            }
        }
    }
}

#[test]
fn symlinked_spool_directory_is_refused_not_followed() {
    let sb = Sandbox::new();
    sb.telemetry_on();
    let elsewhere = sb.path("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();
    std::os::unix::fs::symlink(&elsewhere, sb.state().join("spool")).unwrap();
    cf_and_commands_are_not_blocked(&sb, "symlinked spool/");
    assert_eq!(
        std::fs::read_dir(&elsewhere).unwrap().count(),
        0,
        "nothing written through the symlink"
    );
    let s = status(&sb);
    assert!(s["problems"].to_string().contains("refused"), "{s}");
}

#[test]
fn state_root_writable_by_others_is_refused() {
    let sb = Sandbox::new();
    sb.telemetry_on();
    std::fs::set_permissions(sb.state(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let before = sb.state_files();
    run_ok(sb.cf().arg("push"));
    assert_eq!(sb.calls().len(), 1);
    assert_eq!(sb.state_files(), before, "nothing recorded there");
    let out = run_ok(sb.shim().args(["telemetry", "status"]));
    assert!(
        stdout(&out).contains("writable by group or others"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn a_held_spool_lock_skips_and_counts_the_event_instead_of_waiting() {
    let sb = Sandbox::new();
    sb.telemetry_on();
    run_ok(sb.cf().arg("push"));
    assert_eq!(sb.event_names(), ["App Created"]);
    let lock = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(sb.state().join("spool/events.lock"))
        .unwrap();
    lock.lock().unwrap();
    let (out, took) = run_within(sb.cf().arg("push"), Duration::from_secs(10));
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(out.stderr.is_empty(), "{}", stderr(&out));
    assert!(
        took < Duration::from_secs(2),
        "cf waited {took:?} on the lock"
    );
    assert_eq!(sb.calls().len(), 2);
    // Our own commands give up with one line instead of hanging.
    for args in [
        &["telemetry", "status"][..],
        &["telemetry", "show"],
        &["flush"],
    ] {
        run_within(sb.shim().args(args), Duration::from_secs(15));
    }
    drop(lock);
    assert_eq!(
        sb.event_names(),
        ["App Created"],
        "skipped, not written later"
    );
    let s = status(&sb);
    assert_eq!(s["dropped"]["lock_busy"], 1, "{s}");
    run_ok(sb.cf().arg("push"));
    assert_eq!(sb.event_names(), ["App Created", "App Created"]);
    let s = status(&sb);
    assert_eq!(s["dropped"]["lock_busy"], 1, "{s}");
    let text = stdout(&run_ok(sb.shim().args(["telemetry", "status"])));
    assert!(text.contains("lock busy 1"), "{text}");
}
