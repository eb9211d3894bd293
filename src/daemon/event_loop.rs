//! The parent's event loop: one `zmq::poll` over the session and admin
//! sockets, the forker link, the wake-up socket of its threads and the
//! signal pipes, with a tick for timers (watchdog, shutdown deadline,
//! systemd watchdog). It only dispatches: the drive catalogue does the
//! bookkeeping, the threads do the blocking work.

use std::io::Read;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use prost::Message;

use super::catalogue::{Catalogue, MountPacing, Waiting};
use super::forker::{ForkerError, ForkerEvent, ForkerHandle};
use super::library_worker::LibraryWorker;
use super::messages::ToLoop;
use super::scheduler_thread::SchedulerHandle;
use super::session_spec;
use super::watchdog::Timeouts;
use crate::config::Config;
use crate::proto::session::{SessionKind, SessionReport, SessionSpec};
use crate::scheduler::MountKind;

mod ending;
mod library_decisions;
mod preempt;

const TICK: Duration = Duration::from_millis(100);

/// The sockets and channels the loop polls.
pub struct LoopIo {
    pub forker: ForkerHandle,
    pub sessions: zmq::Socket,
    pub admin: zmq::Socket,
    pub wake: UnixStream,
    pub from_threads: Receiver<ToLoop>,
    pub scheduler: SchedulerHandle,
    pub library: LibraryWorker,
    pub frontend: super::frontend::FrontendHandle,
    pub term: UnixStream,
    pub hup: UnixStream,
}

/// Messages taken from one socket per turn of the loop.
pub(super) const BATCH: usize = 64;

pub struct EventLoop {
    pub(super) config: Config,
    pub(super) config_path: PathBuf,
    pub(super) host: String,
    pub(super) catalogue: Catalogue,
    pub(super) io: LoopIo,
    pub(super) timeouts: Timeouts,
    pub(super) shutdown_since: Option<Instant>,
    pub(super) deadline_passed: bool,
    pub(super) systemd_watchdog: Option<(Duration, Instant)>,
    /// Logs of undecodable session reports, at most one a second.
    pub(super) bad_reports: crate::util::Throttle,
    /// Kept only when the metrics endpoint is configured.
    pub(super) metrics: Option<std::sync::Arc<super::metrics::Metrics>>,
    /// This host's mounts on drives no longer configured are looked at
    /// once the library first answers.
    pub(super) stale_mounts_pending: bool,
    /// The drives' summary last told systemd (`systemctl status`).
    pub(super) told_status: String,
    /// NOTIFY_SOCKET names systemd's socket.
    pub(super) under_systemd: bool,
    pub(super) preemption: preempt::Preemption,
}

/// Why the loop ended: the daemon's exit code follows.
#[derive(Debug, PartialEq, Eq)]
pub enum LoopEnd {
    /// SIGTERM/SIGINT and every session done.
    Shutdown,
    /// The forker died: sessions cannot be tracked; systemd restarts us.
    ForkerDied,
}

impl EventLoop {
    pub fn new(
        config: Config,
        config_path: PathBuf,
        host: String,
        io: LoopIo,
        metrics: Option<std::sync::Arc<super::metrics::Metrics>>,
    ) -> Self {
        let now = Instant::now();
        let mut catalogue = Catalogue::new(&config.drives, now);
        catalogue.set_pacing(pacing(&config));
        for drive in super::drives_down::load(&config.daemon.state_dir) {
            if catalogue.get(&drive).is_some() {
                tracing::info!(drive = %drive, "the drive stays down, as an operator left it (tpconfig up brings it up)");
                if let Err(e) = catalogue.configure(&drive, false, None, now) {
                    tracing::error!(drive = %drive, error = %e, "cannot keep the drive down");
                }
            }
        }
        let timeouts = Timeouts::from(&config.watchdog);
        let systemd_watchdog =
            sd_notify::watchdog_enabled().map(|every| (every / 2, Instant::now()));
        Self {
            config,
            config_path,
            host,
            catalogue,
            io,
            timeouts,
            shutdown_since: None,
            deadline_passed: false,
            systemd_watchdog,
            bad_reports: crate::util::Throttle::new(),
            metrics,
            stale_mounts_pending: false,
            told_status: String::new(),
            under_systemd: std::env::var_os("NOTIFY_SOCKET").is_some(),
            preemption: Default::default(),
        }
    }

    /// Runs the loop; gives its sockets and threads back so the caller can
    /// stop them.
    pub fn run(mut self) -> (LoopEnd, LoopIo) {
        self.recover();
        let end = self.serve();
        (end, self.io)
    }

    /// Every drive waits for the library to say what it holds: a cartridge
    /// from a previous run gets a cleaner (its mounts close after it); an
    /// empty drive's stale mounts close. Until then no drive gets a session.
    fn recover(&mut self) {
        let reading = self.io.library.refresh();
        for drive in self.catalogue.names() {
            self.catalogue
                .await_library(&drive, Waiting::Recovery, reading, false);
        }
        self.stale_mounts_pending = true;
    }

    fn serve(&mut self) -> LoopEnd {
        loop {
            self.ask_for_mounts();
            let (sessions, admin, forker, wake, term, hup) = {
                let mut items = [
                    self.io.sessions.as_poll_item(zmq::POLLIN),
                    self.io.admin.as_poll_item(zmq::POLLIN),
                    zmq::PollItem::from_fd(self.io.forker.link.as_raw_fd(), zmq::POLLIN),
                    zmq::PollItem::from_fd(self.io.wake.as_raw_fd(), zmq::POLLIN),
                    zmq::PollItem::from_fd(self.io.term.as_raw_fd(), zmq::POLLIN),
                    zmq::PollItem::from_fd(self.io.hup.as_raw_fd(), zmq::POLLIN),
                ];
                if let Err(e) = zmq::poll(&mut items, TICK.as_millis() as i64) {
                    if e != zmq::Error::EINTR {
                        tracing::error!(error = %e, "event loop poll failed");
                    }
                    continue;
                }
                (
                    items[0].is_readable(),
                    items[1].is_readable(),
                    items[2].is_readable() || items[2].is_error(),
                    items[3].is_readable(),
                    items[4].is_readable(),
                    items[5].is_readable(),
                )
            };
            if sessions {
                self.on_session_messages();
                self.apply_due_ends();
            }
            if admin {
                self.on_admin_requests();
            }
            if forker && !self.on_forker() {
                self.kill_sessions("the forker died");
                return LoopEnd::ForkerDied;
            }
            if wake {
                drain(&self.io.wake);
                while let Ok(msg) = self.io.from_threads.try_recv() {
                    self.on_thread_message(msg);
                }
            }
            if term {
                drain(&self.io.term);
                self.begin_shutdown();
            }
            if hup {
                drain(&self.io.hup);
                self.reload();
            }
            if let Some(end) = self.tick() {
                return end;
            }
        }
    }

    fn tick(&mut self) -> Option<LoopEnd> {
        self.apply_due_ends();
        let now = Instant::now();
        if let Some(m) = &self.metrics {
            m.observe(&self.catalogue, now);
        }
        for (drive, pid, reason) in self.catalogue.watchdog(&self.timeouts, now) {
            if let Some(m) = &self.metrics {
                m.watchdog_killed();
            }
            tracing::error!(drive = %drive, pid, reason = %reason, "watchdog: killing the session");
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
        if self.under_systemd {
            self.tell_status();
        }
        if let Some((every, last)) = self.systemd_watchdog
            && now.duration_since(last) >= every
        {
            let _ = sd_notify::notify(&[sd_notify::NotifyState::Watchdog]);
            self.systemd_watchdog = Some((every, now));
        }
        if let Some(since) = self.shutdown_since {
            if self.catalogue.busy() == 0 {
                return Some(LoopEnd::Shutdown);
            }
            if !self.deadline_passed && since.elapsed() > self.config.watchdog.shutdown_deadline.0 {
                // Killed sessions get cleaners, which finish the shutdown.
                self.deadline_passed = true;
                self.kill_sessions("shutdown deadline passed");
            }
        }
        None
    }

    /// `systemctl status` shows the drives at a glance (STATUS=), sent when
    /// it changes.
    fn tell_status(&mut self) {
        let mut counts: std::collections::BTreeMap<&str, usize> = Default::default();
        for d in self.catalogue.drives() {
            *counts.entry(d.state.as_str()).or_default() += 1;
        }
        let states: Vec<String> = counts.iter().map(|(s, n)| format!("{n} {s}")).collect();
        let status = format!(
            "{} drives: {}",
            self.catalogue.names().len(),
            states.join(", ")
        );
        if status != self.told_status {
            let _ = sd_notify::notify(&[sd_notify::NotifyState::Status(&status)]);
            self.told_status = status;
        }
    }

    fn begin_shutdown(&mut self) {
        if self.shutdown_since.is_some() {
            return;
        }
        tracing::info!(
            sessions = self.catalogue.busy(),
            "shutdown requested: no new mounts, running sessions finish"
        );
        let _ = sd_notify::notify(&[sd_notify::NotifyState::Stopping]);
        // Sessions keeping a cartridge for more work give it up now.
        for pid in self.catalogue.pids() {
            let _ = nix::sys::signal::kill(
                Pid::from_raw(pid),
                Signal::try_from(crate::session::FINISH_SIGNAL).ok(),
            );
        }
        self.shutdown_since = Some(Instant::now());
        self.catalogue.shutting_down(Instant::now());
    }

    /// SIGHUP: a valid new config replaces the running one; an invalid one
    /// is logged and the running one kept. What can change while running
    /// changes (`RELOADABLE`); every other section that changed is named
    /// with "restart needed" and keeps its running value.
    fn reload(&mut self) {
        let new = match Config::load(&self.config_path) {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(error = %e, "SIGHUP: the new configuration is rejected; keeping the running one");
                return;
            }
        };
        let changes = super::reload::Changes::between(&self.config, &new);
        let now = Instant::now();
        for drive in &new.drives {
            if self.catalogue.get(&drive.name).is_none() {
                self.catalogue.add_drive(drive.clone(), now);
            } else {
                self.catalogue.update_config(drive);
            }
        }
        for name in self.catalogue.names() {
            if !new.drives.iter().any(|d| d.name == name) {
                self.catalogue.remove_drive(&name);
            }
        }
        let new = changes.keep_restart_only(&self.config, new);
        self.io
            .frontend
            .set_roots(super::frontend::AllRoots::of(&new));
        self.timeouts = Timeouts::from(&new.watchdog);
        self.catalogue.set_pacing(pacing(&new));
        self.config = new;
        for key in &changes.restart_needed {
            tracing::warn!(key = %key, "SIGHUP: restart needed for this change; the running value is kept");
        }
        tracing::info!(
            drives = self.catalogue.names().len(),
            applied = %changes.applied.join(","),
            restart_needed = %changes.restart_needed.join(","),
            "SIGHUP: configuration reloaded"
        );
    }

    /// Asks the scheduler thread for a mount for each drive that is due.
    fn ask_for_mounts(&mut self) {
        let mut policy = crate::settings::mount_policy(&self.config.scheduler);
        policy.repack_max_drives = self.config.repack.max_drives;
        policy.recall_room = crate::disk_buffer::recall_room(&self.config);
        for drive in self.catalogue.mount_requests(Instant::now()) {
            // A drive a background session gave up serves user work first.
            let policy = if self.catalogue.user_turn(&drive) {
                policy.user_turn()
            } else {
                policy.clone()
            };
            self.io.scheduler.find_mount(drive, policy);
        }
        self.consider_preemption(Instant::now());
    }

    fn on_thread_message(&mut self, msg: ToLoop) {
        let now = Instant::now();
        match msg {
            ToLoop::WorkQueued => self.catalogue.work_queued(now),
            ToLoop::LibraryRead { covers, ok } => self.on_library_read(covers, ok),
            ToLoop::AdminAnswer { reply_to, answer } => self.reply(reply_to, answer),
            ToLoop::UserWork(work) => self.on_user_work(work),
            ToLoop::NoMount { drive } => {
                self.catalogue.end_user_turn(&drive);
                self.catalogue.mount_answered(&drive, false, now);
            }
            ToLoop::MountFound { drive, mount } => {
                let kind = match mount.kind {
                    MountKind::Migration => SessionKind::Migration,
                    // A repack's reads are recalls into the buffer.
                    MountKind::Recall | MountKind::Repack => SessionKind::Recall,
                    MountKind::Verify => SessionKind::Verify,
                    // The scheduler never picks operator mounts.
                    MountKind::Label | MountKind::Readtp => SessionKind::Unspecified,
                };
                if kind == SessionKind::Unspecified
                    || !self.catalogue.mount_answered(&drive, true, now)
                    || !self
                        .catalogue
                        .start_session(&drive, kind, &mount.vid, mount.id, None, now)
                {
                    tracing::info!(drive = %drive, mount = mount.id, "drive no longer free: mount released");
                    self.io.scheduler.release_mount(mount.id);
                    return;
                }
                let mut spec = session_spec(
                    &self.config,
                    &self.host,
                    &drive,
                    kind,
                    &mount.vid,
                    mount.id,
                    &mount.pool,
                );
                // Verifications and a repack's reads give way to user work.
                if matches!(mount.kind, MountKind::Verify | MountKind::Repack) {
                    spec.background = true;
                    self.catalogue.set_background(&drive);
                }
                self.fork(&drive, spec);
            }
        }
    }

    pub(super) fn fork(&mut self, drive: &str, spec: SessionSpec) {
        // The session moves cartridges: what the drive held is unknown
        // until the library is read again.
        self.io.library.forget(drive);
        if let Err(e) = self.io.forker.fork_session(spec)
            && let Some(outcome) = self
                .catalogue
                .fork_failed(drive, &e.to_string(), Instant::now())
        {
            self.after_session(outcome);
        }
    }

    pub(super) fn start_cleaner(&mut self, drive: &str, vid: &str, reason: &str) {
        if self
            .catalogue
            .start_cleaner(drive, vid, reason, Instant::now())
        {
            let spec = session_spec(
                &self.config,
                &self.host,
                drive,
                SessionKind::Cleaner,
                vid,
                0,
                "",
            );
            self.fork(drive, spec);
        }
    }

    /// False when the forker is gone.
    fn on_forker(&mut self) -> bool {
        let event = match self.io.forker.read_event() {
            Ok(Some(event)) => event,
            Ok(None) => {
                tracing::error!(
                    pid = self.io.forker.pid.as_raw(),
                    "the forker closed its link"
                );
                return false;
            }
            // A message out of turn: log it; the link itself still works.
            Err(e @ ForkerError::Unexpected(_)) => {
                tracing::error!(error = %e, "forker protocol error");
                return true;
            }
            Err(e) => {
                tracing::error!(error = %e, "forker link broken");
                return false;
            }
        };
        let now = Instant::now();
        match event {
            ForkerEvent::Forked { drive, pid } => self.catalogue.session_forked(&drive, pid, now),
            ForkerEvent::ForkFailed { drive, error } => {
                if let Some(outcome) = self.catalogue.fork_failed(&drive, &error, now) {
                    self.after_session(outcome);
                }
            }
            ForkerEvent::Exited { pid, code } => self.session_exited(pid, Some(code), None),
            ForkerEvent::Killed { pid, signal } => self.session_exited(pid, None, Some(signal)),
        }
        true
    }

    fn on_session_messages(&mut self) {
        // A bounded batch per turn: a flood on one socket cannot hold the
        // loop away from the others (poll comes back at once for the rest).
        for _ in 0..BATCH {
            let Ok(frames) = self.io.sessions.recv_multipart(zmq::DONTWAIT) else {
                break;
            };
            let Some(body) = frames.last() else { continue };
            match SessionReport::decode(body.as_slice()) {
                Ok(r) => self.catalogue.session_report(&r, Instant::now()),
                Err(e) => {
                    if let Some(suppressed) = self.bad_reports.allow() {
                        tracing::warn!(error = %e, suppressed, "undecodable session report");
                    }
                }
            }
        }
    }

    fn kill_sessions(&mut self, why: &str) {
        for pid in self.catalogue.pids() {
            tracing::warn!(pid, reason = why, "killing session");
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
    }
}

fn pacing(config: &Config) -> MountPacing {
    MountPacing {
        poll: config.scheduler.poll_interval.0,
        backoff: config.scheduler.error_backoff.0,
    }
}

fn drain(stream: &UnixStream) {
    let mut buf = [0u8; 256];
    while matches!((&*stream).read(&mut buf), Ok(n) if n > 0) {}
}
