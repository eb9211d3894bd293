//! Faults a test injects into the emulated library, as files under
//! `LIBRARY/faults/`, so that any process (a test, an operator) can set
//! them while the library is in use. Per changer path `P`:
//!
//! - `P.dead`: the path does not answer (a pulled cable): transport error.
//! - `P.offline`: the path answers NOT READY, 04/12 (logical unit offline).
//! - `P.unit-attention`: the next command gets UNIT ATTENTION 28/00 (one shot).
//! - `P.reset`: the next command gets UNIT ATTENTION 29/00 (one shot).
//! - `P.hold`: a move on this path keeps the cartridge in the picker while
//!   the file exists (a slow move a test controls).
//! - `P.move-time`: the move time on this path ("2s", "150ms").
//! - `P.timeout-after-move`: the next move completes, then reports a
//!   timeout (one shot).
//!
//! And for the whole library, `door-open`: moves get NOT READY 04/03
//! (manual intervention required).

use std::path::{Path, PathBuf};
use std::time::Duration;

pub const DIR: &str = "faults";

pub struct Faults {
    dir: PathBuf,
    path: String,
}

impl Faults {
    pub fn new(root: &Path, path: &str) -> Self {
        Self {
            dir: root.join(DIR),
            path: path.to_string(),
        }
    }

    /// The file that sets fault `name` on this path.
    pub fn file(root: &Path, path: &str, name: &str) -> PathBuf {
        root.join(DIR).join(format!("{path}.{name}"))
    }

    fn here(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{}.{name}", self.path))
    }

    pub fn dead(&self) -> bool {
        self.here("dead").exists()
    }

    pub fn offline(&self) -> bool {
        self.here("offline").exists()
    }

    pub fn held(&self) -> bool {
        self.here("hold").exists()
    }

    pub fn door_open(&self) -> bool {
        self.dir.join("door-open").exists()
    }

    /// Consumes a one-shot fault: true for exactly one caller.
    pub fn take(&self, name: &str) -> bool {
        std::fs::remove_file(self.here(name)).is_ok()
    }

    /// Whether a one-shot fault is set, without consuming it.
    pub fn pending(&self, name: &str) -> bool {
        self.here(name).exists()
    }

    pub fn move_time(&self) -> Option<Duration> {
        let text = std::fs::read_to_string(self.here("move-time")).ok()?;
        match humantime::parse_duration(text.trim()) {
            Ok(d) => Some(d),
            Err(e) => {
                tracing::warn!(path = %self.path, error = %e, "ignoring an unreadable move-time fault");
                None
            }
        }
    }
}
