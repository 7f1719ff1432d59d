//! The judge's settings from `judgeConfigurations` (the request's `judge-configuration`):
//!
//! | Key | Default | Allowed |
//! |---|---|---|
//! | `alpha` | 0.01 | a number strictly between 0 and 1: the probability of failing a healthy canary, over the whole analysis, however many looks |
//! | `harmlessMargin` | 0.1 | a number strictly between 0 and 1: for a metric without an effect-size threshold (`allowedIncrease` 1, `allowedDecrease` 1), the relative change an early pass must rule out |
//!
//! A key set to `null` takes its default. Other keys (`confidenceLevel`, `tolerance`) are other judges' and
//! ignored.

use coalmine_judge_sdk::serde_json::Value;
use coalmine_judge_sdk::{JudgeError, JudgeRequest};

/// The settings of one judge call.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Config {
    /// The false-alarm budget of the analysis (`alpha`).
    pub alpha: f64,
    /// The default margin of harmless changes (`harmlessMargin`).
    pub harmless_margin: f64,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            alpha: 0.01,
            harmless_margin: 0.1,
        }
    }
}

impl Config {
    /// Reads the settings of `request`; a value of the wrong type or out of range is a
    /// [`JudgeError::InvalidRequest`] naming the key, the value and what is allowed.
    pub fn from_request(request: &JudgeRequest) -> Result<Self, JudgeError> {
        let object = request.judge_configuration_object()?;
        let defaults = Self::default();
        let fraction = |key: &str, default: f64| {
            match object.get(key) {
            None | Some(Value::Null) => Ok(default),
            Some(value) => value
                .as_f64()
                .filter(|&number| number > 0.0 && number < 1.0)
                .ok_or_else(|| {
                    JudgeError::InvalidRequest(format!(
                        "judgeConfigurations.{key} must be a number strictly between 0 and 1, got {value}"
                    ))
                }),
        }
        };
        Ok(Self {
            alpha: fraction("alpha", defaults.alpha)?,
            harmless_margin: fraction("harmlessMargin", defaults.harmless_margin)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use coalmine_judge_sdk::ScoreThresholds;

    fn config(json: &str) -> Result<Config, JudgeError> {
        Config::from_request(&JudgeRequest {
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

    #[test]
    fn defaults_and_values_are_read() {
        assert_eq!(config("{}"), Ok(Config::default()));
        assert_eq!(
            config(r#"{"alpha": null, "confidenceLevel": 0.9}"#),
            Ok(Config::default())
        );
        assert_eq!(
            config(r#"{"alpha": 0.05, "harmlessMargin": 0.2}"#),
            Ok(Config {
                alpha: 0.05,
                harmless_margin: 0.2
            })
        );
    }

    #[test]
    fn out_of_range_values_are_rejected_with_the_key() {
        for (json, message) in [
            (
                r#"{"alpha": 0}"#,
                "judgeConfigurations.alpha must be a number strictly between 0 and 1, got 0",
            ),
            (
                r#"{"alpha": "0.01"}"#,
                r#"judgeConfigurations.alpha must be a number strictly between 0 and 1, got "0.01""#,
            ),
            (
                r#"{"harmlessMargin": 1.5}"#,
                "judgeConfigurations.harmlessMargin must be a number strictly between 0 and 1, got 1.5",
            ),
        ] {
            assert_eq!(
                config(json),
                Err(JudgeError::InvalidRequest(message.into()))
            );
        }
    }
}
