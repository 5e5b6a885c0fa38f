//! Forwarding guarantees (SPEC §2): cf behaves exactly as when run directly,
//! on the exec path (telemetry undecided/off) and the spawn path (on).

use crate::pty::run_on_pty;
use crate::util::*;
use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::time::Duration;

fn tricky_args() -> Vec<OsString> {
    vec![
        OsString::from("push"),
        OsString::from(""),
        OsString::from("two words"),
        OsString::from("line\nbreak"),
        OsString::from_vec(vec![0xff, 0xfe, b'x', 0x80]),
        OsString::from("--flag=va lue"),
        OsString::from("-v"),
        OsString::from("'quoted\" $HOME `x`"),
        OsString::from("ünïcödé"),
    ]
}

#[test]
fn arguments_pass_byte_for_byte() {
    each_path(|sb, mode| {
        let args = tricky_args();
        run_ok(sb.cf().args(&args));
        let calls = sb.calls();
        assert_eq!(calls.len(), 1, "{mode}: cf must run exactly once");
        assert_eq!(calls[0].argv[1..], args[..], "{mode}");
        assert_eq!(
            calls[0].argv[0],
            sb.path("bin/cf").into_os_string(),
            "{mode}: argv[0] as invoked"
        );
    });
}

#[test]
fn exit_codes_pass_through() {
    each_path(|sb, mode| {
        for code in [0, 1, 2, 42, 255] {
            let out = run(sb.cf().arg("apps").env("FAKE_CF_EXIT", code.to_string()));
            assert_eq!(
                out.status.code(),
                Some(code),
                "{mode}\n{}",
                describe(&sb.cf(), &out)
            );
        }
    });
}

#[test]
fn output_is_identical_to_direct() {
    each_path(|sb, mode| {
        let set = |c: &mut std::process::Command| {
            c.args(["target", "-o", "x"])
                .env("FAKE_CF_STDOUT", "out line 1\nout line 2 \u{1F600}\n")
                .env("FAKE_CF_STDERR", "FAILED\nerr line\n")
                .env("FAKE_CF_ECHO_ARGS", "1")
                .env("FAKE_CF_EXIT", "1");
        };
        let mut direct = sb.direct();
        set(&mut direct);
        let mut wrapped = sb.cf();
        set(&mut wrapped);
        let (d, w) = (run(&mut direct), run(&mut wrapped));
        assert_eq!(d.stdout, w.stdout, "{mode}: stdout");
        assert_eq!(d.stderr, w.stderr, "{mode}: stderr");
        assert_eq!(d.status.code(), w.status.code(), "{mode}: status");
    });
}

#[test]
fn environment_and_cwd_are_identical_except_the_guard() {
    each_path(|sb, mode| {
        run_ok(
            sb.direct()
                .arg("apps")
                .env("SOME_VAR", "x y")
                .env("EMPTY", ""),
        );
        run_ok(sb.cf().arg("apps").env("SOME_VAR", "x y").env("EMPTY", ""));
        let calls = sb.calls();
        assert_eq!(calls.len(), 2);
        let mut direct = calls[0].env.clone();
        let mut wrapped: Vec<_> = calls[1]
            .env
            .iter()
            .filter(|(k, _)| k != "__CFDEV_SHIM_GUARD")
            .cloned()
            .collect();
        direct.sort();
        wrapped.sort();
        assert_eq!(direct, wrapped, "{mode}");
        assert_eq!(
            calls[1].env.len(),
            calls[0].env.len() + 1,
            "{mode}: exactly one marker added"
        );
        assert_eq!(calls[0].cwd, calls[1].cwd, "{mode}");
    });
}

#[test]
fn large_stdin_streams_through() {
    each_path(|sb, mode| {
        let input: Vec<u8> = (0..8 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
        let mut child = sb
            .cf()
            .arg("curl")
            .env("FAKE_CF_CAT", "1")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let writer = {
            let input = input.clone();
            std::thread::spawn(move || {
                use std::io::Write;
                stdin.write_all(&input).unwrap();
            })
        };
        let out = child.wait_with_output().unwrap();
        writer.join().unwrap();
        assert!(out.status.success(), "{mode}");
        assert_eq!(out.stdout.len(), input.len(), "{mode}");
        assert!(out.stdout == input, "{mode}: stdin bytes differ");
    });
}

#[test]
fn signal_deaths_are_reproduced() {
    each_path(|sb, mode| {
        for sig in [libc::SIGTERM, libc::SIGKILL, libc::SIGINT, libc::SIGSEGV] {
            let out = run(sb.cf().arg("logs").env("FAKE_CF_SIGNAL", sig.to_string()));
            assert_eq!(
                out.status.signal(),
                Some(sig),
                "{mode}: signal {sig}\n{}",
                describe(&sb.cf(), &out)
            );
        }
    });
}

#[test]
fn exec_path_leaves_no_extra_process() {
    let sb = Sandbox::new();
    let child = sb.cf().arg("apps").spawn().unwrap();
    let wrapper_pid = child.id();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    assert_eq!(
        sb.calls()[0].pid,
        wrapper_pid,
        "cf must replace the wrapper process"
    );
    assert!(
        sb.state_files().is_empty(),
        "nothing written while undecided: {:?}",
        sb.state_files()
    );
}

#[test]
fn spawn_path_relays_sigterm_and_sighup_to_cf() {
    for (sig, name) in [(libc::SIGTERM, "SIGTERM"), (libc::SIGHUP, "SIGHUP")] {
        let sb = Sandbox::new();
        sb.telemetry_on();
        let mut child = sb
            .cf()
            .arg("logs")
            .env("FAKE_CF_SLEEP_MS", "30000")
            .spawn()
            .unwrap();
        wait_until("cf to start", Duration::from_secs(10), || {
            !sb.calls().is_empty()
        });
        let cf_pid = sb.calls()[0].pid;
        assert_ne!(cf_pid, child.id(), "spawn path runs cf as a child");
        assert_eq!(sb.calls()[0].ppid, child.id());
        unsafe { libc::kill(child.id() as i32, sig) };
        let status = child.wait().unwrap();
        assert_eq!(status.signal(), Some(sig), "{name}");
        assert_ne!(
            unsafe { libc::kill(cf_pid as i32, 0) },
            0,
            "{name}: cf must be gone"
        );
        assert_eq!(sb.event_names(), ["Error"]);
        assert_eq!(sb.events()[0]["properties"]["signal"], name);
    }
}

#[test]
fn missing_cf_is_127_with_one_line() {
    let sb = Sandbox::new();
    std::fs::remove_file(sb.path("real/cf")).unwrap();
    for on in [false, true] {
        if on {
            sb.telemetry_on();
        }
        let out = run_code(sb.cf().arg("apps").env("PATH", sb.path("bin")), 127);
        let err = stderr(&out);
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.starts_with("cfdev-shim: no real cf found"), "{err}");
        assert!(
            err.contains(sb.path("bin").to_str().unwrap()),
            "names what was searched: {err}"
        );
        assert!(out.stdout.is_empty());
    }
}

#[test]
fn real_cf_from_environment() {
    let sb = Sandbox::new();
    let out = run_ok(
        sb.cf()
            .args(["apps"])
            .env("PATH", sb.path("bin"))
            .env("CFDEV_SHIM_REAL_CF", sb.path("real/cf"))
            .env("FAKE_CF_ECHO_ARGS", "1"),
    );
    assert_eq!(stdout(&out), "args: apps\n");
    let out = run_code(
        sb.cf().arg("apps").env("CFDEV_SHIM_REAL_CF", "relative/cf"),
        127,
    );
    assert!(stderr(&out).contains("absolute"), "{}", stderr(&out));
}

#[test]
fn duplicate_path_entries_and_links_run_cf_once() {
    let sb = Sandbox::new();
    sb.telemetry_on();
    std::fs::create_dir_all(sb.path("copy")).unwrap();
    std::fs::create_dir_all(sb.path("hard")).unwrap();
    copy_executable(Path::new(SHIM), &sb.path("copy/cf"));
    std::fs::hard_link(SHIM, sb.path("hard/cf")).unwrap_or_else(|_| {
        copy_executable(Path::new(SHIM), &sb.path("hard/cf"));
    });
    let dirs = ["bin", "bin", "copy", "hard", "copy", "real"];
    let path = std::env::join_paths(dirs.iter().map(|d| sb.path(d))).unwrap();
    run_ok(sb.cf().arg("push").env("PATH", &path));
    assert_eq!(sb.calls().len(), 1);
    assert_eq!(sb.event_names(), ["App Created"], "recorded once");
}

#[test]
fn wrapper_copies_only_on_path_end_in_127_not_a_loop() {
    let sb = Sandbox::new();
    std::fs::create_dir_all(sb.path("copy")).unwrap();
    copy_executable(Path::new(SHIM), &sb.path("copy/cf"));
    // A different binary that execs back into the wrapper: a shim script.
    std::fs::create_dir_all(sb.path("script")).unwrap();
    let script = format!("#!/bin/sh\nexec {SHIM} cf \"$@\"\n");
    write_executable(&sb.path("script/cf"), &script);
    let path = std::env::join_paths(
        ["bin", "script", "copy", "script"]
            .iter()
            .map(|d| sb.path(d)),
    )
    .unwrap();
    let out = run_code(sb.cf().arg("apps").env("PATH", &path), 127);
    assert!(stderr(&out).contains("cfdev-shim:"), "{}", stderr(&out));
    // With the real cf after them, it is found and run once.
    let path =
        std::env::join_paths(["bin", "script", "copy", "real"].iter().map(|d| sb.path(d))).unwrap();
    run_ok(sb.cf().arg("apps").env("PATH", &path));
    assert_eq!(sb.calls().len(), 1);
}

#[test]
fn alias_mode_forwards_the_same() {
    each_path(|sb, mode| {
        let args = tricky_args();
        run_ok(sb.shim().arg("cf").args(&args));
        let calls = sb.calls();
        assert_eq!(calls.len(), 1, "{mode}");
        assert_eq!(calls[0].argv[1..], args[..], "{mode}");
        assert_eq!(calls[0].argv[0], "cf", "{mode}");
    });
}

#[test]
fn terminal_stays_a_terminal() {
    each_path(|sb, mode| {
        let run = run_on_pty(sb.cf().arg("apps"), "", b"");
        assert!(run.status.success(), "{mode}: {}", run.output);
        assert_eq!(sb.calls()[0].tty, "1 1 1", "{mode}");
        sb.clear_calls();
        run_ok(sb.cf().arg("apps"));
        assert_eq!(sb.calls()[0].tty, "0 0 0", "{mode}: pipes stay pipes");
    });
}

#[test]
fn a_plugin_running_cf_reaches_the_real_cf() {
    // cf plugins are children of cf; some run `cf` themselves. The guard
    // they inherit must not send that call past the real cf.
    each_path(|sb, mode| {
        let out = run(sb.cf().arg("push").env("FAKE_CF_CHILD", "push"));
        assert_eq!(out.status.code(), Some(0), "{mode}\n{}", stderr(&out));
        let calls = sb.calls();
        assert_eq!(calls.len(), 2, "{mode}: outer cf and the plugin's cf");
        for call in &calls {
            assert_eq!(call.argv[1..], [OsString::from("push")], "{mode}");
        }
        if mode.starts_with("spawn") {
            assert_eq!(
                sb.event_names(),
                ["App Created", "App Created"],
                "two invocations, each recorded once"
            );
        } else {
            assert!(sb.state_files().is_empty(), "{:?}", sb.state_files());
        }
    });
}

#[test]
fn a_shim_script_that_does_not_exec_ends_as_a_loop() {
    // A `cf` script that runs the wrapper as a child (no exec) starts a
    // fresh call each time; the nesting bound ends it instead of forking
    // forever.
    each_path(|sb, mode| {
        std::fs::create_dir_all(sb.path("script")).unwrap();
        let script = format!("#!/bin/sh\n{SHIM} cf \"$@\"\n");
        write_executable(&sb.path("script/cf"), &script);
        let path = std::env::join_paths(["bin", "script"].iter().map(|d| sb.path(d))).unwrap();
        let mut child = sb
            .cf()
            .arg("apps")
            .env("PATH", &path)
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut status = None;
        wait_until("the loop to end", Duration::from_secs(20), || {
            status = child.try_wait().unwrap();
            status.is_some()
        });
        assert_eq!(status.unwrap().code(), Some(127), "{mode}");
        let mut err = String::new();
        std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
        assert_eq!(err.lines().count(), 1, "{mode}: {err}");
        assert!(err.contains("loop"), "{mode}: {err}");
        assert!(sb.calls().is_empty(), "{mode}");
    });
}

#[test]
fn stale_guard_from_the_environment_is_ignored() {
    // A guard inherited by an unrelated later cf call (not our parent's)
    // must not make the wrapper skip the real cf or stop recording.
    let sb = Sandbox::new();
    sb.telemetry_on();
    let guard = format!("1 1:1 0\n{}", sb.path("real/cf").display());
    run_ok(sb.cf().arg("push").env("__CFDEV_SHIM_GUARD", guard));
    assert_eq!(sb.calls().len(), 1);
    assert_eq!(sb.event_names(), ["App Created"]);
}
