//! `cargo bench -p coalmine-v1 --bench simulation`: what each built-in judge catches.
//!
//! Generates canaries — an hour of one-minute points per side — for latency-like gauges, ordinary counts,
//! sparse counts and counts against a zero baseline, each as an A/A comparison and as regressions, and judges
//! every trial with both built-in judges (natively; `tests/judge_coalmine_v1.rs` checks that the embedded
//! component judges exactly as the native build does) and with the optimal test at the same one-sided level
//! of 1 %:
//!
//! - for counts, the exact conditional test of two Poisson rates (uniformly most powerful unbiased) with no
//!   effect-size gate and no dispersion adjustment (for the bursty, negative-binomial counts it is the test
//!   that assumes Poisson counts, not an optimal one);
//! - for gauges, the one-sided two-sample t-test on the logarithms (the values are log-normal).
//!
//! Every metric has Kayenta's defaults except `direction: increase` (a regression is an increase); count
//! metrics also have `counts: true`, which only coalmine-v1 reads. A trial counts as flagged when the judge
//! classifies the metric `High`. The table gives the share of trials flagged: on A/A rows the false-positive
//! rate, on the others the detection rate. Seeded: the same build prints the same table.

use coalmine_judge_sdk::{
    Direction, JudgeRequest, MetricClassification, MetricConfig, MetricPair, ScoreThresholds,
    Series,
};
use coalmine_v1::rate_test::rate_test;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use statrs::distribution::{ContinuousCDF, StudentsT};

const STEPS: usize = 60;
const TRIALS: usize = 10_000;
/// The one-sided level: (1 − 0.98) / 2.
const ALPHA: f64 = 0.01;

/// What a scenario generates per one-minute step.
#[derive(Clone, Copy)]
enum Model {
    /// Log-normal gauge (e.g. a latency) with this median and log standard deviation.
    Gauge { median: f64, sigma: f64 },
    /// Poisson counts with this rate per step.
    Counts { rate: f64 },
    /// Gamma-Poisson (negative binomial) counts: the rate of each step varies around `rate` with a
    /// coefficient of variation of 1/√`shape`.
    Overdispersed { rate: f64, shape: u32 },
}

struct Scenario {
    kind: &'static str,
    name: &'static str,
    control: Model,
    experiment: Model,
}

impl Model {
    fn is_counts(self) -> bool {
        !matches!(self, Model::Gauge { .. })
    }

    fn describe(self) -> String {
        match self {
            Model::Gauge { median, .. } => format!("{median}"),
            Model::Counts { rate } => format!("{rate}"),
            Model::Overdispersed { rate, .. } => format!("{rate}"),
        }
    }

    fn sample(self, rng: &mut StdRng) -> Vec<f64> {
        (0..STEPS)
            .map(|_| match self {
                Model::Gauge { median, sigma } => median * (sigma * normal(rng)).exp(),
                Model::Counts { rate } => poisson(rng, rate),
                Model::Overdispersed { rate, shape } => {
                    let gamma: f64 =
                        (0..shape).map(|_| exponential(rng)).sum::<f64>() / shape as f64;
                    poisson(rng, rate * gamma)
                }
            })
            .collect()
    }
}

/// A standard normal deviate (Box-Muller).
fn normal(rng: &mut StdRng) -> f64 {
    let u = rng.random::<f64>().max(f64::MIN_POSITIVE);
    let v: f64 = rng.random();
    (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
}

fn exponential(rng: &mut StdRng) -> f64 {
    -(1.0 - rng.random::<f64>()).ln()
}

/// A Poisson deviate by inversion (the rates here are small).
fn poisson(rng: &mut StdRng, rate: f64) -> f64 {
    if rate <= 0.0 {
        return 0.0;
    }
    let u: f64 = rng.random();
    let (mut k, mut p) = (0.0, (-rate).exp());
    let mut cdf = p;
    while u > cdf && p > 0.0 {
        k += 1.0;
        p *= rate / k;
        cdf += p;
    }
    k
}

fn request(counts: bool, control: Vec<f64>, experiment: Vec<f64>) -> JudgeRequest {
    let mut metric = MetricConfig::with_defaults("metric");
    metric.groups = vec!["default".into()];
    metric.direction = Direction::Increase;
    if counts {
        metric.analysis_configurations = r#"{"canary": {"counts": true}}"#.into();
    }
    let series = |values| Series {
        values,
        start_millis: 0,
        step_millis: 60_000,
    };
    JudgeRequest {
        metrics: vec![metric],
        pairs: vec![MetricPair {
            id: "pair".into(),
            metric: "metric".into(),
            tags: Vec::new(),
            control: series(control),
            experiment: series(experiment),
        }],
        group_weights: Vec::new(),
        thresholds: ScoreThresholds {
            pass: 95.0,
            marginal: 75.0,
        },
        judge_configuration: "{}".into(),
    }
}

fn flagged(
    judgement: Result<coalmine_judge_sdk::Judgement, coalmine_judge_sdk::JudgeError>,
) -> bool {
    let judgement = judgement.expect("the simulated requests are valid");
    judgement.results[0].classification == MetricClassification::High
}

/// The optimal one-sided test at [`ALPHA`] of an increase.
fn optimal(counts: bool, control: &[f64], experiment: &[f64]) -> bool {
    if counts {
        let events = |values: &[f64]| values.iter().sum::<f64>() as u64;
        let test = rate_test(
            events(experiment),
            STEPS as f64,
            events(control),
            STEPS as f64,
            0.98,
        );
        return test.p_greater <= ALPHA;
    }
    // Pooled two-sample t-test on the logarithms.
    let logs = |values: &[f64]| values.iter().map(|v| v.ln()).collect::<Vec<f64>>();
    let (x, y) = (logs(experiment), logs(control));
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let (mx, my) = (mean(&x), mean(&y));
    let squares = |v: &[f64], m: f64| v.iter().map(|a| (a - m).powi(2)).sum::<f64>();
    let df = (x.len() + y.len() - 2) as f64;
    let pooled = (squares(&x, mx) + squares(&y, my)) / df;
    let t = (mx - my) / (pooled * (1.0 / x.len() as f64 + 1.0 / y.len() as f64)).sqrt();
    let critical = StudentsT::new(0.0, 1.0, df)
        .expect("valid degrees of freedom")
        .inverse_cdf(1.0 - ALPHA);
    t > critical
}

fn main() {
    let gauge = |median| Model::Gauge { median, sigma: 0.1 };
    let counts = |rate| Model::Counts { rate };
    let bursty = |rate, shape| Model::Overdispersed { rate, shape };
    let scenarios = [
        ("A/A", "latency-like gauge", gauge(100.0), gauge(100.0)),
        (
            "regression",
            "latency-like gauge +3%",
            gauge(100.0),
            gauge(103.0),
        ),
        (
            "regression",
            "latency-like gauge +5%",
            gauge(100.0),
            gauge(105.0),
        ),
        (
            "regression",
            "latency-like gauge +10%",
            gauge(100.0),
            gauge(110.0),
        ),
        ("A/A", "ordinary counts", counts(5.0), counts(5.0)),
        (
            "regression",
            "ordinary counts +10%",
            counts(5.0),
            counts(5.5),
        ),
        (
            "regression",
            "ordinary counts +20%",
            counts(5.0),
            counts(6.0),
        ),
        ("A/A", "sparse counts", counts(0.2), counts(0.2)),
        ("A/A", "very sparse counts", counts(0.05), counts(0.05)),
        ("regression", "sparse counts ×6", counts(0.05), counts(0.3)),
        ("regression", "sparse counts ×3", counts(0.2), counts(0.6)),
        ("A/A", "zero-baseline counts", counts(0.0), counts(0.0)),
        (
            "regression",
            "zero baseline → 0.3/min",
            counts(0.0),
            counts(0.3),
        ),
        (
            "regression",
            "zero baseline → 0.1/min",
            counts(0.0),
            counts(0.1),
        ),
        (
            "A/A",
            "mildly bursty counts (dispersion 1.3)",
            bursty(5.0, 16),
            bursty(5.0, 16),
        ),
        (
            "A/A",
            "bursty counts (dispersion 2.25)",
            bursty(5.0, 4),
            bursty(5.0, 4),
        ),
        (
            "regression",
            "bursty counts +50%",
            bursty(5.0, 4),
            bursty(7.5, 4),
        ),
    ]
    .map(|(kind, name, control, experiment)| Scenario {
        kind,
        name,
        control,
        experiment,
    });

    println!(
        "{TRIALS} trials per scenario, {STEPS} one-minute points per side, direction increase, one-sided level 1%."
    );
    println!("Share of trials flagged High (A/A: false positives; regression: detections).\n");
    println!(
        "| Scenario | Kind | Baseline → canary (per minute) | mann-whitney | coalmine-v1 | optimal test |"
    );
    println!("|---|---|---|---:|---:|---:|");
    for (index, scenario) in scenarios.iter().enumerate() {
        let mut rng = StdRng::seed_from_u64(20261122 + index as u64);
        let is_counts = scenario.control.is_counts();
        let (mut mann_whitney, mut coalmine_v1, mut best) = (0usize, 0usize, 0usize);
        for _ in 0..TRIALS {
            let control = scenario.control.sample(&mut rng);
            let experiment = scenario.experiment.sample(&mut rng);
            best += usize::from(optimal(is_counts, &control, &experiment));
            let request = request(is_counts, control, experiment);
            mann_whitney += usize::from(flagged(coalmine_mann_whitney::judge(&request)));
            coalmine_v1 += usize::from(flagged(coalmine_v1::judge(&request)));
        }
        let percent = |count: usize| format!("{:.1}%", 100.0 * count as f64 / TRIALS as f64);
        println!(
            "| {} | {} | {} → {} | {} | {} | {} |",
            scenario.name,
            scenario.kind,
            scenario.control.describe(),
            scenario.experiment.describe(),
            percent(mann_whitney),
            percent(coalmine_v1),
            percent(best),
        );
    }
}
