//! Private files in the state root: directories 0700, files 0600, replaced
//! atomically so a crash never leaves half a file behind — and nothing placed
//! there can block, slow or redirect a cf call:
//! - the state root (`CFDEV_SHIM_HOME`, or the platform's app directories)
//!   is opened as named; the directories we create below it (`spool/`) are
//!   opened with O_NOFOLLOW|O_DIRECTORY, so a symlink in their place is
//!   refused, not followed. Each must be owned by us and writable by nobody
//!   else (another user able to write there could swap our files);
//! - files are opened relative to those directory descriptors with
//!   O_NOFOLLOW|O_NONBLOCK (opening a FIFO or device returns at once, and a
//!   symlink to /dev/zero is not followed), then anything that is not a
//!   regular file is refused;
//! - every read is bounded by the caller's size limit;
//! - locks are waited for a bounded time: ~50 ms on cf's path (`on_cf_path`),
//!   2 s in our own commands; then the caller gets `WouldBlock`. A caller
//!   that can see the lock being passed on (`lock_exclusive_queued`) keeps
//!   its place in the queue up to 20 times as long.

use crate::paths::SPOOL_DIR;
use std::ffi::{CString, OsStr};
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

/// Directories we create below a state root, and only those, are opened
/// without following symlinks.
const INNER_DIRS: &[&str] = &[SPOOL_DIR];

/// How long a lock may be waited for, in milliseconds.
static LOCK_WAIT_MS: AtomicU64 = AtomicU64::new(2000);
/// cf must not wait on us longer than this.
const CF_PATH_LOCK_WAIT: Duration = Duration::from_millis(50);

/// This process forwards a cf call: locks are waited for ~50 ms at most.
pub fn on_cf_path() {
    LOCK_WAIT_MS.store(CF_PATH_LOCK_WAIT.as_millis() as u64, Ordering::Relaxed);
}

fn lock_wait() -> Duration {
    Duration::from_millis(LOCK_WAIT_MS.load(Ordering::Relaxed))
}

fn c_path(bytes: &[u8]) -> io::Result<CString> {
    CString::new(bytes).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in path"))
}

fn refused(path: &Path, why: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("{} {why}; refused", path.display()),
    )
}

fn fstat(fd: &impl AsRawFd) -> io::Result<libc::stat> {
    // SAFETY: zeroed is a valid stat bit pattern.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: `fd` is open; `st` is valid for writing.
    if unsafe { libc::fstat(fd.as_raw_fd(), &mut st) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(st)
}

/// Ours and writable by nobody else.
fn check_private_dir(fd: &OwnedFd, path: &Path) -> io::Result<()> {
    let st = fstat(fd)?;
    // SAFETY: geteuid cannot fail.
    let me = unsafe { libc::geteuid() };
    if st.st_uid != me {
        return Err(refused(path, &format!("is owned by uid {}", st.st_uid)));
    }
    if st.st_mode & 0o022 != 0 {
        return Err(refused(path, "is writable by group or others"));
    }
    Ok(())
}

fn open_raw(dir: Option<&OwnedFd>, name: &[u8], flags: libc::c_int) -> io::Result<OwnedFd> {
    let name = c_path(name)?;
    let flags = flags | libc::O_CLOEXEC;
    let mode: libc::c_uint = 0o600;
    let fd = match dir {
        // SAFETY: `d` is an open directory and `name` a C string.
        Some(d) => unsafe { libc::openat(d.as_raw_fd(), name.as_ptr(), flags, mode) },
        // SAFETY: `name` is a C string.
        None => unsafe { libc::open(name.as_ptr(), flags, mode) },
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` was just opened and is owned by nothing else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// The state root `dir` belongs to, and the directories below it we create.
fn split_root(dir: &Path) -> (&Path, Vec<&OsStr>) {
    let mut root = dir;
    let mut inner = Vec::new();
    while let (Some(name), Some(parent)) = (root.file_name(), root.parent()) {
        if !INNER_DIRS.iter().any(|d| name == OsStr::new(d)) {
            break;
        }
        inner.push(name);
        root = parent;
    }
    inner.reverse();
    (root, inner)
}

/// Opens `dir` as described in the module documentation, creating what is
/// missing (mode 0700) when `create`.
fn open_dir(dir: &Path, create: bool) -> io::Result<OwnedFd> {
    let (root, inner) = split_root(dir);
    let root = if root.as_os_str().is_empty() {
        Path::new(".")
    } else {
        root
    };
    let dir_flags = libc::O_RDONLY | libc::O_DIRECTORY;
    let mut fd = match open_raw(None, root.as_os_str().as_bytes(), dir_flags) {
        Err(e) if create && e.kind() == io::ErrorKind::NotFound => {
            let mut builder = std::fs::DirBuilder::new();
            builder.recursive(true);
            std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
            builder.create(root)?;
            open_raw(None, root.as_os_str().as_bytes(), dir_flags)?
        }
        other => other?,
    };
    check_private_dir(&fd, root)?;
    let mut path = root.to_path_buf();
    for name in inner {
        path.push(name);
        let flags = dir_flags | libc::O_NOFOLLOW;
        let next = match open_raw(Some(&fd), name.as_bytes(), flags) {
            Err(e) if create && e.kind() == io::ErrorKind::NotFound => {
                let c_name = c_path(name.as_bytes())?;
                // SAFETY: `fd` is an open directory, `c_name` a C string.
                let rc = unsafe { libc::mkdirat(fd.as_raw_fd(), c_name.as_ptr(), 0o700) };
                if rc != 0 && io::Error::last_os_error().kind() != io::ErrorKind::AlreadyExists {
                    return Err(io::Error::last_os_error());
                }
                open_raw(Some(&fd), name.as_bytes(), flags)
            }
            other => other,
        };
        fd = next.map_err(|e| match e.raw_os_error() {
            Some(libc::ELOOP) | Some(libc::ENOTDIR) => refused(&path, "is not a directory"),
            _ => e,
        })?;
        check_private_dir(&fd, &path)?;
    }
    Ok(fd)
}

/// Creates `dir` (and parents) with mode 0700 when missing, and checks it.
pub fn ensure_private_dir(dir: &Path) -> io::Result<()> {
    open_dir(dir, true).map(drop)
}

/// How a state file is opened. All but `Read` create it (mode 0600).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Read,
    /// Read and write without truncating (lock files, stamps).
    ReadWrite,
    /// Appends (the spool); reads with pread.
    Append,
    /// Fails if it exists (the installation ID).
    CreateNew,
    /// Truncates (temporary files before a rename).
    Replace,
}

impl Access {
    fn flags(self) -> libc::c_int {
        match self {
            Access::Read => libc::O_RDONLY,
            Access::ReadWrite => libc::O_RDWR | libc::O_CREAT,
            Access::Append => libc::O_RDWR | libc::O_APPEND | libc::O_CREAT,
            Access::CreateNew => libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL,
            Access::Replace => libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC,
        }
    }
}

fn file_name(path: &Path) -> io::Result<&OsStr> {
    path.file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no file name"))
}

fn open_in(dir: &OwnedFd, path: &Path, access: Access) -> io::Result<File> {
    let flags = access.flags() | libc::O_NOFOLLOW | libc::O_NONBLOCK;
    let fd = open_raw(Some(dir), file_name(path)?.as_bytes(), flags).map_err(|e| {
        match e.raw_os_error() {
            Some(libc::ELOOP) => refused(path, "is a symlink"),
            Some(libc::ENXIO) => refused(path, "is not a regular file"),
            _ => e,
        }
    })?;
    if fstat(&fd)?.st_mode & libc::S_IFMT != libc::S_IFREG {
        return Err(refused(path, "is not a regular file"));
    }
    Ok(File::from(fd))
}

/// Opens a state file (see the module documentation).
pub fn open(path: &Path, access: Access) -> io::Result<File> {
    let dir = open_dir(
        path.parent().unwrap_or(Path::new(".")),
        access != Access::Read,
    )?;
    open_in(&dir, path, access)
}

fn read_limited(file: File, path: &Path, max: u64) -> io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    file.take(max + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > max {
        return Err(refused(path, &format!("is larger than {max} bytes")));
    }
    Ok(bytes)
}

/// A state file's content, at most `max` bytes (larger is an error); None
/// when it does not exist.
pub fn read_bounded(path: &Path, max: u64) -> io::Result<Option<Vec<u8>>> {
    match open(path, Access::Read) {
        Ok(file) => read_limited(file, path, max).map(Some),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// A small file outside the state root (such as /etc/machine-id): symlinks
/// followed, but never blocking, regular files only, at most `max` bytes.
pub fn read_small_file(path: &Path, max: u64) -> io::Result<Vec<u8>> {
    let flags = libc::O_RDONLY | libc::O_NONBLOCK;
    let fd = open_raw(None, path.as_os_str().as_bytes(), flags)?;
    if fstat(&fd)?.st_mode & libc::S_IFMT != libc::S_IFREG {
        return Err(refused(path, "is not a regular file"));
    }
    read_limited(File::from(fd), path, max)
}

/// Opening options for files outside this module's reach: 0600, never
/// following a symlink planted at the path, never blocking on a FIFO.
pub fn private_options() -> std::fs::OpenOptions {
    use std::os::unix::fs::OpenOptionsExt;
    let mut options = std::fs::OpenOptions::new();
    options
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NONBLOCK);
    options
}

/// Writes `bytes` to `path` via a temporary file and rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = open_dir(path.parent().unwrap_or(Path::new(".")), true)?;
    let name = file_name(path)?;
    let tmp_name = format!(
        ".{}.{}.tmp",
        name.to_str().unwrap_or("state"),
        std::process::id()
    );
    let tmp = path.with_file_name(&tmp_name);
    let c_tmp = c_path(tmp_name.as_bytes())?;
    let result = (|| {
        let mut file = open_in(&dir, &tmp, Access::Replace)?;
        file.write_all(bytes)?;
        file.sync_data()?;
        let c_name = c_path(name.as_bytes())?;
        let d = dir.as_raw_fd();
        // SAFETY: both names are C strings relative to the open directory.
        if unsafe { libc::renameat(d, c_tmp.as_ptr(), d, c_name.as_ptr()) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    })();
    if result.is_err() {
        // SAFETY: removes our own temporary file, relative to the directory.
        unsafe { libc::unlinkat(dir.as_raw_fd(), c_tmp.as_ptr(), 0) };
    }
    result
}

/// Opens (creating) a lock file and takes an exclusive lock on it, waiting
/// at most the process's lock wait (see the module documentation).
pub fn lock_exclusive(path: &Path) -> io::Result<File> {
    lock_exclusive_queued(path, || 0)
}

/// Like `lock_exclusive`, but the wait starts over whenever `progress`
/// returns something new (other processes are taking the lock in turn: we
/// are in a queue, not facing a stuck holder), up to 20 times the wait in
/// all.
pub fn lock_exclusive_queued(path: &Path, mut progress: impl FnMut() -> u64) -> io::Result<File> {
    let file = open(path, Access::ReadWrite)?;
    let start = Instant::now();
    let mut deadline = start + lock_wait();
    let give_up = start + lock_wait() * 20;
    let mut seen = progress();
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(file),
            Err(std::fs::TryLockError::Error(e)) => return Err(e),
            Err(std::fs::TryLockError::WouldBlock) => {}
        }
        let now = Instant::now();
        let current = progress();
        if current != seen {
            seen = current;
            deadline = (now + lock_wait()).min(give_up);
        }
        if now >= deadline {
            return Err(io::Error::new(
                io::ErrorKind::WouldBlock,
                format!("{} is locked by another process", path.display()),
            ));
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Like `lock_exclusive` but gives up at once when someone else holds it.
pub fn try_lock_exclusive(path: &Path) -> io::Result<Option<File>> {
    let file = open(path, Access::ReadWrite)?;
    match file.try_lock() {
        Ok(()) => Ok(Some(file)),
        Err(std::fs::TryLockError::WouldBlock) => Ok(None),
        Err(std::fs::TryLockError::Error(e)) => Err(e),
    }
}

/// Sets a file's modification time (creating it), used as a cheap timestamp.
pub fn touch_at(path: &Path, when: SystemTime) -> io::Result<()> {
    open(path, Access::ReadWrite)?.set_modified(when)
}

/// A fingerprint of a file's size and modification time (0 if absent).
pub fn fingerprint(path: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    std::fs::symlink_metadata(path).map_or(0, |m| {
        (m.len() << 32) ^ (m.mtime_nsec() as u64) ^ ((m.mtime() as u64) << 20)
    })
}

/// A regular file's modification time, if it exists (a stat, no open).
pub fn mtime(path: &Path) -> Option<SystemTime> {
    let meta = std::fs::symlink_metadata(path).ok()?;
    meta.is_file().then(|| meta.modified().ok()).flatten()
}

/// Appends one byte to `path` (a counter whose value is the file's size):
/// no lock, so it works while the locks it counts are held.
pub fn bump_counter(path: &Path) -> io::Result<()> {
    open(path, Access::Append)?.write_all(b"+")
}

/// The value of a `bump_counter` counter.
pub fn counter(path: &Path) -> u64 {
    std::fs::symlink_metadata(path)
        .ok()
        .filter(|m| m.is_file())
        .map_or(0, |m| m.len())
}
