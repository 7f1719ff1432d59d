//! Canary configs in PostgreSQL: a row per config with its JSON document, and a row per application of a
//! config, whose `UNIQUE (name, application)` makes the database refuse a duplicate name within an
//! application even between two replicas writing at once.

use std::collections::HashSet;

use deadpool_postgres::GenericClient;
use jiff::Timestamp;
use tokio_postgres::Row;
use tokio_postgres::error::SqlState;

use super::{Db, Failure};
use crate::kayenta::CanaryConfig;
use crate::store::columns::{config_not_found as not_found, decode, encode, stamp, timestamp};
use crate::store::id::new_id;
use crate::store::{ConfigSummary, Conflict, Missing, StoreError, StoredConfig};

/// The name of the constraint that keeps names unique within an application (see the migrations).
const NAME_UNIQUE: &str = "canary_config_applications_name_unique";

pub(super) async fn create(
    db: &Db,
    config: CanaryConfig,
    now: Timestamp,
) -> Result<StoredConfig, Failure> {
    let id = match config.id.as_deref() {
        Some(id) if !id.is_empty() => id.to_owned(),
        _ => new_id(),
    };
    let mut client = db.client().await?;
    let transaction = client.transaction().await?;
    if created(&transaction, &id).await?.is_some() {
        return Err(Conflict::ConfigId { id }.into());
    }
    let stored = stamp(id, config, now, now);
    save(&transaction, &stored, true).await?;
    transaction.commit().await?;
    Ok(stored)
}

pub(super) async fn replace(
    db: &Db,
    id: &str,
    config: CanaryConfig,
    now: Timestamp,
) -> Result<StoredConfig, Failure> {
    let mut client = db.client().await?;
    let transaction = client.transaction().await?;
    let created = created(&transaction, id)
        .await?
        .ok_or_else(|| not_found(id))?;
    let stored = stamp(id.to_owned(), config, created, now);
    save(&transaction, &stored, false).await?;
    transaction.commit().await?;
    Ok(stored)
}

pub(super) async fn delete(db: &Db, id: &str) -> Result<(), Failure> {
    // The config's application rows go with it (ON DELETE CASCADE).
    let client = db.client().await?;
    let statement = client
        .prepare_cached("DELETE FROM canary_configs WHERE id = $1")
        .await?;
    match client.execute(&statement, &[&id]).await? {
        0 => Err(not_found(id).into()),
        _ => Ok(()),
    }
}

pub(super) async fn get(client: &impl GenericClient, id: &str) -> Result<StoredConfig, Failure> {
    let statement = client
        .prepare_cached(
            "SELECT id, created_ms, updated_ms, document FROM canary_configs WHERE id = $1",
        )
        .await?;
    match client.query_opt(&statement, &[&id]).await? {
        Some(row) => read(&row),
        None => Err(not_found(id).into()),
    }
}

pub(super) async fn by_name(
    db: &Db,
    name: &str,
    application: Option<&str>,
) -> Result<StoredConfig, Failure> {
    let client = db.client().await?;
    let statement = client
        .prepare_cached(
            "SELECT id FROM canary_configs AS c
             WHERE name = $1 AND ($2::text IS NULL OR EXISTS (
                 SELECT 1 FROM canary_config_applications AS a
                 WHERE a.config_id = c.id AND a.application = $2::text))
             ORDER BY id COLLATE \"C\"",
        )
        .await?;
    let ids: Vec<String> = client
        .query(&statement, &[&name, &application])
        .await?
        .iter()
        .map(|row| row.try_get(0))
        .collect::<Result<_, _>>()?;
    match ids.as_slice() {
        [id] => get(&client, id).await,
        [] => Err(StoreError::NotFound(Missing::ConfigNamed {
            name: name.to_owned(),
            application: application.map(str::to_owned),
        })
        .into()),
        _ => Err(Conflict::AmbiguousConfigName {
            name: name.to_owned(),
            ids,
        }
        .into()),
    }
}

pub(super) async fn list(db: &Db, applications: &[String]) -> Result<Vec<ConfigSummary>, Failure> {
    let client = db.client().await?;
    // Names sort by their bytes (COLLATE "C"), as in SQLite, whatever the database's locale.
    let statement = client
        .prepare_cached(
            "SELECT c.id, c.name, c.updated_ms,
                    ARRAY(SELECT a.application FROM canary_config_applications AS a
                          WHERE a.config_id = c.id ORDER BY a.position)
             FROM canary_configs AS c
             WHERE cardinality($1::text[]) = 0 OR EXISTS (
                 SELECT 1 FROM canary_config_applications AS a
                 WHERE a.config_id = c.id AND a.application = ANY($1::text[]))
             ORDER BY c.name COLLATE \"C\", c.id COLLATE \"C\"",
        )
        .await?;
    client
        .query(&statement, &[&applications])
        .await?
        .iter()
        .map(|row| {
            let id: String = row.try_get(0)?;
            Ok(ConfigSummary {
                name: row.try_get(1)?,
                updated: timestamp(
                    || format!("update time of canary config '{id}'"),
                    row.try_get(2)?,
                )?,
                applications: row.try_get(3)?,
                id,
            })
        })
        .collect()
}

/// When config `id` was created, if it exists; its row stays locked until the transaction ends.
async fn created(client: &impl GenericClient, id: &str) -> Result<Option<Timestamp>, Failure> {
    let statement = client
        .prepare_cached("SELECT created_ms FROM canary_configs WHERE id = $1 FOR UPDATE")
        .await?;
    let Some(row) = client.query_opt(&statement, &[&id]).await? else {
        return Ok(None);
    };
    let millis: i64 = row.try_get(0)?;
    Ok(Some(timestamp(
        || format!("creation time of canary config '{id}'"),
        millis,
    )?))
}

/// Writes `stored`, a new config (`new`) or a replacement, with its application rows.
async fn save(
    client: &impl GenericClient,
    stored: &StoredConfig,
    new: bool,
) -> Result<(), Failure> {
    let config = &stored.config;
    let document = encode("canary config", config)?;
    let (created, updated) = (
        stored.created.as_millisecond(),
        stored.updated.as_millisecond(),
    );
    let upsert = client
        .prepare_cached(
            "INSERT INTO canary_configs (id, name, created_ms, updated_ms, document)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (id) DO UPDATE
             SET name = excluded.name, updated_ms = excluded.updated_ms, document = excluded.document",
        )
        .await?;
    let insert = client
        .prepare_cached(
            "INSERT INTO canary_configs (id, name, created_ms, updated_ms, document)
             VALUES ($1, $2, $3, $4, $5)",
        )
        .await?;
    let statement = if new { &insert } else { &upsert };
    client
        .execute(
            statement,
            &[&stored.id, &config.name, &created, &updated, &document],
        )
        .await
        .map_err(|error| match error.code() {
            // Another replica created the same id since this one looked.
            Some(&SqlState::UNIQUE_VIOLATION) => Failure::from(Conflict::ConfigId {
                id: stored.id.clone(),
            }),
            _ => error.into(),
        })?;
    let clear = client
        .prepare_cached("DELETE FROM canary_config_applications WHERE config_id = $1")
        .await?;
    client.execute(&clear, &[&stored.id]).await?;
    let insert = client
        .prepare_cached(
            "INSERT INTO canary_config_applications (config_id, application, position, name)
             VALUES ($1, $2, $3, $4)",
        )
        .await?;
    let mut seen = HashSet::new();
    let applications = config
        .applications
        .iter()
        .filter(|application| seen.insert(application.as_str()));
    for (position, application) in applications.enumerate() {
        let position = position as i32;
        client
            .execute(&insert, &[&stored.id, application, &position, &config.name])
            .await
            .map_err(|error| {
                let constraint = error.as_db_error().and_then(|error| error.constraint());
                match (error.code(), constraint) {
                    // Repeats are filtered out above, so only UNIQUE (name, application) can fail.
                    (Some(&SqlState::UNIQUE_VIOLATION), Some(NAME_UNIQUE)) => {
                        Failure::from(Conflict::ConfigName {
                            name: config.name.clone(),
                            applications: config.applications.clone(),
                        })
                    }
                    _ => error.into(),
                }
            })?;
    }
    Ok(())
}

fn read(row: &Row) -> Result<StoredConfig, Failure> {
    let id: String = row.try_get(0)?;
    let document: String = row.try_get(3)?;
    Ok(StoredConfig {
        created: timestamp(
            || format!("creation time of canary config '{id}'"),
            row.try_get(1)?,
        )?,
        updated: timestamp(
            || format!("update time of canary config '{id}'"),
            row.try_get(2)?,
        )?,
        config: decode(|| format!("canary config '{id}'"), &document)?,
        id,
    })
}
