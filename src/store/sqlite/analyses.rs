//! Analyses and their intervals. A change that depends on the stored status — a transition, recording an
//! interval — reads the status and writes in one `BEGIN IMMEDIATE` transaction, so nothing can change the
//! analysis in between: a completion that comes after a cancellation finds `cancelled` and writes nothing.

use std::cmp::Ordering;

use jiff::Timestamp;
use rusqlite::{Connection, OptionalExtension, Row, TransactionBehavior, params};

use super::leases;
use crate::store::columns::{
    analysis_not_found as not_found, decode, encode, parse_status, select_analyses, timestamp,
};
use crate::store::id::new_id;
use crate::store::{
    Analysis, AnalysisQuery, AnalysisStatus, Conflict, Interval, IntervalDetail, Missing,
    NewAnalysis, NewInterval, StoreError, Transition, Unreadable, Verdict,
};

/// Stores a new pending analysis, leased to `lease`'s owner until its expiry when given.
pub(super) fn create(
    connection: &Connection,
    analysis: NewAnalysis,
    now: Timestamp,
    lease: Option<(&str, Timestamp)>,
) -> Result<Analysis, StoreError> {
    let id = new_id();
    let status = AnalysisStatus::Pending;
    connection
        .prepare_cached(
            "INSERT INTO analyses
                 (id, status, origin, request, config, created_ms, updated_ms, owner, lease_expires_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6, ?7, ?8)",
        )?
        .execute(params![
            id,
            status.as_str(),
            analysis.origin.as_str(),
            encode("analysis request", &analysis.request)?,
            encode("canary config", &analysis.config)?,
            now.as_millisecond(),
            lease.map(|(owner, _)| owner),
            lease.map(|(_, expires)| expires.as_millisecond())
        ])?;
    Ok(Analysis {
        id,
        status,
        origin: analysis.origin,
        request: analysis.request,
        config: analysis.config,
        created: now,
        updated: now,
        verdict: None,
        error: None,
        next_interval: 0,
    })
}

pub(super) fn get(connection: &Connection, id: &str) -> Result<Analysis, StoreError> {
    connection
        .prepare_cached(select_analyses!("WHERE a.id = ?1"))?
        .query_and_then([id], read)?
        .next()
        .unwrap_or_else(|| Err(not_found(id)))
}

pub(super) fn list(
    connection: &Connection,
    query: &AnalysisQuery,
) -> Result<Vec<Analysis>, StoreError> {
    let statuses = match query.statuses.as_slice() {
        [] => &AnalysisStatus::ALL[..],
        statuses => statuses,
    };
    let statuses: Vec<&str> = statuses.iter().map(|status| status.as_str()).collect();
    connection
        .prepare_cached(select_analyses!(
            "WHERE a.status IN (SELECT value FROM json_each(?1))
             ORDER BY a.created_ms DESC, a.rowid DESC LIMIT ?2 OFFSET ?3"
        ))?
        .query_and_then(
            params![encode("status list", &statuses)?, query.limit, query.offset],
            read,
        )?
        .collect()
}

/// Every unfinished analysis, each read on its own so that a damaged one does not hide the others.
pub(super) fn unfinished(
    connection: &Connection,
) -> Result<Vec<Result<Analysis, Unreadable>>, StoreError> {
    let ids: Vec<String> = connection
        .prepare_cached(
            "SELECT id FROM analyses WHERE status IN ('pending', 'running')
             ORDER BY created_ms, rowid",
        )?
        .query_map([], |row| row.get(0))?
        .collect::<Result<_, _>>()?;
    ids.into_iter()
        .map(|id| match get(connection, &id) {
            Ok(analysis) => Ok(Ok(analysis)),
            Err(error @ StoreError::Corrupt { .. }) => Ok(Err(Unreadable { id, error })),
            // Not the record's fault: a failing database fails the whole call.
            Err(error) => Err(error),
        })
        .collect()
}

/// Changes the status of analysis `id`, if the rules allow it and, when `owner` is given, only while `owner`
/// holds its lease.
pub(super) fn transition(
    connection: &mut Connection,
    id: &str,
    transition: Transition,
    now: Timestamp,
    owner: Option<&str>,
) -> Result<Analysis, StoreError> {
    let transaction = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
    write_transition(&transaction, id, &transition, now, owner)?;
    let analysis = get(&transaction, id)?;
    transaction.commit()?;
    Ok(analysis)
}

pub(super) fn mark_error(
    connection: &mut Connection,
    id: &str,
    message: &str,
    now: Timestamp,
) -> Result<(), StoreError> {
    let transaction = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
    write_transition(
        &transaction,
        id,
        &Transition::Fail(message.to_owned()),
        now,
        None,
    )?;
    transaction.commit()?;
    Ok(())
}

/// Writes `transition` of analysis `id`, if the rules allow it (and `owner`, when given, holds the lease),
/// within the caller's transaction.
fn write_transition(
    transaction: &Connection,
    id: &str,
    transition: &Transition,
    now: Timestamp,
    owner: Option<&str>,
) -> Result<(), StoreError> {
    let (from, _) = state(transaction, id)?;
    if let Some(to) = transition.apply_to(id, from)? {
        if let Some(owner) = owner {
            leases::check_held(transaction, id, owner, now)?;
        }
        let (classification, score, error) = match transition {
            Transition::Complete(verdict) => (
                Some(verdict.classification.as_str()),
                Some(verdict.score),
                None,
            ),
            Transition::Fail(message) => (None, None, Some(message.as_str())),
            Transition::Start | Transition::Cancel => (None, None, None),
        };
        transaction
            .prepare_cached(
                "UPDATE analyses
                 SET status = ?2, updated_ms = ?3, classification = ?4, score = ?5, error = ?6
                 WHERE id = ?1",
            )?
            .execute(params![
                id,
                to.as_str(),
                now.as_millisecond(),
                classification,
                score,
                error
            ])?;
    }
    Ok(())
}

/// Records an interval of analysis `id`; when `owner` is given, only while `owner` holds the lease.
pub(super) fn record_interval(
    connection: &mut Connection,
    id: &str,
    interval: &NewInterval,
    verdict: Option<Verdict>,
    now: Timestamp,
    owner: Option<&str>,
) -> Result<Analysis, StoreError> {
    let judge_result = encode("judge result", &interval.judge_result)?;
    let pairs = encode("metric set pairs", &interval.pairs)?;
    let queries = encode("queries", &interval.queries)?;
    let transaction = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let (status, next) = state(&transaction, id)?;
    if status.is_finished() {
        return Err(Conflict::AnalysisFinished {
            analysis: id.to_owned(),
            status,
        }
        .into());
    }
    if let Some(owner) = owner {
        leases::check_held(&transaction, id, owner, now)?;
    }
    let index = interval.index;
    match index.cmp(&next) {
        Ordering::Less => {
            return Err(Conflict::IntervalRecorded {
                analysis: id.to_owned(),
                index,
            }
            .into());
        }
        Ordering::Greater => {
            return Err(Conflict::IntervalOutOfOrder {
                analysis: id.to_owned(),
                index,
                next,
            }
            .into());
        }
        Ordering::Equal => {}
    }
    transaction
        .prepare_cached(
            "INSERT INTO intervals
                 (analysis_id, idx, start_ms, end_ms, judged_ms, judge_result, pairs, queries)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )?
        .execute(params![
            id,
            index,
            interval.start.as_millisecond(),
            interval.end.as_millisecond(),
            now.as_millisecond(),
            judge_result,
            pairs,
            queries
        ])?;
    let (status, classification, score) = match &verdict {
        Some(verdict) => (
            AnalysisStatus::Completed,
            Some(verdict.classification.as_str()),
            Some(verdict.score),
        ),
        None => (AnalysisStatus::Running, None, None),
    };
    transaction
        .prepare_cached(
            "UPDATE analyses SET status = ?2, updated_ms = ?3, classification = ?4, score = ?5
             WHERE id = ?1",
        )?
        .execute(params![
            id,
            status.as_str(),
            now.as_millisecond(),
            classification,
            score
        ])?;
    let analysis = get(&transaction, id)?;
    transaction.commit()?;
    Ok(analysis)
}

pub(super) fn intervals(connection: &Connection, id: &str) -> Result<Vec<Interval>, StoreError> {
    state(connection, id)?;
    connection
        .prepare_cached(
            "SELECT idx, start_ms, end_ms, judged_ms, judge_result FROM intervals
             WHERE analysis_id = ?1 ORDER BY idx",
        )?
        .query_and_then([id], |row| read_interval(id, row))?
        .collect()
}

pub(super) fn interval_detail(
    connection: &Connection,
    id: &str,
    index: u32,
) -> Result<IntervalDetail, StoreError> {
    let detail = connection
        .prepare_cached(
            "SELECT idx, start_ms, end_ms, judged_ms, judge_result, pairs, queries FROM intervals
             WHERE analysis_id = ?1 AND idx = ?2",
        )?
        .query_and_then(params![id, index], |row| {
            let interval = read_interval(id, row)?;
            let what = |field| format!("{field} of interval {index} of analysis '{id}'");
            Ok::<_, StoreError>(IntervalDetail {
                pairs: decode(|| what("metric set pairs"), &row.get::<_, String>(5)?)?,
                queries: decode(|| what("queries"), &row.get::<_, String>(6)?)?,
                interval,
            })
        })?
        .next()
        .transpose()?;
    match detail {
        Some(detail) => Ok(detail),
        None => {
            // Say which is missing: the analysis, or only the interval.
            state(connection, id)?;
            Err(StoreError::NotFound(Missing::Interval {
                analysis: id.to_owned(),
                index,
            }))
        }
    }
}

/// Deletes finished analysis `id` with its intervals; an unfinished one is refused.
pub(super) fn delete(connection: &mut Connection, id: &str) -> Result<(), StoreError> {
    let transaction = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let (status, _) = state(&transaction, id)?;
    if !status.is_finished() {
        return Err(Conflict::AnalysisUnfinished {
            analysis: id.to_owned(),
            status,
        }
        .into());
    }
    // The intervals go with it (ON DELETE CASCADE).
    transaction.execute("DELETE FROM analyses WHERE id = ?1", [id])?;
    transaction.commit()?;
    Ok(())
}

/// Deletes every finished analysis last changed before `before`; how many.
pub(super) fn delete_finished_before(
    connection: &mut Connection,
    before: Timestamp,
) -> Result<u64, StoreError> {
    let deleted = connection.execute(
        "DELETE FROM analyses WHERE status IN ('completed', 'error', 'cancelled') AND updated_ms < ?1",
        [before.as_millisecond()],
    )?;
    Ok(deleted as u64)
}

/// The status of analysis `id` and how many intervals it has recorded.
fn state(connection: &Connection, id: &str) -> Result<(AnalysisStatus, u32), StoreError> {
    let state: Option<(String, u32)> = connection
        .prepare_cached(
            "SELECT status, (SELECT count(*) FROM intervals WHERE analysis_id = ?1)
             FROM analyses WHERE id = ?1",
        )?
        .query_row([id], |row| Ok((row.get(0)?, row.get(1)?)))
        .optional()?;
    let (status, recorded) = state.ok_or_else(|| not_found(id))?;
    Ok((parse_status(id, &status)?, recorded))
}

fn read(row: &Row<'_>) -> Result<Analysis, StoreError> {
    let id: String = row.get(0)?;
    let what = |field| format!("{field} of analysis '{id}'");
    let origin: String = row.get(2)?;
    let classification: Option<String> = row.get(7)?;
    let score: Option<f64> = row.get(8)?;
    Ok(Analysis {
        status: parse_status(&id, &row.get::<_, String>(1)?)?,
        origin: origin.parse().map_err(|reason| StoreError::Corrupt {
            what: what("origin"),
            reason,
        })?,
        request: {
            let text: String = row.get(3)?;
            serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text))
        },
        config: decode(|| what("canary config"), &row.get::<_, String>(4)?)?,
        created: timestamp(|| what("creation time"), row.get(5)?)?,
        updated: timestamp(|| what("update time"), row.get(6)?)?,
        verdict: classification.map(|classification| Verdict {
            classification,
            score: score.unwrap_or(f64::NAN),
        }),
        error: row.get(9)?,
        next_interval: row.get(10)?,
        id,
    })
}

/// Reads the columns `idx, start_ms, end_ms, judged_ms, judge_result` of an interval of analysis `id`.
fn read_interval(id: &str, row: &Row<'_>) -> Result<Interval, StoreError> {
    let index: u32 = row.get(0)?;
    let what = |field| format!("{field} of interval {index} of analysis '{id}'");
    Ok(Interval {
        index,
        start: timestamp(|| what("start"), row.get(1)?)?,
        end: timestamp(|| what("end"), row.get(2)?)?,
        judged_at: timestamp(|| what("judgement time"), row.get(3)?)?,
        judge_result: decode(|| what("judge result"), &row.get::<_, String>(4)?)?,
    })
}
