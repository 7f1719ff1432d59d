//! coalmine: a canary judge server. It compares an experiment (the canary) with a control (the baseline) metric
//! by metric and answers Pass, Marginal or Fail with a score and an explanation per metric, the way Kayenta
//! does, with judges that run as sandboxed WebAssembly components.
//!
//! The data flows one way: Kayenta wire formats ([`kayenta`]) → the judge contract's request ([`judging`]) →
//! the sandboxed judge ([`judge_host`]) → Kayenta's `CanaryJudgeResult`.

pub mod analysis;
pub mod cli;
pub mod display;
pub mod documents;
pub mod judge_host;
pub mod judging;
pub mod kayenta;
pub mod metrics;
pub mod server;
pub mod store;
pub mod telemetry;
