//! The server's configuration file (`coalmine serve --config coalmine.toml`): where to listen and keep data,
//! the metrics accounts, API tokens and limits. Secrets are never written in the file: it names the
//! environment variables that hold them (Kubernetes Secrets mapped to env vars). `docs/configuration.md` is
//! the user's guide to it; every example there is parsed by this module's tests. Each store's `[[accounts]]`
//! table is read, and its source built, in `settings/accounts.rs`.
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

use anyhow::{Context, bail};
use axum::http::HeaderName;
use jiff::SignedDuration;
use serde::Deserialize;

use super::auth::{Auth, DEFAULT_SESSION_LIFETIME, RoutePolicy, SessionKey};
use crate::metrics::{Accounts, Secret};
use crate::store::PostgresStore;

mod accounts;

pub use accounts::AccountSettings;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub listen: Option<SocketAddr>,
    pub data_dir: Option<PathBuf>,
    pub judges_dir: Option<PathBuf>,
    #[serde(default, deserialize_with = "accounts::named")]
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
    /// How long a replica's lease on an analysis lasts (`lease_period = "15s"`); `--lease-period` wins.
    #[serde(default, deserialize_with = "optional_span")]
    pub lease_period: Option<SignedDuration>,
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
            let name = account.name();
            if accounts.iter().any(|(known, _)| known == name) {
                bail!("account '{name}' is configured twice");
            }
            accounts.add(name, account.source(&self.limits)?);
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
