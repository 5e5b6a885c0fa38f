//! The PostgreSQL backend's blocking side (report inputs, migrations,
//! prune, copy): one connection driven by a private single-thread runtime,
//! so the commands stay plain synchronous code.

use super::migrations::{self, POSTGRES};
use super::postgres::{
    describe, ensure_partitions, insert, migrate, partition_name, Pending, INSERT,
};
use super::{day_label, Group, Line, Record, Tallies};
use crate::ingest::Row;
use crate::quarter::Quarter;
use std::collections::HashSet;
use std::sync::Mutex;
use tokio_postgres::{Client, NoTls};

/// The report's aggregation inputs computed inside PostgreSQL.
pub const REPORT_SQL: &str = include_str!("../../sql/postgres/report.sql");

/// The published report's input, grouped inside PostgreSQL.
pub const REPORT_GROUPS_SQL: &str = include_str!("../../sql/postgres/report_groups.sql");

pub struct Admin {
    runtime: tokio::runtime::Runtime,
    client: Client,
    partitions: Mutex<HashSet<String>>,
}

fn pg(e: tokio_postgres::Error) -> String {
    format!("database error: {}", describe(&e))
}

impl Admin {
    /// Connects and applies pending migrations.
    pub fn connect(config: &tokio_postgres::Config) -> Result<Admin, String> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start: {e}"))?;
        let (mut client, connection) = runtime
            .block_on(config.connect(NoTls))
            .map_err(|e| format!("cannot connect to the database: {}", describe(&e)))?;
        runtime.spawn(connection);
        runtime
            .block_on(migrate(&mut client))
            .map_err(|e| format!("cannot migrate the database: {}", e.text()))?;
        Ok(Admin {
            runtime,
            client,
            partitions: Mutex::new(HashSet::new()),
        })
    }

    pub fn migrations(&mut self) -> Result<Vec<(u32, &'static str, bool)>, String> {
        let rows = self
            .runtime
            .block_on(
                self.client
                    .query("SELECT version FROM schema_migrations", &[]),
            )
            .map_err(pg)?;
        let done: Vec<u32> = rows.iter().map(|r| r.get::<_, i32>(0) as u32).collect();
        Ok(migrations::status(POSTGRES, &done))
    }

    pub fn tallies(&mut self, quarter: &Quarter) -> Result<Tallies, String> {
        let (start, end) = quarter.bounds_ms();
        let client = &mut self.client;
        let rows = self
            .runtime
            .block_on(async {
                // Hash aggregation in memory (see the comment in report.sql).
                let tx = client.transaction().await?;
                tx.batch_execute("SET LOCAL work_mem = '64MB'; SET LOCAL enable_sort = off")
                    .await?;
                let rows = tx.query(REPORT_SQL, &[&start, &end]).await?;
                tx.commit().await?;
                Ok::<_, tokio_postgres::Error>(rows)
            })
            .map_err(pg)?;
        let mut out = Tallies::default();
        for r in rows {
            let section: &str = r.get(0);
            let key: Option<String> = r.get(1);
            let count: i64 = r.get(2);
            let machines: i64 = r.get(3);
            let line = |key: String| Line {
                key,
                count: count as u64,
                machines: machines as u64,
            };
            let key = key.unwrap_or_default();
            match section {
                "total" => {
                    out.total_events = count as u64;
                    out.machines = machines as u64;
                }
                "event" => out.events.push(line(key)),
                "os" => out.by_os.push(line(key)),
                "build" => out.by_build.push(line(key)),
                "error" => out.errors_by_command.push(line(key)),
                "week" => {
                    let week: i64 = key
                        .parse()
                        .map_err(|_| format!("report SQL gave week '{key}'"))?;
                    out.weekly.push(line(day_label(7 * week - 3)));
                }
                other => return Err(format!("report SQL gave section '{other}'")),
            }
        }
        Ok(out)
    }

    /// The partitions, oldest first, as quarters.
    fn partitions(&mut self) -> Result<Vec<Quarter>, String> {
        let rows = self
            .runtime
            .block_on(self.client.query(
                "SELECT c.relname FROM pg_inherits i \
                 JOIN pg_class c ON c.oid = i.inhrelid \
                 JOIN pg_class p ON p.oid = i.inhparent \
                 WHERE p.relname = 'tracks' AND p.relnamespace = c.relnamespace \
                 AND pg_table_is_visible(p.oid)",
                &[],
            ))
            .map_err(pg)?;
        let mut out: Vec<Quarter> = rows
            .iter()
            .filter_map(|r| {
                let name: &str = r.get(0);
                let rest = name.strip_prefix("tracks_y")?;
                let (year, q) = rest.split_once('q')?;
                Quarter::of_year(year.parse().ok()?, q.parse().ok()?)
            })
            .collect();
        out.sort_by_key(|q| q.start);
        Ok(out)
    }

    fn quarters_where(&mut self, filter: &str) -> Result<Vec<Quarter>, String> {
        let mut out = Vec::new();
        for q in self.partitions()? {
            let sql = format!(
                "SELECT EXISTS (SELECT 1 FROM {} {filter})",
                partition_name(&q)
            );
            let row = self
                .runtime
                .block_on(self.client.query_one(&sql, &[]))
                .map_err(pg)?;
            if row.get::<_, bool>(0) {
                out.push(q);
            }
        }
        Ok(out)
    }

    pub fn quarters(&mut self) -> Result<Vec<Quarter>, String> {
        self.quarters_where("WHERE type = 'track'")
    }

    pub fn stored_quarters(&mut self) -> Result<Vec<Quarter>, String> {
        self.quarters_where("")
    }

    /// Drops the partitions before the quarter, with their ids in `seen`
    /// (so the table stays bounded too), each in one transaction.
    pub fn prune(&mut self, before: &Quarter) -> Result<u64, String> {
        let mut deleted = 0u64;
        for q in self.partitions()? {
            if q.end > before.start {
                continue;
            }
            let name = partition_name(&q);
            let client = &mut self.client;
            deleted += self
                .runtime
                .block_on(async {
                    let tx = client.transaction().await?;
                    let n = tx
                        .execute(
                            &format!("DELETE FROM seen WHERE id IN (SELECT id FROM {name})"),
                            &[],
                        )
                        .await?;
                    tx.batch_execute(&format!("DROP TABLE {name}")).await?;
                    tx.commit().await?;
                    Ok::<u64, tokio_postgres::Error>(n)
                })
                .map_err(pg)?;
        }
        Ok(deleted)
    }

    pub fn count(&mut self, quarter: &Quarter) -> Result<u64, String> {
        let (start, end) = quarter.bounds_ms();
        let row = self
            .runtime
            .block_on(self.client.query_one(
                "SELECT count(*) FROM tracks WHERE timestamp_ms >= $1 AND timestamp_ms < $2",
                &[&start, &end],
            ))
            .map_err(pg)?;
        Ok(row.get::<_, i64>(0) as u64)
    }

    /// The published report's input, streamed through a portal.
    pub fn scan_groups(
        &mut self,
        start_ms: i64,
        end_ms: i64,
        visit: &mut dyn FnMut(Group<'_>),
    ) -> Result<(), String> {
        let runtime = &self.runtime;
        let client = &mut self.client;
        let tx = runtime.block_on(client.transaction()).map_err(pg)?;
        // Hash aggregation in memory (see sql/postgres/report.sql).
        runtime
            .block_on(tx.batch_execute("SET LOCAL work_mem = '64MB'; SET LOCAL enable_sort = off"))
            .map_err(pg)?;
        let statement = runtime
            .block_on(tx.prepare(REPORT_GROUPS_SQL))
            .map_err(pg)?;
        let portal = runtime
            .block_on(tx.bind(&statement, &[&start_ms, &end_ms]))
            .map_err(pg)?;
        loop {
            let rows = runtime
                .block_on(tx.query_portal(&portal, 10_000))
                .map_err(pg)?;
            if rows.is_empty() {
                break;
            }
            for r in &rows {
                let count: i64 = r.get(6);
                visit(Group {
                    event: r.get(0),
                    machine: r.get(1),
                    os: r.get(2),
                    build: r.get(3),
                    command: r.get(4),
                    day: r.get(5),
                    count: count as u64,
                });
            }
        }
        runtime.block_on(tx.commit()).map_err(pg)
    }

    /// Streams the quarter through a portal, `chunk` rows at a time.
    pub fn read_quarter(
        &mut self,
        quarter: &Quarter,
        chunk: usize,
        each: &mut dyn FnMut(Vec<Record>) -> Result<(), String>,
    ) -> Result<(), String> {
        let (start, end) = quarter.bounds_ms();
        let runtime = &self.runtime;
        let client = &mut self.client;
        let tx = runtime.block_on(client.transaction()).map_err(pg)?;
        let statement = runtime
            .block_on(tx.prepare(
                "SELECT id, type, event_text, anonymous_id, user_id, timestamp, timestamp_ms, \
                 context_os_name, context_os_arch, context_app_name, context_app_build, command, \
                 properties, sent_at, received_at FROM tracks \
                 WHERE timestamp_ms >= $1 AND timestamp_ms < $2",
            ))
            .map_err(pg)?;
        let portal = runtime
            .block_on(tx.bind(&statement, &[&start, &end]))
            .map_err(pg)?;
        loop {
            let rows = runtime
                .block_on(tx.query_portal(&portal, chunk as i32))
                .map_err(pg)?;
            if rows.is_empty() {
                break;
            }
            let records = rows
                .iter()
                .map(|r| Record {
                    row: Row {
                        message_id: r.get(0),
                        kind: r.get(1),
                        event: r.get(2),
                        anonymous_id: r.get(3),
                        user_id: r.get(4),
                        timestamp: r.get(5),
                        timestamp_ms: r.get(6),
                        os_name: r.get(7),
                        os_arch: r.get(8),
                        app_name: r.get(9),
                        app_build: r.get(10),
                        command: r.get(11),
                        properties: r.get(12),
                        sent_at: r.get(13),
                    },
                    received_at: r.get(14),
                })
                .collect();
            each(records)?;
        }
        runtime.block_on(tx.commit()).map_err(pg)
    }

    pub fn write(&mut self, records: &[Record]) -> Result<u64, String> {
        let runtime = &self.runtime;
        let client = &mut self.client;
        let partitions = &self.partitions;
        runtime
            .block_on(async {
                ensure_partitions(
                    client,
                    partitions,
                    records.iter().map(|r| r.row.timestamp_ms),
                )
                .await?;
                let statement = client.prepare(INSERT).await?;
                let pending: Vec<Pending> = records
                    .iter()
                    .map(|r| Pending {
                        row: &r.row,
                        received_at: &r.received_at,
                        job: 0,
                    })
                    .collect();
                let tx = client.transaction().await?;
                let counts = insert(&tx, &statement, &pending, 1).await?;
                tx.commit().await?;
                Ok::<u64, tokio_postgres::Error>(counts[0] as u64)
            })
            .map_err(pg)
    }

    pub fn copied(&mut self, source: &str) -> Result<Vec<String>, String> {
        let rows = self
            .runtime
            .block_on(self.client.query(
                "SELECT quarter FROM copy_progress WHERE source = $1",
                &[&source],
            ))
            .map_err(pg)?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    pub fn mark_copied(&mut self, source: &str, quarter: &str) -> Result<(), String> {
        self.runtime
            .block_on(self.client.execute(
                "INSERT INTO copy_progress (source, quarter, done_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (source, quarter) DO UPDATE SET done_at = EXCLUDED.done_at",
                &[&source, &quarter, &migrations::now()],
            ))
            .map(drop)
            .map_err(pg)
    }
}
