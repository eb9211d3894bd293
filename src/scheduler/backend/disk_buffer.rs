//! The disk buffer's catalogue side: the space recalls have been given and
//! not yet written (what a new recall must leave room for), the disk
//! copies the collector may evict (least recently used first), and the
//! claim that records a copy evicted before it is removed.
//!
//! Reservations and claims take one lock on PostgreSQL (SQLite's write
//! transactions hold the whole database already): two sessions fetching
//! recalls at once must not both count the same free space, and a stage
//! request must not pin a copy the collector has just claimed.

use crate::scheduler::sql::{Conn, Dialect, params};
use crate::scheduler::*;

/// Any constant shared by every tapeserver ("tapebuf1").
const BUFFER_LOCK: i64 = 0x7461_7065_6275_6631;

/// A live pin on the disk copy of `f` (an `archive_files` row): a stage
/// request not deleted, the file not released or cancelled, its lifetime
/// not over. The pins are read once per statement, not once per file.
pub(super) const PINNED: &str = "f.id IN (SELECT s.file_id FROM stage_files s
     JOIN stage_requests r ON r.id = s.request_id
     WHERE s.file_id IS NOT NULL AND s.released = 0 AND r.deleted IS NULL
       AND (s.state IS NULL OR s.state = 'completed') AND s.pinned_until > ts_now())";

pub(super) fn lock(c: &mut dyn Conn) -> Result<(), SchedulerError> {
    if c.dialect() == Dialect::Postgres {
        c.query(
            "SELECT 1 FROM (SELECT pg_advisory_xact_lock($1)) l",
            params![BUFFER_LOCK],
        )?;
    }
    Ok(())
}

/// (files, bytes) of recalls mounts were given and have not finished (a
/// repack's reads go to its own buffer).
fn reserved(c: &mut dyn Conn) -> Result<(u64, u64), SchedulerError> {
    let r = c.query_one(
        "SELECT COUNT(*), CAST(COALESCE(SUM(f.size), 0) AS BIGINT)
         FROM recall_queue q JOIN archive_files f ON f.id = q.file_id
         WHERE q.state = $1 AND q.mount_id IS NOT NULL AND q.repack IS NULL",
        params![RecallState::Queued],
    )?;
    Ok((r.get(0)?, r.get(1)?))
}

/// The bytes recalls may still write: below the high watermark, less what
/// is there and what is reserved. Takes the lock (inside a write).
pub(super) fn room(c: &mut dyn Conn, r: &BufferRoom) -> Result<u64, SchedulerError> {
    lock(c)?;
    let (_, reserved) = reserved(c)?;
    Ok(r.left(reserved))
}

/// The smallest file a tape's pending recalls would write.
pub(super) fn smallest_recall(c: &mut dyn Conn, vid: &str) -> Result<u64, SchedulerError> {
    let r = c.query_one(
        "SELECT CAST(COALESCE(MIN(size), 0) AS BIGINT) FROM pending_recalls
         WHERE vid = $1 AND not_before <= ts_now()",
        params![vid],
    )?;
    r.get(0)
}

pub(super) fn demand(c: &mut dyn Conn) -> Result<RecallDemand, SchedulerError> {
    let (_, reserved_bytes) = reserved(c)?;
    let r = c.query_one(
        "SELECT COUNT(*), CAST(COALESCE(SUM(size), 0) AS BIGINT), CAST(COALESCE(MIN(size), 0) AS BIGINT)
         FROM pending_recalls WHERE not_before <= ts_now() AND repack IS NULL",
        params![],
    )?;
    Ok(RecallDemand {
        reserved_bytes,
        waiting_files: r.get(0)?,
        waiting_bytes: r.get(1)?,
        smallest_waiting: r.get(2)?,
    })
}

pub(super) fn candidates(
    c: &mut dyn Conn,
    beneath: &str,
    limit: u64,
) -> Result<Vec<EvictionCandidate>, SchedulerError> {
    let prefix = format!("{}/", beneath.trim_end_matches('/'));
    let sql = format!(
        "SELECT f.id, f.path, f.size, f.crc32c FROM archive_files f
         WHERE f.state = $1 AND f.deleted IS NULL AND f.evicted IS NULL AND f.size > 0
           AND substr(f.path, 1, $2) = $3 AND NOT {PINNED}
         ORDER BY COALESCE(f.disk_used, f.created), f.id LIMIT $4"
    );
    c.query(
        &sql,
        params![
            FileState::OnTape,
            prefix.chars().count() as u64,
            &prefix,
            limit
        ],
    )?
    .iter()
    .map(|r| {
        Ok(EvictionCandidate {
            file_id: r.get(0)?,
            path: r.get(1)?,
            size: r.get(2)?,
            crc32c: r.get::<Option<u32>>(3)?,
        })
    })
    .collect()
}

/// Records the copy evicted if it may go: on tape and not pinned.
pub(super) fn claim(c: &mut dyn Conn, file_id: u64) -> Result<EvictionClaim, SchedulerError> {
    lock(c)?;
    let sql = format!(
        "SELECT f.state, f.evicted IS NOT NULL, {PINNED} FROM archive_files f
         WHERE f.id = $1 AND f.deleted IS NULL"
    );
    let Some(r) = c.query_opt(&sql, params![file_id])? else {
        return Err(SchedulerError::UnknownFile(file_id));
    };
    let state: FileState = r.get(0)?;
    let (evicted, pinned): (bool, bool) = (r.get(1)?, r.get(2)?);
    if state != FileState::OnTape {
        return Ok(EvictionClaim::NotOnTape(state));
    }
    if pinned {
        return Ok(EvictionClaim::Pinned);
    }
    if evicted {
        return Ok(EvictionClaim::Evicted);
    }
    c.execute(
        "UPDATE archive_files SET evicted = ts_now() WHERE id = $1",
        params![file_id],
    )?;
    Ok(EvictionClaim::Claimed)
}

/// The copy was not removed after all (it could not be read, or changed).
pub(super) fn unclaim(c: &mut dyn Conn, file_id: u64) -> Result<(), SchedulerError> {
    c.execute(
        "UPDATE archive_files SET evicted = NULL WHERE id = $1",
        params![file_id],
    )?;
    Ok(())
}

/// A recall put the file back at its own path: its copy is on disk again,
/// just used.
pub(super) fn recalled_home(c: &mut dyn Conn, recall_id: u64) -> Result<(), SchedulerError> {
    c.execute(
        "UPDATE archive_files SET evicted = NULL, disk_used = ts_now()
         WHERE id = (SELECT q.file_id FROM recall_queue q WHERE q.id = $1)
           AND path = (SELECT q.destination FROM recall_queue q WHERE q.id = $1)",
        params![recall_id],
    )?;
    Ok(())
}

/// A stage request found the copy on disk: used now. False if the
/// collector has claimed it meanwhile (the request recalls it instead).
/// The caller holds the lock (`lock`), once for all its files.
pub(super) fn touch(c: &mut dyn Conn, file_id: u64) -> Result<bool, SchedulerError> {
    Ok(c.execute(
        "UPDATE archive_files SET disk_used = ts_now() WHERE id = $1 AND evicted IS NULL",
        params![file_id],
    )? == 1)
}

pub(super) fn usage(c: &mut dyn Conn, beneath: &str) -> Result<BufferUsage, SchedulerError> {
    let prefix = format!("{}/", beneath.trim_end_matches('/'));
    let n = prefix.chars().count() as u64;
    // (files, bytes) beneath the buffer where `condition` holds; each
    // condition is led by what an index or the pins select, not a scan
    // that asks every file whether it is pinned.
    let mut count = |condition: &str| -> Result<(u64, u64), SchedulerError> {
        let sql = format!(
            "SELECT COUNT(*), CAST(COALESCE(SUM(f.size), 0) AS BIGINT) FROM archive_files f
             WHERE {condition} AND f.deleted IS NULL AND substr(f.path, 1, $1) = $2"
        );
        let r = c.query_one(&sql, params![n, &prefix])?;
        Ok((r.get(0)?, r.get(1)?))
    };
    let (pinned_files, pinned_bytes) = count(&format!("f.evicted IS NULL AND {PINNED}"))?;
    let (unmigrated_files, unmigrated_bytes) = count("f.state = 'queued'")?;
    let (evicted_files, evicted_bytes) = count("f.evicted IS NOT NULL")?;
    let (reserved_files, reserved_bytes) = reserved(c)?;
    Ok(BufferUsage {
        pinned_files,
        pinned_bytes,
        unmigrated_files,
        unmigrated_bytes,
        reserved_files,
        reserved_bytes,
        evicted_files,
        evicted_bytes,
    })
}
