//! The disk buffer's collector (`[buffer]`): once the buffer's filesystem
//! is fuller than its high watermark, or queued recalls wait for room no
//! file of theirs fits in, evicts disk copies of files that are on tape and
//! not pinned, least recently used first, until it is no fuller than the
//! low watermark. A file not yet on tape (its disk copy is
//! its only one) and a pinned copy are never touched; each copy goes
//! through the same checks as `stager evict` (see `eviction`).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, bounded};

use super::eviction::{DiskCopy, evict};
use super::metrics::Metrics;
use crate::config::disk_buffer::Percent;
use crate::disk_buffer::Space;
use crate::scheduler::BufferKeeping;

/// Candidates asked for at a time.
const BATCH: u64 = 256;

pub struct Collector {
    pub db: Box<dyn BufferKeeping>,
    /// A directory on the buffer's filesystem; only files beneath it go.
    pub path: PathBuf,
    pub high: Percent,
    pub low: Percent,
    pub interval: Duration,
    /// Every archive root: an evicted file must lie beneath one.
    pub roots: Vec<PathBuf>,
    pub metrics: Option<Arc<Metrics>>,
}

/// What one pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Pass {
    pub files: u64,
    pub bytes: u64,
    /// Still above the high watermark with nothing left to evict.
    pub stuck: bool,
}

pub struct CollectorHandle {
    stop: Sender<()>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl CollectorHandle {
    pub fn spawn(mut collector: Collector) -> std::io::Result<Self> {
        let (stop, stopped) = bounded(1);
        let thread = std::thread::Builder::new()
            .name("buffer-collector".into())
            .spawn(move || collector.run(&stopped))?;
        Ok(Self {
            stop,
            thread: Some(thread),
        })
    }

    pub fn stop(mut self) {
        let _ = self.stop.send(());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Collector {
    fn run(&mut self, stopped: &Receiver<()>) {
        tracing::info!(path = %self.path.display(), high = %String::from(self.high), low = %String::from(self.low), "disk buffer collector started");
        let mut was_stuck = false;
        loop {
            match self.pass() {
                Ok(p) => {
                    // Said once while it lasts, not every interval.
                    if p.stuck && !was_stuck {
                        tracing::warn!(path = %self.path.display(), "disk buffer full and nothing left to evict: what is on it is pinned or not yet on tape; recalls wait for room");
                    }
                    was_stuck = p.stuck;
                }
                Err(e) => {
                    tracing::error!(path = %self.path.display(), error = %e, "disk buffer collection failed")
                }
            }
            match stopped.recv_timeout(self.interval) {
                Err(RecvTimeoutError::Timeout) => {}
                _ => return,
            }
        }
    }

    /// One look at the buffer, evicting down to the low watermark if it
    /// is above the high one.
    pub fn pass(&mut self) -> Result<Pass, String> {
        let space = Space::of(&self.path).map_err(|e| format!("cannot measure it: {e}"))?;
        let mut pass = Pass::default();
        let room = space.room(self.high);
        let limit = room.limit;
        // Recalls fill the buffer up to the high watermark: with less room
        // left below it than their smallest file, they would wait for ever
        // on a buffer the collector leaves alone.
        let demand = self.db.recall_demand().map_err(|e| e.to_string())?;
        let room = room.left(demand.reserved_bytes);
        let starved = demand.waiting_files > 0 && demand.smallest_waiting > room;
        if space.used <= limit && !starved {
            return Ok(pass);
        }
        // Down to the low watermark, or further if a waiting file needs
        // more room than that leaves.
        let needed = if starved {
            demand.smallest_waiting - room
        } else {
            0
        };
        let excess = space
            .used
            .saturating_sub(self.low.of(space.capacity))
            .max(needed);
        let beneath = self.path.display().to_string();
        // Copies kept (changed, unreadable) are skipped for the rest of the
        // pass, not asked for again and again.
        let mut skipped = std::collections::HashSet::new();
        'batches: while pass.bytes < excess {
            let batch = self
                .db
                .eviction_candidates(&beneath, BATCH + skipped.len() as u64)
                .map_err(|e| e.to_string())?;
            let fresh: Vec<_> = batch
                .into_iter()
                .filter(|c| !skipped.contains(&c.file_id))
                .collect();
            if fresh.is_empty() {
                pass.stuck = space.used > limit || starved;
                break;
            }
            for c in fresh {
                let copy = DiskCopy {
                    file_id: c.file_id,
                    path: &c.path,
                    size: c.size,
                    crc32c: c.crc32c,
                };
                match evict(&mut *self.db, &copy, &self.roots) {
                    Ok(true) => {
                        pass.files += 1;
                        pass.bytes += c.size;
                        if let Some(m) = &self.metrics {
                            m.evicted(c.size);
                        }
                    }
                    Ok(false) => {}
                    Err(why) => {
                        tracing::warn!(file_id = c.file_id, path = %c.path, reason = %why, "disk copy kept by the collector");
                        skipped.insert(c.file_id);
                    }
                }
                if pass.bytes >= excess {
                    break 'batches;
                }
            }
        }
        if pass.files == 0 {
            return Ok(pass);
        }
        let after = Space::of(&self.path).map_or(0.0, |s| s.percent_used());
        tracing::info!(
            files = pass.files,
            bytes = pass.bytes,
            used_before_pct = format!("{:.1}", space.percent_used()),
            used_after_pct = format!("{after:.1}"),
            "disk buffer collected"
        );
        Ok(pass)
    }
}
