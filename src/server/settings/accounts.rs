//! The `[[accounts]]` of the settings file, one variant per metric store, chosen by `type` (as Vector
//! configures its sources): each store's struct holds exactly that store's fields, so a field of another store
//! is refused by serde, with the account's name and type, and builds that store's [`MetricSource`]. A new
//! store is a struct here and a line in `stores!`, and nothing else.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, bail};
use jiff::SignedDuration;
use serde::{Deserialize, Deserializer};

use super::{Limits, positive, secret};
use crate::metrics::{
    AccountBounds, DatadogAccount, DatadogKeys, DatadogSource, GraphiteAccount, GraphiteSource,
    InfluxDbAccount, InfluxDbSource, MetricSource, NEWRELIC_DEFAULT_URL, NewRelicAccount,
    NewRelicSource, PrometheusAccount, PrometheusAuth, PrometheusSource, SIGNALFX_DEFAULT_URL,
    STACKDRIVER_DEFAULT_URL, SecretSource, SignalFxAccount, SignalFxSource, StackdriverAccount,
    StackdriverSource, WavefrontAccount, WavefrontSource,
};

/// The enum of the stores, one `Variant(Settings)` each, with its name and source read from the variant.
macro_rules! stores {
    ($($(#[$meta:meta])* $variant:ident($settings:ident),)*) => {
        /// One `[[accounts]]` entry. Every store's struct also has `name`, `timeout` (how long one query may
        /// take, retries included), `max_concurrent_queries` (queries in flight at once on the account,
        /// default 32; the others wait) and `url`, which has a default for New Relic, SignalFx and Google
        /// Cloud Monitoring only.
        #[derive(Debug, Deserialize)]
        #[serde(tag = "type", rename_all = "lowercase")]
        pub enum AccountSettings {
            $($(#[$meta])* $variant($settings),)*
        }

        impl AccountSettings {
            pub fn name(&self) -> &str {
                match self {
                    $(AccountSettings::$variant(account) => &account.name,)*
                }
            }

            /// The account's source, with its secrets read from the environment; errors name the account.
            pub fn source(&self, limits: &Limits) -> anyhow::Result<Arc<dyn MetricSource>> {
                match self {
                    $(AccountSettings::$variant(account) => account.source(limits),)*
                }
            }
        }
    };
}

stores! {
    Prometheus(PrometheusSettings),
    Datadog(DatadogSettings),
    Influxdb(InfluxDbSettings),
    Graphite(GraphiteSettings),
    #[serde(rename = "newrelic")]
    NewRelic(NewRelicSettings),
    #[serde(rename = "signalfx")]
    SignalFx(SignalFxSettings),
    Wavefront(WavefrontSettings),
    /// Google Cloud Monitoring, by Kayenta's name.
    Stackdriver(StackdriverSettings),
}

/// Reads `[[accounts]]`, each entry's error prefixed with the account's name and type (serde alone would
/// name neither).
pub(super) fn named<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Vec<AccountSettings>, D::Error> {
    let tables = Vec::<toml::Table>::deserialize(deserializer)?;
    let text = |table: &toml::Table, key: &str| table.get(key)?.as_str().map(str::to_string);
    tables
        .into_iter()
        .enumerate()
        .map(|(index, table)| {
            let name =
                text(&table, "name").map_or(format!("#{}", index + 1), |name| format!("'{name}'"));
            let kind = text(&table, "type").map_or(String::new(), |kind| format!(" (type {kind})"));
            toml::Value::Table(table)
                .try_into()
                .map_err(|error: toml::de::Error| {
                    serde::de::Error::custom(format!("account {name}{kind}: {}", error.message()))
                })
        })
        .collect()
}

/// What bounds an account's queries: its `timeout` and `max_concurrent_queries`, and the server's points limit.
fn bounds(
    name: &str,
    timeout: Option<SignedDuration>,
    max_concurrent_queries: Option<usize>,
    limits: &Limits,
) -> anyhow::Result<AccountBounds> {
    let defaults = AccountBounds::default();
    Ok(AccountBounds {
        timeout: match timeout {
            Some(timeout) => positive(timeout).with_context(|| format!("account '{name}'"))?,
            None => defaults.timeout,
        },
        max_concurrent_queries: match max_concurrent_queries {
            Some(0) => bail!("account '{name}': max_concurrent_queries must be at least 1"),
            Some(slots) => slots,
            None => defaults.max_concurrent_queries,
        },
        max_points: limits.max_points,
        ..defaults
    })
}

/// A secret named by an environment variable, `default` unless given.
fn variable(given: &Option<String>, default: &str) -> SecretSource {
    SecretSource::Env(given.clone().unwrap_or_else(|| default.to_string()))
}

/// `type = "prometheus"` (and Prometheus-compatible stores): basic authentication (`username` with
/// `password_env`) or a bearer token (`bearer_token_env`), or neither.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrometheusSettings {
    pub name: String,
    pub url: String,
    pub timeout: Option<SignedDuration>,
    pub max_concurrent_queries: Option<usize>,
    pub username: Option<String>,
    pub password_env: Option<String>,
    pub bearer_token_env: Option<String>,
}

impl PrometheusSettings {
    pub fn source(&self, limits: &Limits) -> anyhow::Result<Arc<dyn MetricSource>> {
        let bounds = bounds(
            &self.name,
            self.timeout,
            self.max_concurrent_queries,
            limits,
        )?;
        let context = || format!("account '{}'", self.name);
        let auth = match (&self.username, &self.password_env, &self.bearer_token_env) {
            (None, None, None) => PrometheusAuth::None,
            (Some(username), Some(variable), None) => PrometheusAuth::Basic {
                username: username.clone(),
                password: secret(variable).with_context(context)?,
            },
            (None, None, Some(variable)) => {
                PrometheusAuth::Bearer(secret(variable).with_context(context)?)
            }
            _ => bail!(
                "account '{}': give username with password_env, or bearer_token_env, not a mix",
                self.name
            ),
        };
        Ok(Arc::new(PrometheusSource::new(PrometheusAccount {
            auth,
            timeout: bounds.timeout,
            max_concurrent_queries: bounds.max_concurrent_queries,
            max_points: bounds.max_points,
            ..PrometheusAccount::new(&self.name, &self.url)
        })?))
    }
}

/// `type = "datadog"`: the variables holding the keys (default `DD_API_KEY`, `DD_APP_KEY`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatadogSettings {
    pub name: String,
    pub url: String,
    pub timeout: Option<SignedDuration>,
    pub max_concurrent_queries: Option<usize>,
    pub api_key_env: Option<String>,
    pub app_key_env: Option<String>,
}

impl DatadogSettings {
    pub fn source(&self, limits: &Limits) -> anyhow::Result<Arc<dyn MetricSource>> {
        let bounds = bounds(
            &self.name,
            self.timeout,
            self.max_concurrent_queries,
            limits,
        )?;
        Ok(Arc::new(DatadogSource::new(DatadogAccount {
            keys: DatadogKeys::Env {
                api_key_var: self.api_key_env.clone().unwrap_or("DD_API_KEY".into()),
                app_key_var: self.app_key_env.clone().unwrap_or("DD_APP_KEY".into()),
            },
            timeout: bounds.timeout,
            max_concurrent_queries: bounds.max_concurrent_queries,
            max_points: bounds.max_points,
            ..DatadogAccount::new(&self.name, &self.url)
        })?))
    }
}

/// `type = "influxdb"` (1.x): the database queried (default: each metric's name, as Kayenta), and basic
/// authentication (`username` with `password_env`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InfluxDbSettings {
    pub name: String,
    pub url: String,
    pub timeout: Option<SignedDuration>,
    pub max_concurrent_queries: Option<usize>,
    pub database: Option<String>,
    pub username: Option<String>,
    pub password_env: Option<String>,
}

impl InfluxDbSettings {
    pub fn source(&self, limits: &Limits) -> anyhow::Result<Arc<dyn MetricSource>> {
        let bounds = bounds(
            &self.name,
            self.timeout,
            self.max_concurrent_queries,
            limits,
        )?;
        let credentials = match (&self.username, &self.password_env) {
            (None, None) => None,
            (Some(username), Some(variable)) => Some((
                username.clone(),
                secret(variable).with_context(|| format!("account '{}'", self.name))?,
            )),
            _ => bail!(
                "account '{}': give username and password_env together",
                self.name
            ),
        };
        Ok(Arc::new(InfluxDbSource::new(InfluxDbAccount {
            database: self.database.clone(),
            credentials,
            timeout: bounds.timeout,
            max_concurrent_queries: bounds.max_concurrent_queries,
            max_points: bounds.max_points,
            ..InfluxDbAccount::new(&self.name, &self.url)
        })?))
    }
}

/// `type = "graphite"`: Graphite's render API, without authentication.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GraphiteSettings {
    pub name: String,
    pub url: String,
    pub timeout: Option<SignedDuration>,
    pub max_concurrent_queries: Option<usize>,
}

impl GraphiteSettings {
    pub fn source(&self, limits: &Limits) -> anyhow::Result<Arc<dyn MetricSource>> {
        let bounds = bounds(
            &self.name,
            self.timeout,
            self.max_concurrent_queries,
            limits,
        )?;
        Ok(Arc::new(GraphiteSource::new(GraphiteAccount {
            timeout: bounds.timeout,
            max_concurrent_queries: bounds.max_concurrent_queries,
            max_points: bounds.max_points,
            ..GraphiteAccount::new(&self.name, &self.url)
        })?))
    }
}

/// `type = "newrelic"`: the account id (Kayenta's `applicationKey`), the variable holding the query key
/// (default `NEWRELIC_API_KEY`), and the attributes the scope and location are compared with when the request
/// has no `_scope_key` / `_location_key`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewRelicSettings {
    pub name: String,
    pub url: Option<String>,
    pub timeout: Option<SignedDuration>,
    pub max_concurrent_queries: Option<usize>,
    pub application_key: Option<String>,
    pub api_key_env: Option<String>,
    pub default_scope_key: Option<String>,
    pub default_location_key: Option<String>,
}

impl NewRelicSettings {
    pub fn source(&self, limits: &Limits) -> anyhow::Result<Arc<dyn MetricSource>> {
        let Some(account_id) = &self.application_key else {
            bail!(
                "account '{}': application_key (the New Relic account id) is required",
                self.name
            );
        };
        Ok(Arc::new(NewRelicSource::new(NewRelicAccount {
            url: self.url.clone().unwrap_or(NEWRELIC_DEFAULT_URL.into()),
            api_key: variable(&self.api_key_env, "NEWRELIC_API_KEY"),
            default_scope_key: self.default_scope_key.clone(),
            default_location_key: self.default_location_key.clone(),
            bounds: bounds(
                &self.name,
                self.timeout,
                self.max_concurrent_queries,
                limits,
            )?,
            ..NewRelicAccount::new(&self.name, account_id)
        })?))
    }
}

/// `type = "signalfx"`: the variable holding the access token (default `SIGNALFX_ACCESS_TOKEN`), and the
/// dimensions the scope and location are compared with when the request has no `_scope_key` /
/// `_location_key`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignalFxSettings {
    pub name: String,
    pub url: Option<String>,
    pub timeout: Option<SignedDuration>,
    pub max_concurrent_queries: Option<usize>,
    pub access_token_env: Option<String>,
    pub default_scope_key: Option<String>,
    pub default_location_key: Option<String>,
}

impl SignalFxSettings {
    pub fn source(&self, limits: &Limits) -> anyhow::Result<Arc<dyn MetricSource>> {
        Ok(Arc::new(SignalFxSource::new(SignalFxAccount {
            url: self.url.clone().unwrap_or(SIGNALFX_DEFAULT_URL.into()),
            access_token: variable(&self.access_token_env, "SIGNALFX_ACCESS_TOKEN"),
            default_scope_key: self.default_scope_key.clone(),
            default_location_key: self.default_location_key.clone(),
            bounds: bounds(
                &self.name,
                self.timeout,
                self.max_concurrent_queries,
                limits,
            )?,
            ..SignalFxAccount::new(&self.name)
        })?))
    }
}

/// `type = "wavefront"`: the variable holding the API token (default `WAVEFRONT_API_TOKEN`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WavefrontSettings {
    pub name: String,
    pub url: String,
    pub timeout: Option<SignedDuration>,
    pub max_concurrent_queries: Option<usize>,
    pub api_token_env: Option<String>,
}

impl WavefrontSettings {
    pub fn source(&self, limits: &Limits) -> anyhow::Result<Arc<dyn MetricSource>> {
        Ok(Arc::new(WavefrontSource::new(WavefrontAccount {
            api_token: variable(&self.api_token_env, "WAVEFRONT_API_TOKEN"),
            bounds: bounds(
                &self.name,
                self.timeout,
                self.max_concurrent_queries,
                limits,
            )?,
            ..WavefrontAccount::new(&self.name, &self.url)
        })?))
    }
}

/// `type = "stackdriver"` (Google Cloud Monitoring): the project, and the service account's JSON key file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StackdriverSettings {
    pub name: String,
    pub url: Option<String>,
    pub timeout: Option<SignedDuration>,
    pub max_concurrent_queries: Option<usize>,
    pub project: Option<String>,
    pub credentials_file: Option<PathBuf>,
}

impl StackdriverSettings {
    pub fn source(&self, limits: &Limits) -> anyhow::Result<Arc<dyn MetricSource>> {
        let (Some(project), Some(credentials_file)) = (&self.project, &self.credentials_file)
        else {
            bail!(
                "account '{}': a stackdriver account needs project and credentials_file (a service \
                 account's JSON key)",
                self.name
            );
        };
        Ok(Arc::new(StackdriverSource::new(StackdriverAccount {
            url: self.url.clone().unwrap_or(STACKDRIVER_DEFAULT_URL.into()),
            bounds: bounds(
                &self.name,
                self.timeout,
                self.max_concurrent_queries,
                limits,
            )?,
            ..StackdriverAccount::new(&self.name, project, credentials_file)
        })?))
    }
}

#[cfg(test)]
mod tests {
    use super::super::Settings;

    /// The accounts' `name:type`s, or the error: serde's message when the file is refused, else the
    /// chain of the error of [`Settings::accounts`].
    fn accounts(text: &str) -> Result<Vec<String>, String> {
        let settings =
            toml::from_str::<Settings>(text).map_err(|error| error.message().to_string())?;
        settings
            .accounts()
            .map(|accounts| {
                accounts
                    .iter()
                    .map(|(name, kind)| format!("{name}:{kind}"))
                    .collect()
            })
            .map_err(|error| format!("{error:#}"))
    }

    const INFLUX: &str =
        "[[accounts]]\nname = \"i\"\ntype = \"influxdb\"\nurl = \"http://influxdb:8086\"\n";
    const GRAPHITE: &str =
        "[[accounts]]\nname = \"g\"\ntype = \"graphite\"\nurl = \"http://graphite:8080\"\n";

    #[test]
    fn influxdb_and_graphite_accounts_refuse_settings_of_other_stores() {
        assert_eq!(
            accounts(&format!("{INFLUX}database = \"telegraf\"\n{GRAPHITE}")).unwrap(),
            ["i:influxdb", "g:graphite"]
        );
        assert_eq!(
            accounts(&format!("{GRAPHITE}database = \"x\"\n")).unwrap_err(),
            "account 'g' (type graphite): unknown field `database`, expected one of `name`, `url`, \
             `timeout`, `max_concurrent_queries`"
        );
        assert_eq!(
            accounts(&format!("{INFLUX}bearer_token_env = \"T\"\n")).unwrap_err(),
            "account 'i' (type influxdb): unknown field `bearer_token_env`, expected one of `name`, \
             `url`, `timeout`, `max_concurrent_queries`, `database`, `username`, `password_env`"
        );
        assert_eq!(
            accounts(&format!("{INFLUX}username = \"u\"\n")).unwrap_err(),
            "account 'i': give username and password_env together"
        );
        assert_eq!(
            accounts(&format!(
                "{INFLUX}username = \"u\"\npassword_env = \"COALMINE_TEST_UNSET_INFLUX\"\n"
            ))
            .unwrap_err(),
            "account 'i': the environment variable COALMINE_TEST_UNSET_INFLUX is not set"
        );
    }

    #[test]
    fn store_accounts_name_what_is_missing() {
        let account = |fields: &str| format!("[[accounts]]\nname = \"a\"\n{fields}\n");
        let text = accounts(&account("type = \"newrelic\"")).unwrap_err();
        assert!(
            text.contains("application_key (the New Relic account id)"),
            "{text}"
        );
        let text = accounts(&account("type = \"stackdriver\"\nproject = \"p\"")).unwrap_err();
        assert!(
            text.contains("needs project and credentials_file"),
            "{text}"
        );
        let text = accounts(&account(
            "type = \"wavefront\"\nurl = \"https://w\"\nproject = \"p\"",
        ))
        .unwrap_err();
        assert_eq!(
            text,
            "account 'a' (type wavefront): unknown field `project`, expected one of `name`, `url`, \
             `timeout`, `max_concurrent_queries`, `api_token_env`"
        );
        let text = accounts(&account("type = \"wavefront\"")).unwrap_err();
        assert_eq!(text, "account 'a' (type wavefront): missing field `url`");
        let text = accounts(&account(
            "type = \"signalfx\"\naccess_token_env = \"COALMINE_TEST_UNSET_SFX_TOKEN\"",
        ))
        .unwrap_err();
        assert!(
            text.contains("the environment variable COALMINE_TEST_UNSET_SFX_TOKEN is not set"),
            "{text}"
        );
    }

    #[test]
    fn every_store_is_read_by_its_type_and_a_wrong_type_or_bound_is_named() {
        let listed = accounts(&format!(
            "[[accounts]]\nname = \"p\"\ntype = \"prometheus\"\nurl = \"http://p:9090\"\n\
             timeout = \"10s\"\nmax_concurrent_queries = 4\n{GRAPHITE}{INFLUX}"
        ));
        assert_eq!(
            listed.unwrap(),
            ["p:prometheus", "g:graphite", "i:influxdb"]
        );
        let text = accounts(&format!("{GRAPHITE}timeout = \"0s\"\n")).unwrap_err();
        assert!(
            text.starts_with("account 'g': timeout must be positive"),
            "{text}"
        );
        let text = accounts(GRAPHITE.replace("graphite\"\n", "atlas\"\n").as_str()).unwrap_err();
        assert!(
            text.starts_with("account 'g' (type atlas): unknown variant `atlas`, expected one of"),
            "{text}"
        );
        let text = accounts("[[accounts]]\ntype = \"graphite\"\nurl = \"http://g\"\n").unwrap_err();
        assert_eq!(text, "account #1 (type graphite): missing field `name`");
        let text = accounts(&format!("{GRAPHITE}max_concurrent_queries = 0\n")).unwrap_err();
        assert_eq!(
            text,
            "account 'g': max_concurrent_queries must be at least 1"
        );
        let text = accounts(&format!("{GRAPHITE}{GRAPHITE}")).unwrap_err();
        assert_eq!(text, "account 'g' is configured twice");
    }

    /// What `serve --config` and `analyze --settings` print: the file, where, and the account.
    #[test]
    fn a_refused_account_is_named_with_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("coalmine.toml");
        std::fs::write(&path, format!("{INFLUX}{GRAPHITE}username = \"u\"\n")).unwrap();
        let error = Settings::read(&path).unwrap_err().to_string();
        assert!(
            error.starts_with(&format!("{}: ", path.display())),
            "{error}"
        );
        assert!(
            error.contains("account 'g' (type graphite): unknown field `username`"),
            "{error}"
        );
    }
}
