//! Shared test helpers: building the test judge plugins in `tests/plugins/` for wasm32-wasip2, and requests.

#![allow(dead_code)] // each test binary uses a different part of this module

pub mod clients;
pub mod report;
pub mod server;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use coalmine::judge_host as wit;

/// The directory the test plugins are built into, after building them once per test binary.
pub fn test_plugins() -> &'static Path {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| {
        let target_dir = judges_target_dir();
        let status = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .args([
                "build",
                "--quiet",
                "--target",
                "wasm32-wasip2",
                "--profile",
                "wasm-judge",
                "--target-dir",
            ])
            .arg(&target_dir)
            .args([
                "-p",
                "coalmine-test-scripted",
                "-p",
                "coalmine-test-sneaky",
                "-p",
                "coalmine-test-future-version",
                "-p",
                "coalmine-test-decisive",
                "-p",
                "coalmine-test-contract-010",
            ])
            .env_remove("CARGO_TARGET_DIR")
            .env_remove("CARGO_BUILD_TARGET")
            .env_remove("RUSTFLAGS")
            .env_remove("CARGO_ENCODED_RUSTFLAGS")
            .status()
            .expect("running cargo to build the test plugins");
        assert!(
            status.success(),
            "building the test plugins in tests/plugins failed"
        );
        target_dir.join("wasm32-wasip2").join("wasm-judge")
    })
}

/// The path of a test plugin component, e.g. `plugin("scripted")`.
pub fn plugin(name: &str) -> PathBuf {
    test_plugins().join(format!("coalmine_test_{}.wasm", name.replace('-', "_")))
}

/// Builds the example judge crate `package` (`examples/judges/`) for wasm32-wasip2 in release mode, as its
/// README says, and returns the component's path.
pub fn example_judge(package: &str) -> PathBuf {
    let target_dir = judges_target_dir();
    let status = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args([
            "build",
            "--quiet",
            "--release",
            "--target",
            "wasm32-wasip2",
            "-p",
            package,
        ])
        .arg("--target-dir")
        .arg(&target_dir)
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("CARGO_BUILD_TARGET")
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .status()
        .expect("running cargo to build an example judge");
    assert!(
        status.success(),
        "building the example judge {package} failed"
    );
    target_dir.join(format!(
        "wasm32-wasip2/release/{}.wasm",
        package.replace('-', "_")
    ))
}

/// `<target>/judges`, beside the directory of this test executable (`<target>/<profile>/deps/…`).
pub fn judges_target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test executable's path");
    let target = exe
        .ancestors()
        .nth(3)
        .expect("the test executable lives in <target>/<profile>/deps");
    target.join("judges")
}

/// A metric with Kayenta's default settings.
pub fn metric(name: &str) -> wit::MetricConfig {
    wit::MetricConfig {
        name: name.to_string(),
        groups: vec!["default".to_string()],
        direction: wit::Direction::Either,
        nan_strategy: wit::NanStrategy::Remove,
        critical: false,
        must_have_data: false,
        muted: false,
        effect_size: wit::EffectSize {
            measure: wit::EffectSizeMeasure::MeanRatio,
            allowed_increase: 1.0,
            allowed_decrease: 1.0,
            critical_increase: 1.0,
            critical_decrease: 1.0,
        },
        outliers: wit::Outliers {
            strategy: wit::OutlierStrategy::Keep,
            factor: 3.0,
        },
        analysis_configurations: "{}".to_string(),
    }
}

/// A request with one pair per `(metric, control, experiment)`, thresholds 95/75, and `judge_configuration`.
pub fn request(
    pairs: &[(&str, Vec<f64>, Vec<f64>)],
    judge_configuration: &str,
) -> wit::JudgeRequest {
    let series = |values: &Vec<f64>| wit::Series {
        values: values.clone(),
        start_millis: 0,
        step_millis: 60_000,
    };
    let mut metrics: Vec<wit::MetricConfig> = Vec::new();
    for (name, _, _) in pairs {
        if !metrics.iter().any(|m| m.name == *name) {
            metrics.push(metric(name));
        }
    }
    wit::JudgeRequest {
        metrics,
        pairs: pairs
            .iter()
            .enumerate()
            .map(|(index, (name, control, experiment))| wit::MetricPair {
                id: format!("pair-{index}"),
                metric: name.to_string(),
                tags: Vec::new(),
                control: series(control),
                experiment: series(experiment),
            })
            .collect(),
        group_weights: Vec::new(),
        thresholds: wit::ScoreThresholds {
            pass: 95.0,
            marginal: 75.0,
        },
        judge_configuration: judge_configuration.to_string(),
    }
}

/// A request for the scripted test judge, which behaves as `behaviour` says.
pub fn scripted(behaviour: &str) -> wit::JudgeRequest {
    request(
        &[
            ("latency", vec![1.0, 2.0, 3.0], vec![1.0, 2.0, 4.0]),
            ("errors", vec![0.0; 3], vec![0.0; 3]),
        ],
        &format!(r#"{{"behaviour": "{behaviour}"}}"#),
    )
}
