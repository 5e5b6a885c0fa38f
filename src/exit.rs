//! How this process ends, as a leaf type every layer may return (as fd's
//! `exit_codes.rs`): our own status, or cf's, which passes through untouched
//! — a cf killed by a signal makes us die of the same signal, never 128+n.

use crate::forward::{self, ChildExit};
use std::io::Write;

/// How this process should end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Our own status (0, or an error's `exit_code`).
    Exit(i32),
    /// cf's: its exit code, or death by the same signal.
    Child(ChildExit),
}

impl Outcome {
    /// Flushes our output and turns the outcome into the process status
    /// (dying of cf's signal instead of returning, when there was one).
    pub fn finish(self) -> i32 {
        let _ = std::io::stdout().flush();
        match self {
            Outcome::Exit(code) => code,
            Outcome::Child(exit) => forward::die_like(exit),
        }
    }
}
