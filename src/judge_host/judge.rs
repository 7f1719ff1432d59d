//! A loaded judge: its identity, where it came from, and calls into it under the host's limits.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::SystemTime;

use super::bindings::coalmine::judge::types::{JudgeError, JudgeRequest, Judgement};
use super::bindings::decision::Finality;
use super::bindings::exports::coalmine::judge::judge::JudgeInfo as WitJudgeInfo;
use super::call::{CallReport, Caller, Prepared, with_instance};
use super::clock::judged_at;
use super::engine::{Gate, max_calls_per_judge};
use super::error::{PluginError, truncate};
use super::limits::Limits;
use super::validate::check_judgement;

/// Where a judge was loaded from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// Compiled into the coalmine binary.
    BuiltIn(&'static str),
    /// A `.wasm` file, e.g. from `--judges-dir` or `--plugin`.
    File(PathBuf),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::BuiltIn(name) => write!(f, "built-in {name}"),
            Origin::File(path) => write!(f, "{}", path.display()),
        }
    }
}

/// A judge's identity, as its `info` export reports it, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JudgeInfo {
    pub name: String,
    pub version: String,
    pub description: String,
}

impl JudgeInfo {
    /// Checks what a plugin reported: the name is what users select it by, so it must be usable as one.
    pub(super) fn checked(plugin: &str, info: WitJudgeInfo) -> Result<Self, PluginError> {
        let invalid = |reason: String| PluginError::InvalidInfo {
            plugin: plugin.to_string(),
            reason,
        };
        let name_ok = |s: &str| {
            !s.is_empty()
                && s.len() <= 64
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        };
        if !name_ok(&info.name) {
            return Err(invalid(format!(
                "name {:?} must be 1 to 64 letters, digits, '.', '_' or '-'",
                truncate(&info.name, 100)
            )));
        }
        if info.version.trim().is_empty() || info.version.len() > 64 {
            return Err(invalid(format!(
                "version {:?} must be 1 to 64 characters",
                truncate(&info.version, 100)
            )));
        }
        Ok(JudgeInfo {
            name: info.name,
            version: info.version,
            description: truncate(info.description.trim(), 500),
        })
    }
}

/// What a judge that exports the `decision` interface says of a judgement: whether it is final, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    pub finality: Finality,
    /// The judge's words, at most 1,000 bytes.
    pub reason: String,
}

/// A judge's answer: its checked judgement, and its decision when it exports the `decision` interface.
#[derive(Debug, Clone)]
pub struct Answer {
    pub judgement: Judgement,
    pub decision: Option<Decision>,
}

/// A judge ready to be called. Cheap to share: calls take `&self` and run in fresh instances.
pub struct Judge {
    info: JudgeInfo,
    origin: Origin,
    sha256: String,
    name: Arc<str>,
    pre: Prepared,
    limits: Limits,
    /// This judge's share of the instance pool.
    gate: Gate,
}

impl Judge {
    pub(super) fn new(
        info: JudgeInfo,
        origin: Origin,
        sha256: String,
        pre: Prepared,
        limits: Limits,
    ) -> Self {
        let name = info.name.as_str().into();
        Judge {
            info,
            origin,
            sha256,
            name,
            pre,
            limits,
            gate: Gate::new(max_calls_per_judge()),
        }
    }

    pub fn info(&self) -> &JudgeInfo {
        &self.info
    }

    pub fn name(&self) -> &str {
        &self.info.name
    }

    pub fn origin(&self) -> &Origin {
        &self.origin
    }

    /// SHA-256 of the component's bytes, hex-encoded.
    pub fn sha256(&self) -> &str {
        &self.sha256
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Whether the judge exports the optional `decision` interface (and is called through it).
    pub fn decides(&self) -> bool {
        self.pre.decides()
    }

    /// Calls of this judge holding an instance slot at this moment (at most half the pool).
    pub fn calls_in_flight(&self) -> usize {
        self.gate.in_use()
    }

    /// Judges `request` in a fresh instance, returning the checked judgement. The judge's wall clock reads
    /// the latest end of the request's experiment series ([`super::judged_at`]).
    pub fn judge(&self, request: &JudgeRequest) -> Result<Judgement, PluginError> {
        self.judge_with_report(request).0
    }

    /// Like [`Judge::judge`], also returning what the call logged and measured.
    pub fn judge_with_report(
        &self,
        request: &JudgeRequest,
    ) -> (Result<Judgement, PluginError>, CallReport) {
        self.judge_with_report_at(request, judged_at(request))
    }

    /// Like [`Judge::judge`], with the judge's wall clock reading `now` (the end of the interval judged).
    pub fn judge_at(
        &self,
        request: &JudgeRequest,
        now: SystemTime,
    ) -> Result<Judgement, PluginError> {
        self.judge_with_report_at(request, now).0
    }

    /// Like [`Judge::judge_at`], also returning what the call logged and measured.
    pub fn judge_with_report_at(
        &self,
        request: &JudgeRequest,
        now: SystemTime,
    ) -> (Result<Judgement, PluginError>, CallReport) {
        let (answer, report) = self.answer_with_report_at(request, now);
        (answer.map(|answer| answer.judgement), report)
    }

    /// Judges `request` with the judge's wall clock reading `now`, returning the checked judgement and, when
    /// the judge exports the `decision` interface, whether it is final. A judge that exports it is called
    /// through its `judge-with-decision`, any other through `judge`.
    pub fn answer_at(
        &self,
        request: &JudgeRequest,
        now: SystemTime,
    ) -> Result<Answer, PluginError> {
        self.answer_with_report_at(request, now).0
    }

    /// Like [`Judge::answer_at`], also returning what the call logged and measured.
    pub fn answer_with_report_at(
        &self,
        request: &JudgeRequest,
        now: SystemTime,
    ) -> (Result<Answer, PluginError>, CallReport) {
        let caller = Caller {
            gate: Some(&self.gate),
            built_in: matches!(self.origin, Origin::BuiltIn(_)),
            now,
        };
        let (result, report) = with_instance(
            &self.pre,
            &self.name,
            &self.limits,
            caller,
            |exports, store| match &exports.decision {
                Some(decision) => {
                    Ok(decision
                        .call_judge_with_decision(store, request)?
                        .map(|decided| Answer {
                            judgement: decided.judgement,
                            decision: Some(Decision {
                                finality: decided.finality,
                                reason: truncate(decided.reason.trim(), 1000),
                            }),
                        }))
                }
                None => Ok(exports
                    .judge
                    .coalmine_judge_judge()
                    .call_judge(store, request)?
                    .map(|judgement| Answer {
                        judgement,
                        decision: None,
                    })),
            },
        );
        let plugin = || self.name.to_string();
        let result = result.and_then(|answer| match answer {
            Ok(answer) => {
                check_judgement(&self.name, request, &answer.judgement)?;
                Ok(answer)
            }
            Err(JudgeError::InvalidRequest(message)) => Err(PluginError::InvalidRequest {
                plugin: plugin(),
                message: truncate(&message, 1000),
            }),
            Err(JudgeError::Failed(message)) => Err(PluginError::Failed {
                plugin: plugin(),
                message: truncate(&message, 1000),
            }),
        });
        crate::telemetry::judge_called(
            &self.name,
            report.elapsed,
            result.as_ref().err().map(PluginError::kind),
        );
        (result, report)
    }
}

impl fmt::Debug for Judge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Judge")
            .field("info", &self.info)
            .field("origin", &self.origin)
            .field("sha256", &self.sha256)
            .finish_non_exhaustive()
    }
}
