//! What one judge call may use: wall-clock time, memory, log volume and the size of its answer.
//!
//! The stack is bounded for the whole engine (see [`super::engine::MAX_WASM_STACK`]); everything else is set per
//! host and enforced per call by [`CallLimiter`], the call's hostcall fuel (see [`super::call`]) and its epoch
//! deadline.
//!
//! The memory cap holds for the whole call: a judge may have [`MAX_MEMORIES`] linear memory (every toolchain
//! that builds components makes one; a component that defines more is refused at load), and the limiter counts
//! the total of all memories the call creates anyway.

use std::time::Duration;

use wasmtime::ResourceLimiter;

/// Limits applied to every call into a judge.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Wall-clock time a call may take, instantiation included.
    pub deadline: Duration,
    /// Largest total of linear memory a call may use, in bytes.
    pub max_memory: usize,
    /// Largest judgement a judge may return, in bytes as the host holds it: the length of every string plus,
    /// for every list, its length times the size of the host's element type (a metric result, a detail, a
    /// group score). Also the most a judge may pass the host in one log line.
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
#[error("memory limit exceeded: the judge tried to grow its memory to {desired} bytes in total")]
pub struct MemoryLimitExceeded {
    pub desired: usize,
}

/// Linear memories a call may create. More would multiply the memory cap.
pub const MAX_MEMORIES: usize = 1;

/// Enforces [`Limits::max_memory`] on the total of a call's linear memories and records its peak.
#[derive(Debug)]
pub struct CallLimiter {
    max_memory: usize,
    total_memory: usize,
    peak_memory: usize,
}

impl CallLimiter {
    pub fn new(max_memory: usize) -> Self {
        CallLimiter {
            max_memory,
            total_memory: 0,
            peak_memory: 0,
        }
    }

    /// The largest total size the call's linear memories reached, in bytes.
    pub fn peak_memory(&self) -> usize {
        self.peak_memory
    }
}

/// Most table elements a judge may have (function tables of ordinary programs are far smaller).
const MAX_TABLE_ELEMENTS: usize = 100_000;

impl ResourceLimiter for CallLimiter {
    /// Called when a memory is created (`current` 0) and whenever it grows.
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let total = (self.total_memory - current.min(self.total_memory)).saturating_add(desired);
        if total > self.max_memory {
            return Err(MemoryLimitExceeded { desired: total }.into());
        }
        self.total_memory = total;
        self.peak_memory = self.peak_memory.max(total);
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
        MAX_MEMORIES
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_is_on_the_total_of_all_memories() {
        let mut limiter = CallLimiter::new(100);
        assert!(limiter.memory_growing(0, 60, None).unwrap());
        assert!(limiter.memory_growing(60, 70, None).unwrap());
        // A second memory of 40 would bring the total to 110.
        assert!(limiter.memory_growing(0, 40, None).is_err());
        assert!(limiter.memory_growing(0, 30, None).unwrap());
        assert_eq!(limiter.peak_memory(), 100);
    }
}
