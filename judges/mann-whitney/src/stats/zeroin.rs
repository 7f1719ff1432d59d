//! Brent's root finder, ported statement for statement from R's `R_zeroin2`
//! (`src/library/stats/src/zeroin.c`), which `uniroot` calls and Kayenta's `BrentSolver` ports.
//!
//! Faithfulness matters more than elegance here: the Mann-Whitney statistic is a step function of
//! the shift, so the root found depends on the exact sequence of iterates, and reproducing R's
//! confidence intervals to the last bits means reproducing its arithmetic.

/// Finds a root of `f` in `[a, b]` to within `tolerance`, given `fa = f(a)` and `fb = f(b)` of
/// opposite signs (or one of them zero), in at most `max_iterations + 1` steps.
///
/// Returns `a` or `b` at once when `fa` or `fb` is zero. Like R (and Kayenta), it returns the
/// last approximation, without error, when the iterations run out. An error of `f` is passed on.
pub fn zeroin<E>(
    mut f: impl FnMut(f64) -> Result<f64, E>,
    a: f64,
    b: f64,
    fa: f64,
    fb: f64,
    tolerance: f64,
    max_iterations: u32,
) -> Result<f64, E> {
    let (mut a, mut b, mut fa, mut fb) = (a, b, fa, fb);
    let (mut c, mut fc) = (a, fa);

    // A root at an endpoint.
    if fa == 0.0 {
        return Ok(a);
    }
    if fb == 0.0 {
        return Ok(b);
    }

    for _ in 0..=max_iterations {
        // The distance from the last but one to the last approximation.
        let prev_step = b - a;

        if fc.abs() < fb.abs() {
            // Swap so that b is the best approximation.
            a = b;
            b = c;
            c = a;
            fa = fb;
            fb = fc;
            fc = fa;
        }
        let tol_act = 2.0 * f64::EPSILON * b.abs() + tolerance / 2.0;
        let mut new_step = (c - b) / 2.0;

        if new_step.abs() <= tol_act || fb == 0.0 {
            // An acceptable approximation.
            return Ok(b);
        }

        // Try interpolation if the previous step was large enough and in the right direction.
        if prev_step.abs() >= tol_act && fa.abs() > fb.abs() {
            let cb = c - b;
            // The step is p / q; the division is delayed until the last moment.
            let (mut p, mut q);
            if a == c {
                // Only two distinct points: linear interpolation.
                let t1 = fb / fa;
                p = cb * t1;
                q = 1.0 - t1;
            } else {
                // Inverse quadratic interpolation.
                q = fa / fc;
                let t1 = fb / fc;
                let t2 = fb / fa;
                p = t2 * (cb * q * (q - t1) - (b - a) * (t1 - 1.0));
                q = (q - 1.0) * (t1 - 1.0) * (t2 - 1.0);
            }
            // Make p positive, moving its sign to q.
            if p > 0.0 {
                q = -q;
            } else {
                p = -p;
            }

            // Accept the interpolation if b + p/q falls in [b, c] and is not too large; otherwise
            // bisection reduces [b, c] more.
            if p < 0.75 * cb * q - (tol_act * q).abs() / 2.0 && p < (prev_step * q / 2.0).abs() {
                new_step = p / q;
            }
        }

        // Step at least the tolerance.
        if new_step.abs() < tol_act {
            new_step = if new_step > 0.0 { tol_act } else { -tol_act };
        }

        // Save the previous approximation and step to a new one.
        a = b;
        fa = fb;
        b += new_step;
        fb = f(b)?;
        if (fb > 0.0 && fc > 0.0) || (fb < 0.0 && fc < 0.0) {
            // Keep c on the other side of the root from b.
            c = a;
            fc = fa;
        }
    }
    // Out of iterations: R warns, Kayenta does not; both return the last approximation.
    Ok(b)
}

#[cfg(test)]
mod tests {
    use super::zeroin;
    use core::convert::Infallible;

    fn solve(f: impl Fn(f64) -> f64, a: f64, b: f64, tolerance: f64) -> f64 {
        let result: Result<f64, Infallible> =
            zeroin(|x| Ok(f(x)), a, b, f(a), f(b), tolerance, 1000);
        result.unwrap()
    }

    #[test]
    fn finds_roots_of_smooth_functions() {
        let root = solve(|x| x * x - 2.0, 0.0, 2.0, 1e-12);
        assert!((root - 2_f64.sqrt()).abs() < 1e-12);
        let root = solve(|x| x.cos() - x, 0.0, 1.0, 1e-10);
        assert!((root - 0.739_085_133_215_160_6).abs() < 1e-10);
    }

    #[test]
    fn matches_r_uniroot_to_the_last_bit() {
        // R: uniroot(function(x) x^3 - x - 1, c(1, 2), tol = 1e-4)$root
        assert_eq!(
            solve(|x| x * x * x - x - 1.0, 1.0, 2.0, 1e-4),
            1.324_717_825_128_768_3
        );
        // R: uniroot(function(x) exp(x) - 5, c(0, 3), tol = 1e-4)$root
        assert_eq!(
            solve(|x| x.exp() - 5.0, 0.0, 3.0, 1e-4),
            1.609_437_443_086_770_4
        );
    }

    #[test]
    fn returns_an_endpoint_that_is_a_root_at_once() {
        let mut calls = 0;
        let mut f = |x: f64| -> Result<f64, Infallible> {
            calls += 1;
            Ok(x)
        };
        assert_eq!(zeroin(&mut f, 0.0, 1.0, 0.0, 1.0, 1e-4, 1000), Ok(0.0));
        assert_eq!(zeroin(&mut f, -1.0, 0.0, -1.0, 0.0, 1e-4, 1000), Ok(0.0));
        assert_eq!(calls, 0);
    }

    #[test]
    fn returns_the_last_approximation_when_out_of_iterations() {
        let root: Result<f64, Infallible> = zeroin(|x| Ok(x - 0.3), 0.0, 1.0, -0.3, 0.7, 1e-300, 0);
        // One step (bisection or secant) from b = 1.
        let root = root.unwrap();
        assert!(root > 0.0 && root < 1.0);
    }

    #[test]
    fn passes_errors_of_the_function_on() {
        let result = zeroin(|_| Err("no"), 0.0, 1.0, -1.0, 1.0, 1e-4, 1000);
        assert_eq!(result, Err("no"));
    }
}
