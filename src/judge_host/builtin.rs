//! The judges compiled into the coalmine binary. `build.rs` builds each judge crate under `judges/` for
//! `wasm32-wasip2` and places the component in `OUT_DIR`.

/// A judge embedded in the binary.
pub struct BuiltIn {
    /// The crate it was built from, shown as its origin.
    pub source: &'static str,
    /// Other names it answers to, such as Kayenta's name for the same judge.
    pub aliases: &'static [&'static str],
    pub component: &'static [u8],
}

/// Every built-in judge, the default first.
pub const BUILT_IN: &[BuiltIn] = &[
    BuiltIn {
        source: "judges/mann-whitney",
        aliases: &["NetflixACAJudge-v1.0"],
        component: include_bytes!(concat!(env!("OUT_DIR"), "/coalmine_mann_whitney.wasm")),
    },
    BuiltIn {
        source: "judges/coalmine-v1",
        aliases: &[],
        component: include_bytes!(concat!(env!("OUT_DIR"), "/coalmine_v1.wasm")),
    },
    BuiltIn {
        source: "judges/coalmine-sequential",
        aliases: &[],
        component: include_bytes!(concat!(env!("OUT_DIR"), "/coalmine_sequential.wasm")),
    },
];

/// The judge used when a request names none.
pub const DEFAULT_JUDGE: &str = "mann-whitney";
