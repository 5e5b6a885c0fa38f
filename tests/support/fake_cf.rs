// The fake cf used by the integration tests: compiled by the test suite with
// rustc. It records what it received and behaves as told by FAKE_CF_* vars.
// It takes over the C `main` so that std's runtime leaves the signal state it
// inherited alone (std would ignore SIGPIPE and catch SIGSEGV/SIGBUS), and
// the recorded dispositions are the ones the caller handed over.
#![no_main]
use std::io::{Read, Write};
use std::os::unix::ffi::OsStrExt;

extern "C" {
    fn raise(sig: i32) -> i32;
    fn signal(sig: i32, handler: usize) -> usize;
    fn isatty(fd: i32) -> i32;
    fn getpid() -> i32;
    fn getppid() -> i32;
    fn open(path: *const u8, flags: i32, mode: u32) -> i32;
    fn write(fd: i32, buf: *const u8, len: usize) -> isize;
    static environ: *const *const u8;
}

/// Where trapped signals are logged (FAKE_CF_SIGNAL_LOG), one number a line.
static mut SIGNAL_LOG_FD: i32 = -1;

extern "C" fn log_signal(sig: i32) {
    let mut buf = [0u8; 8];
    let mut n = sig as u32;
    let mut len = 0;
    let mut digits = [0u8; 4];
    loop {
        digits[len] = b'0' + (n % 10) as u8;
        len += 1;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for i in 0..len {
        buf[i] = digits[len - 1 - i];
    }
    buf[len] = b'\n';
    unsafe { write(SIGNAL_LOG_FD, buf.as_ptr(), len + 1) };
}

/// FAKE_CF_TRAP: "all" or comma-separated numbers; each trapped signal is
/// logged to FAKE_CF_SIGNAL_LOG and otherwise ignored.
fn trap_signals() {
    let (Some(list), Some(log)) = (var("FAKE_CF_TRAP"), var("FAKE_CF_SIGNAL_LOG")) else {
        return;
    };
    let path = std::ffi::CString::new(log).unwrap();
    // O_WRONLY | O_CREAT | O_APPEND
    unsafe { SIGNAL_LOG_FD = open(path.as_ptr().cast(), 0o1 | 0o100 | 0o2000, 0o600) };
    let sigs: Vec<i32> = if list == "all" {
        (1..=64).filter(|s| ![9, 19, 32, 33].contains(s)).collect()
    } else {
        list.split(',').filter_map(|s| s.trim().parse().ok()).collect()
    };
    for sig in sigs {
        unsafe { signal(sig, log_signal as *const () as usize) };
    }
}

/// The environment block entry for entry, as the kernel handed it over.
fn raw_environ() -> Vec<u8> {
    let mut out = Vec::new();
    unsafe {
        let mut p = environ;
        while !p.is_null() && !(*p).is_null() {
            let entry = std::ffi::CStr::from_ptr((*p).cast());
            out.extend_from_slice(entry.to_bytes());
            out.push(0);
            p = p.add(1);
        }
    }
    out
}

/// The signal lines of /proc/self/status (blocked, ignored, caught).
fn signal_state() -> String {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .filter(|l| l.starts_with("SigBlk") || l.starts_with("SigIgn") || l.starts_with("SigCgt"))
        .map(|l| format!("{l}\n"))
        .collect()
}

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

#[no_mangle]
pub extern "C" fn main(_argc: i32, _argv: *const *const u8) -> i32 {
    let signal_state = signal_state();
    trap_signals();
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
        std::fs::write(tmp.join("environ"), raw_environ()).unwrap();
        std::fs::write(tmp.join("signals"), &signal_state).unwrap();
        let limits = std::fs::read("/proc/self/limits").unwrap_or_default();
        std::fs::write(tmp.join("limits"), limits).unwrap();
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
    // A plugin-like child: runs `cf ARGS` (found on PATH) and exits with its
    // status.
    let mut exit_code = var("FAKE_CF_EXIT").and_then(|v| v.parse().ok()).unwrap_or(0);
    if let Some(args) = var("FAKE_CF_CHILD") {
        let status = std::process::Command::new("cf")
            .args(args.split(' '))
            .env_remove("FAKE_CF_CHILD")
            .status();
        exit_code = match status {
            Ok(s) => s.code().unwrap_or(200),
            Err(_) => 201,
        };
    }
    if let Some(ms) = var("FAKE_CF_SLEEP_MS").and_then(|v| v.parse().ok()) {
        std::thread::sleep(std::time::Duration::from_millis(ms));
    }
    if let Some(sig) = var("FAKE_CF_SIGNAL").and_then(|v| v.parse().ok()) {
        unsafe {
            signal(sig, 0);
            raise(sig);
        }
    }
    std::process::exit(exit_code);
}
