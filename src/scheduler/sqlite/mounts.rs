//! Tapes, pools and mounts of the SQLite scheduler: which queue gets the
//! next mount and on which tape, closing mounts (and what that requeues),
//! operator claims and relabels.

use rusqlite::{Connection, OptionalExtension, Transaction, params};

use super::now;
use crate::scheduler::*;

pub(super) fn add_pool(conn: &Connection, name: &str) -> Result<(), SchedulerError> {
    conn.execute(
        "INSERT OR IGNORE INTO tape_pools (name) VALUES (?1)",
        [name],
    )?;
    Ok(())
}

pub(super) fn add_tape(
    tx: Transaction<'_>,
    vid: &str,
    pool: &str,
    capacity: u64,
) -> Result<(), SchedulerError> {
    check_pool(&tx, pool)?;
    tx.execute(
        "INSERT OR IGNORE INTO tapes (vid, pool, capacity) VALUES (?1, ?2, ?3)",
        params![vid, pool, capacity],
    )?;
    tx.commit()?;
    Ok(())
}

/// Errors unless the pool exists.
pub(super) fn check_pool(tx: &Transaction<'_>, pool: &str) -> Result<(), SchedulerError> {
    let known: bool = tx.query_row(
        "SELECT COUNT(*) > 0 FROM tape_pools WHERE name = ?1",
        [pool],
        |r| r.get(0),
    )?;
    if known {
        Ok(())
    } else {
        Err(SchedulerError::UnknownPool(pool.into()))
    }
}

/// A queue that could get a mount: its oldest request, count and bytes.
struct Candidate {
    kind: MountKind,
    /// VID for recalls, pool for migrations.
    key: String,
    files: u64,
    bytes: u64,
    oldest: f64,
}

fn worth_mounting(c: &Candidate, criteria: &MountCriteria, now: f64) -> bool {
    c.files >= criteria.min_files
        || c.bytes >= criteria.min_bytes
        || now - c.oldest >= criteria.max_age.as_secs_f64()
}

fn candidates(tx: &Transaction<'_>) -> Result<Vec<Candidate>, SchedulerError> {
    let mut out = Vec::new();
    for (kind, sql) in [
        (
            MountKind::Recall,
            "SELECT vid, COUNT(*), COALESCE(SUM(size), 0), MIN(queued) FROM pending_recalls
             WHERE vid NOT IN (SELECT vid FROM mounts WHERE ended IS NULL) GROUP BY vid",
        ),
        (
            MountKind::Migration,
            "SELECT pool, COUNT(*), COALESCE(SUM(size), 0), MIN(queued) FROM pending_archives
             GROUP BY pool",
        ),
    ] {
        let mut stmt = tx.prepare(sql)?;
        let rows = stmt.query_map([], |r| {
            Ok(Candidate {
                kind,
                key: r.get(0)?,
                files: r.get(1)?,
                bytes: r.get(2)?,
                oldest: r.get(3)?,
            })
        })?;
        out.extend(rows.collect::<Result<Vec<_>, _>>()?);
    }
    Ok(out)
}

/// True if the queue's last mount found no work less than `backoff` ago,
/// or one of its mounts started less than `backoff` ago has not fetched its
/// first work yet (a second mount now would race it for the same files and
/// find nothing; one older than that is a dead session's, and must not
/// hold the queue).
fn backing_off(
    tx: &Transaction<'_>,
    c: &Candidate,
    backoff: std::time::Duration,
    now: f64,
) -> Result<bool, SchedulerError> {
    let column = match c.kind {
        MountKind::Recall => "vid",
        _ => "pool",
    };
    let last: Option<(bool, Option<f64>)> = tx
        .query_row(
            &format!(
                "SELECT empty, ended FROM mounts WHERE kind = ?1 AND {column} = ?2
                 ORDER BY id DESC LIMIT 1"
            ),
            params![c.kind, c.key],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    if matches!(last, Some((true, Some(ended))) if now - ended < backoff.as_secs_f64()) {
        return Ok(true);
    }
    let starting: bool = tx.query_row(
        &format!(
            "SELECT COUNT(*) > 0 FROM mounts WHERE kind = ?1 AND {column} = ?2
             AND ended IS NULL AND fetched = 0 AND started > ?3"
        ),
        params![c.kind, c.key, now - backoff.as_secs_f64()],
        |r| r.get(0),
    )?;
    Ok(starting)
}

/// The tape a queue's mount goes to: for a recall its VID; for a migration
/// the fullest active tape of the pool with room for the first file.
fn target(tx: &Transaction<'_>, c: &Candidate) -> Result<Option<(String, String)>, SchedulerError> {
    Ok(match c.kind {
        MountKind::Migration => {
            let first: u64 = tx.query_row(
                "SELECT size FROM pending_archives WHERE pool = ?1 ORDER BY file_id LIMIT 1",
                [&c.key],
                |r| r.get(0),
            )?;
            tx.query_row(
                "SELECT vid, pool FROM tapes
                 WHERE pool = ?1 AND state = ?2 AND capacity - bytes_used >= ?3
                   AND vid NOT IN (SELECT vid FROM mounts WHERE ended IS NULL)
                 ORDER BY bytes_used DESC, vid LIMIT 1",
                params![c.key, TapeState::Active, first],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?
        }
        _ => tx
            .query_row(
                "SELECT vid, pool FROM tapes WHERE vid = ?1",
                [&c.key],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?,
    })
}

pub(super) fn next_mount(
    tx: Transaction<'_>,
    host: &str,
    drive: &str,
    criteria: &MountCriteria,
) -> Result<Option<Mount>, SchedulerError> {
    let t = now();
    let busy: bool = tx.query_row(
        "SELECT COUNT(*) > 0 FROM mounts WHERE host = ?1 AND drive = ?2 AND ended IS NULL",
        params![host, drive],
        |r| r.get(0),
    )?;
    if busy {
        return Ok(None);
    }
    let mut choices = Vec::new();
    for c in candidates(&tx)? {
        if worth_mounting(&c, criteria, t) && !backing_off(&tx, &c, criteria.empty_backoff, t)? {
            choices.push(c);
        }
    }
    choices.sort_by(|a, b| a.oldest.total_cmp(&b.oldest));
    for c in choices {
        let Some((vid, pool)) = target(&tx, &c)? else {
            continue;
        };
        tx.execute(
            "INSERT INTO mounts (kind, vid, pool, host, drive, started) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![c.kind, vid, pool, host, drive, t],
        )?;
        let id = tx.last_insert_rowid() as u64;
        tx.commit()?;
        return Ok(Some(Mount {
            id,
            kind: c.kind,
            vid,
            pool,
        }));
    }
    Ok(None)
}

/// Requeues what a mount assigned but nobody reported.
fn requeue_work(tx: &Transaction<'_>, mount_id: u64) -> Result<(), SchedulerError> {
    tx.execute(
        "UPDATE archive_queue SET mount_id = NULL WHERE mount_id = ?1",
        [mount_id],
    )?;
    tx.execute(
        "UPDATE recall_queue SET mount_id = NULL WHERE mount_id = ?1 AND state = ?2",
        params![mount_id, RecallState::Queued],
    )?;
    Ok(())
}

pub(super) fn end_mount(
    tx: Transaction<'_>,
    mount_id: u64,
    empty: bool,
) -> Result<(), SchedulerError> {
    tx.execute(
        "UPDATE mounts SET ended = ?2, empty = ?3 WHERE id = ?1 AND ended IS NULL",
        params![mount_id, now(), empty],
    )?;
    requeue_work(&tx, mount_id)?;
    tx.commit()?;
    Ok(())
}

pub(super) fn release_work_of_drive(
    tx: Transaction<'_>,
    host: &str,
    drive: &str,
) -> Result<Vec<u64>, SchedulerError> {
    let ids: Vec<u64> = {
        let mut stmt =
            tx.prepare("SELECT id FROM mounts WHERE host = ?1 AND drive = ?2 AND ended IS NULL")?;
        let rows = stmt.query_map(params![host, drive], |r| r.get(0))?;
        rows.collect::<Result<_, _>>()?
    };
    for id in &ids {
        requeue_work(&tx, *id)?;
    }
    tx.commit()?;
    Ok(ids)
}

pub(super) fn set_tape_state(
    conn: &Connection,
    vid: &str,
    state: TapeState,
    reason: &str,
) -> Result<(), SchedulerError> {
    let n = conn.execute(
        "UPDATE tapes SET state = ?2, reason = ?3 WHERE vid = ?1",
        params![vid, state, reason],
    )?;
    if n == 0 {
        return Err(SchedulerError::UnknownTape(vid.into()));
    }
    Ok(())
}

pub(super) fn claim_tape(
    tx: Transaction<'_>,
    host: &str,
    drive: &str,
    vid: &str,
    kind: MountKind,
) -> Result<u64, SchedulerError> {
    let (known, busy): (bool, bool) = tx.query_row(
        "SELECT (SELECT COUNT(*) > 0 FROM tapes WHERE vid = ?1),
                (SELECT COUNT(*) > 0 FROM mounts WHERE ended IS NULL AND (vid = ?1 OR (host = ?2 AND drive = ?3)))",
        params![vid, host, drive],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    if !known {
        return Err(SchedulerError::UnknownTape(vid.into()));
    }
    if busy {
        return Err(SchedulerError::TapeBusy(vid.into()));
    }
    let pool: String =
        tx.query_row("SELECT pool FROM tapes WHERE vid = ?1", [vid], |r| r.get(0))?;
    tx.execute(
        "INSERT INTO mounts (kind, vid, pool, host, drive, started) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![kind, vid, pool, host, drive, now()],
    )?;
    let id = tx.last_insert_rowid() as u64;
    tx.commit()?;
    Ok(id)
}

pub(super) fn reset_tape(tx: Transaction<'_>, vid: &str) -> Result<Vec<u64>, SchedulerError> {
    let ids: Vec<u64> = {
        let mut stmt = tx.prepare("SELECT file_id FROM tape_files WHERE vid = ?1 ORDER BY fseq")?;
        let rows = stmt.query_map([vid], |r| r.get(0))?;
        rows.collect::<Result<_, _>>()?
    };
    tx.execute(
        "UPDATE archive_files SET state = ?3, error = ?2 WHERE id IN (SELECT file_id FROM tape_files WHERE vid = ?1)",
        params![vid, format!("tape {vid} was relabelled"), FileState::Lost],
    )?;
    // Recalls from the tape can never be served: say so now.
    tx.execute(
        "UPDATE recall_queue SET state = ?3, error = ?2, mount_id = NULL WHERE vid = ?1 AND state = ?4",
        params![
            vid,
            format!("tape {vid} was relabelled: the file is lost"),
            RecallState::Failed,
            RecallState::Queued
        ],
    )?;
    tx.execute("DELETE FROM tape_files WHERE vid = ?1", [vid])?;
    let n = tx.execute(
        "UPDATE tapes SET last_fseq = 0, bytes_used = 0, state = ?2, reason = NULL WHERE vid = ?1",
        params![vid, TapeState::Active],
    )?;
    if n == 0 {
        return Err(SchedulerError::UnknownTape(vid.into()));
    }
    tx.commit()?;
    Ok(ids)
}
