//! Test fixture: a judge built against `coalmine:judge@0.1.0`, the contract as it was before the optional
//! `decision` interface (`wit/judge.wit` of this crate is a copy of that version), which every `0.1.*` host
//! must keep loading and calling through `judge`. It passes every pair with score 100.

wit_bindgen::generate!({
    world: "judge-plugin",
    path: "wit",
});

use coalmine::judge::types::{
    JudgeError, JudgeRequest, Judgement, MetricClassification, MetricResult, ScoreClassification,
    SummaryStats,
};
use exports::coalmine::judge::judge::{Guest, JudgeInfo};

struct Contract010;

impl Guest for Contract010 {
    fn info() -> JudgeInfo {
        JudgeInfo {
            name: "contract-0-1-0".to_string(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            description: "Test fixture: built against coalmine:judge@0.1.0; passes every pair"
                .to_string(),
        }
    }

    fn judge(request: JudgeRequest) -> Result<Judgement, JudgeError> {
        const ZERO: SummaryStats = SummaryStats {
            count: 0,
            min: 0.0,
            max: 0.0,
            mean: 0.0,
            std: 0.0,
        };
        Ok(Judgement {
            results: request
                .pairs
                .iter()
                .map(|pair| MetricResult {
                    pair_id: pair.id.clone(),
                    classification: MetricClassification::Pass,
                    reason: None,
                    critical: false,
                    control: ZERO,
                    experiment: ZERO,
                    details: Vec::new(),
                })
                .collect(),
            group_scores: Vec::new(),
            score: 100.0,
            classification: ScoreClassification::Pass,
            reason: String::new(),
        })
    }
}

// Exported only for wasm32, so that `cargo build --workspace` also builds (an empty library) for the host.
#[cfg(target_arch = "wasm32")]
export!(Contract010);
