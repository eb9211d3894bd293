//! What each layer is given, built from a validated config: the scheduler's
//! connection, mount policy and file limits, the library's drive references
//! and changer paths, the controller's settings, the site name in the
//! labels. The one module that knows both the config and the layers it
//! configures, so that the config imports no layer and no layer imports
//! the config.

use crate::config::tlcd::TlcdConfig;
use crate::config::{Config, LibraryConfig, LibraryKind, QueuePolicyConfig, SchedulerConfig};
use crate::library::controller::ControllerConfig;
use crate::library::emulated::EmulatedLibrary;
use crate::library::scsi_changer::PathKind;
use crate::library::{ChangerError, DriveRef};
use crate::scheduler::{
    FileLimits, MountPolicy, PoolPolicy, QueuePolicy, Scheduler, SchedulerError,
};

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error(transparent)]
    Library(#[from] ChangerError),
    #[error(transparent)]
    Keys(#[from] crate::messaging::curve::CurveError),
}

/// A connection to the configured scheduler.
pub fn open_scheduler(config: &Config) -> Result<Box<dyn Scheduler>, SchedulerError> {
    crate::scheduler::open_with(
        &config.scheduler.url,
        config.scheduler.password_file.as_deref(),
    )
}

/// How often a file may fail before it fails for good.
pub fn file_limits(config: &Config) -> FileLimits {
    FileLimits {
        max_attempts: config.scheduler.max_file_attempts,
        max_end_of_medium: config.scheduler.max_end_of_medium,
    }
}

/// When a queue is worth a mount, and which goes first: the `mount_*` keys,
/// overridden per activity, then per pool.
pub fn mount_policy(s: &SchedulerConfig) -> MountPolicy {
    let base = QueuePolicy {
        min_files: s.mount_min_files,
        min_bytes: s.mount_min_bytes.0,
        min_age: s.mount_min_age.0,
        max_age: s.mount_max_age.0,
        priority: 0,
    };
    let archive = over(s.archive.as_ref(), &base);
    let recall = over(s.recall.as_ref(), &base);
    let pools = s
        .pools
        .iter()
        .map(|(name, p)| {
            (
                name.clone(),
                PoolPolicy {
                    archive: Some(over(p.archive.as_ref(), &archive)),
                    recall: Some(over(p.recall.as_ref(), &recall)),
                },
            )
        })
        .collect();
    MountPolicy {
        archive,
        recall,
        pools,
        empty_backoff: s.empty_mount_backoff.0,
        repack_max_drives: crate::config::RepackConfig::default().max_drives,
        background: true,
        cost: Default::default(),
        shares: s
            .shares
            .iter()
            .map(|c| crate::scheduler::policy::Share {
                name: c.name.clone(),
                pools: c.pools.iter().cloned().collect(),
                max_read_drives: c.max_read_drives,
                max_write_drives: c.max_write_drives,
                weight: c.weight,
            })
            .collect(),
        recall_room: None,
    }
}

/// A queue's thresholds: the keys given, the rest inherited from `base`.
fn over(config: Option<&QueuePolicyConfig>, base: &QueuePolicy) -> QueuePolicy {
    let Some(c) = config else {
        return base.clone();
    };
    QueuePolicy {
        min_files: c.min_files.unwrap_or(base.min_files),
        min_bytes: c.min_bytes.map_or(base.min_bytes, |b| b.0),
        min_age: c.min_age.map_or(base.min_age, |i| i.0),
        max_age: c.max_age.map_or(base.max_age, |i| i.0),
        priority: c.priority.unwrap_or(base.priority),
    }
}

/// The daemon's drives as the library controller knows them.
pub fn drive_refs(config: &Config) -> Vec<DriveRef> {
    config
        .drives
        .iter()
        .map(|d| DriveRef {
            name: d.name.clone(),
            element: d.element,
            serial: None,
        })
        .collect()
}

/// The library controller's client for the daemon and the tools (drive
/// checks, tapeadmin): one round of the controllers, so a dead one costs
/// one request timeout per endpoint, not a move's deadline.
pub fn library_client(config: &Config) -> crate::library::client::ControllerClient {
    crate::library::client::ControllerClient::new(
        config.controller_endpoints(),
        config.library.request_timeout.0,
        config.library.request_timeout.0 * config.controller_endpoints().len().max(1) as u32,
        drive_refs(config),
    )
}

/// `tlcd`'s drives by name.
pub fn tlcd_drive_refs(config: &TlcdConfig) -> Vec<DriveRef> {
    config
        .drives
        .iter()
        .map(|d| DriveRef {
            name: d.name.clone(),
            element: d.element,
            serial: d.serial.clone(),
        })
        .collect()
}

/// The changer paths a controller drives: the configured ones, or every
/// path of the emulated library.
pub fn changer_paths(library: &LibraryConfig) -> Result<Vec<String>, ChangerError> {
    if !library.changers.is_empty() {
        return Ok(library.changers.clone());
    }
    let Some(root) = &library.path else {
        return Ok(Vec::new());
    };
    let names = EmulatedLibrary::open(root).with_state(|s| Ok(s.paths.clone()))?;
    Ok(names
        .iter()
        .map(|n| EmulatedLibrary::path_file(root, n).display().to_string())
        .collect())
}

/// How the controller reaches the changer paths.
pub fn path_kind(library: &LibraryConfig) -> PathKind {
    match library.kind {
        LibraryKind::Emulated => PathKind::Emulated,
        LibraryKind::Scsi => PathKind::Scsi,
    }
}

/// What `tlcd` runs its controller with.
pub fn controller_config(config: &TlcdConfig) -> Result<ControllerConfig, SettingsError> {
    Ok(ControllerConfig {
        paths: changer_paths(&config.library)?,
        kind: path_kind(&config.library),
        listen: config.controller.listen.clone(),
        endpoint: config.endpoint(),
        interface: config.controller.interface.clone(),
        lease: config.lease().unwrap_or_default(),
        move_timeout: config.library.move_timeout.0,
        probe_interval: config.library.probe_interval.0,
        drives: tlcd_drive_refs(config),
        keys: config.security.key_pair()?,
        clients: config.security.client_keys(),
    })
}

/// The site name written in every file's labels: the configured one, or
/// the host's domain without its top level.
pub fn site(config: &Config) -> String {
    match &config.daemon.site {
        Some(site) => site.clone(),
        None => crate::tape::aul::default_site(&config.host()),
    }
}
