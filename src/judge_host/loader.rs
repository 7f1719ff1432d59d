//! Turning the bytes of a `.wasm` file into a [`Judge`] ready to call: header check, compilation (or the cached
//! artefact of an earlier compilation), the contract check of its imports and exports, and its identity.
//!
//! Compiled artefacts are cached as `<sha256>-<engine>.cwasm` in the cache directory: the key covers the exact
//! bytes and the engine's compatibility hash, so an artefact is only ever loaded by an engine that can run it.
//! Only coalmine writes that directory; an artefact that fails to load is recompiled and replaced.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::UNIX_EPOCH;

use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::{Component, Linker};

use super::call::{CallState, Caller, Prepared, with_instance};
use super::engine::ALLOWED_IMPORTS;
use super::error::{PluginError, truncate};
use super::judge::{Judge, JudgeInfo, Origin};
use super::limits::{Limits, MAX_MEMORIES};

/// The version of the `coalmine:judge` package this host is built from.
pub const WIT_VERSION: &str = "0.1.1";
/// Versions this host accepts from plugins: the same minor version, any patch.
const WIT_COMPATIBLE: &str = "0.1";

/// Largest plugin file accepted (interpreted-language components run to tens of MiB).
const MAX_PLUGIN_BYTES: usize = 128 << 20;

const COMPONENT_HEADER: [u8; 8] = *b"\0asm\x0d\0\x01\0";
const MODULE_HEADER: [u8; 8] = *b"\0asm\x01\0\0\0";

/// What a file is as a component, and whether it loads as a judge: `coalmine plugin inspect`.
#[derive(Debug)]
pub struct Inspection {
    /// Size of the file in bytes.
    pub size: usize,
    /// SHA-256 of the bytes, hex-encoded.
    pub sha256: String,
    /// The interfaces the component imports, e.g. `coalmine:judge/host@0.1.0`; empty when it does not compile.
    pub imports: Vec<String>,
    /// The interfaces and functions the component exports.
    pub exports: Vec<String>,
    /// The `coalmine:judge` package version of its `judge` export, if it has one.
    pub wit_version: Option<String>,
    /// The loaded judge, or why this host cannot load it.
    pub judge: Result<Judge, PluginError>,
}

/// Inspects `bytes`: its imports and exports when it compiles, and the outcome of loading it as a judge.
pub(super) fn inspect(
    engine: &Engine,
    linker: &Linker<CallState>,
    limits: &Limits,
    cache_dir: Option<&Path>,
    bytes: &[u8],
    origin: Origin,
) -> Inspection {
    let label = origin.to_string();
    let sha256 = hex(&Sha256::digest(bytes));
    let (mut imports, mut exports) = (Vec::new(), Vec::new());
    if check_header(&label, bytes).is_ok()
        && let Ok(component) = compile(engine, cache_dir, &label, &sha256, bytes)
    {
        let ty = component.component_type();
        imports = ty
            .imports(engine)
            .map(|(name, _)| name.to_string())
            .collect();
        exports = ty
            .exports(engine)
            .map(|(name, _)| name.to_string())
            .collect();
    }
    let wit_version = exports
        .iter()
        .find_map(|name| name.strip_prefix("coalmine:judge/judge@"))
        .map(str::to_string);
    Inspection {
        size: bytes.len(),
        sha256,
        imports,
        exports,
        wit_version,
        judge: load(engine, linker, limits, cache_dir, bytes, origin),
    }
}

/// Loads a judge from `bytes`; `label` names it in errors until its own name is known.
pub(super) fn load(
    engine: &Engine,
    linker: &Linker<CallState>,
    limits: &Limits,
    cache_dir: Option<&Path>,
    bytes: &[u8],
    origin: Origin,
) -> Result<Judge, PluginError> {
    let label = origin.to_string();
    check_header(&label, bytes)?;
    let sha256 = hex(&Sha256::digest(bytes));
    let component = compile(engine, cache_dir, &label, &sha256, bytes)?;
    check_contract(engine, &component, &label)?;
    let instance_pre =
        linker
            .instantiate_pre(&component)
            .map_err(|error| PluginError::Instantiate {
                plugin: label.clone(),
                reason: truncate(&format!("{error:#}"), 1000),
            })?;
    let pre = Prepared::new(instance_pre).map_err(|error| PluginError::MissingExport {
        plugin: label.clone(),
        exports: truncate(&format!("{error:#}"), 1000),
    })?;
    let label: Arc<str> = label.into();
    let caller = Caller {
        gate: None,
        built_in: matches!(origin, Origin::BuiltIn(_)),
        now: UNIX_EPOCH,
    };
    let (info, _report) = with_instance(&pre, &label, limits, caller, |plugin, store| {
        plugin.judge.coalmine_judge_judge().call_info(store)
    });
    let info = JudgeInfo::checked(&label, info?)?;
    Ok(Judge::new(info, origin, sha256, pre, limits.clone()))
}

fn check_header(label: &str, bytes: &[u8]) -> Result<(), PluginError> {
    let reason = if bytes.len() > MAX_PLUGIN_BYTES {
        format!(
            "it is {} MiB, more than the {} MiB a plugin may be",
            bytes.len() >> 20,
            MAX_PLUGIN_BYTES >> 20
        )
    } else if bytes.starts_with(&COMPONENT_HEADER) {
        return Ok(());
    } else if bytes.starts_with(&MODULE_HEADER) {
        "it is a core WebAssembly module: build it for the wasm32-wasip2 target, or wrap it with \
         `wasm-tools component new`"
            .to_string()
    } else if bytes.starts_with(b"\0asm") {
        "it is WebAssembly of an unknown version or layer".to_string()
    } else {
        "it does not start with the WebAssembly magic bytes".to_string()
    };
    Err(PluginError::NotAComponent {
        plugin: label.to_string(),
        reason,
    })
}

fn compile(
    engine: &Engine,
    cache_dir: Option<&Path>,
    label: &str,
    sha256: &str,
    bytes: &[u8],
) -> Result<Component, PluginError> {
    let cached = cache_dir.map(|dir| artefact_path(engine, dir, sha256));
    if let Some(path) = cached.as_deref().filter(|path| path.exists()) {
        // SAFETY: the cache directory holds only artefacts this program serialized itself, under a name that
        // encodes the engine compatibility hash; wasmtime rejects artefacts of other versions with an error.
        match unsafe { Component::deserialize_file(engine, path) } {
            Ok(component) => return Ok(component),
            Err(error) => tracing::warn!(
                "recompiling {label}: cached artefact {} is unusable: {error}",
                path.display()
            ),
        }
    }
    let component = Component::new(engine, bytes).map_err(|error| {
        let reason = format!("{error:#}");
        // The instance pool counts the memories of every module the component instantiates (wasmtime reports
        // it in words only); without the pool, the call's limiter refuses the second memory instead.
        if reason.contains("Wasm linear memories, which exceeds the configured maximum") {
            return PluginError::TooManyMemories {
                plugin: label.to_string(),
                limit: MAX_MEMORIES,
            };
        }
        PluginError::NotAComponent {
            plugin: label.to_string(),
            reason: truncate(&reason, 1000),
        }
    })?;
    if let Some(path) = cached
        && let Err(error) = store_artefact(&component, &path)
    {
        tracing::warn!(
            "cannot cache the compiled judge {label} at {}: {error}",
            path.display()
        );
    }
    Ok(component)
}

fn artefact_path(engine: &Engine, dir: &Path, sha256: &str) -> PathBuf {
    let mut hasher = DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut hasher);
    dir.join(format!("{sha256}-{:016x}.cwasm", hasher.finish()))
}

fn store_artefact(component: &Component, path: &Path) -> anyhow::Result<()> {
    let bytes = component.serialize().map_err(|e| anyhow::anyhow!("{e}"))?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let partial = path.with_extension(format!("{}.partial", std::process::id()));
    std::fs::write(&partial, bytes)?;
    std::fs::rename(&partial, path)?;
    Ok(())
}

/// Checks that the component exports a compatible `judge` interface and imports nothing the host withholds.
fn check_contract(engine: &Engine, component: &Component, label: &str) -> Result<(), PluginError> {
    let ty = component.component_type();
    let incompatible = |found: &str| PluginError::IncompatibleVersion {
        plugin: label.to_string(),
        found: found.to_string(),
        supported: WIT_VERSION,
    };

    let unsupported: Vec<String> = ty
        .imports(engine)
        .map(|(name, _)| name)
        .filter(|name| {
            !ALLOWED_IMPORTS
                .iter()
                .any(|prefix| name.starts_with(prefix))
        })
        .map(str::to_string)
        .collect();
    if !unsupported.is_empty() {
        return Err(PluginError::UnsupportedImports {
            plugin: label.to_string(),
            imports: unsupported,
        });
    }
    for (name, _) in ty.imports(engine) {
        let version = name
            .strip_prefix("coalmine:judge/")
            .and_then(|rest| rest.split_once('@'));
        if let Some((_, version)) = version
            && !compatible(version)
        {
            return Err(incompatible(version));
        }
    }

    let exports: Vec<&str> = ty.exports(engine).map(|(name, _)| name).collect();
    match exports
        .iter()
        .find_map(|name| name.strip_prefix("coalmine:judge/judge@"))
    {
        Some(version) if compatible(version) => Ok(()),
        Some(version) => Err(incompatible(version)),
        None => Err(PluginError::MissingExport {
            plugin: label.to_string(),
            exports: if exports.is_empty() {
                "nothing".to_string()
            } else {
                exports.join(", ")
            },
        }),
    }
}

fn compatible(version: &str) -> bool {
    version
        .strip_prefix(WIT_COMPATIBLE)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('.'))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
