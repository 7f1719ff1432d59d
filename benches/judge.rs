//! `cargo bench --bench judge`: the cost of sandboxing.
//!
//! 1. The Mann-Whitney judge on a 50-metric canary with 1,000 points per side, natively (the judge crate called
//!    as a library) and as the embedded WebAssembly component through the judge host (instantiate, copy the
//!    request in, judge, copy the judgement out, check it). Prints `wasm/native ratio: X.XX` (goal ≤ 1.3).
//! 2. The per-call overhead of a trivial judge (the `scripted` test judge passing one pair): store,
//!    instantiation, call and checks, in microseconds.
//!
//! Each figure is the median of repeated timed runs after a warm-up.

#[path = "../tests/common/mod.rs"]
mod common;
#[path = "common/timing.rs"]
mod timing;

use std::hint::black_box;

use coalmine::judge_host::{JudgeHost, Limits};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use timing::median;

const METRICS: usize = 50;
const POINTS: usize = 1000;

/// Fills a judge request of the module `$($m)::+` (host or SDK types, generated from the same WIT) from
/// `data`: one metric and one pair per entry.
macro_rules! request {
    ($($m:ident)::+, $data:expr) => {{
        use $($m)::+ as t;
        let data: &[(Vec<f64>, Vec<f64>)] = $data;
        let series = |values: &Vec<f64>| t::Series { values: values.clone(), start_millis: 0, step_millis: 60_000 };
        t::JudgeRequest {
            metrics: (0..data.len())
                .map(|i| t::MetricConfig {
                    name: format!("metric-{i}"),
                    groups: vec![format!("group-{}", i % 5)],
                    direction: t::Direction::Either,
                    nan_strategy: t::NanStrategy::Remove,
                    critical: false,
                    must_have_data: false,
                    muted: false,
                    effect_size: t::EffectSize {
                        measure: t::EffectSizeMeasure::MeanRatio,
                        allowed_increase: 1.0,
                        allowed_decrease: 1.0,
                        critical_increase: 1.0,
                        critical_decrease: 1.0,
                    },
                    outliers: t::Outliers { strategy: t::OutlierStrategy::Remove, factor: 3.0 },
                    analysis_configurations: "{}".to_string(),
                })
                .collect(),
            pairs: data
                .iter()
                .enumerate()
                .map(|(i, (control, experiment))| t::MetricPair {
                    id: format!("pair-{i}"),
                    metric: format!("metric-{i}"),
                    tags: Vec::new(),
                    control: series(control),
                    experiment: series(experiment),
                })
                .collect(),
            group_weights: Vec::new(),
            thresholds: t::ScoreThresholds { pass: 95.0, marginal: 75.0 },
            judge_configuration: "{}".to_string(),
        }
    }};
}

/// Normal samples by Box-Muller; every fifth metric's experiment is shifted up by 5%.
fn canary() -> Vec<(Vec<f64>, Vec<f64>)> {
    let mut rng = StdRng::seed_from_u64(7);
    let mut normal = move |mean: f64, sd: f64| {
        let (u, v): (f64, f64) = (rng.random::<f64>().max(f64::MIN_POSITIVE), rng.random());
        mean + sd * (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    };
    (0..METRICS)
        .map(|i| {
            let base = 100.0 + i as f64;
            let shift = if i % 5 == 0 { 1.05 } else { 1.0 };
            let control = (0..POINTS).map(|_| normal(base, 10.0)).collect();
            let experiment = (0..POINTS).map(|_| normal(base * shift, 10.0)).collect();
            (control, experiment)
        })
        .collect()
}

fn main() {
    let data = canary();
    let sdk_request = request!(coalmine_judge_sdk, &data);
    let host_request = request!(coalmine::judge_host, &data);

    let host = JudgeHost::with_built_in(Limits::default(), None).expect("the built-in judges load");
    let judge = host
        .get("mann-whitney")
        .expect("the default judge is built in");

    // Both must reach the same verdict, or the comparison means nothing.
    let native = coalmine_mann_whitney::judge(&sdk_request).expect("native judgement");
    let wasm = judge.judge(&host_request).expect("wasm judgement");
    assert_eq!(native.score, wasm.score, "native and wasm judges disagree");
    assert_eq!(native.results.len(), METRICS);

    let native_time = median(3, 21, || {
        black_box(coalmine_mann_whitney::judge(black_box(&sdk_request)).unwrap());
    });
    let wasm_time = median(3, 21, || {
        black_box(judge.judge(black_box(&host_request)).unwrap());
    });
    println!("mann-whitney, {METRICS} metrics x {POINTS} points per side (median of 21 runs):");
    println!("  native: {:>8.2} ms/call", native_time.as_secs_f64() * 1e3);
    println!("  wasm:   {:>8.2} ms/call", wasm_time.as_secs_f64() * 1e3);
    println!(
        "wasm/native ratio: {:.2}",
        wasm_time.as_secs_f64() / native_time.as_secs_f64()
    );

    let trivial = host
        .load_file(&common::plugin("scripted"))
        .expect("the scripted test judge loads");
    let request = common::request(
        &[("latency", vec![1.0, 2.0, 3.0], vec![1.0, 2.0, 3.0])],
        "{}",
    );
    const CALLS: u32 = 2_000;
    let batch = median(1, 9, || {
        for _ in 0..CALLS {
            black_box(trivial.judge(black_box(&request)).unwrap());
        }
    });
    println!(
        "trivial judge call (instantiate + call): {:.1} us",
        batch.as_secs_f64() * 1e6 / f64::from(CALLS)
    );
}
