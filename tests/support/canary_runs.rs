//! Driving a canary through a running server's two faces, for the metric-store end-to-end tests: coalmine's
//! `POST /v1/analyses` (a retrospective analysis, judged at once) and Kayenta's ad hoc `POST /canary` (polled
//! until complete), both over the same one-hour window at a 60 s step.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// The window every end-to-end test uses: 2024-01-01T00:00:00Z plus an hour.
pub const START: &str = "2024-01-01T00:00:00Z";
pub const END: &str = "2024-01-01T01:00:00Z";
pub const START_SECONDS: i64 = 1_704_067_200;

/// One side of a canary: scope, location and extended scope params.
#[derive(Debug, Clone, Default)]
pub struct Side {
    pub scope: String,
    pub location: String,
    pub params: Vec<(String, String)>,
}

impl Side {
    pub fn new(scope: &str, location: &str) -> Side {
        Side {
            scope: scope.to_string(),
            location: location.to_string(),
            params: Vec::new(),
        }
    }
}

fn params(side: &Side) -> Value {
    side.params
        .iter()
        .map(|(k, v)| (k.clone(), json!(v)))
        .collect::<serde_json::Map<String, Value>>()
        .into()
}

async fn post(url: &str, body: &Value) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(url)
        .json(body)
        .send()
        .await
        .expect("the server answers");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// `POST /v1/analyses` with `config` on `account`; the answer (status 200 asserted).
pub async fn analysis(
    server: &str,
    config: &Value,
    account: &str,
    control: &Side,
    experiment: &Side,
) -> Value {
    let side = |side: &Side| json!({"scope": side.scope, "location": side.location, "params": params(side)});
    let body = json!({
        "config": config,
        "account": account,
        "control": side(control),
        "experiment": side(experiment),
        "start": START,
        "end": END,
        "step": "60s",
        "thresholds": {"pass": 75, "marginal": 50}
    });
    let (status, answer) = post(&format!("{server}/v1/analyses"), &body).await;
    assert_eq!(status, 200, "{answer:#}");
    answer
}

/// Kayenta's ad hoc `POST /canary?metricsAccountName=<account>`, polled until complete; the run.
pub async fn kayenta_canary(
    server: &str,
    config: &Value,
    account: &str,
    control: &Side,
    experiment: &Side,
) -> Value {
    let scope = |side: &Side| {
        json!({"scope": side.scope, "location": side.location, "start": START, "end": END,
               "step": 60, "extendedScopeParams": params(side)})
    };
    let body = json!({
        "canaryConfig": config,
        "executionRequest": {
            "scopes": {"default": {"controlScope": scope(control), "experimentScope": scope(experiment)}},
            "thresholds": {"pass": 75.0, "marginal": 50.0}
        }
    });
    let (status, started) = post(
        &format!("{server}/canary?metricsAccountName={account}"),
        &body,
    )
    .await;
    assert_eq!(status, 200, "{started}");
    let id = started["canaryExecutionId"].as_str().unwrap().to_string();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let response = reqwest::get(format!("{server}/canary/{id}")).await.unwrap();
        let run: Value = response.json().await.unwrap();
        if run["complete"] == true {
            return run;
        }
        assert!(Instant::now() < deadline, "{run:#}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A minute-by-minute series of `n` values around `base`, with a fixed, repeatable spread of ±5% (the same
/// for every call, so that two sides given the same base are identical).
pub fn noisy(base: f64, n: usize) -> Vec<f64> {
    (0..n)
        .map(|i| base * (1.0 + 0.01 * (((i * 37) % 11) as f64 - 5.0)))
        .collect()
}
