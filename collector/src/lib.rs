//! cfdev-collector: a Segment-compatible data store for cfdev-shim events
//! (embedded SQLite) and the quarterly aggregate report.

pub mod cli;
pub mod ingest;
pub mod report;
pub mod server;
pub mod store;
