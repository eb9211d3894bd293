//! A recall whose copy failed while read goes on with the next copy: the
//! reason is kept per copy tried, a copy whose data proved wrong is marked
//! bad (never chosen again), and the recall fails only once no copy is
//! left to try, with every reason.

use super::rows::BEST_COPY;
use crate::scheduler::sql::{Conn, params};
use crate::scheduler::*;

/// The copy read by `recall_id` (on `mount_id`) failed for `reason`.
pub(super) fn copy_failed(
    c: &mut dyn Conn,
    mount_id: u64,
    recall_id: u64,
    reason: &str,
    bad: bool,
) -> Result<(), SchedulerError> {
    let Some(row) = c.query_opt(
        "SELECT file_id, vid, fseq FROM recall_queue
         WHERE id = $1 AND mount_id = $2 AND state = $3",
        params![recall_id, mount_id, RecallState::Queued],
    )?
    else {
        // Already recorded (a report sent again), or no longer this mount's.
        return Ok(());
    };
    let (file_id, vid, fseq): (u64, String, u64) = (row.get(0)?, row.get(1)?, row.get(2)?);
    c.execute(
        "INSERT INTO recall_failures (recall_id, vid, fseq, reason) VALUES ($1, $2, $3, $4)
         ON CONFLICT (recall_id, vid, fseq) DO UPDATE SET reason = excluded.reason",
        params![recall_id, &vid, fseq, reason],
    )?;
    if bad {
        c.execute(
            "UPDATE tape_files SET bad = $4 WHERE file_id = $1 AND vid = $2 AND fseq = $3",
            params![file_id, &vid, fseq, reason],
        )?;
        tracing::warn!(file_id, vid = %vid, fseq, reason, "copy marked bad");
    }
    // The next copy: not bad, not on a broken tape, not tried by this
    // recall; a disabled or exported tape's copy is taken last (the recall
    // then waits for it).
    let next = c.query_opt(
        &format!(
            "SELECT t.vid, t.fseq FROM tape_files t JOIN tapes tp ON tp.vid = t.vid
             WHERE t.file_id = $1 AND t.bad IS NULL AND tp.state <> 'broken'
               AND NOT EXISTS (SELECT 1 FROM recall_failures rf
                               WHERE rf.recall_id = $2 AND rf.vid = t.vid AND rf.fseq = t.fseq)
             ORDER BY {BEST_COPY} LIMIT 1"
        ),
        params![file_id, recall_id],
    )?;
    match next {
        Some(next) => {
            let (next_vid, next_fseq): (String, u64) = (next.get(0)?, next.get(1)?);
            let error = format!("{vid} fSeq {fseq}: {reason}; trying {next_vid} fSeq {next_fseq}");
            tracing::warn!(recall_id, file_id, from = %vid, to = %next_vid, reason, "recall goes on with the next copy");
            c.execute(
                "UPDATE recall_queue SET vid = $2, fseq = $3, mount_id = NULL, error = $4
                 WHERE id = $1",
                params![recall_id, &next_vid, next_fseq, &error],
            )?;
        }
        None => {
            let mut reasons = Vec::new();
            for r in c.query(
                "SELECT vid, fseq, reason FROM recall_failures WHERE recall_id = $1
                 ORDER BY vid, fseq",
                params![recall_id],
            )? {
                let (v, f, why): (String, u64, String) = (r.get(0)?, r.get(1)?, r.get(2)?);
                reasons.push(format!("{v} fSeq {f}: {why}"));
            }
            let error = format!("every copy failed: {}", reasons.join("; "));
            c.execute(
                "UPDATE recall_queue SET state = $2, error = $3 WHERE id = $1",
                params![recall_id, RecallState::Failed, &error],
            )?;
        }
    }
    Ok(())
}
