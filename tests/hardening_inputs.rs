//! Requests built to knock a shared server over, sent over real HTTP to a real `coalmine serve`: template
//! expansion that multiplies, durations and times past what the server represents, pagination that would
//! wrap, configs over the metrics limit, group weights over 100, giant strings and deep nesting. Each must
//! get a 4xx `{"message"}` naming the field or variable at fault, and the server must go on answering
//! `/health` after it. The same template bomb given to `coalmine analyze` exits 1 naming the variable.
//!
//! None of these requests reaches a metrics store (they are refused first), so the server's Prometheus
//! account points at a closed port.

mod common;

use std::collections::BTreeMap;
use std::process::Command;

use common::clients::{get, post, send};
use common::server::Server;
use serde_json::{Value, json};

/// A port nothing listens on: every request here must be refused before a query is sent.
const NO_PROMETHEUS: &str = "http://127.0.0.1:9";

fn start(dir: &std::path::Path) -> Server {
    Server::start(dir, &["--prometheus-url", NO_PROMETHEUS])
}

/// A canary config of one metric whose query is `template`.
fn config(name: &str, template: &str) -> Value {
    json!({
        "name": name,
        "applications": ["checkout"],
        "metrics": [{
            "name": "latency",
            "query": {"type": "prometheus", "customInlineTemplate": template},
            "groups": ["latency"],
            "analysisConfigurations": {"canary": {"direction": "increase"}},
        }],
        "classifier": {"groupWeights": {"latency": 100}},
    })
}

/// `p0 = ${p1}${p1}`, `p1 = ${p2}${p2}`, …, `p40 = x`: 2^40 characters if expanded.
fn doubling_params() -> BTreeMap<String, String> {
    let mut params: BTreeMap<String, String> = (0..40)
        .map(|i| (format!("p{i}"), format!("${{p{0}}}${{p{0}}}", i + 1)))
        .collect();
    params.insert("p40".into(), "x".into());
    params
}

/// `q0 = ${q1}×4`, …, `q12 = x`: 4^12 characters, within the nesting bound.
fn quadrupling_params() -> BTreeMap<String, String> {
    let mut params: BTreeMap<String, String> = (0..12)
        .map(|i| (format!("q{i}"), format!("${{q{}}}", i + 1).repeat(4)))
        .collect();
    params.insert("q12".into(), "x".into());
    params
}

/// Asserts a 4xx whose message contains every one of `named`, then that the server still answers /health.
async fn refused(server: &Server, (status, body): (u16, Value), named: &[&str]) -> String {
    assert!((400..500).contains(&status), "{status}: {body}");
    let message = body["message"]
        .as_str()
        .unwrap_or_else(|| panic!("no message: {body}"))
        .to_string();
    for name in named {
        assert!(message.contains(name), "{name:?} not in {message:?}");
    }
    assert!(
        message.len() < 4096,
        "a bounded message: {} bytes",
        message.len()
    );
    let (health, _) = get(&format!("{}/health", server.url)).await;
    assert_eq!(health, 200, "the server answers /health after: {message}");
    message
}

fn thresholds() -> Value {
    json!({"pass": 75, "marginal": 50})
}

#[tokio::test]
async fn template_expansion_that_multiplies_is_refused_naming_the_variable() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let url = |path: &str| format!("{}{path}", server.url);
    let template = "PromQL:sum(up{app=\"${p0}\"})";

    // Native: the params of a side.
    let side = |params: &BTreeMap<String, String>| json!({"scope": "a", "params": params});
    let native = |params: BTreeMap<String, String>| {
        json!({
            "config": config("bomb", &template.replace("p0", params.keys().next().unwrap())),
            "control": side(&params), "experiment": side(&params),
            "start": "2026-01-01T10:00:00Z", "end": "2026-01-01T10:30:00Z",
            "thresholds": thresholds(),
        })
    };
    let answer = post(&url("/v1/analyses"), &native(doubling_params())).await;
    refused(
        &server,
        answer,
        &["metric 'latency'", "${p0}", "nested more than 16 deep"],
    )
    .await;
    let answer = post(&url("/v1/analyses"), &native(quadrupling_params())).await;
    refused(&server, answer, &["${q0}", "longer than 65536 bytes"]).await;

    // Kayenta's standalone analysis (expanded in the handler) and /canary, ad hoc, with
    // extendedScopeParams.
    let scope = json!({
        "controlScope": "a", "experimentScope": "b",
        "startTimeIso": "2026-01-01T10:00:00Z", "endTimeIso": "2026-01-01T10:30:00Z",
        "extendedScopeParams": doubling_params(),
    });
    let answer = post(
        &url("/standalone_canary_analysis"),
        &json!({"canaryConfig": config("bomb", template), "executionRequest": {
            "scopes": [scope], "thresholds": thresholds(),
        }}),
    )
    .await;
    refused(&server, answer, &["${p0}", "nested more than 16 deep"]).await;
    let canary_scope = json!({
        "scope": "a", "start": "2026-01-01T10:00:00Z", "end": "2026-01-01T10:30:00Z",
        "extendedScopeParams": doubling_params(),
    });
    let answer = post(
        &url("/canary"),
        &json!({"canaryConfig": config("bomb", template), "executionRequest": {
            "scopes": {"default": {"controlScope": canary_scope, "experimentScope": canary_scope}},
            "thresholds": thresholds(),
        }}),
    )
    .await;
    refused(&server, answer, &["${p0}", "nested more than 16 deep"]).await;

    // A bomb in the config's own templates, stored and then run.
    let mut stored = config("stored-bomb", "");
    stored["metrics"][0]["query"] = json!({"type": "prometheus", "customFilterTemplate": "t"});
    stored["templates"] = json!({"t": "PromQL:sum(up{app=\"${p0}\"})"});
    let (status, body) = post(&url("/canaryConfig"), &stored).await;
    assert_eq!(status, 200, "{body}");
    let id = body["canaryConfigId"].as_str().unwrap().to_string();
    let answer = post(
        &url(&format!("/standalone_canary_analysis/{id}")),
        &json!({"scopes": [scope], "thresholds": thresholds(), "lifetimeDurationMins": 30}),
    )
    .await;
    refused(&server, answer, &["${p0}"]).await;
}

#[tokio::test]
async fn durations_and_times_past_the_bounds_are_refused_naming_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let url = |path: &str| format!("{}{path}", server.url);
    let base = || {
        json!({
            "config": config("durations", "PromQL:sum(up{app=\"${scope}\"})"),
            "control": {"scope": "a"}, "experiment": {"scope": "b"},
            "thresholds": thresholds(),
        })
    };
    let with = |fields: Value| {
        let mut body = base();
        for (key, value) in fields.as_object().unwrap() {
            body[key] = value.clone();
        }
        body
    };
    // Each is accepted by the parser; the bound or the representable times refuse it.
    let cases = [
        (json!({"lookback": "100000000h"}), "lookback"),
        (json!({"lookback": "2000000000h"}), "lookback"),
        (json!({"lifetime": "100000000h"}), "lifetime"),
        (json!({"lifetime": "1000000000h"}), "lifetime"),
        (json!({"lifetime": "1h", "warmup": "1000000000h"}), "warmup"),
        (json!({"lifetime": "1h", "warmup": "800h"}), "warmup"),
        (
            json!({"lifetime": "1h", "lookback": "100000000h"}),
            "lookback",
        ),
        (
            json!({"lifetime": "1h", "interval": "2000000000h"}),
            "interval",
        ),
        (
            json!({"lookback": "10m", "controlOffset": "2000000000h"}),
            "controlOffset",
        ),
        (json!({"lookback": "10m", "step": "2000000000h"}), "step"),
        (json!({"lifetime": "744h", "interval": "1h"}), "lifetime"),
        (
            json!({"start": "-009000-01-01T00:00:00Z", "end": "2026-01-01T00:00:00Z"}),
            "end - start",
        ),
        (json!({"lookback": "696h", "step": "1s"}), "step"),
    ];
    for (fields, field) in cases {
        let answer = post(&url("/v1/analyses"), &with(fields.clone())).await;
        let message = refused(&server, answer, &[field]).await;
        assert!(
            ["longer than", "reaches", "more than"]
                .iter()
                .any(|why| message.contains(why)),
            "{fields}: refused for its size: {message}"
        );
    }
    let (status, listed) = get(&url("/v1/analyses")).await;
    assert_eq!(
        (status, listed),
        (200, json!([])),
        "nothing refused was stored"
    );

    // Kayenta's standalone analysis: its minute fields.
    let scope = || json!({"controlScope": "a", "experimentScope": "b"});
    let standalone = |fields: Value, scope: Value| {
        let mut request =
            json!({"scopes": [scope], "thresholds": thresholds(), "lifetimeDurationMins": 30});
        for (key, value) in fields.as_object().unwrap() {
            request[key] = value.clone();
        }
        json!({"canaryConfig": config("minutes", "PromQL:sum(up{app=\"${scope}\"})"), "executionRequest": request})
    };
    for minutes in [i64::MAX, 60_000_000_000i64, 1_000_000] {
        for field in [
            "lifetimeDurationMins",
            "lookbackMins",
            "beginAfterMins",
            "analysisIntervalMins",
        ] {
            let answer = post(
                &url("/standalone_canary_analysis"),
                &standalone(json!({field: minutes}), scope()),
            )
            .await;
            refused(&server, answer, &[field]).await;
        }
        let mut offset = scope();
        offset["controlOffsetInMinutes"] = json!(minutes);
        let answer = post(
            &url("/standalone_canary_analysis"),
            &standalone(json!({}), offset),
        )
        .await;
        refused(&server, answer, &["controlOffsetInMinutes"]).await;
    }
}

#[tokio::test]
async fn pagination_past_its_bounds_is_refused_rather_than_wrapped() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let url = |path: &str| format!("{}{path}", server.url);
    for (query, field) in [
        ("limit=16&page=1152921504606846977", "page"),
        ("limit=16&page=18446744073709551615", "page"),
        ("limit=16&page=18446744073709551616", "page"),
        ("limit=100000&page=2", "limit"),
        ("limit=0", "limit"),
    ] {
        let answer = get(&url(&format!("/canary/executions?{query}"))).await;
        refused(&server, answer, &[field]).await;
    }
    let (status, page) = get(&url("/canary/executions?limit=16&page=10000")).await;
    assert_eq!((status, page), (200, json!([])));
}

#[tokio::test]
async fn max_metrics_holds_for_stored_configs_analyses_and_kayenta_runs() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let url = |path: &str| format!("{}{path}", server.url);
    let mut big = config("big", "PromQL:sum(up{app=\"${scope}\"})");
    let metric = big["metrics"][0].clone();
    big["metrics"] = Value::Array(
        (0..501)
            .map(|i| {
                let mut metric = metric.clone();
                metric["name"] = json!(format!("m{i}"));
                metric
            })
            .collect(),
    );
    let limit = ["501 metrics", "at most 500"];
    let answer = post(&url("/v1/configs"), &big).await;
    refused(&server, answer, &limit).await;
    let answer = post(&url("/canaryConfig"), &big).await;
    refused(&server, answer, &limit).await;
    let (status, stored) = post(&url("/canaryConfig"), &config("small", "PromQL:up")).await;
    assert_eq!(status, 200, "{stored}");
    let id = stored["canaryConfigId"].as_str().unwrap();
    let answer = send(
        reqwest::Client::new()
            .put(url(&format!("/canaryConfig/{id}")))
            .json(&{
                let mut replaced = big.clone();
                replaced["name"] = json!("small");
                replaced
            }),
    )
    .await;
    refused(&server, answer, &limit).await;
    let answer = send(reqwest::Client::new().put(url("/v1/configs/small")).json(&{
        let mut replaced = big.clone();
        replaced["name"] = json!("small");
        replaced
    }))
    .await;
    refused(&server, answer, &limit).await;

    let analysis = json!({
        "config": big, "control": {"scope": "a"}, "experiment": {"scope": "b"},
        "start": "2026-01-01T10:00:00Z", "end": "2026-01-01T10:30:00Z", "thresholds": thresholds(),
    });
    let answer = post(&url("/v1/analyses"), &analysis).await;
    refused(&server, answer, &limit).await;
    let side =
        json!({"scope": "a", "start": "2026-01-01T10:00:00Z", "end": "2026-01-01T10:30:00Z"});
    let answer = post(
        &url("/canary"),
        &json!({"canaryConfig": big, "executionRequest": {
            "scopes": {"default": {"controlScope": side, "experimentScope": side}},
            "thresholds": thresholds(),
        }}),
    )
    .await;
    refused(&server, answer, &limit).await;
    let answer = post(
        &url("/standalone_canary_analysis"),
        &json!({"canaryConfig": big, "executionRequest": {
            "scopes": [{"controlScope": "a", "experimentScope": "b"}],
            "thresholds": thresholds(), "lifetimeDurationMins": 30,
        }}),
    )
    .await;
    refused(&server, answer, &limit).await;
}

#[tokio::test]
async fn group_weights_must_be_usable_when_a_config_is_stored() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let url = |path: &str| format!("{}{path}", server.url);
    let weighted = |weights: Value| {
        let mut config = config("weights", "PromQL:up");
        config["metrics"][0]["groups"] = json!(["a"]);
        config["classifier"]["groupWeights"] = weights;
        config
    };
    for (weights, named) in [
        (json!({"a": 80, "b": 30}), "classifier.groupWeights.a"),
        (json!({"a": 1e300, "b": 1e300}), "classifier.groupWeights"),
        (json!({"a": -5}), "classifier.groupWeights.a"),
    ] {
        for path in ["/v1/configs", "/canaryConfig"] {
            let answer = post(&url(path), &weighted(weights.clone())).await;
            refused(&server, answer, &[named]).await;
        }
    }
    // Weights totalling less than 100 leave the rest to groups without one, as Kayenta computes.
    let (status, body) = post(&url("/v1/configs"), &weighted(json!({"a": 60}))).await;
    assert_eq!(status, 201, "{body}");
}

#[tokio::test]
async fn giant_strings_and_deep_nesting_are_refused_naming_where() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let url = |path: &str| format!("{}{path}", server.url);
    let mut named = config("giant", "PromQL:up");
    named["metrics"][0]["name"] = json!("m".repeat(10 << 20));
    let answer = post(&url("/v1/configs"), &named).await;
    refused(&server, answer, &["metrics[0].name", "more than the 65536"]).await;
    let answer = post(&url("/canaryConfig"), &named).await;
    refused(&server, answer, &["metrics[0].name"]).await;
    let query = config("giant", &format!("PromQL:{}", "x".repeat(10 << 20)));
    let answer = post(&url("/v1/configs"), &query).await;
    refused(&server, answer, &["metrics[0].query.customInlineTemplate"]).await;
    let yaml = format!(
        "name: giant\napplications: [checkout]\nmetrics:\n  - name: {}\n    query: {{type: prometheus}}\n",
        "m".repeat(1 << 20)
    );
    let answer = send(
        reqwest::Client::new()
            .post(url("/v1/configs"))
            .header("Content-Type", "application/yaml")
            .body(yaml),
    )
    .await;
    refused(&server, answer, &["metrics[0].name"]).await;

    // Nesting: a parser's recursion limit refuses it, wherever it is.
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let in_config = format!(r#"{{"name": "deep", "applications": ["a"], "extra": {deep}}}"#);
    for (path, body) in [
        ("/v1/configs", &in_config),
        ("/canaryConfig", &in_config),
        ("/canaryConfig", &deep),
        ("/v1/analyses", &deep),
        ("/v1/judge", &deep),
        ("/canary", &deep),
    ] {
        let answer = send(
            reqwest::Client::new()
                .post(url(path))
                .header("Content-Type", "application/json")
                .body(body.clone()),
        )
        .await;
        let message = refused(&server, answer, &[]).await;
        if body == &in_config || path == "/canaryConfig" {
            assert!(
                message.contains("recursion limit exceeded"),
                "{path}: {message}"
            );
        }
    }
}

#[tokio::test]
async fn flagger_lookbacks_past_the_representable_times_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let url = |path: &str| format!("{}{path}", server.url);
    let (status, body) = post(&url("/v1/configs"), &config("flagged", "PromQL:up")).await;
    assert_eq!(status, 201, "{body}");
    for lookback in ["1000000000h", "2562047788015215h"] {
        let answer = post(
            &url("/v1/webhooks/flagger"),
            &json!({"name": "checkout", "namespace": "shop",
                    "metadata": {"config": "flagged", "lookback": lookback}}),
        )
        .await;
        refused(&server, answer, &["lookback"]).await;
    }
}

#[test]
fn the_cli_refuses_a_template_bomb_naming_the_variable() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bomb.json");
    std::fs::write(
        &path,
        config("bomb", "PromQL:sum(up{app=\"${p0}\"})").to_string(),
    )
    .unwrap();
    let mut args: Vec<String> = [
        "analyze",
        "--prometheus-url",
        NO_PROMETHEUS,
        "--control-scope",
        "a",
        "--experiment-scope",
        "b",
        "--lookback",
        "30m",
        "--config",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    args.push(path.display().to_string());
    for (name, value) in doubling_params() {
        args.extend(["--param".to_string(), format!("{name}={value}")]);
    }
    let output = Command::new(env!("CARGO_BIN_EXE_coalmine"))
        .args(&args)
        .env(
            "COALMINE_CACHE_DIR",
            std::env::temp_dir().join("coalmine-test-cache"),
        )
        .env_remove("COALMINE_JUDGES_DIR")
        .output()
        .expect("running coalmine");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("${p0}") && stderr.contains("nested more than 16 deep"),
        "{stderr}"
    );
    assert!(stderr.lines().count() <= 2, "one line: {stderr}");

    // Durations past what the command represents name the flag.
    let output = Command::new(env!("CARGO_BIN_EXE_coalmine"))
        .args(&args[..args.len() - 2 * doubling_params().len()])
        .args(["--lifetime", "1000000000h"])
        .output()
        .expect("running coalmine");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        matches!(output.status.code(), Some(1 | 2)) && stderr.contains("lifetime"),
        "{stderr}"
    );
}

#[tokio::test]
async fn the_bounds_are_the_configuration_files() {
    let dir = tempfile::tempdir().unwrap();
    let settings = dir.path().join("coalmine.toml");
    std::fs::write(
        &settings,
        format!(
            "[[accounts]]\nname = \"prometheus\"\ntype = \"prometheus\"\nurl = \"{NO_PROMETHEUS}\"\n\n\
             [limits]\nmax_lifetime = \"2h\"\nmax_metrics = 1\n"
        ),
    )
    .unwrap();
    let server = Server::start(dir.path(), &["--config", settings.to_str().unwrap()]);
    let url = |path: &str| format!("{}{path}", server.url);
    let body = |lifetime: &str| {
        json!({
            "config": config("bounded", "PromQL:sum(up{app=\"${scope}\"})"),
            "control": {"scope": "a"}, "experiment": {"scope": "b"},
            "lifetime": lifetime, "thresholds": thresholds(),
        })
    };
    let answer = post(&url("/v1/analyses"), &body("121m")).await;
    refused(&server, answer, &["lifetime", "2h this server allows"]).await;
    let (status, accepted) = post(&url("/v1/analyses"), &body("2h")).await;
    assert_eq!(status, 202, "{accepted}");
    let mut two = config("two", "PromQL:up");
    let mut other = two["metrics"][0].clone();
    other["name"] = json!("other");
    two["metrics"].as_array_mut().unwrap().push(other);
    let answer = post(&url("/v1/configs"), &two).await;
    refused(&server, answer, &["2 metrics", "at most 1"]).await;

    // A bound that is not a duration stops the server from starting, naming the key.
    std::fs::write(&settings, "[limits]\nmax_lifetime = \"soon\"\n").unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_coalmine"))
        .args(["serve", "--listen", "127.0.0.1:0", "--config"])
        .arg(&settings)
        .arg("--data-dir")
        .arg(dir.path().join("other"))
        .output()
        .expect("running coalmine");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !output.status.success() && stderr.contains("max_lifetime"),
        "{stderr}"
    );
}
