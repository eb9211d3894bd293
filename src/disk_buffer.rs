//! The disk buffer's filesystem: how full it is, and what room recalls
//! have below its high watermark (see `[buffer]`).

use std::path::{Path, PathBuf};

use crate::config::Config;
use crate::config::disk_buffer::Percent;
use crate::scheduler::BufferRoom;

/// A filesystem's size and use, bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Space {
    pub capacity: u64,
    /// What unprivileged writers cannot use: everything but the free
    /// blocks they may have.
    pub used: u64,
}

impl Space {
    pub fn of(path: &Path) -> std::io::Result<Self> {
        let st = nix::sys::statvfs::statvfs(path).map_err(std::io::Error::from)?;
        let unit = st.fragment_size() as u64;
        let capacity = (st.blocks() as u64).saturating_mul(unit);
        let available = (st.blocks_available() as u64).saturating_mul(unit);
        Ok(Self {
            capacity,
            used: capacity.saturating_sub(available),
        })
    }

    /// The room recalls have below `high` percent of it.
    pub fn room(&self, high: Percent) -> BufferRoom {
        BufferRoom {
            limit: high.of(self.capacity),
            used: self.used,
        }
    }

    /// Used, as a percentage of the capacity.
    pub fn percent_used(&self) -> f64 {
        if self.capacity == 0 {
            return 0.0;
        }
        self.used as f64 * 100.0 / self.capacity as f64
    }
}

/// The buffer's directory, when the config keeps one (`[buffer]`).
pub fn path(config: &Config) -> Option<PathBuf> {
    config.buffer.as_ref()?.path_or(&config.paths.archive_roots)
}

/// The room recalls have now in the buffer at `path`, filled up to
/// `high` percent. An unreadable filesystem leaves no room: recalls wait
/// rather than write into a buffer nobody can measure.
pub fn room(path: &Path, high: Percent) -> BufferRoom {
    match Space::of(path) {
        Ok(s) => s.room(high),
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "cannot measure the disk buffer: recalls wait");
            BufferRoom { limit: 0, used: 0 }
        }
    }
}

/// The room recalls have now, when the config keeps a buffer.
pub fn recall_room(config: &Config) -> Option<BufferRoom> {
    let high = config.buffer.as_ref()?.high_watermark;
    Some(room(&path(config)?, high))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_filesystem_reports_its_capacity_and_use() {
        let dir = tempfile::tempdir().unwrap();
        let s = Space::of(dir.path()).unwrap();
        assert!(s.capacity > 0 && s.used <= s.capacity, "{s:?}");
        let r = room(dir.path(), Percent(100));
        assert_eq!(r.limit, s.capacity);
        assert!(Space::of(&dir.path().join("missing")).is_err());
        // Nobody can measure it: no room.
        let none = room(&dir.path().join("missing"), Percent(90));
        assert_eq!(none.limit.saturating_sub(none.used), 0);
    }
}
