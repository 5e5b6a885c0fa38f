//! Finding the real cf: `CFDEV_SHIM_REAL_CF`, else the first `cf` on PATH
//! that is not this wrapper (same inode: symlink or hard link; same bytes: a
//! copy).
//!
//! The recursion guard variable says who handed the call on and what was
//! already tried: `PID DEV:INO NESTING` on its first line (the wrapper that set
//! it, the identity of that wrapper's executable, how many independent wrapper
//! calls are nested above it), then one candidate path per line. A wrapper
//! trusts the guard, and so skips the candidates already tried and does not
//! record, only when it is part of the same hand-over:
//! - the PID is our own: the wrapper exec'd a candidate (directly or through an
//!   exec-ing shim script) and that candidate turned out to be us;
//! - or the PID is our parent and the parent still runs the wrapper
//!   executable named in the guard (`/proc/PID/exe`): a wrapper in
//!   spawn mode is waiting for the candidate it started, and that is us.
//!
//! A `cf` run by cf's own children (plugins) fails both tests — its parent is
//! the real cf, which either replaced the wrapper (exec mode, same PID but a
//! different executable) or is a child of it (spawn mode) — so it reaches the
//! real cf and is recorded as the invocation it is. A guard that is not
//! trusted still bounds nesting: chains that pass through a non-exec-ing
//! script start fresh each time, and after `MAX_NESTING` of them the call
//! ends as a loop instead of forking forever.

use crate::error::ErrorKind;
use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};

/// The one variable the wrapper adds to cf's environment.
pub const GUARD_VAR: &str = "__CFDEV_SHIM_GUARD";
/// More hops than this through wrappers is a loop, whatever PATH says.
const MAX_HOPS: usize = 8;
/// More independent wrapper calls nested in each other than this is a loop
/// through something that does not exec (a plugin calling cf is one level).
const MAX_NESTING: u32 = 8;

/// What the guard variable told us about the chain we are part of.
#[derive(Debug, Default)]
pub struct Guard {
    /// Candidate paths earlier wrappers of this chain handed the call to.
    pub tried: Vec<PathBuf>,
    /// Independent wrapper calls above this chain (0 for a call from a shell).
    nesting: u32,
}

/// The guard's first line, parsed.
struct Setter {
    pid: u32,
    exe: (u64, u64),
    nesting: u32,
}

impl Setter {
    fn parse(line: &[u8]) -> Option<Setter> {
        let text = std::str::from_utf8(line).ok()?;
        let mut fields = text.split(' ');
        let pid = fields.next()?.parse().ok()?;
        let (dev, ino) = fields.next()?.split_once(':')?;
        let nesting = fields.next()?.parse().ok()?;
        Some(Setter {
            pid,
            exe: (dev.parse().ok()?, ino.parse().ok()?),
            nesting,
        })
    }

    /// See the module documentation for why these two cases and no others.
    fn handed_over_to_us(&self) -> bool {
        if self.pid == std::process::id() {
            return true;
        }
        // SAFETY: getppid cannot fail.
        let parent = unsafe { libc::getppid() };
        u32::try_from(parent) == Ok(self.pid) && process_runs(self.pid, self.exe)
    }
}

/// Whether process `pid` currently runs the executable with this identity.
fn process_runs(pid: u32, exe: (u64, u64)) -> bool {
    std::fs::metadata(format!("/proc/{pid}/exe")).is_ok_and(|m| dev_ino(&m) == exe)
}

impl Guard {
    /// The guard when this call is a hand-over within one chain of wrappers
    /// (pass through, do not record); None for a call of its own.
    pub fn from_env() -> Option<Guard> {
        let (setter, tried) = read_env()?;
        if !setter.handed_over_to_us() {
            return None;
        }
        Some(Guard {
            tried,
            nesting: setter.nesting,
        })
    }

    /// The guard for a call of its own: nothing tried yet, one level deeper
    /// than the wrapper call (if any) whose guard we inherited.
    pub fn fresh() -> Guard {
        let nesting = read_env().map_or(0, |(setter, _)| setter.nesting.saturating_add(1));
        Guard {
            tried: Vec::new(),
            nesting,
        }
    }

    /// The guard value to hand to `next`.
    pub fn value_for(&self, next: &Path) -> Vec<u8> {
        let (dev, ino) = SelfImage::current().dev_ino.unwrap_or((0, 0));
        let mut out = format!("{} {dev}:{ino} {}", std::process::id(), self.nesting).into_bytes();
        for p in self
            .tried
            .iter()
            .map(|p| p.as_path())
            .chain(std::iter::once(next))
        {
            out.push(b'\n');
            out.extend_from_slice(os_to_bytes(p.as_os_str()));
        }
        out
    }
}

fn read_env() -> Option<(Setter, Vec<PathBuf>)> {
    let value = std::env::var_os(GUARD_VAR)?;
    let bytes = os_to_bytes(&value);
    let mut parts = bytes.split(|b| *b == b'\n');
    let setter = Setter::parse(parts.next()?)?;
    let tried = parts
        .filter(|p| !p.is_empty())
        .map(|p| PathBuf::from(bytes_to_os(p)))
        .collect();
    Some((setter, tried))
}

fn os_to_bytes(s: &OsStr) -> &[u8] {
    std::os::unix::ffi::OsStrExt::as_bytes(s)
}

fn bytes_to_os(b: &[u8]) -> OsString {
    std::os::unix::ffi::OsStringExt::from_vec(b.to_vec())
}

/// Identity of the running wrapper binary, to recognise it on PATH.
struct SelfImage {
    dev_ino: Option<(u64, u64)>,
    len: u64,
    path: Option<PathBuf>,
}

impl SelfImage {
    fn current() -> SelfImage {
        let path = Some(PathBuf::from("/proc/self/exe"));
        let meta = path.as_ref().and_then(|p| std::fs::metadata(p).ok());
        SelfImage {
            dev_ino: meta.as_ref().map(dev_ino),
            len: meta.map(|m| m.len()).unwrap_or(u64::MAX),
            path,
        }
    }

    /// True for a link to this binary or a byte-identical copy of it. Only
    /// files of exactly our size are read, so the real cf is never read.
    fn is_me(&self, meta: &std::fs::Metadata, candidate: &Path) -> bool {
        if self.dev_ino.is_some() && self.dev_ino == Some(dev_ino(meta)) {
            return true;
        }
        if meta.len() != self.len {
            return false;
        }
        match (&self.path, std::fs::read(candidate)) {
            (Some(me), Ok(theirs)) => std::fs::read(me)
                .map(|mine| mine == theirs)
                .unwrap_or(false),
            _ => false,
        }
    }
}

fn dev_ino(meta: &std::fs::Metadata) -> (u64, u64) {
    use std::os::unix::fs::MetadataExt;
    (meta.dev(), meta.ino())
}

fn is_executable_file(meta: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::PermissionsExt;
    meta.is_file() && meta.permissions().mode() & 0o111 != 0
}

const CF_NAME: &str = "cf";

/// Resolves the real cf for this call, given the chain we are in and
/// `CFDEV_SHIM_REAL_CF` (`explicit`, read by `settings`).
pub fn real_cf(guard: &Guard, explicit: Option<&Path>) -> Result<PathBuf, ErrorKind> {
    if guard.nesting > MAX_NESTING {
        return Err(ErrorKind::WrapperLoop {
            chain: format!(
                "{} wrapper calls nested in each other through {GUARD_VAR}",
                guard.nesting
            ),
        });
    }
    if guard.tried.len() >= MAX_HOPS {
        let chain: Vec<String> = guard
            .tried
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        return Err(ErrorKind::WrapperLoop {
            chain: chain.join(" -> "),
        });
    }
    if let Some(explicit) = explicit {
        return explicit_cf(explicit.to_path_buf(), guard);
    }
    let me = SelfImage::current();
    let path_var = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path_var) {
        // POSIX: an empty PATH entry means the current directory.
        let dir = if dir.as_os_str().is_empty() {
            PathBuf::from(".")
        } else {
            dir
        };
        let candidate = dir.join(CF_NAME);
        let Ok(meta) = std::fs::metadata(&candidate) else {
            continue;
        };
        if !is_executable_file(&meta) || guard.tried.contains(&candidate) {
            continue;
        }
        if me.is_me(&meta, &candidate) {
            continue;
        }
        return Ok(candidate);
    }
    Err(ErrorKind::CfNotFound {
        searched: format!(
            "PATH={} for '{CF_NAME}', skipping this wrapper{}",
            path_var.to_string_lossy(),
            if guard.tried.is_empty() {
                String::new()
            } else {
                format!(" and {} already tried", guard.tried.len())
            }
        ),
    })
}

fn explicit_cf(path: PathBuf, guard: &Guard) -> Result<PathBuf, ErrorKind> {
    if !path.is_absolute() {
        return Err(ErrorKind::CfNotFound {
            searched: format!(
                "CFDEV_SHIM_REAL_CF={} (must be an absolute path)",
                path.display()
            ),
        });
    }
    if guard.tried.contains(&path) {
        let mut chain: Vec<String> = guard
            .tried
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        chain.push(path.display().to_string());
        return Err(ErrorKind::WrapperLoop {
            chain: chain.join(" -> "),
        });
    }
    match std::fs::metadata(&path) {
        Ok(meta) if is_executable_file(&meta) => Ok(path),
        _ => Err(ErrorKind::CfNotFound {
            searched: format!(
                "CFDEV_SHIM_REAL_CF={} (not an executable file)",
                path.display()
            ),
        }),
    }
}
