//! The classification of one metric pair by its anytime-valid test, and what the result reports.
//!
//! 1. Each side is preprocessed as Kayenta does and summarised; a side without values is decided by the
//!    Mann-Whitney judge's missing-data rule (`Nodata`, `NodataFailMetric` with `mustHaveData`, `Pass` with
//!    `nanStrategy: replace`). Infinite values (and negative counts) are an `Error`.
//! 2. The steps both sides report are paired ([`crate::paired`]).
//! 3. **Insufficient data.** A gauge with fewer pairs than its test needs to reach `1/α` at all
//!    ([`sign_flip::minimum_steps`]), or a count metric with fewer than [`MINIMUM_COUNT_STEPS`] paired steps
//!    (its dispersion unknown), is `Nodata` with the reason (`NodataFailMetric` when the metric must have data and is not critical): never `High` or `Low`.
//! 4. **Test.** `High` when the direction allows an increase and the e-process against
//!    `ratio ≤ allowedIncrease` has reached `1/α` at some step ([`sign_flip`] for gauges, [`rate`] for counts
//!    with, as in coalmine-v1, `allowedExtraEvents` as a second gate); `Low` symmetrically against
//!    `ratio ≥ allowedDecrease`; otherwise `Pass`. With direction `either` each side gets half the metric's α.
//!    A critical metric that fails fails the canary when its observed ratio also reaches `criticalIncrease` /
//!    `criticalDecrease`.
//! 5. **Finality.** A `High` or `Low` is final (established, whatever later steps bring). A metric is
//!    *harmless* when its confidence sequence already excludes every harmful ratio: above `allowedIncrease`
//!    (`1 + harmlessMargin` when `allowedIncrease` is 1) when it may not rise, below `allowedDecrease`
//!    (`1 − harmlessMargin` when it is 1) when it may not fall.

use coalmine_judge_sdk::{
    Detail, Direction, MetricClassification, MetricConfig, MetricPair, MetricResult, preprocess,
    scoring, stats,
};
use coalmine_mann_whitney::classifier::{self as mann_whitney, failure_reason, short};
use coalmine_mann_whitney::config::JudgeConfig;
use coalmine_mann_whitney::stats::effect_size::mean_ratio;
use coalmine_v1::dispersion::Dispersion;
use coalmine_v1::settings::{CountSettings, MetricKind};

use crate::config::Config;
use crate::paired::paired;
use crate::rate;
use crate::sign_flip::{self, Side, SignFlip};

/// The `test` detail of a gauge.
pub const GAUGE_TEST: &str = "sequential-sign-flip";
/// The `test` detail of a count metric.
pub const COUNTS_TEST: &str = "sequential-poisson-rate-ratio";

/// The fewest steps a count metric is judged on: the dispersion of fewer is too uncertain to adjust bursty
/// counts by (at 2 steps a side, bursty A/A canaries failed 2 % of the time at 1 % in the simulation).
pub const MINIMUM_COUNT_STEPS: usize = 10;

/// What the guarantee over several looks covers, reported with every compared result.
pub const VALIDITY: &str = "anytime-valid over the looks of one growing window (the same start at every \
    look); a sliding window restarts the test at each look, which then holds only for that look";

/// A classified pair and what the verdict needs to know beyond its result.
#[derive(Clone, Debug)]
pub struct Classified {
    /// The result.
    pub result: MetricResult,
    /// `None` when the metric is harmless (its interval excludes harmful effects), else why not.
    pub open: Option<String>,
}

/// The levels of one metric: `alpha` is its share of the analysis's budget.
#[derive(Clone, Copy, Debug)]
struct Levels {
    /// The one-sided level of the lower bound (and of `High`).
    lower: f64,
    /// The one-sided level of the upper bound (and of `Low`).
    upper: f64,
}

impl Levels {
    fn of(direction: Direction, alpha: f64) -> Self {
        match direction {
            Direction::Either => Self {
                lower: alpha / 2.0,
                upper: alpha / 2.0,
            },
            Direction::Increase | Direction::Decrease => Self {
                lower: alpha,
                upper: alpha,
            },
        }
    }
}

/// Classifies `pair` of `metric` (of kind `kind`) with the metric's share `alpha` of the budget.
pub fn classify(
    pair: &MetricPair,
    metric: &MetricConfig,
    kind: MetricKind,
    alpha: f64,
    config: &Config,
) -> Classified {
    let test_name = match kind {
        MetricKind::Gauge => GAUGE_TEST,
        MetricKind::Counts(_) => COUNTS_TEST,
    };
    let experiment = preprocess::preprocess(&pair.experiment.values, metric);
    let control = preprocess::preprocess(&pair.control.values, metric);
    if experiment.is_empty() || control.is_empty() {
        // The Mann-Whitney judge's (Kayenta's) missing-data rule, unchanged.
        let mut result = mann_whitney::classify(pair, metric, &JudgeConfig::default());
        result.details.push(Detail::text("test", test_name));
        let open = Some(format!("metric {}: no data", metric.name));
        return Classified { result, open };
    }
    let mut result = MetricResult::new(pair, MetricClassification::Pass, &control, &experiment);
    result.details.push(Detail::text("test", test_name));
    let counts = matches!(kind, MetricKind::Counts(_));
    for (side, values) in [("Canary", &experiment), ("Baseline", &control)] {
        let bad = values
            .iter()
            .find(|v| !v.is_finite() || (counts && **v < 0.0));
        if let Some(bad) = bad {
            let cause = if counts {
                format!("the {side} data hold {bad}: counts must be finite and not negative")
            } else {
                format!("the {side} data contain non-finite values (±Infinity)")
            };
            return failed(pair, metric, result, &cause);
        }
    }
    let pairs = paired(pair, metric);
    // Ratios order the control's values only when they are not negative (`d = y − ρx` falls with `ρ`).
    let below_zero = match kind {
        MetricKind::Gauge => pairs.iter().map(|&(x, _)| x).find(|&x| x < 0.0),
        MetricKind::Counts(_) => None,
    };
    if let Some(value) = below_zero
        && let Some(threshold) = ratio_threshold(metric)
    {
        let cause = format!(
            "{threshold} is a ratio of the Canary to the Baseline, which means nothing for values below 0, and \
             the Baseline data hold {value}: leave it at 1 for this metric"
        );
        return failed(pair, metric, result, &cause);
    }
    let levels = Levels::of(metric.direction, alpha);
    let ratio = mean_ratio(stats::mean(&control), stats::mean(&experiment));
    let mut judged = Judged::new(metric, levels, config);
    match kind {
        MetricKind::Gauge => judged.gauge(&pairs, below_zero.is_none()),
        MetricKind::Counts(settings) => {
            let step_ratio = match (pair.experiment.step_millis, pair.control.step_millis) {
                (e, c) if e > 0 && c > 0 => e as f64 / c as f64,
                _ => 1.0,
            };
            judged.counts(&pairs, settings, step_ratio)
        }
    }
    judged.finish(metric, ratio, pairs.len(), result)
}

/// `result` as an `Error` whose classification failed for `cause`, logged as the other judges log it.
fn failed(
    pair: &MetricPair,
    metric: &MetricConfig,
    mut result: MetricResult,
    cause: &str,
) -> Classified {
    coalmine_judge_sdk::warn!("metric classification of pair {} failed: {cause}", pair.id);
    result.classification = MetricClassification::Error;
    result.reason = Some(format!("Metric Classification Failed: {cause}"));
    Classified {
        result,
        open: Some(format!("metric {}: {cause}", metric.name)),
    }
}

/// The effect-size threshold the metric's test would use as a ratio other than 1 (`allowedIncrease 1.2`), if
/// any.
fn ratio_threshold(metric: &MetricConfig) -> Option<String> {
    let thresholds = &metric.effect_size;
    let may_rise = matches!(metric.direction, Direction::Increase | Direction::Either);
    let may_fall = matches!(metric.direction, Direction::Decrease | Direction::Either);
    if may_rise && thresholds.allowed_increase != 1.0 {
        Some(format!(
            "allowedIncrease {}",
            short(thresholds.allowed_increase)
        ))
    } else if may_fall && thresholds.allowed_decrease != 1.0 {
        Some(format!(
            "allowedDecrease {}",
            short(thresholds.allowed_decrease)
        ))
    } else {
        None
    }
}

/// A metric's test, as it is carried out.
struct Judged {
    levels: Levels,
    may_rise: bool,
    may_fall: bool,
    /// The ratios the e-processes test: `allowedIncrease` and `allowedDecrease`.
    allowed: (f64, f64),
    /// The harmful ratios an early pass must exclude: above `.1`, below `.0`.
    harmful: (f64, f64),
    /// When the data are too few: why.
    insufficient: Option<String>,
    /// When no interval bounds the ratio (a gauge's control below 0): why the metric cannot be harmless.
    unbounded: Option<&'static str>,
    /// For counts: the observed rate ratio of the paired steps (+∞ when only the control saw no events), which
    /// replaces the ratio of the means.
    ratio: Option<f64>,
    /// The running maxima of `E⁺` (at `allowedIncrease`) and `E⁻` (at `allowedDecrease`), and their current values.
    up: sign_flip::EValue,
    down: sign_flip::EValue,
    interval: (f64, f64),
    /// The running maxima of the e-processes against the harmful ratios: `E⁺` at the lower harmful ratio,
    /// `E⁻` at the upper one. Reaching `1/α` rules the harmful ratios out.
    harmless_evidence: (f64, f64),
    /// Details only one kind of test has.
    extra_details: Vec<Detail>,
    /// For counts: whether `allowedExtraEvents` lets an increase (`.0`) or a decrease (`.1`) fail.
    extra_gate: (bool, bool),
    /// For counts: the gate's words, when it held a significant change back.
    extra_text: Option<String>,
}

impl Judged {
    fn new(metric: &MetricConfig, levels: Levels, config: &Config) -> Self {
        let thresholds = &metric.effect_size;
        let harmful_up = if thresholds.allowed_increase > 1.0 {
            thresholds.allowed_increase
        } else {
            1.0 + config.harmless_margin
        };
        let harmful_down = if thresholds.allowed_decrease < 1.0 {
            thresholds.allowed_decrease
        } else {
            1.0 - config.harmless_margin
        };
        let none = sign_flip::EValue {
            current: 1.0,
            max: 1.0,
        };
        Self {
            levels,
            may_rise: matches!(metric.direction, Direction::Increase | Direction::Either),
            may_fall: matches!(metric.direction, Direction::Decrease | Direction::Either),
            allowed: (thresholds.allowed_increase, thresholds.allowed_decrease),
            harmful: (harmful_down, harmful_up),
            insufficient: None,
            unbounded: None,
            ratio: None,
            up: none,
            down: none,
            interval: (0.0, f64::INFINITY),
            harmless_evidence: (1.0, 1.0),
            extra_details: Vec::new(),
            extra_gate: (true, true),
            extra_text: None,
        }
    }

    /// The smallest one-sided level that can fail the metric.
    fn failing_alpha(&self) -> f64 {
        match (self.may_rise, self.may_fall) {
            (true, true) => self.levels.lower.min(self.levels.upper),
            (true, false) => self.levels.lower,
            _ => self.levels.upper,
        }
    }

    /// Tests a gauge's `pairs`; `ratios` is whether the control's values are not negative, so that an
    /// interval of ratios (and with it harmlessness) can be had.
    fn gauge(&mut self, pairs: &[(f64, f64)], ratios: bool) {
        let needed = sign_flip::minimum_steps(self.failing_alpha());
        self.extra_details
            .push(Detail::number("minimumPairedPoints", needed as f64));
        if pairs.len() < needed {
            self.insufficient = Some(format!(
                "{} paired points: at least {needed} are needed to reach the confidence 1 - {}",
                pairs.len(),
                short(self.failing_alpha())
            ));
            return;
        }
        let flip = SignFlip::new(pairs.to_vec());
        if self.may_rise {
            self.up = flip.e_value(self.allowed.0, Side::Increase);
        }
        if self.may_fall {
            self.down = flip.e_value(self.allowed.1, Side::Decrease);
        }
        if !ratios {
            // Only "the experiment is the control" is tested (the thresholds are 1): no ratio is bounded.
            self.unbounded =
                Some("the Baseline data hold values below 0, where no interval bounds a ratio");
            self.interval = (f64::NEG_INFINITY, f64::INFINITY);
            return;
        }
        self.interval = flip.interval(self.levels.lower, self.levels.upper);
        if self.may_fall {
            self.harmless_evidence.0 = flip.e_value(self.harmful.0, Side::Increase).max;
        }
        if self.may_rise {
            self.harmless_evidence.1 = flip.e_value(self.harmful.1, Side::Decrease).max;
        }
    }

    fn counts(&mut self, pairs: &[(f64, f64)], settings: CountSettings, step_ratio: f64) {
        self.extra_details.push(Detail::number(
            "minimumPairedPoints",
            MINIMUM_COUNT_STEPS as f64,
        ));
        if pairs.len() < MINIMUM_COUNT_STEPS {
            self.insufficient = Some(format!(
                "{} paired steps: at least {MINIMUM_COUNT_STEPS} are needed to tell bursts from a change of rate",
                pairs.len()
            ));
            return;
        }
        let (control, experiment): (Vec<f64>, Vec<f64>) = pairs.iter().copied().unzip();
        let dispersion = Dispersion::of(&[&experiment, &control]);
        let adjustment = dispersion
            .filter(|dispersion| settings.adjust_dispersion && dispersion.is_overdispersed())
            .map_or(1.0, |dispersion| dispersion.index);
        // The cumulative events, as counted (`raw`) and as tested (`path`, after the dispersion adjustment).
        let mut raw = Vec::with_capacity(pairs.len());
        let (mut x, mut y) = (0.0, 0.0);
        for &(control, experiment) in pairs {
            x += experiment;
            y += control;
            raw.push((x, y));
        }
        let path: Vec<(f64, f64)> = raw
            .iter()
            .map(|&(x, y)| (x / adjustment, y / adjustment))
            .collect();
        let (x_tested, y_tested) = path.last().copied().unwrap_or((0.0, 0.0));
        // Each side's e-process once: its maximum decides, and where it first reached 1/α anchors the gate.
        let up = rate::run(
            &path,
            self.allowed.0,
            step_ratio,
            Side::Increase,
            1.0 / self.levels.lower,
        );
        let down = rate::run(
            &path,
            self.allowed.1,
            step_ratio,
            Side::Decrease,
            1.0 / self.levels.upper,
        );
        let e_value = |ratio, side, run: rate::Run| sign_flip::EValue {
            current: rate::ln_e_value(x_tested, y_tested, rate::share(ratio, step_ratio), side)
                .exp(),
            max: run.max,
        };
        if self.may_rise {
            self.up = e_value(self.allowed.0, Side::Increase, up);
        }
        if self.may_fall {
            self.down = e_value(self.allowed.1, Side::Decrease, down);
        }
        self.interval = rate::interval(
            x_tested,
            y_tested,
            step_ratio,
            self.levels.lower,
            self.levels.upper,
        );
        if self.may_fall {
            self.harmless_evidence.0 =
                rate::max_e_value(&path, self.harmful.0, step_ratio, Side::Increase);
        }
        if self.may_rise {
            self.harmless_evidence.1 =
                rate::max_e_value(&path, self.harmful.1, step_ratio, Side::Decrease);
        }
        self.ratio = Some(x / y / step_ratio);
        let expected = y * step_ratio;
        let extra = x - expected;
        let allowed = settings.allowed_extra_events;
        // The gate holds once the extra (missing) events have exceeded `allowedExtraEvents` at or after the
        // step where the evidence was established, so that an established failure stays one.
        let gate = |run: rate::Run, sign: f64| match run.reached_at {
            Some(established) => raw[established..]
                .iter()
                .any(|&(x, y)| sign * (x - y * step_ratio) > allowed),
            None => sign * extra > allowed,
        };
        self.extra_gate = (gate(up, 1.0), gate(down, -1.0));
        let rising = extra > 0.0;
        let gate_open = if rising {
            self.extra_gate.0
        } else {
            self.extra_gate.1
        };
        if !gate_open {
            self.extra_text = Some(format!(
                "{} events {} <= allowedExtraEvents {}",
                if rising { "extra" } else { "missing" },
                short(extra.abs()),
                short(allowed)
            ));
        }
        self.extra_details.extend([
            Detail::number("experimentEvents", x.round()),
            Detail::number("controlEvents", y.round()),
            Detail::number("expectedEvents", expected),
            Detail::number("extraEvents", extra),
        ]);
        if let Some(dispersion) = dispersion {
            self.extra_details
                .push(Detail::number("dispersion", dispersion.index));
        }
        self.extra_details
            .push(Detail::flag("dispersionAdjusted", adjustment > 1.0));
    }

    fn finish(
        self,
        metric: &MetricConfig,
        ratio: f64,
        paired_points: usize,
        mut result: MetricResult,
    ) -> Classified {
        result
            .details
            .push(Detail::number("pairedPoints", paired_points as f64));
        if let Some(why) = self.insufficient {
            result.details.extend(self.extra_details);
            let reason = format!("Insufficient data for {}: {why}", metric.name);
            result.classification = if metric.must_have_data && !metric.critical {
                MetricClassification::NodataFailMetric
            } else {
                MetricClassification::Nodata
            };
            // A critical metric that must have data fails the canary, as Kayenta's missing data does.
            result.critical = metric.critical && metric.must_have_data;
            result.details.extend([
                Detail::text("decidedBy", "sampleSize"),
                Detail::text("decision", why.clone()),
                Detail::text("finality", "open"),
                // Too few data yet is not missing data: unless the metric must have data, it does not count
                // towards Kayenta's 50 % NODATA rule.
                Detail::flag(scoring::INSUFFICIENT_DATA, !metric.must_have_data),
            ]);
            result.reason = Some(reason);
            return Classified {
                result,
                open: Some(format!("metric {}: {why}", metric.name)),
            };
        }
        // Counts report their rate ratio; a ratio that is NaN (a side's mean is 0) reaches every threshold, as
        // in the Mann-Whitney judge (Kayenta): it cannot hold a critical failure back.
        let ratio = self.ratio.unwrap_or(ratio);
        let reaches = |threshold: f64, increase: bool| {
            ratio.is_nan()
                || if increase {
                    ratio >= threshold
                } else {
                    ratio <= threshold
                }
        };
        let (alpha_up, alpha_down) = (self.levels.lower, self.levels.upper);
        let high = self.may_rise && self.up.max >= 1.0 / alpha_up && self.extra_gate.0;
        let low = self.may_fall && self.down.max >= 1.0 / alpha_down && self.extra_gate.1;
        let thresholds = &metric.effect_size;
        // The side judged: the one classified, else the one with more evidence among those allowed.
        let rising = if high || low {
            high && !(low && self.down.max * alpha_down > self.up.max * alpha_up)
        } else {
            match (self.may_rise, self.may_fall) {
                (true, true) => self.up.max * alpha_up >= self.down.max * alpha_down,
                (rise, _) => rise,
            }
        };
        let (classification, critical, label) = match (high, low, rising) {
            (true, _, true) => (
                MetricClassification::High,
                metric.critical && reaches(thresholds.critical_increase, true),
                "High",
            ),
            (_, true, false) => (
                MetricClassification::Low,
                metric.critical && reaches(thresholds.critical_decrease, false),
                "Low",
            ),
            _ => (MetricClassification::Pass, false, ""),
        };
        let (e, alpha, name, threshold, relation) = if rising {
            (self.up, alpha_up, "allowedIncrease", self.allowed.0, ">")
        } else {
            (
                self.down,
                alpha_down,
                "allowedDecrease",
                self.allowed.1,
                "<",
            )
        };
        let reached = e.max >= 1.0 / alpha;
        let mut decision = format!(
            "max e-value {} {} 1/alpha {}",
            short(e.max),
            if reached { ">=" } else { "<" },
            short(1.0 / alpha)
        );
        if reached {
            decision.push_str(&format!(": ratio {relation} {name} {}", short(threshold)));
            if let Some(gate) = &self.extra_text {
                decision.push_str(&format!(" but {gate}"));
            }
        }
        let (lower, upper) = self.interval;
        let harmless_up = !self.may_rise || self.harmless_evidence.1 >= 1.0 / alpha_down;
        let harmless_down = !self.may_fall || self.harmless_evidence.0 >= 1.0 / alpha_up;
        let finality = if classification != MetricClassification::Pass {
            "regression"
        } else if harmless_up && harmless_down {
            "harmless"
        } else {
            "open"
        };
        let open = match finality {
            "harmless" => None,
            "regression" => Some(format!("metric {}: {decision}", metric.name)),
            _ if self.unbounded.is_some() => Some(format!(
                "metric {}: {}",
                metric.name,
                self.unbounded.unwrap_or_default()
            )),
            _ if !harmless_up => Some(format!(
                "metric {}: a ratio of {} is not ruled out yet (upper bound {})",
                metric.name,
                short(self.harmful.1),
                short(upper)
            )),
            _ => Some(format!(
                "metric {}: a ratio of {} is not ruled out yet (lower bound {})",
                metric.name,
                short(self.harmful.0),
                short(lower)
            )),
        };
        result.classification = classification;
        result.critical = critical;
        if classification != MetricClassification::Pass {
            result.reason = Some(failure_reason(&metric.name, label, critical));
        }
        let alternative = match metric.direction {
            Direction::Increase => "greater",
            Direction::Decrease => "less",
            Direction::Either => "two.sided",
        };
        result.details.extend(self.extra_details);
        result.details.extend([
            Detail::text("alternative", alternative),
            Detail::number("ratio", ratio),
            Detail::number("effectSize", ratio),
            Detail::interval("confidenceInterval", lower, upper),
            Detail::number("confidenceLevel", 1.0 - alpha_up - alpha_down),
            Detail::number("eValue", e.current),
            Detail::number("maxEValue", e.max),
            Detail::number("pValue", (1.0 / e.max).min(1.0)),
            Detail::number("alpha", alpha),
            Detail::number("effectSizeThreshold", threshold),
            Detail::interval(
                "harmlessBand",
                if self.may_fall { self.harmful.0 } else { 0.0 },
                if self.may_rise {
                    self.harmful.1
                } else {
                    f64::INFINITY
                },
            ),
            Detail::text("decidedBy", "eValue"),
            Detail::text("decision", decision),
            Detail::text("finality", finality),
            Detail::text("validity", VALIDITY),
        ]);
        Classified { result, open }
    }
}
