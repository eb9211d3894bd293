//! Liveness between tape servers sharing one scheduler: each renews a
//! lease on each of its drives; a server whose leases ran out is presumed
//! dead, and the first live server to notice has the library controller
//! put the dead drive's cartridge back home, then closes the mount (its
//! unreported work is requeued, its reported files stay reported). If the
//! cartridge cannot be moved, the work is requeued but the mount stays
//! open, holding the tape, for the dead server's own cleaner or an
//! operator: a cartridge is never given to a second drive while it may
//! still sit in the first.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use crate::library::MediaChanger;
use crate::library::client::ControllerClient;
use crate::scheduler::MountSelection;

pub struct Liveness {
    pub host: String,
    pub drives: Vec<String>,
    /// Each drive's LTO generation, kept with its lease.
    pub models: Vec<(String, Option<String>)>,
    /// `[verify] interval`: tapes not verified within it are queued.
    pub verify_interval: Option<Duration>,
    /// The repack buffer, moved on at every round and before every mount.
    pub repack: Option<crate::scheduler::RepackSettings>,
    pub ttl: Duration,
    pub changer: ControllerClient,
    next: Instant,
    /// Mounts whose cartridge could not be moved (logged once each).
    stuck: HashSet<u64>,
}

impl Liveness {
    pub fn new(
        host: String,
        drives: Vec<String>,
        ttl: Duration,
        changer: ControllerClient,
    ) -> Self {
        Self {
            host,
            verify_interval: None,
            repack: None,
            models: drives.iter().map(|d| (d.clone(), None)).collect(),
            drives,
            ttl,
            changer,
            next: Instant::now(),
            stuck: HashSet::new(),
        }
    }

    /// Tapes not verified within `interval` are queued (None: never).
    pub fn with_verify_interval(mut self, interval: Option<Duration>) -> Self {
        self.verify_interval = interval;
        self
    }

    /// Repacks are moved on with this buffer (its directory created).
    pub fn with_repack(mut self, settings: crate::scheduler::RepackSettings) -> Self {
        if let Err(e) = super::repack_buffer::prepare(&settings) {
            tracing::error!(dir = %settings.buffer_dir, error = %e, "cannot create the repack buffer directory");
        }
        self.repack = Some(settings);
        self
    }

    /// Moves the repacks on (reads done to the archive queues, new files
    /// into the buffer while it has room).
    pub fn advance_repacks(&self, db: &mut dyn MountSelection) {
        if let Some(settings) = &self.repack {
            super::repack_buffer::advance(db, settings);
        }
    }

    /// The drives' LTO generations (from the config).
    pub fn with_models(mut self, models: Vec<(String, Option<String>)>) -> Self {
        self.models = models;
        self
    }

    /// How long until the next round is due.
    pub fn due_in(&self) -> Duration {
        self.next.saturating_duration_since(Instant::now())
    }

    /// Renews this host's leases and reaps dead servers' mounts, if due.
    pub fn tick(&mut self, db: &mut dyn MountSelection) {
        if Instant::now() < self.next {
            return;
        }
        self.next = Instant::now() + self.ttl / 3;
        if let Err(e) = db.renew_leases(&self.host, &self.drives, self.ttl) {
            tracing::error!(error = %e, "cannot renew the drive leases");
            return;
        }
        if let Err(e) = db.set_drive_models(&self.host, &self.models) {
            tracing::error!(error = %e, "cannot record the drives' generations");
        }
        self.advance_repacks(db);
        if let Some(interval) = self.verify_interval {
            match db.queue_stale_verifications(interval) {
                Ok(0) => {}
                Ok(n) => tracing::info!(
                    tapes = n,
                    "tapes not verified within [verify] interval queued for verification"
                ),
                Err(e) => {
                    tracing::error!(error = %e, "cannot queue the tapes due for verification")
                }
            }
        }
        let expired = match db.expired_mounts(&self.host) {
            Ok(m) => m,
            Err(e) => {
                tracing::error!(error = %e, "cannot look for dead servers' mounts");
                return;
            }
        };
        for m in expired {
            match self.changer.dismount(&m.vid, &m.drive) {
                Ok(()) => match db.end_mount(m.id) {
                    Ok(()) => {
                        self.stuck.remove(&m.id);
                        tracing::warn!(mount = m.id, host = %m.host, drive = %m.drive, vid = %m.vid, "the server holding this mount stopped renewing its lease: its cartridge is home, the mount closed and its unreported work requeued");
                    }
                    Err(e) => {
                        tracing::error!(mount = m.id, error = %e, "cannot close a dead server's mount")
                    }
                },
                Err(e) => {
                    if self.stuck.insert(m.id) {
                        tracing::error!(mount = m.id, host = %m.host, drive = %m.drive, vid = %m.vid, error = %e, "a dead server's cartridge cannot be moved home: its work is requeued, the tape stays held until its server's cleaner or an operator closes the mount");
                        if let Err(e) = db.release_work_of_drive(&m.host, &m.drive) {
                            tracing::error!(error = %e, "cannot requeue the dead server's work");
                        }
                    }
                }
            }
        }
    }
}
