-- cfdev-collector storage on PostgreSQL: the same columns as on SQLite
-- (sql/sqlite/0001_init.sql), so `copy` moves rows unchanged and the report
-- reads the same values.
--
-- Events are partitioned by quarter of their timestamp (RANGE on unix ms):
-- retention drops whole partitions, a quarter's report reads one partition.
-- A unique key on a partitioned table must include the partition key, so
-- dedupe by messageId alone, across partitions and across every collector
-- sharing the database, goes through `seen`: a row is inserted into
-- `tracks` only when its id was new to `seen` in the same transaction.
-- Partitions are created by the collectors when a quarter first appears
-- (tracks_yYYYYqN).
CREATE TABLE tracks (
    id                TEXT NOT NULL,   -- messageId
    type              TEXT NOT NULL,
    event_text        TEXT,
    anonymous_id      TEXT,
    user_id           TEXT,
    timestamp         TEXT NOT NULL,   -- UTC, ms, Z
    timestamp_ms      BIGINT NOT NULL, -- the same, as unix milliseconds
    context_os_name   TEXT,
    context_os_arch   TEXT,
    context_app_name  TEXT,
    context_app_build TEXT,
    command           TEXT,
    properties        TEXT NOT NULL,   -- properties as JSON
    sent_at           TEXT,
    received_at       TEXT NOT NULL
) PARTITION BY RANGE (timestamp_ms);

CREATE TABLE seen (
    id TEXT PRIMARY KEY
);

CREATE TABLE copy_progress (
    source  TEXT NOT NULL,
    quarter TEXT NOT NULL,
    done_at TEXT NOT NULL,
    PRIMARY KEY (source, quarter)
);
