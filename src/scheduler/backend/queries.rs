//! Read-only catalogue queries (status, tapes, listings), kept apart from
//! the queue operations.

use crate::scheduler::sql::{Conn, Row, Value, params};
use crate::scheduler::*;

pub(super) const FILE_STATUS: &str =
    "SELECT f.id, f.path, f.size, f.state, f.crc32c, t.vid, t.fseq, t.block_id, f.error, f.owner,
            f.deleted IS NOT NULL, t.bad
     FROM archive_files f LEFT JOIN tape_files t ON t.file_id = f.id
         AND t.copy_nb = (SELECT MIN(c.copy_nb) FROM tape_files c WHERE c.file_id = f.id)";

pub(super) fn file_row(r: &Row) -> Result<FileStatus, SchedulerError> {
    Ok(FileStatus {
        id: r.get(0)?,
        path: r.get(1)?,
        size: r.get(2)?,
        state: if r.get::<bool>(10)? {
            FileState::Deleted
        } else {
            r.get(3)?
        },
        crc32c: r.get(4)?,
        vid: r.get(5)?,
        fseq: r.get(6)?,
        block_id: r.get(7)?,
        error: r.get(8)?,
        owner: r.get(9)?,
        bad: r.get(11)?,
    })
}

/// `AND <column> = $n` when the view is one owner's, nothing for the
/// operator's; pushes the owner onto `values`.
fn owned(column: &str, owner: Option<&str>, values: &mut Vec<Value>) -> String {
    match owner {
        Some(owner) => {
            values.push(Value::from(owner));
            format!(" AND {column} = ${}", values.len())
        }
        None => String::new(),
    }
}

/// As `owned` for recalls: an owner sees only the recalls asked for, not
/// the server's own (a repack's reads of the owner's files).
fn owned_recall(owner: Option<&str>, values: &mut Vec<Value>) -> String {
    match owner {
        Some(_) => format!("{} AND q.repack IS NULL", owned("f.owner", owner, values)),
        None => String::new(),
    }
}

/// Files by id (an unknown id, or another owner's, is `UnknownFile`: a
/// client cannot tell them apart); no ids: the files after `page.after`,
/// at most `page.limit`. `owner` None: the operator's view, every file.
pub(super) fn file_status(
    c: &mut dyn Conn,
    owner: Option<&str>,
    ids: &[u64],
    page: Page,
) -> Result<Vec<FileStatus>, SchedulerError> {
    if ids.is_empty() {
        let mut values = vec![Value::from(page.after), Value::from(page.limit)];
        let sql = format!(
            "{FILE_STATUS} WHERE f.id > $1{} ORDER BY f.id LIMIT $2",
            owned("f.owner", owner, &mut values)
        );
        let rows = c.query(&sql, &values)?;
        return rows.iter().map(file_row).collect();
    }
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        let mut values = vec![Value::from(*id)];
        let sql = format!(
            "{FILE_STATUS} WHERE f.id = $1{}",
            owned("f.owner", owner, &mut values)
        );
        match c.query_opt(&sql, &values)? {
            Some(r) => out.push(file_row(&r)?),
            None => return Err(SchedulerError::UnknownFile(*id)),
        }
    }
    Ok(out)
}

// A queued recall a mount has taken is running.
const RECALL_STATUS: &str = "SELECT q.id, q.file_id, q.destination,
        CASE WHEN q.state = 'queued' AND q.mount_id IS NOT NULL THEN 'running' ELSE q.state END,
        f.size, q.error, q.vid, q.fseq FROM recall_queue q
     JOIN archive_files f ON f.id = q.file_id";

fn recall_row(r: &Row) -> Result<RecallStatus, SchedulerError> {
    Ok(RecallStatus {
        id: r.get(0)?,
        file_id: r.get(1)?,
        destination: r.get(2)?,
        state: r.get(3)?,
        size: r.get(4)?,
        error: r.get(5)?,
        vid: r.get(6)?,
        fseq: r.get(7)?,
    })
}

/// Recalls by id (an unknown id, or a recall of another owner's file, is
/// "no recall"); no ids: a page of them. `owner` None: every recall.
pub(super) fn recall_status(
    c: &mut dyn Conn,
    owner: Option<&str>,
    ids: &[u64],
    page: Page,
) -> Result<Vec<RecallStatus>, SchedulerError> {
    if ids.is_empty() {
        let mut values = vec![Value::from(page.after), Value::from(page.limit)];
        let sql = format!(
            "{RECALL_STATUS} WHERE q.id > $1{} ORDER BY q.id LIMIT $2",
            owned_recall(owner, &mut values)
        );
        let rows = c.query(&sql, &values)?;
        return rows.iter().map(recall_row).collect();
    }
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        let mut values = vec![Value::from(*id)];
        let sql = format!(
            "{RECALL_STATUS} WHERE q.id = $1{}",
            owned_recall(owner, &mut values)
        );
        let r = c
            .query_opt(&sql, &values)?
            .ok_or_else(|| SchedulerError::Invalid(format!("no recall with id {id}")))?;
        out.push(recall_row(&r)?);
    }
    Ok(out)
}

pub(super) fn tapes(c: &mut dyn Conn) -> Result<Vec<TapeInfo>, SchedulerError> {
    let rows = c.query(
        "SELECT t.vid, t.pool, t.state, t.capacity, t.bytes_used, t.last_fseq,
                (SELECT COUNT(*) FROM tape_files f WHERE f.vid = t.vid), t.reason,
                (SELECT COUNT(*) FROM mounts m WHERE m.vid = t.vid AND m.kind IN ('recall', 'readtp')),
                (SELECT COUNT(*) FROM mounts m WHERE m.vid = t.vid AND m.kind IN ('migration', 'label')),
                (SELECT COUNT(*) FROM tape_files c JOIN archive_files a ON a.id = c.file_id
                     WHERE c.vid = t.vid AND a.deleted IS NULL),
                (SELECT CAST(COALESCE(SUM(a.size), 0) AS BIGINT) FROM tape_files c JOIN archive_files a ON a.id = c.file_id
                     WHERE c.vid = t.vid AND a.deleted IS NULL),
                (SELECT COUNT(*) FROM tape_files c JOIN archive_files a ON a.id = c.file_id
                     WHERE c.vid = t.vid AND a.deleted IS NOT NULL),
                (SELECT CAST(COALESCE(SUM(a.size), 0) AS BIGINT) FROM tape_files c JOIN archive_files a ON a.id = c.file_id
                     WHERE c.vid = t.vid AND a.deleted IS NOT NULL),
                t.reclaimed, t.state_by, t.state_since, t.last_verified, t.verify_errors, t.media, t.home_slot
         FROM tapes t ORDER BY t.vid",
        params![],
    )?;
    rows.iter()
        .map(|r| {
            Ok(TapeInfo {
                vid: r.get(0)?,
                pool: r.get(1)?,
                state: r.get(2)?,
                capacity: r.get(3)?,
                bytes_used: r.get(4)?,
                last_fseq: r.get(5)?,
                files: r.get(6)?,
                reason: r.get(7)?,
                read_mounts: r.get(8)?,
                write_mounts: r.get(9)?,
                live_files: r.get(10)?,
                live_bytes: r.get(11)?,
                deleted_files: r.get(12)?,
                deleted_bytes: r.get(13)?,
                reclaimed: r.get(14)?,
                state_by: r.get(15)?,
                state_since: r.get(16)?,
                last_verified: r.get(17)?,
                verify_errors: r.get(18)?,
                media: r.get(19)?,
                home_slot: r.get(20)?,
            })
        })
        .collect()
}

/// A tape's files after fSeq `page.after`, at most `page.limit`; `owner`
/// Some: only that owner's (the others' are not mentioned).
pub(super) fn tape_files(
    c: &mut dyn Conn,
    owner: Option<&str>,
    vid: &str,
    page: Page,
) -> Result<Vec<TapeFile>, SchedulerError> {
    if c.query_opt("SELECT 1 FROM tapes WHERE vid = $1", params![vid])?
        .is_none()
    {
        return Err(SchedulerError::UnknownTape(vid.into()));
    }
    let mut values = vec![
        Value::from(vid),
        Value::from(page.after),
        Value::from(page.limit),
    ];
    let sql = format!(
        "SELECT t.fseq, t.block_id, t.file_id, f.size, COALESCE(f.crc32c, 0), f.path
         FROM tape_files t JOIN archive_files f ON f.id = t.file_id
         WHERE t.vid = $1 AND t.fseq > $2{} ORDER BY t.fseq LIMIT $3",
        owned("f.owner", owner, &mut values)
    );
    let rows = c.query(&sql, &values)?;
    rows.iter()
        .map(|r| {
            Ok(TapeFile {
                fseq: r.get(0)?,
                block_id: r.get(1)?,
                file_id: r.get(2)?,
                size: r.get(3)?,
                crc32c: r.get(4)?,
                path: r.get(5)?,
            })
        })
        .collect()
}

pub(super) fn last_file(c: &mut dyn Conn, vid: &str) -> Result<Option<LastFile>, SchedulerError> {
    c.query_opt(
        "SELECT fseq, file_id, block_id FROM tape_files WHERE vid = $1 ORDER BY fseq DESC LIMIT 1",
        params![vid],
    )?
    .map(|r| {
        Ok(LastFile {
            fseq: r.get(0)?,
            file_id: r.get(1)?,
            block_id: r.get(2)?,
        })
    })
    .transpose()
}

const OPEN_MOUNTS: &str = "SELECT id, kind, vid, host, drive, started, ts_now() - started FROM mounts WHERE ended IS NULL";

fn mount_row(r: &Row) -> Result<OpenMount, SchedulerError> {
    Ok(OpenMount {
        id: r.get(0)?,
        kind: r.get(1)?,
        vid: r.get(2)?,
        host: r.get(3)?,
        drive: r.get(4)?,
        started: r.get(5)?,
        age: r.get::<f64>(6)?.max(0.0),
    })
}

pub(super) fn open_mounts(c: &mut dyn Conn) -> Result<Vec<OpenMount>, SchedulerError> {
    let rows = c.query(&format!("{OPEN_MOUNTS} ORDER BY id"), params![])?;
    rows.iter().map(mount_row).collect()
}

/// Every mount ever recorded, ended or not, oldest first.
pub(super) fn mount_history(c: &mut dyn Conn) -> Result<Vec<MountRecord>, SchedulerError> {
    let rows = c.query(
        "SELECT id, kind, vid, host, drive, started, ended FROM mounts ORDER BY id",
        params![],
    )?;
    rows.iter()
        .map(|r| {
            Ok(MountRecord {
                id: r.get(0)?,
                kind: r.get(1)?,
                vid: r.get(2)?,
                host: r.get(3)?,
                drive: r.get(4)?,
                started: r.get(5)?,
                ended: r.get(6)?,
            })
        })
        .collect()
}

/// Open mounts of drives whose lease has run out (their server stopped
/// renewing it), other than `host`'s own.
pub(super) fn expired_mounts(
    c: &mut dyn Conn,
    host: &str,
) -> Result<Vec<OpenMount>, SchedulerError> {
    // Both sides of the comparison are the database's clock: a host whose
    // own clock runs ahead neither reaps a live peer nor is reaped.
    let rows = c.query(
        "SELECT m.id, m.kind, m.vid, m.host, m.drive, m.started, ts_now() - m.started FROM mounts m
         JOIN drive_leases l ON l.host = m.host AND l.drive = m.drive
         WHERE m.ended IS NULL AND m.host != $1 AND l.expires < ts_now() ORDER BY m.id",
        params![host],
    )?;
    rows.iter().map(mount_row).collect()
}

/// The newest request of an open mount's queue: its tape's recalls, or its
/// pool's archives (recalls only for a recall mount, and so on), the
/// database's time now, and whether another queue's work waits unmounted.
pub(super) fn queue_activity(
    c: &mut dyn Conn,
    mount_id: u64,
) -> Result<QueueActivity, SchedulerError> {
    let queue = c
        .query_opt(
            "SELECT kind, vid, pool FROM mounts WHERE id = $1 AND ended IS NULL",
            params![mount_id],
        )?
        .map(|m| -> Result<(MountKind, String, String), SchedulerError> {
            Ok((m.get(0)?, m.get(1)?, m.get(2)?))
        })
        .transpose()?;
    let row = match &queue {
        Some((MountKind::Recall, vid, _)) => c.query_one(
            "SELECT MAX(queued), ts_now() FROM recall_queue WHERE vid = $1",
            params![vid],
        )?,
        Some((MountKind::Migration, _, pool)) => c.query_one(
            "SELECT MAX(queued), ts_now() FROM archive_queue WHERE pool = $1",
            params![pool],
        )?,
        _ => c.query_one("SELECT NULL, ts_now()", params![])?,
    };
    // Another tape's recalls or another pool's archives that no open mount
    // serves (a mount of this very queue is not "another").
    let (vid, pool) = match &queue {
        Some((MountKind::Recall, vid, _)) => (vid.clone(), String::new()),
        Some((MountKind::Migration, _, pool)) => (String::new(), pool.clone()),
        _ => (String::new(), String::new()),
    };
    let recalls = c.query_opt(
        "SELECT 1 FROM pending_recalls q WHERE q.vid != $1 AND q.not_before <= ts_now()
           AND NOT EXISTS (SELECT 1 FROM mounts m WHERE m.ended IS NULL AND m.vid = q.vid)
         LIMIT 1",
        params![&vid],
    )?;
    let archives = match recalls {
        Some(_) => None,
        None => c.query_opt(
            "SELECT 1 FROM archive_queue a WHERE a.mount_id IS NULL AND a.pool != $1
               AND NOT EXISTS (SELECT 1 FROM mounts m WHERE m.ended IS NULL AND m.kind = $2
                               AND m.pool = a.pool)
             LIMIT 1",
            params![&pool, MountKind::Migration],
        )?,
    };
    Ok(QueueActivity {
        latest: row.get(0)?,
        now: row.get(1)?,
        others_waiting: recalls.is_some() || archives.is_some(),
    })
}
