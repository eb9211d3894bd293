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
