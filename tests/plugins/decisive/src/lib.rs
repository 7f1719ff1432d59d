//! Test fixture: a judge built on the SDK that exports the optional `decision` interface
//! (`export_judge!(Decisive, decision)`), for the host's probing and the engine's `earlyPass`.
//!
//! It passes every pair unless told otherwise, and decides by `judgeConfigurations`:
//!
//! - `{"harmlessAfter": n}`: `harmless` ("every metric is final and harmless") once every pair has at
//!   least `n` values on each side, `open` before;
//! - `{"regression": true}`: every pair `High`, score 0, `regression` ("every metric rose");
//! - nothing: `open`.
//!
//! Its `judge` export returns the same judgement without the decision.

use coalmine_judge_sdk::{
    Decided, DecisionGuest, Guest, JudgeError, JudgeInfo, JudgeRequest, Judgement,
    MetricClassification, MetricResult, scoring,
};

// Constructed only by the component export (wasm32).
#[allow(dead_code)]
struct Decisive;

impl Guest for Decisive {
    fn info() -> JudgeInfo {
        JudgeInfo {
            name: "decisive".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description:
                "Test fixture: says when its judgement is final, as judgeConfigurations says".into(),
        }
    }

    fn judge(request: JudgeRequest) -> Result<Judgement, JudgeError> {
        Self::judge_with_decision(request).map(|decided| decided.judgement)
    }
}

impl DecisionGuest for Decisive {
    fn judge_with_decision(request: JudgeRequest) -> Result<Decided, JudgeError> {
        let settings = request.judge_configuration_object()?;
        let regression = settings
            .get("regression")
            .and_then(|value| value.as_bool())
            .unwrap_or(false);
        let harmless_after = settings
            .get("harmlessAfter")
            .and_then(|value| value.as_u64());
        let classification = if regression {
            MetricClassification::High
        } else {
            MetricClassification::Pass
        };
        let judgement = scoring::judge_each(&request, |pair, _| {
            let mut result = MetricResult::new(
                pair,
                classification,
                &pair.control.values,
                &pair.experiment.values,
            );
            if regression {
                result.reason = Some(format!("{} rose", pair.metric));
            }
            Ok(result)
        })?;
        if regression {
            return Ok(Decided::regression(judgement, "every metric rose"));
        }
        let enough = |n: u64| {
            request.pairs.iter().all(|pair| {
                pair.control.values.len() as u64 >= n && pair.experiment.values.len() as u64 >= n
            })
        };
        Ok(match harmless_after {
            Some(n) if enough(n) => {
                Decided::harmless(judgement, "every metric is final and harmless")
            }
            _ => Decided::open(judgement),
        })
    }
}

coalmine_judge_sdk::export_judge!(Decisive, decision);
