//! The archive and recall queues: queueing recalls (archives: `enqueue`;
//! fetching work for a mount: `fetch`) and recording what sessions report.
//! Every function runs inside one write transaction its caller opened.

use super::pools::{adjust_pending, signed};
use super::rows::BEST_COPY;
use crate::scheduler::sql::{Conn, params};
use crate::scheduler::*;

/// Rows per multi-row INSERT (5 values each: far below both engines'
/// limits on parameters).
pub(super) const INSERT_CHUNK: usize = 500;

/// "($1, $2), ($3, $4)" for `rows` rows of `columns` values.
pub(super) fn placeholders(rows: usize, columns: usize) -> String {
    (0..rows)
        .map(|r| {
            let cols: Vec<String> = (1..=columns)
                .map(|c| format!("${}", r * columns + c))
                .collect();
            format!("({})", cols.join(", "))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

pub(super) fn queue_recall(
    c: &mut dyn Conn,
    owner: &str,
    file_id: u64,
    destination: &str,
) -> Result<RecallTicket, SchedulerError> {
    // Another owner's file is answered as no file at all: a client learns
    // nothing of what it does not own.
    let row = c.query_opt(
        // The best copy: a good one on a tape that can be mounted, one
        // mounted or about to be first, then the least busy tape.
        &format!(
            "SELECT f.state, t.vid, t.fseq, f.deleted IS NOT NULL FROM archive_files f
         LEFT JOIN tape_files t ON t.file_id = f.id
         LEFT JOIN tapes tp ON tp.vid = t.vid
         WHERE f.id = $1 AND f.owner = $2
         ORDER BY CASE WHEN t.bad IS NULL THEN 0 ELSE 1 END, {BEST_COPY}
         LIMIT 1"
        ),
        params![file_id, owner],
    )?;
    let Some(row) = row else {
        return Err(SchedulerError::UnknownFile(file_id));
    };
    let state: FileState = if row.get::<bool>(3)? {
        FileState::Deleted
    } else {
        row.get(0)?
    };
    let (vid, fseq) = match (state, row.get::<Option<String>>(1)?, row.get(2)?) {
        (FileState::OnTape, Some(vid), Some(fseq)) => (vid, fseq),
        (state, ..) => return Err(SchedulerError::NotOnTape { id: file_id, state }),
    };
    let recall_id: u64 = c
        .query_one(
            "INSERT INTO recall_queue (file_id, vid, fseq, destination, state, queued)
             VALUES ($1, $2, $3, $4, $5, ts_now()) RETURNING id",
            params![file_id, &vid, fseq, destination, RecallState::Queued],
        )?
        .get(0)?;
    Ok(RecallTicket {
        recall_id,
        vid,
        fseq,
    })
}

/// Errors unless every file is still assigned to the mount.
fn check_owner(
    c: &mut dyn Conn,
    mount_id: u64,
    file_ids: impl Iterator<Item = u64>,
) -> Result<(), SchedulerError> {
    for file_id in file_ids {
        // One queue entry per copy; this mount's is the one assigned to it.
        let owned = c
            .query_opt(
                "SELECT 1 FROM archive_queue WHERE file_id = $1 AND mount_id = $2",
                params![file_id, mount_id],
            )?
            .is_some();
        if !owned {
            return Err(SchedulerError::StaleMount { mount_id, file_id });
        }
    }
    Ok(())
}

/// Fails a file for good and takes its copy `copy_nb` off the queue (it is
/// assigned to a mount, or was just unassigned uncounted, so the pending
/// counts do not change). Its other copies go on; the file stays failed.
fn fail_copy(
    c: &mut dyn Conn,
    file_id: u64,
    copy_nb: u64,
    reason: &str,
) -> Result<(), SchedulerError> {
    if let Some(repack) = repack_of(c, file_id, copy_nb)? {
        return super::repack::copy_given_up(c, &repack, file_id, copy_nb, reason);
    }
    c.execute(
        "UPDATE archive_files SET state = $2, error = $3 WHERE id = $1",
        params![file_id, FileState::Failed, reason],
    )?;
    c.execute(
        "DELETE FROM archive_queue WHERE file_id = $1 AND copy_nb = $2",
        params![file_id, copy_nb],
    )?;
    Ok(())
}

/// The tape a queued copy repacks, if it is a repack's.
fn repack_of(
    c: &mut dyn Conn,
    file_id: u64,
    copy_nb: u64,
) -> Result<Option<String>, SchedulerError> {
    Ok(c.query_opt(
        "SELECT repack FROM archive_queue WHERE file_id = $1 AND copy_nb = $2",
        params![file_id, copy_nb],
    )?
    .map(|r| r.get::<Option<String>>(0))
    .transpose()?
    .flatten())
}

/// The copy of `file_id` assigned to `mount_id`.
fn copy_of(c: &mut dyn Conn, file_id: u64, mount_id: u64) -> Result<u64, SchedulerError> {
    c.query_opt(
        "SELECT copy_nb FROM archive_queue WHERE file_id = $1 AND mount_id = $2",
        params![file_id, mount_id],
    )?
    .map(|r| r.get(0))
    .transpose()?
    .ok_or(SchedulerError::StaleMount { mount_id, file_id })
}

/// Which count a failure adds to.
#[derive(Clone, Copy)]
enum Count {
    Attempts,
    EndOfMedium,
}

/// One more failure of a queued file: requeued (not to `mount_id` again),
/// or failed for good once its count reaches `limit`.
fn count_failure(
    c: &mut dyn Conn,
    mount_id: u64,
    file_id: u64,
    count: Count,
    limit: u32,
    last: String,
) -> Result<(), SchedulerError> {
    let column = match count {
        Count::Attempts => "attempts",
        Count::EndOfMedium => "end_of_medium",
    };
    let row = c.query_one(
        &format!(
            "UPDATE archive_queue SET {column} = {column} + 1, last_error = $2, mount_id = NULL,
                 last_mount_id = $3 WHERE file_id = $1 AND mount_id = $3
             RETURNING {column}, pool, size, copy_nb"
        ),
        params![file_id, &last, mount_id],
    )?;
    let (n, pool, size, copy_nb): (u32, String, u64, u64) =
        (row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?);
    if n >= limit {
        let reason = match count {
            Count::EndOfMedium => format!("met end of medium on {n} tapes; the last time: {last}"),
            Count::Attempts => format!("failed after {n} attempts; the last: {last}"),
        };
        fail_copy(c, file_id, copy_nb, &reason)?;
    } else {
        adjust_pending(c, &pool, 1, signed(size))?;
    }
    Ok(())
}

/// True if this exact report was already recorded: the connection broke
/// after a commit and the session sent it again.
fn already_reported(
    c: &mut dyn Conn,
    vid: &str,
    archived: &[ArchivedFile],
    failed: &[FailedFile],
) -> Result<bool, SchedulerError> {
    if archived.is_empty() || !failed.is_empty() {
        return Ok(false);
    }
    for a in archived {
        let same = c
            .query_opt(
                "SELECT 1 FROM tape_files WHERE file_id = $1 AND vid = $2 AND fseq = $3",
                params![a.file_id, vid, a.fseq],
            )?
            .is_some();
        if !same {
            return Ok(false);
        }
    }
    Ok(true)
}

pub(super) fn report_migration(
    c: &mut dyn Conn,
    mount_id: u64,
    vid: &str,
    archived: &[ArchivedFile],
    failed: &[FailedFile],
    limits: &FileLimits,
) -> Result<(), SchedulerError> {
    if already_reported(c, vid, archived, failed)? {
        return Ok(());
    }
    check_owner(
        c,
        mount_id,
        archived
            .iter()
            .map(|a| a.file_id)
            .chain(failed.iter().map(|f| f.file_id)),
    )?;
    for a in archived {
        let copy_nb = copy_of(c, a.file_id, mount_id)?;
        if let Some(repack) = repack_of(c, a.file_id, copy_nb)? {
            if !super::repack::record_copy(c, &repack, copy_nb, a, vid)? {
                let why = format!(
                    "the copy written to {vid} fSeq {} has CRC32C {:08x}, not the file's",
                    a.fseq, a.crc32c
                );
                super::repack::copy_given_up(c, &repack, a.file_id, copy_nb, &why)?;
            }
            continue;
        }
        c.execute(
            "INSERT INTO tape_files (file_id, vid, fseq, block_id, block_size, copy_nb)
             VALUES ($1, $2, $3, $4, $5, $6)",
            params![a.file_id, vid, a.fseq, a.block_id, a.block_size, copy_nb],
        )?;
        c.execute(
            "DELETE FROM archive_queue WHERE file_id = $1 AND copy_nb = $2",
            params![a.file_id, copy_nb],
        )?;
        c.execute(
            "UPDATE archive_files SET crc32c = $2 WHERE id = $1",
            params![a.file_id, a.crc32c],
        )?;
        // On tape once every copy is; a failed file stays failed.
        c.execute(
            "UPDATE archive_files SET state = $2, error = NULL
             WHERE id = $1 AND state = $3
               AND NOT EXISTS (SELECT 1 FROM archive_queue q WHERE q.file_id = $1)",
            params![a.file_id, FileState::OnTape, FileState::Queued],
        )?;
    }
    for f in failed {
        match &f.failure {
            FileFailure::Disk(reason) => count_failure(
                c,
                mount_id,
                f.file_id,
                Count::Attempts,
                limits.max_attempts,
                reason.clone(),
            )?,
            FileFailure::Final(reason) => {
                let copy_nb = copy_of(c, f.file_id, mount_id)?;
                fail_copy(c, f.file_id, copy_nb, reason)?
            }
            FileFailure::EndOfMedium(reason) => count_failure(
                c,
                mount_id,
                f.file_id,
                Count::EndOfMedium,
                limits.max_end_of_medium,
                format!("{vid}: {reason}"),
            )?,
        }
    }
    if let Some(max_fseq) = archived.iter().map(|a| a.fseq).max() {
        let bytes: u64 = archived.iter().map(|a| a.size).sum();
        c.execute(
            "UPDATE tapes SET last_fseq = CASE WHEN last_fseq > $2 THEN last_fseq ELSE $2 END,
                 bytes_used = bytes_used + $3 WHERE vid = $1",
            params![vid, max_fseq, bytes],
        )?;
    }
    Ok(())
}

pub(super) fn count_attempt(
    c: &mut dyn Conn,
    mount_id: u64,
    file_id: u64,
    reason: &str,
    limits: &FileLimits,
) -> Result<(), SchedulerError> {
    check_owner(c, mount_id, std::iter::once(file_id))?;
    let row = c.query_one(
        "UPDATE archive_queue SET attempts = attempts + 1, last_error = $2
         WHERE file_id = $1 AND mount_id = $3 RETURNING attempts, copy_nb",
        params![file_id, reason, mount_id],
    )?;
    let (attempts, copy_nb): (u32, u64) = (row.get(0)?, row.get(1)?);
    if attempts >= limits.max_attempts {
        fail_copy(
            c,
            file_id,
            copy_nb,
            &format!("failed after {attempts} attempts; the last: {reason}"),
        )?;
    }
    Ok(())
}

pub(super) fn stage_recall(
    c: &mut dyn Conn,
    mount_id: u64,
    recall_id: u64,
    file: &FileIdentity,
) -> Result<(), SchedulerError> {
    let n = c.execute(
        "UPDATE recall_queue SET staged_dev = $3, staged_ino = $4, staged_mtime = $5
         WHERE id = $1 AND mount_id = $2 AND state = $6",
        params![
            recall_id,
            mount_id,
            file.dev,
            file.ino,
            file.mtime_ns,
            RecallState::Queued
        ],
    )?;
    if n == 0 {
        return Err(SchedulerError::StaleMount {
            mount_id,
            file_id: recall_id,
        });
    }
    Ok(())
}

pub(super) fn report_recalls(
    c: &mut dyn Conn,
    mount_id: u64,
    results: &[(u64, RecallEnd)],
) -> Result<(), SchedulerError> {
    for (recall_id, end) in results {
        let (state, error) = match end {
            RecallEnd::Done => (RecallState::Done, None),
            RecallEnd::Failed(e) => (RecallState::Failed, Some(e.as_str())),
            RecallEnd::Retry { error, after } => {
                // Back to the queue until `after` has passed, a limited
                // number of times; then it fails with the last error.
                c.execute(
                    "UPDATE recall_queue SET mount_id = NULL, error = $3,
                        attempts = attempts + 1, not_before = ts_now() + $4,
                        state = CASE WHEN attempts + 1 >= $5 THEN $6 ELSE state END
                     WHERE id = $1 AND mount_id = $2 AND state = $7",
                    params![
                        *recall_id,
                        mount_id,
                        error.as_str(),
                        after.as_secs_f64(),
                        RECALL_RETRIES,
                        RecallState::Failed,
                        RecallState::Queued
                    ],
                )?;
                continue;
            }
            RecallEnd::CopyFailed { reason, bad } => {
                super::fallback::copy_failed(c, mount_id, *recall_id, reason, *bad)?;
                continue;
            }
        };
        let changed = c.execute(
            "UPDATE recall_queue SET state = $3, error = $4, finished = ts_now()
             WHERE id = $1 AND mount_id = $2 AND state = $5",
            params![*recall_id, mount_id, state, error, RecallState::Queued],
        )?;
        if changed == 1 && state == RecallState::Done {
            super::disk_buffer::recalled_home(c, *recall_id)?;
        }
    }
    Ok(())
}
