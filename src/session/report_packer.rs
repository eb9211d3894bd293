//! The report packer: a FIFO drained by its own thread that batches
//! catalogue writes, so the tape thread never waits for the database.
//!
//! Migration: a file written to tape is only *pending* until the flush that
//! makes it durable; `Flushed` commits every pending file (and any disk-side
//! failures) in one transaction. Files written after the last flush are
//! never reported: the mount's end requeues them. Behind a drive that
//! discards data (the benchmarks' null drive) nothing is ever recorded as
//! on tape: the files fail with that reason.
//! Recall: results are committed every `batch_files` files, every second,
//! and at the end.

use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError};

use crate::scheduler::{
    ArchivedFile, FailedFile, FileFailure, FileIdentity, FileLimits, RecallEnd, Scheduler,
    TapeState,
};

#[derive(Debug)]
pub enum MigrationReport {
    /// On tape, not yet flushed.
    Written(ArchivedFile),
    /// The file could not be written this time (the disk side failed, or
    /// it met end of medium); the catalogue counts it.
    Failed(FailedFile),
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

/// Whether what the tape thread writes can be read back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Medium {
    Tape,
    /// The null drive: data blocks are thrown away.
    Discarding,
}

/// The reason a file written to a discarding drive is failed with.
pub const DISCARDED: &str = "written to a null drive (benchmarks only): the data was discarded";

/// Where the packer records a migration's reports.
pub struct MigrationTarget<'a> {
    pub mount_id: u64,
    pub vid: &'a str,
    pub medium: Medium,
    pub limits: FileLimits,
}

pub fn run_migration_packer(
    scheduler: &mut dyn Scheduler,
    target: &MigrationTarget<'_>,
    reports: Receiver<MigrationReport>,
) -> MigrationReportSummary {
    let (mount_id, vid, medium) = (target.mount_id, target.vid, target.medium);
    let mut summary = MigrationReportSummary::default();
    let mut written = Vec::new();
    let mut failed = Vec::new();
    for report in reports {
        match report {
            MigrationReport::Written(file) => written.push(file),
            MigrationReport::Failed(file) => failed.push(file),
            MigrationReport::Flushed if medium == Medium::Discarding => {
                failed.extend(written.drain(..).map(|f| FailedFile {
                    file_id: f.file_id,
                    failure: FileFailure::Final(DISCARDED.to_string()),
                }));
                commit_migration(
                    scheduler,
                    mount_id,
                    vid,
                    &mut Vec::new(),
                    &mut failed,
                    &target.limits,
                    &mut summary,
                )
            }
            MigrationReport::Flushed => commit_migration(
                scheduler,
                mount_id,
                vid,
                &mut written,
                &mut failed,
                &target.limits,
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
        &target.limits,
        &mut summary,
    );
    summary
}

fn commit_migration(
    scheduler: &mut dyn Scheduler,
    mount_id: u64,
    vid: &str,
    written: &mut Vec<ArchivedFile>,
    failed: &mut Vec<FailedFile>,
    limits: &FileLimits,
    summary: &mut MigrationReportSummary,
) {
    if written.is_empty() && failed.is_empty() {
        return;
    }
    match scheduler.report_migration(mount_id, vid, written, failed, limits) {
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
    pub end: RecallEnd,
}

/// What the disk writers send the recall packer.
#[derive(Debug)]
pub enum RecallReport {
    /// A recall ended (batched).
    Done(RecallResult),
    /// Record, now, the file a recall is about to put in place.
    Stage {
        recall_id: u64,
        file: FileIdentity,
        reply: crossbeam_channel::Sender<Result<(), StageRefusal>>,
    },
}

/// Why a file could not be recorded before it is put in place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StageRefusal {
    pub message: String,
    /// The database stayed unreachable: nothing is wrong with the file or
    /// its recall, which is tried again later.
    pub passing: bool,
}

/// How long a stage waits for an unreachable database (a restart, a
/// failover) before the file's recall is put back for later.
const STAGE_PATIENCE: Duration = Duration::from_secs(60);

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
    results: Receiver<RecallReport>,
) -> RecallReportSummary {
    let mut summary = RecallReportSummary::default();
    let mut batch: Vec<(u64, RecallEnd)> = Vec::new();
    let mut since = Instant::now();
    loop {
        let done = match results.recv_timeout(Duration::from_secs(1)) {
            Ok(RecallReport::Done(result)) => {
                batch.push((result.recall_id, result.end));
                false
            }
            Ok(RecallReport::Stage {
                recall_id,
                file,
                reply,
            }) => {
                let answer = stage_patiently(scheduler, mount_id, recall_id, &file);
                let _ = reply.send(answer);
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

/// Records a staged file; a database that cannot be reached is tried again
/// with a growing pause for up to [`STAGE_PATIENCE`], as the disk writer
/// holds the whole file meanwhile and losing it costs a tape read.
fn stage_patiently(
    scheduler: &mut dyn Scheduler,
    mount_id: u64,
    recall_id: u64,
    file: &FileIdentity,
) -> Result<(), StageRefusal> {
    let started = Instant::now();
    let mut pause = Duration::from_millis(250);
    loop {
        match scheduler.stage_recall(mount_id, recall_id, file) {
            Ok(()) => return Ok(()),
            Err(e) if e.is_transient() && started.elapsed() + pause < STAGE_PATIENCE => {
                tracing::warn!(recall_id, error = %e, retry_in_s = pause.as_secs_f64(), "cannot record a recalled file yet: the database is tried again");
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_secs(8));
            }
            Err(e) => {
                return Err(StageRefusal {
                    passing: e.is_transient(),
                    message: e.to_string(),
                });
            }
        }
    }
}

fn commit_recalls(
    scheduler: &mut dyn Scheduler,
    mount_id: u64,
    batch: &mut Vec<(u64, RecallEnd)>,
    summary: &mut RecallReportSummary,
) {
    if batch.is_empty() {
        return;
    }
    match scheduler.report_recalls(mount_id, batch) {
        Ok(()) => {
            let failed = batch.iter().filter(|(_, e)| *e != RecallEnd::Done).count() as u64;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheduler::prelude::*;
    use crate::scheduler::{MountPolicy, NewArchiveFile, SqliteScheduler};

    fn now_policy() -> MountPolicy {
        MountPolicy::uniform(
            1,
            u64::MAX,
            Duration::from_secs(3600),
            Duration::from_secs(60),
        )
    }

    /// A catalogue with `n` queued files assigned to a migration mount.
    fn migration(n: u64) -> (tempfile::TempDir, SqliteScheduler, u64, String, Vec<u64>) {
        let tmp = tempfile::tempdir().unwrap();
        let mut db = SqliteScheduler::open(&tmp.path().join("s.db")).unwrap();
        db.add_pool("default").unwrap();
        db.add_tape("V00001", "default", 1 << 30).unwrap();
        let files: Vec<NewArchiveFile> = (0..n)
            .map(|i| NewArchiveFile {
                path: format!("/data/{i}"),
                size: 10,
                owner: crate::scheduler::LOCAL_OWNER.into(),
                permissions: None,
            })
            .collect();
        let ids = db.queue_archive(&files, "default").unwrap();
        let mount = db.next_mount("h", "d0", &now_policy()).unwrap().unwrap();
        db.fetch_archive_jobs(mount.id, 100, u64::MAX).unwrap();
        (tmp, db, mount.id, mount.vid, ids)
    }

    fn target(mount_id: u64, vid: &str, medium: Medium) -> MigrationTarget<'_> {
        MigrationTarget {
            mount_id,
            vid,
            medium,
            limits: FileLimits::default(),
        }
    }

    fn written(file_id: u64, fseq: u64) -> MigrationReport {
        MigrationReport::Written(ArchivedFile {
            file_id,
            fseq,
            block_id: 1 + 6 * (fseq - 1),
            block_size: 256 * 1024,
            size: 10,
            crc32c: 7,
        })
    }

    fn states(db: &mut SqliteScheduler, ids: &[u64]) -> Vec<&'static str> {
        db.file_status(ids)
            .unwrap()
            .into_iter()
            .map(|f| f.state.as_str())
            .collect()
    }

    #[test]
    fn only_flushed_files_are_committed() {
        let (_tmp, mut db, mount, vid, ids) = migration(3);
        let (tx, rx) = crossbeam_channel::unbounded();
        tx.send(written(ids[0], 1)).unwrap();
        tx.send(MigrationReport::Flushed).unwrap();
        tx.send(written(ids[1], 2)).unwrap();
        tx.send(MigrationReport::Failed(FailedFile {
            file_id: ids[2],
            failure: FileFailure::Final("gone".into()),
        }))
        .unwrap();
        drop(tx);
        let summary = run_migration_packer(&mut db, &target(mount, &vid, Medium::Tape), rx);
        assert_eq!(
            summary,
            MigrationReportSummary {
                archived: 1,
                failed: 1,
                commits: 2,
                unflushed: 1,
                errors: vec![],
            }
        );
        assert_eq!(states(&mut db, &ids), ["on_tape", "queued", "failed"]);
        assert_eq!(db.last_file(&vid).unwrap().unwrap().fseq, 1);
    }

    /// Hole 16: nothing written to a null drive is recorded as on tape.
    #[test]
    fn a_discarding_drive_commits_nothing_on_tape() {
        let (_tmp, mut db, mount, vid, ids) = migration(1);
        let (tx, rx) = crossbeam_channel::unbounded();
        tx.send(written(ids[0], 1)).unwrap();
        tx.send(MigrationReport::Flushed).unwrap();
        drop(tx);
        let summary = run_migration_packer(&mut db, &target(mount, &vid, Medium::Discarding), rx);
        assert_eq!((summary.archived, summary.failed), (0, 1));
        assert_eq!(states(&mut db, &ids), ["failed"]);
        assert!(db.tape_files(&vid).unwrap().is_empty());
    }

    #[test]
    fn tape_full_and_disable_reach_the_catalogue() {
        let (_tmp, mut db, mount, vid, _) = migration(1);
        let (tx, rx) = crossbeam_channel::unbounded();
        tx.send(MigrationReport::TapeFull).unwrap();
        tx.send(MigrationReport::DisableTape("labels disagree".into()))
            .unwrap();
        drop(tx);
        run_migration_packer(&mut db, &target(mount, &vid, Medium::Tape), rx);
        let tape = db.tape(&vid).unwrap();
        assert_eq!(tape.state, TapeState::Disabled);
        assert_eq!(tape.reason.as_deref(), Some("labels disagree"));
    }

    #[test]
    fn a_stale_mount_commits_nothing_and_says_so() {
        let (_tmp, mut db, mount, vid, ids) = migration(1);
        // The daemon closed the mount (the session was thought dead).
        db.end_mount(mount).unwrap();
        let (tx, rx) = crossbeam_channel::unbounded();
        tx.send(written(ids[0], 1)).unwrap();
        tx.send(MigrationReport::Flushed).unwrap();
        drop(tx);
        let summary = run_migration_packer(&mut db, &target(mount, &vid, Medium::Tape), rx);
        assert_eq!(summary.archived, 0);
        assert_eq!(summary.errors.len(), 1, "{summary:?}");
        assert_eq!(states(&mut db, &ids), ["queued"]);
    }

    #[test]
    fn recall_results_are_committed_in_batches_and_at_the_end() {
        let (_tmp, mut db, mount, vid, ids) = migration(3);
        let (tx, rx) = crossbeam_channel::unbounded();
        for (i, id) in ids.iter().enumerate() {
            tx.send(written(*id, i as u64 + 1)).unwrap();
        }
        tx.send(MigrationReport::Flushed).unwrap();
        drop(tx);
        run_migration_packer(&mut db, &target(mount, &vid, Medium::Tape), rx);
        db.end_mount(mount).unwrap();
        let tickets: Vec<u64> = ids
            .iter()
            .map(|id| {
                db.queue_recall(crate::scheduler::LOCAL_OWNER, *id, &format!("/out/{id}"))
                    .unwrap()
                    .recall_id
            })
            .collect();
        let recall = db.next_mount("h", "d0", &now_policy()).unwrap().unwrap();
        db.fetch_recall_jobs(recall.id, 10, u64::MAX, None).unwrap();
        let (tx, rx) = crossbeam_channel::unbounded();
        let packer = std::thread::spawn(move || {
            let summary = run_recall_packer(&mut db, recall.id, 2, rx);
            (summary, db)
        });
        let (reply, answer) = crossbeam_channel::bounded(1);
        tx.send(RecallReport::Stage {
            recall_id: tickets[0],
            file: crate::scheduler::FileIdentity {
                dev: 1,
                ino: 2,
                mtime_ns: 3,
            },
            reply,
        })
        .unwrap();
        assert_eq!(
            answer.recv().unwrap(),
            Ok(()),
            "staged while the mount owns it"
        );
        for (recall_id, end) in [
            (tickets[0], RecallEnd::Done),
            (
                tickets[1],
                RecallEnd::Failed("checksum mismatch".to_string()),
            ),
            (tickets[2], RecallEnd::Done),
        ] {
            tx.send(RecallReport::Done(RecallResult { recall_id, end }))
                .unwrap();
        }
        drop(tx);
        let (summary, mut db) = packer.join().unwrap();
        assert_eq!((summary.recalled, summary.failed), (2, 1));
        let states: Vec<&str> = db
            .recall_status(&tickets)
            .unwrap()
            .into_iter()
            .map(|r| r.state.as_str())
            .collect();
        assert_eq!(states, ["done", "failed", "done"]);
    }
}
