//! The PostgreSQL schema and its migrations: an ordered list of SQL scripts, script `n` taking the database
//! from schema version `n` to `n + 1`, as for SQLite. The version is the one row of
//! `coalmine_schema_version` (absent in a new database).
//!
//! Replicas starting together must not both migrate: the whole migration runs in one transaction that first
//! takes a transaction-level advisory lock (`pg_advisory_xact_lock`, [`MIGRATION_LOCK`]). A second replica
//! waits on the lock, then finds the schema up to date. PostgreSQL's DDL is transactional, so a failed
//! migration leaves nothing behind, and the lock goes with the transaction even if the connection breaks.
//!
//! Scripts are never edited once released: a change to the schema is a new script at the end.

use super::{Db, Failure};
use crate::store::StoreError;

/// The advisory lock key taken while migrating: "coalmine" in ASCII.
pub(super) const MIGRATION_LOCK: i64 = 0x636f_616c_6d69_6e65;

/// Version 1: canary configs, analyses and their intervals. Times are milliseconds since the Unix epoch and
/// documents JSON text, as in SQLite (text, not `jsonb`: a document comes back byte for byte, and a damaged
/// one is the store's to report). `analyses.seq` orders analyses created in the same millisecond.
/// `analyses.owner` and `analyses.lease_expires_at` are for the replica that runs an analysis (its lease).
const V1: &str = "
CREATE TABLE canary_configs (
    id         text PRIMARY KEY,
    name       text NOT NULL,
    created_ms bigint NOT NULL,
    updated_ms bigint NOT NULL,
    document   text NOT NULL
);

CREATE INDEX canary_configs_by_name ON canary_configs (name);

-- A row per application of a config (without repeats; position keeps the config's order). The config's name
-- is repeated here so that the database itself keeps names unique within each application.
CREATE TABLE canary_config_applications (
    config_id   text NOT NULL REFERENCES canary_configs (id) ON DELETE CASCADE,
    application text NOT NULL,
    position    integer NOT NULL,
    name        text NOT NULL,
    PRIMARY KEY (config_id, application),
    CONSTRAINT canary_config_applications_name_unique UNIQUE (name, application)
);

CREATE INDEX canary_config_applications_by_application ON canary_config_applications (application);

CREATE TABLE analyses (
    id               text PRIMARY KEY,
    seq              bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
    status           text NOT NULL
                     CHECK (status IN ('pending', 'running', 'completed', 'error', 'cancelled')),
    origin           text NOT NULL,
    request          text NOT NULL,
    config           text NOT NULL,
    created_ms       bigint NOT NULL,
    updated_ms       bigint NOT NULL,
    classification   text,
    score            double precision,
    error            text,
    owner            text,
    lease_expires_at timestamptz
);

CREATE INDEX analyses_by_created ON analyses (created_ms, seq);
CREATE INDEX analyses_by_status ON analyses (status, created_ms, seq);

-- The primary key is what makes recording an interval twice impossible.
CREATE TABLE intervals (
    analysis_id  text NOT NULL REFERENCES analyses (id) ON DELETE CASCADE,
    idx          bigint NOT NULL CHECK (idx >= 0),
    start_ms     bigint NOT NULL,
    end_ms       bigint NOT NULL,
    judged_ms    bigint NOT NULL,
    judge_result text NOT NULL,
    pairs        text NOT NULL,
    queries      text NOT NULL,
    PRIMARY KEY (analysis_id, idx)
);
";

/// Version 2: when each replica last renewed its leases, so that replicas share the work fairly (the leases
/// themselves are `analyses.owner` and `analyses.lease_expires_at`). `lease_expires_at` is compared with the
/// database's `now()`, hence the index for claims.
const V2: &str = "
CREATE TABLE replicas (
    id      text PRIMARY KEY,
    seen_at timestamptz NOT NULL
);

CREATE INDEX analyses_by_lease ON analyses (lease_expires_at) WHERE status IN ('pending', 'running');
";

/// The scripts, in order.
pub(super) const MIGRATIONS: &[&str] = &[V1, V2];

/// Brings the schema up to date, under the migration lock.
pub(super) async fn migrate(db: &Db) -> Result<(), Failure> {
    let mut client = db.client().await?;
    let transaction = client.transaction().await?;
    transaction
        .execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await?;
    transaction
        .batch_execute(
            "CREATE TABLE IF NOT EXISTS coalmine_schema_version (version bigint NOT NULL)",
        )
        .await?;
    let found: i64 = transaction
        .query_opt("SELECT version FROM coalmine_schema_version", &[])
        .await?
        .map(|row| row.try_get(0))
        .transpose()?
        .unwrap_or(0);
    let supported = MIGRATIONS.len() as i64;
    if found > supported || found < 0 {
        return Err(StoreError::NewerPostgresSchema {
            target: db.target.to_string(),
            found,
            supported,
        }
        .into());
    }
    if found == supported {
        return Ok(());
    }
    for script in &MIGRATIONS[found as usize..] {
        transaction.batch_execute(script).await?;
    }
    transaction
        .batch_execute("DELETE FROM coalmine_schema_version")
        .await?;
    transaction
        .execute(
            "INSERT INTO coalmine_schema_version (version) VALUES ($1)",
            &[&supported],
        )
        .await?;
    transaction.commit().await?;
    tracing::info!(
        database = %db.target,
        from = found,
        to = supported,
        "migrated the PostgreSQL schema"
    );
    Ok(())
}
