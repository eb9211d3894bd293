//! The scheduler and catalogue: queues of archive and recall requests,
//! tapes and pools, which file sits where on which tape, and mounts.
//!
//! One trait, several backends (SQLite now). Every process that needs it
//! (frontend thread, scheduler thread, each session) opens its own
//! connection with [`open`].

pub mod sqlite;
pub mod test_knobs;

use std::time::Duration;

use crate::tape::format::LastFile;

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
    NotOnTape { id: u64, state: String },
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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MountKind {
    Migration,
    Recall,
}

impl MountKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MountKind::Migration => "migration",
            MountKind::Recall => "recall",
        }
    }
}

/// A mount the scheduler assigned to a drive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    pub id: u64,
    pub kind: MountKind,
    pub vid: String,
    pub pool: String,
}

/// When a queue is worth a mount: any one threshold reached.
#[derive(Debug, Clone, Copy)]
pub struct MountCriteria {
    pub min_files: u64,
    pub min_bytes: u64,
    pub max_age: Duration,
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
    pub size: u64,
    pub crc32c: u32,
    pub destination: String,
}

/// A file the tape thread wrote and flushed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchivedFile {
    pub file_id: u64,
    pub fseq: u64,
    pub block_id: u64,
    pub size: u64,
    pub crc32c: u32,
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
    pub state: String,
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
    pub state: String,
    pub size: u64,
    pub error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TapeInfo {
    pub vid: String,
    pub pool: String,
    pub state: String,
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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TapeState {
    Active,
    Full,
    Disabled,
}

impl TapeState {
    pub fn as_str(self) -> &'static str {
        match self {
            TapeState::Active => "active",
            TapeState::Full => "full",
            TapeState::Disabled => "disabled",
        }
    }
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

    /// Records flushed files and failed ones of a migration mount in one transaction.
    fn report_migration(
        &mut self,
        mount_id: u64,
        vid: &str,
        archived: &[ArchivedFile],
        failed: &[(u64, String)],
    ) -> Result<(), SchedulerError>;
    /// Records recall outcomes (None = success) in one transaction.
    fn report_recalls(
        &mut self,
        mount_id: u64,
        results: &[(u64, Option<String>)],
    ) -> Result<(), SchedulerError>;
    /// Gives files back to the queue (not failed: another mount will take them).
    fn requeue_archive(&mut self, mount_id: u64, file_ids: &[u64]) -> Result<(), SchedulerError>;
    fn set_tape_state(
        &mut self,
        vid: &str,
        state: TapeState,
        reason: &str,
    ) -> Result<(), SchedulerError>;
    /// Closes a mount and requeues whatever it had not reported.
    fn end_mount(&mut self, mount_id: u64) -> Result<(), SchedulerError>;
    /// Closes every open mount of a drive (after a crash); returns their ids.
    fn end_mounts_of_drive(&mut self, host: &str, drive: &str) -> Result<Vec<u64>, SchedulerError>;

    /// Opens a mount of one tape for an operator session (label, readtp);
    /// fails if the tape or the drive already has an open mount.
    fn claim_tape(
        &mut self,
        host: &str,
        drive: &str,
        vid: &str,
        kind: &str,
    ) -> Result<u64, SchedulerError>;
    /// Open mounts of a drive: (mount id, VID).
    fn open_mounts_of_drive(
        &mut self,
        host: &str,
        drive: &str,
    ) -> Result<Vec<(u64, String)>, SchedulerError>;
    /// A relabelled tape starts empty: its files are marked lost. Returns their ids.
    fn reset_tape(&mut self, vid: &str) -> Result<Vec<u64>, SchedulerError>;

    /// Files by id; no ids: every file.
    fn file_status(&mut self, ids: &[u64]) -> Result<Vec<FileStatus>, SchedulerError>;
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
