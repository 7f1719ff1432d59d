//! A double of Google Cloud Monitoring (axum on 127.0.0.1): `projects.timeSeries.list` (`GET
//! /v3/projects/{project}/timeSeries`) and Google's OAuth 2.0 token endpoint (`POST /token`), following their
//! documented contracts.
//!
//! - **Token endpoint** (the service-account key's `token_uri`): a form with `grant_type =
//!   urn:ietf:params:oauth:grant-type:jwt-bearer` and `assertion`, a JWT whose RS256 signature is verified with
//!   the test key's public half, whose `aud` must be the token URI, `iss` the key's `client_email`, `scope`
//!   must include `monitoring.read`, `exp` in the future and the header's `kid` the key's id (otherwise 400
//!   `{"error": "invalid_grant", ...}`); it answers `{"access_token", "expires_in", "token_type": "Bearer"}`.
//! - **timeSeries.list**: `Authorization: Bearer` with an issued token (401 otherwise, Google's error JSON);
//!   `filter`, `interval.startTime` and `interval.endTime` (RFC 3339), `aggregation.alignmentPeriod` (`<n>s`),
//!   `aggregation.perSeriesAligner` and `aggregation.crossSeriesReducer` required (400 otherwise). It answers
//!   `{"timeSeries": [{"metric": {"type", "labels"}, "resource": {"type", "labels"}, "metricKind",
//!   "valueType", "points": [{"interval": {"startTime", "endTime"}, "value": {"doubleValue" | "int64Value"}}]}],
//!   "unit"}` with points newest first, `page_size` series per page with `nextPageToken`. A filter it was
//!   not given answers 400 `INVALID_ARGUMENT` naming it, so a test fails on any difference in the filter.
//!
//! The RSA key below is a **test-only key**, generated for this suite; it protects nothing.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use axum::extract::{Form, Path as UrlPath, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use serde_json::{Value, json};

use super::proxy::{Recorded, json as json_response};

/// TEST-ONLY RSA key (PKCS#8), generated for this test suite. Never use it for anything else.
pub const TEST_PRIVATE_KEY: &str = r"-----BEGIN PRIVATE KEY-----
MIIEvgIBADANBgkqhkiG9w0BAQEFAASCBKgwggSkAgEAAoIBAQCxVpvp5hjkU2Kp
bo+ESAhVazDXPev9iTBYYzXP/XnkrCWiXIjTG5H5x34vV+w1QpLKOb3HcW1sAJhE
FSt3rlC6ymvNhXrTYx/U9OUyEEW/UsmYfOI4zBn+LrEt+d/kw7b+DgLaMZJ0M6T8
9WXjIlukPzxOB0oAaS3reaKeAcgehgY4dBmbkLStBa5sQlyMl1URX0B3TrCeqt3r
fPqSOiPzhQNOYEaPikbVzsU3r3Gu1rHC07XmGIVBM5lgbGY5OVMBe4InmAHlZd3i
gyYXv/D1GuIpKld6LPSkHF1rsNXzzLTh4uyp+M/uIhTUlG2fAKDzgI1cerMzKAHD
qAzExzb7AgMBAAECggEAD8kU1yzbObUjys8uST5xjMueLQVfCfzPPTQ/kwRjeEkh
Oc2g2aHSTE3yBobTXij55gmzwfAafGBP2Cebl0CrVk/fFAv1/fZh2/6cnuiMkiuY
Cacm1UVzFDQrI1uNuXr5Fq4/72o1jiXBYZ76cyMYzeBZyYb5PbDJx0nW1tfJF3un
sH5wWEBuCeRQzLE5KUc+QNVYGu6mF8XBeq+U9H1KYHKca6l52b4t0+l5czePBdBV
pP9D4qWKhInUJjwdY/4SBRK78aWm3zJBEmTzaIyKoEe8NLzI8Th2ChkqzyRcbUNP
0Y3tJtRBbsqn4kCe8J56t1zPGXu7c0xsJM2RiAW5qQKBgQDzqPHlHh1SSEaAowiU
sa9TkMFZ71hBIsFZenoXAiMNY4kPaGh4bLX+wBHfEsxu2xx0qK8FhcJJXTEhXsDZ
drwL+XJbo3dO16064yC/ufUJV2knot6Wt4pL5EaIcHgKLaVIU5BgayWYc9fyX2pE
YSOu7/ccCFC6AB1G7Apot8gz7wKBgQC6Uc2eO58FUVl4m0drj7Oz+NheycibDmLm
4aCmce6AhcoIt1qbkq+sLbMRYfFKtL6x1N7NhMU8kx4g/3qfM1nzcTSQmCf9ku40
0oFnmjjTEmSiPIdUxzI4D96CoNRhgWLHolRrH9NduiaARPVy7PfJhDznnEV9ua5h
U0MUmZJxtQKBgHWLiyZ84KhRNbHY9MrG7U3jB2PbkzfZDG2eKEfxP/e1jOlh9QQj
baj3/6cd6oGQMqoUtlpzrMa3rnvquh4uqYkdTY3nzia65VcDO0lC7HMVOCVm7PrI
kG8MMPqhR0ehvZqmtX/OMNTbDdJfNWTHd+9s1EkxucABTh5owJzEDFEBAoGBAKaj
PxlEDad96F1701aaAYj3CN1N70LujPod1cbHox4DinxdMIZvnPqLLNphFKNSIDOA
RXzeQGE62vl8RTlZfhvCpdakny+lV7Kaiu4T+rqcerC3Hfpu5bVKTCHcodZLGAOg
ZYwhvLLZKFIUWsncsoji4m3rUCNwDEwzYY1tBJL5AoGBAMBArZaRUCwW2WkkvJvb
csp/DU7PhmPPqqKxhX/qzp1YB0clxYXxQCEr/WEYfCWEc9aEvOQzZb9UXjYlMZyM
ptAraaJKOSkq9YEqIYSmZfNGtwNhlJ6VnRgK3fn2xmhUsm2p5cvh+r64nqhIEAr7
gW8JuNj7N5ZS5o9Fe6uzW0X0
-----END PRIVATE KEY-----";
/// The public half of [`TEST_PRIVATE_KEY`].
pub const TEST_PUBLIC_KEY: &str = r"-----BEGIN PUBLIC KEY-----
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAsVab6eYY5FNiqW6PhEgI
VWsw1z3r/YkwWGM1z/155KwlolyI0xuR+cd+L1fsNUKSyjm9x3FtbACYRBUrd65Q
usprzYV602Mf1PTlMhBFv1LJmHziOMwZ/i6xLfnf5MO2/g4C2jGSdDOk/PVl4yJb
pD88TgdKAGkt63mingHIHoYGOHQZm5C0rQWubEJcjJdVEV9Ad06wnqrd63z6kjoj
84UDTmBGj4pG1c7FN69xrtaxwtO15hiFQTOZYGxmOTlTAXuCJ5gB5WXd4oMmF7/w
9RriKSpXeiz0pBxda7DV88y04eLsqfjP7iIU1JRtnwCg84CNXHqzMygBw6gMxMc2
+wIDAQAB
-----END PUBLIC KEY-----";

pub const CLIENT_EMAIL: &str = "coalmine-canary@test-project.iam.gserviceaccount.com";
pub const KEY_ID: &str = "0123456789abcdef0123456789abcdef01234567";
pub const PROJECT: &str = "test-project";

#[derive(Debug, Clone, Default)]
pub struct DoubleOptions {
    /// The series each filter (exact text) answers.
    pub answers: HashMap<String, Vec<Value>>,
    /// Series per page (0: all on one page).
    pub page_size: usize,
    /// The first timeSeries.list requests are answered with these statuses.
    pub failures: Vec<u16>,
}

pub struct GoogleDouble {
    pub url: String,
    state: Arc<DoubleState>,
}

struct DoubleState {
    options: DoubleOptions,
    token_uri: String,
    failures: Mutex<Vec<u16>>,
    issued: Mutex<Vec<String>>,
    requests: Mutex<Vec<Recorded>>,
}

impl GoogleDouble {
    pub async fn start(options: DoubleOptions) -> GoogleDouble {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let mut failures = options.failures.clone();
        failures.reverse();
        let state = Arc::new(DoubleState {
            options,
            token_uri: format!("{url}/token"),
            failures: Mutex::new(failures),
            issued: Mutex::new(Vec::new()),
            requests: Mutex::new(Vec::new()),
        });
        let app = axum::Router::new()
            .route("/token", axum::routing::post(token))
            .route(
                "/v3/projects/{project}/timeSeries",
                axum::routing::get(list),
            )
            .with_state(state.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        GoogleDouble { url, state }
    }

    /// The token endpoint, as a key file names it.
    pub fn token_uri(&self) -> String {
        self.state.token_uri.clone()
    }

    /// How many access tokens were issued.
    pub fn tokens_issued(&self) -> usize {
        self.state.issued.lock().unwrap().len()
    }

    /// The timeSeries.list requests.
    pub fn requests(&self) -> Vec<Recorded> {
        self.state.requests.lock().unwrap().clone()
    }

    /// Writes a service-account JSON key for the test key into `dir`, with `token_uri`; its path.
    pub fn key_file(&self, dir: &Path) -> PathBuf {
        key_file(dir, &self.token_uri(), TEST_PRIVATE_KEY)
    }
}

/// A service-account JSON key file as Google writes it, with `private_key` and `token_uri`; its path.
pub fn key_file(dir: &Path, token_uri: &str, private_key: &str) -> PathBuf {
    let path = dir.join("service-account.json");
    let key = json!({
        "type": "service_account",
        "project_id": PROJECT,
        "private_key_id": KEY_ID,
        "private_key": format!("{private_key}\n"),
        "client_email": CLIENT_EMAIL,
        "client_id": "100000000000000000001",
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": token_uri,
        "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
        "client_x509_cert_url": "https://www.googleapis.com/robot/v1/metadata/x509/coalmine-canary%40test-project.iam.gserviceaccount.com",
        "universe_domain": "googleapis.com"
    });
    std::fs::write(&path, serde_json::to_string_pretty(&key).unwrap()).unwrap();
    path
}

/// A series as Monitoring writes it: `values` from `start` (epoch seconds), `step` seconds apart, listed
/// newest first; `INT64` values as JSON strings.
pub fn series(
    resource_labels: &[(&str, &str)],
    metric_labels: &[(&str, &str)],
    value_type: &str,
    (start, step): (i64, i64),
    values: &[f64],
) -> Value {
    let time = |seconds: i64| jiff::Timestamp::from_second(seconds).unwrap().to_string();
    let labels = |pairs: &[(&str, &str)]| -> Value {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), json!(v)))
            .collect::<serde_json::Map<_, _>>()
            .into()
    };
    let mut points: Vec<Value> = values
        .iter()
        .enumerate()
        .map(|(index, value)| {
            let at = start + step * index as i64;
            let value = match value_type {
                "INT64" => json!({"int64Value": format!("{}", *value as i64)}),
                _ => json!({"doubleValue": value}),
            };
            json!({"interval": {"startTime": time(at), "endTime": time(at + step)}, "value": value})
        })
        .collect();
    points.reverse();
    json!({
        "metric": {"type": "custom.googleapis.com/test", "labels": labels(metric_labels)},
        "resource": {"type": "k8s_container", "labels": labels(resource_labels)},
        "metricKind": "GAUGE",
        "valueType": value_type,
        "points": points,
    })
}

fn google_error(status: StatusCode, reason: &str, message: &str) -> Response {
    json_response(
        status,
        json!({"error": {"code": status.as_u16(), "message": message, "status": reason}})
            .to_string(),
    )
}

#[derive(serde::Deserialize)]
struct Claims {
    iss: String,
    scope: String,
}

async fn token(
    State(state): State<Arc<DoubleState>>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let refuse = |description: &str| {
        json_response(
            StatusCode::BAD_REQUEST,
            json!({"error": "invalid_grant", "error_description": description}).to_string(),
        )
    };
    if form.get("grant_type").map(String::as_str)
        != Some("urn:ietf:params:oauth:grant-type:jwt-bearer")
    {
        return json_response(
            StatusCode::BAD_REQUEST,
            r#"{"error": "unsupported_grant_type", "error_description": "Invalid grant_type"}"#,
        );
    }
    let Some(assertion) = form.get("assertion") else {
        return refuse("Missing assertion");
    };
    let key = jsonwebtoken::DecodingKey::from_rsa_pem(TEST_PUBLIC_KEY.as_bytes()).unwrap();
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.set_audience(&[state.token_uri.as_str()]);
    validation.set_required_spec_claims(&["exp", "iat", "aud", "iss"]);
    let decoded = match jsonwebtoken::decode::<Claims>(assertion, &key, &validation) {
        Ok(decoded) => decoded,
        Err(error) => return refuse(&format!("Invalid JWT: {error}")),
    };
    if decoded.header.kid.as_deref() != Some(KEY_ID) || decoded.claims.iss != CLIENT_EMAIL {
        return refuse("Invalid JWT Signature.");
    }
    if !decoded
        .claims
        .scope
        .split(' ')
        .any(|scope| scope == "https://www.googleapis.com/auth/monitoring.read")
    {
        return refuse("the assertion does not ask for monitoring.read");
    }
    let mut issued = state.issued.lock().unwrap();
    let token = format!("ya29.test-access-token-{}", issued.len() + 1);
    issued.push(token.clone());
    json_response(
        StatusCode::OK,
        json!({"access_token": token, "expires_in": 3599, "token_type": "Bearer"}).to_string(),
    )
}

async fn list(
    State(state): State<Arc<DoubleState>>,
    UrlPath(project): UrlPath<String>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let recorded = Recorded::new(&uri, &headers);
    state.requests.lock().unwrap().push(recorded.clone());
    let bearer = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_string);
    if !bearer.is_some_and(|token| state.issued.lock().unwrap().contains(&token)) {
        return google_error(
            StatusCode::UNAUTHORIZED,
            "UNAUTHENTICATED",
            "Request had invalid authentication credentials.",
        );
    }
    if project != PROJECT {
        return google_error(
            StatusCode::FORBIDDEN,
            "PERMISSION_DENIED",
            "Permission monitoring.timeSeries.list denied",
        );
    }
    if let Some(status) = state.failures.lock().unwrap().pop() {
        return google_error(
            StatusCode::from_u16(status).unwrap(),
            "UNAVAILABLE",
            "The service is currently unavailable.",
        );
    }
    let param = |name: &str| recorded.param(name);
    let time = |name: &str| param(name).and_then(|t| t.parse::<jiff::Timestamp>().ok());
    let period = param("aggregation.alignmentPeriod")
        .and_then(|p| p.strip_suffix('s').map(str::to_string))
        .and_then(|p| p.parse::<u64>().ok());
    let (Some(filter), Some(_), Some(_), Some(_), Some(_), Some(_)) = (
        param("filter"),
        time("interval.startTime"),
        time("interval.endTime"),
        period,
        param("aggregation.perSeriesAligner"),
        param("aggregation.crossSeriesReducer"),
    ) else {
        return google_error(
            StatusCode::BAD_REQUEST,
            "INVALID_ARGUMENT",
            "filter, interval (RFC 3339), alignmentPeriod (<n>s), perSeriesAligner and crossSeriesReducer are required",
        );
    };
    let Some(series) = state.options.answers.get(&filter) else {
        return google_error(
            StatusCode::BAD_REQUEST,
            "INVALID_ARGUMENT",
            &format!(
                "Field filter had an invalid value of \"{filter}\": the double was not given this filter"
            ),
        );
    };
    let size = match state.options.page_size {
        0 => series.len().max(1),
        size => size,
    };
    let page: usize = param("pageToken")
        .and_then(|t| t.strip_prefix("page-").map(str::to_string))
        .and_then(|t| t.parse().ok())
        .unwrap_or(0);
    let chunk: Vec<Value> = series
        .iter()
        .skip(page * size)
        .take(size)
        .cloned()
        .collect();
    let mut answer = json!({"unit": "1"});
    if !chunk.is_empty() {
        answer["timeSeries"] = json!(chunk);
    }
    if (page + 1) * size < series.len() {
        answer["nextPageToken"] = json!(format!("page-{}", page + 1));
    }
    json_response(StatusCode::OK, answer.to_string())
}
