//! Kayenta's preprocessing of one side of a metric pair: the NaN strategy, then outlier removal.
//!
//! - [`NanStrategy::Remove`] drops NaN values; [`NanStrategy::Replace`] turns them into 0.0.
//! - Outlier removal is Kayenta's `IQRDetector(factor, reduceSensitivity = true)`: with the
//!   quartiles Q1 and Q3 and the 1st and 99th percentiles p01 and p99 (all [`percentile_r7`]),
//!   the fences are `lower = min(p01, Q1 − factor·IQR)` and `upper = max(p99, Q3 + factor·IQR)`,
//!   and a value is an outlier when it is strictly below `lower` or strictly above `upper`. As a
//!   result at most about the extreme 1 % on each side is ever removed.
//!
//! Both steps keep the remaining values in their original (time) order.

use crate::stats::Sorted;
use crate::{MetricConfig, NanStrategy, OutlierStrategy};

/// Applies `metric`'s NaN strategy and then, when its outlier strategy is
/// [`OutlierStrategy::Remove`], removes outliers with its factor: Kayenta's
/// `outliers(NaNs(values))`.
pub fn preprocess(values: &[f64], metric: &MetricConfig) -> Vec<f64> {
    let mut values = values.to_vec();
    apply_nan_strategy(&mut values, metric.nan_strategy);
    if metric.outliers.strategy == OutlierStrategy::Remove {
        remove_outliers(&mut values, metric.outliers.factor);
    }
    values
}

/// Drops NaN values ([`NanStrategy::Remove`]) or replaces them with 0.0
/// ([`NanStrategy::Replace`]).
pub fn apply_nan_strategy(values: &mut Vec<f64>, strategy: NanStrategy) {
    match strategy {
        NanStrategy::Remove => values.retain(|v| !v.is_nan()),
        NanStrategy::Replace => {
            for value in values.iter_mut().filter(|v| v.is_nan()) {
                *value = 0.0;
            }
        }
    }
}

/// The outlier fences of a sample: values strictly outside `[lower, upper]` are outliers.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Fences {
    /// `min(p01, Q1 − factor·IQR)`.
    pub lower: f64,
    /// `max(p99, Q3 + factor·IQR)`.
    pub upper: f64,
}

impl Fences {
    /// Kayenta's IQR fences (`reduceSensitivity = true`) of a NaN-free sample, or `None` when it
    /// is empty. `factor` is the outlier factor (Kayenta's default is 3.0; it must be > 0).
    pub fn iqr(sorted: Sorted<'_>, factor: f64) -> Option<Self> {
        if sorted.is_empty() {
            return None;
        }
        let q1 = percentile_r7(sorted, 0.25);
        let q3 = percentile_r7(sorted, 0.75);
        let iqr = q3 - q1;
        Some(Self {
            lower: percentile_r7(sorted, 0.01).min(q1 - factor * iqr),
            upper: percentile_r7(sorted, 0.99).max(q3 + factor * iqr),
        })
    }

    /// Whether `value` lies strictly outside the fences.
    pub fn is_outlier(&self, value: f64) -> bool {
        value < self.lower || value > self.upper
    }
}

/// Removes the values outside Kayenta's IQR [`Fences`] with `factor`, keeping the order of the
/// others. An empty sample is left unchanged. `values` must be NaN-free.
pub fn remove_outliers(values: &mut Vec<f64>, factor: f64) {
    let mut sorted = values.clone();
    if let Some(fences) = Fences::iqr(Sorted::new(&mut sorted), factor) {
        values.retain(|&v| !fences.is_outlier(v));
    }
}

/// The `p`-quantile (`0 ≤ p ≤ 1`) of a sorted sample by definition 7 of Hyndman and Fan: R's
/// `quantile(type = 7)`, numpy's default `linear`, Commons Math's `Percentile` with
/// `EstimationType.R_7` (whose arithmetic this follows: `lower + frac·(upper − lower)`, where R
/// computes `(1 − frac)·lower + frac·upper`, which can differ in the last bit). NaN when empty.
pub fn percentile_r7(sorted: Sorted<'_>, p: f64) -> f64 {
    let values = sorted.values();
    let n = values.len();
    match n {
        0 => f64::NAN,
        _ if p <= 0.0 => values[0],
        _ if p >= 1.0 => values[n - 1],
        _ => {
            let position = 1.0 + (n - 1) as f64 * p;
            let floor = position.floor();
            // 1 <= position < n here, so both neighbours exist.
            let lower = values[floor as usize - 1];
            let upper = values[(floor as usize).min(n - 1)];
            lower + (position - floor) * (upper - lower)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn percentile(values: &[f64], p: f64) -> f64 {
        let mut values = values.to_vec();
        percentile_r7(Sorted::new(&mut values), p)
    }

    fn assert_close(actual: f64, expected: f64) {
        let tolerance = 1e-13 * expected.abs().max(1.0);
        assert!(
            (actual - expected).abs() <= tolerance,
            "{actual} != {expected}"
        );
    }

    const SAMPLE: [f64; 11] = [3.1, -2.0, 7.5, 0.0, 10.0, 4.4, 4.4, 1000.0, -50.0, 2.2, 8.0];

    #[test]
    fn percentiles_match_r_quantile_type_7() {
        // R: quantile(c(3.1, -2, 7.5, 0, 10, 4.4, 4.4, 1000, -50, 2.2, 8),
        //              c(0, 0.01, 0.25, 0.5, 0.75, 0.99, 1), type = 7)
        let expected = [
            (0.0, -50.0),
            (0.01, -45.199_999_999_999_996),
            (0.25, 1.1),
            (0.5, 4.4),
            (0.75, 7.75),
            (0.99, 901.000_000_000_000_3),
            (1.0, 1000.0),
        ];
        for (p, r) in expected {
            assert_close(percentile(&SAMPLE, p), r);
        }
    }

    #[test]
    fn percentiles_of_tiny_samples_match_r() {
        // R: quantile(c(5), c(0.01, 0.5, 0.99)); quantile(c(2, 1), c(0.01, 0.25, 0.99))
        for p in [0.01, 0.5, 0.99] {
            assert_eq!(percentile(&[5.0], p), 5.0);
        }
        assert_close(percentile(&[2.0, 1.0], 0.01), 1.01);
        assert_close(percentile(&[2.0, 1.0], 0.25), 1.25);
        assert_close(percentile(&[2.0, 1.0], 0.99), 1.99);
        assert!(percentile(&[], 0.5).is_nan());
    }

    #[test]
    fn percentiles_of_a_long_skewed_sample_match_r() {
        // R: x <- (1:1000)^2 / 7; quantile(x, c(0.01, 0.25, 0.75, 0.99), type = 7)
        let values: Vec<f64> = (1..=1000).rev().map(|i| f64::from(i * i) / 7.0).collect();
        let expected = [
            (0.01, 17.255_714_285_714_284),
            (0.25, 8982.25),
            (0.75, 80410.75),
            (0.99, 140_017.115_714_285_7),
        ];
        for (p, r) in expected {
            assert_close(percentile(&values, p), r);
        }
    }

    #[test]
    fn fences_widen_to_the_1st_and_99th_percentiles() {
        let mut values = SAMPLE.to_vec();
        let fences = Fences::iqr(Sorted::new(&mut values), 3.0).unwrap();
        // Q1 − 3·IQR = 1.1 − 3·6.65 = −18.85 > p01 = −45.2; Q3 + 3·IQR = 27.7 < p99 = 901.
        assert_close(fences.lower, -45.2);
        assert_close(fences.upper, 901.000_000_000_000_3);

        let mut values = SAMPLE.to_vec();
        let fences = Fences::iqr(Sorted::new(&mut values), 1000.0).unwrap();
        assert_close(fences.lower, 1.1 - 1000.0 * 6.65);
        assert_close(fences.upper, 7.75 + 1000.0 * 6.65);
        assert!(Fences::iqr(Sorted::new(&mut []), 3.0).is_none());
    }

    #[test]
    fn remove_outliers_drops_values_strictly_outside_the_fences() {
        let mut values = SAMPLE.to_vec();
        remove_outliers(&mut values, 3.0);
        assert_eq!(values, [3.1, -2.0, 7.5, 0.0, 10.0, 4.4, 4.4, 2.2, 8.0]);
    }

    #[test]
    fn values_on_the_fences_are_kept() {
        // Q1 = 1, Q3 = 3, IQR = 2: the IQR fences are −5 and 9, and p01/p99 lie inside them.
        let mut values = vec![9.0, 1.0, -5.0, 3.0, 2.0];
        remove_outliers(&mut values, 3.0);
        assert_eq!(values, [9.0, 1.0, -5.0, 3.0, 2.0]);

        // Just beyond, the extremes go (p01 = −5.24 and p99 = 9.24 now set the fences).
        let mut values = vec![9.5, 1.0, -5.5, 3.0, 2.0];
        remove_outliers(&mut values, 3.0);
        assert_eq!(values, [1.0, 3.0, 2.0]);
    }

    #[test]
    fn remove_outliers_leaves_empty_and_constant_samples_alone() {
        let mut empty = Vec::new();
        remove_outliers(&mut empty, 3.0);
        assert!(empty.is_empty());
        let mut constant = vec![2.0; 5];
        remove_outliers(&mut constant, 3.0);
        assert_eq!(constant, [2.0; 5]);
    }

    #[test]
    fn nan_strategy_remove_drops_nans() {
        let mut values = vec![f64::NAN, 1.0, f64::NAN, 2.0];
        apply_nan_strategy(&mut values, NanStrategy::Remove);
        assert_eq!(values, [1.0, 2.0]);
    }

    #[test]
    fn nan_strategy_replace_turns_nans_into_zero() {
        let mut values = vec![f64::NAN, 1.0, f64::NAN, 2.0];
        apply_nan_strategy(&mut values, NanStrategy::Replace);
        assert_eq!(values, [0.0, 1.0, 0.0, 2.0]);
    }

    fn metric(nan_strategy: NanStrategy, outliers: OutlierStrategy) -> MetricConfig {
        let mut metric = MetricConfig {
            nan_strategy,
            ..MetricConfig::with_defaults("m")
        };
        metric.outliers.strategy = outliers;
        metric
    }

    #[test]
    fn preprocess_applies_the_nan_strategy_before_outlier_removal() {
        let mut raw = SAMPLE.to_vec();
        raw.insert(3, f64::NAN);
        let kept = preprocess(&raw, &metric(NanStrategy::Remove, OutlierStrategy::Keep));
        assert_eq!(kept, SAMPLE);

        let cleaned = preprocess(&raw, &metric(NanStrategy::Remove, OutlierStrategy::Remove));
        assert_eq!(cleaned, [3.1, -2.0, 7.5, 0.0, 10.0, 4.4, 4.4, 2.2, 8.0]);

        // The replaced 0.0 takes part in the fences (and survives them).
        let replaced = preprocess(&raw, &metric(NanStrategy::Replace, OutlierStrategy::Remove));
        assert_eq!(
            replaced,
            [3.1, -2.0, 7.5, 0.0, 0.0, 10.0, 4.4, 4.4, 2.2, 8.0]
        );
    }
}
