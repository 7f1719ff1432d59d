//! Conveniences on the generated WIT types: lookups in a [`JudgeRequest`], its judge
//! configuration as JSON, constructors for [`Detail`]s and accessors for reading them back.

use serde_json::{Map, Value};

use crate::{
    Decided, Detail, DetailValue, Direction, EffectSize, EffectSizeMeasure, Finality, JudgeError,
    JudgeRequest, Judgement, MetricConfig, MetricPair, MetricResult, NanStrategy, OutlierStrategy,
    Outliers,
};

impl JudgeRequest {
    /// The configuration of the metric called `name`, if the request has one.
    pub fn metric(&self, name: &str) -> Option<&MetricConfig> {
        self.metrics.iter().find(|metric| metric.name == name)
    }

    /// The pair whose id is `id`, if the request has one.
    pub fn pair(&self, id: &str) -> Option<&MetricPair> {
        self.pairs.iter().find(|pair| pair.id == id)
    }

    /// `judge-configuration` (Kayenta's `judgeConfigurations`) as a JSON object; an empty string
    /// counts as `{}`. Anything but a JSON object is a [`JudgeError::InvalidRequest`].
    pub fn judge_configuration_object(&self) -> Result<Map<String, Value>, JudgeError> {
        let json = self.judge_configuration.trim();
        if json.is_empty() {
            return Ok(Map::new());
        }
        match serde_json::from_str(json) {
            Ok(Value::Object(object)) => Ok(object),
            Ok(other) => Err(JudgeError::InvalidRequest(format!(
                "judgeConfigurations must be a JSON object, got {other}"
            ))),
            Err(error) => Err(JudgeError::InvalidRequest(format!(
                "judgeConfigurations is not valid JSON: {error}"
            ))),
        }
    }
}

impl MetricConfig {
    /// A metric called `name` with Kayenta's defaults: no groups, direction either, NaNs removed,
    /// outliers kept (factor 3), mean-ratio effect sizes of 1.0, not critical, muted or required.
    /// Handy in a judge's tests: change the fields a test is about.
    pub fn with_defaults(name: &str) -> MetricConfig {
        MetricConfig {
            name: name.into(),
            groups: Vec::new(),
            direction: Direction::Either,
            nan_strategy: NanStrategy::Remove,
            critical: false,
            must_have_data: false,
            muted: false,
            effect_size: EffectSize {
                measure: EffectSizeMeasure::MeanRatio,
                allowed_increase: 1.0,
                allowed_decrease: 1.0,
                critical_increase: 1.0,
                critical_decrease: 1.0,
            },
            outliers: Outliers {
                strategy: OutlierStrategy::Keep,
                factor: 3.0,
            },
            analysis_configurations: "{}".into(),
        }
    }
}

impl Detail {
    /// A detail whose value is a number.
    pub fn number(name: impl Into<String>, value: f64) -> Self {
        Self {
            name: name.into(),
            value: DetailValue::Number(value),
        }
    }

    /// A detail whose value is an interval `(lower, upper)`, such as a confidence interval.
    pub fn interval(name: impl Into<String>, lower: f64, upper: f64) -> Self {
        Self {
            name: name.into(),
            value: DetailValue::Interval((lower, upper)),
        }
    }

    /// A detail whose value is a text.
    pub fn text(name: impl Into<String>, value: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            value: DetailValue::Text(value.into()),
        }
    }

    /// A detail whose value is a flag.
    pub fn flag(name: impl Into<String>, value: bool) -> Self {
        Self {
            name: name.into(),
            value: DetailValue::Flag(value),
        }
    }
}

impl DetailValue {
    /// The number, if this is a [`DetailValue::Number`].
    pub fn as_number(&self) -> Option<f64> {
        match self {
            Self::Number(value) => Some(*value),
            _ => None,
        }
    }

    /// The `(lower, upper)` bounds, if this is a [`DetailValue::Interval`].
    pub fn as_interval(&self) -> Option<(f64, f64)> {
        match self {
            Self::Interval(bounds) => Some(*bounds),
            _ => None,
        }
    }
}

impl MetricResult {
    /// The result of `pair` classified as `classification`, with the summary statistics of the
    /// two sides' `control` and `experiment` values (after preprocessing), no reason, not critical
    /// and no details: set the fields that apply.
    pub fn new(
        pair: &MetricPair,
        classification: crate::MetricClassification,
        control: &[f64],
        experiment: &[f64],
    ) -> MetricResult {
        MetricResult {
            pair_id: pair.id.clone(),
            classification,
            reason: None,
            critical: false,
            control: crate::stats::summary(control),
            experiment: crate::stats::summary(experiment),
            details: Vec::new(),
        }
    }

    /// The value of the detail called `name`, if the result has one.
    pub fn detail(&self, name: &str) -> Option<&DetailValue> {
        self.details
            .iter()
            .find(|detail| detail.name == name)
            .map(|detail| &detail.value)
    }
}

impl Decided {
    /// `judgement`, not final: more data may change it.
    pub fn open(judgement: Judgement) -> Decided {
        Decided {
            judgement,
            finality: Finality::Open,
            reason: String::new(),
        }
    }

    /// `judgement`, final as a failure: a regression is established and more data will not change
    /// it; `reason` says which.
    pub fn regression(judgement: Judgement, reason: impl Into<String>) -> Decided {
        Decided {
            judgement,
            finality: Finality::Regression,
            reason: reason.into(),
        }
    }

    /// `judgement`, final as harmless: every metric's interval already excludes harmful effects
    /// beyond its allowed effect size; `reason` says so in a few words.
    pub fn harmless(judgement: Judgement, reason: impl Into<String>) -> Decided {
        Decided {
            judgement,
            finality: Finality::Harmless,
            reason: reason.into(),
        }
    }
}

impl Finality {
    /// The WIT name: `open`, `regression` or `harmless`.
    pub fn as_str(self) -> &'static str {
        match self {
            Finality::Open => "open",
            Finality::Regression => "regression",
            Finality::Harmless => "harmless",
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::{
        Detail, DetailValue, JudgeError, JudgeRequest, MetricClassification, MetricConfig,
        MetricPair, MetricResult, ScoreThresholds, Series, SummaryStats,
    };

    fn metric(name: &str) -> MetricConfig {
        MetricConfig::with_defaults(name)
    }

    fn pair(id: &str, metric: &str) -> MetricPair {
        let series = Series {
            values: Vec::new(),
            start_millis: 0,
            step_millis: 0,
        };
        MetricPair {
            id: id.into(),
            metric: metric.into(),
            tags: Vec::new(),
            control: series.clone(),
            experiment: series,
        }
    }

    #[test]
    fn request_lookups_find_metrics_and_pairs_by_name_and_id() {
        let request = JudgeRequest {
            metrics: vec![metric("cpu"), metric("errors")],
            pairs: vec![pair("p1", "errors"), pair("p2", "cpu")],
            group_weights: Vec::new(),
            thresholds: ScoreThresholds {
                pass: 95.0,
                marginal: 75.0,
            },
            judge_configuration: "{}".into(),
        };
        assert_eq!(
            request.metric("errors").map(|m| m.name.as_str()),
            Some("errors")
        );
        assert!(request.metric("latency").is_none());
        assert_eq!(request.pair("p2").map(|p| p.metric.as_str()), Some("cpu"));
        assert!(request.pair("p3").is_none());
    }

    #[test]
    fn the_judge_configuration_is_read_as_a_json_object() {
        let mut request = JudgeRequest {
            metrics: Vec::new(),
            pairs: Vec::new(),
            group_weights: Vec::new(),
            thresholds: ScoreThresholds {
                pass: 95.0,
                marginal: 75.0,
            },
            judge_configuration: r#"{"tolerance": 0.5}"#.into(),
        };
        let object = request.judge_configuration_object().unwrap();
        assert_eq!(
            object.get("tolerance").and_then(serde_json::Value::as_f64),
            Some(0.5)
        );

        for empty in ["{}", "", "  "] {
            request.judge_configuration = empty.into();
            assert!(request.judge_configuration_object().unwrap().is_empty());
        }

        request.judge_configuration = "[1, 2]".into();
        assert_eq!(
            request.judge_configuration_object(),
            Err(JudgeError::InvalidRequest(
                "judgeConfigurations must be a JSON object, got [1,2]".into()
            ))
        );
        request.judge_configuration = "{tolerance: 1}".into();
        let Err(JudgeError::InvalidRequest(message)) = request.judge_configuration_object() else {
            panic!("invalid JSON must be rejected");
        };
        assert!(
            message.starts_with("judgeConfigurations is not valid JSON: "),
            "{message}"
        );
    }

    #[test]
    fn details_are_built_and_read_back() {
        let stats = SummaryStats {
            count: 0,
            min: 0.0,
            max: 0.0,
            mean: 0.0,
            std: 0.0,
        };
        let result = MetricResult {
            pair_id: "p1".into(),
            classification: MetricClassification::Pass,
            reason: None,
            critical: false,
            control: stats,
            experiment: stats,
            details: vec![
                Detail::number("ratio", 1.5),
                Detail::interval("confidenceInterval", -1.0, 2.0),
                Detail::text("note", "hello"),
                Detail::flag("adjusted", true),
            ],
        };
        assert_eq!(
            result.detail("ratio").and_then(DetailValue::as_number),
            Some(1.5)
        );
        assert_eq!(
            result
                .detail("confidenceInterval")
                .and_then(DetailValue::as_interval),
            Some((-1.0, 2.0))
        );
        assert_eq!(
            result.detail("note"),
            Some(&DetailValue::Text("hello".into()))
        );
        assert_eq!(result.detail("adjusted"), Some(&DetailValue::Flag(true)));
        assert_eq!(
            result.detail("ratio").and_then(DetailValue::as_interval),
            None
        );
        assert_eq!(result.detail("note").and_then(DetailValue::as_number), None);
        assert!(result.detail("pValue").is_none());
    }
}
