//! Mounting and unmounting, shared by the tape threads, and the timings the
//! session summary reports.

use std::time::{Duration, Instant};

use crate::library::{ChangerError, MediaChanger};
use crate::proto::session::SessionState;
use crate::tape::{DriveError, TapeDrive};

use super::status_reporter::StatusHandle;

pub use super::end::SessionEnd;

/// Where the tape thread's time went.
#[derive(Debug, Default, Clone)]
pub struct TapeStats {
    pub mounting: Duration,
    pub positioning: Duration,
    pub transferring: Duration,
    /// Waiting for the disk side (blocks to write, or free blocks to read into).
    pub waiting_disk: Duration,
    /// Inside drive calls while transferring.
    pub waiting_tape: Duration,
    pub unmounting: Duration,
    pub files: u64,
    pub bytes: u64,
    pub flushes: u64,
    pub errors: u64,
    /// A background session that ended early to give its drive to user work.
    pub yielded: bool,
}

/// Mounts the tape, runs `body` on it and unmounts it: the outcome is the
/// worse of the body's and the unmount's. Every tape session goes through here.
pub fn on_mounted_tape(
    changer: &dyn MediaChanger,
    drive: &mut dyn TapeDrive,
    vid: &str,
    drive_name: &str,
    status: &StatusHandle,
    stats: &mut TapeStats,
    body: impl FnOnce(&mut dyn TapeDrive, &mut TapeStats) -> SessionEnd,
) -> SessionEnd {
    if let Err(end) = mount(changer, drive, vid, drive_name, status, stats) {
        return end;
    }
    let end = body(drive, stats);
    end.worst(unmount(changer, drive, vid, drive_name, status, stats))
}

/// Mounts `vid` into the drive and waits for it to be ready.
fn mount(
    changer: &dyn MediaChanger,
    drive: &mut dyn TapeDrive,
    vid: &str,
    drive_name: &str,
    status: &StatusHandle,
    stats: &mut TapeStats,
) -> Result<(), SessionEnd> {
    status.state(SessionState::Mounting);
    let started = Instant::now();
    let result = changer
        .mount(vid, drive_name)
        .map_err(|e| match e {
            // A cartridge the library does not hold is the tape's problem
            // (or an operator's typo), never the drive's.
            ChangerError::NotInLibrary(_) | ChangerError::UnknownVid(_) => {
                SessionEnd::NotInLibrary(format!("cannot mount {vid}: {e}"))
            }
            e => SessionEnd::DriveDown(format!("cannot mount {vid}: {e}")),
        })
        .and_then(|()| match drive.load() {
            Ok(()) => Ok(()),
            // The drive refused the cartridge without opening it: put it back
            // and have the tape disabled; the drive is fine.
            Err(e @ DriveError::BadCartridge { .. }) => {
                tracing::error!(vid, drive = drive_name, error = %e, "the cartridge failed validation");
                Err(match changer.dismount(vid, drive_name) {
                    Ok(()) => SessionEnd::TapeUnusable(format!("cartridge {vid} is unusable: {e}")),
                    Err(d) => SessionEnd::DriveDown(format!(
                        "cartridge {vid} is unusable ({e}) and cannot be dismounted: {d}"
                    )),
                })
            }
            // The drive cannot read back what it would write: the drive's
            // fault, not the tape's. Put the cartridge back, put the drive down.
            Err(e @ DriveError::ReadBack { .. }) => {
                tracing::error!(vid, drive = drive_name, error = %e, "the drive fails its read-back check: it must not write");
                let home = drive
                    .unload()
                    .map_err(|u| u.to_string())
                    .and_then(|()| changer.dismount(vid, drive_name).map_err(|d| d.to_string()));
                Err(SessionEnd::DriveDown(match home {
                    Ok(()) => e.to_string(),
                    Err(d) => format!("{e}; and {vid} cannot be put back: {d}"),
                }))
            }
            Err(e) => Err(SessionEnd::NeedsCleaner(format!(
                "cartridge {vid} did not load: {e}"
            ))),
        });
    stats.mounting = started.elapsed();
    if result.is_ok() {
        tracing::info!(
            vid,
            drive = drive_name,
            seconds = stats.mounting.as_secs_f64(),
            "tape mounted"
        );
    }
    result
}

/// Unloads the cartridge and puts it back in its slot.
fn unmount(
    changer: &dyn MediaChanger,
    drive: &mut dyn TapeDrive,
    vid: &str,
    drive_name: &str,
    status: &StatusHandle,
    stats: &mut TapeStats,
) -> SessionEnd {
    status.state(SessionState::Unmounting);
    let started = Instant::now();
    let end = match drive.unload() {
        Err(e) => SessionEnd::NeedsCleaner(format!("cannot unload {vid}: {e}")),
        Ok(()) => match changer.dismount(vid, drive_name) {
            Ok(()) => SessionEnd::Done,
            Err(e) => SessionEnd::DriveDown(format!("cannot dismount {vid}: {e}")),
        },
    };
    stats.unmounting = started.elapsed();
    tracing::info!(
        vid,
        drive = drive_name,
        seconds = stats.unmounting.as_secs_f64(),
        "tape unmounted"
    );
    end
}
