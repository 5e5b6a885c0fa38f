-- The quarterly report's aggregation inputs, computed inside PostgreSQL.
-- $1 and $2 bound the quarter (UTC, unix ms, end exclusive; quarters start
-- in 1970 or later, so every value here is >= 0 and integer division is
-- floor); the range selects the quarter's partition alone. A machine is
-- COALESCE(anonymous_id, user_id); weeks start on Monday (UTC).
--
-- Three steps, each a hash aggregation (the collector runs this with
-- enable_sort off and 64 MB of work_mem: on a partition without statistics
-- yet the planner would otherwise sort a million rows by six text keys,
-- 4-5 s instead of ~1 s):
--   folded:      one row per distinct (event, machine, os, build, error
--                command, week) with its event count;
--   per_machine: per section and key, one row per machine;
--   the answer:  per section and key, events and distinct machines.
-- Answers (section, key, count, machines) rows; a week is the number
-- (day + 3) / 7 of unix days, its Monday is day 7 * week - 3 (1970-01-01
-- was a Thursday). Suppression, ordering and formatting are the
-- collector's, the same for both backends (sql/sqlite/report.sql is the
-- SQLite version).
WITH folded AS MATERIALIZED (
    SELECT COALESCE(event_text, 'unknown')                     AS event,
           COALESCE(anonymous_id, user_id, 'unknown')          AS machine,
           COALESCE(context_os_name, 'unknown')                AS os,
           COALESCE(context_app_build, 'unknown')              AS build,
           CASE WHEN event_text = 'Error'
                THEN COALESCE(command, 'unknown') END          AS error_command,
           (timestamp_ms / 86400000 + 3) / 7                   AS week,
           count(*)                                            AS n
    FROM tracks
    WHERE type = 'track' AND timestamp_ms >= $1 AND timestamp_ms < $2
    GROUP BY 1, 2, 3, 4, 5, 6
), per_machine AS MATERIALIZED (
    SELECT 'event' AS section, event AS key, machine, sum(n) AS n FROM folded GROUP BY event, machine
    UNION ALL
    SELECT 'os', os, machine, sum(n) FROM folded GROUP BY os, machine
    UNION ALL
    SELECT 'build', build, machine, sum(n) FROM folded GROUP BY build, machine
    UNION ALL
    SELECT 'error', error_command, machine, sum(n) FROM folded
    WHERE error_command IS NOT NULL GROUP BY error_command, machine
    UNION ALL
    SELECT 'week', week::text, machine, sum(n) FROM folded GROUP BY week, machine
    UNION ALL
    SELECT 'total', NULL, machine, sum(n) FROM folded GROUP BY machine
)
SELECT section, key, sum(n)::int8, count(*)::int8 FROM per_machine GROUP BY section, key
