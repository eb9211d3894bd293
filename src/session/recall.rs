//! The recall session: the mirror image of a migration. The tape read thread
//! fills blocks in fSeq order (in the time model's recommended access order
//! when the library has one), the disk write pool writes and verifies the
//! files, and the report packer reports them in batches.

use std::time::Instant;

use crossbeam_channel::unbounded;

use super::access_order::AccessOrder;
use super::disk_write::{DiskWritePool, DiskWriteTask, Writers};
use super::injector::TaskInjector;
use super::memory::BlockPool;
use super::report_packer::run_recall_packer;
use super::status_reporter::StatusHandle;
use super::tape_read::{TapeReadTask, TapeReadThread};
use super::{SessionContext, SessionEnd, TapeStats};

pub fn run(ctx: &SessionContext) -> SessionEnd {
    ctx.with_reporter(|status| recall(ctx, status))
}

fn recall(ctx: &SessionContext, status: &StatusHandle) -> SessionEnd {
    let started = Instant::now();
    let spec = &ctx.spec;
    let t = ctx.tuning;
    let status = status.clone();
    let [mut main_db, mut injector_db, mut packer_db] = match ctx.open_connections() {
        Ok(connections) => connections,
        Err(end) => return end,
    };
    let pool = BlockPool::new(t.block_count as usize, t.block_size as usize);
    let (disk_tx, disk_rx) = unbounded::<DiskWriteTask>();
    let mount_id = spec.mount_id;
    // With a time model, each batch is read in the model's shortest-locate
    // order; otherwise in fSeq order.
    let mut access = crate::tape::time_model::profile(&spec.time_model).map(AccessOrder::new);
    let (injector, mut feed) = TaskInjector::new(
        move |files, bytes| {
            let jobs = injector_db.fetch_recall_jobs(mount_id, files, bytes)?;
            Ok(match &mut access {
                Some(order) => order.order(jobs),
                None => jobs,
            })
        },
        // The disk side of a file is handed to the disk writers only when
        // the tape thread starts reading it: a file fetched but never read
        // (the mount failed, the session yielded) is left to the mount's
        // end to requeue, not taken for an empty read.
        move |job: crate::scheduler::RecallJob| {
            let (tx, rx) = unbounded();
            TapeReadTask {
                job: job.clone(),
                blocks: tx,
                disk: DiskWriteTask { job, blocks: rx },
            }
        },
        t.bulk_files,
        t.bulk_bytes,
    );
    let mut injector = match ctx.linger() {
        Some(linger) => injector.with_linger(linger),
        None => injector,
    };
    if let Err(end) = ctx.first_request(&mut injector, &mut *main_db) {
        return end;
    }
    let (result_tx, result_rx) = unbounded();
    let requests = feed.take_requests();
    let (end, stats, summary) = std::thread::scope(|scope| {
        let batch = t.report_batch_files as usize;
        let packer_db = &mut packer_db;
        let packer = std::thread::Builder::new()
            .name("report-packer".into())
            .spawn_scoped(
                scope,
                super::in_span(move || {
                    run_recall_packer(&mut **packer_db, mount_id, batch, result_rx)
                }),
            );
        let injector_thread = requests.and_then(|requests| {
            std::thread::Builder::new()
                .name("task-injector".into())
                .spawn_scoped(scope, super::in_span(move || injector.run(requests)))
                .ok()
        });
        let disk = DiskWritePool::start(
            t.disk_threads as usize,
            disk_rx,
            Writers {
                pool: pool.clone(),
                reports: result_tx,
                status: status.clone(),
                roots: std::sync::Arc::new(
                    spec.recall_roots
                        .iter()
                        .map(std::path::PathBuf::from)
                        .collect(),
                ),
                retry_after: std::time::Duration::from_millis(if t.recall_retry_ms == 0 {
                    300_000
                } else {
                    t.recall_retry_ms
                }),
            },
        );
        let drive = ctx.open_drive();
        let changer = ctx.open_changer(drive.as_ref());
        let tape = TapeReadThread {
            background: spec.background,
            disk: disk_tx,
            drive,
            changer,
            drive_name: spec.drive.clone(),
            vid: spec.vid.clone(),
            pool,
            status: status.clone(),
        };
        let tape_thread = std::thread::Builder::new()
            .name("tape-read".into())
            .spawn_scoped(scope, super::in_span(move || tape.run(feed)));
        let (end, stats) = match tape_thread.map(|t| t.join()) {
            Ok(Ok(result)) => result,
            _ => (
                SessionEnd::NeedsCleaner("the tape thread died".into()),
                TapeStats::default(),
            ),
        };
        if let Some(t) = injector_thread {
            let _ = t.join();
        }
        disk.join();
        let summary = packer.ok().and_then(|p| p.join().ok()).unwrap_or_default();
        (end, stats, summary)
    });
    ctx.close_mount(&mut *main_db, &end);
    ctx.log_summary(
        "recall",
        &stats,
        summary.recalled,
        summary.failed,
        &end,
        started.elapsed(),
    );
    end
}
