//! Statements several of the scheduler's modules share, kept below them
//! all: a mount recorded, a tape's state set, and the order in which a
//! file's copies are preferred.

use crate::scheduler::sql::{Conn, params};
use crate::scheduler::*;

/// The order of a file's copies (`t`: tape_files, `tp`: its tape) for a
/// recall: on a tape that can be mounted first, then one mounted or with a
/// mount coming, then the least busy tape, then the lowest copy number.
pub(super) const BEST_COPY: &str =
    "CASE WHEN tp.state IN ('disabled', 'broken', 'exported', 'repacking')
                       THEN 1 ELSE 0 END,
                  CASE WHEN t.vid IN (SELECT m.vid FROM mounts m WHERE m.ended IS NULL)
                       THEN 0 ELSE 1 END,
                  (SELECT COUNT(*) FROM recall_queue r WHERE r.vid = t.vid AND r.state = 'queued'),
                  t.copy_nb";

/// Records a mount the scheduler picked. Stamped when the row is written,
/// after the candidates were read: the mount history is in the order of
/// the commits.
pub(super) fn record_mount(
    c: &mut dyn Conn,
    kind: MountKind,
    vid: String,
    pool: String,
    host: &str,
    drive: &str,
) -> Result<Mount, SchedulerError> {
    let id: u64 = c
        .query_one(
            "INSERT INTO mounts (kind, vid, pool, host, drive, started)
             VALUES ($1, $2, $3, $4, $5, ts_now()) RETURNING id",
            params![kind, &vid, &pool, host, drive],
        )?
        .get(0)?;
    Ok(Mount {
        id,
        kind,
        vid,
        pool,
    })
}

pub(super) fn set_tape_state(
    c: &mut dyn Conn,
    vid: &str,
    state: TapeState,
    reason: &str,
    by: &str,
) -> Result<(), SchedulerError> {
    let n = c.execute(
        "UPDATE tapes SET state = $2, reason = $3, state_by = $4, state_since = ts_now() WHERE vid = $1",
        params![vid, state, (state != TapeState::Active).then_some(reason), by],
    )?;
    if n == 0 {
        return Err(SchedulerError::UnknownTape(vid.into()));
    }
    Ok(())
}
