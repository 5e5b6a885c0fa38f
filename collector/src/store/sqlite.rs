//! The embedded SQLite backend. Ingest goes through one writer thread doing
//! group commit: concurrent requests hand their rows over, the writer
//! inserts everything waiting in one transaction and only then answers them
//! — so a 200 always means the rows are committed, and throughput does not
//! pay one fsync per request. The database file is created 0600 (it holds
//! anonymous IDs); SQLite gives its WAL files the same mode.

use super::migrations::{self, SQLITE};
use super::{day_label, monday_of_day, Group, Health, Line, Record, Tallies, Unavailable};
use crate::ingest::Row;
use crate::quarter::{self, Quarter};
use rusqlite::{params, Connection, TransactionBehavior};
use std::collections::{HashMap, HashSet};
use std::io::ErrorKind;
use std::path::Path;
use std::sync::{mpsc, Arc, Mutex};
use tokio::sync::oneshot;

/// The report in SQL, SQLite dialect (sql/sqlite/report.sql).
pub const REPORT_SQL: &str = include_str!("../../sql/sqlite/report.sql");

const INSERT: &str = "INSERT OR IGNORE INTO tracks (id, type, event_text, anonymous_id, user_id, \
     timestamp, timestamp_ms, context_os_name, context_os_arch, context_app_name, \
     context_app_build, command, properties, sent_at, received_at, quarter, received_ms) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)";

type Stored = Result<usize, Unavailable>;

struct Job {
    rows: Vec<Row>,
    reply: oneshot::Sender<Stored>,
}

#[derive(Clone)]
pub struct Writer {
    jobs: mpsc::Sender<Job>,
    /// The last commit's failure, until a commit succeeds again.
    failure: Arc<Mutex<Option<String>>>,
}

/// Says which part of the path is wrong, instead of SQLite's "unable to
/// open database file".
pub fn explain_open_error(path: &Path, error: &std::io::Error) -> String {
    let shown = path.display();
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    match error.kind() {
        ErrorKind::NotFound if !parent.exists() => format!(
            "cannot create {shown}: directory {} does not exist",
            parent.display()
        ),
        ErrorKind::NotADirectory => {
            let culprit = path
                .ancestors()
                .skip(1)
                .find(|a| a.exists() && !a.is_dir())
                .unwrap_or(parent);
            format!(
                "cannot open {shown}: {} is not a directory",
                culprit.display()
            )
        }
        ErrorKind::IsADirectory => format!("cannot open {shown}: it is a directory"),
        ErrorKind::ReadOnlyFilesystem => format!(
            "cannot open {shown} for writing: {} is on a read-only file system",
            parent.display()
        ),
        ErrorKind::PermissionDenied if path.exists() => {
            format!("cannot open {shown} for writing: the file is read-only to this user")
        }
        ErrorKind::PermissionDenied => format!(
            "cannot create {shown}: directory {} is read-only to this user",
            parent.display()
        ),
        _ => format!("cannot open {shown}: {error}"),
    }
}

/// Creates the file 0600 if missing, and proves it is writable, before
/// SQLite sees it: its own error would not say what is wrong.
fn create_private(path: &Path) -> Result<(), String> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true).write(true).create(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options
        .open(path)
        .map(drop)
        .map_err(|e| explain_open_error(path, &e))
}

/// Opens (creating 0600) and migrates the database.
pub fn open(path: &Path) -> Result<Connection, String> {
    create_private(path)?;
    connect(path)
}

/// Opens and migrates an existing database without touching the file
/// outside SQLite: closing any other descriptor of the file would drop the
/// POSIX locks of every SQLite connection this process holds on it (serve's
/// writer, while serve publishes the site), and SQLite would then delete the
/// WAL under the writer.
fn connect(path: &Path) -> Result<Connection, String> {
    let shown = path.display();
    let fail = |e: rusqlite::Error| format!("cannot open {shown}: {e}");
    let mut conn = Connection::open(path).map_err(fail)?;
    conn.pragma_update(None, "journal_mode", "WAL")
        .map_err(fail)?;
    conn.pragma_update(None, "synchronous", "FULL")
        .map_err(fail)?;
    // Checkpoint every ~200 MB of WAL rather than every 4 MB: each random
    // messageId index page is then copied back once per many commits
    // (bench/collector: 34k -> 54-57k events/s). The WAL file keeps its size
    // while running (cutting it back after each checkpoint cost 25%) and is
    // emptied on shutdown.
    conn.pragma_update(None, "wal_autocheckpoint", 50_000)
        .map_err(fail)?;
    conn.busy_timeout(std::time::Duration::from_secs(10))
        .map_err(fail)?;
    migrate(&mut conn).map_err(|e| format!("cannot migrate {shown}: {e}"))?;
    Ok(conn)
}

fn applied(conn: &Connection) -> rusqlite::Result<Vec<u32>> {
    conn.execute_batch(migrations::BOOKKEEPING)?;
    let mut stmt = conn.prepare("SELECT version FROM schema_migrations ORDER BY version")?;
    let versions = stmt
        .query_map([], |r| r.get::<_, u32>(0))?
        .collect::<rusqlite::Result<Vec<u32>>>()?;
    Ok(versions)
}

/// Applies pending migrations, each in an IMMEDIATE transaction so two
/// processes opening the same file apply each one once.
fn migrate(conn: &mut Connection) -> Result<(), String> {
    loop {
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| e.to_string())?;
        let done = applied(&tx).map_err(|e| e.to_string())?;
        let Some(next) = migrations::pending(SQLITE, &done)?.first().copied() else {
            return tx.commit().map_err(|e| e.to_string());
        };
        tx.execute_batch(next.sql)
            .map_err(|e| format!("migration {} ({}): {e}", next.version, next.name))?;
        tx.execute(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?1, ?2, ?3)",
            params![next.version, next.name, migrations::now()],
        )
        .map_err(|e| e.to_string())?;
        tx.commit().map_err(|e| e.to_string())?;
    }
}

impl Writer {
    /// Opens the database and starts the writer. The thread ends when every
    /// `Writer` clone is dropped, after finishing what it was given.
    /// `cache_mb` caps SQLite's page cache, and so the server's memory: room
    /// for the hot part of the messageId index keeps dedupe lookups of random
    /// IDs in memory (the default 64 MB: see BENCHMARKS.md).
    pub fn start(
        path: &Path,
        cache_mb: u32,
    ) -> Result<(Writer, std::thread::JoinHandle<()>), String> {
        let conn = open(path)?;
        conn.pragma_update(None, "cache_size", -(i64::from(cache_mb) * 1024))
            .map_err(|e| e.to_string())?;
        let (tx, rx) = mpsc::channel::<Job>();
        let failure = Arc::new(Mutex::new(None));
        let shared = failure.clone();
        let handle = std::thread::spawn(move || writer(conn, rx, shared));
        Ok((Writer { jobs: tx, failure }, handle))
    }

    pub async fn insert(&self, rows: Vec<Row>) -> Stored {
        let (reply, answer) = oneshot::channel();
        self.jobs
            .send(Job { rows, reply })
            .map_err(|_| Unavailable("store is shutting down".into()))?;
        answer
            .await
            .map_err(|_| Unavailable("store stopped".into()))?
    }

    pub fn health(&self) -> Health {
        match self.failure.lock().ok().and_then(|f| f.clone()) {
            Some(why) => Health::Unavailable(why),
            None => Health::Ok,
        }
    }
}

fn writer(mut conn: Connection, rx: mpsc::Receiver<Job>, failure: Arc<Mutex<Option<String>>>) {
    while let Ok(first) = rx.recv() {
        let mut jobs = vec![first];
        while jobs.len() < 256 {
            match rx.try_recv() {
                Ok(job) => jobs.push(job),
                Err(_) => break,
            }
        }
        let outcome = insert_all(&mut conn, &jobs);
        if let Ok(mut f) = failure.lock() {
            *f = outcome
                .as_ref()
                .err()
                .map(|e| format!("database error: {e}"));
        }
        match outcome {
            Ok(counts) => {
                for (job, n) in jobs.into_iter().zip(counts) {
                    let _ = job.reply.send(Ok(n));
                }
            }
            Err(e) => {
                for job in jobs {
                    let _ = job
                        .reply
                        .send(Err(Unavailable(format!("database error: {e}"))));
                }
            }
        }
    }
    let _ = conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);");
}

/// When a row was received: received_at and the same instant as unix
/// milliseconds (received_ms, the arrival key of the report index; None
/// only for text that is not a timestamp, which the collector never writes).
struct Received<'a> {
    at: &'a str,
    ms: Option<i64>,
}

impl<'a> Received<'a> {
    fn of(at: &'a str) -> Received<'a> {
        Received {
            at,
            ms: crate::ingest::parse_time(at).map(|(_, ms)| ms),
        }
    }
}

fn insert_row(
    stmt: &mut rusqlite::CachedStatement<'_>,
    r: &Row,
    received: &Received<'_>,
) -> rusqlite::Result<usize> {
    stmt.execute(params![
        r.message_id,
        r.kind,
        r.event,
        r.anonymous_id,
        r.user_id,
        r.timestamp,
        r.timestamp_ms,
        r.os_name,
        r.os_arch,
        r.app_name,
        r.app_build,
        r.command,
        r.properties,
        r.sent_at,
        received.at,
        quarter::number_of_ms(r.timestamp_ms),
        received.ms,
    ])
}

fn insert_all(conn: &mut Connection, jobs: &[Job]) -> rusqlite::Result<Vec<usize>> {
    let now = migrations::now();
    let received = Received::of(&now);
    let tx = conn.transaction()?;
    let mut counts = Vec::with_capacity(jobs.len());
    {
        let mut stmt = tx.prepare_cached(INSERT)?;
        for job in jobs {
            let mut n = 0;
            for r in &job.rows {
                n += insert_row(&mut stmt, r, &received)?;
            }
            counts.push(n);
        }
    }
    tx.commit()?;
    Ok(counts)
}

/// The statements of sql/sqlite/report.sql, by their "-- name:" lines.
fn statements() -> Vec<(&'static str, String)> {
    let mut out: Vec<(&'static str, String)> = Vec::new();
    for line in REPORT_SQL.lines() {
        if let Some(name) = line.strip_prefix("-- name:") {
            out.push((name.trim(), String::new()));
        } else if let Some((_, sql)) = out.last_mut() {
            if !line.trim_start().starts_with("--") {
                sql.push_str(line);
                sql.push('\n');
            }
        }
    }
    out
}

fn statement(name: &str) -> String {
    statements()
        .into_iter()
        .find(|(n, _)| *n == name)
        .map(|(_, s)| s)
        .unwrap_or_default()
}

/// Count and distinct machines (interned as integers) per key.
#[derive(Default)]
struct Tally(HashMap<String, (u64, HashSet<u32>)>);

impl Tally {
    fn add(&mut self, key: &str, machine: u32) {
        let entry = match self.0.get_mut(key) {
            Some(e) => e,
            None => self.0.entry(key.to_string()).or_default(),
        };
        entry.0 += 1;
        entry.1.insert(machine);
    }

    fn lines(self) -> Vec<Line> {
        self.0
            .into_iter()
            .map(|(key, (count, m))| Line {
                key,
                count,
                machines: m.len() as u64,
            })
            .collect()
    }
}

/// The blocking side: report inputs, migrations, prune, copy.
pub struct Admin {
    conn: Connection,
}

fn db_err(e: rusqlite::Error) -> String {
    format!("database error: {e}")
}

impl Admin {
    pub fn open(path: &Path) -> Result<Admin, String> {
        let conn = if path.exists() {
            connect(path)?
        } else {
            open(path)?
        };
        Ok(Admin { conn })
    }

    pub fn migrations(&mut self) -> Result<Vec<(u32, &'static str, bool)>, String> {
        let done = applied(&self.conn).map_err(db_err)?;
        Ok(migrations::status(SQLITE, &done))
    }

    /// The report's inputs in one pass over the quarter's rows, read from
    /// the covering index (the "rows" statement of report.sql): a 1M-event
    /// quarter in well under the 2 s budget.
    pub fn tallies(&mut self, quarter: &Quarter) -> Result<Tallies, String> {
        let (start_ms, end_ms) = quarter.bounds_ms();
        let mut stmt = self.conn.prepare(&statement("rows")).map_err(db_err)?;
        let mut rows = stmt
            .query(rusqlite::named_params! {
                ":quarter": quarter.number(), ":start_ms": start_ms, ":end_ms": end_ms
            })
            .map_err(db_err)?;
        let mut machine_ids: HashMap<String, u32> = HashMap::new();
        let (mut events, mut by_os, mut by_build, mut errors) = (
            Tally::default(),
            Tally::default(),
            Tally::default(),
            Tally::default(),
        );
        let mut weeks: HashMap<i64, (u64, HashSet<u32>)> = HashMap::new();
        let mut total = 0u64;
        while let Some(row) = rows.next().map_err(db_err)? {
            let text = |i: usize| -> rusqlite::Result<&str> {
                Ok(row.get_ref(i)?.as_str_or_null()?.unwrap_or("unknown"))
            };
            let key = text(1).map_err(db_err)?;
            let next_id = machine_ids.len() as u32;
            let machine = match machine_ids.get(key) {
                Some(id) => *id,
                None => *machine_ids.entry(key.to_string()).or_insert(next_id),
            };
            let event = text(0).map_err(db_err)?;
            events.add(event, machine);
            by_os.add(text(2).map_err(db_err)?, machine);
            by_build.add(text(3).map_err(db_err)?, machine);
            if event == "Error" {
                errors.add(text(4).map_err(db_err)?, machine);
            }
            let ms: i64 = row.get(5).map_err(db_err)?;
            let entry = weeks
                .entry(monday_of_day(ms.div_euclid(86_400_000)))
                .or_default();
            entry.0 += 1;
            entry.1.insert(machine);
            total += 1;
        }
        Ok(Tallies {
            total_events: total,
            machines: machine_ids.len() as u64,
            events: events.lines(),
            by_os: by_os.lines(),
            by_build: by_build.lines(),
            errors_by_command: errors.lines(),
            weekly: weeks
                .into_iter()
                .map(|(monday, (count, m))| Line {
                    key: day_label(monday),
                    count,
                    machines: m.len() as u64,
                })
                .collect(),
        })
    }

    /// The published report's input, one event at a time, from the covering
    /// index (the "rows" statement of report.sql). `start_ms..end_ms` lies
    /// within one quarter.
    pub fn scan_groups(
        &mut self,
        start_ms: i64,
        end_ms: i64,
        visit: &mut dyn FnMut(Group<'_>),
    ) -> Result<(), String> {
        let Some(quarter) = quarter::number_of_ms(start_ms) else {
            return Ok(());
        };
        let mut stmt = self.conn.prepare(&statement("rows")).map_err(db_err)?;
        let mut rows = stmt
            .query(rusqlite::named_params! {
                ":quarter": quarter, ":start_ms": start_ms, ":end_ms": end_ms
            })
            .map_err(db_err)?;
        while let Some(row) = rows.next().map_err(db_err)? {
            let text = |i: usize| -> Result<&str, String> {
                Ok(row
                    .get_ref(i)
                    .and_then(|v| Ok(v.as_str_or_null()?))
                    .map_err(db_err)?
                    .unwrap_or("unknown"))
            };
            let ms: i64 = row.get(5).map_err(db_err)?;
            visit(Group {
                event: text(0)?,
                machine: text(1)?,
                os: text(2)?,
                build: text(3)?,
                command: text(4)?,
                day: ms.div_euclid(86_400_000),
                count: 1,
            });
        }
        Ok(())
    }

    /// The same inputs computed by the warehouse SQL of report.sql (kept
    /// for warehouses; a test requires it to agree with `tallies`).
    pub fn tallies_with_sql(&mut self, quarter: &Quarter) -> Result<Tallies, String> {
        let (start_ms, end_ms) = quarter.bounds_ms();
        let conn = &self.conn;
        conn.execute_batch("PRAGMA temp_store = MEMORY; DROP TABLE IF EXISTS temp.quarter;")
            .map_err(db_err)?;
        let mut out = Tallies::default();
        for (name, sql) in statements() {
            match name {
                "rows" => continue,
                "quarter" => {
                    conn.execute(
                        &sql,
                        rusqlite::named_params! { ":start_ms": start_ms, ":end_ms": end_ms },
                    )
                    .map_err(db_err)?;
                    continue;
                }
                "cleanup" => {
                    conn.execute_batch(&sql).map_err(db_err)?;
                    continue;
                }
                _ => {}
            }
            let mut stmt = conn.prepare(&sql).map_err(db_err)?;
            if name == "totals" {
                let (events, machines) = stmt
                    .query_row([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?)))
                    .map_err(db_err)?;
                out.total_events = events as u64;
                out.machines = machines as u64;
                continue;
            }
            let lines = stmt
                .query_map([], |r| {
                    Ok(Line {
                        key: r
                            .get::<_, Option<String>>(0)?
                            .unwrap_or_else(|| "unknown".into()),
                        count: r.get::<_, i64>(1)? as u64,
                        machines: r.get::<_, i64>(2)? as u64,
                    })
                })
                .map_err(db_err)?
                .collect::<rusqlite::Result<Vec<_>>>()
                .map_err(db_err)?;
            match name {
                "events" => out.events = lines,
                "by_os" => out.by_os = lines,
                "by_build" => out.by_build = lines,
                "errors_by_command" => out.errors_by_command = lines,
                "weekly" => out.weekly = lines,
                _ => {}
            }
        }
        Ok(out.sorted())
    }

    /// Skips from quarter to quarter along the report index: one seek per
    /// quarter, however many events.
    fn quarters_where(&mut self, only_tracks: bool) -> Result<Vec<Quarter>, String> {
        let sql = if only_tracks {
            "SELECT MIN(quarter) FROM tracks WHERE quarter > ?1 AND type = 'track'"
        } else {
            "SELECT MIN(quarter) FROM tracks WHERE quarter > ?1"
        };
        let mut stmt = self.conn.prepare(sql).map_err(db_err)?;
        let mut out = Vec::new();
        let mut after = i64::MIN;
        while let Some(number) = stmt
            .query_row([after], |r| r.get::<_, Option<i64>>(0))
            .map_err(db_err)?
        {
            let Some(q) = Quarter::from_number(number) else {
                break;
            };
            after = number;
            out.push(q);
        }
        Ok(out)
    }

    pub fn quarters(&mut self) -> Result<Vec<Quarter>, String> {
        self.quarters_where(true)
    }

    pub fn stored_quarters(&mut self) -> Result<Vec<Quarter>, String> {
        self.quarters_where(false)
    }

    pub fn prune(&mut self, before: &Quarter) -> Result<u64, String> {
        let n = self
            .conn
            .execute("DELETE FROM tracks WHERE quarter < ?1", [before.number()])
            .map_err(db_err)?;
        Ok(n as u64)
    }

    pub fn count(&mut self, quarter: &Quarter) -> Result<u64, String> {
        self.conn
            .query_row(
                "SELECT COUNT(*) FROM tracks WHERE quarter = ?1",
                [quarter.number()],
                |r| r.get::<_, i64>(0),
            )
            .map(|n| n as u64)
            .map_err(db_err)
    }

    pub fn read_quarter(
        &mut self,
        quarter: &Quarter,
        chunk: usize,
        each: &mut dyn FnMut(Vec<Record>) -> Result<(), String>,
    ) -> Result<(), String> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT id, type, event_text, anonymous_id, user_id, timestamp, timestamp_ms, \
                 context_os_name, context_os_arch, context_app_name, context_app_build, command, \
                 properties, sent_at, received_at FROM tracks \
                 WHERE quarter = ?1",
            )
            .map_err(db_err)?;
        let mut rows = stmt.query([quarter.number()]).map_err(db_err)?;
        let mut batch = Vec::with_capacity(chunk);
        while let Some(r) = rows.next().map_err(db_err)? {
            let record = (|| -> rusqlite::Result<Record> {
                Ok(Record {
                    row: Row {
                        message_id: r.get(0)?,
                        kind: r.get(1)?,
                        event: r.get(2)?,
                        anonymous_id: r.get(3)?,
                        user_id: r.get(4)?,
                        timestamp: r.get(5)?,
                        timestamp_ms: r.get(6)?,
                        os_name: r.get(7)?,
                        os_arch: r.get(8)?,
                        app_name: r.get(9)?,
                        app_build: r.get(10)?,
                        command: r.get(11)?,
                        properties: r.get(12)?,
                        sent_at: r.get(13)?,
                    },
                    received_at: r.get(14)?,
                })
            })()
            .map_err(db_err)?;
            batch.push(record);
            if batch.len() == chunk {
                each(std::mem::replace(&mut batch, Vec::with_capacity(chunk)))?;
            }
        }
        if !batch.is_empty() {
            each(batch)?;
        }
        Ok(())
    }

    pub fn write(&mut self, records: &[Record]) -> Result<u64, String> {
        let tx = self.conn.transaction().map_err(db_err)?;
        let mut n = 0;
        {
            let mut stmt = tx.prepare_cached(INSERT).map_err(db_err)?;
            for r in records {
                n +=
                    insert_row(&mut stmt, &r.row, &Received::of(&r.received_at)).map_err(db_err)?;
            }
        }
        tx.commit().map_err(db_err)?;
        Ok(n as u64)
    }

    pub fn copied(&mut self, source: &str) -> Result<Vec<String>, String> {
        let mut stmt = self
            .conn
            .prepare("SELECT quarter FROM copy_progress WHERE source = ?1")
            .map_err(db_err)?;
        let out = stmt
            .query_map([source], |r| r.get::<_, String>(0))
            .map_err(db_err)?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(db_err)?;
        Ok(out)
    }

    pub fn mark_copied(&mut self, source: &str, quarter: &str) -> Result<(), String> {
        self.conn
            .execute(
                "INSERT OR REPLACE INTO copy_progress (source, quarter, done_at) VALUES (?1, ?2, ?3)",
                params![source, quarter, migrations::now()],
            )
            .map(drop)
            .map_err(db_err)
    }

    /// For tests: the connection itself.
    pub fn connection(&self) -> &Connection {
        &self.conn
    }
}
