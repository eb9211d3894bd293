//! Operator requests on the admin socket (tpstat, tpconfig, tplabel,
//! readtp), handled by the event loop. Label and readtp requests are
//! answered when their session ends.

use std::path::PathBuf;
use std::time::Instant;

use prost::Message;

use super::catalogue::ReplyTo;
use super::event_loop::EventLoop;
use super::messages::ToScheduler;
use super::session_spec;
use crate::proto::admin::{
    AdminReply, AdminRequest, DriveList, LabelTape, ReadTape, admin_reply, admin_request,
};
use crate::proto::session::SessionKind;

impl EventLoop {
    pub(super) fn on_admin_requests(&mut self) {
        while let Ok(frames) = self.io.admin.recv_multipart(zmq::DONTWAIT) {
            let Some((body, envelope)) = frames.split_last() else {
                continue;
            };
            let envelope = envelope.to_vec();
            let kind = match AdminRequest::decode(body.as_slice()).map(|r| r.kind) {
                Ok(Some(kind)) => kind,
                Ok(None) => {
                    self.reply_error(envelope, "empty request".into());
                    continue;
                }
                Err(e) => {
                    self.reply_error(envelope, format!("undecodable request: {e}"));
                    continue;
                }
            };
            let now = Instant::now();
            let answer = match kind {
                admin_request::Kind::ListDrives(_) => admin_reply::Kind::Drives(DriveList {
                    drives: self.catalogue.status(now),
                }),
                admin_request::Kind::ConfigureDrive(c) => {
                    let holds = if c.up {
                        self.loaded_drives()
                            .into_iter()
                            .find(|(d, _)| *d == c.drive)
                            .map(|(_, v)| v)
                    } else {
                        None
                    };
                    match self
                        .catalogue
                        .configure(&c.drive, c.up, holds.as_deref(), now)
                    {
                        Ok((done, clean)) => {
                            if let Some(vid) = clean {
                                self.start_cleaner(&c.drive, &vid, "tpconfig up on a loaded drive");
                            }
                            admin_reply::Kind::Done(done)
                        }
                        Err(e) => admin_reply::Kind::Error(e),
                    }
                }
                // These answer when their session ends.
                admin_request::Kind::LabelTape(l) => match self.start_label(l, envelope.clone()) {
                    Ok(()) => continue,
                    Err(e) => admin_reply::Kind::Error(e),
                },
                admin_request::Kind::ReadTape(r) => match self.start_readtp(r, envelope.clone()) {
                    Ok(()) => continue,
                    Err(e) => admin_reply::Kind::Error(e),
                },
                // The scheduler thread answers these.
                admin_request::Kind::ListMounts(_) => {
                    let _ = self.io.to_scheduler.send(ToScheduler::ListMounts {
                        reply_to: envelope.clone(),
                    });
                    continue;
                }
                admin_request::Kind::CloseMount(c) => match self.running_mount(c.mount_id) {
                    Some(drive) => admin_reply::Kind::Error(format!(
                        "mount {} belongs to the session running on drive {drive}: it is not stale",
                        c.mount_id
                    )),
                    None => {
                        let _ = self.io.to_scheduler.send(ToScheduler::CloseMount {
                            mount_id: c.mount_id,
                            reply_to: envelope.clone(),
                        });
                        continue;
                    }
                },
            };
            self.reply(envelope, AdminReply { kind: Some(answer) });
        }
    }

    fn start_label(&mut self, l: LabelTape, reply_to: ReplyTo) -> Result<(), String> {
        crate::tape::aul::check_vid(&l.vid).map_err(|_| {
            format!(
                "{:?} is not a valid VID (1-6 upper-case letters or digits)",
                l.vid
            )
        })?;
        let drive = self
            .catalogue
            .get(&l.drive)
            .ok_or_else(|| format!("no drive named {}", l.drive))?;
        let state = drive.state;
        if !self.catalogue.start_session(
            &l.drive,
            SessionKind::Label,
            &l.vid,
            0,
            Some(reply_to),
            Instant::now(),
        ) {
            return Err(format!(
                "drive {} is {}, not up and idle",
                l.drive,
                state.as_str()
            ));
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
        self.fork(&l.drive, spec);
        Ok(())
    }

    fn start_readtp(&mut self, r: ReadTape, reply_to: ReplyTo) -> Result<(), String> {
        if r.first_fseq == 0 || r.last_fseq < r.first_fseq {
            return Err(format!("bad fSeq range {}-{}", r.first_fseq, r.last_fseq));
        }
        let dir = std::fs::canonicalize(&r.dest_dir).map_err(|e| format!("{}: {e}", r.dest_dir))?;
        if !dir.is_dir() {
            return Err(format!("{}: not a directory", r.dest_dir));
        }
        let roots: Vec<PathBuf> = self
            .config
            .paths
            .recall_roots
            .iter()
            .map(|p| std::fs::canonicalize(p).unwrap_or_else(|_| p.clone()))
            .collect();
        if !roots.iter().any(|root| dir.starts_with(root)) {
            return Err(format!(
                "{}: not under an allowed recall directory",
                r.dest_dir
            ));
        }
        let drive = self
            .catalogue
            .free_drives()
            .into_iter()
            .next()
            .ok_or("no drive is free")?;
        if !self.catalogue.start_session(
            &drive,
            SessionKind::Readtp,
            &r.vid,
            0,
            Some(reply_to),
            Instant::now(),
        ) {
            return Err("no drive is free".into());
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

    fn reply_error(&mut self, to: ReplyTo, error: String) {
        self.reply(
            to,
            AdminReply {
                kind: Some(admin_reply::Kind::Error(error)),
            },
        );
    }

    pub(super) fn reply(&mut self, to: ReplyTo, reply: AdminReply) {
        let mut out = to;
        out.push(reply.encode_to_vec());
        if let Err(e) = self.io.admin.send_multipart(out, zmq::DONTWAIT) {
            tracing::warn!(error = %e, "cannot send an admin reply");
        }
    }
}
