//! Analyses and their intervals in PostgreSQL. A change that depends on the stored status — a transition,
//! recording an interval, a deletion — locks the analysis row (`SELECT ... FOR UPDATE`) in its transaction
//! first, so nothing, on this replica or another, can change the analysis in between: a completion that
//! comes after a cancellation finds `cancelled` and writes nothing. The primary key of `intervals` refuses a
//! second record of an index even so.

use std::cmp::Ordering;

use deadpool_postgres::GenericClient;
use jiff::Timestamp;
use tokio_postgres::Row;
use tokio_postgres::error::SqlState;

use super::{Db, Failure, leases};
use crate::store::columns::{
    analysis_not_found as not_found, decode, encode, parse_status, select_analyses, timestamp,
};
use crate::store::id::new_id;
use crate::store::{
    Analysis, AnalysisQuery, AnalysisStatus, Conflict, Interval, IntervalDetail, Missing,
    NewAnalysis, NewInterval, StoreError, Transition, Unreadable, Verdict,
};

/// Stores a new pending analysis, leased to `lease`'s owner for its length (on the database's clock) when
/// given.
pub(super) async fn create(
    db: &Db,
    analysis: NewAnalysis,
    now: Timestamp,
    lease: Option<(&str, std::time::Duration)>,
) -> Result<Analysis, Failure> {
    let id = new_id();
    let status = AnalysisStatus::Pending;
    let request = encode("analysis request", &analysis.request)?;
    let config = encode("canary config", &analysis.config)?;
    let client = db.client().await?;
    let statement = client
        .prepare_cached(
            "INSERT INTO analyses
                 (id, status, origin, request, config, created_ms, updated_ms, owner, lease_expires_at)
             VALUES ($1, $2, $3, $4, $5, $6, $6, $7,
                     now() + $8::float8 * interval '1 millisecond')",
        )
        .await?;
    client
        .execute(
            &statement,
            &[
                &id,
                &status.as_str(),
                &analysis.origin.as_str(),
                &request,
                &config,
                &now.as_millisecond(),
                &lease.map(|(owner, _)| owner),
                &lease.map(|(_, length)| length.as_secs_f64() * 1000.0),
            ],
        )
        .await?;
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

pub(super) async fn get(client: &impl GenericClient, id: &str) -> Result<Analysis, Failure> {
    let statement = client
        .prepare_cached(select_analyses!("WHERE a.id = $1"))
        .await?;
    match client.query_opt(&statement, &[&id]).await? {
        Some(row) => read(&row),
        None => Err(not_found(id).into()),
    }
}

pub(super) async fn list(db: &Db, query: &AnalysisQuery) -> Result<Vec<Analysis>, Failure> {
    let statuses = match query.statuses.as_slice() {
        [] => &AnalysisStatus::ALL[..],
        statuses => statuses,
    };
    let statuses: Vec<&str> = statuses.iter().map(|status| status.as_str()).collect();
    let client = db.client().await?;
    let statement = client
        .prepare_cached(select_analyses!(
            "WHERE a.status = ANY($1::text[])
             ORDER BY a.created_ms DESC, a.seq DESC LIMIT $2 OFFSET $3"
        ))
        .await?;
    client
        .query(
            &statement,
            &[&statuses, &i64::from(query.limit), &i64::from(query.offset)],
        )
        .await?
        .iter()
        .map(read)
        .collect()
}

/// Every unfinished analysis, each read on its own so that a damaged one does not hide the others.
pub(super) async fn unfinished(db: &Db) -> Result<Vec<Result<Analysis, Unreadable>>, Failure> {
    let client = db.client().await?;
    let statement = client
        .prepare_cached(
            "SELECT id FROM analyses WHERE status IN ('pending', 'running')
             ORDER BY created_ms, seq",
        )
        .await?;
    let ids: Vec<String> = client
        .query(&statement, &[])
        .await?
        .iter()
        .map(|row| row.try_get(0))
        .collect::<Result<_, _>>()?;
    let mut found = Vec::with_capacity(ids.len());
    for id in ids {
        match get(&client, &id).await {
            Ok(analysis) => found.push(Ok(analysis)),
            Err(Failure::Store(error @ StoreError::Corrupt { .. })) => {
                found.push(Err(Unreadable { id, error }))
            }
            // Deleted since the list was read: not unfinished any more.
            Err(Failure::Store(StoreError::NotFound(_))) => {}
            // Not the record's fault: a failing database fails the whole call.
            Err(error) => return Err(error),
        }
    }
    Ok(found)
}

/// Changes the status of analysis `id`, if the rules allow it and, when `owner` is given, only while `owner`
/// holds its lease.
pub(super) async fn transition(
    db: &Db,
    id: &str,
    transition: Transition,
    now: Timestamp,
    owner: Option<&str>,
) -> Result<Analysis, Failure> {
    let mut client = db.client().await?;
    let transaction = client.transaction().await?;
    write_transition(&transaction, id, &transition, now, owner).await?;
    let analysis = get(&transaction, id).await?;
    transaction.commit().await?;
    Ok(analysis)
}

pub(super) async fn mark_error(
    db: &Db,
    id: &str,
    message: String,
    now: Timestamp,
) -> Result<(), Failure> {
    let mut client = db.client().await?;
    let transaction = client.transaction().await?;
    write_transition(&transaction, id, &Transition::Fail(message), now, None).await?;
    transaction.commit().await?;
    Ok(())
}

/// Writes `transition` of analysis `id`, if the rules allow it (and `owner`, when given, holds the lease),
/// within the caller's transaction.
async fn write_transition(
    transaction: &impl GenericClient,
    id: &str,
    transition: &Transition,
    now: Timestamp,
    owner: Option<&str>,
) -> Result<(), Failure> {
    let from = lock(transaction, id).await?;
    if let Some(to) = transition.apply_to(id, from)? {
        if let Some(owner) = owner {
            leases::check_held(transaction, id, owner).await?;
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
        let statement = transaction
            .prepare_cached(
                "UPDATE analyses
                 SET status = $2, updated_ms = $3, classification = $4, score = $5, error = $6
                 WHERE id = $1",
            )
            .await?;
        transaction
            .execute(
                &statement,
                &[
                    &id,
                    &to.as_str(),
                    &now.as_millisecond(),
                    &classification,
                    &score,
                    &error,
                ],
            )
            .await?;
    }
    Ok(())
}

/// Records an interval of analysis `id`; when `owner` is given, only while `owner` holds the lease.
pub(super) async fn record_interval(
    db: &Db,
    id: &str,
    interval: &NewInterval,
    verdict: Option<Verdict>,
    now: Timestamp,
    owner: Option<&str>,
) -> Result<Analysis, Failure> {
    let judge_result = encode("judge result", &interval.judge_result)?;
    let pairs = encode("metric set pairs", &interval.pairs)?;
    let queries = encode("queries", &interval.queries)?;
    let mut client = db.client().await?;
    let transaction = client.transaction().await?;
    let status = lock(&transaction, id).await?;
    if status.is_finished() {
        return Err(Conflict::AnalysisFinished {
            analysis: id.to_owned(),
            status,
        }
        .into());
    }
    if let Some(owner) = owner {
        leases::check_held(&transaction, id, owner).await?;
    }
    let next = recorded(&transaction, id).await?;
    let index = interval.index;
    let recorded_already = || {
        Failure::from(Conflict::IntervalRecorded {
            analysis: id.to_owned(),
            index,
        })
    };
    match index.cmp(&next) {
        Ordering::Less => return Err(recorded_already()),
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
    let insert = transaction
        .prepare_cached(
            "INSERT INTO intervals
                 (analysis_id, idx, start_ms, end_ms, judged_ms, judge_result, pairs, queries)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .await?;
    transaction
        .execute(
            &insert,
            &[
                &id,
                &i64::from(index),
                &interval.start.as_millisecond(),
                &interval.end.as_millisecond(),
                &now.as_millisecond(),
                &judge_result,
                &pairs,
                &queries,
            ],
        )
        .await
        .map_err(|error| match error.code() {
            Some(&SqlState::UNIQUE_VIOLATION) => recorded_already(),
            _ => error.into(),
        })?;
    let (status, classification, score) = match &verdict {
        Some(verdict) => (
            AnalysisStatus::Completed,
            Some(verdict.classification.as_str()),
            Some(verdict.score),
        ),
        None => (AnalysisStatus::Running, None, None),
    };
    let update = transaction
        .prepare_cached(
            "UPDATE analyses SET status = $2, updated_ms = $3, classification = $4, score = $5
             WHERE id = $1",
        )
        .await?;
    transaction
        .execute(
            &update,
            &[
                &id,
                &status.as_str(),
                &now.as_millisecond(),
                &classification,
                &score,
            ],
        )
        .await?;
    let analysis = get(&transaction, id).await?;
    transaction.commit().await?;
    Ok(analysis)
}

pub(super) async fn intervals(db: &Db, id: &str) -> Result<Vec<Interval>, Failure> {
    let client = db.client().await?;
    status(&client, id).await?;
    let statement = client
        .prepare_cached(
            "SELECT idx, start_ms, end_ms, judged_ms, judge_result FROM intervals
             WHERE analysis_id = $1 ORDER BY idx",
        )
        .await?;
    client
        .query(&statement, &[&id])
        .await?
        .iter()
        .map(|row| read_interval(id, row))
        .collect()
}

pub(super) async fn interval_detail(
    db: &Db,
    id: &str,
    index: u32,
) -> Result<IntervalDetail, Failure> {
    let client = db.client().await?;
    let statement = client
        .prepare_cached(
            "SELECT idx, start_ms, end_ms, judged_ms, judge_result, pairs, queries FROM intervals
             WHERE analysis_id = $1 AND idx = $2",
        )
        .await?;
    let Some(row) = client
        .query_opt(&statement, &[&id, &i64::from(index)])
        .await?
    else {
        // Say which is missing: the analysis, or only the interval.
        status(&client, id).await?;
        return Err(StoreError::NotFound(Missing::Interval {
            analysis: id.to_owned(),
            index,
        })
        .into());
    };
    let interval = read_interval(id, &row)?;
    let what = |field| format!("{field} of interval {index} of analysis '{id}'");
    let pairs: String = row.try_get(5)?;
    let queries: String = row.try_get(6)?;
    Ok(IntervalDetail {
        pairs: decode(|| what("metric set pairs"), &pairs)?,
        queries: decode(|| what("queries"), &queries)?,
        interval,
    })
}

/// Deletes finished analysis `id` with its intervals; an unfinished one is refused.
pub(super) async fn delete(db: &Db, id: &str) -> Result<(), Failure> {
    let mut client = db.client().await?;
    let transaction = client.transaction().await?;
    let status = lock(&transaction, id).await?;
    if !status.is_finished() {
        return Err(Conflict::AnalysisUnfinished {
            analysis: id.to_owned(),
            status,
        }
        .into());
    }
    // The intervals go with it (ON DELETE CASCADE).
    transaction
        .execute("DELETE FROM analyses WHERE id = $1", &[&id])
        .await?;
    transaction.commit().await?;
    Ok(())
}

/// Deletes every finished analysis last changed before `before`; how many.
pub(super) async fn delete_finished_before(db: &Db, before: Timestamp) -> Result<u64, Failure> {
    let client = db.client().await?;
    Ok(client
        .execute(
            "DELETE FROM analyses
             WHERE status IN ('completed', 'error', 'cancelled') AND updated_ms < $1",
            &[&before.as_millisecond()],
        )
        .await?)
}

/// The status of analysis `id`, whose row stays locked until the caller's transaction ends.
async fn lock(transaction: &impl GenericClient, id: &str) -> Result<AnalysisStatus, Failure> {
    let statement = transaction
        .prepare_cached("SELECT status FROM analyses WHERE id = $1 FOR UPDATE")
        .await?;
    let row = transaction
        .query_opt(&statement, &[&id])
        .await?
        .ok_or_else(|| not_found(id))?;
    Ok(parse_status(id, &row.try_get::<_, String>(0)?)?)
}

/// The status of analysis `id`, without a lock.
async fn status(client: &impl GenericClient, id: &str) -> Result<AnalysisStatus, Failure> {
    let statement = client
        .prepare_cached("SELECT status FROM analyses WHERE id = $1")
        .await?;
    let row = client
        .query_opt(&statement, &[&id])
        .await?
        .ok_or_else(|| not_found(id))?;
    Ok(parse_status(id, &row.try_get::<_, String>(0)?)?)
}

/// How many intervals analysis `id` has recorded: the index of the next one.
async fn recorded(client: &impl GenericClient, id: &str) -> Result<u32, Failure> {
    let statement = client
        .prepare_cached("SELECT count(*) FROM intervals WHERE analysis_id = $1")
        .await?;
    let count: i64 = client.query_one(&statement, &[&id]).await?.try_get(0)?;
    Ok(count_to_u32(id, count)?)
}

fn read(row: &Row) -> Result<Analysis, Failure> {
    let id: String = row.try_get(0)?;
    let what = |field| format!("{field} of analysis '{id}'");
    let status: String = row.try_get(1)?;
    let origin: String = row.try_get(2)?;
    let request: String = row.try_get(3)?;
    let config: String = row.try_get(4)?;
    let classification: Option<String> = row.try_get(7)?;
    let score: Option<f64> = row.try_get(8)?;
    Ok(Analysis {
        status: parse_status(&id, &status)?,
        origin: origin.parse().map_err(|reason| StoreError::Corrupt {
            what: what("origin"),
            reason,
        })?,
        request: serde_json::from_str(&request).unwrap_or(serde_json::Value::String(request)),
        config: decode(|| what("canary config"), &config)?,
        created: timestamp(|| what("creation time"), row.try_get(5)?)?,
        updated: timestamp(|| what("update time"), row.try_get(6)?)?,
        verdict: classification.map(|classification| Verdict {
            classification,
            score: score.unwrap_or(f64::NAN),
        }),
        error: row.try_get(9)?,
        next_interval: count_to_u32(&id, row.try_get(10)?)?,
        id,
    })
}

/// Reads the columns `idx, start_ms, end_ms, judged_ms, judge_result` of an interval of analysis `id`.
fn read_interval(id: &str, row: &Row) -> Result<Interval, Failure> {
    let index: i64 = row.try_get(0)?;
    let index = u32::try_from(index).map_err(|error| StoreError::Corrupt {
        what: format!("index of an interval of analysis '{id}'"),
        reason: error.to_string(),
    })?;
    let what = |field| format!("{field} of interval {index} of analysis '{id}'");
    let judge_result: String = row.try_get(4)?;
    Ok(Interval {
        index,
        start: timestamp(|| what("start"), row.try_get(1)?)?,
        end: timestamp(|| what("end"), row.try_get(2)?)?,
        judged_at: timestamp(|| what("judgement time"), row.try_get(3)?)?,
        judge_result: decode(|| what("judge result"), &judge_result)?,
    })
}

fn count_to_u32(id: &str, count: i64) -> Result<u32, StoreError> {
    u32::try_from(count).map_err(|error| StoreError::Corrupt {
        what: format!("interval count of analysis '{id}'"),
        reason: error.to_string(),
    })
}
