//! `tapeserverd init DIR`: a complete single-host installation under DIR
//! that runs as is: a config, an emulated SCSI library (two changer paths,
//! file-backed drives, labelled cartridges) served by a controller embedded
//! in the daemon, and a catalogue that knows the cartridges.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::config::{
    ByteSize, Config, DaemonConfig, DriveConfig, DriveKind, EndpointsConfig, Interval,
    LibraryConfig, LibraryKind, PathsConfig, SchedulerConfig, SessionConfig, WatchdogConfig,
};
use crate::library::barcode_for;
use crate::library::emulated::EmulatedLibrary;
use crate::scheduler;
use crate::tape::format;

pub mod gateway;
mod library;
use library::build_library;
pub use library::{LibraryShape, init_library};

#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error("{0} already holds a tapeserver.toml: refusing to overwrite an installation")]
    Exists(PathBuf),
    #[error("cannot create {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("--drives and --tapes must be at least 1")]
    Count,
    #[error("library: {0}")]
    Library(#[from] crate::library::ChangerError),
    #[error("labelling {vid}: {source}")]
    Label {
        vid: String,
        source: format::FormatError,
    },
    #[error("loading {vid} to label it: {source}")]
    Drive {
        vid: String,
        source: crate::tape::DriveError,
    },
    #[error(transparent)]
    Scheduler(#[from] scheduler::SchedulerError),
    #[error("cannot write the config: {0}")]
    Render(#[from] toml::ser::Error),
    #[error("{0}")]
    Invalid(String),
}

pub struct InitOptions {
    pub drives: u32,
    pub tapes: u32,
    pub capacity: u64,
    /// A scheduler shared with other hosts (default: SQLite under DIR).
    pub scheduler_url: Option<String>,
    /// The file holding the PostgreSQL password.
    pub password_file: Option<PathBuf>,
    /// A library directory shared with other hosts: joined if it exists.
    pub library: Option<PathBuf>,
    /// Drive names are PREFIX0, PREFIX1...; unique across hosts of a library.
    pub drive_prefix: String,
    /// `tlcd` endpoints serving the library (empty: an embedded controller).
    pub controllers: Vec<String>,
    /// Changer paths of a new emulated library.
    pub changer_paths: u32,
    /// How long the emulated robot takes per move.
    pub move_time: Duration,
    /// This host's name in the shared catalogue (default: the host name).
    pub host: Option<String>,
    /// Check everything, write nothing (no library, no catalogue, no config).
    pub dry_run: bool,
    /// Where files may be archived from and recalled to (default: DIR). At
    /// a site these are the same on every host: any host's drive may take a
    /// file queued through any other.
    pub archive_roots: Vec<PathBuf>,
    pub recall_roots: Vec<PathBuf>,
    /// Media generations drives and new cartridges take in turn (empty:
    /// none recorded).
    pub media: Vec<String>,
    /// Pools and how many of the new cartridges each gets, in order
    /// ("default:3", "copy2:3"); empty: every cartridge in `default`.
    pub pools: Vec<String>,
    /// Drives and robot take a real library's time ("lto9"), `time_scale`
    /// times faster.
    pub time_model: Option<String>,
    pub time_scale: f64,
    /// Also a tapegw for this installation (`DIR/tapegw.toml`).
    pub gateway: bool,
}

impl Default for InitOptions {
    fn default() -> Self {
        Self {
            drives: 2,
            tapes: 10,
            capacity: 20 << 30,
            scheduler_url: None,
            password_file: None,
            library: None,
            drive_prefix: "drive".into(),
            controllers: Vec::new(),
            changer_paths: 2,
            move_time: Duration::ZERO,
            host: None,
            dry_run: false,
            archive_roots: Vec::new(),
            recall_roots: Vec::new(),
            media: Vec::new(),
            pools: Vec::new(),
            time_model: None,
            time_scale: 1.0,
            gateway: false,
        }
    }
}

/// The roots given (absolute paths), or DIR.
fn roots(given: &[PathBuf], flag: &str, dir: &Path) -> Result<Vec<PathBuf>, InitError> {
    if let Some(p) = given.iter().find(|p| !p.is_absolute()) {
        return Err(InitError::Invalid(format!(
            "{flag} {}: expected an absolute path",
            p.display()
        )));
    }
    Ok(if given.is_empty() {
        vec![dir.to_path_buf()]
    } else {
        given.to_vec()
    })
}

/// What `init` did or, in a dry run, would do.
pub struct Planned {
    pub config: PathBuf,
    pub host: String,
    pub library: PathBuf,
    /// The library exists: this host's drives join it.
    pub joining: bool,
    pub drives: Vec<String>,
    /// Cartridges new in the library (labelled and registered).
    pub new_cartridges: usize,
    pub scheduler: String,
    /// The gateway's config, when `--gateway` made one.
    pub gateway: Option<PathBuf>,
}

/// Creates the installation (or checks it can, in a dry run). A failure
/// leaves nothing behind that it created.
pub fn init(dir: &Path, options: &InitOptions) -> Result<Planned, InitError> {
    let existed = dir.exists();
    let library_existed = options.library.as_deref().is_some_and(Path::exists);
    let done = init_unchecked(dir, options);
    if done.is_err() && !options.dry_run {
        if let Some(library) = options.library.as_deref().filter(|_| !library_existed) {
            let _ = std::fs::remove_dir_all(library);
        }
        if !existed {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
    done
}

/// `--pools NAME:COUNT,...`: each pool and its count of new cartridges.
fn parse_pools(given: &[String]) -> Result<Vec<(String, u32)>, InitError> {
    let mut pools: Vec<(String, u32)> = Vec::new();
    for p in given {
        let bad = || {
            InitError::Invalid(format!(
                "--pools {p:?}: expected NAME:COUNT, such as default:3"
            ))
        };
        let (name, count) = p.split_once(':').ok_or_else(bad)?;
        let count: u32 = count.parse().map_err(|_| bad())?;
        let valid = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !valid || count == 0 {
            return Err(bad());
        }
        if pools.iter().any(|(n, _)| n == name) {
            return Err(InitError::Invalid(format!("--pools: {name} given twice")));
        }
        pools.push((name.to_string(), count));
    }
    Ok(pools)
}

fn init_unchecked(dir: &Path, options: &InitOptions) -> Result<Planned, InitError> {
    let pools = parse_pools(&options.pools)?;
    // With --pools, the pools' counts are the cartridges.
    let tapes = if pools.is_empty() {
        options.tapes
    } else {
        pools.iter().map(|(_, n)| n).sum()
    };
    if options.drives == 0 || tapes == 0 {
        return Err(InitError::Count);
    }
    let max_paths = crate::library::emulated::state::MAX_PATHS as u32;
    if options.changer_paths == 0 || options.changer_paths > max_paths {
        return Err(InitError::Invalid(format!(
            "--changer-paths {}: expected 1 to {max_paths}",
            options.changer_paths
        )));
    }
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| InitError::Io { path, source }
    };
    if !options.dry_run {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
    }
    let dir = match std::fs::canonicalize(dir) {
        Ok(d) => d,
        Err(_) if options.dry_run => dir.to_path_buf(),
        Err(e) => return Err(io(dir)(e)),
    };
    let config_path = dir.join("tapeserver.toml");
    if config_path.exists() {
        return Err(InitError::Exists(dir));
    }
    let host = match &options.host {
        Some(h) => h.clone(),
        None => nix::unistd::gethostname()
            .ok()
            .and_then(|h| h.into_string().ok())
            .unwrap_or_else(|| "localhost".into()),
    };
    if host.is_empty() || host.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(InitError::Invalid(format!(
            "--host {host:?}: expected a host name"
        )));
    }
    let library = match &options.library {
        Some(path) if !path.is_absolute() => {
            return Err(InitError::Invalid(format!(
                "--library {}: expected an absolute path",
                path.display()
            )));
        }
        Some(path) => path.clone(),
        None => dir.join("library"),
    };
    let scheduler_url = match &options.scheduler_url {
        Some(url) => url.clone(),
        None => format!("sqlite://{}", dir.join("state/scheduler.db").display()),
    };
    let prefix = &options.drive_prefix;
    if prefix.is_empty()
        || !prefix
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(InitError::Invalid(format!(
            "--drive-prefix {prefix:?}: expected letters, digits, '-' or '_'"
        )));
    }
    let mut generations = Vec::new();
    for m in &options.media {
        match crate::tape::media::Media::parse(m) {
            Some(crate::tape::media::Media::Lto(n)) => generations.push(n),
            _ => {
                return Err(InitError::Invalid(format!(
                    "--media {m:?}: expected LTO generations such as LTO8,LTO9"
                )));
            }
        }
    }
    let timing = match &options.time_model {
        Some(name) => {
            let profile = crate::tape::time_model::profile(name).ok_or_else(|| {
                InitError::Invalid(format!(
                    "--time-model {name:?}: expected lto8, lto9 or lto10"
                ))
            })?;
            Some(profile)
        }
        None => None,
    };
    if !(options.time_scale.is_finite() && options.time_scale >= 1.0) {
        return Err(InitError::Invalid(format!(
            "--time-scale {}: expected how many times faster than real, 1 or more",
            options.time_scale
        )));
    }
    // The robot of a time-modelled library takes a real robot's time
    // unless --move-time says otherwise.
    let (move_time, move_time_far) = match timing {
        Some(_) if options.move_time.is_zero() => (
            crate::tape::time_model::ROBOT_NEAR.div_f64(options.time_scale),
            crate::tape::time_model::ROBOT_FAR.div_f64(options.time_scale),
        ),
        _ => (options.move_time, options.move_time),
    };
    let drives: Vec<DriveConfig> = (0..options.drives)
        .map(|i| DriveConfig {
            name: format!("{prefix}{i}"),
            kind: DriveKind::File,
            device: library.join("drives").join(format!("{prefix}{i}")),
            element: None,
            model: (!generations.is_empty())
                .then(|| format!("LTO{}", generations[i as usize % generations.len()])),
            faults: None,
        })
        .collect();
    let config = Config {
        daemon: DaemonConfig {
            host: Some(host.clone()),
            site: None,
            run_dir: dir.join("run"),
            state_dir: dir.join("state"),
            log_level: "info".into(),
        },
        endpoints: EndpointsConfig::default(),
        scheduler: SchedulerConfig {
            url: scheduler_url,
            password_file: options.password_file.clone(),
            poll_interval: Interval(Duration::from_secs(1)),
            // Mount as soon as anything is queued.
            mount_min_files: 1,
            mount_min_bytes: ByteSize(1),
            mount_min_age: Interval(Duration::ZERO),
            mount_max_age: Interval(Duration::ZERO),
            archive: None,
            recall: None,
            pools: Default::default(),
            // Free mounts are given back at once; a time-modelled library
            // keeps a tape while requests for it come sooner than a
            // remount would cost (forty recalls trickled in one after
            // another are one mount).
            keep_mounted: Interval(
                timing.map_or(Duration::ZERO, |p| p.remount().div_f64(options.time_scale)),
            ),
            drive_lease: Interval(Duration::from_secs(60)),
            error_backoff: Interval(Duration::from_secs(30)),
            empty_mount_backoff: Interval(Duration::from_secs(60)),
            max_file_attempts: 3,
            max_end_of_medium: 2,
            recycle_retention: Interval(Duration::from_secs(30 * 86_400)),
            default_class: None,
            shares: Vec::new(),
        },
        library: LibraryConfig {
            kind: LibraryKind::Emulated,
            path: Some(library.clone()),
            changers: Vec::new(),
            controllers: options.controllers.clone(),
            lease: None,
            move_timeout: Interval(crate::config::DEFAULT_MOVE_TIMEOUT),
            probe_interval: Interval(crate::config::DEFAULT_PROBE_INTERVAL),
            request_timeout: Interval(Duration::from_secs(10)),
            controller_key: None,
            time_model: timing.map(|p| p.name.to_string()),
            time_scale: options.time_scale,
        },
        drives: drives.clone(),
        session: SessionConfig::default(),
        watchdog: WatchdogConfig::default(),
        paths: PathsConfig {
            archive_roots: roots(&options.archive_roots, "--archive-root", &dir)?,
            recall_roots: roots(&options.recall_roots, "--recall-root", &dir)?,
        },
        security: Default::default(),
        metrics: Default::default(),
        verify: Default::default(),
        repack: Default::default(),
        // Kept between watermarks only where an operator says which
        // filesystem is the buffer: one shared with anything else (a
        // test's /tmp) may be fuller than any watermark for other reasons.
        buffer: None,
        test_faults: Default::default(),
    };

    config.scheduler.validate().map_err(|(key, message)| {
        let flag = if key == "scheduler.password_file" {
            "--password-file"
        } else {
            "--scheduler"
        };
        // Said in init's own words: its flags, not the config's keys.
        let message = message.replace("scheduler.password_file", "--password-file");
        InitError::Invalid(format!("{flag}: {message}"))
    })?;
    if let Some(file) = &options.password_file
        && !file.is_file()
    {
        return Err(InitError::Invalid(format!(
            "--password-file {}: no such file",
            file.display()
        )));
    }
    if let Some(e) = options
        .controllers
        .iter()
        .find(|e| !e.starts_with("tcp://") && !e.starts_with("ipc://"))
    {
        return Err(InitError::Invalid(format!(
            "--controllers {e}: expected tcp://HOST:PORT or ipc://PATH"
        )));
    }
    // Joining an existing library adds this host's drives and registers its
    // cartridges; a new library gets blank cartridges, labelled here.
    let joining = EmulatedLibrary::exists(&library);
    let new_barcodes: Vec<String> = if joining {
        Vec::new()
    } else {
        (1..=tapes)
            .map(|i| {
                let vid = format!("V{i:05}");
                match generations.get((i as usize - 1) % generations.len().max(1)) {
                    Some(&g) => format!("{vid}{}", crate::tape::media::Media::Lto(g).code()),
                    None => barcode_for(&vid),
                }
            })
            .collect()
    };
    let names: Vec<String> = drives.iter().map(|d| d.name.clone()).collect();
    if joining {
        // Two hosts must never drive the same drive.
        let taken = EmulatedLibrary::open(&library)
            .with_state(|s| {
                Ok(s.drives
                    .iter()
                    .map(|d| d.serial.clone())
                    .collect::<Vec<_>>())
            })
            .map_err(crate::library::ChangerError::from)?;
        if let Some(name) = names.iter().find(|n| taken.contains(n)) {
            return Err(InitError::Invalid(format!(
                "drive {name} is already in the library at {} (another host's drive): choose another --drive-prefix",
                library.display()
            )));
        }
    }
    let planned = Planned {
        config: config_path.clone(),
        host: host.clone(),
        library: library.clone(),
        joining,
        drives: names.clone(),
        new_cartridges: new_barcodes.len(),
        scheduler: config.scheduler.url.clone(),
        gateway: None,
    };
    if options.dry_run {
        return Ok(planned);
    }
    let mut db = scheduler::open_with(
        &config.scheduler.url,
        config.scheduler.password_file.as_deref(),
    )?;
    // In a shared catalogue, drive names are the site's: refused when
    // another host holds or held a lease on one.
    if let Some(lease) = db
        .drive_leases(&names)?
        .into_iter()
        .find(|l| l.host != host)
    {
        return Err(InitError::Invalid(format!(
            "drive {} belongs to host {} in the shared catalogue: choose another --drive-prefix",
            lease.drive, lease.host
        )));
    }

    build_library(
        &library,
        &drives,
        &new_barcodes,
        &LibraryShape {
            changer_paths: options.changer_paths,
            move_time,
            move_time_far,
            capacity: options.capacity,
            pools,
        },
        &mut *db,
    )?;
    for sub in ["run", "state"] {
        std::fs::create_dir_all(dir.join(sub)).map_err(io(&dir.join(sub)))?;
    }
    let text = format!(
        "# tapeserver configuration written by `tapeserverd init`.\n# Every key is documented in config/tapeserver.toml of the source tree.\n\n{}",
        config.to_toml()?
    );
    crate::util::write_atomically(&config_path, text.as_bytes()).map_err(io(&config_path))?;
    let mut planned = planned;
    if options.gateway {
        planned.gateway = Some(gateway::write(&dir, &host, &config_path)?);
    }
    Ok(planned)
}
