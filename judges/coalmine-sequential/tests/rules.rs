//! coalmine-sequential's rules, judged natively: the budget's split, directions, effect-size thresholds as part
//! of the hypothesis, insufficient data, missing data, scoring and finality.

use coalmine_judge_sdk::{
    DetailValue, Direction, EffectSizeMeasure, JudgeError, JudgeRequest, Judgement,
    MetricClassification, MetricConfig, MetricPair, MetricResult, ScoreClassification,
    ScoreThresholds, Series,
};
use coalmine_sequential::{Finality, judge, judge_with_finality};

fn series(values: &[f64]) -> Series {
    Series {
        values: values.to_vec(),
        start_millis: 0,
        step_millis: 60_000,
    }
}

fn metric(name: &str, direction: Direction) -> MetricConfig {
    let mut metric = MetricConfig::with_defaults(name);
    metric.groups = vec!["default".into()];
    metric.direction = direction;
    metric
}

fn request(metrics: Vec<MetricConfig>, data: &[(Vec<f64>, Vec<f64>)]) -> JudgeRequest {
    JudgeRequest {
        pairs: metrics
            .iter()
            .zip(data)
            .map(|(metric, (control, experiment))| MetricPair {
                id: metric.name.clone(),
                metric: metric.name.clone(),
                tags: Vec::new(),
                control: series(control),
                experiment: series(experiment),
            })
            .collect(),
        metrics,
        group_weights: Vec::new(),
        thresholds: ScoreThresholds {
            pass: 95.0,
            marginal: 75.0,
        },
        judge_configuration: "{}".into(),
    }
}

/// A latency around 100 with a little deterministic noise, scaled by `scale`, over `n` minutes.
fn latency(scale: f64, n: usize) -> Vec<f64> {
    (0..n)
        .map(|i| scale * (100.0 + ((i * 37) % 11) as f64 - 5.0))
        .collect()
}

/// Another draw of the same latency (shifted noise), for A/A comparisons.
fn latency_again(n: usize) -> Vec<f64> {
    (0..n)
        .map(|i| 100.0 + ((i * 37 + 5) % 11) as f64 - 5.0)
        .collect()
}

fn number(result: &MetricResult, name: &str) -> f64 {
    result
        .detail(name)
        .and_then(DetailValue::as_number)
        .unwrap_or_else(|| panic!("{name} missing"))
}

fn text(result: &MetricResult, name: &str) -> String {
    match result.detail(name) {
        Some(DetailValue::Text(text)) => text.clone(),
        other => panic!("{name}: {other:?}"),
    }
}

fn only(judgement: &Judgement) -> &MetricResult {
    &judgement.results[0]
}

#[test]
fn one_slower_point_is_not_evidence() {
    // The issue's example: [200] against [210] is High with p = 1 for Kayenta's judge.
    let request = request(
        vec![metric("latency", Direction::Increase)],
        &[(vec![200.0], vec![210.0])],
    );
    let (judgement, finality, why) = judge_with_finality(&request).unwrap();
    let result = only(&judgement);
    assert_eq!(result.classification, MetricClassification::Nodata);
    assert_eq!(
        result.reason.as_deref(),
        Some(
            "Insufficient data for latency: 1 paired points: at least 8 are needed to reach the confidence 1 - 0.01"
        )
    );
    assert_eq!(text(result, "decidedBy"), "sampleSize");
    // Not counted in the 50 % NODATA rule: the canary is not failed by its first look.
    assert_eq!(judgement.classification, ScoreClassification::Pass);
    assert_eq!(finality, Finality::Open);
    assert!(why.contains("at least 8 are needed"), "{why}");
}

#[test]
fn must_have_data_fails_a_metric_with_too_few_points() {
    let mut required = metric("latency", Direction::Increase);
    required.must_have_data = true;
    let judgement = judge(&request(vec![required], &[(vec![200.0], vec![210.0])])).unwrap();
    assert_eq!(
        only(&judgement).classification,
        MetricClassification::NodataFailMetric
    );
    assert_eq!(judgement.classification, ScoreClassification::Fail);
}

#[test]
fn a_critical_metric_that_must_have_data_fails_the_canary_with_too_few_points() {
    // Kayenta's rule for a critical metric without data: the canary fails, whatever the other scores.
    let mut required = metric("latency", Direction::Increase);
    required.must_have_data = true;
    required.critical = true;
    let judgement = judge(&request(vec![required], &[(vec![200.0], vec![210.0])])).unwrap();
    assert_eq!(
        only(&judgement).classification,
        MetricClassification::Nodata
    );
    assert_eq!(judgement.classification, ScoreClassification::Fail);
    assert!(
        judgement.reason.starts_with("Canary Failed: "),
        "{}",
        judgement.reason
    );
}

#[test]
fn missing_data_still_counts_in_the_nodata_rule() {
    let request = request(
        vec![metric("latency", Direction::Increase)],
        &[(vec![], latency(1.0, 60))],
    );
    let judgement = judge(&request).unwrap();
    assert_eq!(
        only(&judgement).classification,
        MetricClassification::Nodata
    );
    assert_eq!(
        judgement.reason,
        "Canary Failed: 50% or more metrics returned NODATA"
    );
}

#[test]
fn a_regression_fails_and_is_final() {
    let request = request(
        vec![metric("latency", Direction::Increase)],
        &[(latency(1.0, 30), latency(1.3, 30))],
    );
    let (judgement, finality, why) = judge_with_finality(&request).unwrap();
    let result = only(&judgement);
    assert_eq!(result.classification, MetricClassification::High);
    assert_eq!(judgement.classification, ScoreClassification::Fail);
    assert_eq!(finality, Finality::Regression);
    assert_eq!(why, "latency was classified as High");
    assert!(number(result, "maxEValue") >= 100.0);
    assert!(number(result, "pValue") <= 0.01);
    assert_eq!(number(result, "alpha"), 0.01);
    assert_eq!(text(result, "finality"), "regression");
    assert!(
        text(result, "decision").ends_with(">= 1/alpha 100: ratio > allowedIncrease 1"),
        "{}",
        text(result, "decision")
    );
    let (lower, upper) = result
        .detail("confidenceInterval")
        .and_then(DetailValue::as_interval)
        .unwrap();
    assert!(
        1.0 < lower && lower <= 1.3 && 1.3 <= upper,
        "{lower} {upper}"
    );
}

#[test]
fn the_direction_decides_which_changes_fail() {
    let data = [(latency(1.0, 30), latency(0.7, 30))];
    let lower = judge(&request(
        vec![metric("latency", Direction::Increase)],
        &data,
    ))
    .unwrap();
    assert_eq!(only(&lower).classification, MetricClassification::Pass);
    let lower = judge(&request(
        vec![metric("latency", Direction::Decrease)],
        &data,
    ))
    .unwrap();
    assert_eq!(only(&lower).classification, MetricClassification::Low);
    // Either: half the budget per side.
    let either = judge(&request(vec![metric("latency", Direction::Either)], &data)).unwrap();
    assert_eq!(only(&either).classification, MetricClassification::Low);
    assert_eq!(number(only(&either), "alpha"), 0.005);
}

#[test]
fn the_budget_is_split_among_the_metrics_that_count() {
    let mut muted = metric("muted", Direction::Increase);
    muted.muted = true;
    let metrics = vec![
        metric("a", Direction::Increase),
        metric("b", Direction::Increase),
        muted,
    ];
    let data = vec![(latency(1.0, 30), latency_again(30)); 3];
    let judgement = judge(&request(metrics, &data)).unwrap();
    for result in &judgement.results {
        assert_eq!(number(result, "alpha"), 0.005, "{}", result.pair_id);
    }
}

#[test]
fn an_allowed_increase_is_part_of_the_hypothesis() {
    // +30 % fails against allowedIncrease 1.2 only once the ratio is established above 1.2; not against 1.5.
    let mut allowed = metric("latency", Direction::Increase);
    allowed.effect_size.allowed_increase = 1.5;
    let data = [(latency(1.0, 60), latency(1.3, 60))];
    let judgement = judge(&request(vec![allowed.clone()], &data)).unwrap();
    assert_eq!(only(&judgement).classification, MetricClassification::Pass);
    assert_eq!(number(only(&judgement), "effectSizeThreshold"), 1.5);
    allowed.effect_size.allowed_increase = 1.2;
    let judgement = judge(&request(vec![allowed], &data)).unwrap();
    assert_eq!(only(&judgement).classification, MetricClassification::High);
}

#[test]
fn a_healthy_canary_becomes_harmless_once_harmful_ratios_are_ruled_out() {
    let healthy = |n| {
        request(
            vec![metric("latency", Direction::Increase)],
            &[(latency(1.0, n), latency_again(n))],
        )
    };
    let (judgement, finality, why) = judge_with_finality(&healthy(8)).unwrap();
    assert_eq!(judgement.classification, ScoreClassification::Pass);
    assert_eq!(finality, Finality::Open, "{why}");
    assert!(why.contains("a ratio of 1.1 is not ruled out yet"), "{why}");
    let (judgement, finality, why) = judge_with_finality(&healthy(60)).unwrap();
    assert_eq!(judgement.classification, ScoreClassification::Pass);
    assert_eq!(finality, Finality::Harmless, "{why}");
    assert_eq!(text(only(&judgement), "finality"), "harmless");
    let (_, upper) = only(&judgement)
        .detail("harmlessBand")
        .and_then(DetailValue::as_interval)
        .unwrap();
    assert!((upper - 1.1).abs() < 1e-12);
}

#[test]
fn counts_fail_on_a_rate_increase_against_a_zero_baseline() {
    let mut errors = metric("errors", Direction::Increase);
    errors.analysis_configurations = r#"{"canary": {"counts": true}}"#.into();
    let events: Vec<f64> = (0..30)
        .map(|i| if i % 3 == 0 { 1.0 } else { 0.0 })
        .collect();
    let judgement = judge(&request(vec![errors.clone()], &[(vec![0.0; 30], events)])).unwrap();
    let result = only(&judgement);
    assert_eq!(result.classification, MetricClassification::High);
    assert_eq!(text(result, "test"), "sequential-poisson-rate-ratio");
    // 10 events to none: E = (1 − 2^-11) / 11 · 2^11 = 186.09 (by hand), above 1/alpha = 100.
    assert!((number(result, "maxEValue") - 2047.0 / 11.0).abs() < 1e-9);
    // Nine steps are too few to judge counts.
    let judgement = judge(&request(vec![errors], &[(vec![0.0; 9], vec![1.0; 9])])).unwrap();
    assert_eq!(
        only(&judgement).classification,
        MetricClassification::Nodata
    );
}

#[test]
fn bad_settings_are_refused_with_the_key() {
    let mut cles = metric("latency", Direction::Increase);
    cles.effect_size.measure = EffectSizeMeasure::Cles;
    let refused = judge(&request(vec![cles], &[(vec![1.0], vec![1.0])]));
    assert!(
        matches!(&refused, Err(JudgeError::InvalidRequest(message)) if message.contains("must be \"meanRatio\"")),
        "{refused:?}"
    );
    let mut bad_alpha = request(
        vec![metric("latency", Direction::Increase)],
        &[(vec![1.0], vec![1.0])],
    );
    bad_alpha.judge_configuration = r#"{"alpha": 2}"#.into();
    assert_eq!(
        judge(&bad_alpha).map(|_| ()),
        Err(JudgeError::InvalidRequest(
            "judgeConfigurations.alpha must be a number strictly between 0 and 1, got 2".into()
        ))
    );
}

#[test]
fn values_below_zero_are_tested_for_a_change_but_bound_no_ratio() {
    // A gauge that can be negative (a temperature offset, a balance), the same on both sides.
    let negative = |n| {
        latency(1.0, n)
            .iter()
            .map(|v| v - 200.0)
            .collect::<Vec<_>>()
    };
    let again = |n| {
        latency_again(n)
            .iter()
            .map(|v| v - 200.0)
            .collect::<Vec<_>>()
    };
    let healthy = request(
        vec![metric("offset", Direction::Increase)],
        &[(negative(60), again(60))],
    );
    let (judgement, finality, why) = judge_with_finality(&healthy).unwrap();
    assert_eq!(only(&judgement).classification, MetricClassification::Pass);
    // No interval of ratios holds for values below 0, so the metric is never final and harmless.
    assert_eq!(finality, Finality::Open, "{why}");
    assert!(why.contains("values below 0"), "{why}");

    // A shift up is still a regression.
    let shifted: Vec<f64> = again(60).iter().map(|v| v + 20.0).collect();
    let regression = request(
        vec![metric("offset", Direction::Increase)],
        &[(negative(60), shifted)],
    );
    assert_eq!(
        only(&judge(&regression).unwrap()).classification,
        MetricClassification::High
    );
    // A ratio threshold means nothing for them: an A/A canary must not fail against allowedIncrease 1.2 (with
    // values near −200, "at most 1.2 times the control" is below the control itself).
    let mut allowed = metric("offset", Direction::Increase);
    allowed.effect_size.allowed_increase = 1.2;
    let judgement = judge(&request(vec![allowed], &[(negative(60), again(60))])).unwrap();
    let result = only(&judgement);
    assert_eq!(result.classification, MetricClassification::Error);
    let reason = result.reason.as_deref().unwrap_or_default();
    assert!(
        reason.contains("allowedIncrease 1.2") && reason.contains("below 0"),
        "{reason}"
    );
}

#[test]
fn a_critical_count_metric_against_a_zero_baseline_fails_the_canary() {
    // Two metrics, pass at 50: one failing metric alone leaves the score at 50, a pass, unless it is critical.
    let mut errors = metric("errors", Direction::Increase);
    errors.analysis_configurations = r#"{"canary": {"counts": true}}"#.into();
    errors.critical = true;
    // 15 events to none: E = (1 − 2^-16) / 16 · 2^16 ≈ 4096, above 1/alpha = 200 (alpha 0.01 split in two).
    let events: Vec<f64> = (0..30)
        .map(|i| if i % 2 == 0 { 1.0 } else { 0.0 })
        .collect();
    let mut request = request(
        vec![errors, metric("latency", Direction::Increase)],
        &[
            (vec![0.0; 30], events),
            (latency(1.0, 30), latency_again(30)),
        ],
    );
    request.thresholds = ScoreThresholds {
        pass: 50.0,
        marginal: 25.0,
    };
    let judgement = judge(&request).unwrap();
    let errors = &judgement.results[0];
    assert_eq!(errors.classification, MetricClassification::High);
    // The rate ratio against no events at all is +∞, beyond any criticalIncrease (Kayenta's default 1).
    assert_eq!(number(errors, "ratio"), f64::INFINITY);
    assert!(errors.critical, "{errors:?}");
    assert_eq!(judgement.classification, ScoreClassification::Fail);
}

#[test]
fn the_count_ratio_is_per_unit_of_time() {
    // The canary's steps are twice as long and see twice the events: the same rate, a ratio of 1.
    let mut errors = metric("errors", Direction::Increase);
    errors.analysis_configurations = r#"{"canary": {"counts": true}}"#.into();
    let mut request = request(vec![errors], &[(vec![3.0; 20], vec![6.0; 20])]);
    request.pairs[0].experiment.step_millis = 120_000;
    let judgement = judge(&request).unwrap();
    assert_eq!(only(&judgement).classification, MetricClassification::Pass);
    assert_eq!(number(only(&judgement), "ratio"), 1.0);
}

#[test]
fn a_ratio_of_0_for_counts_is_no_hypothesis_to_reject_and_no_crash() {
    // allowedDecrease 0: "the rate is at least 0", which no count can reject.
    let mut errors = metric("errors", Direction::Either);
    errors.analysis_configurations = r#"{"canary": {"counts": true}}"#.into();
    errors.effect_size.allowed_decrease = 0.0;
    let judgement = judge(&request(vec![errors], &[(vec![5.0; 30], vec![0.0; 30])])).unwrap();
    assert_eq!(only(&judgement).classification, MetricClassification::Pass);
}

#[test]
fn an_established_count_failure_stays_one_when_later_events_even_out() {
    // Ten minutes of 4 errors a minute against about none, then the canary recovers while the baseline sees 1 a
    // minute: by minute 40 the totals are 40 to 32, below allowedExtraEvents 10, but the failure was
    // established at minute 10 with 38 extra events, and the judge said it was final then.
    let mut errors = metric("errors", Direction::Increase);
    errors.analysis_configurations =
        r#"{"canary": {"counts": true, "adjustDispersion": false, "effectSize": {"allowedExtraEvents": 10}}}"#
            .into();
    let mut control = vec![1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0];
    control.extend([1.0; 30]);
    let mut experiment = vec![4.0; 10];
    experiment.extend([0.0; 30]);
    let at = |minutes: usize| {
        judge_with_finality(&request(
            vec![errors.clone()],
            &[(control[..minutes].to_vec(), experiment[..minutes].to_vec())],
        ))
        .unwrap()
    };
    let (early, finality, why) = at(10);
    assert_eq!(only(&early).classification, MetricClassification::High);
    assert_eq!(finality, Finality::Regression, "{why}");
    let (late, _, _) = at(40);
    assert_eq!(number(only(&late), "extraEvents"), 8.0);
    assert_eq!(only(&late).classification, MetricClassification::High);
}

#[test]
fn a_failure_is_final_only_when_the_metrics_still_open_cannot_outweigh_it() {
    // Three metrics, pass at 60 and marginal at 30: a regression in one, the two others still too short to judge
    // (fewer than 10 paired steps for counts), so the score is 0 now but could reach 66.67 later.
    let counts = |name: &str| {
        let mut metric = metric(name, Direction::Increase);
        metric.analysis_configurations = r#"{"canary": {"counts": true}}"#.into();
        metric
    };
    let mut request = request(
        vec![
            metric("latency", Direction::Increase),
            counts("errors"),
            counts("timeouts"),
        ],
        &[
            (latency(1.0, 30), latency(2.0, 30)),
            (vec![1.0; 5], vec![1.0; 5]),
            (vec![1.0; 5], vec![1.0; 5]),
        ],
    );
    request.thresholds = ScoreThresholds {
        pass: 60.0,
        marginal: 30.0,
    };
    let (judgement, finality, why) = judge_with_finality(&request).unwrap();
    assert_eq!(
        judgement.results[0].classification,
        MetricClassification::High
    );
    assert_ne!(judgement.classification, ScoreClassification::Pass);
    assert_eq!(finality, Finality::Open, "{why}");
    assert!(why.contains("may yet outweigh it"), "{why}");
    // With marginal at 70 the regression fails the canary whatever the others do: final.
    request.thresholds = ScoreThresholds {
        pass: 80.0,
        marginal: 70.0,
    };
    let (_, finality, why) = judge_with_finality(&request).unwrap();
    assert_eq!(finality, Finality::Regression, "{why}");
}
