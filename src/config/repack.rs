//! `[repack]`: where a repack's files wait between their read and their
//! writes, how much of them at once, and how many drives read for repacks.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::units::ByteSize;

/// 10 GiB: a few minutes of one drive's streaming, enough to keep a
/// writing drive busy while the next files are read.
pub const DEFAULT_BUFFER_BYTES: u64 = 10 << 30;

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct RepackConfig {
    /// The repack buffer (default: STATE_DIR/repack). Servers sharing one
    /// catalogue must see the same directory here: a file read by one may
    /// be written by another.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub buffer_dir: Option<PathBuf>,
    /// At most this much of repacked files in the buffer at any time.
    #[serde(default = "default_buffer_bytes")]
    pub buffer_bytes: ByteSize,
    /// At most this many drives read for repacks at once (0: repacks wait).
    #[serde(default = "default_max_drives")]
    pub max_drives: u64,
}

fn default_buffer_bytes() -> ByteSize {
    ByteSize(DEFAULT_BUFFER_BYTES)
}

fn default_max_drives() -> u64 {
    1
}

impl Default for RepackConfig {
    fn default() -> Self {
        Self {
            buffer_dir: None,
            buffer_bytes: default_buffer_bytes(),
            max_drives: default_max_drives(),
        }
    }
}

impl RepackConfig {
    /// The buffer directory, given the daemon's state directory.
    pub fn buffer_dir(&self, state_dir: &Path) -> PathBuf {
        self.buffer_dir
            .clone()
            .unwrap_or_else(|| state_dir.join("repack"))
    }
}
