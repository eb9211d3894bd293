//! A site simulator's workload file (TOML, `docs/simulator.md`): the
//! library (drives of a model, a robot), the cartridges with the files
//! already on them, the scheduler's `[scheduler]` section as the daemon
//! reads it, its `[session]` section (bulk sizes, flushes), and streams of requests with
//! their arrival times.

use std::path::Path;

use serde::Deserialize;

use crate::config::{SchedulerConfig, SessionConfig};
use crate::tape::time_model::{self, Profile};
use crate::units::{ByteSize, Interval};

#[derive(Debug, thiserror::Error)]
pub enum WorkloadError {
    #[error("cannot read the workload {path}: {source}")]
    Read {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("workload {path}: {message}")]
    Invalid {
        path: std::path::PathBuf,
        message: String,
    },
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Workload {
    pub name: String,
    /// The drives' generation: lto8, lto9 or lto10.
    #[serde(default = "default_model")]
    pub model: String,
    pub drives: u32,
    /// Robots (pickers): moves on one wait for each other.
    #[serde(default = "one")]
    pub robots: u32,
    /// Seed of the random choices (which files a recall stream asks for).
    #[serde(default = "one_u64")]
    pub seed: u64,
    /// The daemon's `[scheduler]` section (its `url` is the simulator's).
    #[serde(default)]
    pub scheduler: toml::Table,
    /// The daemon's `[session]` section (bulk sizes, flush settings).
    #[serde(default)]
    pub session: SessionConfig,
    #[serde(default)]
    pub tapes: Vec<TapeSet>,
    #[serde(default)]
    pub requests: Vec<Stream>,
    /// Work still left this long after the last arrival is reported as
    /// not served.
    #[serde(default = "default_horizon")]
    pub horizon: Interval,
}

/// `count` cartridges of `pool`, each holding `files` files of `file_size`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TapeSet {
    #[serde(default = "default_pool")]
    pub pool: String,
    pub count: u32,
    #[serde(default)]
    pub files: u64,
    #[serde(default = "default_file_size")]
    pub file_size: ByteSize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Activity {
    Archive,
    Recall,
    Verify,
    Repack,
}

impl Activity {
    pub fn name(self) -> &'static str {
        match self {
            Activity::Archive => "archive",
            Activity::Recall => "recall",
            Activity::Verify => "verify",
            Activity::Repack => "repack",
        }
    }
}

/// `count` requests of one activity, the first at `at`, then one every
/// `every` (0: all at once).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Stream {
    pub activity: Activity,
    #[serde(default)]
    pub at: Interval,
    pub count: u64,
    #[serde(default)]
    pub every: Interval,
    /// Archive: the pool written to, and each file's size.
    #[serde(default = "default_pool")]
    pub pool: String,
    #[serde(default = "default_file_size")]
    pub size: ByteSize,
    /// Recall: random files of the first `tapes` filled cartridges (0: of
    /// all of them). Verify and repack: the first `count` filled ones.
    #[serde(default)]
    pub tapes: u32,
    /// Recall: each request asks for this many files written one after
    /// another on one cartridge (a dataset), at once.
    #[serde(default = "one_u64")]
    pub files: u64,
    /// Recall: "full" (the files the full cartridges start with) or
    /// "archived" (files this run archived before, in the order they were
    /// queued: the first request the first archived file, and so on).
    #[serde(default)]
    pub from: Source,
    /// Recall from "archived": start after this many archived files.
    #[serde(default)]
    pub skip: u64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    #[default]
    Full,
    Archived,
}

fn default_model() -> String {
    "lto9".into()
}
fn one() -> u32 {
    1
}
fn one_u64() -> u64 {
    1
}
fn default_horizon() -> Interval {
    Interval(std::time::Duration::from_secs(7 * 86_400))
}
fn default_pool() -> String {
    "default".into()
}
fn default_file_size() -> ByteSize {
    ByteSize(2_000_000_000)
}

impl Workload {
    pub fn load(path: &Path) -> Result<Self, WorkloadError> {
        let text = std::fs::read_to_string(path).map_err(|source| WorkloadError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let invalid = |message: String| WorkloadError::Invalid {
            path: path.to_path_buf(),
            message,
        };
        let w: Workload = toml::from_str(&text).map_err(|e| invalid(e.to_string()))?;
        w.check().map_err(invalid)?;
        Ok(w)
    }

    fn check(&self) -> Result<(), String> {
        if time_model::profile(&self.model).is_none() {
            return Err(format!(
                "model {:?}: expected lto8, lto9 or lto10",
                self.model
            ));
        }
        if self.drives == 0 || self.robots == 0 {
            return Err("drives and robots must be at least 1".into());
        }
        self.scheduler_config()?;
        let filled: u32 = self
            .tapes
            .iter()
            .filter(|t| t.files > 0)
            .map(|t| t.count)
            .sum();
        for s in &self.requests {
            let needs_full = match s.activity {
                Activity::Archive => false,
                Activity::Recall => s.from == Source::Full,
                _ => true,
            };
            if needs_full && filled == 0 {
                return Err(format!(
                    "a {} stream needs cartridges with files ([[tapes]] files > 0)",
                    s.activity.name()
                ));
            }
            if s.activity == Activity::Archive && !self.tapes.iter().any(|t| t.pool == s.pool) {
                return Err(format!(
                    "an archive stream writes to pool {:?}, which has no cartridge",
                    s.pool
                ));
            }
        }
        Ok(())
    }

    pub fn profile(&self) -> Profile {
        time_model::profile(&self.model).unwrap_or(time_model::LTO9)
    }

    /// The `[scheduler]` section as the daemon reads it.
    pub fn scheduler_config(&self) -> Result<SchedulerConfig, String> {
        let mut table = self.scheduler.clone();
        table
            .entry("url")
            .or_insert_with(|| toml::Value::String("sqlite://:memory:".into()));
        toml::Value::Table(table)
            .try_into()
            .map_err(|e| format!("[scheduler]: {e}"))
    }
}
