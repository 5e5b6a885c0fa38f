-- The quarterly report's aggregation inputs, computed inside PostgreSQL.
-- $1 and $2 bound the quarter (UTC, unix ms, end exclusive); the range
-- selects the quarter's partition alone. A machine is
-- COALESCE(anonymous_id, user_id); a week is named by its Monday (UTC), as
-- a unix day number (the collector formats it, as it does for SQLite).
--
-- The quarter is first folded to one row per distinct (machine, event, os,
-- build, error command, week) with its event count; every section then
-- counts over that much smaller set. Answers (section, key, count,
-- machines) rows; suppression and ordering are the collector's, the same
-- for both backends (sql/sqlite/report.sql is the SQLite version).
WITH folded AS MATERIALIZED (
    SELECT COALESCE(event_text, 'unknown')                     AS event,
           COALESCE(anonymous_id, user_id, 'unknown')          AS machine,
           COALESCE(context_os_name, 'unknown')                AS os,
           COALESCE(context_app_build, 'unknown')              AS build,
           CASE WHEN event_text = 'Error'
                THEN COALESCE(command, 'unknown') END          AS error_command,
           floor(timestamp_ms / 86400000.0)::bigint            AS day,
           count(*)                                            AS n
    FROM tracks
    WHERE type = 'track' AND timestamp_ms >= $1 AND timestamp_ms < $2
    GROUP BY 1, 2, 3, 4, 5, 6
), weekly AS (
    -- 1970-01-01 (day 0) was a Thursday: Monday is day - (day + 3) mod 7.
    SELECT day - ((day + 3) % 7 + 7) % 7 AS monday, machine, n FROM folded
)
SELECT 'total', NULL, COALESCE(sum(n), 0)::int8, count(DISTINCT machine) FROM folded
UNION ALL
SELECT 'event', event, sum(n)::int8, count(DISTINCT machine) FROM folded GROUP BY event
UNION ALL
SELECT 'os', os, sum(n)::int8, count(DISTINCT machine) FROM folded GROUP BY os
UNION ALL
SELECT 'build', build, sum(n)::int8, count(DISTINCT machine) FROM folded GROUP BY build
UNION ALL
SELECT 'error', error_command, sum(n)::int8, count(DISTINCT machine) FROM folded
WHERE error_command IS NOT NULL GROUP BY error_command
UNION ALL
SELECT 'week', monday::text, sum(n)::int8, count(DISTINCT machine) FROM weekly GROUP BY monday
