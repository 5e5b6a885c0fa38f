//! cfdev-collector: a Segment-compatible data store for cfdev-shim events
//! (embedded SQLite or a shared PostgreSQL) and the quarterly aggregate
//! report.

pub mod cli;
pub mod copy;
pub mod ingest;
pub mod publish;
pub mod publish_serve;
pub mod quarter;
pub mod report;
pub mod server;
pub mod store;
