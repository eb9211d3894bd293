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

/// Sends a request that carries `request_id` and returns the reply once it
/// is checked to answer that id (`reply_id` reads it from the reply).
pub fn request_answered<Rep: Message + Default>(
    endpoint: &str,
    timeout: Duration,
    req: &impl Message,
    request_id: u64,
    reply_id: impl FnOnce(&Rep) -> u64,
) -> Result<Rep, ClientError> {
    let reply: Rep = request(endpoint, timeout, req)?;
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

/// Sends one request and waits for its reply.
pub fn request<Rep: Message + Default>(
    endpoint: &str,
    timeout: Duration,
    req: &impl Message,
) -> Result<Rep, ClientError> {
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
        Ok(bytes) => Ok(Rep::decode(bytes.as_slice())?),
        Err(zmq::Error::EAGAIN) => Err(timed_out()),
        Err(e) => Err(zmq_err(e)),
    }
}
