//! Write coalmine judge plugins in Rust.
//!
//! A judge is a WebAssembly component that implements the `coalmine:judge` WIT contract
//! (`wit/judge.wit`): coalmine hands it every metric pair of a canary analysis in one
//! [`JudgeRequest`], and the judge returns a [`Judgement`] — one [`MetricResult`] per pair, group
//! scores and an overall score. This crate gives a judge everything but its own statistics:
//!
//! - the WIT types, re-exported at the crate root ([`JudgeRequest`], [`MetricResult`], ...), the
//!   [`Guest`] trait a judge implements and [`export_judge!`] to export it, so a judge crate needs
//!   no direct `wit-bindgen` dependency;
//! - [`DecisionGuest`], [`Decided`] and [`Finality`], for a judge that can say its judgement is
//!   final (see [Early decisions](#early-decisions));
//! - [`log()`] and the [`trace!`], [`debug!`], [`info!`], [`warn!`] and [`error!`] macros, which
//!   write to coalmine's log inside the component and do nothing natively;
//! - [`preprocess`]: Kayenta's NaN strategies and IQR outlier removal;
//! - [`stats`]: summary statistics and R-7 percentiles;
//! - [`scoring`]: Kayenta's group scores, weighted summary score, overrides and thresholds, so a
//!   judge only classifies pairs and calls [`scoring::judgement`] — or hands its per-pair
//!   classification to [`scoring::judge_each`], which also looks up each pair's metric;
//!   [`MetricResult::new`] fills in a result's summary statistics.
//!
//! Judge code is plain Rust: it compiles and runs natively too (for tests and benchmarks), where
//! the export is left out and logging is a no-op.
//!
//! # Example
//!
//! A judge that fails a metric whose experiment mean exceeds the control mean by more than 10 %:
//!
//! ```
//! use coalmine_judge_sdk::{
//!     preprocess, scoring, stats, Guest, JudgeError, JudgeInfo, JudgeRequest, Judgement,
//!     MetricClassification, MetricResult,
//! };
//!
//! pub struct MeanJudge;
//!
//! impl Guest for MeanJudge {
//!     fn info() -> JudgeInfo {
//!         JudgeInfo {
//!             name: "mean-10".into(),
//!             version: "1.0.0".into(),
//!             description: "Fails a metric whose mean grows by more than 10%".into(),
//!         }
//!     }
//!
//!     fn judge(request: JudgeRequest) -> Result<Judgement, JudgeError> {
//!         let mut results = Vec::with_capacity(request.pairs.len());
//!         for pair in &request.pairs {
//!             let metric = request.metric(&pair.metric).ok_or_else(|| {
//!                 JudgeError::InvalidRequest(format!("unknown metric {}", pair.metric))
//!             })?;
//!             let control = stats::summary(&preprocess::preprocess(&pair.control.values, metric));
//!             let experiment =
//!                 stats::summary(&preprocess::preprocess(&pair.experiment.values, metric));
//!             let classification = if experiment.mean > control.mean * 1.1 {
//!                 MetricClassification::High
//!             } else {
//!                 MetricClassification::Pass
//!             };
//!             coalmine_judge_sdk::debug!("{}: {:?}", pair.id, classification);
//!             results.push(MetricResult {
//!                 pair_id: pair.id.clone(),
//!                 classification,
//!                 reason: None,
//!                 critical: false,
//!                 control,
//!                 experiment,
//!                 details: Vec::new(),
//!             });
//!         }
//!         Ok(scoring::judgement(&request, results))
//!     }
//! }
//!
//! coalmine_judge_sdk::export_judge!(MeanJudge);
//! # fn main() {}
//! ```
//!
//! Build it with `crate-type = ["cdylib"]` for `wasm32-wasip2`, which produces a component.
//!
//! # Early decisions
//!
//! A judge that can tell when its judgement is final — a regression is established, or every
//! metric's interval already excludes harmful effects beyond its allowed effect size — also
//! implements [`DecisionGuest`] and exports it with `export_judge!(MyJudge, decision)`: the
//! component then exports the optional `decision` interface of `coalmine:judge@0.1.1`, which the
//! host calls instead of `judge`, and a real-time analysis started with `earlyPass` completes with
//! Pass as soon as the judge says [`Finality::Harmless`].
//!
//! ```
//! use coalmine_judge_sdk::{
//!     Decided, DecisionGuest, Finality, Guest, JudgeError, JudgeInfo, JudgeRequest, Judgement,
//!     MetricClassification, MetricResult, scoring,
//! };
//!
//! pub struct PatientJudge;
//!
//! impl Guest for PatientJudge {
//!     fn info() -> JudgeInfo {
//!         JudgeInfo {
//!             name: "patient".into(),
//!             version: "1.0.0".into(),
//!             description: "Passes every metric; final once each side has 30 values".into(),
//!         }
//!     }
//!
//!     fn judge(request: JudgeRequest) -> Result<Judgement, JudgeError> {
//!         Self::judge_with_decision(request).map(|decided| decided.judgement)
//!     }
//! }
//!
//! impl DecisionGuest for PatientJudge {
//!     fn judge_with_decision(request: JudgeRequest) -> Result<Decided, JudgeError> {
//!         let judgement = scoring::judge_each(&request, |pair, _| {
//!             Ok(MetricResult::new(pair, MetricClassification::Pass, &[], &[]))
//!         })?;
//!         let enough = request.pairs.iter().all(|pair| {
//!             pair.control.values.len() >= 30 && pair.experiment.values.len() >= 30
//!         });
//!         Ok(if enough {
//!             Decided {
//!                 judgement,
//!                 finality: Finality::Harmless,
//!                 reason: "every metric is final and harmless".into(),
//!             }
//!         } else {
//!             Decided::open(judgement)
//!         })
//!     }
//! }
//!
//! coalmine_judge_sdk::export_judge!(PatientJudge, decision);
//! # fn main() {}
//! ```

#![warn(missing_docs)]

pub mod log;
pub mod preprocess;
pub mod scoring;
pub mod stats;
mod types;

/// The bindings `wit-bindgen` generates for the `judge-plugin` world of `wit/judge.wit`.
///
/// Everything a judge needs is re-exported at the crate root; this module is public for the
/// [`export_judge!`] macro and for code that wants the full WIT paths. Its documentation is the
/// WIT's.
#[allow(missing_docs)]
pub mod bindings {
    wit_bindgen::generate!({
        world: "judge-plugin",
        path: "../../wit",
        pub_export_macro: true,
        default_bindings_module: "coalmine_judge_sdk::bindings",
        additional_derives: [Clone, PartialEq],
    });
}

/// The bindings of the optional `decision` interface (`coalmine:judge@0.1.1`), sharing the types of
/// [`bindings`], for `export_judge!(MyJudge, decision)`.
///
/// They are generated from a world of the SDK's own that exports `decision` alone: the component of
/// a decisive judge is described by both worlds, `judge-plugin` and this one, which together are the
/// contract's `decisive-judge-plugin`.
#[allow(missing_docs)]
pub mod decision_bindings {
    wit_bindgen::generate!({
        inline: "
            package coalmine:judge-sdk;

            world decision-export {
                export coalmine:judge/decision@0.1.1;
            }
        ",
        path: "../../wit",
        world: "decision-export",
        pub_export_macro: true,
        default_bindings_module: "coalmine_judge_sdk::decision_bindings",
        additional_derives: [Clone, PartialEq],
        with: {
            "coalmine:judge/types@0.1.1": crate::bindings::coalmine::judge::types,
        },
    });
}

pub use bindings::coalmine::judge::host::Level;
pub use bindings::coalmine::judge::types::{
    Detail, DetailValue, Direction, EffectSize, EffectSizeMeasure, GroupScore, GroupWeight,
    JudgeError, JudgeRequest, Judgement, MetricClassification, MetricConfig, MetricPair,
    MetricResult, NanStrategy, OutlierStrategy, Outliers, ScoreClassification, ScoreThresholds,
    Series, SummaryStats, Tag,
};
pub use bindings::exports::coalmine::judge::judge::{Guest, JudgeInfo};
pub use decision_bindings::exports::coalmine::judge::decision::{
    Decided, Finality, Guest as DecisionGuest,
};
pub use log::{log, log_args};
/// The `serde_json` that [`JudgeRequest::judge_configuration_object`] returns values of.
pub use serde_json;

/// Exports a type that implements [`Guest`] as the component's `judge` interface.
///
/// Invoke it once, at the top level of the judge crate: `export_judge!(MyJudge);`. The export
/// exists only when compiling for `wasm32`; natively the macro expands to nothing, so several
/// judges can be linked into one native test or benchmark binary without symbol clashes.
///
/// `export_judge!(MyJudge, decision);` also exports the optional `decision` interface, for a type
/// that implements [`DecisionGuest`] as well: the component is then a `decisive-judge-plugin` of
/// `coalmine:judge@0.1.1`, and the host calls its `judge-with-decision`.
#[macro_export]
macro_rules! export_judge {
    ($judge:ident) => {
        #[cfg(target_arch = "wasm32")]
        $crate::bindings::export!($judge with_types_in $crate::bindings);
    };
    ($judge:ident, decision) => {
        #[cfg(target_arch = "wasm32")]
        $crate::bindings::export!($judge with_types_in $crate::bindings);
        #[cfg(target_arch = "wasm32")]
        $crate::decision_bindings::export!($judge with_types_in $crate::decision_bindings);
    };
}
