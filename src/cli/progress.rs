//! Progress of a real-time analysis on stderr, for `coalmine analyze --lifetime` and `coalmine watch`: a
//! progress bar (intervals done, time left, current score) on a terminal, one plain line per event otherwise
//! (CI logs).

use std::cell::Cell;
use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressStyle};
use jiff::Timestamp;

use crate::display::{human_duration, number};

/// Where progress goes.
pub enum Progress {
    Bar(ProgressBar),
    /// Plain lines; remembers the interval last waited for, so that a wait is told once.
    Lines(Cell<Option<u32>>),
}

impl Progress {
    /// A bar when stderr is a terminal, else plain lines. `intervals` is `None` when unknown.
    pub fn new(intervals: Option<u32>) -> Progress {
        if !std::io::stderr().is_terminal() {
            return Progress::Lines(Cell::new(None));
        }
        let bar = ProgressBar::new(u64::from(intervals.unwrap_or(0)));
        let style =
            ProgressStyle::with_template("{spinner} [{bar:30}] {pos}/{len} intervals · {msg}")
                .map(|style| style.progress_chars("=> "))
                .unwrap_or_else(|_| ProgressStyle::default_bar());
        bar.set_style(style);
        bar.enable_steady_tick(std::time::Duration::from_millis(200));
        Progress::Bar(bar)
    }

    /// Waiting for interval `index` (0-based) of `intervals`, due at `due`.
    pub fn waiting(&self, index: u32, intervals: Option<u32>, due: Timestamp, last: Option<f64>) {
        let left = human(due.duration_since(Timestamp::now()));
        match self {
            Progress::Bar(bar) => bar.set_message(format!(
                "interval {} due in {left}{}",
                index + 1,
                last.map(|score| format!(" · score {}", number(score)))
                    .unwrap_or_default()
            )),
            Progress::Lines(told) => {
                if told.replace(Some(index)) != Some(index) {
                    eprintln!(
                        "waiting for interval {}{} until {} ({left})",
                        index + 1,
                        of(intervals),
                        due.strftime("%H:%M:%S UTC")
                    );
                }
            }
        }
    }

    /// Interval `index` (0-based) was judged with `score` and `classification`.
    pub fn judged(&self, index: u32, intervals: Option<u32>, score: f64, classification: &str) {
        match self {
            Progress::Bar(bar) => {
                bar.set_position(u64::from(index + 1));
                bar.set_message(format!("score {} ({classification})", number(score)));
            }
            Progress::Lines(_) => eprintln!(
                "interval {}{}: score {} ({classification})",
                index + 1,
                of(intervals),
                number(score)
            ),
        }
    }

    /// The analysis ended: clears the bar, leaving the final line.
    pub fn finish(&self, line: &str) {
        match self {
            Progress::Bar(bar) => bar.finish_with_message(line.to_string()),
            Progress::Lines(_) => eprintln!("{line}"),
        }
    }

    /// Ends the display without a line of its own, leaving the bar as it is: the caller reports how it ended.
    pub fn stop(&self) {
        if let Progress::Bar(bar) = self {
            bar.abandon();
        }
    }
}

fn of(intervals: Option<u32>) -> String {
    intervals.map(|n| format!("/{n}")).unwrap_or_default()
}

/// A remaining time: `now` when past, else as [`human_duration`] says it.
fn human(duration: jiff::SignedDuration) -> String {
    if duration.is_positive() {
        human_duration(duration)
    } else {
        "now".to_string()
    }
}
