//! The exact test for the ratio of two Poisson rates, as R's `poisson.test(c(x, y), c(s, t))` computes it.
//!
//! The experiment saw `x` events over an exposure `s`, the control `y` events over `t`; the counts are Poisson
//! with rates `λx·s` and `λy·t`. Given the total `n = x + y`, the experiment's count is binomial,
//! `x ~ Binomial(n, p)` with `p = ρ·s / (ρ·s + t)`, where `ρ = λx / λy` is the rate ratio. The test of `ρ = 1`
//! is therefore the exact binomial test of `p0 = s / (s + t)` (R's `binom.test`), and the Clopper–Pearson
//! interval for `p` maps to an interval for the ratio, `ρ = p / (1 − p) · t / s`. Nothing is approximated: the
//! p-values are binomial tail sums (regularised incomplete beta functions) and the interval bounds are beta
//! quantiles, both from `statrs`.

use statrs::function::beta::{beta_reg, inv_beta_reg};

/// The outcome of [`rate_test`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RateTest {
    /// The rate ratio `(x / s) / (y / t)`: +∞ when only the control saw no events, NaN when neither did.
    pub ratio: f64,
    /// The lower bound of the central confidence interval for the rate ratio.
    pub lower: f64,
    /// The upper bound of the interval (+∞ when the control saw no events).
    pub upper: f64,
    /// The one-sided p-value against a higher experiment rate: `P(X ≥ x)` for `X ~ Binomial(n, p0)`.
    pub p_greater: f64,
    /// The one-sided p-value against a lower experiment rate: `P(X ≤ x)`.
    pub p_less: f64,
}

impl RateTest {
    /// The two-sided p-value of the central test: twice the smaller one-sided p-value, at most 1. It is below
    /// `1 − level` exactly when the central `level` interval excludes 1 (R's `binom.test` reports the
    /// "minimum likelihood" two-sided p-value instead, which need not agree with its own interval).
    pub fn p_two_sided(&self) -> f64 {
        (2.0 * self.p_greater.min(self.p_less)).min(1.0)
    }
}

/// Tests whether the experiment's rate (`experiment_events` over `experiment_exposure`) differs from the
/// control's (`control_events` over `control_exposure`), with a central interval at `confidence_level`.
///
/// The exposures must be finite and greater than 0 and `0 < confidence_level < 1`. With no events on either
/// side nothing can be told apart: both p-values are 1, the ratio is NaN and the interval is `(0, +∞)`.
pub fn rate_test(
    experiment_events: u64,
    experiment_exposure: f64,
    control_events: u64,
    control_exposure: f64,
    confidence_level: f64,
) -> RateTest {
    let (x, n) = (
        experiment_events as f64,
        experiment_events as f64 + control_events as f64,
    );
    let total = experiment_exposure + control_exposure;
    // P(an event is the experiment's) under equal rates, and its complement, each computed directly.
    let (p0, q0) = (experiment_exposure / total, control_exposure / total);
    let ratio = (x / experiment_exposure) / (control_events as f64 / control_exposure);
    if n == 0.0 {
        return RateTest {
            ratio,
            lower: 0.0,
            upper: f64::INFINITY,
            p_greater: 1.0,
            p_less: 1.0,
        };
    }
    // P(X ≥ x) = I_p0(x, n − x + 1) and P(X ≤ x) = I_q0(n − x, x + 1).
    let p_greater = if x == 0.0 {
        1.0
    } else {
        beta_reg(x, n - x + 1.0, p0)
    };
    let p_less = if x == n {
        1.0
    } else {
        beta_reg(n - x, x + 1.0, q0)
    };
    // Clopper–Pearson bounds for p, as binom.test computes them.
    let alpha = (1.0 - confidence_level) / 2.0;
    let p_lower = if x == 0.0 {
        0.0
    } else {
        inv_beta_reg(x, n - x + 1.0, alpha)
    };
    let p_upper = if x == n {
        1.0
    } else {
        inv_beta_reg(x + 1.0, n - x, 1.0 - alpha)
    };
    let to_ratio = |p: f64| p / (1.0 - p) * control_exposure / experiment_exposure;
    RateTest {
        ratio,
        lower: to_ratio(p_lower),
        upper: to_ratio(p_upper),
        p_greater: p_greater.clamp(0.0, 1.0),
        p_less: p_less.clamp(0.0, 1.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_zero_baseline_gives_an_infinite_ratio_and_upper_bound() {
        let test = rate_test(7, 60.0, 0, 60.0, 0.98);
        assert_eq!(test.ratio, f64::INFINITY);
        assert_eq!(test.upper, f64::INFINITY);
        assert!(test.lower > 1.0, "{test:?}");
        // All 7 events on the experiment's side with even odds: 0.5^7.
        assert!((test.p_greater - 0.5f64.powi(7)).abs() < 1e-15, "{test:?}");
        assert_eq!(test.p_less, 1.0);
    }

    #[test]
    fn no_events_on_either_side_tell_nothing() {
        let test = rate_test(0, 60.0, 0, 60.0, 0.98);
        assert!(test.ratio.is_nan());
        assert_eq!((test.lower, test.upper), (0.0, f64::INFINITY));
        assert_eq!((test.p_greater, test.p_less), (1.0, 1.0));
        assert_eq!(test.p_two_sided(), 1.0);
    }

    #[test]
    fn exposures_weigh_the_counts() {
        // 10 events in 30 steps against 10 in 60: twice the rate.
        let test = rate_test(10, 30.0, 10, 60.0, 0.95);
        assert_eq!(test.ratio, 2.0);
        assert!(test.lower < 2.0 && 2.0 < test.upper);
        assert!(test.p_greater < 0.5 && test.p_less > 0.5);
    }
}
