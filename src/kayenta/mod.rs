//! Kayenta's wire formats, as Kayenta's clients and users' stored configs produce and expect them: canary
//! configs, metric set pairs, the RemoteJudge request and the CanaryJudgeResult.
//!
//! Conventions follow Kayenta's Jackson setup: unknown fields are ignored, NaN and infinities travel as the
//! strings `"NaN"`, `"Infinity"` and `"-Infinity"`, and absent values are omitted rather than `null`.

pub mod canary_config;
pub mod canary_settings;
pub mod config_warnings;
pub mod execution;
pub mod jackson;
pub mod judge_result;
pub mod metric_set_pair;
pub mod numbers;
pub mod remote_judge;
pub mod standalone;
pub mod warnings;

pub use canary_config::CanaryConfig;
pub use judge_result::CanaryJudgeResult;
pub use metric_set_pair::MetricSetPair;
pub use remote_judge::{RemoteJudgeRequest, ScoreThresholds};

/// A time as Kayenta writes its `*Iso` fields (Java's `Instant.toString()`): `2018-03-15T01:23:45Z`, or with
/// milliseconds when there are any, `2018-03-15T01:23:45.120Z`.
pub fn instant_iso(time: jiff::Timestamp) -> String {
    if time.subsec_millisecond() == 0 {
        format!("{time:.0}")
    } else {
        format!("{time:.3}")
    }
}
