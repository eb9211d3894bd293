//! The tape library: the `MediaChanger` trait through which sessions mount
//! and dismount cartridges, and the virtual library used where no SCSI
//! changer exists.

pub mod client;
pub mod controller;
pub mod direct;
pub mod emulated;
pub mod faulty_changer;
pub mod inventory;
pub mod scsi_changer;

#[derive(Debug, thiserror::Error)]
pub enum ChangerError {
    #[error("library {path}: {op}: {source}")]
    Io {
        path: std::path::PathBuf,
        op: &'static str,
        source: std::io::Error,
    },
    #[error("library {path}: state file is unreadable: {reason}")]
    BadState {
        path: std::path::PathBuf,
        reason: String,
    },
    #[error("library has no drive named {0}")]
    UnknownDrive(String),
    #[error("library has no cartridge {0}")]
    UnknownVid(String),
    #[error("cannot mount {vid} into {drive}: the drive holds {loaded}")]
    DriveFull {
        vid: String,
        drive: String,
        loaded: String,
    },
    #[error("cannot mount {vid} into {drive}: the cartridge is in {other}")]
    InAnotherDrive {
        vid: String,
        drive: String,
        other: String,
    },
    #[error("cannot dismount {vid} from {drive}: the drive holds {loaded}")]
    WrongCartridge {
        vid: String,
        drive: String,
        loaded: String,
    },
    #[error("library has no free slot for {0}")]
    NoFreeSlot(String),
    #[error("injected fault: {0}")]
    Injected(String),
    #[error("{0}")]
    Busy(String),
    #[error("{what}: {source}")]
    Scsi {
        what: String,
        source: crate::scsi::ScsiError,
    },
    #[error("no changer path can serve: {0}")]
    NoPath(String),
    /// What the controller answered instead (one sentence), or why it could not be reached.
    #[error("{0}")]
    Controller(String),
    /// The controller says the library holds no such cartridge (its words).
    #[error("{0}")]
    NotInLibrary(String),
    #[error(transparent)]
    Emulation(#[from] emulated::EmulationError),
}

/// A drive as the library knows it: by name, and by its changer element
/// address or its serial number when configured (see `Inventory::drive_element`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DriveRef {
    pub name: String,
    pub element: Option<u16>,
    pub serial: Option<String>,
}

/// Where each cartridge is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LibraryStatus {
    /// (slot address, VID in it)
    pub slots: Vec<(u16, Option<String>)>,
    /// (drive name, VID in it)
    pub drives: Vec<(String, Option<String>)>,
    /// Drives a mount or dismount waits for or is moving now (a library
    /// controller's requests, perhaps of a client that has gone): what
    /// they hold is about to change.
    pub changing: Vec<String>,
}

impl LibraryStatus {
    /// Whether a slot or a drive holds the cartridge.
    pub fn holds(&self, vid: &str) -> bool {
        self.slots
            .iter()
            .map(|(_, v)| v)
            .chain(self.drives.iter().map(|(_, v)| v))
            .any(|v| v.as_deref() == Some(vid))
    }

    /// Storage slots and drives of an inventory, drives named after the
    /// configured drive they are, else their serial number.
    pub fn from_inventory(inventory: &inventory::Inventory, drives: &[DriveRef]) -> Self {
        use crate::scsi::smc::ElementType;
        let name_of = |e: &crate::scsi::smc::Element| {
            drives
                .iter()
                .find(|d| inventory.drive_element(d).ok() == Some(e.address))
                .map(|d| d.name.clone())
                .or_else(|| e.device_id.clone())
                .unwrap_or_else(|| format!("element{}", e.address))
        };
        Self {
            slots: inventory
                .of_kind(ElementType::Storage)
                .map(|e| (e.address, inventory.vid_in(e.address)))
                .collect(),
            drives: inventory
                .of_kind(ElementType::DataTransfer)
                .map(|e| (name_of(e), inventory.vid_in(e.address)))
                .collect(),
            // A changer read directly has no queue of moves to tell of.
            changing: Vec::new(),
        }
    }
}

/// Moves cartridges between storage slots and drives. Requests are
/// idempotent: mounting a cartridge already in the drive succeeds, and so
/// does dismounting one already home, so a caller may retry.
pub trait MediaChanger: Send {
    fn mount(&self, vid: &str, drive: &str) -> Result<(), ChangerError>;
    fn dismount(&self, vid: &str, drive: &str) -> Result<(), ChangerError>;
    fn status(&self) -> Result<LibraryStatus, ChangerError>;
}

/// The VID of a volume tag: an LTO label's first six characters
/// (`A00001L6` is `A00001`), the whole tag otherwise.
pub fn vid_of(volume_tag: &str) -> String {
    let tag = volume_tag.trim();
    let lto = tag.len() == 8
        && tag.is_ascii()
        && matches!(tag.as_bytes()[6], b'L' | b'M')
        && tag.as_bytes()[7].is_ascii_alphanumeric();
    if lto {
        tag[..6].to_string()
    } else {
        tag.to_string()
    }
}

/// The volume tag of a new cartridge: an LTO-style label for a six
/// character VID, the VID itself otherwise.
pub fn barcode_for(vid: &str) -> String {
    if vid.len() == 6 && vid.is_ascii() {
        format!("{vid}L6")
    } else {
        vid.to_string()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_vid_is_the_first_six_characters_of_an_lto_label() {
        assert_eq!(super::vid_of("A00001L6"), "A00001");
        assert_eq!(super::vid_of("CLN001L1"), "CLN001");
        assert_eq!(super::vid_of("A00001M8"), "A00001");
        assert_eq!(super::vid_of("TAPE01"), "TAPE01");
        assert_eq!(super::vid_of("ABCDEFGHIJ"), "ABCDEFGHIJ");
        assert_eq!(super::vid_of(" A00001L6  "), "A00001");
        assert_eq!(super::vid_of(&super::barcode_for("V00001")), "V00001");
        assert_eq!(super::barcode_for("LONGVID1"), "LONGVID1");
    }
}
