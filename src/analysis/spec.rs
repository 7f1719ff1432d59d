//! What a caller asks for when it starts an analysis through the native API (`POST /v1/analyses`), and its
//! resolution into a [`Plan`]: the config, the metrics account, the judge, the scopes of each side and the
//! [`Schedule`].
//!
//! The spec is stored as received, except that a real-time analysis's `start` is fixed to the moment it was
//! accepted, so that a restarted server computes the same windows.
//!
//! Every time and duration is checked before it is used (no `Timestamp ± duration` can overflow), and
//! [`AnalysisSpec::check_bounds`] holds a request to the server's limits: the longest span, the most
//! metrics, the most points per series.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::schedule::Schedule;
use super::verdict;
use crate::judge_host::JudgeHost;
use crate::judging::{self, SelectedJudge};
use crate::kayenta::{CanaryConfig, ScoreThresholds};
use crate::metrics::{Accounts, MetricSource, Scope, ScopePair, SourceError, plan_canary};

/// `POST /v1/analyses`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AnalysisSpec {
    /// The config itself, or `configId` (an id or name of a stored config).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<CanaryConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_id: Option<String>,
    /// The metrics account; the server's first when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    /// The control of scope name `default` (or use `scopes`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub control: Option<SideSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub experiment: Option<SideSpec>,
    /// Both sides per scope name, for configs whose metrics use several.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub scopes: BTreeMap<String, ScopeSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<Timestamp>,
    /// With `end` and no `lifetime`, the analysis is retrospective: judged at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<Timestamp>,
    /// With `lifetime`, the analysis runs in real time for that long.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, example = "5m")]
    pub lifetime: Option<SignedDuration>,
    /// How often to judge (default: once, at the end).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, example = "5m")]
    pub interval: Option<SignedDuration>,
    /// How long a real-time analysis waits before its first window starts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, example = "5m")]
    pub warmup: Option<SignedDuration>,
    /// A sliding window of this length instead of a growing one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, example = "5m")]
    pub lookback: Option<SignedDuration>,
    /// Time between data points (default 60s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, example = "5m")]
    pub step: Option<SignedDuration>,
    /// The scores to pass and to be marginal (default: pass 75, marginal 50, as `analyze` and the Flagger
    /// webhook).
    #[serde(default = "default_thresholds")]
    #[schema(default = json!({"pass": 75.0, "marginal": 50.0}))]
    pub thresholds: ScoreThresholds,
    /// The judge (default: the config's `judge.name`, else mann-whitney).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub judge: Option<String>,
    /// The control's window ends this much earlier than the experiment's (Kayenta's
    /// `controlOffsetInMinutes`, Spinnaker's `baselineAnalysisOffsetInMins`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, example = "30m")]
    pub control_offset: Option<SignedDuration>,
    /// Complete with Pass as soon as the judge says every metric is final and harmless (a judge that exports
    /// the `decision` interface) and the score passes, instead of judging every interval. A failure ends the
    /// analysis at once either way. Default `false`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub early_pass: bool,
    /// How Kayenta's API (`/canary`, `/standalone_canary_analysis`) was asked for this analysis: its request
    /// and accounts, kept for Kayenta's status responses. Set by the Kayenta routes; the engine ignores it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(ignore)]
    pub kayenta: Option<serde_json::Value>,
}

/// One side of a canary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SideSpec {
    pub scope: String,
    #[serde(default)]
    pub location: String,
    /// Extended scope parameters (template variables).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub params: BTreeMap<String, String>,
    /// This side's own window, as a Kayenta scope's `start` and `end`: give both, and every interval
    /// judges this side over exactly this window (e.g. a fixed known-good period for the control), whatever
    /// the analysis's window. Without them the side follows the analysis's window (the control shifted back
    /// by `controlOffset`). Points are paired by position within each window; when the windows hold
    /// different numbers of points, each side keeps its own length (padded with NaN to its window), as in
    /// Kayenta.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<Timestamp>,
}

impl SideSpec {
    /// The side's own window, checked: both times or neither, the end after the start. `field` names the
    /// side in the message (`control`, `scopes.default.control`).
    pub fn own_window(&self, field: &str) -> Result<Option<(Timestamp, Timestamp)>, String> {
        match (self.start, self.end) {
            (None, None) => Ok(None),
            (Some(start), Some(end)) if end > start => Ok(Some((start, end))),
            (Some(start), Some(end)) => Err(format!(
                "{field}.end ({end}) must be after {field}.start ({start})"
            )),
            (Some(_), None) => Err(format!(
                "{field}.end is required with {field}.start (a side's own window needs both)"
            )),
            (None, Some(_)) => Err(format!(
                "{field}.start is required with {field}.end (a side's own window needs both)"
            )),
        }
    }
}

/// Both sides of one scope name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScopeSpec {
    pub control: SideSpec,
    pub experiment: SideSpec,
}

/// Everything needed to judge an analysis's intervals.
#[derive(Clone)]
pub struct Plan {
    pub config: CanaryConfig,
    pub account: String,
    pub source: Arc<dyn MetricSource>,
    pub judge: SelectedJudge,
    pub scopes: BTreeMap<String, ScopeSpec>,
    pub schedule: Schedule,
    /// How much earlier the control's window ends than the experiment's.
    pub control_offset: SignedDuration,
    pub step: Duration,
    pub thresholds: ScoreThresholds,
    /// `earlyPass`: a final, harmless judgement that passes ends the analysis.
    pub early_pass: bool,
}

/// The thresholds of an analysis that names none: pass at 75, marginal at 50.
pub fn default_thresholds() -> ScoreThresholds {
    ScoreThresholds {
        pass: 75.0,
        marginal: 50.0,
    }
}

/// Default time between data points.
const DEFAULT_STEP: SignedDuration = SignedDuration::from_secs(60);

impl AnalysisSpec {
    /// Whether the analysis runs in real time (it has a lifetime) rather than retrospectively.
    pub fn is_real_time(&self) -> bool {
        self.lifetime.is_some()
    }

    /// Fixes what must not change across restarts: a real-time analysis without a start starts `now`, and a
    /// retrospective one given only a `lookback` judges the window of that length ending `now`.
    pub fn normalized(mut self, now: Timestamp) -> AnalysisSpec {
        if self.is_real_time() && self.start.is_none() {
            self.start = Some(now);
        }
        if !self.is_real_time()
            && self.start.is_none()
            && self.end.is_none()
            && let Some(lookback) = self.lookback
            && lookback.is_positive()
        {
            // Truncated to the millisecond, the store's precision. A lookback reaching before the earliest
            // time leaves the window unset, and `schedule` says why.
            let end = Timestamp::from_millisecond(now.as_millisecond()).unwrap_or(now);
            if let Ok(start) = end.checked_sub(lookback) {
                self.start = Some(start);
                self.end = Some(end);
            }
        }
        self
    }

    /// When each interval is judged and over which window. Every error says which field is wrong.
    pub fn schedule(&self) -> Result<Schedule, String> {
        let warmup = self.warmup.unwrap_or(SignedDuration::ZERO);
        let schedule = match (self.lifetime, self.start, self.end) {
            (Some(_), _, Some(_)) => {
                return Err("give end (retrospective) or lifetime (real time), not both".into());
            }
            (Some(lifetime), start, None) => {
                let start =
                    start.ok_or("a real-time analysis needs a start (normalize the spec first)")?;
                Schedule::new(start, lifetime, self.interval, warmup, self.lookback, true)?
            }
            (None, Some(start), Some(end)) => {
                if end <= start {
                    return Err(format!("end ({end}) must be after start ({start})"));
                }
                Schedule::new(
                    start,
                    end.duration_since(start),
                    self.interval,
                    warmup,
                    self.lookback,
                    false,
                )?
            }
            (None, None, None) if self.lookback.is_some_and(|lookback| lookback.is_positive()) => {
                return Err(format!(
                    "lookback: {:#} reaches before the earliest time this server represents",
                    self.lookback.unwrap_or_default()
                ));
            }
            (None, _, _) => {
                return Err("give start and end (or only lookback, for the window ending now) for a retrospective analysis, or lifetime for a real-time one".into());
            }
        };
        Ok(schedule)
    }

    /// Resolves the spec against `config` (the spec's own or the stored one it names), the server's accounts
    /// and judges. Every error is the caller's and says which field is wrong.
    pub fn plan(
        &self,
        config: CanaryConfig,
        accounts: &Accounts,
        host: &JudgeHost,
    ) -> Result<Plan, String> {
        config.validate_for_judging()?;
        self.thresholds.validate("thresholds")?;
        let (account, source) = accounts.get(self.account.as_deref())?;
        let judge = judging::select_judge(host, self.judge.as_deref(), &config)
            .map_err(|error| error.to_string())?;
        if self.early_pass {
            verdict::require_decisions("earlyPass", &judge)?;
        }

        let scopes = if !self.scopes.is_empty() {
            if self.control.is_some() || self.experiment.is_some() {
                return Err("give either control and experiment, or scopes, not both".to_string());
            }
            self.scopes.clone()
        } else {
            match (&self.control, &self.experiment) {
                (Some(control), Some(experiment)) => BTreeMap::from([(
                    "default".to_string(),
                    ScopeSpec {
                        control: control.clone(),
                        experiment: experiment.clone(),
                    },
                )]),
                _ => {
                    return Err(
                        "control and experiment are required (or scopes, keyed by scope name)"
                            .to_string(),
                    );
                }
            }
        };
        for (name, scope) in &scopes {
            for (side, spec) in [
                ("control", &scope.control),
                ("experiment", &scope.experiment),
            ] {
                if spec.scope.trim().is_empty() {
                    return Err(format!(
                        "the {side} scope of scope name '{name}' must not be empty"
                    ));
                }
                let field = if self.scopes.is_empty() {
                    side.to_string()
                } else {
                    format!("scopes.{name}.{side}")
                };
                if spec.own_window(&field)?.is_some()
                    && side == "control"
                    && self.control_offset.is_some_and(|offset| !offset.is_zero())
                {
                    return Err(format!(
                        "give {field}.start and {field}.end, or controlOffset, not both"
                    ));
                }
            }
        }

        let step = self.step.unwrap_or(DEFAULT_STEP);
        if let Some(offset) = self.control_offset
            && offset.is_negative()
        {
            return Err(format!(
                "controlOffset must not be negative, got {offset:#}"
            ));
        }
        if step < SignedDuration::from_secs(1) {
            return Err(format!("step must be at least 1s, got {step:#}"));
        }
        let schedule = self.schedule()?;
        let control_offset = self.control_offset.unwrap_or(SignedDuration::ZERO);
        if schedule
            .window(0)
            .start
            .checked_sub(control_offset)
            .is_err()
        {
            return Err(format!(
                "controlOffset: {control_offset:#} reaches before the earliest time this server represents"
            ));
        }
        Ok(Plan {
            config,
            account: account.to_string(),
            source: source.clone(),
            judge,
            scopes,
            schedule,
            control_offset,
            step: Duration::try_from(step).map_err(|_| "step must be positive".to_string())?,
            thresholds: self.thresholds,
            early_pass: self.early_pass,
        })
    }
}

/// What one analysis may ask of the server: the server's `[limits]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounds {
    /// The longest span any duration may name: the lifetime (or a retrospective window), the interval, the
    /// warm-up, the lookback, the control offset and the step.
    pub max_lifetime: SignedDuration,
    /// Most metrics in the canary config.
    pub max_metrics: usize,
    /// Most data points per series and side (the longest window over the step).
    pub max_points: usize,
}

impl Bounds {
    /// Refuses a config with more metrics than one analysis may judge, naming the limit.
    pub fn check_metrics(&self, config: &CanaryConfig) -> Result<(), String> {
        let metrics = config.metrics.len();
        if metrics > self.max_metrics {
            return Err(format!(
                "the canary config has {metrics} metrics; this server judges at most {} per analysis \
                 (max_metrics)",
                self.max_metrics
            ));
        }
        Ok(())
    }
}

impl AnalysisSpec {
    /// Holds the analysis of `config` to `bounds`; the error names the field (and Kayenta's name for it when
    /// Kayenta's API asked) and the limit.
    pub fn check_bounds(&self, config: &CanaryConfig, bounds: &Bounds) -> Result<(), String> {
        bounds.check_metrics(config)?;
        let kayenta = self.kayenta.is_some();
        let field = |native: &'static str, kayenta_name: &'static str| {
            if kayenta && !kayenta_name.is_empty() {
                format!("{native} ({kayenta_name})")
            } else {
                native.to_string()
            }
        };
        let span = match (self.start, self.end) {
            (Some(start), Some(end)) if self.lifetime.is_none() && end > start => {
                Some(end.duration_since(start))
            }
            _ => None,
        };
        let durations = [
            (field("lifetime", "lifetimeDurationMins"), self.lifetime),
            (field("interval", "analysisIntervalMins"), self.interval),
            (field("warmup", "beginAfterMins"), self.warmup),
            (field("lookback", "lookbackMins"), self.lookback),
            (
                field("controlOffset", "controlOffsetInMinutes"),
                self.control_offset,
            ),
            (field("step", ""), self.step),
            // Last: a lookback alone was normalized into this span.
            (field("end - start", "the scopes' start and end"), span),
        ];
        for (name, duration) in durations {
            if let Some(duration) = duration
                && duration.unsigned_abs() > bounds.max_lifetime.unsigned_abs()
            {
                return Err(format!(
                    "{name}: {duration:#} is longer than the {:#} this server allows (max_lifetime)",
                    bounds.max_lifetime
                ));
            }
        }
        let step = self.step.unwrap_or(DEFAULT_STEP);
        let sides = self.control.iter().chain(&self.experiment).chain(
            self.scopes
                .values()
                .flat_map(|scope| [&scope.control, &scope.experiment]),
        );
        let mut windows = vec![self.lookback.or(self.lifetime).or(span)];
        for side in sides {
            if let (Some(start), Some(end)) = (side.start, side.end)
                && end > start
            {
                let own = end.duration_since(start);
                if own.unsigned_abs() > bounds.max_lifetime.unsigned_abs() {
                    return Err(format!(
                        "{}: {own:#} is longer than the {:#} this server allows (max_lifetime)",
                        field("a side's end - start", "a scope's start and end"),
                        bounds.max_lifetime
                    ));
                }
                windows.push(Some(own));
            }
        }
        for window in windows.into_iter().flatten() {
            if !step.is_positive() {
                break;
            }
            let points = window.as_nanos() / step.as_nanos() + 1;
            if points > bounds.max_points as i128 {
                return Err(format!(
                    "step: {step:#} over a window of {window:#} is {points} points per series, more than \
                     the {} this server fetches (max_points); use a longer step",
                    bounds.max_points
                ));
            }
        }
        Ok(())
    }
}

impl Plan {
    /// What ends the analysis ([`super::verdict::conclude`]).
    pub fn rule(&self) -> super::verdict::Rule {
        super::verdict::Rule {
            thresholds: self.thresholds,
            early_pass: self.early_pass,
        }
    }

    /// Builds every query of the first window without running it, so that a query that cannot be built (a
    /// missing variable, a value that does not fit, a template expanding past its bounds) is refused before
    /// the analysis starts.
    pub fn check_queries(&self) -> Result<(), SourceError> {
        let first = self.schedule.window(0);
        plan_canary(
            self.source.as_ref(),
            &self.config,
            &self.scopes_for(first.start, first.end),
        )
        .map(drop)
    }

    /// The scopes of every scope name over `[start, end]`: the control's shifted back by the control offset,
    /// and a side with its own window over that window instead.
    pub fn scopes_for(&self, start: Timestamp, end: Timestamp) -> BTreeMap<String, ScopePair> {
        // `plan` checked that the offset fits before the first window; the earliest time is a floor.
        let shifted = |time: Timestamp, offset| time.checked_sub(offset).unwrap_or(Timestamp::MIN);
        let side = |spec: &SideSpec, offset: SignedDuration| {
            let (start, end) = match (spec.start, spec.end) {
                (Some(start), Some(end)) => (start, end),
                _ => (shifted(start, offset), shifted(end, offset)),
            };
            Scope {
                scope: spec.scope.clone(),
                location: spec.location.clone(),
                extended_params: spec.params.clone(),
                start,
                end,
                step: self.step,
            }
        };
        self.scopes
            .iter()
            .map(|(name, scope)| {
                (
                    name.clone(),
                    ScopePair {
                        control: side(&scope.control, self.control_offset),
                        experiment: side(&scope.experiment, SignedDuration::ZERO),
                    },
                )
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(body: serde_json::Value) -> AnalysisSpec {
        serde_json::from_value(body).unwrap()
    }

    #[test]
    fn a_lookback_alone_is_the_window_ending_now() {
        let now: Timestamp = "2026-01-01T10:00:00.123456Z".parse().unwrap();
        let normalized = spec(serde_json::json!({
            "lookback": "10m", "thresholds": {"pass": 75, "marginal": 50}
        }))
        .normalized(now);
        assert_eq!(
            normalized.end,
            Some("2026-01-01T10:00:00.123Z".parse().unwrap())
        );
        assert_eq!(
            normalized.start,
            Some("2026-01-01T09:50:00.123Z".parse().unwrap())
        );
        assert!(!normalized.is_real_time());

        // Given times, or a lifetime, are left as they are.
        let given = spec(serde_json::json!({
            "lookback": "10m", "start": "2026-01-01T08:00:00Z", "end": "2026-01-01T09:00:00Z",
            "thresholds": {"pass": 75, "marginal": 50}
        }));
        assert_eq!(given.clone().normalized(now), given);
        let real_time = spec(serde_json::json!({
            "lookback": "10m", "lifetime": "1h", "thresholds": {"pass": 75, "marginal": 50}
        }))
        .normalized(now);
        assert_eq!((real_time.start, real_time.end), (Some(now), None));
    }
}
