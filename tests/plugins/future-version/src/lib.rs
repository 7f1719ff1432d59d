//! Test fixture: a component built against `coalmine:judge@0.2.0` (a future, incompatible version of the
//! contract, see `wit/judge.wit` of this crate), which the host must reject as an incompatible contract version.

wit_bindgen::generate!({
    world: "judge-plugin",
    path: "wit",
});

use exports::coalmine::judge::judge::Guest;

struct FutureVersion;

impl Guest for FutureVersion {
    fn info() -> String {
        "future-version".to_string()
    }
}

// Exported only for wasm32, so that `cargo build --workspace` also builds (an empty library) for the host.
#[cfg(target_arch = "wasm32")]
export!(FutureVersion);
