//! The drive catalogue: one state machine per drive, owned by the parent's
//! event loop. Every transition is logged with its reason.
//!
//! ```text
//! Down --up--> Up --mount assigned--> Starting --forked--> Running --exit 0--> Up
//!                                                     |        |--exit 1 / down requested--> Down
//!                                                     |        |--exit 2 / signal--> Down (cleaner pending)
//!                                                     |        `--down requested--> Draining --exit--> Down
//!                                                     `--fork failed--> Up
//! any idle --SIGTERM--> ShuttingDown
//! ```

use std::collections::BTreeMap;
use std::time::Instant;

use crate::config::DriveConfig;
use crate::proto::admin::DriveStatus;
use crate::proto::session::{SessionReport, SessionState};
use crate::scheduler::{Mount, MountKind};

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

/// What the parent knows of a drive's current session.
#[derive(Debug, Clone)]
pub struct SessionInfo {
    pub mount: Mount,
    pub pid: Option<i32>,
    pub substate: SessionState,
    pub bytes: u64,
    pub files: u64,
    pub started: Instant,
    pub last_report: Instant,
}

#[derive(Debug, Clone)]
pub struct Drive {
    pub config: DriveConfig,
    pub state: DriveState,
    pub since: Instant,
    pub session: Option<SessionInfo>,
    pub last_error: Option<String>,
}

/// What the loop must do after a session ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionOutcome {
    pub drive: String,
    pub mount_id: u64,
    pub new_state: DriveState,
}

#[derive(Default)]
pub struct Catalogue {
    drives: BTreeMap<String, Drive>,
}

impl Catalogue {
    pub fn new(configs: &[DriveConfig], now: Instant) -> Self {
        let drives = configs
            .iter()
            .map(|c| {
                let drive = Drive {
                    config: c.clone(),
                    state: DriveState::Up,
                    since: now,
                    session: None,
                    last_error: None,
                };
                tracing::info!(drive = %c.name, state = "up", reason = "configured", "drive state");
                (c.name.clone(), drive)
            })
            .collect();
        Self { drives }
    }

    pub fn get(&self, name: &str) -> Option<&Drive> {
        self.drives.get(name)
    }

    pub fn drives(&self) -> impl Iterator<Item = &Drive> {
        self.drives.values()
    }

    /// Drives waiting for work.
    pub fn free_drives(&self) -> Vec<String> {
        self.drives
            .values()
            .filter(|d| d.state == DriveState::Up)
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
        tracing::info!(
            drive = %drive.config.name,
            from = drive.state.as_str(),
            to = to.as_str(),
            reason,
            "drive state"
        );
        drive.state = to;
        drive.since = now;
    }

    /// The scheduler assigned a mount; true if the drive takes it.
    pub fn start_session(&mut self, name: &str, mount: Mount, now: Instant) -> bool {
        let Some(drive) = self.drives.get_mut(name) else {
            return false;
        };
        if drive.state != DriveState::Up {
            return false;
        }
        let reason = format!(
            "{} mount {} of {}",
            mount.kind.as_str(),
            mount.id,
            mount.vid
        );
        drive.session = Some(SessionInfo {
            mount,
            pid: None,
            substate: SessionState::Starting,
            bytes: 0,
            files: 0,
            started: now,
            last_report: now,
        });
        Self::transition(drive, DriveState::Starting, &reason, now);
        true
    }

    pub fn session_forked(&mut self, name: &str, pid: i32, now: Instant) {
        let Some(drive) = self.drives.get_mut(name) else {
            return;
        };
        if let Some(session) = drive.session.as_mut() {
            session.pid = Some(pid);
            session.last_report = now;
        }
        if drive.state == DriveState::Starting {
            Self::transition(
                drive,
                DriveState::Running,
                &format!("session pid {pid}"),
                now,
            );
        }
    }

    /// The fork failed: the drive is free again; returns the mount to close.
    pub fn fork_failed(&mut self, name: &str, error: &str, now: Instant) -> Option<u64> {
        let drive = self.drives.get_mut(name)?;
        let mount_id = drive.session.take().map(|s| s.mount.id);
        drive.last_error = Some(error.to_string());
        let to = if drive.state == DriveState::Draining {
            DriveState::Down
        } else {
            DriveState::Up
        };
        Self::transition(drive, to, &format!("fork failed: {error}"), now);
        mount_id
    }

    /// A heartbeat or state change from a session.
    pub fn session_report(&mut self, report: &SessionReport, now: Instant) {
        let name = report.drive.as_str();
        let mount_id = report.mount_id;
        let substate = SessionState::try_from(report.state).unwrap_or(SessionState::Unspecified);
        let (bytes, files, error) = (
            report.bytes_moved,
            report.files_moved,
            report.error.as_str(),
        );
        let Some(drive) = self.drives.get_mut(name) else {
            return;
        };
        let Some(session) = drive.session.as_mut() else {
            return;
        };
        if session.mount.id != mount_id {
            return;
        }
        if session.substate != substate {
            tracing::debug!(drive = name, substate = ?substate, "session state");
        }
        session.substate = substate;
        session.bytes = bytes;
        session.files = files;
        session.last_report = now;
        if !error.is_empty() {
            drive.last_error = Some(error.to_string());
        }
    }

    /// The drive whose session has this pid.
    pub fn drive_of_pid(&self, pid: i32) -> Option<String> {
        self.drives
            .values()
            .find(|d| d.session.as_ref().and_then(|s| s.pid) == Some(pid))
            .map(|d| d.config.name.clone())
    }

    /// A session ended with an exit code, or killed by a signal (`code` None).
    pub fn session_ended(
        &mut self,
        pid: i32,
        code: Option<i32>,
        signal: Option<i32>,
        now: Instant,
    ) -> Option<SessionOutcome> {
        let name = self.drive_of_pid(pid)?;
        let drive = self.drives.get_mut(&name)?;
        let session = drive.session.take()?;
        let draining = drive.state == DriveState::Draining;
        let (to, reason) = match (code, signal) {
            (Some(0), _) if draining => {
                (DriveState::Down, "session ended, drive drained".to_string())
            }
            (Some(0), _) => (DriveState::Up, "session ended normally".to_string()),
            (Some(1), _) => (
                DriveState::Down,
                "session asked for the drive to go down".to_string(),
            ),
            (Some(2), _) => (
                DriveState::Down,
                "session asked for a cleaner (cleaner not available: drive down)".to_string(),
            ),
            (Some(c), _) => (
                DriveState::Down,
                format!("session exited with unexpected code {c}"),
            ),
            (None, Some(s)) => (DriveState::Down, format!("session killed by signal {s}")),
            (None, None) => (
                DriveState::Down,
                "session ended for an unknown reason".to_string(),
            ),
        };
        if to == DriveState::Down && !draining {
            drive.last_error = Some(reason.clone());
        }
        Self::transition(drive, to, &reason, now);
        Some(SessionOutcome {
            drive: name,
            mount_id: session.mount.id,
            new_state: to,
        })
    }

    /// tpconfig up/down. Returns a sentence for the operator.
    pub fn configure(&mut self, name: &str, up: bool, now: Instant) -> Result<String, String> {
        let drive = self
            .drives
            .get_mut(name)
            .ok_or_else(|| format!("no drive named {name}"))?;
        match (up, drive.state) {
            (true, DriveState::Down) => {
                drive.last_error = None;
                Self::transition(drive, DriveState::Up, "operator: tpconfig up", now);
                Ok(format!("drive {name} is up"))
            }
            (true, DriveState::Draining) => {
                Self::transition(
                    drive,
                    DriveState::Running,
                    "operator: tpconfig up cancels the drain",
                    now,
                );
                Ok(format!("drive {name} is running again and stays up"))
            }
            (true, DriveState::ShuttingDown) => Err("the daemon is shutting down".into()),
            (true, _) => Ok(format!(
                "drive {name} is already up ({})",
                drive.state.as_str()
            )),
            (false, DriveState::Up) => {
                Self::transition(drive, DriveState::Down, "operator: tpconfig down", now);
                Ok(format!("drive {name} is down"))
            }
            (false, DriveState::Starting | DriveState::Running) => {
                Self::transition(
                    drive,
                    DriveState::Draining,
                    "operator: tpconfig down while running",
                    now,
                );
                Ok(format!(
                    "drive {name} is draining: it goes down when its session ends"
                ))
            }
            (false, state) => Ok(format!("drive {name} is already {}", state.as_str())),
        }
    }

    /// SIGTERM: idle drives stop taking work; running sessions are left to finish.
    pub fn shutting_down(&mut self, now: Instant) {
        for drive in self.drives.values_mut() {
            if matches!(drive.state, DriveState::Up | DriveState::Down) {
                Self::transition(drive, DriveState::ShuttingDown, "daemon shutting down", now);
            }
        }
    }

    pub fn pids(&self) -> Vec<i32> {
        self.drives
            .values()
            .filter_map(|d| d.session.as_ref().and_then(|s| s.pid))
            .collect()
    }

    pub fn status(&self, now: Instant) -> Vec<DriveStatus> {
        self.drives
            .values()
            .map(|d| {
                let s = d.session.as_ref();
                let elapsed = s.map_or(0.0, |s| now.duration_since(s.started).as_secs_f64());
                DriveStatus {
                    name: d.config.name.clone(),
                    state: d.state.as_str().into(),
                    vid: s.map(|s| s.mount.vid.clone()),
                    pid: s.and_then(|s| s.pid),
                    session: s.map(|s| s.mount.kind.as_str().into()),
                    substate: s.map(|s| substate_name(s.substate).into()),
                    bytes: s.map_or(0, |s| s.bytes),
                    files: s.map_or(0, |s| s.files),
                    mb_per_s: s.map_or(0.0, |s| crate::util::mb_per_s(s.bytes, elapsed)),
                    seconds_in_state: now.duration_since(d.since).as_secs_f64(),
                    last_error: d.last_error.clone(),
                }
            })
            .collect()
    }
}

pub fn substate_name(state: SessionState) -> &'static str {
    match state {
        SessionState::Unspecified | SessionState::Starting => "starting",
        SessionState::Mounting => "mounting",
        SessionState::Positioning => "positioning",
        SessionState::Transferring => "transferring",
        SessionState::Unmounting => "unmounting",
        SessionState::Finished => "finished",
    }
}

pub fn mount_kind_name(kind: MountKind) -> &'static str {
    kind.as_str()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::DriveKind;

    fn catalogue() -> (Catalogue, Instant) {
        let now = Instant::now();
        let config = DriveConfig {
            name: "d0".into(),
            kind: DriveKind::File,
            device: "/dev/null".into(),
            faults: None,
        };
        (Catalogue::new(&[config], now), now)
    }

    fn mount(id: u64) -> Mount {
        Mount {
            id,
            kind: MountKind::Migration,
            vid: "V00001".into(),
            pool: "default".into(),
        }
    }

    fn report(mount_id: u64, bytes: u64, files: u64) -> SessionReport {
        SessionReport {
            drive: "d0".into(),
            mount_id,
            state: SessionState::Transferring as i32,
            bytes_moved: bytes,
            files_moved: files,
            ..Default::default()
        }
    }

    fn state(c: &Catalogue) -> DriveState {
        c.get("d0").unwrap().state
    }

    #[test]
    fn normal_session_cycle() {
        let (mut c, now) = catalogue();
        assert_eq!(c.free_drives(), vec!["d0"]);
        assert!(c.start_session("d0", mount(1), now));
        assert_eq!(state(&c), DriveState::Starting);
        assert!(
            !c.start_session("d0", mount(2), now),
            "a busy drive takes no second mount"
        );
        c.session_forked("d0", 100, now);
        assert_eq!(state(&c), DriveState::Running);
        c.session_report(&report(1, 1000, 2), now);
        let status = c.status(now);
        assert_eq!(
            (status[0].bytes, status[0].files, status[0].pid),
            (1000, 2, Some(100))
        );
        let outcome = c.session_ended(100, Some(0), None, now).unwrap();
        assert_eq!(outcome.mount_id, 1);
        assert_eq!(state(&c), DriveState::Up);
    }

    #[test]
    fn exit_codes_decide_the_next_state() {
        for (code, signal, expected) in [
            (Some(1), None, DriveState::Down),
            (Some(2), None, DriveState::Down),
            (None, Some(9), DriveState::Down),
        ] {
            let (mut c, now) = catalogue();
            c.start_session("d0", mount(1), now);
            c.session_forked("d0", 7, now);
            c.session_ended(7, code, signal, now).unwrap();
            assert_eq!(state(&c), expected);
            assert!(c.get("d0").unwrap().last_error.is_some());
        }
    }

    #[test]
    fn down_while_running_drains() {
        let (mut c, now) = catalogue();
        c.start_session("d0", mount(1), now);
        c.session_forked("d0", 7, now);
        c.configure("d0", false, now).unwrap();
        assert_eq!(state(&c), DriveState::Draining);
        assert!(c.free_drives().is_empty());
        c.session_ended(7, Some(0), None, now).unwrap();
        assert_eq!(state(&c), DriveState::Down);
        c.configure("d0", true, now).unwrap();
        assert_eq!(state(&c), DriveState::Up);
    }

    #[test]
    fn fork_failure_frees_the_drive_and_returns_the_mount() {
        let (mut c, now) = catalogue();
        c.start_session("d0", mount(5), now);
        assert_eq!(c.fork_failed("d0", "EAGAIN", now), Some(5));
        assert_eq!(state(&c), DriveState::Up);
    }

    #[test]
    fn unknown_drive_is_an_error() {
        let (mut c, now) = catalogue();
        assert!(c.configure("nope", true, now).is_err());
    }

    #[test]
    fn reports_of_another_mount_are_ignored() {
        let (mut c, now) = catalogue();
        c.start_session("d0", mount(1), now);
        c.session_report(&report(99, 5, 5), now);
        assert_eq!(c.status(now)[0].bytes, 0);
    }
}
