//! The report pages in a real browser: Debian's `chromium`, driven headless through `chromedriver` with
//! fantoccini, on a real server judging a real Prometheus. Logs in through the form, reads the list and the
//! failed analysis as a person would see them, checks that each chart is an SVG with data drawn in it and that
//! a `<script>` in a metric name is shown as text and never runs, and saves screenshots under
//! `target/test-artifacts/`.
//!
//! Needs `chromium` and `chromium-driver` (`apt-get install chromium chromium-driver`); without them the test
//! fails saying so.

mod common;
mod support;

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::report::{self, HOSTILE_METRIC, TOKEN};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};
use support::prometheus;

/// A `chromedriver` on a free port, killed when dropped.
struct ChromeDriver {
    child: Child,
    url: String,
}

impl ChromeDriver {
    fn start() -> ChromeDriver {
        let found = Command::new("chromedriver")
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success());
        assert!(
            found && Command::new("chromium").arg("--version").output().is_ok(),
            "the browser tests need Debian's chromium and chromium-driver: apt-get install -y chromium chromium-driver"
        );
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting chromedriver");
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "chromedriver did not listen within 30 s"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        ChromeDriver {
            child,
            url: format!("http://127.0.0.1:{port}"),
        }
    }

    async fn browser(&self, width: u32, height: u32) -> Client {
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".to_string(),
            json!({
                "binary": "/usr/bin/chromium",
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         format!("--window-size={width},{height}")]
            }),
        );
        ClientBuilder::rustls()
            .expect("a TLS configuration")
            .capabilities(capabilities)
            .connect(&self.url)
            .await
            .expect("a chromium session through chromedriver")
    }
}

impl Drop for ChromeDriver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `target/test-artifacts/`, created.
fn artifacts() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("the target directory")
        .join("test-artifacts");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn screenshot(browser: &Client, name: &str) {
    let png = browser.screenshot().await.unwrap();
    assert!(png.starts_with(b"\x89PNG"), "a PNG screenshot");
    std::fs::write(artifacts().join(name), png).unwrap();
}

#[tokio::test]
async fn a_person_sees_which_metric_failed_in_a_browser() {
    let driver = ChromeDriver::start();
    let data = prometheus::shared();
    let fixture = report::start(&data.url, data.start_time(), data.end_time()).await;
    let failed_id = fixture.failed["id"].as_str().unwrap();
    let browser = driver.browser(1366, 900).await;

    // The list needs the token: the browser lands on the login form and comes back after it.
    browser
        .goto(&format!("{}/", fixture.server.url))
        .await
        .unwrap();
    assert!(
        browser
            .current_url()
            .await
            .unwrap()
            .path()
            .starts_with("/login")
    );
    browser
        .find(Locator::Css("input[name=token]"))
        .await
        .unwrap()
        .send_keys(TOKEN)
        .await
        .unwrap();
    browser
        .find(Locator::Css("button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    browser
        .wait()
        .for_element(Locator::Css("table.analyses"))
        .await
        .unwrap();
    assert_eq!(browser.current_url().await.unwrap().path(), "/");
    let rows = browser
        .find_all(Locator::Css("table.analyses tbody tr"))
        .await
        .unwrap();
    assert_eq!(rows.len(), 2);
    let first = rows[0].text().await.unwrap();
    assert!(
        first.contains("checkout-baseline → checkout-canary") && first.contains("Fail"),
        "{first}"
    );
    screenshot(&browser, "report-list.png").await;

    // The failed analysis, opened from the list.
    rows[0]
        .find(Locator::Css("a"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    browser
        .wait()
        .for_element(Locator::Css("section.verdict"))
        .await
        .unwrap();
    assert_eq!(
        browser.current_url().await.unwrap().path(),
        format!("/analyses/{failed_id}")
    );
    let verdict = browser
        .find(Locator::Css("section.verdict"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        verdict.contains("✗ Fail") && verdict.contains("Pass at ≥ 75"),
        "{verdict}"
    );
    assert!(
        verdict.contains(&format!(
            "The metric {HOSTILE_METRIC} was classified as High"
        )),
        "{verdict}"
    );

    // The injected script is text, and it never ran.
    assert_eq!(
        browser.title().await.unwrap(),
        "checkout-canary · completed · coalmine"
    );
    let rows = browser
        .find_all(Locator::Css("details.metric"))
        .await
        .unwrap();
    let results = fixture.failed["intervals"][0]["judgeResult"]["results"]
        .as_array()
        .unwrap();
    assert_eq!(rows.len(), results.len());
    let names = browser
        .find_all(Locator::Css("details.metric summary .name"))
        .await
        .unwrap();
    assert_eq!(names[0].text().await.unwrap(), HOSTILE_METRIC);
    let scripts: Value = browser
        .execute(
            "return document.querySelectorAll('main script').length",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(scripts, json!(0));

    // Every row opens (the failed ones are open already) to two SVG charts with lines and boxes drawn.
    browser
        .execute(
            "document.querySelectorAll('details.metric').forEach(d => d.open = true)",
            vec![],
        )
        .await
        .unwrap();
    let charts: Value = browser
        .execute(
            "return Array.from(document.querySelectorAll('details.metric svg.chart')).map(svg => ({
                namespace: svg.namespaceURI,
                kind: svg.classList[1],
                drawn: Array.from(svg.querySelectorAll('path')).filter(p => p.getTotalLength() > 10).length,
                width: svg.getBoundingClientRect().width,
            }))",
            vec![],
        )
        .await
        .unwrap();
    let charts = charts.as_array().unwrap();
    assert_eq!(charts.len(), 2 * results.len(), "{charts:?}");
    for chart in charts {
        assert_eq!(chart["namespace"], "http://www.w3.org/2000/svg", "{chart}");
        // Two lines (or two mean diamonds) drawn, in a chart wide enough to read.
        assert!(chart["drawn"].as_u64().unwrap() >= 2, "{chart}");
        assert!(chart["width"].as_f64().unwrap() > 250.0, "{chart}");
    }
    screenshot(&browser, "report-analysis.png").await;
    browser.close().await.unwrap();

    // The whole page at a laptop's width, every metric open.
    let tall = driver.browser(1366, 4200).await;
    tall.goto(&format!(
        "{}/login?next=/analyses/{failed_id}",
        fixture.server.url
    ))
    .await
    .unwrap();
    tall.find(Locator::Css("input[name=token]"))
        .await
        .unwrap()
        .send_keys(TOKEN)
        .await
        .unwrap();
    tall.find(Locator::Css("button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    tall.wait()
        .for_element(Locator::Css("section.verdict"))
        .await
        .unwrap();
    tall.execute(
        "document.querySelectorAll('details.metric').forEach(d => d.open = true)",
        vec![],
    )
    .await
    .unwrap();
    screenshot(&tall, "report-analysis-full.png").await;
    tall.close().await.unwrap();
}
