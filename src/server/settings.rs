//! The server's configuration file (`coalmine serve --config coalmine.toml`): where to listen and keep data,
//! the metrics accounts, API tokens and limits. Secrets are never written in the file: it names the
//! environment variables that hold them (Kubernetes Secrets mapped to env vars). `docs/configuration.md` is
//! the user's guide to it; every example there is parsed by this module's tests.
//!
//! ```toml
//! listen = "0.0.0.0:8090"
//! data_dir = "/var/lib/coalmine"
//! judges_dir = "/etc/coalmine/judges"
//!
//! [[accounts]]
//! name = "prometheus"
//! type = "prometheus"
//! url = "http://prometheus.monitoring:9090"
//! timeout = "30s"
//! max_concurrent_queries = 32      # queries in flight at once, over all analyses; the others wait
//! # bearer_token_env = "PROMETHEUS_TOKEN"    or    username = "coalmine" + password_env = "PROMETHEUS_PASSWORD"
//!
//! [[accounts]]
//! name = "datadog"
//! type = "datadog"
//! url = "https://api.datadoghq.com"
//! api_key_env = "DD_API_KEY"
//! app_key_env = "DD_APP_KEY"
//!
//! [[accounts]]
//! name = "influxdb"
//! type = "influxdb"
//! url = "http://influxdb:8086"
//! database = "telegraf"             # default: each metric's name, as Kayenta
//! # username = "coalmine" + password_env = "INFLUXDB_PASSWORD"
//!
//! [[accounts]]
//! name = "graphite"
//! type = "graphite"
//! url = "http://graphite:8080"
//!
//! [auth]
//! token_envs = ["COALMINE_TOKEN"]   # bearer tokens; when any is set, every endpoint but /health, /ready
//!                                   # and /metrics needs one
//! session_secret_env = "COALMINE_SESSION_SECRET"  # signs the pages' login cookies; give every replica the
//!                                   # same secret, else the key is random per process (a restart logs out)
//! session_lifetime = "12h"          # how long a login lasts
//! secure_cookie = true              # the cookie is always `Secure` (it is anyway behind X-Forwarded-Proto: https)
//!
//! [auth.kayenta]                    # Kayenta's routes (/canary, /canaryConfig, /judge, …): Argo Rollouts' kayenta
//! policy = "open"                   # provider and Orca send no bearer token. "bearer" (the default: the API
//!                                   # tokens), "open", "query" or "header"
//!
//! [auth.flagger]                    # POST /v1/webhooks/flagger
//! policy = "query"                  # url: http://coalmine:8090/v1/webhooks/flagger?token=...
//! token_env = "FLAGGER_WEBHOOK_TOKEN"
//! query_param = "token"             # the default; with policy = "header": header = "X-Webhook-Token"
//!
//! [judges]
//! aliases = { "dredd-v1.0" = "mann-whitney" }   # names configs give (Kayenta's samples) for loaded judges
//!
//! [limits]
//! max_body_bytes = 16777216
//! max_metrics = 500                  # metrics per canary config
//! max_points = 100000                # data points per series and side, given or fetched from a store
//! max_running_analyses = 1000        # past it, new analyses are refused with 429 and Retry-After
//! max_lifetime = "30d"               # the longest lifetime, window, warm-up, lookback, offset or step
//!
//! [retention]
//! finished_analyses = "90d"          # finished analyses are deleted this long after they ended (default: kept)
//!
//! [store]                            # default: SQLite in data_dir, for one replica
//! url = "postgres://coalmine@postgres.db:5432/coalmine"   # several replicas share it; --database-url wins
//! password_env = "COALMINE_DATABASE_PASSWORD"
//! ```

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};
use axum::http::HeaderName;
use jiff::SignedDuration;
use serde::Deserialize;

use super::auth::{Auth, DEFAULT_SESSION_LIFETIME, RoutePolicy, SessionKey};
use crate::metrics::{
    Accounts, DatadogAccount, DatadogKeys, DatadogSource, PrometheusAccount, PrometheusAuth,
    PrometheusSource, Secret,
};
use crate::store::PostgresStore;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub listen: Option<SocketAddr>,
    pub data_dir: Option<PathBuf>,
    pub judges_dir: Option<PathBuf>,
    #[serde(default)]
    pub accounts: Vec<AccountSettings>,
    #[serde(default)]
    pub auth: AuthSettings,
    #[serde(default)]
    pub limits: Limits,
    #[serde(default)]
    pub retention: Retention,
    #[serde(default)]
    pub judges: JudgeSettings,
    #[serde(default)]
    pub store: StoreSettings,
}

/// `[store]`: where records are kept. Without a URL, in SQLite in the data directory (one replica); with a
/// PostgreSQL URL, in that database, which several replicas share.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreSettings {
    /// `postgres://user@host:5432/database`; `--database-url` wins.
    pub url: Option<String>,
    /// The environment variable holding the database password (rather than writing it in the URL).
    pub password_env: Option<String>,
}

impl StoreSettings {
    /// The PostgreSQL store when a URL is given (`url_option`, from `--database-url`, wins over `url`),
    /// connected and migrated; `None` for the SQLite default.
    pub fn postgres(&self, url_option: Option<&str>) -> anyhow::Result<Option<PostgresStore>> {
        let Some(url) = url_option.or(self.url.as_deref()) else {
            if self.password_env.is_some() {
                bail!(
                    "[store] password_env is set but no database URL is given: set [store] url or --database-url"
                );
            }
            return Ok(None);
        };
        let password = match &self.password_env {
            Some(variable) => Some(secret(variable).context("[store] password_env")?),
            None => None,
        };
        let store = PostgresStore::connect(url, password.as_ref().map(Secret::expose))?;
        tracing::info!(database = store.target(), "using the PostgreSQL store");
        Ok(Some(store))
    }
}

/// `[retention]`: how long finished analyses are kept. Unset, forever.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Retention {
    /// Completed, failed and cancelled analyses are deleted (with their intervals) this long after they
    /// finished, e.g. `30d`; swept at start and then periodically.
    #[serde(default, deserialize_with = "optional_span")]
    pub finished_analyses: Option<SignedDuration>,
}

/// Like [`span`], for a setting that may be left out.
fn optional_span<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<SignedDuration>, D::Error> {
    span(deserializer).map(Some)
}

/// `[judges]`: `aliases` maps a judge name a config gives (`dredd-v1.0`) to a loaded judge (`mann-whitney`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JudgeSettings {
    #[serde(default)]
    pub aliases: std::collections::BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountSettings {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: AccountKind,
    /// Required, except for the stores that have a default (New Relic, SignalFx, Google Cloud Monitoring).
    #[serde(default)]
    pub url: String,
    pub timeout: Option<SignedDuration>,
    /// The most queries in flight at once on this account (default 32); the others wait.
    pub max_concurrent_queries: Option<usize>,
    /// Prometheus basic authentication: the user, and the variable holding the password.
    pub username: Option<String>,
    pub password_env: Option<String>,
    /// Prometheus bearer token: the variable holding it.
    pub bearer_token_env: Option<String>,
    /// Datadog: the variables holding the keys (default `DD_API_KEY`, `DD_APP_KEY`).
    pub api_key_env: Option<String>,
    pub app_key_env: Option<String>,
    /// InfluxDB: the database queried (default: each metric's name, as Kayenta).
    pub database: Option<String>,
    /// New Relic: the account id (Kayenta's `applicationKey`); New Relic and SignalFx: the attributes the
    /// scope and location are compared with when the request has no `_scope_key` / `_location_key`.
    pub application_key: Option<String>,
    pub default_scope_key: Option<String>,
    pub default_location_key: Option<String>,
    /// SignalFx: the variable holding the access token (default `SIGNALFX_ACCESS_TOKEN`).
    pub access_token_env: Option<String>,
    /// Wavefront: the variable holding the API token (default `WAVEFRONT_API_TOKEN`).
    pub api_token_env: Option<String>,
    /// Google Cloud Monitoring (`stackdriver`): the project, and the service account's JSON key file.
    pub project: Option<String>,
    pub credentials_file: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AccountKind {
    Prometheus,
    Datadog,
    Influxdb,
    Graphite,
    NewRelic,
    SignalFx,
    Stackdriver,
    Wavefront,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthSettings {
    /// Environment variables that each hold one accepted bearer token.
    #[serde(default)]
    pub token_envs: Vec<String>,
    /// The variable holding the secret the session signing key is derived from (shared by replicas).
    pub session_secret_env: Option<String>,
    pub session_lifetime: Option<SignedDuration>,
    #[serde(default)]
    pub secure_cookie: bool,
    #[serde(default)]
    pub kayenta: RouteAuthSettings,
    #[serde(default)]
    pub flagger: RouteAuthSettings,
}

/// `[auth.kayenta]`, `[auth.flagger]`: how those routes are authorised.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteAuthSettings {
    #[serde(default)]
    pub policy: RoutePolicyKind,
    /// The variable holding the route's own token (`query`, `header`).
    pub token_env: Option<String>,
    /// `query`: the parameter (default `token`).
    pub query_param: Option<String>,
    /// `header`: the header (default `X-Coalmine-Token`).
    pub header: Option<String>,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RoutePolicyKind {
    #[default]
    Bearer,
    Open,
    Query,
    Header,
}

/// Limits on what one request may ask of the server.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    pub max_body_bytes: usize,
    pub max_metrics: usize,
    pub max_points: usize,
    /// Analyses running at once (real-time ones, and retrospective ones while judged).
    pub max_running_analyses: usize,
    #[serde(deserialize_with = "span")]
    pub max_lifetime: SignedDuration,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_body_bytes: 16 << 20,
            max_metrics: 500,
            max_points: crate::metrics::DEFAULT_MAX_POINTS,
            max_running_analyses: crate::analysis::scheduler::DEFAULT_MAX_RUNNING,
            max_lifetime: SignedDuration::from_hours(30 * 24),
        }
    }
}

/// A duration such as `30d`, `12h` or `PT90M` (a day is 24 hours), positive.
fn span<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<SignedDuration, D::Error> {
    let text = String::deserialize(deserializer)?;
    text.parse::<jiff::Span>()
        .ok()
        .and_then(|span| {
            span.to_duration(jiff::SpanRelativeTo::days_are_24_hours())
                .ok()
        })
        .filter(|duration| duration.is_positive())
        .ok_or_else(|| {
            serde::de::Error::custom(format!(
                "'{text}' is not a positive duration such as 30d or 12h"
            ))
        })
}

impl Limits {
    /// What one analysis may ask for.
    pub fn bounds(&self) -> crate::analysis::spec::Bounds {
        crate::analysis::spec::Bounds {
            max_lifetime: self.max_lifetime,
            max_metrics: self.max_metrics,
            max_points: self.max_points,
        }
    }

    /// Refuses a config with more metrics than allowed.
    pub fn check_metrics(&self, config: &crate::kayenta::CanaryConfig) -> Result<(), String> {
        self.bounds().check_metrics(config)
    }

    /// Refuses a series longer than allowed; `what` names it.
    pub fn check_points(&self, points: usize, what: &str) -> Result<(), String> {
        if points > self.max_points {
            return Err(format!(
                "{what} has {points} data points; this server accepts at most {} per series",
                self.max_points
            ));
        }
        Ok(())
    }
}

impl Settings {
    /// Reads the TOML file at `path`, naming the file and the key of any error.
    pub fn read(path: &Path) -> anyhow::Result<Settings> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        toml::from_str(&text)
            .map_err(|error| anyhow::anyhow!("{}: {}", path.display(), error.to_string().trim()))
    }

    /// The metrics accounts, with their secrets read from the environment.
    pub fn accounts(&self) -> anyhow::Result<Accounts> {
        let mut accounts = Accounts::default();
        for account in &self.accounts {
            let context = || format!("account '{}'", account.name);
            if accounts.iter().any(|(name, _)| name == account.name) {
                bail!("account '{}' is configured twice", account.name);
            }
            let max_concurrent_queries = match account.max_concurrent_queries {
                Some(0) => bail!(
                    "account '{}': max_concurrent_queries must be at least 1",
                    account.name
                ),
                Some(slots) => slots,
                None => crate::metrics::DEFAULT_MAX_CONCURRENT_QUERIES,
            };
            if account.url.is_empty()
                && matches!(
                    account.kind,
                    AccountKind::Prometheus
                        | AccountKind::Datadog
                        | AccountKind::Wavefront
                        | AccountKind::Influxdb
                        | AccountKind::Graphite
                )
            {
                bail!("account '{}': url is required", account.name);
            }
            match account.kind {
                AccountKind::NewRelic
                | AccountKind::SignalFx
                | AccountKind::Stackdriver
                | AccountKind::Wavefront => {
                    let bounds = crate::metrics::AccountBounds {
                        timeout: match account.timeout {
                            Some(timeout) => positive(timeout).with_context(context)?,
                            None => crate::metrics::AccountBounds::default().timeout,
                        },
                        max_concurrent_queries,
                        max_points: self.limits.max_points,
                        ..Default::default()
                    };
                    accounts.add(&account.name, store_source(account, bounds)?);
                }
                AccountKind::Prometheus => {
                    let mut prometheus = PrometheusAccount::new(&account.name, &account.url);
                    prometheus.max_concurrent_queries = max_concurrent_queries;
                    prometheus.max_points = self.limits.max_points;
                    if let Some(timeout) = account.timeout {
                        prometheus.timeout = positive(timeout).with_context(context)?;
                    }
                    prometheus.auth = match (
                        &account.username,
                        &account.password_env,
                        &account.bearer_token_env,
                    ) {
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
                            account.name
                        ),
                    };
                    accounts.add(&account.name, Arc::new(PrometheusSource::new(prometheus)?));
                }
                AccountKind::Datadog => {
                    let mut datadog = DatadogAccount::new(&account.name, &account.url);
                    datadog.max_concurrent_queries = max_concurrent_queries;
                    datadog.max_points = self.limits.max_points;
                    if let Some(timeout) = account.timeout {
                        datadog.timeout = positive(timeout).with_context(context)?;
                    }
                    if let DatadogKeys::Env {
                        api_key_var,
                        app_key_var,
                    } = &mut datadog.keys
                    {
                        if let Some(variable) = &account.api_key_env {
                            *api_key_var = variable.clone();
                        }
                        if let Some(variable) = &account.app_key_env {
                            *app_key_var = variable.clone();
                        }
                    }
                    accounts.add(&account.name, Arc::new(DatadogSource::new(datadog)?));
                }
                AccountKind::Influxdb | AccountKind::Graphite => {
                    let timeout = account
                        .timeout
                        .map(positive)
                        .transpose()
                        .with_context(context)?;
                    let source = account.influxdb_or_graphite(
                        max_concurrent_queries,
                        self.limits.max_points,
                        timeout,
                    )?;
                    accounts.add(&account.name, source);
                }
            }
        }
        Ok(accounts)
    }

    /// The accepted bearer tokens, read from the environment.
    pub fn tokens(&self) -> anyhow::Result<Vec<Secret>> {
        self.auth
            .token_envs
            .iter()
            .map(|variable| secret(variable).context("[auth] token_envs"))
            .collect()
    }

    /// Who may call what (`[auth]`), with the secrets read from the environment.
    pub fn auth(&self) -> anyhow::Result<Auth> {
        let settings = &self.auth;
        let key = match &settings.session_secret_env {
            Some(variable) => {
                SessionKey::Shared(secret(variable).context("[auth] session_secret_env")?)
            }
            None => SessionKey::Random,
        };
        let lifetime = match settings.session_lifetime {
            Some(lifetime) => positive(lifetime).context("[auth] session_lifetime")?,
            None => DEFAULT_SESSION_LIFETIME,
        };
        Ok(Auth::new(&self.tokens()?, key)?
            .with_session_lifetime(lifetime)
            .with_secure_cookie(settings.secure_cookie)
            .with_kayenta(settings.kayenta.policy("kayenta")?)
            .with_flagger(settings.flagger.policy("flagger")?))
    }
}

impl AccountSettings {
    /// An `influxdb` or `graphite` account's source, refusing the settings of other kinds.
    fn influxdb_or_graphite(
        &self,
        max_concurrent_queries: usize,
        max_points: usize,
        timeout: Option<std::time::Duration>,
    ) -> anyhow::Result<Arc<dyn crate::metrics::MetricSource>> {
        let name = &self.name;
        let kind = format!("{:?}", self.kind).to_lowercase();
        let foreign = [
            ("bearer_token_env", self.bearer_token_env.is_some()),
            ("api_key_env", self.api_key_env.is_some()),
            ("app_key_env", self.app_key_env.is_some()),
        ];
        let graphite_foreign = [
            ("database", self.database.is_some()),
            ("username", self.username.is_some()),
            ("password_env", self.password_env.is_some()),
        ];
        let is_graphite = self.kind == AccountKind::Graphite;
        for (field, given) in foreign
            .into_iter()
            .chain(graphite_foreign.into_iter().filter(|_| is_graphite))
        {
            if given {
                bail!("account '{name}': {field} does not apply to an account of type {kind}");
            }
        }
        if is_graphite {
            let mut account = crate::metrics::GraphiteAccount::new(name, &self.url);
            account.max_concurrent_queries = max_concurrent_queries;
            account.max_points = max_points;
            account.timeout = timeout.unwrap_or(account.timeout);
            return Ok(Arc::new(crate::metrics::GraphiteSource::new(account)?));
        }
        let mut account = crate::metrics::InfluxDbAccount::new(name, &self.url);
        account.max_concurrent_queries = max_concurrent_queries;
        account.max_points = max_points;
        account.timeout = timeout.unwrap_or(account.timeout);
        account.database = self.database.clone();
        account.credentials = match (&self.username, &self.password_env) {
            (None, None) => None,
            (Some(username), Some(variable)) => Some((
                username.clone(),
                secret(variable).with_context(|| format!("account '{name}'"))?,
            )),
            _ => bail!("account '{name}': give username and password_env together"),
        };
        Ok(Arc::new(crate::metrics::InfluxDbSource::new(account)?))
    }
}

impl RouteAuthSettings {
    fn policy(&self, section: &str) -> anyhow::Result<RoutePolicy> {
        let context = || format!("[auth.{section}]");
        let token = || match &self.token_env {
            Some(variable) => secret(variable).with_context(context),
            None => bail!(
                "[auth.{section}]: policy = \"{}\" needs token_env",
                format!("{:?}", self.policy).to_lowercase()
            ),
        };
        let unused = |field: &str, used: bool| match used {
            true => bail!("[auth.{section}]: {field} does not apply to this policy"),
            false => Ok(()),
        };
        Ok(match self.policy {
            RoutePolicyKind::Bearer | RoutePolicyKind::Open => {
                unused("token_env", self.token_env.is_some())?;
                unused("query_param", self.query_param.is_some())?;
                unused("header", self.header.is_some())?;
                match self.policy {
                    RoutePolicyKind::Open => RoutePolicy::Open,
                    _ => RoutePolicy::Bearer,
                }
            }
            RoutePolicyKind::Query => {
                unused("header", self.header.is_some())?;
                let param = self.query_param.as_deref().unwrap_or("token");
                if param.is_empty() {
                    bail!("[auth.{section}]: query_param must not be empty");
                }
                RoutePolicy::query(param, &token()?)
            }
            RoutePolicyKind::Header => {
                unused("query_param", self.query_param.is_some())?;
                let name = self.header.as_deref().unwrap_or("X-Coalmine-Token");
                let name = HeaderName::try_from(name).map_err(|_| {
                    anyhow::anyhow!("[auth.{section}]: header `{name}` is not a header name")
                })?;
                RoutePolicy::header(name, &token()?)
            }
        })
    }
}

/// The source of an account of one of the stores whose secrets are named by environment variable and sent only
/// in headers (New Relic, SignalFx, Wavefront), or a key file (Google Cloud Monitoring).
fn store_source(
    account: &AccountSettings,
    bounds: crate::metrics::AccountBounds,
) -> anyhow::Result<Arc<dyn crate::metrics::MetricSource>> {
    use crate::metrics::{
        NEWRELIC_DEFAULT_URL, NewRelicAccount, NewRelicSource, SIGNALFX_DEFAULT_URL,
        STACKDRIVER_DEFAULT_URL, SecretSource, SignalFxAccount, SignalFxSource, StackdriverAccount,
        StackdriverSource, WavefrontAccount, WavefrontSource,
    };
    let given = [
        ("username", account.username.is_some()),
        ("password_env", account.password_env.is_some()),
        ("bearer_token_env", account.bearer_token_env.is_some()),
        ("api_key_env", account.api_key_env.is_some()),
        ("app_key_env", account.app_key_env.is_some()),
        ("application_key", account.application_key.is_some()),
        ("default_scope_key", account.default_scope_key.is_some()),
        (
            "default_location_key",
            account.default_location_key.is_some(),
        ),
        ("access_token_env", account.access_token_env.is_some()),
        ("api_token_env", account.api_token_env.is_some()),
        ("project", account.project.is_some()),
        ("credentials_file", account.credentials_file.is_some()),
        ("database", account.database.is_some()),
    ];
    let applies: &[&str] = match account.kind {
        AccountKind::NewRelic => &[
            "application_key",
            "api_key_env",
            "default_scope_key",
            "default_location_key",
        ],
        AccountKind::SignalFx => &[
            "access_token_env",
            "default_scope_key",
            "default_location_key",
        ],
        AccountKind::Wavefront => &["api_token_env"],
        AccountKind::Stackdriver => &["project", "credentials_file"],
        _ => &[],
    };
    if let Some((field, _)) = given
        .iter()
        .find(|(field, set)| *set && !applies.contains(field))
    {
        let kind = format!("{:?}", account.kind).to_lowercase();
        bail!(
            "account '{}': {field} does not apply to an account of type {kind}",
            account.name
        );
    }
    let variable = |given: &Option<String>, default: &str| {
        SecretSource::Env(given.clone().unwrap_or_else(|| default.to_string()))
    };
    let url = |default: &str| match account.url.as_str() {
        "" => default.to_string(),
        url => url.to_string(),
    };
    Ok(match account.kind {
        AccountKind::NewRelic => {
            let Some(account_id) = &account.application_key else {
                bail!(
                    "account '{}': application_key (the New Relic account id) is required",
                    account.name
                );
            };
            Arc::new(NewRelicSource::new(NewRelicAccount {
                url: url(NEWRELIC_DEFAULT_URL),
                api_key: variable(&account.api_key_env, "NEWRELIC_API_KEY"),
                default_scope_key: account.default_scope_key.clone(),
                default_location_key: account.default_location_key.clone(),
                bounds,
                ..NewRelicAccount::new(&account.name, account_id)
            })?)
        }
        AccountKind::SignalFx => Arc::new(SignalFxSource::new(SignalFxAccount {
            url: url(SIGNALFX_DEFAULT_URL),
            access_token: variable(&account.access_token_env, "SIGNALFX_ACCESS_TOKEN"),
            default_scope_key: account.default_scope_key.clone(),
            default_location_key: account.default_location_key.clone(),
            bounds,
            ..SignalFxAccount::new(&account.name)
        })?),
        AccountKind::Stackdriver => {
            let (Some(project), Some(credentials_file)) =
                (&account.project, &account.credentials_file)
            else {
                bail!(
                    "account '{}': a stackdriver account needs project and credentials_file (a \
                     service account's JSON key)",
                    account.name
                );
            };
            Arc::new(StackdriverSource::new(StackdriverAccount {
                url: url(STACKDRIVER_DEFAULT_URL),
                bounds,
                ..StackdriverAccount::new(&account.name, project, credentials_file)
            })?)
        }
        AccountKind::Wavefront => Arc::new(WavefrontSource::new(WavefrontAccount {
            api_token: variable(&account.api_token_env, "WAVEFRONT_API_TOKEN"),
            bounds,
            ..WavefrontAccount::new(&account.name, &account.url)
        })?),
        _ => bail!(
            "account '{}' is not a New Relic, SignalFx, Google or Wavefront account",
            account.name
        ),
    })
}

fn secret(variable: &str) -> anyhow::Result<Secret> {
    match std::env::var(variable) {
        Ok(value) if !value.is_empty() => Ok(Secret::new(value)),
        _ => bail!("the environment variable {variable} is not set"),
    }
}

fn positive(duration: SignedDuration) -> anyhow::Result<std::time::Duration> {
    std::time::Duration::try_from(duration)
        .ok()
        .filter(|duration| !duration.is_zero())
        .with_context(|| format!("timeout must be positive, got {duration:#}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The ```toml blocks of `docs/configuration.md`.
    fn documented_examples() -> Vec<String> {
        let guide = include_str!("../../docs/configuration.md");
        guide
            .split("```toml\n")
            .skip(1)
            .map(|block| block.split("```").next().unwrap_or_default().to_string())
            .collect()
    }

    #[test]
    fn every_example_of_the_configuration_guide_is_a_valid_settings_file() {
        let examples = documented_examples();
        assert!(examples.len() >= 8, "found {} examples", examples.len());
        for example in examples {
            toml::from_str::<Settings>(&example)
                .unwrap_or_else(|error| panic!("{error}\nin the example:\n{example}"));
        }
    }

    #[test]
    fn retention_is_read_as_a_duration_and_refused_when_it_is_not_one() {
        let settings: Settings =
            toml::from_str("[retention]\nfinished_analyses = \"30d\"\n").unwrap();
        assert_eq!(
            settings.retention.finished_analyses,
            Some(SignedDuration::from_hours(30 * 24))
        );
        assert_eq!(
            toml::from_str::<Settings>("")
                .unwrap()
                .retention
                .finished_analyses,
            None
        );
        let error = toml::from_str::<Settings>("[retention]\nfinished_analyses = \"soon\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("'soon' is not a positive duration"),
            "{error}"
        );
    }

    #[test]
    fn influxdb_and_graphite_accounts_refuse_settings_of_other_stores() {
        let accounts = |text: &str| {
            toml::from_str::<Settings>(text)
                .unwrap()
                .accounts()
                .map(|accounts| {
                    accounts
                        .iter()
                        .map(|(name, kind)| format!("{name}:{kind}"))
                        .collect::<Vec<_>>()
                })
                .map_err(|error| format!("{error:#}"))
        };
        let influx =
            "[[accounts]]\nname = \"i\"\ntype = \"influxdb\"\nurl = \"http://influxdb:8086\"\n";
        let graphite =
            "[[accounts]]\nname = \"g\"\ntype = \"graphite\"\nurl = \"http://graphite:8080\"\n";
        assert_eq!(
            accounts(&format!("{influx}database = \"telegraf\"\n{graphite}")).unwrap(),
            ["i:influxdb", "g:graphite"]
        );
        assert_eq!(
            accounts(&format!("{graphite}database = \"x\"\n")).unwrap_err(),
            "account 'g': database does not apply to an account of type graphite"
        );
        assert_eq!(
            accounts(&format!("{influx}bearer_token_env = \"T\"\n")).unwrap_err(),
            "account 'i': bearer_token_env does not apply to an account of type influxdb"
        );
        assert_eq!(
            accounts(&format!("{influx}username = \"u\"\n")).unwrap_err(),
            "account 'i': give username and password_env together"
        );
        assert_eq!(
            accounts(&format!(
                "{influx}username = \"u\"\npassword_env = \"COALMINE_TEST_UNSET_INFLUX\"\n"
            ))
            .unwrap_err(),
            "account 'i': the environment variable COALMINE_TEST_UNSET_INFLUX is not set"
        );
    }

    #[test]
    fn store_accounts_name_what_is_missing() {
        let error = |toml: &str| match toml::from_str::<Settings>(toml).unwrap().accounts() {
            Ok(_) => panic!("accepted: {toml}"),
            Err(error) => error.to_string(),
        };
        let account = |fields: &str| format!("[[accounts]]\nname = \"a\"\n{fields}\n");
        let text = error(&account("type = \"newrelic\""));
        assert!(
            text.contains("application_key (the New Relic account id)"),
            "{text}"
        );
        let text = error(&account("type = \"stackdriver\"\nproject = \"p\""));
        assert!(
            text.contains("needs project and credentials_file"),
            "{text}"
        );
        let text = error(&account(
            "type = \"wavefront\"\nurl = \"https://w\"\nproject = \"p\"",
        ));
        assert_eq!(
            text,
            "account 'a': project does not apply to an account of type wavefront"
        );
        let text = error(&account("type = \"wavefront\""));
        assert_eq!(text, "account 'a': url is required");
        let text = error(&account(
            "type = \"signalfx\"\naccess_token_env = \"COALMINE_TEST_UNSET_SFX_TOKEN\"",
        ));
        assert!(
            text.contains("the environment variable COALMINE_TEST_UNSET_SFX_TOKEN is not set"),
            "{text}"
        );
    }

    #[test]
    fn the_example_in_this_module_is_a_valid_settings_file() {
        let source = include_str!("settings.rs");
        let example: String = source
            .lines()
            .take_while(|line| line.starts_with("//!"))
            .map(|line| {
                line.trim_start_matches("//!")
                    .strip_prefix(' ')
                    .unwrap_or("")
            })
            .skip_while(|line| *line != "```toml")
            .skip(1)
            .take_while(|line| *line != "```")
            .map(|line| format!("{line}\n"))
            .collect();
        toml::from_str::<Settings>(&example).unwrap_or_else(|error| panic!("{error}\n{example}"));
    }
}
