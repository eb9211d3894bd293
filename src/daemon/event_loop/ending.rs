//! A session's end, in the event loop: its exit waits for its final
//! report, then the catalogue's transition is applied and what it asks for
//! (an answer to the operator, a file blamed, mounts closed, a cleaner, a
//! tape disabled) is done.

use std::time::Instant;

use super::EventLoop;
use crate::daemon::catalogue::{DriveState, Next, SessionOutcome, Waiting};
use crate::messaging::refusal::{ErrorCode, Refusal};
use crate::proto::admin::admin_reply;
use crate::session::end::EndKind;

impl EventLoop {
    pub(super) fn session_exited(&mut self, pid: i32, code: Option<i32>, signal: Option<i32>) {
        // The session's last reports (its error, if any) were sent before it exited.
        self.on_session_messages();
        if self
            .catalogue
            .session_exited(pid, code, signal, Instant::now())
        {
            self.session_ended(pid, code, signal);
        }
    }

    /// Ends that waited for their session's final report.
    pub(super) fn apply_due_ends(&mut self) {
        for exit in self.catalogue.ends_due(Instant::now()) {
            self.session_ended(exit.pid, exit.code, exit.signal);
        }
    }

    fn session_ended(&mut self, pid: i32, code: Option<i32>, signal: Option<i32>) {
        // The last look at its counters, then its end, for the metrics.
        let now = Instant::now();
        if let Some(m) = &self.metrics {
            m.observe(&self.catalogue, now);
            if let Some(session) = self
                .catalogue
                .drive_of_pid(pid)
                .and_then(|d| self.catalogue.get(&d))
                .and_then(|d| d.session.as_ref())
            {
                m.session_ended(session.kind, EndKind::from_exit(code, signal));
            }
        }
        match self.catalogue.session_ended(pid, code, signal, now) {
            Some(outcome) => {
                let how = match (code, signal) {
                    (_, Some(s)) => format!("killed by signal {s}"),
                    (Some(c), None) => format!("exit {c}"),
                    (None, None) => "exit unknown".into(),
                };
                tracing::info!(
                    drive = %outcome.drive,
                    pid,
                    code = code.unwrap_or(-1),
                    signal = signal.unwrap_or(0),
                    state = outcome.new_state.as_str(),
                    "session ended: pid {pid} on {}, {how}; the drive is {}",
                    outcome.drive,
                    outcome.new_state.as_str()
                );
                self.after_session(outcome);
            }
            None => tracing::warn!(pid, "a process the catalogue does not know ended"),
        }
    }

    pub(super) fn after_session(&mut self, outcome: SessionOutcome) {
        if let Some((to, answer)) = outcome.reply {
            let kind = match answer {
                Ok(done) => admin_reply::Kind::Done(done),
                // The operation ran and failed: the session says why.
                Err(e) => admin_reply::Kind::Error(Refusal::new(ErrorCode::Aborted, e).into()),
            };
            self.reply(to, kind);
        }
        if let Some(blame) = outcome.blame {
            tracing::warn!(drive = %outcome.drive, file_id = blame.file_id, "the session was killed waiting for a file's disk side: an attempt counts against the file, not the drive");
            self.io
                .scheduler
                .count_attempt(blame, crate::settings::file_limits(&self.config));
        }
        match outcome.next {
            // A drive left down with a cartridge in it keeps its tape: no
            // other drive may be sent to mount it until a cleaner or an
            // operator resolves it.
            // Until the library says the drive is empty, its mounts stay
            // open (their work requeued), so no other drive is sent to mount
            // its tape.
            Next::CloseMounts if outcome.new_state == DriveState::Down => {
                self.io.scheduler.hold_tape(&outcome.drive);
                let reading = self.io.library.refresh();
                self.catalogue
                    .await_library(&outcome.drive, Waiting::Down, reading, true);
            }
            Next::CloseMounts => self.io.scheduler.close_mounts(&outcome.drive),
            Next::Cleaner { vid } => {
                self.start_cleaner(&outcome.drive, &vid, "the session did not end cleanly")
            }
            Next::DisableTape { vid, reason } => {
                if !vid.is_empty() {
                    self.io.scheduler.disable_tape(&vid, &reason);
                }
                self.io.scheduler.close_mounts(&outcome.drive);
            }
        }
    }
}
