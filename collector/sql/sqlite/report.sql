-- The quarterly report, in one file. Each statement is introduced by a
-- "-- name:" line; :start_ms and :end_ms bound the quarter (UTC, unix ms,
-- end exclusive). It expects one table, `tracks` (see schema.sql), with the
-- columns: type, event_text, anonymous_id, user_id, timestamp_ms,
-- context_os_name, context_app_build, command. A machine is
-- COALESCE(anonymous_id, user_id); weeks start on Monday (UTC). Dialect:
-- SQLite (date() is the only function to translate for another warehouse).
-- Rows seen on fewer than K machines are then dropped and counted.
--
-- cfdev-collector itself runs only the "rows" statement and aggregates in
-- one pass (a 1M-event quarter in well under the 2 s budget); the statements
-- after it are the same report in SQL, for a warehouse. A test runs both on
-- the same data and requires identical results.

-- name: rows
-- (The collector's own schema only: :quarter is the `quarter` column's
-- number of the quarter, which leads the covering index tracks_report.)
SELECT event_text, COALESCE(anonymous_id, user_id), COALESCE(context_os_name, 'unknown'),
       COALESCE(context_app_build, 'unknown'), COALESCE(command, 'unknown'), timestamp_ms
FROM tracks
WHERE quarter = :quarter AND timestamp_ms >= :start_ms AND timestamp_ms < :end_ms
  AND type = 'track';

-- name: quarter
CREATE TEMP TABLE quarter AS
SELECT event_text                                   AS event,
       COALESCE(anonymous_id, user_id)              AS machine,
       COALESCE(context_os_name, 'unknown')         AS os,
       COALESCE(context_app_build, 'unknown')       AS build,
       COALESCE(command, 'unknown')                 AS command,
       date(timestamp_ms / 1000, 'unixepoch', '-6 days', 'weekday 1') AS week
FROM tracks
WHERE type = 'track' AND timestamp_ms >= :start_ms AND timestamp_ms < :end_ms;

-- name: totals
SELECT COUNT(*), COUNT(DISTINCT machine) FROM quarter;

-- name: events
SELECT event, COUNT(*), COUNT(DISTINCT machine) FROM quarter
GROUP BY event ORDER BY 2 DESC, 1;

-- name: by_os
SELECT os, COUNT(*), COUNT(DISTINCT machine) FROM quarter
GROUP BY os ORDER BY 2 DESC, 1;

-- name: by_build
SELECT build, COUNT(*), COUNT(DISTINCT machine) FROM quarter
GROUP BY build ORDER BY 2 DESC, 1;

-- name: errors_by_command
SELECT command, COUNT(*), COUNT(DISTINCT machine) FROM quarter
WHERE event = 'Error'
GROUP BY command ORDER BY 2 DESC, 1;

-- name: weekly
SELECT week, COUNT(*), COUNT(DISTINCT machine) FROM quarter
GROUP BY week ORDER BY 1;

-- name: cleanup
DROP TABLE quarter;
