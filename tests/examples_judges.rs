//! The example judges of `examples/judges/`, built from source the way their READMEs say and run through
//! `coalmine plugin test` against their fixtures and expected judgements.

use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// `<target>/judges`: where the test suite builds plugins, shared so dependencies compile once.
fn judges_target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test executable's path");
    exe.ancestors()
        .nth(3)
        .expect("the test executable lives in <target>/<profile>/deps")
        .join("judges")
}

/// Builds the Rust example judge `package` for wasm32-wasip2 and returns its component.
fn build_rust_example(package: &str) -> PathBuf {
    let target_dir = judges_target_dir();
    let status = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
        .current_dir(repo())
        .args(["build", "--quiet", "--release", "--target", "wasm32-wasip2", "-p", package])
        .arg("--target-dir")
        .arg(&target_dir)
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("CARGO_BUILD_TARGET")
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .status()
        .expect("running cargo");
    assert!(status.success(), "building the example judge {package} failed");
    target_dir.join(format!("wasm32-wasip2/release/{}.wasm", package.replace('-', "_")))
}

fn plugin_test(plugin: &Path, input: &Path, expect: &Path) -> (bool, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_coalmine"))
        .args(["plugin", "test"])
        .arg(plugin)
        .arg("--input")
        .arg(input)
        .arg("--expect")
        .arg(expect)
        .env("COALMINE_CACHE_DIR", std::env::temp_dir().join("coalmine-test-cache"))
        .output()
        .expect("running coalmine");
    (output.status.success(), String::from_utf8_lossy(&output.stderr).to_string())
}

#[test]
fn the_rust_threshold_judge_gates_on_fixed_bounds() {
    let plugin = build_rust_example("coalmine-threshold-judge");
    let fixtures = repo().join("examples/judges/threshold/fixtures");

    let (ok, stderr) = plugin_test(&plugin, &fixtures.join("input.json"), &fixtures.join("expected.json"));
    assert!(ok, "{stderr}");
    assert!(stderr.contains("judgement: Pass (score 100)"), "{stderr}");

    let (ok, stderr) = plugin_test(
        &plugin,
        &fixtures.join("regressed.json"),
        &fixtures.join("expected-regressed.json"),
    );
    assert!(ok, "{stderr}");
    assert!(stderr.contains("judgement: Fail (score 0)"), "{stderr}");
    assert!(stderr.contains("log DEBUG: latency: p95 0.3525"), "{stderr}");

    // The expected judgements are checked, not just echoed: the passing run does not match the failing one.
    let (ok, stderr) = plugin_test(
        &plugin,
        &fixtures.join("input.json"),
        &fixtures.join("expected-regressed.json"),
    );
    assert!(!ok, "{stderr}");
    assert!(stderr.contains(".score.classification: expected \"Fail\", got \"Pass\""), "{stderr}");
}
