//! `coalmine judge` and `coalmine judges` as a user runs them: the real binary, real files, real judges.

mod common;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use serde_json::{Value, json};

fn coalmine(args: &[&str]) -> Output {
    coalmine_with_stdin(args, None)
}

fn coalmine_with_stdin(args: &[&str], stdin: Option<&str>) -> Output {
    let cache = std::env::temp_dir().join("coalmine-test-cache");
    let mut child = Command::new(env!("CARGO_BIN_EXE_coalmine"))
        .args(args)
        .env("COALMINE_CACHE_DIR", cache)
        .env_remove("COALMINE_JUDGES_DIR")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("running coalmine");
    let mut pipe = child.stdin.take().unwrap();
    pipe.write_all(stdin.unwrap_or_default().as_bytes())
        .unwrap();
    drop(pipe);
    child.wait_with_output().unwrap()
}

fn example(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples/judge")
        .join(name)
        .display()
        .to_string()
}

fn stdout_json(output: &Output) -> Value {
    assert!(
        output.status.success(),
        "exit {:?}: {}",
        output.status.code(),
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("stdout is JSON")
}

/// Runs `coalmine judge` on `request` and returns its one-line error.
fn judge_error(request: &Value, extra: &[&str]) -> String {
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), request.to_string()).unwrap();
    let path = file.path().display().to_string();
    let mut args = vec!["judge", "--input", path.as_str()];
    args.extend_from_slice(extra);
    let output = coalmine(&args);
    let stderr = String::from_utf8_lossy(&output.stderr).to_string();
    assert_eq!(output.status.code(), Some(1), "stderr: {stderr}");
    assert!(output.stdout.is_empty());
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    let line = stderr.trim_end().to_string();
    assert!(line.starts_with("error: "), "{line}");
    line
}

fn healthy() -> Value {
    serde_json::from_str(&std::fs::read_to_string(example("healthy.json")).unwrap()).unwrap()
}

#[test]
fn the_healthy_example_passes_and_the_regressed_one_fails_on_latency() {
    let healthy = stdout_json(&coalmine(&["judge", "--input", &example("healthy.json")]));
    assert_eq!(healthy["judgeName"], "NetflixACAJudge-v1.0");
    assert_eq!(healthy["score"]["classification"], "Pass", "{healthy:#}");
    assert_eq!(healthy["score"]["score"], 100.0);
    assert_eq!(healthy["results"].as_array().unwrap().len(), 3);

    let regressed = stdout_json(&coalmine(&["judge", "--input", &example("regressed.json")]));
    assert_eq!(
        regressed["score"]["classification"], "Fail",
        "{regressed:#}"
    );
    assert_eq!(regressed["score"]["score"], 0.0);
    let latency = &regressed["results"][0];
    assert_eq!(latency["name"], "http_latency_p99_seconds");
    assert_eq!(latency["classification"], "High");
    assert_eq!(latency["critical"], true);
    assert_eq!(
        regressed["score"]["classificationReason"],
        "Canary Failed: The metric http_latency_p99_seconds was classified as High (Critical)"
    );
    let explained = &latency["resultMetadata"];
    for key in [
        "ratio",
        "estimate",
        "confidenceInterval",
        "confidenceLevel",
        "pValue",
        "effectSize",
    ] {
        assert!(
            explained.get(key).is_some(),
            "resultMetadata lacks {key}: {explained:#}"
        );
    }
    assert!(explained["pValue"].as_f64().unwrap() < 0.001);
    assert_eq!(latency["experimentMetadata"]["stats"]["count"], 60);
}

#[test]
fn the_request_can_come_from_stdin_and_the_judge_from_the_command_line() {
    let text = std::fs::read_to_string(example("healthy.json")).unwrap();
    let result = stdout_json(&coalmine_with_stdin(
        &["judge", "--input", "-", "--judge", "mann-whitney"],
        Some(&text),
    ));
    assert_eq!(result["judgeName"], "mann-whitney");
    assert_eq!(result["score"]["classification"], "Pass");
}

#[test]
fn a_plugin_file_or_a_judges_directory_supplies_other_judges() {
    let scripted = common::plugin("scripted").display().to_string();
    let result = stdout_json(&coalmine(&[
        "judge",
        "--input",
        &example("regressed.json"),
        "--plugin",
        &scripted,
    ]));
    assert_eq!(result["judgeName"], "scripted");
    assert_eq!(result["score"]["classification"], "Pass");

    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(&scripted, dir.path().join("scripted.wasm")).unwrap();
    let dir = dir.path().display().to_string();
    let listing = coalmine(&["judges", "--judges-dir", &dir]);
    assert!(listing.status.success());
    let listing = String::from_utf8(listing.stdout).unwrap();
    assert!(
        listing.contains("mann-whitney 0.1.0 (built-in"),
        "{listing}"
    );
    assert!(
        listing.contains("also known as: NetflixACAJudge-v1.0"),
        "{listing}"
    );
    assert!(listing.contains("scripted 0.1.0 ("), "{listing}");

    let result = stdout_json(&coalmine(&[
        "judge",
        "--input",
        &example("regressed.json"),
        "--judges-dir",
        &dir,
        "--judge",
        "scripted",
    ]));
    assert_eq!(result["judgeName"], "scripted");
}

#[test]
fn bad_files_get_one_line_errors_that_name_the_problem() {
    let missing = coalmine(&["judge", "--input", "/nonexistent/request.json"]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&missing.stderr)
            .starts_with("error: cannot read /nonexistent/request.json")
    );

    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), "{\"canaryConfig\": ").unwrap();
    let output = coalmine(&["judge", "--input", &file.path().display().to_string()]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr.contains("EOF while parsing") && stderr.contains("line 1"),
        "{stderr}"
    );

    let usage = coalmine(&["judge"]);
    assert_eq!(usage.status.code(), Some(2), "a usage error exits 2");
}

#[test]
fn bad_requests_get_one_line_errors_that_name_the_field() {
    let mut request = healthy();
    request["metricSetPairList"][0]["values"]["control"][3] = json!("fast");
    let error = judge_error(&request, &[]);
    assert!(
        error.contains("metricSetPairList[0].values.control[3]") && error.contains("\"fast\""),
        "{error}"
    );

    let mut request = healthy();
    request.as_object_mut().unwrap().remove("scoreThresholds");
    assert!(judge_error(&request, &[]).contains("missing field `scoreThresholds`"));

    let mut request = healthy();
    request["scoreThresholds"] = json!({"pass": 50, "marginal": 75});
    assert!(judge_error(&request, &[]).contains("marginal (75) must not be above pass (50)"));

    let mut request = healthy();
    request["metricSetPairList"][1]["name"] = json!("memory");
    assert!(
        judge_error(&request, &[])
            .contains("metricSetPairList[1]: there is no metric named 'memory'")
    );

    let mut request = healthy();
    request["canaryConfig"]["metrics"][0]["analysisConfigurations"]["canary"]["critical"] =
        json!("true");
    let error = judge_error(&request, &[]);
    assert!(
        error.contains("metric 'http_latency_p99_seconds': analysisConfigurations.canary.critical must be true or false"),
        "{error}"
    );

    let mut request = healthy();
    request["canaryConfig"]["metrics"][2]["analysisConfigurations"]["canary"]["direction"] =
        json!("up");
    let error = judge_error(&request, &[]);
    assert!(
        error.contains(
            "direction must be one of \"increase\", \"decrease\", \"either\", got \"up\""
        ),
        "{error}"
    );

    let mut request = healthy();
    request["canaryConfig"]["metrics"][1]["name"] = json!("http_latency_p99_seconds");
    assert!(
        judge_error(&request, &[]).contains(
            "Metric config name must be unique. 'http_latency_p99_seconds' is duplicated."
        )
    );

    let mut request = healthy();
    request["canaryConfig"]["metrics"] = json!([]);
    assert!(judge_error(&request, &[]).contains("must specify at least one metric"));

    let mut request = healthy();
    request["canaryConfig"]["judge"]["judgeConfigurations"] = json!({"confidenceLevel": 1.5});
    let error = judge_error(&request, &[]);
    assert!(
        error.contains("judge mann-whitney rejected the request")
            && error.contains("confidenceLevel"),
        "{error}"
    );
}

#[test]
fn unknown_judges_and_broken_plugins_are_named() {
    let error = judge_error(&healthy(), &["--judge", "t-test"]);
    assert!(
        error.contains("no judge named \"t-test\"") && error.contains("mann-whitney"),
        "{error}"
    );

    let not_wasm = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(not_wasm.path(), "hello").unwrap();
    let error = judge_error(
        &healthy(),
        &["--plugin", &not_wasm.path().display().to_string()],
    );
    assert!(error.contains("is not a WebAssembly component"), "{error}");

    let scripted = common::plugin("scripted").display().to_string();
    let mut request = healthy();
    request["canaryConfig"]["judge"]["judgeConfigurations"] = json!({"behaviour": "loop"});
    let error = judge_error(&request, &["--plugin", &scripted]);
    assert!(
        error.contains("judge scripted did not finish within its deadline of 2000 ms"),
        "{error}"
    );
}
