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
use crate::config::disk_buffer::Percent;

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
    // Opened first: a SCSI drive's generation gives the geometry the
    // recommended access order is worked out on.
    let drive = ctx.open_drive();
    let mut access = access_profile(spec, &drive.info().model).map(AccessOrder::new);
    // Each batch reserves its room in the disk buffer, measured afresh.
    let buffer = (!spec.buffer_path.is_empty()).then(|| {
        let high = u8::try_from(spec.buffer_high_watermark)
            .unwrap_or(100)
            .min(100);
        (std::path::PathBuf::from(&spec.buffer_path), Percent(high))
    });
    let (injector, mut feed) = TaskInjector::new(
        move |files, bytes| {
            let room = buffer
                .as_ref()
                .map(|(path, high)| crate::disk_buffer::room(path, *high));
            let jobs = injector_db.fetch_recall_jobs(mount_id, files, bytes, room)?;
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

/// The geometry each batch of recalls is ordered on (the shortest-locate
/// tour of `AccessOrder`): the library's time model, or a SCSI drive's own
/// generation from its INQUIRY product (LTO-8 to LTO-10, whose wraps the
/// model knows). None: fSeq order (a file-backed drive costs nothing to
/// position).
pub fn access_profile(
    spec: &crate::proto::session::SessionSpec,
    product: &str,
) -> Option<crate::tape::time_model::Profile> {
    if let Some(p) = crate::tape::time_model::profile(&spec.time_model) {
        return Some(p);
    }
    if spec.drive_kind != "scsi" {
        return None;
    }
    let generation = crate::tape::media::generation_of_product(product)?;
    crate::tape::time_model::profile(&format!("lto{generation}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::session::SessionSpec;

    #[test]
    fn recalls_are_ordered_on_the_model_or_the_scsi_drives_generation() {
        let spec = |kind: &str, model: &str| SessionSpec {
            drive_kind: kind.into(),
            time_model: model.into(),
            ..Default::default()
        };
        let name = |s: &SessionSpec, product: &str| access_profile(s, product).map(|p| p.name);
        assert_eq!(
            name(&spec("file", ""), ""),
            None,
            "a file drive: fSeq order"
        );
        assert_eq!(name(&spec("file", "lto9"), ""), Some("lto9"));
        assert_eq!(name(&spec("scsi", ""), "ULT3580-TD9"), Some("lto9"));
        assert_eq!(name(&spec("scsi", ""), "ULTRIUM-HH8"), Some("lto8"));
        assert_eq!(
            name(&spec("scsi", ""), "ULT3580-TD6"),
            None,
            "no geometry for LTO-6"
        );
        assert_eq!(name(&spec("scsi", ""), "VIRTUAL-TAPE"), None);
        assert_eq!(
            name(&spec("scsi", "lto10"), "ULT3580-TD9"),
            Some("lto10"),
            "the config first"
        );
    }
}
