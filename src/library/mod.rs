//! The tape library: the `MediaChanger` trait through which sessions mount
//! and dismount cartridges, and the virtual library used where no SCSI
//! changer exists.

pub mod faulty_changer;
pub mod virtual_changer;

pub use virtual_changer::VirtualChanger;

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
    #[error("cannot mount {vid} into {drive}: the cartridge is in drive {other}")]
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
}

/// Where each cartridge is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LibraryStatus {
    /// (slot address, VID in it)
    pub slots: Vec<(u16, Option<String>)>,
    /// (drive name, VID in it)
    pub drives: Vec<(String, Option<String>)>,
}

/// Moves cartridges between storage slots and drives. Requests are
/// idempotent: mounting a cartridge already in the drive succeeds, and so
/// does dismounting one already home, so a caller may retry.
pub trait MediaChanger: Send {
    fn mount(&self, vid: &str, drive: &str) -> Result<(), ChangerError>;
    fn dismount(&self, vid: &str, drive: &str) -> Result<(), ChangerError>;
    fn status(&self) -> Result<LibraryStatus, ChangerError>;
}
