//! The guarantee, checked by simulation: on a healthy (A/A) canary, looked at after every one of 60 steps,
//! each e-process ever reaches `1/α` in at most `α` of the trials (up to sampling error). The decision at a
//! look is whether the running maximum has reached `1/α`, so "ever failed over 60 looks" is the decision at
//! the 60th look; `the_judges_decision_never_comes_back` checks that through the judge itself.
//!
//! A moderate α (0.05) makes a broken test show within a few thousand trials: the assertions allow α plus three
//! binomial standard errors, and the fixed-sample tests these replace fail them by far (a one-sided 5 % test
//! repeated at 60 looks rejects about a quarter of A/A canaries).

use coalmine_judge_sdk::{
    Direction, JudgeRequest, MetricClassification, MetricConfig, MetricPair, ScoreThresholds,
    Series,
};
use coalmine_sequential::rate;
use coalmine_sequential::sign_flip::{Side, SignFlip};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

const ALPHA: f64 = 0.05;
const TRIALS: usize = 4_000;
const STEPS: usize = 60;

/// α plus three standard errors of a share estimated from `TRIALS` trials.
fn bound() -> f64 {
    ALPHA + 3.0 * (ALPHA * (1.0 - ALPHA) / TRIALS as f64).sqrt()
}

fn normal(rng: &mut StdRng) -> f64 {
    let u = rng.random::<f64>().max(f64::MIN_POSITIVE);
    let v: f64 = rng.random();
    (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
}

fn poisson(rng: &mut StdRng, rate: f64) -> f64 {
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

/// The share of `TRIALS` A/A trials (pairs drawn by `draw`) in which the e-process on `side` ever reached 1/α.
fn gauge_rejections(seed: u64, side: Side, draw: impl Fn(&mut StdRng) -> f64) -> f64 {
    let mut rng = StdRng::seed_from_u64(seed);
    let rejected = (0..TRIALS)
        .filter(|_| {
            let pairs = (0..STEPS)
                .map(|_| (draw(&mut rng), draw(&mut rng)))
                .collect();
            SignFlip::new(pairs).e_value(1.0, side).max >= 1.0 / ALPHA
        })
        .count();
    rejected as f64 / TRIALS as f64
}

#[test]
fn latency_like_gauges_rarely_ever_reject() {
    let lognormal = |rng: &mut StdRng| 100.0 * (0.1 * normal(rng)).exp();
    for side in [Side::Increase, Side::Decrease] {
        let share = gauge_rejections(1, side, lognormal);
        assert!(share <= bound(), "{side:?}: {share}");
    }
}

#[test]
fn heavy_tailed_and_tied_gauges_rarely_ever_reject() {
    // Cauchy values (no mean), and values on a coarse grid (many ties).
    let cauchy = |rng: &mut StdRng| (std::f64::consts::PI * (rng.random::<f64>() - 0.5)).tan();
    let share = gauge_rejections(2, Side::Increase, cauchy);
    assert!(share <= bound(), "Cauchy: {share}");
    let coarse = |rng: &mut StdRng| (2.0 * normal(rng)).round();
    let share = gauge_rejections(3, Side::Increase, coarse);
    assert!(share <= bound(), "ties: {share}");
}

#[test]
fn poisson_counts_rarely_ever_reject() {
    for (seed, rate_per_step) in [(4, 1.0), (5, 0.1)] {
        let mut rng = StdRng::seed_from_u64(seed);
        let rejected = (0..TRIALS)
            .filter(|_| {
                let (mut x, mut y) = (0.0, 0.0);
                let path: Vec<(f64, f64)> = (0..STEPS)
                    .map(|_| {
                        x += poisson(&mut rng, rate_per_step);
                        y += poisson(&mut rng, rate_per_step);
                        (x, y)
                    })
                    .collect();
                rate::max_e_value(&path, 1.0, 1.0, Side::Increase) >= 1.0 / ALPHA
            })
            .count();
        let share = rejected as f64 / TRIALS as f64;
        assert!(share <= bound(), "rate {rate_per_step}: {share}");
    }
}

#[test]
fn a_fixed_sample_test_at_every_look_would_fail_the_same_check() {
    // The check can fail: a one-sided z-test at 5 % on the mean difference, repeated at each of the 60 looks.
    let mut rng = StdRng::seed_from_u64(6);
    let rejected = (0..TRIALS)
        .filter(|_| {
            let mut sum = 0.0;
            (1..=STEPS).any(|n| {
                sum += normal(&mut rng) - normal(&mut rng);
                sum / (2.0 * n as f64).sqrt() > 1.645
            })
        })
        .count();
    let share = rejected as f64 / TRIALS as f64;
    assert!(share > bound(), "{share}");
}

fn request(control: Vec<f64>, experiment: Vec<f64>) -> JudgeRequest {
    let mut metric = MetricConfig::with_defaults("latency");
    metric.direction = Direction::Increase;
    let series = |values| Series {
        values,
        start_millis: 0,
        step_millis: 60_000,
    };
    JudgeRequest {
        metrics: vec![metric],
        pairs: vec![MetricPair {
            id: "latency".into(),
            metric: "latency".into(),
            tags: Vec::new(),
            control: series(control),
            experiment: series(experiment),
        }],
        group_weights: Vec::new(),
        thresholds: ScoreThresholds {
            pass: 95.0,
            marginal: 75.0,
        },
        judge_configuration: format!(r#"{{"alpha": {ALPHA}}}"#),
    }
}

#[test]
fn the_judges_decision_never_comes_back() {
    // A canary that is worse for 15 minutes and then recovers: once High, High at every later look, and the
    // judge's A/A false alarms over 60 looks stay within the bound.
    let mut rng = StdRng::seed_from_u64(7);
    let control: Vec<f64> = (0..STEPS).map(|_| 100.0 + normal(&mut rng)).collect();
    let experiment: Vec<f64> = (0..STEPS)
        .map(|t| if t < 15 { 130.0 } else { 100.0 } + normal(&mut rng))
        .collect();
    let high: Vec<bool> = (1..=STEPS)
        .map(|n| {
            let judgement =
                coalmine_sequential::judge(&request(control[..n].into(), experiment[..n].into()))
                    .unwrap();
            judgement.results[0].classification == MetricClassification::High
        })
        .collect();
    let first = high.iter().position(|&high| high).expect("detected");
    assert!(first < 15, "{first}");
    assert!(high[first..].iter().all(|&high| high));

    let trials = 300;
    let failed = (0..trials)
        .filter(|_| {
            let control = (0..STEPS).map(|_| 100.0 + normal(&mut rng)).collect();
            let experiment = (0..STEPS).map(|_| 100.0 + normal(&mut rng)).collect();
            let judgement = coalmine_sequential::judge(&request(control, experiment)).unwrap();
            judgement.results[0].classification != MetricClassification::Pass
        })
        .count();
    let limit = ALPHA + 3.0 * (ALPHA * (1.0 - ALPHA) / f64::from(trials)).sqrt();
    assert!(
        failed as f64 / f64::from(trials) <= limit,
        "{failed} of {trials}"
    );
}
