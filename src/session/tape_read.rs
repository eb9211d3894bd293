//! The recall tape thread: mounts the tape, checks VOL1, then for each file
//! (in the order the injector gives: fSeq, or the recommended access order)
//! locates to its HDR1 by block id, checks its labels name
//! the expected file, and reads its blocks into memory blocks for the disk
//! write pool. A wrong label, read error or CRC error fails that file only.

use std::time::Instant;

use crossbeam_channel::Sender;

use super::disk_write::DiskWriteTask;
use super::injector::WorkFeed;
use super::memory::{Aborted, Block, BlockPool};
use super::status_reporter::StatusHandle;
use super::tape_mount::{self, SessionEnd, TapeStats};
use crate::library::MediaChanger;
use crate::proto::session::SessionState;
use crate::scheduler::RecallJob;
use crate::tape::drive::{LBP_CRC_LEN, lbp_open};
use crate::tape::format;
use crate::tape::{ReadOutcome, TapeDrive};

pub struct TapeReadTask {
    pub job: RecallJob,
    /// Dropped at the end of the file.
    pub blocks: Sender<Block>,
    /// The file's disk side, given to the disk writers when its read starts.
    pub disk: DiskWriteTask,
}

pub struct TapeReadThread {
    /// A repack's reads: ends at a file boundary when asked to yield.
    pub background: bool,
    /// To the disk writers.
    pub disk: Sender<DiskWriteTask>,
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
            background,
            disk,
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
                        let feeder = Feeder {
                            feed: &mut feed,
                            disk: &disk,
                            background,
                        };
                        read_files(drive, &vid, feeder, &pool, &status, stats);
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

/// Where the tape thread's files come from and their disk sides go.
struct Feeder<'a> {
    feed: &'a mut WorkFeed<TapeReadTask>,
    disk: &'a Sender<DiskWriteTask>,
    background: bool,
}

fn read_files(
    drive: &mut dyn TapeDrive,
    vid: &str,
    feeder: Feeder<'_>,
    pool: &BlockPool,
    status: &StatusHandle,
    stats: &mut TapeStats,
) {
    let Feeder {
        feed,
        disk,
        background,
    } = feeder;
    // The tape thread is the only taker of blocks, so it never needs an abort.
    let (_keep, never) = crossbeam_channel::bounded::<()>(0);
    while let Some(task) = feed.next_task() {
        // Background work yields its drive between files; what it fetched
        // and did not start goes back to the queue with the mount's end.
        if background && super::yield_requested() {
            tracing::info!(
                vid,
                files_read = stats.files,
                "pre-empted: the background session yields its drive at a file boundary"
            );
            stats.yielded = true;
            return;
        }
        let TapeReadTask {
            job,
            blocks,
            disk: disk_side,
        } = task;
        if disk.send(disk_side).is_err() {
            tracing::error!(vid, "the disk writers are gone: the session stops reading");
            return;
        }
        status.state(SessionState::Positioning);
        let started = Instant::now();
        let positioned = drive
            .locate(job.block_id)
            .map_err(format::FormatError::from)
            .and_then(|()| format::read_file_header(drive, vid, job.fseq, job.file_id));
        stats.positioning += started.elapsed();
        status.state(SessionState::Transferring);
        let result = match positioned {
            Err(e) => Err(ReadFailure {
                // A wrong label is the copy's fault; a drive error is not
                // proof against the data.
                bad: match &e {
                    format::FormatError::Drive(d) => d.proves_data_bad(),
                    _ => true,
                },
                reason: format!("file {} fSeq {}: {e}", job.file_id, job.fseq),
            }),
            Ok(header) => {
                if job.block_size.is_some_and(|b| b != header.block_size) {
                    tracing::warn!(vid, file_id = job.file_id, catalogue = ?job.block_size, tape = header.block_size, "the catalogue and UHL1 disagree on the block size; reading with the tape's");
                }
                let reader = BlockReader::new(header.block_size, pool.block_size());
                reader.read_data(drive, &job, &blocks, pool, &never, status, stats)
            }
        };
        match result {
            Ok(()) => stats.files += 1,
            Err(ReadFailure { reason, bad }) => {
                stats.errors += 1;
                tracing::warn!(vid, file_id = job.file_id, fseq = job.fseq, reason = %reason, bad, "recall read failed");
                if let Ok(mut block) = pool.get(&never) {
                    block.reset();
                    block.fail_read(reason, bad);
                    if let Err(e) = blocks.send(block) {
                        pool.put(e.into_inner());
                    }
                }
            }
        }
    }
}

/// Why a file could not be read. `bad`: the data itself proved wrong (a
/// checksum, a label, an early end), so the copy is; a drive's error is
/// not held against it.
struct ReadFailure {
    reason: String,
    bad: bool,
}

impl ReadFailure {
    fn bad(reason: String) -> Self {
        Self { reason, bad: true }
    }
}

impl From<String> for ReadFailure {
    fn from(reason: String) -> Self {
        Self { reason, bad: false }
    }
}

impl From<&str> for ReadFailure {
    fn from(reason: &str) -> Self {
        reason.to_string().into()
    }
}

/// Reads one file's tape blocks into memory blocks. Files are read with
/// their own block size (UHL1), not the session's: a tape block larger
/// than a memory block is read whole into a scratch buffer and split.
struct BlockReader {
    scratch: Option<Vec<u8>>,
}

impl BlockReader {
    fn new(file_block_size: u64, memory_block: usize) -> Self {
        // UHL1 is data from the tape: never allocate past the largest block.
        let tape_block = (file_block_size as usize).min(crate::units::MAX_BLOCK_SIZE as usize);
        let scratch = (tape_block > memory_block).then(|| vec![0u8; tape_block + LBP_CRC_LEN]);
        Self { scratch }
    }

    /// Reads the file's data blocks up to its closing file mark.
    #[allow(clippy::too_many_arguments)]
    fn read_data(
        mut self,
        drive: &mut dyn TapeDrive,
        job: &RecallJob,
        blocks: &Sender<Block>,
        pool: &BlockPool,
        never: &crossbeam_channel::Receiver<()>,
        status: &StatusHandle,
        stats: &mut TapeStats,
    ) -> Result<(), ReadFailure> {
        let Some(scratch) = self.scratch.as_mut() else {
            return read_data(drive, job, blocks, pool, never, status, stats);
        };
        for tape_block in 0u64.. {
            let started = Instant::now();
            let outcome = drive.read_block(scratch);
            stats.waiting_tape += started.elapsed();
            let Some(n) = data_len(outcome, job)? else {
                return Ok(());
            };
            let payload = lbp_open(&scratch[..n]).ok_or_else(|| {
                ReadFailure::bad(format!(
                    "file {}: tape block {tape_block} failed its LBP CRC32C check",
                    job.file_id
                ))
            })?;
            for chunk in payload.chunks(pool.block_size()) {
                let wait = Instant::now();
                let mut block = pool
                    .get(never)
                    .map_err(|Aborted| "session aborted".to_string())?;
                stats.waiting_disk += wait.elapsed();
                block.reset();
                block.set_len(chunk.len());
                block.data.copy_from_slice(chunk);
                block.crc = crc32c::crc32c(chunk);
                stats.bytes += chunk.len() as u64;
                status.add_bytes(chunk.len() as u64);
                if let Err(e) = blocks.send(block) {
                    pool.put(e.into_inner());
                    return Err("disk writer went away".into());
                }
            }
        }
        Ok(())
    }
}

/// What a read inside a file means: Some(length) of a data block, None at
/// the file's closing file mark; end of data or a drive error fail the file.
fn data_len(
    outcome: Result<ReadOutcome, crate::tape::DriveError>,
    job: &RecallJob,
) -> Result<Option<usize>, ReadFailure> {
    match outcome {
        Ok(ReadOutcome::Data(n)) => Ok(Some(n)),
        Ok(ReadOutcome::FileMark) => Ok(None),
        Ok(ReadOutcome::EndOfData) => Err(ReadFailure::bad(format!(
            "file {}: end of data before the file's closing file mark",
            job.file_id
        ))),
        Err(e) => Err(ReadFailure {
            bad: e.proves_data_bad(),
            reason: format!("file {}: {e}", job.file_id),
        }),
    }
}

/// Reads the file's data blocks up to its closing file mark, each tape
/// block straight into a memory block.
fn read_data(
    drive: &mut dyn TapeDrive,
    job: &RecallJob,
    blocks: &Sender<Block>,
    pool: &BlockPool,
    never: &crossbeam_channel::Receiver<()>,
    status: &StatusHandle,
    stats: &mut TapeStats,
) -> Result<(), ReadFailure> {
    let capacity = pool.block_size() + crate::tape::drive::LBP_CRC_LEN;
    for block_no in 0.. {
        let wait = Instant::now();
        let mut block = pool
            .get(never)
            .map_err(|Aborted| "session aborted".to_string())?;
        stats.waiting_disk += wait.elapsed();
        block.reset();
        block.set_len(capacity);
        let started = Instant::now();
        let outcome = drive.read_block(&mut block.data);
        stats.waiting_tape += started.elapsed();
        let n = match data_len(outcome, job) {
            Ok(Some(n)) => n,
            end => {
                pool.put(block);
                return end.map(drop);
            }
        };
        let Some(payload) = lbp_open(&block.data[..n]).map(<[u8]>::len) else {
            pool.put(block);
            return Err(ReadFailure::bad(format!(
                "file {}: block {block_no} failed its LBP CRC32C check",
                job.file_id
            )));
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
