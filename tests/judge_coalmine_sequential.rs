//! The embedded `coalmine-sequential` judge called through the judge host: it loads under its name, judges
//! counts by the sequential rate test and gauges by the sign-flip e-process, says `Nodata` (not `High`) for a
//! gauge with too few points, and the component's judgement is the natively compiled judge's, to 14 significant digits
//! (so the simulation benchmark, which runs the judge natively, measures what the server runs).

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
        ("latency", false, latency(1.0), latency(1.5)),
        // The issue's example: one slower point is no evidence.
        ("first-minute", false, vec![200.0], vec![210.0]),
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

/// A result as text: its pair, classification and every detail with its exact value; with `digits`, numbers to
/// 14 significant digits instead: `ln` and `exp` come from wasi-libc in the component and from the C library
/// natively, which may differ in the last bit (the e-value of `timeouts` does, by 2 ulps).
macro_rules! describe {
    ($($m:ident)::+, $result:expr) => {
        describe!($($m)::+, $result, |number: f64| format!("{number:?}"))
    };
    ($($m:ident)::+, $result:expr, digits) => {
        describe!($($m)::+, $result, |number: f64| format!("{number:.13e}"))
    };
    ($($m:ident)::+, $result:expr, $number:expr) => {{
        let number = $number;
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
                    t::DetailValue::Number(value) => number(*value),
                    t::DetailValue::Interval((lower, upper)) => {
                        format!("({}, {})", number(*lower), number(*upper))
                    }
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
fn the_embedded_coalmine_sequential_judge_catches_regressions_and_matches_its_native_build() {
    let host = JudgeHost::with_built_in(Limits::default(), None).expect("the built-in judges load");
    let judge = host
        .get("coalmine-sequential")
        .expect("coalmine-sequential is built in");
    assert!(matches!(
        judge.origin(),
        Origin::BuiltIn("judges/coalmine-sequential")
    ));
    assert_eq!(judge.info().name, "coalmine-sequential");
    assert_eq!(host.aliases_of("coalmine-sequential").count(), 0);

    let request = host_request();
    let embedded = judge.judge(&request).expect("the embedded judge judges");
    let native =
        coalmine_sequential::judge(&native_request(&request)).expect("the native judge judges");

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
            "pair-0 High", // errors against a zero baseline
            "pair-1 Pass", // timeouts
            "pair-2 High", // latency
            "pair-3 Nodata",
        ]
    );
    // The budget 0.01 split among 4 metrics: 1/alpha = 400. 18 events to none, against a uniform prior on
    // [1/2, 1]: E = ∫ p^18 dp / (1/2) · 2^18 = (1 − 2^-19) / 19 · 2^19 = 27594.0526 (by hand).
    let errors = describe!(wit, &embedded.results[0]);
    assert!(
        errors.contains("test=sequential-poisson-rate-ratio")
            && errors.contains("experimentEvents=18.0")
            && errors.contains("controlEvents=0.0")
            && errors.contains("alpha=0.0025")
            && errors.contains("maxEValue=27594.05")
            && errors.contains("decidedBy=eValue")
            && errors.contains("finality=regression"),
        "{errors}"
    );
    let latency = describe!(wit, &embedded.results[2]);
    assert!(latency.contains("test=sequential-sign-flip"), "{latency}");
    let first = describe!(wit, &embedded.results[3]);
    assert!(
        first.contains("decidedBy=sampleSize")
            && first.contains("1 paired points: at least 10 are needed"),
        "{first}"
    );
    assert_eq!(
        embedded.results[3].reason.as_deref(),
        Some(
            "Insufficient data for first-minute: 1 paired points: at least 10 are needed to reach the confidence 1 - 0.0025"
        )
    );
    // Two of the three compared metrics failed; the metric without enough points counts nowhere.
    // (1 / 3) · 100, rounded half-up to two decimals as Kayenta rounds.
    assert_eq!(embedded.score, 33.33);

    for (embedded, native) in embedded.results.iter().zip(&native.results) {
        assert_eq!(
            describe!(wit, embedded, digits),
            describe!(coalmine_judge_sdk, native, digits)
        );
    }
    assert_eq!(embedded.score, native.score);
    assert_eq!(embedded.reason, native.reason);
}
