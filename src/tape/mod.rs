//! Tape drives and the on-tape format: the `TapeDrive` trait, the
//! file-backed drive, and AUL labels.

pub mod aul;
pub mod drive;
pub mod faulty;
pub mod file_drive;
pub mod format;
pub mod media;
pub mod scsi_drive;
pub mod time_model;
pub mod timed_drive;

pub use drive::{DriveError, DriveInfo, ReadOutcome, TapeDrive, WriteOutcome};
pub use file_drive::FileDrive;
