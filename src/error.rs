//! Our own failures, kept apart from cf's exit status (which passes through
//! untouched), in one style (as Volta's `error/`): an `ErrorKind` says what
//! failed and what to do next, an `Error` adds the cause it came from
//! (`Context::with_context`), and `report` prints the whole chain as one line
//! prefixed `cfdev-shim:` and returns the kind's documented exit code.

use std::fmt;
use std::path::PathBuf;

/// Exit status when cf (or the wrapper's own command) cannot be found.
pub const EXIT_NOT_FOUND: i32 = 127;
/// Exit status when cf was found but could not be executed.
pub const EXIT_CANNOT_EXECUTE: i32 = 126;
/// Exit status for a failed `cfdev-shim` subcommand.
pub const EXIT_FAILURE: i32 = 1;
/// Exit status for bad usage of a `cfdev-shim` subcommand.
pub const EXIT_USAGE: i32 = 2;

/// Our commands' results.
pub type Fallible<T> = Result<T, Error>;

#[derive(Debug)]
pub enum ErrorKind {
    /// Thrown when no real cf is on PATH (or `CFDEV_SHIM_REAL_CF` does not name one).
    CfNotFound { searched: String },
    /// Thrown when the real cf exists but the kernel refused to run it.
    CfNotExecutable { path: String, reason: String },
    /// Thrown when waiting for a started cf fails (its status is unknown).
    CfLost { pid: i32, reason: String },
    /// Thrown when wrappers keep handing the call to each other.
    WrapperLoop { chain: String },
    /// Thrown when a `cfdev-shim` subcommand is used wrongly.
    Usage(String),
    /// Thrown when neither `CFDEV_SHIM_HOME` nor a home directory gives a
    /// place to keep the choice and the spool.
    NoStateDir,
    /// Thrown when the config file (choice, endpoint) cannot be written.
    ConfigSave { path: PathBuf },
    /// Thrown when the spool cannot be read.
    SpoolRead { path: PathBuf },
    /// Thrown when `flush` leaves events pending (the text says why).
    FlushIncomplete(String),
}

impl ErrorKind {
    pub fn exit_code(&self) -> i32 {
        match self {
            ErrorKind::CfNotFound { .. } | ErrorKind::WrapperLoop { .. } => EXIT_NOT_FOUND,
            ErrorKind::CfNotExecutable { .. } => EXIT_CANNOT_EXECUTE,
            ErrorKind::CfLost { .. } => EXIT_FAILURE,
            ErrorKind::Usage(_) => EXIT_USAGE,
            ErrorKind::NoStateDir
            | ErrorKind::ConfigSave { .. }
            | ErrorKind::SpoolRead { .. }
            | ErrorKind::FlushIncomplete(_) => EXIT_FAILURE,
        }
    }

    /// What the user can do about it, when the message does not say.
    fn next_step(&self) -> Option<&'static str> {
        match self {
            ErrorKind::NoStateDir => Some("set HOME or CFDEV_SHIM_HOME"),
            ErrorKind::ConfigSave { .. } => {
                Some("check that the directory is writable, or set CFDEV_SHIM_HOME")
            }
            ErrorKind::SpoolRead { .. } => Some("check the file's permissions"),
            _ => None,
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
            ErrorKind::CfLost { pid, reason } => {
                write!(f, "lost track of cf (pid {pid}): {reason}")
            }
            ErrorKind::WrapperLoop { chain } => write!(
                f,
                "cf wrappers call each other in a loop ({chain}); set CFDEV_SHIM_REAL_CF to \
                 the real cf's absolute path"
            ),
            ErrorKind::Usage(msg) | ErrorKind::FlushIncomplete(msg) => f.write_str(msg),
            ErrorKind::NoStateDir => f.write_str("no state directory"),
            ErrorKind::ConfigSave { path } => write!(f, "could not save {}", path.display()),
            ErrorKind::SpoolRead { path } => {
                write!(f, "cannot read the pending events in {}", path.display())
            }
        }
    }
}

/// An `ErrorKind` with the lower-level error that caused it.
#[derive(Debug)]
pub struct Error {
    kind: ErrorKind,
    cause: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl Error {
    pub fn kind(&self) -> &ErrorKind {
        &self.kind
    }

    pub fn exit_code(&self) -> i32 {
        self.kind.exit_code()
    }
}

impl From<ErrorKind> for Error {
    fn from(kind: ErrorKind) -> Error {
        Error { kind, cause: None }
    }
}

impl fmt::Display for Error {
    /// One line: what failed, its causes, then the next step.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.kind)?;
        let mut cause = self.cause.as_deref().map(|c| c as &dyn std::error::Error);
        while let Some(c) = cause {
            write!(f, ": {c}")?;
            cause = c.source();
        }
        if let Some(next) = self.kind.next_step() {
            write!(f, "; {next}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.cause
            .as_deref()
            .map(|c| c as &(dyn std::error::Error + 'static))
    }
}

/// Attaches what we were doing to a lower-level error.
pub trait Context<T> {
    fn with_context(self, kind: impl FnOnce() -> ErrorKind) -> Fallible<T>;
}

impl<T, E: std::error::Error + Send + Sync + 'static> Context<T> for Result<T, E> {
    fn with_context(self, kind: impl FnOnce() -> ErrorKind) -> Fallible<T> {
        self.map_err(|cause| Error {
            kind: kind(),
            cause: Some(Box::new(cause)),
        })
    }
}

/// Prints the error as our one line on stderr and returns its exit code.
pub fn report(err: &Error) -> i32 {
    eprintln!("cfdev-shim: {err}");
    err.exit_code()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_with_cause_and_next_step() {
        let cause = std::io::Error::from_raw_os_error(libc::EACCES);
        let err = Err::<(), _>(cause)
            .with_context(|| ErrorKind::ConfigSave {
                path: PathBuf::from("/s/config.json"),
            })
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "could not save /s/config.json: Permission denied (os error 13); \
             check that the directory is writable, or set CFDEV_SHIM_HOME"
        );
        assert_eq!(err.exit_code(), EXIT_FAILURE);
        assert!(std::error::Error::source(&err).is_some());
    }

    #[test]
    fn kinds_keep_their_exit_codes() {
        let usage: Error = ErrorKind::Usage("bad".into()).into();
        assert_eq!((usage.to_string().as_str(), usage.exit_code()), ("bad", 2));
        let missing: Error = ErrorKind::CfNotFound {
            searched: "PATH".into(),
        }
        .into();
        assert_eq!(missing.exit_code(), 127);
    }
}
