//! Running the real cf. Two paths: `exec` replaces this process (telemetry off
//! or undecided: nothing is left behind), `spawn_and_wait` keeps us alive to
//! record the outcome (telemetry on). Both pass argv bytes, the caller's
//! environment block (entry for entry, malformed entries included), every
//! inherited descriptor, disposition, mask and limit through untouched; the
//! only addition is the recursion-guard entry (see `resolve`), left out again
//! when it alone would push the call over the kernel's size limit (E2BIG).
//!
//! The child is started with clone(CLONE_VM | CLONE_VFORK), as glibc's
//! posix_spawn does, but the code between clone and exec is ours: it puts
//! back exactly the dispositions and mask the caller gave us (posix_spawn
//! cannot set "ignore", and glibc's hands cf its own signals 32 and 33 as
//! ignored). If anything in that set-up fails before cf has started, the
//! call falls back to the exec path: cf runs exactly, unrecorded.

use crate::error::ErrorKind;
use crate::signals::{self, Mask, WaitReady};
use std::ffi::{CStr, CString, OsString};
use std::path::Path;
use std::sync::atomic::{AtomicI32, Ordering};

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

extern "C" {
    /// The environment block as the kernel and the C runtime left it.
    static environ: *const *const libc::c_char;
}

/// The argv/envp arrays, built before any fork so the child only has to call
/// async-signal-safe functions.
pub struct Prepared {
    path: CString,
    argv: Vec<CString>,
    /// The caller's entries, byte for byte, minus any inherited guard entry.
    env: Vec<CString>,
    guard: CString,
    display: String,
}

/// NULL-terminated pointer arrays into a `Prepared`.
struct Pointers {
    argv: Vec<*const libc::c_char>,
    env_with_guard: Vec<*const libc::c_char>,
    env_without_guard: Vec<*const libc::c_char>,
}

impl Prepared {
    /// `argv0` is what cf sees as its own name; `guard` is the `NAME=VALUE`
    /// entry that replaces any inherited copy of the guard variable.
    pub fn new(path: &Path, argv0: &OsString, args: &[OsString], guard: (&str, &[u8])) -> Self {
        let mut argv = Vec::with_capacity(args.len() + 1);
        argv.push(cstring(argv0.as_encoded_bytes()));
        argv.extend(args.iter().map(|a| cstring(a.as_encoded_bytes())));
        let mut prefix = guard.0.as_bytes().to_vec();
        prefix.push(b'=');
        let env = caller_environment()
            .filter(|entry| !entry.to_bytes().starts_with(&prefix))
            .map(CStr::to_owned)
            .collect();
        let mut entry = prefix;
        entry.extend_from_slice(guard.1);
        Prepared {
            path: cstring(path.as_os_str().as_encoded_bytes()),
            argv,
            env,
            guard: cstring(&entry),
            display: path.display().to_string(),
        }
    }

    fn pointers(&self) -> Pointers {
        let nul_terminated = |items: &[CString], extra: Option<&CString>| {
            let mut out: Vec<*const libc::c_char> = items.iter().map(|c| c.as_ptr()).collect();
            out.extend(extra.map(|c| c.as_ptr()));
            out.push(std::ptr::null());
            out
        };
        Pointers {
            argv: nul_terminated(&self.argv, None),
            env_with_guard: nul_terminated(&self.env, Some(&self.guard)),
            env_without_guard: nul_terminated(&self.env, None),
        }
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

/// Every entry of the environment block, in order, duplicates and entries
/// without `=` included (std's view of the environment drops those).
fn caller_environment() -> impl Iterator<Item = &'static CStr> {
    // SAFETY: reading the pointer; nothing in this process modifies the
    // environment (no setenv/putenv), so the block stays valid.
    let mut cursor = unsafe { environ };
    std::iter::from_fn(move || {
        if cursor.is_null() {
            return None;
        }
        // SAFETY: `cursor` points into the NULL-terminated environ array.
        let entry = unsafe { *cursor };
        if entry.is_null() {
            return None;
        }
        // SAFETY: still within the array: the current entry was not NULL.
        cursor = unsafe { cursor.add(1) };
        // SAFETY: environment entries are NUL-terminated C strings that live
        // as long as the process.
        Some(unsafe { CStr::from_ptr(entry) })
    })
}

fn cstring(bytes: &[u8]) -> CString {
    // argv, PATH entries and environment entries come from C strings, so
    // they hold no NUL.
    CString::new(bytes).unwrap_or_default()
}

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

/// execve with the guard; at the size limit, once more without it.
/// Async-signal-safe. Returns the errno of the last attempt.
fn execve_with_fallback(
    path: *const libc::c_char,
    argv: *const *const libc::c_char,
    env_with_guard: *const *const libc::c_char,
    env_without_guard: *const *const libc::c_char,
) -> i32 {
    // SAFETY: NULL-terminated arrays of valid C strings that outlive the call.
    unsafe { libc::execve(path, argv, env_with_guard) };
    if errno() != libc::E2BIG {
        return errno();
    }
    // SAFETY: as above.
    unsafe { libc::execve(path, argv, env_without_guard) };
    errno()
}

/// Replaces this process with cf. Returns only if the kernel refused.
pub fn exec(prepared: &Prepared) -> ErrorKind {
    let p = prepared.pointers();
    let errno = execve_with_fallback(
        prepared.path.as_ptr(),
        p.argv.as_ptr(),
        p.env_with_guard.as_ptr(),
        p.env_without_guard.as_ptr(),
    );
    prepared.exec_error(errno)
}

/// What the child does between clone and exec; it shares our memory.
struct ChildPlan<'a> {
    path: *const libc::c_char,
    argv: *const *const libc::c_char,
    env_with_guard: *const *const libc::c_char,
    env_without_guard: *const *const libc::c_char,
    wait_ready: &'a WaitReady,
    caller_mask: Mask,
    /// 0: exec'd. Positive: exec's errno. Negative: set-up errno.
    failure: AtomicI32,
}

extern "C" fn child_main(plan: *mut libc::c_void) -> libc::c_int {
    // SAFETY: `spawn` passes a ChildPlan that outlives the child (CLONE_VFORK
    // suspends the parent until the child has exec'd or exited).
    let plan = unsafe { &*(plan as *const ChildPlan) };
    let setup = plan
        .wait_ready
        .restore_for_exec()
        .and_then(|()| plan.caller_mask.set());
    let failure = match setup {
        Err(e) => -e.raw_os_error().unwrap_or(libc::EINVAL),
        Ok(()) => execve_with_fallback(
            plan.path,
            plan.argv,
            plan.env_with_guard,
            plan.env_without_guard,
        ),
    };
    plan.failure.store(failure, Ordering::SeqCst);
    // SAFETY: _exit is async-signal-safe and runs no atexit handlers (which
    // would touch the parent's memory).
    unsafe { libc::_exit(127) }
}

/// Starts cf with clone(CLONE_VM | CLONE_VFORK): no page-table copy, and
/// the exec result is known when this returns. Ok(pid) once cf runs;
/// Err(errno) with positive errno when exec failed, negative when set-up did.
fn spawn(plan: &ChildPlan) -> Result<libc::pid_t, i32> {
    const STACK: usize = 64 * 1024;
    let mut stack = vec![0u8; STACK];
    let top = stack.as_mut_ptr().wrapping_add(STACK);
    let top = top.wrapping_sub(top as usize % 16);
    // SAFETY: `top` is the 16-byte aligned end of a live buffer used as the
    // child's stack; the child only runs `child_main`, which makes
    // async-signal-safe calls and ends in execve or _exit.
    let pid = unsafe {
        libc::clone(
            child_main,
            top.cast(),
            libc::CLONE_VM | libc::CLONE_VFORK | libc::SIGCHLD,
            plan as *const ChildPlan as *mut libc::c_void,
        )
    };
    if pid < 0 {
        return Err(-errno());
    }
    match plan.failure.load(Ordering::SeqCst) {
        0 => Ok(pid),
        failure => {
            // The child exited with 127: reap it.
            let mut status = 0;
            // SAFETY: waits for our own child.
            unsafe { libc::waitpid(pid, &mut status, 0) };
            Err(failure)
        }
    }
}

/// Runs cf as a child and waits for it, relaying signals as described in
/// `signals`. Returns how cf ended.
///
/// cf is started with every signal blocked here and the caller's
/// dispositions untouched (but SIGCHLD, which waiting needs), so the child
/// has nothing to undo before its exec; the relay is installed while cf
/// already runs (on the other core), and signals that came meanwhile are
/// pending until the caller's mask is back.
pub fn spawn_and_wait(prepared: &Prepared) -> Result<ChildExit, ErrorKind> {
    let p = prepared.pointers();
    let Ok(caller_mask) = Mask::block_all() else {
        return Err(exec(prepared));
    };
    let wait_ready = match signals::prepare_to_wait() {
        Ok(ready) => ready,
        Err(_) => {
            let _ = caller_mask.set();
            return Err(exec(prepared));
        }
    };
    let plan = ChildPlan {
        path: prepared.path.as_ptr(),
        argv: p.argv.as_ptr(),
        env_with_guard: p.env_with_guard.as_ptr(),
        env_without_guard: p.env_without_guard.as_ptr(),
        wait_ready: &wait_ready,
        caller_mask,
        failure: AtomicI32::new(0),
    };
    let pid = match spawn(&plan) {
        Ok(pid) => pid,
        Err(failure) => {
            let _ = wait_ready.restore_for_exec();
            let _ = caller_mask.set();
            if failure > 0 {
                return Err(prepared.exec_error(failure));
            }
            // cf has not started: run it the plain way rather than not at all.
            return Err(exec(prepared));
        }
    };
    wait_with_relay(pid, caller_mask, &wait_ready)
}

/// Waits for the cf `early` started before the C runtime (every signal
/// still blocked, SIGCHLD waitable), relaying signals as `spawn_and_wait`.
pub fn wait_started(started: &crate::early::Started) -> Result<ChildExit, ErrorKind> {
    let wait_ready = WaitReady::from_early(started.sigchld_was_ignored);
    wait_with_relay(
        started.pid,
        Mask::from_bits(started.caller_mask),
        &wait_ready,
    )
}

/// cf runs, every signal is blocked: install the relay, put the caller's
/// mask back (pending signals are relayed then), wait.
fn wait_with_relay(
    pid: libc::pid_t,
    caller_mask: Mask,
    wait_ready: &WaitReady,
) -> Result<ChildExit, ErrorKind> {
    signals::set_child(pid);
    // A relay that cannot be installed (never seen) is taken down again by
    // `install`: cf still runs and is waited for, signals to us then act on
    // us alone.
    let _ = signals::install(wait_ready);
    // Signals that arrived meanwhile are pending; unblocking relays them.
    let waited = caller_mask
        .set()
        .map_err(|e| e.raw_os_error())
        .and_then(|()| wait_for(pid));
    // From here on cf is gone: whatever arrives now arrived after its end,
    // and stays blocked until we exit the way cf did (`die_of` resets the
    // one signal that matters), so the relay need not be taken down.
    let _ = Mask::block_all();
    signals::set_child(0);
    match waited {
        Ok(status) if libc::WIFSIGNALED(status) => Ok(ChildExit::Signal(libc::WTERMSIG(status))),
        Ok(status) => Ok(ChildExit::Code(libc::WEXITSTATUS(status))),
        Err(errno) => Err(ErrorKind::CfLost {
            pid,
            reason: std::io::Error::from_raw_os_error(errno.unwrap_or(0)).to_string(),
        }),
    }
}

/// Waits for cf to end; while it is stopped, so are we.
fn wait_for(pid: libc::pid_t) -> Result<i32, Option<i32>> {
    let mut status = 0;
    loop {
        // SAFETY: waits for our own child; `status` outlives the call.
        let r = unsafe { libc::waitpid(pid, &mut status, libc::WUNTRACED) };
        if r == pid && libc::WIFSTOPPED(status) {
            signals::stop_like(libc::WSTOPSIG(status));
            continue;
        }
        if r == pid {
            return Ok(status);
        }
        if r < 0 && errno() != libc::EINTR {
            return Err(Some(errno()));
        }
    }
}

/// Ends this process the way cf ended: same code, or death by the same signal.
pub fn die_like(exit: ChildExit) -> i32 {
    match exit {
        ChildExit::Code(code) => code,
        ChildExit::Signal(sig) => {
            signals::die_of(sig);
            128 + sig
        }
    }
}

/// Name such as `SIGTERM` for the event's `signal` property.
pub fn signal_name(sig: i32) -> String {
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
    format!("SIG{sig}")
}
