//! The site simulator (`tapesim run WORKLOAD`): the real scheduler, on a
//! virtual clock, drives simulated drives and robots that take the drive
//! time model's time, so a day of a site runs in seconds; the same
//! requests are then served by a FIFO baseline (one mount per request in
//! arrival order) and both are measured the same way. `docs/simulator.md`.

pub mod baseline;
mod engine;
pub mod place;
pub mod report;
pub mod workload;

use crate::scheduler::clock::{Clock, VirtualClock};
use crate::scheduler::{SchedulerError, SqlScheduler};
use place::Library;
use report::Report;
use workload::{Activity, Workload};

/// The virtual clock's start: 2026-01-01.
const EPOCH: f64 = 1_767_225_600.0;

#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error(transparent)]
    Scheduler(#[from] SchedulerError),
    #[error("{0}")]
    Workload(String),
}

/// xorshift64: reproducible from the workload's seed.
#[derive(Debug, Clone)]
pub struct Rng(pub u64);

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// Uniform in 0..n (0 when n is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next_u64() % n }
    }
}

/// One request of the workload, as both runs see it.
#[derive(Debug, Clone)]
pub struct Request {
    /// Seconds from the start.
    pub at: f64,
    pub activity: Activity,
    /// Archive: pool and size. Recall: the file. Verify, repack: the tape.
    pub pool: String,
    pub size: u64,
    pub file: u64,
    /// A recall of the `n`th file this run archived (the file is known
    /// once it is queued).
    pub archived: Option<usize>,
    pub vid: String,
}

/// Every request of the workload's streams, in arrival order.
pub fn requests(w: &Workload, lib: &Library) -> Vec<Request> {
    let mut rng = Rng(w.seed | 1);
    let mut out = Vec::new();
    for s in &w.requests {
        for i in 0..s.count {
            let r = Request {
                at: s.at.0.as_secs_f64() + s.every.0.as_secs_f64() * i as f64,
                activity: s.activity,
                pool: s.pool.clone(),
                size: s.size.0,
                file: 0,
                archived: None,
                vid: String::new(),
            };
            match s.activity {
                Activity::Archive => out.push(r),
                Activity::Recall if s.from == workload::Source::Archived => {
                    for k in 0..s.files {
                        let n = (s.skip + i * s.files + k) as usize;
                        out.push(Request {
                            archived: Some(n),
                            ..r.clone()
                        });
                    }
                }
                Activity::Recall => {
                    for file in lib.random_files(&mut rng, s.tapes, s.files) {
                        out.push(Request { file, ..r.clone() });
                    }
                }
                Activity::Verify | Activity::Repack => out.push(Request {
                    vid: lib.filled(i as usize),
                    ..r
                }),
            }
        }
    }
    out.sort_by(|a, b| a.at.total_cmp(&b.at));
    out
}

/// Opens the catalogue the run uses: SQLite in memory, or `url`.
fn catalogue(
    url: Option<&str>,
    clock: &VirtualClock,
) -> Result<Box<dyn crate::scheduler::Scheduler>, SimError> {
    let clock = Clock::Virtual(clock.clone());
    Ok(match url {
        Some(url) if crate::scheduler::is_postgres(url) => {
            Box::new(SqlScheduler::postgres_with_clock(url, None, clock)?)
        }
        Some(url) => {
            let path = url.strip_prefix("sqlite://").unwrap_or(url);
            Box::new(SqlScheduler::open_with_clock(
                std::path::Path::new(path),
                clock,
            )?)
        }
        None => Box::new(SqlScheduler::open_with_clock(
            std::path::Path::new(":memory:"),
            clock,
        )?),
    })
}

/// Runs the workload through the scheduler and through the baseline.
/// `url`: an empty catalogue to run on (default: SQLite in memory).
pub fn run(w: &Workload, url: Option<&str>) -> Result<Report, SimError> {
    let clock = VirtualClock::new(EPOCH);
    let mut db = catalogue(url, &clock)?;
    let profile = w.profile();
    let lib = Library::place(w, &profile, &mut *db)?;
    let requests = requests(w, &lib);
    let base = baseline::run(w, &lib, &requests);
    let tally = engine::Engine::new(w, db, clock, lib, requests)
        .map_err(SimError::Workload)?
        .run()?;
    let span = tally.end;
    Ok(Report {
        workload: w.name.clone(),
        model: profile.name.to_string(),
        drives: w.drives,
        figures: tally.figures(span),
        baseline: base,
    })
}
