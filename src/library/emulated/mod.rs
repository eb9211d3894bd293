//! An emulated SCSI media changer: what tests, demos and single-host
//! installations use where no robot exists. It answers the SMC commands a
//! real library answers (`device`), through the same `ScsiTransport` as a
//! real one, against persistent state on disk (`state`).
//!
//! Layout of a library directory:
//! - `library.json`: which cartridge is in which element, moves in flight;
//! - `library.lock`: held while the state is read or written;
//! - `pickers/N.lock`: held by the process moving a cartridge with picker N;
//! - `changer0`, `changer1`...: one file per changer path (what a config's
//!   `changers` names, as it would name `/dev/sg3`);
//! - `cartridges/VID/`: the file-backed cartridges;
//! - `faults/`: faults set by tests (`faults`).
//!
//! Drives are file-backed drives whose device directory gets a `cartridge`
//! link while the library says a cartridge is in them. Every access first
//! repairs what a killed process left: a move whose mover died goes back
//! (its cartridge returns to where it came from, so none is lost or
//! duplicated), and drive links are made to match the state.

pub mod device;
pub mod faults;
mod legacy;
mod moves;
pub mod state;

use std::fs::File;
use std::path::{Path, PathBuf};

pub use device::EmulatedChanger;
pub use moves::MoveFailure;
use state::{Cartridge, DriveSlot, State};

use crate::tape::FileDrive;
use crate::tape::file_drive::create_cartridge;

const STATE_FILE: &str = "library.json";
const LOCK_FILE: &str = "library.lock";
const PICKERS_DIR: &str = "pickers";
/// First line of a changer path's file: what makes it an emulated path.
pub const PATH_MAGIC: &str = "tapeserver emulated SCSI changer path";
/// Empty storage slots a new library keeps for dismounts and imports.
const SPARE_SLOTS: usize = 4;

#[derive(Debug, thiserror::Error)]
pub enum EmulationError {
    #[error("emulated library {path}: {op}: {source}")]
    Io {
        path: PathBuf,
        op: &'static str,
        source: std::io::Error,
    },
    #[error("emulated library {path}: the state file is unreadable: {reason}")]
    BadState { path: PathBuf, reason: String },
    #[error("{path} is not a changer path of an emulated library: {reason}")]
    NotAPath { path: PathBuf, reason: String },
    #[error("emulated library {path}: {reason}")]
    Invalid { path: PathBuf, reason: String },
}

/// What `create` puts in a library (added to what is there).
pub struct Layout<'a> {
    pub paths: usize,
    pub move_time_ms: u64,
    /// A move across the whole library (0: as `move_time_ms`).
    pub move_time_far_ms: u64,
    /// (drive name, which is also its serial number; device directory)
    pub drives: &'a [(String, PathBuf)],
    /// Volume tags of blank cartridges to add.
    pub barcodes: &'a [String],
    pub capacity: u64,
}

#[derive(Debug, Clone)]
pub struct EmulatedLibrary {
    root: PathBuf,
}

impl EmulatedLibrary {
    pub fn open(root: &Path) -> Self {
        Self {
            root: root.to_path_buf(),
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Whether `dir` holds a library state.
    pub fn exists(dir: &Path) -> bool {
        dir.join(STATE_FILE).exists()
    }

    /// The directory of the cartridge with this volume tag.
    pub fn cartridge_dir(root: &Path, barcode: &str) -> PathBuf {
        root.join("cartridges").join(super::vid_of(barcode))
    }

    /// The file of changer path `name` (what a config lists in `changers`).
    pub fn path_file(root: &Path, name: &str) -> PathBuf {
        root.join(name)
    }

    /// The library directory and path name behind a changer path's file.
    pub fn resolve_path(file: &Path) -> Result<(Self, String), EmulationError> {
        let not = |reason: String| EmulationError::NotAPath {
            path: file.to_path_buf(),
            reason,
        };
        let text = std::fs::read_to_string(file).map_err(|e| not(e.to_string()))?;
        if !text.starts_with(PATH_MAGIC) {
            return Err(not("it does not start with the emulated path marker".into()));
        }
        let (Some(root), Some(name)) = (file.parent(), file.file_name()) else {
            return Err(not("no directory".into()));
        };
        Ok((Self::open(root), name.to_string_lossy().into_owned()))
    }

    /// Creates the library, or adds to an existing one: paths, drives not
    /// yet known, and blank cartridges not yet present, each in a free slot.
    pub fn create(root: &Path, layout: &Layout<'_>) -> Result<Self, EmulationError> {
        let library = Self::open(root);
        for dir in ["cartridges", PICKERS_DIR, faults::DIR] {
            std::fs::create_dir_all(root.join(dir)).map_err(library.io("create directory"))?;
        }
        let serial = format!(
            "EMU{:08X}",
            crc32c::crc32c(root.as_os_str().as_encoded_bytes())
        );
        library.with_state_or(
            Some(State {
                move_time_far_ms: layout.move_time_far_ms,
                ..State::new(&serial, layout.paths, layout.move_time_ms)
            }),
            |state| library.add(state, layout),
        )?;
        let names = library.with_state(|s| Ok(s.paths.clone()))?;
        for name in names {
            let file = Self::path_file(root, &name);
            if !file.exists() {
                let text = format!(
                    "{PATH_MAGIC} {name}\n# A config's [library] changers lists this file as it would list /dev/sg3.\n"
                );
                crate::util::write_atomically(&file, text.as_bytes())
                    .map_err(library.io("write changer path"))?;
            }
        }
        Ok(library)
    }

    fn add(&self, state: &mut State, layout: &Layout<'_>) -> Result<(), EmulationError> {
        for (name, device) in layout.drives {
            std::fs::create_dir_all(device).map_err(self.io("create drive device"))?;
            if state.drives.iter().any(|d| &d.serial == name) {
                continue;
            }
            if state.drives.len() >= state::MAX_DRIVES {
                return Err(self.invalid(format!("at most {} drives", state::MAX_DRIVES)));
            }
            state.drives.push(DriveSlot {
                address: state::FIRST_DRIVE + state.drives.len() as u16,
                serial: name.clone(),
                device: device.clone(),
                cartridge: None,
            });
        }
        let known: Vec<String> = state.cartridges().into_iter().map(|(_, b)| b).collect();
        for barcode in layout.barcodes {
            if known.contains(barcode) {
                continue;
            }
            let dir = Self::cartridge_dir(&self.root, barcode);
            create_cartridge(&dir, &super::vid_of(barcode), layout.capacity)
                .map_err(self.io("create cartridge"))?;
            let slot = match state.free_slot() {
                Some(slot) => slot,
                None => state.add_slot(),
            };
            if let Some(content) = state.content(slot) {
                *content = Some(Cartridge {
                    barcode: barcode.clone(),
                    source: None,
                });
            }
        }
        while state.slots.iter().filter(|s| s.cartridge.is_none()).count() < SPARE_SLOTS {
            state.add_slot();
        }
        Ok(())
    }

    fn io(&self, op: &'static str) -> impl Fn(std::io::Error) -> EmulationError + '_ {
        move |source| EmulationError::Io {
            path: self.root.clone(),
            op,
            source,
        }
    }

    fn invalid(&self, reason: String) -> EmulationError {
        EmulationError::Invalid {
            path: self.root.clone(),
            reason,
        }
    }

    /// Runs `f` on the state under the library lock and saves it if `f`
    /// succeeds and changed it (a failing `f` changes nothing).
    pub fn with_state<T>(
        &self,
        f: impl FnOnce(&mut State) -> Result<T, EmulationError>,
    ) -> Result<T, EmulationError> {
        self.with_state_or(None, f)
    }

    fn with_state_or<T>(
        &self,
        fresh: Option<State>,
        f: impl FnOnce(&mut State) -> Result<T, EmulationError>,
    ) -> Result<T, EmulationError> {
        let lock = crate::util::open_lock_file(&self.root.join(LOCK_FILE))
            .map_err(self.io("open lock"))?;
        lock.lock().map_err(self.io("lock"))?;
        let path = self.root.join(STATE_FILE);
        let (mut state, mut changed) = match std::fs::read(&path) {
            Ok(raw) => self.parse(&path, &raw)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => match fresh {
                Some(state) => (state, true),
                None => return Err(self.invalid("no library here (no library.json)".into())),
            },
            Err(e) => return Err(self.io("read state")(e)),
        };
        changed |= self.recover(&mut state)?;
        let recovered = state.clone();
        let result = f(&mut state);
        let state = match &result {
            Ok(_) => {
                changed |= state != recovered;
                state
            }
            Err(_) => recovered,
        };
        if changed {
            let raw = serde_json::to_vec_pretty(&state).map_err(|e| EmulationError::BadState {
                path: path.clone(),
                reason: e.to_string(),
            })?;
            crate::util::write_atomically(&path, &raw).map_err(self.io("write state"))?;
        }
        // The drives' links follow the saved state.
        self.link_drives(&state)?;
        result
    }

    fn parse(&self, path: &Path, raw: &[u8]) -> Result<(State, bool), EmulationError> {
        match serde_json::from_slice::<State>(raw) {
            Ok(state) => Ok((state, false)),
            Err(e) => match legacy::convert(raw, &self.root) {
                Some(state) => {
                    tracing::warn!(library = %self.root.display(), "converted a virtual library's state to the emulated SCSI library");
                    Ok((state, true))
                }
                None => Err(EmulationError::BadState {
                    path: path.to_path_buf(),
                    reason: e.to_string(),
                }),
            },
        }
    }

    /// Rolls back every move whose mover is gone (its picker lock is free).
    fn recover(&self, state: &mut State) -> Result<bool, EmulationError> {
        let mut changed = false;
        for m in state.moves.clone() {
            let lock = self.picker_lock_file(m.picker)?;
            match lock.try_lock() {
                Ok(()) => {
                    let home = state.roll_back(&m);
                    tracing::warn!(picker = m.picker, source = m.source, destination = m.destination, returned_to = ?home, "a move's mover died: its cartridge goes back");
                    changed = true;
                }
                Err(std::fs::TryLockError::WouldBlock) => {}
                Err(std::fs::TryLockError::Error(e)) => return Err(self.io("lock picker")(e)),
            }
        }
        Ok(changed)
    }

    fn picker_lock_file(&self, picker: u16) -> Result<File, EmulationError> {
        crate::util::open_lock_file(&self.root.join(PICKERS_DIR).join(format!("{picker}.lock")))
            .map_err(self.io("open picker lock"))
    }

    /// Makes each drive's cartridge link say what the state says.
    fn link_drives(&self, state: &State) -> Result<(), EmulationError> {
        for drive in &state.drives {
            let link = FileDrive::cartridge_link(&drive.device);
            let want = drive
                .cartridge
                .as_ref()
                .map(|c| Self::cartridge_dir(&self.root, &c.barcode));
            let have = std::fs::read_link(&link).ok();
            if have == want {
                continue;
            }
            match std::fs::remove_file(&link) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(self.io("unload cartridge")(e)),
            }
            if let Some(target) = want {
                std::os::unix::fs::symlink(target, &link).map_err(self.io("load cartridge"))?;
            }
        }
        Ok(())
    }

    /// Removes a drive's link before the state says the drive is empty, so
    /// no drive opens a cartridge the library has taken away.
    fn unlink_drive(&self, drive: &DriveSlot) -> Result<(), EmulationError> {
        match std::fs::remove_file(FileDrive::cartridge_link(&drive.device)) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(self.io("unload cartridge")(e)),
        }
    }
}

#[cfg(test)]
mod tests;
