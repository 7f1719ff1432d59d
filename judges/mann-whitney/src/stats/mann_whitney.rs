//! The Mann-Whitney (Wilcoxon rank-sum) test with its confidence interval and point estimate for
//! the shift between two samples: a port of R's
//! `wilcox.test(x, y, conf.int = TRUE, exact = FALSE, correct = TRUE)` (two-sided, `mu = 0`),
//! which Kayenta's `MannWhitney` ports too (reference §7.4).
//!
//! For a shift `mu`, the statistic is `W(mu) = (dz − correction) / σ`, where
//! `dz = Σ ranks of x − nx(nx+1)/2 − nx·ny/2` in the pooled ranking of `(x − mu) ++ y`
//! ([`pooled_ranks`]), the continuity correction is `0.5·sign(dz)`, and the tie-corrected
//! `σ = sqrt(nx·ny/12 · ((nx+ny+1) − Σ(t³−t) / ((nx+ny)(nx+ny−1))))`.
//!
//! - The **p-value** is `2·min(Φ(W(0)), 1 − Φ(W(0)))`, as R reports it.
//! - The **confidence interval** bounds are the roots of `W(mu) = ±z` with `z = Φ⁻¹(α/2)`, found
//!   on `[min(x) − max(y), max(x) − min(y)]` by [`zeroin`] with R's tolerance 1e-4, except that
//!   an interval end whose statistic is already past the quantile is taken as the bound.
//! - The **estimate** is, as in R, the root of `W(mu) = 0` *without* the continuity correction.
//!   Kayenta keeps the correction there, which moves the estimate by up to about 5 % on small
//!   samples (the intervals agree).
//! - **Two constant samples** (each one value repeated, the two values differing) have no usable
//!   statistic between them: every shift ties all values or none. R fails there and Kayenta adds unseeded
//!   Gaussian noise, which makes its answer random. Here the estimate and both bounds are the
//!   difference of the two values — the limit of Kayenta's noisy answer — and the p-value is that
//!   of the test statistic on the data as they are.

use core::fmt;

use coalmine_judge_sdk::stats::Sorted;
use statrs::distribution::{ChiSquared, ContinuousCDF, Normal};

use super::rank::pooled_ranks;
use super::zeroin::zeroin;

/// R's `tol.root` for the interval and estimate roots.
const ROOT_TOLERANCE: f64 = 1e-4;
/// R's `uniroot` default `maxiter`.
const MAX_ITERATIONS: u32 = 1000;

/// The result of the test, `x` against `y`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MannWhitney {
    /// The estimated shift of `x` over `y` (for the judge: experiment − control).
    pub estimate: f64,
    /// The lower bound of the confidence interval of the shift.
    pub lower: f64,
    /// The upper bound of the confidence interval of the shift.
    pub upper: f64,
    /// The two-sided p-value (normal approximation with tie and continuity corrections).
    pub p_value: f64,
}

/// Why the test cannot be computed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MannWhitneyError {
    /// At some shift every pooled value is tied, so the statistic has no variance (Kayenta's and
    /// R's message).
    AllTied,
    /// `min(x) − max(y)` or `max(x) − min(y)` overflows, so there is no interval to search.
    RangeOverflow,
}

impl fmt::Display for MannWhitneyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::AllTied => "cannot compute confidence interval when all observations are tied",
            Self::RangeOverflow => {
                "cannot compute confidence interval: the difference between the samples overflows"
            }
        })
    }
}

impl core::error::Error for MannWhitneyError {}

/// Runs the test of `x` against `y` at `confidence_level` (strictly between 0 and 1). Both samples
/// must be non-empty and hold finite values.
pub fn mann_whitney(
    x: Sorted<'_>,
    y: Sorted<'_>,
    confidence_level: f64,
) -> Result<MannWhitney, MannWhitneyError> {
    let statistic = Statistic::new(x, y);
    let p_value = statistic.p_value()?;
    let (x_min, x_max, y_min, y_max) = (first(x), last(x), first(y), last(y));
    let (mu_min, mu_max) = (x_min - y_max, x_max - y_min);
    if !mu_min.is_finite() || !mu_max.is_finite() {
        return Err(MannWhitneyError::RangeOverflow);
    }
    if x_min == x_max && y_min == y_max {
        // Two constant samples (equal constants have failed the p-value already): mu_min = mu_max.
        return Ok(MannWhitney {
            estimate: mu_min,
            lower: mu_min,
            upper: mu_min,
            p_value,
        });
    }

    let alpha = 1.0 - confidence_level;
    let quantile = standard_normal().inverse_cdf(alpha / 2.0);
    let w_min = statistic.at(mu_min, Correction::Continuity)?;
    let w_max = statistic.at(mu_max, Correction::Continuity)?;
    let root = |z: f64| {
        let f_lower = w_min - z;
        if f_lower <= 0.0 {
            return Ok(mu_min);
        }
        let f_upper = w_max - z;
        if f_upper >= 0.0 {
            return Ok(mu_max);
        }
        let f = |mu| Ok(statistic.at(mu, Correction::Continuity)? - z);
        zeroin(
            f,
            mu_min,
            mu_max,
            f_lower,
            f_upper,
            ROOT_TOLERANCE,
            MAX_ITERATIONS,
        )
    };
    let lower = root(-quantile)?;
    let upper = root(quantile)?;

    let f = |mu| statistic.at(mu, Correction::None);
    let (f_lower, f_upper) = (f(mu_min)?, f(mu_max)?);
    let estimate = zeroin(
        f,
        mu_min,
        mu_max,
        f_lower,
        f_upper,
        ROOT_TOLERANCE,
        MAX_ITERATIONS,
    )?;

    Ok(MannWhitney {
        estimate,
        lower,
        upper,
        p_value,
    })
}

/// The largest value the statistic `|W(mu)|` reaches at any shift for samples `x` and `y`: at complete
/// separation (every `x − mu` above every `y`), `U = nx·ny`, and with the continuity correction the interval
/// uses, `W = (nx·ny/2 − 1/2) / σ`, where only the ties within each sample remain in `σ`. 0 when `σ` is 0.
pub fn largest_statistic(x: Sorted<'_>, y: Sorted<'_>) -> f64 {
    let (nx, ny) = (x.len() as f64, y.len() as f64);
    let ties = |sample: Sorted<'_>| {
        sample
            .values()
            .chunk_by(|a, b| a == b)
            .map(|run| {
                let t = run.len() as f64;
                t * t * t - t
            })
            .sum::<f64>()
    };
    let n = nx + ny;
    let tie_term = if n > 1.0 {
        (ties(x) + ties(y)) / (n * (n - 1.0))
    } else {
        0.0
    };
    let sigma = ((nx * ny / 12.0) * ((n + 1.0) - tie_term)).sqrt();
    if sigma.is_nan() || sigma <= 0.0 {
        return 0.0;
    }
    ((nx * ny / 2.0 - 0.5) / sigma).max(0.0)
}

/// Whether a two-sided interval at `confidence_level` can exclude any shift at all for samples of the
/// sizes and ties of `x` and `y`: whether [`largest_statistic`] exceeds the normal quantile `z(1 − α/2)`.
/// When it does not, no shift however large is rejected at that level, the interval [`mann_whitney`]
/// returns is the range of the differences (R's `wilcox.test` clamps its roots there), and it is not an
/// interval at `confidence_level`: e.g. one point a side, or four untied points a side at 98 % (the exact
/// test's smallest two-sided p-value, `2 / C(8, 4)` ≈ 0.029, is above 2 % too).
pub fn confidence_reachable(x: Sorted<'_>, y: Sorted<'_>, confidence_level: f64) -> bool {
    let alpha = 1.0 - confidence_level;
    let quantile = -standard_normal().inverse_cdf(alpha / 2.0);
    largest_statistic(x, y) > quantile
}

fn first(sample: Sorted<'_>) -> f64 {
    sample.min().expect("the test needs non-empty samples")
}

fn last(sample: Sorted<'_>) -> f64 {
    sample.max().expect("the test needs non-empty samples")
}

fn standard_normal() -> Normal {
    Normal::new(0.0, 1.0).expect("the standard normal distribution is valid")
}

/// Whether the statistic includes the continuity correction.
#[derive(Clone, Copy)]
enum Correction {
    Continuity,
    None,
}

/// The standardized rank-sum statistic of `x − mu` against `y` (R's `W(d)` in `wilcox.test`).
struct Statistic<'a> {
    x: Sorted<'a>,
    y: Sorted<'a>,
    nx: f64,
    ny: f64,
}

impl<'a> Statistic<'a> {
    fn new(x: Sorted<'a>, y: Sorted<'a>) -> Self {
        Self {
            x,
            y,
            nx: x.len() as f64,
            ny: y.len() as f64,
        }
    }

    /// The statistic at shift `mu`, with R's operations in R's order.
    fn at(&self, mu: f64, correction: Correction) -> Result<f64, MannWhitneyError> {
        let (nx, ny) = (self.nx, self.ny);
        let ranks = pooled_ranks(self.x, mu, self.y);
        // R: sum(ranks of x) − nx(nx+1)/2 − nx·ny/2, i.e. U − nx·ny/2 (all exact half-integers).
        let dz = ranks.u - nx * ny / 2.0;
        let correction = match correction {
            // R's sign(): 0 for 0.
            Correction::Continuity if dz != 0.0 => 0.5_f64.copysign(dz),
            _ => 0.0,
        };
        let sigma = ((nx * ny / 12.0)
            * ((nx + ny + 1.0) - ranks.tie_term / ((nx + ny) * (nx + ny - 1.0))))
            .sqrt();
        if sigma == 0.0 {
            return Err(MannWhitneyError::AllTied);
        }
        Ok((dz - correction) / sigma)
    }

    /// The two-sided p-value of the test statistic at `mu = 0`: R's
    /// `2·min(pnorm(z), pnorm(z, lower.tail = FALSE))`.
    ///
    /// It is computed as the equal `P(χ²₁ > z²)`: statrs's normal CDF goes through its `erfc`,
    /// which is off by up to ~1e-10 relative (its rational approximations use the decimal
    /// literals of Boost's `float` constants), while its regularized incomplete gamma function
    /// matches R's `pnorm` to ~1e-15.
    fn p_value(&self) -> Result<f64, MannWhitneyError> {
        let z = self.at(0.0, Correction::Continuity)?;
        let chi_squared = ChiSquared::new(1.0).expect("one degree of freedom is valid");
        Ok(chi_squared.sf(z * z))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn test(x: &[f64], y: &[f64], confidence_level: f64) -> Result<MannWhitney, MannWhitneyError> {
        let (mut x, mut y) = (x.to_vec(), y.to_vec());
        mann_whitney(Sorted::new(&mut x), Sorted::new(&mut y), confidence_level)
    }

    /// A small sample pair (experiment, control) with ties.
    const X: [f64; 9] = [1.83, 0.50, 1.62, 2.48, 1.68, 1.88, 1.55, 3.06, 1.30];
    const Y: [f64; 9] = [0.878, 0.647, 0.598, 2.05, 1.06, 1.29, 1.06, 3.4, 1.29];

    fn assert_close(actual: f64, expected: f64) {
        assert!(
            (actual - expected).abs() <= 1e-12 * expected.abs().max(1.0),
            "{actual} != {expected}"
        );
    }

    #[test]
    fn matches_r_on_a_small_example() {
        // R: wilcox.test(X, Y, conf.int = TRUE, exact = FALSE, correct = TRUE, conf.level = 0.98)
        let result = test(&X, &Y, 0.98).unwrap();
        assert_close(result.lower, -0.559_982_925_048_738_1);
        assert_close(result.upper, 1.232_993_616_238_447_8);
        assert_close(result.estimate, 0.560_056_679_262_207_7);
        assert_close(result.p_value, 0.132_919_458_185_318_86);
    }

    #[test]
    fn the_estimate_has_no_continuity_correction() {
        // The root of the statistic *with* the correction, Kayenta's estimate, is
        // 0.5641971988536576 here (R: uniroot on wilcox.test's W with correct = TRUE).
        let estimate = test(&X, &Y, 0.98).unwrap().estimate;
        assert_close(estimate, 0.560_056_679_262_207_7);
        assert!((estimate - 0.564_197_198_853_657_6).abs() > 0.004);
    }

    #[test]
    fn two_constant_samples_get_the_difference_of_their_values() {
        let result = test(&[3.0; 5], &[1.0; 4], 0.98).unwrap();
        assert_eq!(
            (result.estimate, result.lower, result.upper),
            (2.0, 2.0, 2.0)
        );
        // R: wilcox.test(rep(3, 5), rep(1, 4), exact = FALSE, correct = TRUE)$p.value
        assert_close(result.p_value, 0.007_209_570_764_742_531);
        let reversed = test(&[1.0; 4], &[3.0; 5], 0.98).unwrap();
        assert_eq!(
            (reversed.estimate, reversed.lower, reversed.upper),
            (-2.0, -2.0, -2.0)
        );
        assert_eq!(reversed.p_value, result.p_value);
    }

    #[test]
    fn all_values_tied_is_an_error() {
        assert_eq!(
            test(&[2.0; 3], &[2.0; 2], 0.98),
            Err(MannWhitneyError::AllTied)
        );
        assert_eq!(
            MannWhitneyError::AllTied.to_string(),
            "cannot compute confidence interval when all observations are tied"
        );
    }

    #[test]
    fn an_overflowing_range_is_an_error() {
        assert_eq!(
            test(&[1e308, 1.7e308], &[-1e308, 0.0], 0.98),
            Err(MannWhitneyError::RangeOverflow)
        );
    }

    fn reachable(x: &[f64], y: &[f64], level: f64) -> bool {
        let (mut x, mut y) = (x.to_vec(), y.to_vec());
        confidence_reachable(Sorted::new(&mut x), Sorted::new(&mut y), level)
    }

    #[test]
    fn the_confidence_level_is_reachable_only_with_enough_points() {
        // One point a side: R's interval is the one difference, [10, 10], with p = 1.
        assert!(!reachable(&[210.0], &[200.0], 0.98));
        let degenerate = test(&[210.0], &[200.0], 0.98).unwrap();
        assert_eq!(
            (degenerate.lower, degenerate.upper, degenerate.p_value),
            (10.0, 10.0, 1.0)
        );
        // Untied samples of n a side: the exact test's smallest two-sided p-value is 2 / C(2n, n): 2/70 for
        // n = 4 (above 2 %, below 10 %), 2/252 for n = 5 (below 2 %); the normal statistic agrees.
        let four: Vec<f64> = (0..4).map(f64::from).collect();
        let four_higher: Vec<f64> = four.iter().map(|v| v + 10.0).collect();
        assert!(!reachable(&four_higher, &four, 0.98));
        assert!(reachable(&four_higher, &four, 0.90));
        let five: Vec<f64> = (0..5).map(f64::from).collect();
        let five_higher: Vec<f64> = five.iter().map(|v| v + 10.0).collect();
        assert!(reachable(&five_higher, &five, 0.98));
        // Ties within the samples widen nothing here: two constant samples of 5 and 4 (R's p = 0.0072 < 2 %).
        assert!(reachable(&[3.0; 5], &[1.0; 4], 0.98));
        assert!(!reachable(&[3.0; 2], &[1.0; 2], 0.98));
    }

    #[test]
    fn the_interval_narrows_with_the_confidence_level() {
        let wide = test(&X, &Y, 0.98).unwrap();
        let narrow = test(&X, &Y, 0.8).unwrap();
        assert!(narrow.lower > wide.lower && narrow.upper < wide.upper);
        assert_eq!(
            (narrow.estimate, narrow.p_value),
            (wide.estimate, wide.p_value)
        );
    }
}
