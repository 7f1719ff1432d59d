//! Effect sizes that gate a significant difference (Kayenta's `EffectSizes`, reference §7.5).

use coalmine_judge_sdk::stats::Sorted;

use super::rank::pooled_ranks;

/// `experiment_mean / control_mean`, or NaN when either mean is 0 (a ratio to or of nothing says
/// nothing; a NaN effect size lets a significant difference fail, as in Kayenta).
pub fn mean_ratio(control_mean: f64, experiment_mean: f64) -> f64 {
    if control_mean == 0.0 || experiment_mean == 0.0 {
        f64::NAN
    } else {
        experiment_mean / control_mean
    }
}

/// The common-language effect size, `P(experiment > control) + P(tie) / 2`.
///
/// Kayenta computes `(2·R1 − m(m+1)) / (2·n·m)` with `R1` the experiment's rank sum in the pooled
/// ranking, `m = |experiment|` and `n = |control|`; as `R1 = U + m(m+1)/2`, that is `U / (n·m)`
/// with the Mann-Whitney `U` of the experiment, to the last bit. In `f64` it cannot overflow as
/// Kayenta's 32-bit integers do on large samples. Both samples must be non-empty and finite.
pub fn cles(experiment: Sorted<'_>, control: Sorted<'_>) -> f64 {
    let m = experiment.len() as f64;
    let n = control.len() as f64;
    pooled_ranks(experiment, 0.0, control).u / (n * m)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cles_of(experiment: &[f64], control: &[f64]) -> f64 {
        let (mut experiment, mut control) = (experiment.to_vec(), control.to_vec());
        cles(Sorted::new(&mut experiment), Sorted::new(&mut control))
    }

    #[test]
    fn mean_ratio_is_nan_when_either_mean_is_zero() {
        assert_eq!(mean_ratio(2.0, 3.0), 1.5);
        assert_eq!(mean_ratio(-2.0, 1.0), -0.5);
        assert!(mean_ratio(0.0, 3.0).is_nan());
        assert!(mean_ratio(2.0, 0.0).is_nan());
    }

    #[test]
    fn cles_is_the_probability_of_exceeding_with_half_ties() {
        assert_eq!(cles_of(&[5.0, 6.0], &[1.0, 2.0, 3.0]), 1.0);
        assert_eq!(cles_of(&[1.0, 2.0], &[5.0, 6.0, 7.0]), 0.0);
        // Pairs (e, c): (1,1) tie, (1,3) less, (3,1) more, (3,3) tie: (1 + 2·½) / 4.
        assert_eq!(cles_of(&[1.0, 3.0], &[1.0, 3.0]), 0.5);
        // 2 > 1 and 2 = 2: (1 + ½) / 2.
        assert_eq!(cles_of(&[2.0], &[1.0, 2.0]), 0.75);
    }

    #[test]
    fn cles_does_not_overflow_on_large_samples() {
        // 2·n·m = 2·10⁵·10⁵ overflows 32-bit integers many times over.
        let experiment: Vec<f64> = (0..100_000).map(|i| f64::from(i) + 0.5).collect();
        let control: Vec<f64> = (0..100_000).map(f64::from).collect();
        let expected = 0.5 + 0.5 / 100_000.0;
        assert!((cles_of(&experiment, &control) - expected).abs() < 1e-12);
    }
}
