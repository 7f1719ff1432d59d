//! Judging a canary: from Kayenta's request (canary config, metric set pairs, thresholds) to the judge
//! contract's request, through the selected judge, and back to Kayenta's `CanaryJudgeResult`.
//!
//! Everything a user can get wrong is found here, before any judge runs, and reported as
//! [`JudgingError::Invalid`] with a message that names the field.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::SystemTime;

use serde_json::{Map, Value};

use crate::judge_host::{self as wit, DEFAULT_JUDGE, Judge, JudgeHost, PluginError};
use crate::kayenta::canary_config::CanaryConfig;
use crate::kayenta::canary_settings::metric_settings;
use crate::kayenta::judge_result::{
    CanaryAnalysisResult, CanaryJudgeGroupScore, CanaryJudgeScore, Finality, JudgeDecision,
    SideMetadata, Stats,
};
use crate::kayenta::{
    CanaryJudgeResult, MetricSetPair, RemoteJudgeRequest, ScoreThresholds, numbers,
};

/// Why a canary could not be judged.
#[derive(Debug, thiserror::Error)]
pub enum JudgingError {
    /// The request is wrong: the message says where and why.
    #[error("{0}")]
    Invalid(String),
    #[error(
        "no judge named {name:?}; available judges: {}. To judge it with one of them, add [judges] aliases = {{ \"{name}\" = \"{DEFAULT_JUDGE}\" }} to the settings",
        available.join(", ")
    )]
    UnknownJudge {
        name: String,
        available: Vec<String>,
    },
    #[error(transparent)]
    Plugin(#[from] PluginError),
}

/// A judge chosen for a request, and the name the result reports it under.
#[derive(Debug, Clone)]
pub struct SelectedJudge {
    pub judge: Arc<Judge>,
    pub name: String,
}

/// The judge named `explicit`, else the config's `judge.name`, else the default judge.
pub fn select_judge(
    host: &JudgeHost,
    explicit: Option<&str>,
    config: &CanaryConfig,
) -> Result<SelectedJudge, JudgingError> {
    let name = explicit.or(config.judge_name()).unwrap_or(DEFAULT_JUDGE);
    let judge = host.get(name).ok_or_else(|| JudgingError::UnknownJudge {
        name: name.to_string(),
        available: host
            .judges()
            .flat_map(|judge| {
                let aliases = host.aliases_of(judge.name()).map(str::to_string);
                std::iter::once(judge.name().to_string()).chain(aliases.collect::<Vec<_>>())
            })
            .collect(),
    })?;
    Ok(SelectedJudge {
        judge: judge.clone(),
        name: name.to_string(),
    })
}

/// Judges a RemoteJudge request with `judge`. The request names no interval: the judge's clock reads the end
/// of the experiment scope of its pairs ([`wit::judged_at`]).
pub fn judge_remote(
    judge: &SelectedJudge,
    request: &RemoteJudgeRequest,
) -> Result<CanaryJudgeResult, JudgingError> {
    judge_pairs(
        judge,
        &request.canary_config,
        &request.metric_set_pair_list,
        request.score_thresholds,
        None,
    )
}

/// Judges `pairs` by the rules of `config` against `thresholds` with `judge`.
///
/// The judge's wall clock reads `judged_at`, the end of the interval judged; without one, the end of the
/// experiment scope of the pairs, else the Unix epoch ([`wit::judged_at`]). Either way the same pairs
/// always get the same judgement.
pub fn judge_pairs(
    judge: &SelectedJudge,
    config: &CanaryConfig,
    pairs: &[MetricSetPair],
    thresholds: ScoreThresholds,
    judged_at: Option<SystemTime>,
) -> Result<CanaryJudgeResult, JudgingError> {
    let wit_request = build_request(config, pairs, thresholds).map_err(JudgingError::Invalid)?;
    let now = judged_at.unwrap_or_else(|| wit::judged_at(&wit_request));
    let answer = judge.judge.answer_at(&wit_request, now)?;
    let mut result = canary_judge_result(&judge.name, &wit_request, pairs, &answer.judgement);
    result.decision = answer.decision.map(|decision| JudgeDecision {
        finality: finality(decision.finality),
        reason: decision.reason,
        stopped: None,
    });
    Ok(result)
}

/// The answer's finality for the wire.
fn finality(finality: wit::Finality) -> Finality {
    match finality {
        wit::Finality::Open => Finality::Open,
        wit::Finality::Regression => Finality::Regression,
        wit::Finality::Harmless => Finality::Harmless,
    }
}

/// The judge contract's request for `pairs` judged by the rules of `config` against `thresholds`.
pub fn build_request(
    config: &CanaryConfig,
    pairs: &[MetricSetPair],
    thresholds: ScoreThresholds,
) -> Result<wit::JudgeRequest, String> {
    config.validate_for_judging()?;
    thresholds.validate("scoreThresholds")?;
    let must_have_data = crate::kayenta::warnings::must_have_data_default(config)?;
    let metrics = config
        .metrics
        .iter()
        .map(|metric| {
            let mut settings = metric_settings(metric)?;
            // The config-level default, for the metrics that do not say.
            if let Some(default) = must_have_data
                && !crate::kayenta::warnings::sets_must_have_data(metric)
            {
                settings.must_have_data = default;
            }
            Ok(settings)
        })
        .collect::<Result<Vec<_>, String>>()?;
    let known: BTreeSet<&str> = config
        .metrics
        .iter()
        .map(|metric| metric.name.as_str())
        .collect();

    let mut ids = BTreeSet::new();
    let mut wit_pairs = Vec::with_capacity(pairs.len());
    for (index, pair) in pairs.iter().enumerate() {
        if !known.contains(pair.name.as_str()) {
            return Err(format!(
                "metricSetPairList[{index}]: there is no metric named '{}' in canaryConfig.metrics",
                pair.name
            ));
        }
        let id = if pair.id.is_empty() {
            index.to_string()
        } else {
            pair.id.clone()
        };
        if !ids.insert(id.clone()) {
            return Err(format!(
                "metricSetPairList[{index}]: id '{id}' is used by another pair"
            ));
        }
        let series =
            |values: &[f64], scope: Option<&crate::kayenta::metric_set_pair::PairScope>| {
                wit::Series {
                    values: values.to_vec(),
                    start_millis: scope.and_then(|s| s.start_time_millis).unwrap_or(0),
                    step_millis: scope.and_then(|s| s.step_millis).unwrap_or(0),
                }
            };
        wit_pairs.push(wit::MetricPair {
            id,
            metric: pair.name.clone(),
            tags: pair
                .tags
                .iter()
                .map(|(key, value)| wit::Tag {
                    key: key.clone(),
                    value: value.clone(),
                })
                .collect(),
            control: series(&pair.values.control, pair.scopes.control.as_ref()),
            experiment: series(&pair.values.experiment, pair.scopes.experiment.as_ref()),
        });
    }

    let group_weights = config
        .classifier
        .iter()
        .flat_map(|classifier| &classifier.group_weights)
        .map(|(group, weight)| wit::GroupWeight {
            group: group.clone(),
            weight: *weight,
        })
        .collect();
    let judge_configuration = config
        .judge
        .as_ref()
        .map(|judge| Value::Object(judge.judge_configurations.clone()))
        .unwrap_or_else(|| Value::Object(Map::new()))
        .to_string();

    Ok(wit::JudgeRequest {
        metrics,
        pairs: wit_pairs,
        group_weights,
        thresholds: wit::ScoreThresholds {
            pass: thresholds.pass,
            marginal: thresholds.marginal,
        },
        judge_configuration,
    })
}

/// Kayenta's `CanaryJudgeResult` for `judgement`, which the host checked against `request`.
pub fn canary_judge_result(
    judge_name: &str,
    request: &wit::JudgeRequest,
    pairs: &[MetricSetPair],
    judgement: &wit::Judgement,
) -> CanaryJudgeResult {
    let metrics: BTreeMap<&str, &wit::MetricConfig> = request
        .metrics
        .iter()
        .map(|metric| (metric.name.as_str(), metric))
        .collect();
    let by_id: BTreeMap<&str, (&wit::MetricPair, &MetricSetPair)> = request
        .pairs
        .iter()
        .zip(pairs)
        .map(|(wit_pair, pair)| (wit_pair.id.as_str(), (wit_pair, pair)))
        .collect();

    let results = judgement
        .results
        .iter()
        .map(|result| {
            // The host checked that every result names a pair of the request, and every pair a metric.
            let (wit_pair, pair) = by_id[result.pair_id.as_str()];
            let metric = metrics[wit_pair.metric.as_str()];
            CanaryAnalysisResult {
                name: pair.name.clone(),
                id: wit_pair.id.clone(),
                tags: pair.tags.clone(),
                classification: metric_classification(result.classification).to_string(),
                classification_reason: result.reason.clone(),
                groups: metric.groups.clone(),
                experiment_metadata: side(&result.experiment),
                control_metadata: side(&result.control),
                result_metadata: (!result.details.is_empty()).then(|| details(&result.details)),
                critical: result.critical,
                muted: metric.muted,
            }
        })
        .collect();

    CanaryJudgeResult {
        judge_name: judge_name.to_string(),
        results,
        group_scores: judgement
            .group_scores
            .iter()
            .map(|group| CanaryJudgeGroupScore {
                name: group.group.clone(),
                score: group.score,
                classification: String::new(),
                classification_reason: String::new(),
            })
            .collect(),
        score: CanaryJudgeScore {
            score: judgement.score,
            classification: score_classification(judgement.classification).to_string(),
            classification_reason: judgement.reason.clone(),
        },
        decision: None,
    }
}

/// Kayenta's label for a metric classification.
pub fn metric_classification(classification: wit::MetricClassification) -> &'static str {
    match classification {
        wit::MetricClassification::Pass => "Pass",
        wit::MetricClassification::High => "High",
        wit::MetricClassification::Low => "Low",
        wit::MetricClassification::Nodata => "Nodata",
        wit::MetricClassification::NodataFailMetric => "NodataFailMetric",
        wit::MetricClassification::Error => "Error",
    }
}

/// Kayenta's label for a canary classification.
pub fn score_classification(classification: wit::ScoreClassification) -> &'static str {
    match classification {
        wit::ScoreClassification::Pass => "Pass",
        wit::ScoreClassification::Marginal => "Marginal",
        wit::ScoreClassification::Fail => "Fail",
    }
}

fn side(stats: &wit::SummaryStats) -> SideMetadata {
    SideMetadata {
        stats: Stats {
            min: stats.min,
            max: stats.max,
            mean: stats.mean,
            std: stats.std,
            count: stats.count,
        },
    }
}

fn details(details: &[wit::Detail]) -> Map<String, Value> {
    details
        .iter()
        .map(|detail| {
            let value = match &detail.value {
                wit::DetailValue::Number(x) => numbers::to_json(*x),
                wit::DetailValue::Interval((lower, upper)) => {
                    Value::Array(vec![numbers::to_json(*lower), numbers::to_json(*upper)])
                }
                wit::DetailValue::Text(text) => Value::String(text.clone()),
                wit::DetailValue::Flag(flag) => Value::Bool(*flag),
            };
            (detail.name.clone(), value)
        })
        .collect()
}
