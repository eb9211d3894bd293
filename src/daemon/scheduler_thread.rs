//! The scheduler thread: the parent's only scheduler user besides the
//! frontend. It keeps the set of free drives the loop sends it, asks the
//! scheduler for a mount for each when work is queued or at each poll
//! interval, and hands assignments to the loop. It also closes the mounts
//! of ended sessions, so nothing a dead session held stays assigned.

use std::collections::BTreeSet;
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError};

use super::messages::{LoopWaker, ToLoop, ToScheduler};
use crate::scheduler::{MountCriteria, Scheduler};

pub struct SchedulerThread {
    pub db: Box<dyn Scheduler>,
    pub host: String,
    pub criteria: MountCriteria,
    pub poll_interval: Duration,
    pub rx: Receiver<ToScheduler>,
    pub waker: LoopWaker,
}

impl SchedulerThread {
    pub fn run(mut self) {
        let mut free: BTreeSet<String> = BTreeSet::new();
        loop {
            let first = match self.rx.recv_timeout(self.poll_interval) {
                Ok(msg) => Some(msg),
                Err(RecvTimeoutError::Timeout) => None,
                Err(RecvTimeoutError::Disconnected) => return,
            };
            // Take everything pending before looking for work.
            for msg in first.into_iter().chain(self.rx.try_iter()) {
                match msg {
                    ToScheduler::FreeDrives(drives) => free = drives.into_iter().collect(),
                    ToScheduler::WorkQueued => {}
                    ToScheduler::CloseMounts { drive } => {
                        match self.db.end_mounts_of_drive(&self.host, &drive) {
                            Ok(ids) if !ids.is_empty() => {
                                tracing::info!(drive = %drive, mounts = ?ids, "mounts closed, unreported work requeued")
                            }
                            Ok(_) => {}
                            Err(e) => {
                                tracing::error!(drive = %drive, error = %e, "cannot close the drive's mounts")
                            }
                        }
                    }
                    ToScheduler::DisableTape { vid, reason } => {
                        match self.db.set_tape_state(
                            &vid,
                            crate::scheduler::TapeState::Disabled,
                            &reason,
                        ) {
                            Ok(()) => {
                                tracing::error!(vid = %vid, reason = %reason, "tape disabled")
                            }
                            Err(e) => {
                                tracing::error!(vid = %vid, error = %e, "cannot disable the tape")
                            }
                        }
                    }
                    ToScheduler::ReleaseMount(mount_id) => {
                        if let Err(e) = self.db.end_mount(mount_id) {
                            tracing::error!(mount = mount_id, error = %e, "cannot release an unused mount");
                        }
                    }
                    ToScheduler::Stop => return,
                }
            }
            self.assign(&mut free);
        }
    }

    fn assign(&mut self, free: &mut BTreeSet<String>) {
        for drive in free.clone() {
            match self.db.next_mount(&self.host, &drive, &self.criteria) {
                Ok(Some(mount)) => {
                    tracing::info!(drive = %drive, vid = %mount.vid, mount = mount.id, kind = mount.kind.as_str(), "mount assigned");
                    free.remove(&drive);
                    self.waker.send(ToLoop::Assign { drive, mount });
                }
                Ok(None) => return,
                Err(e) => {
                    tracing::error!(drive = %drive, error = %e, "cannot pick a mount");
                    return;
                }
            }
        }
    }
}
