//! Leases on unfinished analyses in PostgreSQL (the rules are in [`crate::store`]). Every lease time is the
//! database server's clock (`now()`, the transaction's start), never a replica's, so replicas whose clocks
//! disagree still agree on who holds what.
//!
//! A claim picks its analyses with `SELECT ... FOR UPDATE SKIP LOCKED`: concurrent claims from several
//! replicas each lock different rows and never wait on one another, and a row another transaction is
//! changing (a renewal, a record) is skipped rather than claimed from under it. Writes under a lease lock the
//! analysis row first (as every status change does) and then check the lease, in the same transaction.

use std::time::Duration;

use deadpool_postgres::GenericClient;

use super::analyses::get;
use super::{Db, Failure};
use crate::store::columns::analysis_not_found as not_found;
use crate::store::{Claimed, Conflict, Renewal, StoreError, Unreadable};

/// A lease length as the milliseconds `now() + $n * interval '1 millisecond'` adds.
fn millis(lease: Duration) -> f64 {
    lease.as_secs_f64() * 1000.0
}

pub(super) async fn claim(
    db: &Db,
    owner: &str,
    lease: Duration,
    limit: usize,
) -> Result<Vec<Claimed>, Failure> {
    if limit == 0 {
        return Ok(Vec::new());
    }
    let mut client = db.client().await?;
    let transaction = client.transaction().await?;
    let statement = transaction
        .prepare_cached(
            "WITH claimable AS (
                 SELECT id, owner, created_ms, seq FROM analyses
                 WHERE status IN ('pending', 'running')
                   AND (owner IS NULL OR lease_expires_at IS NULL OR lease_expires_at <= now())
                 ORDER BY created_ms, seq
                 LIMIT $3
                 FOR UPDATE SKIP LOCKED
             )
             UPDATE analyses AS a
             SET owner = $1, lease_expires_at = now() + $2::float8 * interval '1 millisecond'
             FROM claimable AS c
             WHERE a.id = c.id
             RETURNING a.id, c.owner, c.created_ms, c.seq",
        )
        .await?;
    let mut rows: Vec<(String, Option<String>, i64, i64)> = transaction
        .query(
            &statement,
            &[
                &owner,
                &millis(lease),
                &i64::try_from(limit).unwrap_or(i64::MAX),
            ],
        )
        .await?
        .iter()
        .map(|row| {
            Ok((
                row.try_get(0)?,
                row.try_get(1)?,
                row.try_get(2)?,
                row.try_get(3)?,
            ))
        })
        .collect::<Result<_, tokio_postgres::Error>>()?;
    // Oldest first, as the trait promises (RETURNING keeps no order).
    rows.sort_by_key(|(_, _, created, seq)| (*created, *seq));
    let mut claimed = Vec::with_capacity(rows.len());
    for (id, previous, _, _) in rows {
        let analysis = match get(&transaction, &id).await {
            Ok(analysis) => Ok(analysis),
            Err(Failure::Store(error @ StoreError::Corrupt { .. })) => Err(Unreadable {
                id: id.clone(),
                error,
            }),
            Err(error) => return Err(error),
        };
        claimed.push(Claimed {
            analysis,
            taken_over_from: previous.filter(|previous| previous != owner),
        });
    }
    transaction.commit().await?;
    Ok(claimed)
}

pub(super) async fn renew(
    db: &Db,
    owner: &str,
    ids: &[String],
    lease: Duration,
) -> Result<Renewal, Failure> {
    let lease = millis(lease);
    let mut client = db.client().await?;
    let transaction = client.transaction().await?;
    let renew = transaction
        .prepare_cached(
            "UPDATE analyses SET lease_expires_at = now() + $3::float8 * interval '1 millisecond'
             WHERE owner = $1 AND status IN ('pending', 'running') AND id = ANY($2::text[])
             RETURNING id",
        )
        .await?;
    let held: std::collections::HashSet<String> = transaction
        .query(&renew, &[&owner, &ids, &lease])
        .await?
        .iter()
        .map(|row| row.try_get(0))
        .collect::<Result<_, _>>()?;
    let seen = transaction
        .prepare_cached(
            "INSERT INTO replicas (id, seen_at) VALUES ($1, now())
             ON CONFLICT (id) DO UPDATE SET seen_at = excluded.seen_at",
        )
        .await?;
    transaction.execute(&seen, &[&owner]).await?;
    // Alive: renewed within the lease period. Unseen for ten periods: gone for good.
    let forget = transaction
        .prepare_cached(
            "DELETE FROM replicas WHERE seen_at < now() - 10 * $1::float8 * interval '1 millisecond'",
        )
        .await?;
    transaction.execute(&forget, &[&lease]).await?;
    let counts = transaction
        .prepare_cached(
            "SELECT
                 (SELECT count(*) FROM replicas
                  WHERE seen_at > now() - $2::float8 * interval '1 millisecond' OR id = $1),
                 (SELECT count(*) FROM analyses WHERE status IN ('pending', 'running'))",
        )
        .await?;
    let row = transaction.query_one(&counts, &[&owner, &lease]).await?;
    let (replicas, unfinished): (i64, i64) = (row.try_get(0)?, row.try_get(1)?);
    transaction.commit().await?;
    Ok(Renewal {
        // In the order asked.
        held: ids
            .iter()
            .filter(|id| held.contains(*id))
            .cloned()
            .collect(),
        replicas: usize::try_from(replicas).unwrap_or(0),
        unfinished: usize::try_from(unfinished).unwrap_or(0),
    })
}

pub(super) async fn release(db: &Db, id: &str, owner: &str) -> Result<(), Failure> {
    let client = db.client().await?;
    let statement = client
        .prepare_cached(
            "UPDATE analyses SET owner = NULL, lease_expires_at = NULL WHERE id = $1 AND owner = $2",
        )
        .await?;
    client.execute(&statement, &[&id, &owner]).await?;
    Ok(())
}

/// Refuses with [`Conflict::LeaseLost`] unless `owner` holds an unexpired lease on analysis `id`, within the
/// caller's transaction (which has locked the row).
pub(super) async fn check_held(
    transaction: &impl GenericClient,
    id: &str,
    owner: &str,
) -> Result<(), Failure> {
    let statement = transaction
        .prepare_cached(
            "SELECT owner IS NOT DISTINCT FROM $2 AND lease_expires_at > now() FROM analyses
             WHERE id = $1",
        )
        .await?;
    let held: Option<bool> = transaction
        .query_opt(&statement, &[&id, &owner])
        .await?
        .ok_or_else(|| not_found(id))?
        .try_get(0)?;
    if held == Some(true) {
        Ok(())
    } else {
        Err(Conflict::LeaseLost {
            analysis: id.to_owned(),
            owner: owner.to_owned(),
        }
        .into())
    }
}
