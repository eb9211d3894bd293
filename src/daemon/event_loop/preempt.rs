//! Background work yields: while a verification or a repack's reads hold a
//! drive, the loop asks the scheduler (at most once per poll interval)
//! whether user work waits: for a drive, when none is free and it has
//! reached its maximum age, or for the very tape a background mount holds. The session concerned is then asked to
//! finish (`FINISH_SIGNAL`): it ends at its next file boundary, after
//! recording what it did, its drive takes the user mount, and the
//! background work is queued again to resume later.

use std::time::Instant;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use super::EventLoop;
use crate::scheduler::UserWork;

/// The loop's side of the question in flight.
#[derive(Debug, Default)]
pub struct Preemption {
    outstanding: bool,
    next: Option<Instant>,
}

impl EventLoop {
    /// Asks whether user work waits, if a background session runs and the
    /// last question is answered and a poll interval old.
    pub(super) fn consider_preemption(&mut self, now: Instant) {
        if self.shutdown_since.is_some()
            || self.preemption.outstanding
            || self.preemption.next.is_some_and(|n| now < n)
            || self.catalogue.preemptible().is_empty()
        {
            return;
        }
        self.preemption.outstanding = true;
        self.preemption.next = Some(now + self.config.scheduler.poll_interval.0);
        let mut policy = crate::settings::mount_policy(&self.config.scheduler);
        policy.recall_room = crate::disk_buffer::recall_room(&self.config);
        self.io.scheduler.user_work_due(policy);
    }

    /// The scheduler's answer: the sessions holding tapes user recalls wait
    /// for yield; and, when user work has waited its activity's maximum
    /// age for a drive and none is free, one background session yields
    /// (younger user work waits for a drive to free itself: every
    /// pre-emption costs an unload and a load twice over).
    pub(super) fn on_user_work(&mut self, work: UserWork) {
        self.preemption.outstanding = false;
        let sessions = self.catalogue.preemptible();
        let mut chosen: Vec<_> = sessions
            .iter()
            .filter(|s| work.held_tapes.contains(&s.vid))
            .collect();
        if work.overdue && chosen.is_empty() && !self.catalogue.has_free_drive() {
            chosen.extend(sessions.first());
        }
        for s in chosen {
            let why = if work.held_tapes.contains(&s.vid) {
                "a user recall waits for its tape"
            } else {
                "user work reached its maximum age and no drive is free"
            };
            tracing::info!(drive = %s.drive, vid = %s.vid, pid = s.pid, reason = why, "pre-empting a background session: it yields its drive at its next file boundary");
            if let Err(e) = kill(
                Pid::from_raw(s.pid),
                Signal::try_from(crate::session::FINISH_SIGNAL).ok(),
            ) {
                tracing::warn!(pid = s.pid, error = %e, "cannot ask the session to yield");
                continue;
            }
            self.catalogue.asked_to_yield(&s.drive);
            if let Some(m) = &self.metrics {
                m.preempted();
            }
        }
    }
}
