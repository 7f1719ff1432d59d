//! The records the store keeps — canary configs, analyses and their judged intervals — and the rules by
//! which an analysis's status may change, which every backend applies.
//!
//! Times are kept to the millisecond, Kayenta's precision.

use std::fmt;
use std::str::FromStr;

use jiff::Timestamp;
use serde_json::Value;

use super::error::Conflict;
use crate::kayenta::{CanaryConfig, CanaryJudgeResult, MetricSetPair};

/// A stored canary config. Its document carries `id` and Kayenta's `createdTimestamp`,
/// `updatedTimestamp`, `createdTimestampIso` and `updatedTimestampIso` (in `other`), equal to the fields here.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredConfig {
    pub id: String,
    pub config: CanaryConfig,
    pub created: Timestamp,
    pub updated: Timestamp,
}

/// A line of the config list: what Kayenta's list gives (`id`, `name`, `updatedTimestamp`,
/// `updatedTimestampIso`, `applications`).
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigSummary {
    pub id: String,
    pub name: String,
    pub updated: Timestamp,
    /// In the config's order, without repeats.
    pub applications: Vec<String>,
}

/// Where an analysis is in its life. `completed`, `error` and `cancelled` are final.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AnalysisStatus {
    Pending,
    Running,
    Completed,
    Error,
    Cancelled,
}

impl AnalysisStatus {
    pub const ALL: [AnalysisStatus; 5] = [
        Self::Pending,
        Self::Running,
        Self::Completed,
        Self::Error,
        Self::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Running => "running",
            Self::Completed => "completed",
            Self::Error => "error",
            Self::Cancelled => "cancelled",
        }
    }

    /// Whether the analysis has ended and can no longer change.
    pub fn is_finished(self) -> bool {
        matches!(self, Self::Completed | Self::Error | Self::Cancelled)
    }
}

impl fmt::Display for AnalysisStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for AnalysisStatus {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|status| status.as_str() == text)
            .ok_or_else(|| {
                format!(
                    "unknown analysis status '{text}': expected pending, running, completed, error or cancelled"
                )
            })
    }
}

/// Which API started an analysis. Both kinds appear in every list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Origin {
    /// coalmine's own API.
    Native,
    /// Kayenta's API (`/canary`, `/standalone_canary_analysis`).
    Kayenta,
    /// Flagger's webhook (`/v1/webhooks/flagger`). Stored as text without a constraint: no migration.
    Flagger,
}

impl Origin {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Native => "native",
            Self::Kayenta => "kayenta",
            Self::Flagger => "flagger",
        }
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Origin {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        [Self::Native, Self::Kayenta, Self::Flagger]
            .into_iter()
            .find(|origin| origin.as_str() == text)
            .ok_or_else(|| {
                format!("unknown analysis origin '{text}': expected native, kayenta or flagger")
            })
    }
}

/// An analysis to store, before it has an id.
#[derive(Debug, Clone, PartialEq)]
pub struct NewAnalysis {
    pub origin: Origin,
    /// The request as received; the store does not look inside.
    pub request: Value,
    /// The config the analysis runs with, as it was when the analysis was created.
    pub config: CanaryConfig,
}

/// A stored analysis.
#[derive(Debug, Clone, PartialEq)]
pub struct Analysis {
    pub id: String,
    pub status: AnalysisStatus,
    pub origin: Origin,
    /// A stored request that is not JSON (a damaged record) is read back as a string holding its text, so
    /// that the analysis can still be listed, shown and failed.
    pub request: Value,
    pub config: CanaryConfig,
    pub created: Timestamp,
    /// The last change of status or recorded interval.
    pub updated: Timestamp,
    /// Set once the analysis is `completed`.
    pub verdict: Option<Verdict>,
    /// Set once the analysis is `error`.
    pub error: Option<String>,
    /// The index of the next interval to judge: intervals `0..next_interval` are recorded.
    pub next_interval: u32,
}

/// An unfinished analysis whose record cannot be read back (a damaged database, or one edited by hand): what
/// a restart must fail rather than resume.
#[derive(Debug)]
pub struct Unreadable {
    pub id: String,
    pub error: super::StoreError,
}

/// An unfinished analysis that [`super::Store::claim_analyses`] leased to the claiming replica.
#[derive(Debug)]
pub struct Claimed {
    /// The analysis, or why its record cannot be read back (the claimer then marks it `error`).
    pub analysis: Result<Analysis, Unreadable>,
    /// The replica whose lease had expired, when the claim took the analysis over from another replica;
    /// `None` for an analysis no replica held, or one the claimer itself held before.
    pub taken_over_from: Option<String>,
}

/// What [`super::Store::renew_leases`] found.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Renewal {
    /// The analyses asked about whose lease the owner still holds, now extended; the others were taken over,
    /// have finished (a cancellation through another replica), or were never the owner's.
    pub held: Vec<String>,
    /// The replicas that renewed within the lease period, the caller included.
    pub replicas: usize,
    /// The unfinished (`pending` or `running`) analyses of every replica, held or not.
    pub unfinished: usize,
}

/// The outcome of a completed analysis.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    /// `Pass`, `Marginal` or `Fail`.
    pub classification: String,
    /// A NaN score is read back as NaN (SQLite keeps it as NULL).
    pub score: f64,
}

/// A change of an analysis's status.
///
/// A finished analysis refuses every transition with [`Conflict::AnalysisFinished`], except that cancelling
/// a cancelled analysis changes nothing and succeeds (clients repeat cancellations). Starting a running
/// analysis (resuming it) also changes nothing.
#[derive(Debug, Clone, PartialEq)]
pub enum Transition {
    /// `pending` → `running`.
    Start,
    /// → `completed`, with the verdict.
    Complete(Verdict),
    /// → `error`, with a message for the user.
    Fail(String),
    /// → `cancelled`.
    Cancel,
}

impl Transition {
    /// The status the transition leads to.
    pub fn target(&self) -> AnalysisStatus {
        match self {
            Self::Start => AnalysisStatus::Running,
            Self::Complete(_) => AnalysisStatus::Completed,
            Self::Fail(_) => AnalysisStatus::Error,
            Self::Cancel => AnalysisStatus::Cancelled,
        }
    }

    /// What the transition does to analysis `analysis` in status `from`: the status to write, or `None` when
    /// there is nothing to write.
    pub fn apply_to(
        &self,
        analysis: &str,
        from: AnalysisStatus,
    ) -> Result<Option<AnalysisStatus>, Conflict> {
        let to = self.target();
        if from == to && matches!(self, Self::Start | Self::Cancel) {
            return Ok(None);
        }
        if from.is_finished() {
            return Err(Conflict::AnalysisFinished {
                analysis: analysis.to_owned(),
                status: from,
            });
        }
        Ok(Some(to))
    }
}

/// Which analyses to list: those with any of `statuses` (every status when empty), newest first, skipping
/// `offset` and returning at most `limit`.
#[derive(Debug, Clone, PartialEq)]
pub struct AnalysisQuery {
    pub statuses: Vec<AnalysisStatus>,
    pub limit: u32,
    pub offset: u32,
}

/// A judged interval to record.
#[derive(Debug, Clone, PartialEq)]
pub struct NewInterval {
    /// 0-based.
    pub index: u32,
    /// The window judged (kept to the millisecond).
    pub start: Timestamp,
    pub end: Timestamp,
    pub judge_result: CanaryJudgeResult,
    /// The metric pairs the judge was given.
    pub pairs: Vec<MetricSetPair>,
    /// The queries that fetched them; the store does not look inside.
    pub queries: Value,
}

/// A recorded interval, without the data it was judged on.
#[derive(Debug, Clone, PartialEq)]
pub struct Interval {
    pub index: u32,
    pub start: Timestamp,
    pub end: Timestamp,
    /// When it was recorded.
    pub judged_at: Timestamp,
    pub judge_result: CanaryJudgeResult,
}

/// A recorded interval with the metric pairs and queries it was judged on.
#[derive(Debug, Clone, PartialEq)]
pub struct IntervalDetail {
    pub interval: Interval,
    pub pairs: Vec<MetricSetPair>,
    pub queries: Value,
}

#[cfg(test)]
mod tests {
    use super::*;
    use AnalysisStatus::*;

    fn verdict() -> Verdict {
        Verdict {
            classification: "Pass".to_owned(),
            score: 100.0,
        }
    }

    #[test]
    fn unfinished_analyses_take_every_transition() {
        for from in [Pending, Running] {
            for transition in [
                Transition::Complete(verdict()),
                Transition::Fail("boom".to_owned()),
                Transition::Cancel,
            ] {
                assert_eq!(
                    transition.apply_to("a", from),
                    Ok(Some(transition.target()))
                );
            }
        }
        assert_eq!(Transition::Start.apply_to("a", Pending), Ok(Some(Running)));
        assert_eq!(Transition::Start.apply_to("a", Running), Ok(None));
    }

    #[test]
    fn finished_analyses_refuse_every_transition_but_a_repeated_cancel() {
        for from in [Completed, Error, Cancelled] {
            for transition in [
                Transition::Start,
                Transition::Complete(verdict()),
                Transition::Fail("boom".to_owned()),
                Transition::Cancel,
            ] {
                let outcome = transition.apply_to("a", from);
                if from == Cancelled && transition == Transition::Cancel {
                    assert_eq!(outcome, Ok(None));
                } else {
                    assert_eq!(
                        outcome,
                        Err(Conflict::AnalysisFinished {
                            analysis: "a".to_owned(),
                            status: from
                        })
                    );
                }
            }
        }
    }

    #[test]
    fn statuses_and_origins_round_trip_through_text() {
        for status in AnalysisStatus::ALL {
            assert_eq!(status.as_str().parse(), Ok(status));
        }
        for origin in [Origin::Native, Origin::Kayenta] {
            assert_eq!(origin.as_str().parse(), Ok(origin));
        }
        assert!("canceled".parse::<AnalysisStatus>().is_err());
        assert!("orca".parse::<Origin>().is_err());
    }
}
