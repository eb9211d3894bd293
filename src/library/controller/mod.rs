//! The library controller: the one process that talks to a library's
//! changer, for every tape server that shares it. Embedded in
//! `tapeserverd` for one host, standalone as `tlcd` for a shared library.
//!
//! Threads: a server thread (ZMQ, `server`), one state thread that owns
//! everything the controller knows (`state`, `requests`, `status`), one
//! worker per changer path (SCSI calls block, `worker`), and a lease
//! thread that waits for the lease. Several controllers may serve one
//! library; the one holding the lease (an exclusive lock on a file) is
//! active, the others answer "standby" at once so clients move on, and
//! the first to get the lease after the active one dies reads the library
//! before it serves.

mod events;
mod intake;
mod request;
mod requests;
mod server;
pub mod standalone;
mod state;
mod status;
mod worker;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::Sender;

use super::scsi_changer::PathKind;
use super::{ChangerError, DriveRef};
use crate::messaging::curve;
use crate::messaging::refusal::{ErrorCode, Refusal};
use events::Event;
use state::{PathSlot, PathState, Settings, StateThread};

#[derive(Debug, Clone)]
pub struct ControllerConfig {
    /// Changer paths in order of preference (devices, iSCSI URLs, or
    /// emulated path files).
    pub paths: Vec<String>,
    /// Whether the paths are an emulated library's (else SCSI devices).
    pub kind: PathKind,
    /// ZMQ endpoints to bind.
    pub listen: Vec<String>,
    /// The endpoint clients use (reported in replies); may differ from
    /// `listen` (a wildcard bind behind a name, NAT).
    pub endpoint: String,
    /// Listen only on this network interface's address.
    pub interface: Option<String>,
    /// The lease file: whoever holds its lock is the active controller.
    pub lease: PathBuf,
    pub move_timeout: Duration,
    /// How often an offline path is probed for re-admission.
    pub probe_interval: Duration,
    /// Drives known by name (their element or serial), to name elements.
    pub drives: Vec<DriveRef>,
    /// This controller's CURVE key pair, for listen endpoints other hosts
    /// reach, and the clients accepted there.
    pub keys: Option<curve::KeyPair>,
    pub clients: Vec<curve::ClientKey>,
}

#[derive(Debug, thiserror::Error)]
pub enum ControllerError {
    #[error("the controller has no changer path to drive")]
    NoPaths,
    #[error("the controller has no endpoint to listen on")]
    NoListen,
    #[error("cannot listen on {endpoint}: {source}")]
    Listen {
        endpoint: String,
        source: zmq::Error,
    },
    #[error("cannot listen on {endpoint} through network interface {interface}: {why}")]
    Interface {
        endpoint: String,
        interface: String,
        why: String,
    },
    #[error("lease file {path}: {source}")]
    Lease {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot start a controller thread: {0}")]
    Thread(std::io::Error),
    #[error(transparent)]
    Curve(#[from] crate::messaging::curve::CurveError),
    #[error("controller sockets: {0}")]
    Zmq(#[from] zmq::Error),
}

/// A running controller; stopping it (or dropping it) releases the lease.
pub struct ControllerHandle {
    events: Sender<Event>,
    stop: zmq::Socket,
    active: Arc<AtomicBool>,
    server: Option<JoinHandle<()>>,
    state: Option<JoinHandle<()>>,
}

/// One name per controller in a process, for the inproc reply socket.
fn reply_endpoint() -> String {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    format!(
        "inproc://tlc-replies-{}",
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

fn spawn(
    name: String,
    f: impl FnOnce() + Send + 'static,
) -> Result<JoinHandle<()>, ControllerError> {
    std::thread::Builder::new()
        .name(name)
        .spawn(f)
        .map_err(ControllerError::Thread)
}

/// The largest request the controller reads.
const MAX_REQUEST: i64 = 64 << 10;

pub fn start(config: ControllerConfig) -> Result<ControllerHandle, ControllerError> {
    if config.paths.is_empty() {
        return Err(ControllerError::NoPaths);
    }
    if config.listen.is_empty() {
        return Err(ControllerError::NoListen);
    }
    let ctx = zmq::Context::new();
    let router = ctx.socket(zmq::ROUTER)?;
    router.set_linger(0)?;
    // Requests are a few hundred bytes: anything bigger is refused by
    // libzmq before it is read in whole, never decoded.
    router.set_maxmsgsize(MAX_REQUEST)?;
    let keys = config.keys.clone();
    let listen: Vec<String> = config
        .listen
        .iter()
        .map(|e| listen_on(e, config.interface.as_deref()))
        .collect::<Result<_, _>>()?;
    if listen.iter().any(|e| !curve::is_local(e)) {
        // One socket serves every listen endpoint: once one is remote,
        // every client needs a listed key.
        curve::start_authenticator(&ctx, &config.clients)?;
        let remote = listen.iter().find(|e| !curve::is_local(e));
        curve::secure_server(&router, remote.map_or("", String::as_str), keys.as_ref())?;
    }
    for endpoint in &listen {
        if let Some(path) = endpoint.strip_prefix("ipc://") {
            // A socket file left by a killed controller.
            let _ = std::fs::remove_file(path);
        }
        router
            .bind(endpoint)
            .map_err(|source| ControllerError::Listen {
                endpoint: endpoint.clone(),
                source,
            })?;
    }
    let replies_at = reply_endpoint();
    let replies = ctx.socket(zmq::PULL)?;
    replies.bind(&replies_at)?;
    // No socket may hold the process at exit with unsent messages.
    replies.set_linger(0)?;
    let to_server = ctx.socket(zmq::PUSH)?;
    to_server.set_linger(0)?;
    to_server.connect(&replies_at)?;
    let stop = ctx.socket(zmq::PUSH)?;
    stop.set_linger(0)?;
    stop.connect(&replies_at)?;

    let lease =
        crate::util::open_lock_file(&config.lease).map_err(|source| ControllerError::Lease {
            path: config.lease.clone(),
            source,
        })?;

    let (events_tx, events_rx) = crossbeam_channel::unbounded();
    let active = Arc::new(AtomicBool::new(false));
    let mut paths = Vec::new();
    for (i, device) in config.paths.iter().enumerate() {
        let (jobs_tx, jobs_rx) = crossbeam_channel::unbounded();
        let events = events_tx.clone();
        let dev = device.clone();
        let kind = config.kind;
        // Workers are not joined: one may be stuck in a SCSI call.
        spawn(format!("tlc-path{i}"), move || {
            worker::run(i, dev, kind, jobs_rx, events)
        })?;
        paths.push(PathSlot {
            device: device.clone(),
            state: PathState::Unknown,
            identity: None,
            jobs: jobs_tx,
            busy: None,
            moves: 0,
            move_seconds: 0.0,
        });
    }
    let settings = Settings {
        move_timeout: config.move_timeout,
        probe_interval: config.probe_interval,
        endpoint: config.endpoint.clone(),
        drives: config.drives.clone(),
    };
    let state_thread = StateThread::new(settings, paths, events_rx, to_server, active.clone());
    let state = spawn("tlc-state".into(), move || state_thread.run())?;
    let server = server::Server {
        router,
        replies,
        events: events_tx.clone(),
        active: active.clone(),
        endpoint: config.endpoint.clone(),
    };
    let server = spawn("tlc-server".into(), move || server.run())?;
    let lease_events = events_tx.clone();
    let lease_path = config.lease.clone();
    let endpoint = config.endpoint.clone();
    spawn("tlc-lease".into(), move || {
        hold_lease(lease, &lease_path, &endpoint, &lease_events)
    })?;
    Ok(ControllerHandle {
        events: events_tx,
        stop,
        active,
        server: Some(server),
        state: Some(state),
    })
}

/// Waits for the lease and hands it to the state thread.
fn hold_lease(file: std::fs::File, path: &std::path::Path, endpoint: &str, events: &Sender<Event>) {
    use std::io::Write;
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            tracing::info!(lease = %path.display(), "standby: another controller holds the lease");
            if let Err(e) = file.lock() {
                tracing::error!(lease = %path.display(), error = %e, "cannot wait for the lease");
                return;
            }
        }
        Err(std::fs::TryLockError::Error(e)) => {
            tracing::error!(lease = %path.display(), error = %e, "cannot take the lease");
            return;
        }
    }
    // Who holds it, for operators reading the file.
    let _ = file.set_len(0);
    let _ = writeln!(&file, "{endpoint} pid {}", std::process::id());
    let _ = events.send(Event::Lease(file));
}

/// Where to bind: with an interface, a wildcard TCP endpoint becomes that
/// interface's address, so nothing listens on the host's other networks.
fn listen_on(endpoint: &str, interface: Option<&str>) -> Result<String, ControllerError> {
    let Some(interface) = interface else {
        return Ok(endpoint.to_string());
    };
    let Some(rest) = endpoint.strip_prefix("tcp://") else {
        return Ok(endpoint.to_string());
    };
    let invalid = |why: String| ControllerError::Interface {
        endpoint: endpoint.to_string(),
        interface: interface.to_string(),
        why,
    };
    let Some(("*" | "0.0.0.0", port)) = rest.rsplit_once(':') else {
        return Err(invalid(
            "with an interface, listen on tcp://*:PORT (the interface gives the address)".into(),
        ));
    };
    let address = interface_address(interface).ok_or_else(|| {
        invalid("this host has no such network interface with an IPv4 address".into())
    })?;
    Ok(format!("tcp://{address}:{port}"))
}

/// The first IPv4 address of a network interface.
fn interface_address(interface: &str) -> Option<std::net::Ipv4Addr> {
    nix::ifaddrs::getifaddrs().ok()?.find_map(|i| {
        (i.interface_name == interface)
            .then(|| i.address.and_then(|a| a.as_sockaddr_in().map(|s| s.ip())))
            .flatten()
    })
}

impl ControllerHandle {
    pub fn is_active(&self) -> bool {
        self.active.load(Ordering::SeqCst)
    }

    /// Whether the state thread answers within `limit` (it never blocks,
    /// so one that does not is hung).
    pub fn alive(&self, limit: Duration) -> bool {
        let (tx, rx) = crossbeam_channel::bounded(1);
        self.events.send(Event::Alive(tx)).is_ok() && rx.recv_timeout(limit).is_ok()
    }

    fn shut(&mut self) {
        let (Some(server), Some(state)) = (self.server.take(), self.state.take()) else {
            // Stopped already: the server is gone and nothing would read a frame.
            return;
        };
        let _ = self.events.send(Event::Stop);
        let _ = self.stop.send(Vec::<u8>::new(), zmq::DONTWAIT);
        let _ = server.join();
        let _ = state.join();
    }

    /// Stops serving and releases the lease.
    pub fn stop(mut self) {
        self.shut();
    }
}

impl Drop for ControllerHandle {
    fn drop(&mut self) {
        self.shut();
    }
}

/// What a client is told when a request fails: a code and one sentence.
pub fn refusal(e: &ChangerError) -> Refusal {
    let code = match e {
        ChangerError::UnknownDrive(_) | ChangerError::UnknownVid(_) => ErrorCode::NotFound,
        ChangerError::DriveFull { .. }
        | ChangerError::InAnotherDrive { .. }
        | ChangerError::WrongCartridge { .. }
        | ChangerError::NoFreeSlot(_) => ErrorCode::FailedPrecondition,
        ChangerError::Busy(_) | ChangerError::NoPath(_) => ErrorCode::Unavailable,
        _ => ErrorCode::Aborted,
    };
    let refusal = Refusal::new(code, e.to_string());
    match e {
        ChangerError::UnknownVid(_) => refusal.about(crate::messaging::refusal::SUBJECT_CARTRIDGE),
        _ => refusal,
    }
}

#[cfg(test)]
mod tests;
