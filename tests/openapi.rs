//! `GET /v1/openapi.json` over real HTTP: the document lists every native endpoint, and what the server
//! really answers — judgements, configs, analyses, judges, errors — validates against the schemas the
//! document gives for those answers, so the document cannot drift from the code unnoticed.

mod common;
mod support;

use std::path::Path;

use common::server::Server;
use serde_json::{Value, json};
use support::prometheus::{self, BASELINE, CANARY};

fn example(path: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Fetches the document and checks answers against it.
struct Document(Value);

impl Document {
    /// Checks that `body`, answered by `method path` with `status`, validates against the document's schema
    /// for that answer (`path` as the document writes it, e.g. `/v1/analyses/{id}`).
    fn check(&self, method: &str, path: &str, status: u16, body: &Value) {
        let response = &self.0["paths"][path][method]["responses"][status.to_string()];
        assert!(
            response.is_object(),
            "the document has no {status} answer for {method} {path}"
        );
        let schema = &response["content"]["application/json"]["schema"];
        assert!(
            schema.is_object(),
            "the document gives no JSON schema for {method} {path} {status}"
        );
        let root = json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "components": self.0["components"],
            "allOf": [schema],
        });
        let validator = jsonschema::validator_for(&root)
            .unwrap_or_else(|error| panic!("{method} {path} {status}: invalid schema: {error}"));
        let errors: Vec<String> = validator
            .iter_errors(body)
            .map(|error| format!("{} at {}", error, error.instance_path()))
            .collect();
        assert!(
            errors.is_empty(),
            "{method} {path} {status} does not match the document:\n{}\n{body:#}",
            errors.join("\n")
        );
    }
}

async fn call(
    client: &reqwest::Client,
    method: reqwest::Method,
    url: String,
    body: Option<&Value>,
) -> (u16, Value) {
    let mut request = client.request(method, url);
    if let Some(body) = body {
        request = request.json(body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

#[tokio::test]
async fn the_document_describes_what_the_server_answers() {
    let data = tempfile::tempdir().unwrap();
    let prometheus = prometheus::shared();
    let server = Server::start(data.path(), &["--prometheus-url", &prometheus.url]);
    let client = reqwest::Client::new();
    let url = |path: &str| format!("{}{path}", server.url);
    use reqwest::Method;

    let response = client.get(url("/v1/openapi.json")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "application/json",
        "served as JSON"
    );
    let document: Value = response.json().await.unwrap();
    assert_eq!(document["openapi"], "3.1.0");
    assert_eq!(document["info"]["version"], env!("CARGO_PKG_VERSION"));
    let mut paths: Vec<&str> = document["paths"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    paths.sort();
    assert_eq!(
        paths,
        [
            "/v1/analyses",
            "/v1/analyses/{id}",
            "/v1/analyses/{id}/cancel",
            "/v1/configs",
            "/v1/configs/{idOrName}",
            "/v1/judge",
            "/v1/judges",
        ]
    );
    let document = Document(document);

    // Judging, with NaN values in the pairs and statistics of the answer.
    let mut judge_request = example("examples/judge/regressed.json");
    judge_request["metricSetPairList"][0]["values"]["control"][0] = json!("NaN");
    let (status, body) = call(
        &client,
        Method::POST,
        url("/v1/judge"),
        Some(&judge_request),
    )
    .await;
    assert_eq!(status, 200, "{body:#}");
    document.check("post", "/v1/judge", 200, &body);
    document.check(
        "post",
        "/v1/judge",
        200,
        &judge_request_result_with_nan(&body),
    );
    let (status, body) = call(&client, Method::POST, url("/v1/judge"), Some(&json!({}))).await;
    assert_eq!(status, 400);
    document.check("post", "/v1/judge", 400, &body);

    let (status, body) = call(&client, Method::GET, url("/v1/judges"), None).await;
    assert_eq!(status, 200);
    document.check("get", "/v1/judges", 200, &body);

    // Configs.
    let config = example("examples/analyze/checkout-canary.json");
    let (status, body) = call(&client, Method::POST, url("/v1/configs"), Some(&config)).await;
    assert_eq!(status, 201, "{body:#}");
    document.check("post", "/v1/configs", 201, &body);
    let name = config["name"].as_str().unwrap();
    for (method, status) in [(Method::GET, 200), (Method::PUT, 200)] {
        let body = (method == Method::PUT).then_some(&config);
        let (got, answer) = call(
            &client,
            method.clone(),
            url(&format!("/v1/configs/{name}")),
            body,
        )
        .await;
        assert_eq!(got, status, "{answer:#}");
        document.check(
            &method.as_str().to_lowercase(),
            "/v1/configs/{idOrName}",
            status,
            &answer,
        );
    }
    let (status, body) = call(&client, Method::GET, url("/v1/configs"), None).await;
    assert_eq!(status, 200);
    document.check("get", "/v1/configs", 200, &body);
    let (status, body) = call(&client, Method::GET, url("/v1/configs/nope"), None).await;
    assert_eq!(status, 404);
    document.check("get", "/v1/configs/{idOrName}", 404, &body);

    // A retrospective analysis, a real-time one (accepted, then cancelled), and the list.
    let analysis = json!({
        "configId": name,
        "control": {"scope": BASELINE},
        "experiment": {"scope": CANARY},
        "start": prometheus.start_time(),
        "end": prometheus.end_time(),
        "step": "15s",
        "thresholds": {"pass": 75, "marginal": 50}
    });
    let (status, body) = call(&client, Method::POST, url("/v1/analyses"), Some(&analysis)).await;
    assert_eq!(status, 200, "{body:#}");
    assert_eq!(body["classification"], "Fail");
    document.check("post", "/v1/analyses", 200, &body);
    let id = body["id"].as_str().unwrap().to_string();
    let (status, body) = call(
        &client,
        Method::GET,
        url(&format!("/v1/analyses/{id}")),
        None,
    )
    .await;
    assert_eq!(status, 200);
    document.check("get", "/v1/analyses/{id}", 200, &body);

    let mut real_time = analysis.clone();
    real_time["lifetime"] = json!("1h");
    real_time["interval"] = json!("10m");
    real_time.as_object_mut().unwrap().remove("start");
    real_time.as_object_mut().unwrap().remove("end");
    let (status, body) = call(&client, Method::POST, url("/v1/analyses"), Some(&real_time)).await;
    assert_eq!(status, 202, "{body:#}");
    document.check("post", "/v1/analyses", 202, &body);
    let id = body["id"].as_str().unwrap();
    let (status, body) = call(
        &client,
        Method::POST,
        url(&format!("/v1/analyses/{id}/cancel")),
        None,
    )
    .await;
    assert_eq!(status, 200, "{body:#}");
    document.check("post", "/v1/analyses/{id}/cancel", 200, &body);

    let (status, body) = call(&client, Method::GET, url("/v1/analyses"), None).await;
    assert_eq!(status, 200);
    assert_eq!(body.as_array().map(Vec::len), Some(2));
    document.check("get", "/v1/analyses", 200, &body);
    let (status, body) = call(&client, Method::GET, url("/v1/analyses?status=bogus"), None).await;
    assert_eq!(status, 400);
    document.check("get", "/v1/analyses", 400, &body);
    let (status, body) = call(&client, Method::GET, url("/v1/analyses?limit=many"), None).await;
    assert_eq!(status, 400);
    assert!(
        body["message"].as_str().unwrap().contains("limit"),
        "{body}"
    );
    document.check("get", "/v1/analyses", 400, &body);

    // And the check itself notices an answer the document does not describe.
    let wrong = json!([{"name": 1}]);
    let caught = std::panic::catch_unwind(|| document.check("get", "/v1/judges", 200, &wrong));
    assert!(caught.is_err(), "a malformed answer must not validate");
}

/// The judge's answer with NaN statistics, as Kayenta writes them (`"NaN"`), which the schema must allow.
fn judge_request_result_with_nan(result: &Value) -> Value {
    let mut result = result.clone();
    result["results"][0]["controlMetadata"]["stats"]["mean"] = json!("NaN");
    result["groupScores"][0]["score"] = json!("NaN");
    result
}
