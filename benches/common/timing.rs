//! Timing shared by the benchmarks.

use std::time::{Duration, Instant};

/// Median wall time of `f` over `runs` runs, after `warmup` untimed runs.
pub fn median(warmup: usize, runs: usize, mut f: impl FnMut()) -> Duration {
    for _ in 0..warmup {
        f();
    }
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed()
        })
        .collect();
    times.sort();
    times[runs / 2]
}
