//! The embedded `coalmine-v1` judge called through the judge host: it loads under its name, judges count
//! metrics by the exact rate test and gauges by the Mann-Whitney classifier, and the component's judgement
//! is the natively compiled judge's, number for number (so the simulation benchmark, which runs the judge
//! natively, measures what the server runs).

use coalmine::judge_host::{self as wit, JudgeHost, Limits, Origin};

/// Builds the same request in the host's types or the SDK's (both generated from `wit/judge.wit`).
macro_rules! request {
    ($($m:ident)::+) => {{
        use $($m)::+ as t;
        let counts = |events: usize| -> Vec<f64> {
            (0..60).map(|step| if step < events { 1.0 } else { 0.0 }).collect()
        };
        let latency = |scale: f64| -> Vec<f64> {
            (0..60).map(|step| scale * (100.0 + (step * 37 % 11) as f64)).collect()
        };
        let metric = |name: &str, counts: bool| t::MetricConfig {
            name: name.to_string(),
            groups: vec!["default".to_string()],
            direction: t::Direction::Increase,
            nan_strategy: t::NanStrategy::Remove,
            critical: false,
            must_have_data: false,
            muted: false,
            effect_size: t::EffectSize {
                measure: t::EffectSizeMeasure::MeanRatio,
                allowed_increase: 1.0,
                allowed_decrease: 1.0,
                critical_increase: 1.0,
                critical_decrease: 1.0,
            },
            outliers: t::Outliers { strategy: t::OutlierStrategy::Keep, factor: 3.0 },
            analysis_configurations: if counts { r#"{"canary": {"counts": true}}"# } else { "{}" }.to_string(),
        };
        let data = [
            ("errors", true, counts(0), counts(18)),
            ("timeouts", true, counts(5), counts(6)),
            ("errors-as-gauge", false, counts(0), counts(18)),
            ("latency", false, latency(1.0), latency(1.5)),
        ];
        let series = |values: Vec<f64>| t::Series { values, start_millis: 0, step_millis: 60_000 };
        t::JudgeRequest {
            metrics: data.iter().map(|(name, counts, _, _)| metric(name, *counts)).collect(),
            pairs: data
                .into_iter()
                .map(|(name, _, control, experiment)| t::MetricPair {
                    id: format!("{name}-pair"),
                    metric: name.to_string(),
                    tags: Vec::new(),
                    control: series(control),
                    experiment: series(experiment),
                })
                .collect(),
            group_weights: Vec::new(),
            thresholds: t::ScoreThresholds { pass: 95.0, marginal: 75.0 },
            judge_configuration: "{}".to_string(),
        }
    }};
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
    assert!(matches!(judge.origin(), Origin::BuiltIn("judges/coalmine-v1")));
    assert_eq!(judge.info().name, "coalmine-v1");
    assert_eq!(host.aliases_of("coalmine-v1").count(), 0);

    let embedded = judge
        .judge(&request!(wit))
        .expect("the embedded judge judges");
    let native = coalmine_v1::judge(&request!(coalmine_judge_sdk)).expect("the native judge judges");

    let classifications: Vec<String> = embedded
        .results
        .iter()
        .map(|result| describe!(wit, result).split(" [").next().unwrap_or_default().to_string())
        .collect();
    assert_eq!(
        classifications,
        [
            "errors-pair High",
            "timeouts-pair Pass",
            // Kayenta's test is blind to errors against a zero baseline.
            "errors-as-gauge-pair Pass",
            "latency-pair High",
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
        assert_eq!(describe!(wit, embedded), describe!(coalmine_judge_sdk, native));
    }
    assert_eq!(embedded.score, native.score);
    assert_eq!(embedded.reason, native.reason);
}
