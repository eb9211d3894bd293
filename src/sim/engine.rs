//! The scheduler-driven run: the real scheduler (the daemon's mount policy
//! and queue statements, on a catalogue whose `ts_now()` is the simulator's
//! virtual clock) gives simulated drives their mounts; each drive does
//! what a session does (fetch work in bulk, read in the recommended access
//! order, flush, report, keep its tape while work for it keeps coming,
//! yield background work) and takes the time model's time for it. Events
//! run in time order; the clock jumps from one to the next.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::time::Duration;

use super::Request;
use super::place::Library;
use super::report::Tally;
use super::workload::{Activity, Workload};
use crate::scheduler::clock::VirtualClock;
use crate::scheduler::{
    ArchivedFile, FileLimits, LOCAL_OWNER, Mount, MountKind, MountPolicy, NewArchiveFile,
    RecallEnd, RecallJob, RepackRequest, RepackSettings, Scheduler, SchedulerError, VerifyJob,
};
use crate::session::access_order::AccessOrder;
use crate::tape::time_model::Profile;

mod sessions;

const HOST: &str = "sim";

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum What {
    Unmounted(usize),
    Continue(usize),
    Arrive(usize),
    Poll,
}

/// An event at a time; ties in the order they were pushed.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Event {
    at_ns: u64,
    seq: u64,
    what: What,
}

/// What a drive's step in progress costs, counted when it ends (or in
/// proportion, when the run stops inside it).
#[derive(Debug, Default)]
struct Step {
    start: f64,
    end: f64,
    positioning: f64,
    streaming: f64,
    files: u64,
    bytes: u64,
}

/// What a mounted drive holds besides its tape.
struct Mounted {
    step: Step,
    drive: usize,
    mount: Mount,
    activity: Activity,
    head: u64,
    loaded_at: f64,
    /// Since when the session has had no work (lazy dismount: it keeps
    /// the tape up to `keep_mounted` from then).
    idle_from: Option<f64>,
    access: AccessOrder,
    recalls: Vec<RecallJob>,
    verify: Option<(Vec<VerifyJob>, usize)>,
    /// Written since the last flush, with when each was written.
    unflushed: Vec<ArchivedFile>,
    unflushed_bytes: u64,
    /// Reports due at the next step (done when the step's time comes).
    archived: Vec<(ArchivedFile, f64)>,
    recalled: Vec<(u64, f64, u64)>,
}

pub struct Engine<'a> {
    w: &'a Workload,
    db: Box<dyn Scheduler>,
    clock: VirtualClock,
    policy: MountPolicy,
    keep: Duration,
    poll: Duration,
    p: Profile,
    lib: Library,
    drives: Vec<Option<Mounted>>,
    busy: Vec<bool>,
    /// Drives a background session gave up: they serve user work first.
    user_turn: Vec<bool>,
    robots: Vec<f64>,
    events: BinaryHeap<Reverse<Event>>,
    seq: u64,
    requests: Vec<Request>,
    archive_arrival: HashMap<u64, f64>,
    /// The files this run archived, in the order they were queued.
    archived: Vec<u64>,
    /// Recalls of files not on tape yet when they came.
    early_recalls: Vec<(Request, f64, usize)>,
    recall_arrival: HashMap<u64, f64>,
    background_left: u64,
    arrivals_left: u64,
    tally: Tally,
    /// When the run stops (the last arrival plus the horizon).
    limit: f64,
    /// The virtual clock at the start.
    start: f64,
}

fn ns(t: f64) -> u64 {
    (t.max(0.0) * 1e9) as u64
}

impl<'a> Engine<'a> {
    pub fn new(
        w: &'a Workload,
        db: Box<dyn Scheduler>,
        clock: VirtualClock,
        lib: Library,
        requests: Vec<Request>,
    ) -> Result<Self, String> {
        let clock_start = clock.now();
        let config = w.scheduler_config()?;
        let mut policy = crate::settings::mount_policy(&config);
        policy.repack_max_drives = crate::config::RepackConfig::default().max_drives;
        Ok(Self {
            w,
            db,
            clock,
            policy,
            keep: config.keep_mounted.0,
            poll: config.poll_interval.0.max(Duration::from_millis(100)),
            p: w.profile(),
            lib,
            drives: (0..w.drives).map(|_| None).collect(),
            busy: vec![false; w.drives as usize],
            user_turn: vec![false; w.drives as usize],
            robots: vec![0.0; w.robots as usize],
            events: BinaryHeap::new(),
            seq: 0,
            arrivals_left: requests.len() as u64,
            requests,
            archive_arrival: HashMap::new(),
            archived: Vec::new(),
            early_recalls: Vec::new(),
            recall_arrival: HashMap::new(),
            background_left: 0,
            tally: Tally::new(w.drives as usize),
            limit: f64::INFINITY,
            start: clock_start,
        })
    }

    fn push(&mut self, at: f64, what: What) {
        self.seq += 1;
        self.events.push(Reverse(Event {
            at_ns: ns(at),
            seq: self.seq,
            what,
        }));
    }

    fn now(&self) -> f64 {
        self.clock.now()
    }

    /// Runs until every request is served or the horizon passes.
    pub fn run(mut self) -> Result<Tally, SchedulerError> {
        let start = self.now();
        let last_arrival = self.requests.last().map_or(0.0, |r| r.at);
        let limit = start + last_arrival + self.w.horizon.0.as_secs_f64();
        self.limit = limit;
        if let Some(first) = self.requests.first() {
            self.push(start + first.at, What::Arrive(0));
        }
        self.push(start, What::Poll);
        while let Some(Reverse(ev)) = self.events.pop() {
            let t = ev.at_ns as f64 / 1e9;
            if t > limit {
                break;
            }
            self.clock.set(t);
            match ev.what {
                What::Arrive(i) => {
                    self.arrive(i, start)?;
                    self.dispatch()?;
                }
                What::Continue(d) => self.step(d)?,
                What::Unmounted(d) => {
                    self.busy[d] = false;
                    self.dispatch()?;
                }
                What::Poll => {
                    for (r, arrived, n) in std::mem::take(&mut self.early_recalls) {
                        self.recall(&r, arrived, n)?;
                    }
                    self.advance_repacks()?;
                    self.dispatch()?;
                    if !self.done() {
                        self.push(t + self.poll.as_secs_f64(), What::Poll);
                    }
                }
            }
            if self.done() && self.busy.iter().all(|b| !b) {
                break;
            }
        }
        // Steps the stop cut short count in proportion (a drive still
        // mounted means the run stopped at its limit).
        let stop = limit;
        for d in 0..self.drives.len() {
            if let Some(mut m) = self.drives[d].take() {
                let step = (m.step.end - m.step.start).max(f64::MIN_POSITIVE);
                let share = ((stop - m.step.start) / step).clamp(0.0, 1.0);
                self.settle(d, &mut m, share);
                self.tally.mounted_for(
                    m.activity.name(),
                    (m.idle_from.unwrap_or(stop) - m.loaded_at).max(0.0),
                );
                self.tally.end = self.tally.end.max(stop);
            }
        }
        self.tally.unserved = (self.archive_arrival.len() + self.recall_arrival.len()) as u64
            + self.background_left
            + self.arrivals_left;
        let mut tally = self.tally;
        tally.end -= start;
        Ok(tally)
    }

    fn done(&self) -> bool {
        self.arrivals_left == 0
            && self.early_recalls.is_empty()
            && self.archive_arrival.is_empty()
            && self.recall_arrival.is_empty()
            && self.background_left == 0
    }

    /// Queues request `i` and every later one arriving at the same time
    /// (archives of one pool in one request, as a stager sends them).
    fn arrive(&mut self, i: usize, start: f64) -> Result<(), SchedulerError> {
        let t = self.now();
        let at = self.requests[i].at;
        let mut j = i;
        while j < self.requests.len() && self.requests[j].at == at {
            j += 1;
        }
        let batch: Vec<Request> = self.requests[i..j].to_vec();
        self.arrivals_left -= batch.len() as u64;
        let mut archives: std::collections::BTreeMap<&str, Vec<NewArchiveFile>> =
            Default::default();
        for (k, r) in batch.iter().enumerate() {
            match r.activity {
                Activity::Archive => archives.entry(&r.pool).or_default().push(NewArchiveFile {
                    path: format!("/sim/{}", i + k),
                    size: r.size,
                    owner: LOCAL_OWNER.into(),
                    permissions: None,
                }),
                Activity::Recall => self.recall(r, t, i + k)?,
                Activity::Verify => {
                    self.db.queue_verify(&r.vid, 0, "sim")?;
                    self.background_left += 1;
                }
                Activity::Repack => {
                    self.db
                        .queue_repack(&r.vid, &RepackRequest::default(), "sim")?;
                    self.background_left += 1;
                }
            }
        }
        for (pool, files) in archives {
            for id in self.db.queue_archive(&files, pool)? {
                self.archive_arrival.insert(id, t);
                self.archived.push(id);
            }
        }
        if let Some(next) = self.requests.get(j) {
            self.push(start + next.at, What::Arrive(j));
        }
        Ok(())
    }

    /// Queues a recall that arrived at `arrived`; one of a file archived in
    /// this run that is not on tape yet is asked again at the next poll.
    fn recall(&mut self, r: &Request, arrived: f64, n: usize) -> Result<(), SchedulerError> {
        let file = match r.archived {
            Some(k) => match self.archived.get(k) {
                Some(id) => *id,
                None => return Ok(()),
            },
            None => r.file,
        };
        match self
            .db
            .queue_recall(LOCAL_OWNER, file, &format!("/sim/back/{n}"))
        {
            Ok(ticket) => {
                self.recall_arrival.insert(ticket.recall_id, arrived);
            }
            Err(SchedulerError::NotOnTape { .. }) => {
                self.early_recalls.push((r.clone(), arrived, n));
            }
            Err(e) => return Err(e),
        }
        Ok(())
    }

    fn advance_repacks(&mut self) -> Result<(), SchedulerError> {
        let settings = RepackSettings {
            buffer_dir: "/sim/buffer".into(),
            buffer_bytes: 4_000_000_000_000,
        };
        let gone = self.db.advance_repacks(&settings)?;
        if !gone.is_empty() {
            self.db.buffers_removed(&gone)?;
        }
        let t = self.now();
        for r in self.db.repacks()? {
            if (r.state == "done" || r.state == "failed") && self.lib.repack_done(&r.vid) {
                self.background_left = self.background_left.saturating_sub(1);
                self.tally.served("repack", r.queued, t);
            }
        }
        Ok(())
    }

    /// Offers each free drive the scheduler's next mount.
    fn dispatch(&mut self) -> Result<(), SchedulerError> {
        for d in 0..self.drives.len() {
            if self.busy[d] {
                continue;
            }
            let name = format!("drive{d}");
            let mut mount = None;
            if self.user_turn[d] {
                mount = self.db.next_mount(HOST, &name, &self.policy.user_turn())?;
                self.user_turn[d] = mount.is_some();
            }
            if mount.is_none() {
                mount = self.db.next_mount(HOST, &name, &self.policy)?;
            }
            let Some(mount) = mount else {
                continue;
            };
            let activity = match mount.kind {
                MountKind::Migration => Activity::Archive,
                MountKind::Repack => Activity::Repack,
                MountKind::Verify => Activity::Verify,
                _ => Activity::Recall,
            };
            let t = self.now();
            let moved = self.robot(t, &mount.vid);
            let loaded = moved + self.p.load.as_secs_f64();
            self.tally.drives[d].mounting += loaded.min(self.limit) - t;
            self.tally.mount(activity.name());
            self.tally.sequence.push(super::report::MountRecord {
                at_s: t - self.start,
                drive: name.clone(),
                activity: activity.name().into(),
                vid: mount.vid.clone(),
            });
            self.busy[d] = true;
            self.drives[d] = Some(Mounted {
                step: Step::default(),
                drive: d,
                mount,
                activity,
                head: 0,
                loaded_at: loaded,
                idle_from: None,
                access: AccessOrder::new(self.p),
                recalls: Vec::new(),
                verify: None,
                unflushed: Vec::new(),
                unflushed_bytes: 0,
                archived: Vec::new(),
                recalled: Vec::new(),
            });
            self.push(loaded, What::Continue(d));
        }
        Ok(())
    }

    /// A robot move of `vid`'s cartridge starting no earlier than `t`; when
    /// it ends.
    fn robot(&mut self, t: f64, vid: &str) -> f64 {
        self.lib.move_cartridge(&mut self.robots, t, vid)
    }

    /// A drive's next step: report what came due, then take more work.
    fn step(&mut self, d: usize) -> Result<(), SchedulerError> {
        let Some(mut m) = self.drives[d].take() else {
            return Ok(());
        };
        self.settle(d, &mut m, 1.0);
        m.step.start = self.now();
        self.report(&mut m)?;
        let next = match m.activity {
            Activity::Archive => self.write(&mut m)?,
            Activity::Recall => self.read(&mut m, false)?,
            Activity::Repack => self.read(&mut m, true)?,
            Activity::Verify => self.verify(&mut m)?,
        };
        match next {
            Some(at) => {
                m.step.end = at;
                self.drives[d] = Some(m);
                self.push(at, What::Continue(d));
            }
            None => self.unmount(d, m)?,
        }
        Ok(())
    }

    /// Counts `share` of the step that just ended (or that the run's end
    /// cut short).
    fn settle(&mut self, d: usize, m: &mut Mounted, share: f64) {
        let step = std::mem::take(&mut m.step);
        let time = &mut self.tally.drives[d];
        time.positioning += step.positioning * share;
        time.streaming += step.streaming * share;
        self.tally.moved(
            m.activity.name(),
            (step.files as f64 * share) as u64,
            (step.bytes as f64 * share) as u64,
        );
    }

    fn report(&mut self, m: &mut Mounted) -> Result<(), SchedulerError> {
        if !m.archived.is_empty() {
            let files: Vec<ArchivedFile> = m.archived.iter().map(|(f, _)| f.clone()).collect();
            self.db.report_migration(
                m.mount.id,
                &m.mount.vid,
                &files,
                &[],
                &FileLimits::default(),
            )?;
            for (f, at) in m.archived.drain(..) {
                if let Some(arrived) = self.archive_arrival.remove(&f.file_id) {
                    self.tally.served("archive", arrived, at);
                }
            }
        }
        if !m.recalled.is_empty() {
            let ends: Vec<(u64, RecallEnd)> = m
                .recalled
                .iter()
                .map(|(id, _, _)| (*id, RecallEnd::Done))
                .collect();
            self.db.report_recalls(m.mount.id, &ends)?;
            for (id, at, _) in m.recalled.drain(..) {
                if let Some(arrived) = self.recall_arrival.remove(&id) {
                    self.tally.served("recall", arrived, at);
                }
            }
        }
        Ok(())
    }

    fn unmount(&mut self, d: usize, mut m: Mounted) -> Result<(), SchedulerError> {
        let t = self.now();
        self.settle(d, &mut m, 1.0);
        // Rates are of the time the tape worked: the lazy dismount's wait
        // at the end is the drive's idle time, not the transfer's.
        let worked = m.idle_from.unwrap_or(t);
        self.tally
            .mounted_for(m.activity.name(), worked - m.loaded_at);
        self.db.end_mount(m.mount.id)?;
        let unloaded = t + self.p.unload.as_secs_f64();
        let back = self.robot(unloaded, &m.mount.vid);
        self.tally.drives[d].unmounting += back.min(self.limit) - t;
        self.tally.end = self.tally.end.max(back);
        self.push(back, What::Unmounted(d));
        Ok(())
    }
}
