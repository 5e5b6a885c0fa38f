// Exec helper for the integration tests: sets up what a caller can leave a
// program (ignored and blocked signals, resource limits, a raw environment
// block) and execs it, so tests can check that cf gets exactly that.
//   exec_with [--env ENTRY]... [--ignore SIG]... [--block SIG]...
//             [--rlimit RESOURCE=SOFT]... -- PROGRAM ARGV0 ARGS...
// Every signal starts at its default (a Rust parent's posix_spawn hands its
// children glibc's signals 32 and 33 as ignored). --env entries are passed
// byte for byte (no `=` needed); without any --env the environment is
// empty. Exit 7 with "E2BIG" when exec says so.
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;

#[repr(C)]
struct Rlimit {
    cur: u64,
    max: u64,
}

extern "C" {
    fn execve(path: *const i8, argv: *const *const i8, envp: *const *const i8) -> i32;
    fn signal(sig: i32, handler: usize) -> usize;
    fn syscall(n: i64, ...) -> i64;
    fn getrlimit(resource: i32, rlim: *mut Rlimit) -> i32;
    fn setrlimit(resource: i32, rlim: *const Rlimit) -> i32;
}

#[cfg(target_arch = "x86_64")]
const SYS_RT_SIGPROCMASK: i64 = 14;
#[cfg(target_arch = "aarch64")]
const SYS_RT_SIGPROCMASK: i64 = 135;
#[cfg(target_arch = "x86_64")]
const SYS_RT_SIGACTION: i64 = 13;
#[cfg(target_arch = "aarch64")]
const SYS_RT_SIGACTION: i64 = 134;

/// The kernel's struct sigaction (handler, flags, restorer, mask).
#[repr(C)]
struct KernelSigaction {
    handler: usize,
    flags: u64,
    restorer: usize,
    mask: u64,
}
const SIG_IGN: usize = 1;
const SIG_DFL: usize = 0;

fn resource(name: &str) -> i32 {
    match name {
        "CORE" => 4,
        "NOFILE" => 7,
        "STACK" => 3,
        "NPROC" => 6,
        "CPU" => 0,
        other => panic!("unknown resource {other}"),
    }
}

fn main() {
    // The raw call: glibc's sigaction refuses its own signals.
    let default = KernelSigaction { handler: SIG_DFL, flags: 0, restorer: 0, mask: 0 };
    for sig in (1..=64i64).filter(|s| *s != 9 && *s != 19) {
        let rc = unsafe { syscall(SYS_RT_SIGACTION, sig, &default as *const KernelSigaction, 0usize, 8usize) };
        assert_eq!(rc, 0, "rt_sigaction {sig}");
    }
    let mut args = std::env::args_os().skip(1);
    let mut env: Vec<CString> = Vec::new();
    let mut mask: u64 = 0;
    while let Some(arg) = args.next() {
        match arg.to_str() {
            Some("--env") => env.push(CString::new(args.next().unwrap().as_bytes()).unwrap()),
            Some("--ignore") => {
                let sig: i32 = args.next().unwrap().to_str().unwrap().parse().unwrap();
                unsafe { signal(sig, SIG_IGN) };
            }
            Some("--block") => {
                let sig: u32 = args.next().unwrap().to_str().unwrap().parse().unwrap();
                mask |= 1u64 << (sig - 1);
            }
            Some("--rlimit") => {
                let spec = args.next().unwrap().into_string().unwrap();
                let (name, value) = spec.split_once('=').unwrap();
                let mut lim = Rlimit { cur: 0, max: 0 };
                unsafe { getrlimit(resource(name), &mut lim) };
                lim.cur = value.parse().unwrap();
                assert_eq!(unsafe { setrlimit(resource(name), &lim) }, 0, "setrlimit {spec}");
            }
            Some("--") => break,
            _ => panic!("unexpected argument {arg:?}"),
        }
    }
    let program = CString::new(args.next().unwrap().as_bytes()).unwrap();
    let argv: Vec<CString> = args.map(|a| CString::new(a.as_bytes()).unwrap()).collect();
    let mut argv_ptrs: Vec<*const i8> = argv.iter().map(|a| a.as_ptr()).collect();
    argv_ptrs.push(std::ptr::null());
    let mut env_ptrs: Vec<*const i8> = env.iter().map(|e| e.as_ptr()).collect();
    env_ptrs.push(std::ptr::null());
    // The raw call: glibc's sigprocmask would refuse its own signals.
    let rc = unsafe { syscall(SYS_RT_SIGPROCMASK, 0i64, &mask as *const u64, 0usize, 8usize) };
    assert_eq!(rc, 0, "rt_sigprocmask");
    unsafe { execve(program.as_ptr(), argv_ptrs.as_ptr(), env_ptrs.as_ptr()) };
    let err = std::io::Error::last_os_error();
    if err.raw_os_error() == Some(7) {
        eprintln!("E2BIG");
        std::process::exit(7);
    }
    eprintln!("exec_with: {err}");
    std::process::exit(126);
}
