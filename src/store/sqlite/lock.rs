//! The data directory's lock: one process at a time serves from an SQLite data directory. The lock is an
//! exclusive advisory lock (`flock`) on `coalmine.lock` in the directory, held for the life of the process
//! and released by the kernel however the process ends (`kill -9` included), so a stale lock file never
//! keeps the next server out. The file holds the holder's pid, so that a refused process can name it.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

use crate::store::StoreError;

/// The lock file's name in the data directory.
pub const LOCK_FILE: &str = "coalmine.lock";

/// Holds the lock on a data directory while it lives.
#[derive(Debug)]
pub struct DataDirLock {
    _file: File,
}

impl DataDirLock {
    /// Locks data directory `dir` (which must exist) for this process, or says which process holds it.
    pub fn acquire(dir: &Path) -> Result<DataDirLock, StoreError> {
        let path = dir.join(LOCK_FILE);
        let fault = |source| StoreError::Lock {
            path: path.clone(),
            source,
        };
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(fault)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                return Err(StoreError::DataDirInUse {
                    dir: dir.to_owned(),
                    pid: holder.trim().parse().ok(),
                });
            }
            Err(TryLockError::Error(error)) => return Err(fault(error)),
        }
        file.set_len(0)
            .and_then(|()| file.seek(SeekFrom::Start(0)))
            .and_then(|_| writeln!(file, "{}", std::process::id()))
            .and_then(|()| file.sync_all())
            .map_err(fault)?;
        Ok(DataDirLock { _file: file })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_locked_directory_is_refused_with_the_holders_pid_until_the_lock_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let lock = DataDirLock::acquire(dir.path()).unwrap();
        // A second open file description conflicts with the first, even in the same process.
        let error = DataDirLock::acquire(dir.path()).unwrap_err();
        match &error {
            StoreError::DataDirInUse { dir: locked, pid } => {
                assert_eq!(locked, dir.path());
                assert_eq!(*pid, Some(std::process::id()));
            }
            other => panic!("{other:?}"),
        }
        let message = error.to_string();
        assert!(
            message.contains(&dir.path().display().to_string())
                && message.contains(&format!("pid {}", std::process::id())),
            "{message}"
        );
        drop(lock);
        DataDirLock::acquire(dir.path()).unwrap();
    }
}
