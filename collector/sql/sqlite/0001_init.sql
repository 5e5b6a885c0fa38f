-- cfdev-collector storage. Column names follow Segment's warehouse `tracks`
-- table where one exists (id, anonymous_id, user_id, event_text, timestamp,
-- context_os_name, context_app_build, sent_at, received_at).
-- Rows are appended in arrival order (rowid); the random messageIds go to a
-- narrow unique index instead of ordering the wide rows themselves.
CREATE TABLE IF NOT EXISTS tracks (
    id               TEXT NOT NULL UNIQUE,  -- messageId: the deduplication key
    type             TEXT NOT NULL,         -- track, identify, ...
    event_text       TEXT,                  -- the event name ("App Created")
    anonymous_id     TEXT,
    user_id          TEXT,
    timestamp        TEXT NOT NULL,         -- UTC, ms, Z
    timestamp_ms     INTEGER NOT NULL,      -- the same, as unix milliseconds
    context_os_name  TEXT,
    context_os_arch  TEXT,
    context_app_name TEXT,
    context_app_build TEXT,
    command          TEXT,                  -- properties.command
    properties       TEXT NOT NULL,         -- properties as JSON
    sent_at          TEXT,
    received_at      TEXT NOT NULL
);
-- Covers the report: a quarter's rows are read from this index alone.
CREATE INDEX IF NOT EXISTS tracks_report ON tracks (
    timestamp_ms, type, event_text, anonymous_id, user_id,
    context_os_name, context_app_build, command);
