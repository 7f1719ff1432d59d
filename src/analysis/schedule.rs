//! When each interval of an analysis is judged and over which window, as Kayenta's standalone canary analysis
//! schedules it (`SetupAndExecuteCanariesStage`):
//!
//! - the analysis lasts `lifetime` and is judged every `interval` (default: once, at the end), so
//!   `lifetime / interval` judgements (integer division);
//! - judgement `i` (1-based) ends at `start + i·interval`; its window starts at `start` (growing) or, with a
//!   `lookback`, at `end − lookback` (sliding);
//! - a real-time analysis (no end time given) first waits out the `warmup` — its windows are shifted by it —
//!   and judges interval `i` once its end has passed; a retrospective one judges every interval at once.
//!
//! Every time a schedule computes is checked when the schedule is made, so that [`Schedule::window`] cannot
//! overflow (jiff panics on an overflowing `Timestamp ± SignedDuration`): a duration that reaches past the
//! years jiff represents is refused with the field's name.

use jiff::{SignedDuration, Timestamp};

/// Most intervals one analysis may have.
pub const MAX_INTERVALS: i64 = 10_000;

/// The timing of an analysis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schedule {
    pub start: Timestamp,
    pub lifetime: SignedDuration,
    pub interval: SignedDuration,
    pub warmup: SignedDuration,
    /// A sliding window of this length; `None` for a growing window.
    pub lookback: Option<SignedDuration>,
    /// Real time (judged as time passes) rather than retrospective (judged at once).
    pub real_time: bool,
}

/// One interval's window and when it can be judged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// 0-based.
    pub index: u32,
    pub start: Timestamp,
    pub end: Timestamp,
    /// When the window's data is complete: its end for a real-time analysis; the start of a retrospective
    /// one, which is judged at once.
    pub due: Timestamp,
}

impl Schedule {
    /// Checks the timing: positive lifetime and interval (an interval longer than the lifetime is clipped to it,
    /// as Kayenta does), non-negative warm-up, positive lookback, and a bounded number of intervals.
    pub fn new(
        start: Timestamp,
        lifetime: SignedDuration,
        interval: Option<SignedDuration>,
        warmup: SignedDuration,
        lookback: Option<SignedDuration>,
        real_time: bool,
    ) -> Result<Schedule, String> {
        if lifetime <= SignedDuration::ZERO {
            return Err(format!("the lifetime must be positive, got {lifetime:#}"));
        }
        let interval = match interval {
            Some(interval) if interval <= SignedDuration::ZERO => {
                return Err(format!("interval must be positive, got {interval:#}"));
            }
            Some(interval) if interval < lifetime => interval,
            _ => lifetime,
        };
        if warmup < SignedDuration::ZERO {
            return Err(format!("warmup must not be negative, got {warmup:#}"));
        }
        if let Some(lookback) = lookback
            && lookback <= SignedDuration::ZERO
        {
            return Err(format!("lookback must be positive, got {lookback:#}"));
        }
        let schedule = Schedule {
            start,
            lifetime,
            interval,
            warmup,
            lookback,
            real_time,
        };
        let count = lifetime.as_nanos() / interval.as_nanos();
        if count > i128::from(MAX_INTERVALS) {
            return Err(format!(
                "{lifetime:#} every {interval:#} is {count} intervals, more than the {MAX_INTERVALS} an analysis may have"
            ));
        }
        // The latest end and the earliest start of any window must be representable.
        let too_far = |field: &str, duration: SignedDuration| {
            format!(
                "{field}: {duration:#} from {start} reaches past the times this server represents"
            )
        };
        let base = start
            .checked_add(schedule.offset())
            .map_err(|_| too_far("warmup", warmup))?;
        base.checked_add(lifetime)
            .map_err(|_| too_far("lifetime", lifetime))?;
        if let Some(lookback) = lookback {
            base.checked_add(interval)
                .and_then(|end| end.checked_sub(lookback))
                .map_err(|_| too_far("lookback", lookback))?;
        }
        Ok(schedule)
    }

    /// How far the first window starts after `start`: the warm-up, in real time.
    fn offset(&self) -> SignedDuration {
        if self.real_time {
            self.warmup
        } else {
            SignedDuration::ZERO
        }
    }

    /// How many intervals are judged.
    pub fn intervals(&self) -> u32 {
        // Bounded by MAX_INTERVALS in `new`.
        (self.lifetime.as_nanos() / self.interval.as_nanos()) as u32
    }

    /// The window of interval `index` (0-based), or `None` past the times jiff represents — which never
    /// happens for an index below [`Schedule::intervals`], as [`Schedule::new`] checked.
    pub fn try_window(&self, index: u32) -> Option<Window> {
        let base = self.start.checked_add(self.offset()).ok()?;
        let intervals = i64::from(index) + 1;
        let length = SignedDuration::try_from_nanos_i128(
            self.interval
                .as_nanos()
                .checked_mul(i128::from(intervals))?,
        )?;
        let end = base.checked_add(length).ok()?;
        let start = match self.lookback {
            Some(lookback) => end.checked_sub(lookback).ok()?,
            None => base,
        };
        Some(Window {
            index,
            start,
            end,
            due: if self.real_time { end } else { self.start },
        })
    }

    /// The window of interval `index` (0-based). It cannot panic: past the times jiff represents (only for
    /// an index of no interval), its times are clamped to the last one.
    pub fn window(&self, index: u32) -> Window {
        self.try_window(index).unwrap_or(Window {
            index,
            start: Timestamp::MAX,
            end: Timestamp::MAX,
            due: Timestamp::MAX,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    fn minutes(m: i64) -> SignedDuration {
        SignedDuration::from_mins(m)
    }

    #[test]
    fn a_retrospective_analysis_has_growing_windows_judged_at_once() {
        let schedule = Schedule::new(
            t("2026-01-01T10:00:00Z"),
            minutes(60),
            Some(minutes(20)),
            minutes(5),
            None,
            false,
        )
        .unwrap();
        assert_eq!(schedule.intervals(), 3);
        let windows: Vec<_> = (0..3).map(|i| schedule.window(i)).collect();
        assert_eq!(windows[0].start, t("2026-01-01T10:00:00Z"));
        assert_eq!(windows[0].end, t("2026-01-01T10:20:00Z"));
        assert_eq!(windows[2].start, t("2026-01-01T10:00:00Z"));
        assert_eq!(windows[2].end, t("2026-01-01T11:00:00Z"));
        assert!(
            windows.iter().all(|w| w.due == t("2026-01-01T10:00:00Z")),
            "warm-up is ignored looking back"
        );
    }

    #[test]
    fn a_real_time_analysis_waits_out_the_warmup_and_each_interval() {
        let schedule = Schedule::new(
            t("2026-01-01T10:00:00Z"),
            minutes(30),
            Some(minutes(10)),
            minutes(5),
            None,
            true,
        )
        .unwrap();
        let first = schedule.window(0);
        assert_eq!(
            (first.start, first.end, first.due),
            (
                t("2026-01-01T10:05:00Z"),
                t("2026-01-01T10:15:00Z"),
                t("2026-01-01T10:15:00Z")
            )
        );
        assert_eq!(schedule.window(2).end, t("2026-01-01T10:35:00Z"));
        assert_eq!(schedule.window(2).start, t("2026-01-01T10:05:00Z"));
    }

    #[test]
    fn a_lookback_slides_the_window() {
        let schedule = Schedule::new(
            t("2026-01-01T10:00:00Z"),
            minutes(60),
            Some(minutes(15)),
            minutes(0),
            Some(minutes(10)),
            true,
        )
        .unwrap();
        assert_eq!(schedule.window(3).start, t("2026-01-01T10:50:00Z"));
        assert_eq!(schedule.window(3).end, t("2026-01-01T11:00:00Z"));
    }

    #[test]
    fn the_interval_defaults_to_and_is_clipped_to_the_lifetime() {
        let start = t("2026-01-01T10:00:00Z");
        assert_eq!(
            Schedule::new(start, minutes(30), None, minutes(0), None, true)
                .unwrap()
                .intervals(),
            1
        );
        assert_eq!(
            Schedule::new(
                start,
                minutes(30),
                Some(minutes(45)),
                minutes(0),
                None,
                true
            )
            .unwrap()
            .intervals(),
            1
        );
        // Integer division, as Kayenta: 50 minutes every 20 is two judgements.
        assert_eq!(
            Schedule::new(
                start,
                minutes(50),
                Some(minutes(20)),
                minutes(0),
                None,
                true
            )
            .unwrap()
            .intervals(),
            2
        );
    }

    #[test]
    fn bad_timings_are_refused_with_the_reason() {
        let start = t("2026-01-01T10:00:00Z");
        let error = |lifetime, interval, warmup, lookback| {
            Schedule::new(start, lifetime, interval, warmup, lookback, true).unwrap_err()
        };
        assert!(error(minutes(0), None, minutes(0), None).contains("lifetime must be positive"));
        assert!(
            error(minutes(10), Some(minutes(-1)), minutes(0), None)
                .contains("interval must be positive")
        );
        assert!(
            error(minutes(10), None, minutes(-1), None).contains("warmup must not be negative")
        );
        assert!(
            error(minutes(10), None, minutes(0), Some(minutes(0)))
                .contains("lookback must be positive")
        );
        let many = error(
            SignedDuration::from_hours(24 * 30),
            Some(SignedDuration::from_secs(1)),
            minutes(0),
            None,
        );
        assert!(
            many.contains("more than the 10000 an analysis may have"),
            "{many}"
        );
    }

    #[test]
    fn durations_past_the_representable_times_are_refused_and_windows_never_panic() {
        let start = t("2026-01-01T10:00:00Z");
        let hours = |h: i64| SignedDuration::from_hours(h);
        let huge = hours(100_000_000);
        let error = |lifetime, warmup, lookback| {
            Schedule::new(start, lifetime, None, warmup, lookback, true).unwrap_err()
        };
        assert!(error(huge, minutes(0), None).starts_with("lifetime: "));
        assert!(error(minutes(10), huge, None).starts_with("warmup: "));
        assert!(error(minutes(10), minutes(0), Some(hours(200_000_000))).starts_with("lookback: "));
        assert!(error(SignedDuration::MAX, minutes(0), None).starts_with("lifetime: "));
        // A retrospective analysis ignores the warm-up.
        assert!(Schedule::new(start, minutes(10), None, huge, None, false).is_ok());

        let schedule = Schedule::new(
            start,
            minutes(30),
            Some(minutes(10)),
            minutes(0),
            None,
            true,
        )
        .unwrap();
        assert_eq!(
            schedule.try_window(2).unwrap().end,
            t("2026-01-01T10:30:00Z")
        );
        for index in [3, 1 << 20] {
            assert!(schedule.try_window(index).is_some());
        }
        let late = Schedule::new(
            t("9999-12-30T00:00:00Z"),
            minutes(60),
            None,
            minutes(0),
            None,
            true,
        )
        .unwrap();
        assert!(late.try_window(1000).is_none());
        assert!(schedule.try_window(u32::MAX).is_none());
        assert_eq!(schedule.window(u32::MAX).start, Timestamp::MAX);
        assert_eq!(late.window(1000).end, Timestamp::MAX);
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;

    fn seconds() -> impl Strategy<Value = SignedDuration> {
        prop_oneof![
            (-1_000_000i64..100_000_000).prop_map(SignedDuration::from_secs),
            any::<i64>().prop_map(SignedDuration::from_secs),
            Just(SignedDuration::MAX),
            Just(SignedDuration::MIN),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2048))]

        #[test]
        fn every_window_of_an_accepted_schedule_exists_and_nothing_panics(
            start in -377_705_023_201i64..=253_402_207_200,
            lifetime in seconds(),
            interval in prop::option::of(seconds()),
            warmup in seconds(),
            lookback in prop::option::of(seconds()),
            real_time in any::<bool>(),
        ) {
            let start = Timestamp::from_second(start).unwrap();
            let Ok(schedule) = Schedule::new(start, lifetime, interval, warmup, lookback, real_time) else {
                return Ok(());
            };
            let intervals = schedule.intervals();
            prop_assert!(intervals >= 1 && i64::from(intervals) <= MAX_INTERVALS);
            for index in [0, intervals / 2, intervals - 1] {
                let window = schedule.try_window(index);
                prop_assert!(window.is_some(), "window {index} of {schedule:?}");
                let window = window.unwrap();
                prop_assert!(window.start < window.end || schedule.lookback.is_some());
            }
            // Past the last interval, a window may not exist, but asking never panics.
            let _ = schedule.window(u32::MAX);
        }
    }
}
