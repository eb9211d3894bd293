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
        // One look at the lease per request: the refusal and the role it
        // is sent under must agree, or a client takes a standby's refusal
        // for the active controller's answer while the lease changes hands.
        let role = self.role();
        let request = match TlcRequest::decode(payload.as_slice()) {
            Ok(r) => r,
            Err(e) => {
                let why = format!("malformed request: not a TlcRequest protobuf message ({e})");
                return self.refuse(&peer, "", role, Refusal::invalid_request(why));
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
                    role,
                    tlc_reply::Result::Done(Done {
                        message: "pong".into(),
                    }),
                );
            }
            Err(refusal) => return self.refuse(&peer, &id, role, refusal),
        };
        if role == Role::Standby {
            let refusal = Refusal::unavailable(format!(
                "{} is a standby controller: another controller holds the library's lease",
                self.endpoint
            ));
            return self.refuse(&peer, &id, role, refusal);
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

    fn answer(&self, peer: &Peer, id: &str, role: Role, result: tlc_reply::Result) {
        let reply = TlcReply {
            id: id.to_string(),
            role: role as i32,
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

    fn refuse(&self, peer: &Peer, id: &str, role: Role, refusal: Refusal) {
        tracing::debug!(request = id, refusal = %refusal, "request refused");
        self.answer(peer, id, role, tlc_reply::Result::Error(refusal.into()));
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A controller taking (or losing) the lease while it answers: a
    /// standby refusal must say "standby" in its role too, or the client
    /// takes it for the active controller's answer and gives up instead
    /// of asking again.
    #[test]
    fn a_standby_refusal_carries_the_standby_role_while_the_lease_changes_hands() {
        let context = zmq::Context::new();
        let router = context.socket(zmq::ROUTER).unwrap();
        router.bind("inproc://clients").unwrap();
        let replies = context.socket(zmq::PULL).unwrap();
        replies.bind("inproc://replies").unwrap();
        let stop = context.socket(zmq::PUSH).unwrap();
        stop.connect("inproc://replies").unwrap();
        let (events, requests) = crossbeam_channel::unbounded();
        let active = Arc::new(AtomicBool::new(false));
        let server = Server {
            router,
            replies,
            events,
            active: active.clone(),
            endpoint: "inproc://clients".into(),
        };
        let server = std::thread::spawn(move || server.run());
        let flipping = Arc::new(AtomicBool::new(true));
        let flipper = {
            let (active, flipping) = (active.clone(), flipping.clone());
            std::thread::spawn(move || {
                while flipping.load(Ordering::SeqCst) {
                    active.fetch_xor(true, Ordering::SeqCst);
                }
            })
        };
        let client = context.socket(zmq::DEALER).unwrap();
        client.connect("inproc://clients").unwrap();
        client.set_rcvtimeo(5_000).unwrap();
        let status = |id: usize| TlcRequest {
            id: id.to_string(),
            kind: Some(tlc_request::Kind::Status(Default::default())),
        };
        let mut refused = 0;
        for id in 0..5_000 {
            client
                .send_multipart([Vec::new(), status(id).encode_to_vec()], 0)
                .unwrap();
            // An active controller hands the request to the state thread
            // (not running here): no answer comes, so ask a ping after it
            // and read until its pong.
            let ping = TlcRequest {
                id: "ping".into(),
                kind: Some(tlc_request::Kind::Ping(Default::default())),
            };
            client
                .send_multipart([Vec::new(), ping.encode_to_vec()], 0)
                .unwrap();
            loop {
                let frames = client.recv_multipart(0).unwrap();
                let reply = TlcReply::decode(frames[frames.len() - 1].as_slice()).unwrap();
                if reply.id == "ping" {
                    break;
                }
                if let Some(tlc_reply::Result::Error(e)) = &reply.result {
                    refused += 1;
                    assert_eq!(
                        Role::try_from(reply.role).unwrap(),
                        Role::Standby,
                        "request {} refused with {:?} under the wrong role",
                        reply.id,
                        e.message
                    );
                }
            }
        }
        flipping.store(false, Ordering::SeqCst);
        flipper.join().unwrap();
        stop.send(Vec::<u8>::new(), 0).unwrap();
        server.join().unwrap();
        assert!(refused > 0, "no request was refused as standby");
        assert!(
            requests.try_iter().count() > 0,
            "no request reached the state thread"
        );
    }
}
