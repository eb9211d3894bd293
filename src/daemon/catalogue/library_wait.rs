//! Decisions about a drive that wait for the library to say what the drive
//! holds (read by the library worker, off the event loop). Until the
//! reading comes, the drive gets no session: at start (a cartridge a
//! previous run left), after a session that left the drive down (is the
//! cartridge still in it?), and on `tpconfig up` of a down drive (does it
//! need a cleaner first?).

use super::{Catalogue, ReplyTo};

/// Why a drive waits for a reading.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Waiting {
    /// The daemon started: a cleaner if a cartridge is in the drive, else
    /// the drive's stale mounts are closed.
    Recovery,
    /// A session left the drive down: its mounts close only once the drive
    /// is known empty; until then they hold the tape.
    Down,
    /// An operator asked for the drive up: a cleaner first if it holds a
    /// cartridge; refused if the library cannot say.
    Up(ReplyTo),
}

/// A waiting decision: taken on the first reading numbered `after` or later.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LibraryWait {
    pub why: Waiting,
    pub after: u64,
    /// The drive's work was requeued with its mounts kept open (once).
    pub held: bool,
}

impl Catalogue {
    /// The drive waits for reading `after` before `why` is decided.
    pub fn await_library(&mut self, name: &str, why: Waiting, after: u64, held: bool) {
        if let Some(drive) = self.drives.get_mut(name) {
            tracing::info!(drive = name, reason = ?why, "waiting for the library to say what the drive holds");
            drive.library_wait = Some(LibraryWait { why, after, held });
        }
    }

    /// Takes out every wait the reading numbered `covers` answers.
    pub fn library_waits_due(&mut self, covers: u64) -> Vec<(String, LibraryWait)> {
        self.drives
            .values_mut()
            .filter(|d| d.library_wait.as_ref().is_some_and(|w| w.after <= covers))
            .filter_map(|d| Some((d.config.name.clone(), d.library_wait.take()?)))
            .collect()
    }

    /// Puts back a wait the reading could not decide (the drive is still
    /// unknown): the next reading decides it.
    pub fn keep_waiting(&mut self, name: &str, wait: LibraryWait) {
        if let Some(drive) = self.drives.get_mut(name) {
            drive.library_wait = Some(wait);
        }
    }

    /// The drive's decision waits for the library.
    pub fn waits_for_library(&self, name: &str) -> bool {
        self.drives
            .get(name)
            .is_some_and(|d| d.library_wait.is_some())
    }
}
