//! The embedded store: canary configs, analyses, and each judged interval with the metric pairs it was judged
//! on, so that a result can be explained and re-judged later.
//!
//! Callers see the [`Store`] trait; [`SqliteStore`] implements it on one SQLite file, so coalmine needs no
//! database server, and [`PostgresStore`] on a PostgreSQL database that several replicas share. The methods block: async code calls them through `tokio::task::spawn_blocking`.
//!
//! What the store guarantees, whatever the backend:
//! - a method that returns `Ok` has made its change durable;
//! - config names are unique within overlapping applications (Kayenta's rule);
//! - an analysis only moves forward, from `pending` to `running` and from either to `completed`, `error` or
//!   `cancelled`; a finished analysis never changes again, so a late completion cannot overwrite a
//!   cancellation;
//! - intervals of an analysis are recorded in order and at most once each, so
//!   [`Analysis::next_interval`] says where a resumed analysis continues.

mod error;
mod id;
mod model;
mod postgres;
mod sqlite;

pub use error::{Conflict, Missing, StoreError};
pub use model::{
    Analysis, AnalysisQuery, AnalysisStatus, ConfigSummary, Interval, IntervalDetail, NewAnalysis,
    NewInterval, Origin, StoredConfig, Transition, Unreadable, Verdict,
};
pub use postgres::PostgresStore;
pub use sqlite::SqliteStore;

use crate::kayenta::CanaryConfig;

/// Storage for coalmine's records. Every change is durable when the method returns.
pub trait Store: Send + Sync {
    /// Stores a new config under its `id`, or under a generated one when it has none (or an empty one), and
    /// fills in `id` and Kayenta's `createdTimestamp`/`updatedTimestamp` fields (and their `*Iso` forms) in
    /// the document.
    ///
    /// Refused with [`Conflict::ConfigId`] when the id is taken and [`Conflict::ConfigName`] when a config
    /// with the same name shares an application. Checking the document itself (name, applications,
    /// metrics) is the caller's job.
    fn create_config(&self, config: CanaryConfig) -> Result<StoredConfig, StoreError>;

    /// Replaces config `id` (whatever `id` the document carries), keeping its creation time.
    fn replace_config(&self, id: &str, config: CanaryConfig) -> Result<StoredConfig, StoreError>;

    fn delete_config(&self, id: &str) -> Result<(), StoreError>;

    fn config(&self, id: &str) -> Result<StoredConfig, StoreError>;

    /// The config named `name`, within `application` when given. Names are unique only within an
    /// application, so without one several configs may match: that is [`Conflict::AmbiguousConfigName`].
    fn config_by_name(
        &self,
        name: &str,
        application: Option<&str>,
    ) -> Result<StoredConfig, StoreError>;

    /// Summaries of the configs that belong to any of `applications` (all configs when it is empty), by name.
    fn list_configs(&self, applications: &[String]) -> Result<Vec<ConfigSummary>, StoreError>;

    /// Stores a new `pending` analysis under a generated id.
    fn create_analysis(&self, analysis: NewAnalysis) -> Result<Analysis, StoreError>;

    fn analysis(&self, id: &str) -> Result<Analysis, StoreError>;
    /// Deletes a finished analysis and its intervals; an unfinished one is refused with
    /// [`Conflict::AnalysisUnfinished`] (cancel it first).
    fn delete_analysis(&self, id: &str) -> Result<(), StoreError>;
    /// Deletes every finished analysis (completed, error, cancelled) last changed before `before`, with its
    /// intervals: the retention sweep. How many were deleted.
    fn delete_finished_analyses_before(&self, before: jiff::Timestamp) -> Result<u64, StoreError>;

    /// Analyses with the statuses asked for, newest first.
    fn list_analyses(&self, query: &AnalysisQuery) -> Result<Vec<Analysis>, StoreError>;

    /// The `pending` and `running` analyses, oldest first: what to resume after a restart. One whose record
    /// cannot be read back is [`Unreadable`], and the others are still returned.
    fn unfinished_analyses(&self) -> Result<Vec<Result<Analysis, Unreadable>>, StoreError>;

    /// Changes the status of analysis `id`; see [`Transition`] for what is allowed.
    fn transition(&self, id: &str, transition: Transition) -> Result<Analysis, StoreError>;

    /// Marks analysis `id` `error` with `message`, as [`Transition::Fail`] does, without reading the record
    /// back: for an [`Unreadable`] analysis.
    fn mark_error(&self, id: &str, message: &str) -> Result<(), StoreError>;

    /// Records interval `interval.index` of analysis `id`, which must be [`Analysis::next_interval`], and in
    /// the same transaction marks the analysis `running`, or `completed` with `verdict` when one is given
    /// (the last interval, or one that ends the analysis early).
    ///
    /// Refused with [`Conflict::IntervalRecorded`] when the interval is already recorded and
    /// [`Conflict::AnalysisFinished`] when the analysis has finished (e.g. was cancelled meanwhile); then
    /// nothing is written.
    fn record_interval(
        &self,
        id: &str,
        interval: &NewInterval,
        verdict: Option<Verdict>,
    ) -> Result<Analysis, StoreError>;

    /// The recorded intervals of analysis `id`, in order, without their metric pairs and queries.
    fn intervals(&self, id: &str) -> Result<Vec<Interval>, StoreError>;

    /// Interval `index` of analysis `id` with the metric pairs and queries it was judged on.
    fn interval_detail(&self, id: &str, index: u32) -> Result<IntervalDetail, StoreError>;
}
