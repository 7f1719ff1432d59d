//! Ranking of a pooled sample, with average ranks for ties, by merging two sorted samples.
//!
//! The Mann-Whitney statistic needs, for many shifts `mu`, the rank sum of `x − mu` in the pooled
//! sample `(x − mu) ++ y` and the sizes of its groups of ties. Subtracting `mu` keeps `x` sorted
//! (floating-point subtraction is monotonic), so with both samples sorted once, each evaluation is
//! one linear merge: no sorting, no allocation.
//!
//! With average ranks, the rank sum of `x` is `nx(nx+1)/2 + U`, where
//! `U = #{(i, j): x_i − mu > y_j} + ½·#{(i, j): x_i − mu = y_j}` is the Mann-Whitney U statistic,
//! so the merge counts pairs instead of summing ranks. The results equal R's
//! `rank(c(x - mu, y))` (ties by exact equality) exactly: every quantity is an integer or a
//! half-integer, exact in `f64`.
//!
//! The merge is branch-free in the data — which side comes next is data, not control flow — so
//! interleaved samples cost no branch mispredictions.

use coalmine_judge_sdk::stats::Sorted;

/// The pair counts and tie sizes of the pooled sample `(x − shift) ++ y`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PooledRanks {
    /// The Mann-Whitney U of `x`: the pairs with `x_i − shift > y_j`, plus half the tied pairs.
    /// The rank sum of `x` is `U + nx(nx+1)/2`.
    pub u: f64,
    /// `Σ (t³ − t)` over the groups of `t` equal values in the pooled sample.
    pub tie_term: f64,
}

/// Ranks the pooled sample `(x − shift) ++ y` (`x` shifted, `y` as is) with average ranks for
/// ties. Both samples must hold finite values.
pub fn pooled_ranks(x: Sorted<'_>, shift: f64, y: Sorted<'_>) -> PooledRanks {
    let (x, y) = (x.values(), y.values());
    let (nx, ny) = (x.len(), y.len());
    let (mut i, mut j) = (0, 0);
    // Pairs with y below x, and tied pairs.
    let (mut below, mut tied_pairs) = (0_u64, 0_u64);
    // The current run of equal merged values: its value, length and number of x values.
    let (mut run_value, mut run, mut run_x) = (f64::NAN, 0_u64, 0_u64);
    let mut tie_term = 0_u64;
    for _ in 0..nx + ny {
        // An exhausted side reads as +∞, so the other side supplies the rest.
        let xv = if i < nx { x[i] - shift } else { f64::INFINITY };
        let yv = if j < ny { y[j] } else { f64::INFINITY };
        // Equal values: x first, so a group's x values precede its y values.
        let take_y = yv < xv;
        let value = if take_y { yv } else { xv };

        let same = value == run_value;
        // A run of k values growing to k + 1 adds (k+1)³ − (k+1) − (k³ − k) = 3k(k+1) ties.
        tie_term += u64::from(same) * 3 * run * (run + 1);
        run = if same { run + 1 } else { 1 };
        run_x = if same { run_x } else { 0 } + u64::from(!take_y);
        run_value = value;

        // A y value lies below every x value not merged yet, and ties with the run's x values.
        below += u64::from(take_y) * (nx - i) as u64;
        tied_pairs += u64::from(take_y) * run_x;
        i += usize::from(!take_y);
        j += usize::from(take_y);
    }
    PooledRanks {
        u: below as f64 + 0.5 * tied_pairs as f64,
        tie_term: tie_term as f64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ranks(x: &[f64], shift: f64, y: &[f64]) -> PooledRanks {
        let (mut x, mut y) = (x.to_vec(), y.to_vec());
        pooled_ranks(Sorted::new(&mut x), shift, Sorted::new(&mut y))
    }

    /// The rank sum of `x`, from U.
    fn rank_sum(x: &[f64], shift: f64, y: &[f64]) -> f64 {
        let n = x.len() as f64;
        ranks(x, shift, y).u + n * (n + 1.0) / 2.0
    }

    #[test]
    fn ranks_distinct_values() {
        // R: rank(c(3, 1, 5, 2, 4))[1:3] = 3 1 5
        assert_eq!(rank_sum(&[3.0, 1.0, 5.0], 0.0, &[2.0, 4.0]), 9.0);
        assert_eq!(ranks(&[3.0, 1.0, 5.0], 0.0, &[2.0, 4.0]).tie_term, 0.0);
    }

    #[test]
    fn averages_the_ranks_of_ties_and_counts_them() {
        // R: r <- rank(c(1, 2, 2, 3, 2, 3, 5)); sum(r[1:4]) = 13.5; table(r): sizes 1, 3, 2, 1
        let (x, y) = ([1.0, 2.0, 2.0, 3.0], [2.0, 3.0, 5.0]);
        assert_eq!(rank_sum(&x, 0.0, &y), 1.0 + 3.0 + 3.0 + 5.5);
        assert_eq!(ranks(&x, 0.0, &y).tie_term, (27.0 - 3.0) + (8.0 - 2.0));
    }

    #[test]
    fn counts_ties_within_and_across_samples() {
        // Pooled: 1 1 | 2 2 2 2 | 7 with x = (1, 1, 2, 2), y = (2, 2, 7): groups of 2 and 4.
        let ranks = ranks(&[2.0, 1.0, 2.0, 1.0], 0.0, &[7.0, 2.0, 2.0]);
        assert_eq!(ranks.tie_term, 6.0 + 60.0);
        // x's 2s each tie two y values: U = 0 + ½·4.
        assert_eq!(ranks.u, 2.0);
    }

    #[test]
    fn shifts_x_before_ranking() {
        // x − 10 = (−9, −8) lies below y = (0, 1).
        assert_eq!(rank_sum(&[1.0, 2.0], 10.0, &[0.0, 1.0]), 3.0);
        // x − 1 = (0, 1) ties with y = (0, 1): ranks 1.5 and 3.5.
        assert_eq!(rank_sum(&[1.0, 2.0], 1.0, &[0.0, 1.0]), 5.0);
        assert_eq!(ranks(&[1.0, 2.0], 1.0, &[0.0, 1.0]).tie_term, 12.0);
    }

    #[test]
    fn treats_negative_zero_as_zero() {
        assert_eq!(
            ranks(&[-0.0], 0.0, &[0.0]),
            PooledRanks {
                u: 0.5,
                tie_term: 6.0
            }
        );
    }

    #[test]
    fn handles_empty_samples() {
        assert_eq!(
            ranks(&[], 0.0, &[1.0, 1.0]),
            PooledRanks {
                u: 0.0,
                tie_term: 6.0
            }
        );
        assert_eq!(
            ranks(&[2.0, 2.0], 0.0, &[]),
            PooledRanks {
                u: 0.0,
                tie_term: 6.0
            }
        );
    }

    #[test]
    fn matches_a_direct_count_on_many_ties() {
        // Values 0..5 with many repeats on both sides, at several shifts.
        let x: Vec<f64> = (0..40).map(|i| f64::from(i * 7 % 5)).collect();
        let y: Vec<f64> = (0..30).map(|i| f64::from(i * 3 % 6)).collect();
        for shift in [-2.0, -0.5, 0.0, 1.0, 3.0] {
            let pairs = |f: fn(f64, f64) -> bool| {
                x.iter()
                    .map(|&a| y.iter().filter(|&&b| f(a - shift, b)).count())
                    .sum::<usize>() as f64
            };
            let u = pairs(|a, b| a > b) + 0.5 * pairs(|a, b| a == b);
            let mut pooled: Vec<f64> = x
                .iter()
                .map(|a| a - shift)
                .chain(y.iter().copied())
                .collect();
            pooled.sort_by(f64::total_cmp);
            let tie_term: f64 = pooled
                .chunk_by(|a, b| a == b)
                .map(|group| (group.len() as f64).powi(3) - group.len() as f64)
                .sum();
            assert_eq!(
                ranks(&x, shift, &y),
                PooledRanks { u, tie_term },
                "shift {shift}"
            );
        }
    }
}
