//! `/v1/configs`: stored canary configs — create (`POST`, a JSON or YAML body), list, get, replace (`PUT`) and
//! delete, each config addressable by its id or by its name.
//!
//! A config is checked as Kayenta checks one it stores (name, applications, metric names, with Kayenta's
//! messages) and also as judging will read it (at least one metric, each metric's analysis settings), so a
//! config that could never be judged is refused when it is stored rather than when an analysis runs.
//!
//! `{idOrName}` is looked up as an id first, then as a name. Names are unique only within an application,
//! so `?application=` picks among configs of the same name (and restricts the lookup by id likewise).

use std::sync::Arc;

use axum::extract::rejection::PathRejection;
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use utoipa::ToSchema;

use crate::kayenta::CanaryConfig;
use crate::kayenta::canary_settings::metric_settings;
use crate::server::error::{ApiError, ErrorBody};
use crate::server::{AppState, blocking, extract};
use crate::store::{ConfigSummary, Store, StoreError, StoredConfig};

#[utoipa::path(
    get,
    path = "/v1/configs",
    tag = "configs",
    params(("application" = Option<Vec<String>>, Query, description = "Only configs of these applications (repeatable)")),
    responses(
        (status = 200, description = "By name", body = Vec<ConfigSummaryView>),
        (status = 400, description = "A query parameter other than `application`, or an empty one", body = ErrorBody),
        (status = 500, description = "The store failed", body = ErrorBody),
    )
)]
/// `GET /v1/configs[?application=…]`: the summaries of the configs of any of the applications given (of
/// every config when none is), by name.
pub async fn list(
    State(state): State<Arc<AppState>>,
    Applications(applications): Applications,
) -> Result<axum::Json<Vec<ConfigSummaryView>>, ApiError> {
    let store = state.store.clone();
    let summaries = blocking(move || Ok(store.list_configs(&applications)?)).await?;
    Ok(axum::Json(summaries.iter().map(summary).collect()))
}

#[utoipa::path(
    post,
    path = "/v1/configs",
    tag = "configs",
    request_body(content(
        (CanaryConfig = "application/json"),
        (CanaryConfig = "application/yaml"),
    )),
    responses(
        (status = 201, description = "Stored; with `warnings`, one per unknown field by path", body = CanaryConfig, headers(("Location" = String))),
        (status = 400, description = "Invalid, with Kayenta's message where Kayenta has one", body = ErrorBody),
        (status = 409, description = "A config of that name exists for one of its applications, or of that id", body = ErrorBody),
        (status = 415, description = "The body is neither JSON nor YAML (by its Content-Type)", body = ErrorBody),
        (status = 500, description = "The store failed", body = ErrorBody),
    )
)]
/// `POST /v1/configs`: stores a new config; `201 Created` with the stored config (its `id` and timestamps
/// filled in) and its `Location`.
pub async fn create(
    State(state): State<Arc<AppState>>,
    ConfigBody(config): ConfigBody,
) -> Result<Response, ApiError> {
    if let Some(id) = config.id.as_deref().filter(|id| !id.is_empty()) {
        check_id(id).map_err(ApiError::bad_request)?;
    }
    validate(&config).map_err(ApiError::bad_request)?;
    state
        .limits
        .check_metrics(&config)
        .map_err(ApiError::bad_request)?;
    let store = state.store.clone();
    let stored = blocking(move || Ok(store.create_config(config)?)).await?;
    let location = HeaderValue::try_from(format!("/v1/configs/{}", stored.id)).map_err(|_| {
        ApiError::internal(format!(
            "the new config's id {:?} cannot be written in a Location header",
            stored.id
        ))
    })?;
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        axum::Json(with_warnings(&stored.config)),
    )
        .into_response())
}

/// The stored config as answered by the routes that store one, with `warnings`: one per unknown field,
/// by path (Kayenta ignores them, and so does coalmine, but a misspelled `critical` is a lost gate).
pub(crate) fn with_warnings(config: &CanaryConfig) -> Value {
    let mut answer = serde_json::to_value(config).unwrap_or(Value::Null);
    if let Value::Object(fields) = &mut answer {
        let warnings = crate::kayenta::config_warnings::of_config(config);
        fields.insert("warnings".into(), Value::from(warnings));
    }
    answer
}

#[utoipa::path(
    get,
    path = "/v1/configs/{idOrName}",
    tag = "configs",
    params(
        ("idOrName" = String, Path, description = "The config's id, else its name"),
        ("application" = Option<String>, Query, description = "Picks among configs of the same name"),
    ),
    responses(
        (status = 200, description = "The stored config", body = CanaryConfig),
        (status = 400, description = "More than one application, another query parameter, or a path that cannot be read", body = ErrorBody),
        (status = 404, description = "No config has that id or name (in that application)", body = ErrorBody),
        (status = 500, description = "The store failed", body = ErrorBody),
    )
)]
/// `GET /v1/configs/{idOrName}[?application=…]`: the stored config.
pub async fn get(
    State(state): State<Arc<AppState>>,
    key: Key,
    applications: Applications,
) -> Result<axum::Json<CanaryConfig>, ApiError> {
    let application = applications.at_most_one()?;
    let store = state.store.clone();
    let stored = blocking(move || resolve(&*store, &key.0, application.as_deref())).await?;
    Ok(axum::Json(stored.config))
}

#[utoipa::path(
    put,
    path = "/v1/configs/{idOrName}",
    tag = "configs",
    params(
        ("idOrName" = String, Path, description = "The config's id, else its name"),
        ("application" = Option<String>, Query, description = "Picks among configs of the same name"),
    ),
    request_body(content(
        (CanaryConfig = "application/json"),
        (CanaryConfig = "application/yaml"),
    )),
    responses(
        (status = 200, description = "The stored config, with `warnings`, one per unknown field by path", body = CanaryConfig),
        (status = 400, description = "Invalid, an id that is not the config's, or bad query parameters", body = ErrorBody),
        (status = 404, description = "No config has that id or name (in that application)", body = ErrorBody),
        (status = 409, description = "Another config of that name exists for one of its applications", body = ErrorBody),
        (status = 415, description = "The body is neither JSON nor YAML (by its Content-Type)", body = ErrorBody),
        (status = 500, description = "The store failed", body = ErrorBody),
    )
)]
/// `PUT /v1/configs/{idOrName}[?application=…]`: replaces the config (keeping its id and creation time);
/// `200` with the stored config.
pub async fn replace(
    State(state): State<Arc<AppState>>,
    key: Key,
    applications: Applications,
    ConfigBody(config): ConfigBody,
) -> Result<axum::Json<Value>, ApiError> {
    let application = applications.at_most_one()?;
    validate(&config).map_err(ApiError::bad_request)?;
    state
        .limits
        .check_metrics(&config)
        .map_err(ApiError::bad_request)?;
    let store = state.store.clone();
    let stored = blocking(move || {
        let id = resolve(&*store, &key.0, application.as_deref())?.id;
        match config.id.as_deref() {
            Some(other) if !other.is_empty() && other != id => {
                return Err(ApiError::bad_request(format!(
                    "id: the body's id '{other}' is not the id of config '{}' ('{id}'): leave id out, or \
                     give the config's own",
                    key.0
                )));
            }
            _ => {}
        }
        Ok(store.replace_config(&id, config)?)
    })
    .await?;
    Ok(axum::Json(with_warnings(&stored.config)))
}

#[utoipa::path(
    delete,
    path = "/v1/configs/{idOrName}",
    tag = "configs",
    params(
        ("idOrName" = String, Path, description = "The config's id, else its name"),
        ("application" = Option<String>, Query, description = "Picks among configs of the same name"),
    ),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "More than one application, another query parameter, or a path that cannot be read", body = ErrorBody),
        (status = 404, description = "No config has that id or name (in that application)", body = ErrorBody),
        (status = 500, description = "The store failed", body = ErrorBody),
    )
)]
/// `DELETE /v1/configs/{idOrName}[?application=…]`: `204 No Content`.
pub async fn delete(
    State(state): State<Arc<AppState>>,
    key: Key,
    applications: Applications,
) -> Result<StatusCode, ApiError> {
    let application = applications.at_most_one()?;
    let store = state.store.clone();
    blocking(move || {
        let id = resolve(&*store, &key.0, application.as_deref())?.id;
        Ok(store.delete_config(&id)?)
    })
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Checks `config` before it is stored: Kayenta's rules for a stored config, with Kayenta's messages, except
/// that a name may not contain commas (Kayenta's pattern allows them by mistake); then what judging needs.
pub(crate) fn validate(config: &CanaryConfig) -> Result<(), String> {
    if config.name.is_empty() {
        return Err("Canary config must specify a name.".to_string());
    }
    if config.applications.is_empty() {
        return Err("Canary config must specify at least one application.".to_string());
    }
    if !is_name(&config.name) {
        return Err(format!(
            "Canary config cannot be named '{}'. Names must contain only letters, numbers, dashes (-) and \
             underscores (_).",
            config.name
        ));
    }
    if let Some(index) = config
        .applications
        .iter()
        .position(|application| application.trim().is_empty())
    {
        return Err(format!("applications[{index}] must not be empty"));
    }
    config.validate_for_judging()?;
    config
        .metrics
        .iter()
        .try_for_each(|metric| metric_settings(metric).map(drop))
}

/// Kayenta's config name pattern, `[A-Za-z0-9_-]+`.
fn is_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_')
}

/// Checks an id given in a new config: it must be usable as is in `/v1/configs/{id}`. (Kayenta accepts any
/// string; its generated ids, UUIDs, pass.)
pub(crate) fn check_id(id: &str) -> Result<(), String> {
    let usable = id.starts_with(|c: char| c.is_ascii_alphanumeric())
        && id
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || b"-_.".contains(&byte));
    if usable {
        Ok(())
    } else {
        Err(format!(
            "id: a config cannot have the id '{id}': an id must start with a letter or number and contain only \
             letters, numbers, dots (.), dashes (-) and underscores (_); leave it out to have one generated"
        ))
    }
}

/// The config `key` names: the one with that id, else the one with that name; within `application` when
/// given.
fn resolve(
    store: &dyn Store,
    key: &str,
    application: Option<&str>,
) -> Result<StoredConfig, ApiError> {
    match store.config(key) {
        Ok(stored)
            if application.is_none_or(|application| {
                stored.config.applications.iter().any(|a| a == application)
            }) =>
        {
            return Ok(stored);
        }
        Ok(_) | Err(StoreError::NotFound(_)) => {}
        Err(error) => return Err(error.into()),
    }
    match store.config_by_name(key, application) {
        Err(StoreError::NotFound(_)) => Err(ApiError::not_found(match application {
            None => format!("Canary config '{key}' does not exist: no config has that id or name."),
            Some(application) => format!(
                "Canary config '{key}' does not exist in application '{application}': no config of that \
                 application has that id or name."
            ),
        })),
        found => Ok(found?),
    }
}

/// A line of the list, as Kayenta's list gives it.
pub(crate) fn summary(summary: &ConfigSummary) -> ConfigSummaryView {
    ConfigSummaryView {
        id: summary.id.clone(),
        name: summary.name.clone(),
        updated_timestamp: summary.updated.as_millisecond(),
        updated_timestamp_iso: crate::kayenta::instant_iso(summary.updated),
        applications: summary.applications.clone(),
    }
}

/// A stored config as a list shows it (Kayenta's `CanaryConfigSummary`).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConfigSummaryView {
    id: String,
    name: String,
    /// Milliseconds since the epoch.
    updated_timestamp: i64,
    updated_timestamp_iso: String,
    applications: Vec<String>,
}

/// The `{idOrName}` path segment.
pub struct Key(String);

impl<S: Send + Sync> FromRequestParts<S> for Key {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Path(key) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|rejection: PathRejection| ApiError {
                status: rejection.status(),
                message: format!(
                    "the config's id or name in the path: {}",
                    rejection.body_text()
                ),
            })?;
        Ok(Key(key))
    }
}

/// The `application` query parameters, the only ones these endpoints take.
pub struct Applications(Vec<String>);

impl Applications {
    /// The application that picks one config, if given.
    fn at_most_one(self) -> Result<Option<String>, ApiError> {
        if self.0.len() > 1 {
            return Err(ApiError::bad_request(
                "application: give at most one application to pick a config by its name",
            ));
        }
        Ok(self.0.into_iter().next())
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Applications {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Query(pairs) = Query::<Vec<(String, String)>>::from_request_parts(parts, state)
            .await
            .map_err(|rejection| {
                ApiError::bad_request(format!("the query string: {}", rejection.body_text()))
            })?;
        let mut applications = Vec::new();
        for (key, value) in pairs {
            if key != "application" {
                return Err(ApiError::bad_request(format!(
                    "unknown query parameter '{key}': the only parameter here is application"
                )));
            }
            if value.trim().is_empty() {
                return Err(ApiError::bad_request(
                    "application: the query parameter must name an application",
                ));
            }
            applications.push(value);
        }
        Ok(Applications(applications))
    }
}

/// A canary config in the request body: JSON (`Content-Type: application/json`) or YAML
/// (`application/yaml`, `application/x-yaml`, `text/yaml`), its errors naming the field at fault.
pub struct ConfigBody(CanaryConfig);

impl<S: Send + Sync> FromRequest<S> for ConfigBody {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let content_type = request
            .headers()
            .get(header::CONTENT_TYPE)
            .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned());
        let media_type = content_type
            .as_deref()
            .and_then(|value| value.split(';').next())
            .map(|value| value.trim().to_ascii_lowercase());
        let yaml = match media_type.as_deref() {
            Some("application/json") => false,
            Some(media) if media.starts_with("application/") && media.ends_with("+json") => false,
            Some("application/yaml" | "application/x-yaml" | "text/yaml" | "text/x-yaml") => true,
            Some(media) if media.starts_with("application/") && media.ends_with("+yaml") => true,
            _ => {
                return Err(ApiError {
                    status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    message: format!(
                        "the request body must be a canary config in JSON (Content-Type: application/json) or \
                         YAML (Content-Type: application/yaml); {}",
                        match content_type {
                            Some(content_type) => format!("got Content-Type: {content_type}"),
                            None => "the request has no Content-Type".to_string(),
                        }
                    ),
                });
            }
        };
        let bytes = extract::body(request, state).await?;
        if bytes.trim_ascii().is_empty() {
            return Err(ApiError::bad_request(
                "the request body is empty: it must be a canary config",
            ));
        }
        let config = if yaml {
            parse_yaml(&bytes)?
        } else {
            extract::parse(&bytes)?
        };
        Ok(ConfigBody(config))
    }
}

/// Parses YAML `bytes` as `T`, naming the field of any error.
fn parse_yaml<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let text = std::str::from_utf8(bytes).map_err(|error| {
        ApiError::bad_request(format!("the YAML body is not valid UTF-8: {error}"))
    })?;
    crate::documents::from_yaml(text).map_err(ApiError::bad_request)
}

#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;
    use serde_json::{Value, json};

    /// JSON-ish values whose keys are mostly a canary config's, so that deserializing often succeeds and
    /// validation sees odd shapes: wrong types, nulls, NaN-ish numbers, huge weights, empty names.
    fn value() -> impl Strategy<Value = Value> {
        let key = prop_oneof![
            Just("name"),
            Just("applications"),
            Just("metrics"),
            Just("query"),
            Just("groups"),
            Just("classifier"),
            Just("groupWeights"),
            Just("analysisConfigurations"),
            Just("canary"),
            Just("direction"),
            Just("critical"),
            Just("nanStrategy"),
            Just("effectSize"),
            Just("outliers"),
            Just("judge"),
            Just("templates"),
            Just("type"),
            Just("customInlineTemplate"),
            Just("scopeName"),
        ]
        .prop_map(str::to_string);
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<f64>().prop_map(|x| json!(x)),
            any::<i64>().prop_map(Value::from),
            "[a-z_ -]{0,8}".prop_map(Value::from),
            Just(json!("NaN")),
            Just(json!("increase")),
        ];
        leaf.prop_recursive(5, 64, 8, move |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
                prop::collection::btree_map(key.clone(), inner, 0..6)
                    .prop_map(|map| Value::Object(map.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1024))]

        #[test]
        fn config_validation_never_panics(value in value(), weights in prop::collection::btree_map("[a-c]", any::<f64>(), 0..4)) {
            let mut config = value.clone();
            if let Value::Object(fields) = &mut config {
                fields.entry("classifier").or_insert_with(|| json!({"groupWeights": weights}));
            }
            for candidate in [value, config] {
                if let Ok(config) = serde_json::from_value::<CanaryConfig>(candidate) {
                    let valid = validate(&config);
                    // Whatever is accepted has weights a judge can use.
                    if valid.is_ok()
                        && let Some(classifier) = &config.classifier
                    {
                        let total: f64 = classifier.group_weights.values().sum();
                        prop_assert!(total <= 100.0 + 1e-9);
                        prop_assert!(classifier.group_weights.values().all(|w| w.is_finite() && *w >= 0.0));
                    }
                }
            }
        }
    }
}
