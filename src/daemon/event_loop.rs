//! The parent's event loop: one `zmq::poll` over the session and admin
//! sockets, the forker link, the wake-up socket of its threads and the
//! signal pipes, with a tick for timers. It only dispatches: the drive
//! catalogue does the bookkeeping, the threads do the blocking work.

use std::io::Read;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use prost::Message;

use super::catalogue::{Catalogue, DriveState};
use super::forker::ForkerHandle;
use super::messages::{ToLoop, ToScheduler};
use crate::config::Config;
use crate::proto::admin::{AdminReply, AdminRequest, DriveList, admin_reply, admin_request};
use crate::proto::forker::{ForkSession, forker_reply};
use crate::proto::session::{DriveFaults, SessionKind, SessionReport, SessionSpec, SessionTuning};
use crate::scheduler::{Mount, MountKind};

const TICK: Duration = Duration::from_millis(100);

pub struct EventLoop {
    pub config: Config,
    pub host: String,
    pub catalogue: Catalogue,
    pub forker: ForkerHandle,
    pub sessions: zmq::Socket,
    pub admin: zmq::Socket,
    pub wake: UnixStream,
    pub from_threads: Receiver<ToLoop>,
    pub to_scheduler: Sender<ToScheduler>,
    pub term: UnixStream,
    pub hup: UnixStream,
    next_request: u64,
    last_free: Vec<String>,
    shutdown_since: Option<Instant>,
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
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        config: Config,
        host: String,
        catalogue: Catalogue,
        forker: ForkerHandle,
        sessions: zmq::Socket,
        admin: zmq::Socket,
        wake: UnixStream,
        from_threads: Receiver<ToLoop>,
        to_scheduler: Sender<ToScheduler>,
        term: UnixStream,
        hup: UnixStream,
    ) -> Self {
        Self {
            config,
            host,
            catalogue,
            forker,
            sessions,
            admin,
            wake,
            from_threads,
            to_scheduler,
            term,
            hup,
            next_request: 0,
            last_free: Vec::new(),
            shutdown_since: None,
        }
    }

    /// Runs the loop; gives the forker back so the caller can stop it.
    pub fn run_and_return_forker(mut self) -> (LoopEnd, ForkerHandle) {
        let end = self.run();
        (end, self.forker)
    }

    fn run(&mut self) -> LoopEnd {
        self.offer_free_drives();
        loop {
            let (sessions, admin, forker, wake, term, hup) = {
                let mut items = [
                    self.sessions.as_poll_item(zmq::POLLIN),
                    self.admin.as_poll_item(zmq::POLLIN),
                    zmq::PollItem::from_fd(self.forker.link.as_raw_fd(), zmq::POLLIN),
                    zmq::PollItem::from_fd(self.wake.as_raw_fd(), zmq::POLLIN),
                    zmq::PollItem::from_fd(self.term.as_raw_fd(), zmq::POLLIN),
                    zmq::PollItem::from_fd(self.hup.as_raw_fd(), zmq::POLLIN),
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
            }
            if admin {
                self.on_admin_requests();
            }
            if forker && !self.on_forker() {
                self.kill_sessions("the forker died");
                return LoopEnd::ForkerDied;
            }
            if wake {
                drain(&self.wake);
                while let Ok(msg) = self.from_threads.try_recv() {
                    self.on_thread_message(msg);
                }
            }
            if term {
                drain(&self.term);
                if self.shutdown_since.is_none() {
                    tracing::info!(
                        sessions = self.catalogue.busy(),
                        "shutdown requested: no new mounts, running sessions finish"
                    );
                    self.shutdown_since = Some(Instant::now());
                    self.catalogue.shutting_down(Instant::now());
                }
            }
            if hup {
                drain(&self.hup);
                tracing::warn!(
                    "SIGHUP: configuration reload is not supported yet; the running configuration is kept"
                );
            }
            if let Some(since) = self.shutdown_since {
                if self.catalogue.busy() == 0 {
                    return LoopEnd::Shutdown;
                }
                if since.elapsed() > self.config.watchdog.shutdown_deadline.0 {
                    self.kill_sessions("shutdown deadline passed");
                }
            }
            self.offer_free_drives();
        }
    }

    /// Tells the scheduler thread which drives are free, when that changed.
    fn offer_free_drives(&mut self) {
        let free = if self.shutdown_since.is_some() {
            Vec::new()
        } else {
            self.catalogue.free_drives()
        };
        if free != self.last_free {
            self.last_free = free.clone();
            let _ = self.to_scheduler.send(ToScheduler::FreeDrives(free));
        }
    }

    fn on_thread_message(&mut self, msg: ToLoop) {
        match msg {
            ToLoop::Assign { drive, mount } => {
                let now = Instant::now();
                if self.shutdown_since.is_some()
                    || !self.catalogue.start_session(&drive, mount.clone(), now)
                {
                    tracing::info!(drive = %drive, mount = mount.id, "drive no longer free: mount released");
                    let _ = self.to_scheduler.send(ToScheduler::ReleaseMount(mount.id));
                    return;
                }
                let spec = self.session_spec(&drive, &mount);
                self.next_request += 1;
                let request = ForkSession {
                    request_id: self.next_request,
                    spec: Some(spec),
                };
                if let Err(e) = self.forker.fork_session(request) {
                    let error = e.to_string();
                    if let Some(id) = self.catalogue.fork_failed(&drive, &error, now) {
                        let _ = self.to_scheduler.send(ToScheduler::ReleaseMount(id));
                    }
                }
            }
        }
    }

    /// False when the forker is gone.
    fn on_forker(&mut self) -> bool {
        let reply = match self.forker.read_reply() {
            Ok(Some(reply)) => reply,
            Ok(None) => {
                tracing::error!(pid = self.forker.pid.as_raw(), "the forker closed its link");
                return false;
            }
            Err(e) => {
                tracing::error!(error = %e, "forker link broken");
                return false;
            }
        };
        let now = Instant::now();
        match reply.kind {
            Some(forker_reply::Kind::Forked(f)) => {
                self.catalogue.session_forked(&f.drive, f.pid, now)
            }
            Some(forker_reply::Kind::Failed(f)) => {
                if let Some(id) = self.catalogue.fork_failed(&f.drive, &f.error, now) {
                    let _ = self.to_scheduler.send(ToScheduler::ReleaseMount(id));
                }
            }
            Some(forker_reply::Kind::Exited(e)) => self.session_ended(e.pid, Some(e.code), None),
            Some(forker_reply::Kind::Killed(k)) => self.session_ended(k.pid, None, Some(k.signal)),
            None => tracing::warn!("empty message from the forker"),
        }
        true
    }

    fn session_ended(&mut self, pid: i32, code: Option<i32>, signal: Option<i32>) {
        match self
            .catalogue
            .session_ended(pid, code, signal, Instant::now())
        {
            Some(outcome) => {
                tracing::info!(drive = %outcome.drive, pid, code = ?code, signal = ?signal, state = outcome.new_state.as_str(), "session ended");
                let _ = self.to_scheduler.send(ToScheduler::SessionEnded {
                    drive: outcome.drive,
                    mount_id: outcome.mount_id,
                });
            }
            None => tracing::warn!(pid, "a process the catalogue does not know ended"),
        }
    }

    fn on_session_messages(&mut self) {
        while let Ok(frames) = self.sessions.recv_multipart(zmq::DONTWAIT) {
            let Some(body) = frames.last() else { continue };
            match SessionReport::decode(body.as_slice()) {
                Ok(r) => self.catalogue.session_report(&r, Instant::now()),
                Err(e) => tracing::warn!(error = %e, "undecodable session report"),
            }
        }
    }

    fn on_admin_requests(&mut self) {
        while let Ok(frames) = self.admin.recv_multipart(zmq::DONTWAIT) {
            let Some((body, envelope)) = frames.split_last() else {
                continue;
            };
            let reply = self.admin_reply(body);
            let mut out = envelope.to_vec();
            out.push(reply.encode_to_vec());
            if let Err(e) = self.admin.send_multipart(out, zmq::DONTWAIT) {
                tracing::warn!(error = %e, "cannot send an admin reply");
            }
        }
    }

    fn admin_reply(&mut self, body: &[u8]) -> AdminReply {
        let now = Instant::now();
        let kind = match AdminRequest::decode(body).map(|r| r.kind) {
            Ok(Some(admin_request::Kind::ListDrives(_))) => admin_reply::Kind::Drives(DriveList {
                drives: self.catalogue.status(now),
            }),
            Ok(Some(admin_request::Kind::ConfigureDrive(c))) => {
                match self.catalogue.configure(&c.drive, c.up, now) {
                    Ok(done) => admin_reply::Kind::Done(done),
                    Err(e) => admin_reply::Kind::Error(e),
                }
            }
            Ok(None) => admin_reply::Kind::Error("empty request".into()),
            Err(e) => admin_reply::Kind::Error(format!("undecodable request: {e}")),
        };
        AdminReply { kind: Some(kind) }
    }

    fn kill_sessions(&mut self, why: &str) {
        for pid in self.catalogue.pids() {
            tracing::warn!(pid, reason = why, "killing session");
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
    }

    fn session_spec(&self, drive: &str, mount: &Mount) -> SessionSpec {
        let c = &self.config;
        let drive_config = self.catalogue.get(drive).map(|d| &d.config);
        let device = drive_config
            .map(|d| d.device.display().to_string())
            .unwrap_or_default();
        let s = &c.session;
        SessionSpec {
            kind: match mount.kind {
                MountKind::Migration => SessionKind::Migration,
                MountKind::Recall => SessionKind::Recall,
            } as i32,
            host: self.host.clone(),
            drive: drive.to_string(),
            drive_device: device,
            library_path: c.library.path.display().to_string(),
            scheduler_url: c.scheduler.url.clone(),
            sessions_endpoint: c.sessions_endpoint(),
            mount_id: mount.id,
            vid: mount.vid.clone(),
            pool: mount.pool.clone(),
            tuning: Some(SessionTuning {
                block_size: s.block_size.0,
                block_count: s.block_count,
                disk_threads: s.disk_threads,
                bulk_files: s.bulk_files,
                bulk_bytes: s.bulk_bytes.0,
                flush_files: s.flush_files,
                flush_bytes: s.flush_bytes.0,
                heartbeat_interval_ms: s.heartbeat_interval.0.as_millis() as u64,
                report_batch_files: s.report_batch_files,
                scheduler_delay_ms: c
                    .scheduler
                    .test_call_delay
                    .map_or(0, |d| d.0.as_millis() as u64),
            }),
            drive_kind: match drive_config.map(|d| d.kind) {
                Some(crate::config::DriveKind::Null) => "null".into(),
                _ => "file".into(),
            },
            faults: drive_config
                .and_then(|d| d.faults.as_ref())
                .map(|f| DriveFaults {
                    write_error_at_block: f.write_error_at_block,
                    read_error_at_block: f.read_error_at_block,
                    corrupt_read_at_block: f.corrupt_read_at_block,
                    stall_at_block: f.stall_at_block,
                    stall_ms: f.stall.map_or(0, |s| s.0.as_millis() as u64),
                    early_warning_after: f.early_warning_after.map(|b| b.0),
                    end_of_medium_after: f.end_of_medium_after.map(|b| b.0),
                }),
        }
    }

    pub fn drive_state(&self, drive: &str) -> Option<DriveState> {
        self.catalogue.get(drive).map(|d| d.state)
    }
}

fn drain(stream: &UnixStream) {
    let mut buf = [0u8; 256];
    while matches!((&*stream).read(&mut buf), Ok(n) if n > 0) {}
}
