//! The schema and its migrations: an ordered list of SQL scripts, script `n` taking the database from schema
//! version `n` to `n + 1`. The version lives in `PRAGMA user_version` (0 in a new file); opening applies the
//! missing scripts and the new version in one transaction, and refuses a database from a newer coalmine.
//!
//! Scripts are never edited once released: a change to the schema is a new script at the end.

use std::path::Path;

use rusqlite::{Connection, TransactionBehavior};

use crate::store::StoreError;

/// Version 1: canary configs, analyses and their intervals. Times are milliseconds since the Unix epoch;
/// documents are JSON text.
const V1: &str = "
CREATE TABLE canary_configs (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    updated_ms INTEGER NOT NULL,
    document   TEXT NOT NULL
) STRICT;

CREATE INDEX canary_configs_by_name ON canary_configs (name);

-- A row per application of a config (without repeats; position keeps the config's order). The config's name
-- is repeated here so that SQLite itself keeps names unique within each application.
CREATE TABLE canary_config_applications (
    config_id   TEXT NOT NULL REFERENCES canary_configs (id) ON DELETE CASCADE,
    application TEXT NOT NULL,
    position    INTEGER NOT NULL,
    name        TEXT NOT NULL,
    PRIMARY KEY (config_id, application),
    UNIQUE (name, application)
) STRICT;

CREATE INDEX canary_config_applications_by_application ON canary_config_applications (application);

CREATE TABLE analyses (
    id             TEXT PRIMARY KEY,
    status         TEXT NOT NULL
                   CHECK (status IN ('pending', 'running', 'completed', 'error', 'cancelled')),
    origin         TEXT NOT NULL,
    request        TEXT NOT NULL,
    config         TEXT NOT NULL,
    created_ms     INTEGER NOT NULL,
    updated_ms     INTEGER NOT NULL,
    classification TEXT,
    score          REAL,
    error          TEXT
) STRICT;

CREATE INDEX analyses_by_created ON analyses (created_ms);
CREATE INDEX analyses_by_status ON analyses (status, created_ms);

-- The primary key is what makes recording an interval twice impossible.
CREATE TABLE intervals (
    analysis_id  TEXT NOT NULL REFERENCES analyses (id) ON DELETE CASCADE,
    idx          INTEGER NOT NULL CHECK (idx >= 0),
    start_ms     INTEGER NOT NULL,
    end_ms       INTEGER NOT NULL,
    judged_ms    INTEGER NOT NULL,
    judge_result TEXT NOT NULL,
    pairs        TEXT NOT NULL,
    queries      TEXT NOT NULL,
    PRIMARY KEY (analysis_id, idx)
) STRICT;
";

/// Version 2: leases. An unfinished analysis is run by the replica named in `owner` until `lease_expires_ms`
/// (see the store's lease rules); `replicas` holds when each replica last renewed, to share the work fairly.
/// One process holds an SQLite data directory at a time, but the rules are the same as for a shared database.
const V2: &str = "
ALTER TABLE analyses ADD COLUMN owner TEXT;
ALTER TABLE analyses ADD COLUMN lease_expires_ms INTEGER;

CREATE TABLE replicas (
    id      TEXT PRIMARY KEY,
    seen_ms INTEGER NOT NULL
) STRICT;
";

/// The scripts, in order.
const MIGRATIONS: &[&str] = &[V1, V2];

/// Brings the schema of the database at `path` up to date.
pub(super) fn migrate(connection: &mut Connection, path: &Path) -> Result<(), StoreError> {
    let fault = |source| StoreError::Open {
        path: path.to_owned(),
        source,
    };
    // IMMEDIATE: two processes opening the same new file do not both migrate it.
    let transaction = connection
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(fault)?;
    let found: i64 = transaction
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .map_err(fault)?;
    let supported = MIGRATIONS.len() as i64;
    if found > supported {
        return Err(StoreError::NewerSchema {
            path: path.to_owned(),
            found,
            supported,
        });
    }
    let tables: i64 = transaction
        .query_row("SELECT count(*) FROM sqlite_schema", [], |row| row.get(0))
        .map_err(fault)?;
    if found < 0 || (found == 0 && tables > 0) {
        return Err(StoreError::Foreign {
            path: path.to_owned(),
        });
    }
    if found == supported {
        return Ok(());
    }
    for script in &MIGRATIONS[found as usize..] {
        transaction.execute_batch(script).map_err(fault)?;
    }
    transaction
        .pragma_update(None, "user_version", supported)
        .map_err(fault)?;
    transaction.commit().map_err(fault)?;
    tracing::info!(
        path = %path.display(),
        from = found,
        to = supported,
        "migrated the database schema"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user_version(connection: &Connection) -> i64 {
        connection
            .pragma_query_value(None, "user_version", |row| row.get(0))
            .unwrap()
    }

    fn schema(connection: &Connection) -> Vec<String> {
        let mut statement = connection
            .prepare("SELECT sql FROM sqlite_schema WHERE sql IS NOT NULL ORDER BY name")
            .unwrap();
        statement
            .query_map([], |row| row.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    #[test]
    fn every_older_version_is_brought_to_the_schema_of_a_new_database() {
        let mut new = Connection::open_in_memory().unwrap();
        migrate(&mut new, Path::new("new")).unwrap();
        assert_eq!(user_version(&new), MIGRATIONS.len() as i64);

        for version in 1..=MIGRATIONS.len() {
            let mut old = Connection::open_in_memory().unwrap();
            for script in &MIGRATIONS[..version] {
                old.execute_batch(script).unwrap();
            }
            old.pragma_update(None, "user_version", version as i64)
                .unwrap();
            migrate(&mut old, Path::new("old")).unwrap();
            assert_eq!(user_version(&old), MIGRATIONS.len() as i64);
            assert_eq!(schema(&old), schema(&new), "from version {version}");
        }
    }

    #[test]
    fn migrating_an_up_to_date_database_changes_nothing() {
        let mut connection = Connection::open_in_memory().unwrap();
        migrate(&mut connection, Path::new("db")).unwrap();
        let before = schema(&connection);
        migrate(&mut connection, Path::new("db")).unwrap();
        assert_eq!(schema(&connection), before);
    }

    #[test]
    fn a_database_with_tables_of_another_program_is_refused() {
        let mut connection = Connection::open_in_memory().unwrap();
        connection
            .execute_batch("CREATE TABLE notes (text TEXT)")
            .unwrap();
        let error = migrate(&mut connection, Path::new("other.db")).unwrap_err();
        assert!(matches!(error, StoreError::Foreign { .. }), "{error:?}");
        assert!(
            error.to_string().contains("other.db already holds tables"),
            "{error}"
        );
    }
}
