//! A session: the child process that runs one mount. It gets everything it
//! needs in its `SessionSpec` (it never reads the config file), opens its
//! own scheduler connections and ZMQ context, and runs the pipeline of
//! threads: tape thread, disk pool, task injector, report packer, status
//! reporter. Its exit code tells the parent what to do with the drive:
//! 0 drive up, 1 drive down, 2 run a cleaner.

pub mod beneath;
pub mod cleaner;
pub mod disk_read;
pub mod disk_write;
pub mod end;
pub mod injector;
pub mod label;
pub mod memory;
pub mod migration;
pub mod readtp;
pub mod recall;
pub mod report_packer;
pub mod staged_file;
pub mod status_reporter;
pub mod tape_mount;
pub mod tape_read;
pub mod tape_write;

use crate::faults::SessionFaults;
use crate::library::client::ControllerClient;
use crate::library::faulty_changer::FailingDismount;
use crate::library::{DriveRef, MediaChanger};
use crate::proto::session::{SessionKind, SessionSpec, SessionTuning};
use crate::scheduler::test_knobs::TestScheduler;
use crate::scheduler::{Scheduler, SchedulerError};
use crate::tape::faulty::{FaultyDrive, NullDrive};
use crate::tape::{FileDrive, TapeDrive};
use injector::{MoreWork, TaskInjector};
use status_reporter::{StatusHandle, StatusReporter};

pub use tape_mount::{SessionEnd, TapeStats};

/// The signal the daemon sends its sessions when it shuts down: a session
/// keeping its cartridge for more work (lazy dismount) ends at once. Its
/// default action is to ignore it, so a session not yet listening is not
/// killed by it.
pub const FINISH_SIGNAL: i32 = libc::SIGURG;

/// Set once the daemon asked this session to finish.
fn finish_flag() -> &'static std::sync::Arc<std::sync::atomic::AtomicBool> {
    static FLAG: std::sync::OnceLock<std::sync::Arc<std::sync::atomic::AtomicBool>> =
        std::sync::OnceLock::new();
    FLAG.get_or_init(Default::default)
}

/// Lazy dismount for a data session, if configured: after its last job
/// it keeps the cartridge while requests for its tape (or pool) keep
/// coming, up to `keep_mounted` without one.
pub(crate) fn linger(spec: &SessionSpec) -> Option<injector::Linger> {
    if spec.keep_mounted_ms == 0 {
        return None;
    }
    let keep = std::time::Duration::from_millis(spec.keep_mounted_ms);
    let mount_id = spec.mount_id;
    let spec = spec.clone();
    // Its own connection, opened only if the session gets this far.
    let mut db: Option<Box<dyn Scheduler>> = None;
    Some(injector::Linger {
        keep,
        poll: injector::Linger::poll_for(keep),
        likely: Box::new(move || {
            let db = match &mut db {
                Some(db) => db,
                None => db.insert(open_scheduler(&spec)?),
            };
            let (latest, now) = db.latest_request(mount_id)?;
            Ok(latest.is_some_and(|t| now - t < keep.as_secs_f64()))
        }),
        stop: finish_flag().clone(),
    })
}

/// Runs a session to its end and returns the process exit code.
pub fn run(spec: SessionSpec) -> i32 {
    if let Err(e) = signal_hook::flag::register(FINISH_SIGNAL, finish_flag().clone()) {
        tracing::warn!(error = %e, "cannot listen for the daemon's finish signal");
    }
    if !spec.key_file.is_empty() && !spec.controller_key.is_empty() {
        match crate::messaging::curve::KeyPair::load(std::path::Path::new(&spec.key_file)) {
            Ok(pair) => {
                crate::messaging::curve::set_client_keys(crate::messaging::curve::ClientKeys {
                    server: spec.controller_key.clone(),
                    pair,
                })
            }
            Err(e) => tracing::error!(error = %e, "cannot load this host's CURVE keys"),
        }
    }
    // Keys above are read as root (the key file is 0600); nothing after.
    if !spec.user.is_empty() {
        match crate::privileges::drop_to(&spec.user) {
            Ok(true) => tracing::info!(user = %spec.user, "session runs unprivileged"),
            Ok(false) => {}
            Err(e) => {
                tracing::error!(error = %e, "session refuses to run as root");
                return SessionEnd::DriveDown(format!("cannot drop privileges: {e}")).exit_code();
            }
        }
    }
    let kind = SessionKind::try_from(spec.kind)
        .map(|k| k.as_str_name().to_ascii_lowercase())
        .unwrap_or_default();
    let span = tracing::info_span!("session", drive = %spec.drive, vid = %spec.vid, session = %kind, mount = spec.mount_id, pid = std::process::id());
    let _enter = span.enter();
    let end = match SessionKind::try_from(spec.kind) {
        Ok(SessionKind::Migration) => migration::run(&spec),
        Ok(SessionKind::Recall) => recall::run(&spec),
        Ok(SessionKind::Cleaner) => cleaner::run(&spec),
        Ok(SessionKind::Label) => label::run(&spec),
        Ok(SessionKind::Readtp) => readtp::run(&spec),
        _ => SessionEnd::DriveDown(format!("unknown session kind {}", spec.kind)),
    };
    if let Some(reason) = end.reason() {
        tracing::error!(reason = %reason, exit = end.exit_code(), "session ends with an error");
    }
    end.exit_code()
}

/// Runs a session's body inside its status reporter: the reporter starts
/// first so the parent hears of the session at once, the error the body
/// ends with (if any) is reported, and the last report leaves before exit.
pub(crate) fn with_reporter(
    spec: &SessionSpec,
    body: impl FnOnce(&StatusHandle) -> SessionEnd,
) -> SessionEnd {
    let reporter = match StatusReporter::start(spec) {
        Ok(r) => r,
        Err(e) => {
            return SessionEnd::DriveDown(format!(
                "cannot reach the parent at {}: {e}",
                spec.sessions_endpoint
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

/// The connections a data session uses: main thread, task injector, report packer.
pub(crate) fn open_connections(spec: &SessionSpec) -> Result<[Box<dyn Scheduler>; 3], SessionEnd> {
    let open = || {
        open_scheduler(spec)
            .map_err(|e| SessionEnd::DriveDown(format!("cannot open the scheduler: {e}")))
    };
    Ok([open()?, open()?, open()?])
}

/// Empty-mount protection: the first request for work, made before
/// mounting. Err: the session ends unmounted, with no work (an empty mount)
/// or without a scheduler.
pub(crate) fn first_request<J, T, F, D>(
    injector: &mut TaskInjector<J, T, F, D>,
    spec: &SessionSpec,
    db: &mut dyn Scheduler,
) -> Result<(), SessionEnd>
where
    F: FnMut(u64, u64) -> Result<Vec<J>, SchedulerError>,
    D: FnMut(J) -> T,
{
    match injector.inject(MoreWork { last_call: false }) {
        Ok(0) => Err(empty_mount(spec, db)),
        Ok(_) => Ok(()),
        Err(e) => Err(scheduler_unavailable(spec, db, &e)),
    }
}

/// The first request for work, made before mounting, brought nothing. The
/// tape is not mounted and the mount is closed.
pub(crate) fn empty_mount(spec: &SessionSpec, db: &mut dyn Scheduler) -> SessionEnd {
    tracing::info!(vid = %spec.vid, pool = %spec.pool, "empty mount: no work for this mount, the tape is not mounted; its queue is not mounted again for a while");
    if let Err(e) = db.end_empty_mount(spec.mount_id) {
        tracing::error!(error = %e, "cannot close the mount");
    }
    SessionEnd::Done
}

/// Closes the session's mount (requeueing what it did not report) when the
/// drive is known to be empty. Otherwise the cartridge may still be in the
/// drive: the daemon closes the mount after a cleaner, or holds the tape.
pub(crate) fn close_mount(spec: &SessionSpec, db: &mut dyn Scheduler, end: &SessionEnd) {
    if matches!(end, SessionEnd::DriveDown(_) | SessionEnd::NeedsCleaner(_)) {
        tracing::info!(
            mount = spec.mount_id,
            "the mount stays open for the daemon to close"
        );
        return;
    }
    if let Err(e) = db.end_mount(spec.mount_id) {
        tracing::error!(error = %e, "cannot close the mount; the daemon will on session exit");
    }
}

/// The first request for work failed: nothing is mounted, and the parent
/// keeps the drive up but asks no mount for it for a while.
pub(crate) fn scheduler_unavailable(
    spec: &SessionSpec,
    db: &mut dyn Scheduler,
    error: &SchedulerError,
) -> SessionEnd {
    if let Err(e) = db.end_mount(spec.mount_id) {
        tracing::warn!(error = %e, "cannot close the mount; the daemon will");
    }
    SessionEnd::SchedulerUnavailable(format!(
        "cannot fetch work from the scheduler, nothing was mounted: {error}"
    ))
}

/// How often a file may fail before it fails for good (the parent's policy).
pub(crate) fn file_limits(spec: &SessionSpec) -> crate::scheduler::FileLimits {
    let t = tuning(spec);
    let default = crate::scheduler::FileLimits::default();
    crate::scheduler::FileLimits {
        max_attempts: if t.max_file_attempts == 0 {
            default.max_attempts
        } else {
            t.max_file_attempts
        },
        max_end_of_medium: if t.max_end_of_medium == 0 {
            default.max_end_of_medium
        } else {
            t.max_end_of_medium
        },
    }
}

pub(crate) fn tuning(spec: &SessionSpec) -> SessionTuning {
    spec.tuning.unwrap_or_default()
}

/// The session's drive, from the kind and device in the spec.
pub(crate) fn open_drive(spec: &SessionSpec) -> Box<dyn TapeDrive> {
    let file: Box<dyn TapeDrive> = Box::new(FileDrive::new(
        &spec.drive,
        std::path::Path::new(&spec.drive_device),
    ));
    let drive: Box<dyn TapeDrive> = match spec.drive_kind.as_str() {
        "null" => Box::new(NullDrive::new(file)),
        "scsi" => Box::new(crate::tape::scsi_drive::ScsiDrive::open(
            &spec.drive,
            &spec.drive_device,
        )),
        _ => file,
    };
    let faults = SessionFaults::decode(&spec.faults).drive;
    if faults.on_drive() {
        tracing::warn!(faults = ?faults, "test fault injection is active on this drive");
        return Box::new(FaultyDrive::new(drive, faults));
    }
    drive
}

/// Opens a scheduler connection, slowed down when the test knob asks.
pub(crate) fn open_scheduler(spec: &SessionSpec) -> Result<Box<dyn Scheduler>, SchedulerError> {
    let password_file = Some(&spec.scheduler_password_file)
        .filter(|p| !p.is_empty())
        .map(std::path::Path::new);
    let db = crate::scheduler::open_with(&spec.scheduler_url, password_file)?;
    let faults = SessionFaults::decode(&spec.faults).scheduler;
    Ok(if faults.any() {
        Box::new(TestScheduler::new(db, &faults))
    } else {
        db
    })
}

/// The library controller's client for this session's drive (`drive`
/// gives the serial number the controller may match it by).
pub(crate) fn open_changer(spec: &SessionSpec, drive: &dyn TapeDrive) -> Box<dyn MediaChanger> {
    let serial = Some(drive.info().serial).filter(|s| !s.is_empty());
    let me = DriveRef {
        name: spec.drive.clone(),
        element: u16::try_from(spec.drive_element).ok().filter(|e| *e != 0),
        serial,
    };
    let ms =
        |v: u64, default: u64| std::time::Duration::from_millis(if v == 0 { default } else { v });
    let changer = Box::new(ControllerClient::new(
        spec.controllers.clone(),
        ms(spec.library_request_timeout_ms, 10_000),
        ms(spec.library_deadline_ms, 20 * 60_000),
        vec![me],
    ));
    if SessionFaults::decode(&spec.faults).drive.dismount_error {
        tracing::warn!("test fault injection: every dismount fails");
        return Box::new(FailingDismount::new(changer));
    }
    changer
}

/// One summary line per session, as operators grep for it.
pub(crate) fn log_summary(
    kind: &str,
    spec: &SessionSpec,
    stats: &TapeStats,
    files_ok: u64,
    files_failed: u64,
    end: &SessionEnd,
    elapsed: std::time::Duration,
) {
    let secs = stats.transferring.as_secs_f64();
    tracing::info!(
        kind,
        vid = %spec.vid,
        drive = %spec.drive,
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
        exit = end.exit_code(),
        "session summary"
    );
}
