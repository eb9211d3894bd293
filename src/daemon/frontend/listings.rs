//! The stager's read-only requests: status of files and recalls, the
//! tapes, a tape's files. A small request never makes a large answer: at
//! most `MAX_IDS` ids per request (repeats answered once), listings in
//! pages of at most `MAX_PAGE` rows and `REPLY_BUDGET` bytes, the reply's
//! `next_after` asking for the next page.

use prost::Message;

use super::Frontend;
use crate::messaging::refusal::Refusal;
use crate::proto::stager;
use crate::scheduler::Page;

/// Ids one status request may name.
pub const MAX_IDS: usize = 1000;
/// Rows in one page of a listing.
pub const MAX_PAGE: u64 = 1000;
/// Encoded bytes of rows in one page: paths may be long, a page stays
/// small whatever they are.
pub const REPLY_BUDGET: usize = 4 << 20;

/// The ids asked for, each once, in the order first asked; refused over
/// the cap (one sentence, before the catalogue is read).
fn distinct_ids(ids: Vec<u64>, what: &str) -> Result<Vec<u64>, Refusal> {
    let mut seen = std::collections::HashSet::with_capacity(ids.len().min(MAX_IDS));
    let ids: Vec<u64> = ids.into_iter().filter(|id| seen.insert(*id)).collect();
    if ids.len() > MAX_IDS {
        return Err(Refusal::invalid_request(format!(
            "a request may name at most {MAX_IDS} {what}, not {}: ask in several requests",
            ids.len()
        )));
    }
    Ok(ids)
}

/// The page a listing request asks for.
fn page(after: u64, limit: u32) -> Page {
    let limit = match u64::from(limit) {
        0 => MAX_PAGE,
        n => n.min(MAX_PAGE),
    };
    Page { after, limit }
}

/// Keeps the rows that fit the page's byte budget (at least one); returns
/// the key after which the next page starts, 0 when the listing is done.
fn fit<T: Message>(rows: &mut Vec<T>, page: Page, key: impl Fn(&T) -> u64) -> u64 {
    let mut bytes = 0;
    let mut keep = rows.len();
    for (i, row) in rows.iter().enumerate() {
        bytes += row.encoded_len() + 8;
        if bytes > REPLY_BUDGET && i > 0 {
            keep = i;
            break;
        }
    }
    let full = keep < rows.len() || rows.len() as u64 >= page.limit;
    rows.truncate(keep);
    match rows.last() {
        Some(last) if full => key(last),
        _ => 0,
    }
}

/// A copy as the client sees it: good, bad (and why), or on a tape that
/// cannot be mounted.
fn copy_status(c: crate::scheduler::CopyInfo) -> stager::CopyStatus {
    use crate::scheduler::TapeState;
    let (state, reason) = match (&c.bad, c.tape_state) {
        (Some(why), _) => ("bad".to_string(), why.clone()),
        (
            None,
            s @ (TapeState::Broken
            | TapeState::Exported
            | TapeState::Disabled
            | TapeState::Repacking),
        ) => (s.as_str().to_string(), String::new()),
        (None, _) => ("good".to_string(), String::new()),
    };
    stager::CopyStatus {
        copy: c.copy_nb,
        vid: c.vid,
        fseq: c.fseq,
        state,
        reason,
    }
}

impl Frontend {
    pub(super) fn status(
        &mut self,
        req: stager::StatusRequest,
        owner: &str,
    ) -> Result<stager::StatusReply, Refusal> {
        let ids = distinct_ids(req.file_ids, "files")?;
        let page = page(req.after_id, req.limit);
        let found = self.db.files_of(owner, &ids, page)?;
        let found_ids: Vec<u64> = found.iter().map(|f| f.id).collect();
        let mut copies = self.db.copies_of_files(&found_ids)?;
        let mut files: Vec<stager::FileStatus> = found
            .into_iter()
            .map(|f| {
                let c = copies.remove(&f.id).unwrap_or_default();
                file_status(f, c)
            })
            .collect();
        let next_after = if ids.is_empty() {
            fit(&mut files, page, |f| f.id)
        } else {
            0
        };
        Ok(stager::StatusReply { files, next_after })
    }

    pub(super) fn recall_status(
        &mut self,
        req: stager::RecallStatusRequest,
        owner: &str,
    ) -> Result<stager::RecallStatusReply, Refusal> {
        let ids = distinct_ids(req.recall_ids, "recalls")?;
        let page = page(req.after_id, req.limit);
        let mut recalls: Vec<stager::RecallStatus> = self
            .db
            .recalls_of(owner, &ids, page)?
            .into_iter()
            .map(|r| stager::RecallStatus {
                id: r.id,
                file_id: r.file_id,
                destination: r.destination,
                state: stager::RecallState::from(r.state) as i32,
                error: r.error,
                size: r.size,
            })
            .collect();
        let next_after = if ids.is_empty() {
            fit(&mut recalls, page, |r| r.id)
        } else {
            0
        };
        Ok(stager::RecallStatusReply {
            recalls,
            next_after,
        })
    }

    pub(super) fn tapes(&mut self) -> Result<stager::TapesReply, Refusal> {
        let tapes = self.db.tapes()?;
        Ok(stager::TapesReply {
            tapes: tapes
                .into_iter()
                .map(|t| stager::TapeInfo {
                    vid: t.vid,
                    pool: t.pool,
                    state: stager::TapeState::from(t.state) as i32,
                    capacity: t.capacity,
                    bytes_used: t.bytes_used,
                    last_fseq: t.last_fseq,
                    files: t.files,
                    reason: t.reason,
                    read_mounts: t.read_mounts,
                    write_mounts: t.write_mounts,
                    live_files: t.live_files,
                    live_bytes: t.live_bytes,
                    deleted_files: t.deleted_files,
                    deleted_bytes: t.deleted_bytes,
                    reclaimed: t.reclaimed,
                    state_by: t.state_by.unwrap_or_default(),
                    state_since: t.state_since.unwrap_or_default(),
                    last_verified: t.last_verified.unwrap_or_default(),
                    verify_errors: t.verify_errors,
                    media: t.media.unwrap_or_default(),
                })
                .collect(),
        })
    }

    /// Deletes the client's files: at most `MAX_IDS`, all or none.
    pub(super) fn delete(
        &mut self,
        req: stager::DeleteRequest,
        owner: &str,
    ) -> Result<stager::DeleteReply, Refusal> {
        let ids = distinct_ids(req.file_ids, "files")?;
        if ids.is_empty() {
            return Err(Refusal::invalid_request("no file to delete"));
        }
        let file_ids = self.db.delete_files(owner, &ids, owner)?;
        tracing::info!(owner, files = file_ids.len(), ids = ?file_ids, "files deleted");
        Ok(stager::DeleteReply { file_ids })
    }

    pub(super) fn ls_tape(
        &mut self,
        req: stager::LsTapeRequest,
        owner: &str,
    ) -> Result<stager::LsTapeReply, Refusal> {
        let page = page(req.after_fseq, req.limit);
        let mut files: Vec<stager::TapeFileInfo> = self
            .db
            .tape_files_of(owner, &req.vid, page)?
            .into_iter()
            .map(|f| stager::TapeFileInfo {
                fseq: f.fseq,
                block_id: f.block_id,
                file_id: f.file_id,
                size: f.size,
                crc32c: f.crc32c,
                path: f.path,
            })
            .collect();
        let next_after = fit(&mut files, page, |f| f.fseq);
        Ok(stager::LsTapeReply {
            vid: req.vid,
            files,
            next_after,
        })
    }
}

/// A file's status as the stager protocol says it.
pub(super) fn file_status(
    f: crate::scheduler::FileStatus,
    copies: Vec<crate::scheduler::CopyInfo>,
) -> stager::FileStatus {
    stager::FileStatus {
        copies: copies.into_iter().map(copy_status).collect(),
        id: f.id,
        state: stager::FileState::from(f.state) as i32,
        vid: f.vid,
        fseq: f.fseq,
        error: f.error,
        path: f.path,
        size: f.size,
        crc32c: f.crc32c,
        block_id: f.block_id,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_answered_once_and_capped() {
        assert_eq!(
            distinct_ids(vec![3, 1, 3, 3, 1], "files").unwrap(),
            vec![3, 1]
        );
        assert_eq!(
            distinct_ids(vec![7; 20_000], "files").unwrap(),
            vec![7],
            "20,000 copies of one id are one id"
        );
        let many: Vec<u64> = (1..=MAX_IDS as u64 + 1).collect();
        let err = distinct_ids(many, "files").unwrap_err();
        assert!(err.message.contains("at most 1000 files"), "{err}");
    }

    #[test]
    fn a_page_is_capped_in_rows_and_bytes() {
        assert_eq!(
            page(5, 0),
            Page {
                after: 5,
                limit: MAX_PAGE
            }
        );
        assert_eq!(
            page(0, 10),
            Page {
                after: 0,
                limit: 10
            }
        );
        assert_eq!(page(0, u32::MAX).limit, MAX_PAGE);

        let row = |id: u64| stager::FileStatus {
            id,
            path: "p".repeat(1 << 20),
            ..Default::default()
        };
        let mut rows: Vec<_> = (1..=10).map(row).collect();
        let next = fit(&mut rows, page(0, 10), |f| f.id);
        assert_eq!(rows.len(), 3, "three 1 MiB rows fit in 4 MiB");
        assert_eq!(next, 3);

        let mut short: Vec<_> = (1..=2)
            .map(|id| stager::FileStatus {
                id,
                ..Default::default()
            })
            .collect();
        assert_eq!(fit(&mut short, page(0, 10), |f| f.id), 0, "the last page");
        let mut full: Vec<_> = (1..=10)
            .map(|id| stager::FileStatus {
                id,
                ..Default::default()
            })
            .collect();
        assert_eq!(
            fit(&mut full, page(0, 10), |f| f.id),
            10,
            "a full page may have more"
        );
    }
}
