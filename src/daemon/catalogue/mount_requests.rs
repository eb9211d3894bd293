//! When the loop asks the scheduler thread for a drive's next mount. The
//! catalogue is the one owner of which drives are free: the scheduler
//! thread keeps no set of its own, it answers one request per drive.
//!
//! A free drive is asked for once at a time; after "no work" it is asked
//! again when work is queued or after the poll interval; after a session
//! that could not reach the scheduler, not before the back-off.

use std::time::{Duration, Instant};

use super::{Catalogue, DriveState};

/// How often to ask, and how long to wait after a scheduler failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MountPacing {
    pub poll: Duration,
    pub backoff: Duration,
}

impl Default for MountPacing {
    fn default() -> Self {
        Self {
            poll: Duration::from_secs(2),
            backoff: Duration::from_secs(30),
        }
    }
}

/// One drive's asking state.
#[derive(Debug, Clone, Copy)]
pub struct Asking {
    /// A request is with the scheduler thread.
    pub outstanding: bool,
    /// Work was queued while it was: ask again at once.
    pub again: bool,
    pub not_before: Instant,
}

impl Asking {
    pub fn new(now: Instant) -> Self {
        Self {
            outstanding: false,
            again: false,
            not_before: now,
        }
    }
}

impl Catalogue {
    pub fn set_pacing(&mut self, pacing: MountPacing) {
        self.pacing = pacing;
    }

    /// Free drives due for a request; each is marked as asked.
    pub fn mount_requests(&mut self, now: Instant) -> Vec<String> {
        if self.shutting_down {
            return Vec::new();
        }
        self.drives
            .values_mut()
            .filter(|d| {
                d.state == DriveState::Up
                    && d.library_wait.is_none()
                    && !d.asking.outstanding
                    && d.asking.not_before <= now
            })
            .map(|d| {
                d.asking.outstanding = true;
                d.asking.again = false;
                d.config.name.clone()
            })
            .collect()
    }

    /// The scheduler answered a drive's request. With a mount: true if the
    /// drive can still take it (else the mount must be released).
    pub fn mount_answered(&mut self, name: &str, found: bool, now: Instant) -> bool {
        let poll = self.pacing.poll;
        let Some(drive) = self.drives.get_mut(name) else {
            return false;
        };
        drive.asking.outstanding = false;
        if found {
            drive.asking.not_before = now;
            return drive.state == DriveState::Up && !self.shutting_down;
        }
        // An answer of "no work" given back-off stays in place.
        let next = if drive.asking.again { now } else { now + poll };
        drive.asking.not_before = drive.asking.not_before.max(next);
        false
    }

    /// Work was queued: every free drive asks now.
    pub fn work_queued(&mut self, now: Instant) {
        for drive in self.drives.values_mut() {
            if drive.asking.outstanding {
                drive.asking.again = true;
            } else if drive.asking.not_before <= now + self.pacing.poll {
                // Not in a back-off: ask at once.
                drive.asking.not_before = now;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn two_drives() -> (Catalogue, Instant) {
        let now = Instant::now();
        let mut c = super::super::of_test_drives(&["d0", "d1"], now);
        c.set_pacing(MountPacing {
            poll: Duration::from_secs(2),
            backoff: Duration::from_secs(30),
        });
        (c, now)
    }

    #[test]
    fn a_free_drive_is_asked_for_once_then_after_the_poll_or_new_work() {
        let (mut c, now) = two_drives();
        assert_eq!(c.mount_requests(now), ["d0", "d1"]);
        assert!(c.mount_requests(now).is_empty(), "one request at a time");
        assert!(!c.mount_answered("d0", false, now));
        assert!(c.mount_requests(now + Duration::from_secs(1)).is_empty());
        assert_eq!(c.mount_requests(now + Duration::from_secs(2)), ["d0"]);
        // Work queued while d1's request is out: d1 asks again at once.
        c.work_queued(now);
        assert!(!c.mount_answered("d1", false, now));
        assert_eq!(c.mount_requests(now), ["d1"]);
    }

    #[test]
    fn a_mount_for_a_drive_no_longer_free_is_refused() {
        let (mut c, now) = two_drives();
        c.mount_requests(now);
        c.configure("d0", false, None, now).unwrap();
        assert!(!c.mount_answered("d0", true, now), "release the mount");
        assert!(c.mount_answered("d1", true, now));
    }

    #[test]
    fn a_back_off_outlasts_new_work_and_answers() {
        let (mut c, now) = two_drives();
        c.drives.get_mut("d0").unwrap().asking.not_before = now + Duration::from_secs(30);
        c.work_queued(now);
        assert_eq!(c.mount_requests(now), ["d1"]);
        assert!(c.mount_requests(now + Duration::from_secs(29)).is_empty());
        assert_eq!(c.mount_requests(now + Duration::from_secs(30)), ["d0"]);
    }
}
