//! Which background sessions (verifications, a repack's reads) may be asked
//! to give their drive to user work: the catalogue knows which drives are
//! free and which sessions are background work; the scheduler says whether
//! user work waits.

use super::{Catalogue, DriveState};

/// A running background session that has not been asked to yield yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Preemptible {
    pub drive: String,
    pub vid: String,
    pub pid: i32,
}

impl Catalogue {
    /// Marks the session on `drive` as background work.
    pub fn set_background(&mut self, drive: &str) {
        if let Some(s) = self.drives.get_mut(drive).and_then(|d| d.session.as_mut()) {
            s.background = true;
        }
    }

    /// Background sessions with a process, not yet asked to yield.
    pub fn preemptible(&self) -> Vec<Preemptible> {
        self.drives
            .values()
            .filter_map(|d| {
                let s = d.session.as_ref()?;
                (s.background && !s.yielding && s.exited.is_none()).then_some(Preemptible {
                    drive: d.config.name.clone(),
                    vid: s.vid.clone(),
                    pid: s.pid?,
                })
            })
            .collect()
    }

    /// Whether some drive could take a mount now.
    pub fn has_free_drive(&self) -> bool {
        !self.shutting_down
            && self.drives.values().any(|d| {
                d.state == DriveState::Up && d.session.is_none() && d.library_wait.is_none()
            })
    }

    /// Whether the drive serves user work in turn (after a pre-emption).
    pub fn user_turn(&self, drive: &str) -> bool {
        self.drives.get(drive).is_some_and(|d| d.user_turn)
    }

    /// No user work was left for the drive: background work may have it.
    pub fn end_user_turn(&mut self, drive: &str) {
        if let Some(d) = self.drives.get_mut(drive) {
            d.user_turn = false;
        }
    }

    /// The session on `drive` was asked to yield.
    pub fn asked_to_yield(&mut self, drive: &str) {
        if let Some(s) = self.drives.get_mut(drive).and_then(|d| d.session.as_mut()) {
            s.yielding = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;
    use crate::proto::session::SessionKind;

    fn catalogue() -> (Catalogue, Instant) {
        let now = Instant::now();
        (super::super::of_test_drives(&["d0", "d1"], now), now)
    }

    #[test]
    fn a_background_session_is_preemptible_once_and_only_with_its_process() {
        let (mut c, now) = catalogue();
        assert!(c.has_free_drive());
        assert!(c.start_session("d0", SessionKind::Verify, "V00001", 7, None, now));
        c.set_background("d0");
        assert!(c.preemptible().is_empty(), "not forked yet");
        c.session_forked("d0", 100, now);
        assert!(c.start_session("d1", SessionKind::Recall, "V00002", 8, None, now));
        c.session_forked("d1", 101, now);
        assert!(!c.has_free_drive());
        assert_eq!(
            c.preemptible(),
            [Preemptible {
                drive: "d0".into(),
                vid: "V00001".into(),
                pid: 100
            }],
            "only the background session"
        );
        c.asked_to_yield("d0");
        assert!(c.preemptible().is_empty(), "asked once");
    }
}
