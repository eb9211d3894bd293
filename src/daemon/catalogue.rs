//! The drive catalogue: one state machine per drive, owned by the parent's
//! event loop. Every transition is logged with its reason.
//!
//! ```text
//! Down --up (drive empty)--> Up --work or operator request--> Starting --forked--> Running
//! Running --exit 0 / 3--> Up          Running --exit 1--> Down
//! Running --exit 2 / killed--> Cleaning --cleaner exit 0--> Up (Down if a down was asked)
//!                              Cleaning --cleaner fails or is killed--> Down, tape disabled
//! Running --tpconfig down--> Draining --session ends--> Down (via Cleaning if needed)
//! Starting --fork failed--> Up          idle --SIGTERM--> ShuttingDown
//! ```
//! What a session's end does is one table (`transitions`), keyed by the
//! class of session and how it ended.
//! A session's scheduler mounts are closed when the drive is done with the
//! cartridge: at once after a clean end, after the cleaner otherwise, so the
//! scheduler never hands a cartridge still in this drive to another one.

use std::collections::BTreeMap;
use std::time::Instant;

use super::watchdog::{self, Timeouts};
use crate::config::DriveConfig;
use crate::proto::session::{SessionKind, SessionReport, SessionState};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DriveState {
    Down,
    Up,
    Starting,
    Running,
    Draining,
    Cleaning,
    ShuttingDown,
}

impl DriveState {
    pub fn as_str(self) -> &'static str {
        match self {
            DriveState::Down => "down",
            DriveState::Up => "up",
            DriveState::Starting => "starting",
            DriveState::Running => "running",
            DriveState::Draining => "draining",
            DriveState::Cleaning => "cleaning",
            DriveState::ShuttingDown => "shutting_down",
        }
    }

    /// A session process exists (or is being forked) for the drive.
    pub fn has_session(self) -> bool {
        matches!(
            self,
            DriveState::Starting
                | DriveState::Running
                | DriveState::Draining
                | DriveState::Cleaning
        )
    }
}

/// Where an operator's answer goes: the ROUTER envelope of the request and
/// the request id the answer echoes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplyTo {
    pub envelope: Vec<Vec<u8>>,
    pub request_id: u64,
}

/// What the parent knows of a drive's current session.
#[derive(Debug, Clone)]
pub struct SessionInfo {
    pub kind: SessionKind,
    pub vid: String,
    pub mount_id: u64,
    pub pid: Option<i32>,
    pub substate: SessionState,
    pub substate_since: Instant,
    pub bytes: u64,
    pub files: u64,
    pub started: Instant,
    pub last_report: Instant,
    pub last_progress: Instant,
    /// The last error the session reported.
    pub error: Option<String>,
    /// Set once the watchdog killed it, so it is killed once.
    pub killed: Option<String>,
    /// The file whose disk side the session last said it waits for.
    pub disk_wait: Option<u64>,
    /// The file the watchdog's kill is blamed on (it waited for its disk side).
    pub blame: Option<u64>,
    pub reply_to: Option<ReplyTo>,
    /// The process exited before its final report reached us: the exit
    /// waits here (see `session_exited`) so the session's last word, its
    /// error, is not lost to a race between the two channels.
    pub exited: Option<Exit>,
    /// Background work (a verification, a repack's reads) that yields its
    /// drive to user work.
    pub background: bool,
    /// Asked to yield: it ends at its next file boundary.
    pub yielding: bool,
}

/// A session's exit that waits for its final report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exit {
    pub pid: i32,
    pub code: Option<i32>,
    pub signal: Option<i32>,
    /// Past this, the exit is applied without the report (a session that
    /// died without its goodbye).
    pub deadline: Instant,
}

impl SessionInfo {
    fn new(
        kind: SessionKind,
        vid: &str,
        mount_id: u64,
        reply_to: Option<ReplyTo>,
        now: Instant,
    ) -> Self {
        Self {
            kind,
            vid: vid.to_string(),
            mount_id,
            pid: None,
            substate: SessionState::Starting,
            substate_since: now,
            bytes: 0,
            files: 0,
            started: now,
            last_report: now,
            last_progress: now,
            error: None,
            killed: None,
            disk_wait: None,
            blame: None,
            reply_to,
            exited: None,
            background: false,
            yielding: false,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Drive {
    pub config: DriveConfig,
    pub state: DriveState,
    pub since: Instant,
    pub session: Option<SessionInfo>,
    pub last_error: Option<String>,
    /// An operator asked for the drive to go down once its session ends.
    pub down_wanted: bool,
    /// Removed from the config: goes once idle.
    pub remove_when_idle: bool,
    /// Sessions in a row that ended badly (exit 1, 2 or killed).
    pub failures_in_a_row: u32,
    /// When to ask the scheduler for its next mount.
    pub asking: Asking,
    /// A decision waiting for the library to say what the drive holds: the
    /// drive gets no session meanwhile.
    pub library_wait: Option<LibraryWait>,
    /// A background session gave this drive up to user work: it serves
    /// user work, whatever the queues' thresholds, until none is left.
    pub user_turn: bool,
}

/// After this many bad session ends in a row the drive stays down after its
/// cleaner: a drive that fails every session needs an operator, not a loop.
pub const MAX_FAILURES_IN_A_ROW: u32 = 3;

/// What the loop must do after a session ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// Close the drive's scheduler mounts (requeueing what they left).
    CloseMounts,
    /// Run a cleaner; the mounts stay open until it ends.
    Cleaner { vid: String },
    /// The cleaner failed: close the mounts and disable the tape.
    DisableTape { vid: String, reason: String },
}

/// A session killed on a file's account: the catalogue counts an attempt
/// for the file, and nothing against the drive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileBlame {
    pub mount_id: u64,
    pub file_id: u64,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionOutcome {
    pub drive: String,
    pub new_state: DriveState,
    pub next: Next,
    pub blame: Option<FileBlame>,
    /// The operator's answer, if one waits: Ok(message) or Err(error).
    pub reply: Option<(ReplyTo, Result<String, String>)>,
}

#[derive(Default)]
pub struct Catalogue {
    drives: BTreeMap<String, Drive>,
    shutting_down: bool,
    pacing: MountPacing,
}

impl Catalogue {
    pub fn new(configs: &[DriveConfig], now: Instant) -> Self {
        let mut catalogue = Self::default();
        for c in configs {
            catalogue.add_drive(c.clone(), now);
        }
        catalogue
    }

    pub fn add_drive(&mut self, config: DriveConfig, now: Instant) {
        tracing::info!(drive = %config.name, to = "up", reason = "configured", "drive state: {} up (configured)", config.name);
        self.drives.insert(
            config.name.clone(),
            Drive {
                config,
                state: DriveState::Up,
                since: now,
                session: None,
                last_error: None,
                down_wanted: false,
                remove_when_idle: false,
                failures_in_a_row: 0,
                asking: Asking::new(now),
                library_wait: None,
                user_turn: false,
            },
        );
    }

    /// A drive left the config: removed now if idle, else once its session ends.
    pub fn remove_drive(&mut self, name: &str) {
        let Some(drive) = self.drives.get_mut(name) else {
            return;
        };
        if drive.state.has_session() {
            tracing::info!(
                drive = name,
                "drive removed from the config: it goes when its session ends"
            );
            drive.remove_when_idle = true;
            drive.down_wanted = true;
        } else {
            tracing::info!(drive = name, "drive removed from the config");
            self.drives.remove(name);
        }
    }

    /// Updates a drive's config (device, faults); takes effect at its next session.
    pub fn update_config(&mut self, config: &DriveConfig) {
        if let Some(drive) = self.drives.get_mut(&config.name) {
            drive.config = config.clone();
        }
    }

    pub fn drives(&self) -> impl Iterator<Item = &Drive> {
        self.drives.values()
    }

    pub fn get(&self, name: &str) -> Option<&Drive> {
        self.drives.get(name)
    }

    pub fn names(&self) -> Vec<String> {
        self.drives.keys().cloned().collect()
    }

    /// Drives waiting for work.
    pub fn free_drives(&self) -> Vec<String> {
        if self.shutting_down {
            return Vec::new();
        }
        self.drives
            .values()
            .filter(|d| d.state == DriveState::Up && d.library_wait.is_none())
            .map(|d| d.config.name.clone())
            .collect()
    }

    pub fn busy(&self) -> usize {
        self.drives
            .values()
            .filter(|d| d.state.has_session())
            .count()
    }

    fn transition(drive: &mut Drive, to: DriveState, reason: &str, now: Instant) {
        let (name, from) = (&drive.config.name, drive.state.as_str());
        let message = format!("drive state: {name} {from} -> {} ({reason})", to.as_str());
        match to {
            DriveState::Down => tracing::warn!(
                drive = %name,
                from,
                to = to.as_str(),
                reason,
                "{message}"
            ),
            _ => tracing::info!(
                drive = %name,
                from,
                to = to.as_str(),
                reason,
                "{message}"
            ),
        }
        drive.state = to;
        drive.since = now;
    }

    /// Where a drive goes once it has nothing to do.
    fn idle_state(&self, drive: &Drive) -> DriveState {
        if self.shutting_down {
            DriveState::ShuttingDown
        } else if drive.down_wanted {
            DriveState::Down
        } else {
            DriveState::Up
        }
    }

    /// Starts a session on a free drive; false if the drive is not free.
    pub fn start_session(
        &mut self,
        name: &str,
        kind: SessionKind,
        vid: &str,
        mount_id: u64,
        reply_to: Option<ReplyTo>,
        now: Instant,
    ) -> bool {
        if self.shutting_down {
            return false;
        }
        let Some(drive) = self.drives.get_mut(name) else {
            return false;
        };
        if drive.state != DriveState::Up || drive.library_wait.is_some() {
            return false;
        }
        drive.session = Some(SessionInfo::new(kind, vid, mount_id, reply_to, now));
        let reason = format!("{} session for {vid}", kind_name(kind));
        Self::transition(drive, DriveState::Starting, &reason, now);
        true
    }

    /// Starts a cleaner on a drive that has no session.
    pub fn start_cleaner(&mut self, name: &str, vid: &str, reason: &str, now: Instant) -> bool {
        let Some(drive) = self.drives.get_mut(name) else {
            return false;
        };
        if drive.state.has_session() {
            return false;
        }
        drive.session = Some(SessionInfo::new(SessionKind::Cleaner, vid, 0, None, now));
        Self::transition(
            drive,
            DriveState::Cleaning,
            &format!("cleaner: {reason}"),
            now,
        );
        true
    }

    pub fn session_forked(&mut self, name: &str, pid: i32, now: Instant) {
        let Some(drive) = self.drives.get_mut(name) else {
            return;
        };
        let Some(session) = drive.session.as_mut() else {
            return;
        };
        session.pid = Some(pid);
        session.last_report = now;
        if drive.state == DriveState::Starting {
            Self::transition(
                drive,
                DriveState::Running,
                &format!("session pid {pid}"),
                now,
            );
        }
    }

    /// The fork failed: the drive is free again (its mounts are closed).
    pub fn fork_failed(&mut self, name: &str, error: &str, now: Instant) -> Option<SessionOutcome> {
        let to = self.idle_state(self.drives.get(name)?);
        let poll = self.pacing.poll;
        let drive = self.drives.get_mut(name)?;
        let session = drive.session.take()?;
        drive.asking.not_before = now + poll;
        drive.last_error = Some(format!("fork failed: {error}"));
        Self::transition(drive, to, &format!("fork failed: {error}"), now);
        Some(SessionOutcome {
            drive: name.to_string(),
            new_state: to,
            next: Next::CloseMounts,
            blame: None,
            reply: session
                .reply_to
                .map(|r| (r, Err(format!("cannot start the session: {error}")))),
        })
    }

    /// A heartbeat or state change from a session.
    pub fn session_report(&mut self, report: &SessionReport, now: Instant) {
        let Some(drive) = self.drives.get_mut(&report.drive) else {
            return;
        };
        let Some(session) = drive.session.as_mut() else {
            return;
        };
        if session.pid != Some(report.pid) && session.mount_id != report.mount_id {
            return;
        }
        let substate = SessionState::try_from(report.state).unwrap_or(SessionState::Unspecified);
        if session.substate != substate {
            session.substate = substate;
            session.substate_since = now;
            session.last_progress = now;
        }
        if report.bytes_moved != session.bytes {
            session.last_progress = now;
        }
        session.bytes = report.bytes_moved;
        session.files = report.files_moved;
        session.disk_wait = (report.disk_wait_file_id != 0).then_some(report.disk_wait_file_id);
        session.last_report = now;
        if !report.error.is_empty() {
            session.error = Some(report.error.clone());
        }
    }

    /// Sessions the watchdog must kill now: (drive, pid, reason). Each once.
    pub fn watchdog(&mut self, timeouts: &Timeouts, now: Instant) -> Vec<(String, i32, String)> {
        let mut kills = Vec::new();
        for drive in self.drives.values_mut() {
            let Some(session) = drive.session.as_mut() else {
                continue;
            };
            // An exited process is never signalled: its pid may be reused.
            let (Some(pid), None, None) = (session.pid, &session.killed, &session.exited) else {
                continue;
            };
            let progress = watchdog::Progress {
                substate: session.substate,
                substate_since: session.substate_since,
                last_report: session.last_report,
                last_progress: session.last_progress,
            };
            if let Some(reason) = watchdog::expired(&progress, timeouts, now) {
                // Stuck waiting for a file's disk side: the file's doing.
                session.blame = session.disk_wait;
                let reason = match session.blame {
                    Some(file_id) => {
                        format!("{reason} waiting for the disk side of file {file_id}")
                    }
                    None => reason,
                };
                session.killed = Some(reason.clone());
                kills.push((drive.config.name.clone(), pid, reason));
            }
        }
        kills
    }

    /// The drive whose session has this pid.
    pub fn drive_of_pid(&self, pid: i32) -> Option<String> {
        self.drives
            .values()
            .find(|d| d.session.as_ref().and_then(|s| s.pid) == Some(pid))
            .map(|d| d.config.name.clone())
    }

    pub fn pids(&self) -> Vec<i32> {
        self.drives
            .values()
            .filter_map(|d| d.session.as_ref())
            .filter(|s| s.exited.is_none())
            .filter_map(|s| s.pid)
            .collect()
    }
}

mod ending;
mod library_wait;
mod mount_requests;
mod operator;
mod preemption;
pub use preemption::Preemptible;
mod status;
pub mod transitions;

pub use ending::FINAL_REPORT_GRACE;
pub use library_wait::{LibraryWait, Waiting};
pub use mount_requests::{Asking, MountPacing};
pub use status::{kind_name, substate_name};

#[cfg(test)]
mod tests;

/// A catalogue of file-backed drives named `names`, for the tests.
#[cfg(test)]
fn of_test_drives(names: &[&str], now: Instant) -> Catalogue {
    let configs: Vec<DriveConfig> = names
        .iter()
        .map(|name| DriveConfig {
            name: (*name).into(),
            kind: crate::config::DriveKind::File,
            device: "/dev/null".into(),
            element: None,
            model: None,
            faults: None,
        })
        .collect();
    Catalogue::new(&configs, now)
}
