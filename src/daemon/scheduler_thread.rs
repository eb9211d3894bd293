//! The scheduler thread: the parent's only scheduler user besides the
//! frontend. It answers the loop's requests one by one: a mount for a free
//! drive (the loop decides which drives are free and when to ask), closing
//! the mounts of ended sessions so nothing a dead session held stays
//! assigned, disabling tapes. It keeps no drive state of its own.

use crossbeam_channel::Receiver;

use super::messages::{LoopWaker, ToLoop, ToScheduler};
use crate::scheduler::{MountCriteria, Scheduler};

pub struct SchedulerThread {
    pub db: Box<dyn Scheduler>,
    pub host: String,
    pub rx: Receiver<ToScheduler>,
    pub waker: LoopWaker,
}

impl SchedulerThread {
    pub fn run(mut self) {
        while let Ok(msg) = self.rx.recv() {
            match msg {
                ToScheduler::FindMount { drive, criteria } => self.find_mount(drive, &criteria),
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
                        Ok(()) => tracing::error!(vid = %vid, reason = %reason, "tape disabled"),
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
    }

    fn find_mount(&mut self, drive: String, criteria: &MountCriteria) {
        let answer = match self.db.next_mount(&self.host, &drive, criteria) {
            Ok(Some(mount)) => {
                tracing::info!(drive = %drive, vid = %mount.vid, mount = mount.id, kind = mount.kind.as_str(), "mount assigned");
                ToLoop::MountFound { drive, mount }
            }
            Ok(None) => ToLoop::NoMount { drive },
            Err(e) => {
                tracing::error!(drive = %drive, error = %e, "cannot pick a mount");
                ToLoop::NoMount { drive }
            }
        };
        self.waker.send(answer);
    }
}
