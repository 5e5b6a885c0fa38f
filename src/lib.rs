//! cfdev-shim: a transparent wrapper for the Cloud Foundry CLI that forwards
//! every invocation unchanged and, only after the user opts in, records
//! anonymous usage events (SPEC.md). One module per concern; `app` wires them.
#![warn(
    clippy::multiple_unsafe_ops_per_block,
    clippy::undocumented_unsafe_blocks
)]

// Forwarding relies on clone(2), the raw signal mask and /proc (see
// `forward`, `signals`, `resolve`); nothing else is built or tested.
#[cfg(not(target_os = "linux"))]
compile_error!("cfdev-shim supports Linux only (README: Platforms)");

// The folders are the layers of the flow argv → classification → consent →
// forward/record → spool → delivery (docs/architecture.md). Each module is
// also re-exported at the crate root, so a path names the concern
// (`crate::spool`) and the folder tree shows where it sits.

/// Running the real cf exactly as the caller would have.
pub mod forwarding {
    pub mod early;
    pub mod forward;
    pub mod resolve;
    pub mod signals;
}

/// Reading cf's argv with cf's own grammar and turning it into events.
pub mod capture {
    pub mod argv;
    pub mod catalogue;
    pub mod commands;
    pub mod event;
    pub mod record;
}

/// Everything kept on this machine: settings, the user's choice, the
/// anonymous ID, the spool and delivery state.
pub mod local {
    pub mod config;
    pub mod consent;
    pub mod fsutil;
    pub mod identity;
    pub mod marker;
    pub mod paths;
    pub mod settings;
    pub mod spool;
    pub mod state;
}

/// cfdev-shim's own commands (`telemetry …`, `flush`, `which-cf`).
pub mod own_commands {
    pub mod cli;
    pub mod output;
    pub mod status;
}

pub mod app;
pub mod deliver;
pub mod error;
pub mod exit;

pub use capture::{argv, catalogue, commands, event, record};
pub use forwarding::{early, forward, resolve, signals};
pub use local::{config, consent, fsutil, identity, marker, paths, settings, spool, state};
pub use own_commands::{cli, output, status};
