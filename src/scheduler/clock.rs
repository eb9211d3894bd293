//! The scheduler's one clock. Every time the catalogue holds (mounts
//! started and ended, drive leases, requests queued, `not_before`) is
//! stamped by the database in the statement that makes the change, and
//! every comparison with "now" is made against the same clock, so hosts
//! sharing a catalogue never compare one host's clock with another's.
//!
//! Statements name that clock `ts_now()` (seconds since the epoch, a
//! double). On PostgreSQL it is the server's `clock_timestamp()`; on SQLite
//! (one host) a function of the connection reading the host's clock. A
//! [`VirtualClock`] replaces both, so the same statements run on a clock a
//! simulator moves.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Where "now" comes from.
#[derive(Debug, Clone, Default)]
pub enum Clock {
    /// The database's own clock.
    #[default]
    Database,
    /// A clock the caller moves.
    Virtual(VirtualClock),
}

/// Seconds since the epoch, set and advanced by its owner; clones share it.
#[derive(Debug, Clone)]
pub struct VirtualClock(Arc<AtomicU64>);

impl VirtualClock {
    pub fn new(start: f64) -> Self {
        Self(Arc::new(AtomicU64::new(start.to_bits())))
    }

    pub fn now(&self) -> f64 {
        f64::from_bits(self.0.load(Ordering::SeqCst))
    }

    pub fn set(&self, at: f64) {
        self.0.store(at.to_bits(), Ordering::SeqCst);
    }

    pub fn advance(&self, by: Duration) {
        self.set(self.now() + by.as_secs_f64());
    }
}

/// The name statements use for the clock.
pub const NOW: &str = "ts_now()";

/// This host's clock, in seconds since the epoch (SQLite's `ts_now()`).
pub fn host_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_secs_f64()
}

impl Clock {
    /// The time SQLite's `ts_now()` answers.
    pub(crate) fn sqlite_now(&self) -> f64 {
        match self {
            Clock::Database => host_now(),
            Clock::Virtual(v) => v.now(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_virtual_clock_moves_only_when_told_and_clones_share_it() {
        let clock = VirtualClock::new(1000.0);
        let other = clock.clone();
        assert_eq!(clock.now(), 1000.0);
        other.advance(Duration::from_millis(1500));
        assert_eq!(clock.now(), 1001.5);
        clock.set(5.0);
        assert_eq!(Clock::Virtual(other).sqlite_now(), 5.0);
    }
}
