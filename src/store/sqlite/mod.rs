//! The SQLite backend: one database file, opened once, used through one connection.
//!
//! **Durability.** The file is in WAL mode with `synchronous=FULL`: every commit syncs the write-ahead log
//! before it returns, so a record the store has acknowledged — an analysis the server has answered 202 for,
//! an interval it has judged — survives a crash of coalmine (`kill -9`) *and* of the machine (power loss).
//! `synchronous=NORMAL` would survive the first but could lose the last commits to the second. The cost, one
//! sync per commit, is small: coalmine commits a few times per analysis, not per metric point.
//!
//! **Concurrency.** The connection sits behind a mutex, so calls from several threads take turns; every
//! call is short (one transaction on an indexed table), which keeps that simple and correct. Changes that
//! read before they write run in `BEGIN IMMEDIATE` transactions, so they are atomic even against another
//! process using the same file; `busy_timeout` lets such a process wait for the lock instead of failing.
//!
//! **One server per data directory.** [`SqliteStore::open_exclusive`] locks the data directory for the life
//! of the process ([`lock`]): a second server on it refuses to start. Leases work as on a shared database
//! ([`leases`]), and the process that holds the directory ends the leases a crashed predecessor left, so that
//! it resumes their analyses at once.

mod analyses;
mod configs;
mod leases;
mod lock;
mod migrations;

use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use jiff::Timestamp;
use rusqlite::{Connection, OpenFlags};

use super::Store;
use super::columns::now;
use super::error::StoreError;
use super::model::{
    Analysis, AnalysisQuery, Claimed, ConfigSummary, Interval, IntervalDetail, NewAnalysis,
    NewInterval, Renewal, StoredConfig, Transition, Unreadable, Verdict,
};
use crate::kayenta::CanaryConfig;
pub use lock::{DataDirLock, LOCK_FILE};

/// How long a call waits for another process's lock on the database before it fails.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// A [`Store`] in one SQLite file.
#[derive(Debug)]
pub struct SqliteStore {
    path: PathBuf,
    connection: Mutex<Connection>,
    /// The data directory's lock, when this store holds it ([`SqliteStore::open_exclusive`]).
    _lock: Option<DataDirLock>,
}

/// The database file's name in a data directory.
pub const DATABASE_FILE: &str = "coalmine.db";

impl SqliteStore {
    /// Opens the database at `path`, creating it if needed (not its directory), and brings its schema up
    /// to date. A database written by a newer coalmine is refused with [`StoreError::NewerSchema`].
    pub fn open(path: impl Into<PathBuf>) -> Result<Self, StoreError> {
        let path = path.into();
        let open_error = |source| StoreError::Open {
            path: path.clone(),
            source,
        };
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let mut connection = Connection::open_with_flags(&path, flags).map_err(open_error)?;
        connection.busy_timeout(BUSY_TIMEOUT).map_err(open_error)?;
        let mode: String = connection
            .pragma_update_and_check(None, "journal_mode", "wal", |row| row.get(0))
            .map_err(open_error)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::NoWal { path, mode });
        }
        connection
            .pragma_update(None, "synchronous", "FULL")
            .and_then(|()| connection.pragma_update(None, "foreign_keys", true))
            .map_err(open_error)?;
        migrations::migrate(&mut connection, &path)?;
        Ok(Self {
            path,
            connection: Mutex::new(connection),
            _lock: None,
        })
    }

    /// Opens the database of data directory `dir` (which must exist) for this process alone: locks the
    /// directory for as long as the store lives — refused with [`StoreError::DataDirInUse`], naming the other
    /// process, while another holds it — then opens the database as [`SqliteStore::open`] does and ends
    /// every lease in it, since they belong to processes that are gone.
    pub fn open_exclusive(dir: &Path) -> Result<Self, StoreError> {
        let lock = DataDirLock::acquire(dir)?;
        let mut store = Self::open(dir.join(DATABASE_FILE))?;
        store.with(|connection| leases::release_all(connection))?;
        store._lock = Some(lock);
        Ok(store)
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `work` on the connection, once no other thread uses it.
    fn with<T>(
        &self,
        work: impl FnOnce(&mut Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        // A thread that panicked while holding the lock rolled back its transaction on the way out (the
        // transaction guard's drop), so the connection is still sound.
        let mut connection = self
            .connection
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        work(&mut connection)
    }
}

impl Store for SqliteStore {
    fn create_config(&self, config: CanaryConfig) -> Result<StoredConfig, StoreError> {
        self.with(|connection| configs::create(connection, config, now()))
    }

    fn replace_config(&self, id: &str, config: CanaryConfig) -> Result<StoredConfig, StoreError> {
        self.with(|connection| configs::replace(connection, id, config, now()))
    }

    fn delete_config(&self, id: &str) -> Result<(), StoreError> {
        self.with(|connection| configs::delete(connection, id))
    }

    fn config(&self, id: &str) -> Result<StoredConfig, StoreError> {
        self.with(|connection| configs::get(connection, id))
    }

    fn config_by_name(
        &self,
        name: &str,
        application: Option<&str>,
    ) -> Result<StoredConfig, StoreError> {
        self.with(|connection| configs::by_name(connection, name, application))
    }

    fn list_configs(&self, applications: &[String]) -> Result<Vec<ConfigSummary>, StoreError> {
        self.with(|connection| configs::list(connection, applications))
    }

    fn create_analysis(&self, analysis: NewAnalysis) -> Result<Analysis, StoreError> {
        self.with(|connection| analyses::create(connection, analysis, now(), None))
    }

    fn delete_analysis(&self, id: &str) -> Result<(), StoreError> {
        self.with(|connection| analyses::delete(connection, id))
    }

    fn delete_finished_analyses_before(&self, before: Timestamp) -> Result<u64, StoreError> {
        self.with(|connection| analyses::delete_finished_before(connection, before))
    }

    fn analysis(&self, id: &str) -> Result<Analysis, StoreError> {
        self.with(|connection| analyses::get(connection, id))
    }

    fn list_analyses(&self, query: &AnalysisQuery) -> Result<Vec<Analysis>, StoreError> {
        self.with(|connection| analyses::list(connection, query))
    }

    fn unfinished_analyses(&self) -> Result<Vec<Result<Analysis, Unreadable>>, StoreError> {
        self.with(|connection| analyses::unfinished(connection))
    }

    fn transition(&self, id: &str, transition: Transition) -> Result<Analysis, StoreError> {
        self.with(|connection| analyses::transition(connection, id, transition, now(), None))
    }

    fn mark_error(&self, id: &str, message: &str) -> Result<(), StoreError> {
        self.with(|connection| analyses::mark_error(connection, id, message, now()))
    }

    fn record_interval(
        &self,
        id: &str,
        interval: &NewInterval,
        verdict: Option<Verdict>,
    ) -> Result<Analysis, StoreError> {
        self.with(|connection| {
            analyses::record_interval(connection, id, interval, verdict, now(), None)
        })
    }

    fn intervals(&self, id: &str) -> Result<Vec<Interval>, StoreError> {
        self.with(|connection| analyses::intervals(connection, id))
    }

    fn interval_detail(&self, id: &str, index: u32) -> Result<IntervalDetail, StoreError> {
        self.with(|connection| analyses::interval_detail(connection, id, index))
    }

    fn create_leased_analysis(
        &self,
        analysis: NewAnalysis,
        owner: &str,
        lease: Duration,
    ) -> Result<Analysis, StoreError> {
        let now = now();
        let expires = leases::expiry(now, lease);
        self.with(|connection| analyses::create(connection, analysis, now, Some((owner, expires))))
    }

    fn claim_analyses(
        &self,
        owner: &str,
        lease: Duration,
        limit: usize,
    ) -> Result<Vec<Claimed>, StoreError> {
        let now = now();
        let expires = leases::expiry(now, lease);
        self.with(|connection| leases::claim(connection, owner, now, expires, limit))
    }

    fn renew_leases(
        &self,
        owner: &str,
        ids: &[String],
        lease: Duration,
    ) -> Result<Renewal, StoreError> {
        let now = now();
        let expires = leases::expiry(now, lease);
        self.with(|connection| leases::renew(connection, owner, ids, now, expires, lease))
    }

    fn release_lease(&self, id: &str, owner: &str) -> Result<(), StoreError> {
        self.with(|connection| leases::release(connection, id, owner))
    }

    fn transition_as(
        &self,
        owner: &str,
        id: &str,
        transition: Transition,
    ) -> Result<Analysis, StoreError> {
        self.with(|connection| analyses::transition(connection, id, transition, now(), Some(owner)))
    }

    fn record_interval_as(
        &self,
        owner: &str,
        id: &str,
        interval: &NewInterval,
        verdict: Option<Verdict>,
    ) -> Result<Analysis, StoreError> {
        self.with(|connection| {
            analyses::record_interval(connection, id, interval, verdict, now(), Some(owner))
        })
    }
}

#[cfg(test)]
mod tests {
    use rusqlite::types::Value;

    use super::*;

    #[test]
    fn the_connection_syncs_every_commit_and_enforces_references() {
        let dir = tempfile::TempDir::new().unwrap();
        let store = SqliteStore::open(dir.path().join("coalmine.db")).unwrap();
        let pragma = |name: &str| -> Value {
            store
                .with(|connection| Ok(connection.pragma_query_value(None, name, |row| row.get(0))?))
                .unwrap()
        };
        assert_eq!(pragma("journal_mode"), Value::Text("wal".to_owned()));
        assert_eq!(pragma("synchronous"), Value::Integer(2), "FULL");
        assert_eq!(pragma("foreign_keys"), Value::Integer(1));
        assert_eq!(pragma("busy_timeout"), Value::Integer(5_000));
    }

    #[test]
    fn a_database_without_a_file_is_refused() {
        let error = SqliteStore::open(":memory:").unwrap_err();
        assert!(
            matches!(&error, StoreError::NoWal { mode, .. } if mode == "memory"),
            "{error:?}"
        );
    }
}
