//! The clocks a judge reads: deterministic, so that the same request always gets the same judgement.
//!
//! - The wall clock (`wasi:clocks/wall-clock`) stands still at the instant being judged: the end of the
//!   interval an analysis judges, or, for a request that names no interval ([`Judge::judge`]), the latest end
//!   of the experiment series of its pairs ([`judged_at`]), or the Unix epoch when no series says when it was
//!   recorded.
//! - The monotonic clock (`wasi:clocks/monotonic-clock`) reads 0 first and advances by exactly
//!   [`MONOTONIC_STEP_NANOS`] on every read: a judge that measures how long something took gets a small,
//!   repeatable number, and a loop that waits for the clock to move ends.
//!
//! Sleeping (`subscribe-duration`) still takes real time and only burns the call's deadline.
//!
//! [`Judge::judge`]: super::Judge::judge

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use wasmtime_wasi::{HostMonotonicClock, HostWallClock};

use super::bindings::coalmine::judge::types::JudgeRequest;

/// Nanoseconds the monotonic clock advances on every read.
pub const MONOTONIC_STEP_NANOS: u64 = 1_000;

/// The instant a request that names no interval is judged at: the latest end (`start-millis` +
/// `step-millis` × number of values) of the experiment series of its pairs, or the Unix epoch when no series
/// has a start time.
pub fn judged_at(request: &JudgeRequest) -> SystemTime {
    let end_millis = request
        .pairs
        .iter()
        .filter(|pair| pair.experiment.start_millis > 0)
        .map(|pair| {
            let series = &pair.experiment;
            i128::from(series.start_millis)
                + i128::from(series.step_millis) * series.values.len() as i128
        })
        .max()
        .unwrap_or(0);
    let millis = u64::try_from(end_millis.max(0)).unwrap_or(u64::MAX);
    UNIX_EPOCH
        .checked_add(Duration::from_millis(millis))
        .unwrap_or(UNIX_EPOCH)
}

/// A wall clock that always reads the same instant (the epoch for instants before it).
pub(super) struct FixedWallClock(Duration);

impl FixedWallClock {
    pub(super) fn at(instant: SystemTime) -> Self {
        FixedWallClock(instant.duration_since(UNIX_EPOCH).unwrap_or_default())
    }
}

impl HostWallClock for FixedWallClock {
    fn resolution(&self) -> Duration {
        Duration::from_millis(1)
    }

    fn now(&self) -> Duration {
        self.0
    }
}

/// A monotonic clock that reads 0, then advances by [`MONOTONIC_STEP_NANOS`] on every read.
#[derive(Default)]
pub(super) struct SteppingMonotonicClock(AtomicU64);

impl HostMonotonicClock for SteppingMonotonicClock {
    fn resolution(&self) -> u64 {
        MONOTONIC_STEP_NANOS
    }

    fn now(&self) -> u64 {
        self.0.fetch_add(MONOTONIC_STEP_NANOS, Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::judge_host::{MetricPair, ScoreThresholds, Series};

    fn request(series: &[(i64, i64, usize)]) -> JudgeRequest {
        JudgeRequest {
            metrics: Vec::new(),
            pairs: series
                .iter()
                .enumerate()
                .map(|(index, &(start_millis, step_millis, len))| MetricPair {
                    id: index.to_string(),
                    metric: "m".to_string(),
                    tags: Vec::new(),
                    control: Series {
                        values: Vec::new(),
                        start_millis: 0,
                        step_millis: 0,
                    },
                    experiment: Series {
                        values: vec![1.0; len],
                        start_millis,
                        step_millis,
                    },
                })
                .collect(),
            group_weights: Vec::new(),
            thresholds: ScoreThresholds {
                pass: 95.0,
                marginal: 75.0,
            },
            judge_configuration: "{}".to_string(),
        }
    }

    fn millis(instant: SystemTime) -> u128 {
        instant.duration_since(UNIX_EPOCH).unwrap().as_millis()
    }

    #[test]
    fn a_request_is_judged_at_the_latest_end_of_its_experiment_series() {
        // 2026-01-01T00:00:00Z plus 60 one-minute steps, and a series ending earlier.
        let start = 1_767_225_600_000;
        let request = request(&[(start, 60_000, 60), (start, 60_000, 10)]);
        assert_eq!(millis(judged_at(&request)), 1_767_229_200_000);
    }

    #[test]
    fn a_request_without_times_is_judged_at_the_epoch() {
        assert_eq!(judged_at(&request(&[])), UNIX_EPOCH);
        assert_eq!(judged_at(&request(&[(0, 60_000, 60)])), UNIX_EPOCH);
        assert_eq!(judged_at(&request(&[(-5_000, 1_000, 2)])), UNIX_EPOCH);
    }

    #[test]
    fn the_monotonic_clock_starts_at_zero_and_steps() {
        let clock = SteppingMonotonicClock::default();
        assert_eq!([clock.now(), clock.now(), clock.now()], [0, 1_000, 2_000]);
        let wall = FixedWallClock::at(UNIX_EPOCH + Duration::from_secs(7));
        assert_eq!([wall.now(), wall.now()], [Duration::from_secs(7); 2]);
    }
}
