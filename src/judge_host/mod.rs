//! The judge host: loads judge plugins (WebAssembly components implementing `wit/judge.wit`) and runs them in
//! a sandbox.
//!
//! - One process-wide engine ([`engine`]); each plugin compiled once, its artefact cached on disk by content
//!   hash and engine compatibility, and pre-linked (`InstancePre`).
//! - Every call gets a fresh store and instance with a wall-clock deadline, a memory cap for the whole call, a
//!   bounded stack and a bound on the size of what it hands back, checked while it is copied out ([`Limits`]);
//!   the plugin sees no files, sockets or environment.
//! - Judges are deterministic: randomness is seeded, the wall clock stands at the instant judged and the
//!   monotonic clock counts reads ([`clock`]), so the same request always gets the same judgement.
//! - Judges share the instance pool fairly: one judge may hold at most half of it, and plugins together at
//!   most three quarters, so a burst of calls that run to their deadline on one judge never starves the others
//!   (`engine::CallSlots`).
//! - Every failure, from "not a component" to "returned a judgement for a pair that does not exist", is a
//!   [`PluginError`] that names the plugin and the cause. Nothing a plugin does panics or stalls the host.
//!
//! The host knows nothing of Kayenta's JSON or of HTTP: its vocabulary is the WIT types re-exported here.

mod bindings;
mod builtin;
mod call;
pub mod clock;
mod engine;
mod error;
mod judge;
mod limits;
mod loader;
mod validate;
pub mod watch;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};

use wasmtime::component::Linker;

pub use bindings::coalmine::judge::host::Level as LogLevel;
pub use bindings::coalmine::judge::types::*;
pub use bindings::decision::Finality;
pub use builtin::DEFAULT_JUDGE;
pub use call::{CallReport, LogLine};
pub use clock::judged_at;
pub use engine::{max_calls_per_judge, max_concurrent_calls, max_plugin_calls};
pub use error::PluginError;
pub use judge::{Answer, Decision, Judge, JudgeInfo, Origin};
pub use limits::Limits;
pub use loader::{Inspection, WIT_VERSION};

use call::CallState;

/// The judges available to this process, by name.
///
/// The set of judges can change while the host serves ([`JudgeHost::replace`], [`JudgeHost::unload`], used by
/// [`watch`] to reload a judges directory): a call holds its own `Arc<Judge>`, so a judge swapped out finishes
/// the calls it started.
pub struct JudgeHost {
    linker: Linker<CallState>,
    limits: Limits,
    cache_dir: Option<PathBuf>,
    judges: RwLock<BTreeMap<String, Arc<Judge>>>,
    aliases: BTreeMap<String, String>,
}

impl JudgeHost {
    /// A host with no judges. Compiled plugins are cached in `cache_dir` when given.
    pub fn new(limits: Limits, cache_dir: Option<PathBuf>) -> Self {
        let linker = engine::linker(engine::engine())
            // The linker only holds host functions defined by this crate: failure is a bug.
            .expect("defining the judge host functions");
        JudgeHost {
            linker,
            limits,
            cache_dir,
            judges: RwLock::new(BTreeMap::new()),
            aliases: BTreeMap::new(),
        }
    }

    /// A host with the built-in judges loaded.
    pub fn with_built_in(limits: Limits, cache_dir: Option<PathBuf>) -> Result<Self, PluginError> {
        let mut host = JudgeHost::new(limits, cache_dir);
        for built_in in builtin::BUILT_IN {
            let judge = host.load(built_in.component, Origin::BuiltIn(built_in.source))?;
            let name = host.register(judge)?.name().to_string();
            for alias in built_in.aliases {
                host.aliases.insert(alias.to_string(), name.clone());
            }
        }
        Ok(host)
    }

    /// Makes `alias` another name of the loaded judge `target` (`[judges] aliases` of the settings). Refused
    /// with the reason when `target` is not loaded, or when `alias` is a loaded judge's name or already an
    /// alias of another judge.
    pub fn add_alias(&mut self, alias: &str, target: &str) -> Result<(), String> {
        let judges = self.judges.read().unwrap_or_else(PoisonError::into_inner);
        if judges.contains_key(alias) {
            return Err(format!(
                "[judges] aliases: \"{alias}\" is the name of a loaded judge; an alias may not hide it"
            ));
        }
        let target = match (judges.contains_key(target), self.aliases.get(target)) {
            (true, _) => target.to_string(),
            (false, Some(resolved)) => resolved.clone(),
            (false, None) => {
                let loaded: Vec<&str> = judges.keys().map(String::as_str).collect();
                return Err(format!(
                    "[judges] aliases: \"{alias}\" = \"{target}\" names no loaded judge; loaded judges: {}",
                    loaded.join(", ")
                ));
            }
        };
        drop(judges);
        match self.aliases.get(alias) {
            Some(existing) if *existing != target => Err(format!(
                "[judges] aliases: \"{alias}\" is already an alias of \"{existing}\""
            )),
            _ => {
                self.aliases.insert(alias.to_string(), target);
                Ok(())
            }
        }
    }

    /// Compiles and checks a plugin without registering it.
    pub fn load(&self, bytes: &[u8], origin: Origin) -> Result<Judge, PluginError> {
        loader::load(
            engine::engine(),
            &self.linker,
            &self.limits,
            self.cache_dir.as_deref(),
            bytes,
            origin,
        )
    }

    /// Reads, compiles and checks the plugin at `path` without registering it.
    pub fn load_file(&self, path: &Path) -> Result<Judge, PluginError> {
        let bytes = std::fs::read(path).map_err(|source| PluginError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        self.load(&bytes, Origin::File(path.to_path_buf()))
    }

    /// Makes `judge` available under its name; a name already taken is refused.
    pub fn register(&self, judge: Judge) -> Result<Arc<Judge>, PluginError> {
        self.replace(None, judge)
    }

    /// Makes `judge` available under its name in place of the judge registered as `previous` (if any), in one
    /// step: callers see either the old judge or the new one. The new name may be `previous` itself; any other
    /// name already taken is refused, and then nothing changes.
    pub fn replace(&self, previous: Option<&str>, judge: Judge) -> Result<Arc<Judge>, PluginError> {
        let name = judge.name().to_string();
        let mut judges = self.judges.write().unwrap_or_else(PoisonError::into_inner);
        let resolved = self.aliases.get(&name).unwrap_or(&name);
        if let Some(taken) = judges.get(resolved)
            && (Some(resolved.as_str()) != previous || self.aliases.contains_key(&name))
        {
            return Err(PluginError::DuplicateName {
                plugin: judge.origin().to_string(),
                name,
                taken_by: taken.origin().to_string(),
            });
        }
        if let Some(previous) = previous {
            judges.remove(previous);
        }
        let judge = Arc::new(judge);
        judges.insert(name, judge.clone());
        Ok(judge)
    }

    /// Removes the judge registered as `name`, returning it; calls already running finish.
    pub fn unload(&self, name: &str) -> Option<Arc<Judge>> {
        self.judges
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(name)
    }

    /// What `bytes` is as a component, and whether this host can load it as a judge (the reason when it
    /// cannot), without registering it.
    pub fn inspect(&self, bytes: &[u8], origin: Origin) -> Inspection {
        loader::inspect(
            engine::engine(),
            &self.linker,
            &self.limits,
            self.cache_dir.as_deref(),
            bytes,
            origin,
        )
    }

    /// Loads and registers every `*.wasm` file in `dir` (not recursive), in name order.
    ///
    /// Returns the judges loaded and, separately, the files that could not be, each with its error; an
    /// unreadable directory is an error of its own.
    pub fn load_dir(&self, dir: &Path) -> Result<(Vec<Arc<Judge>>, Vec<PluginError>), PluginError> {
        let read_error = |source| PluginError::Read {
            path: dir.to_path_buf(),
            source,
        };
        let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(read_error)?
            .filter_map(|entry| entry.ok().map(|entry| entry.path()))
            .filter(|path| path.extension().is_some_and(|ext| ext == "wasm") && path.is_file())
            .collect();
        paths.sort();
        let (mut loaded, mut failed) = (Vec::new(), Vec::new());
        for path in paths {
            match self.load_file(&path).and_then(|judge| self.register(judge)) {
                Ok(judge) => loaded.push(judge),
                Err(error) => failed.push(error),
            }
        }
        Ok((loaded, failed))
    }

    /// The judge registered under `name` or one of its aliases (e.g. `NetflixACAJudge-v1.0`).
    pub fn get(&self, name: &str) -> Option<Arc<Judge>> {
        let name = self.aliases.get(name).map_or(name, String::as_str);
        self.judges
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(name)
            .cloned()
    }

    /// Every registered judge at this moment, in name order.
    pub fn judges(&self) -> std::vec::IntoIter<Arc<Judge>> {
        let judges = self.judges.read().unwrap_or_else(PoisonError::into_inner);
        judges.values().cloned().collect::<Vec<_>>().into_iter()
    }

    /// The aliases of the judge registered as `name`.
    pub fn aliases_of<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.aliases
            .iter()
            .filter(move |(_, target)| target.as_str() == name)
            .map(|(alias, _)| alias.as_str())
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }
}
