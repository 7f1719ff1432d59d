//! `/v1/analyses` over real HTTP against a real Prometheus (the data set of `tests/support/prometheus.rs`:
//! the canary's latency is 50 ms above the baseline's): retrospective and real-time analyses, bad requests,
//! cancellation, a crash (`kill -9`) in the middle of a real-time analysis, windows past the representable
//! times, and analyses whose stored record is damaged (they end in `error`, never stay `running`).

mod common;
mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use common::server::Server;
use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};
use support::prometheus::{self, BASELINE, CANARY};
use support::proxy::{Proxy, ProxyOptions};

fn example_config() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/analyze/checkout-canary.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn start_server(data: &Path) -> Server {
    Server::start(data, &["--prometheus-url", &prometheus::shared().url])
}

/// A retrospective analysis of the data set's hour, `control` against `experiment`.
fn retrospective(control: &str, experiment: &str) -> Value {
    let data = prometheus::shared();
    json!({
        "config": example_config(),
        "control": {"scope": control},
        "experiment": {"scope": experiment},
        "start": data.start_time(),
        "end": data.end_time(),
        "step": "15s",
        "thresholds": {"pass": 75, "marginal": 50}
    })
}

async fn post(server: &Server, body: &Value) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(format!("{}/v1/analyses", server.url))
        .json(body)
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

async fn get(server: &Server, path: &str) -> (u16, Value) {
    let response = reqwest::get(format!("{}{path}", server.url)).await.unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

#[tokio::test]
async fn a_retrospective_analysis_is_judged_at_once() {
    let data = tempfile::tempdir().unwrap();
    let server = start_server(data.path());

    let (status, failed) = post(&server, &retrospective(BASELINE, CANARY)).await;
    assert_eq!(status, 200, "{failed:#}");
    assert_eq!(failed["status"], "completed");
    assert_eq!(failed["classification"], "Fail");
    assert_eq!(failed["score"], 0.0);
    let intervals = failed["intervals"].as_array().unwrap();
    assert_eq!(intervals.len(), 1);
    assert_eq!(
        intervals[0]["judgeResult"]["results"][0]["classification"],
        "High"
    );

    let mut body = retrospective(BASELINE, BASELINE);
    body["interval"] = json!("20m");
    let (status, passed) = post(&server, &body).await;
    assert_eq!(status, 200, "{passed:#}");
    assert_eq!(
        (passed["classification"].as_str(), passed["score"].as_f64()),
        (Some("Pass"), Some(100.0))
    );
    let windows: Vec<(&str, &str)> = passed["intervals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (i["start"].as_str().unwrap(), i["end"].as_str().unwrap()))
        .collect();
    assert_eq!(windows.len(), 3, "an hour every 20 minutes");
    assert!(
        windows.iter().all(|(start, _)| *start == windows[0].0),
        "growing windows: {windows:?}"
    );

    // Failing fast: the first 20-minute interval already fails, so no further interval is judged.
    let mut body = retrospective(BASELINE, CANARY);
    body["interval"] = json!("20m");
    let (_, fast) = post(&server, &body).await;
    assert_eq!(fast["classification"], "Fail");
    assert_eq!(fast["intervals"].as_array().unwrap().len(), 1, "{fast:#}");

    // A stored config, named by its name.
    let yaml = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/analyze/checkout-canary.yaml"),
    );
    let stored = reqwest::Client::new()
        .post(format!("{}/v1/configs", server.url))
        .header("content-type", "application/yaml")
        .body(yaml.unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(stored.status(), 201);
    let mut body = retrospective(BASELINE, CANARY);
    body.as_object_mut().unwrap().remove("config");
    body["configId"] = json!("checkout-canary");
    let (status, by_name) = post(&server, &body).await;
    assert_eq!(
        (status, &by_name["classification"]),
        (200, &json!("Fail")),
        "{by_name:#}"
    );

    let id = failed["id"].as_str().unwrap();
    let (status, again) = get(&server, &format!("/v1/analyses/{id}")).await;
    assert_eq!((status, &again["classification"]), (200, &json!("Fail")));
    let (_, list) = get(&server, "/v1/analyses?status=completed").await;
    let ids: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 4);
    assert_eq!(ids[0], by_name["id"].as_str().unwrap(), "newest first");

    let metrics = server.metrics().await;
    for line in [
        "coalmine_analyses_total{outcome=\"fail\"} 3",
        "coalmine_analyses_total{outcome=\"pass\"} 1",
        "coalmine_judge_duration_seconds_count{judge=\"mann-whitney\"} 6",
        // Three metrics, two sides, six judged windows.
        "coalmine_metric_query_duration_seconds_count{source=\"prometheus\"} 36",
    ] {
        assert!(
            metrics.lines().any(|l| l == line),
            "no line {line:?} in:\n{metrics}"
        );
    }
}

#[tokio::test]
async fn bad_analysis_requests_are_4xx_with_a_message() {
    let data = tempfile::tempdir().unwrap();
    let server = start_server(data.path());
    let message = |(status, body): (u16, Value)| {
        (
            status,
            body["message"].as_str().unwrap_or_default().to_string(),
        )
    };

    let mut body = retrospective(BASELINE, CANARY);
    body["account"] = json!("thanos");
    assert_eq!(
        message(post(&server, &body).await),
        (400, "Unable to resolve account thanos.".to_string())
    );

    let mut body = retrospective(BASELINE, CANARY);
    body["lifetme"] = json!("1h");
    let (status, text) = message(post(&server, &body).await);
    assert_eq!(status, 400);
    assert!(text.contains("unknown field `lifetme`"), "{text}");

    let mut body = retrospective(BASELINE, CANARY);
    body["step"] = json!("fortnightly");
    let (status, text) = message(post(&server, &body).await);
    assert_eq!(status, 400);
    assert!(text.starts_with("step:"), "{text}");

    // Thresholds may be left out (75/50), but not given upside down.
    let mut body = retrospective(BASELINE, CANARY);
    body["thresholds"] = json!({"pass": 50, "marginal": 75});
    let (status, text) = message(post(&server, &body).await);
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("thresholds"), "{text}");

    let mut body = retrospective(BASELINE, CANARY);
    body["end"] = body["start"].clone();
    assert!(
        message(post(&server, &body).await)
            .1
            .contains("must be after start")
    );

    let mut body = retrospective(BASELINE, CANARY);
    body.as_object_mut().unwrap().remove("config");
    body["configId"] = json!("no-such-config");
    let (status, text) = message(post(&server, &body).await);
    assert_eq!(status, 400);
    assert!(
        text.contains("no stored canary config with the id or name 'no-such-config'"),
        "{text}"
    );

    let (status, _) = get(&server, "/v1/analyses/no-such-analysis").await;
    assert_eq!(status, 404);
    let (status, text) = message(get(&server, "/v1/analyses?status=sleeping").await);
    assert_eq!(status, 400);
    assert!(text.contains("unknown status 'sleeping'"), "{text}");
}

/// A real-time analysis of the baseline against itself whose windows lie around now: its query reads the
/// data set shifted (PromQL `offset`) so that the middle of the data set's hour falls on the present.
fn real_time(lifetime: &str, interval: &str) -> Value {
    let data = prometheus::shared();
    let middle = data.start_time() + SignedDuration::from_mins(30);
    let offset = Timestamp::now().duration_since(middle).as_secs();
    let config = json!({
        "name": "live",
        "metrics": [{
            "name": "latency",
            "query": {"type": "prometheus",
                      "customInlineTemplate": format!("PromQL:avg(checkout_latency_seconds{{app=\"${{scope}}\"}} offset {offset}s)")},
            "groups": ["latency"],
            "scopeName": "default"
        }]
    });
    json!({
        "config": config,
        "control": {"scope": BASELINE},
        "experiment": {"scope": BASELINE},
        "lifetime": lifetime,
        "interval": interval,
        "step": "1s",
        "thresholds": {"pass": 75, "marginal": 50}
    })
}

/// Polls the analysis until `done` says so, for at most `limit`.
async fn wait_for(
    server: &Server,
    id: &str,
    limit: Duration,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let started = Instant::now();
    loop {
        let (_, analysis) = get(server, &format!("/v1/analyses/{id}")).await;
        if done(&analysis) {
            return analysis;
        }
        assert!(started.elapsed() < limit, "gave up waiting: {analysis:#}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_real_time_analysis_survives_a_crash_and_judges_every_interval_once() {
    let data = tempfile::tempdir().unwrap();
    let server = start_server(data.path());
    let (status, accepted) = post(&server, &real_time("8s", "2s")).await;
    assert_eq!(status, 202, "{accepted:#}");
    let id = accepted["id"].as_str().unwrap().to_string();

    // Crash after the first interval is judged and before the last.
    let before = wait_for(&server, &id, Duration::from_secs(30), |a| {
        a["nextInterval"].as_u64() >= Some(1)
    })
    .await;
    assert_eq!(before["status"], "running");
    let judged_before: Vec<Value> = before["intervals"].as_array().unwrap().clone();
    server.crash();

    let server = start_server(data.path());
    let after = wait_for(&server, &id, Duration::from_secs(30), |a| {
        a["status"] == "completed"
    })
    .await;
    assert_eq!(
        (after["classification"].as_str(), after["score"].as_f64()),
        (Some("Pass"), Some(100.0))
    );
    let intervals = after["intervals"].as_array().unwrap();
    let indices: Vec<u64> = intervals
        .iter()
        .map(|i| i["index"].as_u64().unwrap())
        .collect();
    assert_eq!(indices, [0, 1, 2, 3], "every interval judged exactly once");
    for judged in &judged_before {
        let index = judged["index"].as_u64().unwrap() as usize;
        assert_eq!(
            intervals[index]["judgedAt"], judged["judgedAt"],
            "interval {index} was not judged again"
        );
    }
}

#[tokio::test]
async fn a_cancelled_analysis_stops_and_stays_cancelled() {
    let data = tempfile::tempdir().unwrap();
    let server = start_server(data.path());
    let (status, accepted) = post(&server, &real_time("60s", "20s")).await;
    assert_eq!(status, 202);
    let id = accepted["id"].as_str().unwrap();
    let response = reqwest::Client::new()
        .post(format!("{}/v1/analyses/{id}/cancel", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let cancelled: Value = response.json().await.unwrap();
    assert_eq!(cancelled["status"], "cancelled");
    assert!(cancelled["intervals"].as_array().unwrap().is_empty());

    let again = reqwest::Client::new()
        .post(format!("{}/v1/analyses/{id}/cancel", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 200, "cancelling twice is harmless");
}

#[tokio::test]
async fn an_account_from_the_configuration_file_authenticates_without_leaking_its_password() {
    let proxy = Proxy::start(
        &prometheus::shared().url,
        ProxyOptions {
            // coalmine:pa55-w0rd
            authorization: Some("Basic Y29hbG1pbmU6cGE1NS13MHJk".into()),
            ..ProxyOptions::default()
        },
    )
    .await;
    let data = tempfile::tempdir().unwrap();
    let config = data.path().join("coalmine.toml");
    std::fs::write(
        &config,
        format!(
            "[[accounts]]\nname = \"secured\"\ntype = \"prometheus\"\nurl = \"{}\"\n\
             username = \"coalmine\"\npassword_env = \"TEST_PROMETHEUS_PASSWORD\"\n",
            proxy.url
        ),
    )
    .unwrap();
    let server = Server::start_with_env(
        data.path(),
        &["--config", config.to_str().unwrap(), "--log-format", "json"],
        &[("TEST_PROMETHEUS_PASSWORD", "pa55-w0rd")],
    );

    let mut body = retrospective(BASELINE, CANARY);
    body["account"] = json!("secured");
    let (status, analysis) = post(&server, &body).await;
    assert_eq!(status, 200, "{analysis:#}");
    assert_eq!(analysis["classification"], "Fail");
    assert!(
        !proxy.requests().is_empty(),
        "the queries went through the account"
    );

    body["account"] = json!("prometheus");
    let (status, error) = post(&server, &body).await;
    assert_eq!(status, 400);
    assert_eq!(
        error["message"], "Unable to resolve account prometheus.",
        "the file's accounts replace the default one"
    );

    // A wrong password ends the analysis in error, saying why, without the password.
    let other_data = tempfile::tempdir().unwrap();
    let wrong = Server::start_with_env(
        other_data.path(),
        &["--config", config.to_str().unwrap()],
        &[("TEST_PROMETHEUS_PASSWORD", "guess-w0rd")],
    );
    body["account"] = json!("secured");
    let (status, failed) = post(&wrong, &body).await;
    assert_eq!(
        (status, failed["status"].as_str()),
        (502, Some("error")),
        "{failed}"
    );
    let error = failed["error"].as_str().unwrap();
    assert!(
        error.contains("HTTP 401") && error.contains("credentials"),
        "{error}"
    );
    assert!(!error.contains("guess-w0rd"), "{error}");
    for (server, password) in [(&server, "pa55-w0rd"), (&wrong, "guess-w0rd")] {
        let log = server.log();
        assert!(
            !log.contains(password),
            "the password leaked into the log:\n{log}"
        );
        assert!(
            !log.contains("Y29hbG1pbmU6"),
            "the credentials leaked into the log:\n{log}"
        );
    }
}

#[tokio::test]
async fn windows_past_the_representable_times_are_refused_naming_the_field() {
    let data = tempfile::tempdir().unwrap();
    let server = start_server(data.path());

    // Windows past the last representable instant (9999-12-30), whose time arithmetic once panicked: refused
    // up front, naming the field; nothing is stored.
    let mut body = real_time("48h", "24h");
    body["start"] = json!("9999-12-30T00:00:00Z");
    let (status, answer) = post(&server, &body).await;
    assert_eq!(status, 400, "{answer:#}");
    let message = answer["message"].as_str().unwrap();
    assert!(message.starts_with("lifetime:"), "{message}");
    // The same for one judged at once, whose window reaches back before the year -9999.
    let mut body = retrospective(BASELINE, CANARY);
    body["lookback"] = json!("1000000000h");
    let (status, answer) = post(&server, &body).await;
    assert_eq!(status, 400, "{answer:#}");
    assert!(
        answer["message"].as_str().unwrap().contains("lookback"),
        "{answer:#}"
    );

    let (_, all) = get(&server, "/v1/analyses").await;
    assert_eq!(all, json!([]));
    // And the server judges on.
    let (status, judged) = post(&server, &retrospective(BASELINE, CANARY)).await;
    assert_eq!((status, &judged["classification"]), (200, &json!("Fail")));
}

#[tokio::test]
async fn a_damaged_stored_analysis_is_failed_at_start_up_and_the_others_resume() {
    let data = tempfile::tempdir().unwrap();
    let server = start_server(data.path());
    let (status, accepted) = post(&server, &real_time("8s", "2s")).await;
    assert_eq!(status, 202, "{accepted:#}");
    let healthy = accepted["id"].as_str().unwrap().to_string();
    let mut long = Vec::new();
    for _ in 0..3 {
        let (status, accepted) = post(&server, &real_time("1h", "30m")).await;
        assert_eq!(status, 202, "{accepted:#}");
        long.push(accepted["id"].as_str().unwrap().to_string());
    }
    wait_for(&server, &healthy, Duration::from_secs(30), |a| {
        a["nextInterval"].as_u64() >= Some(1)
    })
    .await;
    server.crash();

    // Damage three of them in the file: one request is no longer JSON, another's windows lie past the last
    // representable instant, so that it cannot be planned, and the third's config snapshot is no longer
    // JSON, so that the store cannot read the analysis back at all.
    let database = rusqlite::Connection::open(data.path().join("coalmine.db")).unwrap();
    database
        .execute(
            "UPDATE analyses SET request = '{\"lifetime\": ' WHERE id = ?1",
            [&long[0]],
        )
        .unwrap();
    database
        .execute(
            "UPDATE analyses SET request = json_set(request, '$.start', '9999-12-30T00:00:00Z',
                                                    '$.lifetime', '48h', '$.interval', '24h')
             WHERE id = ?1",
            [&long[1]],
        )
        .unwrap();
    database
        .execute(
            "UPDATE analyses SET config = '{\"name\": ' WHERE id = ?1",
            [&long[2]],
        )
        .unwrap();
    drop(database);

    // The server comes up, fails both with the reason, and resumes the healthy one to its end.
    let server = start_server(data.path());
    for (id, reason) in [
        (&long[0], "the stored request cannot be read"),
        (
            &long[1],
            "lifetime: 48h from 9999-12-30T00:00:00Z reaches past the times",
        ),
    ] {
        let analysis = wait_for(&server, id, Duration::from_secs(30), |a| {
            a["status"] != "running"
        })
        .await;
        assert_eq!(analysis["status"], "error", "{analysis:#}");
        let error = analysis["error"].as_str().unwrap();
        assert!(error.contains(reason), "{error}");
    }
    let resumed = wait_for(&server, &healthy, Duration::from_secs(30), |a| {
        a["status"] == "completed"
    })
    .await;
    assert_eq!(
        (
            resumed["classification"].as_str(),
            resumed["intervals"].as_array().map(Vec::len)
        ),
        (Some("Pass"), Some(4))
    );

    // Failed for good: the next restart does not try them again.
    server.crash();
    let server = start_server(data.path());
    let (_, unfinished) = get(&server, "/v1/analyses?status=pending,running").await;
    assert_eq!(unfinished, json!([]));
    server.crash();
    // The unreadable one can only be read in the file.
    let database = rusqlite::Connection::open(data.path().join("coalmine.db")).unwrap();
    let (status, error): (String, String) = database
        .query_row(
            "SELECT status, error FROM analyses WHERE id = ?1",
            [&long[2]],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .unwrap();
    assert_eq!(status, "error");
    assert!(
        error.contains("the stored analysis cannot be read") && error.contains("canary config"),
        "{error}"
    );
}

/// Issue 14, item 3: the control is judged over a fixed known-good window of its own (earlier and shorter
/// than the experiment's); each side's points come from its own window, paired by position.
#[tokio::test]
async fn each_side_is_judged_over_its_own_window() {
    let data = tempfile::tempdir().unwrap();
    let server = start_server(data.path());
    let hour = prometheus::shared();
    let at = |minutes: i64| hour.start_time() + jiff::SignedDuration::from_mins(minutes);

    let mut body = retrospective(BASELINE, BASELINE);
    body["start"] = json!(at(30));
    body["end"] = json!(at(60));
    body["control"]["start"] = json!(at(0));
    body["control"]["end"] = json!(at(20));
    let (status, judged) = post(&server, &body).await;
    assert_eq!(status, 200, "{judged:#}");
    assert_eq!(judged["classification"], "Pass", "{judged:#}");
    let latency = &judged["intervals"][0]["judgeResult"]["results"][0];
    // 20 minutes at 15 s, both ends included, against 30 minutes.
    assert_eq!(
        (
            &latency["controlMetadata"]["stats"]["count"],
            &latency["experimentMetadata"]["stats"]["count"]
        ),
        (&json!(81), &json!(121)),
        "{latency:#}"
    );
    let (_, stored) = get(
        &server,
        &format!("/v1/analyses/{}", judged["id"].as_str().unwrap()),
    )
    .await;
    assert_eq!(
        stored["request"]["control"]["end"],
        json!(at(20)),
        "{stored:#}"
    );

    // Half a window is refused naming the field, and so is a window together with a control offset.
    let mut half = body.clone();
    half["control"].as_object_mut().unwrap().remove("end");
    let (status, refused) = post(&server, &half).await;
    assert_eq!(status, 400, "{refused}");
    assert!(
        refused["message"]
            .as_str()
            .unwrap()
            .contains("control.end is required"),
        "{refused}"
    );
    let mut both = body.clone();
    both["controlOffset"] = json!("10m");
    let (status, refused) = post(&server, &both).await;
    assert_eq!(status, 400, "{refused}");
    assert!(
        refused["message"]
            .as_str()
            .unwrap()
            .contains("or controlOffset, not both"),
        "{refused}"
    );
}

/// Issue 14, item 10: `thresholds` may be left out, and is then 75/50 as in `analyze` and the Flagger webhook.
#[tokio::test]
async fn thresholds_default_to_75_and_50() {
    let data = tempfile::tempdir().unwrap();
    let server = start_server(data.path());
    let mut body = retrospective(BASELINE, BASELINE);
    body.as_object_mut().unwrap().remove("thresholds");
    let (status, judged) = post(&server, &body).await;
    assert_eq!(status, 200, "{judged:#}");
    assert_eq!(judged["classification"], "Pass", "{judged:#}");
    let (_, stored) = get(
        &server,
        &format!("/v1/analyses/{}", judged["id"].as_str().unwrap()),
    )
    .await;
    assert_eq!(
        stored["request"]["thresholds"],
        json!({"pass": 75.0, "marginal": 50.0}),
        "{stored:#}"
    );
}
