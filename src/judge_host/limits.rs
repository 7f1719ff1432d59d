//! What one judge call may use: wall-clock time, memory, log volume and the size of its answer.
//!
//! The stack is bounded for the whole engine (see [`super::engine::MAX_WASM_STACK`]); everything else is set per
//! host and enforced per call by [`CallLimiter`] and the call's epoch deadline.

use std::time::Duration;

use wasmtime::ResourceLimiter;

/// Limits applied to every call into a judge.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Wall-clock time a call may take, instantiation included.
    pub deadline: Duration,
    /// Largest linear memory a judge may grow to, in bytes.
    pub max_memory: usize,
    /// Largest judgement a judge may return, in bytes (strings, ids and numbers counted).
    pub max_judgement_bytes: usize,
    /// Log lines kept per call; later lines are counted and dropped.
    pub max_log_lines: usize,
    /// Bytes kept of each log line.
    pub max_log_line_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            deadline: Duration::from_secs(2),
            max_memory: 64 << 20,
            max_judgement_bytes: 4 << 20,
            max_log_lines: 100,
            max_log_line_bytes: 1000,
        }
    }
}

/// The memory limit was hit: the error a [`CallLimiter`] traps the guest with.
#[derive(Debug, thiserror::Error)]
#[error("memory limit exceeded: the judge tried to grow its memory to {desired} bytes")]
pub struct MemoryLimitExceeded {
    pub desired: usize,
}

/// Enforces [`Limits::max_memory`] and records the peak memory of a call.
#[derive(Debug)]
pub struct CallLimiter {
    max_memory: usize,
    peak_memory: usize,
}

impl CallLimiter {
    pub fn new(max_memory: usize) -> Self {
        CallLimiter {
            max_memory,
            peak_memory: 0,
        }
    }

    /// The largest size any linear memory of the call reached, in bytes.
    pub fn peak_memory(&self) -> usize {
        self.peak_memory
    }
}

/// Most table elements a judge may have (function tables of ordinary programs are far smaller).
const MAX_TABLE_ELEMENTS: usize = 100_000;

impl ResourceLimiter for CallLimiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.max_memory {
            return Err(MemoryLimitExceeded { desired }.into());
        }
        self.peak_memory = self.peak_memory.max(desired);
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }

    fn instances(&self) -> usize {
        100
    }

    fn tables(&self) -> usize {
        100
    }

    fn memories(&self) -> usize {
        100
    }
}
