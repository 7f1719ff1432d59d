//! What both backends share in turning records into columns and back: the clock to the millisecond the store
//! keeps, JSON documents, timestamps, statuses, Kayenta's time stamps on a stored config, the `SELECT` of an
//! analysis, and the errors for a record that is missing or damaged.

use jiff::Timestamp;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::error::{Missing, StoreError};
use super::model::{AnalysisStatus, StoredConfig};
use crate::kayenta::CanaryConfig;

/// `SELECT`s the columns each backend's `read` reads from `analyses AS a`, followed by `$rest`.
macro_rules! select_analyses {
    ($rest:literal) => {
        concat!(
            "SELECT a.id, a.status, a.origin, a.request, a.config, a.created_ms, a.updated_ms,
                    a.classification, a.score, a.error,
                    (SELECT count(*) FROM intervals AS i WHERE i.analysis_id = a.id)
             FROM analyses AS a ",
            $rest
        )
    };
}
pub(super) use select_analyses;

/// The current time, to the millisecond the store keeps.
pub(super) fn now() -> Timestamp {
    let now = Timestamp::now();
    Timestamp::from_millisecond(now.as_millisecond()).unwrap_or(now)
}

/// A stored time, in milliseconds since the Unix epoch.
pub(super) fn timestamp(
    what: impl FnOnce() -> String,
    millis: i64,
) -> Result<Timestamp, StoreError> {
    Timestamp::from_millisecond(millis).map_err(|error| StoreError::Corrupt {
        what: what(),
        reason: error.to_string(),
    })
}

pub(super) fn encode(what: &'static str, value: &impl Serialize) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|source| StoreError::Encode { what, source })
}

pub(super) fn decode<T: DeserializeOwned>(
    what: impl FnOnce() -> String,
    json: &str,
) -> Result<T, StoreError> {
    serde_json::from_str(json).map_err(|error| StoreError::Corrupt {
        what: what(),
        reason: error.to_string(),
    })
}

/// The stored status of analysis `id`.
pub(super) fn parse_status(id: &str, status: &str) -> Result<AnalysisStatus, StoreError> {
    status.parse().map_err(|reason| StoreError::Corrupt {
        what: format!("status of analysis '{id}'"),
        reason,
    })
}

/// The stored form of `config`: its id and Kayenta's timestamp fields filled in.
pub(super) fn stamp(
    id: String,
    mut config: CanaryConfig,
    created: Timestamp,
    updated: Timestamp,
) -> StoredConfig {
    config.id = Some(id.clone());
    for (field, time) in [("createdTimestamp", created), ("updatedTimestamp", updated)] {
        config
            .other
            .insert(field.to_owned(), time.as_millisecond().into());
        config.other.insert(
            format!("{field}Iso"),
            crate::kayenta::instant_iso(time).into(),
        );
    }
    StoredConfig {
        id,
        config,
        created,
        updated,
    }
}

pub(super) fn analysis_not_found(id: &str) -> StoreError {
    StoreError::NotFound(Missing::Analysis(id.to_owned()))
}

pub(super) fn config_not_found(id: &str) -> StoreError {
    StoreError::NotFound(Missing::Config(id.to_owned()))
}
