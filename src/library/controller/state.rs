//! The controller's state thread: the one owner of what the controller
//! knows (the inventory, the paths and their health, the requests). It
//! hands SCSI work to the path workers and answers clients through the
//! server thread. Nothing here blocks: events come in on one channel
//! (requests, worker outcomes, the lease), replies go out on a ZMQ socket.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};

use super::events::{Done, Event, Job, Outcome};
use super::request::{Phase, Request};
use super::worker::path_failed;
use crate::library::DriveRef;
use crate::library::inventory::Inventory;
use crate::library::scsi_changer::Identity;
use crate::proto::tlc::TlcReply;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathState {
    /// Not used since the controller became active.
    Unknown,
    Ok,
    Offline(String),
    /// Taken out by an operator.
    Disabled,
}

impl PathState {
    pub fn usable(&self) -> bool {
        matches!(self, PathState::Unknown | PathState::Ok)
    }
}

pub struct Busy {
    pub job: u64,
    pub kind: Job,
    pub started: Instant,
    pub deadline: Instant,
    /// Given up on (no answer in time): the path stays busy until the
    /// worker comes back, but nobody waits for it.
    pub abandoned: bool,
}

pub struct PathSlot {
    pub device: String,
    pub state: PathState,
    pub identity: Option<Identity>,
    pub jobs: Sender<(u64, Job)>,
    pub busy: Option<Busy>,
    /// Moves this path completed, and the seconds they took in all
    /// (reported in the status, for the metrics).
    pub moves: u64,
    pub move_seconds: f64,
}

pub struct Settings {
    pub move_timeout: Duration,
    pub probe_interval: Duration,
    pub endpoint: String,
    pub drives: Vec<DriveRef>,
}

/// A move that completed, kept to replay over an element status read
/// that was under way meanwhile.
struct FinishedMove {
    epoch: u64,
    source: u16,
    destination: u16,
    tag: Option<String>,
}

/// An element status read under way.
struct Read {
    number: u64,
    epoch: u64,
}

const FINISHED_MOVES: usize = 256;
/// Commands other than moves get this long before a path counts as hung.
const COMMAND_DEADLINE: Duration = Duration::from_secs(300);

pub struct StateThread {
    pub(super) settings: Settings,
    pub(super) paths: Vec<PathSlot>,
    events: Receiver<Event>,
    pub(super) replies: zmq::Socket,
    active: Arc<AtomicBool>,
    lease: Option<std::fs::File>,
    pub(super) inventory: Option<Inventory>,
    pub(super) reads_dispatched: u64,
    fresh_from: u64,
    pub(super) last_read: u64,
    reading: Option<Read>,
    epoch: u64,
    finished: VecDeque<FinishedMove>,
    pub(super) requests: Vec<Request>,
    pub(super) recent: VecDeque<(String, TlcReply)>,
    next_job: u64,
    pub(super) next_probe: Instant,
    library_serial: Option<String>,
    /// Drives named by config and by requests, to name drive elements.
    pub(super) names: Vec<DriveRef>,
}

impl StateThread {
    pub fn new(
        settings: Settings,
        paths: Vec<PathSlot>,
        events: Receiver<Event>,
        replies: zmq::Socket,
        active: Arc<AtomicBool>,
    ) -> Self {
        let names = settings.drives.clone();
        Self {
            settings,
            paths,
            events,
            replies,
            active,
            lease: None,
            inventory: None,
            reads_dispatched: 0,
            fresh_from: 0,
            last_read: 0,
            reading: None,
            epoch: 0,
            finished: VecDeque::new(),
            requests: Vec::new(),
            recent: VecDeque::new(),
            next_job: 1,
            next_probe: Instant::now(),
            library_serial: None,
            names,
        }
    }

    pub fn run(mut self) {
        loop {
            let wait = self.next_wake().saturating_duration_since(Instant::now());
            match self.events.recv_timeout(wait) {
                Ok(Event::Stop) | Err(RecvTimeoutError::Disconnected) => break,
                Ok(event) => self.handle(event),
                Err(RecvTimeoutError::Timeout) => {}
            }
            self.tick(Instant::now());
            self.pump();
        }
        drop(self.lease.take());
    }

    fn handle(&mut self, event: Event) {
        match event {
            Event::Request { peer, id, op } => self.request(peer, id, op),
            Event::Worker { path, job, outcome } => self.outcome(path, job, outcome),
            Event::Lease(file) => {
                self.lease = Some(file);
                self.active.store(true, Ordering::SeqCst);
                tracing::info!(endpoint = %self.settings.endpoint, "controller active: reading the library before serving");
                for p in &mut self.paths {
                    if p.state != PathState::Disabled {
                        p.state = PathState::Unknown;
                    }
                }
                self.mark_stale();
                self.next_probe = Instant::now();
            }
            Event::Alive(reply) => {
                let _ = reply.send(());
            }
            Event::Stop => {}
        }
    }

    pub(super) fn active(&self) -> bool {
        self.lease.is_some()
    }

    // ---- the inventory ----

    pub(super) fn fresh(&self) -> bool {
        self.inventory.is_some() && self.last_read > self.fresh_from
    }

    /// What we know may be wrong: read the element status before acting.
    pub(super) fn mark_stale(&mut self) {
        self.fresh_from = self.reads_dispatched;
    }

    pub(super) fn reading_now(&self) -> bool {
        self.reading.is_some()
    }

    // ---- paths and jobs ----

    /// The first path, in order of preference, that can take a job now.
    pub(super) fn idle_path(&self) -> Option<usize> {
        self.paths
            .iter()
            .position(|p| p.state.usable() && p.busy.is_none())
    }

    pub(super) fn any_usable_path(&self) -> bool {
        self.paths.iter().any(|p| p.state.usable())
    }

    /// Elements a move under way (or given up on, the robot may still be
    /// moving) holds.
    pub(super) fn reserved(&self) -> Vec<u16> {
        self.paths
            .iter()
            .filter_map(|p| match p.busy.as_ref()?.kind {
                Job::Move {
                    source,
                    destination,
                    ..
                } => Some([source, destination]),
                _ => None,
            })
            .flatten()
            .collect()
    }

    pub(super) fn dispatch(&mut self, path: usize, kind: Job) -> u64 {
        let job = self.next_job;
        self.next_job += 1;
        let deadline = Instant::now()
            + match kind {
                // The transport's own timeout should fire first.
                Job::Move { timeout, .. } => timeout + Duration::from_secs(60),
                _ => COMMAND_DEADLINE,
            };
        let p = &mut self.paths[path];
        p.busy = Some(Busy {
            job,
            kind,
            started: Instant::now(),
            deadline,
            abandoned: false,
        });
        if kind == Job::Inventory {
            self.reads_dispatched += 1;
            self.reading = Some(Read {
                number: self.reads_dispatched,
                epoch: self.epoch,
            });
        }
        if p.jobs.send((job, kind)).is_err() {
            tracing::error!(path = %p.device, "the path's worker is gone");
        }
        job
    }

    pub(super) fn describe_paths(&self) -> String {
        self.paths
            .iter()
            .map(|p| match &p.state {
                PathState::Offline(e) => format!("{} is offline ({e})", p.device),
                PathState::Disabled => format!("{} is disabled by an operator", p.device),
                PathState::Unknown => format!("{} is not probed yet", p.device),
                PathState::Ok => format!("{} is busy", p.device),
            })
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn take_offline(&mut self, path: usize, why: String) {
        let p = &mut self.paths[path];
        if p.state == PathState::Disabled {
            return;
        }
        if !matches!(p.state, PathState::Offline(_)) {
            tracing::warn!(path = %p.device, error = %why, "changer path taken out of service");
        }
        p.state = PathState::Offline(why);
    }

    fn outcome(&mut self, path: usize, job: u64, outcome: Outcome) {
        let Some(busy) = self.paths[path].busy.take_if(|b| b.job == job) else {
            return;
        };
        if let Some(identity) = outcome.identity {
            self.identified(path, identity);
        }
        let failed_path = match &outcome.result {
            Err(e) if path_failed(e) => {
                self.take_offline(path, e.to_string());
                true
            }
            Err(e) if e.sense().is_some_and(|s| s.state_changed()) => {
                tracing::info!(path = %self.paths[path].device, sense = %e, "the library changed: reading its element status again");
                self.mark_stale();
                false
            }
            _ => false,
        };
        if outcome.result.is_ok() {
            let p = &mut self.paths[path];
            match (&p.state, busy.kind) {
                (PathState::Unknown, _) => p.state = PathState::Ok,
                // Only a probe brings an offline path back.
                (PathState::Offline(_), Job::Probe) => {
                    tracing::info!(path = %p.device, "changer path answers again: back in service");
                    p.state = PathState::Ok;
                }
                _ => {}
            }
        }
        match (busy.kind, outcome.result) {
            (Job::Probe, Ok(_)) => {}
            (Job::Probe, Err(e)) if !failed_path => self.take_offline(path, e.to_string()),
            (Job::Inventory, Ok(Done::Inventory(inventory))) => self.read_done(inventory),
            (Job::Inventory, result) => {
                self.reading = None;
                if let Err(e) = result
                    && !failed_path
                    && !e.sense().is_some_and(|s| s.state_changed())
                {
                    self.take_offline(path, e.to_string());
                }
            }
            (
                Job::Move {
                    source,
                    destination,
                    ..
                },
                result,
            ) => {
                let ok = result.is_ok();
                if ok {
                    let p = &mut self.paths[path];
                    p.moves += 1;
                    p.move_seconds += busy.started.elapsed().as_secs_f64();
                }
                let error = result.err();
                self.move_done(path, job, busy.abandoned, source, destination, ok, error);
            }
            _ => {}
        }
    }

    fn identified(&mut self, path: usize, identity: Identity) {
        let p = &mut self.paths[path];
        tracing::info!(path = %p.device, vendor = %identity.vendor, product = %identity.product, serial = identity.serial.as_deref().unwrap_or(""), "changer path identified");
        match (&self.library_serial, &identity.serial) {
            (None, Some(serial)) => self.library_serial = Some(serial.clone()),
            (Some(ours), Some(theirs)) if ours != theirs => {
                let why = format!("it reaches library {theirs}, not {ours}");
                p.identity = Some(identity);
                self.take_offline(path, why);
                return;
            }
            _ => {}
        }
        p.identity = Some(identity);
    }

    fn read_done(&mut self, mut inventory: Inventory) {
        let Some(read) = self.reading.take() else {
            return;
        };
        // Moves that completed while the robot was being read are replayed.
        for m in self.finished.iter().filter(|m| m.epoch > read.epoch) {
            inventory.apply_move(m.source, m.destination, m.tag.as_deref());
        }
        let cartridges = inventory.elements.iter().filter(|e| e.full).count();
        tracing::debug!(
            elements = inventory.elements.len(),
            cartridges,
            "element status read"
        );
        self.inventory = Some(inventory);
        self.last_read = read.number;
    }

    /// Records a move's end; the request it served goes on (or ends).
    #[allow(clippy::too_many_arguments)]
    fn move_done(
        &mut self,
        path: usize,
        job: u64,
        abandoned: bool,
        source: u16,
        destination: u16,
        ok: bool,
        error: Option<crate::scsi::ScsiError>,
    ) {
        self.epoch += 1;
        let device = self.paths[path].device.clone();
        let index = self.requests.iter().position(
            |r| matches!(r.phase, Phase::Moving { path: p, job: j, .. } if p == path && j == job),
        );
        let tag = index.and_then(|i| match &self.requests[i].phase {
            Phase::Moving { tag, .. } => tag.clone(),
            Phase::Waiting => None,
        });
        if ok && !abandoned {
            if let Some(inventory) = &mut self.inventory {
                inventory.apply_move(source, destination, tag.as_deref());
            }
            self.finished.push_back(FinishedMove {
                epoch: self.epoch,
                source,
                destination,
                tag,
            });
            if self.finished.len() > FINISHED_MOVES {
                self.finished.pop_front();
            }
        } else {
            // Whatever happened, what the robot did must be read, not assumed.
            self.mark_stale();
        }
        if let Some(i) = index {
            self.requests[i].moved(&device, source, destination, ok, error);
        }
    }

    // ---- timers ----

    fn next_wake(&self) -> Instant {
        let mut next = self.next_probe;
        for p in &self.paths {
            if let Some(b) = &p.busy
                && !b.abandoned
            {
                next = next.min(b.deadline);
            }
        }
        for r in &self.requests {
            next = next.min(r.deadline);
        }
        next
    }

    fn tick(&mut self, now: Instant) {
        if !self.active() {
            self.next_probe = now + self.settings.probe_interval;
            return;
        }
        for i in 0..self.paths.len() {
            let Some(busy) = &mut self.paths[i].busy else {
                continue;
            };
            if busy.abandoned || now < busy.deadline {
                continue;
            }
            busy.abandoned = true;
            let (job, kind) = (busy.job, busy.kind);
            let why = format!("no answer within {} s", (busy.deadline - now).as_secs());
            self.take_offline(i, why.clone());
            self.mark_stale();
            if kind == Job::Inventory {
                self.reading = None;
            }
            if let Job::Move {
                source,
                destination,
                ..
            } = kind
            {
                let device = self.paths[i].device.clone();
                if let Some(r) = self.requests.iter_mut().find(
                    |r| matches!(r.phase, Phase::Moving { path, job: j, .. } if path == i && j == job),
                ) {
                    r.gave_up(&device, source, destination, &why);
                }
            }
        }
        if now >= self.next_probe {
            self.next_probe = now + self.settings.probe_interval;
            for i in 0..self.paths.len() {
                let p = &self.paths[i];
                let probe = matches!(p.state, PathState::Offline(_) | PathState::Unknown);
                if probe && p.busy.is_none() {
                    self.dispatch(i, Job::Probe);
                }
            }
        }
    }
}
