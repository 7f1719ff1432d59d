//! The classification of one metric pair: Kayenta's `MannWhitneyClassifier` as
//! NetflixACAJudge-v1.0 runs it (reference §7.2–7.3), rule for rule.
//!
//! 1. Each side is preprocessed (NaN strategy, then outliers) and summarised.
//! 2. **Missing data** — either side empty: `Nodata` (or `NodataFailMetric` when the metric must
//!    have data and is not critical) with the NaN strategy `remove`, `Pass` with `replace`.
//! 3. **Identical data** — equal sorted sides: `Pass`, "The Canary and Baseline data are
//!    identical".
//! 4. **One distinct value** across both sides: `Pass`.
//! 5. **Comparison** — the Mann-Whitney test of experiment against control: `High` when the
//!    direction allows an increase, the interval lies above `tolerance·|estimate|` and the effect
//!    size reaches `allowedIncrease` (or is NaN); `Low` symmetrically; otherwise `Pass`. A critical
//!    metric whose effect size also reaches `criticalIncrease` / `criticalDecrease` fails the
//!    canary (`critical`).
//!
//! When the samples are too small for the confidence level to be reached at all (one point a side, or four
//! at 98 %: [`confidence_reachable`]), the classification is Kayenta's all the same, and the result carries a
//! `warning` detail that says so.
//!
//! Cases 2–4 report `ratio` 1.0, as Kayenta does. A comparison reports `ratio`, `estimate`,
//! `confidenceInterval`, `confidenceLevel`, `pValue` and `effectSize`. A comparison that cannot
//! be computed is an `Error` with the cause and no details.

use core::fmt;

use coalmine_judge_sdk::stats::{self, Sorted};
use coalmine_judge_sdk::{
    Detail, Direction, EffectSizeMeasure, MetricClassification, MetricConfig, MetricPair,
    MetricResult, NanStrategy, preprocess,
};

use crate::config::JudgeConfig;
use crate::stats::effect_size::{cles, mean_ratio};
use crate::stats::mann_whitney::{MannWhitneyError, confidence_reachable, mann_whitney};

/// Classifies `pair`, a pair of `metric`, with the judge's settings.
pub fn classify(pair: &MetricPair, metric: &MetricConfig, config: &JudgeConfig) -> MetricResult {
    let mut experiment = preprocess::preprocess(&pair.experiment.values, metric);
    let mut control = preprocess::preprocess(&pair.control.values, metric);
    let experiment_stats = stats::summary(&experiment);
    let control_stats = stats::summary(&control);

    let means = Means {
        experiment: experiment_stats.mean,
        control: control_stats.mean,
    };
    let outcome =
        decide(metric, config, &mut experiment, &mut control, means).unwrap_or_else(|cause| {
            coalmine_judge_sdk::warn!("metric classification of pair {} failed: {cause}", pair.id);
            Outcome {
                classification: MetricClassification::Error,
                reason: Some(format!("Metric Classification Failed: {cause}")),
                critical: false,
                details: Vec::new(),
            }
        });
    MetricResult {
        pair_id: pair.id.clone(),
        classification: outcome.classification,
        reason: outcome.reason,
        critical: outcome.critical,
        control: control_stats,
        experiment: experiment_stats,
        details: outcome.details,
    }
}

/// The part of a result that classification decides.
struct Outcome {
    classification: MetricClassification,
    reason: Option<String>,
    critical: bool,
    details: Vec<Detail>,
}

impl Outcome {
    /// A result decided before any comparison, reporting `ratio` 1.0 as Kayenta does.
    fn uncompared(
        classification: MetricClassification,
        reason: Option<String>,
        critical: bool,
    ) -> Self {
        Self {
            classification,
            reason,
            critical,
            details: vec![Detail::number("ratio", 1.0)],
        }
    }
}

/// The means of the preprocessed sides.
#[derive(Clone, Copy)]
struct Means {
    experiment: f64,
    control: f64,
}

/// Why a comparison could not be computed.
#[derive(Debug)]
enum ClassificationError {
    /// A side holds ±Infinity after preprocessing.
    NonFinite(&'static str),
    /// The Mann-Whitney test failed.
    Test(MannWhitneyError),
}

impl fmt::Display for ClassificationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NonFinite(side) => {
                write!(f, "the {side} data contain non-finite values (±Infinity)")
            }
            Self::Test(error) => error.fmt(f),
        }
    }
}

/// Steps 2–5 on the preprocessed sides (which it sorts).
fn decide(
    metric: &MetricConfig,
    config: &JudgeConfig,
    experiment: &mut [f64],
    control: &mut [f64],
    means: Means,
) -> Result<Outcome, ClassificationError> {
    if experiment.is_empty() || control.is_empty() {
        return Ok(missing_data(metric));
    }
    let experiment = Sorted::new(experiment);
    let control = Sorted::new(control);
    if experiment.values() == control.values() {
        let reason = "The Canary and Baseline data are identical".to_owned();
        return Ok(Outcome::uncompared(
            MetricClassification::Pass,
            Some(reason),
            false,
        ));
    }
    if experiment.is_constant() && control.is_constant() && experiment.min() == control.min() {
        return Ok(Outcome::uncompared(MetricClassification::Pass, None, false));
    }
    compare(metric, config, experiment, control, means)
}

/// Step 2: a side without data.
fn missing_data(metric: &MetricConfig) -> Outcome {
    match metric.nan_strategy {
        NanStrategy::Replace => Outcome::uncompared(MetricClassification::Pass, None, false),
        NanStrategy::Remove => {
            let reason = Some(format!("Missing data for {}", metric.name));
            if metric.must_have_data && !metric.critical {
                Outcome::uncompared(MetricClassification::NodataFailMetric, reason, false)
            } else {
                Outcome::uncompared(MetricClassification::Nodata, reason, metric.critical)
            }
        }
    }
}

/// Step 5: the Mann-Whitney comparison with its effect-size gates and critical handling.
fn compare(
    metric: &MetricConfig,
    config: &JudgeConfig,
    experiment: Sorted<'_>,
    control: Sorted<'_>,
    means: Means,
) -> Result<Outcome, ClassificationError> {
    for (side, sample) in [("Canary", experiment), ("Baseline", control)] {
        // Sorted, NaN-free: any infinity sits at an end.
        if !(sample.min().is_some_and(f64::is_finite) && sample.max().is_some_and(f64::is_finite)) {
            return Err(ClassificationError::NonFinite(side));
        }
    }
    let test = mann_whitney(experiment, control, config.confidence_level)
        .map_err(ClassificationError::Test)?;
    let unreachable = !confidence_reachable(experiment, control, config.confidence_level);
    let ratio = mean_ratio(means.control, means.experiment);
    let effect = match metric.effect_size.measure {
        EffectSizeMeasure::MeanRatio => ratio,
        EffectSizeMeasure::Cles => cles(experiment, control),
    };
    // An effect size reaches a threshold when it is NaN (no gate) or on the failing side of it.
    let reaches = |threshold: f64, increase: bool| {
        effect.is_nan()
            || if increase {
                effect >= threshold
            } else {
                effect <= threshold
            }
    };
    let bound = config.tolerance * test.estimate.abs();
    let thresholds = &metric.effect_size;

    let high = matches!(metric.direction, Direction::Increase | Direction::Either)
        && test.lower > bound
        && reaches(thresholds.allowed_increase, true);
    let low = matches!(metric.direction, Direction::Decrease | Direction::Either)
        && test.upper < -bound
        && reaches(thresholds.allowed_decrease, false);
    let (classification, reason, critical) = if high {
        let critical = metric.critical && reaches(thresholds.critical_increase, true);
        (
            MetricClassification::High,
            Some(failure_reason(&metric.name, "High", critical)),
            critical,
        )
    } else if low {
        let critical = metric.critical && reaches(thresholds.critical_decrease, false);
        (
            MetricClassification::Low,
            Some(failure_reason(&metric.name, "Low", critical)),
            critical,
        )
    } else {
        (MetricClassification::Pass, None, false)
    };

    let mut details = vec![
        Detail::number("ratio", ratio),
        Detail::number("estimate", test.estimate),
        Detail::interval("confidenceInterval", test.lower, test.upper),
        Detail::number("confidenceLevel", config.confidence_level),
        Detail::number("pValue", test.p_value),
        Detail::number("effectSize", effect),
        Detail::interval("toleranceBand", -bound, bound),
    ];
    let above = test.lower > bound;
    let below = test.upper < -bound;
    // The effect-size threshold consulted: that of the side the interval cleared the band on, if any.
    let gate = if above && !matches!(metric.direction, Direction::Decrease) {
        Some(("allowedIncrease", thresholds.allowed_increase, true))
    } else if below && !matches!(metric.direction, Direction::Increase) {
        Some(("allowedDecrease", thresholds.allowed_decrease, false))
    } else {
        None
    };
    if let Some((_, threshold, _)) = gate {
        details.push(Detail::number("effectSizeThreshold", threshold));
    }
    details.push(Detail::text("decidedBy", "confidenceInterval"));
    details.push(Detail::text(
        "decision",
        decision(metric.direction, &test, bound, effect, gate),
    ));
    if unreachable {
        // Kayenta classifies such a result all the same; this judge does too, and says so.
        details.push(Detail::text(
            "warning",
            unreachable_warning(config.confidence_level, control.len(), experiment.len()),
        ));
    }
    Ok(Outcome {
        classification,
        reason,
        critical,
        details,
    })
}

/// What decided a comparison, in a few words: the interval against the tolerance band `±bound`, then the
/// effect size against the threshold `gate` consulted (when the interval cleared the band on an allowed side).
/// The p-value decides nothing.
fn decision(
    direction: Direction,
    test: &crate::stats::mann_whitney::MannWhitney,
    bound: f64,
    effect: f64,
    gate: Option<(&str, f64, bool)>,
) -> String {
    let n = short;
    let Some((name, threshold, increase)) = gate else {
        return match direction {
            Direction::Increase => format!("CI lower {} <= band +{}", n(test.lower), n(bound)),
            Direction::Decrease => format!("CI upper {} >= band -{}", n(test.upper), n(bound)),
            Direction::Either => format!(
                "CI [{}, {}] meets band ±{}",
                n(test.lower),
                n(test.upper),
                n(bound)
            ),
        };
    };
    let cleared = if increase {
        format!("CI lower {} > band +{}", n(test.lower), n(bound))
    } else {
        format!("CI upper {} < band -{}", n(test.upper), n(bound))
    };
    let comparison = match (effect.is_nan(), increase) {
        (true, _) => return format!("{cleared}; effect size NaN (no gate)"),
        (false, true) if effect >= threshold => ">=",
        (false, false) if effect <= threshold => "<=",
        (false, true) => "<",
        (false, false) => ">",
    };
    let joint = if comparison.len() == 2 { ";" } else { " but" };
    format!(
        "{cleared}{joint} effect size {} {comparison} {name} {}",
        n(effect),
        n(threshold)
    )
}

/// Why a comparison's interval is not an interval at `confidence_level`: the samples are too small for it
/// ([`confidence_reachable`]).
pub fn unreachable_warning(confidence_level: f64, control: usize, experiment: usize) -> String {
    format!(
        "the {}% confidence level cannot be reached with {control} control and {experiment} experiment \
         points: the interval is the range of the differences, and the classification is not evidence",
        short(confidence_level * 100.0)
    )
}

/// A number to four significant digits, as coalmine shows numbers (for `decision` details).
pub fn short(x: f64) -> String {
    if !x.is_finite() || x == 0.0 {
        return if x == 0.0 { "0".into() } else { format!("{x}") };
    }
    let magnitude = x.abs().log10().floor() as i32;
    if !(-3..6).contains(&magnitude) {
        return format!("{x:.2e}");
    }
    let decimals = (3 - magnitude).max(0) as usize;
    let text = format!("{x:.decimals$}");
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        text
    }
}

/// Kayenta's reason for a High or Low result of `metric`: `"<metric> was classified as High"`, or
/// `"The metric <metric> was classified as High (Critical)"` when it fails the canary.
pub fn failure_reason(metric: &str, label: &str, critical: bool) -> String {
    if critical {
        format!("The metric {metric} was classified as {label} (Critical)")
    } else {
        format!("{metric} was classified as {label}")
    }
}
