//! Pools and what they hold: creating pools and tapes, and the pending
//! counters of each pool's archive queue (kept in step with the queue by
//! every statement that adds to it or takes from it, so mount selection
//! never counts the queue). Every function runs inside one write
//! transaction its caller opened.

use crate::scheduler::sql::{Conn, params};
use crate::scheduler::*;

pub(super) fn add_pool(c: &mut dyn Conn, name: &str) -> Result<(), SchedulerError> {
    c.execute(
        "INSERT INTO tape_pools (name) VALUES ($1) ON CONFLICT DO NOTHING",
        params![name],
    )?;
    Ok(())
}

pub(super) fn add_tape(
    c: &mut dyn Conn,
    vid: &str,
    pool: &str,
    capacity: u64,
) -> Result<(), SchedulerError> {
    check_pool(c, pool)?;
    c.execute(
        "INSERT INTO tapes (vid, pool, capacity) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
        params![vid, pool, capacity],
    )?;
    Ok(())
}

/// Errors unless the pool exists.
pub(super) fn check_pool(c: &mut dyn Conn, pool: &str) -> Result<(), SchedulerError> {
    match c.query_opt("SELECT 1 FROM tape_pools WHERE name = $1", params![pool])? {
        Some(_) => Ok(()),
        None => Err(SchedulerError::UnknownPool(pool.into())),
    }
}

/// Keeps the per-pool count of pending (unassigned) archives in step with
/// the queue; every change of `archive_queue.mount_id` goes through here.
pub(super) fn adjust_pending(
    c: &mut dyn Conn,
    pool: &str,
    files: i64,
    bytes: i64,
) -> Result<(), SchedulerError> {
    if files == 0 && bytes == 0 {
        return Ok(());
    }
    c.execute(
        "INSERT INTO archive_pending (pool, files, bytes) VALUES ($1, 0, 0)
         ON CONFLICT (pool) DO NOTHING",
        params![pool],
    )?;
    c.execute(
        "UPDATE archive_pending SET files = files + $2, bytes = bytes + $3 WHERE pool = $1",
        params![pool, files, bytes],
    )?;
    Ok(())
}

/// Signed byte count of a size.
pub(super) fn signed(bytes: u64) -> i64 {
    i64::try_from(bytes).unwrap_or(i64::MAX)
}
