// The fake cf used by the integration tests: compiled by the test suite with
// rustc. It records what it received and behaves as told by FAKE_CF_* vars.
use std::io::{Read, Write};
use std::os::unix::ffi::OsStrExt;

extern "C" {
    fn raise(sig: i32) -> i32;
    fn signal(sig: i32, handler: usize) -> usize;
    fn isatty(fd: i32) -> i32;
    fn getpid() -> i32;
    fn getppid() -> i32;
}

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

fn main() {
    let mut stdin_bytes = Vec::new();
    if var("FAKE_CF_READ_STDIN").is_some() || var("FAKE_CF_CAT").is_some() {
        let _ = std::io::stdin().read_to_end(&mut stdin_bytes);
    }
    if let Some(dir) = var("FAKE_CF_LOG") {
        let pid = unsafe { getpid() };
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let call = std::path::Path::new(&dir).join(format!("call-{nanos}-{pid}"));
        let tmp = std::path::Path::new(&dir).join(format!(".tmp-{nanos}-{pid}"));
        std::fs::create_dir_all(&tmp).unwrap();
        let mut argv = Vec::new();
        for a in std::env::args_os() {
            argv.extend_from_slice(a.as_bytes());
            argv.push(0);
        }
        std::fs::write(tmp.join("argv"), argv).unwrap();
        let mut env = Vec::new();
        for (k, v) in std::env::vars_os() {
            env.extend_from_slice(k.as_bytes());
            env.push(b'=');
            env.extend_from_slice(v.as_bytes());
            env.push(0);
        }
        std::fs::write(tmp.join("env"), env).unwrap();
        let cwd = std::env::current_dir().unwrap();
        std::fs::write(tmp.join("cwd"), cwd.as_os_str().as_bytes()).unwrap();
        let tty = unsafe { format!("{} {} {}", isatty(0), isatty(1), isatty(2)) };
        std::fs::write(tmp.join("tty"), tty).unwrap();
        let ids = unsafe { format!("{} {}", getpid(), getppid()) };
        std::fs::write(tmp.join("pid"), ids).unwrap();
        std::fs::write(tmp.join("stdin"), &stdin_bytes).unwrap();
        std::fs::rename(&tmp, &call).unwrap();
    }
    if var("FAKE_CF_ECHO_ARGS").is_some() {
        let args: Vec<String> =
            std::env::args_os().skip(1).map(|a| a.to_string_lossy().into_owned()).collect();
        println!("args: {}", args.join("|"));
    }
    if let Some(text) = var("FAKE_CF_STDOUT") {
        print!("{text}");
    }
    if let Some(text) = var("FAKE_CF_STDERR") {
        eprint!("{text}");
    }
    if var("FAKE_CF_CAT").is_some() {
        std::io::stdout().write_all(&stdin_bytes).unwrap();
    }
    let _ = std::io::stdout().flush();
    if let Some(ms) = var("FAKE_CF_SLEEP_MS").and_then(|v| v.parse().ok()) {
        std::thread::sleep(std::time::Duration::from_millis(ms));
    }
    if let Some(sig) = var("FAKE_CF_SIGNAL").and_then(|v| v.parse().ok()) {
        unsafe {
            signal(sig, 0);
            raise(sig);
        }
    }
    std::process::exit(var("FAKE_CF_EXIT").and_then(|v| v.parse().ok()).unwrap_or(0));
}
