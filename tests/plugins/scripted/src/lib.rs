//! Test fixture: a judge that misbehaves on request, for the host's sandboxing and validation tests.
//!
//! The request's `judge-configuration` picks the behaviour with the key `"behaviour"` (e.g.
//! `{"behaviour": "loop"}`). Without the key, or with `"pass"`, it is the trivial judge: one `pass` result per
//! pair, score 100 — which the benchmark also uses to measure the per-call overhead of the host. The other
//! behaviours are `loop`, `memory`, `recursion`, `panic`, `huge`, `many-details`, `clock`, `score`, `error`,
//! `invalid`, `unknown-pair`, `missing-result`, `nan-score`, `log` and `log-flood`; any other value is an
//! `invalid-request` error.

wit_bindgen::generate!({
    world: "judge-plugin",
    path: "../../../wit",
});

use core::hint::black_box;

use coalmine::judge::host::{Level, log};
use coalmine::judge::types::{
    Detail, DetailValue, JudgeError, JudgeRequest, Judgement, MetricClassification, MetricResult,
    ScoreClassification, SummaryStats,
};
use exports::coalmine::judge::judge::{Guest, JudgeInfo};

struct Scripted;

impl Guest for Scripted {
    fn info() -> JudgeInfo {
        JudgeInfo {
            name: "scripted".to_string(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            description: "Test fixture: behaves as judge-configuration's \"behaviour\" says"
                .to_string(),
        }
    }

    fn judge(request: JudgeRequest) -> Result<Judgement, JudgeError> {
        match behaviour(&request.judge_configuration) {
            None | Some("pass") => Ok(pass(&request)),
            Some("loop") => spin(),
            Some("memory") => exhaust_memory(),
            Some("recursion") => {
                let depth = recurse(0);
                Err(JudgeError::Failed(format!("recursion returned at {depth}")))
            }
            Some("panic") => panic!("scripted panic"),
            Some("huge") => {
                let mut judgement = pass(&request);
                judgement.reason = "x".repeat(16 << 20);
                Ok(judgement)
            }
            Some("many-details") => {
                // 400,000 numeric details without names: 12.8 MB in the canonical ABI, more as the host
                // holds them.
                let mut judgement = pass(&request);
                if let Some(first) = judgement.results.first_mut() {
                    first.details = (0..400_000)
                        .map(|i| Detail {
                            name: String::new(),
                            value: DetailValue::Number(f64::from(i)),
                        })
                        .collect();
                }
                Ok(judgement)
            }
            Some("clock") => {
                // What the judge's clocks read, as the reason: the wall clock in milliseconds since the
                // epoch and the monotonic time between two reads in nanoseconds.
                let wall = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(-1, |since| since.as_millis() as i128);
                let first = std::time::Instant::now();
                let second = std::time::Instant::now();
                let mut judgement = pass(&request);
                judgement.reason = format!(
                    "wall {wall} ms, monotonic step {} ns",
                    second.duration_since(first).as_nanos()
                );
                Ok(judgement)
            }
            Some("score") => {
                // The summary score the request's first group weight makes of a perfect canary, unnormalised
                // as in Kayenta.
                let mut judgement = pass(&request);
                judgement.score = request
                    .group_weights
                    .first()
                    .map_or(100.0, |weight| weight.weight);
                Ok(judgement)
            }
            Some("error") => Err(JudgeError::Failed("scripted failure".to_string())),
            Some("invalid") => Err(JudgeError::InvalidRequest(
                "scripted invalid request".to_string(),
            )),
            Some("unknown-pair") => {
                let mut judgement = pass(&request);
                match judgement.results.first_mut() {
                    Some(first) => first.pair_id = "no-such-pair".to_string(),
                    None => judgement
                        .results
                        .push(pass_result("no-such-pair".to_string())),
                }
                Ok(judgement)
            }
            Some("missing-result") => {
                let mut judgement = pass(&request);
                judgement.results.clear();
                Ok(judgement)
            }
            Some("nan-score") => {
                let mut judgement = pass(&request);
                judgement.score = f64::NAN;
                Ok(judgement)
            }
            Some("log") => {
                for (level, name) in [
                    (Level::Trace, "trace"),
                    (Level::Debug, "debug"),
                    (Level::Info, "info"),
                    (Level::Warn, "warn"),
                    (Level::Error, "error"),
                ] {
                    log(level, &format!("scripted log at {name}"));
                }
                Ok(pass(&request))
            }
            Some("log-flood") => {
                let line = "f".repeat(5_000);
                for _ in 0..10_000 {
                    log(Level::Info, &line);
                }
                Ok(pass(&request))
            }
            Some(other) => Err(JudgeError::InvalidRequest(format!(
                "unknown behaviour {other:?}"
            ))),
        }
    }
}

// Exported only for wasm32, so that `cargo build --workspace` also builds (an empty library) for the host.
#[cfg(target_arch = "wasm32")]
export!(Scripted);

/// The value of the string key `"behaviour"` in the JSON object `configuration`, found without a JSON parser:
/// the fixture's configurations are written by the tests, so the first `"behaviour"` is the key.
fn behaviour(configuration: &str) -> Option<&str> {
    let rest = &configuration[configuration.find("\"behaviour\"")? + "\"behaviour\"".len()..];
    let rest = rest
        .trim_start()
        .strip_prefix(':')?
        .trim_start()
        .strip_prefix('"')?;
    Some(&rest[..rest.find('"')?])
}

/// The trivial judgement: every pair passes, score 100.
fn pass(request: &JudgeRequest) -> Judgement {
    Judgement {
        results: request
            .pairs
            .iter()
            .map(|pair| pass_result(pair.id.clone()))
            .collect(),
        group_scores: Vec::new(),
        score: 100.0,
        classification: ScoreClassification::Pass,
        reason: String::new(),
    }
}

fn pass_result(pair_id: String) -> MetricResult {
    const ZERO: SummaryStats = SummaryStats {
        count: 0,
        min: 0.0,
        max: 0.0,
        mean: 0.0,
        std: 0.0,
    };
    MetricResult {
        pair_id,
        classification: MetricClassification::Pass,
        reason: None,
        critical: false,
        control: ZERO,
        experiment: ZERO,
        details: Vec::new(),
    }
}

/// Spins forever; `black_box` keeps the optimiser from proving the loop useless.
fn spin() -> ! {
    let mut counter = 0u64;
    loop {
        counter = black_box(counter.wrapping_add(1));
    }
}

/// Allocates 1 MiB blocks forever, writing to every page so that they are really used, and keeps them alive.
fn exhaust_memory() -> ! {
    let mut blocks: Vec<Vec<u8>> = Vec::new();
    loop {
        let mut block = vec![0u8; 1 << 20];
        for byte in block.iter_mut().step_by(4096) {
            *byte = 1;
        }
        blocks.push(black_box(block));
        black_box(&blocks);
    }
}

/// Read with `read_volatile`, so that the optimiser cannot see that [`recurse`] never reaches its base case.
static RECURSION_LIMIT: u64 = u64::MAX;

/// Recurses without bound until the host's wasm stack limit traps it. Each frame keeps several values alive
/// across the call and combines them with the callee's result, so the call is not a tail call and the recursion
/// cannot become a loop. It uses no linear-memory ("shadow") stack — no `black_box`, no address-taken locals —
/// only the engine's native stack, so it ends in a stack-overflow trap rather than in an out-of-bounds access
/// when the 1 MiB shadow stack runs out.
#[inline(never)]
fn recurse(depth: u64) -> u64 {
    // SAFETY: a volatile read of an initialised, aligned static.
    let limit = unsafe { core::ptr::read_volatile(&RECURSION_LIMIT) };
    if depth == limit {
        return depth;
    }
    let a = depth.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let b = a.rotate_left(17) ^ limit;
    let c = b.wrapping_mul(a | 1);
    let d = c.rotate_right(29) ^ depth;
    let below = recurse(depth + 1);
    below.rotate_left((a & 63) as u32) ^ b.wrapping_mul(below | 1) ^ c.wrapping_add(d)
}
