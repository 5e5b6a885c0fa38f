//! The pre-libc exec path (src/forwarding/early.rs) may only ever be a faster
//! way to the result the normal path gives: every situation below is run
//! with it (the default) and without it (`CFDEV_SHIM_EARLY=0`), and the two
//! must agree on exit status, output, what cf received and what was recorded.
//! With telemetry on, the early path starts cf as a child and the normal path
//! waits for it; off or undecided, it execs cf.

use crate::util::*;
use std::ffi::OsString;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::Command;

/// What a call did, with the guard's PID (which differs per run) taken out.
#[derive(Debug, PartialEq)]
struct Outcome {
    code: Option<i32>,
    stdout: String,
    stderr: String,
    cf_argv: Vec<Vec<Vec<u8>>>,
    cf_environ: Vec<Vec<Vec<u8>>>,
    events: Vec<String>,
}

const GUARD: &[u8] = b"__CFDEV_SHIM_GUARD=";

fn outcome(sb: &Sandbox, cmd: &mut Command) -> Outcome {
    let out = run(cmd);
    let calls = sb.calls();
    let cf_environ = calls
        .iter()
        .map(|c| {
            c.environ
                .iter()
                .map(|entry| match entry.strip_prefix(GUARD) {
                    // "PID DEV:INO NESTING\nPATH…": keep all but the PID.
                    Some(value) => {
                        let rest = value.splitn(2, |b| *b == b' ').nth(1).unwrap_or_default();
                        [GUARD, b"<pid> ", rest].concat()
                    }
                    None => entry.clone(),
                })
                .collect()
        })
        .collect();
    let result = Outcome {
        code: out.status.code(),
        stdout: stdout(&out),
        stderr: stderr(&out),
        cf_argv: calls
            .iter()
            .map(|c| {
                c.argv
                    .iter()
                    .map(|a| a.as_encoded_bytes().to_vec())
                    .collect()
            })
            .collect(),
        cf_environ,
        events: sb.event_names(),
    };
    sb.clear_calls();
    let _ = std::fs::remove_file(sb.spool_file());
    result
}

/// Runs `scenario` in two identical sandboxes, early path on and off.
fn agree(what: &str, scenario: impl Fn(&Sandbox) -> Command) {
    let run_with = |early: bool| {
        let mut sb = Sandbox::new();
        if !early {
            sb.extra_env.push(("CFDEV_SHIM_EARLY", "0"));
        }
        let mut cmd = scenario(&sb);
        let mut result = outcome(&sb, &mut cmd);
        // The sandboxes' paths differ: compare them relative to the root.
        let root = sb.root.path().to_string_lossy().into_owned();
        let relative = |b: &Vec<u8>| {
            String::from_utf8_lossy(b)
                .replace(&root, "<root>")
                .into_bytes()
        };
        result.cf_environ = result
            .cf_environ
            .iter()
            .map(|env| env.iter().map(relative).collect())
            .collect();
        result.cf_argv = result
            .cf_argv
            .iter()
            .map(|a| a.iter().map(relative).collect())
            .collect();
        result.stderr = result.stderr.replace(&root, "<root>");
        result
    };
    let early = run_with(true);
    let late = run_with(false);
    // CFDEV_SHIM_EARLY=0 itself is in the late call's environment.
    let strip = |o: &Outcome| -> Vec<Vec<Vec<u8>>> {
        o.cf_environ
            .iter()
            .map(|env| {
                env.iter()
                    .filter(|e| !e.starts_with(b"CFDEV_SHIM_EARLY="))
                    .cloned()
                    .collect()
            })
            .collect()
    };
    assert_eq!(strip(&early), strip(&late), "{what}: cf's environment");
    assert_eq!(
        (
            early.code,
            &early.stdout,
            &early.stderr,
            &early.cf_argv,
            &early.events
        ),
        (
            late.code,
            &late.stdout,
            &late.stderr,
            &late.cf_argv,
            &late.events
        ),
        "{what}"
    );
}

/// `cf ARGS` with these variables set (Some) or removed (None).
fn cf(sb: &Sandbox, args: &[&str], vars: &[(&str, Option<OsString>)]) -> Command {
    let mut cmd = sb.cf();
    cmd.args(args);
    for (name, value) in vars {
        match value {
            Some(value) => cmd.env(name, value),
            None => cmd.env_remove(name),
        };
    }
    cmd
}

fn set(value: impl Into<OsString>) -> Option<OsString> {
    Some(value.into())
}

fn on(sb: &Sandbox) {
    sb.telemetry_on();
}

fn path_of(sb: &Sandbox, dirs: &[&str]) -> Option<OsString> {
    let joined: Vec<String> = dirs
        .iter()
        .map(|d| {
            if d.is_empty() {
                String::new()
            } else {
                sb.path(d).display().to_string()
            }
        })
        .collect();
    set(joined.join(":"))
}

#[test]
fn the_early_path_agrees_with_the_normal_path() {
    agree("undecided", |sb| cf(sb, &["push"], &[]));
    agree("on (marker present)", |sb| {
        on(sb);
        cf(sb, &["push"], &[])
    });
    agree("on, DO_NOT_TRACK=1", |sb| {
        on(sb);
        cf(sb, &["push"], &[("DO_NOT_TRACK", set("1"))])
    });
    agree("on, DO_NOT_TRACK=0", |sb| {
        on(sb);
        cf(sb, &["push"], &[("DO_NOT_TRACK", set("0"))])
    });
    agree("on, CFDEV_SHIM_TELEMETRY=Off", |sb| {
        on(sb);
        cf(sb, &["push"], &[("CFDEV_SHIM_TELEMETRY", set("Off"))])
    });
    agree("off, CFDEV_SHIM_TELEMETRY=on", |sb| {
        run_ok(sb.shim().args(["telemetry", "off"]));
        cf(sb, &["push"], &[("CFDEV_SHIM_TELEMETRY", set("on"))])
    });
    agree(
        "off, but a stale marker (cf started early, then not recorded)",
        |sb| {
            run_ok(sb.shim().args(["telemetry", "off"]));
            std::fs::write(sb.state().join("telemetry-on"), "").unwrap();
            cf(sb, &["push"], &[])
        },
    );
    agree("on, help (cf started early, not recorded)", |sb| {
        on(sb);
        cf(sb, &["push", "--help"], &[])
    });
    agree("on, cf fails", |sb| {
        on(sb);
        cf(sb, &["push"], &[("FAKE_CF_EXIT", set("3"))])
    });
    agree("on, the cf found cannot be run", |sb| {
        on(sb);
        std::fs::create_dir_all(sb.path("broken")).unwrap();
        write_executable(&sb.path("broken/cf"), "\u{7f}ELF garbage");
        cf(sb, &["apps"], &[("PATH", path_of(sb, &["bin", "broken"]))])
    });
    agree("undecided, CFDEV_SHIM_TELEMETRY=bogus", |sb| {
        cf(sb, &["push"], &[("CFDEV_SHIM_TELEMETRY", set("bogus"))])
    });
    for xdg in ["home/xdg", "relative"] {
        agree(&format!("on in the XDG config directory ({xdg})"), |sb| {
            let value = if xdg == "relative" {
                set(xdg)
            } else {
                set(sb.path(xdg))
            };
            let vars = [("CFDEV_SHIM_HOME", None), ("XDG_CONFIG_HOME", value)];
            let mut turn_on = sb.shim();
            turn_on.args(["telemetry", "on"]);
            for (name, value) in &vars {
                match value {
                    Some(v) => turn_on.env(name, v),
                    None => turn_on.env_remove(name),
                };
            }
            run_ok(&mut turn_on);
            cf(sb, &["push"], &vars)
        });
    }
    agree("no HOME at all", |sb| {
        cf(sb, &["apps"], &[("CFDEV_SHIM_HOME", None), ("HOME", None)])
    });
    agree("relative CFDEV_SHIM_HOME", |sb| {
        cf(sb, &["apps"], &[("CFDEV_SHIM_HOME", set("state"))])
    });
    agree("cf dev telemetry", |sb| cf(sb, &["dev", "telemetry"], &[]));
    agree("cf -v apps", |sb| cf(sb, &["-v", "apps"], &[]));
    agree("no argument", |sb| cf(sb, &[], &[]));
    agree("CFDEV_SHIM_REAL_CF absolute", |sb| {
        let vars = [
            ("CFDEV_SHIM_REAL_CF", set(sb.path("real/cf"))),
            ("PATH", path_of(sb, &["bin"])),
        ];
        cf(sb, &["apps"], &vars)
    });
    agree("CFDEV_SHIM_REAL_CF relative", |sb| {
        cf(sb, &["apps"], &[("CFDEV_SHIM_REAL_CF", set("real/cf"))])
    });
    agree("CFDEV_SHIM_REAL_CF not executable", |sb| {
        cf(
            sb,
            &["apps"],
            &[("CFDEV_SHIM_REAL_CF", set("/etc/hostname"))],
        )
    });
    agree("no cf on PATH", |sb| {
        cf(sb, &["apps"], &[("PATH", path_of(sb, &["bin"]))])
    });
    agree("PATH unset", |sb| cf(sb, &["apps"], &[("PATH", None)]));
    agree("a copy of the wrapper ahead of the real cf", |sb| {
        std::fs::create_dir_all(sb.path("copy")).unwrap();
        copy_executable(Path::new(SHIM), &sb.path("copy/cf"));
        cf(
            sb,
            &["apps"],
            &[("PATH", path_of(sb, &["copy", "bin", "real"]))],
        )
    });
    agree("a non-executable cf and an empty PATH entry", |sb| {
        std::fs::create_dir_all(sb.path("noexec")).unwrap();
        std::fs::write(sb.path("noexec/cf"), "not a program").unwrap();
        let vars = [("PATH", path_of(sb, &["noexec", "", "bin", "real"]))];
        cf(sb, &["apps"], &vars)
    });
    agree("the cf found cannot be run", |sb| {
        std::fs::create_dir_all(sb.path("broken")).unwrap();
        write_executable(&sb.path("broken/cf"), "\u{7f}ELF garbage");
        cf(sb, &["apps"], &[("PATH", path_of(sb, &["bin", "broken"]))])
    });
}

#[test]
fn the_guard_names_this_wrapper_and_the_cf_it_chose() {
    each_path(|sb, mode| {
        run_ok(sb.cf().arg("apps"));
        let calls = sb.calls();
        let call = &calls[0];
        let guard = call
            .environ
            .iter()
            .find_map(|e| e.strip_prefix(GUARD))
            .unwrap_or_else(|| panic!("{mode}: no guard in cf's environment"));
        let me = std::fs::metadata(SHIM).unwrap();
        let pid = if mode.starts_with("spawn") {
            call.ppid
        } else {
            call.pid
        };
        let expected = format!(
            "{pid} {}:{} 0\n{}",
            me.dev(),
            me.ino(),
            sb.path("real/cf").display()
        );
        assert_eq!(String::from_utf8_lossy(guard), expected, "{mode}");
        // Appended after the caller's entries, which keep their order.
        assert!(call.environ.last().unwrap().starts_with(GUARD), "{mode}");
    });
}

#[test]
fn help_calls_are_execd_even_with_telemetry_on() {
    // cf answers them with help and they are never recorded: the early path
    // leaves them to the normal path, which execs cf (same PID, and a core
    // dump keeps its flag) instead of starting it as a child.
    for late in [false, true] {
        let mut sb = Sandbox::new();
        if late {
            sb.extra_env.push(("CFDEV_SHIM_EARLY", "0"));
        }
        sb.telemetry_on();
        for args in [&["push", "--help"][..], &["help", "push"], &[]] {
            let mut child = sb.cf().args(args).spawn().unwrap();
            let pid = child.id();
            assert!(child.wait().unwrap().success());
            let calls = sb.calls();
            assert_eq!(calls.len(), 1, "{args:?}");
            assert_eq!(calls[0].pid, pid, "late={late} {args:?}: cf was not exec'd");
            sb.clear_calls();
        }
        assert!(sb.events().is_empty());
    }
}

#[test]
fn a_small_stack_limit_does_not_break_the_early_path() {
    // Its buffers are statics: under `ulimit -s 20` (KiB, where its ~20 KiB
    // of stack frames faulted) cf is still exec'd. Only the exec case is
    // tried: with telemetry on, the normal path runs too, and an unoptimised
    // test build of it needs more stack than that whether or not cf was
    // started early.
    let sb = Sandbox::new();
    for _ in 0..5 {
        let mut cmd = sb.command("/bin/sh");
        cmd.arg("-c")
            .arg("ulimit -s 20 && exec \"$0\" push")
            .arg(sb.path("bin/cf"));
        run_ok(&mut cmd);
    }
    assert_eq!(sb.calls().len(), 5);
}

#[test]
fn a_marker_deleted_by_hand_comes_back_on_the_next_normal_path_call() {
    let sb = Sandbox::new();
    sb.telemetry_on();
    let marker = sb.state().join("telemetry-on");
    std::fs::remove_file(&marker).unwrap();
    // The fast switch says "not on": cf runs, unrecorded (as in function mode).
    run_ok(sb.cf().arg("push"));
    assert!(sb.events().is_empty());
    // Any call the normal path decides (here `cf -v …`) reads the stored
    // "on", records, and puts the marker back.
    run_ok(sb.cf().args(["-v", "push"]));
    assert!(marker.exists());
    run_ok(sb.cf().arg("push"));
    assert_eq!(sb.event_names(), ["App Created", "App Created"]);
}
