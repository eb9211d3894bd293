//! A session's end, applied to its drive through the transition table.

use std::time::{Duration, Instant};

use super::transitions::{DriveBlame, SessionClass, Target, Then, transition};
use super::{
    Catalogue, DriveState, Exit, FileBlame, MAX_FAILURES_IN_A_ROW, Next, SessionOutcome,
    SessionState, kind_name,
};
use crate::session::end::EndKind;

/// How long an exit waits for the session's final report: the session's
/// socket lingers this long to deliver it.
pub const FINAL_REPORT_GRACE: Duration = Duration::from_secs(2);

impl Catalogue {
    /// The forker says a session's process is gone. Its final report
    /// travels on another socket and may not have arrived yet: an exit
    /// with a code (the process ran to its end and said goodbye) waits for
    /// it, up to `FINAL_REPORT_GRACE`; a kill by signal cannot have one.
    /// Returns true when the end can be applied now (`session_ended`);
    /// otherwise `ends_due` hands it back once the report is in.
    pub fn session_exited(
        &mut self,
        pid: i32,
        code: Option<i32>,
        signal: Option<i32>,
        now: Instant,
    ) -> bool {
        let Some(session) = self
            .drive_of_pid(pid)
            .and_then(|name| self.drives.get_mut(&name))
            .and_then(|d| d.session.as_mut())
        else {
            return true;
        };
        if signal.is_some() || session.substate == SessionState::Finished {
            return true;
        }
        session.exited = Some(Exit {
            pid,
            code,
            signal,
            deadline: now + FINAL_REPORT_GRACE,
        });
        false
    }

    /// Exits whose final report has arrived or whose wait is over, each
    /// handed out once, for `session_ended`.
    pub fn ends_due(&mut self, now: Instant) -> Vec<Exit> {
        let mut due = Vec::new();
        for drive in self.drives.values_mut() {
            let Some(session) = drive.session.as_mut() else {
                continue;
            };
            if let Some(exit) = session.exited
                && (session.substate == SessionState::Finished || now >= exit.deadline)
            {
                if session.substate != SessionState::Finished {
                    tracing::warn!(drive = %drive.config.name, pid = exit.pid, "the session exited without its final report");
                }
                session.exited = None;
                due.push(exit);
            }
        }
        due
    }

    /// A session ended with an exit code, or was killed by a signal.
    pub fn session_ended(
        &mut self,
        pid: i32,
        code: Option<i32>,
        signal: Option<i32>,
        now: Instant,
    ) -> Option<SessionOutcome> {
        let name = self.drive_of_pid(pid)?;
        let idle = self.idle_state(self.drives.get(&name)?);
        let backoff = self.pacing.backoff;
        let drive = self.drives.get_mut(&name)?;
        let session = drive.session.take()?;
        if session.yielding {
            drive.user_turn = true;
        }
        let kind = kind_name(session.kind);
        let end = EndKind::from_exit(code, signal);
        let ended = match (code, signal, &session.killed) {
            (_, Some(s), Some(why)) => {
                format!("{kind} session killed by the watchdog ({why}), signal {s}")
            }
            (_, Some(s), None) => format!("{kind} session killed by signal {s}"),
            (Some(c), _, _) => format!("{kind} session exited with code {c}"),
            (None, None, _) => format!("{kind} session ended"),
        };
        let detail = match &session.error {
            Some(e) => format!("{ended}: {e}"),
            None => ended.clone(),
        };
        let class = SessionClass::of(session.kind);
        let row = transition(class, end);
        let blame = match (end, session.blame) {
            (EndKind::Killed, Some(file_id)) => Some(FileBlame {
                mount_id: session.mount_id,
                file_id,
                reason: detail.clone(),
            }),
            _ => None,
        };
        match row.blame {
            DriveBlame::Clear => drive.failures_in_a_row = 0,
            // A kill on a file's account never counts against the drive.
            DriveBlame::Count if blame.is_some() => {}
            DriveBlame::Count => drive.failures_in_a_row += 1,
            DriveBlame::Keep => {}
        }
        let mut to = match row.target {
            Target::Idle => idle,
            Target::Down => DriveState::Down,
            Target::Cleaning => DriveState::Cleaning,
        };
        let mut error = (end != EndKind::Done).then(|| detail.clone());
        if class == SessionClass::Cleaner
            && end == EndKind::Done
            && drive.failures_in_a_row >= MAX_FAILURES_IN_A_ROW
        {
            // A drive that fails every session needs an operator, not a loop.
            to = DriveState::Down;
            error = Some(format!(
                "{} sessions in a row ended badly: the drive stays down for an operator",
                drive.failures_in_a_row
            ));
        }
        let next = match row.then {
            Then::CloseMounts => Next::CloseMounts,
            Then::CloseMountsAndBackOff => {
                tracing::warn!(drive = %name, seconds = backoff.as_secs(), reason = %detail, "no new mount on this drive for a while");
                drive.asking.not_before = now + backoff;
                Next::CloseMounts
            }
            Then::DisableTape => Next::DisableTape {
                vid: session.vid.clone(),
                reason: detail.clone(),
            },
            Then::Cleaner => Next::Cleaner {
                vid: session.vid.clone(),
            },
        };
        if row.then != Then::CloseMountsAndBackOff {
            drive.asking.not_before = now;
        }
        if let Some(e) = &error
            && to != idle
        {
            drive.last_error = Some(e.clone());
        }
        let reply = session.reply_to.map(|r| {
            let answer = match &error {
                None => Ok(format!("{kind} on {name} done")),
                Some(e) => Err(e.clone()),
            };
            (r, answer)
        });
        if to == DriveState::Cleaning {
            // The loop starts the cleaner, which sets the state.
            Self::transition(
                drive,
                DriveState::Down,
                &format!("{ended}: a cleaner must run"),
                now,
            );
        } else {
            Self::transition(drive, to, &detail, now);
        }
        if drive.remove_when_idle && to != DriveState::Cleaning {
            self.drives.remove(&name);
        }
        Some(SessionOutcome {
            drive: name,
            new_state: to,
            next,
            blame,
            reply,
        })
    }
}
