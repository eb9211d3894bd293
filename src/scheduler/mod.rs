//! The scheduler and catalogue: queues of archive and recall requests,
//! tapes and pools, which file sits where on which tape, and mounts.
//!
//! One trait, several backends (SQLite now). Every process that needs it
//! (frontend thread, scheduler thread, each session) opens its own
//! connection with [`open`]. What counts as pending work is defined once
//! per backend and shared by mount selection and fetching, so a mount is
//! never chosen for work its fetch cannot see.

pub mod sqlite;
pub mod states;
pub mod test_knobs;

use std::time::Duration;

use crate::tape::format::LastFile;

pub use states::{FileState, MountKind, RecallState, TapeState};

#[derive(Debug, thiserror::Error)]
pub enum SchedulerError {
    #[error("scheduler database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("scheduler URL {0:?} is not supported (expected sqlite://PATH)")]
    UnsupportedUrl(String),
    #[error("cannot create the scheduler database directory {path}: {source}")]
    CreateDir {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("no file with id {0}")]
    UnknownFile(u64),
    #[error("file {id} is not on tape (it is {state})")]
    NotOnTape { id: u64, state: FileState },
    #[error(
        "{path}: {size} bytes is larger than the largest tape of pool {pool} ({largest} bytes)"
    )]
    TooLarge {
        path: String,
        size: u64,
        pool: String,
        largest: u64,
    },
    #[error("pool {0} has no tape: nothing could be archived to it")]
    EmptyPool(String),
    #[error("no open mount with id {0}")]
    UnknownMount(u64),
    #[error("no tape {0} in the catalogue")]
    UnknownTape(String),
    #[error("no tape pool named {0:?}")]
    UnknownPool(String),
    #[error("mount {mount_id} no longer owns file {file_id}: its work was requeued")]
    StaleMount { mount_id: u64, file_id: u64 },
    #[error("{0}")]
    Invalid(String),
    #[error("tape {0} is in use by another mount")]
    TapeBusy(String),
    #[error("scheduler: injected fault: {0}")]
    Injected(String),
}

/// A mount the scheduler assigned to a drive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    pub id: u64,
    pub kind: MountKind,
    pub vid: String,
    pub pool: String,
}

/// When a queue is worth a mount: any one threshold reached, unless its
/// last mount found nothing to do less than `empty_backoff` ago.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MountCriteria {
    pub min_files: u64,
    pub min_bytes: u64,
    pub max_age: Duration,
    pub empty_backoff: Duration,
}

/// How many times a file may fail before it fails for good.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileLimits {
    /// Attempts (disk-side failures, or a session killed on the file).
    pub max_attempts: u32,
    /// Tapes on which the file met end of medium.
    pub max_end_of_medium: u32,
}

impl Default for FileLimits {
    fn default() -> Self {
        Self {
            max_attempts: 3,
            max_end_of_medium: 2,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewArchiveFile {
    pub path: String,
    pub size: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveJob {
    pub file_id: u64,
    pub path: String,
    pub size: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecallJob {
    pub recall_id: u64,
    pub file_id: u64,
    pub fseq: u64,
    pub block_id: u64,
    /// The block size the file was written with (None: not recorded, read
    /// from its UHL1).
    pub block_size: Option<u64>,
    pub size: u64,
    pub crc32c: u32,
    pub destination: String,
    /// The file an earlier attempt of this recall put in place, if it got
    /// that far.
    pub staged: Option<FileIdentity>,
}

/// What tells one file from any other on a host: device and inode, and the
/// last modification (an inode number is reused once a file is deleted; a
/// file written later has a later time).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileIdentity {
    pub dev: u64,
    pub ino: u64,
    pub mtime_ns: i64,
}

/// A file the tape thread wrote and flushed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchivedFile {
    pub file_id: u64,
    pub fseq: u64,
    pub block_id: u64,
    pub block_size: u64,
    pub size: u64,
    pub crc32c: u32,
}

/// Why a migration could not write a file this time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileFailure {
    /// The disk side could not supply it (counts as an attempt).
    Disk(String),
    /// It met end of medium (counts toward `max_end_of_medium`).
    EndOfMedium(String),
    /// Nothing another attempt could change: it fails now.
    Final(String),
}

/// A file that failed in a migration, for the catalogue to count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedFile {
    pub file_id: u64,
    pub failure: FileFailure,
}

/// An open mount, for operators.
#[derive(Debug, Clone, PartialEq)]
pub struct OpenMount {
    pub id: u64,
    pub kind: MountKind,
    pub vid: String,
    pub host: String,
    pub drive: String,
    /// Seconds since the epoch.
    pub started: f64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecallTicket {
    pub recall_id: u64,
    pub vid: String,
    pub fseq: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileStatus {
    pub id: u64,
    pub path: String,
    pub size: u64,
    pub state: FileState,
    pub crc32c: Option<u32>,
    pub vid: Option<String>,
    pub fseq: Option<u64>,
    pub block_id: Option<u64>,
    pub error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecallStatus {
    pub id: u64,
    pub file_id: u64,
    pub destination: String,
    pub state: RecallState,
    pub size: u64,
    pub error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TapeInfo {
    pub vid: String,
    pub pool: String,
    pub state: TapeState,
    pub capacity: u64,
    pub bytes_used: u64,
    pub last_fseq: u64,
    pub files: u64,
    /// Why the tape is full or disabled.
    pub reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TapeFile {
    pub fseq: u64,
    pub block_id: u64,
    pub file_id: u64,
    pub size: u64,
    pub crc32c: u32,
    pub path: String,
}

pub trait Scheduler: Send {
    fn add_pool(&mut self, name: &str) -> Result<(), SchedulerError>;
    /// Registers a labelled, empty cartridge; a VID already known is left as is.
    fn add_tape(&mut self, vid: &str, pool: &str, capacity: u64) -> Result<(), SchedulerError>;

    /// Queues files for migration in one transaction; returns their ids in order.
    fn queue_archive(
        &mut self,
        files: &[NewArchiveFile],
        pool: &str,
    ) -> Result<Vec<u64>, SchedulerError>;
    fn queue_recall(
        &mut self,
        file_id: u64,
        destination: &str,
    ) -> Result<RecallTicket, SchedulerError>;

    /// Picks work for a free drive and records the mount; a tape with an
    /// open mount is never picked.
    fn next_mount(
        &mut self,
        host: &str,
        drive: &str,
        criteria: &MountCriteria,
    ) -> Result<Option<Mount>, SchedulerError>;
    /// Assigns up to `max_files` / `max_bytes` (at least one file) of queued work to the mount.
    fn fetch_archive_jobs(
        &mut self,
        mount_id: u64,
        max_files: u64,
        max_bytes: u64,
    ) -> Result<Vec<ArchiveJob>, SchedulerError>;
    /// As `fetch_archive_jobs`, in fSeq order.
    fn fetch_recall_jobs(
        &mut self,
        mount_id: u64,
        max_files: u64,
        max_bytes: u64,
    ) -> Result<Vec<RecallJob>, SchedulerError>;
    /// The last file the catalogue has on a tape.
    fn last_file(&mut self, vid: &str) -> Result<Option<LastFile>, SchedulerError>;
    fn tape(&mut self, vid: &str) -> Result<TapeInfo, SchedulerError>;

    /// Records flushed files and failed ones of a migration mount in one
    /// transaction. A failed file is requeued (not to this mount again)
    /// until it reaches its limit, then fails with its last reason.
    fn report_migration(
        &mut self,
        mount_id: u64,
        vid: &str,
        archived: &[ArchivedFile],
        failed: &[FailedFile],
        limits: &FileLimits,
    ) -> Result<(), SchedulerError>;
    /// A session was killed while on this file (its disk side hung): one
    /// attempt; at the limit the file fails with `reason`.
    fn count_attempt(
        &mut self,
        mount_id: u64,
        file_id: u64,
        reason: &str,
        limits: &FileLimits,
    ) -> Result<(), SchedulerError>;
    /// Records, before a recall links its file into place, which file that
    /// is, so a retry can prove a destination is its own.
    fn stage_recall(
        &mut self,
        mount_id: u64,
        recall_id: u64,
        file: &FileIdentity,
    ) -> Result<(), SchedulerError>;
    /// Records recall outcomes (None = success) in one transaction.
    fn report_recalls(
        &mut self,
        mount_id: u64,
        results: &[(u64, Option<String>)],
    ) -> Result<(), SchedulerError>;
    fn set_tape_state(
        &mut self,
        vid: &str,
        state: TapeState,
        reason: &str,
    ) -> Result<(), SchedulerError>;
    /// Closes a mount and requeues whatever it had not reported.
    fn end_mount(&mut self, mount_id: u64) -> Result<(), SchedulerError>;
    /// Closes a mount that found no work; its queue is not mounted again
    /// for the criteria's `empty_backoff`.
    fn end_empty_mount(&mut self, mount_id: u64) -> Result<(), SchedulerError>;
    /// Requeues the unreported work of a drive's mounts but keeps them
    /// open: the cartridge is stuck in the drive, so neither the drive nor
    /// the tape may be given out until a cleaner or an operator closes them.
    fn release_work_of_drive(
        &mut self,
        host: &str,
        drive: &str,
    ) -> Result<Vec<u64>, SchedulerError>;
    /// Closes every open mount of a drive (after a crash); returns their ids.
    fn end_mounts_of_drive(&mut self, host: &str, drive: &str) -> Result<Vec<u64>, SchedulerError>;

    /// Opens a mount of one tape for an operator session (label, readtp);
    /// fails if the tape or the drive already has an open mount.
    fn claim_tape(
        &mut self,
        host: &str,
        drive: &str,
        vid: &str,
        kind: MountKind,
    ) -> Result<u64, SchedulerError>;
    /// Every open mount, of every host.
    fn open_mounts(&mut self) -> Result<Vec<OpenMount>, SchedulerError>;
    /// A relabelled tape starts empty: its files are marked lost and the
    /// recalls queued from it fail. Returns the lost files' ids.
    fn reset_tape(&mut self, vid: &str) -> Result<Vec<u64>, SchedulerError>;

    /// Files by id; no ids: every file.
    fn file_status(&mut self, ids: &[u64]) -> Result<Vec<FileStatus>, SchedulerError>;
    /// Recalls by id; no ids: every recall.
    fn recall_status(&mut self, ids: &[u64]) -> Result<Vec<RecallStatus>, SchedulerError>;
    fn tapes(&mut self) -> Result<Vec<TapeInfo>, SchedulerError>;
    fn tape_files(&mut self, vid: &str) -> Result<Vec<TapeFile>, SchedulerError>;
}

/// Opens a connection to the scheduler named by `url`.
pub fn open(url: &str) -> Result<Box<dyn Scheduler>, SchedulerError> {
    match url.strip_prefix("sqlite://") {
        Some(path) if !path.is_empty() => Ok(Box::new(sqlite::SqliteScheduler::open(
            std::path::Path::new(path),
        )?)),
        _ => Err(SchedulerError::UnsupportedUrl(url.to_string())),
    }
}
