//! The scheduler and catalogue: queues of archive and recall requests,
//! tapes and pools, which file sits where on which tape, and mounts.
//!
//! One trait, several backends (SQLite now). Every process that needs it
//! (frontend thread, scheduler thread, each session) opens its own
//! connection with [`open`]. What counts as pending work is defined once
//! per backend and shared by mount selection and fetching, so a mount is
//! never chosen for work its fetch cannot see.

pub mod backend;
pub mod clock;
pub mod policy;
pub mod roles;
pub mod sql;
pub mod staging;
pub mod states;
pub mod test_knobs;
#[cfg(test)]
pub mod testdb;

use crate::tape::format::LastFile;

pub use backend::{SqlScheduler, SqliteScheduler};
pub use policy::{MountPolicy, PoolDrives, PoolPolicy, QueueActivity, QueuePolicy, Share};
pub use roles::{
    Administration, BufferKeeping, MetricsSource, MountSelection, Scheduler, SessionWork,
    StageRequests, StagerRequests,
};

/// Every role's trait, for code that calls the scheduler's methods on a
/// concrete backend (tools, tests).
pub mod prelude {
    pub use super::roles::{
        Administration, BufferKeeping, MetricsSource, MountSelection, Scheduler, SessionWork,
        StageRequests, StagerRequests,
    };
}
pub use staging::{
    BufferRoom, BufferUsage, EvictionCandidate, EvictionClaim, RecallDemand, StageEntry,
    StageFileState, StageFileStatus, StageStatus,
};
pub use states::{FileState, MountKind, RecallState, TapeState};

#[derive(Debug, thiserror::Error)]
pub enum SchedulerError {
    #[error("scheduler database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("scheduler database: {}", postgres_message(.0))]
    Postgres(#[from] postgres::Error),
    #[error("scheduler database unreachable: {0}")]
    Unavailable(String),
    #[error(
        "the catalogue's schema is version {found}, newer than this tapeserver's ({supported}): upgrade tapeserver"
    )]
    SchemaTooNew { found: i64, supported: i64 },
    #[error("scheduler URL {0:?} is not supported (expected sqlite://PATH or postgres://...)")]
    UnsupportedUrl(String),
    #[error("cannot create the scheduler database directory {path}: {source}")]
    CreateDir {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("cannot read the scheduler password file {path}: {source}")]
    PasswordFile {
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
    #[error(
        "no tape pool named {0:?} (tapeadmin pools lists them; tapeadmin add-pool {0} creates it)"
    )]
    UnknownPool(String),
    #[error("mount {mount_id} no longer owns file {file_id}: its work was requeued")]
    StaleMount { mount_id: u64, file_id: u64 },
    #[error("{0}")]
    Invalid(String),
    #[error("tape {0} is in use by another mount")]
    TapeBusy(String),
    #[error("no stage request {0} of yours")]
    UnknownStage(String),
}

/// PostgreSQL's own words when the server sent some, with its SQLSTATE.
fn postgres_message(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{} (SQLSTATE {})", db.message(), db.code().code()),
        None => e.to_string(),
    }
}

impl SchedulerError {
    /// True when the database could not be reached, the connection broke,
    /// or the transaction lost a race it may win when tried again.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Unavailable(_) => true,
            Self::Postgres(e) => match e.code() {
                None => e.as_db_error().is_none(),
                Some(code) => {
                    let code = code.code();
                    code.starts_with("08")
                        || code.starts_with("57P")
                        || code == "40001"
                        || code == "40P01"
                        || code == "53300"
                }
            },
            Self::Sqlite(rusqlite::Error::SqliteFailure(e, _)) => matches!(
                e.code,
                rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
            ),
            _ => false,
        }
    }

    /// True when a unique constraint refused a row (another server took it).
    pub fn is_conflict(&self) -> bool {
        match self {
            Self::Postgres(e) => e.code() == Some(&postgres::error::SqlState::UNIQUE_VIOLATION),
            Self::Sqlite(rusqlite::Error::SqliteFailure(e, _)) => {
                e.code == rusqlite::ErrorCode::ConstraintViolation
            }
            _ => false,
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
    /// Who may see and recall it: the client (or client group) that
    /// archived it, [`LOCAL_OWNER`] for the local stagers.
    pub owner: String,
    /// The source's permission bits and owner, restored on recall.
    pub permissions: Option<Permissions>,
}

/// What a recall restores of an archived source: its permission bits
/// (`st_mode & 0o7777`) and its owner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Permissions {
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
}

/// The owner of what the local stagers (the daemon's ipc socket, held to
/// `[paths]`) archive, and of every file archived before owners existed.
pub const LOCAL_OWNER: &str = "local";

/// Who changed a tape's state when the server did (end of tape, a failed
/// label...), not an operator.
pub const SYSTEM: &str = "tapeserver";

/// One page of a listing: the rows after `after` (an id, or an fSeq for a
/// tape's files), at most `limit` of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    pub after: u64,
    pub limit: u64,
}

impl Page {
    /// Everything (the operator's tools, which read the catalogue directly).
    pub const ALL: Page = Page {
        after: 0,
        limit: u64::MAX,
    };
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveJob {
    pub file_id: u64,
    pub path: String,
    pub size: u64,
}

/// How a recall ended, as its session reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecallEnd {
    Done,
    /// For good: the file on tape is bad, the destination is not allowed...
    Failed(String),
    /// For now: the destination's filesystem is full (the partial file is
    /// gone); tried again after `after`, up to `RECALL_RETRIES` times.
    Retry {
        error: String,
        after: std::time::Duration,
    },
    /// The copy read failed (a read error, a checksum or size that does
    /// not match): the recall goes on with the next copy, or fails once
    /// every copy has failed. `bad`: the data itself proved wrong, so the
    /// copy is marked bad and never chosen again (a drive's error is not
    /// held against the copy).
    CopyFailed {
        reason: String,
        bad: bool,
    },
}

/// The reason of a tape imported from outside the library until a drive
/// has read its VOL1 (its first verification makes it active).
pub const IMPORT_PENDING: &str = "imported: its VOL1 is read before it takes files";

/// What background sessions (verify, a repack's reads) yield to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserWork {
    /// Some user queue would be given a drive now if one were free.
    pub due: bool,
    /// ...and one of them has waited its activity's maximum age: it may
    /// wait no longer for a background session to end by itself.
    pub overdue: bool,
    /// Tapes with user recalls waiting that a background mount holds: the
    /// session on each yields whether or not a drive is free.
    pub held_tapes: Vec<String>,
}

/// What `tapeadmin repack` asks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RepackRequest {
    /// Where the moved copies go (a new generation's pool); None: each
    /// copy's route.
    pub to_pool: Option<String>,
    /// Also write the copies a file's class asks for that no good tape holds.
    pub add_copies: bool,
    /// Reclaim the tape once it holds no live copy.
    pub reclaim: bool,
}

/// Where a repack's files wait between their read and their writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepackSettings {
    pub buffer_dir: String,
    /// At most this many bytes of files held in the buffer at any time.
    pub buffer_bytes: u64,
}

/// One repack, as `tapeadmin repacks` shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct RepackInfo {
    pub vid: String,
    /// queued, running, done or failed.
    pub state: String,
    pub files_total: u64,
    pub files_done: u64,
    pub files_failed: u64,
    /// Bytes of the files whose every copy is written.
    pub bytes: u64,
    pub queued: f64,
    pub started: Option<f64>,
    pub ended: Option<f64>,
    /// The first file's failure.
    pub error: Option<String>,
    pub to_pool: Option<String>,
    pub requested_by: Option<String>,
}

/// How many times a recall is tried in all before a passing failure
/// (a full disk) becomes final.
pub const RECALL_RETRIES: u64 = 10;

/// A storage class: how many copies, and the pool of each.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorageClass {
    pub name: String,
    pub copies: u64,
    /// (copy number, pool)
    pub routes: Vec<(u64, String)>,
}

/// One copy of a file on tape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyInfo {
    pub copy_nb: u64,
    pub vid: String,
    pub fseq: u64,
    pub block_id: u64,
    /// Why a verification or a recall found it bad.
    pub bad: Option<String>,
    pub tape_state: TapeState,
}

/// One file a verify mount reads back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyJob {
    pub file_id: u64,
    pub fseq: u64,
    pub block_id: u64,
    pub size: u64,
    pub crc32c: Option<u32>,
}

/// A copy a verify mount found bad, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadCopy {
    pub file_id: u64,
    pub fseq: u64,
    pub reason: String,
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
    /// The archived source's permission bits and owner (None: archived
    /// before they were kept; the recall uses the default, 0640).
    pub permissions: Option<Permissions>,
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
    /// Seconds since it started, by the database's clock.
    pub age: f64,
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
    /// The client (or client group) it belongs to.
    pub owner: String,
    /// Why its copy is bad, when a verification found it so.
    pub bad: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecallStatus {
    pub id: u64,
    pub file_id: u64,
    pub destination: String,
    pub state: RecallState,
    pub size: u64,
    pub error: Option<String>,
    pub vid: String,
    pub fseq: u64,
}

#[derive(Debug, Clone, PartialEq)]
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
    /// Mounts for reading (recalls, readtp) and for writing (migrations,
    /// labels) the tape has had.
    pub read_mounts: u64,
    pub write_mounts: u64,
    /// Files whose copy is on the tape: live, and deleted (until the tape
    /// is reclaimed).
    pub live_files: u64,
    pub live_bytes: u64,
    pub deleted_files: u64,
    pub deleted_bytes: u64,
    /// How many times the tape was reclaimed.
    pub reclaimed: u64,
    /// Who set the state ("tapeserver", or an operator), and when
    /// (seconds since the epoch).
    pub state_by: Option<String>,
    pub state_since: Option<f64>,
    /// When a verify mount last read the tape (seconds since the epoch),
    /// and how many bad copies it found.
    pub last_verified: Option<f64>,
    pub verify_errors: u64,
    /// The media type (volume tag suffix: L8, L9, M8...), if known.
    pub media: Option<String>,
    /// An exported tape's storage slot, where an import puts it back.
    pub home_slot: Option<u64>,
}

/// A pool, for operators.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolInfo {
    pub name: String,
    pub tapes: u64,
    /// Active tapes: the ones new files go to.
    pub writable_tapes: u64,
    pub free_bytes: u64,
    /// Archives waiting for a mount.
    pub queued_files: u64,
}

/// A queue, for operators: one pool's archives or one tape's recalls.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueInfo {
    pub kind: MountKind,
    pub pool: String,
    pub vid: Option<String>,
    pub files: u64,
    pub bytes: u64,
    /// How many of them a mount is working on.
    pub running: u64,
    /// Seconds since the oldest was queued.
    pub oldest_age: f64,
    /// False when the live drives' generations are known and none can read
    /// (recall) or write (archive) the queue's tapes: it would starve.
    pub servable: bool,
}

/// A host's lease on a drive.
#[derive(Debug, Clone, PartialEq)]
pub struct DriveLease {
    pub host: String,
    pub drive: String,
    /// Still running, by the database's clock.
    pub live: bool,
    /// Seconds until it runs out (negative: since it ran out).
    pub remaining: f64,
}

/// One mount, ended or not, from the catalogue's history.
#[derive(Debug, Clone, PartialEq)]
pub struct MountRecord {
    pub id: u64,
    pub kind: MountKind,
    pub vid: String,
    pub host: String,
    pub drive: String,
    pub started: f64,
    pub ended: Option<f64>,
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

/// Opens a connection to the scheduler named by `url`: `sqlite://PATH`,
/// or `postgres://...` with the password (if any) in `password_file`.
pub fn open(url: &str) -> Result<Box<dyn Scheduler>, SchedulerError> {
    open_with(url, None)
}

/// As [`open`], with the PostgreSQL password read from a file.
pub fn open_with(
    url: &str,
    password_file: Option<&std::path::Path>,
) -> Result<Box<dyn Scheduler>, SchedulerError> {
    if let Some(path) = url.strip_prefix("sqlite://").filter(|p| !p.is_empty()) {
        return Ok(Box::new(SqlScheduler::open(std::path::Path::new(path))?));
    }
    if is_postgres(url) {
        let password = match password_file {
            Some(path) => Some(read_password(path)?),
            None => None,
        };
        return Ok(Box::new(SqlScheduler::postgres(url, password.as_deref())?));
    }
    Err(SchedulerError::UnsupportedUrl(url.to_string()))
}

pub fn is_postgres(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

/// The password in `path`: its first line.
pub fn read_password(path: &std::path::Path) -> Result<String, SchedulerError> {
    let text = std::fs::read_to_string(path).map_err(|source| SchedulerError::PasswordFile {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(text.lines().next().unwrap_or_default().to_string())
}
