//! `cargo bench -p coalmine-sequential --bench simulation`: each built-in judge in a real-time analysis.
//!
//! A canary runs for an hour with one point per minute per side. A real-time analysis judges the growing
//! window (every point from the start) at every look and fails at the first look whose verdict is not `Pass`,
//! as Kayenta's standalone analysis, Spinnaker's stage, Argo's `count`/`interval` and `analyze --lifetime`
//! do. Looks come every 5 minutes (12 looks) or every minute (60 looks); the judgements at every minute are
//! computed once per trial and both schedules read them (a judgement depends on its window only).
//!
//! For each scenario and judge: the share of trials that ever failed (on A/A rows the false-alarm rate over the
//! whole analysis, on the others the detection rate) and the mean minute of the first failure among them. For
//! coalmine-sequential with early pass (`Finality::Harmless` ends the analysis with a pass), the share of trials
//! promoted early and the mean minute of promotion (an early pass, or the end of the hour when none came) among
//! trials that did not fail. Every metric has Kayenta's defaults except `direction: increase`; count metrics
//! have `counts: true` (which mann-whitney ignores). All judges run natively (`tests/judge_coalmine_*.rs`
//! check that the embedded components judge exactly as the native builds). Seeded: the same build prints the
//! same table.
//!
//! Below the table, references on the same trials for two rows whose goals lie near what any anytime-valid
//! test can do: for latency +20 %, the single bet of coalmine-sequential's kind that suits this shift best and
//! a bettor who knows the shift and the noise (`1 + tanh(μ·d/σ²)` per step, the likelihood ratio of the sign
//! given the size for a normal difference); for doubled error counts, the likelihood ratio of the true event
//! shares (2/3 against 1/2) and the best fixed share (0.64). Each fails when it reaches `1/α` = 100, with no
//! minimum sample.

use coalmine_judge_sdk::{
    Direction, JudgeError, JudgeRequest, Judgement, MetricConfig, MetricPair, ScoreClassification,
    ScoreThresholds, Series,
};
use coalmine_sequential::Finality;
use coalmine_sequential::sign_flip::{Bet, Side, SignFlip};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

const MINUTES: usize = 60;
/// Trials per scenario; `SIMULATION_TRIALS` overrides it for a quick look (or a closer one), and
/// `SIMULATION_SCENARIO` runs only the scenarios whose name contains it. A scenario's first trials are the same
/// whatever the number of trials or the scenarios run.
const TRIALS: usize = 2_000;

fn trials() -> usize {
    std::env::var("SIMULATION_TRIALS")
        .ok()
        .and_then(|trials| trials.parse().ok())
        .unwrap_or(TRIALS)
}

/// What a scenario generates per one-minute step.
#[derive(Clone, Copy)]
enum Model {
    /// Log-normal gauge (a latency) with this median and log standard deviation.
    Gauge { median: f64, sigma: f64 },
    /// Poisson counts with this rate per step.
    Counts { rate: f64 },
    /// Gamma-Poisson (negative binomial) counts: the rate of each step varies around `rate` with a
    /// coefficient of variation of 1/√`shape`.
    Bursty { rate: f64, shape: u32 },
}

impl Model {
    fn is_counts(self) -> bool {
        !matches!(self, Model::Gauge { .. })
    }

    fn describe(self) -> String {
        match self {
            Model::Gauge { median, .. } => format!("{median}"),
            Model::Counts { rate } | Model::Bursty { rate, .. } => format!("{rate}/min"),
        }
    }

    fn sample(self, rng: &mut StdRng) -> Vec<f64> {
        (0..MINUTES)
            .map(|_| match self {
                Model::Gauge { median, sigma } => median * (sigma * normal(rng)).exp(),
                Model::Counts { rate } => poisson(rng, rate),
                Model::Bursty { rate, shape } => {
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

fn request(counts: bool, control: &[f64], experiment: &[f64]) -> JudgeRequest {
    let mut metric = MetricConfig::with_defaults("metric");
    metric.groups = vec!["default".into()];
    metric.direction = Direction::Increase;
    if counts {
        metric.analysis_configurations = r#"{"canary": {"counts": true}}"#.into();
    }
    let series = |values: &[f64]| Series {
        values: values.to_vec(),
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

fn failed(judgement: Result<Judgement, JudgeError>) -> bool {
    judgement
        .expect("the simulated requests are valid")
        .classification
        != ScoreClassification::Pass
}

/// What one judge did over one trial's looks at every minute.
#[derive(Default, Clone)]
struct Looks {
    /// Whether the judgement at minute `m` (index `m − 1`) fails.
    failed: Vec<bool>,
    /// Whether it is final and harmless (coalmine-sequential only).
    harmless: Vec<bool>,
}

impl Looks {
    /// The first failing minute among looks every `every` minutes.
    fn first_failure(&self, every: usize) -> Option<usize> {
        (every..=MINUTES)
            .step_by(every)
            .find(|&minute| self.failed[minute - 1])
    }

    /// The analysis with early pass, looking every `every` minutes: `Err(minute)` when it failed,
    /// `Ok(minute)` when promoted (early, or at the end).
    fn with_early_pass(&self, every: usize) -> Result<usize, usize> {
        for minute in (every..=MINUTES).step_by(every) {
            if self.failed[minute - 1] {
                return Err(minute);
            }
            if self.harmless[minute - 1] {
                return Ok(minute);
            }
        }
        Ok(MINUTES)
    }
}

/// Tallies of one judge and schedule over the trials.
#[derive(Default)]
struct Tally {
    failures: usize,
    failure_minutes: usize,
    promoted_early: usize,
    promotions: usize,
    promotion_minutes: usize,
}

impl Tally {
    fn failure(&self) -> String {
        let share = 100.0 * self.failures as f64 / trials() as f64;
        if self.failures == 0 {
            return format!("{share:.1}% | –");
        }
        format!(
            "{share:.1}% | {:.1}",
            self.failure_minutes as f64 / self.failures as f64
        )
    }

    fn promotion(&self) -> String {
        if self.promotions == 0 {
            return "– | –".into();
        }
        format!(
            "{:.1}% | {:.1}",
            100.0 * self.promoted_early as f64 / trials() as f64,
            self.promotion_minutes as f64 / self.promotions as f64
        )
    }
}

/// A reference e-process over one trial: its log-wealth after each minute, from the series of both sides.
type Reference = fn(&[f64], &[f64]) -> Vec<f64>;

/// The references printed below the table, by scenario name.
fn references(scenario: &str) -> Vec<(&'static str, Reference)> {
    match scenario {
        "latency gauge +20%" => vec![
            (
                "the best single bet for this shift (stake 0.95, bandwidth 0.5)",
                |control, experiment| {
                    let bet = [Bet {
                        lambda: 0.95,
                        bandwidth: 0.5,
                    }];
                    (1..=MINUTES)
                        .map(|minute| {
                            let pairs = control[..minute]
                                .iter()
                                .copied()
                                .zip(experiment[..minute].iter().copied())
                                .collect();
                            SignFlip::new(pairs)
                                .e_value_with(1.0, Side::Increase, &bet)
                                .current
                                .ln()
                        })
                        .collect()
                },
            ),
            (
                "a bettor who knows the shift and the noise (1 + tanh(μd/σ²))",
                |control, experiment| {
                    // d = 120·e^(0.1 Z') − 100·e^(0.1 Z): its mean and variance.
                    let (a, b, s2) = (120.0f64, 100.0f64, 0.01f64);
                    let mean = (a - b) * (s2 / 2.0).exp();
                    let variance = (a * a + b * b) * ((2.0 * s2).exp() - s2.exp());
                    let mut wealth = 0.0;
                    control
                        .iter()
                        .zip(experiment)
                        .map(|(x, y)| {
                            wealth += (1.0 + (mean * (y - x) / variance).tanh()).ln();
                            wealth
                        })
                        .collect()
                },
            ),
        ],
        "error counts ×2" => {
            /// The log-likelihood ratio of event share `p` against 1/2 over the cumulative counts.
            fn share(control: &[f64], experiment: &[f64], p: f64) -> Vec<f64> {
                let (mut x, mut y) = (0.0, 0.0);
                control
                    .iter()
                    .zip(experiment)
                    .map(|(c, e)| {
                        x += e;
                        y += c;
                        x * (2.0 * p).ln() + y * (2.0 * (1.0 - p)).ln()
                    })
                    .collect()
            }
            vec![
                (
                    "the likelihood ratio of the true event shares (2/3 against 1/2)",
                    |control, experiment| share(control, experiment, 2.0 / 3.0),
                ),
                (
                    "the best fixed event share (0.64)",
                    |control, experiment| share(control, experiment, 0.64),
                ),
            ]
        }
        _ => Vec::new(),
    }
}

/// The first minute, among looks every `every` minutes, at which the running maximum of `wealth` reaches 100.
fn first_crossing(wealth: &[f64], every: usize) -> Option<usize> {
    let crossed = wealth.iter().position(|ln| *ln >= 100f64.ln())? + 1;
    let look = crossed.div_ceil(every) * every;
    (look <= MINUTES).then_some(look)
}

fn main() {
    let gauge = |median| Model::Gauge { median, sigma: 0.1 };
    let heavy = |median| Model::Gauge { median, sigma: 1.0 };
    let counts = |rate| Model::Counts { rate };
    let bursty = |rate| Model::Bursty { rate, shape: 4 };
    let scenarios = [
        ("latency gauge A/A", gauge(100.0), gauge(100.0)),
        ("latency gauge +3%", gauge(100.0), gauge(103.0)),
        ("latency gauge +5%", gauge(100.0), gauge(105.0)),
        ("latency gauge +10%", gauge(100.0), gauge(110.0)),
        ("latency gauge +20%", gauge(100.0), gauge(120.0)),
        ("heavy-tailed gauge A/A", heavy(100.0), heavy(100.0)),
        ("heavy-tailed gauge +10%", heavy(100.0), heavy(110.0)),
        ("error counts A/A", counts(1.0), counts(1.0)),
        ("error counts ×2", counts(1.0), counts(2.0)),
        ("errors from a zero baseline", counts(0.0), counts(0.3)),
        ("bursty counts A/A", bursty(5.0), bursty(5.0)),
        ("bursty counts +50%", bursty(5.0), bursty(7.5)),
    ];

    println!(
        "{} trials per scenario: an hour, one point per minute per side, looks every 5 minutes (12) or every minute (60).",
        trials()
    );
    println!(
        "Gauges log-normal (σ 0.1; heavy-tailed σ 1); bursty counts gamma-Poisson (dispersion 2.25). Direction increase."
    );
    println!(
        "Ever failed: share of trials whose analysis failed | mean minute of the first failure. Early pass: share promoted before the end | mean minute of promotion.\n"
    );
    println!(
        "| Scenario | Baseline → canary | Looks | mann-whitney: ever failed | at minute | coalmine-v1: ever failed | at minute | coalmine-sequential: ever failed | at minute | with early pass: promoted early | at minute |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    let mut reference_lines = Vec::new();
    let only = std::env::var("SIMULATION_SCENARIO").unwrap_or_default();
    for (index, (name, control_model, experiment_model)) in scenarios.iter().enumerate() {
        if !name.contains(only.as_str()) {
            continue;
        }
        let mut rng = StdRng::seed_from_u64(20261206 + index as u64);
        let is_counts = control_model.is_counts();
        // [judge][schedule]
        let mut tallies: [[Tally; 2]; 3] = Default::default();
        let references = references(name);
        // [reference][schedule]
        let mut reference_tallies: Vec<[Tally; 2]> =
            references.iter().map(|_| Default::default()).collect();
        for _ in 0..trials() {
            let control = control_model.sample(&mut rng);
            let experiment = experiment_model.sample(&mut rng);
            for ((_, reference), tallies) in references.iter().zip(&mut reference_tallies) {
                let wealth = reference(&control, &experiment);
                for (schedule, every) in [5, 1].into_iter().enumerate() {
                    if let Some(minute) = first_crossing(&wealth, every) {
                        tallies[schedule].failures += 1;
                        tallies[schedule].failure_minutes += minute;
                    }
                }
            }
            let mut looks: [Looks; 3] = Default::default();
            for minute in 1..=MINUTES {
                let request = request(is_counts, &control[..minute], &experiment[..minute]);
                looks[0]
                    .failed
                    .push(failed(coalmine_mann_whitney::judge(&request)));
                looks[1].failed.push(failed(coalmine_v1::judge(&request)));
                let (judgement, finality, _) = coalmine_sequential::judge_with_finality(&request)
                    .expect("the simulated requests are valid");
                looks[2]
                    .failed
                    .push(judgement.classification != ScoreClassification::Pass);
                looks[2].harmless.push(finality == Finality::Harmless);
            }
            for (judge, looks) in looks.iter().enumerate() {
                for (schedule, every) in [5, 1].into_iter().enumerate() {
                    let tally = &mut tallies[judge][schedule];
                    if let Some(minute) = looks.first_failure(every) {
                        tally.failures += 1;
                        tally.failure_minutes += minute;
                    }
                    if judge == 2
                        && let Ok(minute) = looks.with_early_pass(every)
                    {
                        tally.promotions += 1;
                        tally.promotion_minutes += minute;
                        tally.promoted_early += usize::from(minute < MINUTES);
                    }
                }
            }
        }
        for ((description, _), tallies) in references.iter().zip(&reference_tallies) {
            reference_lines.push(format!(
                "- {name}, {description}: {} with 12 looks, {} with 60 (ever failed | at minute)",
                tallies[0].failure(),
                tallies[1].failure()
            ));
        }
        for (schedule, looks) in [12, 60].into_iter().enumerate() {
            println!(
                "| {name} | {} → {} | {looks} | {} | {} | {} | {} |",
                control_model.describe(),
                experiment_model.describe(),
                tallies[0][schedule].failure(),
                tallies[1][schedule].failure(),
                tallies[2][schedule].failure(),
                tallies[2][schedule].promotion(),
            );
        }
    }
    println!("\nReferences on the same trials (reaching 1/α = 100, no minimum sample):");
    for line in reference_lines {
        println!("{line}");
    }
}
