//! The disk read pool of a migration: N threads, each taking the next file
//! from its FIFO, filling memory blocks from the disk file (sealed with
//! their LBP CRC32C, computed once here) and pushing them to the file's
//! data FIFO, which the tape thread drains in file order.
//!
//! A disk error (file gone, changed size, permission) travels to the tape
//! thread in a block; the reader then stops that file and takes the next.

use std::fs::File;
use std::io::Read;
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;

use crossbeam_channel::{Receiver, Sender, select};

use super::beneath::{self, Dir};
use super::memory::{Aborted, Block, BlockPool, Turns};
use crate::scheduler::ArchiveJob;

pub struct DiskReadTask {
    pub job: ArchiveJob,
    /// Position of the file in the session: blocks are served in this order.
    pub seq: u64,
    pub blocks: Sender<Block>,
}

/// Memory blocks a file needs: at least one, to carry an empty file or an error.
pub fn blocks_for(size: u64, block_size: usize) -> u64 {
    size.div_ceil(block_size as u64).max(1)
}

pub struct DiskReadPool {
    threads: Vec<JoinHandle<()>>,
}

impl DiskReadPool {
    /// `roots`: the allowed archive directories; every source is resolved
    /// beneath one of them when it is opened.
    pub fn start(
        threads: usize,
        tasks: Receiver<DiskReadTask>,
        pool: BlockPool,
        turns: Arc<Turns>,
        abort: Receiver<()>,
        roots: Arc<Vec<PathBuf>>,
    ) -> Self {
        let threads = (0..threads)
            .filter_map(|i| {
                let (tasks, pool, turns, abort, roots) = (
                    tasks.clone(),
                    pool.clone(),
                    turns.clone(),
                    abort.clone(),
                    roots.clone(),
                );
                std::thread::Builder::new()
                    .name(format!("disk-read-{i}"))
                    .spawn(super::in_span(move || {
                        loop {
                            let task = select! {
                                recv(tasks) -> t => match t { Ok(t) => t, Err(_) => break },
                                recv(abort) -> _ => break,
                            };
                            let seq = task.seq;
                            if read_file(task, &pool, &turns, &abort, &roots).is_err() {
                                turns.done(seq);
                                break;
                            }
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

/// Releases the file's turn however reading ends.
struct TurnGuard<'a> {
    turns: &'a Turns,
    seq: u64,
}

impl Drop for TurnGuard<'_> {
    fn drop(&mut self) {
        self.turns.done(self.seq);
    }
}

fn read_file(
    task: DiskReadTask,
    pool: &BlockPool,
    turns: &Turns,
    abort: &Receiver<()>,
    roots: &[PathBuf],
) -> Result<(), Aborted> {
    let DiskReadTask { job, seq, blocks } = task;
    turns.wait_for(seq, abort)?;
    let mut turn = Some(TurnGuard { turns, seq });
    let block_size = pool.block_size();
    let nblocks = blocks_for(job.size, block_size);
    let send = |block: Block| {
        if let Err(e) = blocks.send(block) {
            // The tape thread has gone (session ending): recycle the block.
            pool.put(e.into_inner());
        }
    };
    let fail = |reason: String, pool: &BlockPool| -> Result<(), Aborted> {
        let mut block = pool.get(abort)?;
        block.reset();
        block.fail(reason);
        send(block);
        Ok(())
    };
    let mut file = match open_checked(&job, roots) {
        Ok(f) => f,
        Err(reason) => {
            tracing::warn!(file_id = job.file_id, path = %job.path, reason = %reason, "cannot read disk file");
            return fail(reason, pool);
        }
    };
    let mut remaining = job.size;
    for block_no in 0..nblocks {
        let mut block = pool.get(abort)?;
        if block_no + 1 == nblocks {
            // This file has all its blocks: the next file may start.
            turn.take();
        }
        block.reset();
        let len = remaining.min(block_size as u64) as usize;
        block.set_len(len);
        let mut result = file.read_exact(&mut block.data).map_err(|e| {
            if e.kind() == std::io::ErrorKind::UnexpectedEof {
                format!(
                    "{}: file shrank while being archived (expected {} bytes)",
                    job.path, job.size
                )
            } else {
                format!("{}: read error: {e}", job.path)
            }
        });
        if result.is_ok() && block_no + 1 == nblocks {
            // Before the last block goes, make sure the file did not grow.
            let mut probe = [0u8; 1];
            result = match file.read(&mut probe) {
                Ok(0) => Ok(()),
                Ok(_) => Err(format!(
                    "{}: file grew while being archived (expected {} bytes)",
                    job.path, job.size
                )),
                Err(e) => Err(format!("{}: read error: {e}", job.path)),
            };
        }
        match result {
            Ok(()) => {
                remaining -= len as u64;
                block.crc = crc32c::crc32c(&block.data);
                let crc = block.crc;
                block.data.extend_from_slice(&crc.to_be_bytes());
                send(block);
            }
            Err(reason) => {
                tracing::warn!(file_id = job.file_id, reason = %reason, "disk read failed");
                block.fail(reason);
                send(block);
                return Ok(());
            }
        }
    }
    Ok(())
}

/// Opens the file and checks it is still the regular file of the size
/// queued. It is resolved beneath the allowed roots now, not trusted from
/// when it was queued: no symbolic link is followed on the way. The open
/// never blocks (a FIFO or a device put in the file's place would wait for
/// a writer, or worse): anything but a regular file is refused with the
/// reason, and the catalogue counts the attempt.
fn open_checked(job: &ArchiveJob, roots: &[PathBuf]) -> Result<File, String> {
    let path = Path::new(&job.path);
    let (dir, name) =
        beneath::split(path).ok_or_else(|| format!("{}: not a file path", job.path))?;
    let file = Dir::beneath(roots, dir, "archive")
        .and_then(|dir| dir.open_read(&name))
        .map_err(|e| format!("cannot open: {e}"))?;
    let meta = file
        .metadata()
        .map_err(|e| format!("{}: cannot stat: {e}", job.path))?;
    if !meta.is_file() {
        return Err(format!(
            "{}: not a regular file (it is {})",
            job.path,
            kind_of(&meta)
        ));
    }
    // Regular files ignore O_NONBLOCK; clear it all the same.
    nix::fcntl::fcntl(
        &file,
        nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::empty()),
    )
    .map_err(|e| format!("{}: fcntl: {e}", job.path))?;
    if meta.len() != job.size {
        return Err(format!(
            "{}: file changed size since it was queued ({} bytes, now {})",
            job.path,
            job.size,
            meta.len()
        ));
    }
    Ok(file)
}

/// What a non-regular file is, for the operator.
fn kind_of(meta: &std::fs::Metadata) -> &'static str {
    let t = meta.file_type();
    if t.is_dir() {
        "a directory"
    } else if t.is_fifo() {
        "a FIFO"
    } else if t.is_char_device() || t.is_block_device() {
        "a device"
    } else if t.is_socket() {
        "a socket"
    } else {
        "not a file"
    }
}
