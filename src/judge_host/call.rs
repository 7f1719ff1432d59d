//! One call into a judge: a fresh store and instance, the call's limits, its clocks, its logs, and the
//! classification of everything that can go wrong into a [`PluginError`].
//!
//! A store is never reused: an instance that trapped or ran out of time is poisoned, and a fresh instance from
//! an `InstancePre` costs tens of microseconds.
//!
//! What a judge hands the host (its judgement, a log line) is bounded while it is lifted out of the judge's
//! memory, not after: the store's hostcall fuel is [`Limits::max_judgement_bytes`], and wasmtime charges every
//! string its length and every list its length times the size of the host's element type *before* it
//! allocates and copies them. An answer too large stops at the first value that crosses the limit, having cost
//! the host at most the limit.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use rand::SeedableRng;
use rand::rngs::StdRng;
use wasmtime::component::ResourceTable;
use wasmtime::{Store, Trap};
use wasmtime_wasi::WasiCtx;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;

use wasmtime::component::InstancePre;

use super::bindings::coalmine::judge::host::{self, Level};
use super::bindings::coalmine::judge::types;
use super::bindings::decision;
use super::bindings::{JudgePlugin, JudgePluginIndices};
use super::clock::{FixedWallClock, SteppingMonotonicClock};
use super::engine::{CallSlots, EPOCH_TICK, Gate, MAX_WASM_STACK};
use super::error::{PluginError, truncate};
use super::limits::{CallLimiter, Limits, MAX_MEMORIES, MemoryLimitExceeded};

/// Bytes of a judge's stderr kept per call (a Rust guest's panic message lands there).
const STDERR_CAPACITY: usize = 16 * 1024;

/// One line a judge logged through the host's `log` import.
#[derive(Debug, Clone, PartialEq)]
pub struct LogLine {
    pub level: Level,
    pub message: String,
}

/// Measurements of one call, reported with its result.
#[derive(Debug, Clone)]
pub struct CallReport {
    /// What the judge logged, at most [`Limits::max_log_lines`] lines.
    pub logs: Vec<LogLine>,
    /// Lines logged beyond the limit and dropped.
    pub dropped_log_lines: usize,
    /// Wall time of the call, instantiation included.
    pub elapsed: Duration,
    /// The largest linear memory the judge reached, in bytes.
    pub peak_memory: usize,
}

/// The state of one store: WASI context, resources, limits and the judge's logs.
pub struct CallState {
    pub(super) wasi: WasiCtx,
    pub(super) table: ResourceTable,
    limiter: CallLimiter,
    plugin: Arc<str>,
    logs: Vec<LogLine>,
    dropped_log_lines: usize,
    max_log_lines: usize,
    max_log_line_bytes: usize,
}

/// The `types` interface has no functions.
impl types::Host for CallState {}

impl host::Host for CallState {
    fn log(&mut self, level: Level, message: String) {
        if self.logs.len() >= self.max_log_lines {
            self.dropped_log_lines += 1;
            return;
        }
        let message = truncate(&message, self.max_log_line_bytes);
        let plugin = &*self.plugin;
        match level {
            Level::Trace => tracing::trace!(target: "coalmine::judge", judge = plugin, "{message}"),
            Level::Debug => tracing::debug!(target: "coalmine::judge", judge = plugin, "{message}"),
            Level::Info => tracing::info!(target: "coalmine::judge", judge = plugin, "{message}"),
            Level::Warn => tracing::warn!(target: "coalmine::judge", judge = plugin, "{message}"),
            Level::Error => tracing::error!(target: "coalmine::judge", judge = plugin, "{message}"),
        }
        self.logs.push(LogLine { level, message });
    }
}

/// The name of the optional `decision` interface, as the host's WIT spells it; a plugin's export of any
/// `0.1.*` version matches it (the component model's semver rule).
pub const DECISION_INTERFACE: &str = "coalmine:judge/decision@0.1.1";

/// A judge compiled and pre-linked, with the exports it is called through found once: `judge` always, and
/// `decision` when the component exports it (probed when it is loaded).
#[derive(Clone)]
pub(super) struct Prepared {
    instance_pre: InstancePre<CallState>,
    judge: JudgePluginIndices,
    decision: Option<decision::GuestIndices>,
}

/// One instance's exports.
pub(super) struct Exports {
    pub judge: JudgePlugin,
    /// The `decision` interface, when the judge exports it.
    pub decision: Option<decision::Guest>,
}

impl Prepared {
    /// Finds the exports of `instance_pre`'s component; the error says which is missing or malformed.
    pub fn new(instance_pre: InstancePre<CallState>) -> wasmtime::Result<Prepared> {
        let judge = JudgePluginIndices::new(&instance_pre)?;
        // Probed: absent is fine (every 0.1.0 plugin), present but malformed is the plugin's error.
        let decision = match instance_pre
            .component()
            .get_export_index(None, DECISION_INTERFACE)
        {
            None => None,
            Some(_) => Some(decision::GuestIndices::new(&instance_pre)?),
        };
        Ok(Prepared {
            instance_pre,
            judge,
            decision,
        })
    }

    /// Whether the judge exports the `decision` interface.
    pub fn decides(&self) -> bool {
        self.decision.is_some()
    }

    fn engine(&self) -> &wasmtime::Engine {
        self.instance_pre.engine()
    }

    fn instantiate(&self, store: &mut Store<CallState>) -> wasmtime::Result<Exports> {
        let instance = self.instance_pre.instantiate(&mut *store)?;
        let judge = self.judge.load(&mut *store, &instance)?;
        let decision = match &self.decision {
            Some(indices) => Some(indices.load(&mut *store, &instance)?),
            None => None,
        };
        Ok(Exports { judge, decision })
    }
}

/// Who a call is for: what it is admitted under ([`CallSlots`]) and the instant its wall clock reads.
pub(super) struct Caller<'a> {
    /// The judge's own gate; none while a plugin is being loaded.
    pub gate: Option<&'a Gate>,
    pub built_in: bool,
    /// What the judge's wall clock reads throughout the call.
    pub now: SystemTime,
}

/// Runs `f` against a fresh instance of `pre` under `limits`, and classifies any failure.
///
/// `plugin` names the judge in errors and logs.
pub(super) fn with_instance<R>(
    pre: &Prepared,
    plugin: &Arc<str>,
    limits: &Limits,
    caller: Caller<'_>,
    f: impl FnOnce(&Exports, &mut Store<CallState>) -> wasmtime::Result<R>,
) -> (Result<R, PluginError>, CallReport) {
    let _slot = CallSlots::global().acquire(caller.gate, caller.built_in);
    let started = Instant::now();
    let stderr = MemoryOutputPipe::new(STDERR_CAPACITY);
    let wasi = WasiCtx::builder()
        .stderr(stderr.clone())
        // Judges are deterministic: the same input gives the same verdict, randomness and time included.
        .secure_random(StdRng::seed_from_u64(0))
        .insecure_random(StdRng::seed_from_u64(1))
        .insecure_random_seed(2)
        .wall_clock(FixedWallClock::at(caller.now))
        .monotonic_clock(SteppingMonotonicClock::default())
        .build();
    let state = CallState {
        wasi,
        table: ResourceTable::new(),
        limiter: CallLimiter::new(limits.max_memory),
        plugin: plugin.clone(),
        logs: Vec::new(),
        dropped_log_lines: 0,
        max_log_lines: limits.max_log_lines,
        max_log_line_bytes: limits.max_log_line_bytes,
    };
    let mut store = Store::new(pre.engine(), state);
    store.limiter(|state| &mut state.limiter);
    store.set_hostcall_fuel(limits.max_judgement_bytes);
    store.set_epoch_deadline(deadline_ticks(limits.deadline));
    store.epoch_deadline_trap();

    let result = pre
        .instantiate(&mut store)
        .and_then(|instance| f(&instance, &mut store))
        .map_err(|error| classify(plugin, limits, &error, &stderr.contents()));

    let state = store.into_data();
    if state.dropped_log_lines > 0 {
        tracing::warn!(
            target: "coalmine::judge",
            judge = &**plugin,
            "dropped {} log lines beyond the limit of {} per call",
            state.dropped_log_lines,
            limits.max_log_lines
        );
    }
    let report = CallReport {
        logs: state.logs,
        dropped_log_lines: state.dropped_log_lines,
        elapsed: started.elapsed(),
        peak_memory: state.limiter.peak_memory(),
    };
    (result, report)
}

/// Epoch ticks for a deadline: rounded up, plus one because the first tick may come at any moment after
/// the deadline is set, so a call always gets at least its whole deadline.
fn deadline_ticks(deadline: Duration) -> u64 {
    let tick = EPOCH_TICK.as_nanos();
    deadline.as_nanos().div_ceil(tick) as u64 + 1
}

/// Turns a wasmtime error from instantiating or calling a judge into the error users see.
fn classify(
    plugin: &Arc<str>,
    limits: &Limits,
    error: &wasmtime::Error,
    stderr: &[u8],
) -> PluginError {
    let plugin = plugin.to_string();
    if error.downcast_ref::<MemoryLimitExceeded>().is_some() {
        return PluginError::MemoryLimitExceeded {
            plugin,
            limit: limits.max_memory,
        };
    }
    // wasmtime reports these two with private error types: their messages are all there is to go by
    // (tests/judge_host.rs notices when a new wasmtime words them differently).
    let said = |words: &str| error.chain().any(|cause| cause.to_string().contains(words));
    if said("fuel allocated for hostcalls has been exhausted") {
        return PluginError::JudgementTooLarge {
            plugin,
            limit: limits.max_judgement_bytes,
        };
    }
    if said("resource limit exceeded: memory count too high") {
        return PluginError::TooManyMemories {
            plugin,
            limit: MAX_MEMORIES,
        };
    }
    match error.downcast_ref::<Trap>() {
        Some(Trap::Interrupt) => PluginError::DeadlineExceeded {
            plugin,
            limit: limits.deadline,
        },
        Some(Trap::StackOverflow) => PluginError::StackOverflow {
            plugin,
            limit: MAX_WASM_STACK,
        },
        Some(trap) => PluginError::Trap {
            plugin,
            trap: trap.to_string(),
            stderr: stderr_text(stderr),
        },
        None => PluginError::Failed {
            plugin,
            message: truncate(&format!("{error:#}"), 1000),
        },
    }
}

/// What the judge wrote to stderr before it trapped (a Rust guest's panic message), if anything.
fn stderr_text(stderr: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(stderr);
    let text: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with("note: run with `RUST_BACKTRACE"))
        .collect();
    (!text.is_empty()).then(|| truncate(&text.join(" "), 1000))
}
