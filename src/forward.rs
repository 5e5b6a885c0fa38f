//! Running the real cf. Two paths: `exec` replaces this process (telemetry off
//! or undecided: nothing is left behind), `spawn_and_wait` keeps us alive to
//! record the outcome (telemetry on). Both pass argv bytes, the environment
//! and every inherited descriptor and signal disposition through untouched;
//! the only addition is the recursion-guard variable (see `resolve`).

use crate::error::ErrorKind;
use std::ffi::{CString, OsString};
use std::path::Path;

/// How the real cf ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChildExit {
    Code(i32),
    Signal(i32),
}

impl ChildExit {
    pub fn success(self) -> bool {
        self == ChildExit::Code(0)
    }
}

/// The argv/envp arrays, built before any fork so the child only has to call
/// async-signal-safe functions.
pub struct Prepared {
    path: CString,
    argv: Vec<CString>,
    env_owned: Vec<CString>,
    display: String,
}

impl Prepared {
    /// `argv0` is what cf sees as its own name; `guard` is the `NAME=VALUE`
    /// entry that replaces any inherited copy of the guard variable.
    pub fn new(path: &Path, argv0: &OsString, args: &[OsString], guard: (&str, &[u8])) -> Self {
        let path_c = cstring(path.as_os_str());
        let mut argv = Vec::with_capacity(args.len() + 1);
        argv.push(cstring(argv0));
        argv.extend(args.iter().map(|a| cstring(a)));
        let mut env_owned: Vec<CString> = Vec::new();
        let prefix = format!("{}=", guard.0);
        for (key, value) in std::env::vars_os() {
            if key == guard.0 {
                continue;
            }
            let mut entry = os_bytes(&key).to_vec();
            entry.push(b'=');
            entry.extend_from_slice(os_bytes(&value));
            if let Ok(c) = CString::new(entry) {
                env_owned.push(c);
            }
        }
        let mut entry = prefix.into_bytes();
        entry.extend_from_slice(guard.1);
        if let Ok(c) = CString::new(entry) {
            env_owned.push(c);
        }
        Prepared {
            path: path_c,
            argv,
            env_owned,
            display: path.display().to_string(),
        }
    }

    fn pointers(&self) -> (Vec<*const libc::c_char>, Vec<*const libc::c_char>) {
        let mut argv: Vec<_> = self.argv.iter().map(|a| a.as_ptr()).collect();
        argv.push(std::ptr::null());
        let mut envp: Vec<_> = self.env_owned.iter().map(|e| e.as_ptr()).collect();
        envp.push(std::ptr::null());
        (argv, envp)
    }

    fn exec_error(&self, errno: i32) -> ErrorKind {
        let reason = std::io::Error::from_raw_os_error(errno).to_string();
        if errno == libc::ENOENT {
            ErrorKind::CfNotFound {
                searched: self.display.clone(),
            }
        } else {
            ErrorKind::CfNotExecutable {
                path: self.display.clone(),
                reason,
            }
        }
    }
}

#[cfg(unix)]
fn os_bytes(s: &std::ffi::OsStr) -> &[u8] {
    std::os::unix::ffi::OsStrExt::as_bytes(s)
}

#[cfg(unix)]
fn cstring(s: &std::ffi::OsStr) -> CString {
    // argv and PATH entries come from C strings, so they hold no NUL.
    CString::new(os_bytes(s)).unwrap_or_default()
}

/// Replaces this process with cf. Returns only if the kernel refused.
#[cfg(unix)]
pub fn exec(prepared: &Prepared) -> ErrorKind {
    let (argv, envp) = prepared.pointers();
    // SAFETY: argv/envp are NUL-terminated arrays of valid C strings that
    // outlive the call.
    unsafe { libc::execve(prepared.path.as_ptr(), argv.as_ptr(), envp.as_ptr()) };
    prepared.exec_error(
        std::io::Error::last_os_error()
            .raw_os_error()
            .unwrap_or(libc::ENOENT),
    )
}

#[cfg(unix)]
mod signals {
    use std::sync::atomic::{AtomicI32, Ordering};

    pub static CHILD: AtomicI32 = AtomicI32::new(0);
    pub static PENDING: AtomicI32 = AtomicI32::new(0);

    extern "C" fn relay(sig: libc::c_int) {
        let child = CHILD.load(Ordering::SeqCst);
        if child > 0 {
            // SAFETY: kill is async-signal-safe.
            unsafe { libc::kill(child, sig) };
        } else {
            PENDING.store(sig, Ordering::SeqCst);
        }
    }

    /// Dispositions before `install`, restored after cf ends.
    pub struct Saved(pub Vec<(libc::c_int, libc::sigaction)>);

    fn query(sig: libc::c_int) -> libc::sigaction {
        // SAFETY: sigaction with a null new action only reads.
        unsafe {
            let mut old: libc::sigaction = std::mem::zeroed();
            libc::sigaction(sig, std::ptr::null(), &mut old);
            old
        }
    }

    fn set(sig: libc::c_int, handler: libc::sighandler_t) {
        // SAFETY: installs a plain handler or SIG_IGN.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = handler;
            action.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(sig, &action, std::ptr::null_mut());
        }
    }

    /// While cf runs the terminal's SIGINT/SIGQUIT reach it directly (same
    /// process group), so we ignore them; SIGTERM/SIGHUP aimed at us are
    /// relayed. A signal the caller already ignores stays ignored.
    pub fn install() -> Saved {
        let mut saved = Vec::new();
        for sig in [libc::SIGINT, libc::SIGQUIT, libc::SIGTERM, libc::SIGHUP] {
            let old = query(sig);
            saved.push((sig, old));
            if old.sa_sigaction == libc::SIG_IGN {
                continue;
            }
            if sig == libc::SIGINT || sig == libc::SIGQUIT {
                set(sig, libc::SIG_IGN);
            } else {
                set(
                    sig,
                    relay as extern "C" fn(libc::c_int) as libc::sighandler_t,
                );
            }
        }
        Saved(saved)
    }

    impl Saved {
        /// Signals that were not ignored before `install` ignored them.
        pub fn ignored_by_us(&self) -> impl Iterator<Item = libc::c_int> + '_ {
            self.0
                .iter()
                .filter(|(sig, old)| {
                    (*sig == libc::SIGINT || *sig == libc::SIGQUIT)
                        && old.sa_sigaction != libc::SIG_IGN
                })
                .map(|(sig, _)| *sig)
        }
    }

    pub fn uninstall(saved: &Saved) {
        for (sig, action) in &saved.0 {
            // SAFETY: restores what `install` replaced.
            unsafe { libc::sigaction(*sig, action, std::ptr::null_mut()) };
        }
    }
}

/// Runs cf as a child and waits for it, relaying signals as described in
/// `signals`. Returns how cf ended. posix_spawn (a vfork-style clone in
/// glibc) is used rather than fork: it does not copy our page tables, and
/// the kernel reports an exec failure back to us directly.
#[cfg(unix)]
pub fn spawn_and_wait(prepared: &Prepared) -> Result<ChildExit, ErrorKind> {
    use std::sync::atomic::Ordering;
    let (argv, envp) = prepared.pointers();
    let saved = signals::install();
    // SAFETY: attr and the sigset are initialised before use and destroyed
    // after; argv/envp outlive the call.
    let (rc, pid) = unsafe {
        let mut attr: libc::posix_spawnattr_t = std::mem::zeroed();
        libc::posix_spawnattr_init(&mut attr);
        // Only what we changed to "ignore" goes back to default in cf;
        // handlers we installed are reset by exec itself.
        let mut defaults: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut defaults);
        for sig in saved.ignored_by_us() {
            libc::sigaddset(&mut defaults, sig);
        }
        libc::posix_spawnattr_setsigdefault(&mut attr, &defaults);
        libc::posix_spawnattr_setflags(&mut attr, libc::POSIX_SPAWN_SETSIGDEF as libc::c_short);
        let mut pid: libc::pid_t = 0;
        let rc = libc::posix_spawn(
            &mut pid,
            prepared.path.as_ptr(),
            std::ptr::null(),
            &attr,
            argv.as_ptr() as *const *mut libc::c_char,
            envp.as_ptr() as *const *mut libc::c_char,
        );
        libc::posix_spawnattr_destroy(&mut attr);
        (rc, pid)
    };
    if rc != 0 {
        signals::uninstall(&saved);
        return Err(prepared.exec_error(rc));
    }
    signals::CHILD.store(pid, Ordering::SeqCst);
    let pending = signals::PENDING.swap(0, Ordering::SeqCst);
    if pending != 0 {
        // SAFETY: plain kill of our own child.
        unsafe { libc::kill(pid, pending) };
    }
    let mut status = 0;
    loop {
        // SAFETY: waits for our own child.
        let r = unsafe { libc::waitpid(pid, &mut status, 0) };
        if r == pid || (r < 0 && errno() != libc::EINTR) {
            break;
        }
    }
    signals::CHILD.store(0, Ordering::SeqCst);
    signals::uninstall(&saved);
    if libc::WIFSIGNALED(status) {
        Ok(ChildExit::Signal(libc::WTERMSIG(status)))
    } else {
        Ok(ChildExit::Code(libc::WEXITSTATUS(status)))
    }
}

#[cfg(unix)]
fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

/// Ends this process the way cf ended: same code, or death by the same signal.
#[cfg(unix)]
pub fn die_like(exit: ChildExit) -> i32 {
    match exit {
        ChildExit::Code(code) => code,
        ChildExit::Signal(sig) => {
            // SAFETY: restore the default action, unblock and raise the signal
            // so our parent sees the same death as with cf run directly.
            unsafe {
                libc::signal(sig, libc::SIG_DFL);
                let mut set: libc::sigset_t = std::mem::zeroed();
                libc::sigemptyset(&mut set);
                libc::sigaddset(&mut set, sig);
                libc::sigprocmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
                libc::raise(sig);
            }
            128 + sig
        }
    }
}

/// Name such as `SIGTERM` for the event's `signal` property.
pub fn signal_name(sig: i32) -> String {
    #[cfg(unix)]
    {
        let known = [
            (libc::SIGHUP, "SIGHUP"),
            (libc::SIGINT, "SIGINT"),
            (libc::SIGQUIT, "SIGQUIT"),
            (libc::SIGILL, "SIGILL"),
            (libc::SIGTRAP, "SIGTRAP"),
            (libc::SIGABRT, "SIGABRT"),
            (libc::SIGBUS, "SIGBUS"),
            (libc::SIGFPE, "SIGFPE"),
            (libc::SIGKILL, "SIGKILL"),
            (libc::SIGUSR1, "SIGUSR1"),
            (libc::SIGSEGV, "SIGSEGV"),
            (libc::SIGUSR2, "SIGUSR2"),
            (libc::SIGPIPE, "SIGPIPE"),
            (libc::SIGALRM, "SIGALRM"),
            (libc::SIGTERM, "SIGTERM"),
            (libc::SIGXCPU, "SIGXCPU"),
            (libc::SIGXFSZ, "SIGXFSZ"),
            (libc::SIGVTALRM, "SIGVTALRM"),
            (libc::SIGPROF, "SIGPROF"),
            (libc::SIGSYS, "SIGSYS"),
        ];
        if let Some((_, name)) = known.iter().find(|(n, _)| *n == sig) {
            return (*name).to_string();
        }
    }
    format!("SIG{sig}")
}
