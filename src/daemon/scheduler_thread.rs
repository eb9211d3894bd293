//! The scheduler thread: the parent's only scheduler user besides the
//! frontend. It answers the loop's requests one by one: a mount for a free
//! drive (the loop decides which drives are free and when to ask), closing
//! the mounts of ended sessions so nothing a dead session held stays
//! assigned, disabling tapes. It keeps no drive state of its own.

use std::thread::JoinHandle;

use crossbeam_channel::{Receiver, Sender, unbounded};

use super::catalogue::{FileBlame, ReplyTo};
use super::liveness::Liveness;
use super::messages::{LoopWaker, ToLoop, ToScheduler};
use crate::messaging::refusal::Refusal;
use crate::proto::admin::{MountInfo, MountList, admin_reply};
use crate::scheduler::{MountPolicy, Scheduler, SchedulerError};

fn refused(r: Refusal) -> admin_reply::Kind {
    admin_reply::Kind::Error(r.into())
}

/// The event loop's handle on the scheduler thread: one typed method per
/// request, the thread named and joined at shutdown. A request to a thread
/// that is gone is logged (it only ends at `stop`).
pub struct SchedulerHandle {
    tx: Sender<ToScheduler>,
    thread: Option<JoinHandle<()>>,
}

impl SchedulerHandle {
    /// Starts the thread "scheduler" on its own connection.
    pub fn spawn(
        db: Box<dyn Scheduler>,
        host: String,
        waker: LoopWaker,
        liveness: Liveness,
    ) -> std::io::Result<Self> {
        let (tx, rx) = unbounded();
        let thread = SchedulerThread {
            db,
            host,
            rx,
            waker,
            liveness,
            unclosed: Default::default(),
        };
        let handle = std::thread::Builder::new()
            .name("scheduler".into())
            .spawn(move || thread.run())?;
        Ok(Self {
            tx,
            thread: Some(handle),
        })
    }

    fn send(&self, msg: ToScheduler) {
        if let Err(e) = self.tx.send(msg) {
            tracing::error!(request = ?e.0, "the scheduler thread is gone: request dropped");
        }
    }

    /// A mount for this free drive; answered with `MountFound` or `NoMount`.
    pub fn find_mount(&self, drive: String, policy: MountPolicy) {
        self.send(ToScheduler::FindMount { drive, policy });
    }

    /// Whether background sessions should yield; answered with `UserWork`.
    pub fn user_work_due(&self, policy: MountPolicy) {
        self.send(ToScheduler::UserWorkDue { policy });
    }

    /// The drive is done with its cartridge: close its mounts, requeue
    /// what they left.
    pub fn close_mounts(&self, drive: &str) {
        self.send(ToScheduler::CloseMounts {
            drive: drive.into(),
        });
    }

    /// The loop could not use a mount it was given.
    pub fn release_mount(&self, mount_id: u64) {
        self.send(ToScheduler::ReleaseMount(mount_id));
    }

    /// The drive may hold its cartridge: requeue its mounts' work, keep the
    /// mounts (and so the tape) held.
    pub fn hold_tape(&self, drive: &str) {
        self.send(ToScheduler::HoldTape {
            drive: drive.into(),
        });
    }

    /// At start: this host's mounts on drives no longer configured.
    pub fn close_stale_mounts(&self, configured: Vec<String>, loaded: Vec<String>) {
        self.send(ToScheduler::CloseStaleMounts { configured, loaded });
    }

    pub fn list_mounts(&self, reply_to: ReplyTo) {
        self.send(ToScheduler::ListMounts { reply_to });
    }

    pub fn close_mount(&self, mount_id: u64, reply_to: ReplyTo) {
        self.send(ToScheduler::CloseMount { mount_id, reply_to });
    }

    pub fn count_attempt(&self, blame: FileBlame, limits: crate::scheduler::FileLimits) {
        self.send(ToScheduler::CountAttempt { blame, limits });
    }

    pub fn disable_tape(&self, vid: &str, reason: &str) {
        self.send(ToScheduler::DisableTape {
            vid: vid.into(),
            reason: reason.into(),
        });
    }

    /// Stops the thread after what it was sent, and waits for it.
    pub fn stop(mut self) {
        let _ = self.tx.send(ToScheduler::Stop);
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::error!("the scheduler thread panicked");
        }
    }
}

pub struct SchedulerThread {
    pub db: Box<dyn Scheduler>,
    pub host: String,
    pub rx: Receiver<ToScheduler>,
    pub waker: LoopWaker,
    pub liveness: Liveness,
    /// Drives whose mounts could not be closed (the database was down):
    /// tried again at every turn, and before the drive gets a new mount.
    pub unclosed: std::collections::BTreeSet<String>,
}

impl SchedulerThread {
    pub fn run(mut self) {
        loop {
            self.liveness.tick(&mut *self.db);
            self.retry_closing();
            let msg = match self.rx.recv_timeout(self.liveness.due_in()) {
                Ok(msg) => msg,
                Err(crossbeam_channel::RecvTimeoutError::Timeout) => continue,
                Err(crossbeam_channel::RecvTimeoutError::Disconnected) => return,
            };
            match msg {
                ToScheduler::FindMount { drive, policy } => self.find_mount(drive, &policy),
                ToScheduler::UserWorkDue { policy } => {
                    // A failed look is no reason to pre-empt anything.
                    let work = self.db.user_work_due(&policy).unwrap_or_else(|e| {
                        tracing::warn!(error = %e, "cannot tell whether user work waits");
                        Default::default()
                    });
                    self.waker.send(ToLoop::UserWork(work));
                }
                ToScheduler::CloseMounts { drive } => {
                    self.close_mounts(&drive);
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

    /// Closes a drive's open mounts; on failure the drive is remembered and
    /// its closing retried. True once none is left open.
    fn close_mounts(&mut self, drive: &str) -> bool {
        match self.db.end_mounts_of_drive(&self.host, drive) {
            Ok(ids) => {
                if !ids.is_empty() {
                    tracing::info!(drive = %drive, mounts = ?ids, "mounts closed, unreported work requeued");
                }
                self.unclosed.remove(drive);
                true
            }
            Err(e) => {
                if self.unclosed.insert(drive.to_string()) {
                    tracing::error!(drive = %drive, error = %e, "cannot close the drive's mounts: retrying until the database answers");
                }
                false
            }
        }
    }

    fn retry_closing(&mut self) {
        let drives: Vec<String> = self.unclosed.iter().cloned().collect();
        for drive in drives {
            self.close_mounts(&drive);
        }
    }

    fn find_mount(&mut self, drive: String, policy: &MountPolicy) {
        // A drive whose old mounts are still open gets no new one: closing
        // later would also close the new one.
        if self.unclosed.contains(&drive) && !self.close_mounts(&drive) {
            self.waker.send(ToLoop::NoMount { drive });
            return;
        }
        self.liveness.advance_repacks(&mut *self.db);
        let answer = match self.db.next_mount(&self.host, &drive, policy) {
            Ok(Some(mount)) => {
                tracing::info!(drive = %drive, vid = %mount.vid, mount = mount.id, kind = mount.kind.as_str(), "mount assigned: {} {} of {} to {drive}", mount.kind.as_str(), mount.id, mount.vid);
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
                        age: m.age,
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::library::client::ControllerClient;
    use crate::scheduler::prelude::*;
    use crate::scheduler::test_knobs::TestScheduler;
    use crate::scheduler::{NewArchiveFile, SqliteScheduler};

    /// Chaos found it: a session ended while the database was down, the
    /// closing of its drive's mounts failed, and the mount stayed open for
    /// good, holding its tape (its recalls never got a mount). The closing
    /// is retried, and the drive gets no new mount before it succeeds.
    #[test]
    fn a_failed_closing_is_retried_before_the_drive_gets_another_mount() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("db");
        let mut db = SqliteScheduler::open(&path).unwrap();
        db.add_pool("default").unwrap();
        db.add_tape("V00001", "default", 1 << 30).unwrap();
        db.add_tape("V00002", "default", 1 << 30).unwrap();
        let files = |n: u64| -> Vec<NewArchiveFile> {
            (0..n)
                .map(|i| NewArchiveFile {
                    path: format!("/data/f{i}"),
                    size: 10,
                    owner: crate::scheduler::LOCAL_OWNER.into(),
                    permissions: None,
                })
                .collect()
        };
        db.queue_archive(&files(2), "default").unwrap();
        let policy = MountPolicy::uniform(1, u64::MAX, Duration::from_secs(3600), Duration::ZERO);
        let first = db.next_mount("h", "d0", &policy).unwrap().unwrap();
        db.fetch_archive_jobs(first.id, 1, u64::MAX).unwrap();

        let (to_loop, from_thread) = crossbeam_channel::unbounded();
        let (wake, _wake_rx) = std::os::unix::net::UnixStream::pair().unwrap();
        let (tx, rx) = crossbeam_channel::unbounded();
        let thread = SchedulerThread {
            db: Box::new(TestScheduler::new(
                Box::new(SqliteScheduler::open(&path).unwrap()),
                &crate::faults::SchedulerFaults {
                    failing_closes: 1,
                    ..Default::default()
                },
            )),
            host: "h".into(),
            rx,
            waker: LoopWaker::new(to_loop, wake),
            liveness: Liveness::new(
                "h".into(),
                vec!["d0".into()],
                Duration::from_secs(3600),
                ControllerClient::new(
                    Vec::new(),
                    Duration::from_secs(1),
                    Duration::from_secs(1),
                    Vec::new(),
                ),
            ),
            unclosed: Default::default(),
        };
        let handle = std::thread::spawn(move || thread.run());
        tx.send(ToScheduler::CloseMounts { drive: "d0".into() })
            .unwrap();
        tx.send(ToScheduler::FindMount {
            drive: "d0".into(),
            policy,
        })
        .unwrap();
        let answer = from_thread.recv_timeout(Duration::from_secs(30)).unwrap();
        tx.send(ToScheduler::Stop).unwrap();
        handle.join().unwrap();
        let open = db.open_mounts().unwrap();
        assert!(
            open.iter().all(|m| m.id != first.id),
            "the first mount was closed before any other: {open:?}"
        );
        // The work it held is back in the queue, so the new mount (if any)
        // is free to take it.
        match answer {
            ToLoop::MountFound { mount, .. } => assert_ne!(mount.id, first.id),
            ToLoop::NoMount { .. } => {}
            other => panic!("unexpected answer {other:?}"),
        }
    }
}
