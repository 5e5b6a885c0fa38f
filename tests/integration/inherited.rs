//! What a caller leaves a program — ignored and blocked signals (bash's
//! ignored SIGCHLD, real-time signals), resource limits and the raw
//! environment block — reaches cf exactly, on the exec path (telemetry
//! undecided) and the spawn path (on), and never costs cf's exit status.

use crate::util::*;
use std::ffi::OsString;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::Command;

/// The sandbox's environment as raw entries for the exec helper.
fn sandbox_env(sb: &Sandbox) -> Vec<Vec<u8>> {
    let mut path = b"PATH=".to_vec();
    path.extend_from_slice(sb.default_path().as_bytes());
    let entry = |k: &str, v: &Path| {
        let mut e = format!("{k}=").into_bytes();
        e.extend_from_slice(v.as_os_str().as_bytes());
        e
    };
    vec![
        path,
        entry("HOME", &sb.path("home")),
        entry("CFDEV_SHIM_HOME", &sb.state()),
        entry("FAKE_CF_LOG", &sb.path("log")),
        b"LANG=C".to_vec(),
    ]
}

/// `exec_with SETUP… --env ENTRY… -- PROGRAM PROGRAM ARGS…` in the sandbox.
fn exec_with(setup: &[&str], env: &[Vec<u8>], program: &Path, args: &[&[u8]]) -> Command {
    let mut cmd = Command::new(exec_with_binary());
    cmd.env_clear().args(setup);
    for entry in env {
        cmd.arg("--env").arg(OsString::from_vec(entry.clone()));
    }
    cmd.arg("--").arg(program).arg(program);
    for a in args {
        cmd.arg(OsString::from_vec(a.to_vec()));
    }
    cmd
}

/// A /proc/PID/status signal set as it prints the given signals.
fn sigset_hex(sigs: &[u32]) -> String {
    format!("{:016x}", sigs.iter().fold(0u64, |m, s| m | 1 << (s - 1)))
}

fn field<'a>(signals: &'a str, name: &str) -> &'a str {
    signals
        .lines()
        .find_map(|l| l.strip_prefix(name))
        .map(str::trim)
        .unwrap_or_else(|| panic!("no {name} in {signals:?}"))
}

#[test]
fn dispositions_mask_and_limits_reach_cf_exactly() {
    const IGNORED: &[u32] = &[17, 12, 40, 64];
    const BLOCKED: &[u32] = &[10, 15, 45];
    let setups: [&[&str]; 2] = [
        &[],
        &[
            "--ignore",
            "17",
            "--ignore",
            "12",
            "--ignore",
            "40",
            "--ignore",
            "64",
            "--block",
            "10",
            "--block",
            "15",
            "--block",
            "45",
            "--rlimit",
            "CORE=0",
            "--rlimit",
            "NOFILE=512",
        ],
    ];
    each_path(|sb, mode| {
        for setup in setups {
            let env = sandbox_env(sb);
            sb.clear_calls();
            run_code(
                &mut exec_with(setup, &env, &sb.path("real/cf"), &[b"apps"]),
                0,
            );
            run_code(
                &mut exec_with(setup, &env, &sb.path("bin/cf"), &[b"apps"]),
                0,
            );
            let calls = sb.calls();
            assert_eq!(calls.len(), 2, "{mode} {setup:?}");
            let (direct, wrapped) = (&calls[0], &calls[1]);
            assert_eq!(direct.signals, wrapped.signals, "{mode} {setup:?}");
            assert_eq!(direct.limits, wrapped.limits, "{mode} {setup:?}");
            let (ignored, blocked) = if setup.is_empty() {
                (&[][..], &[][..])
            } else {
                (IGNORED, BLOCKED)
            };
            // Nothing more ignored than the caller ignored (glibc's
            // posix_spawn used to add 32 and 33), nothing caught.
            assert_eq!(
                field(&wrapped.signals, "SigIgn:"),
                sigset_hex(ignored),
                "{mode}"
            );
            assert_eq!(
                field(&wrapped.signals, "SigBlk:"),
                sigset_hex(blocked),
                "{mode}"
            );
            assert_eq!(
                field(&wrapped.signals, "SigCgt:"),
                sigset_hex(&[]),
                "{mode}"
            );
        }
    });
}

#[test]
fn bash_ignored_sigchld_keeps_exit_status_and_signal_deaths() {
    each_path(|sb, mode| {
        let via_bash = |entry: &[u8]| {
            let mut env = sandbox_env(sb);
            env.push(entry.to_vec());
            let mut cmd = exec_with(
                &[],
                &env,
                Path::new("/bin/bash"),
                &[b"-c", b"trap '' CHLD; exec \"$0\" \"$@\""],
            );
            cmd.arg(sb.path("bin/cf")).arg("logs");
            cmd
        };
        let out = run(&mut via_bash(b"FAKE_CF_EXIT=3"));
        assert_eq!(out.status.code(), Some(3), "{mode}\n{}", stderr(&out));
        let out = run(&mut via_bash(b"FAKE_CF_SIGNAL=15"));
        assert_eq!(out.status.signal(), Some(15), "{mode}\n{}", stderr(&out));
        let calls = sb.calls();
        assert_eq!(calls.len(), 2, "{mode}");
        for call in &calls {
            assert_eq!(
                field(&call.signals, "SigIgn:"),
                sigset_hex(&[17]),
                "{mode}: cf ignores SIGCHLD as bash left it"
            );
        }
        if mode.starts_with("spawn") {
            let events = sb.events();
            assert_eq!(sb.event_names(), ["Error", "Error"]);
            assert_eq!(events[0]["properties"]["exit_code"], 3);
            assert_eq!(events[1]["properties"]["signal"], "SIGTERM");
        }
    });
}

#[test]
fn environment_block_passes_entry_for_entry() {
    each_path(|sb, mode| {
        let mut env = sandbox_env(sb);
        let odd: Vec<Vec<u8>> = vec![
            b"NO_EQUALS_SIGN".to_vec(),
            b"=empty name".to_vec(),
            b"".to_vec(),
            b"DUP=first".to_vec(),
            b"DUP=second".to_vec(),
            vec![b'B', b'=', 0xff, 0xfe, b'\n'],
            b"__CFDEV_SHIM_GUARD_NOT=kept".to_vec(),
        ];
        env.splice(2..2, odd);
        run_ok(&mut exec_with(&[], &env, &sb.path("bin/cf"), &[b"apps"]));
        let calls = sb.calls();
        assert_eq!(calls.len(), 1, "{mode}");
        let readable = |entries: Vec<Vec<u8>>| -> Vec<OsString> {
            entries.into_iter().map(OsString::from_vec).collect()
        };
        let received: Vec<Vec<u8>> = calls[0]
            .environ
            .iter()
            .filter(|e| !e.starts_with(b"__CFDEV_SHIM_GUARD="))
            .cloned()
            .collect();
        assert_eq!(
            readable(received),
            readable(env.clone()),
            "{mode}: entry for entry, in order"
        );
        assert_eq!(
            calls[0].environ.len(),
            env.len() + 1,
            "{mode}: plus the guard"
        );
    });
}

#[test]
fn guard_is_left_out_rather_than_hitting_the_size_limit() {
    // A 512 KiB stack limit makes the kernel's argument limit 128 KiB; find
    // the largest argument list cf can be run with directly, then run the
    // same through the wrapper, whose added guard would not fit.
    const STACK: &str = "STACK=524288";
    each_path(|sb, mode| {
        let env = sandbox_env(sb);
        let filler = |total: usize| -> Vec<Vec<u8>> {
            let mut args = vec![b"apps".to_vec()];
            let mut left = total;
            while left > 0 {
                let n = left.min(1000);
                args.push(vec![b'x'; n]);
                left -= n;
            }
            args
        };
        let fits = |total: usize| {
            let args = filler(total);
            let args: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
            let out = run(&mut exec_with(
                &["--rlimit", STACK],
                &env,
                &sb.path("real/cf"),
                &args,
            ));
            match out.status.code() {
                Some(0) => true,
                Some(7) => false,
                other => panic!("{mode}: unexpected {other:?}: {}", stderr(&out)),
            }
        };
        let (mut lo, mut hi) = (1000, 200_000);
        assert!(fits(lo) && !fits(hi), "{mode}: bounds");
        while hi - lo > 1 {
            let mid = (lo + hi) / 2;
            if fits(mid) {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        sb.clear_calls();
        let args = filler(lo);
        let args: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
        let out = run(&mut exec_with(
            &["--rlimit", STACK],
            &env,
            &sb.path("bin/cf"),
            &args,
        ));
        assert_eq!(out.status.code(), Some(0), "{mode}: {}", stderr(&out));
        let calls = sb.calls();
        assert_eq!(calls.len(), 1, "{mode}");
        assert_eq!(calls[0].argv.len(), args.len() + 1, "{mode}");
        assert!(
            !calls[0]
                .environ
                .iter()
                .any(|e| e.starts_with(b"__CFDEV_SHIM_GUARD=")),
            "{mode}: the guard was left out"
        );
        assert_eq!(calls[0].environ, env, "{mode}");
    });
}
