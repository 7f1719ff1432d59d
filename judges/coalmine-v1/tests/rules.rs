//! coalmine-v1's rules, judged natively through [`coalmine_v1::judge`]: the rate test's verdicts through
//! direction, level, effect-size gates, criticality, missing data and scoring, and the Mann-Whitney judge's
//! verdicts, unchanged, for every metric that does not hold counts.

use coalmine_judge_sdk::{
    DetailValue, Direction, JudgeError, JudgeRequest, Judgement, MetricClassification,
    MetricConfig, MetricPair, MetricResult, NanStrategy, ScoreClassification, ScoreThresholds,
    Series,
};

const COUNTS: &str = r#"{"canary": {"counts": true}}"#;

fn series(values: &[f64]) -> Series {
    Series {
        values: values.to_vec(),
        start_millis: 0,
        step_millis: 60_000,
    }
}

fn count_metric(name: &str) -> MetricConfig {
    let mut metric = MetricConfig::with_defaults(name);
    metric.direction = Direction::Increase;
    metric.analysis_configurations = COUNTS.into();
    metric
}

/// A request with one pair per metric, `(control, experiment)` in metric order.
fn request(metrics: Vec<MetricConfig>, data: &[(Vec<f64>, Vec<f64>)]) -> JudgeRequest {
    JudgeRequest {
        pairs: metrics
            .iter()
            .zip(data)
            .map(|(metric, (control, experiment))| MetricPair {
                id: format!("{}-pair", metric.name),
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

/// `events` spread over `steps` one-minute steps (one event in each of the first `events` steps, the rest
/// added to the first step).
fn counts(events: usize, steps: usize) -> Vec<f64> {
    let mut values = vec![0.0; steps];
    for i in 0..events {
        values[i % steps] += 1.0;
    }
    values
}

fn judge_one(metric: MetricConfig, control: Vec<f64>, experiment: Vec<f64>) -> MetricResult {
    let judgement = judge(&request(vec![metric], &[(control, experiment)]));
    judgement.results.into_iter().next().expect("one result")
}

fn judge(request: &JudgeRequest) -> Judgement {
    coalmine_v1::judge(request).expect("the request is valid")
}

fn number(result: &MetricResult, name: &str) -> f64 {
    result
        .detail(name)
        .and_then(DetailValue::as_number)
        .unwrap_or_else(|| panic!("no number {name} in {:?}", result.details))
}

fn text<'a>(result: &'a MetricResult, name: &str) -> &'a str {
    match result.detail(name) {
        Some(DetailValue::Text(text)) => text,
        other => panic!("no text {name}: {other:?}"),
    }
}

#[test]
fn errors_against_a_zero_baseline_fail_and_explain_themselves() {
    let result = judge_one(count_metric("errors"), counts(0, 60), counts(18, 60));
    assert_eq!(result.classification, MetricClassification::High);
    assert_eq!(
        result.reason.as_deref(),
        Some("errors was classified as High")
    );
    assert_eq!(text(&result, "test"), "exact-poisson-rate-ratio");
    assert_eq!(text(&result, "alternative"), "greater");
    assert_eq!(number(&result, "experimentEvents"), 18.0);
    assert_eq!(number(&result, "controlEvents"), 0.0);
    assert_eq!(number(&result, "experimentExposure"), 60.0);
    assert_eq!(number(&result, "controlExposure"), 60.0);
    assert_eq!(number(&result, "expectedEvents"), 0.0);
    assert_eq!(number(&result, "extraEvents"), 18.0);
    assert_eq!(number(&result, "ratio"), f64::INFINITY);
    assert_eq!(number(&result, "confidenceLevel"), 0.98);
    // All 18 events on the canary's side, at even odds: 0.5^18.
    assert!((number(&result, "pValue") - 0.5f64.powi(18)).abs() < 1e-18);
    let (lower, upper) = result
        .detail("confidenceInterval")
        .and_then(DetailValue::as_interval)
        .expect("an interval");
    assert!(
        (lower - 3.429947346874672).abs() < 1e-9,
        "R's bound, got {lower}"
    );
    assert_eq!(upper, f64::INFINITY);
    assert_eq!(result.experiment.count, 60);
    assert!((result.experiment.mean - 0.3).abs() < 1e-12);
}

#[test]
fn the_level_is_one_sided_half_of_one_minus_the_confidence_level() {
    // 6 events against none: P = 0.5^6 = 1.6 %, above 1 % (0.98) but below 2.5 % (0.95).
    let data = [(counts(0, 60), counts(6, 60))];
    let at_98 = judge(&request(vec![count_metric("errors")], &data));
    assert_eq!(at_98.results[0].classification, MetricClassification::Pass);
    let mut at_95 = request(vec![count_metric("errors")], &data);
    at_95.judge_configuration = r#"{"confidenceLevel": 0.95}"#.into();
    assert_eq!(
        judge(&at_95).results[0].classification,
        MetricClassification::High
    );
    // 7 events: P = 0.78 % fails at the default.
    let result = judge_one(count_metric("errors"), counts(0, 60), counts(7, 60));
    assert_eq!(result.classification, MetricClassification::High);
}

#[test]
fn equal_rates_pass() {
    let result = judge_one(count_metric("errors"), counts(300, 60), counts(310, 60));
    assert_eq!(result.classification, MetricClassification::Pass);
    assert_eq!(result.reason, None);
    let result = judge_one(count_metric("errors"), counts(0, 60), counts(0, 60));
    assert_eq!(result.classification, MetricClassification::Pass);
    assert_eq!(result.reason.as_deref(), Some("No events on either side"));
    assert_eq!(number(&result, "pValue"), 1.0);
}

#[test]
fn the_direction_chooses_the_alternative() {
    let up = (counts(300, 60), counts(400, 60));
    let down = (counts(400, 60), counts(300, 60));
    let classify = |direction: Direction, (control, experiment): &(Vec<f64>, Vec<f64>)| {
        let mut metric = count_metric("requests");
        metric.direction = direction;
        judge_one(metric, control.clone(), experiment.clone())
    };
    assert_eq!(
        classify(Direction::Increase, &up).classification,
        MetricClassification::High
    );
    assert_eq!(
        classify(Direction::Increase, &down).classification,
        MetricClassification::Pass
    );
    assert_eq!(
        classify(Direction::Decrease, &up).classification,
        MetricClassification::Pass
    );
    let low = classify(Direction::Decrease, &down);
    assert_eq!(low.classification, MetricClassification::Low);
    assert_eq!(text(&low, "alternative"), "less");
    let either = classify(Direction::Either, &up);
    assert_eq!(either.classification, MetricClassification::High);
    assert_eq!(text(&either, "alternative"), "two.sided");
    // The central two-sided p-value: twice the one-sided one.
    let one_sided = number(&classify(Direction::Increase, &up), "pValue");
    assert_eq!(number(&either, "pValue"), 2.0 * one_sided);
    assert_eq!(
        classify(Direction::Either, &down).classification,
        MetricClassification::Low
    );
}

#[test]
fn effect_size_thresholds_gate_significant_changes() {
    // 400 against 300 events: significant, rate ratio 4/3, 100 extra events.
    let with = |configure: &dyn Fn(&mut MetricConfig)| {
        let mut metric = count_metric("errors");
        configure(&mut metric);
        judge_one(metric, counts(300, 60), counts(400, 60)).classification
    };
    assert_eq!(with(&|_| {}), MetricClassification::High);
    assert_eq!(
        with(&|m| m.effect_size.allowed_increase = 1.3),
        MetricClassification::High
    );
    assert_eq!(
        with(&|m| m.effect_size.allowed_increase = 1.4),
        MetricClassification::Pass
    );
    let extra = |events: u32| {
        move |m: &mut MetricConfig| {
            m.analysis_configurations = format!(
                r#"{{"canary": {{"counts": true, "effectSize": {{"allowedExtraEvents": {events}}}}}}}"#
            )
        }
    };
    assert_eq!(with(&extra(99)), MetricClassification::High);
    assert_eq!(with(&extra(100)), MetricClassification::Pass);
}

#[test]
fn allowed_extra_events_keep_their_meaning_when_the_baseline_is_zero() {
    let mut metric = count_metric("errors");
    metric.analysis_configurations =
        r#"{"canary": {"counts": true, "effectSize": {"allowedExtraEvents": 20}}}"#.into();
    metric.effect_size.allowed_increase = 2.0;
    // An infinite ratio reaches any ratio threshold; 18 errors are within the 20 allowed.
    let result = judge_one(metric.clone(), counts(0, 60), counts(18, 60));
    assert_eq!(result.classification, MetricClassification::Pass);
    let result = judge_one(metric, counts(0, 60), counts(21, 60));
    assert_eq!(result.classification, MetricClassification::High);
}

#[test]
fn a_critical_count_metric_fails_the_canary() {
    let mut errors = count_metric("errors");
    errors.groups = vec!["default".into()];
    errors.critical = true;
    let mut cpu = MetricConfig::with_defaults("cpu");
    cpu.groups = vec!["default".into()];
    errors.effect_size.critical_increase = 1.5;
    let data = [
        (counts(0, 60), counts(18, 60)),
        (vec![1.0; 60], vec![1.0; 60]),
    ];
    let judgement = judge(&request(vec![errors.clone(), cpu.clone()], &data));
    assert!(judgement.results[0].critical);
    assert_eq!(judgement.score, 0.0);
    assert_eq!(judgement.classification, ScoreClassification::Fail);
    assert_eq!(
        judgement.results[0].reason.as_deref(),
        Some("The metric errors was classified as High (Critical)")
    );

    // Below the critical ratio the metric fails but not the canary: half the metrics passed.
    let judgement = judge(&request(
        vec![errors, cpu],
        &[
            (counts(300, 60), counts(400, 60)),
            (vec![1.0; 60], vec![1.0; 60]),
        ],
    ));
    assert_eq!(
        judgement.results[0].classification,
        MetricClassification::High
    );
    assert!(!judgement.results[0].critical);
    assert_eq!(judgement.score, 50.0);
}

#[test]
fn missing_data_follows_the_nan_strategy_and_must_have_data() {
    let nans = vec![f64::NAN; 60];
    let result = judge_one(count_metric("errors"), nans.clone(), counts(18, 60));
    assert_eq!(result.classification, MetricClassification::Nodata);
    assert_eq!(text(&result, "test"), "exact-poisson-rate-ratio");

    let mut required = count_metric("errors");
    required.must_have_data = true;
    let result = judge_one(required, counts(3, 60), Vec::new());
    assert_eq!(
        result.classification,
        MetricClassification::NodataFailMetric
    );

    // With `replace` a missing value is a step without events.
    let mut replaced = count_metric("errors");
    replaced.nan_strategy = NanStrategy::Replace;
    let result = judge_one(replaced, nans, counts(18, 60));
    assert_eq!(result.classification, MetricClassification::High);
    assert_eq!(number(&result, "controlExposure"), 60.0);
}

#[test]
fn removed_nans_shorten_the_exposure() {
    // 10 events in 30 steps (the other 30 missing) against 10 in 60: the canary's rate doubled.
    let mut experiment = counts(10, 30);
    experiment.extend([f64::NAN; 30]);
    let result = judge_one(count_metric("errors"), counts(10, 60), experiment);
    assert_eq!(number(&result, "experimentExposure"), 30.0);
    assert_eq!(number(&result, "ratio"), 2.0);
    assert_eq!(number(&result, "expectedEvents"), 5.0);
}

#[test]
fn different_step_lengths_are_measured_in_control_steps() {
    let mut request = request(
        vec![count_metric("errors")],
        &[(counts(10, 60), counts(10, 30))],
    );
    request.pairs[0].experiment.step_millis = 120_000;
    let result = &judge(&request).results[0];
    assert_eq!(number(result, "experimentExposure"), 60.0);
    assert_eq!(number(result, "ratio"), 1.0);
}

#[test]
fn fractional_counts_are_rounded_after_summing() {
    // Prometheus' increase() extrapolates: 60 values of 0.3 are 18 events.
    let result = judge_one(count_metric("errors"), counts(0, 60), vec![0.3; 60]);
    assert_eq!(number(&result, "experimentEvents"), 18.0);
}

#[test]
fn negative_or_infinite_counts_are_errors() {
    let mut experiment = counts(3, 60);
    experiment[5] = -1.0;
    let result = judge_one(count_metric("errors"), counts(3, 60), experiment);
    assert_eq!(result.classification, MetricClassification::Error);
    assert_eq!(
        result.reason.as_deref(),
        Some(
            "Metric Classification Failed: the Canary data hold -1: counts must be finite and not negative"
        )
    );
    let mut control = counts(3, 60);
    control[0] = f64::INFINITY;
    let result = judge_one(count_metric("errors"), control, counts(3, 60));
    assert_eq!(result.classification, MetricClassification::Error);
}

#[test]
fn other_metrics_are_judged_exactly_as_the_mann_whitney_judge_judges_them() {
    let mut latency = MetricConfig::with_defaults("latency");
    latency.direction = Direction::Increase;
    let mut muted = MetricConfig::with_defaults("muted");
    muted.muted = true;
    let shifted: Vec<f64> = (0..60).map(|i| 100.0 + (i % 7) as f64).collect();
    let data = [
        (shifted.clone(), shifted.iter().map(|v| v * 1.5).collect()),
        (vec![0.0; 60], vec![0.3; 60]),
        (shifted.clone(), vec![f64::NAN; 60]),
    ];
    let metrics = vec![latency, MetricConfig::with_defaults("errors"), muted];
    let request = request(metrics, &data);
    let ours = judge(&request);
    let theirs = coalmine_mann_whitney::judge(&request).expect("a valid request");
    assert_eq!(ours.score, theirs.score);
    assert_eq!(ours.group_scores, theirs.group_scores);
    for (ours, theirs) in ours.results.iter().zip(&theirs.results) {
        let mut expected = theirs.clone();
        expected
            .details
            .push(coalmine_judge_sdk::Detail::text("test", "mann-whitney"));
        // Debug output, because a NaN ratio is not equal to itself.
        assert_eq!(format!("{ours:?}"), format!("{expected:?}"));
    }
    assert_eq!(ours.results[0].classification, MetricClassification::High);
}

#[test]
fn kayenta_misses_errors_against_a_zero_baseline_where_counts_catch_them() {
    let data = [(counts(0, 60), counts(18, 60))];
    let mut gauge = count_metric("errors");
    gauge.analysis_configurations = "{}".into();
    let kayenta = judge(&request(vec![gauge], &data));
    assert_eq!(
        kayenta.results[0].classification,
        MetricClassification::Pass
    );
    let counted = judge(&request(vec![count_metric("errors")], &data));
    assert_eq!(
        counted.results[0].classification,
        MetricClassification::High
    );
}

#[test]
fn invalid_settings_are_invalid_requests() {
    let mut metric = count_metric("errors");
    metric.analysis_configurations = r#"{"canary": {"counts": 1}}"#.into();
    let error = coalmine_v1::judge(&request(vec![metric], &[(vec![1.0], vec![1.0])]));
    assert_eq!(
        error.err(),
        Some(JudgeError::InvalidRequest(
            "metric 'errors': analysisConfigurations.canary.counts must be true or false (a JSON boolean), got 1"
                .into()
        ))
    );
    let mut request = request(vec![count_metric("errors")], &[(vec![1.0], vec![1.0])]);
    request.judge_configuration = r#"{"confidenceLevel": 2}"#.into();
    assert!(matches!(
        coalmine_v1::judge(&request),
        Err(JudgeError::InvalidRequest(_))
    ));
    request.judge_configuration = "{}".into();
    request.pairs[0].metric = "unknown".into();
    assert_eq!(
        coalmine_v1::judge(&request).err(),
        Some(JudgeError::InvalidRequest(
            "Could not find metric config for unknown (pair errors-pair)".into()
        ))
    );
}

#[test]
fn bursty_counts_are_tested_as_the_poisson_events_they_are_worth() {
    // The same bursts on both sides (all of a side's events in one step of four), a third more on the canary:
    // 160 against 120 events would be significant for Poisson counts (p = 0.98 %), not at dispersion 6.1.
    let bursts = |size: f64| -> Vec<f64> {
        (0..60)
            .map(|i| if i % 4 == 0 { size } else { 0.0 })
            .collect()
    };
    let result = judge_one(count_metric("errors"), bursts(8.0), bursts(32.0 / 3.0));
    assert_eq!(number(&result, "experimentEvents"), 160.0);
    assert_eq!(result.classification, MetricClassification::Pass);
    assert_eq!(
        result.detail("dispersionAdjusted"),
        Some(&DetailValue::Flag(true))
    );
    let dispersion = number(&result, "dispersion");
    assert!(dispersion > 5.0, "{dispersion}");
    assert_eq!(
        number(&result, "testedExperimentEvents"),
        (160.0 / dispersion).round()
    );
    assert!((number(&result, "ratio") - 4.0 / 3.0).abs() < 1e-12);

    // Without the adjustment, the exact test of the raw counts.
    let mut unadjusted = count_metric("errors");
    unadjusted.analysis_configurations =
        r#"{"canary": {"counts": true, "adjustDispersion": false}}"#.into();
    let result = judge_one(unadjusted.clone(), bursts(8.0), bursts(32.0 / 3.0));
    assert_eq!(result.classification, MetricClassification::High);
    assert_eq!(
        result.detail("dispersionAdjusted"),
        Some(&DetailValue::Flag(false))
    );
    assert!(result.detail("testedExperimentEvents").is_none());

    // Poisson-like counts are not adjusted: the verdict and every detail are those of the plain test.
    let plain = |metric| judge_one(metric, counts(0, 60), counts(18, 60));
    let result = plain(count_metric("errors"));
    assert_eq!(
        result.detail("dispersionAdjusted"),
        Some(&DetailValue::Flag(false))
    );
    assert!(number(&result, "dispersion") < 1.0);
    assert_eq!(result, plain(unadjusted));
}

#[test]
fn mildly_bursty_counts_are_adjusted_though_not_significantly_overdispersed() {
    // 362 against 300 events, each side varying a little more than Poisson counts: the quasi-Poisson
    // dispersion 1.121 is not significant (Pearson's statistic 132.3 on 118 degrees of freedom, p = 0.17),
    // and the plain test would flag the canary (p = 0.88 %). Tested as 323 against 268 events it is not
    // (p = 1.31 %). The p-values are R's poisson.test; the dispersion, to 1e-9 (R fits the means
    // iteratively), R's summary(glm(n ~ side, family = quasipoisson, control = glm.control(epsilon = 1e-15)))
    // $dispersion = 1.1209851111482396.
    let control = [1.0, 9.0, 5.0, 5.0, 5.0, 5.0].repeat(10);
    let mut experiment = [1.0, 11.0, 6.0, 6.0, 6.0, 6.0].repeat(5);
    experiment.extend([2.0, 10.0, 7.0, 6.0, 6.0, 6.0].repeat(2));
    experiment.extend([2.0, 10.0, 6.0, 6.0, 6.0, 6.0].repeat(3));
    let result = judge_one(count_metric("errors"), control.clone(), experiment.clone());
    assert_eq!(number(&result, "experimentEvents"), 362.0);
    assert!((number(&result, "dispersion") - 1.1209851111482396).abs() < 1e-9);
    assert_eq!(
        result.detail("dispersionAdjusted"),
        Some(&DetailValue::Flag(true))
    );
    assert_eq!(number(&result, "testedExperimentEvents"), 323.0);
    assert_eq!(number(&result, "testedControlEvents"), 268.0);
    assert!((number(&result, "pValue") - 0.01312481).abs() < 1e-7);
    assert_eq!(result.classification, MetricClassification::Pass);

    let mut unadjusted = count_metric("errors");
    unadjusted.analysis_configurations =
        r#"{"canary": {"counts": true, "adjustDispersion": false}}"#.into();
    let result = judge_one(unadjusted, control, experiment);
    assert!((number(&result, "pValue") - 0.008840893).abs() < 1e-8);
    assert_eq!(result.classification, MetricClassification::High);
}

/// Issue 14 item 13: a count metric is decided by a one-sided p-value against α, and says so.
#[test]
fn a_count_result_says_the_p_value_decided() {
    // 18 events against none over equal exposures: P(X >= 18) for X ~ Binomial(18, 1/2) is 2^-18.
    let result = judge_one(count_metric("errors"), counts(0, 60), counts(18, 60));
    assert_eq!(result.classification, MetricClassification::High);
    assert_eq!(text(&result, "decidedBy"), "pValue");
    assert_eq!(number(&result, "alpha"), (1.0 - 0.98) / 2.0);
    assert_eq!(
        text(&result, "decision"),
        "p(greater) 3.81e-6 <= alpha 0.01; ratio inf >= allowedIncrease 1; \
         extra events 18 > allowedExtraEvents 0"
    );
    // Equal counts: P(X >= 30) for X ~ Binomial(60, 1/2) is 0.551 (R: pbinom(29, 60, 0.5, lower = FALSE)).
    let result = judge_one(count_metric("errors"), counts(30, 60), counts(30, 60));
    assert_eq!(result.classification, MetricClassification::Pass);
    assert_eq!(text(&result, "decision"), "p(greater) 0.5513 > alpha 0.01");
}

// ---------------------------------------------------------------------------------------------
// Insufficient data is not evidence
// ---------------------------------------------------------------------------------------------

/// A metric of the group `g` (a canary whose metrics have no group scores 0, as in Kayenta).
fn grouped(name: &str) -> MetricConfig {
    let mut metric = MetricConfig::with_defaults(name);
    metric.groups = vec!["g".into()];
    metric
}

#[test]
fn one_point_a_side_is_insufficient_data_not_a_failure() {
    // Kayenta (and the mann-whitney judge): High with p = 1 (R's interval degenerates to [10, 10]).
    let kayenta = coalmine_mann_whitney::judge(&request(
        vec![MetricConfig::with_defaults("latency")],
        &[(vec![200.0], vec![210.0])],
    ))
    .unwrap();
    assert_eq!(
        kayenta.results[0].classification,
        MetricClassification::High
    );
    assert!(
        matches!(kayenta.results[0].detail("warning"), Some(DetailValue::Text(w))
            if w.starts_with("the 98% confidence level cannot be reached with 1 control and 1 experiment points")),
        "{:?}",
        kayenta.results[0].details
    );

    let judgement = judge(&request(
        vec![grouped("latency")],
        &[(vec![200.0], vec![210.0])],
    ));
    let result = &judgement.results[0];
    assert_eq!(result.classification, MetricClassification::Nodata);
    assert_eq!(
        result.reason.as_deref(),
        Some(
            "Insufficient data for latency: the 98% confidence level cannot be reached with 1 control \
             and 1 experiment points"
        )
    );
    assert!(!result.critical);
    assert_eq!(
        result.detail("insufficientData"),
        Some(&DetailValue::Flag(true))
    );
    // Ignored in the scores, and not counted towards the 50 % Nodata override: the canary is not failed.
    assert_eq!((judgement.score, judgement.reason.as_str()), (100.0, ""));
    assert_eq!(judgement.classification, ScoreClassification::Pass);
}

#[test]
fn the_sample_needed_is_that_of_the_exact_test_at_the_level() {
    // Untied samples of n a side: the exact rank-sum test's smallest two-sided p-value is 2 / C(2n, n),
    // 2/70 ≈ 0.029 for n = 4 and 2/252 ≈ 0.008 for n = 5: 98 % is out of reach with 4, within reach with 5.
    let classify = |n: usize, level: f64| {
        let control: Vec<f64> = (0..n).map(|i| 100.0 + i as f64).collect();
        let experiment: Vec<f64> = control.iter().map(|v| v * 1.5).collect();
        let mut request = request(
            vec![MetricConfig::with_defaults("latency")],
            &[(control, experiment)],
        );
        request.judge_configuration = format!(r#"{{"confidenceLevel": {level}}}"#);
        judge(&request).results[0].classification
    };
    assert_eq!(classify(4, 0.98), MetricClassification::Nodata);
    assert_eq!(classify(5, 0.98), MetricClassification::High);
    // At 90 %, 2/70 is within reach.
    assert_eq!(classify(4, 0.9), MetricClassification::High);
}

#[test]
fn insufficient_data_follows_must_have_data_and_never_fails_a_critical_metric_by_itself() {
    let mut must = MetricConfig::with_defaults("latency");
    must.must_have_data = true;
    let result = judge_one(must.clone(), vec![200.0], vec![210.0]);
    assert_eq!(
        (result.classification, result.critical),
        (MetricClassification::NodataFailMetric, false)
    );
    must.critical = true;
    let result = judge_one(must, vec![200.0], vec![210.0]);
    assert_eq!(
        (result.classification, result.critical),
        (MetricClassification::Nodata, true),
        "Kayenta's missing-data rule for a critical metric that must have data"
    );
    let mut critical = grouped("latency");
    critical.critical = true;
    let judgement = judge(&request(vec![critical], &[(vec![200.0], vec![210.0])]));
    assert_eq!(
        (
            judgement.results[0].classification,
            judgement.results[0].critical
        ),
        (MetricClassification::Nodata, false)
    );
    assert_eq!(judgement.score, 100.0);
}
