//! `coalmine serve` over real HTTP: the real binary on a loopback port, called as CD tools and curl call it.

mod common;
mod support;

use std::path::Path;
use std::process::Command;

use common::server::Server;

use serde_json::{Value, json};

/// Starts a server on a fresh data directory (kept alive with it).
fn start() -> (Server, tempfile::TempDir) {
    let data = tempfile::tempdir().unwrap();
    (Server::start(data.path(), &[]), data)
}

fn example() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/judge/regressed.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[tokio::test]
async fn health_judge_and_judges_answer_over_http() {
    let (server, _data) = start();
    let client = reqwest::Client::new();
    let health = client
        .get(format!("{}/health", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    assert!(
        health.headers().contains_key("x-request-id"),
        "every answer carries a request id"
    );
    assert_eq!(
        health.json::<Value>().await.unwrap(),
        json!({"status": "UP"})
    );
    assert_eq!(
        client
            .get(format!("{}/ready", server.url))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );

    let judged = client
        .post(format!("{}/v1/judge", server.url))
        .json(&example())
        .send()
        .await
        .unwrap();
    assert_eq!(judged.status(), 200);
    let judged: Value = judged.json().await.unwrap();
    // The same answer as `coalmine judge` gives for the same request.
    let cli = Command::new(env!("CARGO_BIN_EXE_coalmine"))
        .args(["judge", "--input"])
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/judge/regressed.json"))
        .env(
            "COALMINE_CACHE_DIR",
            std::env::temp_dir().join("coalmine-test-cache"),
        )
        .output()
        .unwrap();
    assert_eq!(
        judged,
        serde_json::from_slice::<Value>(&cli.stdout).unwrap()
    );
    assert_eq!(judged["score"]["classification"], "Fail");

    let judges: Value = client
        .get(format!("{}/v1/judges", server.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let judge = judges
        .as_array()
        .and_then(|judges| judges.iter().find(|judge| judge["name"] == "mann-whitney"))
        .expect("the mann-whitney judge is listed");
    assert_eq!(judge["origin"], "built-in");
    assert_eq!(judge["aliases"], json!(["NetflixACAJudge-v1.0"]));
    assert_eq!(judge["sha256"].as_str().unwrap().len(), 64);
}

#[tokio::test]
async fn bad_requests_get_a_4xx_with_a_message() {
    let (server, _data) = start();
    let client = reqwest::Client::new();
    let post = |body: Value| {
        client
            .post(format!("{}/v1/judge", server.url))
            .json(&body)
            .send()
    };
    let message = |response: reqwest::Response| async move {
        let status = response.status().as_u16();
        let body: Value = response.json().await.expect("a JSON error body");
        (
            status,
            body["message"].as_str().expect("a message").to_string(),
        )
    };

    let mut request = example();
    request["metricSetPairList"][0]["values"]["control"][3] = json!(true);
    let (status, text) = message(post(request).await.unwrap()).await;
    assert_eq!(status, 400);
    assert!(
        text.starts_with("metricSetPairList[0].values.control[3]: invalid type: boolean"),
        "{text}"
    );

    let (status, text) = message(post(json!({"canaryConfig": {}})).await.unwrap()).await;
    assert_eq!(status, 400);
    assert!(text.contains("missing field"), "{text}");

    let mut request = example();
    request["canaryConfig"]["judge"]["name"] = json!("t-test");
    let (status, text) = message(post(request).await.unwrap()).await;
    assert_eq!(
        (status, text.contains("no judge named \"t-test\"")),
        (400, true),
        "{text}"
    );

    let mut request = example();
    request["canaryConfig"]["judge"]["judgeConfigurations"] = json!({"tolerance": -1});
    let (status, text) = message(post(request).await.unwrap()).await;
    assert_eq!((status, text.contains("tolerance")), (400, true), "{text}");

    let malformed = client
        .post(format!("{}/v1/judge", server.url))
        .header("content-type", "application/json")
        .body("{\"canaryConfig\": ")
        .send()
        .await
        .unwrap();
    let (status, text) = message(malformed).await;
    assert_eq!((status, text.contains("EOF")), (400, true), "{text}");

    let not_json = client
        .post(format!("{}/v1/judge", server.url))
        .body("hello")
        .send()
        .await
        .unwrap();
    let (status, text) = message(not_json).await;
    assert_eq!(
        (status, text.contains("must be JSON")),
        (400, true),
        "{text}"
    );
    let (status, text) = message(
        client
            .get(format!("{}/nope", server.url))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((status, text.as_str()), (404, "no such endpoint"));
}

#[test]
fn sigterm_stops_the_server_cleanly() {
    let (mut server, _data) = start();
    let _ = Command::new("kill")
        .args(["-TERM", &server.child.id().to_string()])
        .status();
    let status = server.child.wait().unwrap();
    assert!(status.success(), "{status:?}");
}

#[tokio::test]
async fn a_configuration_file_sets_tokens_and_limits() {
    let data = tempfile::tempdir().unwrap();
    let config = data.path().join("coalmine.toml");
    std::fs::write(
        &config,
        "[auth]\ntoken_envs = [\"TEST_COALMINE_TOKEN\"]\n\n[limits]\nmax_metrics = 2\nmax_points = 50\n",
    )
    .unwrap();
    let server = Server::start_with_env(
        data.path(),
        &["--config", config.to_str().unwrap()],
        &[("TEST_COALMINE_TOKEN", "s3cret-token")],
    );
    let client = reqwest::Client::new();
    let url = |path: &str| format!("{}{path}", server.url);

    assert_eq!(
        client.get(url("/health")).send().await.unwrap().status(),
        200,
        "/health stays open"
    );
    let metrics = client.get(url("/metrics")).send().await.unwrap();
    assert_eq!(
        metrics.status(),
        200,
        "/metrics stays open for Prometheus to scrape"
    );
    let text = metrics.text().await.unwrap();
    assert!(text.ends_with("# EOF\n"), "OpenMetrics text: {text}");
    let denied = client.get(url("/v1/judges")).send().await.unwrap();
    assert_eq!(denied.status(), 401);
    let message: Value = denied.json().await.unwrap();
    assert!(
        message["message"]
            .as_str()
            .unwrap()
            .contains("Authorization: Bearer"),
        "{message}"
    );
    let wrong = client
        .get(url("/v1/judges"))
        .bearer_auth("guess")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let allowed = client
        .get(url("/v1/judges"))
        .bearer_auth("s3cret-token")
        .send()
        .await
        .unwrap();
    assert_eq!(allowed.status(), 200);

    // The example has 3 metrics and 60 points per series: over both limits.
    let judged = client
        .post(url("/v1/judge"))
        .bearer_auth("s3cret-token")
        .json(&example())
        .send()
        .await
        .unwrap();
    assert_eq!(judged.status(), 400);
    let message: Value = judged.json().await.unwrap();
    assert_eq!(
        message["message"],
        "the canary config has 3 metrics; this server judges at most 2 per analysis (max_metrics)"
    );
}

#[tokio::test]
async fn every_error_is_json_with_a_message() {
    let (server, _data) = start();
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let url = |path: &str| format!("{}{path}", server.url);
    // (method, path, body content type and body, expected status, text the message must hold)
    type Case<'a> = (&'a str, &'a str, Option<(&'a str, &'a str)>, u16, &'a str);
    let cases: [Case; 12] = [
        (
            "GET",
            "/v1/analyses/%FF",
            None,
            400,
            "the path parameter `id` is not valid UTF-8",
        ),
        (
            "POST",
            "/v1/analyses/%C3%28/cancel",
            None,
            400,
            "`id` is not valid UTF-8",
        ),
        ("GET", "/v1/configs/%FF", None, 400, "UTF-8 in `id`"),
        ("GET", "/canary/%FF", None, 400, "`id` is not valid UTF-8"),
        (
            "GET",
            "/canaryConfig/%FE%FF",
            None,
            400,
            "`id` is not valid UTF-8",
        ),
        (
            "GET",
            "/standalone_canary_analysis/%FF",
            None,
            400,
            "`id` is not valid UTF-8",
        ),
        ("GET", "/analyses/%FF", None, 400, "`id` is not valid UTF-8"),
        (
            "GET",
            "/v1/analyses?limit=%FF",
            None,
            400,
            "the query string",
        ),
        ("DELETE", "/health", None, 405, "does not take that method"),
        ("PUT", "/", None, 405, "does not take that method"),
        (
            "POST",
            "/login",
            Some(("application/json", "{}")),
            415,
            "Content-Type",
        ),
        (
            "POST",
            "/login",
            Some(("application/x-www-form-urlencoded", "next=%2F")),
            422,
            "token",
        ),
    ];
    for (method, path, body, status, text) in cases {
        let mut request = client.request(method.parse().unwrap(), url(path));
        if let Some((content_type, body)) = body {
            request = request
                .header("content-type", content_type)
                .body(body.to_string());
        }
        let response = request.send().await.unwrap();
        let got = response.status().as_u16();
        let content_type = response
            .headers()
            .get("content-type")
            .map(|value| value.to_str().unwrap().to_string());
        let answer = response.text().await.unwrap();
        assert_eq!(got, status, "{method} {path}: {answer}");
        assert_eq!(
            content_type.as_deref(),
            Some("application/json"),
            "{method} {path}: {answer}"
        );
        let answer: Value = serde_json::from_str(&answer).unwrap();
        let message = answer["message"].as_str().expect("a message");
        assert!(message.contains(text), "{method} {path}: {message}");
    }
    // A body over the limit on a form route is a JSON 413 too.
    let huge = "token=".to_string() + &"x".repeat(17 << 20);
    let response = client
        .post(url("/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(huge)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
    let answer: Value = response.json().await.unwrap();
    assert!(answer["message"].is_string(), "{answer}");
}

#[tokio::test]
async fn max_points_from_the_settings_file_holds_for_every_account() {
    let data = support::prometheus::shared();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("coalmine.toml");
    // The data set's hour at 15 s is 241 points a series.
    std::fs::write(
        &config,
        format!(
            "[[accounts]]\nname = \"prom\"\ntype = \"prometheus\"\nurl = \"{}\"\n\n\
             [limits]\nmax_points = 200\n",
            data.url
        ),
    )
    .unwrap();
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/analyze/checkout-canary.json");
    let canary: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let body = |account: &str| {
        json!({
            "config": canary,
            "account": account,
            "control": {"scope": support::prometheus::BASELINE},
            "experiment": {"scope": support::prometheus::CANARY},
            "start": data.start_time(),
            "end": data.end_time(),
            "step": "15s",
            "thresholds": {"pass": 75, "marginal": 50}
        })
    };
    // The configured account, and the one of --prometheus-url: both under the file's limit.
    let server = Server::start(
        dir.path(),
        &[
            "--config",
            config.to_str().unwrap(),
            "--prometheus-url",
            &data.url,
        ],
    );
    for account in ["prom", "prometheus"] {
        let (status, answer) =
            common::clients::post(&format!("{}/v1/analyses", server.url), &body(account)).await;
        // Refused before anything is fetched or stored: the window at this step is longer than the limit. (A
        // store that answers more points than asked is held to the limit as it is read: see the metric
        // source tests.)
        assert_eq!(status, 400, "{account}: {answer}");
        let message = answer["message"].as_str().unwrap();
        assert!(
            message.contains("241 points per series, more than the 200")
                && message.contains("(max_points)"),
            "{account}: {message}"
        );
    }
    let (_, stored) = common::clients::get(&format!("{}/v1/analyses", server.url)).await;
    assert_eq!(stored, json!([]));
}
