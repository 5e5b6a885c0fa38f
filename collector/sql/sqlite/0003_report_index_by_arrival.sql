-- The covering index of the report, re-keyed from (timestamp_ms, …) to
-- (quarter, received_ms, …). Keyed by timestamp, every event of a client
-- whose clock or delivery is out of order landed at a random place of this
-- wide index, and each commit rewrote hundreds of its pages (shuffled
-- timestamps: 24-30k events/s). Keyed by quarter and arrival, a commit's rows
-- append at the end of their quarter. The report reads one quarter, so it
-- still reads from this index alone; timestamp_ms stays in it to clip a
-- quarter (--as-of) and to find the week.
--
-- quarter is year * 4 + (month - 1) / 3 of timestamp_ms (UTC): 2026-Q4 is
-- 8107 (`quarter::number_of_ms`). received_ms is received_at as unix
-- milliseconds (the same instant for every row of a commit). Both are filled
-- by whoever inserts; here for the rows already stored.
ALTER TABLE tracks ADD COLUMN quarter INTEGER;
ALTER TABLE tracks ADD COLUMN received_ms INTEGER;
UPDATE tracks SET
    quarter = CAST(strftime('%Y', timestamp_ms / 1000.0, 'unixepoch') AS INTEGER) * 4
            + (CAST(strftime('%m', timestamp_ms / 1000.0, 'unixepoch') AS INTEGER) - 1) / 3,
    received_ms = CAST(strftime('%s', received_at) AS INTEGER) * 1000
                + CAST(substr(received_at, 21, 3) AS INTEGER);
DROP INDEX IF EXISTS tracks_report;
CREATE INDEX tracks_report ON tracks (
    quarter, received_ms, type, event_text, anonymous_id, user_id,
    context_os_name, context_app_build, command, timestamp_ms);
