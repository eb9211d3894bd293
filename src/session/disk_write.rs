//! The disk write pool of a recall: N threads, each taking the next file's
//! task and writing the blocks the tape thread read into a file no one can
//! see yet, in the destination directory (resolved beneath the allowed
//! recall roots). Only once its size and whole-file CRC32C match the
//! catalogue is the file synced, recorded in the catalogue (device and
//! inode) and put in place, never replacing anything.
//!
//! A retry of a recall whose session died after placing its file accepts
//! the destination only if it is that recorded file; anything else there
//! fails the recall, and is never replaced or removed.

use std::ffi::OsStr;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;

use crossbeam_channel::{Receiver, Sender, bounded};

use super::beneath::{self, Dir};
use super::memory::{Block, BlockPool};
use super::report_packer::{RecallReport, RecallResult};
use super::staged_file::{Staged, identity_of};
use super::status_reporter::StatusHandle;
use crate::scheduler::{FileIdentity, Permissions, RecallEnd, RecallJob};

pub struct DiskWriteTask {
    pub job: RecallJob,
    /// Closed by the tape thread at the end of the file.
    pub blocks: Receiver<Block>,
}

pub struct DiskWritePool {
    threads: Vec<JoinHandle<()>>,
}

/// What the writers share.
#[derive(Clone)]
pub struct Writers {
    pub pool: BlockPool,
    pub reports: Sender<RecallReport>,
    pub status: StatusHandle,
    pub roots: Arc<Vec<PathBuf>>,
    /// When a recall that met a full filesystem is tried again.
    pub retry_after: std::time::Duration,
}

/// Why a file could not be written: for good, or for now (the
/// filesystem is full: the recall goes back to the queue).
#[derive(Debug)]
enum Failure {
    Final(String),
    Passing(String),
    /// The copy on tape could not be read or is not the file: the recall
    /// goes on with another copy (`bad`: the data proved wrong).
    Copy {
        reason: String,
        bad: bool,
    },
}

impl From<String> for Failure {
    fn from(e: String) -> Self {
        Failure::Final(e)
    }
}

/// ENOSPC and EDQUOT pass when someone makes room.
fn passes(errno: Option<i32>) -> bool {
    matches!(errno, Some(libc::ENOSPC | libc::EDQUOT))
}

impl From<crate::session::staged_file::StagedError> for Failure {
    fn from(e: crate::session::staged_file::StagedError) -> Self {
        use crate::session::staged_file::StagedError;
        let errno = match &e {
            StagedError::Create { source, .. } | StagedError::Io { source, .. } => {
                Some(*source as i32)
            }
            StagedError::Exists { .. } => None,
        };
        if passes(errno) {
            Failure::Passing(e.to_string())
        } else {
            Failure::Final(e.to_string())
        }
    }
}

impl DiskWritePool {
    pub fn start(threads: usize, tasks: Receiver<DiskWriteTask>, writers: Writers) -> Self {
        let threads = (0..threads)
            .filter_map(|i| {
                let (tasks, w) = (tasks.clone(), writers.clone());
                std::thread::Builder::new()
                    .name(format!("disk-write-{i}"))
                    .spawn(super::in_span(move || {
                        for task in tasks {
                            let (recall_id, file_id) = (task.job.recall_id, task.job.file_id);
                            let end = match write_file(task, &w) {
                                Ok(()) => {
                                    w.status.add_file();
                                    RecallEnd::Done
                                }
                                Err(Failure::Final(e)) => {
                                    tracing::error!(recall_id, file_id, error = %e, "recall {recall_id} of file {file_id} failed: {e}");
                                    RecallEnd::Failed(e)
                                }
                                Err(Failure::Copy { reason, bad }) => {
                                    tracing::warn!(recall_id, file_id, error = %reason, bad, "recall of file {file_id}: the copy failed; another copy is tried if there is one");
                                    RecallEnd::CopyFailed { reason, bad }
                                }
                                Err(Failure::Passing(e)) => {
                                    tracing::warn!(recall_id, error = %e, retry_in_s = w.retry_after.as_secs_f64(), "recall failed for now: nothing was left at the destination, it is tried again later");
                                    RecallEnd::Retry {
                                        error: e,
                                        after: w.retry_after,
                                    }
                                }
                            };
                            let _ = w
                                .reports
                                .send(RecallReport::Done(RecallResult { recall_id, end }));
                        }
                    }))
                    .ok()
            })
            .collect();
        Self { threads }
    }

    pub fn join(self) {
        for t in self.threads {
            let _ = t.join();
        }
    }
}

/// Returns the blocks to the pool (the file is not written).
fn drain(blocks: Receiver<Block>, pool: &BlockPool) {
    for block in blocks {
        pool.put(block);
    }
}

fn write_file(task: DiskWriteTask, w: &Writers) -> Result<(), Failure> {
    let DiskWriteTask { job, blocks } = task;
    let dest = PathBuf::from(&job.destination);
    let prepared = (|| {
        let (dir, name) =
            beneath::split(&dest).ok_or_else(|| format!("{}: not a file path", dest.display()))?;
        let dir = Dir::beneath(&w.roots, dir, "recall").map_err(|e| e.to_string())?;
        Ok::<_, String>((dir, name))
    })();
    let (dir, name) = match prepared {
        Ok(p) => p,
        Err(e) => {
            drain(blocks, &w.pool);
            return Err(e.into());
        }
    };
    match already_placed(&dir, &name, &job) {
        Ok(true) => {
            // A session died after putting this file in place but before
            // reporting it: the retry only has to report it.
            tracing::info!(recall_id = job.recall_id, dest = %dest.display(), "the destination holds the file this recall put there");
            drain(blocks, &w.pool);
            return Ok(());
        }
        Ok(false) => {}
        Err(e) => {
            drain(blocks, &w.pool);
            return Err(e.into());
        }
    }
    let hint = format!("{}.recall-{}", name.to_string_lossy(), job.recall_id);
    let mut staged = match Staged::create(&dir, &hint) {
        Ok(s) => s,
        Err(e) => {
            drain(blocks, &w.pool);
            return Err(e.into());
        }
    };
    let (bytes, crc) = fill(&mut staged, blocks, &w.pool, &dest)?;
    verify(&job, bytes, crc)?;
    let (mode, owner) = recalled_permissions(job.permissions, nix::unistd::geteuid().is_root());
    staged.set_permissions(mode, owner)?;
    staged.sync()?;
    // Recorded before it is visible: a retry can then prove it is ours.
    let identity = staged.identity().map_err(|e| e.to_string())?;
    stage(&w.reports, job.recall_id, identity)?;
    Ok(staged.place(&name)?)
}

/// The recalled copy's permission bits and owner. Root gives it back its
/// archived mode and owner. A session of the service user cannot chown: the
/// copy is the service user's, in the destination's group, so the group
/// gets the archived owner's rights (the stagers reach it through that
/// group) and others keep exactly the archived rights: a file no stranger
/// could read stays so. Set-id and sticky bits are never restored. A file
/// archived before modes were kept gets 0640.
pub fn recalled_permissions(
    archived: Option<Permissions>,
    root: bool,
) -> (u32, Option<(u32, u32)>) {
    match archived {
        None => (0o640, None),
        Some(p) if root => (p.mode & 0o777, Some((p.uid, p.gid))),
        Some(p) => {
            let mode = p.mode & 0o777;
            let owner_rights = (mode >> 6) & 0o7;
            (mode | 0o600 | (owner_rights << 3), None)
        }
    }
}

/// Writes every block into the staged file; drains them all even after an
/// error, so they go back to the pool. Returns the bytes and their CRC32C.
fn fill(
    staged: &mut Staged<'_>,
    blocks: Receiver<Block>,
    pool: &BlockPool,
    dest: &Path,
) -> Result<(u64, u32), Failure> {
    let mut crc = 0u32;
    let mut bytes = 0u64;
    let mut error: Option<Failure> = None;
    for block in blocks {
        if error.is_none() {
            if let Some(e) = &block.error {
                error = Some(Failure::Copy {
                    reason: e.clone(),
                    bad: block.data_bad,
                });
            } else {
                match staged.file().write_all(&block.data) {
                    Ok(()) => {
                        crc = crc32c::crc32c_combine(crc, block.crc, block.data.len());
                        bytes += block.data.len() as u64;
                    }
                    Err(e) => {
                        let why = format!("{}: write error: {e}", dest.display());
                        error = Some(if passes(e.raw_os_error()) {
                            Failure::Passing(why)
                        } else {
                            Failure::Final(why)
                        });
                    }
                }
            }
        }
        pool.put(block);
    }
    match error {
        Some(e) => Err(e),
        None => Ok((bytes, crc)),
    }
}

/// The bytes read are the file the catalogue knows, or the copy is bad.
fn verify(job: &RecallJob, bytes: u64, crc: u32) -> Result<(), Failure> {
    let bad = |reason| Failure::Copy { reason, bad: true };
    if bytes != job.size {
        return Err(bad(format!(
            "file {} read {bytes} bytes from tape, the catalogue says {}",
            job.file_id, job.size
        )));
    }
    if crc != job.crc32c {
        return Err(bad(format!(
            "file {}: checksum mismatch: tape data has CRC32C {crc:08x}, the catalogue says {:08x}",
            job.file_id, job.crc32c
        )));
    }
    Ok(())
}

/// True if the destination is the file an earlier attempt of this recall
/// put there (the device and inode it recorded, the right size); synced
/// again, as that attempt may have died before its directory sync. An
/// existing destination that is anything else fails the recall.
fn already_placed(dir: &Dir, name: &OsStr, job: &RecallJob) -> Result<bool, String> {
    let shown = dir.path().join(name);
    let Some(st) = dir.stat(name).map_err(|e| e.to_string())? else {
        return Ok(false);
    };
    let ours = job.staged == Some(identity_of(&st))
        && beneath::is_regular(&st)
        && st.st_size as u64 == job.size;
    if !ours {
        return Err(format!(
            "{}: already exists and is not the file this recall wrote (a recall never replaces or accepts a file it did not write)",
            shown.display()
        ));
    }
    let file = dir.open_read(name).map_err(|e| e.to_string())?;
    file.sync_all()
        .map_err(|e| format!("{}: fsync: {e}", shown.display()))?;
    dir.sync().map_err(|e| e.to_string())?;
    Ok(true)
}

/// Records the staged file in the catalogue through the report packer
/// (which owns the session's connection) and waits for the answer. A
/// database that stayed unreachable fails the file for now only: the
/// staged copy goes with the error and the recall is tried again later.
fn stage(
    reports: &Sender<RecallReport>,
    recall_id: u64,
    file: FileIdentity,
) -> Result<(), Failure> {
    let (reply, answer) = bounded(1);
    reports
        .send(RecallReport::Stage {
            recall_id,
            file,
            reply,
        })
        .map_err(|_| "the report packer is gone".to_string())?;
    match answer
        .recv()
        .map_err(|_| "the report packer did not answer".to_string())?
    {
        Ok(()) => Ok(()),
        Err(refusal) => {
            let e = format!(
                "cannot record the recalled file before placing it: {}",
                refusal.message
            );
            Err(if refusal.passing {
                Failure::Passing(e)
            } else {
                Failure::Final(e)
            })
        }
    }
}

#[cfg(test)]
mod tests;
