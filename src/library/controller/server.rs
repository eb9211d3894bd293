//! The controller's ZMQ server thread: one ROUTER socket bound to the
//! listen endpoints, and the PULL end of the socket the state thread
//! answers through. It decodes requests, answers what needs no state
//! (pings, malformed requests, everything while standby) and hands the
//! rest to the state thread.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crossbeam_channel::Sender;
use prost::Message;

use super::events::{Event, Op, Peer};
use crate::library::DriveRef;
use crate::messaging::refusal::Refusal;
use crate::proto::tlc::{Done, Role, TlcReply, TlcRequest, tlc_reply, tlc_request};

pub struct Server {
    pub router: zmq::Socket,
    pub replies: zmq::Socket,
    pub events: Sender<Event>,
    pub active: Arc<AtomicBool>,
    pub endpoint: String,
}

impl Server {
    pub fn run(self) {
        loop {
            let (from_clients, from_state) = {
                let mut items = [
                    self.router.as_poll_item(zmq::POLLIN),
                    self.replies.as_poll_item(zmq::POLLIN),
                ];
                if let Err(e) = zmq::poll(&mut items, -1) {
                    tracing::error!(error = %e, "controller server: poll failed");
                    return;
                }
                (items[0].is_readable(), items[1].is_readable())
            };
            if from_state {
                match self.replies.recv_multipart(0) {
                    // One empty frame: the controller is stopping.
                    Ok(frames) if frames.len() == 1 && frames[0].is_empty() => return,
                    Ok(frames) => {
                        if let Err(e) = self.router.send_multipart(frames, 0) {
                            tracing::warn!(error = %e, "cannot send a reply to a client");
                        }
                    }
                    Err(e) => tracing::error!(error = %e, "controller server: reply socket"),
                }
            }
            if from_clients {
                match self.router.recv_multipart(0) {
                    Ok(frames) => self.request(frames),
                    Err(e) => tracing::error!(error = %e, "controller server: client socket"),
                }
            }
        }
    }

    fn request(&self, mut frames: Vec<Vec<u8>>) {
        // [identity, (empty delimiter from REQ,) payload]
        let Some(payload) = frames.pop() else {
            return;
        };
        let peer: Peer = frames;
        if peer.is_empty() {
            return;
        }
        let request = match TlcRequest::decode(payload.as_slice()) {
            Ok(r) => r,
            Err(e) => {
                let why = format!("malformed request: not a TlcRequest protobuf message ({e})");
                return self.refuse(&peer, "", Refusal::invalid_request(why));
            }
        };
        let id = request.id.clone();
        let op = match parse(request) {
            Ok(Some(op)) => op,
            // A ping is answered by whoever is asked.
            Ok(None) => {
                return self.answer(
                    &peer,
                    &id,
                    tlc_reply::Result::Done(Done {
                        message: "pong".into(),
                    }),
                );
            }
            Err(refusal) => return self.refuse(&peer, &id, refusal),
        };
        if !self.active.load(Ordering::SeqCst) {
            let refusal = Refusal::unavailable(format!(
                "{} is a standby controller: another controller holds the library's lease",
                self.endpoint
            ));
            return self.refuse(&peer, &id, refusal);
        }
        if self.events.send(Event::Request { peer, id, op }).is_err() {
            tracing::error!("the controller's state thread is gone");
        }
    }

    fn role(&self) -> Role {
        if self.active.load(Ordering::SeqCst) {
            Role::Active
        } else {
            Role::Standby
        }
    }

    fn answer(&self, peer: &Peer, id: &str, result: tlc_reply::Result) {
        let reply = TlcReply {
            id: id.to_string(),
            role: self.role() as i32,
            endpoint: self.endpoint.clone(),
            result: Some(result),
            service: crate::messaging::client::SERVICE_CONTROLLER.into(),
        };
        let mut frames = peer.clone();
        frames.push(reply.encode_to_vec());
        if let Err(e) = self.router.send_multipart(frames, 0) {
            tracing::warn!(error = %e, "cannot send a reply to a client");
        }
    }

    fn refuse(&self, peer: &Peer, id: &str, refusal: Refusal) {
        tracing::debug!(request = id, refusal = %refusal, "request refused");
        self.answer(peer, id, tlc_reply::Result::Error(refusal.into()));
    }
}

fn drive(d: Option<crate::proto::tlc::DriveRef>) -> Result<DriveRef, Refusal> {
    let d = d.ok_or_else(|| Refusal::invalid_argument("the request names no drive"))?;
    if d.name.is_empty() && d.element == 0 && d.serial.is_empty() {
        return Err(Refusal::invalid_argument("the request names no drive"));
    }
    let element = match d.element {
        0 => None,
        e => Some(u16::try_from(e).map_err(|_| {
            Refusal::invalid_argument(format!("element address {e} is larger than 65535"))
        })?),
    };
    Ok(DriveRef {
        name: d.name,
        element,
        serial: Some(d.serial).filter(|s| !s.is_empty()),
    })
}

fn vid(vid: String) -> Result<String, Refusal> {
    let valid = !vid.is_empty() && vid.len() <= 32 && vid.bytes().all(|b| b.is_ascii_graphic());
    if valid {
        Ok(vid)
    } else {
        Err(Refusal::invalid_argument(format!(
            "{vid:?} is not a VID (1 to 32 printable ASCII characters)"
        )))
    }
}

fn address(value: u32) -> Result<u16, Refusal> {
    u16::try_from(value).map_err(|_| {
        Refusal::invalid_argument(format!("element address {value} is larger than 65535"))
    })
}

/// The operation a request asks for; None for a ping.
fn parse(request: TlcRequest) -> Result<Option<Op>, Refusal> {
    if request.id.is_empty() {
        return Err(Refusal::invalid_request("the request has no id"));
    }
    let kind = request
        .kind
        .ok_or_else(|| Refusal::invalid_request("the request names no operation"))?;
    Ok(Some(match kind {
        tlc_request::Kind::Ping(_) => return Ok(None),
        tlc_request::Kind::Mount(m) => Op::Mount {
            vid: vid(m.vid)?,
            drive: drive(m.drive)?,
        },
        tlc_request::Kind::Dismount(m) => Op::Dismount {
            vid: vid(m.vid)?,
            drive: drive(m.drive)?,
        },
        tlc_request::Kind::Status(_) => Op::Status,
        tlc_request::Kind::Refresh(_) => Op::Refresh,
        tlc_request::Kind::Path(p) if p.device.is_empty() => {
            return Err(Refusal::invalid_argument(
                "the request names no changer path",
            ));
        }
        tlc_request::Kind::Path(p) => Op::Path {
            device: p.device,
            enable: p.enable,
        },
        tlc_request::Kind::Move(m) => Op::Move {
            source: address(m.source)?,
            destination: address(m.destination)?,
        },
    }))
}
