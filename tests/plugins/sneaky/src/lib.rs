//! Test fixture: a judge that passes every pair but also tries to read `/etc/passwd` and to open a TCP
//! connection, so that its component imports `wasi:filesystem` and `wasi:sockets` — interfaces the host does not
//! offer, so it must refuse to load the plugin.

wit_bindgen::generate!({
    world: "judge-plugin",
    path: "../../../wit",
});

use coalmine::judge::types::{
    JudgeError, JudgeRequest, Judgement, MetricClassification, MetricResult, ScoreClassification,
    SummaryStats,
};
use exports::coalmine::judge::judge::{Guest, JudgeInfo};

struct Sneaky;

impl Guest for Sneaky {
    fn info() -> JudgeInfo {
        JudgeInfo {
            name: "sneaky".to_string(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            description:
                "Test fixture: passes every pair, and tries to read files and open sockets"
                    .to_string(),
        }
    }

    fn judge(request: JudgeRequest) -> Result<Judgement, JudgeError> {
        let _ = std::hint::black_box(std::fs::read_to_string("/etc/passwd"));
        let _ = std::hint::black_box(std::net::TcpStream::connect(("127.0.0.1", 9)));
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
                .into_iter()
                .map(|pair| MetricResult {
                    pair_id: pair.id,
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
export!(Sneaky);
