//! The server's configuration file (`coalmine serve --config coalmine.toml`): where to listen and keep data,
//! the metrics accounts, API tokens and limits. Secrets are never written in the file: it names the
//! environment variables that hold them (Kubernetes Secrets mapped to env vars).
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
//! # bearer_token_env = "PROMETHEUS_TOKEN"    or    username = "coalmine" + password_env = "PROMETHEUS_PASSWORD"
//!
//! [[accounts]]
//! name = "datadog"
//! type = "datadog"
//! url = "https://api.datadoghq.com"
//! api_key_env = "DD_API_KEY"
//! app_key_env = "DD_APP_KEY"
//!
//! [auth]
//! token_envs = ["COALMINE_TOKEN"]   # bearer tokens; when any is set, every endpoint but /health, /ready
//!                                   # and /metrics needs one
//!
//! [limits]
//! max_body_bytes = 16777216
//! max_metrics = 500                  # metrics per canary config
//! max_points = 100000                # data points per series and side
//! max_running_analyses = 1000        # past it, new analyses are refused with 429 and Retry-After
//! max_lifetime = "30d"               # the longest lifetime, window, warm-up, lookback, offset or step
//! ```

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};
use jiff::SignedDuration;
use serde::Deserialize;

use crate::metrics::{
    Accounts, DatadogAccount, DatadogKeys, DatadogSource, PrometheusAccount, PrometheusAuth,
    PrometheusSource, Secret,
};

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
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountSettings {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: AccountKind,
    pub url: String,
    pub timeout: Option<SignedDuration>,
    /// Prometheus basic authentication: the user, and the variable holding the password.
    pub username: Option<String>,
    pub password_env: Option<String>,
    /// Prometheus bearer token: the variable holding it.
    pub bearer_token_env: Option<String>,
    /// Datadog: the variables holding the keys (default `DD_API_KEY`, `DD_APP_KEY`).
    pub api_key_env: Option<String>,
    pub app_key_env: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AccountKind {
    Prometheus,
    Datadog,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthSettings {
    /// Environment variables that each hold one accepted bearer token.
    #[serde(default)]
    pub token_envs: Vec<String>,
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
            max_points: 100_000,
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
        let metrics = config.metrics.len();
        if metrics > self.max_metrics {
            return Err(format!(
                "the canary config has {metrics} metrics; this server judges at most {} per analysis",
                self.max_metrics
            ));
        }
        Ok(())
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
            match account.kind {
                AccountKind::Prometheus => {
                    let mut prometheus = PrometheusAccount::new(&account.name, &account.url);
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
