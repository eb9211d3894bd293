//! Moving repacks on (see `repack` for the states): reads done go to
//! the archive queues, reads or writes given up fail their file, new files
//! are admitted while the buffer has room, and repacks with nothing left
//! end.

use super::pools::{adjust_pending, signed};
use super::repack::{file_failed, file_skipped};
use super::rows::BEST_COPY;
use crate::scheduler::sql::{Conn, params};
use crate::scheduler::*;

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
        super::rows::set_tape_state(c, vid, before, "", SYSTEM)?;
    } else if reclaim {
        match super::deletion::reclaim(c, vid) {
            Ok(_) => super::rows::set_tape_state(c, vid, TapeState::Active, "", SYSTEM)?,
            // Refused before anything was written: the repack ends failed,
            // saying why, rather than stopping every other repack.
            Err(e @ (SchedulerError::Invalid(_) | SchedulerError::TapeBusy(_))) => {
                c.execute(
                    "UPDATE repacks SET state = 'failed', error = $2 WHERE vid = $1",
                    params![vid, format!("reclaim: {e}")],
                )?;
                super::rows::set_tape_state(c, vid, before, "", SYSTEM)?;
            }
            Err(e) => return Err(e),
        }
    } else {
        super::rows::set_tape_state(
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
