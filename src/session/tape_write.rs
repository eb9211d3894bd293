//! The migration tape thread: the one component that must never wait. It
//! mounts the tape, checks where to append, then writes each file's labels
//! and blocks in order, writes file marks without flushing, and flushes
//! every `flush_files` files or `flush_bytes` bytes, whenever it runs out of
//! queued work and at the end; only a flush lets the report packer commit
//! files to the catalogue.

use std::time::Instant;

use crossbeam_channel::{Receiver, Sender};

use super::injector::WorkFeed;
use super::memory::{Block, BlockPool};
use super::report_packer::MigrationReport;
use super::status_reporter::StatusHandle;
use super::tape_mount::{self, SessionEnd, TapeStats};
use crate::library::MediaChanger;
use crate::proto::session::SessionState;
use crate::scheduler::{ArchiveJob, ArchivedFile, FailedFile, FileFailure};
use crate::tape::aul::{FileLabel, Writer as LabelWriter};
use crate::tape::format::{self, FormatError, LastFile};
use crate::tape::{DriveError, TapeDrive, WriteOutcome};

pub struct TapeWriteTask {
    pub job: ArchiveJob,
    pub blocks: Receiver<Block>,
}

pub struct TapeWriteThread {
    pub drive: Box<dyn TapeDrive>,
    pub changer: Box<dyn MediaChanger>,
    pub drive_name: String,
    pub vid: String,
    pub last_file: Option<LastFile>,
    /// The catalogue reclaimed the tape and holds no file on it: whatever
    /// follows VOL1 is deleted data, written over from fSeq 1.
    pub reclaimed: bool,
    pub block_size: u64,
    pub flush_files: u64,
    pub flush_bytes: u64,
    /// Site, host, drive and date for the labels.
    pub labels: LabelWriter,
    pub pool: BlockPool,
    pub reports: Sender<MigrationReport>,
    pub status: StatusHandle,
    /// Dropped to wake and stop the disk side when the tape side stops.
    pub abort: Sender<()>,
}

/// Why writing stopped before the work ran out.
#[derive(Debug)]
enum Stop {
    /// End of tape: the tape is full, the rest goes to another tape.
    TapeFull(String),
    /// A tape error: the session ends and a cleaner runs.
    Failed(String),
}

impl From<FormatError> for Stop {
    /// End of medium fills the tape; any other tape error ends the session.
    fn from(e: FormatError) -> Self {
        match e {
            FormatError::Drive(e @ DriveError::EndOfMedium { .. }) => Stop::TapeFull(e.to_string()),
            e => Stop::Failed(e.to_string()),
        }
    }
}

/// A file on tape, not yet flushed.
struct Written {
    file: ArchivedFile,
    /// Writing it crossed into the early-warning zone.
    early_warning: bool,
}

/// Files written since the last flush.
#[derive(Default)]
struct FlushWindow {
    files: u64,
    bytes: u64,
}

/// The writing half of the thread, once the tape is mounted and positioned.
struct Writer {
    vid: String,
    last_file: Option<LastFile>,
    block_size: u64,
    flush_files: u64,
    flush_bytes: u64,
    labels: LabelWriter,
    pool: BlockPool,
    reports: Sender<MigrationReport>,
    status: StatusHandle,
}

impl TapeWriteThread {
    pub fn run(self, mut feed: WorkFeed<TapeWriteTask>) -> (SessionEnd, TapeStats) {
        let TapeWriteThread {
            mut drive,
            changer,
            drive_name,
            vid,
            last_file,
            reclaimed,
            block_size,
            flush_files,
            flush_bytes,
            labels,
            pool,
            reports,
            status,
            abort,
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
                status.state(SessionState::Positioning);
                let started = Instant::now();
                let positioned = match last_file {
                    None if reclaimed => format::position_over_reclaimed(drive, &vid),
                    _ => format::position_for_append(drive, &vid, last_file),
                };
                stats.positioning = started.elapsed();
                let mut writer = Writer {
                    vid: vid.clone(),
                    last_file,
                    block_size,
                    flush_files,
                    flush_bytes,
                    labels,
                    pool,
                    reports,
                    status: status.clone(),
                };
                let end = match positioned {
                    Err(FormatError::Drive(e)) => {
                        SessionEnd::NeedsCleaner(format!("cannot position {vid} for writing: {e}"))
                    }
                    Err(e) => {
                        // The tape and the catalogue disagree: writing could destroy data.
                        let _ = writer
                            .reports
                            .send(MigrationReport::DisableTape(e.to_string()));
                        SessionEnd::Done
                    }
                    Ok(()) => {
                        status.state(SessionState::Transferring);
                        let started = Instant::now();
                        let end = writer.write_files(drive, &mut feed, stats);
                        stats.transferring = started.elapsed();
                        end
                    }
                };
                let end = match feed.failure() {
                    Some(reason) => end.worst(SessionEnd::SchedulerUnavailable(format!(
                        "the scheduler failed during the session: {reason}"
                    ))),
                    None => end,
                };
                // Stop the disk side before unmounting: nothing more will be written.
                drop(feed);
                end
            },
        );
        // Also reached when the mount failed: the disk side must stop then too.
        drop(abort);
        (end, stats)
    }
}

impl Writer {
    fn write_files(
        &mut self,
        drive: &mut dyn TapeDrive,
        feed: &mut WorkFeed<TapeWriteTask>,
        stats: &mut TapeStats,
    ) -> SessionEnd {
        let mut next_fseq = self.last_file.map_or(1, |l| l.fseq + 1);
        let mut window = FlushWindow::default();
        let stop = loop {
            let wait = Instant::now();
            // Nothing queued: the next task waits on the scheduler, perhaps
            // for a whole lazy-dismount linger. Files already written are
            // flushed and reported first, so they are safe and their
            // stagers hear of them now, not when the cartridge leaves.
            let next = feed.next_task_or_idle(|| self.flush(drive, &mut window, stats));
            let task = match next {
                Ok(Some(task)) => task,
                Ok(None) => break None,
                Err(e) => break Some(Stop::Failed(format!("flush failed: {e}"))),
            };
            stats.waiting_disk += wait.elapsed();
            // A written file is counted here and only here, whatever comes next.
            let early_warning = match self.write_file(drive, task, next_fseq, stats) {
                Ok(Some(Written {
                    file,
                    early_warning,
                })) => {
                    next_fseq += 1;
                    window.files += 1;
                    window.bytes += file.size;
                    stats.files += 1;
                    self.status.add_file();
                    let _ = self.reports.send(MigrationReport::Written(file));
                    early_warning
                }
                Ok(None) => {
                    stats.errors += 1;
                    false
                }
                Err(stop) => break Some(stop),
            };
            if early_warning {
                // The file is complete; stop writing on this tape.
                break Some(Stop::TapeFull("early warning".into()));
            }
            if (window.files >= self.flush_files || window.bytes >= self.flush_bytes)
                && let Err(e) = self.flush(drive, &mut window, stats)
            {
                break Some(Stop::Failed(format!("flush failed: {e}")));
            }
        };
        match stop {
            None | Some(Stop::TapeFull(_)) => {
                let full = matches!(stop, Some(Stop::TapeFull(_)));
                if let Err(e) = self.flush(drive, &mut window, stats) {
                    return SessionEnd::NeedsCleaner(format!("final flush failed: {e}"));
                }
                if full {
                    tracing::info!(vid = %self.vid, "end of tape: marking the tape full, the rest is requeued");
                    let _ = self.reports.send(MigrationReport::TapeFull);
                }
                SessionEnd::Done
            }
            Some(Stop::Failed(reason)) => {
                // Files completed before the error are safe if a flush works.
                tracing::error!(vid = %self.vid, reason = %reason, "tape write error: ending the migration");
                self.status.error(reason.clone());
                if self.flush(drive, &mut window, stats).is_err() {
                    tracing::error!(vid = %self.vid, files = window.files, "flush after the error failed: unflushed files are requeued");
                }
                SessionEnd::NeedsCleaner(reason)
            }
        }
    }

    fn flush(
        &mut self,
        drive: &mut dyn TapeDrive,
        window: &mut FlushWindow,
        stats: &mut TapeStats,
    ) -> Result<(), DriveError> {
        if window.files == 0 {
            return Ok(());
        }
        let started = Instant::now();
        drive.flush()?;
        stats.waiting_tape += started.elapsed();
        stats.flushes += 1;
        tracing::debug!(vid = %self.vid, files = window.files, bytes = window.bytes, "flushed");
        *window = FlushWindow::default();
        let _ = self.reports.send(MigrationReport::Flushed);
        Ok(())
    }

    /// Writes one file. Ok(None): the disk side failed it (already reported).
    fn write_file(
        &mut self,
        drive: &mut dyn TapeDrive,
        task: TapeWriteTask,
        fseq: u64,
        stats: &mut TapeStats,
    ) -> Result<Option<Written>, Stop> {
        let TapeWriteTask { job, blocks } = task;
        let nblocks = job.size.div_ceil(self.block_size);
        let mut label = FileLabel {
            vid: self.vid.clone(),
            fseq,
            file_id: job.file_id,
            block_size: self.block_size,
            block_count: nblocks,
        };
        let mut header: Option<u64> = None;
        let mut crc = 0u32;
        let mut written = 0u64;
        let mut early_warning = false;
        loop {
            let wait = Instant::now();
            self.status.waiting_for_disk(Some(job.file_id));
            let received = blocks.recv();
            self.status.waiting_for_disk(None);
            let Ok(block) = received else { break };
            stats.waiting_disk += wait.elapsed();
            if let Some(reason) = block.error.clone() {
                self.pool.put(block);
                return self.abandon(drive, header, &job, reason);
            }
            let started = Instant::now();
            let result = (|| {
                if header.is_none() {
                    header = Some(format::write_file_header(drive, &label, &self.labels)?);
                }
                // An empty file's block carries only its CRC: nothing to write.
                if block.data.len() > crate::tape::drive::LBP_CRC_LEN
                    && drive.write_block(&block.data)? == WriteOutcome::EarlyWarning
                {
                    early_warning = true;
                }
                Ok::<_, FormatError>(())
            })();
            stats.waiting_tape += started.elapsed();
            let payload = block
                .data
                .len()
                .saturating_sub(crate::tape::drive::LBP_CRC_LEN);
            if result.is_ok() && payload > 0 {
                crc = crc32c::crc32c_combine(crc, block.crc, payload);
                written += payload as u64;
                stats.bytes += payload as u64;
                self.status.add_bytes(payload as u64);
            }
            self.pool.put(block);
            if let Err(e) = result {
                return Err(self.tape_error(drive, header, &job, e));
            }
        }
        if written != job.size {
            let reason = format!(
                "{}: the disk side delivered {written} of {} bytes",
                job.path, job.size
            );
            return self.abandon(drive, header, &job, reason);
        }
        let started = Instant::now();
        label.block_count = nblocks;
        let result = (|| {
            let block_id = match header {
                Some(id) => id,
                None => format::write_file_header(drive, &label, &self.labels)?,
            };
            format::write_file_trailer(drive, &label, &self.labels)?;
            Ok::<_, FormatError>(block_id)
        })();
        stats.waiting_tape += started.elapsed();
        let block_id = match result {
            Ok(id) => id,
            Err(e) => return Err(self.tape_error(drive, header, &job, e)),
        };
        let file = ArchivedFile {
            file_id: job.file_id,
            fseq,
            block_id,
            block_size: self.block_size,
            size: job.size,
            crc32c: crc,
        };
        Ok(Some(Written {
            file,
            early_warning,
        }))
    }

    /// A disk-side failure: report it and rewind over any partial copy.
    fn abandon(
        &mut self,
        drive: &mut dyn TapeDrive,
        header: Option<u64>,
        job: &ArchiveJob,
        reason: String,
    ) -> Result<Option<Written>, Stop> {
        self.abandon_partial(drive, header);
        tracing::warn!(file_id = job.file_id, reason = %reason, "file not archived");
        let _ = self.reports.send(MigrationReport::Failed(FailedFile {
            file_id: job.file_id,
            failure: FileFailure::Disk(reason),
        }));
        Ok(None)
    }

    /// A tape error in the middle of a file. End of medium is counted
    /// against the file (one that meets it on every tape must not block the
    /// queue); any other error leaves it for the mount's end to requeue.
    fn tape_error(
        &mut self,
        drive: &mut dyn TapeDrive,
        header: Option<u64>,
        job: &ArchiveJob,
        error: FormatError,
    ) -> Stop {
        self.abandon_partial(drive, header);
        let stop = Stop::from(error);
        if let Stop::TapeFull(reason) = &stop {
            tracing::warn!(vid = %self.vid, file_id = job.file_id, size = job.size, "the file met end of medium");
            let _ = self.reports.send(MigrationReport::Failed(FailedFile {
                file_id: job.file_id,
                failure: FileFailure::EndOfMedium(reason.clone()),
            }));
        }
        stop
    }

    /// Positions back at the partial file's HDR1 so the next write replaces it.
    fn abandon_partial(&mut self, drive: &mut dyn TapeDrive, header: Option<u64>) {
        if let Some(block_id) = header
            && let Err(e) = drive.locate(block_id)
        {
            tracing::error!(vid = %self.vid, block_id, error = %e, "cannot position back over a partial file");
        }
    }
}

#[cfg(test)]
mod tests;
