//! Decimal rounding as Kayenta rounds the summary score: Commons Math `Precision.round(x, scale)`,
//! i.e. `new BigDecimal(Double.toString(x)).setScale(scale, ROUND_HALF_UP).doubleValue()`.
//!
//! The rounding works on the shortest decimal that round-trips to `x` (Rust's `{:e}` formatting,
//! like `Double.toString`), not on the binary value: 1.005 is stored as 1.00499999999999989…, yet
//! rounds to 1.01 here, where `(x * 100.0).round() / 100.0` gives 1.0.

/// Rounds `value` to `decimals` decimal places, halves away from zero, on its shortest decimal
/// representation. Non-finite values are returned unchanged; a result of zero keeps the sign of
/// `value`, as Commons Math does.
pub fn round_half_up(value: f64, decimals: u32) -> f64 {
    if !value.is_finite() {
        return value;
    }
    // `{:e}` gives the shortest round-trip digits: "1.005e0", "1e2", "1.25e-3", "0e0".
    let shortest = format!("{:e}", value.abs());
    let (mantissa, exponent) = shortest.split_once('e').expect("`{:e}` has an exponent");
    let exponent: i64 = exponent.parse().expect("`{:e}` has an integer exponent");
    let digits: Vec<u8> = mantissa
        .bytes()
        .filter(u8::is_ascii_digit)
        .map(|digit| digit - b'0')
        .collect();

    // Digit i stands for 10^(exponent − i); the kept ones stand for 10^−decimals or more.
    let kept = exponent + 1 + i64::from(decimals);
    let Ok(kept) = usize::try_from(kept) else {
        // Every digit lies below the first dropped position, itself a zero: rounds to zero.
        return 0.0_f64.copysign(value);
    };
    if kept >= digits.len() {
        return value;
    }
    let round_up = digits[kept] >= 5;
    let scaled = digits[..kept]
        .iter()
        .fold(0_u64, |n, &digit| n * 10 + u64::from(digit))
        + u64::from(round_up);
    // Parsing the decimal gives the correctly rounded double, as BigDecimal.doubleValue() does.
    let magnitude: f64 = format!("{scaled}e-{decimals}")
        .parse()
        .expect("a decimal literal parses as f64");
    magnitude.copysign(value)
}

#[cfg(test)]
mod tests {
    use super::round_half_up;

    #[test]
    fn rounds_the_shortest_decimal_half_up() {
        assert_eq!(round_half_up(1.005, 2), 1.01);
        assert_eq!(round_half_up(2.675, 2), 2.68);
        assert_eq!(round_half_up(0.125, 2), 0.13);
        assert_eq!(round_half_up(55.555, 2), 55.56);
        assert_eq!(round_half_up(1.0 / 3.0 * 100.0, 2), 33.33);
        // The naive binary rounding disagrees on the first two.
        assert_eq!((1.005_f64 * 100.0).round() / 100.0, 1.0);
    }

    #[test]
    fn rounds_negative_values_away_from_zero() {
        assert_eq!(round_half_up(-0.125, 2), -0.13);
        assert_eq!(round_half_up(-2.675, 2), -2.68);
        assert_eq!(round_half_up(-2.674, 2), -2.67);
    }

    #[test]
    fn rounds_down_below_the_half() {
        assert_eq!(round_half_up(1.004_999, 2), 1.0);
        assert_eq!(round_half_up(99.994_999_999_999_99, 2), 99.99);
    }

    #[test]
    fn leaves_values_with_few_decimals_alone() {
        for value in [0.0, 100.0, 87.5, 12.34, 1e300, -7.0] {
            assert_eq!(round_half_up(value, 2), value);
        }
    }

    #[test]
    fn rounds_small_values_to_zero_or_the_last_place() {
        assert_eq!(round_half_up(0.005, 2), 0.01);
        assert_eq!(round_half_up(0.004_999, 2), 0.0);
        assert_eq!(round_half_up(0.000_9, 2), 0.0);
        assert_eq!(round_half_up(1e-300, 2), 0.0);
        let negative_zero = round_half_up(-0.001, 2);
        assert!(negative_zero == 0.0 && negative_zero.is_sign_negative());
    }

    #[test]
    fn carries_into_higher_places() {
        assert_eq!(round_half_up(99.995, 2), 100.0);
        assert_eq!(round_half_up(9.999_9, 2), 10.0);
        assert_eq!(round_half_up(0.095, 1), 0.1);
        assert_eq!(round_half_up(2.5, 0), 3.0);
    }

    #[test]
    fn passes_non_finite_values_through() {
        assert!(round_half_up(f64::NAN, 2).is_nan());
        assert_eq!(round_half_up(f64::INFINITY, 2), f64::INFINITY);
        assert_eq!(round_half_up(f64::NEG_INFINITY, 2), f64::NEG_INFINITY);
    }
}
