//! Requests as they reach the state thread, and replies as they leave it:
//! a retry finds its earlier answer or joins the work under way (requests
//! are idempotent), path control is answered at once, the rest is queued
//! for `requests` to advance.

use std::time::Instant;

use prost::Message;

use super::events::{Op, Peer};
use super::request::Request;
use super::state::{PathState, StateThread};
use crate::library::ChangerError;
use crate::proto::tlc::{Role, TlcReply, tlc_reply};

/// Replies kept for retries that arrive after the work is done.
const RECENT_REPLIES: usize = 4096;

impl StateThread {
    pub(super) fn request(&mut self, peer: Peer, id: String, op: Op) {
        if let Some((_, reply)) = self.recent.iter().find(|(rid, _)| *rid == id) {
            let reply = reply.clone();
            self.send(&peer, &reply);
            return;
        }
        if let Some(r) = self
            .requests
            .iter_mut()
            .find(|r| r.id == id || r.same_work(&op))
        {
            r.waiters.push(peer);
            return;
        }
        if let Op::Mount { drive, .. } | Op::Dismount { drive, .. } = &op {
            self.names.retain(|d| d.name != drive.name);
            self.names.push(drive.clone());
        }
        match op {
            Op::Path { device, enable } => {
                let result = self.path_control(&device, enable);
                let reply = self.reply(
                    &id,
                    result.map(|message| {
                        tlc_reply::Result::Done(crate::proto::tlc::Done { message })
                    }),
                );
                self.send(&peer, &reply);
            }
            op => {
                if op == Op::Refresh {
                    self.mark_stale();
                }
                let deadline = Instant::now() + self.settings.move_timeout;
                let after_read = self.reads_dispatched;
                self.requests
                    .push(Request::new(id, op, peer, deadline, after_read));
            }
        }
    }

    fn path_control(&mut self, device: &str, enable: bool) -> Result<String, ChangerError> {
        let Some(i) = self.paths.iter().position(|p| p.device == device) else {
            let known: Vec<_> = self.paths.iter().map(|p| p.device.as_str()).collect();
            return Err(ChangerError::UnknownDrive(format!(
                "changer path {device} (the paths are {})",
                known.join(", ")
            )));
        };
        let p = &mut self.paths[i];
        if enable {
            if p.state == PathState::Disabled {
                p.state = PathState::Unknown;
                self.next_probe = Instant::now();
            }
            tracing::info!(path = %device, "changer path enabled by an operator");
            Ok(format!("changer path {device} enabled"))
        } else {
            p.state = PathState::Disabled;
            tracing::warn!(path = %device, "changer path disabled by an operator");
            Ok(format!("changer path {device} disabled"))
        }
    }

    pub(super) fn reply(
        &self,
        id: &str,
        result: Result<tlc_reply::Result, ChangerError>,
    ) -> TlcReply {
        TlcReply {
            id: id.to_string(),
            role: Role::Active as i32,
            endpoint: self.settings.endpoint.clone(),
            result: Some(match result {
                Ok(r) => r,
                Err(e) => tlc_reply::Result::Error(super::refusal(&e).into()),
            }),
            service: crate::messaging::client::SERVICE_CONTROLLER.into(),
        }
    }

    pub(super) fn finish(&mut self, index: usize, result: Result<tlc_reply::Result, ChangerError>) {
        let request = self.requests.remove(index);
        match &result {
            Ok(_) => {
                tracing::info!(request = %request.id, op = %request.op, "request done: {}", request.op)
            }
            Err(e) => {
                tracing::warn!(request = %request.id, op = %request.op, error = %e, "request failed: {}: {e}", request.op)
            }
        }
        let reply = self.reply(&request.id, result);
        for peer in &request.waiters {
            self.send(peer, &reply);
        }
        self.recent.push_back((request.id, reply));
        if self.recent.len() > RECENT_REPLIES {
            self.recent.pop_front();
        }
    }

    fn send(&self, peer: &Peer, reply: &TlcReply) {
        let mut frames = peer.clone();
        frames.push(reply.encode_to_vec());
        if let Err(e) = self.replies.send_multipart(frames, zmq::DONTWAIT) {
            tracing::error!(error = %e, "cannot hand a reply to the server thread");
        }
    }
}
