//! Issue 14, item 8: misspelled config fields are still accepted (Kayenta ignores unknown fields), but each
//! is reported by its path with the nearest known name, wherever a config is stored or used: `POST
//! /v1/configs`, Kayenta's `POST /canaryConfig` (beside the `canaryConfigId` its clients read), `POST
//! /v1/analyses` and `GET /v1/analyses/{id}`, the report page, and on stderr from `coalmine analyze` and
//! `coalmine judge`. The misspelled `critcal` loses the critical gate, as it would in Kayenta.

mod common;
mod support;

use std::path::Path;
use std::process::Command;

use common::clients::post;
use common::server::Server;
use serde_json::{Value, json};
use support::prometheus::{self, BASELINE, CANARY};

const CRITCAL: &str = "metrics[0].analysisConfigurations.canary.critcal: unknown field, ignored; did you mean `critical`?";
const FEILDS: &str =
    "metrics[1].query.groupByFeilds: unknown field, ignored; did you mean `groupByFields`?";

/// The example config with `critical` and `groupByFields` misspelled, as a user might.
fn misspelled() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/analyze/checkout-canary.json");
    let text = std::fs::read_to_string(path)
        .unwrap()
        .replace("\"critical\"", "\"critcal\"")
        .replace("\"groupByFields\"", "\"groupByFeilds\"");
    serde_json::from_str(&text).unwrap()
}

#[tokio::test]
async fn the_server_answers_warnings_wherever_a_config_is_stored_or_used() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(
        data.path(),
        &["--prometheus-url", &prometheus::shared().url],
    );

    let (status, stored) = post(&format!("{}/v1/configs", server.url), &misspelled()).await;
    assert_eq!(status, 201, "{stored:#}");
    assert_eq!(stored["warnings"], json!([CRITCAL, FEILDS]), "{stored:#}");
    // The fields are kept, as Kayenta keeps nothing but also refuses nothing.
    assert_eq!(
        stored["metrics"][0]["analysisConfigurations"]["canary"]["critcal"],
        true
    );

    let mut kayenta = misspelled();
    kayenta["name"] = json!("checkout-canary-kayenta");
    let (status, answer) = post(&format!("{}/canaryConfig", server.url), &kayenta).await;
    assert_eq!(status, 200, "{answer:#}");
    assert!(answer["canaryConfigId"].is_string(), "{answer:#}");
    assert_eq!(answer["warnings"], json!([CRITCAL, FEILDS]));

    let set = prometheus::shared();
    let request = json!({
        "config": misspelled(),
        "control": {"scope": BASELINE}, "experiment": {"scope": CANARY},
        "start": set.start_time(), "end": set.end_time(), "step": "15s",
        "thresholds": {"pass": 75, "marginal": 50}
    });
    let (status, analysis) = post(&format!("{}/v1/analyses", server.url), &request).await;
    assert_eq!(status, 200, "{analysis:#}");
    assert_eq!(analysis["warnings"], json!([CRITCAL, FEILDS]));
    // Without the critical gate, `latency` is an ordinary High.
    let latency = &analysis["intervals"][0]["judgeResult"]["results"][0];
    assert_eq!(
        (latency["name"].as_str(), latency["critical"].as_bool()),
        (Some("latency"), Some(false))
    );
    // groupByFeilds is ignored: one latency_by_region series, not one per region.
    let by_region = analysis["intervals"][0]["judgeResult"]["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|result| result["name"] == "latency_by_region")
        .count();
    assert_eq!(by_region, 1);

    let id = analysis["id"].as_str().unwrap();
    let page = reqwest::get(format!("{}/analyses/{id}", server.url))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("Warnings")
            && page.contains("metrics[0].analysisConfigurations.canary.critcal: unknown field")
            && page.contains("metrics[1].query.groupByFeilds: unknown field"),
        "{page}"
    );
}

fn coalmine(args: &[&str]) -> (Option<i32>, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_coalmine"))
        .args(args)
        .env(
            "COALMINE_CACHE_DIR",
            std::env::temp_dir().join("coalmine-test-cache"),
        )
        .env_remove("COALMINE_JUDGES_DIR")
        .output()
        .expect("running coalmine");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into(),
        String::from_utf8_lossy(&output.stderr).into(),
    )
}

#[test]
fn analyze_and_judge_print_a_line_per_unknown_field_on_stderr() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.json");
    std::fs::write(&config, misspelled().to_string()).unwrap();
    let set = prometheus::shared();
    let (code, stdout, stderr) = coalmine(&[
        "analyze",
        "--prometheus-url",
        &set.url,
        "--control-scope",
        BASELINE,
        "--experiment-scope",
        CANARY,
        "--step",
        "15",
        "--start",
        &set.start_time().to_string(),
        "--end",
        &set.end_time().to_string(),
        "--config",
        config.to_str().unwrap(),
    ]);
    assert_eq!(code, Some(4), "{stdout}{stderr}");
    let shown = config.display().to_string();
    assert!(
        stderr.contains(&format!("warning: {shown}: {CRITCAL}\n")),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("warning: {shown}: {FEILDS}\n")),
        "{stderr}"
    );
    assert!(
        !stdout.contains("warning"),
        "stdout stays the table:\n{stdout}"
    );

    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/judge/regressed.json");
    let mut input: Value =
        serde_json::from_str(&std::fs::read_to_string(example).unwrap()).unwrap();
    input["canaryConfig"]["metrics"][0]["analysisConfigurations"]["canary"]["mustHaveDta"] =
        json!(true);
    let file = dir.path().join("input.json");
    std::fs::write(&file, input.to_string()).unwrap();
    let (code, stdout, stderr) = coalmine(&["judge", "--input", file.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert!(
        stderr.contains(&format!(
            "warning: {}: canaryConfig.metrics[0].analysisConfigurations.canary.mustHaveDta: unknown field, \
             ignored; did you mean `mustHaveData`?",
            file.display()
        )),
        "{stderr}"
    );
    serde_json::from_str::<Value>(&stdout).expect("stdout stays the judge result");
}
