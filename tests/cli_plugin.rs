//! `coalmine plugin new|test|inspect` as a plugin author runs them: the real binary scaffolds a judge crate,
//! cargo builds it for wasm32-wasip2, and `plugin test` runs it; the test plugins show how traps, loops and
//! broken contracts are reported.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{Value, json};

fn coalmine(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_coalmine"))
        .args(args)
        .env(
            "COALMINE_CACHE_DIR",
            std::env::temp_dir().join("coalmine-test-cache"),
        )
        .output()
        .expect("running coalmine")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).to_string()
}

/// Builds the judge crate in `dir` as its README says, and returns the path of the component.
fn build_judge_crate(dir: &Path, crate_name: &str) -> PathBuf {
    let target_dir = common::judges_target_dir();
    let output = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
        .current_dir(dir)
        .args([
            "build",
            "--quiet",
            "--offline",
            "--release",
            "--target",
            "wasm32-wasip2",
        ])
        .env("CARGO_TARGET_DIR", &target_dir)
        .env_remove("CARGO_BUILD_TARGET")
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .output()
        .expect("running cargo");
    assert!(
        output.status.success(),
        "cargo build of {} failed: {}",
        dir.display(),
        text(&output.stderr)
    );
    assert!(
        output.stderr.is_empty(),
        "the scaffold builds with warnings: {}",
        text(&output.stderr)
    );
    target_dir.join(format!("wasm32-wasip2/release/{crate_name}.wasm"))
}

#[test]
fn a_scaffolded_judge_builds_and_passes_its_own_fixture() {
    // Inside this repository, so the scaffold depends on the SDK by path.
    let parent = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/plugin-new-test");
    let dir = parent.join("slo-judge");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&parent).unwrap();
    let dir_arg = dir.display().to_string();
    let created = coalmine(&["plugin", "new", "slo-judge", "--path", &dir_arg]);
    assert!(created.status.success(), "{}", text(&created.stderr));
    let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
    assert!(
        manifest.contains(r#"coalmine-judge-sdk = { path = "../../../judges/sdk" }"#),
        "{manifest}"
    );
    for file in ["src/lib.rs", "fixtures/input.json", "README.md"] {
        assert!(dir.join(file).is_file(), "{file} is missing");
    }

    let fmt = Command::new("rustfmt")
        .args(["--edition", "2024", "--check"])
        .arg(dir.join("src/lib.rs"))
        .output()
        .expect("running rustfmt");
    assert!(
        fmt.status.success(),
        "the scaffold is not rustfmt-clean: {}",
        text(&fmt.stdout)
    );
    let wasm = build_judge_crate(&dir, "slo_judge");
    let wasm = wasm.display().to_string();
    let fixture = dir.join("fixtures/input.json").display().to_string();
    let tested = coalmine(&["plugin", "test", &wasm, "--input", &fixture]);
    let stderr = text(&tested.stderr);
    assert!(tested.status.success(), "{stderr}");
    let judgement: Value = serde_json::from_slice(&tested.stdout).expect("stdout is JSON");
    assert_eq!(judgement["judgeName"], "slo-judge");
    assert_eq!(
        judgement["score"]["classification"], "Pass",
        "{judgement:#}"
    );
    assert_eq!(judgement["results"].as_array().map(Vec::len), Some(2));
    // Every judge reports `ratio` (the table's RATIO column): the experiment's mean over the control's, of
    // the fixture's values without NaN.
    let input: Value = serde_json::from_str(&std::fs::read_to_string(&fixture).unwrap()).unwrap();
    for (pair, result) in input["metricSetPairList"]
        .as_array()
        .unwrap()
        .iter()
        .zip(judgement["results"].as_array().unwrap())
    {
        let mean = |side: &str| {
            let values: Vec<f64> = pair["values"][side]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(Value::as_f64)
                .collect();
            values.iter().sum::<f64>() / values.len() as f64
        };
        let ratio = result["resultMetadata"]["ratio"].as_f64();
        assert!(
            ratio.is_some_and(|ratio| (ratio - mean("experiment") / mean("control")).abs() < 1e-9),
            "{result:#}"
        );
    }
    assert!(stderr.contains("judge slo-judge 0.1.0"), "{stderr}");
    assert!(stderr.contains("log DEBUG: latency: change"), "{stderr}");
    assert!(
        stderr.contains("wall time") && stderr.contains("peak memory"),
        "{stderr}"
    );

    // The judgement it printed is what --expect compares with.
    let expected = dir.join("fixtures/expected.json");
    std::fs::write(&expected, &tested.stdout).unwrap();
    let expected_arg = expected.display().to_string();
    let matched = coalmine(&[
        "plugin",
        "test",
        &wasm,
        "--input",
        &fixture,
        "--expect",
        &expected_arg,
    ]);
    assert!(matched.status.success(), "{}", text(&matched.stderr));
    assert!(text(&matched.stderr).contains("matches"));

    let mut changed = judgement.clone();
    changed["results"][1]["classification"] = json!("High");
    std::fs::write(&expected, changed.to_string()).unwrap();
    let differs = coalmine(&[
        "plugin",
        "test",
        &wasm,
        "--input",
        &fixture,
        "--expect",
        &expected_arg,
    ]);
    let stderr = text(&differs.stderr);
    assert_eq!(differs.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(".results[1].classification: expected \"High\", got \"Pass\""),
        "{stderr}"
    );
}

/// A RemoteJudge request for the scripted test judge, which behaves as `behaviour` says.
fn scripted_fixture(behaviour: &str) -> tempfile::NamedTempFile {
    let request = json!({
        "canaryConfig": {
            "name": "scripted",
            "judge": {"name": "scripted", "judgeConfigurations": {"behaviour": behaviour}},
            "metrics": [{"name": "latency", "query": {"type": "inline"}, "groups": ["default"],
                         "analysisConfigurations": {}, "scopeName": "default"}]
        },
        "metricSetPairList": [{"name": "latency", "id": "p1", "tags": {},
                               "values": {"control": [1.0, 2.0, 3.0], "experiment": [1.0, 2.0, 4.0]}}],
        "scoreThresholds": {"pass": 95, "marginal": 75}
    });
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), request.to_string()).unwrap();
    file
}

fn plugin_test(plugin: &Path, behaviour: &str) -> (Option<i32>, String) {
    let fixture = scripted_fixture(behaviour);
    let output = coalmine(&[
        "plugin",
        "test",
        &plugin.display().to_string(),
        "--input",
        &fixture.path().display().to_string(),
    ]);
    (output.status.code(), text(&output.stderr))
}

#[test]
fn plugin_test_reports_a_judge_that_traps_loops_or_breaks_the_contract() {
    let scripted = common::plugin("scripted");
    let (code, stderr) = plugin_test(&scripted, "pass");
    assert_eq!(code, Some(0), "{stderr}");

    for (behaviour, expected) in [
        (
            "loop",
            "FAILED (deadline): judge scripted did not finish within its deadline of 2000 ms",
        ),
        ("panic", "FAILED (trap)"),
        ("memory", "FAILED (memory)"),
        ("recursion", "FAILED (stack_overflow)"),
        ("unknown-pair", "FAILED (invalid_judgement)"),
        ("nan-score", "FAILED (invalid_judgement)"),
        (
            "error",
            "FAILED (failed): judge scripted failed: scripted failure",
        ),
    ] {
        let (code, stderr) = plugin_test(&scripted, behaviour);
        assert_eq!(code, Some(1), "{behaviour}: {stderr}");
        assert!(stderr.contains(expected), "{behaviour}: {stderr}");
        assert!(stderr.contains("wall time"), "{behaviour}: {stderr}");
    }
    let (_, stderr) = plugin_test(&scripted, "panic");
    assert!(stderr.contains("scripted panic"), "{stderr}");

    // A plugin that does not load is reported with the loader's reason.
    let (code, stderr) = plugin_test(&common::plugin("future-version"), "pass");
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("but this coalmine speaks coalmine:judge@0.1.1"),
        "{stderr}"
    );
}

#[test]
fn plugin_inspect_tells_what_loads_and_why_not() {
    let scripted = coalmine(&[
        "plugin",
        "inspect",
        &common::plugin("scripted").display().to_string(),
    ]);
    let stdout = text(&scripted.stdout);
    assert!(scripted.status.success(), "{stdout}");
    assert!(stdout.contains("name:        scripted"), "{stdout}");
    assert!(
        stdout.contains("wit:         coalmine:judge@0.1.1"),
        "{stdout}"
    );
    assert!(stdout.contains("  coalmine:judge/host@0.1.1"), "{stdout}");
    assert!(stdout.contains("decides:     no ("), "{stdout}");
    assert!(stdout.contains("loads:       yes"), "{stdout}");
    let decisive = coalmine(&[
        "plugin",
        "inspect",
        &common::plugin("decisive").display().to_string(),
    ]);
    let stdout = text(&decisive.stdout);
    assert!(decisive.status.success(), "{stdout}");
    assert!(stdout.contains("decides:     yes ("), "{stdout}");

    let future = coalmine(&[
        "plugin",
        "inspect",
        &common::plugin("future-version").display().to_string(),
    ]);
    let stdout = text(&future.stdout);
    assert_eq!(future.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("loads:       no (incompatible_version)"),
        "{stdout}"
    );

    let sneaky = coalmine(&[
        "plugin",
        "inspect",
        &common::plugin("sneaky").display().to_string(),
    ]);
    let stdout = text(&sneaky.stdout);
    assert_eq!(sneaky.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("loads:       no (unsupported_imports)"),
        "{stdout}"
    );
    assert!(stdout.contains("wasi:filesystem"), "{stdout}");

    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml");
    let not_wasm = coalmine(&["plugin", "inspect", &manifest.display().to_string()]);
    let stdout = text(&not_wasm.stdout);
    assert_eq!(not_wasm.status.code(), Some(1));
    assert!(
        stdout.contains("loads:       no (not_a_component)"),
        "{stdout}"
    );
}

#[test]
fn plugin_new_refuses_bad_names_and_existing_directories() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x").display().to_string();
    let bad = coalmine(&["plugin", "new", "My Judge", "--path", &path]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(text(&bad.stderr).contains("must start with a lowercase letter"));

    std::fs::write(dir.path().join("taken"), "").unwrap();
    let existing = coalmine(&[
        "plugin",
        "new",
        "judge",
        "--path",
        &dir.path().display().to_string(),
    ]);
    assert_eq!(existing.status.code(), Some(1));
    assert!(text(&existing.stderr).contains("already exists and is not empty"));

    let not_an_sdk = coalmine(&["plugin", "new", "judge", "--path", &path, "--sdk", "/"]);
    assert_eq!(not_an_sdk.status.code(), Some(1));
    assert!(
        text(&not_an_sdk.stderr).contains("--sdk /: cannot read /Cargo.toml"),
        "{}",
        text(&not_an_sdk.stderr)
    );

    // --sdk points at another copy of the SDK.
    let sdk = Path::new(env!("CARGO_MANIFEST_DIR")).join("judges/sdk");
    let given = coalmine(&[
        "plugin",
        "new",
        "judge",
        "--path",
        &path,
        "--sdk",
        &sdk.display().to_string(),
    ]);
    assert!(given.status.success(), "{}", text(&given.stderr));
    let manifest = std::fs::read_to_string(dir.path().join("x/Cargo.toml")).unwrap();
    let sdk_path = manifest
        .lines()
        .find_map(|line| line.strip_prefix("coalmine-judge-sdk = { path = \""))
        .and_then(|rest| rest.strip_suffix("\" }"))
        .unwrap_or_else(|| panic!("no path dependency on the SDK in {manifest}"));
    assert_eq!(
        dir.path().join("x").join(sdk_path).canonicalize().unwrap(),
        sdk.canonicalize().unwrap()
    );
}

#[test]
fn a_judge_scaffolded_outside_a_checkout_builds_on_the_sdk_the_binary_carries() {
    // A directory outside this repository, as for a plugin author who has only the coalmine binary.
    let parent = tempfile::tempdir().unwrap();
    let dir = parent.path().join("outside-judge");
    let created = coalmine(&[
        "plugin",
        "new",
        "outside-judge",
        "--path",
        &dir.display().to_string(),
    ]);
    assert!(created.status.success(), "{}", text(&created.stderr));
    let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
    assert!(
        manifest.contains(r#"coalmine-judge-sdk = { path = "vendor/coalmine-judge-sdk" }"#),
        "{manifest}"
    );
    assert!(
        dir.join("vendor/coalmine-judge-sdk/wit/judge.wit")
            .is_file()
    );

    let wasm = build_judge_crate(&dir, "outside_judge")
        .display()
        .to_string();
    let fixture = dir.join("fixtures/input.json").display().to_string();
    let tested = coalmine(&["plugin", "test", &wasm, "--input", &fixture]);
    assert!(tested.status.success(), "{}", text(&tested.stderr));
    let judgement: Value = serde_json::from_slice(&tested.stdout).expect("stdout is JSON");
    assert_eq!(judgement["judgeName"], "outside-judge");
    assert_eq!(
        judgement["score"]["classification"], "Pass",
        "{judgement:#}"
    );
}
