//! Stage requests in the catalogue: created with their recalls in one
//! transaction, their files' states read from those recalls, cancelled,
//! released and deleted only by whoever created them.

use crate::scheduler::sql::{Conn, params};
use crate::scheduler::*;

/// The client's newest live file archived from each of `paths` (paths of
/// no such file are missing from the answer), a chunk of paths per query.
pub(super) fn files_by_paths(
    c: &mut dyn Conn,
    owner: &str,
    paths: &[String],
) -> Result<std::collections::HashMap<String, FileStatus>, SchedulerError> {
    use crate::scheduler::sql::Value;
    let mut out: std::collections::HashMap<String, FileStatus> =
        std::collections::HashMap::with_capacity(paths.len());
    for chunk in paths.chunks(super::queue::INSERT_CHUNK) {
        let list: Vec<String> = (2..chunk.len() + 2).map(|i| format!("${i}")).collect();
        let mut values = vec![Value::from(owner)];
        values.extend(chunk.iter().map(|p| Value::from(p.as_str())));
        let sql = format!(
            "{} WHERE f.owner = $1 AND f.deleted IS NULL AND f.path IN ({})",
            super::queries::FILE_STATUS,
            list.join(", ")
        );
        for r in c.query(&sql, &values)? {
            let f = super::queries::file_row(&r)?;
            match out.get(&f.path) {
                Some(have) if have.id >= f.id => {}
                _ => {
                    out.insert(f.path.clone(), f);
                }
            }
        }
    }
    Ok(out)
}

/// Records a stage request: each entry on disk is completed (and pinned),
/// each refused one failed, the others get a recall to their own path (an
/// active recall of the same file to the same path is shared).
pub(super) fn create(
    c: &mut dyn Conn,
    id: &str,
    owner: &str,
    requester: &str,
    entries: &[StageEntry],
) -> Result<(), SchedulerError> {
    c.execute(
        "INSERT INTO stage_requests (id, owner, requester, created) VALUES ($1, $2, $3, ts_now())",
        params![id, owner, requester],
    )?;
    // Pins on copies found on disk must not cross the collector's claims.
    if entries.iter().any(|e| e.on_disk) {
        super::disk_buffer::lock(c)?;
    }
    for e in entries {
        let (state, recall_id, error) = match (e.file_id, &e.error) {
            (_, Some(error)) => (Some("failed"), None, Some(error.clone())),
            (None, None) => (Some("failed"), None, Some("no such file".to_string())),
            // On disk, unless the collector claimed the copy meanwhile:
            // then it is recalled like any evicted file.
            (Some(file_id), None) if e.on_disk && super::disk_buffer::touch(c, file_id)? => {
                (Some("completed"), None, None)
            }
            (Some(file_id), None) => match shared_recall(c, file_id, &e.path)? {
                Some(recall) => (None, Some(recall), None),
                None => match super::queue::queue_recall(c, owner, file_id, &e.path) {
                    Ok(ticket) => (None, Some(ticket.recall_id), None),
                    Err(
                        err @ (SchedulerError::NotOnTape { .. } | SchedulerError::UnknownFile(_)),
                    ) => (Some("failed"), None, Some(err.to_string())),
                    Err(err) => return Err(err),
                },
            },
        };
        let done = state.is_some();
        c.execute(
            "INSERT INTO stage_files (request_id, path, file_id, recall_id, state, error,
                                      started, finished, pinned_until)
             VALUES ($1, $2, $3, $4, $5, $6,
                     CASE WHEN $7 THEN ts_now() END, CASE WHEN $7 THEN ts_now() END,
                     ts_now() + $8)",
            params![
                id,
                &e.path,
                e.file_id,
                recall_id,
                state,
                error,
                done,
                e.lifetime_s
            ],
        )?;
    }
    Ok(())
}

/// A queued recall of `file_id` to `path` another request made.
fn shared_recall(
    c: &mut dyn Conn,
    file_id: u64,
    path: &str,
) -> Result<Option<u64>, SchedulerError> {
    c.query_opt(
        "SELECT id FROM recall_queue WHERE file_id = $1 AND destination = $2 AND state = $3
         ORDER BY id LIMIT 1",
        params![file_id, path, RecallState::Queued],
    )?
    .map(|r| r.get(0))
    .transpose()
}

/// The request if `owner` and `requester` made it and it is not deleted.
fn visible(
    c: &mut dyn Conn,
    id: &str,
    owner: &str,
    requester: &str,
) -> Result<f64, SchedulerError> {
    c.query_opt(
        "SELECT created FROM stage_requests
         WHERE id = $1 AND owner = $2 AND requester = $3 AND deleted IS NULL",
        params![id, owner, requester],
    )?
    .map(|r| r.get(0))
    .transpose()?
    .ok_or_else(|| SchedulerError::UnknownStage(id.to_string()))
}

pub(super) fn status(
    c: &mut dyn Conn,
    id: &str,
    owner: &str,
    requester: &str,
) -> Result<StageStatus, SchedulerError> {
    let created = visible(c, id, owner, requester)?;
    let rows = c.query(
        "SELECT s.path, s.file_id, s.state, s.error, s.started, s.finished,
                q.state, q.mount_id IS NOT NULL, q.error, q.started, q.finished
         FROM stage_files s LEFT JOIN recall_queue q ON q.id = s.recall_id
         WHERE s.request_id = $1 ORDER BY s.path",
        params![id],
    )?;
    let mut files = Vec::with_capacity(rows.len());
    for r in rows {
        let own: Option<String> = r.get(2)?;
        let recall: Option<RecallState> = r.get(6)?;
        let (state, error, started, finished) = match (own.as_deref(), recall) {
            (Some("completed"), _) => (StageFileState::Completed, None, r.get(4)?, r.get(5)?),
            (Some("cancelled"), _) => (StageFileState::Cancelled, None, r.get(4)?, r.get(5)?),
            (Some(_), _) => (StageFileState::Failed, r.get(3)?, r.get(4)?, r.get(5)?),
            (None, Some(RecallState::Done)) => {
                (StageFileState::Completed, None, r.get(9)?, r.get(10)?)
            }
            (None, Some(RecallState::Failed)) => {
                (StageFileState::Failed, r.get(8)?, r.get(9)?, r.get(10)?)
            }
            (None, Some(_)) if r.get::<bool>(7)? => {
                (StageFileState::Started, None, r.get(9)?, None)
            }
            (None, Some(_)) => (StageFileState::Submitted, None, None, None),
            (None, None) => (
                StageFileState::Failed,
                Some("its recall is gone from the catalogue".to_string()),
                None,
                None,
            ),
        };
        files.push(StageFileStatus {
            path: r.get(0)?,
            file_id: r.get(1)?,
            state,
            error,
            started,
            finished,
        });
    }
    Ok(StageStatus {
        id: id.to_string(),
        created,
        files,
    })
}

/// Every path must be in the request, or nothing changes.
fn check_paths(c: &mut dyn Conn, id: &str, paths: &[String]) -> Result<(), SchedulerError> {
    for p in paths {
        let found = c.query_opt(
            "SELECT 1 FROM stage_files WHERE request_id = $1 AND path = $2",
            params![id, p.as_str()],
        )?;
        if found.is_none() {
            return Err(SchedulerError::Invalid(format!(
                "the file {p} does not belong to the stage request {id}; no modification has been made to this request"
            )));
        }
    }
    Ok(())
}

/// Cancels `paths` of the request (None: all): unfinished files are
/// cancelled (their queued recall too, unless another request shares it
/// or a mount is reading it) and every pin dropped.
pub(super) fn cancel(
    c: &mut dyn Conn,
    id: &str,
    owner: &str,
    requester: &str,
    paths: Option<&[String]>,
) -> Result<(), SchedulerError> {
    visible(c, id, owner, requester)?;
    let paths: Vec<String> = match paths {
        Some(p) => {
            check_paths(c, id, p)?;
            p.to_vec()
        }
        None => c
            .query(
                "SELECT path FROM stage_files WHERE request_id = $1",
                params![id],
            )?
            .iter()
            .map(|r| r.get(0))
            .collect::<Result<_, _>>()?,
    };
    let status = status(c, id, owner, requester)?;
    for p in &paths {
        let Some(f) = status.files.iter().find(|f| &f.path == p) else {
            continue;
        };
        if !f.state.terminal() {
            let recall: Option<u64> = c
                .query_one(
                    "SELECT recall_id FROM stage_files WHERE request_id = $1 AND path = $2",
                    params![id, p.as_str()],
                )?
                .get(0)?;
            if let Some(recall) = recall {
                let others = c.query_opt(
                    "SELECT 1 FROM stage_files WHERE recall_id = $1 AND request_id != $2
                       AND state IS NULL LIMIT 1",
                    params![recall, id],
                )?;
                if others.is_none() {
                    c.execute(
                        "UPDATE recall_queue SET state = $2, error = $3, finished = ts_now()
                         WHERE id = $1 AND state = $4 AND mount_id IS NULL",
                        params![
                            recall,
                            RecallState::Failed,
                            "cancelled by its stage request",
                            RecallState::Queued
                        ],
                    )?;
                }
            }
            c.execute(
                "UPDATE stage_files SET state = 'cancelled', finished = ts_now()
                 WHERE request_id = $1 AND path = $2",
                params![id, p.as_str()],
            )?;
        }
    }
    unpin(c, id, &paths)
}

/// Drops the pins of `paths` of the request (checked to be in it).
fn unpin(c: &mut dyn Conn, id: &str, paths: &[String]) -> Result<(), SchedulerError> {
    for p in paths {
        c.execute(
            "UPDATE stage_files SET released = 1 WHERE request_id = $1 AND path = $2",
            params![id, p.as_str()],
        )?;
    }
    Ok(())
}

/// Drops the pins of `paths` of the request.
pub(super) fn release(
    c: &mut dyn Conn,
    id: &str,
    owner: &str,
    requester: &str,
    paths: &[String],
) -> Result<(), SchedulerError> {
    visible(c, id, owner, requester)?;
    check_paths(c, id, paths)?;
    unpin(c, id, paths)
}

/// Cancels what is left of the request and forgets it.
pub(super) fn delete(
    c: &mut dyn Conn,
    id: &str,
    owner: &str,
    requester: &str,
) -> Result<(), SchedulerError> {
    cancel(c, id, owner, requester, None)?;
    c.execute(
        "UPDATE stage_requests SET deleted = ts_now() WHERE id = $1",
        params![id],
    )?;
    Ok(())
}

/// Whether a live pin holds the file's disk copy: a stage request that is
/// not deleted, the file not released or cancelled, its lifetime not over.
pub(super) fn pinned(c: &mut dyn Conn, file_id: u64) -> Result<bool, SchedulerError> {
    let sql = format!(
        "SELECT 1 FROM archive_files f WHERE f.id = $1 AND {}",
        super::disk_buffer::PINNED
    );
    Ok(c.query_opt(&sql, params![file_id])?.is_some())
}

impl StageRequests for super::SqlScheduler {
    fn files_by_paths(
        &mut self,
        owner: &str,
        paths: &[String],
    ) -> Result<std::collections::HashMap<String, FileStatus>, SchedulerError> {
        self.read(|c| files_by_paths(c, owner, paths))
    }

    fn create_stage(
        &mut self,
        id: &str,
        owner: &str,
        requester: &str,
        entries: &[StageEntry],
    ) -> Result<(), SchedulerError> {
        self.write(|c| create(c, id, owner, requester, entries))
    }

    fn stage_status(
        &mut self,
        id: &str,
        owner: &str,
        requester: &str,
    ) -> Result<StageStatus, SchedulerError> {
        self.read(|c| status(c, id, owner, requester))
    }

    fn cancel_stage(
        &mut self,
        id: &str,
        owner: &str,
        requester: &str,
        paths: &[String],
    ) -> Result<(), SchedulerError> {
        self.write(|c| cancel(c, id, owner, requester, Some(paths)))
    }

    fn delete_stage(
        &mut self,
        id: &str,
        owner: &str,
        requester: &str,
    ) -> Result<(), SchedulerError> {
        self.write(|c| delete(c, id, owner, requester))
    }

    fn release_stage(
        &mut self,
        id: &str,
        owner: &str,
        requester: &str,
        paths: &[String],
    ) -> Result<(), SchedulerError> {
        self.write(|c| release(c, id, owner, requester, paths))
    }

    fn pinned(&mut self, file_id: u64) -> Result<bool, SchedulerError> {
        self.read(|c| pinned(c, file_id))
    }
}
