//! The report packer: a FIFO drained by its own thread that batches
//! catalogue writes, so the tape thread never waits for the database.
//!
//! Migration: a file written to tape is only *pending* until the flush that
//! makes it durable; `Flushed` commits every pending file (and any disk-side
//! failures) in one transaction. Files written after the last flush are
//! never reported: the mount's end requeues them.
//! Recall: results are committed every `batch_files` files, every second,
//! and at the end.

use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError};

use crate::scheduler::{ArchivedFile, Scheduler, TapeState};

#[derive(Debug)]
pub enum MigrationReport {
    /// On tape, not yet flushed.
    Written(ArchivedFile),
    /// The disk side could not supply the file.
    Failed {
        file_id: u64,
        reason: String,
    },
    /// Everything written so far is durable.
    Flushed,
    TapeFull,
    DisableTape(String),
}

#[derive(Debug, Default, PartialEq, Eq)]
pub struct MigrationReportSummary {
    pub archived: u64,
    pub failed: u64,
    pub commits: u64,
    /// Written but never flushed: left for the mount's end to requeue.
    pub unflushed: u64,
    pub errors: Vec<String>,
}

pub fn run_migration_packer(
    scheduler: &mut dyn Scheduler,
    mount_id: u64,
    vid: &str,
    reports: Receiver<MigrationReport>,
) -> MigrationReportSummary {
    let mut summary = MigrationReportSummary::default();
    let mut written = Vec::new();
    let mut failed = Vec::new();
    for report in reports {
        match report {
            MigrationReport::Written(file) => written.push(file),
            MigrationReport::Failed { file_id, reason } => failed.push((file_id, reason)),
            MigrationReport::Flushed => commit_migration(
                scheduler,
                mount_id,
                vid,
                &mut written,
                &mut failed,
                &mut summary,
            ),
            MigrationReport::TapeFull => {
                if let Err(e) =
                    scheduler.set_tape_state(vid, TapeState::Full, "end of tape reached")
                {
                    summary.errors.push(e.to_string());
                }
            }
            MigrationReport::DisableTape(reason) => {
                tracing::error!(vid, reason = %reason, "disabling tape");
                if let Err(e) = scheduler.set_tape_state(vid, TapeState::Disabled, &reason) {
                    summary.errors.push(e.to_string());
                }
            }
        }
    }
    // Disk failures need no flush; unflushed files are not reported.
    summary.unflushed = written.len() as u64;
    commit_migration(
        scheduler,
        mount_id,
        vid,
        &mut Vec::new(),
        &mut failed,
        &mut summary,
    );
    summary
}

fn commit_migration(
    scheduler: &mut dyn Scheduler,
    mount_id: u64,
    vid: &str,
    written: &mut Vec<ArchivedFile>,
    failed: &mut Vec<(u64, String)>,
    summary: &mut MigrationReportSummary,
) {
    if written.is_empty() && failed.is_empty() {
        return;
    }
    match scheduler.report_migration(mount_id, vid, written, failed) {
        Ok(()) => {
            summary.archived += written.len() as u64;
            summary.failed += failed.len() as u64;
            summary.commits += 1;
            tracing::info!(
                vid,
                archived = written.len(),
                failed = failed.len(),
                "catalogue updated after flush"
            );
        }
        Err(e) => {
            tracing::error!(vid, error = %e, files = written.len(), "cannot commit flushed files; they will be requeued");
            summary.errors.push(e.to_string());
        }
    }
    written.clear();
    failed.clear();
}

#[derive(Debug)]
pub struct RecallResult {
    pub recall_id: u64,
    pub error: Option<String>,
}

#[derive(Debug, Default, PartialEq, Eq)]
pub struct RecallReportSummary {
    pub recalled: u64,
    pub failed: u64,
    pub errors: Vec<String>,
}

pub fn run_recall_packer(
    scheduler: &mut dyn Scheduler,
    mount_id: u64,
    batch_files: usize,
    results: Receiver<RecallResult>,
) -> RecallReportSummary {
    let mut summary = RecallReportSummary::default();
    let mut batch: Vec<(u64, Option<String>)> = Vec::new();
    let mut since = Instant::now();
    loop {
        let done = match results.recv_timeout(Duration::from_secs(1)) {
            Ok(result) => {
                batch.push((result.recall_id, result.error));
                false
            }
            Err(RecvTimeoutError::Timeout) => false,
            Err(RecvTimeoutError::Disconnected) => true,
        };
        if done || batch.len() >= batch_files || since.elapsed() >= Duration::from_secs(1) {
            commit_recalls(scheduler, mount_id, &mut batch, &mut summary);
            since = Instant::now();
        }
        if done {
            return summary;
        }
    }
}

fn commit_recalls(
    scheduler: &mut dyn Scheduler,
    mount_id: u64,
    batch: &mut Vec<(u64, Option<String>)>,
    summary: &mut RecallReportSummary,
) {
    if batch.is_empty() {
        return;
    }
    match scheduler.report_recalls(mount_id, batch) {
        Ok(()) => {
            let failed = batch.iter().filter(|(_, e)| e.is_some()).count() as u64;
            summary.failed += failed;
            summary.recalled += batch.len() as u64 - failed;
        }
        Err(e) => {
            tracing::error!(error = %e, files = batch.len(), "cannot report recalls; the mount's end requeues them");
            summary.errors.push(e.to_string());
        }
    }
    batch.clear();
}
