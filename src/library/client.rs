//! The library controller's client, for sessions, the daemon and `tplib`.
//! It holds the list of controller endpoints and gives each attempt its own
//! timeout and a fresh socket: a request that times out, or reaches a
//! standby, goes to the next endpoint with the same id (requests are
//! idempotent), round after round until the overall deadline. A controller
//! that restarts is simply found again; nothing needs reconnecting by hand.

use std::time::{Duration, Instant};

use prost::Message;

use super::{ChangerError, DriveRef, LibraryStatus, MediaChanger};
use crate::proto::tlc::{
    self, Dismount, LibraryStatus as WireStatus, Mount, Role, StatusRequest, TlcReply, TlcRequest,
    tlc_reply, tlc_request,
};

/// Pause after a round in which no endpoint had an active controller (a
/// takeover is under way).
const ROUND_PAUSE: Duration = Duration::from_millis(100);
/// What an endpoint nobody listens on is noted with.
const NOTHING_LISTENS: &str = "nothing listens there";
/// How an answer from another service starts (no use asking it again).
const WRONG_SERVICE: &str = "wrong service: ";

pub struct ControllerClient {
    endpoints: Vec<String>,
    request_timeout: Duration,
    deadline: Duration,
    drives: Vec<DriveRef>,
    ctx: zmq::Context,
    /// Give up after a round in which nothing listened on any endpoint (an
    /// operator's command), rather than wait for a controller to start.
    fail_fast: bool,
}

/// A reply and who gave it.
#[derive(Debug, Clone)]
pub struct Answer {
    pub endpoint: String,
    pub role: Role,
    pub result: tlc_reply::Result,
}

fn request_id() -> String {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    let host = nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_else(|| "host".into());
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!("{host}:{}:{n}:{nanos:08x}", std::process::id())
}

fn wire_drive(d: &DriveRef) -> tlc::DriveRef {
    tlc::DriveRef {
        name: d.name.clone(),
        element: d.element.map_or(0, u32::from),
        serial: d.serial.clone().unwrap_or_default(),
    }
}

impl ControllerClient {
    /// `request_timeout` bounds each attempt, `deadline` the whole request.
    pub fn new(
        endpoints: Vec<String>,
        request_timeout: Duration,
        deadline: Duration,
        drives: Vec<DriveRef>,
    ) -> Self {
        Self {
            endpoints,
            request_timeout,
            deadline,
            drives,
            ctx: zmq::Context::new(),
            fail_fast: false,
        }
    }

    /// The same, giving up after one round in which no controller listened
    /// anywhere (for operators' commands: a dead controller is said at once).
    pub fn failing_fast(mut self) -> Self {
        self.fail_fast = true;
        self
    }

    /// Sends one request to one endpoint and waits for its reply.
    pub fn ask(
        &self,
        endpoint: &str,
        request: &TlcRequest,
        timeout: Duration,
    ) -> Result<TlcReply, String> {
        if crate::messaging::client::nothing_listens(endpoint, timeout) {
            return Err(NOTHING_LISTENS.into());
        }
        let socket = self.ctx.socket(zmq::REQ).map_err(|e| e.to_string())?;
        let ms = timeout.as_millis().clamp(1, i32::MAX as u128) as i32;
        for set in [
            socket.set_linger(0),
            socket.set_rcvtimeo(ms),
            socket.set_sndtimeo(ms),
        ] {
            set.map_err(|e| e.to_string())?;
        }
        crate::messaging::curve::secure_client(&socket, endpoint).map_err(|e| e.to_string())?;
        socket.connect(endpoint).map_err(|e| e.to_string())?;
        let no_answer = || format!("no answer within {}", humantime::format_duration(timeout));
        match socket.send(request.encode_to_vec(), 0) {
            Ok(()) => {}
            Err(zmq::Error::EAGAIN) => return Err(no_answer()),
            Err(e) => return Err(e.to_string()),
        }
        let bytes = match socket.recv_bytes(0) {
            Ok(bytes) => bytes,
            Err(zmq::Error::EAGAIN) => return Err(no_answer()),
            Err(e) => return Err(e.to_string()),
        };
        let service = crate::messaging::client::service_of(&bytes);
        if !service.is_empty() && service != crate::messaging::client::SERVICE_CONTROLLER {
            return Err(format!(
                "{WRONG_SERVICE}{}",
                crate::messaging::client::wrong_service(
                    endpoint,
                    crate::messaging::client::SERVICE_CONTROLLER,
                    &service
                )
            ));
        }
        let reply =
            TlcReply::decode(bytes.as_slice()).map_err(|e| format!("undecodable reply ({e})"))?;
        if reply.id != request.id {
            return Err(format!(
                "answered request {:?}, not {:?}",
                reply.id, request.id
            ));
        }
        Ok(reply)
    }

    /// Sends a request to the active controller, wherever it is.
    pub fn call(&self, kind: tlc_request::Kind) -> Result<Answer, ChangerError> {
        let request = TlcRequest {
            id: request_id(),
            kind: Some(kind),
        };
        let started = Instant::now();
        let mut notes: Vec<(String, String)> = Vec::new();
        let note = |notes: &mut Vec<(String, String)>, endpoint: &str, why: String| {
            notes.retain(|(e, _)| e != endpoint);
            notes.push((endpoint.to_string(), why));
        };
        loop {
            for endpoint in &self.endpoints {
                let left = self.deadline.saturating_sub(started.elapsed());
                if left.is_zero() {
                    break;
                }
                let reply = match self.ask(endpoint, &request, self.request_timeout.min(left)) {
                    Ok(reply) => reply,
                    Err(why) if why.starts_with(WRONG_SERVICE) => {
                        return Err(ChangerError::Controller(
                            why.trim_start_matches(WRONG_SERVICE).to_string(),
                        ));
                    }
                    Err(why) => {
                        tracing::debug!(endpoint = %endpoint, request = %request.id, why = %why, "controller did not answer");
                        note(&mut notes, endpoint, why);
                        continue;
                    }
                };
                let role = Role::try_from(reply.role).unwrap_or(Role::Unspecified);
                match reply.result {
                    Some(tlc_reply::Result::Error(_)) if role == Role::Standby => {
                        note(&mut notes, endpoint, "standby".into());
                    }
                    Some(tlc_reply::Result::Error(e)) => {
                        return Err(
                            if e.subject == crate::messaging::refusal::SUBJECT_CARTRIDGE {
                                ChangerError::NotInLibrary(e.message)
                            } else {
                                ChangerError::Controller(e.message)
                            },
                        );
                    }
                    Some(result) => {
                        return Ok(Answer {
                            endpoint: endpoint.clone(),
                            role,
                            result,
                        });
                    }
                    None => note(&mut notes, endpoint, "an empty reply".into()),
                }
            }
            let nobody = notes.len() == self.endpoints.len()
                && notes.iter().all(|(_, why)| why == NOTHING_LISTENS);
            if self.fail_fast && nobody {
                return Err(ChangerError::Controller(format!(
                    "no library controller runs: nothing listens on {} (is tlcd running, or the daemon with its embedded controller?)",
                    self.endpoints.join(", ")
                )));
            }
            let left = self.deadline.saturating_sub(started.elapsed());
            if left.is_zero() {
                let seen: Vec<String> =
                    notes.iter().map(|(e, why)| format!("{e}: {why}")).collect();
                return Err(ChangerError::Controller(format!(
                    "no active library controller answered within {} ({})",
                    humantime::format_duration(self.deadline),
                    seen.join("; ")
                )));
            }
            std::thread::sleep(ROUND_PAUSE.min(left));
        }
    }

    fn drive(&self, name: &str) -> DriveRef {
        self.drives
            .iter()
            .find(|d| d.name == name)
            .cloned()
            .unwrap_or_else(|| DriveRef {
                name: name.to_string(),
                ..DriveRef::default()
            })
    }

    /// The library as the active controller sees it.
    pub fn status_report(&self) -> Result<(Answer, WireStatus), ChangerError> {
        let answer = self.call(tlc_request::Kind::Status(StatusRequest {}))?;
        match &answer.result {
            tlc_reply::Result::Status(status) => {
                let status = status.clone();
                Ok((answer, status))
            }
            _ => Err(ChangerError::Controller(
                "the controller answered a status request with something else".into(),
            )),
        }
    }

    /// The name this client knows a drive element by.
    pub fn drive_name(&self, d: &tlc::DriveStatus) -> String {
        self.drives
            .iter()
            .find(|r| {
                r.element.map(u32::from) == Some(d.address)
                    || (r.element.is_none()
                        && !d.serial.is_empty()
                        && (r.serial.as_deref() == Some(&d.serial) || r.name == d.serial))
            })
            .map(|r| r.name.clone())
            .or_else(|| Some(d.name.clone()).filter(|n| !n.is_empty()))
            .unwrap_or_else(|| format!("element{}", d.address))
    }
}

fn done(answer: Answer) -> Result<(), ChangerError> {
    match answer.result {
        tlc_reply::Result::Done(_) => Ok(()),
        _ => Err(ChangerError::Controller(
            "the controller answered a move with something else".into(),
        )),
    }
}

impl MediaChanger for ControllerClient {
    fn mount(&self, vid: &str, drive: &str) -> Result<(), ChangerError> {
        done(self.call(tlc_request::Kind::Mount(Mount {
            vid: vid.to_string(),
            drive: Some(wire_drive(&self.drive(drive))),
        }))?)
    }

    fn dismount(&self, vid: &str, drive: &str) -> Result<(), ChangerError> {
        done(self.call(tlc_request::Kind::Dismount(Dismount {
            vid: vid.to_string(),
            drive: Some(wire_drive(&self.drive(drive))),
        }))?)
    }

    fn status(&self) -> Result<LibraryStatus, ChangerError> {
        let (_, status) = self.status_report()?;
        let vid = |v: &str| Some(v.to_string()).filter(|v| !v.is_empty());
        Ok(LibraryStatus {
            slots: status
                .slots
                .iter()
                .map(|s| (s.address as u16, vid(&s.vid)))
                .collect(),
            drives: status
                .drives
                .iter()
                .map(|d| (self.drive_name(d), vid(&d.vid)))
                .collect(),
            changing: status
                .drives
                .iter()
                .filter(|d| d.changing)
                .map(|d| self.drive_name(d))
                .collect(),
        })
    }
}
