//! Group scores: the share of a group's counted results that passed.

use super::CountedResult;
use crate::{GroupScore, MetricClassification};

/// The score of every group that a counted result belongs to, in order of first appearance.
///
/// A result counts in each group of its metric. A group's score is
/// `(pass / (pass + high + low + nodataFailMetric)) · 100`, unrounded; `Nodata` and `Error`
/// results are not counted. A group with nothing counted scores 0 with `no-data` set (the
/// summary then treats it as 100).
pub fn group_scores(counted: &[CountedResult<'_>]) -> Vec<GroupScore> {
    let mut tallies: Vec<Tally<'_>> = Vec::new();
    for counted in counted {
        for group in counted.groups {
            let index = match tallies.iter().position(|tally| tally.group == group) {
                Some(index) => index,
                None => {
                    tallies.push(Tally {
                        group,
                        passed: 0,
                        counted: 0,
                    });
                    tallies.len() - 1
                }
            };
            tallies[index].add(counted.result.classification);
        }
    }
    tallies.into_iter().map(Tally::score).collect()
}

/// The classifications counted in one group so far.
struct Tally<'a> {
    group: &'a str,
    passed: u32,
    counted: u32,
}

impl Tally<'_> {
    fn add(&mut self, classification: MetricClassification) {
        use MetricClassification::{Error, High, Low, Nodata, NodataFailMetric, Pass};
        match classification {
            Pass => {
                self.passed += 1;
                self.counted += 1;
            }
            High | Low | NodataFailMetric => self.counted += 1,
            Nodata | Error => {}
        }
    }

    fn score(self) -> GroupScore {
        let no_data = self.counted == 0;
        // Kayenta's arithmetic: (numPass / numTotal.toDouble) * 100.
        let score = if no_data {
            0.0
        } else {
            f64::from(self.passed) / f64::from(self.counted) * 100.0
        };
        GroupScore {
            group: self.group.to_owned(),
            score,
            no_data,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::counted_results;
    use super::super::tests::{metric, request, result};
    use super::*;
    use MetricClassification::{Error, High, Low, Nodata, NodataFailMetric, Pass};

    fn scores(
        metrics: &[(&str, &[&str])],
        results: &[(&str, MetricClassification)],
    ) -> Vec<GroupScore> {
        let metrics = metrics
            .iter()
            .map(|&(name, groups)| metric(name, groups, false))
            .collect();
        let request = request(metrics, &[]);
        let results: Vec<_> = results
            .iter()
            .map(|&(id, class)| result(id, class))
            .collect();
        group_scores(&counted_results(&request, &results))
    }

    fn group(group: &str, score: f64, no_data: bool) -> GroupScore {
        GroupScore {
            group: group.into(),
            score,
            no_data,
        }
    }

    #[test]
    fn a_group_score_is_the_percentage_of_counted_results_that_passed() {
        let metrics: &[(&str, &[&str])] =
            &[("a", &["g"]), ("b", &["g"]), ("c", &["g"]), ("d", &["g"])];
        let results = [
            ("a", Pass),
            ("b", High),
            ("c", Low),
            ("d", NodataFailMetric),
        ];
        assert_eq!(scores(metrics, &results), [group("g", 25.0, false)]);
    }

    #[test]
    fn nodata_and_error_results_are_not_counted() {
        let metrics: &[(&str, &[&str])] = &[("a", &["g"]), ("b", &["g"]), ("c", &["g"])];
        let results = [("a", Pass), ("b", Nodata), ("c", Error)];
        assert_eq!(scores(metrics, &results), [group("g", 100.0, false)]);
    }

    #[test]
    fn a_group_with_nothing_counted_has_no_data() {
        let metrics: &[(&str, &[&str])] = &[("a", &["g"]), ("b", &["g"])];
        let results = [("a", Nodata), ("b", Error)];
        assert_eq!(scores(metrics, &results), [group("g", 0.0, true)]);
    }

    #[test]
    fn group_scores_are_unrounded_kayenta_quotients() {
        let metrics: &[(&str, &[&str])] = &[("a", &["g"]), ("b", &["g"]), ("c", &["g"])];
        let results = [("a", Pass), ("b", High), ("c", High)];
        // (1 / 3) * 100 = 33.33333333333333, where 100 / 3 would be 33.333333333333336.
        assert_eq!(
            scores(metrics, &results),
            [group("g", 1.0 / 3.0 * 100.0, false)]
        );
        assert_eq!(1.0 / 3.0 * 100.0, 33.333_333_333_333_33);
    }

    #[test]
    fn a_result_counts_in_every_group_of_its_metric_and_groups_keep_first_appearance_order() {
        let metrics: &[(&str, &[&str])] = &[
            ("a", &["latency", "errors"]),
            ("b", &[]),
            ("c", &["saturation", "latency"]),
        ];
        let results = [("a", Pass), ("b", High), ("c", High)];
        assert_eq!(
            scores(metrics, &results),
            [
                group("latency", 50.0, false),
                group("errors", 100.0, false),
                group("saturation", 0.0, false)
            ]
        );
    }
}
