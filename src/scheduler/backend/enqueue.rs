//! Queueing archives: the files into the catalogue and one queue entry
//! per copy, each in the pool its route names (a plain pool is a one-copy
//! route). Every function runs inside one write transaction its caller
//! opened.

use super::pools::{adjust_pending, check_pool, signed};
use super::queue::{INSERT_CHUNK, placeholders};
use crate::scheduler::sql::{Conn, Value, params};
use crate::scheduler::*;

pub(super) fn queue_archive(
    c: &mut dyn Conn,
    files: &[NewArchiveFile],
    pool: &str,
) -> Result<Vec<u64>, SchedulerError> {
    queue_routed(c, files, &[(1, pool.to_string())], None)
}

/// Queues files of a storage class: one queue entry per copy, in the pool
/// its route names. Refused while the class's routes are incomplete.
pub(super) fn queue_archive_class(
    c: &mut dyn Conn,
    files: &[NewArchiveFile],
    class: &str,
) -> Result<Vec<u64>, SchedulerError> {
    let Some(copies) = c.query_opt(
        "SELECT copies FROM storage_classes WHERE name = $1",
        params![class],
    )?
    else {
        return Err(SchedulerError::Invalid(format!(
            "no storage class named {class:?} (tapeadmin classes lists them)"
        )));
    };
    let copies: u64 = copies.get(0)?;
    let routes: Vec<(u64, String)> = c
        .query(
            "SELECT copy_nb, pool FROM routes WHERE class = $1 ORDER BY copy_nb",
            params![class],
        )?
        .iter()
        .map(|r| Ok((r.get(0)?, r.get(1)?)))
        .collect::<Result<_, SchedulerError>>()?;
    if routes.len() as u64 != copies {
        return Err(SchedulerError::Invalid(format!(
            "storage class {class} asks for {copies} copies but has {} routes: tapeadmin add-route {class} COPY POOL for each",
            routes.len()
        )));
    }
    queue_routed(c, files, &routes, Some(class))
}

/// Inserts the files (their first route's pool recorded as theirs) and one
/// queue entry per route.
fn queue_routed(
    c: &mut dyn Conn,
    files: &[NewArchiveFile],
    routes: &[(u64, String)],
    class: Option<&str>,
) -> Result<Vec<u64>, SchedulerError> {
    let Some((_, first_pool)) = routes.first() else {
        return Err(SchedulerError::Invalid("no route to any pool".into()));
    };
    for (_, pool) in routes {
        check_pool(c, pool)?;
        // A file no tape of the pool can hold would only burn the pool's tapes.
        let largest: Option<u64> = c
            .query_one(
                "SELECT MAX(capacity) FROM tapes WHERE pool = $1",
                params![pool.as_str()],
            )?
            .get(0)?;
        let largest = largest.ok_or_else(|| SchedulerError::EmptyPool(pool.clone()))?;
        if let Some(f) = files.iter().find(|f| f.size > largest) {
            return Err(SchedulerError::TooLarge {
                path: f.path.clone(),
                size: f.size,
                pool: pool.clone(),
                largest,
            });
        }
    }
    // One time for the whole request, the database's.
    let t = super::db_now(c)?;
    let mut ids = Vec::with_capacity(files.len());
    // Many rows per statement: one round trip per chunk, not per file.
    for chunk in files.chunks(INSERT_CHUNK) {
        let rows = placeholders(chunk.len(), 10);
        let mut values = Vec::with_capacity(chunk.len() * 10);
        for f in chunk {
            let p = f.permissions;
            values.extend([
                Value::from(&f.path),
                Value::from(f.size),
                Value::from(first_pool.as_str()),
                Value::from(FileState::Queued),
                Value::from(t),
                Value::from(&f.owner),
                Value::from(p.map(|p| p.mode)),
                Value::from(p.map(|p| p.uid)),
                Value::from(p.map(|p| p.gid)),
                Value::from(class),
            ]);
        }
        let mut chunk_ids: Vec<u64> = c
            .query(
                &format!(
                    "INSERT INTO archive_files (path, size, pool, state, created, owner, mode, uid, gid, class) VALUES {rows} RETURNING id"
                ),
                &values,
            )?
            .iter()
            .map(|r| r.get(0))
            .collect::<Result<_, _>>()?;
        // Ids are drawn in row order within one statement; RETURNING may
        // list them in any order.
        chunk_ids.sort_unstable();
        for (copy_nb, pool) in routes {
            let mut values = Vec::with_capacity(chunk.len() * 5);
            for (f, id) in chunk.iter().zip(&chunk_ids) {
                values.extend([
                    Value::from(*id),
                    Value::from(*copy_nb),
                    Value::from(pool.as_str()),
                    Value::from(f.size),
                    Value::from(t),
                ]);
            }
            c.execute(
                &format!(
                    "INSERT INTO archive_queue (file_id, copy_nb, pool, size, queued) VALUES {}",
                    placeholders(chunk.len(), 5)
                ),
                &values,
            )?;
        }
        ids.extend(chunk_ids);
    }
    let bytes: u64 = files.iter().map(|f| f.size).sum();
    for (_, pool) in routes {
        adjust_pending(c, pool, ids.len() as i64, signed(bytes))?;
    }
    Ok(ids)
}
