//! The collector's command line (clap). A library module so that
//! `examples/gen_docs.rs` derives its completions and man page without
//! compiling the generators into the server.

use clap::{Parser, Subcommand};
use std::path::PathBuf;

const DB_HELP: &str = "SQLite file (created 0600 if missing) or PostgreSQL URL \
    postgres://USER@HOST:PORT/DB (password in the URL or PGPASSWORD)";

#[derive(Parser)]
#[command(
    name = "cfdev-collector",
    version,
    about = "Data store and quarterly report for cfdev-shim telemetry"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Ingest Segment batch/track calls into SQLite or PostgreSQL.
    Serve {
        /// Address to listen on, e.g. 127.0.0.1:8080 (port 0 picks a free one).
        #[arg(long)]
        listen: String,
        #[arg(long, help = DB_HELP)]
        db: String,
        /// Accepted write key (repeatable). None: no authentication.
        #[arg(long = "write-key")]
        write_keys: Vec<String>,
        /// SQLite page cache in MB: the server's memory stays within this
        /// plus a few MB.
        #[arg(long, default_value_t = 64)]
        cache_mb: u32,
        /// PostgreSQL connections at most.
        #[arg(long, default_value_t = 4)]
        pg_pool: usize,
        /// No log line per request on stderr.
        #[arg(long)]
        quiet: bool,
        /// Directory of the published site, served under /reports/
        /// (default: the SQLite path with ".site" appended; with PostgreSQL,
        /// cfdev-collector-site-DBNAME in the temp directory).
        #[arg(long)]
        site: Option<PathBuf>,
        /// How often the site is republished: 30m, 1h, 1d or seconds.
        #[arg(long, default_value = "1h")]
        publish_every: String,
        /// K for the published site: rows seen on fewer machines are suppressed.
        #[arg(long, default_value_t = 5)]
        min_machines: u64,
    },
    /// Write the quarter's aggregate report.
    Report {
        #[arg(long, help = DB_HELP)]
        db: String,
        /// Quarter such as 2026-Q4 (default: the current one).
        #[arg(long)]
        quarter: Option<String>,
        #[arg(long, default_value = "md", value_parser = ["md", "csv", "json", "html"])]
        format: String,
        /// Rows seen on fewer machines are suppressed.
        #[arg(long, default_value_t = 5)]
        min_machines: u64,
        /// Write to this file instead of stdout.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Report as if generated at this time (RFC 3339), for reproducible output.
        #[arg(long)]
        as_of: Option<String>,
    },
    /// Write the public site: every quarter as HTML, JSON and CSV.
    Publish {
        #[arg(long, help = DB_HELP)]
        db: String,
        /// Directory to write (created if missing).
        #[arg(long)]
        out: PathBuf,
        /// Rows seen on fewer machines are suppressed.
        #[arg(long, default_value_t = 5)]
        min_machines: u64,
        /// Publish as if at this time (RFC 3339), for reproducible output.
        #[arg(long)]
        as_of: Option<String>,
    },
    /// Apply pending schema migrations (serve also does on start).
    Migrate {
        #[arg(long, help = DB_HELP)]
        db: String,
    },
    /// Delete every event dated before a quarter (retention).
    Prune {
        #[arg(long, help = DB_HELP)]
        db: String,
        /// First quarter to keep, such as 2025-Q1.
        #[arg(long)]
        before: String,
    },
    /// Copy stored events to another database (idempotent, resumable).
    Copy {
        /// Source database (path or URL).
        #[arg(long)]
        from: String,
        /// Destination database (path or URL; created if missing).
        #[arg(long)]
        to: String,
    },
}

/// The clap definition, for generated completions and man pages.
pub fn command() -> clap::Command {
    <Cli as clap::CommandFactory>::command()
}
