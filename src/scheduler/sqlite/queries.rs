//! Read-only catalogue queries of the SQLite scheduler (status, tapes,
//! listings), kept apart from the queue operations.

use rusqlite::{Connection, OptionalExtension};

use crate::scheduler::*;

pub(super) fn file_status(
    conn: &Connection,
    ids: &[u64],
) -> Result<Vec<FileStatus>, SchedulerError> {
    let sql = "SELECT f.id, f.path, f.size, f.state, f.crc32c, t.vid, t.fseq, t.block_id, f.error
               FROM archive_files f LEFT JOIN tape_files t ON t.file_id = f.id";
    let map = |r: &rusqlite::Row<'_>| {
        Ok(FileStatus {
            id: r.get(0)?,
            path: r.get(1)?,
            size: r.get(2)?,
            state: r.get(3)?,
            crc32c: r.get(4)?,
            vid: r.get(5)?,
            fseq: r.get(6)?,
            block_id: r.get(7)?,
            error: r.get(8)?,
        })
    };
    if ids.is_empty() {
        let mut stmt = conn.prepare(&format!("{sql} ORDER BY f.id"))?;
        return Ok(stmt.query_map([], map)?.collect::<Result<_, _>>()?);
    }
    let mut stmt = conn.prepare(&format!("{sql} WHERE f.id = ?1"))?;
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        match stmt.query_row([id], map).optional()? {
            Some(status) => out.push(status),
            None => return Err(SchedulerError::UnknownFile(*id)),
        }
    }
    Ok(out)
}

pub(super) fn recall_status(
    conn: &Connection,
    ids: &[u64],
) -> Result<Vec<RecallStatus>, SchedulerError> {
    // A queued recall a mount has taken is running.
    let sql = "SELECT q.id, q.file_id, q.destination,
                CASE WHEN q.state = 'queued' AND q.mount_id IS NOT NULL THEN 'running' ELSE q.state END,
                f.size, q.error FROM recall_queue q
         JOIN archive_files f ON f.id = q.file_id";
    let map = |r: &rusqlite::Row<'_>| {
        Ok(RecallStatus {
            id: r.get(0)?,
            file_id: r.get(1)?,
            destination: r.get(2)?,
            state: r.get(3)?,
            size: r.get(4)?,
            error: r.get(5)?,
        })
    };
    if ids.is_empty() {
        let mut stmt = conn.prepare(&format!("{sql} ORDER BY q.id"))?;
        return Ok(stmt.query_map([], map)?.collect::<Result<_, _>>()?);
    }
    let mut stmt = conn.prepare(&format!("{sql} WHERE q.id = ?1"))?;
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        let status = stmt
            .query_row([id], map)
            .optional()?
            .ok_or_else(|| SchedulerError::Invalid(format!("no recall with id {id}")))?;
        out.push(status);
    }
    Ok(out)
}

pub(super) fn tapes(conn: &Connection) -> Result<Vec<TapeInfo>, SchedulerError> {
    let mut stmt = conn.prepare(
        "SELECT t.vid, t.pool, t.state, t.capacity, t.bytes_used, t.last_fseq,
                (SELECT COUNT(*) FROM tape_files f WHERE f.vid = t.vid), t.reason
         FROM tapes t ORDER BY t.vid",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok(TapeInfo {
            vid: r.get(0)?,
            pool: r.get(1)?,
            state: r.get(2)?,
            capacity: r.get(3)?,
            bytes_used: r.get(4)?,
            last_fseq: r.get(5)?,
            files: r.get(6)?,
            reason: r.get(7)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub(super) fn tape_files(conn: &Connection, vid: &str) -> Result<Vec<TapeFile>, SchedulerError> {
    if !tapes(conn)?.iter().any(|t| t.vid == vid) {
        return Err(SchedulerError::UnknownTape(vid.into()));
    }
    let mut stmt = conn.prepare(
        "SELECT t.fseq, t.block_id, t.file_id, f.size, COALESCE(f.crc32c, 0), f.path
         FROM tape_files t JOIN archive_files f ON f.id = t.file_id WHERE t.vid = ?1 ORDER BY t.fseq",
    )?;
    let rows = stmt.query_map([vid], |r| {
        Ok(TapeFile {
            fseq: r.get(0)?,
            block_id: r.get(1)?,
            file_id: r.get(2)?,
            size: r.get(3)?,
            crc32c: r.get(4)?,
            path: r.get(5)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub(super) fn last_file(conn: &Connection, vid: &str) -> Result<Option<LastFile>, SchedulerError> {
    Ok(conn
        .query_row(
            "SELECT fseq, file_id, block_id FROM tape_files WHERE vid = ?1 ORDER BY fseq DESC LIMIT 1",
            [vid],
            |r| {
                Ok(LastFile {
                    fseq: r.get(0)?,
                    file_id: r.get(1)?,
                    block_id: r.get(2)?,
                })
            },
        )
        .optional()?)
}

pub(super) fn open_mounts(conn: &Connection) -> Result<Vec<OpenMount>, SchedulerError> {
    let mut stmt = conn.prepare(
        "SELECT id, kind, vid, host, drive, started FROM mounts WHERE ended IS NULL ORDER BY id",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok(OpenMount {
            id: r.get(0)?,
            kind: r.get(1)?,
            vid: r.get(2)?,
            host: r.get(3)?,
            drive: r.get(4)?,
            started: r.get(5)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}
