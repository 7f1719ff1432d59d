//! The settings coalmine-v1 reads from a metric's `analysisConfigurations` (the contract's
//! `metric-config.analysis-configurations`), beyond the Kayenta settings the host has already read:
//!
//! | Key under `analysisConfigurations.canary` | Default | Allowed |
//! |---|---|---|
//! | `counts` | `false` | `true` or `false`: the metric holds event counts per step |
//! | `effectSize.allowedExtraEvents` | 0 | a finite number ≥ 0, only with `counts: true` |
//! | `adjustDispersion` | `true` | `true` or `false`, only with `counts: true`: test bursty counts as the Poisson events they are worth ([`crate::dispersion`]) |
//!
//! A key set to `null` takes its default. A count metric compares rates, so its effect size is the rate ratio:
//! `effectSize.measure` must be `meanRatio` (Kayenta's default).

use coalmine_judge_sdk::serde_json::{self, Map, Value};
use coalmine_judge_sdk::{EffectSizeMeasure, JudgeError, MetricConfig};

/// How coalmine-v1 judges one metric.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum MetricKind {
    /// Kayenta's Mann-Whitney classification.
    Gauge,
    /// The exact Poisson rate test, with its settings.
    Counts(CountSettings),
}

/// The settings of a count metric.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CountSettings {
    /// `effectSize.allowedExtraEvents`: a significant change fails only when the experiment's events differ
    /// from what the control's rate predicts for the experiment's exposure by more than this many.
    pub allowed_extra_events: f64,
    /// `adjustDispersion`: whether overdispersed counts (quasi-Poisson dispersion above 1) are scaled down before the test.
    pub adjust_dispersion: bool,
}

impl Default for CountSettings {
    fn default() -> Self {
        Self {
            allowed_extra_events: 0.0,
            adjust_dispersion: true,
        }
    }
}

impl MetricKind {
    /// Reads `metric`'s `analysisConfigurations`; a value of the wrong type, out of range or in the wrong
    /// place is a [`JudgeError::InvalidRequest`] naming the metric, the key and what is allowed.
    pub fn of(metric: &MetricConfig) -> Result<Self, JudgeError> {
        let wrong = |key: &str, value: &Value, allowed: &str| {
            JudgeError::InvalidRequest(format!(
                "metric '{}': analysisConfigurations.canary.{key} must be {allowed}, got {value}",
                metric.name
            ))
        };
        let analysis: Value = if metric.analysis_configurations.trim().is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&metric.analysis_configurations).map_err(|error| {
                JudgeError::InvalidRequest(format!(
                    "metric '{}': analysisConfigurations is not valid JSON: {error}",
                    metric.name
                ))
            })?
        };
        let empty = Map::new();
        let canary = match &analysis {
            Value::Null => &empty,
            Value::Object(analysis) => match analysis.get("canary") {
                None | Some(Value::Null) => &empty,
                Some(Value::Object(canary)) => canary,
                Some(other) => {
                    return Err(JudgeError::InvalidRequest(format!(
                        "metric '{}': analysisConfigurations.canary must be an object, got {other}",
                        metric.name
                    )));
                }
            },
            other => {
                return Err(JudgeError::InvalidRequest(format!(
                    "metric '{}': analysisConfigurations must be an object, got {other}",
                    metric.name
                )));
            }
        };
        let flag = |key: &str| match canary.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Bool(flag)) => Ok(Some(*flag)),
            Some(other) => Err(wrong(key, other, "true or false (a JSON boolean)")),
        };
        let counts = flag("counts")?.unwrap_or(false);
        let adjust_dispersion = flag("adjustDispersion")?;
        let effect_size = match canary.get("effectSize") {
            None | Some(Value::Null) => &empty,
            Some(Value::Object(effect_size)) => effect_size,
            Some(other) => return Err(wrong("effectSize", other, "an object")),
        };
        let allowed_extra_events = match effect_size.get("allowedExtraEvents") {
            None | Some(Value::Null) => None,
            Some(value) => Some(
                value
                    .as_f64()
                    .filter(|events| events.is_finite() && *events >= 0.0)
                    .ok_or_else(|| {
                        wrong(
                            "effectSize.allowedExtraEvents",
                            value,
                            "a finite number >= 0",
                        )
                    })?,
            ),
        };
        if !counts {
            let count_setting = [
                (
                    allowed_extra_events.is_some(),
                    "effectSize.allowedExtraEvents",
                ),
                (adjust_dispersion.is_some(), "adjustDispersion"),
            ]
            .into_iter()
            .find_map(|(set, key)| set.then_some(key));
            if let Some(key) = count_setting {
                return Err(JudgeError::InvalidRequest(format!(
                    "metric '{}': analysisConfigurations.canary.{key} applies only to metrics with \
                     analysisConfigurations.canary.counts: true",
                    metric.name
                )));
            }
            return Ok(Self::Gauge);
        }
        if metric.effect_size.measure == EffectSizeMeasure::Cles {
            return Err(JudgeError::InvalidRequest(format!(
                "metric '{}': analysisConfigurations.canary.effectSize.measure must be \"meanRatio\" (the rate \
                 ratio) for a metric with counts: true, got \"cles\"",
                metric.name
            )));
        }
        let defaults = CountSettings::default();
        Ok(Self::Counts(CountSettings {
            allowed_extra_events: allowed_extra_events.unwrap_or(defaults.allowed_extra_events),
            adjust_dispersion: adjust_dispersion.unwrap_or(defaults.adjust_dispersion),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(json: &str) -> Result<MetricKind, JudgeError> {
        let mut metric = MetricConfig::with_defaults("errors");
        metric.analysis_configurations = json.into();
        MetricKind::of(&metric)
    }

    fn invalid(message: &str) -> Result<MetricKind, JudgeError> {
        Err(JudgeError::InvalidRequest(message.into()))
    }

    #[test]
    fn metrics_are_gauges_unless_they_say_they_hold_counts() {
        for json in [
            "",
            "{}",
            "null",
            r#"{"canary": null}"#,
            r#"{"canary": {}}"#,
            r#"{"canary": {"counts": false}}"#,
            r#"{"canary": {"counts": null, "direction": "increase"}}"#,
        ] {
            assert_eq!(kind(json), Ok(MetricKind::Gauge), "{json}");
        }
    }

    #[test]
    fn count_settings_are_read_with_their_default() {
        assert_eq!(
            kind(r#"{"canary": {"counts": true}}"#),
            Ok(MetricKind::Counts(CountSettings::default()))
        );
        assert_eq!(
            kind(r#"{"canary": {"counts": true, "adjustDispersion": false}}"#),
            Ok(MetricKind::Counts(CountSettings {
                allowed_extra_events: 0.0,
                adjust_dispersion: false
            }))
        );
        assert_eq!(
            kind(r#"{"canary": {"counts": true, "effectSize": {"allowedExtraEvents": 5}}}"#),
            Ok(MetricKind::Counts(CountSettings {
                allowed_extra_events: 5.0,
                adjust_dispersion: true
            }))
        );
    }

    #[test]
    fn wrong_settings_are_rejected_with_the_metric_and_key() {
        assert_eq!(
            kind(r#"{"canary": {"counts": "true"}}"#),
            invalid(
                r#"metric 'errors': analysisConfigurations.canary.counts must be true or false (a JSON boolean), got "true""#
            )
        );
        assert_eq!(
            kind(r#"{"canary": {"counts": true, "effectSize": {"allowedExtraEvents": -1}}}"#),
            invalid(
                "metric 'errors': analysisConfigurations.canary.effectSize.allowedExtraEvents must be a finite number >= 0, got -1"
            )
        );
        assert_eq!(
            kind(r#"{"canary": {"effectSize": {"allowedExtraEvents": 3}}}"#),
            invalid(
                "metric 'errors': analysisConfigurations.canary.effectSize.allowedExtraEvents applies only to metrics with analysisConfigurations.canary.counts: true"
            )
        );
        assert_eq!(
            kind(r#"{"canary": {"adjustDispersion": true}}"#),
            invalid(
                "metric 'errors': analysisConfigurations.canary.adjustDispersion applies only to metrics with analysisConfigurations.canary.counts: true"
            )
        );
        assert_eq!(
            kind(r#"{"canary": {"counts": true, "adjustDispersion": "no"}}"#),
            invalid(
                r#"metric 'errors': analysisConfigurations.canary.adjustDispersion must be true or false (a JSON boolean), got "no""#
            )
        );
        assert_eq!(
            kind(r#"{"canary": {"counts": true, "effectSize": 2}}"#),
            invalid(
                "metric 'errors': analysisConfigurations.canary.effectSize must be an object, got 2"
            )
        );
        assert_eq!(
            kind(r#"{"canary": [1]}"#),
            invalid("metric 'errors': analysisConfigurations.canary must be an object, got [1]")
        );
        assert!(matches!(kind("{"), Err(JudgeError::InvalidRequest(_))));
    }

    #[test]
    fn counts_are_judged_by_their_rate_ratio_not_cles() {
        let mut metric = MetricConfig::with_defaults("errors");
        metric.analysis_configurations = r#"{"canary": {"counts": true}}"#.into();
        metric.effect_size.measure = EffectSizeMeasure::Cles;
        assert_eq!(
            MetricKind::of(&metric),
            Err(JudgeError::InvalidRequest(
                "metric 'errors': analysisConfigurations.canary.effectSize.measure must be \"meanRatio\" (the rate ratio) for a metric with counts: true, got \"cles\"".into()
            ))
        );
    }
}
