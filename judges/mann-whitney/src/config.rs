//! The judge's settings from `judgeConfigurations` (the request's `judge-configuration`).
//!
//! Kayenta hard-codes them (`confLevel = 0.98`, `tolerance = 0.25`); coalmine honours them:
//!
//! | Key | Default | Allowed |
//! |---|---|---|
//! | `confidenceLevel` | 0.98 | a number strictly between 0 and 1 |
//! | `tolerance` | 0.25 | a finite number ≥ 0 |
//!
//! A key set to `null` takes its default. Other keys are ignored: other judges read them.

use coalmine_judge_sdk::serde_json::Value;
use coalmine_judge_sdk::{JudgeError, JudgeRequest};

/// The settings of one judge call.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct JudgeConfig {
    /// The confidence level of the Mann-Whitney confidence interval (`confidenceLevel`).
    pub confidence_level: f64,
    /// The fraction of `|estimate|` the interval must clear to be High or Low (`tolerance`).
    pub tolerance: f64,
}

impl Default for JudgeConfig {
    /// Kayenta's values: a 98 % interval and a tolerance of 0.25.
    fn default() -> Self {
        Self {
            confidence_level: 0.98,
            tolerance: 0.25,
        }
    }
}

impl JudgeConfig {
    /// Reads the settings from `request.judge_configuration`, filling in defaults; a value of the
    /// wrong type or out of range is a [`JudgeError::InvalidRequest`] that names the key, the value
    /// and what is allowed.
    pub fn from_request(request: &JudgeRequest) -> Result<Self, JudgeError> {
        let object = request.judge_configuration_object()?;
        let defaults = Self::default();
        let setting = |key: &str, default: f64, allowed: &str, valid: fn(f64) -> bool| match object
            .get(key)
        {
            None | Some(Value::Null) => Ok(default),
            Some(value) => value
                .as_f64()
                .filter(|&number| valid(number))
                .ok_or_else(|| {
                    JudgeError::InvalidRequest(format!(
                        "judgeConfigurations.{key} must be {allowed}, got {value}"
                    ))
                }),
        };
        Ok(Self {
            confidence_level: setting(
                "confidenceLevel",
                defaults.confidence_level,
                "a number strictly between 0 and 1",
                |level| level > 0.0 && level < 1.0,
            )?,
            tolerance: setting(
                "tolerance",
                defaults.tolerance,
                "a finite number >= 0",
                |tolerance| tolerance.is_finite() && tolerance >= 0.0,
            )?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use coalmine_judge_sdk::ScoreThresholds;

    fn config(json: &str) -> Result<JudgeConfig, JudgeError> {
        JudgeConfig::from_request(&JudgeRequest {
            metrics: Vec::new(),
            pairs: Vec::new(),
            group_weights: Vec::new(),
            thresholds: ScoreThresholds {
                pass: 95.0,
                marginal: 75.0,
            },
            judge_configuration: json.into(),
        })
    }

    fn invalid(message: &str) -> Result<JudgeConfig, JudgeError> {
        Err(JudgeError::InvalidRequest(message.into()))
    }

    #[test]
    fn defaults_are_kayentas() {
        let kayenta = JudgeConfig {
            confidence_level: 0.98,
            tolerance: 0.25,
        };
        assert_eq!(config("{}"), Ok(kayenta));
        assert_eq!(
            config(r#"{"confidenceLevel": null, "tolerance": null}"#),
            Ok(kayenta)
        );
        assert_eq!(config(r#"{"counts": true, "other": "x"}"#), Ok(kayenta));
    }

    #[test]
    fn settings_are_read() {
        assert_eq!(
            config(r#"{"confidenceLevel": 0.95, "tolerance": 0}"#),
            Ok(JudgeConfig {
                confidence_level: 0.95,
                tolerance: 0.0
            })
        );
        assert_eq!(config(r#"{"tolerance": 2}"#).map(|c| c.tolerance), Ok(2.0));
    }

    #[test]
    fn out_of_range_confidence_levels_are_rejected() {
        for level in ["0", "1", "-0.5", "1.5", "98"] {
            assert_eq!(
                config(&format!(r#"{{"confidenceLevel": {level}}}"#)),
                invalid(&format!(
                    "judgeConfigurations.confidenceLevel must be a number strictly between 0 and 1, got {level}"
                ))
            );
        }
    }

    #[test]
    fn values_of_the_wrong_type_are_rejected() {
        assert_eq!(
            config(r#"{"confidenceLevel": "0.95"}"#),
            invalid(
                r#"judgeConfigurations.confidenceLevel must be a number strictly between 0 and 1, got "0.95""#
            )
        );
        assert_eq!(
            config(r#"{"tolerance": [0.1]}"#),
            invalid("judgeConfigurations.tolerance must be a finite number >= 0, got [0.1]")
        );
    }

    #[test]
    fn negative_tolerances_are_rejected() {
        assert_eq!(
            config(r#"{"tolerance": -0.1}"#),
            invalid("judgeConfigurations.tolerance must be a finite number >= 0, got -0.1")
        );
    }

    #[test]
    fn configurations_that_are_not_json_objects_are_rejected() {
        assert_eq!(
            config("[]"),
            invalid("judgeConfigurations must be a JSON object, got []")
        );
        assert!(matches!(config("{"), Err(JudgeError::InvalidRequest(_))));
    }
}
