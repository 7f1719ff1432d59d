//! Canary configs: a row per config with its JSON document, and a row per application of a config, whose
//! `UNIQUE (name, application)` makes SQLite refuse a duplicate name within an application.

use std::collections::HashSet;

use jiff::Timestamp;
use rusqlite::{Connection, ErrorCode, OptionalExtension, Row, TransactionBehavior, params};

use crate::kayenta::CanaryConfig;
use crate::store::columns::{config_not_found as not_found, decode, encode, stamp, timestamp};
use crate::store::id::new_id;
use crate::store::{ConfigSummary, Conflict, Missing, StoreError, StoredConfig};

pub(super) fn create(
    connection: &mut Connection,
    config: CanaryConfig,
    now: Timestamp,
) -> Result<StoredConfig, StoreError> {
    let id = match config.id.as_deref() {
        Some(id) if !id.is_empty() => id.to_owned(),
        _ => new_id(),
    };
    let transaction = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
    if created(&transaction, &id)?.is_some() {
        return Err(Conflict::ConfigId { id }.into());
    }
    let stored = stamp(id, config, now, now);
    save(&transaction, &stored)?;
    transaction.commit()?;
    Ok(stored)
}

pub(super) fn replace(
    connection: &mut Connection,
    id: &str,
    config: CanaryConfig,
    now: Timestamp,
) -> Result<StoredConfig, StoreError> {
    let transaction = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let created = created(&transaction, id)?.ok_or_else(|| not_found(id))?;
    let stored = stamp(id.to_owned(), config, created, now);
    save(&transaction, &stored)?;
    transaction.commit()?;
    Ok(stored)
}

pub(super) fn delete(connection: &Connection, id: &str) -> Result<(), StoreError> {
    // The config's application rows go with it (ON DELETE CASCADE).
    match connection.execute("DELETE FROM canary_configs WHERE id = ?1", [id])? {
        0 => Err(not_found(id)),
        _ => Ok(()),
    }
}

pub(super) fn get(connection: &Connection, id: &str) -> Result<StoredConfig, StoreError> {
    connection
        .prepare_cached(
            "SELECT id, created_ms, updated_ms, document FROM canary_configs WHERE id = ?1",
        )?
        .query_and_then([id], read)?
        .next()
        .unwrap_or_else(|| Err(not_found(id)))
}

pub(super) fn by_name(
    connection: &Connection,
    name: &str,
    application: Option<&str>,
) -> Result<StoredConfig, StoreError> {
    let ids: Vec<String> = connection
        .prepare_cached(
            "SELECT id FROM canary_configs AS c
             WHERE name = ?1 AND (?2 IS NULL OR EXISTS (
                 SELECT 1 FROM canary_config_applications AS a
                 WHERE a.config_id = c.id AND a.application = ?2))
             ORDER BY id",
        )?
        .query_map(params![name, application], |row| row.get(0))?
        .collect::<Result<_, _>>()?;
    match ids.as_slice() {
        [id] => get(connection, id),
        [] => Err(StoreError::NotFound(Missing::ConfigNamed {
            name: name.to_owned(),
            application: application.map(str::to_owned),
        })),
        _ => Err(Conflict::AmbiguousConfigName {
            name: name.to_owned(),
            ids,
        }
        .into()),
    }
}

pub(super) fn list(
    connection: &Connection,
    applications: &[String],
) -> Result<Vec<ConfigSummary>, StoreError> {
    let applications = encode("application list", &applications)?;
    connection
        .prepare_cached(
            "SELECT c.id, c.name, c.updated_ms,
                    (SELECT json_group_array(a.application ORDER BY a.position)
                     FROM canary_config_applications AS a WHERE a.config_id = c.id)
             FROM canary_configs AS c
             WHERE json_array_length(?1) = 0 OR EXISTS (
                 SELECT 1 FROM canary_config_applications AS a
                 WHERE a.config_id = c.id AND a.application IN (SELECT value FROM json_each(?1)))
             ORDER BY c.name, c.id",
        )?
        .query_and_then([applications], |row| {
            let id: String = row.get(0)?;
            Ok(ConfigSummary {
                name: row.get(1)?,
                updated: timestamp(
                    || format!("update time of canary config '{id}'"),
                    row.get(2)?,
                )?,
                applications: decode(
                    || format!("applications of canary config '{id}'"),
                    &row.get::<_, String>(3)?,
                )?,
                id,
            })
        })?
        .collect()
}

/// When config `id` was created, if it exists.
fn created(connection: &Connection, id: &str) -> Result<Option<Timestamp>, StoreError> {
    connection
        .query_row(
            "SELECT created_ms FROM canary_configs WHERE id = ?1",
            [id],
            |row| row.get(0),
        )
        .optional()?
        .map(|millis| timestamp(|| format!("creation time of canary config '{id}'"), millis))
        .transpose()
}

/// Writes `stored`, a new config or a replacement, with its application rows.
fn save(connection: &Connection, stored: &StoredConfig) -> Result<(), StoreError> {
    let config = &stored.config;
    let document = encode("canary config", config)?;
    connection
        .prepare_cached(
            "INSERT INTO canary_configs (id, name, created_ms, updated_ms, document)
             VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (id) DO UPDATE
             SET name = excluded.name, updated_ms = excluded.updated_ms, document = excluded.document",
        )?
        .execute(params![
            stored.id,
            config.name,
            stored.created.as_millisecond(),
            stored.updated.as_millisecond(),
            document
        ])?;
    connection
        .prepare_cached("DELETE FROM canary_config_applications WHERE config_id = ?1")?
        .execute([&stored.id])?;
    let mut insert = connection.prepare_cached(
        "INSERT INTO canary_config_applications (config_id, application, position, name)
         VALUES (?1, ?2, ?3, ?4)",
    )?;
    let mut seen = HashSet::new();
    let applications = config
        .applications
        .iter()
        .filter(|application| seen.insert(application.as_str()));
    for (position, application) in applications.enumerate() {
        insert
            .execute(params![
                stored.id,
                application,
                position as i64,
                config.name
            ])
            .map_err(|error| match error.sqlite_error_code() {
                // Repeats are filtered out above, so only UNIQUE (name, application) can fail.
                Some(ErrorCode::ConstraintViolation) => StoreError::from(Conflict::ConfigName {
                    name: config.name.clone(),
                    applications: config.applications.clone(),
                }),
                _ => error.into(),
            })?;
    }
    Ok(())
}

fn read(row: &Row<'_>) -> Result<StoredConfig, StoreError> {
    let id: String = row.get(0)?;
    Ok(StoredConfig {
        created: timestamp(
            || format!("creation time of canary config '{id}'"),
            row.get(1)?,
        )?,
        updated: timestamp(
            || format!("update time of canary config '{id}'"),
            row.get(2)?,
        )?,
        config: decode(
            || format!("canary config '{id}'"),
            &row.get::<_, String>(3)?,
        )?,
        id,
    })
}

#[cfg(test)]
mod tests {
    use crate::kayenta::instant_iso as kayenta_instant;

    #[test]
    fn instants_are_written_as_java_writes_them() {
        for (millis, text) in [
            (1_521_077_025_000, "2018-03-15T01:23:45Z"),
            (1_521_077_025_120, "2018-03-15T01:23:45.120Z"),
            (1_521_077_025_007, "2018-03-15T01:23:45.007Z"),
        ] {
            let time = jiff::Timestamp::from_millisecond(millis).unwrap();
            assert_eq!(kayenta_instant(time), text);
        }
    }
}
