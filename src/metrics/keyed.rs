//! Setting up an HTTP store whose account is a base URL and secrets sent only in request headers (New Relic's
//! `X-Query-Key`, SignalFx's `X-SF-TOKEN`, Wavefront's and Google's `Authorization: Bearer`): checking the URL,
//! reading the secrets from the environment, and building the account's [`Endpoint`] and HTTP client.

use reqwest::header::{ACCEPT, HeaderMap, HeaderName, HeaderValue};

use super::SourceError;
use super::http::{AccountBounds, Endpoint, Secret, http_url, invalid, join};

/// Where an account's secret comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    /// Read from this environment variable when the source is created.
    Env(String),
    Given(Secret),
}

impl SecretSource {
    /// The secret; `what` names it in the error when the variable is not set.
    pub(crate) fn read(
        &self,
        store: &str,
        account: &str,
        what: &str,
    ) -> Result<Secret, SourceError> {
        match self {
            SecretSource::Given(secret) => Ok(secret.clone()),
            SecretSource::Env(variable) => match std::env::var(variable) {
                Ok(value) if !value.is_empty() => Ok(Secret::new(value)),
                _ => Err(invalid(
                    store,
                    account,
                    format!(
                        "the environment variable {variable} is not set; it must hold the account's \
                         {what}"
                    ),
                )),
            },
        }
    }
}

/// An account's client, base URL (without a trailing `/`) and endpoint.
pub(crate) struct Keyed {
    pub client: reqwest::Client,
    pub base: reqwest::Url,
    pub endpoint: Endpoint,
}

impl Keyed {
    /// Checks `url` (http(s), a host, no credentials: secrets go only in headers) and sets up the client with
    /// `headers` (name, secret) marked sensitive, plus `Accept: application/json`.
    pub(crate) fn new(
        store: &'static str,
        account: &str,
        url: &str,
        example: &str,
        headers: Vec<(HeaderName, Secret)>,
        bounds: AccountBounds,
    ) -> Result<Keyed, SourceError> {
        let invalid = |problem: String| invalid(store, account, problem);
        let mut base = http_url(url).ok_or_else(|| {
            invalid(format!(
                "the URL {url:?} is not an http(s) URL; expected e.g. {example}"
            ))
        })?;
        if !base.username().is_empty() || base.password().is_some() {
            return Err(invalid(format!(
                "the URL must not hold credentials; {store} takes them only in headers"
            )));
        }
        base.set_query(None);
        base.set_fragment(None);
        let path = base.path().trim_end_matches('/').to_string();
        base.set_path(&path);
        let mut map = HeaderMap::new();
        let mut secrets = Vec::new();
        for (name, secret) in headers {
            let mut value = HeaderValue::from_str(secret.expose()).map_err(|_| {
                invalid(format!(
                    "the {name} secret holds characters an HTTP header cannot"
                ))
            })?;
            value.set_sensitive(true);
            map.insert(name, value);
            secrets.push(secret);
        }
        map.insert(ACCEPT, HeaderValue::from_static("application/json"));
        let (client, endpoint) =
            Endpoint::account(store, &base, bounds, map, secrets).map_err(invalid)?;
        Ok(Keyed {
            client,
            base,
            endpoint,
        })
    }

    /// `<base><path>` (the base's own path prefix kept).
    pub(crate) fn url(&self, path: &str) -> reqwest::Url {
        join(&self.base, path)
    }
}
