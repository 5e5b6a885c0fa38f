//! Signals while cf runs (SPEC §2): every catchable signal sent to the
//! wrapper's PID reaches cf, a terminal's Ctrl-C and Ctrl-\ reach it exactly
//! once, a stop of cf stops the wrapper, and a death by signal (core dump
//! included) is reproduced without a core of the wrapper's own. Each test
//! runs on the exec path (where the wrapper is cf) and the spawn path.

use crate::pty::run_on_pty;
use crate::util::*;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::Child;
use std::time::Duration;

fn signal_log(sb: &Sandbox) -> PathBuf {
    sb.path("signals.log")
}

/// The signals the fake cf caught, in order.
fn caught(sb: &Sandbox) -> Vec<i32> {
    std::fs::read_to_string(signal_log(sb))
        .unwrap_or_default()
        .lines()
        .map(|l| l.parse().unwrap())
        .collect()
}

/// Starts `cf logs` with the fake cf catching `trap` and sleeping; returns
/// the wrapper's process and cf's PID once cf runs. The wrapper gets a
/// process group of its own, whose parent (this test) is in the same
/// session: in an orphaned group (a test run under `setsid`, as CI may be)
/// the kernel discards SIGTSTP, and the stop test could not stop anything.
fn start(sb: &Sandbox, trap: &str) -> (Child, i32) {
    use std::os::unix::process::CommandExt;
    let child = sb
        .cf()
        .process_group(0)
        .arg("logs")
        .env("FAKE_CF_TRAP", trap)
        .env("FAKE_CF_SIGNAL_LOG", signal_log(sb))
        .env("FAKE_CF_SLEEP_MS", "60000")
        .spawn()
        .unwrap();
    wait_until("cf to start", Duration::from_secs(30), || {
        !sb.calls().is_empty()
    });
    let cf = sb.calls()[0].pid as i32;
    (child, cf)
}

fn kill(pid: u32, sig: i32) {
    assert_eq!(
        unsafe { libc::kill(pid as i32, sig) },
        0,
        "kill {pid} {sig}"
    );
}

/// The process state letter of /proc/PID/stat (R, S, T …).
fn state(pid: i32) -> char {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    after.chars().next().unwrap()
}

#[test]
fn every_catchable_signal_sent_to_the_wrapper_reaches_cf_once() {
    let rt_min = libc::SIGRTMIN();
    let sigs = [
        libc::SIGTERM,
        libc::SIGHUP,
        libc::SIGINT,
        libc::SIGQUIT,
        libc::SIGUSR1,
        libc::SIGUSR2,
        libc::SIGALRM,
        libc::SIGWINCH,
        libc::SIGCONT,
        libc::SIGPIPE,
        libc::SIGURG,
        libc::SIGCHLD,
        libc::SIGTSTP,
        rt_min,
        rt_min + 5,
        libc::SIGRTMAX(),
    ];
    each_path(|sb, mode| {
        let (mut wrapper, cf) = start(sb, "all");
        for (i, sig) in sigs.iter().enumerate() {
            kill(wrapper.id(), *sig);
            wait_until(
                &format!("{mode}: cf to catch {sig}"),
                Duration::from_secs(30),
                || caught(sb).len() > i,
            );
        }
        // Late duplicates would show up here.
        std::thread::sleep(Duration::from_millis(200));
        assert_eq!(caught(sb), sigs, "{mode}: each exactly once, in order");
        assert_ne!(
            state(cf),
            'T',
            "{mode}: cf caught SIGTSTP, so nothing stopped"
        );
        kill(cf as u32, libc::SIGKILL);
        let status = wrapper.wait().unwrap();
        assert_eq!(status.signal(), Some(libc::SIGKILL), "{mode}");
        if mode.starts_with("spawn") {
            assert_eq!(sb.event_names(), ["Error"]);
            assert_eq!(sb.events()[0]["properties"]["signal"], "SIGKILL");
        }
    });
}

#[test]
fn uncaught_signals_sent_to_the_wrapper_end_cf_and_the_wrapper_alike() {
    for sig in [
        libc::SIGUSR1,
        libc::SIGUSR2,
        libc::SIGALRM,
        libc::SIGINT,
        libc::SIGQUIT,
    ] {
        each_path(|sb, mode| {
            let (mut wrapper, cf) = start(sb, "");
            kill(wrapper.id(), sig);
            let status = wrapper.wait().unwrap();
            assert_eq!(status.signal(), Some(sig), "{mode}");
            assert_ne!(
                unsafe { libc::kill(cf, 0) },
                0,
                "{mode}: cf is gone, not orphaned"
            );
        });
    }
}

#[test]
fn a_stop_of_cf_stops_the_wrapper_and_continue_resumes_both() {
    each_path(|sb, mode| {
        // cf catches only SIGCONT: SIGTSTP stops it.
        let (mut wrapper, cf) = start(sb, &libc::SIGCONT.to_string());
        let wrapper_pid = wrapper.id() as i32;
        kill(wrapper.id(), libc::SIGTSTP);
        wait_until(
            &format!("{mode}: both stopped"),
            Duration::from_secs(30),
            || state(cf) == 'T' && state(wrapper_pid) == 'T',
        );
        kill(wrapper.id(), libc::SIGCONT);
        wait_until(
            &format!("{mode}: both running"),
            Duration::from_secs(30),
            || state(cf) != 'T' && state(wrapper_pid) != 'T',
        );
        wait_until("cf to catch SIGCONT", Duration::from_secs(30), || {
            caught(sb) == [libc::SIGCONT]
        });
        kill(cf as u32, libc::SIGTERM);
        assert_eq!(
            wrapper.wait().unwrap().signal(),
            Some(libc::SIGTERM),
            "{mode}"
        );
    });
}

#[test]
fn terminal_ctrl_c_and_ctrl_backslash_reach_cf_exactly_once() {
    each_path(|sb, mode| {
        let run = run_on_pty(
            sb.cf()
                .arg("logs")
                .env("FAKE_CF_TRAP", "2,3")
                .env("FAKE_CF_SIGNAL_LOG", signal_log(sb))
                .env("FAKE_CF_STDOUT", "ready\n")
                .env("FAKE_CF_SLEEP_MS", "1500"),
            "ready",
            b"\x03\x1c",
        );
        assert_eq!(run.status.code(), Some(0), "{mode}: {}", run.output);
        let mut got = caught(sb);
        got.sort();
        assert_eq!(got, [libc::SIGINT, libc::SIGQUIT], "{mode}: {}", run.output);
    });
}

#[test]
fn a_core_dump_of_cf_is_not_replaced_by_one_of_the_wrapper() {
    let pattern = std::fs::read_to_string("/proc/sys/kernel/core_pattern").unwrap();
    let cores_in_cwd = pattern.trim() == "core";
    each_path(|sb, mode| {
        let mut cmd = std::process::Command::new(exec_with_binary());
        cmd.env_clear()
            .args(["--rlimit", "CORE=18446744073709551615"])
            .arg("--env")
            .arg(format!("PATH={}", sb.default_path().to_string_lossy()))
            .arg("--env")
            .arg(format!("CFDEV_SHIM_HOME={}", sb.state().display()))
            .arg("--env")
            .arg(format!("FAKE_CF_LOG={}", sb.path("log").display()))
            .args(["--env", "FAKE_CF_SIGNAL=11", "--"])
            .arg(sb.path("bin/cf"))
            .arg("cf")
            .arg("logs")
            .current_dir(sb.path("work"));
        let out = run(&mut cmd);
        assert_eq!(out.status.signal(), Some(libc::SIGSEGV), "{mode}");
        let cf = &sb.calls()[0];
        if mode.starts_with("spawn") {
            // Only cf dumped: the wrapper's own death left no core (the kernel
            // sets this flag only when a core was written).
            assert!(!out.status.core_dumped(), "{mode}: the wrapper dumped core");
            assert_ne!(cf.pid, cf.ppid, "cf was the wrapper's child");
        }
        if cores_in_cwd {
            let core = sb.path("work/core");
            assert!(core.exists(), "{mode}: cf's core is in place");
        }
    });
}
