//! The detached delivery process: how it is started (its own session, stdio
//! on /dev/null, working directory `/`, no inherited descriptors) and how a
//! delivery in flight is found and stopped when telemetry is turned off.
//! The delivery lock file holds the PID of the process holding it.

use crate::fsutil;
use std::fs::File;
use std::path::Path;
use std::time::{Duration, Instant};

/// Hidden argument that runs a background delivery.
pub const BACKGROUND_COMMAND: &str = "__deliver";
/// With `BACKGROUND_COMMAND`: send the `Telemetry Off` event alone.
pub const FINAL_FLAG: &str = "--final";

/// Starts `cfdev-shim __deliver [args]` detached. Errors include a failed
/// exec: std reports it through a close-on-exec pipe, which is why the child
/// marks our descriptors close-on-exec instead of closing them.
pub fn spawn_detached(extra: &[&str]) -> std::io::Result<()> {
    let exe = if cfg!(target_os = "linux") {
        std::path::PathBuf::from("/proc/self/exe")
    } else {
        std::env::current_exe()?
    };
    let mut command = std::process::Command::new(exe);
    command
        .arg(BACKGROUND_COMMAND)
        .args(extra)
        // The caller's directory may be unmounted while we run.
        .current_dir("/")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        // SAFETY: the closure makes only async-signal-safe calls (setsid,
        // signal, syscall, fcntl, sysconf) between fork and exec.
        unsafe {
            command.pre_exec(detach_in_child);
        }
    }
    command.spawn().map(drop)
}

/// Runs in the forked child: a session of its own (no terminal, no signals
/// from the caller's process group), default dispositions, and every
/// descriptor from 3 up marked close-on-exec so the new program inherits
/// none of the caller's files, sockets or pipes.
#[cfg(unix)]
fn detach_in_child() -> std::io::Result<()> {
    // SAFETY: setsid has no memory effects; the forked child is never a
    // process group leader, so it succeeds unless something is very wrong.
    if unsafe { libc::setsid() } == -1 {
        return Err(std::io::Error::last_os_error());
    }
    for sig in [
        libc::SIGINT,
        libc::SIGQUIT,
        libc::SIGTERM,
        libc::SIGHUP,
        libc::SIGPIPE,
    ] {
        // SAFETY: resetting a catchable signal to its default disposition.
        if unsafe { libc::signal(sig, libc::SIG_DFL) } == libc::SIG_ERR {
            return Err(std::io::Error::last_os_error());
        }
    }
    mark_cloexec_from(3)
}

#[cfg(unix)]
fn mark_cloexec_from(first: libc::c_int) -> std::io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: close_range with CLOSE_RANGE_CLOEXEC only changes flags.
        let done = unsafe {
            libc::syscall(
                libc::SYS_close_range,
                first as libc::c_uint,
                libc::c_uint::MAX,
                libc::CLOSE_RANGE_CLOEXEC,
            )
        };
        if done == 0 {
            return Ok(());
        }
    }
    // Older kernels: one fcntl per possible descriptor (EBADF for unused ones).
    // SAFETY: sysconf only reads a limit.
    let max = unsafe { libc::sysconf(libc::_SC_OPEN_MAX) }.clamp(256, 65536) as libc::c_int;
    for fd in first..max {
        // SAFETY: F_GETFD/F_SETFD only read and change the descriptor's flags.
        let flags = unsafe { libc::fcntl(fd, libc::F_GETFD) };
        if flags < 0 {
            continue; // not open
        }
        // SAFETY: as above.
        if unsafe { libc::fcntl(fd, libc::F_SETFD, flags | libc::FD_CLOEXEC) } < 0 {
            // The deliverer would inherit this descriptor: report, do not run.
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// The delivery lock, held by one delivery at a time; while held, the file
/// holds the holder's PID so that turning telemetry off can stop it.
pub struct DeliveryLock {
    file: File,
}

const PID_WIDTH: usize = 12;

impl DeliveryLock {
    /// Takes the lock if free.
    pub fn try_acquire(path: &Path) -> std::io::Result<Option<DeliveryLock>> {
        let Some(file) = fsutil::try_lock_exclusive(path)? else {
            return Ok(None);
        };
        let lock = DeliveryLock { file };
        lock.write_pid(std::process::id());
        Ok(Some(lock))
    }

    /// Takes the lock, waiting up to `wait` for the holder to finish.
    pub fn acquire_within(path: &Path, wait: Duration) -> std::io::Result<Option<DeliveryLock>> {
        let deadline = Instant::now() + wait;
        loop {
            if let Some(lock) = DeliveryLock::try_acquire(path)? {
                return Ok(Some(lock));
            }
            if Instant::now() >= deadline {
                return Ok(None);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn write_pid(&self, pid: u32) {
        let text = format!("{pid:>PID_WIDTH$}");
        #[cfg(unix)]
        let _ = std::os::unix::fs::FileExt::write_all_at(&self.file, text.as_bytes(), 0);
        #[cfg(not(unix))]
        let _ = text;
    }
}

impl Drop for DeliveryLock {
    fn drop(&mut self) {
        // A stale PID must never be signalled once the lock is free.
        self.write_pid(0);
    }
}
/// The PID written by the current holder of the lock (0 or None: unknown).
fn holder_pid(path: &Path) -> Option<u32> {
    let mut buf = [0u8; PID_WIDTH];
    let file = File::open(path).ok()?;
    #[cfg(unix)]
    let n = std::os::unix::fs::FileExt::read_at(&file, &mut buf, 0).ok()?;
    #[cfg(not(unix))]
    let n = {
        let _ = &file;
        0
    };
    std::str::from_utf8(&buf[..n])
        .ok()?
        .trim()
        .parse()
        .ok()
        .filter(|pid| *pid > 1 && *pid != std::process::id())
}

/// Stops whatever delivery holds the lock (SIGTERM, then SIGKILL) and
/// returns the lock, held by us, so that no delivery can start until it is
/// dropped. `None` if it could not be taken within `wait`.
pub fn stop_in_flight(path: &Path, wait: Duration) -> std::io::Result<Option<DeliveryLock>> {
    let started = Instant::now();
    let mut signalled = None;
    loop {
        if let Some(lock) = DeliveryLock::try_acquire(path)? {
            return Ok(Some(lock));
        }
        let elapsed = started.elapsed();
        if elapsed >= wait {
            return Ok(None);
        }
        #[cfg(unix)]
        if let Some(pid) = holder_pid(path) {
            // Politely first; a holder still there after half the wait is killed.
            let signal = if elapsed < wait / 2 {
                libc::SIGTERM
            } else {
                libc::SIGKILL
            };
            if signalled != Some((pid, signal)) {
                // SAFETY: kill has no memory effects; the PID was written by
                // the current lock holder and is cleared before it unlocks.
                unsafe { libc::kill(pid as libc::pid_t, signal) };
                signalled = Some((pid, signal));
            }
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}
