//! Repack: empties a tape by reading each live copy on it into the repack
//! buffer and archiving it again. Every step is a row state in the
//! catalogue, so a crash anywhere resumes where it was:
//!
//! - `queued`: waits for room in the buffer (admitted in tape order while
//!   the files held stay within `buffer_bytes`);
//! - `reading`: its recall into the buffer (marked with the repacked VID,
//!   served by repack mounts) is queued;
//! - `archiving`: in the buffer; a queue entry per copy it writes, whose
//!   source is the buffer file;
//! - `done` / `failed`. A row holds its size of the buffer until its file
//!   is removed (`buffer` NULL), so the bound counts every file that may
//!   be there.
//!
//! The old copy is replaced by the new one in the transaction that records
//! the new one (`record_copy`): a file never has fewer good copies, and
//! never a copy twice.

use crate::scheduler::sql::{Conn, params};
use crate::scheduler::*;

/// Queues a repack of `vid`; returns how many files it moves.
pub(super) fn queue_repack(
    c: &mut dyn Conn,
    vid: &str,
    request: &RepackRequest,
    by: &str,
) -> Result<u64, SchedulerError> {
    let Some(row) = c.query_opt(
        "SELECT state FROM tapes WHERE vid = $1 FOR UPDATE",
        params![vid],
    )?
    else {
        return Err(SchedulerError::UnknownTape(vid.to_string()));
    };
    let state: TapeState = row.get(0)?;
    if let Some(pool) = &request.to_pool {
        super::pools::check_pool(c, pool)?;
    }
    match state {
        TapeState::Exported => {
            return Err(SchedulerError::Invalid(format!(
                "tape {vid} is outside the library: tapeadmin import it first"
            )));
        }
        TapeState::Broken if !request.add_copies => {
            return Err(SchedulerError::Invalid(format!(
                "tape {vid} is broken: its copies cannot be read; --add-copies writes them again from the files' other copies"
            )));
        }
        _ => {}
    }
    let running = c.query_opt(
        "SELECT state FROM repacks WHERE vid = $1 AND state IN ('queued', 'running')",
        params![vid],
    )?;
    if running.is_some() {
        return Err(SchedulerError::Invalid(format!(
            "tape {vid} is already being repacked (tapeadmin repacks)"
        )));
    }
    // An earlier repack's files still in the buffer are removed first (the
    // next pass of the daemon does it): their rows are how it finds them.
    if c.query_opt(
        "SELECT 1 FROM repack_files WHERE vid = $1 AND buffer IS NOT NULL",
        params![vid],
    )?
    .is_some()
    {
        return Err(SchedulerError::Invalid(format!(
            "the last repack of {vid} still has files in the repack buffer being removed: try again in a moment"
        )));
    }
    c.execute("DELETE FROM repack_files WHERE vid = $1", params![vid])?;
    c.execute("DELETE FROM repacks WHERE vid = $1", params![vid])?;
    let files = c.execute(
        "INSERT INTO repack_files (vid, file_id, copy_nb, size, state)
         SELECT t.vid, t.file_id, t.copy_nb, f.size, 'queued'
         FROM tape_files t JOIN archive_files f ON f.id = t.file_id
         WHERE t.vid = $1 AND f.deleted IS NULL",
        params![vid],
    )?;
    c.execute(
        "INSERT INTO repacks (vid, state, to_pool, add_copies, reclaim, files_total, queued,
                              requested_by, state_before)
         VALUES ($1, 'queued', $2, $3, $4, $5, ts_now(), $6, $7)",
        params![
            vid,
            request.to_pool.as_deref(),
            request.add_copies,
            request.reclaim,
            files,
            by,
            state
        ],
    )?;
    if state != TapeState::Broken {
        // Nobody else mounts it; its users' recalls go to other copies.
        super::rows::set_tape_state(c, vid, TapeState::Repacking, "being repacked", by)?;
    }
    Ok(files)
}

pub(super) fn repacks(c: &mut dyn Conn) -> Result<Vec<RepackInfo>, SchedulerError> {
    c.query(
        "SELECT vid, state, files_total, files_done, files_failed, bytes, queued, started,
                ended, error, to_pool, requested_by
         FROM repacks ORDER BY queued, vid",
        params![],
    )?
    .iter()
    .map(|r| {
        Ok(RepackInfo {
            vid: r.get(0)?,
            state: r.get(1)?,
            files_total: r.get(2)?,
            files_done: r.get(3)?,
            files_failed: r.get(4)?,
            bytes: r.get(5)?,
            queued: r.get(6)?,
            started: r.get(7)?,
            ended: r.get(8)?,
            error: r.get(9)?,
            to_pool: r.get(10)?,
            requested_by: r.get(11)?,
        })
    })
    .collect()
}

pub(super) fn file_failed(
    c: &mut dyn Conn,
    vid: &str,
    file_id: u64,
    error: &str,
) -> Result<(), SchedulerError> {
    let n = c.execute(
        "UPDATE repack_files SET state = 'failed', error = $3
         WHERE vid = $1 AND file_id = $2 AND state NOT IN ('done', 'failed')",
        params![vid, file_id, error],
    )?;
    if n > 0 {
        tracing::warn!(
            vid,
            file_id,
            error,
            "repack of a file failed: its copy stays where it was"
        );
        c.execute(
            "UPDATE repacks SET files_failed = files_failed + 1,
                 error = COALESCE(error, $2) WHERE vid = $1",
            params![vid, format!("file {file_id}: {error}")],
        )?;
    }
    Ok(())
}

/// The file needs no repack any more (it was deleted).
pub(super) fn file_skipped(
    c: &mut dyn Conn,
    vid: &str,
    file_id: u64,
) -> Result<(), SchedulerError> {
    let n = c.execute(
        "UPDATE repack_files SET state = 'done', error = 'deleted'
         WHERE vid = $1 AND file_id = $2 AND state NOT IN ('done', 'failed')",
        params![vid, file_id],
    )?;
    if n > 0 {
        c.execute(
            "UPDATE repacks SET files_done = files_done + 1 WHERE vid = $1",
            params![vid],
        )?;
    }
    Ok(())
}

/// Records a repack's new copy of `file_id`: the copy it replaces (on the
/// repacked tape, or a bad or broken one) goes in the same statement set,
/// user recalls queued on the old copy move to the new one, and the file's
/// repack is done once its last copy is recorded. False if the data
/// written is not the file the catalogue knows (nothing recorded).
pub(super) fn record_copy(
    c: &mut dyn Conn,
    repack: &str,
    copy_nb: u64,
    a: &ArchivedFile,
    vid: &str,
) -> Result<bool, SchedulerError> {
    let crc: Option<u32> = c
        .query_one(
            "SELECT crc32c FROM archive_files WHERE id = $1",
            params![a.file_id],
        )?
        .get(0)?;
    if crc.is_some_and(|crc| crc != a.crc32c) {
        return Ok(false);
    }
    let old = c.query_opt(
        "SELECT vid, fseq FROM tape_files WHERE file_id = $1 AND copy_nb = $2",
        params![a.file_id, copy_nb],
    )?;
    c.execute(
        "DELETE FROM tape_files WHERE file_id = $1 AND copy_nb = $2",
        params![a.file_id, copy_nb],
    )?;
    c.execute(
        "INSERT INTO tape_files (file_id, vid, fseq, block_id, block_size, copy_nb)
         VALUES ($1, $2, $3, $4, $5, $6)",
        params![a.file_id, vid, a.fseq, a.block_id, a.block_size, copy_nb],
    )?;
    if let Some(old) = old {
        let (old_vid, old_fseq): (String, u64) = (old.get(0)?, old.get(1)?);
        c.execute(
            "UPDATE recall_queue SET vid = $4, fseq = $5
             WHERE file_id = $1 AND vid = $2 AND fseq = $3 AND state = 'queued'
               AND mount_id IS NULL AND repack IS NULL",
            params![a.file_id, &old_vid, old_fseq, vid, a.fseq],
        )?;
    }
    c.execute(
        "DELETE FROM archive_queue WHERE file_id = $1 AND copy_nb = $2",
        params![a.file_id, copy_nb],
    )?;
    let more = c
        .query_opt(
            "SELECT 1 FROM archive_queue WHERE file_id = $1 AND repack = $2",
            params![a.file_id, repack],
        )?
        .is_some();
    if !more {
        let n = c.execute(
            "UPDATE repack_files SET state = 'done'
             WHERE vid = $1 AND file_id = $2 AND state = 'archiving'",
            params![repack, a.file_id],
        )?;
        if n > 0 {
            c.execute(
                "UPDATE repacks SET files_done = files_done + 1, bytes = bytes + $2 WHERE vid = $1",
                params![repack, a.size],
            )?;
        }
    }
    Ok(true)
}

/// A repack's copy failed for good: the file's repack fails (its old
/// copy stays), the file itself does not.
pub(super) fn copy_given_up(
    c: &mut dyn Conn,
    repack: &str,
    file_id: u64,
    copy_nb: u64,
    reason: &str,
) -> Result<(), SchedulerError> {
    // Only this copy's entry: another copy may be on another mount.
    c.execute(
        "DELETE FROM archive_queue WHERE file_id = $1 AND copy_nb = $2",
        params![file_id, copy_nb],
    )?;
    file_failed(c, repack, file_id, &format!("archive: {reason}"))
}

/// A repack mount for the oldest repack whose reads wait, while fewer
/// than `max_drives` repack mounts are open (on every host).
pub(super) fn next_repack_mount(
    c: &mut dyn Conn,
    host: &str,
    drive: &str,
    generation: Option<u8>,
    max_drives: u64,
) -> Result<Option<Mount>, SchedulerError> {
    let open: u64 = c
        .query_one(
            "SELECT COUNT(*) FROM mounts WHERE kind = $1 AND ended IS NULL",
            params![MountKind::Repack],
        )?
        .get(0)?;
    if open >= max_drives {
        return Ok(None);
    }
    let mut values = Vec::new();
    let media = super::media::media_filter("tp.media", generation, false, &mut values);
    let Some(r) = c.query_opt(
        &format!(
            "SELECT r.vid, tp.pool FROM pending_recalls r JOIN tapes tp ON tp.vid = r.vid
             WHERE r.repack IS NOT NULL AND r.not_before <= ts_now(){media}
               AND r.vid NOT IN (SELECT vid FROM mounts WHERE ended IS NULL)
             GROUP BY r.vid, tp.pool ORDER BY MIN(r.queued) LIMIT 1"
        ),
        &values,
    )?
    else {
        return Ok(None);
    };
    let (vid, pool): (String, String) = (r.get(0)?, r.get(1)?);
    super::rows::record_mount(c, MountKind::Repack, vid, pool, host, drive).map(Some)
}
