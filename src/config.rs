//! The daemon's configuration: TOML parsed once into typed, validated structs.
//!
//! Unknown keys are rejected. Sizes read the way operators write them
//! ("256KiB", "80GB", or a plain number of bytes) and durations too ("5m",
//! "30s", "100ms"). Every error names the file, the key and what was expected.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Where client commands look for the config when `--config` is not given.
pub const DEFAULT_CONFIG_PATH: &str = "/etc/tapeserver/tapeserver.toml";
/// Environment variable naming the config file for client commands.
pub const CONFIG_ENV: &str = "TAPESERVER_CONFIG";

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path}: {message}")]
    Syntax { path: PathBuf, message: String },
    #[error("config file {path}: key `{key}`: {message}")]
    Key {
        path: PathBuf,
        key: String,
        message: String,
    },
}

pub use crate::units::{ByteSize, Interval, MAX_BLOCK_SIZE};

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub daemon: DaemonConfig,
    #[serde(default)]
    pub endpoints: EndpointsConfig,
    pub scheduler: SchedulerConfig,
    pub library: LibraryConfig,
    #[serde(default)]
    pub drives: Vec<DriveConfig>,
    #[serde(default)]
    pub session: SessionConfig,
    #[serde(default)]
    pub watchdog: WatchdogConfig,
    pub paths: PathsConfig,
    #[serde(default)]
    pub security: SecurityConfig,
    #[serde(default)]
    pub metrics: MetricsConfig,
    #[serde(default, skip_serializing_if = "is_default")]
    pub verify: VerifyConfig,
    #[serde(default, skip_serializing_if = "is_default")]
    pub repack: RepackConfig,
    /// The disk buffer's watermarks (absent: nothing evicted unless asked).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub buffer: Option<DiskBufferConfig>,
    /// Test scaffolding: the daemon's sessions' scheduler connections made
    /// slow or failing (see `crate::faults`). Never set in production.
    #[serde(default, skip_serializing_if = "is_default")]
    pub test_faults: crate::faults::SchedulerFaults,
}

fn is_default<T: Default + PartialEq>(v: &T) -> bool {
    *v == T::default()
}

/// Verification of tapes on a schedule.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct VerifyConfig {
    /// Tapes with live files not verified within this long (since their
    /// last verification, or their first write) are queued for
    /// verification, the lowest priority of all. Unset: never.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<Interval>,
}

/// The Prometheus endpoint.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    /// `ADDRESS:PORT` to serve `/metrics` on (plain HTTP: keep it on
    /// loopback or a management network); unset, no endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listen: Option<String>,
    /// A `listen` address other hosts reach is refused unless this says
    /// so: the endpoint has no authentication.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub allow_remote: bool,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DaemonConfig {
    /// Name of this tape server in the scheduler; defaults to the host name.
    #[serde(default)]
    pub host: Option<String>,
    /// The site name written in every file's UHL1/UTL1 labels (up to 8
    /// characters, as CTA writes it); defaults to the host's domain
    /// without its top level, upper case ("tps01.cern.ch" is CERN).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub site: Option<String>,
    /// Sockets live here.
    pub run_dir: PathBuf,
    /// Persistent state (SQLite catalogue, by default) lives here.
    pub state_dir: PathBuf,
    /// `tracing` filter, e.g. "info" or "tapeserver=debug".
    #[serde(default = "default_log_level")]
    pub log_level: String,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct EndpointsConfig {
    /// Stager requests (ZMQ endpoint, `ipc://` or `tcp://`); empty = `ipc://RUN_DIR/stager.sock`.
    #[serde(default)]
    pub stager: String,
    /// Operator commands; empty = `ipc://RUN_DIR/admin.sock`.
    #[serde(default)]
    pub admin: String,
    /// Session reports; empty = `ipc://RUN_DIR/sessions.sock`.
    #[serde(default)]
    pub sessions: String,
    /// The embedded library controller; empty = `ipc://RUN_DIR/tlc.sock`.
    #[serde(default)]
    pub library: String,
    /// How long a client command waits for the daemon's reply.
    #[serde(default = "default_client_timeout")]
    pub client_timeout: Interval,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DriveConfig {
    pub name: String,
    /// "file": a file-backed drive whose device is a directory; "scsi": a
    /// SCSI tape drive (`/dev/sgN` or an iSCSI URL).
    pub kind: DriveKind,
    pub device: PathBuf,
    /// The changer's drive element address; default: matched by serial number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub element: Option<u16>,
    /// The drive's LTO generation ("LTO8", "LTO9"...): it is offered only
    /// tapes it can read (recalls) or write (migrations). Unset: any tape.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Test only: faults the drive injects in every session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub faults: Option<FaultsConfig>,
}

/// The faults a test injects into a drive (test scaffolding, in
/// `crate::faults`).
pub use crate::faults::Faults as FaultsConfig;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DriveKind {
    File,
    Scsi,
    /// Benchmarks only: data blocks are checked and discarded.
    Null,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SessionConfig {
    /// Tape block size (and memory block size).
    #[serde(default = "default_block_size")]
    pub block_size: ByteSize,
    /// Memory blocks allocated once per session.
    #[serde(default = "default_block_count")]
    pub block_count: u64,
    #[serde(default = "default_disk_threads")]
    pub disk_threads: u64,
    /// A request for work asks for at most this many files...
    #[serde(default = "default_bulk_files")]
    pub bulk_files: u64,
    /// ...or this many bytes.
    #[serde(default = "default_bulk_bytes")]
    pub bulk_bytes: ByteSize,
    /// Flush (and commit to the catalogue) after this many files...
    #[serde(default = "default_flush_files")]
    pub flush_files: u64,
    /// ...or this many bytes.
    #[serde(default = "default_flush_bytes")]
    pub flush_bytes: ByteSize,
    /// Recall results are committed in batches of this many files.
    #[serde(default = "default_report_batch_files")]
    pub report_batch_files: u64,
    #[serde(default = "default_heartbeat_interval")]
    pub heartbeat_interval: Interval,
    /// A recall whose destination's filesystem is full is tried again after
    /// this long (the partial file is removed).
    #[serde(default = "default_recall_retry")]
    pub recall_retry: Interval,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct WatchdogConfig {
    #[serde(default = "default_mount_timeout")]
    pub mount_timeout: Interval,
    #[serde(default = "default_mount_timeout")]
    pub positioning_timeout: Interval,
    #[serde(default = "default_no_data_timeout")]
    pub no_data_movement_timeout: Interval,
    #[serde(default = "default_heartbeat_timeout")]
    pub heartbeat_timeout: Interval,
    #[serde(default = "default_mount_timeout")]
    pub unmount_timeout: Interval,
    /// On SIGTERM, running sessions get this long to finish.
    #[serde(default = "default_shutdown_deadline")]
    pub shutdown_deadline: Interval,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PathsConfig {
    /// Files may be archived only from under these directories.
    pub archive_roots: Vec<PathBuf>,
    /// Files may be recalled only into these directories.
    pub recall_roots: Vec<PathBuf>,
}

mod client;
pub mod security;
pub use security::SecurityConfig;
mod defaults;
pub mod disk_buffer;
pub use disk_buffer::DiskBufferConfig;
mod library;
pub use library::{LibraryConfig, LibraryKind};
mod repack;
mod scheduler;
pub mod shares;
pub mod tlcd;

pub use client::{ClientConfig, StagerSettings, is_client_config};
use defaults::*;
pub use defaults::{DEFAULT_MOVE_TIMEOUT, DEFAULT_PROBE_INTERVAL};
pub use repack::RepackConfig;
pub use scheduler::{PoolPolicyConfig, QueuePolicyConfig, SchedulerConfig};

impl Config {
    /// Reads and validates a config file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(path, &text)
    }

    /// Parses and validates config text; `path` is only used in messages.
    pub fn parse(path: &Path, text: &str) -> Result<Config, ConfigError> {
        let config: Config = deserialize(path, text)?;
        config.validate(path)?;
        Ok(config)
    }

    fn validate(&self, path: &Path) -> Result<(), ConfigError> {
        let bad = |key: &str, message: String| ConfigError::Key {
            path: path.to_path_buf(),
            key: key.to_string(),
            message,
        };
        if let Some(listen) = &self.metrics.listen {
            match listen.parse::<std::net::SocketAddr>() {
                Err(_) => {
                    return Err(bad(
                        "metrics.listen",
                        format!("expected IP:PORT (127.0.0.1:9477), got {listen:?}"),
                    ));
                }
                Ok(addr) if !addr.ip().is_loopback() && !self.metrics.allow_remote => {
                    return Err(bad(
                        "metrics.listen",
                        format!(
                            "{listen} is reachable from other hosts and the endpoint has no authentication: listen on loopback, or set allow_remote = true for a management network"
                        ),
                    ));
                }
                Ok(_) => {}
            }
        }
        if self.repack.buffer_bytes.0 == 0 {
            return Err(bad(
                "repack.buffer_bytes",
                "expected a size above 0 (a repacked file waits there between its read and its write)".into(),
            ));
        }
        if let Some(dir) = &self.repack.buffer_dir
            && !dir.is_absolute()
        {
            return Err(bad(
                "repack.buffer_dir",
                format!("expected an absolute path, got {}", dir.display()),
            ));
        }
        if let Some(Err((key, message))) = self.buffer.as_ref().map(DiskBufferConfig::check) {
            return Err(bad(key, message));
        }
        let s = &self.session;
        if s.block_size.0 < 80 || s.block_size.0 > MAX_BLOCK_SIZE {
            return Err(bad(
                "session.block_size",
                format!(
                    "expected between 80 bytes and 16MiB, got {}",
                    s.block_size.0
                ),
            ));
        }
        if s.block_count < 2 {
            return Err(bad("session.block_count", "expected at least 2".into()));
        }
        for (key, value) in [
            ("session.disk_threads", s.disk_threads),
            ("session.bulk_files", s.bulk_files),
            ("session.flush_files", s.flush_files),
            ("session.report_batch_files", s.report_batch_files),
            ("session.bulk_bytes", s.bulk_bytes.0),
            ("session.flush_bytes", s.flush_bytes.0),
            ("scheduler.mount_min_files", self.scheduler.mount_min_files),
            (
                "scheduler.max_file_attempts",
                u64::from(self.scheduler.max_file_attempts),
            ),
            (
                "scheduler.max_end_of_medium",
                u64::from(self.scheduler.max_end_of_medium),
            ),
        ] {
            if value == 0 {
                return Err(bad(key, "expected a value greater than 0".into()));
            }
        }
        self.scheduler
            .validate()
            .map_err(|(key, message)| bad(&key, message))?;
        let mut names = std::collections::HashSet::new();
        for (i, drive) in self.drives.iter().enumerate() {
            let valid = !drive.name.is_empty()
                && drive
                    .name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
            if !valid {
                return Err(bad(
                    &format!("drives[{i}].name"),
                    format!("expected letters, digits, '-' or '_', got {:?}", drive.name),
                ));
            }
            if !names.insert(drive.name.as_str()) {
                return Err(bad(
                    &format!("drives[{i}].name"),
                    format!("drive {:?} is configured twice", drive.name),
                ));
            }
        }
        for (key, roots) in [
            ("paths.archive_roots", &self.paths.archive_roots),
            ("paths.recall_roots", &self.paths.recall_roots),
        ] {
            if let Some(root) = roots.iter().find(|r| !r.is_absolute()) {
                return Err(bad(
                    key,
                    format!("expected absolute paths, got {}", root.display()),
                ));
            }
        }
        self.validate_endpoints(&bad)?;
        self.library.validate(&bad)?;
        self.security.check().map_err(|(k, m)| bad(&k, m))?;
        for (i, drive) in self.drives.iter().enumerate() {
            if drive.kind == DriveKind::Scsi && drive.device.as_os_str().is_empty() {
                return Err(bad(
                    &format!("drives[{i}].device"),
                    "expected a device such as /dev/sg4 or an iSCSI URL".into(),
                ));
            }
        }
        for (key, dir) in [
            ("daemon.run_dir", &self.daemon.run_dir),
            ("daemon.state_dir", &self.daemon.state_dir),
        ] {
            if !dir.is_absolute() {
                return Err(bad(
                    key,
                    format!("expected an absolute path, got {}", dir.display()),
                ));
            }
        }
        Ok(())
    }

    /// Who can connect to each endpoint is what its kind allows: an ipc
    /// socket file has permissions (an abstract one has none), a TCP port
    /// is open to every user of the host, so it needs CURVE.
    fn validate_endpoints(
        &self,
        bad: &dyn Fn(&str, String) -> ConfigError,
    ) -> Result<(), ConfigError> {
        let e = &self.endpoints;
        for (key, endpoint) in [
            ("endpoints.stager", &e.stager),
            ("endpoints.admin", &e.admin),
            ("endpoints.sessions", &e.sessions),
            ("endpoints.library", &e.library),
        ] {
            if endpoint.is_empty() {
                continue;
            }
            if endpoint.starts_with("ipc://@") {
                return Err(bad(
                    key,
                    format!(
                        "{endpoint}: an abstract socket has no permissions (anyone on the host could connect): use ipc://PATH"
                    ),
                ));
            }
            if !endpoint.starts_with("ipc://") && !endpoint.starts_with("tcp://") {
                return Err(bad(
                    key,
                    format!("{endpoint}: expected ipc://PATH or tcp://HOST:PORT"),
                ));
            }
        }
        if e.sessions.starts_with("tcp://") {
            return Err(bad(
                "endpoints.sessions",
                format!(
                    "{}: session processes run on this host; use an ipc:// endpoint (a TCP port, even on loopback, is open to every user of the host)",
                    e.sessions
                ),
            ));
        }
        for (key, endpoint) in [
            ("endpoints.stager", &e.stager),
            ("endpoints.admin", &e.admin),
        ] {
            if endpoint.starts_with("tcp://") && self.security.key_file.is_none() {
                return Err(bad(
                    key,
                    format!(
                        "{endpoint}: a TCP endpoint needs a CURVE key pair, even on loopback (a port is open to every user of the host): set [security] key_file (make one with `tapeserverd keygen`) and list the clients in [[security.clients]], or use ipc://PATH"
                    ),
                ));
            }
        }
        Ok(())
    }

    /// This tape server's name in the scheduler.
    pub fn host(&self) -> String {
        match &self.daemon.host {
            Some(host) => host.clone(),
            None => nix::unistd::gethostname()
                .ok()
                .and_then(|h| h.into_string().ok())
                .unwrap_or_else(|| "localhost".into()),
        }
    }

    pub fn stager_endpoint(&self) -> String {
        self.endpoint(&self.endpoints.stager, "stager.sock")
    }

    pub fn admin_endpoint(&self) -> String {
        self.endpoint(&self.endpoints.admin, "admin.sock")
    }

    pub fn sessions_endpoint(&self) -> String {
        self.endpoint(&self.endpoints.sessions, "sessions.sock")
    }

    /// Where the embedded library controller listens.
    pub fn library_endpoint(&self) -> String {
        self.endpoint(&self.endpoints.library, "tlc.sock")
    }

    /// The controllers clients of this daemon ask: the configured `tlcd`
    /// instances, else the embedded controller.
    pub fn controller_endpoints(&self) -> Vec<String> {
        if self.library.controllers.is_empty() {
            vec![self.library_endpoint()]
        } else {
            self.library.controllers.clone()
        }
    }

    fn endpoint(&self, configured: &str, socket: &str) -> String {
        if configured.is_empty() {
            format!("ipc://{}", self.daemon.run_dir.join(socket).display())
        } else {
            configured.to_string()
        }
    }

    /// Renders the config back to TOML (used by `tapeserverd init`).
    pub fn to_toml(&self) -> Result<String, toml::ser::Error> {
        toml::to_string(self)
    }
}

/// The config file a client command uses: the flag, then the environment, then the default.
pub fn client_config_path(flag: Option<PathBuf>) -> PathBuf {
    flag.or_else(|| std::env::var_os(CONFIG_ENV).map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from(DEFAULT_CONFIG_PATH))
}

/// TOML into a typed struct; errors name the file, the key and the line.
fn deserialize<T: serde::de::DeserializeOwned>(path: &Path, text: &str) -> Result<T, ConfigError> {
    let de = toml::Deserializer::parse(text).map_err(|e| ConfigError::Syntax {
        path: path.to_path_buf(),
        message: describe_toml_error(text, &e),
    })?;
    serde_path_to_error::deserialize(de).map_err(|e| {
        let key = e.path().to_string();
        let inner = e.into_inner();
        ConfigError::Key {
            path: path.to_path_buf(),
            key,
            message: describe_toml_error(text, &inner),
        }
    })
}

/// One line: the message and where it is, without the multi-line snippet.
fn describe_toml_error(text: &str, e: &toml::de::Error) -> String {
    let message = e.message().trim().to_string();
    match e.span() {
        Some(span) => {
            let line = text[..span.start.min(text.len())].matches('\n').count() + 1;
            format!("{message} (line {line})")
        }
        None => message,
    }
}

#[cfg(test)]
mod tests;
