//! Checks of the `[library]` section: what each kind of library needs.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::ConfigError;
use super::Interval;
use super::defaults::{default_move_timeout, default_probe_interval, default_request_timeout};

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LibraryConfig {
    /// "emulated": the emulated SCSI library under `path`; "scsi": a real
    /// library behind `changers`.
    pub kind: LibraryKind,
    /// The emulated library's directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<PathBuf>,
    /// Changer paths in order of preference: devices (`/dev/sg3`), iSCSI
    /// URLs (`iscsi://HOST[:PORT]/TARGET_IQN/LUN`), or an emulated
    /// library's path files. Empty with kind "emulated": all of its paths.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changers: Vec<String>,
    /// Endpoints of `tlcd` instances serving this library; empty: a
    /// controller embedded in this daemon.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub controllers: Vec<String>,
    /// The embedded controller's lease file (default: STATE_DIR/tlc.lease).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease: Option<PathBuf>,
    /// A move that takes longer failed (robots retry for minutes).
    #[serde(default = "default_move_timeout")]
    pub move_timeout: Interval,
    /// How often an offline changer path is probed.
    #[serde(default = "default_probe_interval")]
    pub probe_interval: Interval,
    /// How long a client waits for one controller before asking the next.
    #[serde(default = "default_request_timeout")]
    pub request_timeout: Interval,
    /// The controllers' CURVE public key, when `controllers` are on other
    /// hosts: the daemon and its sessions connect with `[security]
    /// key_file`, which the controllers list as a client.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub controller_key: Option<String>,
    /// Makes the file-backed drives take a real drive's time: "lto8",
    /// "lto9" or "lto10" (load, unload, locate by distance, streaming
    /// rate, flush; `docs/time-model.md`). Unset: every call is free.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_model: Option<String>,
    /// How many times faster than the modelled drive (100: a 56 s unload
    /// takes 0.56 s).
    #[serde(default = "default_time_scale", skip_serializing_if = "is_real_time")]
    pub time_scale: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LibraryKind {
    /// "virtual" was the file-backed library this one replaces; its state
    /// is converted when first read.
    #[serde(alias = "virtual")]
    Emulated,
    Scsi,
}

fn default_time_scale() -> f64 {
    1.0
}

fn is_real_time(scale: &f64) -> bool {
    (*scale - 1.0).abs() < f64::EPSILON
}

fn is_endpoint(e: &str) -> bool {
    ["tcp://", "ipc://"]
        .iter()
        .any(|p| e.strip_prefix(p).is_some_and(|rest| !rest.is_empty()))
}

impl LibraryConfig {
    pub(super) fn validate(
        &self,
        bad: &impl Fn(&str, String) -> ConfigError,
    ) -> Result<(), ConfigError> {
        if let Some(path) = &self.path
            && !path.is_absolute()
        {
            return Err(bad(
                "library.path",
                format!("expected an absolute path, got {}", path.display()),
            ));
        }
        if let Some(e) = self.controllers.iter().find(|e| !is_endpoint(e)) {
            return Err(bad(
                "library.controllers",
                format!("expected tcp://HOST:PORT or ipc://PATH endpoints, got {e:?}"),
            ));
        }
        if let Some(c) = self.changers.iter().find(|c| c.trim().is_empty()) {
            return Err(bad(
                "library.changers",
                format!("expected devices or iSCSI URLs, got {c:?}"),
            ));
        }
        if let Some(name) = &self.time_model
            && crate::tape::time_model::profile(name).is_none()
        {
            return Err(bad(
                "library.time_model",
                format!("expected \"lto8\", \"lto9\" or \"lto10\", got {name:?}"),
            ));
        }
        if !(self.time_scale.is_finite() && self.time_scale >= 1.0) {
            return Err(bad(
                "library.time_scale",
                format!(
                    "expected how many times faster than the real drive, 1 or more, got {}",
                    self.time_scale
                ),
            ));
        }
        let served_elsewhere = !self.controllers.is_empty();
        match self.kind {
            LibraryKind::Emulated if self.path.is_none() && !served_elsewhere => Err(bad(
                "library.path",
                "an emulated library needs its directory".into(),
            )),
            LibraryKind::Scsi if self.changers.is_empty() && !served_elsewhere => Err(bad(
                "library.changers",
                "a SCSI library needs at least one changer path (or `controllers`)".into(),
            )),
            _ => Ok(()),
        }
    }

    /// The drive time model the sessions apply, with its scale.
    pub fn drive_timing(&self) -> Option<(crate::tape::time_model::Profile, f64)> {
        let profile = crate::tape::time_model::profile(self.time_model.as_deref()?)?;
        Some((profile, self.time_scale))
    }

    /// Where the emulated library lives, if this is one.
    pub fn emulated_root(&self) -> Option<&PathBuf> {
        match self.kind {
            LibraryKind::Emulated => self.path.as_ref(),
            LibraryKind::Scsi => None,
        }
    }
}
