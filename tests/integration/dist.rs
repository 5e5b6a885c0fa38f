//! scripts/dist as a release manager runs it: two builds of the same commit
//! give the same bytes, and what they give installs without cargo (archive)
//! and installs and removes cleanly (Debian package, in a dpkg --root).

use crate::util::*;
use std::path::{Path, PathBuf};
use std::process::Command;

const SOURCE: &str = env!("CARGO_MANIFEST_DIR");

/// PATH with cargo (for the builds) and the system's tools.
fn path_with_cargo() -> String {
    let cargo = Path::new(env!("CARGO"))
        .parent()
        .unwrap()
        .display()
        .to_string();
    format!("{cargo}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
}

/// `scripts/dist --out OUT --work target/dist-test/NAME --commit COMMIT`:
/// each name keeps its own export and target directory, so the two builds
/// share nothing; the commit is pinned, whatever HEAD does meanwhile.
fn dist(out: &Path, name: &str, commit: &str) -> Vec<String> {
    let work = Path::new(SOURCE).join("target/dist-test").join(name);
    let output = run_ok(
        Command::new(Path::new(SOURCE).join("scripts/dist"))
            .arg("--out")
            .arg(out)
            .arg("--work")
            .arg(&work)
            .args(["--commit", commit])
            .env("PATH", path_with_cargo())
            .env_remove("SOURCE_DATE_EPOCH")
            .current_dir(SOURCE),
    );
    stdout(&output).lines().map(String::from).collect()
}

fn file_name(path: &str) -> String {
    Path::new(path)
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

/// True when the ELF file asks for no program interpreter (static).
fn is_static_elf(path: &Path) -> bool {
    let b = std::fs::read(path).unwrap();
    assert_eq!(&b[..4], b"\x7fELF", "{}", path.display());
    let u16_at = |o: usize| u16::from_le_bytes([b[o], b[o + 1]]) as usize;
    let phoff = u64::from_le_bytes(b[0x20..0x28].try_into().unwrap()) as usize;
    let (phentsize, phnum) = (u16_at(0x36), u16_at(0x38));
    (0..phnum).all(|i| {
        let p_type = u32::from_le_bytes(b[phoff + i * phentsize..][..4].try_into().unwrap());
        p_type != 3 // PT_INTERP
    })
}

#[test]
fn release_files_are_reproducible_and_install() {
    let sb = Sandbox::new();
    let (a, b) = (sb.path("dist-a"), sb.path("dist-b"));
    let commit = stdout(&run_ok(
        Command::new("git")
            .args(["rev-parse", "HEAD"])
            .current_dir(SOURCE),
    ))
    .trim()
    .to_string();
    let started = std::time::Instant::now();
    let listed = dist(&a, "a", &commit);
    let first = started.elapsed();
    dist(&b, "b", &commit);
    eprintln!(
        "scripts/dist: {:.0} s, then {:.0} s",
        first.as_secs_f64(),
        (started.elapsed() - first).as_secs_f64()
    );
    let names: Vec<String> = listed.iter().map(|p| file_name(p)).collect();
    let version = env!("CARGO_PKG_VERSION");
    let tarball = format!("cfdev-shim-{version}-x86_64-unknown-linux-gnu.tar.gz");
    let deb = format!("cfdev-shim_{version}_amd64.deb");
    assert_eq!(
        names,
        [tarball.clone(), deb.clone(), "SHA256SUMS".to_string()]
    );
    // File by file first, so that a difference names its file.
    let top = format!("cfdev-shim-{version}-x86_64-unknown-linux-gnu");
    let staged = |build: &str| {
        Path::new(SOURCE)
            .join("target/dist-test")
            .join(build)
            .join("stage")
            .join(&top)
    };
    let differing: Vec<PathBuf> = walk_files(&staged("a"))
        .into_iter()
        .filter(|f| {
            let other = staged("b").join(f.strip_prefix(staged("a")).unwrap());
            std::fs::read(f).ok() != std::fs::read(other).ok()
        })
        .collect();
    assert!(
        differing.is_empty(),
        "built differently twice: {differing:?}"
    );
    for name in &names {
        assert!(
            std::fs::read(a.join(name)).unwrap() == std::fs::read(b.join(name)).unwrap(),
            "{name} differs between two builds of the same commit"
        );
    }
    run_ok(
        Command::new("sha256sum")
            .args(["-c", "SHA256SUMS"])
            .current_dir(&a),
    );

    // The archive: sorted entries, root-owned, all dated at the commit.
    let commit_time = String::from_utf8(
        run_ok(
            Command::new("git")
                .args(["log", "-1", "--format=%ct", &commit])
                .current_dir(SOURCE),
        )
        .stdout,
    )
    .unwrap()
    .trim()
    .parse::<i64>()
    .unwrap();
    let listing = stdout(&run_ok(
        Command::new("tar")
            .args([
                "--list",
                "--verbose",
                "--full-time",
                "--numeric-owner",
                "-zf",
            ])
            .arg(a.join(&tarball)),
    ));
    let entries: Vec<&str> = listing
        .lines()
        .map(|l| l.split_whitespace().last().unwrap())
        .collect();
    let mut sorted = entries.clone();
    sorted.sort();
    assert_eq!(entries, sorted, "entries sorted");
    let stamp = stdout(&run_ok(Command::new("date").args([
        "-u",
        "-d",
        &format!("@{commit_time}"),
        "+%Y-%m-%d %H:%M:%S",
    ])));
    for line in listing.lines() {
        assert!(line.contains(" 0/0 "), "owner: {line}");
        assert!(
            line.contains(stamp.trim()),
            "mtime {}: {line}",
            stamp.trim()
        );
    }
    for f in [
        "cfdev-shim",
        "cfdev-collector",
        "install.sh",
        "README.md",
        "LICENSE",
        "SHA256SUMS",
        "shims/function.bash",
        "shims/cf",
        "docs/privacy.md",
        "completions/_cfdev-shim",
        "completions/cfdev-collector.fish",
        "man/man1/cfdev-shim.1",
        "man/man1/cfdev-collector-serve.1",
    ] {
        assert!(
            entries.contains(&format!("{top}/{f}").as_str()),
            "{f} in the archive"
        );
    }

    // Unpacked on a machine without cargo: install.sh installs the prebuilt,
    // static binaries and cf goes through the wrapper.
    run_ok(
        Command::new("tar")
            .arg("-xzf")
            .arg(a.join(&tarball))
            .current_dir(sb.path("work")),
    );
    let unpacked = sb.path("work").join(&top);
    for bin in ["cfdev-shim", "cfdev-collector"] {
        assert!(is_static_elf(&unpacked.join(bin)), "{bin} is static");
    }
    let prefix = sb.path("prefix");
    let system_path = format!("{}:/usr/bin:/bin", sb.path("real").display());
    let out = run_ok(
        Command::new(unpacked.join("install.sh"))
            .arg("--prefix")
            .arg(&prefix)
            .env_clear()
            .env("PATH", &system_path)
            .env("HOME", sb.path("home"))
            .env("CFDEV_SHIM_HOME", sb.state())
            .stdin(std::process::Stdio::null()),
    );
    assert!(
        stdout(&out).contains("from the archive"),
        "{}",
        stdout(&out)
    );
    run_ok(
        sb.command(prefix.join("bin/cf"))
            .arg("apps")
            .env("PATH", format!("{}/bin:{system_path}", prefix.display())),
    );
    let calls = sb.calls();
    assert_eq!(calls.len(), 1);
    assert!(calls[0].env.iter().any(|(k, _)| k == "__CFDEV_SHIM_GUARD"));

    // The package installs and removes cleanly, in a root of its own.
    let contents = stdout(&run_ok(
        Command::new("dpkg-deb").arg("--contents").arg(a.join(&deb)),
    ));
    for f in [
        "./usr/bin/cfdev-shim",
        "./usr/bin/cfdev-collector",
        "./usr/lib/cfdev-shim/bin/cf -> cfdev-shim",
        "./usr/share/cfdev-shim/shims/function.zsh",
        "./usr/share/man/man1/cfdev-shim.1.gz",
        "./usr/share/bash-completion/completions/cfdev-shim",
        "./usr/share/zsh/vendor-completions/_cfdev-shim",
        "./usr/share/fish/vendor_completions.d/cfdev-shim.fish",
        "./usr/share/doc/cfdev-shim/copyright",
    ] {
        assert!(contents.contains(f), "{f} in the package:\n{contents}");
    }
    assert!(
        !contents.contains("./usr/bin/cf "),
        "the package never takes /usr/bin/cf"
    );
    let root = sb.path("dpkg-root");
    let admin = root.join("var/lib/dpkg");
    for d in ["info", "updates", "triggers"] {
        std::fs::create_dir_all(admin.join(d)).unwrap();
    }
    std::fs::write(admin.join("status"), "").unwrap();
    std::fs::write(admin.join("available"), "").unwrap();
    let dpkg = |args: &[&str]| {
        let mut cmd = Command::new("dpkg");
        cmd.arg(format!("--root={}", root.display()))
            .args([
                "--log=/dev/null",
                "--force-not-root",
                "--force-script-chrootless",
            ])
            .args(args)
            .env("PATH", path_with_cargo());
        cmd
    };
    run_ok(&mut dpkg(&["--install", a.join(&deb).to_str().unwrap()]));
    let version_out =
        run_ok(Command::new(root.join("usr/lib/cfdev-shim/bin/cfdev-shim")).arg("--version"));
    assert!(
        stdout(&version_out).starts_with(&format!("cfdev-shim {version}+")),
        "{}",
        stdout(&version_out)
    );
    let function =
        std::fs::read_to_string(root.join("usr/share/cfdev-shim/shims/function.bash")).unwrap();
    assert!(function.contains("\"/usr/lib/cfdev-shim/bin/cfdev-shim\" cf"));
    let status = stdout(&run_ok(&mut dpkg(&["--status", "cfdev-shim"])));
    assert!(status.contains("Status: install ok installed"), "{status}");
    run_ok(&mut dpkg(&["--purge", "cfdev-shim"]));
    let left: Vec<PathBuf> = walk_files(&root.join("usr"));
    assert!(left.is_empty(), "left after removal: {left:?}");
}

/// Files and links under `dir` (directories themselves not listed).
fn walk_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if entry.file_type().unwrap().is_dir() {
            out.extend(walk_files(&path));
        } else {
            out.push(path);
        }
    }
    out
}
