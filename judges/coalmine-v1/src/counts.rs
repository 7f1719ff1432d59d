//! The classification of a count metric (`analysisConfigurations.canary.counts: true`): each value is the
//! number of events in one step, and the two sides are compared by the exact test of two Poisson rates
//! ([`rate_test`]).
//!
//! 1. Each side is preprocessed as for every metric (NaN strategy, then outliers) and summarised.
//! 2. **Missing data** — a side with no values left is judged by the Mann-Whitney judge's rule, unchanged:
//!    `Nodata` (`NodataFailMetric` when the metric must have data and is not critical) with the NaN strategy
//!    `remove`, `Pass` with `replace`. A side of zeros is data: no events.
//! 3. **Invalid counts** — a negative or infinite value is an `Error`.
//! 4. **Comparison** — the events of a side are its values' sum rounded to the nearest integer (Prometheus'
//!    `increase()` extrapolates to fractions), its exposure the number of values it kept (in the control's
//!    step length when the sides' steps differ). With `α = (1 − confidenceLevel) / 2` (1 % by default):
//!    - `High` when the direction allows an increase, the one-sided p-value `P(X ≥ x)` is ≤ α, the rate ratio
//!      reaches `allowedIncrease` and the extra events exceed `allowedExtraEvents`;
//!    - `Low` symmetrically (`P(X ≤ x)` ≤ α, ratio ≤ `allowedDecrease`, missing events above
//!      `allowedExtraEvents`);
//!    - otherwise `Pass`. With direction `either` both one-sided tests run at α (a two-sided level of 2α, as
//!      Kayenta's two-sided 98 % interval); the reported p-value is then the central two-sided one.
//!
//! A critical metric that fails fails the canary when its ratio also reaches `criticalIncrease` /
//! `criticalDecrease`. The rate ratio is +∞ when only the control saw no events, so the ratio thresholds still
//! apply; `allowedExtraEvents` is the gate that keeps its meaning then.
//!
//! Every compared result reports `test`, `alternative`, both sides' `…Events` and `…Exposure`,
//! `expectedEvents` and `extraEvents`, `ratio` (also as `effectSize`), `confidenceInterval` for the rate ratio
//! at `confidenceLevel`, and `pValue`; the counts' `dispersion` when it can be computed, and
//! `dispersionAdjusted`.
//!
//! **Bursty counts** — when the per-step counts are overdispersed, their quasi-Poisson dispersion index above 1
//! (see [`crate::dispersion`]), and `adjustDispersion` is on (the default), the test runs on the counts divided
//! by the index, reported as `testedExperimentEvents` and `testedControlEvents`; the effect sizes stay the
//! observed ones.

use coalmine_judge_sdk::{
    Detail, Direction, MetricClassification, MetricConfig, MetricPair, MetricResult, preprocess,
    stats,
};
use coalmine_mann_whitney::classifier::{self as mann_whitney, failure_reason, short};
use coalmine_mann_whitney::config::JudgeConfig;

use crate::dispersion::Dispersion;
use crate::rate_test::{RateTest, rate_test};
use crate::settings::CountSettings;

/// The `test` detail of a count metric's result.
pub const TEST_NAME: &str = "exact-poisson-rate-ratio";

/// Classifies `pair`, a pair of the count metric `metric`, with the judge's settings.
pub fn classify(
    pair: &MetricPair,
    metric: &MetricConfig,
    settings: CountSettings,
    config: &JudgeConfig,
) -> MetricResult {
    let experiment = preprocess::preprocess(&pair.experiment.values, metric);
    let control = preprocess::preprocess(&pair.control.values, metric);
    if experiment.is_empty() || control.is_empty() {
        // The Mann-Whitney judge decides missing data before anything else: its rule, not a copy of it.
        let mut result = mann_whitney::classify(pair, metric, config);
        result.details.push(Detail::text("test", TEST_NAME));
        return result;
    }
    let mut result = MetricResult {
        pair_id: pair.id.clone(),
        classification: MetricClassification::Pass,
        reason: None,
        critical: false,
        control: stats::summary(&control),
        experiment: stats::summary(&experiment),
        details: vec![Detail::text("test", TEST_NAME)],
    };
    for (side, values) in [("Canary", &experiment), ("Baseline", &control)] {
        if let Some(bad) = values.iter().find(|v| !(v.is_finite() && **v >= 0.0)) {
            let cause =
                format!("the {side} data hold {bad}: counts must be finite and not negative");
            coalmine_judge_sdk::warn!("metric classification of pair {} failed: {cause}", pair.id);
            result.classification = MetricClassification::Error;
            result.reason = Some(format!("Metric Classification Failed: {cause}"));
            return result;
        }
    }

    let events = |values: &[f64]| values.iter().sum::<f64>().round() as u64;
    let (experiment_events, control_events) = (events(&experiment), events(&control));
    let step_scale = match (pair.experiment.step_millis, pair.control.step_millis) {
        (experiment_step, control_step) if experiment_step > 0 && control_step > 0 => {
            experiment_step as f64 / control_step as f64
        }
        _ => 1.0,
    };
    let experiment_exposure = experiment.len() as f64 * step_scale;
    let control_exposure = control.len() as f64;
    let dispersion = Dispersion::of(&[&experiment, &control]);
    // Bursty counts are tested as the Poisson events they are worth (see `dispersion`).
    let adjustment = dispersion
        .filter(|dispersion| settings.adjust_dispersion && dispersion.is_overdispersed())
        .map(|dispersion| dispersion.index);
    let tested = |events: u64| (events as f64 / adjustment.unwrap_or(1.0)).round() as u64;
    let mut test = rate_test(
        tested(experiment_events),
        experiment_exposure,
        tested(control_events),
        control_exposure,
        config.confidence_level,
    );
    // The effect is the observed rate ratio, whatever the test's counts.
    test.ratio = (experiment_events as f64 / experiment_exposure)
        / (control_events as f64 / control_exposure);
    let expected = control_events as f64 * experiment_exposure / control_exposure;
    let extra = experiment_events as f64 - expected;

    let decision = decide(metric, settings, config, &test, extra);
    result.classification = decision.classification;
    result.critical = decision.critical;
    result.reason = match decision.classification {
        MetricClassification::High => Some(failure_reason(&metric.name, "High", decision.critical)),
        MetricClassification::Low => Some(failure_reason(&metric.name, "Low", decision.critical)),
        _ if experiment_events == 0 && control_events == 0 => {
            Some("No events on either side".to_owned())
        }
        _ => None,
    };
    result.details.extend([
        Detail::text("alternative", decision.alternative),
        Detail::number("experimentEvents", experiment_events as f64),
        Detail::number("experimentExposure", experiment_exposure),
        Detail::number("controlEvents", control_events as f64),
        Detail::number("controlExposure", control_exposure),
        Detail::number("expectedEvents", expected),
        Detail::number("extraEvents", extra),
        Detail::number("ratio", test.ratio),
        Detail::interval("confidenceInterval", test.lower, test.upper),
        Detail::number("confidenceLevel", config.confidence_level),
        Detail::number("pValue", decision.p_value),
        Detail::number("effectSize", test.ratio),
        Detail::number("alpha", decision.alpha),
        Detail::text("decidedBy", "pValue"),
        Detail::text("decision", decision.text.clone()),
    ]);
    if let Some(dispersion) = dispersion {
        result
            .details
            .push(Detail::number("dispersion", dispersion.index));
    }
    result
        .details
        .push(Detail::flag("dispersionAdjusted", adjustment.is_some()));
    if adjustment.is_some() {
        result.details.extend([
            Detail::number("testedExperimentEvents", tested(experiment_events) as f64),
            Detail::number("testedControlEvents", tested(control_events) as f64),
        ]);
    }
    result
}

/// What [`decide`] concludes.
struct Decision {
    classification: MetricClassification,
    critical: bool,
    /// R's name of the alternative hypothesis the direction maps to.
    alternative: &'static str,
    /// The p-value of that alternative.
    p_value: f64,
    /// The one-sided level each one-sided p-value is compared with.
    alpha: f64,
    /// What decided, in a few words: the one-sided p-value against α, then the effect-size gates.
    text: String,
}

/// Step 4: the test's verdict through the direction, the level and the effect-size gates.
fn decide(
    metric: &MetricConfig,
    settings: CountSettings,
    config: &JudgeConfig,
    test: &RateTest,
    extra: f64,
) -> Decision {
    let alpha = (1.0 - config.confidence_level) / 2.0;
    let thresholds = &metric.effect_size;
    let may_rise = matches!(metric.direction, Direction::Increase | Direction::Either);
    let may_fall = matches!(metric.direction, Direction::Decrease | Direction::Either);
    let (alternative, p_value) = match metric.direction {
        Direction::Increase => ("greater", test.p_greater),
        Direction::Decrease => ("less", test.p_less),
        Direction::Either => ("two.sided", test.p_two_sided()),
    };
    let high = may_rise
        && test.p_greater <= alpha
        && test.ratio >= thresholds.allowed_increase
        && extra > settings.allowed_extra_events;
    let low = may_fall
        && test.p_less <= alpha
        && test.ratio <= thresholds.allowed_decrease
        && -extra > settings.allowed_extra_events;
    let (classification, critical) = if high {
        (
            MetricClassification::High,
            metric.critical && test.ratio >= thresholds.critical_increase,
        )
    } else if low {
        (
            MetricClassification::Low,
            metric.critical && test.ratio <= thresholds.critical_decrease,
        )
    } else {
        (MetricClassification::Pass, false)
    };
    let text = decision_text(
        metric, settings, test, extra, alpha, may_rise, may_fall, high, low,
    );
    Decision {
        classification,
        critical,
        alternative,
        p_value,
        alpha,
        text,
    }
}

/// The words of [`Decision::text`]. A one-sided p-value decides (not the interval, not the reported p-value
/// of `either`): for a classified metric, its p-value at or under α and both gates passed; for a passing
/// one, the first rule that held it back on the side its rate moved to.
#[allow(clippy::too_many_arguments)]
fn decision_text(
    metric: &MetricConfig,
    settings: CountSettings,
    test: &RateTest,
    extra: f64,
    alpha: f64,
    may_rise: bool,
    may_fall: bool,
    high: bool,
    low: bool,
) -> String {
    let n = short;
    // The side judged: the one classified, else the one the observed rate moved to (and may move to).
    let rising = high || (!low && (extra > 0.0 && may_rise || !may_fall));
    let thresholds = &metric.effect_size;
    let (p, p_name, ratio_ok, ratio_text, extra_value) = if rising {
        (
            test.p_greater,
            "p(greater)",
            test.ratio >= thresholds.allowed_increase,
            format!(
                "ratio {} {} allowedIncrease {}",
                n(test.ratio),
                if test.ratio >= thresholds.allowed_increase {
                    ">="
                } else {
                    "<"
                },
                n(thresholds.allowed_increase)
            ),
            extra,
        )
    } else {
        (
            test.p_less,
            "p(less)",
            test.ratio <= thresholds.allowed_decrease,
            format!(
                "ratio {} {} allowedDecrease {}",
                n(test.ratio),
                if test.ratio <= thresholds.allowed_decrease {
                    "<="
                } else {
                    ">"
                },
                n(thresholds.allowed_decrease)
            ),
            -extra,
        )
    };
    let significant = p <= alpha;
    let p_text = format!(
        "{p_name} {} {} alpha {}",
        n(p),
        if significant { "<=" } else { ">" },
        n(alpha)
    );
    let extra_ok = extra_value > settings.allowed_extra_events;
    let extra_text = format!(
        "{} events {} {} allowedExtraEvents {}",
        if rising { "extra" } else { "missing" },
        n(extra_value),
        if extra_ok { ">" } else { "<=" },
        n(settings.allowed_extra_events)
    );
    if !significant {
        p_text
    } else if high || low {
        format!("{p_text}; {ratio_text}; {extra_text}")
    } else if !ratio_ok {
        format!("{p_text} but {ratio_text}")
    } else {
        format!("{p_text} but {extra_text}")
    }
}
