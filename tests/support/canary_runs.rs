//! Driving a canary through a running server's two faces, for the metric-store end-to-end tests: coalmine's
//! `POST /v1/analyses` (a retrospective analysis, judged at once) and Kayenta's ad hoc `POST /canary` (polled
//! until complete), and through `coalmine analyze --settings FILE --account NAME`, all over the same window at a
//! 60 s step: the hour from [`START`] to [`END`] (the doubles' data), or a store's own ([`Window`]).

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// The window every end-to-end test uses: 2024-01-01T00:00:00Z plus an hour.
pub const START: &str = "2024-01-01T00:00:00Z";
pub const END: &str = "2024-01-01T01:00:00Z";
pub const START_SECONDS: i64 = 1_704_067_200;

/// The window of a canary run, as RFC 3339 instants.
#[derive(Debug, Clone)]
pub struct Window {
    pub start: String,
    pub end: String,
}

impl Window {
    /// From [`START`] to [`END`].
    pub fn hour() -> Window {
        Window {
            start: START.to_string(),
            end: END.to_string(),
        }
    }
}

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
    analysis_in(
        &Window::hour(),
        server,
        config,
        account,
        control,
        experiment,
    )
    .await
}

/// [`analysis`] over `window`.
pub async fn analysis_in(
    window: &Window,
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
        "start": window.start,
        "end": window.end,
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
    kayenta_canary_in(
        &Window::hour(),
        server,
        config,
        account,
        control,
        experiment,
    )
    .await
}

/// [`kayenta_canary`] over `window`.
pub async fn kayenta_canary_in(
    window: &Window,
    server: &str,
    config: &Value,
    account: &str,
    control: &Side,
    experiment: &Side,
) -> Value {
    let scope = |side: &Side| {
        json!({"scope": side.scope, "location": side.location, "start": window.start, "end": window.end,
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

/// `coalmine analyze --settings <settings> --account <account> --config <config> --output json` over the
/// window, with `env` set; the answer, after checking that the exit code is its classification's (0 for Pass,
/// 3 for Marginal, 4 for Fail). The extended scope params are given once (`--param`), so both sides must
/// have the same.
pub async fn analyze(
    settings: &Path,
    account: &str,
    config: &Path,
    control: &Side,
    experiment: &Side,
    env: &[(&str, &str)],
) -> Value {
    let window = Window::hour();
    analyze_in(&window, settings, account, config, control, experiment, env).await
}

/// [`analyze`] over `window`.
pub async fn analyze_in(
    window: &Window,
    settings: &Path,
    account: &str,
    config: &Path,
    control: &Side,
    experiment: &Side,
    env: &[(&str, &str)],
) -> Value {
    assert_eq!(
        control.params, experiment.params,
        "--param is for both sides"
    );
    let mut args: Vec<String> = [
        "analyze",
        "--settings",
        settings.to_str().unwrap(),
        "--account",
        account,
        "--config",
        config.to_str().unwrap(),
        "--control-scope",
        &control.scope,
        "--control-location",
        &control.location,
        "--experiment-scope",
        &experiment.scope,
        "--experiment-location",
        &experiment.location,
        "--start",
        &window.start,
        "--end",
        &window.end,
        "--step",
        "60",
        "--output",
        "json",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    for (key, value) in &control.params {
        args.extend(["--param".to_string(), format!("{key}={value}")]);
    }
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(name, value)| (name.to_string(), value.to_string()))
        .collect();
    let output = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_coalmine"))
            .args(&args)
            .envs(env)
            .env(
                "COALMINE_CACHE_DIR",
                std::env::temp_dir().join("coalmine-test-cache"),
            )
            .env_remove("COALMINE_JUDGES_DIR")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let answer: Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|_| panic!("{stdout}\n{}", String::from_utf8_lossy(&output.stderr)));
    let exit = match answer["judgeResult"]["score"]["classification"].as_str() {
        Some("Pass") => 0,
        Some("Marginal") => 3,
        _ => 4,
    };
    assert_eq!(output.status.code(), Some(exit), "{answer:#}");
    answer
}

/// A minute-by-minute series of `n` values around `base`, with a fixed, repeatable spread of ±5% (the same
/// for every call, so that two sides given the same base are identical).
pub fn noisy(base: f64, n: usize) -> Vec<f64> {
    (0..n)
        .map(|i| base * (1.0 + 0.01 * (((i * 37) % 11) as f64 - 5.0)))
        .collect()
}
