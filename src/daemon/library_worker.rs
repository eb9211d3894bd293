//! The parent's library worker: the one place the parent asks the library
//! controller what its drives hold, on a thread of its own, so the event
//! loop never waits on a controller (a dead one costs a request timeout per
//! endpoint; that is exactly when a dismount failed and the answer matters).
//!
//! It keeps, per drive, `Loaded(VID)`, `Empty` or `Unknown`. A drive is
//! `Unknown` until a reading says otherwise, from the moment a session is
//! forked on it (the session moves cartridges), and whenever the controller
//! cannot be asked: the parent treats `Unknown` as "may hold a cartridge"
//! (fail closed). Each reading is announced to the loop
//! (`ToLoop::LibraryRead`) with the number of the last request it answers,
//! so a decision that waits for a reading made after some event is taken
//! on that reading and no older one. While any drive is `Unknown` the
//! library is read again every `retry`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, unbounded};

use super::messages::{LoopWaker, ToLoop};
use crate::library::MediaChanger;
use crate::library::client::ControllerClient;

/// What the library says a drive holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Holding {
    Loaded(String),
    Empty,
    /// A mount or dismount of the drive waits or is under way in the
    /// library (one a session asked for before it died, say): what it
    /// holds is about to change, so it is read again until that ends.
    Changing,
    /// Not read since the drive last changed hands, or the controller did
    /// not answer: the drive may hold a cartridge.
    Unknown,
}

#[derive(Default)]
struct Shared {
    holdings: BTreeMap<String, Holding>,
    /// Per drive, how many times it was forgotten: a reading started before
    /// the last time leaves the drive `Unknown`.
    forgotten: BTreeMap<String, u64>,
    /// Readings asked for so far.
    requested: u64,
    /// The last reading got an answer from the controller.
    answered: bool,
}

enum Ask {
    Read,
    Stop,
}

/// The handle the event loop holds.
pub struct LibraryWorker {
    shared: Arc<Mutex<Shared>>,
    asks: Sender<Ask>,
    thread: Option<JoinHandle<()>>,
}

impl LibraryWorker {
    /// Starts the worker (thread "library") for the drives named; nothing
    /// is read until the first `refresh`.
    pub fn start(
        client: ControllerClient,
        waker: LoopWaker,
        retry: Duration,
    ) -> std::io::Result<Self> {
        let shared = Arc::new(Mutex::new(Shared::default()));
        let (asks, rx) = unbounded();
        let worker = Worker {
            client,
            waker,
            retry,
            shared: shared.clone(),
            rx,
        };
        let thread = std::thread::Builder::new()
            .name("library".into())
            .spawn(move || worker.run())?;
        Ok(Self {
            shared,
            asks,
            thread: Some(thread),
        })
    }

    fn shared(&self) -> std::sync::MutexGuard<'_, Shared> {
        // The worker never panics while holding the lock; a poisoned lock
        // still holds consistent data (each update is one insert).
        self.shared.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether the controller answered the last reading (a drive still
    /// `Unknown` then is one the library does not list).
    pub fn answered(&self) -> bool {
        self.shared().answered
    }

    /// What the last reading says `drive` holds.
    pub fn holding(&self, drive: &str) -> Holding {
        self.shared()
            .holdings
            .get(drive)
            .cloned()
            .unwrap_or(Holding::Unknown)
    }

    /// Every drive the last reading did not find empty (loaded, or not
    /// known): what must be treated as holding a cartridge.
    pub fn not_known_empty(&self) -> Vec<String> {
        self.shared()
            .holdings
            .iter()
            .filter(|(_, h)| **h != Holding::Empty)
            .map(|(d, _)| d.clone())
            .collect()
    }

    /// Asks for a new reading; returns its number: the `LibraryRead` whose
    /// `covers` reaches it was read after this call.
    pub fn refresh(&self) -> u64 {
        let n = {
            let mut shared = self.shared();
            shared.requested += 1;
            shared.requested
        };
        let _ = self.asks.send(Ask::Read);
        n
    }

    /// A session is about to move cartridges in `drive`: what it held is
    /// no longer known.
    pub fn forget(&self, drive: &str) {
        let mut shared = self.shared();
        shared.holdings.insert(drive.to_string(), Holding::Unknown);
        *shared.forgotten.entry(drive.to_string()).or_default() += 1;
    }

    /// Stops the thread and waits for it.
    pub fn stop(mut self) {
        let _ = self.asks.send(Ask::Stop);
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::error!("the library worker panicked");
        }
    }
}

struct Worker {
    client: ControllerClient,
    waker: LoopWaker,
    retry: Duration,
    shared: Arc<Mutex<Shared>>,
    rx: Receiver<Ask>,
}

impl Worker {
    fn shared(&self) -> std::sync::MutexGuard<'_, Shared> {
        self.shared.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn run(self) {
        let mut unknown = false;
        let mut failing = false;
        loop {
            let ask = if unknown {
                self.rx.recv_timeout(self.retry)
            } else {
                self.rx.recv().map_err(|_| RecvTimeoutError::Disconnected)
            };
            match ask {
                Ok(Ask::Stop) | Err(RecvTimeoutError::Disconnected) => return,
                Ok(Ask::Read) | Err(RecvTimeoutError::Timeout) => {}
            }
            // Requests that arrived meanwhile are answered by this reading.
            for more in self.rx.try_iter() {
                if let Ask::Stop = more {
                    return;
                }
            }
            let (covers, forgotten) = {
                let shared = self.shared();
                (shared.requested, shared.forgotten.clone())
            };
            let reading = self.client.status();
            let ok = reading.is_ok();
            match &reading {
                Err(e) if !failing => {
                    tracing::error!(error = %e, "cannot read the library: every drive's cartridge is unknown until it answers")
                }
                Ok(_) if failing => tracing::info!("the library answers again"),
                _ => {}
            }
            failing = !ok;
            {
                let mut shared = self.shared();
                match reading {
                    Ok(status) => {
                        for (drive, vid) in status.drives {
                            // Forgotten while this reading ran: stays unknown.
                            if shared.forgotten.get(&drive) != forgotten.get(&drive) {
                                continue;
                            }
                            let holding = if status.changing.contains(&drive) {
                                Holding::Changing
                            } else {
                                vid.map_or(Holding::Empty, Holding::Loaded)
                            };
                            shared.holdings.insert(drive, holding);
                        }
                    }
                    Err(_) => {
                        for holding in shared.holdings.values_mut() {
                            *holding = Holding::Unknown;
                        }
                    }
                }
                shared.answered = ok;
                unknown = !ok
                    || shared
                        .holdings
                        .values()
                        .any(|h| matches!(h, Holding::Unknown | Holding::Changing));
            }
            self.waker.send(ToLoop::LibraryRead { covers, ok });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn worker(endpoints: Vec<String>) -> (LibraryWorker, Receiver<ToLoop>) {
        let (tx, rx) = unbounded();
        let (wake, _other) = std::os::unix::net::UnixStream::pair().unwrap();
        wake.set_nonblocking(true).unwrap();
        let client = ControllerClient::new(
            endpoints,
            Duration::from_millis(200),
            Duration::from_millis(200),
            Vec::new(),
        );
        let worker =
            LibraryWorker::start(client, LoopWaker::new(tx, wake), Duration::from_secs(3600))
                .unwrap();
        (worker, rx)
    }

    /// Fail closed: with no controller to ask, every drive is `Unknown`,
    /// never `Empty`, and the reading still arrives (the loop never waits).
    #[test]
    fn with_no_controller_every_drive_is_unknown() {
        let dir = tempfile::tempdir().unwrap();
        let endpoint = format!("ipc://{}/none.sock", dir.path().display());
        let (worker, rx) = worker(vec![endpoint]);
        worker.forget("d0");
        let n = worker.refresh();
        match rx.recv_timeout(Duration::from_secs(30)).unwrap() {
            ToLoop::LibraryRead { covers, ok } => {
                assert!(covers >= n);
                assert!(!ok);
            }
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(worker.holding("d0"), Holding::Unknown);
        assert_eq!(worker.holding("never-seen"), Holding::Unknown);
        worker.stop();
    }
}
