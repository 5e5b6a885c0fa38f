//! SQLite storage with one writer thread doing group commit: concurrent
//! requests hand their rows over, the writer inserts everything waiting in
//! one transaction and only then answers them — so a 200 always means the
//! rows are committed, and throughput does not pay one fsync per request.

use crate::ingest::Row;
use rusqlite::{params, Connection};
use std::path::Path;
use std::sync::mpsc;
use tokio::sync::oneshot;

pub const SCHEMA: &str = include_str!("../sql/schema.sql");

/// How many new rows a write stored (duplicates by messageId are ignored).
pub type Stored = Result<usize, String>;

struct Job {
    rows: Vec<Row>,
    reply: oneshot::Sender<Stored>,
}

#[derive(Clone)]
pub struct Store {
    jobs: mpsc::Sender<Job>,
}

pub fn open(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    // Checkpoint every ~200 MB of WAL rather than every 4 MB: each random
    // messageId index page is then copied back once per many commits
    // (bench/collector: 34k -> 54-57k events/s). The WAL file keeps its size
    // while running (cutting it back after each checkpoint cost 25%) and is
    // emptied on shutdown.
    conn.pragma_update(None, "wal_autocheckpoint", 50_000)?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    conn.execute_batch(SCHEMA)?;
    Ok(conn)
}

impl Store {
    /// Opens the database and starts the writer. The thread ends when every
    /// `Store` clone is dropped, after finishing what it was given.
    /// `cache_mb` caps SQLite's page cache, and so the server's memory: room
    /// for the hot part of the messageId index keeps dedupe lookups of random
    /// IDs in memory (the default 64 MB: see BENCHMARKS.md).
    pub fn start(
        path: &Path,
        cache_mb: u32,
    ) -> rusqlite::Result<(Store, std::thread::JoinHandle<()>)> {
        let conn = open(path)?;
        conn.pragma_update(None, "cache_size", -(i64::from(cache_mb) * 1024))?;
        let (tx, rx) = mpsc::channel::<Job>();
        let handle = std::thread::spawn(move || writer(conn, rx));
        Ok((Store { jobs: tx }, handle))
    }

    pub async fn insert(&self, rows: Vec<Row>) -> Stored {
        let (reply, answer) = oneshot::channel();
        self.jobs
            .send(Job { rows, reply })
            .map_err(|_| "store is shutting down".to_string())?;
        answer.await.map_err(|_| "store stopped".to_string())?
    }
}

fn writer(mut conn: Connection, rx: mpsc::Receiver<Job>) {
    write_until_closed(&mut conn, &rx);
    let _ = conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);");
}

fn write_until_closed(conn: &mut Connection, rx: &mpsc::Receiver<Job>) {
    while let Ok(first) = rx.recv() {
        let mut jobs = vec![first];
        while jobs.len() < 256 {
            match rx.try_recv() {
                Ok(job) => jobs.push(job),
                Err(_) => break,
            }
        }
        match insert_all(conn, &jobs) {
            Ok(counts) => {
                for (job, n) in jobs.into_iter().zip(counts) {
                    let _ = job.reply.send(Ok(n));
                }
            }
            Err(e) => {
                for job in jobs {
                    let _ = job.reply.send(Err(format!("database error: {e}")));
                }
            }
        }
    }
}

fn insert_all(conn: &mut Connection, jobs: &[Job]) -> rusqlite::Result<Vec<usize>> {
    let received_at = chrono::Utc::now()
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string();
    let tx = conn.transaction()?;
    let mut counts = Vec::with_capacity(jobs.len());
    {
        let mut stmt = tx.prepare_cached(
            "INSERT OR IGNORE INTO tracks (id, type, event_text, anonymous_id, user_id, timestamp, \
             timestamp_ms, context_os_name, context_os_arch, context_app_name, context_app_build, \
             command, properties, sent_at, received_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
        )?;
        for job in jobs {
            let mut n = 0;
            for r in &job.rows {
                n += stmt.execute(params![
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
                    received_at,
                ])?;
            }
            counts.push(n);
        }
    }
    tx.commit()?;
    Ok(counts)
}
