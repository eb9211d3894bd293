//! A media changer driven directly over one changer path, without a
//! controller: what `tapeserverd init` uses to label new cartridges before
//! any daemon runs. Every request reads the element status first, so it is
//! never stale.

use std::time::Duration;

use super::inventory::Plan;
use super::scsi_changer::ScsiChanger;
use super::{ChangerError, DriveRef, LibraryStatus, MediaChanger};

pub struct DirectChanger {
    changer: std::sync::Mutex<ScsiChanger>,
    drives: Vec<DriveRef>,
    move_timeout: Duration,
}

impl DirectChanger {
    pub fn new(changer: ScsiChanger, drives: Vec<DriveRef>, move_timeout: Duration) -> Self {
        Self {
            changer: std::sync::Mutex::new(changer),
            drives,
            move_timeout,
        }
    }

    fn drive(&self, name: &str) -> DriveRef {
        self.drives
            .iter()
            .find(|d| d.name == name)
            .cloned()
            .unwrap_or_else(|| DriveRef {
                name: name.to_string(),
                ..DriveRef::default()
            })
    }

    fn run(
        &self,
        vid: &str,
        drive: &str,
        plan: impl FnOnce(&super::inventory::Inventory, u16) -> Result<Plan, ChangerError>,
    ) -> Result<(), ChangerError> {
        let mut changer = self
            .changer
            .lock()
            .map_err(|_| ChangerError::Busy("the changer lock is poisoned".into()))?;
        let path = changer.path().to_string();
        let inventory = changer.inventory().map_err(|source| ChangerError::Scsi {
            what: format!("reading the element status on {path}"),
            source,
        })?;
        let element = inventory.drive_element(&self.drive(drive))?;
        if let Plan::Move {
            source,
            destination,
        } = plan(&inventory, element)?
        {
            changer
                .move_medium(source, destination, self.move_timeout)
                .map_err(|e| ChangerError::Scsi {
                    what: format!(
                        "moving {vid} from {} to {} on {path}",
                        inventory.describe(source),
                        inventory.describe(destination)
                    ),
                    source: e,
                })?;
        }
        Ok(())
    }
}

impl MediaChanger for DirectChanger {
    fn mount(&self, vid: &str, drive: &str) -> Result<(), ChangerError> {
        self.run(vid, drive, |inv, element| {
            inv.plan_mount(vid, drive, element)
        })
    }

    fn dismount(&self, vid: &str, drive: &str) -> Result<(), ChangerError> {
        self.run(vid, drive, |inv, element| {
            inv.plan_dismount(vid, drive, element, &[])
        })
    }

    fn status(&self) -> Result<LibraryStatus, ChangerError> {
        let mut changer = self
            .changer
            .lock()
            .map_err(|_| ChangerError::Busy("the changer lock is poisoned".into()))?;
        let path = changer.path().to_string();
        let inventory = changer.inventory().map_err(|source| ChangerError::Scsi {
            what: format!("reading the element status on {path}"),
            source,
        })?;
        Ok(LibraryStatus::from_inventory(&inventory, &self.drives))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::library::emulated::{EmulatedChanger, EmulatedLibrary, Layout};

    fn library() -> (tempfile::TempDir, DirectChanger) {
        let tmp = tempfile::tempdir().unwrap();
        let drives = vec![
            ("d0".to_string(), tmp.path().join("drives/d0")),
            ("d1".to_string(), tmp.path().join("drives/d1")),
        ];
        let barcodes = vec!["V00001L6".to_string(), "V00002L6".to_string()];
        let lib = EmulatedLibrary::create(
            tmp.path(),
            &Layout {
                paths: 2,
                move_time_ms: 0,
                move_time_far_ms: 0,
                drives: &drives,
                barcodes: &barcodes,
                capacity: 1 << 30,
            },
        )
        .unwrap();
        let changer = ScsiChanger::new(Box::new(EmulatedChanger::new(lib, "changer0")));
        let refs = vec![DriveRef {
            name: "second".into(),
            element: Some(501),
            serial: None,
        }];
        (
            tmp,
            DirectChanger::new(changer, refs, Duration::from_secs(60)),
        )
    }

    #[test]
    fn mount_and_dismount_are_idempotent() {
        let (_tmp, lib) = library();
        lib.mount("V00001", "d0").unwrap();
        lib.mount("V00001", "d0").unwrap();
        let status = lib.status().unwrap();
        assert_eq!(
            status.drives[0],
            ("d0".to_string(), Some("V00001".to_string()))
        );
        assert_eq!(status.slots[0], (1000, None));
        lib.dismount("V00001", "d0").unwrap();
        lib.dismount("V00001", "d0").unwrap();
        let status = lib.status().unwrap();
        assert_eq!(status.slots[0], (1000, Some("V00001".to_string())));
        // A configured element names the drive whatever its serial.
        lib.mount("V00002", "second").unwrap();
        assert_eq!(
            lib.status().unwrap().drives[1],
            ("second".to_string(), Some("V00002".to_string()))
        );
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
}
