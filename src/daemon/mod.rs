//! The parent daemon (`tapeserverd run`): forks the forker before anything
//! else, recovers mounts a previous run left open, binds its sockets,
//! starts the frontend and scheduler threads and runs the event loop.

pub mod admin;
pub mod buffer_collector;
pub mod catalogue;
pub mod drives_down;
pub mod event_loop;
mod eviction;
pub mod forker;
pub mod frontend;
pub mod init;
pub mod library_worker;
pub mod liveness;
pub mod messages;
pub mod metrics;
pub mod reload;
mod repack_buffer;
mod root_setup;
pub mod scheduler_thread;
pub mod watchdog;

use std::os::unix::net::UnixStream;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use crossbeam_channel::unbounded;

use crate::config::{Config, DriveKind};
use crate::messaging::curve;
use crate::proto::session::{SessionKind, SessionSpec, SessionTuning};
use crate::scheduler;
use event_loop::{EventLoop, LoopEnd, LoopIo};
use messages::LoopWaker;

#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error(transparent)]
    Forker(#[from] forker::ForkerError),
    #[error(transparent)]
    Scheduler(#[from] scheduler::SchedulerError),
    #[error("{path}: {source}")]
    Dir {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: refused: {why}")]
    UnsafeDir {
        path: std::path::PathBuf,
        why: String,
    },
    #[error("cannot bind {endpoint}: {source}")]
    Bind {
        endpoint: String,
        source: zmq::Error,
    },
    #[error("ZMQ: {0}")]
    Zmq(#[from] zmq::Error),
    #[error("cannot set up signal handling: {0}")]
    Signals(std::io::Error),
    #[error("another tapeserverd already serves {0}")]
    AlreadyRunning(String),
    #[error("library: {0}")]
    Library(#[from] crate::library::ChangerError),
    #[error("library controller: {0}")]
    Controller(#[from] crate::library::controller::ControllerError),
    #[error(transparent)]
    Curve(#[from] crate::messaging::curve::CurveError),
    #[error(
        "endpoints.sessions = {0}: session processes run on this host; use an ipc:// endpoint (a TCP port, even on loopback, is open to every user of the host)"
    )]
    RemoteSessions(String),
    #[error("security.admin_group: {0}")]
    AdminGroup(String),
    #[error("security.user: {0}")]
    SessionUser(String),
    #[error("metrics.listen = {0}: {1}")]
    Metrics(String, std::io::Error),
    #[error("cannot start a thread: {0}")]
    Thread(std::io::Error),
    #[error(
        "{0}: an abstract socket has no permissions (anyone on the host could connect): use ipc://PATH"
    )]
    AbstractSocket(String),
    #[error(
        "drive {drive} is driven by host {host} (its lease runs {seconds} s more): two hosts must never drive one drive; give this host its own drives, or stop {host}'s daemon first"
    )]
    DriveOfAnotherHost {
        drive: String,
        host: String,
        seconds: u64,
    },
}

/// While the library cannot say what a drive holds, it is asked again this
/// often.
const LIBRARY_RETRY: std::time::Duration = std::time::Duration::from_secs(2);

/// Runs the daemon until SIGTERM/SIGINT; returns the process exit code.
pub fn run(config: Config, config_path: &Path) -> Result<i32, DaemonError> {
    let host = config.host();
    // Root's part ends here: from now on the daemon is the service user.
    if let Some(user) = root_setup::prepare(&config)? {
        tracing::info!(user = %user, "started by root: the daemon now runs as {user}");
    } else if nix::unistd::geteuid().is_root() {
        tracing::warn!(
            "tapeserverd runs as root: set [security] user to run it (and its sessions) as a service user"
        );
    }
    root_setup::warn_unprotected_hardlinks();
    refuse_second_daemon(&config.admin_endpoint())?;
    // Fork first: the process has no thread and no ZMQ context yet.
    let forker = forker::spawn()?;
    refuse_drives_of_another_host(&config, &host)?;
    warn_unwritable_recall_roots(&config);
    tracing::info!(host = %host, forker = forker.pid.as_raw(), drives = config.drives.len(), "tapeserverd starting");
    let faulty: Vec<&str> = config
        .drives
        .iter()
        .filter(|d| d.faults.is_some())
        .map(|d| d.name.as_str())
        .collect();
    if !faulty.is_empty() || config.test_faults.any() {
        tracing::warn!(drives = ?faulty, scheduler = config.test_faults.any(), "test faults are configured: this daemon is a test's, not a site's");
    }

    // The embedded controller, unless tlcd instances serve the library.
    let controller = if config.library.controllers.is_empty() {
        Some(start_controller(&config)?)
    } else {
        None
    };
    let ctx = zmq::Context::new();
    let keys = config.security.key_pair()?;
    if let (Some(server), Some(pair)) = (&config.library.controller_key, &keys) {
        curve::set_client_keys(curve::ClientKeys {
            server: server.clone(),
            pair: pair.clone(),
        });
    }
    if !curve::is_ipc(&config.sessions_endpoint()) {
        return Err(DaemonError::RemoteSessions(config.sessions_endpoint()));
    }
    let on_tcp = [config.admin_endpoint(), config.stager_endpoint()]
        .iter()
        .any(|e| !curve::is_ipc(e));
    if on_tcp {
        curve::start_authenticator(&ctx, &config.security.client_keys())?;
    }
    let bind = |kind, endpoint: String, max_size: i64| -> Result<zmq::Socket, DaemonError> {
        remove_stale_ipc(&endpoint);
        let socket = ctx.socket(kind)?;
        socket.set_linger(0)?;
        // A message over the limit is refused by libzmq before it is read
        // in whole (the peer is disconnected), never decoded.
        socket.set_maxmsgsize(max_size)?;
        curve::secure_daemon_server(&socket, &endpoint, keys.as_ref())?;
        socket.bind(&endpoint).map_err(|source| DaemonError::Bind {
            endpoint: endpoint.clone(),
            source,
        })?;
        Ok(socket)
    };
    let sessions = bind(zmq::ROUTER, config.sessions_endpoint(), MAX_SESSION_MESSAGE)?;
    let admin = bind(zmq::ROUTER, config.admin_endpoint(), MAX_ADMIN_MESSAGE)?;
    let stager = bind(zmq::ROUTER, config.stager_endpoint(), MAX_STAGER_MESSAGE)?;
    // Whatever the umask: the owner and its group (tape, under systemd)
    // use the sockets, nobody else. The admin group may also use the admin
    // and stager sockets.
    for endpoint in [
        config.sessions_endpoint(),
        config.admin_endpoint(),
        config.stager_endpoint(),
    ] {
        restrict_ipc(&endpoint, 0o660)?;
    }
    if let Some(group) = &config.security.admin_group {
        admin_group(&config.admin_endpoint(), group)?;
        admin_group(&config.stager_endpoint(), group)?;
    }

    let (term_rx, term_tx) = UnixStream::pair().map_err(DaemonError::Signals)?;
    let (hup_rx, hup_tx) = UnixStream::pair().map_err(DaemonError::Signals)?;
    let (wake_rx, wake_tx) = UnixStream::pair().map_err(DaemonError::Signals)?;
    for s in [&term_rx, &hup_rx, &wake_rx, &wake_tx] {
        s.set_nonblocking(true).map_err(DaemonError::Signals)?;
    }
    let term_tx2 = term_tx.try_clone().map_err(DaemonError::Signals)?;
    signal_hook::low_level::pipe::register(libc::SIGTERM, term_tx).map_err(DaemonError::Signals)?;
    signal_hook::low_level::pipe::register(libc::SIGINT, term_tx2).map_err(DaemonError::Signals)?;
    signal_hook::low_level::pipe::register(libc::SIGHUP, hup_tx).map_err(DaemonError::Signals)?;

    let (to_loop_tx, to_loop_rx) = unbounded();
    let waker = LoopWaker::new(to_loop_tx, wake_tx);
    let scheduler = scheduler_thread::SchedulerHandle::spawn(
        crate::settings::open_scheduler(&config)?,
        host.clone(),
        waker.clone(),
        liveness::Liveness::new(
            host.clone(),
            config.drives.iter().map(|d| d.name.clone()).collect(),
            config.scheduler.drive_lease.0,
            library_client(&config),
        )
        .with_models(drive_models(&config))
        .with_verify_interval(config.verify.interval.map(|i| i.0))
        .with_repack(repack_buffer::settings(&config)),
    )
    .map_err(DaemonError::Thread)?;
    let library =
        library_worker::LibraryWorker::start(library_client(&config), waker.clone(), LIBRARY_RETRY)
            .map_err(DaemonError::Thread)?;
    let (roots_tx, roots_rx) = unbounded();
    let frontend = frontend::Frontend {
        socket: stager,
        db: crate::settings::open_scheduler(&config)?,
        roots: frontend::AllRoots::of(&config),
        new_roots: roots_rx,
        wake_loop: waker,
        stop: Arc::new(AtomicBool::new(false)),
        bad_input: crate::util::Throttle::new(),
    };
    let frontend =
        frontend::FrontendHandle::spawn(frontend, roots_tx).map_err(DaemonError::Thread)?;

    tracing::info!(stager = %config.stager_endpoint(), admin = %config.admin_endpoint(), "tapeserverd ready");
    // Without NOTIFY_SOCKET (not under systemd) this does nothing.
    let _ = sd_notify::notify(&[sd_notify::NotifyState::Ready]);
    let config_library_endpoint = config.library_endpoint();
    let ipc_endpoints = [
        config.sessions_endpoint(),
        config.admin_endpoint(),
        config.stager_endpoint(),
    ];
    let io = LoopIo {
        forker,
        sessions,
        admin,
        wake: wake_rx,
        from_threads: to_loop_rx,
        scheduler,
        library,
        frontend,
        term: term_rx,
        hup: hup_rx,
    };
    let metrics = match &config.metrics.listen {
        Some(listen) => {
            let metrics = metrics::Metrics::new();
            metrics::serve(
                metrics.clone(),
                listen,
                config.clone(),
                library_client(&config),
            )
            .map_err(|e| DaemonError::Metrics(listen.clone(), e))?;
            Some(metrics)
        }
        None => None,
    };
    let collector = match (&config.buffer, crate::disk_buffer::path(&config)) {
        (Some(b), Some(path)) => Some(
            buffer_collector::CollectorHandle::spawn(buffer_collector::Collector {
                db: crate::settings::open_scheduler(&config)?,
                path,
                high: b.high_watermark,
                low: b.low_watermark,
                interval: b.collect_interval.0,
                roots: all_roots(&config, |c| &c.archive_roots, &config.paths.archive_roots)
                    .into_iter()
                    .map(std::path::PathBuf::from)
                    .collect(),
                metrics: metrics.clone(),
            })
            .map_err(DaemonError::Thread)?,
        ),
        _ => None,
    };
    let (end, io) = EventLoop::new(config, config_path.to_path_buf(), host, io, metrics).run();

    if let Some(c) = collector {
        c.stop();
    }
    io.frontend.stop();
    io.scheduler.stop();
    io.library.stop();
    let mut forker = io.forker;
    // Closing the link stops the forker; reap it.
    let forker_pid = forker.pid;
    let _ = forker.stop();
    drop(forker);
    let _ = nix::sys::wait::waitpid(forker_pid, None);
    if let Some(controller) = controller {
        controller.stop();
        remove_stale_ipc(&config_library_endpoint);
    }
    for endpoint in &ipc_endpoints {
        remove_stale_ipc(endpoint);
    }
    Ok(match end {
        LoopEnd::Shutdown => {
            tracing::info!("tapeserverd stopped");
            0
        }
        LoopEnd::ForkerDied => {
            tracing::error!(
                "tapeserverd stops: the forker died (sessions were killed; a restart recovers their mounts)"
            );
            1
        }
    })
}

/// What a session process needs, from the config and the work it is given.
pub fn session_spec(
    config: &Config,
    host: &str,
    drive: &str,
    kind: SessionKind,
    vid: &str,
    mount_id: u64,
    pool: &str,
) -> SessionSpec {
    let drive_config = config.drives.iter().find(|d| d.name == drive);
    let s = &config.session;
    SessionSpec {
        kind: kind as i32,
        host: host.to_string(),
        site: crate::settings::site(config),
        // Every root any client has: the frontend held each request to its
        // client's own roots when it was queued; the session only makes
        // sure no path leads out of all of them when it is opened.
        // And the repack buffer, which a repack's recalls write and its
        // migrations read (no client can name it).
        archive_roots: with_buffer(
            config,
            all_roots(config, |c| &c.archive_roots, &config.paths.archive_roots),
        ),
        recall_roots: with_buffer(
            config,
            all_roots(config, |c| &c.recall_roots, &config.paths.recall_roots),
        ),
        drive: drive.to_string(),
        drive_device: drive_config
            .map(|d| d.device.display().to_string())
            .unwrap_or_default(),
        controllers: config.controller_endpoints(),
        key_file: config
            .security
            .key_file
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_default(),
        controller_key: config.library.controller_key.clone().unwrap_or_default(),
        user: config.security.user.clone().unwrap_or_default(),
        drive_element: drive_config.and_then(|d| d.element).map_or(0, u32::from),
        library_request_timeout_ms: config.library.request_timeout.0.as_millis() as u64,
        library_deadline_ms: library_deadline(config).as_millis() as u64,
        scheduler_url: config.scheduler.url.clone(),
        scheduler_password_file: config
            .scheduler
            .password_file
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_default(),
        keep_mounted_ms: config.scheduler.keep_mounted.0.as_millis() as u64,
        time_model: config.library.time_model.clone().unwrap_or_default(),
        time_scale: config.library.time_scale,
        buffer_path: crate::disk_buffer::path(config)
            .map(|p| p.display().to_string())
            .unwrap_or_default(),
        buffer_high_watermark: config
            .buffer
            .as_ref()
            .map_or(0, |b| u32::from(b.high_watermark.0)),
        sessions_endpoint: config.sessions_endpoint(),
        mount_id,
        vid: vid.to_string(),
        pool: pool.to_string(),
        tuning: Some(SessionTuning {
            block_size: s.block_size.0,
            block_count: s.block_count,
            disk_threads: s.disk_threads,
            bulk_files: s.bulk_files,
            bulk_bytes: s.bulk_bytes.0,
            flush_files: s.flush_files,
            flush_bytes: s.flush_bytes.0,
            heartbeat_interval_ms: s.heartbeat_interval.0.as_millis() as u64,
            recall_retry_ms: s.recall_retry.0.as_millis() as u64,
            report_batch_files: s.report_batch_files,
            max_file_attempts: config.scheduler.max_file_attempts,
            max_end_of_medium: config.scheduler.max_end_of_medium,
        }),
        drive_kind: match drive_config.map(|d| d.kind) {
            Some(DriveKind::Null) => "null".into(),
            Some(DriveKind::Scsi) => "scsi".into(),
            _ => "file".into(),
        },
        faults: crate::faults::SessionFaults {
            drive: drive_config
                .and_then(|d| d.faults.clone())
                .unwrap_or_default(),
            scheduler: config.test_faults.clone(),
        }
        .encode(),
        ..Default::default()
    }
}

/// Starts the controller embedded in this daemon, serving its library.
fn start_controller(
    config: &Config,
) -> Result<crate::library::controller::ControllerHandle, DaemonError> {
    use crate::library::controller::{ControllerConfig, start};
    let endpoint = config.library_endpoint();
    let paths = crate::settings::changer_paths(&config.library)?;
    let lease = config
        .library
        .lease
        .clone()
        .unwrap_or_else(|| config.daemon.state_dir.join("tlc.lease"));
    tracing::info!(endpoint = %endpoint, paths = ?paths, lease = %lease.display(), "starting the embedded library controller");
    let handle = start(ControllerConfig {
        paths,
        kind: crate::settings::path_kind(&config.library),
        listen: vec![endpoint.clone()],
        endpoint,
        interface: None,
        lease,
        move_timeout: config.library.move_timeout.0,
        probe_interval: config.library.probe_interval.0,
        drives: crate::settings::drive_refs(config),
        keys: config.security.key_pair()?,
        clients: config.security.client_keys(),
    })?;
    restrict_ipc(&config.library_endpoint(), 0o660)?;
    Ok(handle)
}

use crate::settings::library_client;

/// How long a mount or dismount may take through the controller: the move
/// itself, then time for a standby to take over and a client to find it.
pub fn library_deadline(config: &Config) -> std::time::Duration {
    config.library.move_timeout.0 + 3 * config.library.request_timeout.0
}

/// Two hosts must never drive one drive: refuses to start when another
/// host holds a live lease on one of this daemon's drives.
fn refuse_drives_of_another_host(config: &Config, host: &str) -> Result<(), DaemonError> {
    let names: Vec<String> = config.drives.iter().map(|d| d.name.clone()).collect();
    let mut db = crate::settings::open_scheduler(config)?;
    match db
        .drive_leases(&names)?
        .into_iter()
        .find(|l| l.live && l.host != host)
    {
        Some(lease) => Err(DaemonError::DriveOfAnotherHost {
            drive: lease.drive,
            host: lease.host,
            seconds: lease.remaining.max(0.0).ceil() as u64,
        }),
        None => Ok(()),
    }
}

/// A recall root this process cannot write (a read-only mount, or under a
/// systemd sandbox that does not list it) would fail every recall into it:
/// said at start, with the fix.
fn warn_unwritable_recall_roots(config: &Config) {
    for root in &config.paths.recall_roots {
        if let Err(e) = nix::unistd::access(root, nix::unistd::AccessFlags::W_OK) {
            tracing::warn!(root = %root.display(), error = %e, "recall root {} is not writable by this daemon ({e}): recalls into it will fail; under systemd add it with `systemctl edit tapeserverd` ([Service] ReadWritePaths={})", root.display(), root.display());
        }
    }
}

/// Refuses to start when another daemon answers on the admin socket.
fn refuse_second_daemon(admin: &str) -> Result<(), DaemonError> {
    if let Some(path) = admin.strip_prefix("ipc://")
        && std::os::unix::net::UnixStream::connect(path).is_ok()
    {
        return Err(DaemonError::AlreadyRunning(admin.to_string()));
    }
    Ok(())
}

fn remove_stale_ipc(endpoint: &str) {
    if let Some(path) = endpoint.strip_prefix("ipc://") {
        let _ = std::fs::remove_file(path);
    }
}

/// Each drive's LTO generation: the config's `model`, or for a SCSI drive
/// without one what its INQUIRY product says (asked once, at start, before
/// any session holds the drive).
fn drive_models(config: &Config) -> Vec<(String, Option<String>)> {
    config
        .drives
        .iter()
        .map(|d| {
            let model = d.model.clone().or_else(|| {
                if d.kind != crate::config::DriveKind::Scsi {
                    return None;
                }
                let device = d.device.display().to_string();
                let drive = crate::tape::scsi_drive::ScsiDrive::open(&d.name, &device);
                let product = crate::tape::TapeDrive::info(&drive).model;
                let generation = crate::tape::media::generation_of_product(&product);
                tracing::info!(drive = %d.name, product = %product, generation = ?generation, "drive generation from its INQUIRY data (set [[drives]] model to override)");
                generation.map(|g| format!("LTO{g}"))
            });
            (d.name.clone(), model)
        })
        .collect()
}

fn with_buffer(config: &Config, mut roots: Vec<String>) -> Vec<String> {
    roots.push(repack_buffer::settings(config).buffer_dir);
    roots
}

fn all_roots(
    config: &Config,
    of: impl Fn(&crate::config::security::ClientEntry) -> &Option<Vec<std::path::PathBuf>>,
    defaults: &[std::path::PathBuf],
) -> Vec<String> {
    let mut roots: Vec<String> = defaults.iter().map(|p| p.display().to_string()).collect();
    for client in &config.security.clients {
        for root in of(client).iter().flatten() {
            let root = root.display().to_string();
            if !roots.contains(&root) {
                roots.push(root);
            }
        }
    }
    roots
}

/// The largest request each socket accepts: a stager's archive request
/// lists paths (16 MiB is some 60,000 long paths); admin requests and
/// session reports are small.
const MAX_STAGER_MESSAGE: i64 = 16 << 20;
const MAX_ADMIN_MESSAGE: i64 = 64 << 10;
const MAX_SESSION_MESSAGE: i64 = 1 << 20;

/// Gives the admin socket to `group` (mode 0660: members run tpstat and
/// tpconfig, nobody else can connect).
fn admin_group(endpoint: &str, group: &str) -> Result<(), DaemonError> {
    let Some(path) = endpoint.strip_prefix("ipc://") else {
        return Ok(());
    };
    let gid = nix::unistd::Group::from_name(group)
        .map_err(|e| DaemonError::AdminGroup(format!("{group}: {e}")))?
        .ok_or_else(|| DaemonError::AdminGroup(format!("no group {group:?}")))?
        .gid;
    // Already the group's (the service's own group, say): no chown, which
    // a hardened unit's system call filter does not allow.
    let current =
        std::fs::metadata(path).map_err(|e| DaemonError::AdminGroup(format!("{path}: {e}")))?;
    if std::os::unix::fs::MetadataExt::gid(&current) == gid.as_raw() {
        return Ok(());
    }
    nix::unistd::chown(Path::new(path), None, Some(gid))
        .map_err(|e| DaemonError::AdminGroup(format!("cannot give {path} to {group}: {e}")))
}

fn restrict_ipc(endpoint: &str, mode: u32) -> Result<(), DaemonError> {
    use std::os::unix::fs::PermissionsExt;
    match endpoint.strip_prefix("ipc://") {
        Some(path) if path.starts_with('@') => Err(DaemonError::AbstractSocket(endpoint.into())),
        Some(path) => {
            std::fs::set_permissions(Path::new(path), std::fs::Permissions::from_mode(mode))
                .map_err(|source| DaemonError::Dir {
                    path: path.into(),
                    source,
                })
        }
        None => Ok(()),
    }
}
