//! Bulk stage requests (the WLCG Tape REST API's STAGE) as the catalogue
//! keeps them: files brought back to their own paths, pinned on disk.

/// A path of a new stage request, as the frontend found it.
#[derive(Debug, Clone, PartialEq)]
pub struct StageEntry {
    pub path: String,
    /// The client's file archived from the path (None: `error` says why).
    pub file_id: Option<u64>,
    /// Its disk copy is there: nothing to recall.
    pub on_disk: bool,
    /// Why the path cannot be staged (unknown, empty, lost...).
    pub error: Option<String>,
    /// How long the disk copy stays pinned once there, seconds.
    pub lifetime_s: f64,
}

/// Where a file of a stage request stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StageFileState {
    Submitted,
    Started,
    Completed,
    Failed,
    Cancelled,
}

impl StageFileState {
    pub fn terminal(self) -> bool {
        matches!(self, Self::Completed | Self::Failed | Self::Cancelled)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct StageFileStatus {
    pub path: String,
    pub file_id: Option<u64>,
    pub state: StageFileState,
    pub error: Option<String>,
    /// Seconds since the epoch.
    pub started: Option<f64>,
    pub finished: Option<f64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct StageStatus {
    pub id: String,
    pub created: f64,
    pub files: Vec<StageFileStatus>,
}

impl StageStatus {
    /// When its first file started (the creation time if none has).
    pub fn started(&self) -> f64 {
        self.files
            .iter()
            .filter_map(|f| f.started)
            .fold(None, |a: Option<f64>, t| Some(a.map_or(t, |a| a.min(t))))
            .unwrap_or(self.created)
    }

    /// When its last file finished, once every file has.
    pub fn completed(&self) -> Option<f64> {
        if !self.files.iter().all(|f| f.state.terminal()) {
            return None;
        }
        Some(
            self.files
                .iter()
                .filter_map(|f| f.finished)
                .fold(self.created, f64::max),
        )
    }
}

/// What recalls may write into the disk buffer: the bytes below its high
/// watermark (`limit`) less what is on it now (`used`, from the
/// filesystem); the catalogue takes off what mounts were given to recall
/// and have not finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BufferRoom {
    pub limit: u64,
    pub used: u64,
}

impl BufferRoom {
    /// What recalls may still write once `reserved` bytes, given to
    /// recalls not yet written, are set aside.
    pub fn left(&self, reserved: u64) -> u64 {
        self.limit
            .saturating_sub(self.used)
            .saturating_sub(reserved)
    }
}

/// A disk copy the collector may evict: on tape, not pinned, not evicted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvictionCandidate {
    pub file_id: u64,
    pub path: String,
    pub size: u64,
    pub crc32c: Option<u32>,
}

/// Whether a file's disk copy may go now (the catalogue records it gone
/// before it is removed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EvictionClaim {
    Claimed,
    /// Its only copy: not (or no longer) on tape.
    NotOnTape(super::FileState),
    Pinned,
    /// Recorded evicted already.
    Evicted,
}

/// What recalls want of the disk buffer: what they were given and have
/// not written, and what waits to be given.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RecallDemand {
    pub reserved_bytes: u64,
    pub waiting_files: u64,
    pub waiting_bytes: u64,
    /// The smallest waiting file (0: none waits).
    pub smallest_waiting: u64,
}

/// The disk buffer as the catalogue sees it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BufferUsage {
    /// Disk copies a stage request pins.
    pub pinned_files: u64,
    pub pinned_bytes: u64,
    /// Files not yet on tape: their disk copy is their only one.
    pub unmigrated_files: u64,
    pub unmigrated_bytes: u64,
    /// Recalls given to mounts and not finished: space they will take.
    pub reserved_files: u64,
    pub reserved_bytes: u64,
    /// Files on tape whose disk copy is evicted.
    pub evicted_files: u64,
    pub evicted_bytes: u64,
}
