//! Our own failures, kept apart from cf's exit status (which passes through
//! untouched). Each kind prints one line prefixed `cfdev-shim:` and maps to a
//! documented exit code.

use std::fmt;

/// Exit status when cf (or the wrapper's own command) cannot be found.
pub const EXIT_NOT_FOUND: i32 = 127;
/// Exit status when cf was found but could not be executed.
pub const EXIT_CANNOT_EXECUTE: i32 = 126;
/// Exit status for a failed `cfdev-shim` subcommand.
pub const EXIT_FAILURE: i32 = 1;
/// Exit status for bad usage of a `cfdev-shim` subcommand.
pub const EXIT_USAGE: i32 = 2;

#[derive(Debug)]
pub enum ErrorKind {
    /// Thrown when no real cf is on PATH (or `CFDEV_SHIM_REAL_CF` does not name one).
    CfNotFound { searched: String },
    /// Thrown when the real cf exists but the kernel refused to run it.
    CfNotExecutable { path: String, reason: String },
    /// Thrown when wrappers keep handing the call to each other.
    WrapperLoop { chain: String },
    /// Thrown when a `cfdev-shim` subcommand is used wrongly.
    Usage(String),
    /// Thrown when a `cfdev-shim` subcommand could not do its job.
    Failed(String),
}

impl ErrorKind {
    pub fn exit_code(&self) -> i32 {
        match self {
            ErrorKind::CfNotFound { .. } | ErrorKind::WrapperLoop { .. } => EXIT_NOT_FOUND,
            ErrorKind::CfNotExecutable { .. } => EXIT_CANNOT_EXECUTE,
            ErrorKind::Usage(_) => EXIT_USAGE,
            ErrorKind::Failed(_) => EXIT_FAILURE,
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ErrorKind::CfNotFound { searched } => write!(
                f,
                "no real cf found (searched {searched}); install the cf CLI or set \
                 CFDEV_SHIM_REAL_CF to its absolute path"
            ),
            ErrorKind::CfNotExecutable { path, reason } => {
                write!(f, "cannot execute the real cf at {path}: {reason}")
            }
            ErrorKind::WrapperLoop { chain } => write!(
                f,
                "cf wrappers call each other in a loop ({chain}); set CFDEV_SHIM_REAL_CF to \
                 the real cf's absolute path"
            ),
            ErrorKind::Usage(msg) | ErrorKind::Failed(msg) => f.write_str(msg),
        }
    }
}

/// Prints the error as our one line on stderr and returns its exit code.
pub fn report(err: &ErrorKind) -> i32 {
    eprintln!("cfdev-shim: {err}");
    err.exit_code()
}
