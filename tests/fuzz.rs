//! Fuzzes a real `coalmine serve` against its own OpenAPI document with schemathesis (PyPI), a
//! property-based API fuzzer: for every operation of `GET /v1/openapi.json` it sends the schema's examples,
//! its boundary and invalid values (the coverage phase) and random requests (the fuzzing phase), positive
//! and negative, and checks every answer. The server must never answer 5xx, every status must be one the
//! document lists for that operation, every answer must match the document's schema for it, and the server
//! must not panic. Answers must also have the content type the document gives.
//!
//! The run is reproducible: a fixed seed, one worker, no example database carried between runs, and a
//! bounded number of examples per operation. The server has a real Prometheus (tests/support) as its
//! metrics account, and a stored config and analyses, so that requests that name them can succeed.

mod common;
mod support;

use std::process::Command;

use common::clients::{post, store_example_config};
use common::server::Server;
use serde_json::json;
use support::prometheus::{self, BASELINE, CANARY};

/// The schemathesis release `.ci/run` installs.
const SCHEMATHESIS: &str = "4.32.5";

/// The fuzzer's seed: the same requests on every run.
const SEED: &str = "20261206";

/// Examples per operation in the fuzzing phase (the examples and coverage phases add theirs).
const MAX_EXAMPLES: &str = "100";

#[tokio::test(flavor = "multi_thread")]
async fn the_server_holds_up_against_schemathesis() {
    let install =
        format!("install it with `pip install schemathesis=={SCHEMATHESIS}` (as .ci/run does)");
    match Command::new("schemathesis").arg("--version").output() {
        Ok(output) if output.status.success() => {
            let version = String::from_utf8_lossy(&output.stdout);
            assert!(
                version.contains(SCHEMATHESIS),
                "schemathesis {SCHEMATHESIS} is needed, found `{}`: {install}",
                version.trim()
            );
        }
        Ok(output) => panic!(
            "`schemathesis --version` failed ({}): {install}",
            String::from_utf8_lossy(&output.stderr).trim()
        ),
        Err(error) => panic!("schemathesis cannot be run ({error}): {install}"),
    }

    let prometheus = prometheus::shared();
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), &["--prometheus-url", &prometheus.url]);

    // Something to find: a stored config (Kayenta's example, id returned), a judged native analysis and a
    // Kayenta run of it.
    let config_id = store_example_config(&server.url).await;
    let (start, end) = (prometheus.start_time(), prometheus.end_time());
    let (status, body) = post(
        &format!("{}/v1/analyses", server.url),
        &json!({
            "configId": config_id,
            "control": {"scope": BASELINE, "location": "us-east-1"},
            "experiment": {"scope": CANARY, "location": "us-east-1"},
            "start": start, "end": end, "step": "15s",
            "thresholds": {"pass": 75, "marginal": 50}
        }),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let scope = |name: &str| json!({"scope": name, "location": "us-east-1", "start": start, "end": end, "step": 15});
    let (status, body) = post(
        &format!("{}/canary/{config_id}?application=ad-hoc", server.url),
        &json!({
            "scopes": {"default": {"controlScope": scope(BASELINE), "experimentScope": scope(CANARY)}},
            "thresholds": {"pass": 75, "marginal": 50}
        }),
    )
    .await;
    assert_eq!(status, 200, "{body}");

    let work = tempfile::tempdir().unwrap();
    let output = tokio::task::spawn_blocking({
        let schema = format!("{}/v1/openapi.json", server.url);
        let work = work.path().to_path_buf();
        move || {
            Command::new("schemathesis")
                .current_dir(work)
                .env("NO_COLOR", "1")
                .args(["run", &schema])
                .args(["--seed", SEED, "--max-examples", MAX_EXAMPLES])
                .args(["--workers", "1", "--generation-database", "none"])
                .args(["--phases", "examples,coverage,fuzzing"])
                // The only time-based health check: it would make the run depend on the machine's load.
                .args(["--suppress-health-check", "too_slow"])
                .args([
                    "--checks",
                    "not_a_server_error,status_code_conformance,response_schema_conformance,content_type_conformance",
                ])
                .args(["--request-timeout", "60", "--no-color"])
                .args(["--report", "junit", "--report-junit-path", "junit.xml"])
                .output()
                .expect("running schemathesis")
        }
    })
    .await
    .unwrap();
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let log = server.log();
    let lines: Vec<&str> = log.lines().collect();
    let panics: Vec<String> = (0..lines.len())
        .filter(|&i| lines[i].contains("panicked"))
        .map(|i| lines[i..(i + 2).min(lines.len())].join("\n"))
        .collect();
    assert!(
        panics.is_empty(),
        "the server panicked while fuzzed:\n{}\n\nschemathesis:\n{report}",
        panics.join("\n")
    );
    assert!(
        output.status.success(),
        "schemathesis found answers the document does not allow ({}):\n{report}",
        output.status
    );
    // The run really exercised the API: every operation of the document was tested, except the document
    // itself, which schemathesis leaves out.
    let junit = std::fs::read_to_string(work.path().join("junit.xml")).unwrap_or_default();
    let document: serde_json::Value = reqwest::get(format!("{}/v1/openapi.json", server.url))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut operations = 0;
    for (path, item) in document["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            if path == "/v1/openapi.json" {
                continue;
            }
            operations += 1;
            let name = format!("testcase name=\"{} {path}\"", method.to_uppercase());
            assert!(
                junit.contains(&name),
                "schemathesis did not test {} {path}:\n{report}",
                method.to_uppercase()
            );
        }
    }
    assert!(
        operations >= 38,
        "the document lists {operations} operations"
    );
}
