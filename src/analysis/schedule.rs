//! When each interval of an analysis is judged and over which window, as Kayenta's standalone canary analysis
//! schedules it (`SetupAndExecuteCanariesStage`):
//!
//! - the analysis lasts `lifetime` and is judged every `interval` (default: once, at the end), so
//!   `lifetime / interval` judgements (integer division);
//! - judgement `i` (1-based) ends at `start + i·interval`; its window starts at `start` (growing) or, with a
//!   `lookback`, at `end − lookback` (sliding);
//! - a real-time analysis (no end time given) first waits out the `warmup` — its windows are shifted by it —
//!   and judges interval `i` once its end has passed; a retrospective one judges every interval at once.

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
        Ok(schedule)
    }

    /// How many intervals are judged.
    pub fn intervals(&self) -> u32 {
        // Bounded by MAX_INTERVALS in `new`.
        (self.lifetime.as_nanos() / self.interval.as_nanos()) as u32
    }

    /// The window of interval `index` (0-based).
    pub fn window(&self, index: u32) -> Window {
        let offset = if self.real_time {
            self.warmup
        } else {
            SignedDuration::ZERO
        };
        let base = self.start + offset;
        let end = base + self.interval * (i32::try_from(index).unwrap_or(i32::MAX) + 1);
        let start = match self.lookback {
            Some(lookback) => end - lookback,
            None => base,
        };
        Window {
            index,
            start,
            end,
            due: if self.real_time { end } else { self.start },
        }
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
}
