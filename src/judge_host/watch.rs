//! Hot reload of a judges directory (`coalmine serve --judges-dir`): a new or changed `*.wasm` file is
//! compiled, checked and swapped in without a restart; a broken one is refused with a logged reason while the
//! version loaded before keeps serving; a removed file's judge is unloaded.
//!
//! The directory is polled rather than watched through inotify: polling sees every way a file can change,
//! including Kubernetes ConfigMap and Secret volumes, where `judge.wasm` is a symlink into a `..data`
//! directory that is swapped atomically. A file is identified by what its path resolves to (device, inode,
//! size, modification time), and loaded only once that is the same on two polls in a row, so a file still
//! being copied is not mistaken for a broken plugin.

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::JudgeHost;
use super::error::PluginError;

/// What a path resolves to, as far as telling a changed file from the same one goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Fingerprint {
    dev: u64,
    ino: u64,
    len: u64,
    mtime: i64,
    mtime_nsec: i64,
}

impl Fingerprint {
    /// Follows symlinks: a ConfigMap swap changes the target, not the link.
    fn of(path: &Path) -> Option<Fingerprint> {
        let meta = std::fs::metadata(path).ok().filter(|meta| meta.is_file())?;
        Some(Fingerprint {
            dev: meta.dev(),
            ino: meta.ino(),
            len: meta.len(),
            mtime: meta.mtime(),
            mtime_nsec: meta.mtime_nsec(),
        })
    }
}

/// A file of the directory as last handled.
#[derive(Debug)]
struct Entry {
    fingerprint: Fingerprint,
    /// The judge this file provides now, by name (a refused new version leaves it as it was).
    judge: Option<String>,
}

/// A judges directory and what the host has loaded from it.
#[derive(Debug)]
pub struct JudgesDir {
    dir: PathBuf,
    files: BTreeMap<PathBuf, Entry>,
    /// Files seen changed on the last poll, awaiting a second look.
    settling: BTreeMap<PathBuf, Fingerprint>,
}

impl JudgesDir {
    /// Loads every `*.wasm` file of `dir` into `host` now, logging each file that cannot be loaded; an
    /// unreadable directory is an error.
    pub fn load(host: &JudgeHost, dir: &Path) -> Result<JudgesDir, PluginError> {
        let mut judges_dir = JudgesDir {
            dir: dir.to_path_buf(),
            files: BTreeMap::new(),
            settling: BTreeMap::new(),
        };
        for (path, fingerprint) in judges_dir.scan()? {
            judges_dir.apply(host, path, fingerprint);
        }
        Ok(judges_dir)
    }

    /// Polls the directory every `interval` on a background thread, for as long as the process runs.
    pub fn watch(
        mut self,
        host: Arc<JudgeHost>,
        interval: Duration,
    ) -> std::io::Result<std::thread::JoinHandle<()>> {
        std::thread::Builder::new()
            .name("coalmine-judges-watch".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(interval);
                    self.poll(&host);
                }
            })
    }

    /// One look at the directory: loads what is new or changed (and stable), unloads what is gone.
    pub fn poll(&mut self, host: &JudgeHost) {
        let seen = match self.scan() {
            Ok(seen) => seen,
            Err(error) => {
                // A directory that vanishes for a moment (a volume being remounted) is not a reason to unload.
                tracing::warn!("{error}; keeping the judges loaded from it");
                return;
            }
        };
        let gone: Vec<PathBuf> = self
            .files
            .keys()
            .filter(|path| !seen.contains_key(*path))
            .cloned()
            .collect();
        for path in gone {
            if let Some(Entry {
                judge: Some(name), ..
            }) = self.files.remove(&path)
            {
                host.unload(&name);
                tracing::info!(judge = %name, "unloaded judge {name}: {} was removed", path.display());
            }
        }
        self.settling.retain(|path, _| seen.contains_key(path));
        for (path, fingerprint) in seen {
            if self
                .files
                .get(&path)
                .is_some_and(|entry| entry.fingerprint == fingerprint)
            {
                continue;
            }
            if self.settling.get(&path) == Some(&fingerprint) {
                self.settling.remove(&path);
                self.apply(host, path, fingerprint);
            } else {
                self.settling.insert(path, fingerprint);
            }
        }
    }

    /// The `*.wasm` files of the directory (symlinks followed), with their fingerprints.
    fn scan(&self) -> Result<BTreeMap<PathBuf, Fingerprint>, PluginError> {
        let entries = std::fs::read_dir(&self.dir).map_err(|source| PluginError::Read {
            path: self.dir.clone(),
            source,
        })?;
        Ok(entries
            .filter_map(|entry| entry.ok().map(|entry| entry.path()))
            .filter(|path| path.extension().is_some_and(|ext| ext == "wasm"))
            .filter_map(|path| Fingerprint::of(&path).map(|fingerprint| (path, fingerprint)))
            .collect())
    }

    /// Loads the file at `path` and swaps it in for the judge it provided before, or logs why not.
    fn apply(&mut self, host: &JudgeHost, path: PathBuf, fingerprint: Fingerprint) {
        let previous = self.files.get(&path).and_then(|entry| entry.judge.clone());
        let unchanged = |sha256: &str| {
            previous
                .as_deref()
                .and_then(|name| host.get(name))
                .is_some_and(|judge| judge.sha256() == sha256)
        };
        let outcome = host.load_file(&path).and_then(|judge| {
            if unchanged(judge.sha256()) {
                return Ok(None);
            }
            host.replace(previous.as_deref(), judge).map(Some)
        });
        let judge = match outcome {
            Ok(Some(judge)) => {
                let info = judge.info();
                match &previous {
                    Some(old) => tracing::info!(
                        judge = %info.name,
                        "reloaded judge {} {} from {} (replacing {old})",
                        info.name,
                        info.version,
                        path.display()
                    ),
                    None => tracing::info!(
                        judge = %info.name,
                        "loaded judge {} {} from {}",
                        info.name,
                        info.version,
                        path.display()
                    ),
                }
                Some(info.name.clone())
            }
            Ok(None) => previous,
            Err(error) => {
                match &previous {
                    Some(name) => tracing::error!(
                        kind = error.kind(),
                        "refused {}: {error}; the loaded version of {name} keeps serving",
                        path.display()
                    ),
                    None => {
                        tracing::error!(kind = error.kind(), "refused {}: {error}", path.display())
                    }
                }
                previous
            }
        };
        self.files.insert(path, Entry { fingerprint, judge });
    }
}
