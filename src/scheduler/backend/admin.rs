//! What operators ask of the catalogue beyond status: pools, queues with
//! their age and size, cancelling requests; and the drive leases that
//! tell live servers from dead ones.

use super::pools::{adjust_pending, signed};
use crate::scheduler::sql::{Conn, params};
use crate::scheduler::*;

pub(super) fn pools(c: &mut dyn Conn) -> Result<Vec<PoolInfo>, SchedulerError> {
    let rows = c.query(
        "SELECT p.name,
            (SELECT COUNT(*) FROM tapes t WHERE t.pool = p.name),
            (SELECT COUNT(*) FROM tapes t WHERE t.pool = p.name AND t.state = 'active'),
            (SELECT CAST(COALESCE(SUM(t.capacity - t.bytes_used), 0) AS BIGINT) FROM tapes t
                WHERE t.pool = p.name AND t.state = 'active'),
            COALESCE((SELECT a.files FROM archive_pending a WHERE a.pool = p.name), 0)
         FROM tape_pools p ORDER BY p.name",
        params![],
    )?;
    rows.iter()
        .map(|r| {
            Ok(PoolInfo {
                name: r.get(0)?,
                tapes: r.get(1)?,
                writable_tapes: r.get(2)?,
                free_bytes: r.get(3)?,
                queued_files: r.get(4)?,
            })
        })
        .collect()
}

/// Queued work per pool (archives) and per tape (recalls), running work
/// included, with the age of the oldest request.
pub(super) fn queues(c: &mut dyn Conn) -> Result<Vec<QueueInfo>, SchedulerError> {
    let t = super::db_now(c)?;
    let mut out = Vec::new();
    for r in c.query(
        "SELECT pool, COUNT(*), CAST(COALESCE(SUM(size), 0) AS BIGINT), MIN(queued),
                CAST(COALESCE(SUM(CASE WHEN mount_id IS NULL THEN 0 ELSE 1 END), 0) AS BIGINT)
         FROM archive_queue GROUP BY pool ORDER BY pool",
        params![],
    )? {
        out.push(QueueInfo {
            kind: MountKind::Migration,
            pool: r.get(0)?,
            vid: None,
            files: r.get(1)?,
            bytes: r.get(2)?,
            oldest_age: t - r.get::<f64>(3)?,
            running: r.get(4)?,
            servable: true,
        });
    }
    for r in c.query(
        "SELECT q.vid, tp.pool, COUNT(*), CAST(COALESCE(SUM(f.size), 0) AS BIGINT), MIN(q.queued),
                CAST(COALESCE(SUM(CASE WHEN q.mount_id IS NULL THEN 0 ELSE 1 END), 0) AS BIGINT)
         FROM recall_queue q JOIN archive_files f ON f.id = q.file_id
         JOIN tapes tp ON tp.vid = q.vid
         WHERE q.state = 'queued' GROUP BY q.vid, tp.pool ORDER BY q.vid",
        params![],
    )? {
        out.push(QueueInfo {
            kind: MountKind::Recall,
            vid: Some(r.get(0)?),
            pool: r.get(1)?,
            files: r.get(2)?,
            bytes: r.get(3)?,
            oldest_age: t - r.get::<f64>(4)?,
            running: r.get(5)?,
            servable: true,
        });
    }
    super::media::mark_servable(c, &mut out)?;
    Ok(out)
}

/// Takes a queued archive (every copy still queued) off the queue; one a
/// mount is writing is refused.
pub(super) fn cancel_archive(c: &mut dyn Conn, file_id: u64) -> Result<(), SchedulerError> {
    let rows = c.query(
        "SELECT q.mount_id, q.pool, q.size FROM archive_queue q WHERE q.file_id = $1 FOR UPDATE",
        params![file_id],
    )?;
    if rows.is_empty() {
        let state: Option<FileState> = c
            .query_opt(
                "SELECT state FROM archive_files WHERE id = $1",
                params![file_id],
            )?
            .map(|r| r.get(0))
            .transpose()?;
        return Err(match state {
            None => SchedulerError::UnknownFile(file_id),
            Some(state) => SchedulerError::Invalid(format!(
                "file {file_id} is {state}, not queued: nothing to cancel"
            )),
        });
    }
    let mut copies = Vec::with_capacity(rows.len());
    for r in &rows {
        let (mount, pool, size): (Option<u64>, String, u64) = (r.get(0)?, r.get(1)?, r.get(2)?);
        if let Some(mount) = mount {
            return Err(SchedulerError::Invalid(format!(
                "file {file_id} is being written by mount {mount}; cancel it once that mount ends"
            )));
        }
        copies.push((pool, size));
    }
    c.execute(
        "DELETE FROM archive_queue WHERE file_id = $1",
        params![file_id],
    )?;
    c.execute(
        "UPDATE archive_files SET state = $2, error = $3 WHERE id = $1",
        params![file_id, FileState::Failed, "cancelled by an operator"],
    )?;
    for (pool, size) in copies {
        adjust_pending(c, &pool, -1, -signed(size))?;
    }
    Ok(())
}

/// Fails a queued recall; one a mount is reading is refused.
pub(super) fn cancel_recall(c: &mut dyn Conn, recall_id: u64) -> Result<(), SchedulerError> {
    let Some(r) = c.query_opt(
        "SELECT state, mount_id FROM recall_queue WHERE id = $1 FOR UPDATE",
        params![recall_id],
    )?
    else {
        return Err(SchedulerError::Invalid(format!(
            "no recall with id {recall_id}"
        )));
    };
    let (state, mount): (RecallState, Option<u64>) = (r.get(0)?, r.get(1)?);
    if state != RecallState::Queued {
        return Err(SchedulerError::Invalid(format!(
            "recall {recall_id} is {state}: nothing to cancel"
        )));
    }
    if let Some(mount) = mount {
        return Err(SchedulerError::Invalid(format!(
            "recall {recall_id} is being read by mount {mount}; cancel it once that mount ends"
        )));
    }
    c.execute(
        "UPDATE recall_queue SET state = $2, error = $3 WHERE id = $1",
        params![recall_id, RecallState::Failed, "cancelled by an operator"],
    )?;
    Ok(())
}

/// A failed archive goes back to the queue, its attempts and end-of-medium
/// count reset (the operator fixed what failed it).
pub(super) fn retry_archive(c: &mut dyn Conn, file_id: u64) -> Result<(), SchedulerError> {
    let Some(r) = c.query_opt(
        "SELECT state, pool, size, class FROM archive_files WHERE id = $1 FOR UPDATE",
        params![file_id],
    )?
    else {
        return Err(SchedulerError::UnknownFile(file_id));
    };
    let (state, pool, size, class): (FileState, String, u64, Option<String>) =
        (r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?);
    if state != FileState::Failed {
        return Err(SchedulerError::Invalid(format!(
            "file {file_id} is {state}: only a failed file is retried"
        )));
    }
    // The copies its class asks for that are neither on tape nor queued.
    let routes: Vec<(u64, String)> = match &class {
        None => vec![(1, pool)],
        Some(class) => c
            .query(
                "SELECT copy_nb, pool FROM routes WHERE class = $1 ORDER BY copy_nb",
                params![class.as_str()],
            )?
            .iter()
            .map(|r| Ok((r.get(0)?, r.get(1)?)))
            .collect::<Result<_, SchedulerError>>()?,
    };
    c.execute(
        "UPDATE archive_files SET state = $2, error = NULL WHERE id = $1",
        params![file_id, FileState::Queued],
    )?;
    let mut queued = 0;
    for (copy_nb, pool) in routes {
        let present = c
            .query_opt(
                "SELECT 1 FROM tape_files WHERE file_id = $1 AND copy_nb = $2
                 UNION ALL SELECT 1 FROM archive_queue WHERE file_id = $1 AND copy_nb = $2",
                params![file_id, copy_nb],
            )?
            .is_some();
        if present {
            continue;
        }
        c.execute(
            "INSERT INTO archive_queue (file_id, copy_nb, pool, size, queued)
             VALUES ($1, $2, $3, $4, ts_now())",
            params![file_id, copy_nb, &pool, size],
        )?;
        adjust_pending(c, &pool, 1, signed(size))?;
        queued += 1;
    }
    if queued == 0 {
        // Every copy is on tape already: the file is.
        c.execute(
            "UPDATE archive_files SET state = $2 WHERE id = $1",
            params![file_id, FileState::OnTape],
        )?;
    }
    Ok(())
}

/// A failed recall goes back to the queue, its attempts reset; refused when
/// its file is no longer on tape (the recall could never be served).
pub(super) fn retry_recall(c: &mut dyn Conn, recall_id: u64) -> Result<(), SchedulerError> {
    let Some(r) = c.query_opt(
        "SELECT q.state, q.file_id, f.state FROM recall_queue q
         JOIN archive_files f ON f.id = q.file_id WHERE q.id = $1 FOR UPDATE OF q",
        params![recall_id],
    )?
    else {
        return Err(SchedulerError::Invalid(format!(
            "no recall with id {recall_id}"
        )));
    };
    let (state, file_id, file_state): (RecallState, u64, FileState) =
        (r.get(0)?, r.get(1)?, r.get(2)?);
    if state != RecallState::Failed {
        return Err(SchedulerError::Invalid(format!(
            "recall {recall_id} is {state}: only a failed recall is retried"
        )));
    }
    if file_state != FileState::OnTape {
        return Err(SchedulerError::Invalid(format!(
            "recall {recall_id}: file {file_id} is {file_state}, not on tape: it cannot be recalled"
        )));
    }
    c.execute(
        "UPDATE recall_queue SET state = $2, error = NULL, attempts = 0, not_before = 0,
            mount_id = NULL WHERE id = $1",
        params![recall_id, RecallState::Queued],
    )?;
    Ok(())
}

/// Every lease on drives of these names, live or not.
pub(super) fn drive_leases(
    c: &mut dyn Conn,
    drives: &[String],
) -> Result<Vec<DriveLease>, SchedulerError> {
    let mut out = Vec::new();
    for drive in drives {
        for r in c.query(
            "SELECT host, drive, expires > ts_now(), expires - ts_now() FROM drive_leases
             WHERE drive = $1 ORDER BY host",
            params![drive.as_str()],
        )? {
            out.push(DriveLease {
                host: r.get(0)?,
                drive: r.get(1)?,
                live: r.get(2)?,
                remaining: r.get(3)?,
            });
        }
    }
    Ok(out)
}

/// Renews this host's leases on its drives for `ttl` seconds.
pub(super) fn renew_leases(
    c: &mut dyn Conn,
    host: &str,
    drives: &[String],
    ttl: f64,
) -> Result<(), SchedulerError> {
    for drive in drives {
        c.execute(
            "INSERT INTO drive_leases (host, drive, expires) VALUES ($1, $2, ts_now() + $3)
             ON CONFLICT (host, drive) DO UPDATE SET expires = excluded.expires",
            params![host, drive.as_str(), ttl],
        )?;
    }
    Ok(())
}
