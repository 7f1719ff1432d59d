//! Checks that a judgement answers the request it was given: one result per pair and finite scores in range.
//! A judge is untrusted code; nothing it returns reaches a user unchecked. (Its size was bounded while it was
//! lifted: see [`super::call`].)
//!
//! A summary score out of range is the judge's fault, except when the request's group weights explain it:
//! Kayenta does not normalise weights, so weights above 100 in total score a canary above 100 (and leave the
//! groups without a weight a negative share). That is the caller's mistake and is reported as such
//! ([`PluginError::ScoreOutOfRange`]).

use std::collections::HashMap;

use super::bindings::coalmine::judge::types::{GroupWeight, JudgeRequest, Judgement};
use super::error::{PluginError, truncate};

pub(super) fn check_judgement(
    plugin: &str,
    request: &JudgeRequest,
    judgement: &Judgement,
) -> Result<(), PluginError> {
    if !in_range(judgement.score)
        && let Some(cause) = weights_out_of_range(&request.group_weights)
    {
        return Err(PluginError::ScoreOutOfRange {
            plugin: plugin.to_string(),
            score: judgement.score,
            cause,
        });
    }
    check(request, judgement).map_err(|reason| PluginError::InvalidJudgement {
        plugin: plugin.to_string(),
        reason,
    })
}

fn in_range(score: f64) -> bool {
    (0.0..=100.0).contains(&score)
}

/// What is wrong with `weights` as percentages that total at most 100, if anything.
fn weights_out_of_range(weights: &[GroupWeight]) -> Option<String> {
    if let Some(weight) = weights.iter().find(|weight| !in_range(weight.weight)) {
        return Some(format!(
            "give group {:?} a weight of {}",
            truncate(&weight.group, 100),
            weight.weight
        ));
    }
    let total: f64 = weights.iter().map(|weight| weight.weight).sum();
    (total > 100.0).then(|| format!("total {total}"))
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
    if in_range(score) {
        Ok(())
    } else {
        Err(format!("{what} is {score}, not a number from 0 to 100"))
    }
}
