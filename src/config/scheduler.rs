//! The `[scheduler]` section: where the queue and catalogue live, the
//! mount policy (per activity, per pool), drive leases, and retry limits.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::defaults::*;
use super::{ByteSize, Interval};

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SchedulerConfig {
    /// `sqlite://PATH` (one host) or `postgres://USER@HOST[:PORT]/DB` (a site).
    pub url: String,
    /// The PostgreSQL password, in a file only the daemon's user reads
    /// (never in the URL, never on a command line).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_file: Option<PathBuf>,
    /// How often free drives look for work when nothing wakes them.
    #[serde(default = "default_poll_interval")]
    pub poll_interval: Interval,
    /// A mount starts when a queue holds this many files...
    #[serde(default = "default_mount_min_files")]
    pub mount_min_files: u64,
    /// ...or this many bytes...
    #[serde(default = "default_mount_min_bytes")]
    pub mount_min_bytes: ByteSize,
    /// ...once its oldest request is at least this old...
    #[serde(default = "default_zero_interval")]
    pub mount_min_age: Interval,
    /// ...or whatever the counts once its oldest request is this old.
    #[serde(default = "default_mount_max_age")]
    pub mount_max_age: Interval,
    /// Overrides of the thresholds above for archives and for recalls.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub archive: Option<QueuePolicyConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recall: Option<QueuePolicyConfig>,
    /// Per pool overrides: `[scheduler.pools.NAME.archive]`, `.recall`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub pools: BTreeMap<String, PoolPolicyConfig>,
    /// A drive keeps its cartridge up to this long after its last job
    /// (lazy dismount): always when no other queue wants a drive, else
    /// while requests for its tape (or pool) came within this time.
    #[serde(default = "default_keep_mounted")]
    pub keep_mounted: Interval,
    /// How long a drive lease lasts; renewed three times per lease. A server
    /// that stops renewing is presumed dead and its mounts are closed by
    /// another.
    #[serde(default = "default_drive_lease")]
    pub drive_lease: Interval,
    /// A drive whose session could not reach the scheduler asks for no new
    /// mount for this long.
    #[serde(default = "default_error_backoff")]
    pub error_backoff: Interval,
    /// A queue whose mount found no work is not mounted again for this long.
    #[serde(default = "default_empty_mount_backoff")]
    pub empty_mount_backoff: Interval,
    /// A file fails for good after this many failed attempts (disk-side
    /// errors, or a session killed while on it)...
    #[serde(default = "default_max_file_attempts")]
    pub max_file_attempts: u32,
    /// ...or after meeting end of medium on this many tapes.
    #[serde(default = "default_max_end_of_medium")]
    pub max_end_of_medium: u32,
    /// A deleted file can be undeleted (`tapeadmin undelete`) for this long,
    /// while its tape has not been reclaimed.
    #[serde(default = "default_recycle_retention")]
    pub recycle_retention: Interval,
    /// The storage class of an archive that names neither `--pool` nor
    /// `--class` (unset: the pool `default`, one copy).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_class: Option<String>,
    /// How contended drives are split between groups of pools.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub shares: Vec<super::shares::ShareConfig>,
}

fn default_recycle_retention() -> Interval {
    Interval(std::time::Duration::from_secs(30 * 86_400))
}

/// Thresholds of one kind of queue; a key left out is inherited.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct QueuePolicyConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_files: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_bytes: Option<ByteSize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_age: Option<Interval>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_age: Option<Interval>,
    /// Higher goes first among queues not yet overdue.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<i64>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct PoolPolicyConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub archive: Option<QueuePolicyConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recall: Option<QueuePolicyConfig>,
}

impl SchedulerConfig {
    /// The first key that makes no sense, and why.
    pub fn validate(&self) -> Result<(), (String, String)> {
        super::shares::validate(&self.shares)?;
        let sqlite = self
            .url
            .strip_prefix("sqlite://")
            .is_some_and(|p| !p.is_empty());
        let postgres = self.url.starts_with("postgres://") || self.url.starts_with("postgresql://");
        if !sqlite && !postgres {
            return Err((
                "scheduler.url".into(),
                format!(
                    "expected \"sqlite://PATH\" or \"postgres://USER@HOST/DB\", got {:?}",
                    self.url
                ),
            ));
        }
        if postgres {
            let config =
                <postgres::Config as std::str::FromStr>::from_str(&self.url).map_err(|e| {
                    (
                        "scheduler.url".to_string(),
                        format!("scheduler URL is not a PostgreSQL URL: {e}"),
                    )
                })?;
            if config.get_password().is_some() {
                return Err((
                    "scheduler.url".into(),
                    "holds a password: put it in scheduler.password_file instead".into(),
                ));
            }
        } else if self.password_file.is_some() {
            return Err((
                "scheduler.password_file".into(),
                "only a postgres:// scheduler takes a password".into(),
            ));
        }
        if let Some(file) = &self.password_file {
            use std::os::unix::fs::PermissionsExt;
            let key = || "scheduler.password_file".to_string();
            let meta =
                std::fs::metadata(file).map_err(|e| (key(), format!("{}: {e}", file.display())))?;
            let mode = meta.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                return Err((
                    key(),
                    format!(
                        "{} can be read by others (mode {mode:04o}): chmod 600 it",
                        file.display()
                    ),
                ));
            }
        }
        if self.drive_lease.0 < Duration::from_secs(1) {
            return Err((
                "scheduler.drive_lease".into(),
                "expected at least 1s".into(),
            ));
        }
        let policies = [
            ("scheduler.archive", self.archive.as_ref()),
            ("scheduler.recall", self.recall.as_ref()),
        ]
        .into_iter()
        .chain(self.pools.values().flat_map(|p| {
            [
                ("scheduler.pools.*.archive", p.archive.as_ref()),
                ("scheduler.pools.*.recall", p.recall.as_ref()),
            ]
        }));
        for (key, p) in policies {
            if let Some(p) = p
                && let (Some(min), Some(max)) = (p.min_age, p.max_age)
                && min.0 > max.0
            {
                return Err((
                    format!("{key}.min_age"),
                    "is longer than max_age: the queue would never be mounted early".into(),
                ));
            }
        }
        if self.mount_min_age.0 > self.mount_max_age.0 {
            return Err((
                "scheduler.mount_min_age".into(),
                "is longer than mount_max_age".into(),
            ));
        }
        Ok(())
    }
}
