//! The label session (`tplabel`): writes `VOL1 HDR1(PRELABEL) TM` to a
//! cartridge. A cartridge with catalogued files is refused unless forced;
//! forced, its files are marked lost in the catalogue before the label
//! destroys them.

use crate::proto::session::SessionState;
use crate::scheduler::{MountKind, SchedulerError};
use crate::tape::format;

use super::tape_mount::{self, TapeStats};
use super::{SessionContext, SessionEnd};

pub fn run(ctx: &SessionContext) -> SessionEnd {
    ctx.with_reporter(|status| match ctx.open_scheduler() {
        Ok(mut db) => label(ctx, &mut *db, status),
        Err(e) => SessionEnd::Failed(format!("cannot open the scheduler: {e}")),
    })
}

fn label(
    ctx: &SessionContext,
    db: &mut dyn crate::scheduler::Scheduler,
    status: &super::status_reporter::StatusHandle,
) -> SessionEnd {
    let spec = &ctx.spec;
    let vid = spec.vid.as_str();
    if let Err(e) = crate::tape::aul::check_vid(vid) {
        return SessionEnd::Failed(format!("{vid:?} is not a valid VID: {e}"));
    }
    if !spec.pool.is_empty()
        && let Err(e) = register_new(db, vid, &spec.pool, spec.capacity, || {
            let drive = ctx.open_drive();
            let status = ctx.open_changer(drive.as_ref()).status();
            status
                .map(|s| s.holds(vid))
                .map_err(|e| format!("cannot ask the library whether it holds {vid}: {e}"))
        })
    {
        return SessionEnd::Failed(e);
    }
    let claim = match db.claim_tape(&spec.host, &spec.drive, vid, MountKind::Label) {
        Ok(id) => id,
        Err(e @ (SchedulerError::TapeBusy(_) | SchedulerError::UnknownTape(_))) => {
            return SessionEnd::Failed(e.to_string());
        }
        Err(e) => return SessionEnd::Failed(format!("cannot reserve {vid}: {e}")),
    };
    let end = label_claimed(ctx, db, status, vid);
    if let Err(e) = db.end_mount(claim) {
        tracing::error!(error = %e, "cannot close the label mount");
    }
    end
}

/// A cartridge new to the catalogue goes into `pool`, disabled until its
/// label is written (the label's success makes it active; a failure leaves
/// it disabled with the reason, never a tape that looks writable and is
/// not). A known one must already be in `pool`. A VID the library does not
/// hold (a typo) is refused before anything is registered.
fn register_new(
    db: &mut dyn crate::scheduler::Scheduler,
    vid: &str,
    pool: &str,
    capacity: u64,
    in_library: impl FnOnce() -> Result<bool, String>,
) -> Result<(), String> {
    match db.tape(vid) {
        Ok(t) if t.pool == pool => Ok(()),
        Ok(t) => Err(format!(
            "tape {vid} is already in pool {}, not {pool}",
            t.pool
        )),
        Err(SchedulerError::UnknownTape(_)) => {
            if capacity == 0 {
                return Err(format!(
                    "a new tape needs its capacity (--capacity) to join pool {pool}"
                ));
            }
            if !in_library()? {
                return Err(format!(
                    "the library holds no cartridge {vid}: check the VID (tplib status lists the cartridges)"
                ));
            }
            db.add_tape(vid, pool, capacity)
                .and_then(|()| {
                    db.set_tape_state(
                        vid,
                        crate::scheduler::TapeState::Disabled,
                        "registered by tplabel: not labelled yet",
                    )
                })
                .map_err(|e| format!("cannot register {vid} in pool {pool}: {e}"))?;
            tracing::info!(
                vid,
                pool,
                capacity,
                "new cartridge registered; labelling it"
            );
            Ok(())
        }
        Err(e) => Err(format!("cannot look up tape {vid}: {e}")),
    }
}

fn label_claimed(
    ctx: &SessionContext,
    db: &mut dyn crate::scheduler::Scheduler,
    status: &super::status_reporter::StatusHandle,
    vid: &str,
) -> SessionEnd {
    let spec = &ctx.spec;
    let files = match db.tape(vid) {
        Ok(t) => t.files,
        Err(e) => return SessionEnd::Failed(e.to_string()),
    };
    if files > 0 && !spec.force {
        return SessionEnd::Failed(format!(
            "tape {vid} holds {files} catalogued files: refusing to label it (use --force to relabel and mark them lost)"
        ));
    }
    if files > 0 {
        // Before the label destroys them: the catalogue must never claim a file that is gone.
        match db.reset_tape(vid) {
            Ok(lost) => {
                tracing::warn!(vid, files = lost.len(), "relabel forced: files marked lost")
            }
            Err(e) => {
                return SessionEnd::Failed(format!("cannot mark the files of {vid} lost: {e}"));
            }
        }
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
        |drive, _| {
            status.state(SessionState::Transferring);
            match format::label_tape(drive, vid, "tapeserver") {
                Ok(()) => {
                    if files == 0
                        && let Err(e) = db.reset_tape(vid)
                    {
                        tracing::warn!(vid, error = %e, "cannot reset the tape's state after labelling");
                    }
                    tracing::info!(vid, drive = %spec.drive, "cartridge labelled");
                    SessionEnd::Done
                }
                Err(format::FormatError::Drive(e)) => {
                    SessionEnd::NeedsCleaner(format!("labelling {vid} failed: {e}"))
                }
                Err(e) => SessionEnd::Failed(format!("labelling {vid} failed: {e}")),
            }
        },
    )
    .for_operator()
}
