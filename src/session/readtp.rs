//! The readtp session: the operator's direct read of tape files by fSeq,
//! without the catalogue. Like CASTOR's readtp it positions relatively,
//! spacing three file marks per file from the beginning of the tape, checks
//! each file's labels, writes it to `DEST_DIR/VID.FSEQ`, and halts at the
//! first error.

use std::ffi::{OsStr, OsString};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::proto::session::{SessionSpec, SessionState};
use crate::scheduler::MountKind;
use crate::tape::drive::{LBP_CRC_LEN, lbp_open};
use crate::tape::{ReadOutcome, TapeDrive, format};

use super::beneath::Dir;
use super::staged_file::Staged;
use super::status_reporter::StatusHandle;
use super::tape_mount::{self, TapeStats};
use super::{SessionContext, SessionEnd};

/// Name of the file readtp writes for one fSeq.
pub fn output_name(vid: &str, fseq: u64) -> String {
    format!("{vid}.{fseq}")
}

pub fn run(ctx: &SessionContext) -> SessionEnd {
    let spec = &ctx.spec;
    ctx.with_reporter(|status| match ctx.open_scheduler() {
        Err(e) => SessionEnd::Failed(format!("cannot open the scheduler: {e}")),
        Ok(mut db) => match db.claim_tape(&spec.host, &spec.drive, &spec.vid, MountKind::Readtp) {
            Err(e) => SessionEnd::Failed(e.to_string()),
            Ok(claim) => {
                let end = read(ctx, status);
                if let Err(e) = db.end_mount(claim) {
                    tracing::error!(error = %e, "cannot close the readtp mount");
                }
                end
            }
        },
    })
}

fn read(ctx: &SessionContext, status: &StatusHandle) -> SessionEnd {
    let spec = &ctx.spec;
    let vid = spec.vid.as_str();
    if spec.first_fseq == 0 || spec.last_fseq < spec.first_fseq {
        return SessionEnd::Failed(format!(
            "bad fSeq range {}-{}",
            spec.first_fseq, spec.last_fseq
        ));
    }
    let mut drive = ctx.open_drive();
    let changer = ctx.open_changer(drive.as_ref());
    let mut stats = TapeStats::default();
    tape_mount::on_mounted_tape(
        &*changer,
        &mut *drive,
        vid,
        &spec.drive,
        status,
        &mut stats,
        |drive, _| match read_files(spec, drive, status) {
            Ok(files) => {
                tracing::info!(vid, files, dest = %spec.dest_dir, "readtp done");
                SessionEnd::Done
            }
            Err(reason) => SessionEnd::Failed(reason),
        },
    )
    .for_operator()
}

fn read_files(
    spec: &SessionSpec,
    drive: &mut dyn TapeDrive,
    status: &StatusHandle,
) -> Result<u64, String> {
    let vid = spec.vid.as_str();
    status.state(SessionState::Positioning);
    format::check_vol1(drive, vid).map_err(|e| e.to_string())?;
    // Three file marks per file: HDR1 of fSeq n follows 3(n-1) of them.
    let skip = 3 * (spec.first_fseq - 1);
    if skip > 0 {
        drive
            .space_filemarks(skip as i64)
            .map_err(|e| format!("cannot reach fSeq {}: {e}", spec.first_fseq))?;
    }
    let roots: Vec<PathBuf> = spec.recall_roots.iter().map(PathBuf::from).collect();
    let dir =
        Dir::beneath(&roots, Path::new(&spec.dest_dir), "recall").map_err(|e| e.to_string())?;
    let mut files = 0;
    for fseq in spec.first_fseq..=spec.last_fseq {
        let name = OsString::from(output_name(vid, fseq));
        // Each file appears whole or not at all; a failure removes only
        // what this session created, never a file that was there.
        if let Err(reason) = read_one(drive, vid, fseq, &dir, &name, status) {
            return Err(format!(
                "fSeq {fseq}: {reason} (halted after {files} files)"
            ));
        }
        files += 1;
        status.add_file();
    }
    Ok(files)
}

fn read_one(
    drive: &mut dyn TapeDrive,
    vid: &str,
    fseq: u64,
    dir: &Dir,
    name: &OsStr,
    status: &StatusHandle,
) -> Result<(), String> {
    let dest = dir.path().join(name);
    if dir.stat(name).map_err(|e| e.to_string())?.is_some() {
        return Err(format!(
            "{}: already exists (readtp never replaces a file)",
            dest.display()
        ));
    }
    status.state(SessionState::Positioning);
    let header = format::read_header_labels(drive, vid).map_err(|e| e.to_string())?;
    if header.fseq != fseq {
        return Err(format!("the labels say fSeq {}", header.fseq));
    }
    let mut staged = Staged::create(dir, &name.to_string_lossy()).map_err(|e| e.to_string())?;
    let out = staged.file();
    status.state(SessionState::Transferring);
    // UHL1 comes from the tape: never allocate past the largest block.
    let block_size = header.block_size.min(crate::units::MAX_BLOCK_SIZE);
    let mut buf = vec![0u8; block_size as usize + LBP_CRC_LEN];
    let mut blocks = 0u64;
    loop {
        match drive.read_block(&mut buf).map_err(|e| e.to_string())? {
            ReadOutcome::FileMark => break,
            ReadOutcome::EndOfData => return Err("end of data inside the file".into()),
            ReadOutcome::Data(n) => {
                let payload = lbp_open(&buf[..n])
                    .ok_or_else(|| format!("block {blocks} failed its CRC32C check"))?;
                out.write_all(payload)
                    .map_err(|e| format!("{}: {e}", dest.display()))?;
                status.add_bytes(payload.len() as u64);
                blocks += 1;
            }
        }
    }
    let trailer = format::read_trailer_labels(drive, vid).map_err(|e| e.to_string())?;
    if trailer.fseq != fseq
        || trailer.file_id != header.file_id
        || trailer.block_count != blocks % 1_000_000
    {
        return Err(format!(
            "trailer labels disagree: fSeq {} file {:X}, {} blocks; read {blocks} blocks",
            trailer.fseq, trailer.file_id, trailer.block_count
        ));
    }
    // An operator's copy: the default a recall of a file without kept
    // permissions gets.
    staged
        .set_permissions(0o640, None)
        .map_err(|e| e.to_string())?;
    staged.place(name).map_err(|e| e.to_string())
}
