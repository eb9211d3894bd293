//! The verify session: reads a tape's live files (or the sample its
//! request asked for) back against the catalogue, writing nothing to disk.
//! Each file is located by its block id, its labels checked against the
//! catalogue's fSeq and file id, every block's CRC32C (logical block
//! protection) checked, and the whole file's size and CRC32C compared with
//! the catalogue's; its trailer must agree. A file that fails is a bad
//! copy, kept with its reason, and the session goes on with the next; the
//! results are reported in one transaction at the end.

use std::time::Instant;

use crate::proto::session::SessionState;
use crate::scheduler::{BadCopy, VerifyJob};
use crate::tape::drive::{LBP_CRC_LEN, lbp_open};
use crate::tape::{ReadOutcome, TapeDrive, format};

use super::status_reporter::StatusHandle;
use super::tape_mount::{self, TapeStats};
use super::{SessionContext, SessionEnd};

pub fn run(ctx: &SessionContext) -> SessionEnd {
    let spec = &ctx.spec;
    let vid = spec.vid.as_str();
    ctx.with_reporter(|status| {
        let mut db = match ctx.open_scheduler() {
            Ok(db) => db,
            Err(e) => return SessionEnd::SchedulerUnavailable(e.to_string()),
        };
        let jobs = match db.fetch_verify_jobs(spec.mount_id) {
            Ok(jobs) => jobs,
            Err(e) => return SessionEnd::SchedulerUnavailable(e.to_string()),
        };
        let started = Instant::now();
        let mut drive = ctx.open_drive();
        let changer = ctx.open_changer(drive.as_ref());
        let mut stats = TapeStats::default();
        let mut bad: Vec<BadCopy> = Vec::new();
        let mut bytes = 0u64;
        // The fSeq of the last file read when the session yielded its
        // drive to user work (None: it read all it was given).
        let mut yielded_after: Option<u64> = None;
        let mut read = 0usize;
        let end = tape_mount::on_mounted_tape(
            &*changer,
            &mut *drive,
            vid,
            &spec.drive,
            status,
            &mut stats,
            |drive, _| {
                status.state(SessionState::Positioning);
                if let Err(e) = format::check_vol1(drive, vid) {
                    return SessionEnd::TapeUnusable(e.to_string());
                }
                let mut last_fseq = 0;
                for job in &jobs {
                    // A verification is background work: it gives its drive
                    // to user work between two files, and goes on later.
                    if super::yield_requested() {
                        tracing::info!(vid, files_read = read, through_fseq = last_fseq, "pre-empted: the verification yields its drive at a file boundary");
                        yielded_after = Some(last_fseq);
                        break;
                    }
                    last_fseq = job.fseq;
                    read += 1;
                    match verify_one(drive, vid, job, status) {
                        Ok(n) => bytes += n,
                        Err(reason) => {
                            tracing::warn!(vid, fseq = job.fseq, file_id = job.file_id, reason = %reason, "bad copy");
                            bad.push(BadCopy {
                                file_id: job.file_id,
                                fseq: job.fseq,
                                reason,
                            });
                        }
                    }
                    status.add_file();
                }
                SessionEnd::Done
            },
        );
        let end = if matches!(end, SessionEnd::Done) {
            let reported = match yielded_after {
                Some(through) => db.yield_verify(spec.mount_id, vid, &bad, through),
                None => db.report_verify(spec.mount_id, vid, &bad),
            };
            match reported {
                Ok(()) => SessionEnd::Done,
                Err(e) => SessionEnd::SchedulerUnavailable(e.to_string()),
            }
        } else {
            end
        };
        let seconds = started.elapsed().as_secs_f64();
        tracing::info!(
            kind = "verify",
            vid,
            drive = %spec.drive,
            files = read,
            bad = bad.len(),
            bytes,
            preempted = yielded_after.is_some(),
            mb_per_s = %format!("{:.1}", crate::util::mb_per_s(bytes, seconds)),
            total_s = %format!("{seconds:.3}"),
            "session summary: verify of {vid} on {}: {read} of {} files, {} bad, {bytes} bytes",
            spec.drive,
            jobs.len(),
            bad.len()
        );
        end
    })
}

/// Reads one file back; the bytes read, or why its copy is bad.
fn verify_one(
    drive: &mut dyn TapeDrive,
    vid: &str,
    job: &VerifyJob,
    status: &StatusHandle,
) -> Result<u64, String> {
    status.state(SessionState::Positioning);
    drive
        .locate(job.block_id)
        .map_err(|e| format!("cannot locate block {}: {e}", job.block_id))?;
    let header = format::read_header_labels(drive, vid).map_err(|e| e.to_string())?;
    if (header.fseq, header.file_id) != (job.fseq, job.file_id) {
        return Err(format!(
            "block {} holds fSeq {} file {}, the catalogue says fSeq {} file {}",
            job.block_id, header.fseq, header.file_id, job.fseq, job.file_id
        ));
    }
    status.state(SessionState::Transferring);
    let block_size = header.block_size.min(crate::units::MAX_BLOCK_SIZE);
    let mut buf = vec![0u8; block_size as usize + LBP_CRC_LEN];
    let (mut blocks, mut size, mut crc) = (0u64, 0u64, 0u32);
    loop {
        match drive
            .read_block(&mut buf)
            .map_err(|e| format!("block {blocks} of the file: {e}"))?
        {
            ReadOutcome::FileMark => break,
            ReadOutcome::EndOfData => return Err("end of data inside the file".into()),
            ReadOutcome::Data(n) => {
                let payload = lbp_open(&buf[..n])
                    .ok_or_else(|| format!("block {blocks} of the file failed its CRC32C check"))?;
                crc = crc32c::crc32c_append(crc, payload);
                size += payload.len() as u64;
                status.add_bytes(payload.len() as u64);
                blocks += 1;
            }
        }
    }
    if size != job.size {
        return Err(format!(
            "{size} bytes on tape, the catalogue says {}",
            job.size
        ));
    }
    if let Some(want) = job.crc32c
        && want != crc
    {
        return Err(format!(
            "CRC32C {crc:08x} on tape, the catalogue says {want:08x}"
        ));
    }
    let trailer = format::read_trailer_labels(drive, vid).map_err(|e| e.to_string())?;
    if trailer.fseq != job.fseq || trailer.file_id != job.file_id {
        return Err(format!(
            "trailer labels say fSeq {} file {}",
            trailer.fseq, trailer.file_id
        ));
    }
    Ok(size)
}
