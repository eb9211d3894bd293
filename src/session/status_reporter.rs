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
    counters: Arc<Counters>,
}

/// What every report carries, read by the reporter at each send.
#[derive(Default)]
struct Counters {
    bytes: AtomicU64,
    files: AtomicU64,
    /// The file whose disk blocks the tape thread is waiting for (0: none).
    disk_wait: AtomicU64,
}

enum Event {
    State(SessionState),
    Error(String),
}

impl StatusHandle {
    /// A handle no reporter listens to (events are dropped, counters kept).
    pub fn detached() -> Self {
        let (tx, _) = unbounded();
        Self {
            tx,
            counters: Arc::default(),
        }
    }

    pub fn state(&self, state: SessionState) {
        let _ = self.tx.send(Event::State(state));
    }

    pub fn error(&self, error: String) {
        let _ = self.tx.send(Event::Error(error));
    }

    pub fn add_bytes(&self, n: u64) {
        self.counters.bytes.fetch_add(n, Ordering::Relaxed);
    }

    pub fn add_file(&self) {
        self.counters.files.fetch_add(1, Ordering::Relaxed);
    }

    pub fn bytes(&self) -> u64 {
        self.counters.bytes.load(Ordering::Relaxed)
    }

    pub fn files(&self) -> u64 {
        self.counters.files.load(Ordering::Relaxed)
    }

    /// The tape thread waits for (Some) or stopped waiting for (None) the
    /// disk side of a file: a session killed meanwhile is the file's doing.
    pub fn waiting_for_disk(&self, file_id: Option<u64>) {
        self.counters
            .disk_wait
            .store(file_id.unwrap_or(0), Ordering::Relaxed);
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
            counters: Arc::default(),
        };
        // Only the counters: a sender here would keep the channel open forever.
        let counters = handle.counters.clone();
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
            .spawn(super::in_span(move || {
                // Keep the context alive as long as the socket.
                let _ctx = ctx;
                let send = |report: &mut SessionReport| {
                    report.bytes_moved = counters.bytes.load(Ordering::Relaxed);
                    report.files_moved = counters.files.load(Ordering::Relaxed);
                    report.disk_wait_file_id = counters.disk_wait.load(Ordering::Relaxed);
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
            }))
            .map_err(|_| zmq::Error::EMFILE)?;
        Ok(Self {
            handle: Some(handle),
            thread: Some(thread),
        })
    }

    pub fn handle(&self) -> StatusHandle {
        // Present until `finish`, which consumes self.
        self.handle.clone().unwrap_or_else(StatusHandle::detached)
    }

    /// Sends the final report once every other handle is dropped.
    pub fn finish(mut self) {
        self.handle = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A parent's session socket in a temporary directory.
    fn parent() -> (tempfile::TempDir, zmq::Context, zmq::Socket, String) {
        let tmp = tempfile::tempdir().unwrap();
        let endpoint = format!("ipc://{}", tmp.path().join("sessions.sock").display());
        let ctx = zmq::Context::new();
        let router = ctx.socket(zmq::ROUTER).unwrap();
        router.set_rcvtimeo(10_000).unwrap();
        router.bind(&endpoint).unwrap();
        (tmp, ctx, router, endpoint)
    }

    fn receive(router: &zmq::Socket) -> SessionReport {
        let frames = router.recv_multipart(0).expect("a report within 10 s");
        SessionReport::decode(frames.last().unwrap().as_slice()).unwrap()
    }

    fn spec(endpoint: &str, heartbeat_ms: u64) -> SessionSpec {
        SessionSpec {
            drive: "d0".into(),
            vid: "V00001".into(),
            mount_id: 42,
            sessions_endpoint: endpoint.into(),
            tuning: Some(crate::proto::session::SessionTuning {
                heartbeat_interval_ms: heartbeat_ms,
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn state_changes_counters_and_the_last_error_reach_the_parent_then_finished() {
        let (_tmp, _ctx, router, endpoint) = parent();
        // Heartbeats far apart: every report below is caused by an event.
        let reporter = StatusReporter::start(&spec(&endpoint, 3_600_000)).unwrap();
        let first = receive(&router);
        assert_eq!(
            (first.drive.as_str(), first.mount_id, first.state),
            ("d0", 42, SessionState::Starting as i32)
        );
        assert_eq!(first.pid, std::process::id() as i32);
        let status = reporter.handle();
        status.add_bytes(1000);
        status.add_file();
        status.state(SessionState::Transferring);
        let moving = receive(&router);
        assert_eq!(moving.state, SessionState::Transferring as i32);
        assert_eq!((moving.bytes_moved, moving.files_moved), (1000, 1));
        status.error("tape write error".into());
        assert_eq!(receive(&router).error, "tape write error");
        drop(status);
        reporter.finish();
        let last = receive(&router);
        assert_eq!(last.state, SessionState::Finished as i32);
        assert_eq!(
            last.error, "tape write error",
            "the error stays in every later report"
        );
        assert_eq!(last.bytes_moved, 1000);
    }

    #[test]
    fn heartbeats_carry_cumulative_counters_without_events() {
        let (_tmp, _ctx, router, endpoint) = parent();
        let reporter = StatusReporter::start(&spec(&endpoint, 10)).unwrap();
        let status = reporter.handle();
        status.add_bytes(5);
        // No event is sent: only heartbeats can carry the count.
        let mut seen = receive(&router).bytes_moved;
        while seen < 5 {
            let next = receive(&router).bytes_moved;
            assert!(next >= seen, "counters never go back");
            seen = next;
        }
        drop(status);
        reporter.finish();
    }
}
