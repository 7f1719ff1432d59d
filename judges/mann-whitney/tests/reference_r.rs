//! The Mann-Whitney port against R itself: every case of `tests/reference/wilcox.json`, which
//! `tests/reference/wilcox.R` generated with R's
//! `wilcox.test(x, y, conf.int = TRUE, exact = FALSE, correct = TRUE, conf.level = ...)`.
//!
//! The interval, estimate and p-value must agree with R's to 1e-12 (absolute below 1, relative
//! above). The largest differences seen are printed (`cargo test -- --nocapture`). Numbers are
//! stored as strings of 17 significant digits and parsed exactly (see `wilcox.R`).

use coalmine_judge_sdk::serde_json::{self, Value};
use coalmine_judge_sdk::stats::Sorted;
use coalmine_mann_whitney::stats::mann_whitney::mann_whitney;

const TOLERANCE: f64 = 1e-12;

/// A number: a string of its decimal digits, parsed exactly.
fn number(value: &Value) -> f64 {
    let digits = value.as_str().expect("a number as a string");
    digits
        .parse()
        .unwrap_or_else(|error| panic!("{digits}: {error}"))
}

fn numbers(value: &Value) -> Vec<f64> {
    value
        .as_array()
        .expect("an array")
        .iter()
        .map(number)
        .collect()
}

/// The largest absolute and relative differences seen, with the case and quantity, and how many
/// values were identical to R's.
#[derive(Default)]
struct Largest {
    absolute: (f64, String),
    relative: (f64, String),
    identical: usize,
    compared: usize,
}

impl Largest {
    /// Records one comparison; whether it is within the tolerance.
    fn record(&mut self, what: String, actual: f64, expected: f64) -> bool {
        self.compared += 1;
        self.identical += usize::from(actual.to_bits() == expected.to_bits());
        let absolute = (actual - expected).abs();
        let relative = if expected == 0.0 {
            absolute
        } else {
            absolute / expected.abs()
        };
        if absolute > self.absolute.0 {
            self.absolute = (absolute, what.clone());
        }
        if relative > self.relative.0 {
            self.relative = (relative, what);
        }
        absolute <= TOLERANCE * expected.abs().max(1.0)
    }
}

#[test]
fn mann_whitney_matches_r_wilcox_test() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/reference/wilcox.json");
    let reference: Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("wilcox.json is readable"))
            .expect("wilcox.json is JSON");
    let cases = reference["cases"].as_array().expect("cases");
    assert!(cases.len() >= 30, "the reference has {} cases", cases.len());

    let mut largest = Largest::default();
    let mut mismatches = Vec::new();
    for case in cases {
        let name = case["name"].as_str().expect("a name");
        let (mut x, mut y) = (numbers(&case["x"]), numbers(&case["y"]));
        let result = mann_whitney(
            Sorted::new(&mut x),
            Sorted::new(&mut y),
            number(&case["confLevel"]),
        )
        .unwrap_or_else(|error| panic!("{name}: {error}"));
        let interval = numbers(&case["confInt"]);
        let checks = [
            ("lower bound", result.lower, interval[0]),
            ("upper bound", result.upper, interval[1]),
            ("estimate", result.estimate, number(&case["estimate"])),
            ("p-value", result.p_value, number(&case["pValue"])),
        ];
        for (quantity, actual, expected) in checks {
            if !largest.record(format!("{name}: {quantity}"), actual, expected) {
                mismatches.push(format!("{name}: {quantity} {actual:e}, R {expected:e}"));
            }
        }
    }
    println!(
        "{} cases against {}: {} of {} values bit-identical; largest absolute difference {:e} ({}), \
         largest relative difference {:e} ({})",
        cases.len(),
        reference["generator"].as_str().unwrap_or("R"),
        largest.identical,
        largest.compared,
        largest.absolute.0,
        largest.absolute.1,
        largest.relative.0,
        largest.relative.1,
    );
    assert!(
        mismatches.is_empty(),
        "differences from R:\n{}",
        mismatches.join("\n")
    );
}
