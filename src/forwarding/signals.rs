//! Signal dispositions and the mask while cf runs as our child (telemetry
//! on). The caller's dispositions are only ever "default" or "ignore" (exec
//! resets handlers), and cf must get exactly those and the caller's mask,
//! whatever we change for ourselves:
//! - SIGCHLD ignored by the caller (bash passes that on) would make the kernel
//!   reap cf behind our back and lose its status: we wait with the default,
//!   cf gets "ignore" back;
//! - every other catchable signal the caller did not ignore gets a relay
//!   handler. Sent to our PID by a process (`kill`, `sigqueue`: si_code ≤ 0)
//!   it is passed on to cf. Sent by the kernel (a terminal's Ctrl-C, Ctrl-\,
//!   hang-up or resize goes to the whole foreground group) cf already got it,
//!   so it is not sent twice. When cf stops (Ctrl-Z, or a relayed stop
//!   signal it does not catch) we stop with the same signal, so the caller's
//!   job control sees what it would see with cf run directly.
//!
//! glibc's own signals (32 and 33) are neither queried nor changed here:
//! glibc refuses it, and cf inherits them from us as we inherited them.

use std::sync::atomic::{AtomicI32, Ordering};

/// The child relayed signals go to (0: none yet, or it has ended).
static CHILD: AtomicI32 = AtomicI32::new(0);

/// The kernel's signal mask (64 signals), read and written by the raw system
/// call so that glibc's own signals are kept exactly as inherited.
#[derive(Clone, Copy)]
#[repr(C)]
pub struct Mask(u64);

#[cfg(target_os = "linux")]
fn rt_sigprocmask(how: libc::c_int, set: Option<&Mask>) -> std::io::Result<Mask> {
    let mut old = Mask(0);
    let new = set.map_or(std::ptr::null(), |m| m as *const Mask);
    // SAFETY: both pointers are valid for 8 bytes, the kernel's sigset size.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_rt_sigprocmask,
            how,
            new,
            &mut old as *mut Mask,
            std::mem::size_of::<Mask>(),
        )
    };
    if rc == 0 {
        Ok(old)
    } else {
        Err(std::io::Error::last_os_error())
    }
}

impl Mask {
    pub fn from_bits(bits: u64) -> Mask {
        Mask(bits)
    }

    pub fn current() -> std::io::Result<Mask> {
        rt_sigprocmask(libc::SIG_BLOCK, None)
    }

    /// Blocks every signal; returns the previous mask.
    pub fn block_all() -> std::io::Result<Mask> {
        rt_sigprocmask(libc::SIG_BLOCK, Some(&Mask(u64::MAX)))
    }

    /// Installs this mask. Async-signal-safe (used between clone and exec).
    pub fn set(&self) -> std::io::Result<()> {
        rt_sigprocmask(libc::SIG_SETMASK, Some(self)).map(drop)
    }
}

/// SIGCHLD made waitable before cf starts: if the caller ignored it (bash
/// passes that on) the kernel would reap cf behind our back.
pub struct WaitReady {
    sigchld_was_ignored: bool,
}

/// Sets `sig` to SIG_DFL or SIG_IGN. Async-signal-safe.
pub fn set_plain(sig: libc::c_int, handler: libc::sighandler_t) -> std::io::Result<()> {
    swap_plain(sig, handler).map(drop)
}

/// `set_plain`, returning the disposition it replaced.
fn swap_plain(
    sig: libc::c_int,
    handler: libc::sighandler_t,
) -> std::io::Result<libc::sighandler_t> {
    // SAFETY: zeroed is a valid sigaction bit pattern (empty mask, no flags).
    let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
    action.sa_sigaction = handler;
    // SAFETY: as above.
    let mut old: libc::sigaction = unsafe { std::mem::zeroed() };
    // SAFETY: installs a plain disposition; `old` outlives the call.
    let rc = unsafe { libc::sigaction(sig, &action, &mut old) };
    if rc == 0 {
        Ok(old.sa_sigaction)
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Installs the relay on `sig`; returns the disposition it replaced (one
/// system call where a query and a set would take two).
fn set_relay(sig: libc::c_int) -> std::io::Result<libc::sighandler_t> {
    // SAFETY: zeroed is a valid sigaction bit pattern (empty mask).
    let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
    action.sa_sigaction = relay as *const () as libc::sighandler_t;
    action.sa_flags = libc::SA_SIGINFO | libc::SA_RESTART;
    // SAFETY: as above.
    let mut old: libc::sigaction = unsafe { std::mem::zeroed() };
    // SAFETY: `relay` has the SA_SIGINFO signature and only makes
    // async-signal-safe calls; `old` outlives the call.
    let rc = unsafe { libc::sigaction(sig, &action, &mut old) };
    if rc == 0 {
        Ok(old.sa_sigaction)
    } else {
        Err(std::io::Error::last_os_error())
    }
}

fn is_stop(sig: libc::c_int) -> bool {
    matches!(sig, libc::SIGTSTP | libc::SIGTTIN | libc::SIGTTOU)
}

/// Faults raised by the CPU: if one is ours, returning would re-fault.
fn is_fault(sig: libc::c_int) -> bool {
    matches!(
        sig,
        libc::SIGSEGV | libc::SIGBUS | libc::SIGILL | libc::SIGFPE | libc::SIGTRAP | libc::SIGSYS
    )
}

fn errno_location() -> *mut libc::c_int {
    // SAFETY: returns this thread's errno slot; never fails.
    unsafe { libc::__errno_location() }
}

extern "C" fn relay(sig: libc::c_int, info: *mut libc::siginfo_t, _: *mut libc::c_void) {
    let errno = errno_location();
    // SAFETY: errno is this thread's; saved so the interrupted code keeps it.
    let saved_errno = unsafe { *errno };
    // SAFETY: the kernel passes a valid siginfo with SA_SIGINFO.
    let info = unsafe { &*info };
    let sent_by_a_process = info.si_code <= 0;
    if is_fault(sig) && !sent_by_a_process {
        // Our own fault: die of it with the default action on return.
        let _ = set_plain(sig, libc::SIG_DFL);
    } else {
        let child = CHILD.load(Ordering::SeqCst);
        if sent_by_a_process && child > 0 {
            if info.si_code == libc::SI_QUEUE {
                // SAFETY: reading the value of a sigqueue'd signal.
                let value = unsafe { info.si_value() };
                // SAFETY: sigqueue is async-signal-safe; same value as sent.
                unsafe { libc::sigqueue(child, sig, value) };
            } else {
                // SAFETY: kill is async-signal-safe.
                unsafe { libc::kill(child, sig) };
            }
        }
    }
    // SAFETY: restores the interrupted code's errno.
    unsafe { *errno = saved_errno };
}

/// Stops this process the way cf stopped: with the same stop signal (default
/// action, briefly unblocked), or SIGSTOP for anything else. Returns when
/// continued, with the relay back in place.
pub fn stop_like(sig: libc::c_int) {
    if !is_stop(sig) || set_plain(sig, libc::SIG_DFL).is_err() {
        // SAFETY: raising SIGSTOP at ourselves.
        unsafe { libc::raise(libc::SIGSTOP) };
        return;
    }
    let Ok(mask) = Mask::current() else {
        let _ = set_relay(sig);
        return;
    };
    let unblocked = Mask(mask.0 & !(1u64 << (sig - 1)));
    if unblocked.set().is_ok() {
        // SAFETY: raising a stop signal at ourselves with its default action.
        unsafe { libc::raise(sig) };
        let _ = mask.set();
    }
    let _ = set_relay(sig);
}

/// Signals we may relay: all but KILL/STOP (uncatchable) and glibc's own.
fn relayable() -> impl Iterator<Item = libc::c_int> {
    let max = libc::SIGRTMAX();
    let rt_min = libc::SIGRTMIN();
    (1..=max).filter(move |&sig| {
        sig != libc::SIGKILL && sig != libc::SIGSTOP && (sig < 32 || sig >= rt_min)
    })
}

/// Sets SIGCHLD to the default if the caller ignored it (one call that also
/// returns the old disposition, and one more only then).
pub fn prepare_to_wait() -> std::io::Result<WaitReady> {
    let old = swap_plain(libc::SIGCHLD, libc::SIG_DFL)?;
    // Anything but "ignore" was the default (exec resets handlers).
    Ok(WaitReady {
        sigchld_was_ignored: old == libc::SIG_IGN,
    })
}

impl WaitReady {
    /// As `prepare_to_wait` left it, when `early` did it before the C
    /// runtime started.
    pub fn from_early(sigchld_was_ignored: bool) -> WaitReady {
        WaitReady {
            sigchld_was_ignored,
        }
    }

    /// cf gets SIGCHLD's "ignore" back. Async-signal-safe (the child calls
    /// it between clone and exec).
    pub fn restore_for_exec(&self) -> std::io::Result<()> {
        if self.sigchld_was_ignored {
            return set_plain(libc::SIGCHLD, libc::SIG_IGN);
        }
        Ok(())
    }
}

/// Installs the relay (see the module documentation) on every relayable
/// signal the caller did not ignore. Call with every signal blocked, after
/// `set_child`. On error the relays already installed are taken down again
/// (back to the default, the caller's disposition for them).
pub fn install(wait_ready: &WaitReady) -> std::io::Result<()> {
    let mut relayed = Vec::new();
    let result = (|| {
        for sig in relayable() {
            if sig == libc::SIGCHLD && wait_ready.sigchld_was_ignored {
                continue;
            }
            if set_relay(sig)? != libc::SIG_IGN {
                relayed.push(sig);
            } else {
                // Ignored by the caller: stays ignored (anything that arrived
                // meanwhile was blocked, and is discarded as it would be).
                set_plain(sig, libc::SIG_IGN)?;
            }
        }
        Ok(())
    })();
    if result.is_err() {
        for &sig in &relayed {
            let _ = set_plain(sig, libc::SIG_DFL);
        }
    }
    result
}

/// From now on relayed signals go to `pid` (0: nowhere).
pub fn set_child(pid: libc::pid_t) {
    CHILD.store(pid, Ordering::SeqCst);
}

/// Restores the default action of `sig`, unblocks it and raises it, after
/// making sure our death leaves no core dump of its own (cf's, if it wrote
/// one, stays the only one). Returns only if the signal did not end us.
pub fn die_of(sig: libc::c_int) {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: a non-dumpable process writes no core (nor hands one to a
        // core_pattern pipe); the remaining lines only run while we die.
        let rc = unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) };
        debug_assert_eq!(rc, 0);
    }
    let no_core = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: lowers our own core limit; `no_core` outlives the call. A
    // failure leaves the limit as the caller set it, like cf's.
    let _ = unsafe { libc::setrlimit(libc::RLIMIT_CORE, &no_core) };
    // SIGKILL cannot be changed (EINVAL) and needs no change.
    if sig != libc::SIGKILL && set_plain(sig, libc::SIG_DFL).is_err() {
        return;
    }
    let mut unblock = Mask::current().unwrap_or(Mask(0));
    unblock.0 &= !(1u64 << (sig - 1));
    if unblock.set().is_err() {
        return;
    }
    // SAFETY: raising a signal at ourselves with its default action.
    unsafe { libc::raise(sig) };
}
