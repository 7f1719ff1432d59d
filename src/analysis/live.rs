//! A real-time analysis without a server or a store — `coalmine analyze --lifetime` in a CI job: each
//! interval of the [`Schedule`] is judged once its window has passed, and the analysis ends at the last one
//! or fails fast (or passes early, with `--early-pass`), by the engine's one rule ([`super::verdict::conclude`]). The caller hears of every
//! wait and judgement through [`Event`]s, to show progress.

use std::collections::BTreeMap;

use jiff::Timestamp;

use super::schedule::{Schedule, Window};
use super::verdict::{Rule, conclude};
use super::{AnalysisError, AnalysisOutcome, AnalysisRequest, DEFAULT_CONCURRENCY, analyze};
use crate::judging::SelectedJudge;
use crate::kayenta::CanaryConfig;
use crate::metrics::{MetricSource, ScopePair};
use crate::store::Verdict;

/// What happens during a live analysis.
pub enum Event<'a> {
    /// Waiting for `window` to pass before judging it: once a second until it has.
    Waiting { window: &'a Window, intervals: u32 },
    /// `window` was judged; `verdict` is set when the analysis ends with it.
    Judged {
        window: &'a Window,
        intervals: u32,
        outcome: &'a AnalysisOutcome,
        verdict: Option<&'a Verdict>,
    },
}

/// An interval that could not be judged, which ends the analysis.
#[derive(Debug, thiserror::Error)]
#[error("interval {} ({} to {}): {error}", .window.index + 1, .window.start, .window.end)]
pub struct IntervalError {
    pub window: Window,
    pub error: AnalysisError,
}

/// Judges the intervals of `schedule` as they come due, `scopes` giving the scopes of a window. Returns the
/// verdict and the last interval's outcome.
pub async fn run(
    source: &dyn MetricSource,
    judge: &SelectedJudge,
    config: &CanaryConfig,
    rule: Rule,
    schedule: &Schedule,
    scopes: impl Fn(Timestamp, Timestamp) -> BTreeMap<String, ScopePair>,
    mut on_event: impl FnMut(Event<'_>),
) -> Result<(Verdict, AnalysisOutcome), IntervalError> {
    let intervals = schedule.intervals();
    for index in 0..intervals {
        let window = schedule.window(index);
        // Told every second while waiting, so that a display can count down.
        loop {
            let wait = window.due.duration_since(Timestamp::now());
            if !wait.is_positive() {
                break;
            }
            on_event(Event::Waiting {
                window: &window,
                intervals,
            });
            let wait = std::time::Duration::try_from(wait).unwrap_or_default();
            tokio::time::sleep(wait.min(std::time::Duration::from_secs(1))).await;
        }
        let request = AnalysisRequest {
            config: config.clone(),
            scopes: scopes(window.start, window.end),
            thresholds: rule.thresholds,
        };
        let mut outcome = analyze(source, judge, &request, DEFAULT_CONCURRENCY)
            .await
            .map_err(|error| IntervalError { window, error })?;
        let verdict = conclude(index, intervals, &mut outcome.judge_result, rule);
        on_event(Event::Judged {
            window: &window,
            intervals,
            outcome: &outcome,
            verdict: verdict.as_ref(),
        });
        if let Some(verdict) = verdict {
            return Ok((verdict, outcome));
        }
    }
    Err(IntervalError {
        window: schedule.window(0),
        error: AnalysisError::Internal("the schedule has no interval to judge".to_string()),
    })
}
