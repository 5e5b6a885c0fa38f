//! Versioned schema migrations, one list per backend, each a file under
//! `sql/<backend>/NNNN_name.sql`. A database records what it has applied in
//! `schema_migrations`; pending ones are applied in order, each in its own
//! transaction, on start and by `cfdev-collector migrate`. A database that
//! has applied a version this build does not know is refused: it was
//! migrated by a newer collector.

#[derive(Debug)]
pub struct Migration {
    pub version: u32,
    pub name: &'static str,
    pub sql: &'static str,
}

pub const SQLITE: &[Migration] = &[
    Migration {
        version: 1,
        name: "tracks",
        sql: include_str!("../../sql/sqlite/0001_init.sql"),
    },
    Migration {
        version: 2,
        name: "copy progress",
        sql: include_str!("../../sql/sqlite/0002_copy_progress.sql"),
    },
    Migration {
        version: 3,
        name: "report index by quarter and arrival",
        sql: include_str!("../../sql/sqlite/0003_report_index_by_arrival.sql"),
    },
];

pub const POSTGRES: &[Migration] = &[Migration {
    version: 1,
    name: "tracks partitioned by quarter, seen ids, copy progress",
    sql: include_str!("../../sql/postgres/0001_init.sql"),
}];

/// Creates the bookkeeping table (the same text for both backends).
pub const BOOKKEEPING: &str = "CREATE TABLE IF NOT EXISTS schema_migrations (\
    version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)";

/// The migrations still to apply, or why this build must not touch the
/// database.
/// Every known migration with whether it is applied, for `migrate`'s listing.
pub fn status(all: &[Migration], applied: &[u32]) -> Vec<(u32, &'static str, bool)> {
    all.iter()
        .map(|m| (m.version, m.name, applied.contains(&m.version)))
        .collect()
}

pub fn pending<'a>(all: &'a [Migration], applied: &[u32]) -> Result<Vec<&'a Migration>, String> {
    let newest = all.last().map_or(0, |m| m.version);
    if let Some(unknown) = applied.iter().find(|v| **v > newest) {
        return Err(format!(
            "the database has schema version {unknown}, newer than this collector knows \
             ({newest}): use a newer cfdev-collector"
        ));
    }
    Ok(all
        .iter()
        .filter(|m| !applied.contains(&m.version))
        .collect())
}

pub fn now() -> String {
    chrono::Utc::now()
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_ascend_without_gaps() {
        for list in [SQLITE, POSTGRES] {
            for (i, m) in list.iter().enumerate() {
                assert_eq!(m.version as usize, i + 1, "{}", m.name);
            }
        }
    }

    #[test]
    fn newer_databases_are_refused() {
        assert_eq!(pending(SQLITE, &[1]).unwrap().len(), SQLITE.len() - 1);
        assert!(pending(SQLITE, &[1, 2, 99]).unwrap_err().contains("99"));
    }
}
