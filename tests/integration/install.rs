//! install.sh and the shell snippets, as a new user would run them.

use crate::util::*;
use std::path::Path;
use std::process::Command;

fn install_cmd(sb: &Sandbox, prefix: &Path) -> Command {
    let mut cmd = Command::new("bash");
    cmd.arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("install.sh"))
        .arg("--prefix")
        .arg(prefix)
        .env("HOME", sb.path("home"))
        .env("CFDEV_SHIM_HOME", sb.state())
        .stdin(std::process::Stdio::null());
    cmd
}

/// PATH with cargo and the system, but no cf.
fn path_without_cf() -> String {
    let cargo_bin = Path::new(&std::env::var("CARGO").unwrap())
        .parent()
        .unwrap()
        .to_path_buf();
    format!("{}:/usr/local/bin:/usr/bin:/bin", cargo_bin.display())
}

fn went_through_wrapper(sb: &Sandbox) -> bool {
    let calls = sb.calls();
    calls.len() == 1 && calls[0].env.iter().any(|(k, _)| k == "__CFDEV_SHIM_GUARD")
}

#[test]
fn install_run_reinstall_uninstall() {
    let sb = Sandbox::new();
    let prefix = sb.path("prefix");
    let out = run_ok(
        install_cmd(&sb, &prefix)
            .args(["--endpoint", "http://127.0.0.1:9/", "--write-key", "k1"])
            .env("PATH", path_without_cf()),
    );
    let text = stdout(&out);
    assert!(
        text.contains(&format!("export PATH=\"{}/bin:$PATH\"", prefix.display())),
        "{text}"
    );
    assert!(
        stderr(&out).contains("warning: no real cf found"),
        "{}",
        stderr(&out)
    );
    for f in [
        "bin/cfdev-shim",
        "bin/cfdev-collector",
        "shims/cf",
        "shims/path.bash",
        "shims/path.zsh",
        "shims/path.fish",
        "shims/alias.bash",
        "shims/alias.zsh",
        "shims/alias.fish",
        "shims/function.bash",
        "shims/function.zsh",
        "shims/function.fish",
    ] {
        assert!(prefix.join(f).is_file(), "{f} installed");
    }
    assert_eq!(
        std::fs::read_link(prefix.join("bin/cf")).unwrap(),
        Path::new("cfdev-shim")
    );
    let config = std::fs::read_to_string(sb.state().join("config.json")).unwrap();
    assert!(
        config.contains("http://127.0.0.1:9/") && config.contains("k1"),
        "{config}"
    );

    // cf as usual, through the installed link.
    let path = format!("{}/bin:{}", prefix.display(), sb.path("real").display());
    run_ok(
        sb.command(prefix.join("bin/cf"))
            .arg("apps")
            .env("PATH", &path),
    );
    assert!(went_through_wrapper(&sb));

    // Idempotent, and it finds the real cf this time.
    let out =
        run_ok(install_cmd(&sb, &prefix).env("PATH", format!("{}:{}", path, path_without_cf())));
    assert!(
        stdout(&out).contains("Real cf found at"),
        "{}",
        stdout(&out)
    );
    assert!(!stderr(&out).contains("warning"), "{}", stderr(&out));

    // Uninstall removes exactly what it installed.
    std::fs::write(prefix.join("bin/users-own-tool"), "keep me").unwrap();
    run_ok(sb.shim().args(["telemetry", "on"]));
    let out = run_ok(
        install_cmd(&sb, &prefix)
            .arg("--uninstall")
            .env("PATH", path_without_cf()),
    );
    assert!(stdout(&out).contains("kept"), "{}", stdout(&out));
    assert!(!prefix.join("bin/cfdev-shim").exists());
    assert!(!prefix.join("bin/cf").exists());
    assert!(!prefix.join("shims").exists());
    assert!(prefix.join("bin/users-own-tool").exists());
    assert!(sb.path("real/cf").exists(), "the real cf is never touched");
    assert!(
        sb.state().join("config.json").exists(),
        "the recorded choice is kept"
    );
    let out = run_ok(
        install_cmd(&sb, &prefix)
            .args(["--uninstall", "--purge"])
            .env("PATH", path_without_cf()),
    );
    assert!(stdout(&out).contains("Deleted"), "{}", stdout(&out));
    assert!(!sb.state().exists());
}

#[test]
fn bad_options_fail_with_one_line() {
    let sb = Sandbox::new();
    let out = run_code(install_cmd(&sb, &sb.path("p")).arg("--bogus"), 1);
    assert_eq!(stderr(&out).lines().count(), 1, "{}", stderr(&out));
}

/// Installs the snippets with @BIN@ pointing at the built wrapper.
fn snippet(sb: &Sandbox, name: &str) -> std::path::PathBuf {
    let bin = sb.path("shimbin");
    std::fs::create_dir_all(&bin).unwrap();
    if !bin.join("cfdev-shim").exists() {
        std::os::unix::fs::symlink(SHIM, bin.join("cfdev-shim")).unwrap();
        std::os::unix::fs::symlink(SHIM, bin.join("cf")).unwrap();
    }
    let src = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("shims")
            .join(name),
    )
    .unwrap();
    let out = sb.path(name);
    std::fs::write(&out, src.replace("@BIN@", bin.to_str().unwrap())).unwrap();
    std::fs::set_permissions(&out, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    out
}

pub fn shell_available(shell: &str) -> bool {
    let found = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {shell}"))
        .output()
        .unwrap()
        .status
        .success();
    if !found {
        assert!(
            std::env::var_os("CI").is_none(),
            "{shell} must be installed in CI (.ci/run installs it)"
        );
        eprintln!("note: {shell} not installed; its snippets are not exercised here");
    }
    found
}

#[test]
fn shell_snippets_route_cf_through_the_wrapper() {
    let shells: &[(&str, &[&str], &str)] = &[
        (
            "bash",
            &["path.bash", "alias.bash"],
            "shopt -s expand_aliases\nsource {f}\neval 'cf apps'\n",
        ),
        // eval: an alias applies to lines parsed after it was defined.
        (
            "zsh",
            &["path.zsh", "alias.zsh"],
            "source {f}\neval 'cf apps'\n",
        ),
        (
            "fish",
            &["path.fish", "alias.fish"],
            "source {f}\ncf apps\n",
        ),
    ];
    for (shell, files, script) in shells {
        if !shell_available(shell) {
            continue;
        }
        for file in *files {
            let sb = Sandbox::new();
            let f = snippet(&sb, file);
            let script = script.replace("{f}", f.to_str().unwrap());
            let path = format!("{}:/usr/local/bin:/usr/bin:/bin", sb.path("real").display());
            let out = run(sb.command(shell).arg("-c").arg(&script).env("PATH", path));
            assert!(out.status.success(), "{shell} {file}\n{}", stderr(&out));
            assert!(
                went_through_wrapper(&sb),
                "{shell} {file}: cf went through cfdev-shim: {:?}\n{}{}",
                sb.calls(),
                stdout(&out),
                stderr(&out)
            );
        }
    }
    // The PATH shim script.
    let sb = Sandbox::new();
    let script = snippet(&sb, "cf");
    let dir = sb.path("scriptdir");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::rename(&script, dir.join("cf")).unwrap();
    let path = format!(
        "{}:{}:/usr/bin:/bin",
        dir.display(),
        sb.path("real").display()
    );
    run_ok(sb.command(dir.join("cf")).arg("apps").env("PATH", path));
    assert!(went_through_wrapper(&sb));
}

#[test]
fn which_cf_prints_the_real_cf_the_wrapper_runs() {
    let sb = Sandbox::new();
    // The sandbox PATH has the wrapper's `cf` link first: it is skipped.
    let out = run_ok(sb.shim().arg("which-cf"));
    assert_eq!(stdout(&out), format!("{}\n", sb.path("real/cf").display()));
    let out = run_ok(
        sb.shim()
            .arg("which-cf")
            .env("CFDEV_SHIM_REAL_CF", sb.path("real/cf")),
    );
    assert_eq!(stdout(&out), format!("{}\n", sb.path("real/cf").display()));
    let out = run_code(
        sb.shim().arg("which-cf").env(
            "PATH",
            format!("{}:/usr/bin:/bin", sb.path("bin").display()),
        ),
        127,
    );
    assert_eq!(stdout(&out), "");
    assert!(
        stderr(&out).starts_with("cfdev-shim: no real cf found"),
        "{}",
        stderr(&out)
    );
    // Hidden from the help.
    let out = run_ok(sb.shim().arg("--help"));
    assert!(!stdout(&out).contains("which-cf"), "{}", stdout(&out));
}
