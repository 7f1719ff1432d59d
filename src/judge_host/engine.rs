//! The process-wide wasmtime [`Engine`] and the [`Linker`] every judge is instantiated with.
//!
//! One engine serves the whole process: compiled judges are tied to the engine that compiled them, and the
//! engine owns the epoch counter that enforces wall-clock deadlines. A background thread advances the epoch
//! every [`EPOCH_TICK`]; a call's deadline is a number of ticks.
//!
//! Instances come from wasmtime's pooling allocator: memory slots are reserved once and reset in place between
//! calls instead of being mapped and unmapped per call, which takes the kernel's address-space lock
//! off the hot path of a busy server. The pool has room for [`max_concurrent_calls`] judge instances; calls
//! beyond that wait for a slot ([`CallSlots`]). Where the address space cannot be reserved (small 32-bit or
//! 39-bit hosts), the engine falls back to allocating instances on demand and says so in the log.
//!
//! The linker offers a judge exactly what a Rust `std` guest needs to instantiate and nothing that reaches
//! outside the sandbox: `wasi:io`, `wasi:cli` (no arguments, no environment, empty stdin, captured stderr),
//! `wasi:clocks` and a deterministically seeded `wasi:random`, plus coalmine's own `host` interface. No
//! filesystem, no sockets, no name lookup. [`ALLOWED_IMPORTS`] lists the same set for load-time checks.

use std::sync::{Condvar, Mutex, OnceLock};
use std::time::Duration;

use wasmtime::component::{HasData, HasSelf, Linker, ResourceTable};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};
use wasmtime_wasi::cli::{WasiCli, WasiCliView};
use wasmtime_wasi::clocks::{WasiClocks, WasiClocksView};
use wasmtime_wasi::p2::bindings::{cli, clocks, random, sync::io};
use wasmtime_wasi::random::WasiRandom;
use wasmtime_wasi::{WasiCtxView, WasiView};

use super::bindings::JudgePlugin;
use super::call::CallState;

/// How often the epoch advances: the granularity of call deadlines.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Largest wasm stack a call may use. Deeper recursion traps with a stack overflow.
pub const MAX_WASM_STACK: usize = 512 * 1024;

/// Interface name prefixes a judge may import (versions are matched by the linker).
pub const ALLOWED_IMPORTS: &[&str] = &[
    "coalmine:judge/host@",
    // Type-only interface: imported by every judge whose exports use its types.
    "coalmine:judge/types@",
    "wasi:io/",
    "wasi:cli/",
    "wasi:clocks/wall-clock@",
    "wasi:clocks/monotonic-clock@",
    "wasi:random/",
];

/// Largest linear memory a pooled instance slot holds. Above every call's memory limit (64 MiB by default),
/// so that the call's [`super::limits::CallLimiter`] refuses growth first, with its own error.
const POOL_MAX_MEMORY: usize = 256 << 20;

/// Bytes at the start of each pooled memory that stay resident between calls.
const KEEP_RESIDENT: usize = 2 << 20;

/// How many judge calls run at once: one per pooled instance slot.
pub fn max_concurrent_calls() -> usize {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    (cores * 4).max(16)
}

/// The process-wide engine, created on first use with its epoch ticker running.
pub fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        let engine = Engine::new(&config(Some(pooling(max_concurrent_calls()))))
            .or_else(|error| {
                tracing::warn!(
                    "judges are instantiated on demand: the instance pool could not be reserved ({error:#})"
                );
                Engine::new(&config(None))
            })
            // The configuration is fixed and valid: failure here is a bug, not an input error.
            .expect("the judge engine configuration is valid");
        let ticker = engine.weak();
        std::thread::Builder::new()
            .name("coalmine-epoch".into())
            .spawn(move || {
                while let Some(engine) = ticker.upgrade() {
                    engine.increment_epoch();
                    drop(engine);
                    std::thread::sleep(EPOCH_TICK);
                }
            })
            .expect("spawning the epoch ticker thread");
        engine
    })
}

fn config(pooling: Option<PoolingAllocationConfig>) -> Config {
    let mut config = Config::new();
    config
        .wasm_component_model(true)
        .epoch_interruption(true)
        .max_wasm_stack(MAX_WASM_STACK);
    if let Some(pooling) = pooling {
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pooling));
    }
    config
}

/// Room for `calls` judge instances at once, with headroom for components made of several core modules
/// (a guest language's runtime beside the judge, WASI adapters).
fn pooling(calls: usize) -> PoolingAllocationConfig {
    let calls = u32::try_from(calls).unwrap_or(u32::MAX / 64);
    let mut pooling = PoolingAllocationConfig::default();
    pooling
        .total_component_instances(calls)
        .total_core_instances(calls * 16)
        .total_memories(calls * 4)
        .total_tables(calls * 8)
        .max_memory_size(POOL_MAX_MEMORY)
        .max_component_instance_size(4 << 20)
        .max_core_instance_size(4 << 20)
        .max_unused_warm_slots(calls)
        // A judge touches its first few MiB on every call (stack, heap, data). Resetting them with memset
        // instead of madvise spares a page fault per page and a TLB shootdown across threads on every call.
        .linear_memory_keep_resident(KEEP_RESIDENT)
        .table_keep_resident(64 << 10)
        // On Linux 6.7 and later, the PAGEMAP_SCAN ioctl finds the pages a call actually wrote, and only those
        // are reset: a judge that dirtied 200 KiB costs a 200 KiB memset, not one of KEEP_RESIDENT. On older
        // kernels wasmtime falls back to the plain memset.
        .pagemap_scan(wasmtime::Enabled::Auto);
    pooling
}

/// Admission to the instance pool: at most [`max_concurrent_calls`] calls hold a slot; the others wait.
pub struct CallSlots {
    free: Mutex<usize>,
    released: Condvar,
}

/// A held slot, given back when dropped.
pub struct CallSlot<'a>(&'a CallSlots);

impl CallSlots {
    /// The process-wide slots, as many as the engine's pool holds instances.
    pub fn global() -> &'static CallSlots {
        static SLOTS: OnceLock<CallSlots> = OnceLock::new();
        SLOTS.get_or_init(|| CallSlots {
            free: Mutex::new(max_concurrent_calls()),
            released: Condvar::new(),
        })
    }

    /// Waits for a free slot.
    pub fn acquire(&self) -> CallSlot<'_> {
        // A poisoned lock only means another call panicked while counting; the count itself is intact.
        let mut free = self
            .free
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        while *free == 0 {
            free = self
                .released
                .wait(free)
                .unwrap_or_else(|poisoned| poisoned.into_inner());
        }
        *free -= 1;
        CallSlot(self)
    }
}

impl Drop for CallSlot<'_> {
    fn drop(&mut self) {
        let mut free = self
            .0
            .free
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        *free += 1;
        self.0.released.notify_one();
    }
}

/// The linker with everything [`ALLOWED_IMPORTS`] names, built once per host.
pub fn linker(engine: &Engine) -> wasmtime::Result<Linker<CallState>> {
    let mut linker = Linker::new(engine);
    let l = &mut linker;
    io::error::add_to_linker::<CallState, Table>(l, |s| &mut s.table)?;
    io::poll::add_to_linker::<CallState, Table>(l, |s| &mut s.table)?;
    io::streams::add_to_linker::<CallState, Table>(l, |s| &mut s.table)?;
    cli::exit::add_to_linker::<CallState, WasiCli>(l, CallState::cli)?;
    cli::environment::add_to_linker::<CallState, WasiCli>(l, CallState::cli)?;
    cli::stdin::add_to_linker::<CallState, WasiCli>(l, CallState::cli)?;
    cli::stdout::add_to_linker::<CallState, WasiCli>(l, CallState::cli)?;
    cli::stderr::add_to_linker::<CallState, WasiCli>(l, CallState::cli)?;
    cli::terminal_input::add_to_linker::<CallState, WasiCli>(l, CallState::cli)?;
    cli::terminal_output::add_to_linker::<CallState, WasiCli>(l, CallState::cli)?;
    cli::terminal_stdin::add_to_linker::<CallState, WasiCli>(l, CallState::cli)?;
    cli::terminal_stdout::add_to_linker::<CallState, WasiCli>(l, CallState::cli)?;
    cli::terminal_stderr::add_to_linker::<CallState, WasiCli>(l, CallState::cli)?;
    clocks::wall_clock::add_to_linker::<CallState, WasiClocks>(l, CallState::clocks)?;
    clocks::monotonic_clock::add_to_linker::<CallState, WasiClocks>(l, CallState::clocks)?;
    random::random::add_to_linker::<CallState, WasiRandom>(l, |s| s.wasi.random())?;
    random::insecure::add_to_linker::<CallState, WasiRandom>(l, |s| s.wasi.random())?;
    random::insecure_seed::add_to_linker::<CallState, WasiRandom>(l, |s| s.wasi.random())?;
    JudgePlugin::add_to_linker::<CallState, HasSelf<CallState>>(l, |s| s)?;
    Ok(linker)
}

/// `wasi:io` works on the call's resource table alone.
struct Table;

impl HasData for Table {
    type Data<'a> = &'a mut ResourceTable;
}

impl WasiView for CallState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_instance_pool_can_be_reserved_on_this_machine() {
        Engine::new(&config(Some(pooling(max_concurrent_calls())))).unwrap();
    }

    #[test]
    fn a_slot_is_given_back_when_the_call_ends() {
        let slots = CallSlots {
            free: Mutex::new(1),
            released: Condvar::new(),
        };
        drop(slots.acquire());
        let held = slots.acquire();
        assert_eq!(*slots.free.lock().unwrap(), 0);
        drop(held);
        assert_eq!(*slots.free.lock().unwrap(), 1);
    }
}
