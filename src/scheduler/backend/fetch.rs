//! Fetching work for a mount: the files a session asks for next, from the
//! `pending_*` views mount selection also uses, given to the mount in the
//! transaction that picks them. A recall batch with a disk buffer takes
//! only files that fit in its room (see `disk_buffer`).

use super::pools::{adjust_pending, signed};
use super::queue::INSERT_CHUNK;
use crate::scheduler::sql::{Conn, Value, params};
use crate::scheduler::*;

/// The open mount's kind and its pool and VID, if the mount is open.
fn open_mount(
    c: &mut dyn Conn,
    mount_id: u64,
) -> Result<Option<(MountKind, String, String)>, SchedulerError> {
    c.query_opt(
        "SELECT kind, pool, vid FROM mounts WHERE id = $1 AND ended IS NULL",
        params![mount_id],
    )?
    .map(|r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
    .transpose()
}

pub(super) fn fetch_archive_jobs(
    c: &mut dyn Conn,
    mount_id: u64,
    max_files: u64,
    max_bytes: u64,
) -> Result<Vec<ArchiveJob>, SchedulerError> {
    let Some((MountKind::Migration, pool, _)) = open_mount(c, mount_id)? else {
        return Ok(Vec::new());
    };
    // A file this mount already failed waits for another mount. Rows other
    // servers are taking right now are skipped, not waited for. The queue
    // rows come from the front of the pending index; their paths after.
    let queued = c.query(
        "SELECT file_id, size, source FROM archive_queue
         WHERE pool = $1 AND mount_id IS NULL AND (last_mount_id IS NULL OR last_mount_id != $3)
         ORDER BY file_id LIMIT $2 FOR UPDATE SKIP LOCKED",
        params![&pool, max_files, mount_id],
    )?;
    let mut rows = Vec::with_capacity(queued.len());
    for chunk in queued.chunks(INSERT_CHUNK) {
        let list: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
        let ids: Vec<Value> = chunk.iter().map(|r| r.0[0].clone()).collect();
        let mut paths: std::collections::HashMap<u64, String> = std::collections::HashMap::new();
        for r in c.query(
            &format!(
                "SELECT id, path FROM archive_files WHERE id IN ({})",
                list.join(", ")
            ),
            &ids,
        )? {
            paths.insert(r.get(0)?, r.get(1)?);
        }
        for r in chunk {
            let id: u64 = r.get(0)?;
            let path = paths.remove(&id).ok_or_else(|| {
                SchedulerError::Invalid(format!("queued file {id} has no catalogue entry"))
            })?;
            // A repack's copy is written from its buffer file.
            let path = r.get::<Option<String>>(2)?.unwrap_or(path);
            rows.push(crate::scheduler::sql::Row(vec![
                r.0[0].clone(),
                Value::from(path),
                r.0[1].clone(),
            ]));
        }
    }
    let mut jobs = Vec::new();
    let mut bytes = 0u64;
    for r in rows {
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
    // Only this pool's copy of each file (its other copies go to other
    // pools, so other cartridges).
    let ids: Vec<u64> = jobs.iter().map(|j| j.file_id).collect();
    for chunk in ids.chunks(INSERT_CHUNK) {
        let list: Vec<String> = (3..chunk.len() + 3).map(|i| format!("${i}")).collect();
        let mut values = vec![Value::from(mount_id), Value::from(pool.as_str())];
        values.extend(chunk.iter().map(|id| Value::from(*id)));
        c.execute(
            &format!(
                "UPDATE archive_queue SET mount_id = $1 WHERE pool = $2 AND file_id IN ({})",
                list.join(", ")
            ),
            &values,
        )?;
    }
    adjust_pending(c, &pool, -(jobs.len() as i64), -signed(bytes))?;
    c.execute(
        "UPDATE mounts SET fetched = 1 WHERE id = $1",
        params![mount_id],
    )?;
    Ok(jobs)
}

pub(super) fn fetch_recall_jobs(
    c: &mut dyn Conn,
    mount_id: u64,
    max_files: u64,
    max_bytes: u64,
    room: Option<BufferRoom>,
) -> Result<Vec<RecallJob>, SchedulerError> {
    let Some((kind @ (MountKind::Recall | MountKind::Repack), _, vid)) = open_mount(c, mount_id)?
    else {
        return Ok(Vec::new());
    };
    // A repack's reads go to its own buffer, not the disk buffer.
    let mut room = match (kind, room) {
        (MountKind::Recall, Some(r)) => Some(super::disk_buffer::room(c, &r)?),
        _ => None,
    };
    // One open mount per tape: nobody else takes these rows.
    let rows = c.query(
        "SELECT recall_id, file_id, fseq, block_id, block_size, size, crc32c, destination,
                staged_dev, staged_ino, staged_mtime, mode, uid, gid
         FROM pending_recalls WHERE vid = $1 AND not_before <= ts_now() AND size <= $3
         ORDER BY fseq, recall_id LIMIT $2",
        // Only files that fit the room: larger ones ahead on tape must not
        // fill the batch and leave a mount made for a smaller one empty.
        params![
            &vid,
            max_files,
            room.map_or(i64::MAX, |r| i64::try_from(r).unwrap_or(i64::MAX))
        ],
    )?;
    let mut jobs = Vec::new();
    let mut bytes = 0u64;
    for r in rows {
        let staged = match (r.get(8)?, r.get(9)?, r.get(10)?) {
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
            crc32c: r.get::<Option<u32>>(6)?.unwrap_or_default(),
            destination: r.get(7)?,
            staged,
            permissions: match (r.get(11)?, r.get(12)?, r.get(13)?) {
                (Some(mode), Some(uid), Some(gid)) => Some(Permissions { mode, uid, gid }),
                _ => None,
            },
        };
        if !jobs.is_empty() && bytes.saturating_add(job.size) > max_bytes {
            break;
        }
        // A file that does not fit waits for the buffer to drain; a later
        // smaller one may go first.
        if let Some(left) = &mut room {
            if job.size > *left {
                continue;
            }
            *left -= job.size;
        }
        bytes = bytes.saturating_add(job.size);
        jobs.push(job);
    }
    assign(
        c,
        "recall_queue",
        "id",
        mount_id,
        jobs.iter().map(|j| j.recall_id),
    )?;
    // When a stage's file STARTED (the first mount that took its recall).
    c.execute(
        "UPDATE recall_queue SET started = ts_now() WHERE mount_id = $1 AND started IS NULL",
        params![mount_id],
    )?;
    c.execute(
        "UPDATE mounts SET fetched = 1 WHERE id = $1",
        params![mount_id],
    )?;
    Ok(jobs)
}

/// Gives rows of `table` (by `key`) to a mount, a chunk per statement.
fn assign(
    c: &mut dyn Conn,
    table: &str,
    key: &str,
    mount_id: u64,
    ids: impl Iterator<Item = u64>,
) -> Result<(), SchedulerError> {
    let ids: Vec<u64> = ids.collect();
    for chunk in ids.chunks(INSERT_CHUNK) {
        let list: Vec<String> = (2..chunk.len() + 2).map(|i| format!("${i}")).collect();
        let mut values = vec![Value::from(mount_id)];
        values.extend(chunk.iter().map(|id| Value::from(*id)));
        c.execute(
            &format!(
                "UPDATE {table} SET mount_id = $1 WHERE {key} IN ({})",
                list.join(", ")
            ),
            &values,
        )?;
    }
    Ok(())
}
