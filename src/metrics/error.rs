//! What can go wrong while building, fetching and pairing metrics, typed by what the user has to fix: the
//! config or request ([`SourceError::Config`]), the network or the store's availability
//! ([`SourceError::Unreachable`], [`SourceError::Timeout`]), the store's answer ([`SourceError::Http`],
//! [`SourceError::BadResponse`]), or the data ([`SourceError::Pairing`]).
//!
//! Messages name the metric, the store's address (without credentials) and the query, and never contain an
//! API key, password or token.

use std::fmt;
use std::time::Duration;

/// Which query failed, and where it was sent; shown as `metric '<metric>': <store> at <endpoint>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryContext {
    /// The metric's name in the canary config.
    pub metric: String,
    /// The kind of store, e.g. `Prometheus`.
    pub store: &'static str,
    /// The store's base URL, without credentials.
    pub endpoint: String,
    pub query: String,
}

impl fmt::Display for QueryContext {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(
            f,
            "metric '{}': {} at {}",
            self.metric, self.store, self.endpoint
        )
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The canary config or the execution request is wrong: fix it. `message` is Kayenta's text where
    /// Kayenta has one.
    #[error("{}", config_text(metric.as_deref(), message))]
    Config {
        metric: Option<String>,
        message: String,
    },

    /// No answer: the connection failed (refused, DNS, TLS, reset) on every attempt.
    #[error(
        "metric '{}': cannot reach {} at {} ({}): {reason}. Check the account's URL and that the \
         store is up and reachable from here. Query: {}",
        .context.metric,
        .context.store,
        .context.endpoint,
        attempts_text(*.attempts),
        .context.query
    )]
    Unreachable {
        context: QueryContext,
        attempts: u32,
        reason: String,
    },

    /// No answer within the account's timeout (which bounds the query, retries included).
    #[error(
        "{context} did not answer within {timeout:?} ({}). Raise the account's timeout or make the \
         query cheaper. Query: {}",
        attempts_text(*.attempts),
        .context.query
    )]
    Timeout {
        context: QueryContext,
        timeout: Duration,
        attempts: u32,
    },

    /// The store answered with an HTTP error status; `body` is a short excerpt of its explanation.
    #[error(
        "{context} answered HTTP {status} ({}): {body}. {}. Query: {}",
        attempts_text(*.attempts),
        status_advice(*.status),
        .context.query
    )]
    Http {
        context: QueryContext,
        status: u16,
        body: String,
        attempts: u32,
    },

    /// The store answered, but not with anything coalmine can read.
    #[error("{context} sent a response coalmine cannot read: {reason}. Query: {}", .context.query)]
    BadResponse {
        context: QueryContext,
        reason: String,
    },

    /// The control and experiment data cannot be paired; `message` is Kayenta's mixer text.
    #[error("metric '{metric}': {message}")]
    Pairing { metric: String, message: String },
}

impl SourceError {
    /// A short, stable name for the kind of failure, for metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            SourceError::Config { .. } => "config",
            SourceError::Unreachable { .. } => "unreachable",
            SourceError::Timeout { .. } => "timeout",
            SourceError::Http { .. } => "http",
            SourceError::BadResponse { .. } => "bad_response",
            SourceError::Pairing { .. } => "pairing",
        }
    }

    pub(crate) fn config(metric: &str, message: impl Into<String>) -> SourceError {
        SourceError::Config {
            metric: Some(metric.to_string()),
            message: message.into(),
        }
    }

    pub(crate) fn pairing(metric: &str, message: impl Into<String>) -> SourceError {
        SourceError::Pairing {
            metric: metric.to_string(),
            message: message.into(),
        }
    }
}

fn config_text(metric: Option<&str>, message: &str) -> String {
    match metric {
        Some(metric) => format!("metric '{metric}': {message}"),
        None => message.to_string(),
    }
}

fn attempts_text(attempts: u32) -> String {
    match attempts {
        1 => "1 attempt".to_string(),
        n => format!("{n} attempts"),
    }
}

/// What to do about an HTTP error status.
fn status_advice(status: u16) -> &'static str {
    match status {
        400 | 422 => "The store rejected the query: check the metric's query config",
        401 | 403 => "Check the account's credentials",
        404 => "Check the account's URL, including any path prefix",
        408 | 429 => {
            "The store is overloaded or rate-limiting: retry later or lower the concurrency"
        }
        500..=599 => "The store failed: check its health and logs",
        300..=399 => {
            "The store redirected to another address, which coalmine does not follow (the account's \
             credentials stay with its URL): give the account the address it redirects to"
        }
        _ => "Check the account's URL and the store",
    }
}
