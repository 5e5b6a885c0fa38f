//! Finding the real cf: `CFDEV_SHIM_REAL_CF`, else the first `cf` on PATH
//! that is not this wrapper (same inode: symlink or hard link; same bytes: a
//! copy). The recursion guard variable carries the candidates earlier wrappers
//! in this same call chain already tried, so a wrapper reached again (a copy
//! named cf elsewhere, a shim script, duplicate PATH entries) skips them and
//! never loops, and only the outermost wrapper records the invocation.

use crate::error::ErrorKind;
use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};

/// The one variable the wrapper adds to cf's environment.
pub const GUARD_VAR: &str = "__CFDEV_SHIM_GUARD";
/// More hops than this through wrappers is a loop, whatever PATH says.
const MAX_HOPS: usize = 8;

/// What the guard variable told us about the chain we are part of.
#[derive(Debug, Default)]
pub struct Guard {
    /// Candidate paths earlier wrappers of this chain handed the call to.
    pub tried: Vec<PathBuf>,
}

impl Guard {
    /// Reads the guard. It only counts when it was set by the process that
    /// became us (exec) or by our parent (spawn): a stale copy inherited by a
    /// later, unrelated cf call is ignored.
    pub fn from_env() -> Option<Guard> {
        let value = std::env::var_os(GUARD_VAR)?;
        let bytes = os_to_bytes(&value);
        let mut parts = bytes.split(|b| *b == b'\n');
        let pid: i64 = std::str::from_utf8(parts.next()?).ok()?.parse().ok()?;
        if !is_self_or_parent(pid) {
            return None;
        }
        let tried = parts
            .filter(|p| !p.is_empty())
            .map(|p| PathBuf::from(bytes_to_os(p)))
            .collect();
        Some(Guard { tried })
    }

    /// The guard value to hand to `next`.
    pub fn value_for(&self, next: &Path) -> Vec<u8> {
        let mut out = std::process::id().to_string().into_bytes();
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

#[cfg(unix)]
fn is_self_or_parent(pid: i64) -> bool {
    // SAFETY: getppid never fails.
    pid == std::process::id() as i64 || pid == unsafe { libc::getppid() } as i64
}

#[cfg(not(unix))]
fn is_self_or_parent(pid: i64) -> bool {
    pid == std::process::id() as i64
}

#[cfg(unix)]
fn os_to_bytes(s: &OsStr) -> &[u8] {
    std::os::unix::ffi::OsStrExt::as_bytes(s)
}

#[cfg(unix)]
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
        #[cfg(target_os = "linux")]
        let path = Some(PathBuf::from("/proc/self/exe"));
        #[cfg(not(target_os = "linux"))]
        let path = std::env::current_exe().ok();
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

#[cfg(unix)]
fn dev_ino(meta: &std::fs::Metadata) -> (u64, u64) {
    use std::os::unix::fs::MetadataExt;
    (meta.dev(), meta.ino())
}

#[cfg(not(unix))]
fn dev_ino(_meta: &std::fs::Metadata) -> (u64, u64) {
    (0, 0)
}

#[cfg(unix)]
fn is_executable_file(meta: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::PermissionsExt;
    meta.is_file() && meta.permissions().mode() & 0o111 != 0
}

#[cfg(not(unix))]
fn is_executable_file(meta: &std::fs::Metadata) -> bool {
    meta.is_file()
}

const CF_NAME: &str = if cfg!(windows) { "cf.exe" } else { "cf" };

/// Resolves the real cf for this call, given the chain we are in and
/// `CFDEV_SHIM_REAL_CF` (`explicit`, read by `settings`).
pub fn real_cf(guard: &Guard, explicit: Option<&Path>) -> Result<PathBuf, ErrorKind> {
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
