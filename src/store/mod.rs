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
//!   [`Analysis::next_interval`] says where a resumed analysis continues;
//! - each unfinished analysis is leased to at most one replica at a time (see [Leases](#leases)).
//!
//! # Leases
//!
//! Several coalmine processes (*replicas*) may share one store. Each unfinished analysis is run by the
//! replica that holds its *lease*: an owner (a replica id, unique per process: its host name and a
//! random suffix) and an expiry time, read on the store's clock (the database
//! server's, for a shared database), never the replica's.
//!
//! - [`Store::claim_analyses`] leases to the caller analyses no one holds: `pending` ones stored without an
//!   owner, and unfinished ones whose lease expired (their owner died, or lost the store for longer than the
//!   lease). Two concurrent claims never get the same analysis. A claim of an analysis whose expired lease
//!   another replica held is a *takeover*, and says so.
//! - [`Store::renew_leases`] extends the leases the owner still holds and says which those are: an analysis
//!   missing from the answer was taken over, or finished by another hand (cancelled through another
//!   replica), and its runner stops. A lease that expired but that no one took over yet is still the owner's
//!   and is renewed: whichever of the renewal and a claim comes first wins.
//! - [`Store::transition_as`] and [`Store::record_interval_as`] change an analysis only while the caller
//!   holds an unexpired lease on it, and refuse with [`Conflict::LeaseLost`] otherwise: a replica that lost
//!   an analysis cannot write to it, whatever it believes. [`Store::transition`] and
//!   [`Store::record_interval`] check no lease: for a cancellation through the API (any replica may cancel)
//!   and for callers that run alone.
//! - Finishing an analysis ends its lease: claims and renewals only concern unfinished analyses.

mod columns;
mod error;
mod id;
mod model;
mod postgres;
mod sqlite;

pub use error::{Conflict, Missing, StoreError};
pub use model::{
    Analysis, AnalysisQuery, AnalysisStatus, Claimed, ConfigSummary, Interval, IntervalDetail,
    NewAnalysis, NewInterval, Origin, Renewal, StoredConfig, Transition, Unreadable, Verdict,
};
pub use postgres::PostgresStore;
pub use sqlite::{DATABASE_FILE, LOCK_FILE, SqliteStore};

use std::time::Duration;

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

    /// Stores a new `pending` analysis under a generated id, as [`Store::create_analysis`] does, already
    /// leased to `owner` for `lease`: for an analysis the receiving replica runs itself.
    fn create_leased_analysis(
        &self,
        analysis: NewAnalysis,
        owner: &str,
        lease: Duration,
    ) -> Result<Analysis, StoreError>;

    /// Leases to `owner`, for `lease`, at most `limit` unfinished analyses that no replica holds — `pending`
    /// ones without an owner and any whose lease has expired — oldest first. Concurrent claims (from any
    /// replica) never return the same analysis; each claimed analysis says whether it was taken over from
    /// another replica.
    fn claim_analyses(
        &self,
        owner: &str,
        lease: Duration,
        limit: usize,
    ) -> Result<Vec<Claimed>, StoreError>;

    /// Extends by `lease` the leases `owner` still holds among analyses `ids` (expired ones included, unless
    /// another replica claimed them meanwhile), and records that replica `owner` is alive. Returns those
    /// still held — an unfinished analysis leased to `owner` — with how many replicas are alive (renewed
    /// within `lease`) and how many analyses are unfinished in all, from which a replica takes its fair share.
    fn renew_leases(
        &self,
        owner: &str,
        ids: &[String],
        lease: Duration,
    ) -> Result<Renewal, StoreError>;

    /// Gives up `owner`'s lease on analysis `id`, so that any replica may claim it at once (a replica shutting
    /// down). Nothing happens when `owner` does not hold it.
    fn release_lease(&self, id: &str, owner: &str) -> Result<(), StoreError>;

    /// [`Store::transition`], by the holder of the analysis's lease: refused with [`Conflict::LeaseLost`]
    /// (after [`Conflict::AnalysisFinished`]) unless `owner` holds an unexpired lease on it.
    fn transition_as(
        &self,
        owner: &str,
        id: &str,
        transition: Transition,
    ) -> Result<Analysis, StoreError>;

    /// [`Store::record_interval`], by the holder of the analysis's lease: refused with
    /// [`Conflict::LeaseLost`] (after [`Conflict::AnalysisFinished`], before the interval checks) unless
    /// `owner` holds an unexpired lease on it; then nothing is written.
    fn record_interval_as(
        &self,
        owner: &str,
        id: &str,
        interval: &NewInterval,
        verdict: Option<Verdict>,
    ) -> Result<Analysis, StoreError>;
}
