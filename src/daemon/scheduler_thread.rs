//! The scheduler thread: the parent's only scheduler user besides the
//! frontend. It answers the loop's requests one by one: a mount for a free
//! drive (the loop decides which drives are free and when to ask), closing
//! the mounts of ended sessions so nothing a dead session held stays
//! assigned, disabling tapes. It keeps no drive state of its own.

use crossbeam_channel::Receiver;

use crate::messaging::refusal::Refusal;
use crate::proto::admin::{MountInfo, MountList, admin_reply};
use crate::scheduler::SchedulerError;

fn refused(r: Refusal) -> admin_reply::Kind {
    admin_reply::Kind::Error(r.into())
}

use super::liveness::Liveness;
use super::messages::{LoopWaker, ToLoop, ToScheduler};
use crate::scheduler::{MountPolicy, Scheduler};

pub struct SchedulerThread {
    pub db: Box<dyn Scheduler>,
    pub host: String,
    pub rx: Receiver<ToScheduler>,
    pub waker: LoopWaker,
    pub liveness: Liveness,
}

impl SchedulerThread {
    pub fn run(mut self) {
        loop {
            self.liveness.tick(&mut *self.db);
            let msg = match self.rx.recv_timeout(self.liveness.due_in()) {
                Ok(msg) => msg,
                Err(crossbeam_channel::RecvTimeoutError::Timeout) => continue,
                Err(crossbeam_channel::RecvTimeoutError::Disconnected) => return,
            };
            match msg {
                ToScheduler::FindMount { drive, policy } => self.find_mount(drive, &policy),
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
                ToScheduler::CloseStaleMounts { configured, loaded } => {
                    self.liveness.drives = configured.clone();
                    self.close_stale_mounts(&configured, &loaded)
                }
                ToScheduler::ListMounts { reply_to } => {
                    let answer = self.list_mounts();
                    self.waker.send(ToLoop::AdminAnswer { reply_to, answer });
                }
                ToScheduler::CloseMount { mount_id, reply_to } => {
                    let answer = self.close_mount(mount_id);
                    self.waker.send(ToLoop::AdminAnswer { reply_to, answer });
                }
                ToScheduler::HoldTape { drive } => {
                    match self.db.release_work_of_drive(&self.host, &drive) {
                        Ok(ids) => {
                            tracing::warn!(drive = %drive, mounts = ?ids, "work requeued; the mounts stay open, holding the tape")
                        }
                        Err(e) => {
                            tracing::error!(drive = %drive, error = %e, "cannot requeue the drive's work")
                        }
                    }
                }
                ToScheduler::CountAttempt { blame, limits } => {
                    if let Err(e) =
                        self.db
                            .count_attempt(blame.mount_id, blame.file_id, &blame.reason, &limits)
                    {
                        tracing::error!(file_id = blame.file_id, error = %e, "cannot count the file's attempt");
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

    fn find_mount(&mut self, drive: String, policy: &MountPolicy) {
        let answer = match self.db.next_mount(&self.host, &drive, policy) {
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

    /// Recovery: this host's mounts on drives it no longer has are closed,
    /// unless the library says the drive still holds a cartridge (then the
    /// work is requeued and the tape stays held for an operator).
    fn close_stale_mounts(&mut self, configured: &[String], loaded: &[String]) {
        let mounts = match self.db.open_mounts() {
            Ok(m) => m,
            Err(e) => {
                tracing::error!(error = %e, "cannot list the open mounts");
                return;
            }
        };
        for m in mounts {
            if m.host != self.host || configured.contains(&m.drive) {
                continue;
            }
            if loaded.contains(&m.drive) {
                tracing::error!(mount = m.id, drive = %m.drive, vid = %m.vid, "an unconfigured drive holds a cartridge: its work is requeued, its tape stays held until an operator closes the mount (tpconfig --close-mount)");
                if let Err(e) = self.db.release_work_of_drive(&m.host, &m.drive) {
                    tracing::error!(error = %e, "cannot requeue its work");
                }
                continue;
            }
            match self.db.end_mount(m.id) {
                Ok(()) => {
                    tracing::warn!(mount = m.id, drive = %m.drive, vid = %m.vid, "closed the mount of a drive no longer configured; its work was requeued")
                }
                Err(e) => tracing::error!(mount = m.id, error = %e, "cannot close a stale mount"),
            }
        }
    }

    fn list_mounts(&mut self) -> admin_reply::Kind {
        match self.db.open_mounts() {
            Ok(mounts) => admin_reply::Kind::Mounts(MountList {
                mounts: mounts
                    .into_iter()
                    .map(|m| MountInfo {
                        id: m.id,
                        kind: m.kind.to_string(),
                        vid: m.vid,
                        host: m.host,
                        drive: m.drive,
                        started: m.started,
                    })
                    .collect(),
            }),
            Err(e) => refused(Refusal::from(e)),
        }
    }

    fn close_mount(&mut self, mount_id: u64) -> admin_reply::Kind {
        let found = self
            .db
            .open_mounts()
            .map(|all| all.into_iter().find(|m| m.id == mount_id));
        match found {
            Ok(Some(m)) => match self.db.end_mount(mount_id) {
                Ok(()) => {
                    tracing::warn!(mount = mount_id, host = %m.host, drive = %m.drive, vid = %m.vid, "operator closed a mount");
                    admin_reply::Kind::Done(format!(
                        "mount {mount_id} ({} of {} on {}/{}) closed; its unreported work was requeued",
                        m.kind, m.vid, m.host, m.drive
                    ))
                }
                Err(e) => refused(Refusal::from(e)),
            },
            Ok(None) => refused(Refusal::from(SchedulerError::UnknownMount(mount_id))),
            Err(e) => refused(Refusal::from(e)),
        }
    }
}
