//! The analysis settings of a metric (`analysisConfigurations.canary`), read strictly into the judge contract's
//! [`wit::MetricConfig`] with Kayenta's defaults filled in.
//!
//! Kayenta silently treats an unknown `direction` as `either` and fails the whole analysis on a string
//! `"true"`; coalmine rejects both with a message naming the metric, the key and what is allowed.

use std::sync::LazyLock;

use serde_json::{Map, Value};

use super::canary_config::MetricConfig;
use crate::judge_host as wit;

/// The judge-contract settings of `metric`, or a message saying which setting is wrong and why.
pub fn metric_settings(metric: &MetricConfig) -> Result<wit::MetricConfig, String> {
    let analysis = metric.analysis_configurations();
    let canary = match analysis.and_then(|a| a.get("canary")) {
        None | Some(Value::Null) => &*EMPTY,
        Some(Value::Object(canary)) => canary,
        Some(other) => {
            return Err(format!(
                "metric '{}': analysisConfigurations.canary must be an object, got {other}",
                metric.name
            ));
        }
    };
    let settings = Settings {
        metric: &metric.name,
        path: "analysisConfigurations.canary".to_string(),
        map: canary,
    };

    let direction = settings.choice(
        "direction",
        wit::Direction::Either,
        &[
            ("increase", wit::Direction::Increase),
            ("decrease", wit::Direction::Decrease),
            ("either", wit::Direction::Either),
        ],
    )?;
    let nan_strategy = settings.choice(
        "nanStrategy",
        wit::NanStrategy::Remove,
        &[
            ("remove", wit::NanStrategy::Remove),
            ("replace", wit::NanStrategy::Replace),
        ],
    )?;

    let effect = settings.object("effectSize")?;
    let measure = effect.choice(
        "measure",
        wit::EffectSizeMeasure::MeanRatio,
        &[
            ("meanRatio", wit::EffectSizeMeasure::MeanRatio),
            ("cles", wit::EffectSizeMeasure::Cles),
        ],
    )?;
    let neutral = match measure {
        wit::EffectSizeMeasure::MeanRatio => 1.0,
        wit::EffectSizeMeasure::Cles => 0.5,
    };

    let outliers = settings.object("outliers")?;
    let strategy = outliers.choice(
        "strategy",
        wit::OutlierStrategy::Keep,
        &[
            ("keep", wit::OutlierStrategy::Keep),
            ("remove", wit::OutlierStrategy::Remove),
        ],
    )?;
    let factor = outliers.number("outlierFactor", 3.0)?;
    if strategy == wit::OutlierStrategy::Remove && factor <= 0.0 {
        return Err(outliers.wrong(
            "outlierFactor",
            &Value::from(factor),
            "a number greater than 0",
        ));
    }

    Ok(wit::MetricConfig {
        name: metric.name.clone(),
        groups: metric.groups.clone(),
        direction,
        nan_strategy,
        critical: settings.flag("critical")?,
        must_have_data: settings.flag("mustHaveData")?,
        muted: settings.flag("muted")?,
        effect_size: wit::EffectSize {
            measure,
            allowed_increase: effect.number("allowedIncrease", neutral)?,
            allowed_decrease: effect.number("allowedDecrease", neutral)?,
            critical_increase: effect.number("criticalIncrease", neutral)?,
            critical_decrease: effect.number("criticalDecrease", neutral)?,
        },
        outliers: wit::Outliers { strategy, factor },
        analysis_configurations: Value::Object(analysis.cloned().unwrap_or_default()).to_string(),
    })
}

static EMPTY: LazyLock<Map<String, Value>> = LazyLock::new(Map::new);

/// One level of a metric's settings, with its path for messages.
struct Settings<'a> {
    metric: &'a str,
    path: String,
    map: &'a Map<String, Value>,
}

impl<'a> Settings<'a> {
    fn get(&self, key: &str) -> Option<&'a Value> {
        self.map.get(key).filter(|value| !value.is_null())
    }

    fn wrong(&self, key: &str, value: &Value, expected: &str) -> String {
        format!(
            "metric '{}': {}.{key} must be {expected}, got {value}",
            self.metric, self.path
        )
    }

    fn flag(&self, key: &str) -> Result<bool, String> {
        match self.get(key) {
            None => Ok(false),
            Some(Value::Bool(flag)) => Ok(*flag),
            Some(other) => Err(self.wrong(key, other, "true or false (a JSON boolean)")),
        }
    }

    fn number(&self, key: &str, default: f64) -> Result<f64, String> {
        match self.get(key) {
            None => Ok(default),
            Some(value) => value
                .as_f64()
                .filter(|x| x.is_finite())
                .ok_or_else(|| self.wrong(key, value, "a number")),
        }
    }

    fn choice<T: Copy>(&self, key: &str, default: T, allowed: &[(&str, T)]) -> Result<T, String> {
        let Some(value) = self.get(key) else {
            return Ok(default);
        };
        value
            .as_str()
            .and_then(|s| allowed.iter().find(|(name, _)| *name == s))
            .map(|(_, choice)| *choice)
            .ok_or_else(|| {
                let names: Vec<String> = allowed
                    .iter()
                    .map(|(name, _)| format!("\"{name}\""))
                    .collect();
                self.wrong(key, value, &format!("one of {}", names.join(", ")))
            })
    }

    fn object(&self, key: &str) -> Result<Settings<'a>, String> {
        let map = match self.get(key) {
            None => &*EMPTY,
            Some(Value::Object(map)) => map,
            Some(other) => return Err(self.wrong(key, other, "an object")),
        };
        Ok(Settings {
            metric: self.metric,
            path: format!("{}.{key}", self.path),
            map,
        })
    }
}
