//! Google service-account credentials: reading the JSON key, and the OAuth 2.0 JWT bearer grant (RFC 7523) —
//! a JWT signed with the key (RS256, claims `iss`, `scope`, `aud` = the key's `token_uri`, `iat`, `exp`)
//! exchanged at `token_uri` for an access token, cached until a minute before it expires.
//!
//! The key's `token_uri` must be https (a loopback address may use http, for tests): the signed assertion
//! goes there.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use super::http::{AttemptError, Secret, excerpt};

/// What a read-only canary needs (Kayenta asks for every Monitoring scope, write included).
pub const MONITORING_READ_SCOPE: &str = "https://www.googleapis.com/auth/monitoring.read";

/// How long a JWT assertion is valid (Google's maximum is an hour).
const ASSERTION_LIFETIME: i64 = 3600;

/// How long before its expiry a cached access token is renewed.
const RENEW_BEFORE: Duration = Duration::from_secs(60);

/// A service-account key file (`type: service_account`), the fields that are used.
#[derive(Deserialize)]
struct KeyFile {
    #[serde(rename = "type")]
    kind: Option<String>,
    client_email: String,
    private_key: String,
    #[serde(default)]
    private_key_id: Option<String>,
    #[serde(default = "default_token_uri")]
    token_uri: String,
}

fn default_token_uri() -> String {
    "https://oauth2.googleapis.com/token".to_string()
}

/// A service account's signing key and where to exchange its assertions. `Debug` never shows the key.
pub(crate) struct ServiceAccount {
    client_email: String,
    key_id: Option<String>,
    key: jsonwebtoken::EncodingKey,
    pub token_uri: reqwest::Url,
    scope: String,
    /// The access token and until when it is used; held while a new one is fetched, so that queries
    /// starting together share one exchange.
    cached: tokio::sync::Mutex<Option<(Secret, Instant)>>,
}

impl fmt::Debug for ServiceAccount {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.debug_struct("ServiceAccount")
            .field("client_email", &self.client_email)
            .field("token_uri", &self.token_uri.as_str())
            .finish_non_exhaustive()
    }
}

#[derive(Serialize)]
struct Claims<'a> {
    iss: &'a str,
    scope: &'a str,
    aud: &'a str,
    iat: i64,
    exp: i64,
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    #[serde(default)]
    expires_in: Option<u64>,
}

impl ServiceAccount {
    /// Reads a service-account JSON key; the reason it cannot be used (never the key itself).
    pub(crate) fn from_json(text: &str) -> Result<ServiceAccount, String> {
        let file: KeyFile = serde_json::from_str(text).map_err(|error| {
            format!(
                "it is not a service-account JSON key ({}); create one with `gcloud iam \
                 service-accounts keys create`",
                error
                    .to_string()
                    .split(" at line")
                    .next()
                    .unwrap_or_default()
            )
        })?;
        if file
            .kind
            .as_deref()
            .is_some_and(|kind| kind != "service_account")
        {
            return Err(format!(
                "its type is {:?}, not \"service_account\"",
                file.kind.unwrap_or_default()
            ));
        }
        let key = jsonwebtoken::EncodingKey::from_rsa_pem(file.private_key.as_bytes())
            .map_err(|_| "its private_key is not an RSA private key in PEM form".to_string())?;
        let token_uri = reqwest::Url::parse(&file.token_uri)
            .ok()
            .filter(|url| match url.scheme() {
                "https" => url.has_host(),
                "http" => matches!(url.host_str(), Some("127.0.0.1" | "localhost" | "[::1]")),
                _ => false,
            })
            .ok_or_else(|| {
                format!(
                    "its token_uri {:?} is not an https URL (the signed assertion is sent there)",
                    file.token_uri
                )
            })?;
        Ok(ServiceAccount {
            client_email: file.client_email,
            key_id: file.private_key_id,
            key,
            token_uri,
            scope: MONITORING_READ_SCOPE.to_string(),
            cached: tokio::sync::Mutex::new(None),
        })
    }

    /// The signed assertion for now.
    fn assertion(&self) -> Result<String, AttemptError> {
        let now = jiff::Timestamp::now().as_second();
        let claims = Claims {
            iss: &self.client_email,
            scope: &self.scope,
            aud: self.token_uri.as_str(),
            iat: now,
            exp: now + ASSERTION_LIFETIME,
        };
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
        header.kid = self.key_id.clone();
        jsonwebtoken::encode(&header, &claims, &self.key).map_err(|error| {
            AttemptError::Unreadable(format!("cannot sign the assertion: {error}"))
        })
    }

    /// A valid access token: the cached one, or a new one from `token_uri`. A refusal of the key is an HTTP
    /// 401 (so that the message says to check the credentials); 429 and 5xx keep their status, to be retried.
    pub(crate) async fn access_token(
        &self,
        client: &reqwest::Client,
    ) -> Result<Secret, AttemptError> {
        let mut cached = self.cached.lock().await;
        if let Some((token, until)) = cached.as_ref()
            && Instant::now() < *until
        {
            return Ok(token.clone());
        }
        let assertion = self.assertion()?;
        let response = client
            .post(self.token_uri.clone())
            .form(&[
                ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
                ("assertion", assertion.as_str()),
            ])
            .send()
            .await
            .map_err(|error| AttemptError::transport(&error))?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = response
            .text()
            .await
            .map_err(|error| AttemptError::transport(&error))?;
        let body = body.replace(&assertion, "***");
        if !status.is_success() {
            let refused = !(status.is_server_error() || status.as_u16() == 429);
            return Err(AttemptError::Status {
                status: if refused {
                    reqwest::StatusCode::UNAUTHORIZED
                } else {
                    status
                },
                headers,
                body: format!(
                    "the token endpoint {} answered {status} to the service account {}: {}",
                    self.token_uri,
                    self.client_email,
                    excerpt(&body)
                ),
            });
        }
        let answer: TokenAnswer = serde_json::from_str(&body).map_err(|_| {
            AttemptError::Unreadable(format!(
                "the token endpoint {} answered no access_token",
                self.token_uri
            ))
        })?;
        let lifetime = Duration::from_secs(answer.expires_in.unwrap_or(3600));
        let token = Secret::new(answer.access_token);
        let until = Instant::now() + lifetime.saturating_sub(RENEW_BEFORE);
        *cached = Some((token.clone(), until));
        Ok(token)
    }
}
