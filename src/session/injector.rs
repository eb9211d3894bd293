//! The task injector: asks the scheduler for work in bulk (at most
//! `bulk_files` files or `bulk_bytes` bytes) and pushes tasks to the tape
//! thread's FIFO (and, through `dispatch`, to the disk pool).
//!
//! The first request is synchronous and happens before mounting, so a mount
//! without work never happens. Afterwards the tape thread's [`WorkFeed`]
//! asks for more when half a bulk is left in its queue and makes a last call
//! when the queue is empty; the session ends when the last call brings
//! nothing. A scheduler error is never taken for "no work": before the
//! mount it ends the session unmounted, afterwards it stops the feed and
//! the feed says why.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, unbounded};

use crate::scheduler::SchedulerError;

/// What the consumer asks the injector for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MoreWork {
    pub last_call: bool,
}

/// What flows to the tape thread.
#[derive(Debug)]
pub enum Feed<T> {
    Work(T),
    /// A request was served (with or without work).
    Served,
    /// The last call brought nothing: the session ends.
    NoMoreWork,
    /// The scheduler failed: no more work will come.
    Failed(String),
}

/// Pulls scheduler work into tasks. `fetch(max_files, max_bytes)` asks the
/// scheduler; `dispatch` turns one job into the tape thread's task (and
/// queues its disk task as a side effect).
pub struct TaskInjector<J, T, F, D> {
    fetch: F,
    dispatch: D,
    linger: Option<Linger>,
    bulk_files: u64,
    bulk_bytes: u64,
    tape_tx: Sender<Feed<T>>,
    outstanding: Arc<AtomicBool>,
    _job: std::marker::PhantomData<J>,
}

impl<J, T, F, D> TaskInjector<J, T, F, D>
where
    F: FnMut(u64, u64) -> Result<Vec<J>, SchedulerError>,
    D: FnMut(J) -> T,
{
    /// Returns the injector and the tape thread's end of the FIFO.
    pub fn new(fetch: F, dispatch: D, bulk_files: u64, bulk_bytes: u64) -> (Self, WorkFeed<T>) {
        let (tape_tx, tape_rx) = unbounded();
        let (req_tx, req_rx) = unbounded();
        let outstanding = Arc::new(AtomicBool::new(false));
        let injector = Self {
            fetch,
            dispatch,
            linger: None,
            bulk_files,
            bulk_bytes,
            tape_tx,
            outstanding: outstanding.clone(),
            _job: std::marker::PhantomData,
        };
        let feed = WorkFeed {
            rx: tape_rx,
            req_tx,
            req_rx: Some(req_rx),
            outstanding,
            low_water: (bulk_files / 2) as usize,
            failure: None,
        };
        (injector, feed)
    }

    /// Lazy dismount: an empty last call does not end the session while
    /// `linger` says more work is likely.
    pub fn with_linger(mut self, linger: Linger) -> Self {
        self.linger = Some(linger);
        self
    }

    /// One request to the scheduler; returns how many tasks it injected.
    pub fn inject(&mut self, request: MoreWork) -> Result<usize, SchedulerError> {
        let jobs = (self.fetch)(self.bulk_files, self.bulk_bytes).inspect_err(|e| {
            tracing::error!(error = %e, last_call = request.last_call, "task injector: cannot fetch work");
        })?;
        let n = jobs.len();
        for job in jobs {
            let task = (self.dispatch)(job);
            if self.tape_tx.send(Feed::Work(task)).is_err() {
                break;
            }
        }
        tracing::debug!(
            files = n,
            last_call = request.last_call,
            "task injector: injected"
        );
        Ok(n)
    }

    /// Serves requests until the last call brings nothing or the tape thread goes away.
    pub fn run(mut self, requests: Receiver<MoreWork>) {
        while let Ok(request) = requests.recv() {
            let mut result = self.inject(request);
            if matches!(result, Ok(0)) && request.last_call {
                result = self.linger();
            }
            let (marker, end) = match result {
                Ok(0) if request.last_call => (Feed::NoMoreWork, true),
                Ok(_) => (Feed::Served, false),
                Err(e) => (Feed::Failed(e.to_string()), true),
            };
            self.outstanding.store(false, Ordering::Release);
            if self.tape_tx.send(marker).is_err() || end {
                break;
            }
        }
    }

    /// Keeps asking while more work is likely and the cartridge may stay;
    /// returns what the first fruitful request injected (0: none came).
    fn linger(&mut self) -> Result<usize, SchedulerError> {
        let Some(mut linger) = self.linger.take() else {
            return Ok(0);
        };
        let since = Instant::now();
        let mut result = Ok(0);
        while since.elapsed() < linger.keep && !linger.stop.load(Ordering::Acquire) {
            match (linger.likely)() {
                Ok(true) => {}
                Ok(false) => break,
                Err(e) => {
                    result = Err(e);
                    break;
                }
            }
            std::thread::sleep(linger.poll);
            match self.inject(MoreWork { last_call: true }) {
                Ok(0) => continue,
                other => {
                    result = other;
                    break;
                }
            }
        }
        if matches!(result, Ok(0)) {
            tracing::info!(
                waited_s = since.elapsed().as_secs_f64(),
                "no more work came: the cartridge is released"
            );
        }
        self.linger = Some(linger);
        result
    }
}

/// How a session keeps its cartridge after its last job (lazy dismount).
pub struct Linger {
    /// How long to keep it without work.
    pub keep: Duration,
    /// How often to ask the scheduler meanwhile.
    pub poll: Duration,
    /// Asked before each wait: is more work for this tape or pool likely
    /// (a request for it came recently)?
    pub likely: Box<dyn FnMut() -> Result<bool, SchedulerError> + Send>,
    /// Set when the daemon shuts down: the session ends now.
    pub stop: Arc<AtomicBool>,
}

impl Linger {
    /// The poll interval for a keep time: a quarter of it, 50 ms to 1 s.
    pub fn poll_for(keep: Duration) -> Duration {
        (keep / 4).clamp(Duration::from_millis(50), Duration::from_secs(1))
    }
}

/// The tape thread's end of the task FIFO: it asks for more on its own.
pub struct WorkFeed<T> {
    rx: Receiver<Feed<T>>,
    req_tx: Sender<MoreWork>,
    req_rx: Option<Receiver<MoreWork>>,
    outstanding: Arc<AtomicBool>,
    low_water: usize,
    failure: Option<String>,
}

impl<T> WorkFeed<T> {
    /// Why the feed stopped early, if the scheduler failed.
    pub fn failure(&self) -> Option<&str> {
        self.failure.as_deref()
    }

    /// The injector thread's request channel (taken once).
    pub fn take_requests(&mut self) -> Option<Receiver<MoreWork>> {
        self.req_rx.take()
    }

    /// Tasks queued now (not counting markers exactly; for thresholds).
    pub fn queued(&self) -> usize {
        self.rx.len()
    }

    fn request(&self, last_call: bool) {
        if !self.outstanding.swap(true, Ordering::AcqRel) {
            // The injector may already be gone at the end of a session.
            let _ = self.req_tx.send(MoreWork { last_call });
        }
    }

    /// The next task, or None when the session has no more work.
    pub fn next_task(&mut self) -> Option<T> {
        self.next_task_or_idle(|| Ok::<(), std::convert::Infallible>(()))
            .unwrap_or_else(|never| match never {})
    }

    /// `next_task`, calling `idle` whenever it is about to wait with
    /// nothing queued: the wait may be a scheduler round trip or a whole
    /// lazy-dismount linger, so the caller settles what it holds first.
    /// An `idle` error is returned at once.
    pub fn next_task_or_idle<E>(
        &mut self,
        mut idle: impl FnMut() -> Result<(), E>,
    ) -> Result<Option<T>, E> {
        Ok(loop {
            // An empty queue always has a request in flight: the last call
            // if nothing else is outstanding, so blocking below is safe.
            match self.rx.len() {
                0 => self.request(true),
                n if n <= self.low_water => self.request(false),
                _ => {}
            }
            if self.rx.is_empty() {
                idle()?;
            }
            match self.rx.recv() {
                Ok(Feed::Work(task)) => break Some(task),
                Ok(Feed::Served) => continue,
                Ok(Feed::Failed(reason)) => {
                    self.failure = Some(reason);
                    break None;
                }
                Ok(Feed::NoMoreWork) | Err(_) => break None,
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// A scheduler with `total` jobs that records each request's size.
    fn fake(
        total: u64,
        log: Arc<Mutex<Vec<u64>>>,
    ) -> impl FnMut(u64, u64) -> Result<Vec<u64>, SchedulerError> {
        let mut next = 0;
        move |max_files, _| {
            let n = max_files.min(total - next);
            log.lock().unwrap().push(n);
            let jobs = (next..next + n).collect();
            next += n;
            Ok(jobs)
        }
    }

    #[test]
    fn empty_first_request_means_no_mount() {
        let log = Arc::new(Mutex::new(Vec::new()));
        let (mut injector, _feed) = TaskInjector::new(fake(0, log.clone()), |j| j, 10, u64::MAX);
        assert_eq!(injector.inject(MoreWork { last_call: false }).unwrap(), 0);
    }

    #[test]
    fn asks_again_at_half_and_ends_on_an_empty_last_call() {
        let log = Arc::new(Mutex::new(Vec::new()));
        let (mut injector, mut feed) =
            TaskInjector::new(fake(25, log.clone()), |j| j, 10, u64::MAX);
        assert_eq!(injector.inject(MoreWork { last_call: false }).unwrap(), 10);
        let requests = feed.take_requests().unwrap();
        let thread = std::thread::spawn(move || injector.run(requests));
        let mut seen = Vec::new();
        let mut queued_when_asked = Vec::new();
        while let Some(job) = feed.next_task() {
            queued_when_asked.push(feed.queued());
            seen.push(job);
        }
        thread.join().unwrap();
        assert_eq!(
            seen,
            (0..25).collect::<Vec<_>>(),
            "every job once, in order"
        );
        let log = log.lock().unwrap();
        assert_eq!(log[0], 10, "first bulk");
        assert_eq!(log.iter().sum::<u64>(), 25);
        assert_eq!(*log.last().unwrap(), 0, "ended by an empty request");
        assert!(
            log.iter().all(|&n| n <= 10),
            "never more than a bulk: {log:?}"
        );
    }

    #[test]
    fn bulk_bytes_are_passed_to_the_scheduler() {
        let asked = Arc::new(Mutex::new(None));
        let a = asked.clone();
        let fetch = move |files, bytes| {
            *a.lock().unwrap() = Some((files, bytes));
            Ok(Vec::<u64>::new())
        };
        let (mut injector, _feed) = TaskInjector::new(fetch, |j| j, 7, 1234);
        injector.inject(MoreWork { last_call: true }).unwrap();
        assert_eq!(*asked.lock().unwrap(), Some((7, 1234)));
    }

    /// Hole 14: an error is not "no work".
    #[test]
    fn a_scheduler_error_is_reported_not_taken_for_no_work() {
        let (mut injector, _feed) = TaskInjector::new(
            |_, _| Err::<Vec<u64>, _>(SchedulerError::Invalid("down".into())),
            |j| j,
            4,
            u64::MAX,
        );
        assert!(injector.inject(MoreWork { last_call: false }).is_err());
    }

    #[test]
    fn a_scheduler_error_later_stops_the_feed_and_says_why() {
        let mut calls = 0;
        let fetch = move |_, _| {
            calls += 1;
            match calls {
                1 => Ok(vec![1u64, 2]),
                _ => Err(SchedulerError::Invalid("connection lost".into())),
            }
        };
        let (mut injector, mut feed) = TaskInjector::new(fetch, |j| j, 4, u64::MAX);
        assert_eq!(injector.inject(MoreWork { last_call: false }).unwrap(), 2);
        let requests = feed.take_requests().unwrap();
        let thread = std::thread::spawn(move || injector.run(requests));
        assert_eq!(feed.next_task(), Some(1));
        assert_eq!(feed.next_task(), Some(2));
        assert_eq!(feed.next_task(), None);
        assert!(feed.failure().unwrap().contains("connection lost"));
        thread.join().unwrap();
    }
}
