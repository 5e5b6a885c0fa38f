//! Sandbox for integration tests: a temp dir with a fake cf, the wrapper
//! linked in as `cf`, a private state root, and helpers that print the
//! command, stdout and stderr when an assertion fails.

use serde_json::Value;
use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub const SHIM: &str = env!("CARGO_BIN_EXE_cfdev-shim");

/// Compiles `tests/support/NAME.rs` into the target's temp dir.
fn build_support(name: &str) -> PathBuf {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/support/{name}.rs"));
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let out = dir.join(format!("{name}-{}", std::process::id()));
    let status = Command::new(std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into()))
        .args(["--edition", "2021", "-O", "-o"])
        .arg(&out)
        .arg(&src)
        .status()
        .expect("rustc runs");
    assert!(status.success(), "building {name} failed");
    out
}

/// Copies an executable that tests will run. The copy is written by a child
/// process (`cp`), never through a descriptor of this multi-threaded test
/// process: a write descriptor inherited by another test's forked child in
/// the instant before its exec makes running the file fail with ETXTBSY
/// ("Text file busy").
pub fn copy_executable(src: &Path, dst: &Path) {
    let status = Command::new("cp")
        .arg(src)
        .arg(dst)
        .status()
        .expect("cp runs");
    assert!(
        status.success(),
        "cp {} {} failed",
        src.display(),
        dst.display()
    );
}

/// Writes an executable script that tests will run, through a child process
/// for the same reason as [`copy_executable`].
pub fn write_executable(dst: &Path, contents: &str) {
    use std::io::Write;
    let mut child = Command::new("sh")
        .args(["-c", "cat > \"$0\" && chmod 755 \"$0\""])
        .arg(dst)
        .stdin(std::process::Stdio::piped())
        .spawn()
        .expect("sh runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(contents.as_bytes())
        .unwrap();
    assert!(
        child.wait().unwrap().success(),
        "writing {} failed",
        dst.display()
    );
}

/// Builds the fake cf once per test run.
pub fn fake_cf_binary() -> &'static Path {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| build_support("fake_cf"))
}

/// Builds the exec helper (`tests/support/exec_with.rs`) once per test run.
pub fn exec_with_binary() -> &'static Path {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| build_support("exec_with"))
}

pub struct Sandbox {
    pub root: tempfile::TempDir,
    /// Added to every command's environment (after the sandbox's own).
    pub extra_env: Vec<(&'static str, &'static str)>,
}

/// One recorded invocation of the fake cf.
#[derive(Debug)]
pub struct Call {
    pub argv: Vec<OsString>,
    pub env: Vec<(OsString, OsString)>,
    pub cwd: PathBuf,
    pub tty: String,
    pub pid: u32,
    pub ppid: u32,
    pub stdin: Vec<u8>,
    /// The environment block entry for entry (entries without `=` included).
    pub environ: Vec<Vec<u8>>,
    /// SigBlk/SigIgn/SigCgt lines of cf's /proc/self/status.
    pub signals: String,
    /// cf's /proc/self/limits.
    pub limits: String,
}

impl Sandbox {
    pub fn new() -> Sandbox {
        let root = tempfile::Builder::new()
            .prefix("cfdev-shim-test")
            .tempdir()
            .unwrap();
        let sb = Sandbox {
            root,
            extra_env: Vec::new(),
        };
        for d in ["bin", "real", "home", "state", "log", "work"] {
            std::fs::create_dir_all(sb.path(d)).unwrap();
        }
        copy_executable(fake_cf_binary(), &sb.path("real/cf"));
        std::os::unix::fs::symlink(SHIM, sb.path("bin/cf")).unwrap();
        sb
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.root.path().join(rel)
    }

    pub fn state(&self) -> PathBuf {
        self.path("state")
    }

    pub fn default_path(&self) -> OsString {
        let mut p = OsString::from(self.path("bin"));
        p.push(":");
        p.push(self.path("real"));
        p.push(":/usr/bin:/bin");
        p
    }

    /// A command with the sandbox environment: nothing from the real home.
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut cmd = Command::new(program);
        cmd.env_clear()
            .env("PATH", self.default_path())
            .env("HOME", self.path("home"))
            .env("CFDEV_SHIM_HOME", self.state())
            .env("FAKE_CF_LOG", self.path("log"))
            .env("LANG", "C")
            .envs(self.extra_env.iter().copied())
            .current_dir(self.path("work"));
        cmd
    }

    /// `cf` through the wrapper (symlink named cf, first on PATH).
    pub fn cf(&self) -> Command {
        self.command(self.path("bin/cf"))
    }

    /// The fake cf run directly, same environment.
    pub fn direct(&self) -> Command {
        self.command(self.path("real/cf"))
    }

    /// `cfdev-shim ARGS`.
    pub fn shim(&self) -> Command {
        self.command(SHIM)
    }

    pub fn telemetry_on(&self) {
        run_ok(self.shim().args(["telemetry", "on"]));
    }

    pub fn calls(&self) -> Vec<Call> {
        let mut dirs: Vec<PathBuf> = std::fs::read_dir(self.path("log"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| {
                p.file_name()
                    .unwrap()
                    .to_string_lossy()
                    .starts_with("call-")
            })
            .collect();
        dirs.sort();
        dirs.iter().map(|d| read_call(d)).collect()
    }

    pub fn clear_calls(&self) {
        std::fs::remove_dir_all(self.path("log")).unwrap();
        std::fs::create_dir_all(self.path("log")).unwrap();
    }

    pub fn spool_file(&self) -> PathBuf {
        self.state().join("spool/events.jsonl")
    }

    /// Events in the spool, oldest first.
    pub fn events(&self) -> Vec<Value> {
        let Ok(text) = std::fs::read_to_string(self.spool_file()) else {
            return Vec::new();
        };
        text.lines()
            .filter(|l| !l.is_empty())
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// Events in the spool, skipping lines that are not JSON.
    pub fn events_lossy(&self) -> Vec<Value> {
        let Ok(bytes) = std::fs::read(self.spool_file()) else {
            return Vec::new();
        };
        bytes
            .split(|b| *b == b'\n')
            .filter_map(|l| serde_json::from_slice(l).ok())
            .collect()
    }

    pub fn event_names(&self) -> Vec<String> {
        self.events()
            .iter()
            .map(|e| e["event"].as_str().unwrap().to_string())
            .collect()
    }

    /// Every file under the state root, for "nothing written" checks.
    pub fn state_files(&self) -> Vec<PathBuf> {
        fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
            for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
                let p = entry.path();
                if p.is_dir() {
                    walk(&p, out);
                } else {
                    out.push(p);
                }
            }
        }
        let mut out = Vec::new();
        walk(&self.state(), &mut out);
        out
    }
}

fn split_nul(bytes: &[u8]) -> Vec<Vec<u8>> {
    let mut parts: Vec<Vec<u8>> = bytes.split(|b| *b == 0).map(|p| p.to_vec()).collect();
    parts.pop();
    parts
}

fn read_call(dir: &Path) -> Call {
    let argv = split_nul(&std::fs::read(dir.join("argv")).unwrap())
        .into_iter()
        .map(OsString::from_vec)
        .collect();
    let env = split_nul(&std::fs::read(dir.join("env")).unwrap())
        .into_iter()
        .filter_map(|kv| {
            let eq = kv.iter().position(|b| *b == b'=')?;
            Some((
                OsString::from_vec(kv[..eq].to_vec()),
                OsString::from_vec(kv[eq + 1..].to_vec()),
            ))
        })
        .collect();
    let ids = std::fs::read_to_string(dir.join("pid")).unwrap();
    let mut ids = ids.split_whitespace().map(|n| n.parse().unwrap());
    Call {
        argv,
        env,
        cwd: PathBuf::from(OsString::from_vec(std::fs::read(dir.join("cwd")).unwrap())),
        tty: std::fs::read_to_string(dir.join("tty")).unwrap(),
        pid: ids.next().unwrap(),
        ppid: ids.next().unwrap(),
        stdin: std::fs::read(dir.join("stdin")).unwrap(),
        environ: split_nul(&std::fs::read(dir.join("environ")).unwrap_or_default()),
        signals: std::fs::read_to_string(dir.join("signals")).unwrap_or_default(),
        limits: std::fs::read_to_string(dir.join("limits")).unwrap_or_default(),
    }
}

pub fn describe(cmd: &Command, out: &Output) -> String {
    format!(
        "command: {cmd:?}\nstatus: {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

pub fn run(cmd: &mut Command) -> Output {
    cmd.stdin(std::process::Stdio::null());
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

/// Runs and asserts exit status 0.
pub fn run_ok(cmd: &mut Command) -> Output {
    let out = run(cmd);
    assert!(
        out.status.success(),
        "expected success\n{}",
        describe(cmd, &out)
    );
    out
}

/// Runs and asserts the exit code.
pub fn run_code(cmd: &mut Command, code: i32) -> Output {
    let out = run(cmd);
    assert_eq!(
        out.status.code(),
        Some(code),
        "wrong exit code\n{}",
        describe(cmd, &out)
    );
    out
}

/// Polls `check` until it is true or the deadline passes.
pub fn wait_until(what: &str, timeout: Duration, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if check() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("timed out waiting for {what}");
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// `cfdev-shim telemetry status --json`.
pub fn status(sb: &Sandbox) -> Value {
    serde_json::from_slice(&run_ok(sb.shim().args(["telemetry", "status", "--json"])).stdout)
        .unwrap()
}

/// Background delivery processes belonging to this sandbox.
pub fn deliveries_running(sb: &Sandbox) -> usize {
    delivery_pids(sb).len()
}

/// PIDs of the background delivery processes belonging to this sandbox.
pub fn delivery_pids(sb: &Sandbox) -> Vec<u32> {
    let marker = format!("CFDEV_SHIM_HOME={}", sb.state().display());
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| {
            let pid: u32 = e.file_name().to_string_lossy().parse().ok()?;
            let cmd = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
            let env = std::fs::read(e.path().join("environ")).unwrap_or_default();
            (String::from_utf8_lossy(&cmd).contains("__deliver")
                && env.split(|b| *b == 0).any(|kv| kv == marker.as_bytes()))
            .then_some(pid)
        })
        .collect()
}

/// Runs `check` in a fresh sandbox on each path a cf call can take, naming
/// it: telemetry undecided, cf exec'd ("exec"), or on, cf run as a child and
/// waited for ("spawn"); each both started before the C runtime starts
/// (src/forwarding/early.rs) and, with `CFDEV_SHIM_EARLY=0`, after it
/// ("exec-late", "spawn-late").
pub fn each_path(check: impl Fn(&Sandbox, &str)) {
    for mode in ["exec", "exec-late", "spawn", "spawn-late"] {
        let mut sb = Sandbox::new();
        if mode.starts_with("spawn") {
            sb.telemetry_on();
        }
        if mode.ends_with("-late") {
            sb.extra_env.push(("CFDEV_SHIM_EARLY", "0"));
        }
        check(&sb, mode);
    }
}
