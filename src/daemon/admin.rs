//! Operator requests on the admin socket (tpstat, tpconfig, tplabel,
//! readtp), handled by the event loop. Label and readtp requests are
//! answered when their session ends.

use std::path::PathBuf;
use std::time::Instant;

use prost::Message;

use super::catalogue::{DriveState, LibraryWait, ReplyTo, Waiting};
use super::event_loop::EventLoop;
use super::session_spec;
use crate::messaging::refusal::{ErrorCode, Refusal};
use crate::proto::admin::{
    AdminReply, AdminRequest, DriveList, LabelTape, ReadTape, admin_reply, admin_request,
};
use crate::proto::session::SessionKind;

/// What a request got: an answer now, or one later (when a session ends,
/// or from the scheduler thread).
enum Answer {
    Now(admin_reply::Kind),
    Later,
}

impl From<Result<admin_reply::Kind, Refusal>> for Answer {
    fn from(r: Result<admin_reply::Kind, Refusal>) -> Self {
        Answer::Now(r.unwrap_or_else(|e| admin_reply::Kind::Error(e.into())))
    }
}

impl EventLoop {
    pub(super) fn on_admin_requests(&mut self) {
        for _ in 0..super::event_loop::BATCH {
            let Ok(frames) = self.io.admin.recv_multipart(zmq::DONTWAIT) else {
                break;
            };
            let Some((body, envelope)) = frames.split_last() else {
                continue;
            };
            let decoded = AdminRequest::decode(body.as_slice());
            let reply_to = ReplyTo {
                envelope: envelope.to_vec(),
                request_id: decoded.as_ref().map_or(0, |r| r.request_id),
            };
            let answer = match decoded.map(|r| r.kind) {
                Ok(Some(kind)) => self.on_admin_request(kind, &reply_to),
                Ok(None) => Err(Refusal::invalid_request("empty request")).into(),
                Err(e) => Err(Refusal::invalid_request(format!(
                    "undecodable request: {e}"
                )))
                .into(),
            };
            if let Answer::Now(kind) = answer {
                self.reply(reply_to, kind);
            }
        }
    }

    fn on_admin_request(&mut self, kind: admin_request::Kind, reply_to: &ReplyTo) -> Answer {
        let now = Instant::now();
        match kind {
            admin_request::Kind::ListDrives(_) => {
                Answer::Now(admin_reply::Kind::Drives(DriveList {
                    drives: self.catalogue.status(now),
                }))
            }
            admin_request::Kind::ConfigureDrive(c) => self.configure_drive(c, reply_to, now),
            // These answer when their session ends.
            admin_request::Kind::LabelTape(l) => match self.start_label(l, reply_to.clone()) {
                Ok(()) => Answer::Later,
                Err(e) => Err(e).into(),
            },
            admin_request::Kind::ReadTape(r) => match self.start_readtp(r, reply_to.clone()) {
                Ok(()) => Answer::Later,
                Err(e) => Err(e).into(),
            },
            // The scheduler thread answers these.
            admin_request::Kind::ListMounts(_) => {
                self.io.scheduler.list_mounts(reply_to.clone());
                Answer::Later
            }
            admin_request::Kind::CloseMount(c) => match self.running_mount(c.mount_id) {
                Some(drive) => Err(Refusal::failed_precondition(format!(
                    "mount {} belongs to the session running on drive {drive}: it is not stale",
                    c.mount_id
                )))
                .into(),
                None => {
                    self.io.scheduler.close_mount(c.mount_id, reply_to.clone());
                    Answer::Later
                }
            },
        }
    }

    /// tpconfig up|down. Up on a down drive waits for the library to say
    /// whether the drive holds a cartridge (a cleaner first if it does; a
    /// refusal if it cannot say), answered when the reading comes.
    fn configure_drive(
        &mut self,
        c: crate::proto::admin::ConfigureDrive,
        reply_to: &ReplyTo,
        now: Instant,
    ) -> Answer {
        let drive = self.catalogue.get(&c.drive);
        let down = drive.is_some_and(|d| d.state == DriveState::Down);
        if c.up && down && !self.catalogue.is_shutting_down() {
            let wait = drive.and_then(|d| d.library_wait.clone());
            if let Some(LibraryWait {
                why: Waiting::Up(_),
                ..
            }) = wait
            {
                return Err(Refusal::failed_precondition(format!(
                    "a tpconfig up of drive {} already waits for the library",
                    c.drive
                )))
                .into();
            }
            let held = wait.is_some_and(|w| w.held);
            let reading = self.io.library.refresh();
            self.catalogue
                .await_library(&c.drive, Waiting::Up(reply_to.clone()), reading, held);
            return Answer::Later;
        }
        let done = self.catalogue.configure(&c.drive, c.up, None, now);
        if done.is_ok() {
            super::drives_down::set(&self.config.daemon.state_dir, &c.drive, !c.up);
        }
        done.map(|(done, _)| admin_reply::Kind::Done(done)).into()
    }

    fn start_label(&mut self, l: LabelTape, reply_to: ReplyTo) -> Result<(), Refusal> {
        crate::tape::aul::check_vid(&l.vid).map_err(|_| {
            Refusal::invalid_argument(format!(
                "{:?} is not a valid VID (1-6 upper-case letters or digits)",
                l.vid
            ))
        })?;
        let drive = self.catalogue.get(&l.drive).ok_or_else(|| {
            Refusal::not_found(format!(
                "no drive named {} (the drives: {})",
                l.drive,
                self.catalogue.names().join(", ")
            ))
        })?;
        let state = drive.state;
        if state == DriveState::Up && drive.library_wait.is_some() {
            // At start, or after a session: a moment, not a refusal for good.
            return Err(Refusal::unavailable(format!(
                "drive {} is waiting for the library to say what it holds: ask again in a moment",
                l.drive
            )));
        }
        if !self.catalogue.start_session(
            &l.drive,
            SessionKind::Label,
            &l.vid,
            0,
            Some(reply_to),
            Instant::now(),
        ) {
            return Err(Refusal::failed_precondition(format!(
                "drive {} is {}, not up and idle",
                l.drive,
                state.as_str()
            )));
        }
        let mut spec = session_spec(
            &self.config,
            &self.host,
            &l.drive,
            SessionKind::Label,
            &l.vid,
            0,
            "",
        );
        spec.force = l.force;
        spec.pool = l.pool;
        spec.capacity = l.capacity;
        self.fork(&l.drive, spec);
        Ok(())
    }

    fn start_readtp(&mut self, r: ReadTape, reply_to: ReplyTo) -> Result<(), Refusal> {
        if r.first_fseq == 0 || r.last_fseq < r.first_fseq {
            return Err(Refusal::invalid_argument(format!(
                "bad fSeq range {}-{}",
                r.first_fseq, r.last_fseq
            )));
        }
        let dir = std::fs::canonicalize(&r.dest_dir)
            .map_err(|e| Refusal::not_found(format!("{}: {e}", r.dest_dir)))?;
        if !dir.is_dir() {
            return Err(Refusal::invalid_argument(format!(
                "{}: not a directory",
                r.dest_dir
            )));
        }
        let roots: Vec<PathBuf> = self
            .config
            .paths
            .recall_roots
            .iter()
            .map(|p| std::fs::canonicalize(p).unwrap_or_else(|_| p.clone()))
            .collect();
        if !roots.iter().any(|root| dir.starts_with(root)) {
            return Err(Refusal::new(
                ErrorCode::PermissionDenied,
                format!("{}: not under an allowed recall directory", r.dest_dir),
            ));
        }
        let busy = || Refusal::unavailable("no drive is free");
        let drive = self
            .catalogue
            .free_drives()
            .into_iter()
            .next()
            .ok_or_else(busy)?;
        if !self.catalogue.start_session(
            &drive,
            SessionKind::Readtp,
            &r.vid,
            0,
            Some(reply_to),
            Instant::now(),
        ) {
            return Err(busy());
        }
        let mut spec = session_spec(
            &self.config,
            &self.host,
            &drive,
            SessionKind::Readtp,
            &r.vid,
            0,
            "",
        );
        spec.first_fseq = r.first_fseq;
        spec.last_fseq = r.last_fseq;
        spec.dest_dir = dir.display().to_string();
        self.fork(&drive, spec);
        Ok(())
    }

    /// The drive whose session (or cleaner) holds this mount, if any.
    fn running_mount(&self, mount_id: u64) -> Option<String> {
        self.catalogue.names().into_iter().find(|name| {
            self.catalogue
                .get(name)
                .and_then(|d| d.session.as_ref())
                .is_some_and(|s| s.mount_id == mount_id)
        })
    }

    pub(super) fn reply(&mut self, to: ReplyTo, kind: admin_reply::Kind) {
        let reply = AdminReply {
            request_id: to.request_id,
            kind: Some(kind),
            service: crate::messaging::client::SERVICE_ADMIN.into(),
        };
        let mut out = to.envelope;
        out.push(reply.encode_to_vec());
        if let Err(e) = self.io.admin.send_multipart(out, zmq::DONTWAIT) {
            tracing::warn!(error = %e, "cannot send an admin reply");
        }
    }
}
