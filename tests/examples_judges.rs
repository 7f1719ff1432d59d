//! The example judges of `examples/judges/`, built from source the way their READMEs say and run through
//! `coalmine plugin test` against their fixtures and expected judgements.

mod common;

use std::path::Path;
use std::process::Command;

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn plugin_test(plugin: &Path, input: &Path, expect: &Path) -> (bool, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_coalmine"))
        .args(["plugin", "test"])
        .arg(plugin)
        .arg("--input")
        .arg(input)
        .arg("--expect")
        .arg(expect)
        .env(
            "COALMINE_CACHE_DIR",
            std::env::temp_dir().join("coalmine-test-cache"),
        )
        .output()
        .expect("running coalmine");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stderr).to_string(),
    )
}

#[test]
fn the_rust_threshold_judge_gates_on_fixed_bounds() {
    let plugin = common::example_judge("coalmine-threshold-judge");
    let fixtures = repo().join("examples/judges/threshold/fixtures");

    let (ok, stderr) = plugin_test(
        &plugin,
        &fixtures.join("input.json"),
        &fixtures.join("expected.json"),
    );
    assert!(ok, "{stderr}");
    assert!(stderr.contains("judgement: Pass (score 100)"), "{stderr}");

    let (ok, stderr) = plugin_test(
        &plugin,
        &fixtures.join("regressed.json"),
        &fixtures.join("expected-regressed.json"),
    );
    assert!(ok, "{stderr}");
    assert!(stderr.contains("judgement: Fail (score 0)"), "{stderr}");
    assert!(
        stderr.contains("log DEBUG: latency: p95 0.3525"),
        "{stderr}"
    );

    // The expected judgements are checked, not just echoed: the passing run does not match the failing one.
    let (ok, stderr) = plugin_test(
        &plugin,
        &fixtures.join("input.json"),
        &fixtures.join("expected-regressed.json"),
    );
    assert!(!ok, "{stderr}");
    assert!(
        stderr.contains(".score.classification: expected \"Fail\", got \"Pass\""),
        "{stderr}"
    );
}

/// Builds the Python example with componentize-py (`pip install componentize-py==0.25.1`), as its README says.
fn build_python_example() -> std::path::PathBuf {
    let version = Command::new("componentize-py").arg("--version").output();
    assert!(
        version.as_ref().is_ok_and(|output| output.status.success()),
        "componentize-py is needed to build examples/judges/python-ratio: install it with \
         `pip install componentize-py==0.25.1`"
    );
    let out = common::judges_target_dir().join("python-ratio.wasm");
    std::fs::create_dir_all(common::judges_target_dir()).unwrap();
    let output = Command::new("componentize-py")
        .current_dir(repo())
        .args([
            "-d",
            "wit",
            "-w",
            "judge-plugin",
            "componentize",
            "--stub-wasi",
            "app",
            "-p",
        ])
        .arg(repo().join("examples/judges/python-ratio"))
        .arg("-o")
        .arg(&out)
        .output()
        .expect("running componentize-py");
    assert!(
        output.status.success(),
        "componentize-py failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    out
}

#[test]
fn the_python_ratio_judge_runs_in_the_same_host() {
    let plugin = build_python_example();
    let fixtures = repo().join("examples/judges/python-ratio/fixtures");

    let (ok, stderr) = plugin_test(
        &plugin,
        &fixtures.join("input.json"),
        &fixtures.join("expected.json"),
    );
    assert!(ok, "{stderr}");
    assert!(stderr.contains("judgement: Pass (score 100)"), "{stderr}");
    assert!(
        stderr.contains("log DEBUG: latency: ratio 1.0000 PASS"),
        "{stderr}"
    );

    let (ok, stderr) = plugin_test(
        &plugin,
        &fixtures.join("regressed.json"),
        &fixtures.join("expected-regressed.json"),
    );
    assert!(ok, "{stderr}");
    assert!(stderr.contains("judgement: Fail (score 0)"), "{stderr}");

    let (ok, stderr) = plugin_test(
        &plugin,
        &fixtures.join("regressed.json"),
        &fixtures.join("expected.json"),
    );
    assert!(!ok, "{stderr}");
    assert!(
        stderr.contains(".results[0].classification: expected \"Pass\", got \"High\""),
        "{stderr}"
    );
}
