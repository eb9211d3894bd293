//! A ZMQ request/reply client for the operator and stager commands: one
//! request, one reply, a timeout, and a clear error when the daemon is not
//! running.

use std::time::Duration;

use prost::Message;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("tapeserverd is not running (nothing listens on {0})")]
    NotRunning(String),
    #[error("tapeserverd did not answer on {endpoint} within {seconds} s")]
    Timeout { endpoint: String, seconds: u64 },
    /// No connection could be made: the request was never delivered.
    #[error("cannot reach tapeserverd on {endpoint} within {seconds} s")]
    Unreachable { endpoint: String, seconds: u64 },
    #[error("cannot talk to tapeserverd on {endpoint}: {source}")]
    Zmq {
        endpoint: String,
        source: zmq::Error,
    },
    #[error("tapeserverd sent an undecodable reply: {0}")]
    Decode(#[from] prost::DecodeError),
    /// The endpoint is another service's.
    #[error("{0}")]
    WrongService(String),
    /// The daemon refused the request.
    #[error("{0}")]
    Refused(super::refusal::Refusal),
    #[error("tapeserverd answered request {got}, not {sent}")]
    WrongRequest { sent: u64, got: u64 },
    #[error("tapeserverd answered a {expected} request with {got}")]
    Unexpected {
        expected: &'static str,
        got: &'static str,
    },
    #[error("tapeserverd sent an empty reply")]
    Empty,
    #[error(transparent)]
    Security(#[from] super::curve::CurveError),
}

/// Sends a request that carries `request_id` to the service named
/// `service` and returns the reply once it is checked to come from that
/// service and to answer that id (`reply_id` reads it from the reply).
pub fn request_answered<Rep: Message + Default>(
    endpoint: &str,
    service: &str,
    timeout: Duration,
    req: &impl Message,
    request_id: u64,
    reply_id: impl FnOnce(&Rep) -> u64,
) -> Result<Rep, ClientError> {
    let bytes = request_bytes(endpoint, timeout, req)?;
    let answered = service_of(&bytes);
    if !answered.is_empty() && answered != service {
        return Err(ClientError::WrongService(wrong_service(
            endpoint, service, &answered,
        )));
    }
    let reply = Rep::decode(bytes.as_slice()).map_err(|e| {
        if answered.is_empty() {
            ClientError::WrongService(format!(
                "{endpoint} answered with something that is not a {service} reply ({e}): check the endpoint"
            ))
        } else {
            ClientError::Decode(e)
        }
    })?;
    match reply_id(&reply) {
        got if got == request_id => Ok(reply),
        got => Err(ClientError::WrongRequest {
            sent: request_id,
            got,
        }),
    }
}

impl ClientError {
    /// True when the request certainly never reached the daemon.
    pub fn undelivered(&self) -> bool {
        matches!(self, Self::NotRunning(_) | Self::Unreachable { .. })
    }
}

/// Request ids unique to this process (the pid in the high half).
pub fn next_request_id() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    (u64::from(std::process::id()) << 32) | NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// The `service` every reply names (field 99 of each reply message).
pub const SERVICE_STAGER: &str = "stager";
pub const SERVICE_ADMIN: &str = "admin";
pub const SERVICE_CONTROLLER: &str = "library controller";

/// Any reply read only for its `service` (its other fields skipped).
#[derive(Clone, PartialEq, prost::Message)]
struct ServiceTag {
    #[prost(string, tag = "99")]
    service: String,
}

/// Which service a reply says it comes from (empty: it does not say).
pub fn service_of(reply: &[u8]) -> String {
    ServiceTag::decode(reply)
        .map(|t| t.service)
        .unwrap_or_default()
}

/// What each service is, for the sentence that tells an operator they
/// reached the wrong one.
fn what_serves(service: &str) -> &'static str {
    match service {
        SERVICE_STAGER => "the daemon's stager socket (stager)",
        SERVICE_ADMIN => "the daemon's admin socket (tpstat, tpconfig, tplabel, readtp)",
        SERVICE_CONTROLLER => "a library controller (tplib)",
        _ => "something else",
    }
}

/// The sentence for a reply from another service than the one asked.
pub fn wrong_service(endpoint: &str, expected: &str, got: &str) -> String {
    format!(
        "{endpoint} is {}, not {}: check the endpoint",
        what_serves(got),
        what_serves(expected)
    )
}

/// How long a TCP connection may take to be accepted before the endpoint
/// counts as unreachable (a refused one fails at once).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// Whether nothing accepts connections at `endpoint`: a socket file nobody
/// listens on, a TCP port that refuses (or does not answer within
/// `CONNECT_TIMEOUT`). Known before any request is sent, so a client moves
/// on to its next endpoint at once instead of waiting out its timeout;
/// the timeout is only for an endpoint that accepted the request.
pub fn nothing_listens(endpoint: &str, timeout: Duration) -> bool {
    if let Some(path) = endpoint.strip_prefix("ipc://") {
        return std::os::unix::net::UnixStream::connect(path).is_err();
    }
    let Some(address) = endpoint.strip_prefix("tcp://") else {
        return false;
    };
    let Ok(addresses) = std::net::ToSocketAddrs::to_socket_addrs(address) else {
        return true;
    };
    let limit = timeout.min(CONNECT_TIMEOUT).max(Duration::from_millis(1));
    !addresses
        .into_iter()
        .any(|a| std::net::TcpStream::connect_timeout(&a, limit).is_ok())
}

/// Sends one request and waits for its reply's bytes.
fn request_bytes(
    endpoint: &str,
    timeout: Duration,
    req: &impl Message,
) -> Result<Vec<u8>, ClientError> {
    // An endpoint nothing listens on fails at once, not after the timeout.
    if nothing_listens(endpoint, timeout) {
        return Err(ClientError::NotRunning(endpoint.to_string()));
    }
    let zmq_err = |source| ClientError::Zmq {
        endpoint: endpoint.to_string(),
        source,
    };
    let ctx = zmq::Context::new();
    let socket = ctx.socket(zmq::REQ).map_err(zmq_err)?;
    socket.set_linger(0).map_err(zmq_err)?;
    let ms = timeout.as_millis().min(i32::MAX as u128) as i32;
    socket.set_rcvtimeo(ms).map_err(zmq_err)?;
    socket.set_sndtimeo(ms).map_err(zmq_err)?;
    // Queue the request only on a made connection: a send that times out
    // then was never delivered, and another endpoint may be tried safely.
    socket.set_immediate(true).map_err(zmq_err)?;
    // The daemon serves TCP with CURVE only: without keys the handshake
    // would never finish, so say so instead of timing out.
    if !super::curve::is_ipc(endpoint) && !super::curve::has_client_keys() {
        return Err(super::curve::CurveError::NoClientKey(endpoint.to_string()).into());
    }
    super::curve::secure_client(&socket, endpoint)?;
    socket.connect(endpoint).map_err(zmq_err)?;
    let timed_out = || ClientError::Timeout {
        endpoint: endpoint.to_string(),
        seconds: timeout.as_secs(),
    };
    match socket.send(req.encode_to_vec(), 0) {
        Ok(()) => {}
        Err(zmq::Error::EAGAIN) => {
            return Err(ClientError::Unreachable {
                endpoint: endpoint.to_string(),
                seconds: timeout.as_secs(),
            });
        }
        Err(e) => return Err(zmq_err(e)),
    }
    match socket.recv_bytes(0) {
        Ok(bytes) => Ok(bytes),
        Err(zmq::Error::EAGAIN) => Err(timed_out()),
        Err(e) => Err(zmq_err(e)),
    }
}
