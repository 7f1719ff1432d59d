//! The weighted summary score of the groups.

use super::round_half_up;
use crate::{GroupScore, GroupWeight};

/// The summary score: `Σ effective(g) · (weight(g) / 100)` over `group_scores` (the groups present
/// in the counted results), rounded half-up to two decimals.
///
/// - `effective(g)` is 100 for a group with no data, else its score;
/// - `weight(g)` is the group's configured weight, or, for a group without one,
///   `(100 − Σ all configured weights) / (number of present groups without a configured weight)`.
///
/// As in Kayenta, weights are not normalised: the weights of configured groups that are absent
/// from the results are lost, and no groups at all score 0. Group names in `weights` are expected
/// to be unique; the first entry of a name is its weight.
pub fn summary_score(group_scores: &[GroupScore], weights: &[GroupWeight]) -> f64 {
    let configured = |group: &str| {
        weights
            .iter()
            .find(|weight| weight.group == group)
            .map(|weight| weight.weight)
    };
    let configured_total: f64 = weights.iter().map(|weight| weight.weight).sum();
    let unweighted = group_scores
        .iter()
        .filter(|score| configured(&score.group).is_none())
        .count();
    let implicit_weight = if unweighted == 0 {
        0.0
    } else {
        (100.0 - configured_total) / unweighted as f64
    };
    let summary = group_scores.iter().fold(0.0, |summary, score| {
        let effective = if score.no_data { 100.0 } else { score.score };
        let weight = configured(&score.group).unwrap_or(implicit_weight);
        summary + effective * (weight / 100.0)
    });
    round_half_up(summary, 2)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(group: &str, score: f64) -> GroupScore {
        GroupScore {
            group: group.into(),
            score,
            no_data: false,
        }
    }

    fn weights(weights: &[(&str, f64)]) -> Vec<GroupWeight> {
        weights
            .iter()
            .map(|&(group, weight)| GroupWeight {
                group: group.into(),
                weight,
            })
            .collect()
    }

    #[test]
    fn configured_weights_weigh_the_group_scores() {
        let groups = [group("a", 100.0), group("b", 50.0)];
        assert_eq!(
            summary_score(&groups, &weights(&[("a", 70.0), ("b", 30.0)])),
            85.0
        );
    }

    #[test]
    fn groups_without_a_weight_share_what_the_configured_weights_leave() {
        let groups = [group("a", 100.0), group("b", 50.0), group("c", 0.0)];
        // b and c get (100 − 60) / 2 = 20 each: 60 + 10 + 0.
        assert_eq!(summary_score(&groups, &weights(&[("a", 60.0)])), 70.0);
        // Without configured weights every group weighs 100 / 3.
        assert_eq!(summary_score(&groups, &[]), 50.0);
    }

    #[test]
    fn weights_of_absent_groups_are_lost() {
        let groups = [group("a", 100.0)];
        assert_eq!(
            summary_score(&groups, &weights(&[("a", 50.0), ("b", 50.0)])),
            50.0
        );
        // A configured weight also shrinks the implicit weight when its group is absent.
        assert_eq!(summary_score(&groups, &weights(&[("b", 30.0)])), 70.0);
    }

    #[test]
    fn weights_are_not_normalised() {
        let groups = [group("a", 100.0), group("b", 100.0)];
        // b's implicit weight is 100 − 120 = −20.
        assert_eq!(summary_score(&groups, &weights(&[("a", 120.0)])), 100.0);
        assert_eq!(
            summary_score(&[group("a", 50.0)], &weights(&[("a", 150.0)])),
            75.0
        );
    }

    #[test]
    fn groups_with_no_data_count_as_100() {
        let groups = [
            GroupScore {
                group: "a".into(),
                score: 0.0,
                no_data: true,
            },
            group("b", 0.0),
        ];
        assert_eq!(summary_score(&groups, &[]), 50.0);
    }

    #[test]
    fn no_groups_score_zero() {
        assert_eq!(summary_score(&[], &weights(&[("a", 100.0)])), 0.0);
    }

    #[test]
    fn the_summary_is_rounded_half_up_to_two_decimals() {
        // Three equal groups of 1/3, 2/3 and 2/3 passes: 55.555… → 55.56.
        let groups = [
            group("a", 1.0 / 3.0 * 100.0),
            group("b", 2.0 / 3.0 * 100.0),
            group("c", 2.0 / 3.0 * 100.0),
        ];
        assert_eq!(summary_score(&groups, &[]), 55.56);
        // 33.335 (as the shortest decimal of the sum) rounds up to 33.34.
        assert_eq!(summary_score(&[group("a", 33.335)], &[]), 33.34);
    }
}
