//! The report pages over real HTTP, on a real server judging a real Prometheus: the login, the list, one
//! analysis with its verdict, metric rows and charts, escaping of what users wrote, and bad requests.

mod common;
mod support;

use common::report::{self, HOSTILE_METRIC, TOKEN};
use reqwest::header;
use support::prometheus;

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn page(request: reqwest::RequestBuilder) -> (u16, String) {
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    if status == 200 {
        let kind = response.headers()[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .to_string();
        assert!(kind.starts_with("text/html"), "{kind}");
    }
    (status, response.text().await.unwrap())
}

/// The values of attribute `name` in `html`, in order.
fn attributes<'a>(html: &'a str, element: &str, name: &str) -> Vec<&'a str> {
    html.split(&format!("<{element} "))
        .skip(1)
        .filter_map(|tag| {
            let tag = &tag[..tag.find('>').unwrap_or(tag.len())];
            let start = if tag.starts_with(&format!("{name}=\"")) {
                name.len() + 2
            } else {
                tag.find(&format!(" {name}=\""))? + name.len() + 3
            };
            Some(&tag[start..start + tag[start..].find('"')?])
        })
        .collect()
}

#[tokio::test]
async fn the_pages_show_which_metric_failed_and_why() {
    let data = prometheus::shared();
    let fixture = report::start(&data.url, data.start_time(), data.end_time()).await;
    let url = |path: &str| format!("{}{path}", fixture.server.url);
    let failed_id = fixture.failed["id"].as_str().unwrap();
    let passed_id = fixture.passed["id"].as_str().unwrap();

    // A browser without the token is sent to the login form, which comes back to the page asked for.
    let response = client()
        .get(url(&format!("/analyses/{failed_id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    assert_eq!(
        response.headers()[header::LOCATION],
        format!("/login?next=%2Fanalyses%2F{failed_id}")
    );
    let (status, form) = page(client().get(url("/login?next=/"))).await;
    assert_eq!(status, 200);
    assert!(form.contains("name=\"token\""), "{form}");
    let login = |token: &str| {
        client()
            .post(url("/login"))
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(format!("token={token}&next=%2Fanalyses%2F{failed_id}"))
    };
    let (status, refused) = page(login("wrong")).await;
    assert_eq!(status, 401);
    assert!(refused.contains("That token is not valid."), "{refused}");
    let response = login(TOKEN).send().await.unwrap();
    assert_eq!(response.status(), 303);
    assert_eq!(
        response.headers()[header::LOCATION],
        format!("/analyses/{failed_id}")
    );
    let cookie = response.headers()[header::SET_COOKIE]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let cookie = cookie.split(';').next().unwrap().to_string();

    // The list, newest first, with the cookie.
    let (status, list) = page(client().get(url("/")).header(header::COOKIE, &cookie)).await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(attributes(&list, "tr", "data-id"), [failed_id, passed_id]);
    for text in [
        "checkout-canary",
        "checkout-baseline → checkout-canary",
        "✗ Fail",
        "✓ Pass",
        "completed",
        "href=\"/v1/analyses\"",
    ] {
        assert!(list.contains(text), "no {text:?} in the list:\n{list}");
    }
    let (_, running) = page(client().get(url("/?status=running")).bearer_auth(TOKEN)).await;
    assert!(
        running.contains("No analyses match these filters."),
        "{running}"
    );
    let (_, by_config) = page(
        client()
            .get(url("/?config=checkout-canary&status=completed"))
            .bearer_auth(TOKEN),
    )
    .await;
    assert_eq!(attributes(&by_config, "tr", "data-id").len(), 2);
    let (_, other_config) = page(client().get(url("/?config=other")).bearer_auth(TOKEN)).await;
    assert!(other_config.contains("No analyses match"), "{other_config}");

    // The failed analysis: verdict, thresholds, the failing metric first and opened, its charts and queries.
    let (status, analysis) = page(
        client()
            .get(url(&format!("/analyses/{failed_id}")))
            .bearer_auth(TOKEN),
    )
    .await;
    assert_eq!(status, 200, "{analysis}");
    for text in [
        "✗ Fail",
        "Pass at ≥ 75 · Marginal at ≥ 50",
        "Failing metrics: ",
        "checkout_latency_seconds{app=&quot;checkout-canary&quot;}",
        "href=\"#metric-1\"",
        &format!("href=\"/v1/analyses/{failed_id}\""),
    ] {
        assert!(
            analysis.contains(text),
            "no {text:?} in the analysis page:\n{analysis}"
        );
    }
    let classifications = attributes(&analysis, "details", "data-classification");
    let results = fixture.failed["intervals"][0]["judgeResult"]["results"]
        .as_array()
        .unwrap();
    assert_eq!(classifications.len(), results.len());
    assert_eq!(
        classifications[0], "High",
        "failed metrics come first: {classifications:?}"
    );
    assert!(
        analysis.contains("<details class=\"metric\" id=\"metric-"),
        "{analysis}"
    );
    assert!(
        analysis.contains("open data-classification=\"High\""),
        "the failed metric is opened"
    );
    // Each metric has a time series and a distribution chart, with both sides' points in it.
    let series = attributes(&analysis, "svg", "data-points");
    assert_eq!(series.len(), 2 * results.len(), "two charts per metric");
    assert!(
        series
            .iter()
            .all(|points| points.parse::<u32>().unwrap() > 100),
        "every chart has data: {series:?}"
    );
    assert_eq!(
        analysis.matches("<g class=\"series control\"").count(),
        results.len()
    );
    assert!(analysis.contains("<path d=\"M"), "lines are drawn");
    assert!(
        analysis.contains(">seconds</text>"),
        "the latency axis has its unit"
    );

    // What users wrote is shown as text, never as markup.
    assert!(!analysis.contains("<script>"), "{analysis}");
    let escaped = HOSTILE_METRIC.replace('<', "&lt;").replace('>', "&gt;");
    assert_eq!(
        escaped,
        "&lt;script&gt;document.title='pwned'&lt;/script&gt;latency"
    );
    assert!(analysis.contains(&escaped));
    assert!(!list.contains("<script>"));

    // The passed analysis has its intervals; each can be shown.
    let (_, passed) = page(
        client()
            .get(url(&format!("/analyses/{passed_id}")))
            .bearer_auth(TOKEN),
    )
    .await;
    assert!(
        passed.contains("✓ Pass") && passed.contains("<h2>Intervals</h2>"),
        "{passed}"
    );
    assert_eq!(
        attributes(&passed, "a", "href")
            .iter()
            .filter(|href| href.contains("?interval="))
            .count(),
        2,
        "links to the two intervals not shown"
    );
    let (status, first) = page(
        client()
            .get(url(&format!("/analyses/{passed_id}?interval=1")))
            .bearer_auth(TOKEN),
    )
    .await;
    assert_eq!(status, 200);
    assert!(first.contains("interval 1, "), "{first}");

    // The JSON twin reads with the cookie; changes still need the bearer header.
    let json = client()
        .get(url(&format!("/v1/analyses/{failed_id}")))
        .header(header::COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(json.status(), 200);
    let cancel = client()
        .post(url(&format!("/v1/analyses/{failed_id}/cancel")))
        .header(header::COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(cancel.status(), 401);

    // Bad requests are pages that say what is wrong.
    for (path, status, message) in [
        ("/analyses/no-such-analysis", 404, "no-such-analysis"),
        (
            "/?status=finished",
            400,
            "unknown analysis status 'finished'",
        ),
        (
            &format!("/analyses/{failed_id}?interval=zero")[..],
            400,
            "interval must be",
        ),
        (
            &format!("/analyses/{failed_id}?interval=9")[..],
            404,
            "has 1 judged intervals: there is no interval 9",
        ),
    ] {
        let (got, text) = page(client().get(url(path)).bearer_auth(TOKEN)).await;
        assert_eq!(got, status, "{path}: {text}");
        assert!(
            text.contains(message) && text.contains("<html"),
            "{path}: {text}"
        );
    }

    // A running analysis refreshes itself, and says when it judges next.
    let mut body = serde_json::json!({
        "config": fixture.failed["request"]["config"],
        "control": {"scope": "checkout-baseline"},
        "experiment": {"scope": "checkout-canary"},
        "lifetime": "1h",
        "interval": "30m",
        "thresholds": {"pass": 75, "marginal": 50}
    });
    body["step"] = serde_json::json!("15s");
    let response = client()
        .post(url("/v1/analyses"))
        .bearer_auth(TOKEN)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    let running: serde_json::Value = response.json().await.unwrap();
    let running_id = running["id"].as_str().unwrap();
    let (status, running) = page(
        client()
            .get(url(&format!("/analyses/{running_id}")))
            .bearer_auth(TOKEN),
    )
    .await;
    assert_eq!(status, 200, "{running}");
    for text in [
        "<meta http-equiv=\"refresh\" content=\"10\">",
        "In progress",
        "No interval judged yet. The next interval is judged at ",
    ] {
        assert!(running.contains(text), "no {text:?} in:\n{running}");
    }
    assert!(
        !analysis.contains("http-equiv=\"refresh\""),
        "a finished analysis stays put"
    );
    let (_, list) = page(client().get(url("/?status=running")).bearer_auth(TOKEN)).await;
    assert_eq!(attributes(&list, "tr", "data-id"), [running_id]);
}

/// Issue 14 item 13 on the page: the canary's 50 ms shift over three points a side is `High` with a p-value
/// of 0.0809 (any complete separation of 3 and 3; R: 0.080855598), and the metric's row says the interval
/// decided, against the band 0.25 × |estimate| = 0.25 × 0.05.
#[tokio::test]
async fn a_high_metric_with_a_large_p_value_shows_what_decided_it() {
    let data = prometheus::shared();
    let dir = tempfile::tempdir().unwrap();
    let server = common::server::Server::start(dir.path(), &["--prometheus-url", &data.url]);
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples/analyze/checkout-canary.json");
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let start = data.start_time();
    let body = serde_json::json!({
        "config": config,
        "control": {"scope": prometheus::BASELINE},
        "experiment": {"scope": prometheus::CANARY},
        "start": start,
        "end": start + jiff::SignedDuration::from_secs(30),
        "step": "15s",
        "thresholds": {"pass": 75, "marginal": 50}
    });
    let (status, analysis) =
        common::clients::post(&format!("{}/v1/analyses", server.url), &body).await;
    assert_eq!(status, 200, "{analysis}");
    let id = analysis["id"].as_str().unwrap();
    let (status, html) = page(client().get(format!("{}/analyses/{id}", server.url))).await;
    assert_eq!(status, 200, "{html}");
    let row = html
        .split("<details")
        .skip(1)
        .find(|row| row.contains("class=\"name\">latency<"))
        .unwrap_or_else(|| panic!("{html}"));
    assert!(row.contains("0.08086"), "{row}");
    assert!(row.contains("decided by"), "{row}");
    assert!(
        row.contains("CI lower 0.043 &gt; band +0.0125; effect size 1.441 &gt;= allowedIncrease 1"),
        "{row}"
    );
}

/// Issue 14, item 3: an analysis whose control has a window of its own shows each side's window.
#[tokio::test]
async fn the_page_shows_each_sides_window() {
    let data = prometheus::shared();
    let fixture = report::start(&data.url, data.start_time(), data.end_time()).await;
    let at = |minutes: i64| data.start_time() + jiff::SignedDuration::from_mins(minutes);
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples/analyze/checkout-canary.json");
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let body = serde_json::json!({
        "config": config,
        "control": {"scope": prometheus::BASELINE, "start": at(0), "end": at(20)},
        "experiment": {"scope": prometheus::BASELINE},
        "start": at(30),
        "end": at(60),
        "step": "15s"
    });
    let response = client()
        .post(format!("{}/v1/analyses", fixture.server.url))
        .bearer_auth(TOKEN)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let judged: serde_json::Value = response.json().await.unwrap();
    let id = judged["id"].as_str().unwrap();
    let (status, html) = page(
        client()
            .get(format!("{}/analyses/{id}", fixture.server.url))
            .bearer_auth(TOKEN),
    )
    .await;
    assert_eq!(status, 200, "{html}");
    let shown = |time: jiff::Timestamp| time.strftime("%Y-%m-%d %H:%M:%S UTC").to_string();
    for text in [
        format!(
            "control window <strong>{} – {}</strong>",
            shown(at(0)),
            shown(at(20))
        ),
        format!(
            "experiment window <strong>{} – {}</strong>",
            shown(at(30)),
            shown(at(60))
        ),
    ] {
        assert!(html.contains(&text), "no {text:?} in the page:\n{html}");
    }

    // Without windows of their own, the sides share the analysis's window and no line is shown.
    let (_, html) = page(
        client()
            .get(format!(
                "{}/analyses/{}",
                fixture.server.url,
                fixture.failed["id"].as_str().unwrap()
            ))
            .bearer_auth(TOKEN),
    )
    .await;
    assert!(!html.contains("control window"), "{html}");
}
