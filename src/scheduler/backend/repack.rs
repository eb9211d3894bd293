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

use super::pools::{adjust_pending, signed};
use super::queue::BEST_COPY;
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
        super::mounts::set_tape_state(c, vid, TapeState::Repacking, "being repacked", by)?;
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

/// One pass over every repack: files read go to the archive queues, files
/// given up are failed, new files are admitted while the buffer has room,
/// repacks with nothing left end. Returns the buffer files that may be
/// removed (`buffers_removed` once they are).
pub(super) fn advance(
    c: &mut dyn Conn,
    settings: &RepackSettings,
) -> Result<Vec<String>, SchedulerError> {
    let active: Vec<String> = c
        .query(
            "SELECT vid FROM repacks WHERE state IN ('queued', 'running') ORDER BY queued",
            params![],
        )?
        .iter()
        .map(|r| r.get(0))
        .collect::<Result<_, _>>()?;
    for vid in &active {
        settle_reads(c, vid)?;
        settle_archives(c, vid)?;
    }
    for vid in &active {
        if !admit(c, vid, settings)? {
            break;
        }
    }
    for vid in &active {
        finish_if_done(c, vid)?;
    }
    c.query(
        "SELECT buffer FROM repack_files
         WHERE buffer IS NOT NULL AND state IN ('done', 'failed')",
        params![],
    )?
    .iter()
    .map(|r| r.get(0))
    .collect()
}

/// The buffer files in `paths` are gone: their room is free.
pub(super) fn buffers_removed(c: &mut dyn Conn, paths: &[String]) -> Result<(), SchedulerError> {
    for p in paths {
        c.execute(
            "UPDATE repack_files SET buffer = NULL
             WHERE buffer = $1 AND state IN ('done', 'failed')",
            params![p.as_str()],
        )?;
    }
    Ok(())
}

fn file_failed(
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
fn file_skipped(c: &mut dyn Conn, vid: &str, file_id: u64) -> Result<(), SchedulerError> {
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

/// Files whose read ended: in the buffer, their copies queued; failed or
/// cancelled, the file failed (or skipped, if deleted).
fn settle_reads(c: &mut dyn Conn, vid: &str) -> Result<(), SchedulerError> {
    let rows = c.query(
        "SELECT rf.file_id, rf.copy_nb, rf.size, rf.buffer, q.state, q.error,
                f.deleted IS NOT NULL
         FROM repack_files rf JOIN archive_files f ON f.id = rf.file_id
         LEFT JOIN recall_queue q ON q.id = rf.recall_id
         WHERE rf.vid = $1 AND rf.state = 'reading'
           AND (q.state IS NULL OR q.state <> 'queued' OR f.deleted IS NOT NULL)",
        params![vid],
    )?;
    for r in rows {
        let (file_id, copy_nb, size, buffer): (u64, u64, u64, String) =
            (r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?);
        let (state, error, deleted): (Option<RecallState>, Option<String>, bool) =
            (r.get(4)?, r.get(5)?, r.get(6)?);
        if deleted {
            file_skipped(c, vid, file_id)?;
        } else if state == Some(RecallState::Done) {
            queue_copies(c, vid, file_id, copy_nb, size, &buffer)?;
        } else {
            let why = error.unwrap_or_else(|| "its read into the buffer was cancelled".into());
            file_failed(c, vid, file_id, &format!("read: {why}"))?;
        }
    }
    Ok(())
}

/// The pool a copy of a file goes to: its class's route, or (a file of a
/// plain pool) that pool for copy 1.
fn route(c: &mut dyn Conn, file_id: u64, copy_nb: u64) -> Result<Option<String>, SchedulerError> {
    let row = c.query_one(
        "SELECT f.pool, f.class, (SELECT r.pool FROM routes r
                                  WHERE r.class = f.class AND r.copy_nb = $2)
         FROM archive_files f WHERE f.id = $1",
        params![file_id, copy_nb],
    )?;
    let (pool, class, routed): (String, Option<String>, Option<String>) =
        (row.get(0)?, row.get(1)?, row.get(2)?);
    Ok(match class {
        Some(_) => routed,
        None => (copy_nb == 1).then_some(pool),
    })
}

/// A file read into the buffer: a queue entry for the copy it moves (to
/// `--to-pool` or its route), and with `--add-copies` for each copy its
/// class asks for that no good tape holds.
fn queue_copies(
    c: &mut dyn Conn,
    vid: &str,
    file_id: u64,
    copy_nb: u64,
    size: u64,
    buffer: &str,
) -> Result<(), SchedulerError> {
    let r = c.query_one(
        "SELECT to_pool, add_copies FROM repacks WHERE vid = $1",
        params![vid],
    )?;
    let (to_pool, add_copies): (Option<String>, bool) = (r.get(0)?, r.get(1)?);
    let mut targets: Vec<(u64, String)> = Vec::new();
    // The copy on this tape moves, unless it is gone already (replaced).
    let here = c
        .query_opt(
            "SELECT 1 FROM tape_files WHERE file_id = $1 AND copy_nb = $2 AND vid = $3",
            params![file_id, copy_nb, vid],
        )?
        .is_some();
    if here {
        match to_pool
            .clone()
            .map(Some)
            .unwrap_or(route(c, file_id, copy_nb)?)
        {
            Some(pool) => targets.push((copy_nb, pool)),
            None => {
                return file_failed(
                    c,
                    vid,
                    file_id,
                    &format!("copy {copy_nb} has no route (tapeadmin add-route, or --to-pool)"),
                );
            }
        }
    }
    if add_copies {
        let wanted: u64 = c
            .query_one(
                "SELECT COALESCE((SELECT s.copies FROM storage_classes s WHERE s.name = f.class), 1)
                 FROM archive_files f WHERE f.id = $1",
                params![file_id],
            )?
            .get(0)?;
        for n in 1..=wanted {
            if targets.iter().any(|(t, _)| *t == n) {
                continue;
            }
            let good = c
                .query_opt(
                    "SELECT 1 FROM tape_files t JOIN tapes tp ON tp.vid = t.vid
                     WHERE t.file_id = $1 AND t.copy_nb = $2 AND t.bad IS NULL
                       AND tp.state <> 'broken' AND t.vid <> $3",
                    params![file_id, n, vid],
                )?
                .is_some();
            if !good && let Some(pool) = route(c, file_id, n)? {
                targets.push((n, pool));
            }
        }
    }
    if targets.is_empty() {
        return file_skipped(c, vid, file_id);
    }
    for (n, pool) in &targets {
        let queued = c.execute(
            "INSERT INTO archive_queue (file_id, copy_nb, pool, size, queued, source, repack)
             VALUES ($1, $2, $3, $4, ts_now(), $5, $6)
             ON CONFLICT (file_id, copy_nb) DO NOTHING",
            params![file_id, *n, pool.as_str(), size, buffer, vid],
        )?;
        if queued > 0 {
            adjust_pending(c, pool, 1, signed(size))?;
        }
    }
    c.execute(
        "UPDATE repack_files SET state = 'archiving' WHERE vid = $1 AND file_id = $2",
        params![vid, file_id],
    )?;
    Ok(())
}

/// Files whose copies left the queue without being recorded (an operator
/// cancelled them, the file was deleted): failed or skipped.
fn settle_archives(c: &mut dyn Conn, vid: &str) -> Result<(), SchedulerError> {
    let rows = c.query(
        "SELECT rf.file_id, f.deleted IS NOT NULL FROM repack_files rf
         JOIN archive_files f ON f.id = rf.file_id
         WHERE rf.vid = $1 AND rf.state = 'archiving'
           AND NOT EXISTS (SELECT 1 FROM archive_queue q
                           WHERE q.file_id = rf.file_id AND q.repack = $1)",
        params![vid],
    )?;
    for r in rows {
        let (file_id, deleted): (u64, bool) = (r.get(0)?, r.get(1)?);
        if deleted {
            file_skipped(c, vid, file_id)?;
        } else {
            file_failed(c, vid, file_id, "its archive was cancelled")?;
        }
    }
    Ok(())
}

/// Starts reads of `vid`'s next files while the buffer has room for them,
/// in tape order (a file that does not fit waits; later ones do not pass
/// it). False once the buffer is full.
fn admit(c: &mut dyn Conn, vid: &str, settings: &RepackSettings) -> Result<bool, SchedulerError> {
    let held: u64 = c
        .query_one(
            "SELECT CAST(COALESCE(SUM(size), 0) AS BIGINT) FROM repack_files
             WHERE buffer IS NOT NULL",
            params![],
        )?
        .get(0)?;
    let mut free = settings.buffer_bytes.saturating_sub(held);
    let next = c.query(
        "SELECT rf.file_id, rf.size, t.fseq, tp.state
         FROM repack_files rf
         LEFT JOIN tape_files t ON t.file_id = rf.file_id AND t.copy_nb = rf.copy_nb AND t.vid = rf.vid
         JOIN tapes tp ON tp.vid = rf.vid
         WHERE rf.vid = $1 AND rf.state = 'queued'
         ORDER BY t.fseq LIMIT 1000",
        params![vid],
    )?;
    for r in next {
        let (file_id, size, fseq, state): (u64, u64, Option<u64>, TapeState) =
            (r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?);
        if size > settings.buffer_bytes {
            file_failed(
                c,
                vid,
                file_id,
                &format!(
                    "{size} bytes, larger than the repack buffer ([repack] buffer_bytes = {})",
                    settings.buffer_bytes
                ),
            )?;
            continue;
        }
        if size > free {
            return Ok(false);
        }
        // Read from this tape, or (broken) from the file's best good copy.
        let source = match (state, fseq) {
            (TapeState::Broken, _) | (_, None) => c
                .query_opt(
                    &format!(
                        "SELECT t.vid, t.fseq FROM tape_files t JOIN tapes tp ON tp.vid = t.vid
                         WHERE t.file_id = $1 AND t.bad IS NULL AND t.vid <> $2
                           AND tp.state NOT IN ('broken', 'exported')
                         ORDER BY {BEST_COPY} LIMIT 1"
                    ),
                    params![file_id, vid],
                )?
                .map(|r| Ok::<_, SchedulerError>((r.get(0)?, r.get(1)?)))
                .transpose()?,
            (_, Some(fseq)) => Some((vid.to_string(), fseq)),
        };
        let Some((from, from_fseq)) = source else {
            file_failed(c, vid, file_id, "no good copy to read it from")?;
            continue;
        };
        let buffer = format!(
            "{}/{vid}-{file_id}",
            settings.buffer_dir.trim_end_matches('/')
        );
        let recall_id: u64 = c
            .query_one(
                "INSERT INTO recall_queue (file_id, vid, fseq, destination, state, queued, repack)
                 VALUES ($1, $2, $3, $4, $5, ts_now(), $6) RETURNING id",
                params![file_id, &from, from_fseq, &buffer, RecallState::Queued, vid],
            )?
            .get(0)?;
        c.execute(
            "UPDATE repack_files SET state = 'reading', recall_id = $3, buffer = $4
             WHERE vid = $1 AND file_id = $2",
            params![vid, file_id, recall_id, &buffer],
        )?;
        c.execute(
            "UPDATE repacks SET state = 'running', started = COALESCE(started, ts_now())
             WHERE vid = $1",
            params![vid],
        )?;
        free -= size;
    }
    Ok(true)
}

/// Ends a repack with nothing left to do and its tape dismounted: done
/// (the tape reclaimed if asked, else disabled: it holds no live copy) or
/// failed (the tape back in its state before: its failed files are still
/// there).
fn finish_if_done(c: &mut dyn Conn, vid: &str) -> Result<(), SchedulerError> {
    let left = c
        .query_opt(
            "SELECT 1 FROM repack_files WHERE vid = $1 AND state NOT IN ('done', 'failed')
             UNION ALL SELECT 1 FROM mounts WHERE vid = $1 AND ended IS NULL",
            params![vid],
        )?
        .is_some();
    if left {
        return Ok(());
    }
    // Files a migration mount open at the repack's start wrote after it
    // took its list: repacked too, before the repack can end.
    let late = c.execute(
        "INSERT INTO repack_files (vid, file_id, copy_nb, size, state)
         SELECT t.vid, t.file_id, t.copy_nb, f.size, 'queued'
         FROM tape_files t JOIN archive_files f ON f.id = t.file_id
         WHERE t.vid = $1 AND f.deleted IS NULL
           AND NOT EXISTS (SELECT 1 FROM repack_files rf
                           WHERE rf.vid = t.vid AND rf.file_id = t.file_id)",
        params![vid],
    )?;
    if late > 0 {
        c.execute(
            "UPDATE repacks SET files_total = files_total + $2 WHERE vid = $1",
            params![vid, late],
        )?;
        return Ok(());
    }
    let r = c.query_one(
        "SELECT files_failed, reclaim, state_before FROM repacks WHERE vid = $1",
        params![vid],
    )?;
    let (failed, reclaim, before): (u64, bool, TapeState) = (r.get(0)?, r.get(1)?, r.get(2)?);
    let state = if failed > 0 { "failed" } else { "done" };
    c.execute(
        "UPDATE repacks SET state = $2, ended = ts_now(), started = COALESCE(started, ts_now())
         WHERE vid = $1",
        params![vid, state],
    )?;
    if before == TapeState::Broken {
        tracing::info!(
            vid,
            state,
            "repack of a broken tape ended: the copies it held were written again"
        );
        return Ok(());
    }
    if failed > 0 {
        super::mounts::set_tape_state(c, vid, before, "", SYSTEM)?;
    } else if reclaim {
        match super::deletion::reclaim(c, vid) {
            Ok(_) => super::mounts::set_tape_state(c, vid, TapeState::Active, "", SYSTEM)?,
            // Refused before anything was written: the repack ends failed,
            // saying why, rather than stopping every other repack.
            Err(e @ (SchedulerError::Invalid(_) | SchedulerError::TapeBusy(_))) => {
                c.execute(
                    "UPDATE repacks SET state = 'failed', error = $2 WHERE vid = $1",
                    params![vid, format!("reclaim: {e}")],
                )?;
                super::mounts::set_tape_state(c, vid, before, "", SYSTEM)?;
            }
            Err(e) => return Err(e),
        }
    } else {
        super::mounts::set_tape_state(
            c,
            vid,
            TapeState::Disabled,
            "repacked: holds no live copy (tapeadmin reclaim returns it to its pool)",
            SYSTEM,
        )?;
    }
    tracing::info!(vid, state, failed, reclaim, "repack ended");
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
    let id: u64 = c
        .query_one(
            "INSERT INTO mounts (kind, vid, pool, host, drive, started)
             VALUES ($1, $2, $3, $4, $5, ts_now()) RETURNING id",
            params![MountKind::Repack, &vid, &pool, host, drive],
        )?
        .get(0)?;
    Ok(Some(Mount {
        id,
        kind: MountKind::Repack,
        vid,
        pool,
    }))
}
