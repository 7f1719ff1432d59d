//! `GET /v1/openapi.json` over real HTTP: the document lists every route the router serves (found in the
//! router's source and confirmed against the running server), and what the server really answers —
//! judgements, configs, analyses, judges, errors — validates against the schemas the document gives for
//! those answers, so the document cannot drift from the code unnoticed.

mod common;
mod support;

use std::collections::BTreeSet;
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

/// Every route the router's source declares, as `(method, path)` with each path parameter written `{}`:
/// each `.route("PATH", get(...).post(...))` in `src/server`. Fails on the ways of adding routes this
/// reader does not understand (nested routers, services, `any`, wildcards), so none can slip by it.
fn routes_in_source() -> BTreeSet<(String, String)> {
    let mut routes = BTreeSet::new();
    let mut files = vec![Path::new(env!("CARGO_MANIFEST_DIR")).join("src/server")];
    while let Some(path) = files.pop() {
        if path.is_dir() {
            files.extend(
                std::fs::read_dir(&path)
                    .unwrap()
                    .map(|entry| entry.unwrap().path()),
            );
            continue;
        }
        if path.extension().is_none_or(|extension| extension != "rs") {
            continue;
        }
        let code: String = std::fs::read_to_string(&path)
            .unwrap()
            .lines()
            .filter(|line| !line.trim_start().starts_with("//"))
            .collect::<Vec<_>>()
            .join("\n");
        // A file's unit tests (its `#[cfg(test)]` module, at its end) build routers of their own.
        let code = code.split("#[cfg(test)]").next().unwrap_or_default();
        for unsupported in [
            ".nest(",
            ".nest_service(",
            ".route_service(",
            "MethodRouter::",
        ] {
            assert!(
                !code.contains(unsupported),
                "{}: `{unsupported}` adds routes this test cannot read: extend routes_in_source",
                path.display()
            );
        }
        for (at, _) in code.match_indices(".route(") {
            let rest = code[at + ".route(".len()..].trim_start();
            let rest = rest.strip_prefix('"').unwrap_or_else(|| {
                panic!("{}: a route whose path is not a literal", path.display())
            });
            let (route, rest) = rest.split_once('"').unwrap();
            assert!(
                !route.contains('*'),
                "{}: wildcard route {route}",
                path.display()
            );
            // The method router: everything up to the parenthesis that closes `.route(`.
            let mut depth = 0;
            let end = rest
                .char_indices()
                .find(|&(_, c)| {
                    match c {
                        '(' => depth += 1,
                        ')' if depth == 0 => return true,
                        ')' => depth -= 1,
                        _ => {}
                    }
                    false
                })
                .map(|(end, _)| end)
                .unwrap();
            let methods = &rest[..end];
            let mut found = false;
            for method in [
                "get", "post", "put", "delete", "patch", "head", "options", "trace", "any",
            ] {
                for (at, _) in methods.match_indices(&format!("{method}(")) {
                    let before = methods[..at].chars().next_back();
                    if before.is_none_or(|c| !(c.is_alphanumeric() || c == '_')) {
                        assert_ne!(
                            method,
                            "any",
                            "{}: route {route} takes any method",
                            path.display()
                        );
                        routes.insert((method.to_string(), normalized(route)));
                        found = true;
                    }
                }
            }
            assert!(
                found,
                "{}: route {route} with no method: {methods}",
                path.display()
            );
        }
    }
    routes
}

/// `path` with each parameter written `{}`, so that `/v1/configs/{id}` (the router) and
/// `/v1/configs/{idOrName}` (the document) are the same route.
fn normalized(path: &str) -> String {
    let mut out = String::new();
    let mut in_parameter = false;
    for c in path.chars() {
        match c {
            '{' => {
                in_parameter = true;
                out.push_str("{}");
            }
            '}' => in_parameter = false,
            _ if in_parameter => {}
            c => out.push(c),
        }
    }
    out
}

#[tokio::test]
async fn the_document_lists_every_route_the_router_serves() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), &[]);
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let document: Value = client
        .get(format!("{}/v1/openapi.json", server.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let documented: BTreeSet<(String, String)> = document["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .unwrap()
                .keys()
                .filter(|key| {
                    [
                        "get", "post", "put", "delete", "patch", "head", "options", "trace",
                    ]
                    .contains(&key.as_str())
                })
                .map(move |method| (method.clone(), normalized(path)))
        })
        .collect();

    let routes = routes_in_source();
    // The reader of the source is itself checked: it finds the routes of each kind of API.
    for known in [
        ("get", "/health"),
        ("post", "/v1/analyses"),
        ("delete", "/v1/configs/{}"),
        ("put", "/pipelines/{}/cancel"),
        ("post", "/v1/webhooks/flagger"),
        ("post", "/logout"),
    ] {
        assert!(
            routes.contains(&(known.0.to_string(), known.1.to_string())),
            "the source reader missed {known:?}: {routes:#?}"
        );
    }
    let undocumented: Vec<_> = routes.difference(&documented).collect();
    assert!(
        undocumented.is_empty(),
        "routes the router serves that the document does not list: {undocumented:#?}"
    );
    let phantom: Vec<_> = documented.difference(&routes).collect();
    assert!(
        phantom.is_empty(),
        "operations the document lists that no route declares: {phantom:#?}"
    );

    // And the server really serves each of them: none is answered by the router's fallbacks (404 "no such
    // endpoint", 405), which is also what an unknown route gets.
    let fallback = |status: u16, body: &str| {
        status == 405 || (status == 404 && body.contains("no such endpoint"))
    };
    for (method, path) in &routes {
        let url = format!("{}{}", server.url, path.replace("{}", "x"));
        let method = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        let response = client.request(method.clone(), &url).send().await.unwrap();
        let status = response.status().as_u16();
        let body = response.text().await.unwrap();
        assert!(
            !fallback(status, &body),
            "{method} {path}: the router does not serve it ({status} {body})"
        );
    }
    let response = client
        .get(format!("{}/v1/no-such-route", server.url))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    assert!(
        fallback(status, &response.text().await.unwrap()),
        "the fallback check must recognise an unknown route"
    );
}

/// Polls `url` until its answer says `complete`, and returns that answer.
async fn until_complete(client: &reqwest::Client, url: &str) -> Value {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    loop {
        let (status, body) = call(client, reqwest::Method::GET, url.to_string(), None).await;
        assert_eq!(status, 200, "{body:#}");
        if body["complete"] == true {
            return body;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{url} did not complete: {body:#}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn kayentas_flaggers_and_the_probes_answers_match_the_document() {
    let data = tempfile::tempdir().unwrap();
    let prometheus = prometheus::recent();
    let server = Server::start(data.path(), &["--prometheus-url", &prometheus.url]);
    let client = reqwest::Client::new();
    let url = |path: &str| format!("{}{path}", server.url);
    use reqwest::Method;
    let document = Document(
        client
            .get(url("/v1/openapi.json"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap(),
    );
    let get = |path: &'static str| call(&client, Method::GET, url(path), None);

    // The probes.
    for path in ["/health", "/ready"] {
        let (status, body) = get(path).await;
        assert_eq!(status, 200);
        document.check("get", path, 200, &body);
    }
    let response = client.get(url("/metrics")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_string();
    let documented = document.0["paths"]["/metrics"]["get"]["responses"]["200"]["content"]
        .as_object()
        .unwrap();
    assert!(
        documented.contains_key(&content_type),
        "/metrics is served as {content_type}, documented as {documented:?}"
    );

    // What Kayenta's clients ask about the server.
    for path in ["/credentials", "/metricsServices", "/judges"] {
        let (status, body) = get(path).await;
        assert_eq!(status, 200);
        assert!(!body.as_array().unwrap().is_empty(), "{path}: {body}");
        document.check("get", path, 200, &body);
    }
    let (status, body) = call(
        &client,
        Method::GET,
        url("/metadata/metricsService?filter=checkout"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(!body.as_array().unwrap().is_empty(), "{body}");
    document.check("get", "/metadata/metricsService", 200, &body);
    let (status, body) = call(
        &client,
        Method::GET,
        url("/metadata/metricsService?metricsAccountName=nope"),
        None,
    )
    .await;
    assert_eq!(status, 400, "{body}");
    document.check("get", "/metadata/metricsService", 400, &body);

    // Kayenta's config store.
    let config = example("examples/spinnaker/canary-config.json");
    let (status, body) = call(&client, Method::POST, url("/canaryConfig"), Some(&config)).await;
    assert_eq!(status, 200, "{body}");
    document.check("post", "/canaryConfig", 200, &body);
    let id = body["canaryConfigId"].as_str().unwrap().to_string();
    let config_url = url(&format!("/canaryConfig/{id}"));
    let (status, body) = call(&client, Method::GET, config_url.clone(), None).await;
    assert_eq!(status, 200, "{body}");
    document.check("get", "/canaryConfig/{id}", 200, &body);
    let (status, body) = call(&client, Method::PUT, config_url.clone(), Some(&config)).await;
    assert_eq!(status, 200, "{body}");
    document.check("put", "/canaryConfig/{id}", 200, &body);
    let (status, body) = get("/canaryConfig").await;
    assert_eq!(status, 200, "{body}");
    document.check("get", "/canaryConfig", 200, &body);
    let (status, body) = get("/canaryConfig/nope").await;
    assert_eq!(status, 404, "{body}");
    document.check("get", "/canaryConfig/{id}", 404, &body);

    // A /canary run over the data set's first half hour, polled until complete; then the list.
    let (start, end) = (
        prometheus.start_time(),
        prometheus.start_time() + jiff::SignedDuration::from_mins(30),
    );
    let scope = |name: &str| json!({"scope": name, "location": "us-east-1", "start": start, "end": end, "step": 15});
    let run = json!({
        "scopes": {"default": {"controlScope": scope(BASELINE), "experimentScope": scope(CANARY)}},
        "thresholds": {"pass": 75, "marginal": 50}
    });
    let (status, body) = call(
        &client,
        Method::POST,
        url(&format!("/canary/{id}?application=checkout&user=someone")),
        Some(&run),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    document.check("post", "/canary/{id}", 200, &body);
    let execution = body["canaryExecutionId"].as_str().unwrap().to_string();
    let body = until_complete(&client, &url(&format!("/canary/{execution}"))).await;
    assert_eq!(body["status"], "succeeded", "{body:#}");
    document.check("get", "/canary/{id}", 200, &body);
    let (status, body) = get("/canary/executions?application=checkout").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body.as_array().map(Vec::len), Some(1), "{body}");
    document.check("get", "/canary/executions", 200, &body);
    let (status, body) = call(
        &client,
        Method::POST,
        url("/canary"),
        Some(&json!({"canaryConfig": config, "executionRequest": {"scopes": {}}})),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    document.check("post", "/canary", 400, &body);
    let response = client
        .put(url(&format!("/pipelines/{execution}/cancel")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    assert!(
        document.0["paths"]["/pipelines/{id}/cancel"]["put"]["responses"]["202"].is_object(),
        "202 is documented"
    );

    // A standalone analysis of two intervals, polled until complete.
    let (status, body) = call(
        &client,
        Method::POST,
        url(&format!("/standalone_canary_analysis/{id}")),
        Some(&json!({
            "scopes": [{"controlScope": BASELINE, "experimentScope": CANARY,
                        "controlLocation": "us-east-1", "experimentLocation": "us-east-1",
                        "startTimeIso": start, "endTimeIso": end, "step": 15}],
            "thresholds": {"pass": 75, "marginal": 50},
            "analysisIntervalMins": 15
        })),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    document.check("post", "/standalone_canary_analysis/{id}", 200, &body);
    let analysis = body["canaryAnalysisExecutionId"].as_str().unwrap();
    let body = until_complete(
        &client,
        &url(&format!("/standalone_canary_analysis/{analysis}")),
    )
    .await;
    assert!(
        body["canaryAnalysisExecutionResult"].is_object(),
        "{body:#}"
    );
    document.check("get", "/standalone_canary_analysis/{id}", 200, &body);

    // Flagger's webhook: the canary's regression fails it, with the reason; bad metadata is refused.
    let name = config["name"].as_str().unwrap();
    let hook = |experiment: &str| {
        json!({"name": "checkout", "namespace": "shop", "phase": "Progressing", "checksum": "6d7c5b4f9",
               "metadata": {"config": name, "lookback": "10m", "controlScope": BASELINE,
                            "experimentScope": experiment, "location": "us-east-1"}})
    };
    let flagger = url("/v1/webhooks/flagger");
    let (status, body) = call(&client, Method::POST, flagger.clone(), Some(&hook(CANARY))).await;
    assert_eq!(status, 412, "{body:#}");
    document.check("post", "/v1/webhooks/flagger", 412, &body);
    let (status, body) = call(
        &client,
        Method::POST,
        flagger.clone(),
        Some(&hook(BASELINE)),
    )
    .await;
    assert_eq!(status, 200, "{body:#}");
    document.check("post", "/v1/webhooks/flagger", 200, &body);
    let (status, body) = call(
        &client,
        Method::POST,
        flagger,
        Some(&json!({"name": "checkout", "namespace": "shop", "metadata": {}})),
    )
    .await;
    assert_eq!(status, 400, "{body:#}");
    document.check("post", "/v1/webhooks/flagger", 400, &body);

    // Deleting the config.
    let response = client.delete(config_url).send().await.unwrap();
    assert_eq!(response.status(), 204);
}
