//! The embedded `coalmine-v1` judge called through the judge host: it loads under its name, judges count
//! metrics by the exact rate test and gauges by the Mann-Whitney classifier, and the component's judgement
//! is the natively compiled judge's, number for number (so the simulation benchmark, which runs the judge
//! natively, measures what the server runs).

mod common;

use coalmine::judge_host::{self as wit, JudgeHost, Limits, Origin};
use coalmine_judge_sdk as sdk;

const COUNTS: &str = r#"{"canary": {"counts": true}}"#;

/// The canary: per metric its name, whether it holds counts, and the control's and experiment's values.
fn canary() -> Vec<(&'static str, bool, Vec<f64>, Vec<f64>)> {
    let counts = |events: usize| -> Vec<f64> {
        (0..60)
            .map(|step| if step < events { 1.0 } else { 0.0 })
            .collect()
    };
    let latency = |scale: f64| -> Vec<f64> {
        (0..60)
            .map(|step| scale * (100.0 + (step * 37 % 11) as f64))
            .collect()
    };
    vec![
        ("errors", true, counts(0), counts(18)),
        ("timeouts", true, counts(5), counts(6)),
        ("errors-as-gauge", false, counts(0), counts(18)),
        ("latency", false, latency(1.0), latency(1.5)),
    ]
}

/// The canary as the host sends it: Kayenta's defaults, direction increase, `counts: true` where it applies.
fn host_request() -> wit::JudgeRequest {
    let canary = canary();
    let pairs: Vec<_> = canary
        .iter()
        .map(|(name, _, control, experiment)| (*name, control.clone(), experiment.clone()))
        .collect();
    let mut request = common::request(&pairs, "{}");
    for (metric, (_, counts, _, _)) in request.metrics.iter_mut().zip(&canary) {
        metric.direction = wit::Direction::Increase;
        if *counts {
            metric.analysis_configurations = COUNTS.to_string();
        }
    }
    request
}

/// The same request in the SDK's types, for the natively compiled judge.
fn native_request(host: &wit::JudgeRequest) -> sdk::JudgeRequest {
    let series = |series: &wit::Series| sdk::Series {
        values: series.values.clone(),
        start_millis: series.start_millis,
        step_millis: series.step_millis,
    };
    sdk::JudgeRequest {
        metrics: host
            .metrics
            .iter()
            .map(|metric| {
                let mut native = sdk::MetricConfig::with_defaults(&metric.name);
                native.groups = metric.groups.clone();
                native.direction = sdk::Direction::Increase;
                native.analysis_configurations = metric.analysis_configurations.clone();
                native
            })
            .collect(),
        pairs: host
            .pairs
            .iter()
            .map(|pair| sdk::MetricPair {
                id: pair.id.clone(),
                metric: pair.metric.clone(),
                tags: Vec::new(),
                control: series(&pair.control),
                experiment: series(&pair.experiment),
            })
            .collect(),
        group_weights: Vec::new(),
        thresholds: sdk::ScoreThresholds {
            pass: host.thresholds.pass,
            marginal: host.thresholds.marginal,
        },
        judge_configuration: host.judge_configuration.clone(),
    }
}

/// A result as text: its pair, classification and every detail with its exact value.
macro_rules! describe {
    ($($m:ident)::+, $result:expr) => {{
        use $($m)::+ as t;
        let result: &t::MetricResult = $result;
        let classification = match result.classification {
            t::MetricClassification::Pass => "Pass",
            t::MetricClassification::High => "High",
            t::MetricClassification::Low => "Low",
            t::MetricClassification::Nodata => "Nodata",
            t::MetricClassification::NodataFailMetric => "NodataFailMetric",
            t::MetricClassification::Error => "Error",
        };
        let details: Vec<String> = result
            .details
            .iter()
            .map(|detail| {
                let value = match &detail.value {
                    t::DetailValue::Number(number) => format!("{number:?}"),
                    t::DetailValue::Interval((lower, upper)) => format!("({lower:?}, {upper:?})"),
                    t::DetailValue::Text(text) => text.clone(),
                    t::DetailValue::Flag(flag) => flag.to_string(),
                };
                format!("{}={value}", detail.name)
            })
            .collect();
        format!("{} {classification} [{}]", result.pair_id, details.join(", "))
    }};
}

#[test]
fn the_embedded_coalmine_v1_judge_catches_errors_and_matches_its_native_build() {
    let host = JudgeHost::with_built_in(Limits::default(), None).expect("the built-in judges load");
    let judge = host.get("coalmine-v1").expect("coalmine-v1 is built in");
    assert!(matches!(
        judge.origin(),
        Origin::BuiltIn("judges/coalmine-v1")
    ));
    assert_eq!(judge.info().name, "coalmine-v1");
    assert_eq!(host.aliases_of("coalmine-v1").count(), 0);

    let request = host_request();
    let embedded = judge.judge(&request).expect("the embedded judge judges");
    let native = coalmine_v1::judge(&native_request(&request)).expect("the native judge judges");

    let classifications: Vec<String> = embedded
        .results
        .iter()
        .map(|result| {
            describe!(wit, result)
                .split(" [")
                .next()
                .unwrap_or_default()
                .to_string()
        })
        .collect();
    assert_eq!(
        classifications,
        [
            "pair-0 High", // errors
            "pair-1 Pass", // timeouts
            // errors-as-gauge: Kayenta's test is blind to errors against a zero baseline.
            "pair-2 Pass",
            "pair-3 High", // latency
        ]
    );
    let errors = describe!(wit, &embedded.results[0]);
    assert!(
        errors.contains("test=exact-poisson-rate-ratio")
            && errors.contains("experimentEvents=18.0")
            && errors.contains("controlEvents=0.0")
            && errors.contains("pValue=3.8146972656"), // 0.5^18
        "{errors}"
    );
    assert!(describe!(wit, &embedded.results[3]).contains("test=mann-whitney"));
    assert_eq!(embedded.score, 50.0);

    for (embedded, native) in embedded.results.iter().zip(&native.results) {
        assert_eq!(
            describe!(wit, embedded),
            describe!(coalmine_judge_sdk, native)
        );
    }
    assert_eq!(embedded.score, native.score);
    assert_eq!(embedded.reason, native.reason);
}
