//! A library on disk: `library.json` says which cartridge is in which slot
//! or drive, `cartridges/VID/` holds each cartridge, and a drive's device
//! directory gets a `cartridge` link while a cartridge is mounted in it.
//!
//! Several processes (one session per drive) share it, so every move holds
//! an exclusive lock on `library.lock` and rewrites the state atomically.
//! `library.json` is the one source of truth: a mount saves it before the
//! link that lets a drive open the cartridge exists, a dismount removes the
//! link before saving it, and a drive the state says is empty loses any
//! link a killed move left. (The cartridge's own lock, taken by the drive
//! that opens it, keeps it out of a second drive whatever the links say.)

use std::fs::File;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{ChangerError, LibraryStatus, MediaChanger};
use crate::tape::FileDrive;
use crate::tape::file_drive::create_cartridge;

const STATE_FILE: &str = "library.json";
const LOCK_FILE: &str = "library.lock";

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Slot {
    address: u16,
    vid: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Drive {
    name: String,
    device: PathBuf,
    vid: Option<String>,
    /// Where the mounted cartridge came from (SMC's SVALID source address).
    source: Option<u16>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct State {
    slots: Vec<Slot>,
    drives: Vec<Drive>,
}

pub struct VirtualChanger {
    root: PathBuf,
}

/// First storage slot address, as mhVTL's STK personality numbers them.
const FIRST_SLOT: u16 = 1000;

impl VirtualChanger {
    pub fn open(root: &Path) -> Self {
        Self {
            root: root.to_path_buf(),
        }
    }

    pub fn cartridge_dir(root: &Path, vid: &str) -> PathBuf {
        root.join("cartridges").join(vid)
    }

    /// Creates the library, or adds to an existing one: drives not yet
    /// known and blank cartridges not yet present, each in a free slot.
    pub fn create(
        root: &Path,
        drives: &[(String, PathBuf)],
        vids: &[String],
        capacity: u64,
    ) -> Result<Self, ChangerError> {
        let changer = Self::open(root);
        std::fs::create_dir_all(root.join("cartridges"))
            .map_err(changer.io("create library directory"))?;
        changer.with_state(|state| {
            for (name, device) in drives {
                std::fs::create_dir_all(device).map_err(changer.io("create drive device"))?;
                if !state.drives.iter().any(|d| &d.name == name) {
                    state.drives.push(Drive {
                        name: name.clone(),
                        device: device.clone(),
                        vid: None,
                        source: None,
                    });
                }
            }
            for vid in vids {
                let known = state.slots.iter().any(|s| s.vid.as_deref() == Some(vid))
                    || state.drives.iter().any(|d| d.vid.as_deref() == Some(vid));
                if known {
                    continue;
                }
                create_cartridge(&Self::cartridge_dir(root, vid), vid, capacity)
                    .map_err(changer.io("create cartridge"))?;
                // A mounted cartridge's home slot stays reserved for it.
                let reserved: Vec<u16> = state.drives.iter().filter_map(|d| d.source).collect();
                match state
                    .slots
                    .iter_mut()
                    .find(|s| s.vid.is_none() && !reserved.contains(&s.address))
                {
                    Some(slot) => slot.vid = Some(vid.clone()),
                    None => {
                        let address = FIRST_SLOT + state.slots.len() as u16;
                        state.slots.push(Slot {
                            address,
                            vid: Some(vid.clone()),
                        });
                    }
                }
            }
            Ok(())
        })?;
        Ok(changer)
    }

    fn io(&self, op: &'static str) -> impl Fn(std::io::Error) -> ChangerError + '_ {
        move |source| ChangerError::Io {
            path: self.root.clone(),
            op,
            source,
        }
    }

    /// Runs `f` on the state under the library lock and saves it if `f` succeeds.
    fn with_state<T>(
        &self,
        f: impl FnOnce(&mut State) -> Result<T, ChangerError>,
    ) -> Result<T, ChangerError> {
        self.with_state_then(f, |_, _| Ok(()))
    }

    /// As `with_state`, then runs `after` on the saved state, still under the lock.
    fn with_state_then<T>(
        &self,
        f: impl FnOnce(&mut State) -> Result<T, ChangerError>,
        after: impl FnOnce(&State, &T) -> Result<(), ChangerError>,
    ) -> Result<T, ChangerError> {
        let lock = File::create(self.root.join(LOCK_FILE)).map_err(self.io("open lock"))?;
        lock.lock().map_err(self.io("lock"))?;
        let path = self.root.join(STATE_FILE);
        let mut state = match std::fs::read(&path) {
            Ok(raw) => serde_json::from_slice(&raw).map_err(|e| ChangerError::BadState {
                path: path.clone(),
                reason: e.to_string(),
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => State::default(),
            Err(e) => return Err(self.io("read state")(e)),
        };
        let before = serde_json::to_vec_pretty(&state).unwrap_or_default();
        let result = f(&mut state)?;
        let after_state =
            serde_json::to_vec_pretty(&state).map_err(|e| ChangerError::BadState {
                path: path.clone(),
                reason: e.to_string(),
            })?;
        if after_state != before {
            crate::util::write_atomically(&path, &after_state).map_err(self.io("write state"))?;
        }
        after(&state, &result)?;
        Ok(result)
    }

    /// Removes a drive's cartridge link, if there is one.
    fn unlink(&self, device: &Path) -> Result<(), ChangerError> {
        match std::fs::remove_file(FileDrive::cartridge_link(device)) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(self.io("unload cartridge")(e)),
        }
    }
}

impl MediaChanger for VirtualChanger {
    fn mount(&self, vid: &str, drive: &str) -> Result<(), ChangerError> {
        let link_after_save = |_: &State, device: &PathBuf| {
            // The state is saved: only now may the drive reach the cartridge.
            // (Re)made every time, so a retry after a crash completes the move.
            let link = FileDrive::cartridge_link(device);
            self.unlink(device)?;
            std::os::unix::fs::symlink(Self::cartridge_dir(&self.root, vid), &link)
                .map_err(self.io("load cartridge"))
        };
        self.with_state_then(
            |state| {
                let other = state
                    .drives
                    .iter()
                    .find(|d| d.vid.as_deref() == Some(vid) && d.name != drive)
                    .map(|d| d.name.clone());
                let d = state
                    .drives
                    .iter_mut()
                    .find(|d| d.name == drive)
                    .ok_or_else(|| ChangerError::UnknownDrive(drive.into()))?;
                match d.vid.as_deref() {
                    Some(loaded) if loaded == vid => {}
                    Some(loaded) => {
                        return Err(ChangerError::DriveFull {
                            vid: vid.into(),
                            drive: drive.into(),
                            loaded: loaded.into(),
                        });
                    }
                    None => {
                        if let Some(other) = other {
                            return Err(ChangerError::InAnotherDrive {
                                vid: vid.into(),
                                drive: drive.into(),
                                other,
                            });
                        }
                        let slot = state
                            .slots
                            .iter_mut()
                            .find(|s| s.vid.as_deref() == Some(vid))
                            .ok_or_else(|| ChangerError::UnknownVid(vid.into()))?;
                        slot.vid = None;
                        d.vid = Some(vid.into());
                        d.source = Some(slot.address);
                    }
                }
                Ok(d.device.clone())
            },
            link_after_save,
        )
        .map(drop)
    }

    fn dismount(&self, vid: &str, drive: &str) -> Result<(), ChangerError> {
        self.with_state(|state| {
            let d = state
                .drives
                .iter_mut()
                .find(|d| d.name == drive)
                .ok_or_else(|| ChangerError::UnknownDrive(drive.into()))?;
            match d.vid.as_deref() {
                // Empty as far as the library knows: any link is a killed move's.
                None => return self.unlink(&d.device),
                Some(loaded) if loaded != vid => {
                    return Err(ChangerError::WrongCartridge {
                        vid: vid.into(),
                        drive: drive.into(),
                        loaded: loaded.into(),
                    });
                }
                Some(_) => {}
            }
            // The link goes before the state says the cartridge is home.
            self.unlink(&d.device)?;
            let source = d.source.take();
            d.vid = None;
            let home = state
                .slots
                .iter()
                .position(|s| Some(s.address) == source && s.vid.is_none())
                .or_else(|| state.slots.iter().position(|s| s.vid.is_none()))
                .ok_or_else(|| ChangerError::NoFreeSlot(vid.into()))?;
            state.slots[home].vid = Some(vid.into());
            Ok(())
        })
    }

    fn status(&self) -> Result<LibraryStatus, ChangerError> {
        self.with_state(|state| {
            Ok(LibraryStatus {
                slots: state
                    .slots
                    .iter()
                    .map(|s| (s.address, s.vid.clone()))
                    .collect(),
                drives: state
                    .drives
                    .iter()
                    .map(|d| (d.name.clone(), d.vid.clone()))
                    .collect(),
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn library() -> (tempfile::TempDir, VirtualChanger) {
        let tmp = tempfile::tempdir().unwrap();
        let drives = vec![
            ("d0".to_string(), tmp.path().join("drives/d0")),
            ("d1".to_string(), tmp.path().join("drives/d1")),
        ];
        let vids = vec!["V00001".to_string(), "V00002".to_string()];
        let lib = VirtualChanger::create(tmp.path(), &drives, &vids, 1 << 30).unwrap();
        (tmp, lib)
    }

    #[test]
    fn mount_and_dismount_are_idempotent_and_persist() {
        let (tmp, lib) = library();
        lib.mount("V00001", "d0").unwrap();
        lib.mount("V00001", "d0").unwrap();
        assert!(FileDrive::cartridge_link(&tmp.path().join("drives/d0")).exists());
        let reopened = VirtualChanger::open(tmp.path());
        let status = reopened.status().unwrap();
        assert_eq!(
            status.drives[0],
            ("d0".to_string(), Some("V00001".to_string()))
        );
        assert_eq!(status.slots[0], (1000, None));
        reopened.dismount("V00001", "d0").unwrap();
        reopened.dismount("V00001", "d0").unwrap();
        let status = reopened.status().unwrap();
        assert_eq!(status.slots[0], (1000, Some("V00001".to_string())));
        assert!(!FileDrive::cartridge_link(&tmp.path().join("drives/d0")).exists());
    }

    #[test]
    fn conflicting_moves_are_refused() {
        let (_tmp, lib) = library();
        lib.mount("V00001", "d0").unwrap();
        assert!(matches!(
            lib.mount("V00002", "d0"),
            Err(ChangerError::DriveFull { .. })
        ));
        assert!(matches!(
            lib.mount("V00001", "d1"),
            Err(ChangerError::InAnotherDrive { .. })
        ));
        assert!(matches!(
            lib.mount("V00009", "d1"),
            Err(ChangerError::UnknownVid(_))
        ));
        assert!(matches!(
            lib.mount("V00002", "d9"),
            Err(ChangerError::UnknownDrive(_))
        ));
        assert!(matches!(
            lib.dismount("V00002", "d0"),
            Err(ChangerError::WrongCartridge { .. })
        ));
    }

    /// Hole 2: a session killed between linking a cartridge into a drive and
    /// saving the library state left a link the library did not know of.
    #[test]
    fn a_link_left_by_a_killed_mount_never_opens_the_cartridge_in_a_second_drive() {
        use crate::tape::TapeDrive;
        let (tmp, lib) = library();
        let (dev0, dev1) = (tmp.path().join("drives/d0"), tmp.path().join("drives/d1"));
        std::os::unix::fs::symlink(
            VirtualChanger::cartridge_dir(tmp.path(), "V00001"),
            FileDrive::cartridge_link(&dev0),
        )
        .unwrap();
        lib.mount("V00001", "d1").unwrap();
        let mut d1 = FileDrive::new("d1", &dev1);
        d1.load().unwrap();
        let mut d0 = FileDrive::new("d0", &dev0);
        assert!(
            d0.load().is_err(),
            "the cartridge opened in two drives at once"
        );
        d1.unload().unwrap();
        lib.dismount("V00001", "d1").unwrap();
        // The cleaner's dismount of the drive the library thinks empty
        // removes what a killed session left there.
        lib.dismount("V00001", "d0").unwrap();
        assert!(FileDrive::cartridge_link(&dev0).symlink_metadata().is_err());
    }

    #[test]
    fn create_again_adds_without_touching_existing_cartridges() {
        let (tmp, lib) = library();
        lib.mount("V00001", "d0").unwrap();
        let vids = vec!["V00001".to_string(), "V00003".to_string()];
        VirtualChanger::create(tmp.path(), &[], &vids, 1 << 30).unwrap();
        let status = lib.status().unwrap();
        assert_eq!(status.slots.len(), 3);
        assert_eq!(status.drives[0].1.as_deref(), Some("V00001"));
    }
}
