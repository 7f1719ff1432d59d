//! The PostgreSQL backend: several coalmine replicas share one database, so that any of them can serve any
//! request and take over the others' analyses.
//!
//! **Driver.** `tokio-postgres` with the `deadpool-postgres` pool: tokio-postgres is the maintained, pure-Rust
//! PostgreSQL client that the `postgres` crate is built on, it speaks the protocol directly (prepared,
//! cached statements, real `SqlState` codes to tell a unique violation from an outage), and it runs on the
//! tokio coalmine already uses. deadpool-postgres adds a small pool with timeouts for waiting, connecting and
//! recycling, and a per-connection statement cache, and nothing else. sqlx was the alternative; its
//! compile-time checked queries need a database or a cache of query metadata at build time, and its
//! runtime, macro and migration machinery is far more than six tables need.
//!
//! **Sync over async.** The [`Store`] trait blocks (callers use `spawn_blocking`), the driver is async. The
//! store owns a small tokio runtime of its own; each call spawns its work there and waits on a channel. That
//! works from any thread: plain test code, a `spawn_blocking` thread of the server's runtime (where
//! `block_on` would also work), even, though it blocks a worker, an async task of another runtime. Dropping
//! the store shuts its runtime down without waiting, which is allowed anywhere.
//!
//! **No hang, no secret.** The pool holds at most [`POOL_SIZE`] connections; connecting gives up after
//! [`CONNECT_TIMEOUT`], waiting for a free connection after [`WAIT_TIMEOUT`], a statement after
//! [`STATEMENT_TIMEOUT`] (server side) and a whole call after [`CALL_TIMEOUT`]. A dead database is a
//! [`StoreError::Unavailable`] naming `user@host:port/db`, never the password.
//!
//! **Semantics.** The same as [`SqliteStore`](super::SqliteStore)'s, rule for rule: changes that read before
//! they write lock the analysis or config row (`SELECT ... FOR UPDATE`) in a transaction, and the unique
//! keys (an interval per index, a name per application) back the checks up against concurrent writers.

mod analyses;
mod configs;
mod leases;
mod migrations;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, PoolError, RecyclingMethod};
use jiff::Timestamp;
use tokio_postgres::NoTls;
use tokio_postgres::config::Host;

use super::Store;
use super::columns::now;
use super::error::{Conflict, StoreError, chain};
use super::model::{
    Analysis, AnalysisQuery, Claimed, ConfigSummary, Interval, IntervalDetail, NewAnalysis,
    NewInterval, Renewal, StoredConfig, Transition, Unreadable, Verdict,
};
use crate::kayenta::CanaryConfig;

/// Connections per replica. Every call holds one for a single short transaction.
pub const POOL_SIZE: usize = 8;
/// How long opening a connection may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a call waits for a free connection of the pool.
pub const WAIT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the server lets one statement run (`statement_timeout`) or wait for a lock (`lock_timeout`).
pub const STATEMENT_TIMEOUT: Duration = Duration::from_secs(15);
/// How long a whole call may take, whatever it waits for.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// A [`Store`] in a PostgreSQL database.
pub struct PostgresStore {
    db: Db,
    /// `None` only while dropping.
    runtime: Option<tokio::runtime::Runtime>,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore")
            .field("target", &self.db.target)
            .finish_non_exhaustive()
    }
}

/// The pool and the name of the database it reaches, cloned into each call's future.
#[derive(Clone)]
struct Db {
    pool: Pool,
    /// `user@host:port/db`, for messages: never the password.
    target: Arc<str>,
}

impl PostgresStore {
    /// Connects to the database at `url` (`postgres://user@host:port/db`, or a `key=value` string), with
    /// `password` when given (it replaces one in the URL), and brings its schema up to date under an advisory
    /// lock, so that replicas starting together do not race.
    ///
    /// A bad URL is [`StoreError::BadUrl`]; a server that cannot be reached is [`StoreError::Unavailable`]
    /// within about [`CONNECT_TIMEOUT`]; a schema from a newer coalmine is
    /// [`StoreError::NewerPostgresSchema`].
    pub fn connect(url: &str, password: Option<&str>) -> Result<Self, StoreError> {
        // Anything with a scheme other than PostgreSQL's would be read as `key=value` pairs and give a
        // puzzling error.
        if url.contains("://")
            && !url.starts_with("postgres://")
            && !url.starts_with("postgresql://")
        {
            return Err(StoreError::BadUrl {
                reason: "it must start with postgres:// or postgresql://".to_owned(),
            });
        }
        let mut config: tokio_postgres::Config =
            url.parse().map_err(|error| StoreError::BadUrl {
                reason: format!("{error} (expected postgres://user@host:port/database)"),
            })?;
        if config.get_hosts().is_empty() {
            return Err(StoreError::BadUrl {
                reason: "it names no host (expected postgres://user@host:port/database)".to_owned(),
            });
        }
        if config.get_user().is_none() {
            return Err(StoreError::BadUrl {
                reason: "it names no user (expected postgres://user@host:port/database)".to_owned(),
            });
        }
        if let Some(password) = password {
            config.password(password);
        }
        let millis = STATEMENT_TIMEOUT.as_millis();
        config
            .connect_timeout(CONNECT_TIMEOUT)
            .keepalives(true)
            .keepalives_idle(Duration::from_secs(30))
            .application_name("coalmine")
            .options(format!(
                "-c statement_timeout={millis} -c lock_timeout={millis} \
                 -c idle_in_transaction_session_timeout={}",
                CALL_TIMEOUT.as_millis()
            ));
        let target: Arc<str> = target(&config).into();

        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .wait_timeout(Some(WAIT_TIMEOUT))
            .create_timeout(Some(CONNECT_TIMEOUT))
            .recycle_timeout(Some(CONNECT_TIMEOUT))
            .build()
            .map_err(|error| StoreError::BadUrl {
                reason: error.to_string(),
            })?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("coalmine-postgres")
            .enable_all()
            .build()
            .map_err(|error| StoreError::Unavailable {
                target: target.to_string(),
                reason: format!("cannot start the database threads: {error}"),
            })?;
        let store = Self {
            db: Db { pool, target },
            runtime: Some(runtime),
        };
        store.run(|db| async move { migrations::migrate(&db).await })?;
        Ok(store)
    }

    /// The database, as `user@host:port/db` (without the password): for messages and logs.
    pub fn target(&self) -> &str {
        &self.db.target
    }

    /// Runs the future `work` makes on the store's runtime and waits for it, at most [`CALL_TIMEOUT`].
    fn run<T, F>(&self, work: impl FnOnce(Db) -> F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: Future<Output = Result<T, Failure>> + Send + 'static,
    {
        let db = self.db.clone();
        let target = db.target.clone();
        let future = work(db);
        let (sender, receiver) = std::sync::mpsc::sync_channel(1);
        let Some(runtime) = &self.runtime else {
            unreachable!("the runtime is only taken when the store is dropped")
        };
        runtime.spawn(async move {
            let outcome = match tokio::time::timeout(CALL_TIMEOUT, future).await {
                Ok(outcome) => outcome.map_err(|failure| failure.into_store_error(&target)),
                Err(_) => Err(StoreError::Unavailable {
                    target: target.to_string(),
                    reason: format!("no answer within {} s", CALL_TIMEOUT.as_secs()),
                }),
            };
            // The caller may be gone (its thread panicked): nobody to tell.
            let _ = sender.send(outcome);
        });
        receiver.recv().unwrap_or_else(|_| {
            Err(StoreError::Unavailable {
                target: self.db.target.to_string(),
                reason: "the database call was abandoned".to_owned(),
            })
        })
    }
}

impl Drop for PostgresStore {
    fn drop(&mut self) {
        // `Runtime`'s own drop waits for its tasks, which is refused inside an async context.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

impl Db {
    /// A connection from the pool.
    async fn client(&self) -> Result<Object, Failure> {
        self.pool.get().await.map_err(|error| match error {
            // Connecting failed: refused, unknown host, wrong password, no such database.
            PoolError::Backend(error) => Failure::Unavailable(chain(&error)),
            PoolError::Timeout(_) => {
                Failure::Unavailable(format!("no connection within {} s", WAIT_TIMEOUT.as_secs()))
            }
            other => Failure::Unavailable(other.to_string()),
        })
    }
}

/// `user@host:port/db` of `config`, without its password.
fn target(config: &tokio_postgres::Config) -> String {
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .enumerate()
        .map(|(index, host)| {
            let host = match host {
                Host::Tcp(name) => name.clone(),
                Host::Unix(path) => path.display().to_string(),
            };
            let port = config
                .get_ports()
                .get(index)
                .or(config.get_ports().first())
                .copied()
                .unwrap_or(5432);
            format!("{host}:{port}")
        })
        .collect();
    let user = config.get_user().unwrap_or_default();
    let database = config.get_dbname().unwrap_or(user);
    format!("{user}@{}/{database}", hosts.join(","))
}

/// What a step of a call can fail with: a [`StoreError`], or a driver error the caller turns into one with
/// the database's name ([`Failure::into_store_error`]), so that `?` works on both.
enum Failure {
    Store(StoreError),
    Postgres(tokio_postgres::Error),
    Unavailable(String),
}

impl Failure {
    fn into_store_error(self, target: &str) -> StoreError {
        match self {
            Self::Store(error) => error,
            // An error the server reported: the connection works, the statement failed.
            Self::Postgres(source) if source.as_db_error().is_some() => StoreError::Postgres {
                target: target.to_owned(),
                source,
            },
            Self::Postgres(source) => StoreError::Unavailable {
                target: target.to_owned(),
                reason: chain(&source),
            },
            Self::Unavailable(reason) => StoreError::Unavailable {
                target: target.to_owned(),
                reason,
            },
        }
    }
}

impl From<StoreError> for Failure {
    fn from(error: StoreError) -> Self {
        Self::Store(error)
    }
}

impl From<Conflict> for Failure {
    fn from(conflict: Conflict) -> Self {
        Self::Store(conflict.into())
    }
}

impl From<tokio_postgres::Error> for Failure {
    fn from(error: tokio_postgres::Error) -> Self {
        Self::Postgres(error)
    }
}

impl Store for PostgresStore {
    fn create_config(&self, config: CanaryConfig) -> Result<StoredConfig, StoreError> {
        self.run(|db| async move { configs::create(&db, config, now()).await })
    }

    fn replace_config(&self, id: &str, config: CanaryConfig) -> Result<StoredConfig, StoreError> {
        let id = id.to_owned();
        self.run(|db| async move { configs::replace(&db, &id, config, now()).await })
    }

    fn delete_config(&self, id: &str) -> Result<(), StoreError> {
        let id = id.to_owned();
        self.run(|db| async move { configs::delete(&db, &id).await })
    }

    fn config(&self, id: &str) -> Result<StoredConfig, StoreError> {
        let id = id.to_owned();
        self.run(|db| async move { configs::get(&db.client().await?, &id).await })
    }

    fn config_by_name(
        &self,
        name: &str,
        application: Option<&str>,
    ) -> Result<StoredConfig, StoreError> {
        let (name, application) = (name.to_owned(), application.map(str::to_owned));
        self.run(|db| async move { configs::by_name(&db, &name, application.as_deref()).await })
    }

    fn list_configs(&self, applications: &[String]) -> Result<Vec<ConfigSummary>, StoreError> {
        let applications = applications.to_vec();
        self.run(|db| async move { configs::list(&db, &applications).await })
    }

    fn create_analysis(&self, analysis: NewAnalysis) -> Result<Analysis, StoreError> {
        self.run(|db| async move { analyses::create(&db, analysis, now(), None).await })
    }

    fn analysis(&self, id: &str) -> Result<Analysis, StoreError> {
        let id = id.to_owned();
        self.run(|db| async move { analyses::get(&db.client().await?, &id).await })
    }

    fn delete_analysis(&self, id: &str) -> Result<(), StoreError> {
        let id = id.to_owned();
        self.run(|db| async move { analyses::delete(&db, &id).await })
    }

    fn delete_finished_analyses_before(&self, before: Timestamp) -> Result<u64, StoreError> {
        self.run(|db| async move { analyses::delete_finished_before(&db, before).await })
    }

    fn list_analyses(&self, query: &AnalysisQuery) -> Result<Vec<Analysis>, StoreError> {
        let query = query.clone();
        self.run(|db| async move { analyses::list(&db, &query).await })
    }

    fn unfinished_analyses(&self) -> Result<Vec<Result<Analysis, Unreadable>>, StoreError> {
        self.run(|db| async move { analyses::unfinished(&db).await })
    }

    fn transition(&self, id: &str, transition: Transition) -> Result<Analysis, StoreError> {
        let id = id.to_owned();
        self.run(|db| async move { analyses::transition(&db, &id, transition, now(), None).await })
    }

    fn mark_error(&self, id: &str, message: &str) -> Result<(), StoreError> {
        let (id, message) = (id.to_owned(), message.to_owned());
        self.run(|db| async move { analyses::mark_error(&db, &id, message, now()).await })
    }

    fn record_interval(
        &self,
        id: &str,
        interval: &NewInterval,
        verdict: Option<Verdict>,
    ) -> Result<Analysis, StoreError> {
        let (id, interval) = (id.to_owned(), interval.clone());
        self.run(|db| async move {
            analyses::record_interval(&db, &id, &interval, verdict, now(), None).await
        })
    }

    fn intervals(&self, id: &str) -> Result<Vec<Interval>, StoreError> {
        let id = id.to_owned();
        self.run(|db| async move { analyses::intervals(&db, &id).await })
    }

    fn interval_detail(&self, id: &str, index: u32) -> Result<IntervalDetail, StoreError> {
        let id = id.to_owned();
        self.run(|db| async move { analyses::interval_detail(&db, &id, index).await })
    }

    fn create_leased_analysis(
        &self,
        analysis: NewAnalysis,
        owner: &str,
        lease: Duration,
    ) -> Result<Analysis, StoreError> {
        let owner = owner.to_owned();
        self.run(
            |db| async move { analyses::create(&db, analysis, now(), Some((&owner, lease))).await },
        )
    }

    fn claim_analyses(
        &self,
        owner: &str,
        lease: Duration,
        limit: usize,
    ) -> Result<Vec<Claimed>, StoreError> {
        let owner = owner.to_owned();
        self.run(|db| async move { leases::claim(&db, &owner, lease, limit).await })
    }

    fn renew_leases(
        &self,
        owner: &str,
        ids: &[String],
        lease: Duration,
    ) -> Result<Renewal, StoreError> {
        let (owner, ids) = (owner.to_owned(), ids.to_vec());
        self.run(|db| async move { leases::renew(&db, &owner, &ids, lease).await })
    }

    fn release_lease(&self, id: &str, owner: &str) -> Result<(), StoreError> {
        let (id, owner) = (id.to_owned(), owner.to_owned());
        self.run(|db| async move { leases::release(&db, &id, &owner).await })
    }

    fn transition_as(
        &self,
        owner: &str,
        id: &str,
        transition: Transition,
    ) -> Result<Analysis, StoreError> {
        let (owner, id) = (owner.to_owned(), id.to_owned());
        self.run(|db| async move {
            analyses::transition(&db, &id, transition, now(), Some(&owner)).await
        })
    }

    fn record_interval_as(
        &self,
        owner: &str,
        id: &str,
        interval: &NewInterval,
        verdict: Option<Verdict>,
    ) -> Result<Analysis, StoreError> {
        let (owner, id, interval) = (owner.to_owned(), id.to_owned(), interval.clone());
        self.run(|db| async move {
            analyses::record_interval(&db, &id, &interval, verdict, now(), Some(&owner)).await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_target_names_user_host_port_and_database_but_never_the_password() {
        let config: tokio_postgres::Config = "postgres://coalmine:s3cret@db.example:6543/canaries"
            .parse()
            .unwrap();
        assert_eq!(target(&config), "coalmine@db.example:6543/canaries");
        let config: tokio_postgres::Config = "postgres://app@db".parse().unwrap();
        assert_eq!(target(&config), "app@db:5432/app");
    }

    #[test]
    fn a_bad_url_is_refused_without_echoing_it() {
        for url in [
            "postgres://user:s3cret@host:notaport/db",
            "http://user:s3cret@host/db",
            "postgres://user:s3cret@/db",
        ] {
            let error = PostgresStore::connect(url, None).unwrap_err();
            assert!(
                matches!(error, StoreError::BadUrl { .. }),
                "{url}: {error:?}"
            );
            assert!(!error.to_string().contains("s3cret"), "{error}");
        }
    }

    #[test]
    fn an_unreachable_server_is_reported_quickly_by_name_without_the_password() {
        // A port nothing listens on: bound, then released.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let error = PostgresStore::connect(
            &format!("postgres://coalmine@127.0.0.1:{port}/coalmine"),
            Some("s3cret"),
        )
        .unwrap_err();
        let message = error.to_string();
        assert!(matches!(error, StoreError::Unavailable { .. }), "{error:?}");
        assert!(
            message.starts_with(&format!(
                "cannot reach the PostgreSQL database coalmine@127.0.0.1:{port}/coalmine: "
            )),
            "{message}"
        );
        assert!(!message.contains("s3cret"), "{message}");
    }
}
