//! Checks that a judgement answers the request it was given: one result per pair, finite scores in range,
//! and a size within the limit. A judge is untrusted code; nothing it returns reaches a user unchecked.

use std::collections::HashMap;

use super::bindings::coalmine::judge::types::{DetailValue, JudgeRequest, Judgement};
use super::error::{PluginError, truncate};
use super::limits::Limits;

pub(super) fn check_judgement(
    plugin: &str,
    limits: &Limits,
    request: &JudgeRequest,
    judgement: &Judgement,
) -> Result<(), PluginError> {
    let size = judgement_size(judgement);
    if size > limits.max_judgement_bytes {
        return Err(PluginError::JudgementTooLarge {
            plugin: plugin.to_string(),
            size,
            limit: limits.max_judgement_bytes,
        });
    }
    check(request, judgement).map_err(|reason| PluginError::InvalidJudgement {
        plugin: plugin.to_string(),
        reason,
    })
}

fn check(request: &JudgeRequest, judgement: &Judgement) -> Result<(), String> {
    let mut judged: HashMap<&str, bool> = request
        .pairs
        .iter()
        .map(|pair| (pair.id.as_str(), false))
        .collect();
    for (index, result) in judgement.results.iter().enumerate() {
        match judged.get_mut(result.pair_id.as_str()) {
            None => {
                return Err(format!(
                    "result {index} is for pair {:?}, which is not in the request",
                    truncate(&result.pair_id, 100)
                ));
            }
            Some(true) => {
                return Err(format!(
                    "pair {:?} has more than one result",
                    result.pair_id
                ));
            }
            Some(seen) => *seen = true,
        }
    }
    if let Some(pair) = request.pairs.iter().find(|pair| !judged[pair.id.as_str()]) {
        return Err(format!(
            "pair {:?} of metric {:?} has no result",
            pair.id, pair.metric
        ));
    }
    check_score("score", judgement.score)?;
    for group in &judgement.group_scores {
        check_score(
            &format!("score of group {:?}", truncate(&group.group, 100)),
            group.score,
        )?;
    }
    Ok(())
}

fn check_score(what: &str, score: f64) -> Result<(), String> {
    if (0.0..=100.0).contains(&score) {
        Ok(())
    } else {
        Err(format!("{what} is {score}, not a number from 0 to 100"))
    }
}

/// Approximate size of a judgement in bytes: its strings plus 8 bytes per number.
fn judgement_size(judgement: &Judgement) -> usize {
    let results: usize = judgement
        .results
        .iter()
        .map(|result| {
            let details: usize = result
                .details
                .iter()
                .map(|detail| {
                    detail.name.len()
                        + match &detail.value {
                            DetailValue::Number(_) | DetailValue::Flag(_) => 8,
                            DetailValue::Interval(_) => 16,
                            DetailValue::Text(text) => text.len(),
                        }
                })
                .sum();
            result.pair_id.len() + result.reason.as_ref().map_or(0, String::len) + details + 96
        })
        .sum();
    let groups: usize = judgement
        .group_scores
        .iter()
        .map(|group| group.group.len() + 16)
        .sum();
    results + groups + judgement.reason.len() + 16
}
