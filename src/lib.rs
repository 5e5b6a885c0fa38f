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

pub mod app;
pub mod argv;
pub mod catalogue;
pub mod cli;
pub mod commands;
pub mod config;
pub mod consent;
pub mod deliver;
pub mod error;
pub mod event;
pub mod exit;
pub mod forward;
pub mod fsutil;
pub mod identity;
pub mod marker;
pub mod output;
pub mod paths;
pub mod record;
pub mod resolve;
pub mod settings;
pub mod signals;
pub mod spool;
pub mod state;
pub mod status;
