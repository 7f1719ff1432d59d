//! The anytime-valid test of a continuous metric (latency, CPU): a sign-flip e-process on the time-paired
//! differences, and the confidence sequence for the ratio it gives by inversion.
//!
//! The control's and the experiment's values of the same step form a pair `(x_t, y_t)`. Under the hypothesis
//! that the experiment is the control scaled by `ρ` (`y =d ρ·x` within each step), the difference
//! `d_t = y_t − ρ·x_t` is symmetric about 0 given everything before step `t` and given its own size `|d_t|`:
//! its sign is a fair coin. Nothing else is assumed: not normality, not a variance, not stationarity over time
//! (a trend that both sides share cancels within the pair), and ties (`d_t = 0`) carry no evidence.
//!
//! Each step's evidence is a bounded score `s_t = tanh(d_t / (h·c_t))`, where the scale `c_t` is the median of
//! the earlier steps' `|y_j − x_j|` and `h` the bet's bandwidth (the sign of `d_t` at the first step, or when that
//! median is 0). `1 + tanh(k·d)` is the likelihood ratio of the sign of `d` given its size when `d` is normal with
//! mean `μ` and variance `σ²`, `k = μ/σ²`: the most a bettor who knows the shift can win on the sign. Mixing
//! bandwidths covers shifts that are small or large against the noise. The score is odd and bounded, so heavy
//! tails cannot make the test fail, and a scale that depends only on earlier steps keeps it valid. A bettor who
//! stakes a fraction `λ` of their wealth multiplies it by `1 + λ·s_t`; averaged over the bets `(λ_k, h_k)` of
//! [`BETS`], the wealth
//!
//! ```text
//! E_n(ρ) = Σ_k w_k · Π_{t ≤ n} (1 + λ_k · tanh(d_t / (h_k · c_t)))
//! ```
//!
//! is a nonnegative martingale with `E_0 = 1` under the hypothesis (a supermartingale when the experiment is
//! smaller, for `E⁺`, which bets on increases). By Ville's inequality the probability that it *ever* reaches
//! `1/α` is at most `α`: the test may be looked at after every step, and its decision at step `n` is whether
//! `max_{t ≤ n} E_t ≥ 1/α`. `E⁻` bets on decreases (`s_t` negated).
//!
//! The confidence interval for `ρ` at a look is the set of ratios neither e-process rejects at that look; all
//! looks' intervals together are a confidence sequence (they hold the true ratio at every look at once with
//! the same probability). For nonnegative values `E⁺(ρ)` falls and `E⁻(ρ)` grows with `ρ`, so its bounds are
//! found by bisection.

/// One bet of the mixture: the stake `lambda` (the fraction of the wealth) and the `bandwidth` `h` of its score
/// `tanh(d / (h·c))`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Bet {
    /// The fraction of the wealth staked: at most `1 + lambda` per step.
    pub lambda: f64,
    /// The score's bandwidth in units of the scale: small bandwidths bet on the sign alone (large shifts),
    /// large ones weigh each difference by its size (shifts small against the noise).
    pub bandwidth: f64,
}

/// The bets the e-process mixes, with equal weights. Heavy stakes win fast on large regressions; light ones
/// survive the occasional step against the trend of a small shift. Chosen from a grid of stakes and bandwidths
/// by simulating the latency scenarios of `benches/simulation.rs` with other seeds (shifts of 10 % and 20 %,
/// and ruling out 10 % on A/A); any fixed set of bets is equally valid.
pub const BETS: [Bet; 6] = [
    Bet {
        lambda: 0.95,
        bandwidth: 0.5,
    },
    Bet {
        lambda: 0.95,
        bandwidth: 1.0,
    },
    Bet {
        lambda: 0.95,
        bandwidth: 2.0,
    },
    Bet {
        lambda: 0.7,
        bandwidth: 0.5,
    },
    Bet {
        lambda: 0.7,
        bandwidth: 1.0,
    },
    Bet {
        lambda: 0.7,
        bandwidth: 2.0,
    },
];

/// The direction an e-process bets on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// Against `y ≤ ρ·x`: evidence that the experiment is larger.
    Increase,
    /// Against `y ≥ ρ·x`: evidence that the experiment is smaller.
    Decrease,
}

/// A sequence of time-paired values `(control, experiment)` with the predictable scales of its scores.
#[derive(Clone, Debug)]
pub struct SignFlip {
    pairs: Vec<(f64, f64)>,
    scales: Vec<f64>,
}

/// The e-process at the end of the sequence and its running maximum.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EValue {
    /// `E_n`, after the last step.
    pub current: f64,
    /// `max_{t ≤ n} E_t` (with `E_0 = 1`): the test rejects when it reaches `1/α`; `1 / max` is the
    /// always-valid p-value.
    pub max: f64,
}

impl SignFlip {
    /// The pairs `(control, experiment)` in time order (finite values).
    pub fn new(pairs: Vec<(f64, f64)>) -> Self {
        let mut scales = Vec::with_capacity(pairs.len());
        let mut sorted: Vec<f64> = Vec::with_capacity(pairs.len());
        for &(x, y) in &pairs {
            scales.push(median(&sorted));
            let size = (y - x).abs();
            let at = sorted.partition_point(|&v| v < size);
            sorted.insert(at, size);
        }
        Self { pairs, scales }
    }

    /// The number of pairs.
    pub fn len(&self) -> usize {
        self.pairs.len()
    }

    /// Whether there are no pairs.
    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }

    /// The e-process betting on `side` against the ratio `ratio`, over the pairs in time order.
    pub fn e_value(&self, ratio: f64, side: Side) -> EValue {
        self.e_value_with(ratio, side, &BETS)
    }

    /// The e-process of [`Self::e_value`] with other `bets`, equally weighted (the simulation compares bets).
    pub fn e_value_with(&self, ratio: f64, side: Side, bets: &[Bet]) -> EValue {
        let weight = 1.0 / bets.len() as f64;
        // Each bet's wealth, as `products[k] · e^offset` so that long runs neither overflow nor underflow.
        let mut products = vec![1.0f64; bets.len()];
        let mut offset = 0.0f64;
        let mut max = 1.0f64;
        let mut current = 1.0;
        for (&(x, y), &scale) in self.pairs.iter().zip(&self.scales) {
            let d = match side {
                Side::Increase => y - ratio * x,
                Side::Decrease => ratio * x - y,
            };
            if d == 0.0 {
                continue;
            }
            let mut sum = 0.0;
            let mut top = 0.0f64;
            for (product, bet) in products.iter_mut().zip(bets) {
                let score = if scale > 0.0 {
                    (d / (bet.bandwidth * scale)).tanh()
                } else {
                    d.signum()
                };
                *product *= 1.0 + bet.lambda * score;
                sum += weight * *product;
                top = top.max(*product);
            }
            current = sum * offset.exp();
            max = max.max(current);
            if !(1e-100..=1e100).contains(&top) && top > 0.0 {
                for product in &mut products {
                    *product /= top;
                }
                offset += top.ln();
            }
        }
        EValue { current, max }
    }

    /// The confidence interval for the ratio at this look: the ratios that neither e-process rejects now, at
    /// one-sided levels `alpha_lower` (for the lower bound, from `E⁺`) and `alpha_upper` (from `E⁻`). Every
    /// look's interval holds the true ratio with probability `1 − alpha_lower − alpha_upper`, all looks
    /// together (a confidence sequence). The lower bound is at least 0 and the upper bound may be +∞.
    pub fn interval(&self, alpha_lower: f64, alpha_upper: f64) -> (f64, f64) {
        let rejects_up =
            |ratio: f64| self.e_value(ratio, Side::Increase).current >= 1.0 / alpha_lower;
        let rejects_down =
            |ratio: f64| self.e_value(ratio, Side::Decrease).current >= 1.0 / alpha_upper;
        let lower = if rejects_up(0.0) {
            // E⁺ falls with the ratio: find where it stops rejecting.
            let hi = grow(|ratio| !rejects_up(ratio));
            hi.map_or(f64::INFINITY, |hi| bisect(0.0, hi, rejects_up))
        } else {
            0.0
        };
        let upper = match grow(rejects_down) {
            None => f64::INFINITY,
            Some(hi) => bisect(0.0, hi, |ratio| !rejects_down(ratio)),
        };
        (lower, upper)
    }
}

/// The largest e-value `n` steps can reach at all: every score +1 (a score approaches 1 as the difference grows).
pub fn max_reachable(n: usize) -> f64 {
    BETS.iter()
        .map(|bet| (1.0 + bet.lambda).powi(n as i32))
        .sum::<f64>()
        / BETS.len() as f64
}

/// The fewest steps that can reach `1 / alpha`.
pub fn minimum_steps(alpha: f64) -> usize {
    (0..10_000)
        .find(|&n| max_reachable(n) >= 1.0 / alpha)
        .unwrap_or(10_000)
}

/// The median of ascending values, 0 when there are none.
fn median(sorted: &[f64]) -> f64 {
    match sorted.len() {
        0 => 0.0,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

/// The first of 1, 2, 4, … up to 2⁶⁰ where `holds`, if any.
fn grow(holds: impl Fn(f64) -> bool) -> Option<f64> {
    (0..=60).map(|power| 2f64.powi(power)).find(|&x| holds(x))
}

/// The boundary between `lo`, where `at_lo` holds, and `hi`, where it does not, to a relative 1e-5.
fn bisect(mut lo: f64, mut hi: f64, at_lo: impl Fn(f64) -> bool) -> f64 {
    for _ in 0..200 {
        if hi - lo <= 1e-5 * hi.abs().max(1e-300) {
            break;
        }
        let mid = (lo + hi) / 2.0;
        if at_lo(mid) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    (lo + hi) / 2.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(actual: f64, expected: f64) {
        assert!(
            (actual - expected).abs() <= 1e-12 * expected.abs().max(1.0),
            "{actual} != {expected}"
        );
    }

    // The expected values are computed from the definition (Python, math.tanh):
    //   B = [(l, h) for l in (0.95, 0.7) for h in (0.5, 1, 2)]
    //   score = lambda d, c, h: math.tanh(d / (h * c)) if c > 0 else math.copysign(1, d)
    //   sum(prod(1 + l * score(d, c, h) for d, c in steps) for l, h in B) / 6

    #[test]
    fn a_run_of_increases_reaches_the_weighted_sum_of_powers() {
        // (3 · 1.95 + 3 · 1.7) / 6 and (3 · 1.95³ + 3 · 1.7³) / 6.
        close(max_reachable(1), 1.825);
        close(max_reachable(3), 6.1639375);
        // Without an earlier step the score is the sign.
        let flip = SignFlip::new(vec![(1.0, 2.0)]);
        close(flip.e_value(1.0, Side::Increase).current, 1.825);
    }

    #[test]
    fn scores_are_scaled_by_the_earlier_steps_median_difference() {
        // Differences +2, +1, −1. Step 1: the sign, +1. Step 2: scale median{2} = 2, scores tanh(1 / (2h)).
        // Step 3: scale median{2, 1} = 1.5, scores tanh(−1 / (1.5h)).
        let flip = SignFlip::new(vec![(10.0, 12.0), (10.0, 11.0), (10.0, 9.0)]);
        let up = flip.e_value(1.0, Side::Increase);
        close(up.current, 1.233_204_261_164_251_5);
        close(up.max, 2.569_717_783_470_38);
        // Betting on a decrease, the differences negated: never above its start.
        let down = flip.e_value(1.0, Side::Decrease);
        close(down.current, 0.155_757_588_470_890_7);
        assert_eq!(down.max, 1.0);
    }

    #[test]
    fn ties_carry_no_evidence() {
        let flip = SignFlip::new(vec![(5.0, 5.0); 30]);
        assert_eq!(
            flip.e_value(1.0, Side::Increase),
            EValue {
                current: 1.0,
                max: 1.0
            }
        );
        let (lower, upper) = flip.interval(0.01, 0.01);
        assert!(lower <= 1.0 && 1.0 <= upper, "{lower} {upper}");
    }

    #[test]
    fn the_minimum_sample_is_where_a_run_of_increases_first_reaches_one_over_alpha() {
        // Σ w (1 + λ)^n: 7 steps give 74.12, 8 give 139.41 (as above).
        assert!(max_reachable(7) < 100.0 && max_reachable(8) >= 100.0);
        assert_eq!(minimum_steps(0.01), 8);
        // 1 step gives 1.825 < 2.
        assert_eq!(minimum_steps(0.5), 2);
    }

    #[test]
    fn the_interval_holds_the_ratio_of_a_scaled_copy() {
        // The experiment is the control × 1.5 with a little noise: the interval brackets 1.5 and excludes 1.
        let pairs: Vec<(f64, f64)> = (0..60)
            .map(|i| {
                let x = 100.0 + f64::from(i * 37 % 11);
                (x, 1.5 * x + f64::from(i * 13 % 5) - 2.0)
            })
            .collect();
        let (lower, upper) = SignFlip::new(pairs).interval(0.01, 0.01);
        assert!(
            1.0 < lower && lower < 1.5 && 1.5 < upper && upper < 2.0,
            "{lower} {upper}"
        );
    }
}
