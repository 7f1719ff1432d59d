//! Descriptive statistics, computed the way Kayenta's judge computes them (Apache Commons Math
//! `StatUtils`), and [`Sorted`], a sample sorted in place for order statistics and ranking.
//!
//! The functions expect NaN-free values (apply a NaN strategy first, see
//! [`preprocess`](crate::preprocess)).

use crate::SummaryStats;

/// Summary statistics of `values`: count, min, max, [`mean`] and the sample standard deviation
/// (n − 1), which is 0 for a single value. An empty slice gives all zeros, as in Kayenta.
pub fn summary(values: &[f64]) -> SummaryStats {
    if values.is_empty() {
        return SummaryStats {
            count: 0,
            min: 0.0,
            max: 0.0,
            mean: 0.0,
            std: 0.0,
        };
    }
    let (min, max) = values
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(min, max), &v| {
            (min.min(v), max.max(v))
        });
    let mean = mean(values);
    SummaryStats {
        count: values.len() as u64,
        min,
        max,
        mean,
        std: variance(values, mean).sqrt(),
    }
}

/// The arithmetic mean of `values`, or NaN when there are none.
///
/// Like Commons Math's `Mean`, it adds a second-pass correction to `sum / n`, which makes it
/// exact to the last bit more often than the plain quotient.
pub fn mean(values: &[f64]) -> f64 {
    let n = values.len() as f64;
    let first = values.iter().sum::<f64>() / n;
    let correction = values.iter().map(|v| v - first).sum::<f64>();
    first + correction / n
}

/// The bias-corrected (n − 1) variance around `mean`, by Commons Math's corrected two-pass
/// algorithm; 0 for fewer than two values. Rounding cannot make it negative.
fn variance(values: &[f64], mean: f64) -> f64 {
    if values.len() < 2 {
        return 0.0;
    }
    let (squares, deviations) = values.iter().fold((0.0, 0.0), |(squares, deviations), v| {
        let deviation = v - mean;
        (squares + deviation * deviation, deviations + deviation)
    });
    let n = values.len() as f64;
    ((squares - deviations * deviations / n) / (n - 1.0)).max(0.0)
}

/// A sample sorted ascending: a read-only view of a slice that [`Sorted::new`] sorted in place.
///
/// The type guarantees the order that percentiles and merge-based ranking rely on, without a copy.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sorted<'a>(&'a [f64]);

impl<'a> Sorted<'a> {
    /// Sorts `values` ascending in place (by [`f64::total_cmp`], so −0.0 before 0.0 and NaN
    /// last) and views them.
    pub fn new(values: &'a mut [f64]) -> Self {
        values.sort_unstable_by(f64::total_cmp);
        Self(values)
    }

    /// The values, ascending.
    pub fn values(self) -> &'a [f64] {
        self.0
    }

    /// The number of values.
    pub fn len(self) -> usize {
        self.0.len()
    }

    /// Whether there are no values.
    pub fn is_empty(self) -> bool {
        self.0.is_empty()
    }

    /// The smallest value, if any.
    pub fn min(self) -> Option<f64> {
        self.0.first().copied()
    }

    /// The largest value, if any.
    pub fn max(self) -> Option<f64> {
        self.0.last().copied()
    }

    /// Whether the sample is non-empty and all its values are equal.
    pub fn is_constant(self) -> bool {
        matches!((self.min(), self.max()), (Some(min), Some(max)) if min == max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_of_empty_values_is_all_zeros() {
        let stats = summary(&[]);
        assert_eq!(
            stats,
            SummaryStats {
                count: 0,
                min: 0.0,
                max: 0.0,
                mean: 0.0,
                std: 0.0
            }
        );
    }

    #[test]
    fn summary_of_one_value_has_zero_std() {
        let stats = summary(&[4.5]);
        assert_eq!(
            stats,
            SummaryStats {
                count: 1,
                min: 4.5,
                max: 4.5,
                mean: 4.5,
                std: 0.0
            }
        );
    }

    #[test]
    fn summary_uses_the_sample_standard_deviation() {
        // R: sd(c(2, 4, 4, 4, 5, 5, 7, 9)) = 2.1380899352993952
        let stats = summary(&[2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]);
        assert_eq!(stats.count, 8);
        assert_eq!((stats.min, stats.max, stats.mean), (2.0, 9.0, 5.0));
        assert!((stats.std - 2.138_089_935_299_395).abs() < 1e-15);
    }

    #[test]
    fn summary_of_a_constant_sample_has_zero_std() {
        let stats = summary(&[0.1; 7]);
        assert_eq!((stats.mean, stats.std), (0.1, 0.0));
    }

    #[test]
    fn mean_corrects_the_rounding_of_the_plain_quotient() {
        // The plain sum of three 0.1s is 0.30000000000000004; the corrected mean is exactly 0.1.
        assert_eq!(mean(&[0.1, 0.1, 0.1]), 0.1);
        assert_eq!(mean(&[-3.0, 1.0, 5.0]), 1.0);
        assert!(mean(&[]).is_nan());
    }

    #[test]
    fn sorted_sorts_in_place_and_answers_order_questions() {
        let mut values = [3.0, -1.0, 2.0, -1.0];
        let sorted = Sorted::new(&mut values);
        assert_eq!(sorted.values(), &[-1.0, -1.0, 2.0, 3.0]);
        assert_eq!(
            (sorted.min(), sorted.max(), sorted.len()),
            (Some(-1.0), Some(3.0), 4)
        );
        assert!(!sorted.is_constant() && !sorted.is_empty());

        let mut constant = [7.0, 7.0];
        assert!(Sorted::new(&mut constant).is_constant());
        let empty = Sorted::new(&mut []);
        assert!(empty.is_empty() && !empty.is_constant() && empty.min().is_none());
    }
}
