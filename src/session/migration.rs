//! The migration session: wires the task injector, disk read pool, tape
//! write thread, report packer and status reporter around one block pool.

use std::sync::Arc;
use std::time::Instant;

use crossbeam_channel::{bounded, unbounded};

use super::disk_read::{DiskReadPool, DiskReadTask, blocks_for};
use super::injector::TaskInjector;
use super::memory::{BlockPool, Turns};
use super::report_packer::{Medium, MigrationTarget, run_migration_packer};
use super::status_reporter::StatusHandle;
use super::tape_write::{TapeWriteTask, TapeWriteThread};
use super::{SessionContext, SessionEnd, TapeStats};
use crate::tape::aul::Writer as LabelWriter;

pub fn run(ctx: &SessionContext) -> SessionEnd {
    ctx.with_reporter(|status| migrate(ctx, status))
}

fn migrate(ctx: &SessionContext, status: &StatusHandle) -> SessionEnd {
    let started = Instant::now();
    let spec = &ctx.spec;
    let t = ctx.tuning;
    let status = status.clone();
    let [mut main_db, mut injector_db, mut packer_db] = match ctx.open_connections() {
        Ok(connections) => connections,
        Err(end) => return end,
    };
    let block_size = t.block_size as usize;
    let pool = BlockPool::new(t.block_count as usize, block_size);
    let turns = Arc::new(Turns::new());
    let (disk_tx, disk_rx) = unbounded::<DiskReadTask>();
    let mut seq = 0u64;
    let mount_id = spec.mount_id;
    let (injector, mut feed) = TaskInjector::new(
        move |files, bytes| injector_db.fetch_archive_jobs(mount_id, files, bytes),
        move |job| {
            let (tx, rx) = bounded(blocks_for(job.size, block_size) as usize);
            let _ = disk_tx.send(DiskReadTask {
                job: job.clone(),
                seq,
                blocks: tx,
            });
            seq += 1;
            TapeWriteTask { job, blocks: rx }
        },
        t.bulk_files,
        t.bulk_bytes,
    );
    let injector = match ctx.linger() {
        Some(linger) => injector.with_linger(linger),
        None => injector,
    };
    let mut injector = injector;
    if let Err(end) = ctx.first_request(&mut injector, &mut *main_db) {
        return end;
    }
    let last_file = match main_db.last_file(&spec.vid) {
        Ok(last) => last,
        Err(e) => {
            drop((injector, feed));
            return ctx.scheduler_unavailable(&mut *main_db, &e);
        }
    };
    // A reclaimed tape the catalogue holds nothing on is written over.
    let reclaimed = match last_file {
        Some(_) => false,
        None => match main_db.tape(&spec.vid) {
            Ok(t) => t.reclaimed > 0,
            Err(e) => {
                drop((injector, feed));
                return ctx.scheduler_unavailable(&mut *main_db, &e);
            }
        },
    };
    let (abort_tx, abort_rx) = bounded::<()>(0);
    let (report_tx, report_rx) = unbounded();
    let requests = feed.take_requests();
    let vid = spec.vid.clone();
    let medium = if spec.drive_kind == "null" {
        Medium::Discarding
    } else {
        Medium::Tape
    };
    let (end, stats, summary) = std::thread::scope(|scope| {
        let packer = std::thread::Builder::new()
            .name("report-packer".into())
            .spawn_scoped(
                scope,
                super::in_span(|| {
                    let target = MigrationTarget {
                        mount_id,
                        vid: &vid,
                        medium,
                        limits: ctx.limits,
                    };
                    run_migration_packer(&mut *packer_db, &target, report_rx)
                }),
            );
        let injector_thread = requests.and_then(|requests| {
            std::thread::Builder::new()
                .name("task-injector".into())
                .spawn_scoped(scope, super::in_span(move || injector.run(requests)))
                .ok()
        });
        let disk = DiskReadPool::start(
            t.disk_threads as usize,
            disk_rx,
            pool.clone(),
            turns,
            abort_rx,
            std::sync::Arc::new(
                spec.archive_roots
                    .iter()
                    .map(std::path::PathBuf::from)
                    .collect(),
            ),
        );
        let drive = ctx.open_drive();
        let labels = LabelWriter::new(&spec.site, &spec.host, drive.info());
        let changer = ctx.open_changer(drive.as_ref());
        let tape = TapeWriteThread {
            drive,
            changer,
            drive_name: spec.drive.clone(),
            vid: spec.vid.clone(),
            last_file,
            reclaimed,
            block_size: t.block_size,
            flush_files: t.flush_files,
            flush_bytes: t.flush_bytes,
            labels,
            pool,
            reports: report_tx,
            status: status.clone(),
            abort: abort_tx,
        };
        let tape_thread = std::thread::Builder::new()
            .name("tape-write".into())
            .spawn_scoped(scope, super::in_span(move || tape.run(feed)));
        let (end, stats) = match tape_thread.map(|t| t.join()) {
            Ok(Ok(result)) => result,
            _ => (
                SessionEnd::NeedsCleaner("the tape thread died".into()),
                TapeStats::default(),
            ),
        };
        disk.join();
        if let Some(t) = injector_thread {
            let _ = t.join();
        }
        let summary = packer.ok().and_then(|p| p.join().ok()).unwrap_or_default();
        (end, stats, summary)
    });
    ctx.close_mount(&mut *main_db, &end);
    ctx.log_summary(
        "migration",
        &stats,
        summary.archived,
        summary.failed,
        &end,
        started.elapsed(),
    );
    if summary.unflushed > 0 {
        tracing::warn!(
            files = summary.unflushed,
            "files written after the last flush were not reported and are requeued"
        );
    }
    end
}
