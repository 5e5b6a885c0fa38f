-- The published report's input, computed inside PostgreSQL: the quarter's
-- track events folded to one row per distinct (event, machine, OS, build,
-- error command, week) with how many events it stands for; the week is
-- given as the unix day of its Monday (1970-01-01 was a Thursday; values
-- are >= 0, so integer division is floor). $1 and $2 bound the window (UTC,
-- unix ms, end exclusive). The collector then counts distinct machines per
-- public key, folds rows below K into "other" (which needs the machines
-- themselves, not per-key counts) and clips weeks to the quarter
-- (sql/sqlite/report.sql's "rows" is the SQLite counterpart). Run with
-- enable_sort off and 64 MB of work_mem, as report.sql (hash aggregation).
SELECT COALESCE(event_text, 'unknown')                     AS event,
       COALESCE(anonymous_id, user_id, 'unknown')          AS machine,
       COALESCE(context_os_name, 'unknown')                AS os,
       COALESCE(context_app_build, 'unknown')              AS build,
       CASE WHEN event_text = 'Error'
            THEN COALESCE(command, 'unknown') ELSE '' END  AS error_command,
       (timestamp_ms / 86400000 + 3) / 7 * 7 - 3          AS monday,
       count(*)::int8                                      AS n
FROM tracks
WHERE type = 'track' AND timestamp_ms >= $1 AND timestamp_ms < $2
GROUP BY 1, 2, 3, 4, 5, 6
