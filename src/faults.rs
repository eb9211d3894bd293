//! Test scaffolding, in one place: the faults a test injects. Production
//! code never sets them; a daemon whose config names any logs it.
//!
//! [`Faults`] is one drive's (`[[drives]] faults` in the config): the
//! fault-injecting drive (`tape::faulty`) and the failing dismount
//! (`library::faulty_changer`) read it as it is. [`SchedulerFaults`]
//! (`[test_faults]`) slows or fails the scheduler connections of the
//! daemon's sessions (`scheduler::test_knobs`). The parent hands both to a
//! session unchanged, serialized in its spec ([`SessionFaults`]).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::units::{ByteSize, Interval};

/// Faults one drive injects in every session.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Faults {
    /// The Nth data block written (1-based) fails with a write error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub write_error_at_block: Option<u64>,
    /// The Nth data block read fails with a medium error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_error_at_block: Option<u64>,
    /// The Nth data block read comes back with one bit flipped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub corrupt_read_at_block: Option<u64>,
    /// Before the Nth data block is written or read, the drive hangs for
    /// `stall`, or until the file `stall_until` exists (a test releases it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stall_at_block: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stall: Option<Interval>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stall_until: Option<PathBuf>,
    /// Writes report early warning once this many payload bytes were written...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub early_warning_after: Option<ByteSize>,
    /// ...and end of medium (nothing written) past this many.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_of_medium_after: Option<ByteSize>,
    /// The library fails every dismount from this drive.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub dismount_error: bool,
    /// Every data block written or read takes this long (a slow drive, so
    /// that a test's kill lands while data moves).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub block_delay: Option<Interval>,
}

impl Faults {
    /// Whether the drive itself misbehaves (the dismount is the library's).
    pub fn on_drive(&self) -> bool {
        Faults {
            dismount_error: false,
            ..self.clone()
        } != Faults::default()
    }
}

/// The daemon's sessions' scheduler connections, slowed or failing.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SchedulerFaults {
    /// Every call waits this long first (a slow database must not slow the
    /// tape).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub call_delay: Option<Interval>,
    /// The first fetches of work fail as if the database were unreachable.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub failing_fetches: u64,
    /// The first closings of a drive's mounts fail likewise.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub failing_closes: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl SchedulerFaults {
    pub fn any(&self) -> bool {
        *self != SchedulerFaults::default()
    }
}

/// What a session is handed: its drive's faults and the scheduler's.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
pub struct SessionFaults {
    #[serde(default)]
    pub drive: Faults,
    #[serde(default)]
    pub scheduler: SchedulerFaults,
}

impl SessionFaults {
    /// The form a session spec carries (empty: none).
    pub fn encode(&self) -> String {
        if *self == SessionFaults::default() {
            return String::new();
        }
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Read back from a spec; an unreadable text injects nothing (and says so).
    pub fn decode(text: &str) -> Self {
        if text.is_empty() {
            return Self::default();
        }
        serde_json::from_str(text).unwrap_or_else(|e| {
            tracing::error!(error = %e, "the session's test faults are unreadable: none injected");
            Self::default()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_reach_a_session_unchanged() {
        let faults = SessionFaults {
            drive: Faults {
                stall_at_block: Some(3),
                stall_until: Some("/tmp/release".into()),
                early_warning_after: Some(ByteSize(1 << 20)),
                dismount_error: true,
                block_delay: Some(Interval(std::time::Duration::from_millis(3))),
                ..Default::default()
            },
            scheduler: SchedulerFaults {
                call_delay: Some(Interval(std::time::Duration::from_millis(20))),
                failing_fetches: 1,
                failing_closes: 0,
            },
        };
        assert_eq!(SessionFaults::decode(&faults.encode()), faults);
        assert_eq!(SessionFaults::default().encode(), "");
        assert_eq!(SessionFaults::decode(""), SessionFaults::default());
        assert!(faults.drive.on_drive());
        assert!(
            !Faults {
                dismount_error: true,
                ..Default::default()
            }
            .on_drive()
        );
    }
}
