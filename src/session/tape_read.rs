//! The recall tape thread: mounts the tape, checks VOL1, then for each file
//! (in fSeq order) locates to its HDR1 by block id, checks its labels name
//! the expected file, and reads its blocks into memory blocks for the disk
//! write pool. A wrong label, read error or CRC error fails that file only.

use std::time::Instant;

use crossbeam_channel::Sender;

use super::injector::WorkFeed;
use super::memory::{Aborted, Block, BlockPool};
use super::status_reporter::StatusHandle;
use super::tape_mount::{self, SessionEnd, TapeStats};
use crate::library::MediaChanger;
use crate::proto::session::SessionState;
use crate::scheduler::RecallJob;
use crate::tape::drive::lbp_open;
use crate::tape::format;
use crate::tape::{ReadOutcome, TapeDrive};

pub struct TapeReadTask {
    pub job: RecallJob,
    /// Dropped at the end of the file.
    pub blocks: Sender<Block>,
}

pub struct TapeReadThread {
    pub drive: Box<dyn TapeDrive>,
    pub changer: Box<dyn MediaChanger>,
    pub drive_name: String,
    pub vid: String,
    pub pool: BlockPool,
    pub status: StatusHandle,
}

impl TapeReadThread {
    pub fn run(self, mut feed: WorkFeed<TapeReadTask>) -> (SessionEnd, TapeStats) {
        let TapeReadThread {
            mut drive,
            changer,
            drive_name,
            vid,
            pool,
            status,
        } = self;
        let mut stats = TapeStats::default();
        let end = tape_mount::on_mounted_tape(
            &*changer,
            &mut *drive,
            &vid,
            &drive_name,
            &status,
            &mut stats,
            |drive, stats| {
                let end = match format::check_vol1(drive, &vid) {
                    Err(e) => SessionEnd::NeedsCleaner(format!("cannot identify {vid}: {e}")),
                    Ok(_) => {
                        let started = Instant::now();
                        read_files(drive, &vid, &mut feed, &pool, &status, stats);
                        stats.transferring = started.elapsed().saturating_sub(stats.positioning);
                        match feed.failure() {
                            Some(reason) => SessionEnd::SchedulerUnavailable(format!(
                                "the scheduler failed during the session: {reason}"
                            )),
                            None => SessionEnd::Done,
                        }
                    }
                };
                drop(feed);
                end
            },
        );
        (end, stats)
    }
}

fn read_files(
    drive: &mut dyn TapeDrive,
    vid: &str,
    feed: &mut WorkFeed<TapeReadTask>,
    pool: &BlockPool,
    status: &StatusHandle,
    stats: &mut TapeStats,
) {
    // The tape thread is the only taker of blocks, so it never needs an abort.
    let (_keep, never) = crossbeam_channel::bounded::<()>(0);
    while let Some(task) = feed.next_task() {
        let TapeReadTask { job, blocks } = task;
        status.state(SessionState::Positioning);
        let started = Instant::now();
        let positioned = drive
            .locate(job.block_id)
            .map_err(format::FormatError::from)
            .and_then(|()| format::read_file_header(drive, vid, job.fseq, job.file_id));
        stats.positioning += started.elapsed();
        status.state(SessionState::Transferring);
        let result = match positioned {
            Err(e) => Err(format!("file {} fSeq {}: {e}", job.file_id, job.fseq)),
            Ok(_) => read_data(drive, &job, &blocks, pool, &never, status, stats),
        };
        match result {
            Ok(()) => stats.files += 1,
            Err(reason) => {
                stats.errors += 1;
                tracing::warn!(vid, file_id = job.file_id, fseq = job.fseq, reason = %reason, "recall read failed");
                if let Ok(mut block) = pool.get(&never) {
                    block.reset(job.file_id, job.fseq, 0);
                    block.fail(reason);
                    if let Err(e) = blocks.send(block) {
                        pool.put(e.into_inner());
                    }
                }
            }
        }
    }
}

/// Reads the file's data blocks up to its closing file mark.
fn read_data(
    drive: &mut dyn TapeDrive,
    job: &RecallJob,
    blocks: &Sender<Block>,
    pool: &BlockPool,
    never: &crossbeam_channel::Receiver<()>,
    status: &StatusHandle,
    stats: &mut TapeStats,
) -> Result<(), String> {
    let capacity = pool.block_size() + crate::tape::drive::LBP_CRC_LEN;
    for block_no in 0.. {
        let wait = Instant::now();
        let mut block = pool
            .get(never)
            .map_err(|Aborted| "session aborted".to_string())?;
        stats.waiting_disk += wait.elapsed();
        block.reset(job.file_id, job.fseq, block_no);
        block.set_len(capacity);
        let started = Instant::now();
        let outcome = drive.read_block(&mut block.data);
        stats.waiting_tape += started.elapsed();
        let n = match outcome {
            Ok(ReadOutcome::Data(n)) => n,
            Ok(ReadOutcome::FileMark) => {
                pool.put(block);
                return Ok(());
            }
            Ok(ReadOutcome::EndOfData) => {
                pool.put(block);
                return Err(format!(
                    "file {}: end of data before the file's closing file mark",
                    job.file_id
                ));
            }
            Err(e) => {
                pool.put(block);
                return Err(format!("file {}: {e}", job.file_id));
            }
        };
        let Some(payload) = lbp_open(&block.data[..n]).map(<[u8]>::len) else {
            pool.put(block);
            return Err(format!(
                "file {}: block {block_no} failed its LBP CRC32C check",
                job.file_id
            ));
        };
        // lbp_open just checked this CRC against the payload: reuse it.
        block.crc = u32::from_be_bytes(block.data[payload..n].try_into().unwrap_or_default());
        block.data.truncate(payload);
        stats.bytes += payload as u64;
        status.add_bytes(payload as u64);
        if let Err(e) = blocks.send(block) {
            pool.put(e.into_inner());
            return Err("disk writer went away".into());
        }
    }
    Ok(())
}
