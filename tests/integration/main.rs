//! One integration test binary (ripgrep style): every test drives the real
//! built binaries from a sandbox with a fake cf.

mod capture;
mod consent;
mod delivery;
mod deploy;
mod dist;
mod early;
mod end_to_end;
mod endpoints;
mod faults;
mod forwarding;
mod function_mode;
mod inherited;
mod install;
mod pty;
mod server;
mod signals;
mod soak;
mod state_root;
mod util;
