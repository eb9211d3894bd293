//! Deletion, undeletion and reclaim. A deleted file keeps its catalogue
//! rows and its copy on tape (so an operator can undelete it within the
//! recycle retention) until its tape is reclaimed: only a tape that holds
//! no live copy is, and only then is anything on a tape overwritten.

use super::pools::{adjust_pending, signed};
use crate::scheduler::sql::{Conn, params};
use crate::scheduler::*;

/// Deletes `ids` of `owner` (another owner's id is no id at all). All or
/// nothing: one unknown id deletes none. A queued archive is taken off the
/// queue (one a mount is writing is left to it: its copy is recorded, and
/// is a deleted file's); queued recalls of the file fail.
pub(super) fn delete_files(
    c: &mut dyn Conn,
    owner: &str,
    ids: &[u64],
    by: &str,
) -> Result<Vec<u64>, SchedulerError> {
    let mut deleted = Vec::with_capacity(ids.len());
    for &id in ids {
        let row = c.query_opt(
            "SELECT deleted IS NOT NULL FROM archive_files WHERE id = $1 AND owner = $2 FOR UPDATE",
            params![id, owner],
        )?;
        let Some(row) = row else {
            return Err(SchedulerError::UnknownFile(id));
        };
        if row.get::<bool>(0)? {
            deleted.push(id);
            continue;
        }
        // Each queued copy no mount is writing is taken off the queue.
        for q in c.query(
            "SELECT mount_id, pool, size, copy_nb FROM archive_queue WHERE file_id = $1",
            params![id],
        )? {
            let (mount, pool, size, copy_nb): (Option<u64>, String, u64, u64) =
                (q.get(0)?, q.get(1)?, q.get(2)?, q.get(3)?);
            if mount.is_none() {
                c.execute(
                    "DELETE FROM archive_queue WHERE file_id = $1 AND copy_nb = $2",
                    params![id, copy_nb],
                )?;
                c.execute(
                    "UPDATE archive_files SET state = $2, error = $3 WHERE id = $1",
                    params![id, FileState::Failed, "deleted before it reached tape"],
                )?;
                adjust_pending(c, &pool, -1, -signed(size))?;
            }
        }
        c.execute(
            "UPDATE recall_queue SET state = $2, error = $3
             WHERE file_id = $1 AND state = $4 AND mount_id IS NULL",
            params![
                id,
                RecallState::Failed,
                "the file was deleted",
                RecallState::Queued
            ],
        )?;
        c.execute(
            "UPDATE archive_files SET deleted = ts_now(), deleted_by = $2 WHERE id = $1",
            params![id, by],
        )?;
        deleted.push(id);
    }
    Ok(deleted)
}

/// Brings a deleted file back, within `retention_s` seconds of its
/// deletion and while its copy is still on tape.
pub(super) fn undelete(c: &mut dyn Conn, id: u64, retention_s: f64) -> Result<(), SchedulerError> {
    let Some(row) = c.query_opt(
        "SELECT f.deleted, ts_now() - f.deleted, f.state,
                (SELECT COUNT(*) FROM tape_files t WHERE t.file_id = f.id)
         FROM archive_files f WHERE f.id = $1 FOR UPDATE",
        params![id],
    )?
    else {
        return Err(SchedulerError::UnknownFile(id));
    };
    let (deleted, age, state, copies): (Option<f64>, Option<f64>, FileState, u64) =
        (row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?);
    if deleted.is_none() {
        return Err(SchedulerError::Invalid(format!(
            "file {id} is not deleted: nothing to undelete"
        )));
    }
    let age = age.unwrap_or(0.0);
    if age > retention_s {
        return Err(SchedulerError::Invalid(format!(
            "file {id} was deleted {:.1} days ago, past the recycle retention of {:.1} days: it is gone for good",
            age / 86_400.0,
            retention_s / 86_400.0
        )));
    }
    if state == FileState::OnTape && copies == 0 {
        return Err(SchedulerError::Invalid(format!(
            "file {id} cannot come back: its tape was reclaimed since it was deleted"
        )));
    }
    c.execute(
        "UPDATE archive_files SET deleted = NULL, deleted_by = NULL WHERE id = $1",
        params![id],
    )?;
    Ok(())
}

/// Empties a tape that holds no live copy: its deleted files' copies are
/// forgotten (they can no longer be undeleted) and its next write mount
/// writes from fSeq 1 over what it held. Returns the copies forgotten.
pub(super) fn reclaim(c: &mut dyn Conn, vid: &str) -> Result<u64, SchedulerError> {
    let Some(row) = c.query_opt(
        "SELECT state,
                (SELECT COUNT(*) FROM tape_files t JOIN archive_files f ON f.id = t.file_id
                     WHERE t.vid = tapes.vid AND f.deleted IS NULL),
                (SELECT COUNT(*) FROM tape_files t WHERE t.vid = tapes.vid),
                (SELECT COUNT(*) FROM mounts m WHERE m.vid = tapes.vid AND m.ended IS NULL)
         FROM tapes WHERE vid = $1 FOR UPDATE",
        params![vid],
    )?
    else {
        return Err(SchedulerError::UnknownTape(vid.to_string()));
    };
    let (state, live, copies, open): (TapeState, u64, u64, u64) =
        (row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?);
    if live > 0 {
        return Err(SchedulerError::Invalid(format!(
            "tape {vid} holds {live} live files: reclaim refused (delete or repack them first)"
        )));
    }
    if open > 0 {
        return Err(SchedulerError::TapeBusy(vid.to_string()));
    }
    // Recalls of deleted files failed when they were deleted; none may
    // still point at this tape's old fSeqs.
    c.execute(
        "UPDATE recall_queue SET state = $2, error = $3 WHERE vid = $1 AND state = $4",
        params![
            vid,
            RecallState::Failed,
            "the tape was reclaimed",
            RecallState::Queued
        ],
    )?;
    c.execute("DELETE FROM tape_files WHERE vid = $1", params![vid])?;
    let state = if state == TapeState::Full {
        TapeState::Active
    } else {
        state
    };
    c.execute(
        "UPDATE tapes SET last_fseq = 0, bytes_used = 0, reclaimed = reclaimed + 1,
             state = $2, reason = CASE WHEN $2 = 'active' THEN NULL ELSE reason END
         WHERE vid = $1",
        params![vid, state],
    )?;
    Ok(copies)
}

/// Moves a tape that holds no live copy to another pool (a reclaimed or
/// new tape changing hands).
pub(super) fn move_tape(c: &mut dyn Conn, vid: &str, pool: &str) -> Result<(), SchedulerError> {
    if c.query_opt("SELECT 1 FROM tape_pools WHERE name = $1", params![pool])?
        .is_none()
    {
        return Err(SchedulerError::UnknownPool(pool.to_string()));
    }
    let Some(row) = c.query_opt(
        "SELECT (SELECT COUNT(*) FROM tape_files t JOIN archive_files f ON f.id = t.file_id
                     WHERE t.vid = tapes.vid AND f.deleted IS NULL),
                (SELECT COUNT(*) FROM mounts m WHERE m.vid = tapes.vid AND m.ended IS NULL)
         FROM tapes WHERE vid = $1 FOR UPDATE",
        params![vid],
    )?
    else {
        return Err(SchedulerError::UnknownTape(vid.to_string()));
    };
    let (live, open): (u64, u64) = (row.get(0)?, row.get(1)?);
    if live > 0 {
        return Err(SchedulerError::Invalid(format!(
            "tape {vid} holds {live} live files: it stays in its pool (repack or delete them first)"
        )));
    }
    if open > 0 {
        return Err(SchedulerError::TapeBusy(vid.to_string()));
    }
    c.execute(
        "UPDATE tapes SET pool = $2 WHERE vid = $1",
        params![vid, pool],
    )?;
    Ok(())
}
