//! Messages between the parent's threads and its event loop. Threads reach
//! the loop through a channel plus a wake-up socket the loop polls; they
//! never touch the drive catalogue.

use std::io::Write;
use std::os::unix::net::UnixStream;

use crossbeam_channel::Sender;

use crate::scheduler::Mount;

/// From the scheduler and frontend threads to the event loop.
#[derive(Debug)]
pub enum ToLoop {
    /// The answer to `FindMount`: the mount the scheduler recorded for the drive.
    MountFound { drive: String, mount: Mount },
    /// The answer to `FindMount`: nothing to mount (or the scheduler failed).
    NoMount { drive: String },
    /// Work was queued: free drives ask now rather than at the next poll.
    WorkQueued,
    /// The library worker read the library (`ok`: the controller answered);
    /// the reading answers every refresh numbered up to `covers`.
    LibraryRead { covers: u64, ok: bool },
    /// The answer to `UserWorkDue`.
    UserWork(crate::scheduler::UserWork),
    /// The answer to an operator request the scheduler thread served.
    AdminAnswer {
        reply_to: super::catalogue::ReplyTo,
        answer: crate::proto::admin::admin_reply::Kind,
    },
}

/// From the event loop to the scheduler thread.
#[derive(Debug)]
pub enum ToScheduler {
    /// Pick a mount for this free drive; answered with MountFound or NoMount.
    FindMount {
        drive: String,
        policy: crate::scheduler::MountPolicy,
    },
    /// Does user work wait for a drive, or for a tape a background mount
    /// holds? Answered with UserWork.
    UserWorkDue {
        policy: crate::scheduler::MountPolicy,
    },
    /// The drive is done with its cartridge: close its mounts and requeue
    /// what they left.
    CloseMounts {
        drive: String,
    },
    /// The loop could not use an assigned mount.
    ReleaseMount(u64),
    /// The drive is down with its cartridge: requeue its mounts' work but
    /// keep them open, so the tape is not given to another drive.
    HoldTape {
        drive: String,
    },
    /// At start: close this host's mounts on drives no longer configured
    /// (holding the tape of those the library says still hold a cartridge).
    CloseStaleMounts {
        configured: Vec<String>,
        loaded: Vec<String>,
    },
    /// Operator: every open mount (answered with AdminAnswer).
    ListMounts {
        reply_to: super::catalogue::ReplyTo,
    },
    /// Operator: close a stale mount by id (answered with AdminAnswer).
    CloseMount {
        mount_id: u64,
        reply_to: super::catalogue::ReplyTo,
    },
    /// A session was killed on a file's account: count an attempt.
    CountAttempt {
        blame: super::catalogue::FileBlame,
        limits: crate::scheduler::FileLimits,
    },
    /// A cleaner failed on this tape: no more mounts of it.
    DisableTape {
        vid: String,
        reason: String,
    },
    Stop,
}

/// Sends to the loop and wakes it.
#[derive(Clone)]
pub struct LoopWaker {
    tx: Sender<ToLoop>,
    wake: std::sync::Arc<UnixStream>,
}

impl LoopWaker {
    pub fn new(tx: Sender<ToLoop>, wake: UnixStream) -> Self {
        Self {
            tx,
            wake: std::sync::Arc::new(wake),
        }
    }

    pub fn send(&self, msg: ToLoop) {
        if self.tx.send(msg).is_ok() {
            // A full socket buffer already means the loop will wake.
            let _ = (&*self.wake).write(&[1]);
        }
    }
}
