//! The exact rate test against R itself: every case of `tests/reference/poisson.json`, which
//! `tests/reference/poisson.R` generated with R's `poisson.test` (two-sided for the estimate and the
//! interval, `greater` and `less` for the one-sided p-values).
//!
//! Estimates must be identical; p-values and interval bounds must agree to `TOLERANCE` relative (absolute
//! below 1e-300). The largest differences seen are printed (`cargo test -- --nocapture`).

use coalmine_judge_sdk::serde_json::{self, Value};
use coalmine_v1::rate_test::rate_test;

/// R's p-values are binomial tail sums (pbinom) and its bounds beta quantiles (qbeta); statrs computes the
/// same functions by other algorithms, so the last digits differ. Most agree to 1e-13 or better; the largest
/// difference, 2.1e-9 relative, is a p-value of 8.8e-13 with two million events.
const TOLERANCE: f64 = 1e-8;

fn number(value: &Value) -> f64 {
    let digits = value.as_str().expect("a number as a string");
    digits
        .parse()
        .unwrap_or_else(|error| panic!("{digits}: {error}"))
}

#[test]
fn the_rate_test_agrees_with_rs_poisson_test() {
    let json = include_str!("reference/poisson.json");
    let cases: Vec<Value> = serde_json::from_str(json).expect("poisson.json is a JSON array");
    assert!(cases.len() >= 50, "only {} cases", cases.len());
    let mut largest = (0.0_f64, String::new());
    let mut failures = Vec::new();
    for case in &cases {
        let name = case["name"].as_str().expect("a name");
        let get = |key: &str| number(&case[key]);
        let bounds = case["confInt"].as_array().expect("an interval");
        let test = rate_test(
            get("x") as u64,
            get("s"),
            get("y") as u64,
            get("t"),
            get("confLevel"),
        );
        let expected_estimate = get("estimate");
        if !(test.ratio == expected_estimate
            || (test.ratio - expected_estimate).abs() <= 1e-15 * expected_estimate.abs())
        {
            failures.push(format!(
                "{name}: estimate {} != {expected_estimate}",
                test.ratio
            ));
        }
        for (what, actual, expected) in [
            ("lower", test.lower, number(&bounds[0])),
            ("upper", test.upper, number(&bounds[1])),
            ("pGreater", test.p_greater, get("pGreater")),
            ("pLess", test.p_less, get("pLess")),
        ] {
            if actual == expected {
                continue;
            }
            let relative = (actual - expected).abs() / expected.abs();
            if relative > largest.0 {
                largest = (relative, format!("{name} {what}: {actual} vs R {expected}"));
            }
            if !(relative <= TOLERANCE || (actual - expected).abs() < 1e-300) {
                failures.push(format!(
                    "{name}: {what} {actual} != R's {expected} (relative difference {relative:e})"
                ));
            }
        }
    }
    println!(
        "{} cases; largest relative difference {:e} ({})",
        cases.len(),
        largest.0,
        largest.1
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
