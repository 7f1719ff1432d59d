//! `threshold`: an example coalmine judge that gates a canary on fixed bounds instead of statistics, like
//! Flagger's `thresholdRange` — for SLOs such as "p99 latency under 300 ms" or "success rate above 99 %".
//!
//! Each metric names its bounds in its `analysisConfigurations`:
//!
//! ```json
//! "analysisConfigurations": {
//!   "canary": {"critical": true},
//!   "thresholdRange": {"max": 0.3},
//!   "statistic": "p99"
//! }
//! ```
//!
//! The experiment's values (after the metric's NaN and outlier handling) are reduced to the `statistic`
//! (`mean` by default, `min`, `max`, or a percentile `p50` … `p99.9`), which must lie within `min` and `max`
//! (either may be left out): above `max` is `High`, below `min` is `Low`. The control is summarised for the
//! report but not compared. Scoring (groups, weights, critical metrics, NODATA, thresholds) is Kayenta's, from
//! the SDK.

use coalmine_judge_sdk::serde_json::Value;
use coalmine_judge_sdk::stats::{self, Sorted};
use coalmine_judge_sdk::{
    Detail, Guest, JudgeError, JudgeInfo, JudgeRequest, Judgement, MetricClassification,
    MetricConfig, MetricPair, MetricResult, preprocess, scoring,
};

/// The name the judge registers under.
pub const NAME: &str = "threshold";

/// Judges every pair of `request` against its metric's bounds.
pub fn judge(request: &JudgeRequest) -> Result<Judgement, JudgeError> {
    scoring::judge_each(request, classify)
}

/// The bounds of one metric.
#[derive(Debug, Clone, PartialEq)]
pub struct Bounds {
    /// Lowest acceptable value of the statistic.
    pub min: Option<f64>,
    /// Highest acceptable value of the statistic.
    pub max: Option<f64>,
    /// `mean`, `min`, `max` or `pNN`.
    pub statistic: String,
}

impl Bounds {
    /// Reads `thresholdRange` and `statistic` from the metric's `analysisConfigurations`.
    pub fn of(metric: &MetricConfig) -> Result<Bounds, JudgeError> {
        let invalid =
            |what: String| JudgeError::InvalidRequest(format!("metric {}: {what}", metric.name));
        let config: Value =
            coalmine_judge_sdk::serde_json::from_str(&metric.analysis_configurations)
                .map_err(|error| invalid(format!("analysisConfigurations is not JSON: {error}")))?;
        let range = config.get("thresholdRange").ok_or_else(|| {
            invalid(
                "analysisConfigurations.thresholdRange ({\"min\": …, \"max\": …}) is missing"
                    .into(),
            )
        })?;
        let bound = |key: &str| match range.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(value) => value.as_f64().map(Some).ok_or_else(|| {
                invalid(format!(
                    "thresholdRange.{key} must be a number, got {value}"
                ))
            }),
        };
        let (min, max) = (bound("min")?, bound("max")?);
        match (min, max) {
            (None, None) => {
                return Err(invalid("thresholdRange needs a min, a max or both".into()));
            }
            (Some(min), Some(max)) if min > max => {
                return Err(invalid(format!(
                    "thresholdRange.min {min} is above its max {max}"
                )));
            }
            _ => {}
        }
        let statistic = match config.get("statistic") {
            None => "mean".to_string(),
            Some(Value::String(name)) if quantile(name).is_some() => name.clone(),
            Some(other) => {
                return Err(invalid(format!(
                    "statistic must be \"mean\", \"min\", \"max\" or a percentile such as \"p99\", got {other}"
                )));
            }
        };
        Ok(Bounds {
            min,
            max,
            statistic,
        })
    }
}

/// The quantile (0 to 1) a statistic name stands for; `mean` is NaN, a marker.
fn quantile(statistic: &str) -> Option<f64> {
    match statistic {
        "mean" => Some(f64::NAN),
        "min" => Some(0.0),
        "max" => Some(1.0),
        _ => statistic
            .strip_prefix('p')
            .and_then(|p| p.parse::<f64>().ok())
            .filter(|p| (0.0..=100.0).contains(p))
            .map(|p| p / 100.0),
    }
}

/// Classifies one pair against its metric's bounds.
pub fn classify(pair: &MetricPair, metric: &MetricConfig) -> Result<MetricResult, JudgeError> {
    let bounds = Bounds::of(metric)?;
    let control = preprocess::preprocess(&pair.control.values, metric);
    let mut experiment = preprocess::preprocess(&pair.experiment.values, metric);
    if experiment.is_empty() {
        let classification = if metric.must_have_data {
            MetricClassification::NodataFailMetric
        } else {
            MetricClassification::Nodata
        };
        let mut result = MetricResult::new(pair, classification, &control, &experiment);
        result.reason = Some(format!("The canary has no data for {}", metric.name));
        return Ok(result);
    }
    let summary_values = experiment.clone();
    let value = match quantile(&bounds.statistic) {
        Some(q) if q.is_nan() => stats::mean(&experiment),
        Some(q) => preprocess::percentile_r7(Sorted::new(&mut experiment), q),
        None => unreachable!("Bounds::of accepts only known statistics"),
    };
    let (classification, reason) = match (bounds.min, bounds.max) {
        (_, Some(max)) if value > max => (
            MetricClassification::High,
            Some(format!(
                "{} {} is {value}, above the maximum {max}",
                metric.name, bounds.statistic
            )),
        ),
        (Some(min), _) if value < min => (
            MetricClassification::Low,
            Some(format!(
                "{} {} is {value}, below the minimum {min}",
                metric.name, bounds.statistic
            )),
        ),
        _ => (MetricClassification::Pass, None),
    };
    coalmine_judge_sdk::debug!(
        "{}: {} {value} in {:?}..{:?}",
        pair.id,
        bounds.statistic,
        bounds.min,
        bounds.max
    );
    let mut result = MetricResult::new(pair, classification, &control, &summary_values);
    result.critical = metric.critical && classification != MetricClassification::Pass;
    result.reason = reason;
    result
        .details
        .push(Detail::number(bounds.statistic.clone(), value));
    if let Some(min) = bounds.min {
        result.details.push(Detail::number("min", min));
    }
    if let Some(max) = bounds.max {
        result.details.push(Detail::number("max", max));
    }
    Ok(result)
}

/// The component's implementation of the `judge` interface; natively, call [`judge`] directly.
pub struct ThresholdJudge;

impl Guest for ThresholdJudge {
    fn info() -> JudgeInfo {
        JudgeInfo {
            name: NAME.into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Fixed per-metric bounds (thresholdRange) on the canary's mean, min, max or a percentile"
                .into(),
        }
    }

    fn judge(request: JudgeRequest) -> Result<Judgement, JudgeError> {
        crate::judge(&request)
    }
}

coalmine_judge_sdk::export_judge!(ThresholdJudge);

#[cfg(test)]
mod tests {
    use super::*;

    fn metric(analysis: &str) -> MetricConfig {
        let mut metric = MetricConfig::with_defaults("latency");
        metric.analysis_configurations = analysis.into();
        metric
    }

    #[test]
    fn bounds_are_read_and_checked() {
        let bounds = Bounds::of(&metric(
            r#"{"thresholdRange": {"max": 0.3}, "statistic": "p99"}"#,
        ))
        .unwrap();
        assert_eq!(
            (bounds.min, bounds.max, bounds.statistic.as_str()),
            (None, Some(0.3), "p99")
        );
        for (config, message) in [
            ("{}", "thresholdRange"),
            (r#"{"thresholdRange": {}}"#, "needs a min, a max or both"),
            (
                r#"{"thresholdRange": {"min": 2, "max": 1}}"#,
                "above its max",
            ),
            (r#"{"thresholdRange": {"max": "1"}}"#, "must be a number"),
            (
                r#"{"thresholdRange": {"max": 1}, "statistic": "median"}"#,
                "statistic must be",
            ),
        ] {
            match Bounds::of(&metric(config)) {
                Err(JudgeError::InvalidRequest(error)) => {
                    assert!(error.contains(message), "{config}: {error}")
                }
                other => panic!("{config}: {other:?}"),
            }
        }
    }

    #[test]
    fn quantiles_are_named_like_prometheus_percentiles() {
        assert_eq!(quantile("p99"), Some(0.99));
        assert!(quantile("p99.9").is_some_and(|q| (q - 0.999).abs() < 1e-12));
        assert_eq!(quantile("max"), Some(1.0));
        assert_eq!(quantile("p101"), None);
        assert_eq!(quantile("x"), None);
    }
}
