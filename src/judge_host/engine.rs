//! The process-wide wasmtime [`Engine`] and the [`Linker`] every judge is instantiated with.
//!
//! One engine serves the whole process: compiled judges are tied to the engine that compiled them, and the
//! engine owns the epoch counter that enforces wall-clock deadlines. A background thread advances the epoch
//! every [`EPOCH_TICK`]; a call's deadline is a number of ticks.
//!
//! The linker offers a judge exactly what a Rust `std` guest needs to instantiate and nothing that reaches
//! outside the sandbox: `wasi:io`, `wasi:cli` (no arguments, no environment, empty stdin, captured stderr),
//! `wasi:clocks` and a deterministically seeded `wasi:random`, plus coalmine's own `host` interface. No
//! filesystem, no sockets, no name lookup. [`ALLOWED_IMPORTS`] lists the same set for load-time checks.

use std::sync::OnceLock;
use std::time::Duration;

use wasmtime::component::{HasData, HasSelf, Linker, ResourceTable};
use wasmtime::{Config, Engine};
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

/// The process-wide engine, created on first use with its epoch ticker running.
pub fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        let mut config = Config::new();
        config
            .wasm_component_model(true)
            .epoch_interruption(true)
            .max_wasm_stack(MAX_WASM_STACK);
        // The configuration is fixed and valid: failure here is a bug, not an input error.
        let engine = Engine::new(&config).expect("the judge engine configuration is valid");
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
