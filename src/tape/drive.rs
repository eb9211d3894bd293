//! The `TapeDrive` trait: what a session needs from a tape drive, modelled on
//! SSC (sequential-access) semantics: variable-length blocks, file marks,
//! block ids, logical block protection.
//!
//! With LBP on, every block written carries its CRC32C in its last 4 bytes
//! (big-endian, as SSC's LBP appends it) and every block read is returned
//! with the CRC appended; the drive verifies it either way.

use std::path::PathBuf;

pub const LBP_CRC_LEN: usize = 4;

#[derive(Debug, thiserror::Error)]
pub enum DriveError {
    #[error("drive {drive}: {op}: {source}")]
    Io {
        drive: String,
        op: &'static str,
        source: std::io::Error,
    },
    #[error("drive {drive}: no cartridge loaded")]
    NoCartridge { drive: String },
    #[error("drive {drive} is in use by another process")]
    Busy { drive: String },
    #[error("cartridge {path}: {reason}")]
    BadCartridge { path: PathBuf, reason: String },
    #[error(
        "drive {drive}: medium error at block {block_id}: stored CRC32C does not match the data"
    )]
    Crc { drive: String, block_id: u64 },
    #[error("drive {drive}: logical block protection check failed on write of block {block_id}")]
    LbpCheck { drive: String, block_id: u64 },
    #[error("drive {drive}: end of medium: no room for {len} more bytes")]
    EndOfMedium { drive: String, len: usize },
    #[error("drive {drive}: block {block_id} is {len} bytes, larger than the {buf}-byte buffer")]
    BlockTooLarge {
        drive: String,
        block_id: u64,
        len: usize,
        buf: usize,
    },
    #[error("drive {drive}: cannot position to block {block_id}: end of data is block {end}")]
    BeyondEndOfData {
        drive: String,
        block_id: u64,
        end: u64,
    },
    #[error(
        "drive {drive}: spacing {count} file marks from block {from} runs off the recorded data"
    )]
    SpaceFailed {
        drive: String,
        count: i64,
        from: u64,
    },
    #[error("drive {drive}: injected fault: {what}")]
    Injected { drive: String, what: String },
    #[error("drive {drive}: {op}: {source}")]
    Scsi {
        drive: String,
        op: &'static str,
        source: Box<crate::scsi::ScsiError>,
    },
    #[error(
        "drive {drive}: block {block_id} is {len} bytes but the drive moved {transferred}, even when asked for exactly that length"
    )]
    ShortTransfer {
        drive: String,
        block_id: u64,
        len: usize,
        transferred: usize,
    },
    #[error(
        "drive {drive}: its reads cannot be trusted: the first block is {len} bytes, but {why}"
    )]
    ReadBack {
        drive: String,
        len: usize,
        why: String,
    },
    #[error("drive {drive}: the position is unknown ({why})")]
    PositionUnknown { drive: String, why: &'static str },
}

impl DriveError {
    /// True when the error is about the recorded data, not the drive: a
    /// block whose stored CRC does not match, or a MEDIUM ERROR sense
    /// (SPC: a flaw in the medium or the recorded data). A recall then
    /// holds it against the copy.
    pub fn proves_data_bad(&self) -> bool {
        match self {
            DriveError::Crc { .. } => true,
            DriveError::Scsi { source, .. } => source
                .sense()
                .is_some_and(|s| s.key == crate::scsi::sense::SenseKey::MediumError),
            _ => false,
        }
    }
}

/// What a read returns besides data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadOutcome {
    /// A data block of this many bytes (including the LBP CRC when LBP is on).
    Data(usize),
    /// A file mark; the position is now past it.
    FileMark,
    /// Nothing recorded at this position (SSC: BLANK CHECK).
    EndOfData,
}

/// Whether a write landed in the early-warning zone before the end of medium.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteOutcome {
    Written,
    EarlyWarning,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DriveInfo {
    pub vendor: String,
    pub model: String,
    pub serial: String,
}

/// A tape drive. Only the session's tape thread holds one.
pub trait TapeDrive: Send {
    /// Waits for a cartridge to be loaded and ready; positions at BOT.
    fn load(&mut self) -> Result<(), DriveError>;
    fn rewind(&mut self) -> Result<(), DriveError>;
    /// LOCATE to a block id (a file mark counts as one block).
    fn locate(&mut self, block_id: u64) -> Result<(), DriveError>;
    /// SPACE over `count` file marks (negative: backwards). Forward ends
    /// just after the mark, backward just before it.
    fn space_filemarks(&mut self, count: i64) -> Result<(), DriveError>;
    /// READ POSITION: the current block id.
    fn position(&mut self) -> Result<u64, DriveError>;
    fn read_block(&mut self, buf: &mut [u8]) -> Result<ReadOutcome, DriveError>;
    fn write_block(&mut self, block: &[u8]) -> Result<WriteOutcome, DriveError>;
    /// WRITE FILEMARKS; `sync` false is SSC's IMMED bit: no flush.
    fn write_filemarks(&mut self, count: u32, sync: bool) -> Result<WriteOutcome, DriveError>;
    /// Makes everything written so far durable (WRITE FILEMARKS 0).
    fn flush(&mut self) -> Result<(), DriveError>;
    fn unload(&mut self) -> Result<(), DriveError>;
    fn info(&self) -> DriveInfo;
    fn set_lbp(&mut self, on: bool);
}

/// Appends the LBP CRC32C of `payload` after it in `block`.
pub fn lbp_seal(block: &mut Vec<u8>) -> u32 {
    let crc = crc32c::crc32c(block);
    block.extend_from_slice(&crc.to_be_bytes());
    crc
}

/// Splits a protected block into payload and CRC if the CRC matches.
pub fn lbp_open(block: &[u8]) -> Option<&[u8]> {
    let split = block.len().checked_sub(LBP_CRC_LEN)?;
    let (payload, crc) = block.split_at(split);
    let crc = u32::from_be_bytes(crc.try_into().ok()?);
    (crc32c::crc32c(payload) == crc).then_some(payload)
}
