//! What a controller knows of a library: its element address assignment
//! and every element's status, as READ ELEMENT STATUS reported them; and
//! the decisions taken from it: which drive element a drive is, which move
//! a mount or a dismount needs, or that none is needed (requests are
//! idempotent).

use crate::scsi::smc::{Element, ElementAddressAssignment, ElementType};

use super::{ChangerError, DriveRef, vid_of};

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Inventory {
    pub map: ElementAddressAssignment,
    pub elements: Vec<Element>,
}

/// What a request needs from the robot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plan {
    /// Already as asked.
    Done,
    Move {
        source: u16,
        destination: u16,
    },
}

/// How operators read an element address in messages.
pub fn describe(kind: Option<ElementType>, address: u16) -> String {
    match kind {
        Some(ElementType::Transport) => format!("picker {address}"),
        Some(ElementType::Storage) => format!("slot {address}"),
        Some(ElementType::ImportExport) => format!("import/export slot {address}"),
        Some(ElementType::DataTransfer) => format!("drive element {address}"),
        None => format!("element {address}"),
    }
}

impl Inventory {
    pub fn element(&self, address: u16) -> Option<&Element> {
        self.elements.iter().find(|e| e.address == address)
    }

    pub fn describe(&self, address: u16) -> String {
        describe(self.element(address).map(|e| e.kind), address)
    }

    pub fn of_kind(&self, kind: ElementType) -> impl Iterator<Item = &Element> {
        self.elements.iter().filter(move |e| e.kind == kind)
    }

    /// The VID of the cartridge in an element.
    pub fn vid_in(&self, address: u16) -> Option<String> {
        let e = self.element(address)?;
        if !e.full {
            return None;
        }
        Some(match &e.volume_tag {
            Some(tag) => vid_of(tag),
            // A full element without a readable label: say so, never guess.
            None => format!("(unlabelled in {})", self.describe(address)),
        })
    }

    /// Where the cartridge with this VID is.
    pub fn find_vid(&self, vid: &str) -> Option<&Element> {
        self.elements
            .iter()
            .find(|e| e.full && e.volume_tag.as_deref().is_some_and(|t| vid_of(t) == vid))
    }

    /// The drive element of a drive: its configured element address, else
    /// the element whose device identifier is its serial number, else its
    /// name (the emulated library's drives report their names).
    pub fn drive_element(&self, drive: &DriveRef) -> Result<u16, ChangerError> {
        if let Some(address) = drive.element {
            return match self.element(address) {
                Some(e) if e.kind == ElementType::DataTransfer => Ok(address),
                _ => Err(ChangerError::UnknownDrive(format!(
                    "{} (configured element {address} is not a drive element of this library)",
                    drive.name
                ))),
            };
        }
        let by_id = |id: &str| {
            self.of_kind(ElementType::DataTransfer)
                .find(|e| e.device_id.as_deref() == Some(id))
                .map(|e| e.address)
        };
        drive
            .serial
            .as_deref()
            .and_then(by_id)
            .or_else(|| by_id(&drive.name))
            .ok_or_else(|| {
                ChangerError::UnknownDrive(format!(
                    "{} (no drive element reports serial number {}; configure its element)",
                    drive.name,
                    drive.serial.as_deref().unwrap_or(&drive.name)
                ))
            })
    }

    /// The move that puts `vid` into drive element `drive`.
    pub fn plan_mount(
        &self,
        vid: &str,
        drive_name: &str,
        drive: u16,
    ) -> Result<Plan, ChangerError> {
        let loaded = self.vid_in(drive);
        if loaded.as_deref() == Some(vid) {
            return Ok(Plan::Done);
        }
        let at = self
            .find_vid(vid)
            .ok_or_else(|| ChangerError::UnknownVid(vid.into()))?;
        if let Some(loaded) = loaded {
            return Err(ChangerError::DriveFull {
                vid: vid.into(),
                drive: drive_name.into(),
                loaded,
            });
        }
        match at.kind {
            ElementType::DataTransfer => Err(ChangerError::InAnotherDrive {
                vid: vid.into(),
                drive: drive_name.into(),
                other: self.describe(at.address),
            }),
            ElementType::Transport => Err(ChangerError::Busy(format!(
                "{vid} is in {} (a move is under way)",
                self.describe(at.address)
            ))),
            _ => Ok(Plan::Move {
                source: at.address,
                destination: drive,
            }),
        }
    }

    /// The move that takes `vid` out of drive element `drive` and home: the
    /// slot it came from if that is free, else the first free slot.
    pub fn plan_dismount(
        &self,
        vid: &str,
        drive_name: &str,
        drive: u16,
        reserved: &[u16],
    ) -> Result<Plan, ChangerError> {
        match self.vid_in(drive) {
            Some(loaded) if loaded == vid => {}
            Some(loaded) => {
                return Err(ChangerError::WrongCartridge {
                    vid: vid.into(),
                    drive: drive_name.into(),
                    loaded,
                });
            }
            // Empty: done if the cartridge is home, else it is elsewhere.
            None => {
                return match self.find_vid(vid) {
                    Some(e) if e.kind == ElementType::DataTransfer => {
                        Err(ChangerError::WrongCartridge {
                            vid: vid.into(),
                            drive: drive_name.into(),
                            loaded: "nothing".into(),
                        })
                    }
                    _ => Ok(Plan::Done),
                };
            }
        }
        let free = |e: &&Element| {
            e.kind == ElementType::Storage && !e.full && !reserved.contains(&e.address)
        };
        let home = self
            .element(drive)
            .and_then(|d| d.source)
            .and_then(|s| self.element(s))
            .filter(free)
            .or_else(|| self.of_kind(ElementType::Storage).find(free))
            .ok_or_else(|| ChangerError::NoFreeSlot(vid.into()))?;
        Ok(Plan::Move {
            source: drive,
            destination: home.address,
        })
    }

    /// Records a completed move of the cartridge labelled `tag` (read
    /// from the source when not given). The source is emptied only if it
    /// still holds that cartridge, and a picker that shows it mid-move (a
    /// read taken during the move) is emptied too.
    pub fn apply_move(&mut self, source: u16, destination: u16, tag: Option<&str>) {
        let Some(from) = self.element(source).cloned() else {
            return;
        };
        let tag = tag.map(String::from).or_else(|| from.volume_tag.clone());
        let came_from = if from.kind == ElementType::Storage {
            Some(source)
        } else {
            from.source
        };
        for e in &mut self.elements {
            let holds = e.full && e.volume_tag.is_some() && e.volume_tag == tag;
            let emptied = (e.address == source && (holds || tag.is_none()))
                || (e.kind == ElementType::Transport && holds);
            if emptied {
                e.full = false;
                e.volume_tag = None;
                e.source = None;
            }
        }
        if let Some(to) = self.elements.iter_mut().find(|e| e.address == destination) {
            to.full = true;
            to.volume_tag = tag;
            to.source = came_from;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn element(kind: ElementType, address: u16, tag: Option<&str>) -> Element {
        Element {
            kind,
            address,
            full: tag.is_some(),
            except: false,
            asc: 0,
            ascq: 0,
            source: None,
            volume_tag: tag.map(String::from),
            device_id: (kind == ElementType::DataTransfer).then(|| format!("SN{address}")),
        }
    }

    fn inventory() -> Inventory {
        Inventory {
            map: ElementAddressAssignment::default(),
            elements: vec![
                element(ElementType::Transport, 1, None),
                element(ElementType::Storage, 1000, Some("A00001L6")),
                element(ElementType::Storage, 1001, None),
                element(ElementType::Storage, 1002, Some("A00002L6")),
                element(ElementType::DataTransfer, 500, None),
                element(ElementType::DataTransfer, 501, Some("A00003L6")),
            ],
        }
    }

    fn drive(name: &str) -> DriveRef {
        DriveRef {
            name: name.into(),
            ..DriveRef::default()
        }
    }

    #[test]
    fn drives_are_found_by_element_then_serial_then_name() {
        let inv = inventory();
        let by_element = DriveRef {
            element: Some(501),
            ..drive("x")
        };
        assert_eq!(inv.drive_element(&by_element).unwrap(), 501);
        let by_serial = DriveRef {
            serial: Some("SN500".into()),
            ..drive("x")
        };
        assert_eq!(inv.drive_element(&by_serial).unwrap(), 500);
        assert_eq!(inv.drive_element(&drive("SN501")).unwrap(), 501);
        let err = inv.drive_element(&drive("nope")).unwrap_err().to_string();
        assert!(
            err.contains("nope") && err.contains("configure its element"),
            "{err}"
        );
        let slot = DriveRef {
            element: Some(1000),
            ..drive("x")
        };
        assert!(inv.drive_element(&slot).is_err());
    }

    #[test]
    fn mounts_and_dismounts_are_planned_and_idempotent() {
        let mut inv = inventory();
        let plan = inv.plan_mount("A00001", "d0", 500).unwrap();
        assert_eq!(
            plan,
            Plan::Move {
                source: 1000,
                destination: 500
            }
        );
        inv.apply_move(1000, 500, None);
        assert_eq!(inv.plan_mount("A00001", "d0", 500).unwrap(), Plan::Done);
        assert_eq!(inv.element(500).unwrap().source, Some(1000));
        // Home is the slot it came from, even with an earlier free slot.
        let plan = inv.plan_dismount("A00001", "d0", 500, &[]).unwrap();
        assert_eq!(
            plan,
            Plan::Move {
                source: 500,
                destination: 1000
            }
        );
        let plan = inv.plan_dismount("A00001", "d0", 500, &[1000]).unwrap();
        assert_eq!(
            plan,
            Plan::Move {
                source: 500,
                destination: 1001
            }
        );
        inv.apply_move(500, 1000, None);
        assert_eq!(
            inv.plan_dismount("A00001", "d0", 500, &[]).unwrap(),
            Plan::Done
        );
    }

    #[test]
    fn conflicting_requests_get_one_clear_sentence() {
        let inv = inventory();
        let full = inv.plan_mount("A00001", "d1", 501).unwrap_err().to_string();
        assert_eq!(full, "cannot mount A00001 into d1: the drive holds A00003");
        let elsewhere = inv.plan_mount("A00003", "d0", 500).unwrap_err().to_string();
        assert!(elsewhere.contains("drive element 501"), "{elsewhere}");
        let unknown = inv.plan_mount("ZZZ999", "d0", 500).unwrap_err().to_string();
        assert_eq!(unknown, "library has no cartridge ZZZ999");
        let wrong = inv
            .plan_dismount("A00001", "d1", 501, &[])
            .unwrap_err()
            .to_string();
        assert!(wrong.contains("holds A00003"), "{wrong}");
    }
}
