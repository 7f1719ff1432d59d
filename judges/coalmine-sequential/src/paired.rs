//! The time-paired values a sequential test reads: the control's and the experiment's values of the same step,
//! paired by position as the series are given (the `i`-th value of each side), in time order.
//!
//! Kayenta's preprocessing, applied to pairs: with `nanStrategy: remove` a step where either side is NaN is
//! left out; with `replace` a NaN is 0. With `outliers.strategy: remove` a step where either side's value is
//! outside that side's Kayenta fences ([`preprocess::Fences`]) is left out. The fences are computed over the
//! whole window at every look, so with outlier removal the guarantee over looks is approximate (the default,
//! `keep`, leaves it exact). When the sides hold different numbers of values, the steps beyond the shorter
//! side are not paired.

use coalmine_judge_sdk::preprocess::{self, Fences};
use coalmine_judge_sdk::stats::Sorted;
use coalmine_judge_sdk::{MetricConfig, MetricPair, OutlierStrategy};

/// The pairs `(control, experiment)` of `pair`'s steps that both sides report, in time order.
pub fn paired(pair: &MetricPair, metric: &MetricConfig) -> Vec<(f64, f64)> {
    let side = |values: &[f64]| {
        let mut values = values.to_vec();
        // Replace turns NaN into 0; remove keeps the NaNs here, so that positions still pair.
        if metric.nan_strategy == coalmine_judge_sdk::NanStrategy::Replace {
            preprocess::apply_nan_strategy(&mut values, metric.nan_strategy);
        }
        let fences = (metric.outliers.strategy == OutlierStrategy::Remove)
            .then(|| {
                let mut present: Vec<f64> =
                    values.iter().copied().filter(|v| !v.is_nan()).collect();
                Fences::iqr(Sorted::new(&mut present), metric.outliers.factor)
            })
            .flatten();
        (values, fences)
    };
    let (control, control_fences) = side(&pair.control.values);
    let (experiment, experiment_fences) = side(&pair.experiment.values);
    let kept = |value: f64, fences: Option<Fences>| {
        !value.is_nan() && fences.is_none_or(|fences| !fences.is_outlier(value))
    };
    control
        .into_iter()
        .zip(experiment)
        .filter(|&(x, y)| kept(x, control_fences) && kept(y, experiment_fences))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use coalmine_judge_sdk::{NanStrategy, Series};

    fn pair(control: &[f64], experiment: &[f64]) -> MetricPair {
        let series = |values: &[f64]| Series {
            values: values.to_vec(),
            start_millis: 0,
            step_millis: 60_000,
        };
        MetricPair {
            id: "p".into(),
            metric: "m".into(),
            tags: Vec::new(),
            control: series(control),
            experiment: series(experiment),
        }
    }

    #[test]
    fn steps_pair_by_position_and_nans_drop_or_become_zero() {
        let nan = f64::NAN;
        let data = pair(&[1.0, nan, 3.0, 4.0], &[5.0, 6.0, nan]);
        let mut metric = MetricConfig::with_defaults("m");
        assert_eq!(paired(&data, &metric), [(1.0, 5.0)]);
        metric.nan_strategy = NanStrategy::Replace;
        assert_eq!(paired(&data, &metric), [(1.0, 5.0), (0.0, 6.0), (3.0, 0.0)]);
    }

    #[test]
    fn an_outlier_on_either_side_drops_its_step() {
        let control: Vec<f64> = (0..20).map(f64::from).collect();
        let mut experiment = control.clone();
        experiment[7] = 1000.0;
        let mut metric = MetricConfig::with_defaults("m");
        assert_eq!(paired(&pair(&control, &experiment), &metric).len(), 20);
        metric.outliers.strategy = OutlierStrategy::Remove;
        let kept = paired(&pair(&control, &experiment), &metric);
        assert_eq!(kept.len(), 19);
        assert!(kept.iter().all(|&(x, _)| x != 7.0));
    }
}
