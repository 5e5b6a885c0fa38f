//! The PostgreSQL backend's ingest side, for any number of collectors
//! sharing one database.
//!
//! Group commit: requests queue their rows; whenever one of the pool's
//! connections is free, everything waiting (up to `MAX_ROWS`) goes to the
//! server as one statement over `unnest`ed arrays in one transaction, and
//! the requests are answered only after COMMIT — a 200 means committed.
//! Dedupe by messageId across all collectors goes through the `seen` table
//! (`INSERT … ON CONFLICT DO NOTHING RETURNING id`): only ids new to it are
//! inserted into the partitioned `tracks`. Two collectors racing on the same
//! id serialise on `seen`'s primary key; rows are sent sorted by id so they
//! take those locks in one order, and a deadlock is retried anyway.
//!
//! The pool is bounded (`--pg-pool`). While the server is unreachable every
//! write answers 503 at once (connect timeout 3 s), `/healthz` says why, and
//! a supervisor task probes once a second, applies migrations when it
//! first gets through, and clears the status when the server is back.

use super::migrations::{self, POSTGRES};
use super::{Health, Unavailable};
use crate::ingest::Row;
use crate::quarter::Quarter;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use std::borrow::Cow;
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, Semaphore};
use tokio_postgres::Client;

/// Rows per transaction at most: larger commits than any one request gives
/// (the per-statement overhead is then shared by thousands of rows).
const MAX_ROWS: usize = 10_000;

/// Serialises migrations and partition creation between collectors
/// ("cfde" as a number; any fixed key works).
const LOCK_KEY: i64 = 0x6366_6465;

/// The bulk insert: rows as 15 arrays plus the index of the request each
/// came from; answers (request index, new rows) for the requests that had
/// new rows. DISTINCT ON keeps one row per id within the batch: the first
/// in arrival order, as SQLite's INSERT OR IGNORE does.
pub(super) const INSERT: &str = "\
WITH input AS (
    SELECT DISTINCT ON (id) * FROM unnest(
        $1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::int8[],
        $8::text[], $9::text[], $10::text[], $11::text[], $12::text[], $13::text[],
        $14::text[], $15::text[], $16::int4[]) WITH ORDINALITY
    AS t(id, type, event_text, anonymous_id, user_id, timestamp, timestamp_ms,
         context_os_name, context_os_arch, context_app_name, context_app_build, command,
         properties, sent_at, received_at, job, arrival)
    ORDER BY id, arrival
), fresh AS (
    INSERT INTO seen (id) SELECT id FROM input ON CONFLICT DO NOTHING RETURNING id
), stored AS (
    INSERT INTO tracks (id, type, event_text, anonymous_id, user_id, timestamp, timestamp_ms,
        context_os_name, context_os_arch, context_app_name, context_app_build, command,
        properties, sent_at, received_at)
    SELECT input.id, type, event_text, anonymous_id, user_id, timestamp, timestamp_ms,
        context_os_name, context_os_arch, context_app_name, context_app_build, command,
        properties, sent_at, received_at
    FROM input JOIN fresh ON fresh.id = input.id
    RETURNING id
)
SELECT input.job, count(*) FROM input JOIN stored ON stored.id = input.id GROUP BY input.job";

/// PostgreSQL text cannot hold NUL: such characters (valid JSON, `\u0000`)
/// are stored as U+FFFD. Everything else is stored as given.
fn pg_text(s: &str) -> Cow<'_, str> {
    if s.contains('\0') {
        Cow::Owned(s.replace('\0', "\u{FFFD}"))
    } else {
        Cow::Borrowed(s)
    }
}

/// The partition holding a quarter's events.
pub(super) fn partition_name(q: &Quarter) -> String {
    let (year, number) = q.label.split_once("-Q").unwrap_or(("0", "0"));
    format!("tracks_y{year}q{number}")
}

/// Creates the partitions of the quarters these timestamps fall in, unless
/// `known` already lists them. Creation is serialised between collectors by
/// an advisory lock and skipped when another one got there first.
pub(super) async fn ensure_partitions(
    client: &mut Client,
    known: &Mutex<HashSet<String>>,
    timestamps: impl Iterator<Item = i64>,
) -> Result<(), tokio_postgres::Error> {
    let mut wanted: Vec<Quarter> = Vec::new();
    {
        let known = known.lock().unwrap_or_else(|p| p.into_inner());
        for ms in timestamps {
            if let Some(q) = Quarter::containing_ms(ms) {
                if !known.contains(&q.label) && !wanted.contains(&q) {
                    wanted.push(q);
                }
            }
        }
    }
    for q in wanted {
        let (start, end) = q.bounds_ms();
        let tx = client.transaction().await?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&LOCK_KEY])
            .await?;
        tx.batch_execute(&format!(
            "CREATE TABLE IF NOT EXISTS {} PARTITION OF tracks FOR VALUES FROM ({start}) TO ({end})",
            partition_name(&q)
        ))
        .await?;
        tx.commit().await?;
        known
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(q.label);
    }
    Ok(())
}

/// A row with the request it came from and when it was received.
pub(super) struct Pending<'a> {
    pub row: &'a Row,
    pub received_at: &'a str,
    pub job: i32,
}

/// Inserts the rows in one transaction (the caller's); returns new rows per
/// job index.
pub(super) async fn insert(
    tx: &tokio_postgres::Transaction<'_>,
    statement: &tokio_postgres::Statement,
    rows: &[Pending<'_>],
    jobs: usize,
) -> Result<Vec<usize>, tokio_postgres::Error> {
    let text = |f: fn(&Row) -> &str| -> Vec<Cow<'_, str>> {
        rows.iter().map(|p| pg_text(f(p.row))).collect()
    };
    let optional = |f: fn(&Row) -> Option<&str>| -> Vec<Option<Cow<'_, str>>> {
        rows.iter().map(|p| f(p.row).map(pg_text)).collect()
    };
    let ids = text(|r| &r.message_id);
    let kinds = text(|r| &r.kind);
    let events = optional(|r| r.event.as_deref());
    let anonymous = optional(|r| r.anonymous_id.as_deref());
    let users = optional(|r| r.user_id.as_deref());
    let timestamps = text(|r| &r.timestamp);
    let ms: Vec<i64> = rows.iter().map(|p| p.row.timestamp_ms).collect();
    let os_names = optional(|r| r.os_name.as_deref());
    let os_arches = optional(|r| r.os_arch.as_deref());
    let app_names = optional(|r| r.app_name.as_deref());
    let app_builds = optional(|r| r.app_build.as_deref());
    let commands = optional(|r| r.command.as_deref());
    let properties = text(|r| &r.properties);
    let sent = optional(|r| r.sent_at.as_deref());
    let received: Vec<&str> = rows.iter().map(|p| p.received_at).collect();
    let job: Vec<i32> = rows.iter().map(|p| p.job).collect();
    let answer = tx
        .query(
            statement,
            &[
                &ids,
                &kinds,
                &events,
                &anonymous,
                &users,
                &timestamps,
                &ms,
                &os_names,
                &os_arches,
                &app_names,
                &app_builds,
                &commands,
                &properties,
                &sent,
                &received,
                &job,
            ],
        )
        .await?;
    let mut counts = vec![0usize; jobs];
    for r in answer {
        let (j, n): (i32, i64) = (r.get(0), r.get(1));
        if let Some(c) = counts.get_mut(j as usize) {
            *c = n as usize;
        }
    }
    Ok(counts)
}

/// Whether a failed transaction is worth running again at once.
pub(super) fn is_transient(e: &tokio_postgres::Error) -> bool {
    use tokio_postgres::error::SqlState;
    e.code().is_some_and(|c| {
        *c == SqlState::T_R_DEADLOCK_DETECTED || *c == SqlState::T_R_SERIALIZATION_FAILURE
    })
}

/// Why migrating failed.
pub(super) enum MigrateError {
    /// The database was migrated by a newer collector: never touch it.
    Refused(String),
    /// Anything else (unreachable, a failing statement): worth retrying.
    Failed(String),
}

impl MigrateError {
    pub(super) fn text(self) -> String {
        match self {
            MigrateError::Refused(t) | MigrateError::Failed(t) => t,
        }
    }
}

/// "no partition of relation tracks found for row": a partition this
/// process created or saw was dropped since.
fn is_missing_partition(e: &tokio_postgres::Error) -> bool {
    e.code() == Some(&tokio_postgres::error::SqlState::CHECK_VIOLATION)
        && e.as_db_error()
            .is_some_and(|d| d.message().starts_with("no partition of relation"))
}

/// Applies pending migrations in one transaction under the advisory lock,
/// so collectors starting together apply each one once. Returns the
/// versions it applied.
pub(super) async fn migrate(client: &mut Client) -> Result<Vec<u32>, MigrateError> {
    let pg = |e: tokio_postgres::Error| MigrateError::Failed(describe(&e));
    let tx = client.transaction().await.map_err(pg)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&LOCK_KEY])
        .await
        .map_err(pg)?;
    tx.batch_execute(migrations::BOOKKEEPING)
        .await
        .map_err(pg)?;
    let applied: Vec<u32> = tx
        .query("SELECT version FROM schema_migrations", &[])
        .await
        .map_err(pg)?
        .iter()
        .map(|r| r.get::<_, i32>(0) as u32)
        .collect();
    let mut done = Vec::new();
    for m in migrations::pending(POSTGRES, &applied).map_err(MigrateError::Refused)? {
        tx.batch_execute(m.sql).await.map_err(|e| {
            MigrateError::Failed(format!(
                "migration {} ({}): {}",
                m.version,
                m.name,
                describe(&e)
            ))
        })?;
        tx.execute(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
            &[&(m.version as i32), &m.name, &migrations::now()],
        )
        .await
        .map_err(pg)?;
        done.push(m.version);
    }
    tx.commit().await.map_err(pg)?;
    Ok(done)
}

/// The server's own message when there is one (tokio-postgres's Display
/// says only "db error").
pub(super) fn describe(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{}: {}", db.severity(), db.message()),
        None => {
            let mut text = e.to_string();
            let mut source = std::error::Error::source(e);
            while let Some(s) = source {
                text = format!("{text}: {s}");
                source = s.source();
            }
            text
        }
    }
}

type Stored = Result<usize, Unavailable>;

struct Job {
    rows: Vec<Row>,
    reply: oneshot::Sender<Stored>,
}

struct Shared {
    pool: Pool,
    /// Migrations applied by this process (or found applied).
    ready: AtomicBool,
    /// Why the database is unusable now, until it works again.
    failure: Mutex<Option<String>>,
    partitions: Mutex<HashSet<String>>,
}

impl Shared {
    fn set_failure(&self, why: Option<String>) {
        *self.failure.lock().unwrap_or_else(|p| p.into_inner()) = why;
    }
    fn failure(&self) -> Option<String> {
        self.failure
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

#[derive(Clone)]
pub struct Writer {
    jobs: mpsc::UnboundedSender<Job>,
    shared: Arc<Shared>,
}

fn pool_error(e: deadpool_postgres::PoolError) -> String {
    match e {
        deadpool_postgres::PoolError::Backend(e) => {
            format!("database unreachable: {}", describe(&e))
        }
        deadpool_postgres::PoolError::Timeout(_) => "database unreachable: timed out".into(),
        other => format!("database unreachable: {other}"),
    }
}

impl Writer {
    /// Builds the pool, connects and migrates, and starts the dispatcher and
    /// the supervisor (inside a Tokio runtime). A collector started while
    /// its database is down still starts: it answers 503 and the supervisor
    /// connects and migrates when the database is back. A database migrated
    /// by a newer collector is refused.
    pub async fn start(
        config: &tokio_postgres::Config,
        pool_size: usize,
    ) -> Result<Writer, String> {
        let manager = Manager::from_config(
            config.clone(),
            tokio_postgres::NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool_size = pool_size.max(1);
        let pool = Pool::builder(manager)
            .max_size(pool_size)
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .wait_timeout(Some(Duration::from_secs(10)))
            .create_timeout(Some(Duration::from_secs(3)))
            .recycle_timeout(Some(Duration::from_secs(3)))
            .build()
            .map_err(|e| format!("cannot set up the connection pool: {e}"))?;
        let shared = Arc::new(Shared {
            pool,
            ready: AtomicBool::new(false),
            failure: Mutex::new(Some("connecting to the database".into())),
            partitions: Mutex::new(HashSet::new()),
        });
        match first_contact(&shared).await {
            Ok(()) => {}
            Err(MigrateError::Refused(why)) => return Err(why),
            Err(MigrateError::Failed(why)) => {
                eprintln!("cfdev-collector: {why}; answering 503 until the database can be used");
                shared.set_failure(Some(why));
            }
        }
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(dispatch(shared.clone(), rx, pool_size));
        tokio::spawn(supervise(Arc::downgrade(&shared)));
        Ok(Writer { jobs: tx, shared })
    }

    pub async fn insert(&self, rows: Vec<Row>) -> Stored {
        if !self.shared.ready.load(Ordering::Acquire) {
            let why = self
                .shared
                .failure()
                .unwrap_or_else(|| "database not ready".into());
            return Err(Unavailable(why));
        }
        let (reply, answer) = oneshot::channel();
        self.jobs
            .send(Job { rows, reply })
            .map_err(|_| Unavailable("store is shutting down".into()))?;
        answer
            .await
            .map_err(|_| Unavailable("store stopped".into()))?
    }

    pub async fn health(&self) -> Health {
        match self.shared.failure() {
            Some(why) => Health::Unavailable(why),
            None if self.shared.ready.load(Ordering::Acquire) => Health::Ok,
            None => Health::Unavailable("database not ready".into()),
        }
    }
}

/// Takes everything queued whenever a connection slot is free, so commits
/// grow with load instead of queueing one per request.
async fn dispatch(shared: Arc<Shared>, mut rx: mpsc::UnboundedReceiver<Job>, slots: usize) {
    let slots = Arc::new(Semaphore::new(slots));
    loop {
        let Ok(permit) = slots.clone().acquire_owned().await else {
            return;
        };
        let Some(first) = rx.recv().await else {
            return;
        };
        let mut rows = first.rows.len();
        let mut jobs = vec![first];
        while rows < MAX_ROWS {
            match rx.try_recv() {
                Ok(job) => {
                    rows += job.rows.len();
                    jobs.push(job);
                }
                Err(_) => break,
            }
        }
        let shared = shared.clone();
        tokio::spawn(async move {
            let outcome = commit(&shared, &jobs).await;
            shared.set_failure(outcome.as_ref().err().cloned());
            match outcome {
                Ok(counts) => {
                    for (job, n) in jobs.into_iter().zip(counts) {
                        let _ = job.reply.send(Ok(n));
                    }
                }
                Err(why) => {
                    for job in jobs {
                        let _ = job.reply.send(Err(Unavailable(why.clone())));
                    }
                }
            }
            drop(permit);
        });
    }
}

async fn commit(shared: &Shared, jobs: &[Job]) -> Result<Vec<usize>, String> {
    let mut client = shared.pool.get().await.map_err(pool_error)?;
    let mut timestamps: Vec<i64> = Vec::new();
    for job in jobs {
        timestamps.extend(job.rows.iter().map(|r| r.timestamp_ms));
    }
    ensure_partitions(&mut client, &shared.partitions, timestamps.iter().copied())
        .await
        .map_err(|e| format!("database error: {}", describe(&e)))?;
    let received_at = migrations::now();
    let mut pending: Vec<Pending> = Vec::new();
    for (i, job) in jobs.iter().enumerate() {
        for row in &job.rows {
            pending.push(Pending {
                row,
                received_at: &received_at,
                job: i as i32,
            });
        }
    }
    let statement = client
        .prepare_cached(INSERT)
        .await
        .map_err(|e| format!("database error: {}", describe(&e)))?;
    let mut attempt = 0;
    loop {
        attempt += 1;
        let outcome = async {
            let tx = client.transaction().await?;
            let counts = insert(&tx, &statement, &pending, jobs.len()).await?;
            tx.commit().await?;
            Ok::<_, tokio_postgres::Error>(counts)
        }
        .await;
        match outcome {
            Ok(counts) => return Ok(counts),
            Err(e) if attempt < 3 && is_transient(&e) => continue,
            Err(e) if attempt < 3 && is_missing_partition(&e) => {
                // Dropped by `prune` (here or by another collector) after
                // this process saw it: forget what it knew and create it.
                shared
                    .partitions
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .clear();
                ensure_partitions(&mut client, &shared.partitions, timestamps.iter().copied())
                    .await
                    .map_err(|e| format!("database error: {}", describe(&e)))?;
                continue;
            }
            Err(e) if e.is_closed() || e.as_db_error().is_none() => {
                return Err(format!("database unreachable: {}", describe(&e)))
            }
            Err(e) => return Err(format!("database error: {}", describe(&e))),
        }
    }
}

/// Connects and migrates; on success the writer is ready.
async fn first_contact(shared: &Shared) -> Result<(), MigrateError> {
    let mut client = shared
        .pool
        .get()
        .await
        .map_err(|e| MigrateError::Failed(pool_error(e)))?;
    migrate(&mut client).await?;
    shared.ready.store(true, Ordering::Release);
    shared.set_failure(None);
    Ok(())
}

/// Once a second: connect and migrate until that has worked, then check the
/// database still answers, so `/healthz` tells the truth while idle too.
async fn supervise(shared: std::sync::Weak<Shared>) {
    loop {
        let Some(s) = shared.upgrade() else {
            return;
        };
        let result = match s.pool.get().await {
            Err(e) => Err(pool_error(e)),
            Ok(mut client) if !s.ready.load(Ordering::Acquire) => migrate(&mut client)
                .await
                .map(|_| s.ready.store(true, Ordering::Release))
                .map_err(MigrateError::text),
            Ok(client) => client
                .simple_query("SELECT 1")
                .await
                .map(drop)
                .map_err(|e| format!("database unreachable: {}", describe(&e))),
        };
        match result {
            Ok(()) => s.set_failure(None),
            Err(why) => s.set_failure(Some(why)),
        }
        drop(s);
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}
