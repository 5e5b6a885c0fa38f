-- `cfdev-collector copy` records each quarter it has finished copying from a
-- source, so an interrupted copy resumes after the last finished quarter
-- (the unfinished one is copied again; messageIds make that harmless).
CREATE TABLE IF NOT EXISTS copy_progress (
    source  TEXT NOT NULL,
    quarter TEXT NOT NULL,
    done_at TEXT NOT NULL,
    PRIMARY KEY (source, quarter)
);
