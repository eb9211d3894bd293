//! The optional Prometheus endpoint (`[metrics] listen`, loopback by
//! default): drive states, bytes and files moved, sessions by kind and end,
//! mount and positioning times, watchdog kills (kept by the event loop as
//! things happen), and, read at each scrape, queues per pool, tapes per
//! state and the controller's changer paths. OpenMetrics text from the
//! `prometheus-client` crate, served over HTTP by `http` (bounded workers,
//! deadlines, GET only).

use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use super::catalogue::{Catalogue, DriveState};
use crate::proto::session::{SessionKind, SessionState};
use crate::scheduler::{MountKind, Scheduler, TapeState};
use crate::session::end::EndKind;

type Labels = Vec<(String, String)>;

fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

const DRIVE_STATES: [DriveState; 7] = [
    DriveState::Down,
    DriveState::Up,
    DriveState::Starting,
    DriveState::Running,
    DriveState::Draining,
    DriveState::Cleaning,
    DriveState::ShuttingDown,
];

/// What the loop saw of a drive's session at its last look.
#[derive(Debug, Clone, Copy)]
struct Seen {
    pid: Option<i32>,
    bytes: u64,
    files: u64,
    substate: SessionState,
    since: Instant,
}

pub struct Metrics {
    registry: Registry,
    drive_state: Family<Labels, Gauge>,
    bytes: Family<Labels, Counter>,
    files: Family<Labels, Counter>,
    sessions: Family<Labels, Counter>,
    mount_seconds: Histogram,
    positioning_seconds: Histogram,
    watchdog_kills: Counter,
    preemptions: Counter,
    evicted_files: Counter,
    evicted_bytes: Counter,
    buffer_bytes: Family<Labels, Gauge>,
    queue_files: Family<Labels, Gauge>,
    queue_bytes: Family<Labels, Gauge>,
    queue_oldest: Family<Labels, Gauge<f64, AtomicU64>>,
    tapes: Family<Labels, Gauge>,
    paths: Family<Labels, Gauge>,
    path_moves: Family<Labels, Gauge>,
    path_move_seconds: Family<Labels, Gauge<f64, AtomicU64>>,
    seen: Mutex<HashMap<String, Seen>>,
    /// Each drive's state at the last look: its gauges change only with it.
    states: Mutex<HashMap<String, DriveState>>,
}

impl Metrics {
    pub fn new() -> Arc<Self> {
        let mut registry = Registry::with_prefix("tapeserver");
        let times = || Histogram::new(exponential_buckets(0.5, 2.0, 12));
        let m = Self {
            registry: Registry::default(),
            drive_state: Family::default(),
            bytes: Family::default(),
            files: Family::default(),
            sessions: Family::default(),
            mount_seconds: times(),
            positioning_seconds: times(),
            watchdog_kills: Counter::default(),
            preemptions: Counter::default(),
            evicted_files: Counter::default(),
            evicted_bytes: Counter::default(),
            buffer_bytes: Family::default(),
            queue_files: Family::default(),
            queue_bytes: Family::default(),
            queue_oldest: Family::default(),
            tapes: Family::default(),
            paths: Family::default(),
            path_moves: Family::default(),
            path_move_seconds: Family::default(),
            seen: Mutex::new(HashMap::new()),
            states: Mutex::new(HashMap::new()),
        };
        registry.register(
            "drive_state",
            "1 for each drive's current state",
            m.drive_state.clone(),
        );
        registry.register(
            "moved_bytes",
            "Bytes moved by sessions, per drive and kind",
            m.bytes.clone(),
        );
        registry.register(
            "moved_files",
            "Files moved by sessions, per drive and kind",
            m.files.clone(),
        );
        registry.register(
            "sessions",
            "Sessions ended, by kind and end",
            m.sessions.clone(),
        );
        registry.register(
            "mount_seconds",
            "Time sessions spent mounting (library move and load)",
            m.mount_seconds.clone(),
        );
        registry.register(
            "positioning_seconds",
            "Time sessions spent positioning the tape",
            m.positioning_seconds.clone(),
        );
        registry.register(
            "watchdog_kills",
            "Sessions the watchdog killed",
            m.watchdog_kills.clone(),
        );
        registry.register(
            "preemptions",
            "Background sessions asked to yield their drive to user work",
            m.preemptions.clone(),
        );
        registry.register(
            "buffer_evicted_files",
            "Disk copies the buffer's collector evicted",
            m.evicted_files.clone(),
        );
        registry.register(
            "buffer_evicted_bytes",
            "Bytes of disk copies the buffer's collector evicted",
            m.evicted_bytes.clone(),
        );
        registry.register(
            "buffer_bytes",
            "The disk buffer: capacity, used, and bytes pinned, not yet on tape, reserved for recalls, evicted",
            m.buffer_bytes.clone(),
        );
        registry.register(
            "queue_files",
            "Queued files per pool (or tape) and activity",
            m.queue_files.clone(),
        );
        registry.register(
            "queue_bytes",
            "Queued bytes per pool (or tape) and activity",
            m.queue_bytes.clone(),
        );
        registry.register(
            "queue_oldest_seconds",
            "Age of the oldest queued request per pool (or tape) and activity",
            m.queue_oldest.clone(),
        );
        registry.register("tapes", "Tapes per state", m.tapes.clone());
        registry.register(
            "controller_path_up",
            "1 for a changer path in service, per path and state",
            m.paths.clone(),
        );
        registry.register(
            "controller_path_moves",
            "Moves each changer path completed since its controller started",
            m.path_moves.clone(),
        );
        registry.register(
            "controller_path_move_seconds",
            "Seconds each changer path's completed moves took in all (divide by the moves for the mean)",
            m.path_move_seconds.clone(),
        );
        Arc::new(Self { registry, ..m })
    }

    /// The loop's look at its drives, each turn: states, and what sessions
    /// moved and how long they mounted and positioned since the last look.
    pub fn observe(&self, catalogue: &Catalogue, now: Instant) {
        let (Ok(mut seen), Ok(mut states)) = (self.seen.lock(), self.states.lock()) else {
            return;
        };
        for drive in catalogue.drives() {
            let name = drive.config.name.as_str();
            if states.insert(name.to_string(), drive.state) != Some(drive.state) {
                for state in DRIVE_STATES {
                    let value = i64::from(drive.state == state);
                    self.drive_state
                        .get_or_create(&labels(&[("drive", name), ("state", state.as_str())]))
                        .set(value);
                }
            }
            let Some(session) = &drive.session else {
                seen.remove(name);
                continue;
            };
            let kind = super::catalogue::kind_name(session.kind);
            let last = seen.get(name).copied().filter(|s| s.pid == session.pid);
            let (bytes, files) = last.map_or((0, 0), |s| (s.bytes, s.files));
            let key = labels(&[("drive", name), ("kind", kind)]);
            self.bytes
                .get_or_create(&key)
                .inc_by(session.bytes.saturating_sub(bytes));
            self.files
                .get_or_create(&key)
                .inc_by(session.files.saturating_sub(files));
            if let Some(last) = last
                && last.substate != session.substate
            {
                let spent = now.saturating_duration_since(last.since).as_secs_f64();
                match last.substate {
                    SessionState::Mounting => self.mount_seconds.observe(spent),
                    SessionState::Positioning => self.positioning_seconds.observe(spent),
                    _ => {}
                }
            }
            let since = match last {
                Some(l) if l.substate == session.substate => l.since,
                _ => now,
            };
            seen.insert(
                name.to_string(),
                Seen {
                    pid: session.pid,
                    bytes: session.bytes.max(bytes),
                    files: session.files.max(files),
                    substate: session.substate,
                    since,
                },
            );
        }
    }

    pub fn session_ended(&self, kind: SessionKind, end: EndKind) {
        let kind = super::catalogue::kind_name(kind);
        self.sessions
            .get_or_create(&labels(&[("kind", kind), ("end", end.as_str())]))
            .inc();
    }

    pub fn watchdog_killed(&self) {
        self.watchdog_kills.inc();
    }

    fn scrape_buffer(&self, db: &mut dyn Scheduler, path: &std::path::Path) {
        let (Ok(space), Ok(u)) = (
            crate::disk_buffer::Space::of(path),
            db.buffer_usage(&path.display().to_string()),
        ) else {
            return;
        };
        for (what, n) in [
            ("capacity", space.capacity),
            ("used", space.used),
            ("pinned", u.pinned_bytes),
            ("not_on_tape", u.unmigrated_bytes),
            ("reserved", u.reserved_bytes),
            ("evicted", u.evicted_bytes),
        ] {
            self.buffer_bytes
                .get_or_create(&labels(&[("what", what)]))
                .set(n as i64);
        }
    }

    /// The collector evicted a disk copy.
    pub fn evicted(&self, bytes: u64) {
        self.evicted_files.inc();
        self.evicted_bytes.inc_by(bytes);
    }

    pub fn preempted(&self) {
        self.preemptions.inc();
    }

    /// Reads what lives in the catalogue and the library, then encodes all.
    fn scrape(
        &self,
        db: Option<&mut Box<dyn Scheduler>>,
        library: &crate::library::client::ControllerClient,
        buffer: Option<&std::path::Path>,
    ) -> String {
        if let Some(db) = db {
            if let Some(path) = buffer {
                self.scrape_buffer(&mut **db, path);
            }
            if let Ok(queues) = db.queues() {
                self.queue_files.clear();
                self.queue_bytes.clear();
                self.queue_oldest.clear();
                for q in queues {
                    let activity = match q.kind {
                        MountKind::Recall => "recall",
                        _ => "archive",
                    };
                    let key = labels(&[
                        ("pool", &q.pool),
                        ("vid", q.vid.as_deref().unwrap_or("")),
                        ("activity", activity),
                    ]);
                    self.queue_files.get_or_create(&key).set(q.files as i64);
                    self.queue_bytes.get_or_create(&key).set(q.bytes as i64);
                    self.queue_oldest.get_or_create(&key).set(q.oldest_age);
                }
            }
            if let Ok(tapes) = db.tapes() {
                let mut counts: HashMap<TapeState, i64> =
                    TapeState::ALL.iter().map(|s| (*s, 0)).collect();
                for t in tapes {
                    *counts.entry(t.state).or_default() += 1;
                }
                for (state, n) in counts {
                    self.tapes
                        .get_or_create(&labels(&[("state", state.as_str())]))
                        .set(n);
                }
            }
        }
        if let Ok((_, status)) = library.status_report() {
            self.paths.clear();
            for p in status.paths {
                self.paths
                    .get_or_create(&labels(&[("path", &p.device), ("state", &p.state)]))
                    .set(i64::from(p.state == "ok"));
                let key = labels(&[("path", &p.device)]);
                self.path_moves.get_or_create(&key).set(p.moves as i64);
                self.path_move_seconds
                    .get_or_create(&key)
                    .set(p.move_seconds);
            }
        }
        let mut text = String::new();
        if let Err(e) = encode(&mut text, &self.registry) {
            tracing::warn!(error = %e, "cannot encode the metrics");
        }
        text
    }
}

/// Serves `/metrics` on `listen` (see `http`), with its own catalogue
/// connection (opened at the first scrape that can; a PostgreSQL
/// connection replaces itself when the server ended it). Scrapes are taken
/// one at a time.
pub fn serve(
    metrics: Arc<Metrics>,
    listen: &str,
    config: crate::config::Config,
    library: crate::library::client::ControllerClient,
) -> std::io::Result<()> {
    let listener = std::net::TcpListener::bind(listen)?;
    let buffer = crate::disk_buffer::path(&config);
    tracing::info!(listen, "metrics endpoint ready");
    let state: Mutex<(
        Option<Box<dyn Scheduler>>,
        crate::library::client::ControllerClient,
    )> = Mutex::new((None, library));
    http::serve(
        listener,
        Arc::new(move || {
            let mut guard = state.lock().unwrap_or_else(|p| p.into_inner());
            let (db, library) = &mut *guard;
            if db.is_none() {
                *db = crate::settings::open_scheduler(&config).ok();
            }
            metrics.scrape(db.as_mut(), library, buffer.as_deref())
        }),
    )
}

pub mod http;
