//! What a session builds from its spec, once: its tuning, the file limits,
//! the test faults, and how it opens its drive, its changer and its
//! scheduler connections; and what every data session does with its mount
//! at the start (empty-mount protection) and at the end (closing it), and
//! its summary line. The session kinds take a [`SessionContext`];
//! `session::run` only builds it and dispatches.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::injector::{self, MoreWork, TaskInjector};
use super::status_reporter::{StatusHandle, StatusReporter};
use super::{SessionEnd, TapeStats};
use crate::faults::{SchedulerFaults, SessionFaults};
use crate::library::client::ControllerClient;
use crate::library::faulty_changer::FailingDismount;
use crate::library::{DriveRef, MediaChanger};
use crate::proto::session::{SessionSpec, SessionTuning};
use crate::scheduler::test_knobs::TestScheduler;
use crate::scheduler::{FileLimits, Scheduler, SchedulerError};
use crate::tape::faulty::{FaultyDrive, NullDrive};
use crate::tape::timed_drive::TimedDrive;
use crate::tape::{FileDrive, TapeDrive};

/// Opens the session's scheduler connections (each thread its own).
#[derive(Debug, Clone)]
pub struct SchedulerOpener {
    url: String,
    password_file: Option<PathBuf>,
    faults: SchedulerFaults,
}

impl SchedulerOpener {
    /// A connection, slowed or failing when a test asks.
    pub fn open(&self) -> Result<Box<dyn Scheduler>, SchedulerError> {
        let db = crate::scheduler::open_with(&self.url, self.password_file.as_deref())?;
        Ok(if self.faults.any() {
            Box::new(TestScheduler::new(db, &self.faults))
        } else {
            db
        })
    }
}

pub struct SessionContext {
    pub spec: SessionSpec,
    pub tuning: SessionTuning,
    /// How often a file may fail before it fails for good (the parent's
    /// policy; 0 in the spec means the default).
    pub limits: FileLimits,
    pub scheduler: SchedulerOpener,
    faults: SessionFaults,
}

impl SessionContext {
    pub fn new(spec: SessionSpec) -> Self {
        let tuning = spec.tuning.unwrap_or_default();
        let default = FileLimits::default();
        let limits = FileLimits {
            max_attempts: match tuning.max_file_attempts {
                0 => default.max_attempts,
                n => n,
            },
            max_end_of_medium: match tuning.max_end_of_medium {
                0 => default.max_end_of_medium,
                n => n,
            },
        };
        let faults = SessionFaults::decode(&spec.faults);
        let scheduler = SchedulerOpener {
            url: spec.scheduler_url.clone(),
            password_file: Some(&spec.scheduler_password_file)
                .filter(|p| !p.is_empty())
                .map(PathBuf::from),
            faults: faults.scheduler.clone(),
        };
        Self {
            spec,
            tuning,
            limits,
            scheduler,
            faults,
        }
    }

    /// A scheduler connection.
    pub fn open_scheduler(&self) -> Result<Box<dyn Scheduler>, SchedulerError> {
        self.scheduler.open()
    }

    /// The connections a data session uses: main thread, task injector,
    /// report packer.
    pub fn open_connections(&self) -> Result<[Box<dyn Scheduler>; 3], SessionEnd> {
        let open = || {
            self.open_scheduler()
                .map_err(|e| SessionEnd::DriveDown(format!("cannot open the scheduler: {e}")))
        };
        Ok([open()?, open()?, open()?])
    }

    /// The session's drive, from the kind and device in the spec (wrapped
    /// in the fault-injecting drive when a test asks).
    pub fn open_drive(&self) -> Box<dyn TapeDrive> {
        let spec = &self.spec;
        let file: Box<dyn TapeDrive> =
            Box::new(FileDrive::new(&spec.drive, Path::new(&spec.drive_device)));
        // A real drive takes its own time; a file-backed one the model's.
        let file = match crate::tape::time_model::profile(&spec.time_model) {
            Some(profile) if spec.drive_kind != "scsi" => {
                Box::new(TimedDrive::new(file, profile, spec.time_scale))
            }
            _ => file,
        };
        let drive: Box<dyn TapeDrive> = match spec.drive_kind.as_str() {
            "null" => Box::new(NullDrive::new(file)),
            "scsi" => Box::new(crate::tape::scsi_drive::ScsiDrive::open(
                &spec.drive,
                &spec.drive_device,
            )),
            _ => file,
        };
        let faults = &self.faults.drive;
        if faults.on_drive() {
            tracing::warn!(faults = ?faults, "test fault injection is active on this drive");
            return Box::new(FaultyDrive::new(drive, faults.clone()));
        }
        drive
    }

    /// The library controller's client for this session's drive (`drive`
    /// gives the serial number the controller may match it by).
    pub fn open_changer(&self, drive: &dyn TapeDrive) -> Box<dyn MediaChanger> {
        let spec = &self.spec;
        let serial = Some(drive.info().serial).filter(|s| !s.is_empty());
        let me = DriveRef {
            name: spec.drive.clone(),
            element: u16::try_from(spec.drive_element).ok().filter(|e| *e != 0),
            serial,
        };
        let ms = |v: u64, default: u64| Duration::from_millis(if v == 0 { default } else { v });
        let changer = Box::new(ControllerClient::new(
            spec.controllers.clone(),
            ms(spec.library_request_timeout_ms, 10_000),
            ms(spec.library_deadline_ms, 20 * 60_000),
            vec![me],
        ));
        if self.faults.drive.dismount_error {
            tracing::warn!("test fault injection: every dismount fails");
            return Box::new(FailingDismount::new(changer));
        }
        changer
    }

    /// Lazy dismount for a data session, if configured: after its last job
    /// it keeps the cartridge while requests for its tape (or pool) keep
    /// coming, up to `keep_mounted` without one.
    pub fn linger(&self) -> Option<injector::Linger> {
        if self.spec.keep_mounted_ms == 0 {
            return None;
        }
        let keep = Duration::from_millis(self.spec.keep_mounted_ms);
        let mount_id = self.spec.mount_id;
        let opener = self.scheduler.clone();
        // Its own connection, opened only if the session gets this far.
        let mut db: Option<Box<dyn Scheduler>> = None;
        Some(injector::Linger {
            keep,
            poll: injector::Linger::poll_for(keep),
            likely: Box::new(move || {
                let db = match &mut db {
                    Some(db) => db,
                    None => db.insert(opener.open()?),
                };
                Ok(db.queue_activity(mount_id)?.keeps_tape(keep.as_secs_f64()))
            }),
            stop: super::finish_flag().clone(),
        })
    }

    /// Runs a session's body inside its status reporter: the reporter
    /// starts first so the parent hears of the session at once, the error
    /// the body ends with (if any) is reported, and the last report leaves
    /// before exit.
    pub fn with_reporter(&self, body: impl FnOnce(&StatusHandle) -> SessionEnd) -> SessionEnd {
        let reporter = match StatusReporter::start(&self.spec) {
            Ok(r) => r,
            Err(e) => {
                return SessionEnd::DriveDown(format!(
                    "cannot reach the parent at {}: {e}",
                    self.spec.sessions_endpoint
                ));
            }
        };
        let status = reporter.handle();
        let end = body(&status);
        if let Some(reason) = end.reason() {
            status.error(reason.to_string());
        }
        drop(status);
        reporter.finish();
        end
    }

    /// Empty-mount protection: the first request for work, made before
    /// mounting. Err: the session ends unmounted, with no work (an empty
    /// mount) or without a scheduler.
    pub fn first_request<J, T, F, D>(
        &self,
        injector: &mut TaskInjector<J, T, F, D>,
        db: &mut dyn Scheduler,
    ) -> Result<(), SessionEnd>
    where
        F: FnMut(u64, u64) -> Result<Vec<J>, SchedulerError>,
        D: FnMut(J) -> T,
    {
        match injector.inject(MoreWork { last_call: false }) {
            Ok(0) => Err(self.empty_mount(db)),
            Ok(_) => Ok(()),
            Err(e) => Err(self.scheduler_unavailable(db, &e)),
        }
    }

    /// The first request for work, made before mounting, brought nothing.
    /// The tape is not mounted and the mount is closed.
    fn empty_mount(&self, db: &mut dyn Scheduler) -> SessionEnd {
        tracing::info!(vid = %self.spec.vid, pool = %self.spec.pool, "empty mount: no work for this mount, the tape is not mounted; its queue is not mounted again for a while");
        if let Err(e) = db.end_empty_mount(self.spec.mount_id) {
            tracing::error!(error = %e, "cannot close the mount");
        }
        SessionEnd::Done
    }

    /// Closes the session's mount (requeueing what it did not report) when
    /// the drive is known to be empty. Otherwise the cartridge may still be
    /// in the drive: the daemon closes the mount after a cleaner, or holds
    /// the tape.
    pub fn close_mount(&self, db: &mut dyn Scheduler, end: &SessionEnd) {
        if matches!(end, SessionEnd::DriveDown(_) | SessionEnd::NeedsCleaner(_)) {
            tracing::info!(
                mount = self.spec.mount_id,
                "the mount stays open for the daemon to close"
            );
            return;
        }
        if let Err(e) = db.end_mount(self.spec.mount_id) {
            tracing::error!(error = %e, "cannot close the mount; the daemon will on session exit");
        }
    }

    /// The first request for work failed: nothing is mounted, and the
    /// parent keeps the drive up but asks no mount for it for a while.
    pub fn scheduler_unavailable(
        &self,
        db: &mut dyn Scheduler,
        error: &SchedulerError,
    ) -> SessionEnd {
        if let Err(e) = db.end_mount(self.spec.mount_id) {
            tracing::warn!(error = %e, "cannot close the mount; the daemon will");
        }
        SessionEnd::SchedulerUnavailable(format!(
            "cannot fetch work from the scheduler, nothing was mounted: {error}"
        ))
    }

    /// One summary line per session, as operators grep for it.
    pub fn log_summary(
        &self,
        kind: &str,
        stats: &TapeStats,
        files_ok: u64,
        files_failed: u64,
        end: &SessionEnd,
        elapsed: Duration,
    ) {
        let secs = stats.transferring.as_secs_f64();
        tracing::info!(
            kind,
            vid = %self.spec.vid,
            drive = %self.spec.drive,
            files = files_ok,
            failed = files_failed,
            bytes = stats.bytes,
            mb_per_s = format!("{:.1}", crate::util::mb_per_s(stats.bytes, secs)),
            flushes = stats.flushes,
            errors = stats.errors,
            mount_s = format!("{:.3}", stats.mounting.as_secs_f64()),
            position_s = format!("{:.3}", stats.positioning.as_secs_f64()),
            transfer_s = format!("{secs:.3}"),
            wait_disk_s = format!("{:.3}", stats.waiting_disk.as_secs_f64()),
            wait_tape_s = format!("{:.3}", stats.waiting_tape.as_secs_f64()),
            unmount_s = format!("{:.3}", stats.unmounting.as_secs_f64()),
            total_s = format!("{:.3}", elapsed.as_secs_f64()),
            peak_rss_kib = crate::util::peak_rss_kib(),
            preempted = stats.yielded,
            exit = end.exit_code(),
            "session summary: {kind} of {} on {}: {files_ok} files, {} bytes, {:.1} MB/s, {} errors, exit {}",
            self.spec.vid,
            self.spec.drive,
            stats.bytes,
            crate::util::mb_per_s(stats.bytes, secs),
            stats.errors,
            end.exit_code()
        );
    }
}
