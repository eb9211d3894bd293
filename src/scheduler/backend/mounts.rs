//! Tapes, pools and mounts: which queue gets the next mount and on which
//! tape, closing mounts (and what that requeues), operator claims and
//! relabels. Every function runs inside one write transaction its caller
//! opened.

use std::collections::BTreeMap;

use super::pools::{adjust_pending, signed};
use crate::scheduler::policy::{Candidate, MountPolicy, PoolDrives, rank_shared};
use crate::scheduler::sql::{Conn, Value, params};
use crate::scheduler::*;

/// Every queue with pending work: recalls per tape (not already mounted),
/// archives per pool from the pending counters (never a count over the
/// whole queue), each with its oldest request.
fn candidates(c: &mut dyn Conn) -> Result<Vec<Candidate>, SchedulerError> {
    let mut out = Vec::new();
    for r in c.query(
        "SELECT r.vid, tp.pool, COUNT(*), CAST(COALESCE(SUM(r.size), 0) AS BIGINT), MIN(r.queued)
         FROM pending_recalls r JOIN tapes tp ON tp.vid = r.vid
         WHERE r.vid NOT IN (SELECT vid FROM mounts WHERE ended IS NULL) AND r.not_before <= ts_now()
           AND r.repack IS NULL
         GROUP BY r.vid, tp.pool",
        params![],
    )? {
        out.push(Candidate {
            kind: MountKind::Recall,
            key: r.get(0)?,
            pool: r.get(1)?,
            files: r.get(2)?,
            bytes: r.get(3)?,
            oldest: r.get(4)?,
        });
    }
    // The oldest pending request of each pool, each found through the
    // (pool, mount_id, queued) index: one statement, no scan of the queue.
    for r in c.query(
        "SELECT a.pool, a.files, a.bytes,
                (SELECT q.queued FROM archive_queue q
                 WHERE q.pool = a.pool AND q.mount_id IS NULL ORDER BY q.queued LIMIT 1)
         FROM archive_pending a WHERE a.files > 0 ORDER BY a.pool",
        params![],
    )? {
        if let Some(oldest) = r.get::<Option<f64>>(3)? {
            let pool: String = r.get(0)?;
            out.push(Candidate {
                kind: MountKind::Migration,
                key: pool.clone(),
                pool,
                files: r.get(1)?,
                bytes: r.get(2)?,
                oldest,
            });
        }
    }
    Ok(out)
}

/// True if the queue's last mount found no work less than `backoff` ago,
/// or one of its mounts started less than `backoff` ago has not fetched its
/// first work yet (a second mount now would race it for the same files and
/// find nothing; one older than that is a dead session's, and must not
/// hold the queue).
fn backing_off(
    c: &mut dyn Conn,
    q: &Candidate,
    backoff: std::time::Duration,
    now: f64,
) -> Result<bool, SchedulerError> {
    let column = match q.kind {
        MountKind::Recall => "vid",
        _ => "pool",
    };
    let last = c.query_opt(
        &format!(
            "SELECT empty, ended FROM mounts WHERE kind = $1 AND {column} = $2
             ORDER BY id DESC LIMIT 1"
        ),
        params![q.kind, &q.key],
    )?;
    if let Some(last) = last {
        let (empty, ended): (bool, Option<f64>) = (last.get(0)?, last.get(1)?);
        if empty && ended.is_some_and(|e| now - e < backoff.as_secs_f64()) {
            return Ok(true);
        }
    }
    let starting = c.query_opt(
        &format!(
            "SELECT 1 FROM mounts WHERE kind = $1 AND {column} = $2
             AND ended IS NULL AND fetched = 0 AND started > $3"
        ),
        params![q.kind, &q.key, now - backoff.as_secs_f64()],
    )?;
    Ok(starting.is_some())
}

/// The tape a queue's mount goes to: for a recall its VID; for a migration
/// the fullest active tape of the pool with room for the first file. The
/// tape's row stays locked until the mount is recorded; a tape another
/// server is locking right now is skipped.
fn target(
    c: &mut dyn Conn,
    q: &Candidate,
    generation: Option<u8>,
) -> Result<Option<(String, String)>, SchedulerError> {
    let row = match q.kind {
        MountKind::Migration => {
            let Some(first) = c.query_opt(
                "SELECT size FROM archive_queue WHERE pool = $1 AND mount_id IS NULL
                 ORDER BY file_id LIMIT 1",
                params![&q.key],
            )?
            else {
                return Ok(None);
            };
            let first: u64 = first.get(0)?;
            let mut values = vec![
                Value::from(q.key.as_str()),
                Value::from(TapeState::Active),
                Value::from(first),
            ];
            // Only a tape this drive can write.
            let media = super::media::media_filter("media", generation, true, &mut values);
            c.query_opt(
                &format!(
                    "SELECT vid, pool FROM tapes
                     WHERE pool = $1 AND state = $2 AND capacity - bytes_used >= $3{media}
                       AND vid NOT IN (SELECT vid FROM mounts WHERE ended IS NULL)
                     ORDER BY bytes_used DESC, vid LIMIT 1 FOR UPDATE SKIP LOCKED"
                ),
                &values,
            )?
        }
        // A tape that is disabled, broken, outside the library or being
        // repacked is never mounted for reading; nor one this drive cannot
        // read.
        _ => {
            let mut values = vec![Value::from(q.key.as_str())];
            let media = super::media::media_filter("media", generation, false, &mut values);
            c.query_opt(
                &format!(
                    "SELECT vid, pool FROM tapes WHERE vid = $1
                       AND state NOT IN ('disabled', 'broken', 'exported', 'repacking'){media}
                       AND vid NOT IN (SELECT vid FROM mounts WHERE ended IS NULL)
                     FOR UPDATE SKIP LOCKED"
                ),
                &values,
            )?
        }
    };
    row.map(|r| Ok((r.get(0)?, r.get(1)?))).transpose()
}

pub(super) fn next_mount(
    c: &mut dyn Conn,
    host: &str,
    drive: &str,
    policy: &MountPolicy,
) -> Result<Option<Mount>, SchedulerError> {
    // What is due, and what backs off, by the database's clock.
    let t = super::db_now(c)?;
    let busy = c
        .query_opt(
            "SELECT 1 FROM mounts WHERE host = $1 AND drive = $2 AND ended IS NULL",
            params![host, drive],
        )?
        .is_some();
    if busy {
        return Ok(None);
    }
    let generation = super::media::drive_model(c, host, drive)?;
    let drives = if policy.shares.is_empty() {
        PoolDrives::new()
    } else {
        pool_drives(c)?
    };
    for q in rank_shared(candidates(c)?, policy, t, &drives) {
        if backing_off(c, &q, policy.empty_backoff, t)? || !fits(c, &q, policy)? {
            continue;
        }
        let Some((vid, pool)) = target(c, &q, generation)? else {
            continue;
        };
        return super::rows::record_mount(c, q.kind, vid, pool, host, drive).map(Some);
    }
    // No user work for this drive: a repack's reads, then a verification,
    // the lowest priority.
    if !policy.background {
        return Ok(None);
    }
    if let Some(m) =
        super::repack::next_repack_mount(c, host, drive, generation, policy.repack_max_drives)?
    {
        return Ok(Some(m));
    }
    super::verify::next_verify_mount(c, host, drive, generation)
}

/// A recall queue is worth a mount only if one of its files fits in the
/// disk buffer's room (the rest wait queued, never fail for space).
fn fits(c: &mut dyn Conn, q: &Candidate, policy: &MountPolicy) -> Result<bool, SchedulerError> {
    match (&policy.recall_room, q.kind) {
        (Some(r), MountKind::Recall) => {
            Ok(super::disk_buffer::smallest_recall(c, &q.key)? <= super::disk_buffer::room(c, r)?)
        }
        _ => Ok(true),
    }
}

/// Whether user work waits for a drive (a queue the policy would mount
/// now, not backing off, with a tape some drive could take), and the
/// tapes background mounts hold that user recalls wait for (and could be
/// served from: never a tape being repacked, whose files wait for their
/// new copies). Reads only.
pub(super) fn user_work_due(
    c: &mut dyn Conn,
    policy: &MountPolicy,
) -> Result<UserWork, SchedulerError> {
    let t = super::db_now(c)?;
    let (mut due, mut overdue) = (false, false);
    let drives = pool_drives(c)?;
    for q in rank_shared(candidates(c)?, policy, t, &drives) {
        if !backing_off(c, &q, policy.empty_backoff, t)?
            && fits(c, &q, policy)?
            && target(c, &q, None)?.is_some()
        {
            due = true;
            // Overdue queues rank first: the first mountable one tells.
            overdue = q.overdue(policy, t);
            break;
        }
    }
    let mut held_tapes = Vec::new();
    for r in c.query(
        "SELECT DISTINCT m.vid FROM mounts m
         WHERE m.ended IS NULL AND m.kind IN ($1, $2)
           AND EXISTS (SELECT 1 FROM pending_recalls q WHERE q.vid = m.vid
                       AND q.repack IS NULL AND q.not_before <= ts_now())
         ORDER BY m.vid",
        params![MountKind::Verify, MountKind::Repack],
    )? {
        held_tapes.push(r.get(0)?);
    }
    Ok(UserWork {
        due,
        overdue,
        held_tapes,
    })
}

/// Drives in use now per pool: (reading, writing) user work; background
/// mounts (verify, repack) are no share's.
pub(super) fn pool_drives(c: &mut dyn Conn) -> Result<PoolDrives, SchedulerError> {
    let mut out = PoolDrives::new();
    for r in c.query(
        "SELECT pool, kind, COUNT(*) FROM mounts WHERE ended IS NULL AND kind IN ($1, $2)
         GROUP BY pool, kind",
        params![MountKind::Recall, MountKind::Migration],
    )? {
        let (pool, kind, n): (String, MountKind, u64) = (r.get(0)?, r.get(1)?, r.get(2)?);
        let e = out.entry(pool).or_default();
        match kind {
            MountKind::Migration => e.1 += n,
            _ => e.0 += n,
        }
    }
    Ok(out)
}

/// Requeues what a mount assigned but nobody reported.
fn requeue_work(c: &mut dyn Conn, mount_id: u64) -> Result<(), SchedulerError> {
    let mut back: BTreeMap<String, (i64, i64)> = BTreeMap::new();
    for r in c.query(
        "UPDATE archive_queue SET mount_id = NULL WHERE mount_id = $1 RETURNING pool, size",
        params![mount_id],
    )? {
        let e = back.entry(r.get(0)?).or_default();
        e.0 += 1;
        e.1 += signed(r.get(1)?);
    }
    for (pool, (files, bytes)) in back {
        adjust_pending(c, &pool, files, bytes)?;
    }
    c.execute(
        "UPDATE recall_queue SET mount_id = NULL WHERE mount_id = $1 AND state = $2",
        params![mount_id, RecallState::Queued],
    )?;
    c.execute(
        "UPDATE verify_requests SET mount_id = NULL WHERE mount_id = $1",
        params![mount_id],
    )?;
    Ok(())
}

pub(super) fn end_mount(
    c: &mut dyn Conn,
    mount_id: u64,
    empty: bool,
) -> Result<(), SchedulerError> {
    c.execute(
        "UPDATE mounts SET ended = ts_now(), empty = $2 WHERE id = $1 AND ended IS NULL",
        params![mount_id, empty],
    )?;
    requeue_work(c, mount_id)
}

fn open_mount_ids(c: &mut dyn Conn, host: &str, drive: &str) -> Result<Vec<u64>, SchedulerError> {
    c.query(
        "SELECT id FROM mounts WHERE host = $1 AND drive = $2 AND ended IS NULL",
        params![host, drive],
    )?
    .iter()
    .map(|r| r.get(0))
    .collect()
}

pub(super) fn release_work_of_drive(
    c: &mut dyn Conn,
    host: &str,
    drive: &str,
) -> Result<Vec<u64>, SchedulerError> {
    let ids = open_mount_ids(c, host, drive)?;
    for id in &ids {
        requeue_work(c, *id)?;
    }
    Ok(ids)
}

pub(super) fn end_mounts_of_drive(
    c: &mut dyn Conn,
    host: &str,
    drive: &str,
) -> Result<Vec<u64>, SchedulerError> {
    let ids = open_mount_ids(c, host, drive)?;
    for id in &ids {
        end_mount(c, *id, false)?;
    }
    Ok(ids)
}

pub(super) fn claim_tape(
    c: &mut dyn Conn,
    host: &str,
    drive: &str,
    vid: &str,
    kind: MountKind,
) -> Result<u64, SchedulerError> {
    let Some(pool) = c.query_opt(
        "SELECT pool FROM tapes WHERE vid = $1 FOR UPDATE",
        params![vid],
    )?
    else {
        return Err(SchedulerError::UnknownTape(vid.into()));
    };
    let pool: String = pool.get(0)?;
    let busy = c
        .query_opt(
            "SELECT 1 FROM mounts WHERE ended IS NULL AND (vid = $1 OR (host = $2 AND drive = $3))",
            params![vid, host, drive],
        )?
        .is_some();
    if busy {
        return Err(SchedulerError::TapeBusy(vid.into()));
    }
    let id: u64 = c
        .query_one(
            "INSERT INTO mounts (kind, vid, pool, host, drive, started)
             VALUES ($1, $2, $3, $4, $5, ts_now()) RETURNING id",
            params![kind, vid, &pool, host, drive],
        )?
        .get(0)?;
    Ok(id)
}

pub(super) fn reset_tape(c: &mut dyn Conn, vid: &str) -> Result<Vec<u64>, SchedulerError> {
    let ids: Vec<u64> = c
        .query(
            "SELECT file_id FROM tape_files WHERE vid = $1 ORDER BY fseq",
            params![vid],
        )?
        .iter()
        .map(|r| r.get(0))
        .collect::<Result<_, _>>()?;
    // A file with a copy on another tape is not lost: its queued recalls
    // from this tape go to that copy.
    for r in c.query(
        "SELECT q.id, o.vid, o.fseq FROM recall_queue q
         JOIN tape_files o ON o.file_id = q.file_id AND o.vid != $1 AND o.bad IS NULL
         WHERE q.vid = $1 AND q.state = $2 AND q.mount_id IS NULL
         ORDER BY q.id, o.copy_nb",
        params![vid, RecallState::Queued],
    )? {
        let (id, other, fseq): (u64, String, u64) = (r.get(0)?, r.get(1)?, r.get(2)?);
        c.execute(
            "UPDATE recall_queue SET vid = $2, fseq = $3 WHERE id = $1 AND vid != $2",
            params![id, other.as_str(), fseq],
        )?;
    }
    c.execute(
        "UPDATE archive_files SET state = $3, error = $2
         WHERE id IN (SELECT file_id FROM tape_files WHERE vid = $1)
           AND NOT EXISTS (SELECT 1 FROM tape_files o
                           WHERE o.file_id = archive_files.id AND o.vid != $1)",
        params![vid, format!("tape {vid} was relabelled"), FileState::Lost],
    )?;
    // Recalls from the tape can never be served: say so now.
    c.execute(
        "UPDATE recall_queue SET state = $3, error = $2, mount_id = NULL WHERE vid = $1 AND state = $4",
        params![
            vid,
            format!("tape {vid} was relabelled: the file is lost"),
            RecallState::Failed,
            RecallState::Queued
        ],
    )?;
    c.execute("DELETE FROM tape_files WHERE vid = $1", params![vid])?;
    let n = c.execute(
        "UPDATE tapes SET last_fseq = 0, bytes_used = 0, state = $2, reason = NULL WHERE vid = $1",
        params![vid, TapeState::Active],
    )?;
    if n == 0 {
        return Err(SchedulerError::UnknownTape(vid.into()));
    }
    Ok(ids)
}
