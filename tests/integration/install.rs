//! install.sh and the shell snippets, as a new user would run them: from
//! the source tree (cargo builds) and from an unpacked release archive (no
//! cargo on PATH).

use crate::util::*;
use std::path::{Path, PathBuf};
use std::process::Command;

const SOURCE: &str = env!("CARGO_MANIFEST_DIR");

/// `install.sh` of the source tree.
fn install_cmd(sb: &Sandbox, prefix: &Path) -> Command {
    install_from(sb, Path::new(SOURCE), prefix)
}

/// `DIR/install.sh --prefix PREFIX` in the sandbox's home and state root.
fn install_from(sb: &Sandbox, dir: &Path, prefix: &Path) -> Command {
    let mut cmd = Command::new("bash");
    cmd.arg(dir.join("install.sh"))
        .arg("--prefix")
        .arg(prefix)
        .env("HOME", sb.path("home"))
        .env("CFDEV_SHIM_HOME", sb.state())
        .stdin(std::process::Stdio::null());
    cmd
}

/// PATH with the system's tools only: no cargo, no cf.
const SYSTEM_PATH: &str = "/usr/local/bin:/usr/bin:/bin";

/// The xtask binary of this workspace, built on demand.
fn xtask_binary() -> PathBuf {
    let status = Command::new(env!("CARGO"))
        .args(["build", "--quiet", "-p", "xtask", "--bin", "xtask"])
        .current_dir(SOURCE)
        .status()
        .unwrap();
    assert!(status.success());
    PathBuf::from(SHIM).with_file_name("xtask")
}

/// An unpacked release archive laid out as scripts/dist lays it out, made of
/// this test run's binaries (the real archive is built by the dist test).
fn unpacked_archive(sb: &Sandbox) -> PathBuf {
    let dir = sb.path("archive");
    std::fs::create_dir_all(dir.join("shims")).unwrap();
    std::fs::copy(SHIM, dir.join("cfdev-shim")).unwrap();
    std::fs::copy(
        crate::end_to_end::collector_binary(),
        dir.join("cfdev-collector"),
    )
    .unwrap();
    std::fs::copy(Path::new(SOURCE).join("install.sh"), dir.join("install.sh")).unwrap();
    for entry in std::fs::read_dir(Path::new(SOURCE).join("shims")).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), dir.join("shims").join(entry.file_name())).unwrap();
    }
    run_ok(Command::new(xtask_binary()).arg("docs").arg(&dir));
    run_ok(
        Command::new("sh")
            .arg("-c")
            .arg("find . -type f ! -name SHA256SUMS | LC_ALL=C sort | xargs sha256sum > SHA256SUMS")
            .current_dir(&dir),
    );
    dir
}

/// Every file of the source tree outside target/ and .git, with its size and
/// modification time: a failed install.sh must leave it exactly as it was.
fn source_tree_snapshot() -> Vec<(PathBuf, u64, std::time::SystemTime)> {
    fn walk(dir: &Path, out: &mut Vec<(PathBuf, u64, std::time::SystemTime)>) {
        for entry in std::fs::read_dir(dir).unwrap().flatten() {
            let path = entry.path();
            let name = entry.file_name();
            if dir == Path::new(SOURCE) && (name == "target" || name == ".git") {
                continue;
            }
            let meta = std::fs::symlink_metadata(&path).unwrap();
            if meta.is_dir() {
                walk(&path, out);
            } else {
                out.push((path, meta.len(), meta.modified().unwrap()));
            }
        }
    }
    let mut out = Vec::new();
    walk(Path::new(SOURCE), &mut out);
    out.sort();
    out
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
    assert!(text.contains("from the source"), "{text}");
    assert!(text.contains("Telemetry is not decided yet"), "{text}");
    assert!(
        stderr(&out).contains("warning: no real cf found"),
        "{}",
        stderr(&out)
    );
    for f in INSTALLED {
        assert!(prefix.join(f).is_file(), "{f} installed");
    }
    assert_eq!(
        std::fs::read_link(prefix.join("bin/cf")).unwrap(),
        Path::new("cfdev-shim")
    );
    let config = std::fs::read_to_string(sb.state().join("config.json")).unwrap();
    assert!(
        config.contains("\"http://127.0.0.1:9\"") && config.contains("k1"),
        "{config}"
    );
    // The PATH shim's comment is not rewritten by the @BIN@ substitution.
    let shim_script = std::fs::read_to_string(prefix.join("shims/cf")).unwrap();
    let template = std::fs::read_to_string(Path::new(SOURCE).join("shims/cf")).unwrap();
    assert_eq!(
        shim_script,
        template.replace("@BIN@", prefix.join("bin").to_str().unwrap())
    );
    assert_eq!(shim_script.matches(prefix.to_str().unwrap()).count(), 1);

    // cf as usual, through the installed link.
    let path = format!("{}/bin:{}", prefix.display(), sb.path("real").display());
    run_ok(
        sb.command(prefix.join("bin/cf"))
            .arg("apps")
            .env("PATH", &path),
    );
    assert!(went_through_wrapper(&sb));

    // Idempotent, it finds the real cf this time, and it reports the real
    // telemetry state.
    run_ok(sb.shim().args(["telemetry", "on"]));
    let out =
        run_ok(install_cmd(&sb, &prefix).env("PATH", format!("{}:{}", path, path_without_cf())));
    let text = stdout(&out);
    assert!(text.contains("Reinstalled cfdev-shim"), "{text}");
    assert!(
        text.contains(&format!(
            "Real cf found at {}",
            sb.path("real/cf").display()
        )),
        "{text}"
    );
    assert!(text.contains("Telemetry is ON (stored choice)"), "{text}");
    assert!(!stderr(&out).contains("warning"), "{}", stderr(&out));
    sb.clear_calls();
    run_ok(
        sb.command(prefix.join("bin/cf"))
            .args(["push", "my-app"])
            .env("PATH", &path)
            .env("CFDEV_SHIM_FLUSH_INTERVAL", "999999"),
    );
    let pending = sb.events().len();
    assert!(pending > 0);

    // Uninstall removes exactly what it installed and says what it leaves.
    std::fs::write(prefix.join("bin/users-own-tool"), "keep me").unwrap();
    let out = run_ok(
        install_cmd(&sb, &prefix)
            .arg("--uninstall")
            .env("PATH", path_without_cf()),
    );
    assert!(
        stdout(&out).contains(&format!(
            "Kept your telemetry choice (on) and {pending} pending event(s) in {}",
            sb.state().display()
        )),
        "{}",
        stdout(&out)
    );
    for f in INSTALLED {
        assert!(!prefix.join(f).exists(), "{f} removed");
    }
    assert!(!prefix.join("bin/cf").exists());
    assert!(!prefix.join("shims").exists());
    assert!(!prefix.join("share").exists());
    assert!(prefix.join("bin/users-own-tool").exists());
    assert!(sb.path("real/cf").exists(), "the real cf is never touched");
    assert!(
        sb.state().join("config.json").exists(),
        "the recorded choice is kept"
    );
    assert_eq!(sb.events().len(), pending, "pending events are kept");
}

/// Files an install writes under its prefix.
const INSTALLED: &[&str] = &[
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
    "share/man/man1/cfdev-shim.1",
    "share/man/man1/cfdev-shim-telemetry.1",
    "share/man/man1/cfdev-collector.1",
    "share/man/man1/cfdev-collector-serve.1",
    "share/bash-completion/completions/cfdev-shim",
    "share/bash-completion/completions/cfdev-collector",
    "share/zsh/site-functions/_cfdev-shim",
    "share/zsh/site-functions/_cfdev-collector",
    "share/fish/vendor_completions.d/cfdev-shim.fish",
    "share/fish/vendor_completions.d/cfdev-collector.fish",
];

#[test]
fn from_an_unpacked_archive_without_cargo() {
    let sb = Sandbox::new();
    let archive = unpacked_archive(&sb);
    let prefix = sb.path("prefix");
    let path = format!("{}:{SYSTEM_PATH}", sb.path("real").display());
    let out = run_ok(install_from(&sb, &archive, &prefix).env("PATH", &path));
    let text = stdout(&out);
    assert!(text.contains("from the archive"), "{text}");
    assert!(text.contains("Real cf found at"), "{text}");
    assert_eq!(stderr(&out), "", "no warning");
    for f in INSTALLED {
        assert!(prefix.join(f).is_file(), "{f} installed");
    }
    assert_eq!(
        std::fs::read(prefix.join("bin/cfdev-shim")).unwrap(),
        std::fs::read(SHIM).unwrap()
    );
    run_ok(
        sb.command(prefix.join("bin/cf"))
            .arg("apps")
            .env("PATH", format!("{}/bin:{path}", prefix.display())),
    );
    assert!(went_through_wrapper(&sb));

    // The completions load in each shell.
    let checks: &[(&str, &str)] = &[
        ("bash", "source {d}/bash-completion/completions/cfdev-shim && complete -p cfdev-shim"),
        ("zsh", "fpath=({d}/zsh/site-functions $fpath) && autoload -Uz compinit && compinit -u -d {d}/zcompdump && autoload -Uz _cfdev-shim && whence -w _cfdev-shim"),
        ("fish", "source {d}/fish/vendor_completions.d/cfdev-shim.fish && complete -c cfdev-shim | grep -q telemetry"),
    ];
    for (shell, script) in checks {
        if !shell_available(shell) {
            continue;
        }
        let script = script.replace("{d}", prefix.join("share").to_str().unwrap());
        let out = run(sb
            .command(shell)
            .arg("-c")
            .arg(&script)
            .env("PATH", SYSTEM_PATH));
        assert!(
            out.status.success(),
            "{shell}: {}{}",
            stdout(&out),
            stderr(&out)
        );
    }

    // From an archive the wrapper's own endpoint rule is asked too, before
    // anything is written (this one passes install.sh's shell check).
    let prefix3 = sb.path("prefix3");
    let out = run_code(
        install_from(&sb, &archive, &prefix3)
            .args(["--endpoint", "http://[::1"])
            .env("PATH", &path),
        1,
    );
    assert!(
        stderr(&out).starts_with("install.sh: --endpoint 'http://[::1': "),
        "{}",
        stderr(&out)
    );
    assert_eq!(stderr(&out).lines().count(), 1, "{}", stderr(&out));
    assert!(!prefix3.exists());

    // A changed binary is refused before anything is written.
    let prefix2 = sb.path("prefix2");
    let mut bytes = std::fs::read(archive.join("cfdev-collector")).unwrap();
    bytes.push(0);
    std::fs::write(archive.join("cfdev-collector"), bytes).unwrap();
    let out = run_code(install_from(&sb, &archive, &prefix2).env("PATH", &path), 1);
    assert!(
        stderr(&out).ends_with("install.sh: the files beside install.sh do not match SHA256SUMS: the archive is damaged or was changed\n"),
        "{}",
        stderr(&out)
    );
    assert!(!prefix2.exists());
}

#[test]
fn purge_deletes_only_what_the_wrapper_wrote() {
    let sb = Sandbox::new();
    let archive = unpacked_archive(&sb);
    let prefix = sb.path("prefix");
    let path = format!("{}:{SYSTEM_PATH}", sb.path("real").display());
    run_ok(install_from(&sb, &archive, &prefix).env("PATH", &path));
    sb.telemetry_on();
    run_ok(
        sb.command(prefix.join("bin/cf"))
            .args(["push", "my-app"])
            .env("PATH", format!("{}/bin:{path}", prefix.display()))
            .env("CFDEV_SHIM_FLUSH_INTERVAL", "999999"),
    );
    assert!(!sb.events().is_empty());
    // The state root is shared with the user's own files.
    std::fs::write(sb.state().join("notes.txt"), "mine").unwrap();
    std::fs::create_dir_all(sb.state().join("spool")).unwrap();
    std::fs::write(sb.state().join("spool/keep.txt"), "mine too").unwrap();
    let ours: Vec<PathBuf> = sb
        .state_files()
        .into_iter()
        .filter(|p| !p.ends_with("notes.txt") && !p.ends_with("spool/keep.txt"))
        .collect();
    assert!(ours.iter().any(|p| p.ends_with("config.json")));
    assert!(ours.iter().any(|p| p.ends_with("telemetry-on")));
    assert!(ours.iter().any(|p| p.ends_with("spool/events.jsonl")));

    let out = run_ok(
        install_from(&sb, &archive, &prefix)
            .args(["--uninstall", "--purge"])
            .env("PATH", &path),
    );
    let text = stdout(&out);
    assert!(
        text.contains("Deleted the recorded telemetry choice"),
        "{text}"
    );
    assert!(
        text.contains(&format!("Left 2 other entries in {}", sb.state().display())),
        "{text}"
    );
    let mut left = sb.state_files();
    left.sort();
    assert_eq!(
        left,
        [
            sb.state().join("notes.txt"),
            sb.state().join("spool/keep.txt")
        ],
        "only the user's files are left"
    );
    assert!(!prefix.exists());
}

/// Each bad option fails with one line, before anything is built or written.
#[test]
fn bad_options_fail_before_anything_is_written() {
    let sb = Sandbox::new();
    let before = source_tree_snapshot();
    let prefix = sb.path("p");
    let inside_new = format!("{SOURCE}/not-yet/../x");
    let inside_shims = format!("{SOURCE}/shims");
    let bad: &[(&[&str], &str)] = &[
        (&["--bogus"], "unknown option '--bogus'"),
        (&["--write-key", "k"], "--write-key needs --endpoint"),
        (
            &["--endpoint", "not-a-url"],
            "--endpoint 'not-a-url' must start with http:// or https://",
        ),
        (
            &["--endpoint", "ftp://x.example"],
            "must start with http:// or https://",
        ),
        (
            &["--endpoint", "http://user:pw@x.example"],
            "must not hold a user name or password",
        ),
        (
            &["--endpoint", "https://x.example/?k=v"],
            "must not have a query (?) or fragment (#)",
        ),
        (
            &["--endpoint", "https://x.example/#top"],
            "must not have a query (?) or fragment (#)",
        ),
        (&["--endpoint", "http:///v1"], "has no host"),
        (
            &["--endpoint", "http://x.example:99999"],
            "has a bad port '99999'",
        ),
        (
            &["--endpoint", "http://x.example", "--write-key", ""],
            "--write-key must not be empty",
        ),
        (&["--purge"], "--purge goes with --uninstall"),
        (
            &["--uninstall", "--endpoint", "http://x.example"],
            "go with an install, not --uninstall",
        ),
        (&["--prefix", ""], "--prefix must not be empty"),
        (&["--prefix", SOURCE], "is inside"),
        (&["--prefix", &inside_shims], "is inside"),
        (&["--prefix", &inside_new], "is inside"),
        (
            &["--prefix", "/tmp/a\"b"],
            "holds a character the shell snippets cannot quote",
        ),
        (&["--endpoint"], "--endpoint needs a URL"),
    ];
    for (args, message) in bad {
        for uninstall in [false, true] {
            if uninstall && !args.iter().any(|a| a.starts_with("--prefix")) {
                continue;
            }
            let mut cmd = install_cmd(&sb, &prefix);
            cmd.args(*args).env("PATH", SYSTEM_PATH);
            if uninstall {
                cmd.arg("--uninstall");
            }
            let out = run_code(&mut cmd, 1);
            let err = stderr(&out);
            assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
            assert!(
                err.starts_with("install.sh: ") && err.contains(message),
                "{args:?}: {err}"
            );
            assert_eq!(stdout(&out), "", "{args:?}");
        }
    }
    assert!(!prefix.exists(), "nothing installed");
    assert!(!sb.state().join("config.json").exists());
    assert_eq!(
        source_tree_snapshot(),
        before,
        "the source tree is unchanged"
    );
}

/// A system directory gets a warning before anything happens (here the
/// install then stops: install.sh has neither binaries nor sources beside it).
#[test]
fn a_system_directory_is_warned_about_first() {
    let sb = Sandbox::new();
    let lone = sb.path("lone");
    std::fs::create_dir_all(&lone).unwrap();
    std::fs::copy(
        Path::new(SOURCE).join("install.sh"),
        lone.join("install.sh"),
    )
    .unwrap();
    let prefix = Path::new("/usr/local/cfdev-shim-test-not-created");
    let out = run_code(install_from(&sb, &lone, prefix).env("PATH", SYSTEM_PATH), 1);
    let err = stderr(&out);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 2, "{err}");
    assert!(
        lines[0].starts_with(&format!(
            "warning: {} is a system directory",
            prefix.display()
        )),
        "{err}"
    );
    assert!(
        lines[1].contains("neither prebuilt binaries nor a source tree"),
        "{err}"
    );
    assert!(!prefix.exists());
    // Uninstalling needs neither.
    let out = run_ok(
        install_from(&sb, &lone, &sb.path("never-installed"))
            .arg("--uninstall")
            .env("PATH", SYSTEM_PATH),
    );
    assert!(
        stdout(&out).starts_with("Nothing to uninstall in "),
        "{}",
        stdout(&out)
    );
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
    write_executable(&out, &src.replace("@BIN@", bin.to_str().unwrap()));
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
