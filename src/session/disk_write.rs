//! The disk write pool of a recall: N threads, each taking the next file's
//! task, writing the blocks the tape thread read to a temporary name in the
//! destination directory, and moving the file into place only after its
//! size and whole-file CRC32C match the catalogue.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;

use crossbeam_channel::{Receiver, Sender};

use super::memory::{Block, BlockPool};
use super::report_packer::RecallResult;
use super::status_reporter::StatusHandle;
use crate::scheduler::RecallJob;

pub struct DiskWriteTask {
    pub job: RecallJob,
    /// Closed by the tape thread at the end of the file.
    pub blocks: Receiver<Block>,
}

pub struct DiskWritePool {
    threads: Vec<JoinHandle<()>>,
}

impl DiskWritePool {
    pub fn start(
        threads: usize,
        tasks: Receiver<DiskWriteTask>,
        pool: BlockPool,
        results: Sender<RecallResult>,
        status: StatusHandle,
    ) -> Self {
        let threads = (0..threads)
            .filter_map(|i| {
                let (tasks, pool, results, status) =
                    (tasks.clone(), pool.clone(), results.clone(), status.clone());
                std::thread::Builder::new()
                    .name(format!("disk-write-{i}"))
                    .spawn(move || {
                        for task in tasks {
                            let recall_id = task.job.recall_id;
                            let error = write_file(task, &pool).err();
                            match &error {
                                None => status.add_file(),
                                Some(e) => tracing::warn!(recall_id, error = %e, "recall failed"),
                            }
                            let _ = results.send(RecallResult { recall_id, error });
                        }
                    })
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

fn temp_path(dest: &Path, recall_id: u64) -> PathBuf {
    let name = dest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    dest.with_file_name(format!(".{name}.recall-{recall_id}.part"))
}

fn write_file(task: DiskWriteTask, pool: &BlockPool) -> Result<(), String> {
    let DiskWriteTask { job, blocks } = task;
    let dest = PathBuf::from(&job.destination);
    if already_recalled(&dest, &job) {
        // A session died after moving this file into place but before
        // reporting it: the retry only has to report it.
        tracing::info!(recall_id = job.recall_id, dest = %dest.display(), "destination already holds the recalled file");
        for block in blocks {
            pool.put(block);
        }
        return Ok(());
    }
    let tmp = temp_path(&dest, job.recall_id);
    let mut file = create_temp(&tmp);
    let mut crc = 0u32;
    let mut bytes = 0u64;
    let mut error: Option<String> = file.as_ref().err().cloned();
    // Drain every block, even after an error, so they go back to the pool.
    for block in blocks {
        if error.is_none() {
            if let Some(e) = &block.error {
                error = Some(e.clone());
            } else if let Ok(f) = file.as_mut() {
                match f.write_all(&block.data) {
                    Ok(()) => {
                        crc = crc32c::crc32c_combine(crc, block.crc, block.data.len());
                        bytes += block.data.len() as u64;
                    }
                    Err(e) => error = Some(format!("{}: write error: {e}", tmp.display())),
                }
            }
        }
        pool.put(block);
    }
    let result = match (error, file) {
        (Some(e), _) => Err(e),
        (None, Err(e)) => Err(e),
        (None, Ok(f)) => finish(f, &tmp, &dest, &job, bytes, crc),
    };
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// True if `dest` exists with the catalogue's size and whole-file CRC32C.
fn already_recalled(dest: &Path, job: &RecallJob) -> bool {
    let Ok(mut file) = File::open(dest) else {
        return false;
    };
    if file.metadata().map(|m| m.len()).ok() != Some(job.size) {
        return false;
    }
    let mut crc = 0u32;
    let mut buf = vec![0u8; 1 << 20];
    loop {
        match std::io::Read::read(&mut file, &mut buf) {
            Ok(0) => return crc == job.crc32c,
            Ok(n) => crc = crc32c::crc32c_append(crc, &buf[..n]),
            Err(_) => return false,
        }
    }
}

/// The temporary name is unique to the recall, so an existing file is the
/// leftover of an earlier attempt of this same recall (a killed session).
fn create_temp(tmp: &Path) -> Result<File, String> {
    let create = || OpenOptions::new().write(true).create_new(true).open(tmp);
    match create() {
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            tracing::info!(path = %tmp.display(), "removing the leftover of an earlier attempt");
            std::fs::remove_file(tmp).and_then(|()| create())
        }
        other => other,
    }
    .map_err(|e| format!("{}: cannot create: {e}", tmp.display()))
}

fn finish(
    file: File,
    tmp: &Path,
    dest: &Path,
    job: &RecallJob,
    bytes: u64,
    crc: u32,
) -> Result<(), String> {
    if bytes != job.size {
        return Err(format!(
            "file {} read {bytes} bytes from tape, the catalogue says {}",
            job.file_id, job.size
        ));
    }
    if crc != job.crc32c {
        return Err(format!(
            "file {}: checksum mismatch: tape data has CRC32C {crc:08x}, the catalogue says {:08x}",
            job.file_id, job.crc32c
        ));
    }
    file.sync_all()
        .map_err(|e| format!("{}: fsync: {e}", tmp.display()))?;
    // A hard link never replaces an existing file, unlike rename.
    std::fs::hard_link(tmp, dest)
        .map_err(|e| format!("{}: cannot move into place: {e}", dest.display()))?;
    std::fs::remove_file(tmp).map_err(|e| format!("{}: cannot remove: {e}", tmp.display()))?;
    if let Some(dir) = dest.parent() {
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| format!("{}: fsync: {e}", dir.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crossbeam_channel::unbounded;

    fn job(dest: &Path, data: &[u8]) -> RecallJob {
        RecallJob {
            recall_id: 7,
            file_id: 1,
            fseq: 1,
            block_id: 1,
            size: data.len() as u64,
            crc32c: crc32c::crc32c(data),
            destination: dest.display().to_string(),
            block_size: None,
            staged: None,
        }
    }

    /// Sends `data` as one block and runs the writer.
    fn recall(dest: &Path, expected: &[u8], data: &[u8]) -> Result<(), String> {
        let pool = BlockPool::new(2, 1024);
        let (_keep, abort) = crossbeam_channel::bounded::<()>(0);
        let (tx, rx) = unbounded();
        let mut block = pool.get(&abort).unwrap();
        block.reset(1, 1, 0);
        block.set_len(data.len());
        block.data.copy_from_slice(data);
        block.crc = crc32c::crc32c(data);
        tx.send(block).unwrap();
        drop(tx);
        let result = write_file(
            DiskWriteTask {
                job: job(dest, expected),
                blocks: rx,
            },
            &pool,
        );
        assert_eq!(pool.free(), 2, "every block went back to the pool");
        result
    }

    #[test]
    fn a_verified_file_is_moved_into_place() {
        let tmp = tempfile::tempdir().unwrap();
        let dest = tmp.path().join("f");
        recall(&dest, b"payload", b"payload").unwrap();
        assert_eq!(std::fs::read(&dest).unwrap(), b"payload");
        assert!(!temp_path(&dest, 7).exists());
    }

    #[test]
    fn a_checksum_mismatch_leaves_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        let dest = tmp.path().join("f");
        let err = recall(&dest, b"payload", b"paYload").unwrap_err();
        assert!(err.contains("checksum mismatch"), "{err}");
        assert!(!dest.exists() && !temp_path(&dest, 7).exists());
    }

    #[test]
    fn a_retry_accepts_the_file_a_dead_session_put_in_place() {
        let tmp = tempfile::tempdir().unwrap();
        let dest = tmp.path().join("f");
        std::fs::write(&dest, b"payload").unwrap();
        recall(&dest, b"payload", b"payload").unwrap();
        // Anything else at the destination is never overwritten.
        std::fs::write(&dest, b"other").unwrap();
        let err = recall(&dest, b"payload", b"payload").unwrap_err();
        assert!(err.contains("cannot move into place"), "{err}");
        assert_eq!(std::fs::read(&dest).unwrap(), b"other");
    }
}
