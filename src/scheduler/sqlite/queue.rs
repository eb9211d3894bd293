//! The archive and recall queues of the SQLite scheduler: queueing,
//! fetching work for a mount (from the `pending_*` views mount selection
//! also uses), and recording what sessions report.

use rusqlite::{OptionalExtension, Transaction, params};

use super::now;
use crate::scheduler::*;

pub(super) fn queue_archive(
    tx: Transaction<'_>,
    files: &[NewArchiveFile],
    pool: &str,
) -> Result<Vec<u64>, SchedulerError> {
    super::mounts::check_pool(&tx, pool)?;
    // A file no tape of the pool can hold would only burn the pool's tapes.
    let largest: Option<u64> = tx.query_row(
        "SELECT MAX(capacity) FROM tapes WHERE pool = ?1",
        [pool],
        |r| r.get(0),
    )?;
    let largest = largest.ok_or_else(|| SchedulerError::EmptyPool(pool.into()))?;
    if let Some(f) = files.iter().find(|f| f.size > largest) {
        return Err(SchedulerError::TooLarge {
            path: f.path.clone(),
            size: f.size,
            pool: pool.into(),
            largest,
        });
    }
    let t = now();
    let mut ids = Vec::with_capacity(files.len());
    {
        let mut file = tx.prepare(
            "INSERT INTO archive_files (path, size, pool, state, created) VALUES (?1, ?2, ?3, ?4, ?5)",
        )?;
        let mut queue = tx.prepare(
            "INSERT INTO archive_queue (file_id, pool, size, queued) VALUES (?1, ?2, ?3, ?4)",
        )?;
        for f in files {
            file.execute(params![f.path, f.size, pool, FileState::Queued, t])?;
            let id = tx.last_insert_rowid() as u64;
            queue.execute(params![id, pool, f.size, t])?;
            ids.push(id);
        }
    }
    tx.commit()?;
    Ok(ids)
}

pub(super) fn queue_recall(
    tx: Transaction<'_>,
    file_id: u64,
    destination: &str,
) -> Result<RecallTicket, SchedulerError> {
    let row: Option<(FileState, Option<String>, Option<u64>)> = tx
        .query_row(
            "SELECT f.state, t.vid, t.fseq FROM archive_files f
             LEFT JOIN tape_files t ON t.file_id = f.id WHERE f.id = ?1",
            [file_id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?;
    let (vid, fseq) = match row {
        None => return Err(SchedulerError::UnknownFile(file_id)),
        Some((FileState::OnTape, Some(vid), Some(fseq))) => (vid, fseq),
        Some((state, ..)) => return Err(SchedulerError::NotOnTape { id: file_id, state }),
    };
    tx.execute(
        "INSERT INTO recall_queue (file_id, vid, fseq, destination, state, queued) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![file_id, vid, fseq, destination, RecallState::Queued, now()],
    )?;
    let recall_id = tx.last_insert_rowid() as u64;
    tx.commit()?;
    Ok(RecallTicket {
        recall_id,
        vid,
        fseq,
    })
}

/// The open mount's kind and its pool and VID, if the mount is open.
fn open_mount(
    tx: &Transaction<'_>,
    mount_id: u64,
) -> Result<Option<(MountKind, String, String)>, SchedulerError> {
    Ok(tx
        .query_row(
            "SELECT kind, pool, vid FROM mounts WHERE id = ?1 AND ended IS NULL",
            [mount_id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?)
}

pub(super) fn fetch_archive_jobs(
    tx: Transaction<'_>,
    mount_id: u64,
    max_files: u64,
    max_bytes: u64,
) -> Result<Vec<ArchiveJob>, SchedulerError> {
    let Some((MountKind::Migration, pool, _)) = open_mount(&tx, mount_id)? else {
        return Ok(Vec::new());
    };
    let mut jobs = Vec::new();
    {
        // A file this mount already failed waits for another mount.
        let mut stmt = tx.prepare(
            "SELECT file_id, path, size FROM pending_archives
             WHERE pool = ?1 AND (last_mount_id IS NULL OR last_mount_id != ?3)
             ORDER BY file_id LIMIT ?2",
        )?;
        let mut rows = stmt.query(params![pool, max_files, mount_id])?;
        let mut bytes = 0u64;
        while let Some(r) = rows.next()? {
            let job = ArchiveJob {
                file_id: r.get(0)?,
                path: r.get(1)?,
                size: r.get(2)?,
            };
            if !jobs.is_empty() && bytes.saturating_add(job.size) > max_bytes {
                break;
            }
            bytes = bytes.saturating_add(job.size);
            jobs.push(job);
        }
        let mut assign = tx.prepare("UPDATE archive_queue SET mount_id = ?1 WHERE file_id = ?2")?;
        for job in &jobs {
            assign.execute(params![mount_id, job.file_id])?;
        }
    }
    tx.execute("UPDATE mounts SET fetched = 1 WHERE id = ?1", [mount_id])?;
    tx.commit()?;
    Ok(jobs)
}

pub(super) fn fetch_recall_jobs(
    tx: Transaction<'_>,
    mount_id: u64,
    max_files: u64,
    max_bytes: u64,
) -> Result<Vec<RecallJob>, SchedulerError> {
    let Some((MountKind::Recall, _, vid)) = open_mount(&tx, mount_id)? else {
        return Ok(Vec::new());
    };
    let mut jobs = Vec::new();
    {
        let mut stmt = tx.prepare(
            "SELECT recall_id, file_id, fseq, block_id, block_size, size, crc32c, destination,
                    staged_dev, staged_ino, staged_mtime
             FROM pending_recalls WHERE vid = ?1 ORDER BY fseq, recall_id LIMIT ?2",
        )?;
        let mut rows = stmt.query(params![vid, max_files])?;
        let mut bytes = 0u64;
        while let Some(r) = rows.next()? {
            let staged = match (
                r.get::<_, Option<u64>>(8)?,
                r.get::<_, Option<u64>>(9)?,
                r.get::<_, Option<i64>>(10)?,
            ) {
                (Some(dev), Some(ino), Some(mtime_ns)) => Some(FileIdentity { dev, ino, mtime_ns }),
                _ => None,
            };
            let job = RecallJob {
                recall_id: r.get(0)?,
                file_id: r.get(1)?,
                fseq: r.get(2)?,
                block_id: r.get(3)?,
                block_size: r.get(4)?,
                size: r.get(5)?,
                crc32c: r.get::<_, Option<u32>>(6)?.unwrap_or_default(),
                destination: r.get(7)?,
                staged,
            };
            if !jobs.is_empty() && bytes.saturating_add(job.size) > max_bytes {
                break;
            }
            bytes = bytes.saturating_add(job.size);
            jobs.push(job);
        }
        let mut assign = tx.prepare("UPDATE recall_queue SET mount_id = ?1 WHERE id = ?2")?;
        for job in &jobs {
            assign.execute(params![mount_id, job.recall_id])?;
        }
    }
    tx.execute("UPDATE mounts SET fetched = 1 WHERE id = ?1", [mount_id])?;
    tx.commit()?;
    Ok(jobs)
}

/// Errors unless every file is still assigned to the mount.
fn check_owner(
    tx: &Transaction<'_>,
    mount_id: u64,
    file_ids: impl Iterator<Item = u64>,
) -> Result<(), SchedulerError> {
    let mut owner = tx.prepare("SELECT mount_id FROM archive_queue WHERE file_id = ?1")?;
    for file_id in file_ids {
        let mount: Option<Option<u64>> = owner.query_row([file_id], |r| r.get(0)).optional()?;
        if mount != Some(Some(mount_id)) {
            return Err(SchedulerError::StaleMount { mount_id, file_id });
        }
    }
    Ok(())
}

/// Fails a file for good and takes it off the queue.
fn fail_file(tx: &Transaction<'_>, file_id: u64, reason: &str) -> Result<(), SchedulerError> {
    tx.execute(
        "UPDATE archive_files SET state = ?2, error = ?3 WHERE id = ?1",
        params![file_id, FileState::Failed, reason],
    )?;
    tx.execute("DELETE FROM archive_queue WHERE file_id = ?1", [file_id])?;
    Ok(())
}

/// One more failure of a queued file: requeued (not to `mount_id` again),
/// or failed for good once `column` reaches `limit`.
fn count_failure(
    tx: &Transaction<'_>,
    mount_id: u64,
    file_id: u64,
    column: &str,
    limit: u32,
    last: String,
) -> Result<(), SchedulerError> {
    let count: u32 = tx.query_row(
        &format!(
            "UPDATE archive_queue SET {column} = {column} + 1, last_error = ?2, mount_id = NULL,
                 last_mount_id = ?3 WHERE file_id = ?1 RETURNING {column}"
        ),
        params![file_id, last, mount_id],
        |r| r.get(0),
    )?;
    if count >= limit {
        let reason = match column {
            "end_of_medium" => format!("met end of medium on {count} tapes; the last time: {last}"),
            _ => format!("failed after {count} attempts; the last: {last}"),
        };
        fail_file(tx, file_id, &reason)?;
    }
    Ok(())
}

pub(super) fn report_migration(
    tx: Transaction<'_>,
    mount_id: u64,
    vid: &str,
    archived: &[ArchivedFile],
    failed: &[FailedFile],
    limits: &FileLimits,
) -> Result<(), SchedulerError> {
    check_owner(
        &tx,
        mount_id,
        archived
            .iter()
            .map(|a| a.file_id)
            .chain(failed.iter().map(|f| f.file_id)),
    )?;
    {
        let mut tape_file = tx.prepare(
            "INSERT INTO tape_files (file_id, vid, fseq, block_id, block_size) VALUES (?1, ?2, ?3, ?4, ?5)",
        )?;
        let mut on_tape = tx.prepare(
            "UPDATE archive_files SET state = ?2, crc32c = ?3, error = NULL WHERE id = ?1",
        )?;
        let mut dequeue = tx.prepare("DELETE FROM archive_queue WHERE file_id = ?1")?;
        for a in archived {
            tape_file.execute(params![a.file_id, vid, a.fseq, a.block_id, a.block_size])?;
            on_tape.execute(params![a.file_id, FileState::OnTape, a.crc32c])?;
            dequeue.execute([a.file_id])?;
        }
    }
    for f in failed {
        match &f.failure {
            FileFailure::Disk(reason) => count_failure(
                &tx,
                mount_id,
                f.file_id,
                "attempts",
                limits.max_attempts,
                reason.clone(),
            )?,
            FileFailure::Final(reason) => fail_file(&tx, f.file_id, reason)?,
            FileFailure::EndOfMedium(reason) => count_failure(
                &tx,
                mount_id,
                f.file_id,
                "end_of_medium",
                limits.max_end_of_medium,
                format!("{vid}: {reason}"),
            )?,
        }
    }
    if let Some(max_fseq) = archived.iter().map(|a| a.fseq).max() {
        let bytes: u64 = archived.iter().map(|a| a.size).sum();
        tx.execute(
            "UPDATE tapes SET last_fseq = MAX(last_fseq, ?2), bytes_used = bytes_used + ?3 WHERE vid = ?1",
            params![vid, max_fseq, bytes],
        )?;
    }
    tx.commit()?;
    Ok(())
}

pub(super) fn count_attempt(
    tx: Transaction<'_>,
    mount_id: u64,
    file_id: u64,
    reason: &str,
    limits: &FileLimits,
) -> Result<(), SchedulerError> {
    check_owner(&tx, mount_id, std::iter::once(file_id))?;
    let attempts: u32 = tx.query_row(
        "UPDATE archive_queue SET attempts = attempts + 1, last_error = ?2 WHERE file_id = ?1
         RETURNING attempts",
        params![file_id, reason],
        |r| r.get(0),
    )?;
    if attempts >= limits.max_attempts {
        fail_file(
            &tx,
            file_id,
            &format!("failed after {attempts} attempts; the last: {reason}"),
        )?;
    }
    tx.commit()?;
    Ok(())
}

pub(super) fn stage_recall(
    tx: Transaction<'_>,
    mount_id: u64,
    recall_id: u64,
    file: &FileIdentity,
) -> Result<(), SchedulerError> {
    let n = tx.execute(
        "UPDATE recall_queue SET staged_dev = ?3, staged_ino = ?4, staged_mtime = ?5
         WHERE id = ?1 AND mount_id = ?2 AND state = ?6",
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
    tx.commit()?;
    Ok(())
}

pub(super) fn report_recalls(
    tx: Transaction<'_>,
    mount_id: u64,
    results: &[(u64, Option<String>)],
) -> Result<(), SchedulerError> {
    {
        let mut stmt = tx.prepare(
            "UPDATE recall_queue SET state = ?3, error = ?4 WHERE id = ?1 AND mount_id = ?2 AND state = ?5",
        )?;
        for (recall_id, error) in results {
            let state = if error.is_some() {
                RecallState::Failed
            } else {
                RecallState::Done
            };
            stmt.execute(params![
                recall_id,
                mount_id,
                state,
                error,
                RecallState::Queued
            ])?;
        }
    }
    tx.commit()?;
    Ok(())
}
