//! The status reporter: the session's only link to the parent. It sends a
//! `SessionReport` on every state change and every heartbeat interval, with
//! cumulative bytes and files moved (so a lost message loses nothing).
//! Other threads post to it through a channel and never block on ZMQ.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{RecvTimeoutError, Sender, unbounded};
use prost::Message;

use crate::proto::session::{SessionReport, SessionSpec, SessionState};

/// Shared by the session's threads to report progress.
#[derive(Clone)]
pub struct StatusHandle {
    tx: Sender<Event>,
    bytes: Arc<AtomicU64>,
    files: Arc<AtomicU64>,
}

enum Event {
    State(SessionState),
    Error(String),
}

impl StatusHandle {
    pub fn state(&self, state: SessionState) {
        let _ = self.tx.send(Event::State(state));
    }

    pub fn error(&self, error: String) {
        let _ = self.tx.send(Event::Error(error));
    }

    pub fn add_bytes(&self, n: u64) {
        self.bytes.fetch_add(n, Ordering::Relaxed);
    }

    pub fn add_file(&self) {
        self.files.fetch_add(1, Ordering::Relaxed);
    }

    pub fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    pub fn files(&self) -> u64 {
        self.files.load(Ordering::Relaxed)
    }
}

pub struct StatusReporter {
    handle: Option<StatusHandle>,
    thread: Option<JoinHandle<()>>,
}

impl StatusReporter {
    /// Starts the reporter thread; it connects to the parent's session socket.
    pub fn start(spec: &SessionSpec) -> Result<Self, zmq::Error> {
        let ctx = zmq::Context::new();
        let socket = ctx.socket(zmq::DEALER)?;
        socket.set_linger(2000)?;
        socket.set_sndhwm(1000)?;
        socket.connect(&spec.sessions_endpoint)?;
        let (tx, rx) = unbounded();
        let handle = StatusHandle {
            tx,
            bytes: Arc::new(AtomicU64::new(0)),
            files: Arc::new(AtomicU64::new(0)),
        };
        // Only the counters: a sender here would keep the channel open forever.
        let (bytes, files) = (handle.bytes.clone(), handle.files.clone());
        let mut report = SessionReport {
            drive: spec.drive.clone(),
            mount_id: spec.mount_id,
            pid: std::process::id() as i32,
            state: SessionState::Starting as i32,
            vid: spec.vid.clone(),
            ..Default::default()
        };
        let interval = Duration::from_millis(
            spec.tuning
                .as_ref()
                .map_or(1000, |t| t.heartbeat_interval_ms.max(10)),
        );
        let thread = std::thread::Builder::new()
            .name("status-reporter".into())
            .spawn(move || {
                // Keep the context alive as long as the socket.
                let _ctx = ctx;
                let send = |report: &mut SessionReport| {
                    report.bytes_moved = bytes.load(Ordering::Relaxed);
                    report.files_moved = files.load(Ordering::Relaxed);
                    // Never block: a parent that does not read loses heartbeats only.
                    if let Err(e) = socket.send(report.encode_to_vec(), zmq::DONTWAIT) {
                        tracing::debug!(error = %e, "status report not sent");
                    }
                };
                send(&mut report);
                loop {
                    match rx.recv_timeout(interval) {
                        Ok(Event::State(state)) => report.state = state as i32,
                        Ok(Event::Error(error)) => report.error = error,
                        Err(RecvTimeoutError::Timeout) => {}
                        Err(RecvTimeoutError::Disconnected) => break,
                    }
                    send(&mut report);
                }
                report.state = SessionState::Finished as i32;
                send(&mut report);
            })
            .map_err(|_| zmq::Error::EMFILE)?;
        Ok(Self {
            handle: Some(handle),
            thread: Some(thread),
        })
    }

    pub fn handle(&self) -> StatusHandle {
        // Present until `finish`, which consumes self.
        self.handle.clone().unwrap_or_else(|| {
            let (tx, _) = unbounded();
            StatusHandle {
                tx,
                bytes: Arc::new(AtomicU64::new(0)),
                files: Arc::new(AtomicU64::new(0)),
            }
        })
    }

    /// Sends the final report once every other handle is dropped.
    pub fn finish(mut self) {
        self.handle = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
