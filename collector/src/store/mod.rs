//! Storage, behind one interface with a module per backend: embedded SQLite
//! (a file path, the default) or PostgreSQL (a `postgres://` URL, shared by
//! any number of collectors). The HTTP layer, validation and report
//! rendering only ever see the types here, never which backend is in use.
//!
//! Two handles: [`Store`] is the ingest side (async, group commit, a 200
//! only after the rows are committed); [`Database`] is the blocking side
//! used by the commands (report aggregation inputs, migrations, prune, copy).

mod migrations;
mod postgres;
mod postgres_admin;
mod sqlite;

use crate::ingest::Row;
use crate::quarter::Quarter;
use std::path::{Path, PathBuf};

pub use migrations::Migration;

/// Where the events live, as given to `--db`.
#[derive(Clone)]
pub enum Location {
    Sqlite(PathBuf),
    Postgres(Box<tokio_postgres::Config>),
}

impl Location {
    /// A `postgres://` or `postgresql://` URL (libpq style; the password from
    /// the URL or else `PGPASSWORD`), or else a SQLite file path.
    pub fn parse(text: &str) -> Result<Location, String> {
        if !(text.starts_with("postgres://") || text.starts_with("postgresql://")) {
            return Ok(Location::Sqlite(PathBuf::from(text)));
        }
        let mut config: tokio_postgres::Config = text
            .parse()
            .map_err(|e| format!("'{}' is not a PostgreSQL URL: {e}", redact(text)))?;
        if config.get_password().is_none() {
            if let Some(password) = std::env::var_os("PGPASSWORD") {
                config.password(password.to_string_lossy().as_bytes());
            }
        }
        if config.get_user().is_none() {
            return Err(format!(
                "'{}' names no user (postgres://USER@HOST:PORT/DB)",
                redact(text)
            ));
        }
        if config.get_dbname().is_none() {
            return Err(format!(
                "'{}' names no database (postgres://USER@HOST:PORT/DB)",
                redact(text)
            ));
        }
        config.application_name("cfdev-collector");
        if config.get_connect_timeout().is_none() {
            // Requests fail fast with a 503 while the database is away.
            config.connect_timeout(std::time::Duration::from_secs(3));
        }
        Ok(Location::Postgres(Box::new(config)))
    }

    /// For messages: never shows a password.
    pub fn describe(&self) -> String {
        match self {
            Location::Sqlite(path) => path.display().to_string(),
            Location::Postgres(config) => {
                let host = config
                    .get_hosts()
                    .first()
                    .map(|h| match h {
                        tokio_postgres::config::Host::Tcp(name) => name.clone(),
                        #[cfg(unix)]
                        tokio_postgres::config::Host::Unix(dir) => dir.display().to_string(),
                    })
                    .unwrap_or_else(|| "localhost".into());
                let port = config.get_ports().first().copied().unwrap_or(5432);
                format!(
                    "postgres://{}@{host}:{port}/{}",
                    config.get_user().unwrap_or(""),
                    config.get_dbname().unwrap_or("")
                )
            }
        }
    }
}

/// Hides the password of a URL given on the command line.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

/// One aggregated row of the report before suppression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub key: String,
    pub count: u64,
    pub machines: u64,
}

/// The report's aggregation inputs for one quarter, computed by the backend
/// (SQLite: one pass over a covering index; PostgreSQL: SQL inside the
/// server). Lines are in the canonical order (count descending, then key
/// bytewise; weeks chronological), so both backends compare equal.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Tallies {
    pub total_events: u64,
    pub machines: u64,
    pub events: Vec<Line>,
    pub by_os: Vec<Line>,
    pub by_build: Vec<Line>,
    pub errors_by_command: Vec<Line>,
    pub weekly: Vec<Line>,
}

impl Tallies {
    /// Puts every section in the canonical order.
    fn sorted(mut self) -> Tallies {
        for lines in [
            &mut self.events,
            &mut self.by_os,
            &mut self.by_build,
            &mut self.errors_by_command,
        ] {
            lines.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.key.cmp(&b.key)));
        }
        self.weekly.sort_by(|a, b| a.key.cmp(&b.key));
        self
    }
}

/// Monday (UTC) of the week holding unix day `day`, as YYYY-MM-DD.
pub(crate) fn monday_of_day(day: i64) -> i64 {
    day - (day + 3).rem_euclid(7) // 1970-01-01 was a Thursday
}

pub(crate) fn day_label(day: i64) -> String {
    chrono::NaiveDate::from_ymd_opt(1970, 1, 1)
        .and_then(|epoch| epoch.checked_add_signed(chrono::Duration::days(day)))
        .map(|d| d.to_string())
        .unwrap_or_default()
}

/// A group of a quarter's track events as the published report reads them:
/// the events sharing event name, machine (anonymous ID, else user ID), OS,
/// build, error command and week, and how many there are. Missing values
/// arrive as `"unknown"`; `command` is only meaningful for `Error` events.
#[derive(Debug, Clone, Copy)]
pub struct Group<'a> {
    pub event: &'a str,
    pub machine: &'a str,
    pub os: &'a str,
    pub build: &'a str,
    pub command: &'a str,
    /// A day (days since 1970-01-01, UTC) of the events' week: SQLite
    /// gives the event's own day, PostgreSQL the Monday.
    pub day: i64,
    pub count: u64,
}

/// A stored event as `copy` moves it: the validated row plus when the
/// collector that took it received it.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub row: Row,
    pub received_at: String,
}

/// What `/healthz` says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Health {
    Ok,
    /// The database cannot take writes now; ingest answers 503.
    Unavailable(String),
}

/// Why a write was not committed. Every kind is temporary from the client's
/// side: it answers 503 so clients retry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unavailable(pub String);

impl std::fmt::Display for Unavailable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Settings of the ingest side.
#[derive(Debug, Clone)]
pub struct Options {
    /// SQLite page cache in MB.
    pub cache_mb: u32,
    /// PostgreSQL connections at most (the pool's bound).
    pub pool_size: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            cache_mb: 64,
            pool_size: 4,
        }
    }
}

/// The ingest handle: cheap to clone, shared by all requests.
#[derive(Clone)]
pub enum Store {
    Sqlite(sqlite::Writer),
    Postgres(postgres::Writer),
}

/// Waits for the storage to finish what it was given (call after the last
/// `Store` clone is dropped).
pub struct Finish(Option<std::thread::JoinHandle<()>>);

impl Finish {
    pub fn wait(self) {
        if let Some(handle) = self.0 {
            let _ = handle.join();
        }
    }
}

impl Store {
    /// Opens the backend for ingest, applying pending migrations. SQLite:
    /// opened (and created 0600) now. PostgreSQL: must run inside a Tokio
    /// runtime; when the server is unreachable the collector still starts,
    /// answers 503 and connects, migrates and recovers by itself.
    pub async fn start(location: &Location, options: &Options) -> Result<(Store, Finish), String> {
        match location {
            Location::Sqlite(path) => {
                let (writer, handle) = sqlite::Writer::start(path, options.cache_mb)?;
                Ok((Store::Sqlite(writer), Finish(Some(handle))))
            }
            Location::Postgres(config) => {
                let writer = postgres::Writer::start(config, options.pool_size).await?;
                Ok((Store::Postgres(writer), Finish(None)))
            }
        }
    }

    /// Stores the rows (duplicates by messageId are ignored) and returns how
    /// many were new, only once they are committed.
    pub async fn insert(&self, rows: Vec<Row>) -> Result<usize, Unavailable> {
        match self {
            Store::Sqlite(w) => w.insert(rows).await,
            Store::Postgres(w) => w.insert(rows).await,
        }
    }

    pub async fn health(&self) -> Health {
        match self {
            Store::Sqlite(w) => w.health(),
            Store::Postgres(w) => w.health().await,
        }
    }
}

/// The blocking handle used by `report`, `migrate`, `prune` and `copy`.
/// Do not use it from inside an async task (the PostgreSQL side drives its
/// own small runtime); use `spawn_blocking`.
pub enum Database {
    Sqlite(sqlite::Admin),
    Postgres(postgres_admin::Admin),
}

impl Database {
    /// Opens an existing database (a SQLite file must exist) and applies
    /// pending migrations.
    pub fn open(location: &Location) -> Result<Database, String> {
        match location {
            Location::Sqlite(path) => {
                if !path.exists() {
                    return Err(format!("no database at {}", path.display()));
                }
                Ok(Database::Sqlite(sqlite::Admin::open(path)?))
            }
            Location::Postgres(config) => {
                Ok(Database::Postgres(postgres_admin::Admin::connect(config)?))
            }
        }
    }

    /// Opens or creates (SQLite: 0600) the database, for `migrate` and as the
    /// destination of `copy`.
    pub fn create(location: &Location) -> Result<Database, String> {
        match location {
            Location::Sqlite(path) => Ok(Database::Sqlite(sqlite::Admin::open(path)?)),
            Location::Postgres(config) => {
                Ok(Database::Postgres(postgres_admin::Admin::connect(config)?))
            }
        }
    }

    /// The migrations in this build: (version, name, already applied).
    pub fn migrations(&mut self) -> Result<Vec<(u32, &'static str, bool)>, String> {
        match self {
            Database::Sqlite(a) => a.migrations(),
            Database::Postgres(a) => a.migrations(),
        }
    }

    /// The report's aggregation inputs for the quarter.
    pub fn tallies(&mut self, quarter: &Quarter) -> Result<Tallies, String> {
        match self {
            Database::Sqlite(a) => a.tallies(quarter),
            Database::Postgres(a) => a.tallies(quarter),
        }
        .map(Tallies::sorted)
    }

    /// The published report's input: the quarter's track events timestamped
    /// before `until_ms`, handed to `visit` in groups (SQLite: one event at a
    /// time from its covering index; PostgreSQL: grouped by the server,
    /// sql/postgres/report_groups.sql). Counting, vocabulary and k-anonymity
    /// are the report's, the same for both.
    pub fn scan_groups(
        &mut self,
        quarter: &Quarter,
        until_ms: i64,
        visit: &mut dyn FnMut(Group<'_>),
    ) -> Result<(), String> {
        let (start, end) = quarter.bounds_ms();
        let end = end.min(until_ms);
        if end <= start {
            return Ok(());
        }
        match self {
            Database::Sqlite(a) => a.scan_groups(start, end, visit),
            Database::Postgres(a) => a.scan_groups(start, end, visit),
        }
    }

    /// SQLite only: the same inputs computed by the warehouse statements of
    /// sql/sqlite/report.sql (a test requires them to agree); `None` on
    /// PostgreSQL, whose `tallies` is SQL already.
    pub fn warehouse_tallies(&mut self, quarter: &Quarter) -> Option<Result<Tallies, String>> {
        match self {
            Database::Sqlite(a) => Some(a.tallies_with_sql(quarter)),
            Database::Postgres(_) => None,
        }
    }

    /// Quarters holding at least one track event, oldest first.
    pub fn quarters(&mut self) -> Result<Vec<Quarter>, String> {
        match self {
            Database::Sqlite(a) => a.quarters(),
            Database::Postgres(a) => a.quarters(),
        }
    }

    /// Deletes every event dated before `quarter` starts (PostgreSQL: drops
    /// whole partitions). Returns the number of events deleted.
    pub fn prune(&mut self, before: &Quarter) -> Result<u64, String> {
        match self {
            Database::Sqlite(a) => a.prune(before),
            Database::Postgres(a) => a.prune(before),
        }
    }

    /// Events (of any type) dated in the quarter.
    pub fn count(&mut self, quarter: &Quarter) -> Result<u64, String> {
        match self {
            Database::Sqlite(a) => a.count(quarter),
            Database::Postgres(a) => a.count(quarter),
        }
    }

    /// Quarters holding events of any type, oldest first.
    pub fn stored_quarters(&mut self) -> Result<Vec<Quarter>, String> {
        match self {
            Database::Sqlite(a) => a.stored_quarters(),
            Database::Postgres(a) => a.stored_quarters(),
        }
    }

    /// Hands the quarter's events to `each`, `chunk` at a time.
    pub fn read_quarter(
        &mut self,
        quarter: &Quarter,
        chunk: usize,
        each: &mut dyn FnMut(Vec<Record>) -> Result<(), String>,
    ) -> Result<(), String> {
        match self {
            Database::Sqlite(a) => a.read_quarter(quarter, chunk, each),
            Database::Postgres(a) => a.read_quarter(quarter, chunk, each),
        }
    }

    /// Stores records in one transaction, ignoring messageIds already there.
    /// Returns how many were new.
    pub fn write(&mut self, records: &[Record]) -> Result<u64, String> {
        match self {
            Database::Sqlite(a) => a.write(records),
            Database::Postgres(a) => a.write(records),
        }
    }

    /// `copy` bookkeeping: quarters of `source` already copied here.
    pub fn copied(&mut self, source: &str) -> Result<Vec<String>, String> {
        match self {
            Database::Sqlite(a) => a.copied(source),
            Database::Postgres(a) => a.copied(source),
        }
    }

    pub fn mark_copied(&mut self, source: &str, quarter: &str) -> Result<(), String> {
        match self {
            Database::Sqlite(a) => a.mark_copied(source, quarter),
            Database::Postgres(a) => a.mark_copied(source, quarter),
        }
    }
}

/// Says which part of a SQLite path is wrong, instead of SQLite's "unable
/// to open database file".
pub fn explain_sqlite_path(path: &Path, error: &std::io::Error) -> String {
    sqlite::explain_open_error(path, error)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn week_of(text: &str) -> String {
        let ms = chrono::DateTime::parse_from_rfc3339(text)
            .unwrap()
            .timestamp_millis();
        day_label(monday_of_day(ms.div_euclid(86_400_000)))
    }

    #[test]
    fn weeks_start_on_monday() {
        assert_eq!(week_of("2026-11-23T00:00:00Z"), "2026-11-23");
        assert_eq!(week_of("2026-11-29T23:59:59Z"), "2026-11-23");
        assert_eq!(week_of("2026-11-30T00:00:00Z"), "2026-11-30");
        assert_eq!(week_of("1969-12-31T12:00:00Z"), "1969-12-29");
    }

    #[test]
    fn urls_are_postgres_and_paths_are_sqlite() {
        assert!(matches!(Location::parse("t.db"), Ok(Location::Sqlite(_))));
        let pg = Location::parse("postgres://u:secret@127.0.0.1:5433/events").unwrap();
        assert_eq!(pg.describe(), "postgres://u@127.0.0.1:5433/events");
        let err = Location::parse("postgres://u:secret@127.0.0.1:5433/")
            .err()
            .unwrap();
        assert!(
            err.contains("names no database") && !err.contains("secret"),
            "{err}"
        );
    }
}
