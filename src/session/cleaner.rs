//! The cleaner session: after a session died or asked for it, it unloads
//! whatever is in the drive and puts the cartridge back in the library.
//! It reads VOL1 to make sure the cartridge is the one the library says;
//! if anything fails the parent puts the drive down and disables the tape,
//! so a bad cartridge cannot cause a mount loop.

use std::time::{Duration, Instant};

use crate::proto::session::SessionState;
use crate::tape::DriveError;
use crate::tape::format;

use super::{SessionContext, SessionEnd};

/// How long a cleaner waits for another process to let go of the drive.
const BUSY_WAIT: Duration = Duration::from_secs(60);
const BUSY_POLL: Duration = Duration::from_millis(100);
/// How long it waits for a move of the drive the library has under way (a
/// robot's queue can hold a move for minutes; the watchdog gives a
/// mounting session ten).
const MOVE_WAIT: Duration = Duration::from_secs(300);
const MOVE_POLL: Duration = Duration::from_millis(500);

/// Loads the drive, waiting while another process holds it: a session
/// killed a moment ago (its daemon gone with its forker, say) holds the
/// drive until the kernel has closed its files, and a cleaner that gave up
/// at once would put a good drive down and disable a good tape.
fn load_when_free(drive: &mut dyn crate::tape::TapeDrive, name: &str) -> Result<(), DriveError> {
    let deadline = Instant::now() + BUSY_WAIT;
    let mut said = false;
    loop {
        match drive.load() {
            Err(DriveError::Busy { .. }) if Instant::now() < deadline => {
                if !said {
                    tracing::warn!(drive = %name, wait_s = BUSY_WAIT.as_secs(), "cleaner: another process holds the drive (a session still dying?): waiting for the drive");
                    said = true;
                }
                std::thread::sleep(BUSY_POLL);
            }
            other => return other,
        }
    }
}

/// The library once no mount or dismount of `drive` waits or is under way
/// in it: the session that died may have asked for one the controller
/// still carries out, and a drive read as empty meanwhile would be loaded
/// a moment later behind the cleaner's back.
fn settled(
    changer: &dyn crate::library::MediaChanger,
    drive: &str,
) -> Result<crate::library::LibraryStatus, String> {
    let deadline = Instant::now() + MOVE_WAIT;
    let mut said = false;
    loop {
        let status = changer
            .status()
            .map_err(|e| format!("cannot read the library: {e}"))?;
        if !status.changing.iter().any(|d| d == drive) {
            return Ok(status);
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "a mount or dismount of the drive is still under way in the library after {} s",
                MOVE_WAIT.as_secs()
            ));
        }
        if !said {
            tracing::warn!(
                drive,
                wait_s = MOVE_WAIT.as_secs(),
                "cleaner: a mount or dismount of the drive is under way in the library: waiting for it to end"
            );
            said = true;
        }
        std::thread::sleep(MOVE_POLL);
    }
}

pub fn run(ctx: &SessionContext) -> SessionEnd {
    ctx.with_reporter(|status| clean(ctx, status))
}

fn clean(ctx: &SessionContext, status: &super::status_reporter::StatusHandle) -> SessionEnd {
    let spec = &ctx.spec;
    let mut drive = ctx.open_drive();
    let changer = ctx.open_changer(drive.as_ref());
    status.state(SessionState::Mounting);
    let in_library = match settled(changer.as_ref(), &spec.drive) {
        Ok(s) => s
            .drives
            .into_iter()
            .find(|(d, _)| *d == spec.drive)
            .and_then(|(_, vid)| vid),
        Err(e) => return SessionEnd::DriveDown(e),
    };
    tracing::info!(drive = %spec.drive, library_says = in_library.as_deref().unwrap_or("empty"), expected = %spec.vid, "cleaner started");
    match load_when_free(drive.as_mut(), &spec.drive) {
        Err(DriveError::NoCartridge { .. }) => {
            let Some(vid) = in_library else {
                tracing::info!(drive = %spec.drive, "cleaner: the drive is empty");
                return SessionEnd::Done;
            };
            // The library still lists a cartridge the drive does not hold: finish the move.
            return match changer.dismount(&vid, &spec.drive) {
                Ok(()) => SessionEnd::Done,
                Err(e) => SessionEnd::DriveDown(format!("cannot dismount {vid}: {e}")),
            };
        }
        Err(e @ DriveError::BadCartridge { .. }) => {
            // Never opened, so nothing to unload: put it back, disable the tape.
            let vid = in_library.unwrap_or_else(|| spec.vid.clone());
            return match changer.dismount(&vid, &spec.drive) {
                Ok(()) => SessionEnd::TapeUnusable(format!("cartridge {vid} is unusable: {e}")),
                Err(d) => SessionEnd::DriveDown(format!(
                    "cartridge {vid} is unusable ({e}) and cannot be dismounted: {d}"
                )),
            };
        }
        Err(e) => return SessionEnd::DriveDown(format!("cleaner cannot load the drive: {e}")),
        Ok(()) => {}
    }
    status.state(SessionState::Positioning);
    let vol1 = format::read_vol1(&mut *drive);
    let expected = in_library.clone().unwrap_or_else(|| spec.vid.clone());
    let check = match &vol1 {
        Ok(v) if expected.is_empty() || v.vid == expected => Ok(()),
        Ok(v) => Err(format!(
            "the drive holds {} but {expected} was expected",
            v.vid
        )),
        Err(e) => Err(format!("cannot read VOL1: {e}")),
    };
    status.state(SessionState::Unmounting);
    if let Err(e) = drive.unload() {
        return SessionEnd::DriveDown(format!("cleaner cannot unload: {e}"));
    }
    let vid = in_library.or_else(|| vol1.as_ref().ok().map(|v| v.vid.clone()));
    if let Some(vid) = &vid
        && let Err(e) = changer.dismount(vid, &spec.drive)
    {
        return SessionEnd::DriveDown(format!("cannot dismount {vid}: {e}"));
    }
    match check {
        Ok(()) => {
            tracing::info!(drive = %spec.drive, vid = vid.as_deref().unwrap_or(""), "cleaner: cartridge unloaded and put back");
            SessionEnd::Done
        }
        Err(reason) => SessionEnd::DriveDown(reason),
    }
}
