//! Decisions that wait on the library's answer of what a drive holds:
//! recovery at start, a drive left down, `tpconfig up` of a down drive.
//! A drive the library cannot vouch for (`Unknown`, or `Changing` while a
//! move of it is under way) keeps its tape held and gets no session.

use std::time::Instant;

use super::EventLoop;
use crate::daemon::catalogue::{LibraryWait, Waiting};
use crate::daemon::library_worker::Holding;
use crate::messaging::refusal::Refusal;
use crate::proto::admin::admin_reply;

impl EventLoop {
    /// A reading of the library arrived: take the decisions it answers. A
    /// drive still unknown keeps its tape held and waits for the next one.
    pub(super) fn on_library_read(&mut self, covers: u64, ok: bool) {
        if ok && self.stale_mounts_pending {
            self.stale_mounts_pending = false;
            self.io
                .scheduler
                .close_stale_mounts(self.catalogue.names(), self.io.library.not_known_empty());
        }
        for (drive, wait) in self.catalogue.library_waits_due(covers) {
            let holding = self.io.library.holding(&drive);
            self.decide(&drive, wait, holding);
        }
    }

    fn decide(&mut self, drive: &str, wait: LibraryWait, holding: Holding) {
        match (wait.why, holding) {
            (Waiting::Recovery, Holding::Loaded(vid)) => {
                tracing::warn!(drive, vid = %vid, "the drive holds a cartridge from a previous run: running a cleaner");
                self.start_cleaner(drive, &vid, "recovery at start");
            }
            (Waiting::Recovery | Waiting::Down, Holding::Empty) => {
                self.io.scheduler.close_mounts(drive);
            }
            (Waiting::Down, Holding::Loaded(vid)) => {
                tracing::error!(drive, vid = %vid, "the drive is down with the cartridge in it: the tape stays held until a cleaner or an operator releases it");
            }
            (
                why @ (Waiting::Recovery | Waiting::Down),
                h @ (Holding::Unknown | Holding::Changing),
            ) => {
                if !wait.held {
                    if h == Holding::Changing {
                        // A session that died may have asked for a mount
                        // the library still carries out: the drive is not
                        // empty for long.
                        tracing::warn!(
                            drive,
                            "a mount or dismount of the drive is under way in the library: its tape stays held and the drive gets no session until the move ends"
                        );
                    } else {
                        tracing::error!(
                            drive,
                            "cannot tell whether the drive holds a cartridge: its tape stays held and the drive gets no session until the library answers"
                        );
                    }
                    self.io.scheduler.hold_tape(drive);
                }
                self.catalogue.keep_waiting(
                    drive,
                    LibraryWait {
                        why,
                        held: true,
                        ..wait
                    },
                );
            }
            (Waiting::Up(reply_to), h @ (Holding::Unknown | Holding::Changing)) => {
                let why = if h == Holding::Changing {
                    "a mount or dismount of it is under way in the library; ask again when it ends"
                } else if self.io.library.answered() {
                    "the library does not list it (tplib status lists its drives; check the drive's [[drives]] name and element)"
                } else {
                    "the library controller does not answer (see tplib status)"
                };
                self.reply(
                    reply_to,
                    admin_reply::Kind::Error(
                        Refusal::unavailable(format!(
                            "cannot tell whether drive {drive} holds a cartridge: {why}; the drive stays down"
                        ))
                        .into(),
                    ),
                );
                if wait.held {
                    // Its tape stays held until the library says.
                    self.catalogue.keep_waiting(
                        drive,
                        LibraryWait {
                            why: Waiting::Down,
                            ..wait
                        },
                    );
                }
            }
            (Waiting::Up(reply_to), holding) => {
                let holds = match &holding {
                    Holding::Loaded(vid) => Some(vid.as_str()),
                    _ => None,
                };
                if holding == Holding::Empty {
                    // Mounts held while the drive's contents were unknown go.
                    self.io.scheduler.close_mounts(drive);
                }
                crate::daemon::drives_down::set(&self.config.daemon.state_dir, drive, false);
                let answer = self
                    .catalogue
                    .configure(drive, true, holds, Instant::now())
                    .map(|(done, clean)| {
                        if let Some(vid) = clean {
                            self.start_cleaner(drive, &vid, "tpconfig up on a loaded drive");
                        }
                        admin_reply::Kind::Done(done)
                    })
                    .unwrap_or_else(|e| admin_reply::Kind::Error(e.into()));
                self.reply(reply_to, answer);
            }
        }
    }
}
