//! What can go wrong in the store: a record that does not exist, a change that conflicts with what is
//! stored, or a fault of the database. Messages say what to do; where Kayenta has a message, it is Kayenta's.

use std::fmt;
use std::path::PathBuf;

use rusqlite::ErrorCode;

use super::model::AnalysisStatus;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The record asked for does not exist.
    #[error("{0} does not exist.")]
    NotFound(Missing),
    /// The change contradicts what is stored; nothing was written.
    #[error(transparent)]
    Conflict(#[from] Conflict),
    /// The database file could not be opened or prepared.
    #[error("cannot open the database {}: {source}; {}", path.display(), open_advice(source))]
    Open {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    /// The database refuses write-ahead logging, which coalmine relies on.
    #[error(
        "the database {} cannot use write-ahead logging (its journal mode stays '{mode}'): \
         put the data directory on a local filesystem",
        path.display()
    )]
    NoWal { path: PathBuf, mode: String },
    /// The database's schema is newer than this coalmine's.
    #[error(
        "the database {} was written by a newer coalmine (schema version {found}; this coalmine knows \
         versions up to {supported}): run that coalmine or a newer one, or give this one another data directory",
        path.display()
    )]
    NewerSchema {
        path: PathBuf,
        found: i64,
        supported: i64,
    },
    /// The file is an SQLite database, but not one of coalmine's.
    #[error(
        "the database {} already holds tables that coalmine did not create: give coalmine a data directory \
         of its own",
        path.display()
    )]
    Foreign { path: PathBuf },
    /// A stored record cannot be read back.
    #[error(
        "the stored {what} cannot be read ({reason}): the database is damaged or was edited; restore it from \
         a backup"
    )]
    Corrupt { what: String, reason: String },
    /// A record cannot be encoded for storage.
    #[error("cannot encode the {what} as JSON: {source}")]
    Encode {
        what: &'static str,
        #[source]
        source: serde_json::Error,
    },
    /// Another live process holds the data directory (SQLite is for one process at a time).
    #[error(
        "the data directory {} is in use by another coalmine{}: stop that process, or give this one another \
         --data-dir (several replicas share one PostgreSQL database, not one data directory)",
        dir.display(),
        pid.map(|pid| format!(" (pid {pid})")).unwrap_or_default()
    )]
    DataDirInUse { dir: PathBuf, pid: Option<u32> },
    /// The data directory's lock file cannot be created or locked.
    #[error("cannot lock the data directory with {}: {source}", path.display())]
    Lock {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The database failed while in use.
    #[error("database error: {0}{advice}", advice = advice(.0).map(|advice| format!("; {advice}")).unwrap_or_default())]
    Database(#[from] rusqlite::Error),
    /// The PostgreSQL URL cannot be used. The message never holds the password.
    #[error("the database URL is invalid: {reason}")]
    BadUrl { reason: String },
    /// The PostgreSQL server cannot be reached, or did not answer in time. `target` is `user@host:port/db`,
    /// without the password.
    #[error(
        "cannot reach the PostgreSQL database {target}: {reason}; check that the server runs and accepts \
         connections on that host and port, and the user, password and database name"
    )]
    Unavailable { target: String, reason: String },
    /// The PostgreSQL database's schema is newer than this coalmine's.
    #[error(
        "the PostgreSQL database {target} was written by a newer coalmine (schema version {found}; this \
         coalmine knows versions up to {supported}): run that coalmine or a newer one on it"
    )]
    NewerPostgresSchema {
        target: String,
        found: i64,
        supported: i64,
    },
    /// The PostgreSQL server failed while in use.
    #[error("database error on {target}: {}", chain(source))]
    Postgres {
        target: String,
        #[source]
        source: tokio_postgres::Error,
    },
}

impl StoreError {
    /// Whether a later attempt may succeed: the database is unreachable, busy or failing, rather than the
    /// request being refused (not found, a conflict) or a record being damaged. An analysis pauses on such an
    /// error instead of failing.
    pub fn is_transient(&self) -> bool {
        !matches!(
            self,
            Self::NotFound(_)
                | Self::Conflict(_)
                | Self::Corrupt { .. }
                | Self::Encode { .. }
                | Self::NoWal { .. }
                | Self::NewerSchema { .. }
                | Self::Foreign { .. }
                | Self::DataDirInUse { .. }
                | Self::BadUrl { .. }
                | Self::NewerPostgresSchema { .. }
        )
    }
}

/// The record that was not found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Missing {
    Config(String),
    ConfigNamed {
        name: String,
        application: Option<String>,
    },
    Analysis(String),
    Interval {
        analysis: String,
        index: u32,
    },
}

impl fmt::Display for Missing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Config(id) => write!(f, "Canary config '{id}'"),
            Self::ConfigNamed {
                name,
                application: None,
            } => write!(f, "A canary config named '{name}'"),
            Self::ConfigNamed {
                name,
                application: Some(application),
            } => write!(
                f,
                "A canary config named '{name}' in application '{application}'"
            ),
            Self::Analysis(id) => write!(f, "Analysis '{id}'"),
            Self::Interval { analysis, index } => {
                write!(f, "Interval {index} of analysis '{analysis}'")
            }
        }
    }
}

/// A change that contradicts what is stored.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Conflict {
    #[error("Canary config '{id}' already exists.")]
    ConfigId { id: String },
    /// `applications` are the new config's, as Kayenta reports them.
    #[error(
        "Canary config with name '{name}' already exists in the scope of applications [{}].",
        applications.join(", ")
    )]
    ConfigName {
        name: String,
        applications: Vec<String>,
    },
    #[error(
        "{} canary configs are named '{name}' (ids {}): name the config by its id, or give its application",
        ids.len(),
        ids.join(", ")
    )]
    AmbiguousConfigName { name: String, ids: Vec<String> },
    #[error("analysis '{analysis}' has already finished ({status}): it cannot change any more")]
    AnalysisFinished {
        analysis: String,
        status: AnalysisStatus,
    },
    #[error("analysis '{analysis}' is {status}: cancel it first, then delete it")]
    AnalysisUnfinished {
        analysis: String,
        status: AnalysisStatus,
    },
    #[error("interval {index} of analysis '{analysis}' is already recorded")]
    IntervalRecorded { analysis: String, index: u32 },
    /// The writer no longer holds the analysis's lease: it expired, or another replica took the analysis over.
    #[error(
        "replica '{owner}' no longer holds the lease on analysis '{analysis}' (it expired, or another replica \
         took the analysis over): this replica stops working on it"
    )]
    LeaseLost { analysis: String, owner: String },
    #[error(
        "interval {index} of analysis '{analysis}' cannot be recorded before interval {next}: intervals are \
         recorded in order"
    )]
    IntervalOutOfOrder {
        analysis: String,
        index: u32,
        next: u32,
    },
}

/// `error` and its sources, `: `-separated (the driver's own message is only its kind, e.g. `db error`).
pub(crate) fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// What to do about an error met while opening the database.
fn open_advice(error: &rusqlite::Error) -> &'static str {
    advice(error).unwrap_or(
        "check that the data directory exists and that coalmine may read and write in it",
    )
}

/// What to do about a database error, when its cause is clear.
fn advice(error: &rusqlite::Error) -> Option<&'static str> {
    let rusqlite::Error::SqliteFailure(failure, _) = error else {
        return None;
    };
    Some(match failure.code {
        ErrorCode::DiskFull => "the disk that holds the database is full: free some space",
        ErrorCode::ReadOnly | ErrorCode::CannotOpen | ErrorCode::PermissionDenied => {
            "check that the data directory exists and that coalmine may read and write in it"
        }
        ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked => {
            "another process holds the database locked: is a second coalmine using the same data directory?"
        }
        ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt => {
            "the file is damaged or is not a coalmine database: restore it from a backup, or give coalmine \
             a data directory of its own"
        }
        ErrorCode::SystemIoFailure => "reading or writing the database file failed: check the disk",
        _ => return None,
    })
}
