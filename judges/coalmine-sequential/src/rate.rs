//! The anytime-valid test of a count metric: a mixture likelihood ratio for the ratio of two Poisson rates,
//! conditional on the events seen (Lindon & Malek, *Anytime-valid inference for multinomial count data*, the
//! method of Netflix's "Sequential A/B testing … Part 2: counting processes").
//!
//! Over the steps both sides report, the experiment sees events at rate `ρ·r·λ_t` and the control at `λ_t`
//! per step, where `λ_t` may vary freely over time (a time-inhomogeneous Poisson process) and `r` is the ratio
//! of the steps' lengths. Given that an event happened, it is the experiment's with probability
//! `p = ρr / (ρr + 1)`, whatever `λ_t`: the events' sides are Bernoulli trials, and after `X` experiment and
//! `Y` control events the likelihood ratio of `p` against `p₀ = p(ρ₀)`, mixed over a beta prior for `p`, is
//!
//! ```text
//! E⁺ = ∫_{p₀}^1 p^X (1 − p)^Y π(p) dp / ∫_{p₀}^1 π(p) dp / (p₀^X (1 − p₀)^Y)
//!    = B(X + a, Y + b) · I_{1−p₀}(Y + b, X + a) / (B(a, b) · I_{1−p₀}(b, a)) / (p₀^X (1 − p₀)^Y)
//! ```
//!
//! with `π = Beta(a, b)` of mean `p₀` and [`CONCENTRATION`] `a + b`, restricted to `p ≥ p₀` to bet on an
//! increase (`E⁻` restricts it to `p ≤ p₀`). It is a martingale under `ρ = ρ₀` and a supermartingale for
//! `ρ ≤ ρ₀` (`E⁻`: `ρ ≥ ρ₀`), so by Ville's inequality it reaches `1/α` with probability at most `α`, however
//! often one looks. It depends on the counts only, so it changes only at the steps that have events.
//!
//! Bursty counts: the counts are divided by coalmine-v1's quasi-Poisson dispersion index when it exceeds 1
//! ([`coalmine_v1::dispersion`]), the Poisson events they are worth.

use statrs::function::beta::{beta_reg, ln_beta};
use statrs::function::erf::erfc;

/// The prior's `a + b`: its weight in events. A light prior lets a few events on one side decide.
pub const CONCENTRATION: f64 = 2.0;

/// The direction an e-process bets on (re-exported for counts).
pub use crate::sign_flip::Side;

/// `ln E` for `x` experiment and `y` control events (possibly fractional after the dispersion adjustment)
/// against the event share `p0` of the hypothesised ratio, betting on `side`.
pub fn ln_e_value(x: f64, y: f64, p0: f64, side: Side) -> f64 {
    Mixture::new(p0, side).ln_e_value(x, y)
}

/// The mixture against one event share and side, with the prior's normalisation computed once. A share of 0
/// or 1 or beyond (a ratio of 0 or below, or +∞) is a hypothesis no count can reject: its e-process stays at 1.
struct Mixture {
    p0: f64,
    a: f64,
    b: f64,
    side: Side,
    /// `ln B(a, b)` plus the log of the prior's mass on the side bet on.
    ln_prior: f64,
}

impl Mixture {
    fn new(p0: f64, side: Side) -> Self {
        if !(p0 > 0.0 && p0 < 1.0) {
            // No prior: `ln_e_value` answers 1 for the shares outside (0, 1).
            return Self {
                p0,
                a: 1.0,
                b: 1.0,
                side,
                ln_prior: 0.0,
            };
        }
        let (a, b) = (CONCENTRATION * p0, CONCENTRATION * (1.0 - p0));
        let mass = match side {
            Side::Increase => beta_reg(b, a, 1.0 - p0),
            Side::Decrease => beta_reg(a, b, p0),
        };
        Self {
            p0,
            a,
            b,
            side,
            ln_prior: ln_beta(a, b) + mass.ln(),
        }
    }

    fn ln_e_value(&self, x: f64, y: f64) -> f64 {
        if (x == 0.0 && y == 0.0) || !(self.p0 > 0.0 && self.p0 < 1.0) {
            return 0.0;
        }
        let (p0, q0, a, b) = (self.p0, 1.0 - self.p0, self.a, self.b);
        // The posterior's mass on the side bet on.
        let posterior = match self.side {
            Side::Increase => beta_cdf(y + b, x + a, q0),
            Side::Decrease => beta_cdf(x + a, y + b, p0),
        };
        ln_beta(x + a, y + b) + posterior.ln() - self.ln_prior - x * p0.ln() - y * q0.ln()
    }
}

/// Beyond this many events (`a + b`) the beta distribution's CDF is taken from its normal approximation: statrs'
/// continued fraction loses accuracy near the mean there (0.49 instead of 0.5 at a million events a side, and
/// below 0 at 10⁸), while the normal approximation's error falls as one over the square root of the events.
const NORMAL_BEYOND: f64 = 1e5;

/// `P(B ≤ t)` for `B ~ Beta(a, b)`.
fn beta_cdf(a: f64, b: f64, t: f64) -> f64 {
    let n = a + b;
    if n <= NORMAL_BEYOND {
        return beta_reg(a, b, t);
    }
    let mean = a / n;
    let sd = (a * b / (n * n * (n + 1.0))).sqrt();
    0.5 * erfc((mean - t) / (sd * std::f64::consts::SQRT_2))
}

/// The event share of the experiment under the rate ratio `ratio`, with steps `step_ratio` times as long as
/// the control's.
pub fn share(ratio: f64, step_ratio: f64) -> f64 {
    let weighted = ratio * step_ratio;
    if weighted.is_infinite() {
        1.0
    } else {
        weighted / (weighted + 1.0)
    }
}

/// An e-process over cumulative counts, as [`run`] follows it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Run {
    /// Its running maximum `max_t E_t` (with `E_0 = 1`).
    pub max: f64,
    /// The first step (an index into the path) at which it reached the threshold, if any.
    pub reached_at: Option<usize>,
}

/// The e-process over the cumulative counts `path` (in time order), against the ratio `ratio` betting on
/// `side`: its running maximum and the first step at which it reached `threshold`.
pub fn run(path: &[(f64, f64)], ratio: f64, step_ratio: f64, side: Side, threshold: f64) -> Run {
    let mixture = Mixture::new(share(ratio, step_ratio), side);
    let threshold = threshold.ln();
    let mut last = (f64::NAN, f64::NAN);
    let (mut max, mut reached_at) = (0.0f64, None);
    for (step, &(x, y)) in path.iter().enumerate() {
        // A step without events repeats the last value: it can neither raise the maximum nor reach first.
        if (x, y) == last {
            continue;
        }
        last = (x, y);
        let ln_e = mixture.ln_e_value(x, y);
        max = max.max(ln_e);
        if reached_at.is_none() && ln_e >= threshold {
            reached_at = Some(step);
        }
    }
    Run {
        max: max.exp(),
        reached_at,
    }
}

/// The running maximum of the e-process over the cumulative counts `path` (in time order).
pub fn max_e_value(path: &[(f64, f64)], ratio: f64, step_ratio: f64, side: Side) -> f64 {
    run(path, ratio, step_ratio, side, f64::INFINITY).max
}

/// The ratios `[lower, upper]` neither e-process rejects after `x` experiment and `y` control events, at
/// one-sided levels `alpha_lower` and `alpha_upper`: a confidence sequence, like the gauges' interval.
pub fn interval(x: f64, y: f64, step_ratio: f64, alpha_lower: f64, alpha_upper: f64) -> (f64, f64) {
    let e = |ratio: f64, side| ln_e_value(x, y, share(ratio, step_ratio), side);
    let rejects_up = |ratio: f64| e(ratio, Side::Increase) >= (1.0 / alpha_lower).ln();
    let rejects_down = |ratio: f64| e(ratio, Side::Decrease) >= (1.0 / alpha_upper).ln();
    // Bisection on ln ρ over [1e-9, 1e9]: E⁺ falls and E⁻ grows with ρ.
    let (lo, hi) = (1e-9f64.ln(), 1e9f64.ln());
    let lower = if !rejects_up(lo.exp()) {
        0.0
    } else if rejects_up(hi.exp()) {
        f64::INFINITY
    } else {
        bisect_ln(lo, hi, rejects_up)
    };
    let upper = if !rejects_down(hi.exp()) {
        f64::INFINITY
    } else if rejects_down(lo.exp()) {
        0.0
    } else {
        bisect_ln(lo, hi, |ratio| !rejects_down(ratio))
    };
    (lower, upper)
}

/// The boundary in `[e^lo, e^hi]` between where `at_lo` holds (below) and where it does not.
fn bisect_ln(mut lo: f64, mut hi: f64, at_lo: impl Fn(f64) -> bool) -> f64 {
    while hi - lo > 1e-5 {
        let mid = (lo + hi) / 2.0;
        if at_lo(mid.exp()) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    ((lo + hi) / 2.0).exp()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(actual: f64, expected: f64) {
        assert!(
            (actual - expected).abs() <= 1e-9 * expected.abs(),
            "{actual} != {expected}"
        );
    }

    // The references integrate the mixture directly (Python, mpmath at 30 digits):
    //   def e_up(x, y, p0, k=2):
    //       a, b = k*p0, k*(1-p0); dens = lambda p: p**(a-1)*(1-p)**(b-1)/beta(a, b)
    //       return quad(lambda p: p**x*(1-p)**y*dens(p), [p0, 1]) / quad(dens, [p0, 1]) / (p0**x*(1-p0)**y)
    // and `e_down` the same over [0, p0]. R gives the same with `integrate` and `pbeta`.

    #[test]
    fn the_e_value_is_the_truncated_beta_mixture_of_the_likelihood_ratio() {
        // With p0 = 1/2 the prior is uniform on [1/2, 1]: 3 events to 0 give ∫ p³ dp / (1/2) · 2³ = 3.75.
        close(ln_e_value(3.0, 0.0, 0.5, Side::Increase).exp(), 3.75);
        // 2 to 1: (1/12 − 5/192) · 2 · 2³ = 11/12.
        close(ln_e_value(2.0, 1.0, 0.5, Side::Increase).exp(), 11.0 / 12.0);
        close(
            ln_e_value(7.0, 2.0, 0.5, Side::Increase).exp(),
            2.688_888_888_888_889,
        );
        // Against a ratio of 2 (p0 = 2/3, prior Beta(4/3, 2/3)).
        close(
            ln_e_value(7.0, 2.0, share(2.0, 1.0), Side::Increase).exp(),
            0.717_495_929_610_295_5,
        );
        close(
            ln_e_value(1.0, 9.0, 0.5, Side::Decrease).exp(),
            18.509_090_909_090_91,
        );
    }

    #[test]
    fn a_share_of_0_or_1_is_a_hypothesis_no_count_rejects() {
        // allowedDecrease 0 ("ratio at least 0"), allowedIncrease +∞, and a negative ratio.
        assert_eq!(ln_e_value(0.0, 50.0, share(0.0, 1.0), Side::Decrease), 0.0);
        assert_eq!(
            ln_e_value(50.0, 0.0, share(f64::INFINITY, 1.0), Side::Increase),
            0.0
        );
        assert_eq!(ln_e_value(0.0, 50.0, share(-1.0, 1.0), Side::Decrease), 0.0);
        assert_eq!(max_e_value(&[(0.0, 9.0)], 0.0, 1.0, Side::Decrease), 1.0);
    }

    #[test]
    fn the_first_step_reaching_the_threshold_is_found() {
        // 3 to 0 gives 3.75 (above), first reached at the second step.
        let path = [(1.0, 0.0), (3.0, 0.0), (3.0, 3.0)];
        let reaching = |threshold| run(&path, 1.0, 1.0, Side::Increase, threshold).reached_at;
        assert_eq!(reaching(3.0), Some(1));
        assert_eq!(reaching(4.0), None);
    }

    #[test]
    fn millions_of_events_keep_a_finite_e_value() {
        // 10⁸ events a side, exactly at the hypothesis: the posterior's mass on either side is 1/2 (statrs'
        // continued fraction gave −1.15 here, and the e-value NaN).
        for side in [Side::Increase, Side::Decrease] {
            let ln_e = ln_e_value(1e8, 1e8, 0.5, side);
            assert!(ln_e.is_finite() && ln_e < 0.0, "{ln_e}");
        }
        assert!((beta_cdf(1e8 + 1.0, 1e8 + 1.0, 0.5) - 0.5).abs() < 1e-9);
        // 3 standard deviations above: Φ(−3) = 0.0013499 on the far side (R: pnorm(-3)).
        let (n, shift) = (1e8, 3.0 * (0.25f64 / 2e8).sqrt());
        let mass = beta_cdf(n * (0.5 + shift) * 2.0, n * (0.5 - shift) * 2.0, 0.5);
        assert!((mass - 0.001_349_898).abs() < 1e-6, "{mass}");
        // Far beyond the hypothesis the evidence is overwhelming and finite.
        assert!(ln_e_value(1.01e8, 1e8, 0.5, Side::Increase) > 1000.0);
    }

    #[test]
    fn no_events_are_no_evidence() {
        assert_eq!(ln_e_value(0.0, 0.0, 0.5, Side::Increase), 0.0);
        assert_eq!(max_e_value(&[(0.0, 0.0)], 1.0, 1.0, Side::Decrease), 1.0);
        assert_eq!(interval(0.0, 0.0, 1.0, 0.01, 0.01), (0.0, f64::INFINITY));
    }

    #[test]
    fn the_running_maximum_keeps_the_strongest_evidence_on_the_way() {
        // 3 to 0, then 3 to 3: the maximum stays at 3.75.
        let path = [(1.0, 0.0), (3.0, 0.0), (3.0, 3.0)];
        close(max_e_value(&path, 1.0, 1.0, Side::Increase), 3.75);
    }

    #[test]
    fn the_interval_excludes_1_after_many_more_events_on_one_side() {
        let (lower, upper) = interval(120.0, 60.0, 1.0, 0.01, 0.01);
        assert!(1.0 < lower && lower < 2.0 && 2.0 < upper, "{lower} {upper}");
        // A zero baseline: no upper bound.
        let (lower, upper) = interval(20.0, 0.0, 1.0, 0.01, 0.01);
        assert!(lower > 1.0 && upper == f64::INFINITY, "{lower} {upper}");
    }
}
