//! Function mode (`shims/function.*`): the `cf` shell function runs the real
//! cf with no wrapper process while telemetry is off or undecided (the
//! wrapper's binary may even be missing), and goes through the wrapper while
//! telemetry is on and for `cf dev …`. Exercised in bash, zsh and fish.

use crate::install::shell_available;
use crate::util::*;
use std::path::{Path, PathBuf};
use std::process::Output;

const SHELLS: &[&str] = &["bash", "zsh", "fish"];

/// The snippet for `shell` with @BIN@ replaced by `bin`, as install.sh does.
fn function_file(sb: &Sandbox, shell: &str, bin: &Path) -> PathBuf {
    let name = format!("function.{shell}");
    let src = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("shims")
            .join(&name),
    )
    .unwrap();
    let out = sb.path(&name);
    std::fs::write(&out, src.replace("@BIN@", bin.to_str().unwrap())).unwrap();
    out
}

/// A directory holding the wrapper as `cfdev-shim`, as an install would.
fn installed_bin(sb: &Sandbox) -> PathBuf {
    let bin = sb.path("shimbin");
    if !bin.exists() {
        std::fs::create_dir_all(&bin).unwrap();
        std::os::unix::fs::symlink(SHIM, bin.join("cfdev-shim")).unwrap();
    }
    bin
}

/// Sources the function in `shell` and runs `cf ARGS`, then prints its status.
fn run_function(
    sb: &Sandbox,
    shell: &str,
    bin: &Path,
    args: &str,
    env: &[(&str, &str)],
    unset: &[&str],
) -> Output {
    let file = function_file(sb, shell, bin);
    let status = if shell == "fish" { "$status" } else { "$?" };
    let script = format!(
        "source {}\ncf {args}\necho \"status={status}\"\n",
        file.display()
    );
    let mut cmd = sb.command(shell);
    // Only the real cf on PATH: the wrapper is reached through @BIN@ alone.
    cmd.arg("-c").arg(script).env(
        "PATH",
        format!("{}:/usr/bin:/bin", sb.path("real").display()),
    );
    for (k, v) in env {
        cmd.env(k, v);
    }
    for k in unset {
        cmd.env_remove(k);
    }
    run(&mut cmd)
}

fn guard_seen(call: &Call) -> bool {
    call.env.iter().any(|(k, _)| k == "__CFDEV_SHIM_GUARD")
}

/// Exactly one call of the real cf, run directly by the shell.
fn assert_direct(sb: &Sandbox, out: &Output, what: &str) {
    let calls = sb.calls();
    assert_eq!(calls.len(), 1, "{what}: {}{}", stdout(out), stderr(out));
    assert!(
        !guard_seen(&calls[0]),
        "{what}: cf went through the wrapper"
    );
    sb.clear_calls();
}

/// Exactly one call of the real cf, through the wrapper.
fn assert_wrapped(sb: &Sandbox, out: &Output, what: &str) {
    let calls = sb.calls();
    assert_eq!(calls.len(), 1, "{what}: {}{}", stdout(out), stderr(out));
    assert!(
        guard_seen(&calls[0]),
        "{what}: cf did not go through the wrapper"
    );
    sb.clear_calls();
}

#[test]
fn off_or_undecided_runs_the_real_cf_without_the_wrapper() {
    for shell in SHELLS {
        if !shell_available(shell) {
            continue;
        }
        let sb = Sandbox::new();
        // No wrapper binary at all: the off path must not need it.
        let absent = sb.path("no-such-dir");
        let what = format!("{shell}, undecided");
        let out = run_function(
            &sb,
            shell,
            &absent,
            "push my-app",
            &[("FAKE_CF_EXIT", "3")],
            &[],
        );
        assert_eq!(stdout(&out), "status=3\n", "{what}: {}", stderr(&out));
        assert_direct(&sb, &out, &what);
        assert_eq!(sb.calls().len(), 0);

        run_ok(sb.shim().args(["telemetry", "off"]));
        let out = run_function(&sb, shell, &absent, "apps", &[], &[]);
        assert_eq!(stdout(&out), "status=0\n", "{shell}: {}", stderr(&out));
        assert_direct(&sb, &out, &format!("{shell}, stored off"));

        // Stored on, but the environment says off.
        sb.telemetry_on();
        for (k, v) in [
            ("DO_NOT_TRACK", "1"),
            ("CFDEV_SHIM_TELEMETRY", "OFF"),
            ("CFDEV_SHIM_TELEMETRY", "false"),
        ] {
            let out = run_function(&sb, shell, &absent, "apps", &[(k, v)], &[]);
            assert_eq!(
                stdout(&out),
                "status=0\n",
                "{shell} {k}={v}: {}",
                stderr(&out)
            );
            assert_direct(&sb, &out, &format!("{shell}, stored on, {k}={v}"));
        }
        assert!(sb.events().is_empty(), "{shell}: nothing recorded");
    }
}

#[test]
fn on_and_cf_dev_go_through_the_wrapper() {
    for shell in SHELLS {
        if !shell_available(shell) {
            continue;
        }
        let sb = Sandbox::new();
        let bin = installed_bin(&sb);

        // The switch goes through the wrapper even while undecided.
        let out = run_function(&sb, shell, &bin, "dev telemetry --on", &[], &[]);
        assert!(
            stdout(&out).starts_with("Telemetry is turned ON\n"),
            "{shell}: {}{}",
            stdout(&out),
            stderr(&out)
        );
        assert!(
            sb.state().join("telemetry-on").is_file(),
            "{shell}: marker written"
        );
        sb.clear_calls();

        let out = run_function(
            &sb,
            shell,
            &bin,
            "push my-app",
            &[("FAKE_CF_EXIT", "4")],
            &[],
        );
        assert_eq!(stdout(&out), "status=4\n", "{shell}: {}", stderr(&out));
        assert_wrapped(&sb, &out, &format!("{shell}, stored on"));
        assert_eq!(
            sb.event_names(),
            ["Error"],
            "{shell}: the failed push recorded"
        );

        // DO_NOT_TRACK=0 and an empty one do not force off.
        for value in ["0", ""] {
            let out = run_function(&sb, shell, &bin, "apps", &[("DO_NOT_TRACK", value)], &[]);
            assert_wrapped(&sb, &out, &format!("{shell}, DO_NOT_TRACK={value:?}"));
        }

        let out = run_function(&sb, shell, &bin, "dev telemetry --off", &[], &[]);
        assert!(
            stdout(&out).contains("Telemetry is turned OFF"),
            "{shell}: {}{}",
            stdout(&out),
            stderr(&out)
        );
        assert!(
            !sb.state().join("telemetry-on").exists(),
            "{shell}: marker removed"
        );
        sb.clear_calls();
        let out = run_function(&sb, shell, &bin, "apps", &[], &[]);
        assert_direct(&sb, &out, &format!("{shell}, after --off"));

        // The environment can turn it on for one call.
        let out = run_function(
            &sb,
            shell,
            &bin,
            "apps",
            &[("CFDEV_SHIM_TELEMETRY", "On")],
            &[],
        );
        assert_wrapped(&sb, &out, &format!("{shell}, CFDEV_SHIM_TELEMETRY=On"));
    }
}

/// Without CFDEV_SHIM_HOME the function looks where the wrapper keeps its
/// config: $XDG_CONFIG_HOME/cfdev-shim, else ~/.config/cfdev-shim.
#[test]
fn the_function_finds_the_marker_where_the_wrapper_writes_it() {
    for shell in SHELLS {
        if !shell_available(shell) {
            continue;
        }
        let sb = Sandbox::new();
        let bin = installed_bin(&sb);
        let xdg = sb.path("xdg");
        let xdg_env = [("XDG_CONFIG_HOME", xdg.to_str().unwrap())];
        run_ok(
            sb.shim()
                .args(["telemetry", "on"])
                .env_remove("CFDEV_SHIM_HOME")
                .envs(xdg_env),
        );
        assert!(xdg.join("cfdev-shim/telemetry-on").is_file());
        let out = run_function(&sb, shell, &bin, "apps", &xdg_env, &["CFDEV_SHIM_HOME"]);
        assert_wrapped(&sb, &out, &format!("{shell}, XDG_CONFIG_HOME"));
        // The same choice is not seen from the plain home.
        let out = run_function(&sb, shell, &bin, "apps", &[], &["CFDEV_SHIM_HOME"]);
        assert_direct(&sb, &out, &format!("{shell}, HOME without the choice"));

        // A relative XDG_CONFIG_HOME is ignored, by the wrapper and the function.
        run_ok(
            sb.shim()
                .args(["telemetry", "on"])
                .env_remove("CFDEV_SHIM_HOME")
                .env("XDG_CONFIG_HOME", "relative"),
        );
        assert!(sb.path("home/.config/cfdev-shim/telemetry-on").is_file());
        let out = run_function(
            &sb,
            shell,
            &bin,
            "apps",
            &[("XDG_CONFIG_HOME", "relative")],
            &["CFDEV_SHIM_HOME"],
        );
        assert_wrapped(&sb, &out, &format!("{shell}, HOME"));
    }
}
