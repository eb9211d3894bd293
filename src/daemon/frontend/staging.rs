//! The stager requests of a disk buffer: files by path (with whether their
//! disk copy is there), eviction of disk copies that are on tape, and bulk
//! stage requests (what tapegw serves as the Tape REST API). A file is
//! staged back to the path it was archived from.

use std::collections::HashMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use super::checks::resolve_dir;
use super::listings::file_status;
use super::{Frontend, Roots};
use crate::messaging::refusal::Refusal;
use crate::proto::stager;
use crate::scheduler::{FileState, FileStatus, StageEntry, StageFileState};
use crate::session::beneath::{Dir, is_regular, split};

use crate::messaging::stager_client::MAX_PATHS;
/// How long a staged file stays pinned when the request does not say.
pub const DEFAULT_PIN_S: u64 = 86_400;

fn distinct(paths: impl IntoIterator<Item = String>) -> Result<Vec<String>, Refusal> {
    let mut seen = std::collections::HashSet::new();
    let out: Vec<String> = paths
        .into_iter()
        .filter(|p| seen.insert(p.clone()))
        .collect();
    if out.is_empty() {
        return Err(Refusal::invalid_request("the request names no path"));
    }
    if out.len() > MAX_PATHS {
        return Err(Refusal::invalid_request(format!(
            "a request may name at most {MAX_PATHS} paths, not {}: ask in several requests",
            out.len()
        )));
    }
    Ok(out)
}

/// Directories resolved beneath roots, each once however many of its files
/// a request names (a stage of 10,000 files of one directory resolves one).
struct Dirs {
    roots: Vec<PathBuf>,
    what: &'static str,
    resolved: HashMap<PathBuf, Result<Dir, String>>,
}

impl Dirs {
    fn new(roots: Vec<PathBuf>, what: &'static str) -> Self {
        Self {
            roots,
            what,
            resolved: HashMap::new(),
        }
    }

    /// The directory of `path` and the file's name, or why it is refused.
    fn of(&mut self, path: &str) -> Result<(&Dir, OsString), String> {
        let p = Path::new(path);
        let (parent, name) = split(p).ok_or_else(|| format!("{path}: not a file path"))?;
        let (roots, what) = (&self.roots, self.what);
        let dir = self
            .resolved
            .entry(parent.to_path_buf())
            .or_insert_with(|| {
                // The reason alone: the refusal names the first file asked.
                resolve_dir(p, roots, what)
                    .map(|(dir, _)| dir)
                    .map_err(|e| {
                        let prefix = format!("{path}: ");
                        e.message
                            .strip_prefix(&prefix)
                            .unwrap_or(&e.message)
                            .to_string()
                    })
            })
            .as_ref()
            .map_err(|why| format!("{path}: {why}"))?;
        Ok((dir, name))
    }

    /// Whether the file's disk copy is at its path: a regular file of its
    /// size (anything else is "not on disk").
    fn holds(&mut self, f: &FileStatus) -> bool {
        let Ok((dir, name)) = self.of(&f.path) else {
            return false;
        };
        matches!(dir.stat(&name), Ok(Some(st)) if is_regular(&st) && st.st_size as u64 == f.size)
    }
}

fn disk_roots(roots: &Roots) -> Vec<PathBuf> {
    roots.archive.iter().chain(&roots.recall).cloned().collect()
}

impl Frontend {
    pub(super) fn path_status(
        &mut self,
        req: stager::PathStatusRequest,
        roots: &Roots,
    ) -> Result<stager::PathStatusReply, Refusal> {
        let paths = distinct(req.paths)?;
        let mut found = self.db.files_by_paths(&roots.owner, &paths)?;
        let ids: Vec<u64> = found.values().map(|f| f.id).collect();
        let mut copies = self.db.copies_of_files(&ids)?;
        let mut disk = Dirs::new(disk_roots(roots), "archive");
        let mut out = Vec::with_capacity(paths.len());
        for path in paths {
            match found.remove(&path) {
                Some(f) => {
                    let on_disk = disk.holds(&f);
                    let c = copies.remove(&f.id).unwrap_or_default();
                    out.push(stager::PathStatus {
                        path,
                        on_disk,
                        file: Some(file_status(f, c)),
                        error: None,
                    });
                }
                None => out.push(stager::PathStatus {
                    path,
                    file: None,
                    on_disk: false,
                    error: Some("no such file or directory".into()),
                }),
            }
        }
        Ok(stager::PathStatusReply { paths: out })
    }

    pub(super) fn evict(
        &mut self,
        req: stager::EvictRequest,
        roots: &Roots,
    ) -> Result<stager::EvictReply, Refusal> {
        let paths = distinct(req.paths)?;
        let mut found = self.db.files_by_paths(&roots.owner, &paths)?;
        let mut results = Vec::with_capacity(paths.len());
        for path in paths {
            let (file_id, outcome) = match found.remove(&path) {
                None => (0, Err("no such file or directory".to_string())),
                Some(f) => (f.id, self.evict_one(&f, roots)),
            };
            if let Ok(true) = outcome {
                tracing::info!(file_id, path = %path, "disk copy evicted");
            }
            results.push(stager::EvictResult {
                path,
                file_id,
                evicted: outcome.is_ok(),
                error: outcome.err(),
            });
        }
        Ok(stager::EvictReply { results })
    }

    /// Ok(true): removed now; Ok(false): it was gone already.
    fn evict_one(&mut self, f: &FileStatus, roots: &Roots) -> Result<bool, String> {
        let copy = crate::daemon::eviction::DiskCopy {
            file_id: f.id,
            path: &f.path,
            size: f.size,
            crc32c: f.crc32c,
        };
        crate::daemon::eviction::evict(&mut *self.db, &copy, &roots.archive)
    }

    pub(super) fn bulk_stage(
        &mut self,
        req: stager::BulkStageRequest,
        roots: &Roots,
    ) -> Result<stager::BulkStageReply, Refusal> {
        let lifetimes: std::collections::HashMap<String, u64> = req
            .files
            .iter()
            .map(|f| (f.path.clone(), f.disk_lifetime_s))
            .collect();
        let paths = distinct(req.files.into_iter().map(|f| f.path))?;
        let mut found = self.db.files_by_paths(&roots.owner, &paths)?;
        let mut destinations = Dirs::new(roots.recall.clone(), "recall");
        let mut disk = Dirs::new(disk_roots(roots), "archive");
        let mut entries = Vec::with_capacity(paths.len());
        for path in paths {
            let lifetime = match lifetimes.get(&path).copied().unwrap_or(0) {
                0 => DEFAULT_PIN_S,
                s => s,
            };
            let mut entry = StageEntry {
                path: path.clone(),
                file_id: None,
                on_disk: false,
                error: None,
                lifetime_s: lifetime as f64,
            };
            // Staged into its own path: that must be a recall destination
            // of this client.
            if let Err(e) = destinations.of(&path) {
                entry.error = Some(e);
                entries.push(entry);
                continue;
            }
            match found.remove(&path) {
                None => entry.error = Some("no such file or directory".into()),
                Some(f) => {
                    entry.file_id = Some(f.id);
                    entry.on_disk = disk.holds(&f);
                    entry.error = match f.state {
                        _ if entry.on_disk => None,
                        _ if f.size == 0 => Some("an empty file is not kept on tape".into()),
                        FileState::OnTape => None,
                        other => Some(format!("the file is {other}: it cannot be staged")),
                    };
                }
            }
            entries.push(entry);
        }
        let id = uuid::Uuid::new_v4().to_string();
        self.db
            .create_stage(&id, &roots.owner, &req.requester, &entries)?;
        let recalls = entries
            .iter()
            .filter(|e| e.error.is_none() && !e.on_disk)
            .count();
        tracing::info!(stage = %id, files = entries.len(), recalls, requester = %req.requester, "stage request created");
        if recalls > 0 {
            self.wake_loop.send(super::ToLoop::WorkQueued);
        }
        Ok(stager::BulkStageReply { id })
    }

    pub(super) fn stage_status(
        &mut self,
        req: stager::StageStatusRequest,
        roots: &Roots,
    ) -> Result<stager::StageStatusReply, Refusal> {
        let s = self
            .db
            .stage_status(&req.id, &roots.owner, &req.requester)?;
        Ok(stager::StageStatusReply {
            id: s.id.clone(),
            created_at: s.created,
            started_at: s.started(),
            completed_at: s.completed().unwrap_or(0.0),
            files: s
                .files
                .into_iter()
                .map(|f| stager::StageFileStatus {
                    path: f.path,
                    state: match f.state {
                        StageFileState::Submitted => stager::StageFileState::Submitted,
                        StageFileState::Started => stager::StageFileState::Started,
                        StageFileState::Completed => stager::StageFileState::Completed,
                        StageFileState::Failed => stager::StageFileState::Failed,
                        StageFileState::Cancelled => stager::StageFileState::Cancelled,
                    } as i32,
                    error: f.error,
                    started_at: f.started.unwrap_or(0.0),
                    finished_at: f.finished.unwrap_or(0.0),
                    file_id: f.file_id.unwrap_or(0),
                })
                .collect(),
        })
    }

    pub(super) fn stage_cancel(
        &mut self,
        req: stager::StageCancelRequest,
        roots: &Roots,
    ) -> Result<stager::StageDone, Refusal> {
        let paths = distinct(req.paths)?;
        self.db
            .cancel_stage(&req.id, &roots.owner, &req.requester, &paths)?;
        tracing::info!(stage = %req.id, files = paths.len(), "stage request files cancelled");
        Ok(stager::StageDone {})
    }

    pub(super) fn stage_delete(
        &mut self,
        req: stager::StageDeleteRequest,
        roots: &Roots,
    ) -> Result<stager::StageDone, Refusal> {
        self.db
            .delete_stage(&req.id, &roots.owner, &req.requester)?;
        tracing::info!(stage = %req.id, "stage request deleted");
        Ok(stager::StageDone {})
    }

    pub(super) fn stage_release(
        &mut self,
        req: stager::StageReleaseRequest,
        roots: &Roots,
    ) -> Result<stager::StageDone, Refusal> {
        let paths = distinct(req.paths)?;
        self.db
            .release_stage(&req.id, &roots.owner, &req.requester, &paths)?;
        Ok(stager::StageDone {})
    }
}
