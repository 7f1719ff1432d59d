//! The process-wide wasmtime [`Engine`] and the [`Linker`] every judge is instantiated with.
//!
//! One engine serves the whole process: compiled judges are tied to the engine that compiled them, and the
//! engine owns the epoch counter that enforces wall-clock deadlines. A background thread advances the epoch
//! every [`EPOCH_TICK`]; a call's deadline is a number of ticks.
//!
//! Instances come from wasmtime's pooling allocator: memory slots are reserved once and reset in place between
//! calls instead of being mapped and unmapped per call, which takes the kernel's address-space lock
//! off the hot path of a busy server. The pool has room for [`max_concurrent_calls`] judge instances; calls
//! beyond that wait for a slot ([`CallSlots`]), fairly: one judge may hold at most half the pool and all plugins
//! together three quarters, so a burst of calls that each run to their deadline on one judge (a plugin that
//! loops on some input) never starves the others, and no number of plugins starves the built-in judges. This is
//! the simplest design that bounds what one judge can take without making calls preemptible: waiting is per
//! judge, each call still runs to completion on its thread, and a judge alone still has twice as many slots as
//! the machine has cores. Where the address space cannot be reserved (small 32-bit or
//! 39-bit hosts), the engine falls back to allocating instances on demand and says so in the log.
//!
//! The linker offers a judge exactly what a Rust `std` guest needs to instantiate and nothing that reaches
//! outside the sandbox: `wasi:io`, `wasi:cli` (no arguments, no environment, empty stdin, captured stderr),
//! `wasi:clocks` and a deterministically seeded `wasi:random`, plus coalmine's own `host` interface. No
//! filesystem, no sockets, no name lookup. [`ALLOWED_IMPORTS`] lists the same set for load-time checks.

use std::sync::{Condvar, Mutex, OnceLock, PoisonError};
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
use super::limits::MAX_MEMORIES;

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
        // A component that instantiates more memories than a call may create is refused when it compiles.
        .max_memories_per_component(MAX_MEMORIES as u32)
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

/// How many calls one judge may run at once: half the pool, so that a burst of calls to one judge (each
/// running to its deadline, say) always leaves the other half to the other judges. At least as many as the
/// machine has cores (the pool holds four per core), so a single judge still uses every core.
pub fn max_calls_per_judge() -> usize {
    (max_concurrent_calls() / 2).max(1)
}

/// How many calls all plugin judges together may run at once: the pool less a quarter reserved for the
/// built-in judges, so that plugins bursting together never starve the default judge.
pub fn max_plugin_calls() -> usize {
    (max_concurrent_calls() - max_concurrent_calls() / 4).max(1)
}

/// A counting semaphore: at most `capacity` permits are out at once; the others wait.
#[derive(Debug)]
pub struct Gate {
    in_use: Mutex<usize>,
    capacity: usize,
    released: Condvar,
}

/// A permit of a [`Gate`], given back when dropped.
pub struct Permit<'a>(&'a Gate);

impl Gate {
    pub fn new(capacity: usize) -> Gate {
        Gate {
            in_use: Mutex::new(0),
            capacity,
            released: Condvar::new(),
        }
    }

    /// Waits for a permit.
    pub fn acquire(&self) -> Permit<'_> {
        // A poisoned lock only means another call panicked while counting; the count itself is intact.
        let mut in_use = self.in_use.lock().unwrap_or_else(PoisonError::into_inner);
        while *in_use >= self.capacity {
            in_use = self
                .released
                .wait(in_use)
                .unwrap_or_else(PoisonError::into_inner);
        }
        *in_use += 1;
        Permit(self)
    }

    /// A permit if one is free now.
    #[cfg(test)]
    pub fn try_acquire(&self) -> Option<Permit<'_>> {
        let mut in_use = self.in_use.lock().unwrap_or_else(PoisonError::into_inner);
        (*in_use < self.capacity).then(|| {
            *in_use += 1;
            Permit(self)
        })
    }

    /// Permits out at this moment.
    pub fn in_use(&self) -> usize {
        *self.in_use.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        let mut in_use = self.0.in_use.lock().unwrap_or_else(PoisonError::into_inner);
        *in_use -= 1;
        self.0.released.notify_one();
    }
}

/// Admission of calls to the instance pool, fair between judges.
///
/// A call takes, in this order, a permit of its judge's own gate ([`max_calls_per_judge`]), for a plugin a
/// permit of the gate all plugins share ([`max_plugin_calls`]), and a slot of the pool
/// ([`max_concurrent_calls`]). Every call takes its gates in the same order and gives them back when it ends
/// (at its deadline at the latest), so no call waits forever. Calls to one judge queue at that judge's gate
/// holding nothing the others need: 32 calls to a plugin that loops until its deadline occupy half the pool
/// and leave the rest to the other judges; plugins bursting together occupy three quarters and leave the last
/// quarter to the built-in judges.
pub struct CallSlots {
    pool: Gate,
    plugins: Gate,
}

/// The permits a call holds, given back when dropped (the pool slot first).
pub struct CallSlot<'a> {
    _pool: Permit<'a>,
    _plugins: Option<Permit<'a>>,
    _judge: Option<Permit<'a>>,
}

impl CallSlots {
    /// The process-wide slots, as many as the engine's pool holds instances.
    pub fn global() -> &'static CallSlots {
        static SLOTS: OnceLock<CallSlots> = OnceLock::new();
        SLOTS.get_or_init(|| CallSlots::new(max_concurrent_calls(), max_plugin_calls()))
    }

    fn new(pool: usize, plugins: usize) -> CallSlots {
        CallSlots {
            pool: Gate::new(pool),
            plugins: Gate::new(plugins),
        }
    }

    /// Waits for a slot for a call to the judge whose own gate is `judge` (none while a plugin is being
    /// loaded), a built-in judge or a plugin.
    pub fn acquire<'a>(&'a self, judge: Option<&'a Gate>, built_in: bool) -> CallSlot<'a> {
        let judge = judge.map(Gate::acquire);
        let plugins = (!built_in).then(|| self.plugins.acquire());
        CallSlot {
            _pool: self.pool.acquire(),
            _plugins: plugins,
            _judge: judge,
        }
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
        let slots = CallSlots::new(1, 1);
        drop(slots.acquire(None, false));
        let held = slots.acquire(None, false);
        assert_eq!(slots.pool.in_use(), 1);
        assert_eq!(slots.plugins.in_use(), 1);
        drop(held);
        assert_eq!(slots.pool.in_use(), 0);
        assert_eq!(slots.plugins.in_use(), 0);
    }

    #[test]
    fn a_judge_at_its_share_leaves_the_pool_to_the_others() {
        let slots = CallSlots::new(4, 3);
        let (busy, other) = (Gate::new(2), Gate::new(2));
        let _held: Vec<_> = (0..2).map(|_| slots.acquire(Some(&busy), false)).collect();
        assert!(
            busy.try_acquire().is_none(),
            "the busy judge is at its share"
        );
        assert_eq!(slots.pool.in_use(), 2);
        // Another plugin gets the plugins' last slot; a built-in judge the reserved one.
        let _plugin = slots.acquire(Some(&other), false);
        assert!(slots.plugins.try_acquire().is_none());
        let _built_in = slots.acquire(None, true);
        assert_eq!(slots.pool.in_use(), 4);
    }
}
