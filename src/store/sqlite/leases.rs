//! Leases on unfinished analyses in SQLite: claiming, renewing, releasing, and the check that a writer still
//! holds its lease. Each change runs in one `BEGIN IMMEDIATE` transaction, which SQLite serializes against
//! every other writer of the file (another thread, or another process), so two claims never lease the same
//! analysis. Times are this process's clock: one machine holds an SQLite file.

use std::collections::HashSet;

use jiff::{SignedDuration, Timestamp};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use super::analyses::get;
use crate::store::columns::analysis_not_found as not_found;
use crate::store::columns::encode;
use crate::store::{Claimed, Conflict, Renewal, StoreError, Unreadable};

/// When a lease of `lease` taken at `now` expires (the latest representable time for an absurdly long one).
pub(super) fn expiry(now: Timestamp, lease: std::time::Duration) -> Timestamp {
    SignedDuration::try_from(lease)
        .ok()
        .and_then(|lease| now.checked_add(lease).ok())
        .unwrap_or(Timestamp::MAX)
}

pub(super) fn claim(
    connection: &mut Connection,
    owner: &str,
    now: Timestamp,
    expires: Timestamp,
    limit: usize,
) -> Result<Vec<Claimed>, StoreError> {
    if limit == 0 {
        return Ok(Vec::new());
    }
    let transaction = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let claimable: Vec<(String, Option<String>)> = transaction
        .prepare_cached(
            "SELECT id, owner FROM analyses
             WHERE status IN ('pending', 'running')
               AND (owner IS NULL OR lease_expires_ms IS NULL OR lease_expires_ms <= ?1)
             ORDER BY created_ms, rowid
             LIMIT ?2",
        )?
        .query_map(
            params![
                now.as_millisecond(),
                i64::try_from(limit).unwrap_or(i64::MAX)
            ],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )?
        .collect::<Result<_, _>>()?;
    let mut claimed = Vec::with_capacity(claimable.len());
    for (id, previous) in claimable {
        transaction
            .prepare_cached("UPDATE analyses SET owner = ?2, lease_expires_ms = ?3 WHERE id = ?1")?
            .execute(params![id, owner, expires.as_millisecond()])?;
        let analysis = match get(&transaction, &id) {
            Ok(analysis) => Ok(analysis),
            Err(error @ StoreError::Corrupt { .. }) => Err(Unreadable {
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
    transaction.commit()?;
    Ok(claimed)
}

pub(super) fn renew(
    connection: &mut Connection,
    owner: &str,
    ids: &[String],
    now: Timestamp,
    expires: Timestamp,
    lease: std::time::Duration,
) -> Result<Renewal, StoreError> {
    let transaction = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let held: HashSet<String> = transaction
        .prepare_cached(
            "UPDATE analyses SET lease_expires_ms = ?3
             WHERE owner = ?1 AND status IN ('pending', 'running')
               AND id IN (SELECT value FROM json_each(?2))
             RETURNING id",
        )?
        .query_map(
            params![
                owner,
                encode("analysis ids", &ids)?,
                expires.as_millisecond()
            ],
            |row| row.get(0),
        )?
        .collect::<Result<_, _>>()?;
    transaction
        .prepare_cached(
            "INSERT INTO replicas (id, seen_ms) VALUES (?1, ?2)
             ON CONFLICT (id) DO UPDATE SET seen_ms = excluded.seen_ms",
        )?
        .execute(params![owner, now.as_millisecond()])?;
    // Alive: renewed within the lease period. Unseen for ten periods: gone for good.
    let (now_ms, lease_ms) = (
        now.as_millisecond(),
        i64::try_from(lease.as_millis()).unwrap_or(i64::MAX),
    );
    let alive_since = now_ms.saturating_sub(lease_ms);
    transaction
        .prepare_cached("DELETE FROM replicas WHERE seen_ms < ?1")?
        .execute([now_ms.saturating_sub(lease_ms.saturating_mul(10))])?;
    let replicas: i64 = transaction
        .prepare_cached("SELECT count(*) FROM replicas WHERE seen_ms > ?1 OR id = ?2")?
        .query_row(params![alive_since, owner], |row| row.get(0))?;
    let unfinished: i64 = transaction
        .prepare_cached("SELECT count(*) FROM analyses WHERE status IN ('pending', 'running')")?
        .query_row([], |row| row.get(0))?;
    transaction.commit()?;
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

pub(super) fn release(connection: &Connection, id: &str, owner: &str) -> Result<(), StoreError> {
    connection
        .prepare_cached(
            "UPDATE analyses SET owner = NULL, lease_expires_ms = NULL WHERE id = ?1 AND owner = ?2",
        )?
        .execute(params![id, owner])?;
    Ok(())
}

/// Ends every lease and forgets every replica: for a process that holds the data directory alone, for whom
/// any lease in the file is a dead process's.
pub(super) fn release_all(connection: &Connection) -> Result<(), StoreError> {
    connection.execute_batch(
        "UPDATE analyses SET owner = NULL, lease_expires_ms = NULL WHERE owner IS NOT NULL
             AND status IN ('pending', 'running');
         DELETE FROM replicas;",
    )?;
    Ok(())
}

/// Refuses with [`Conflict::LeaseLost`] unless `owner` holds an unexpired lease on analysis `id`, within the
/// caller's transaction.
pub(super) fn check_held(
    transaction: &Connection,
    id: &str,
    owner: &str,
    now: Timestamp,
) -> Result<(), StoreError> {
    let lease: Option<(Option<String>, Option<i64>)> = transaction
        .prepare_cached("SELECT owner, lease_expires_ms FROM analyses WHERE id = ?1")?
        .query_row([id], |row| Ok((row.get(0)?, row.get(1)?)))
        .optional()?;
    match lease {
        None => Err(not_found(id)),
        Some((Some(holder), Some(expires)))
            if holder == owner && expires > now.as_millisecond() =>
        {
            Ok(())
        }
        Some(_) => Err(Conflict::LeaseLost {
            analysis: id.to_owned(),
            owner: owner.to_owned(),
        }
        .into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lease_too_long_to_represent_ends_at_the_last_instant() {
        let now = Timestamp::from_second(1_800_000_000).unwrap();
        assert_eq!(
            expiry(now, std::time::Duration::from_secs(15)),
            Timestamp::from_second(1_800_000_015).unwrap()
        );
        assert_eq!(expiry(now, std::time::Duration::MAX), Timestamp::MAX);
    }
}
