//! `tlcd`'s configuration: the library it drives and how it serves it.
//!
//! ```toml
//! [library]
//! kind = "scsi"
//! changers = ["/dev/sg3", "iscsi://tlc2:3260/iqn.2004-01.com.example:lib/1"]
//! move_timeout = "15m"
//!
//! [controller]
//! listen = ["tcp://*:5770"]            # what it binds
//! endpoint = "tcp://tlc1.example:5770" # what clients are told
//! interface = "eth1"                   # optional: only this interface
//! lease = "/shared/tapeserver/tlc.lease"
//!
//! [[drives]]
//! name = "drive0"
//! element = 500
//! ```

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{ConfigError, LibraryConfig, default_log_level};

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TlcdConfig {
    pub library: LibraryConfig,
    pub controller: ControllerSection,
    /// Drives by name, so status and requests can use names.
    #[serde(default)]
    pub drives: Vec<TlcdDrive>,
    /// CURVE keys and clients for listen endpoints other hosts reach.
    #[serde(default)]
    pub security: super::SecurityConfig,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ControllerSection {
    /// ZMQ endpoints to bind (`tcp://ADDRESS:PORT`, `tcp://*:PORT`, `ipc://PATH`).
    pub listen: Vec<String>,
    /// The endpoint clients use, when it differs from the first listen endpoint.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub endpoint: String,
    /// Listen only on this network interface's address (`tcp://*:PORT`
    /// endpoints bind it instead of every address).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interface: Option<String>,
    /// The lease file; the active controller holds its lock. Default for an
    /// emulated library: LIBRARY/controller.lease.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease: Option<PathBuf>,
    #[serde(default = "default_log_level")]
    pub log_level: String,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TlcdDrive {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub element: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serial: Option<String>,
}

impl TlcdConfig {
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(path, &text)
    }

    pub fn parse(path: &Path, text: &str) -> Result<Self, ConfigError> {
        let config: TlcdConfig = super::deserialize(path, text)?;
        let bad = |key: &str, message: String| ConfigError::Key {
            path: path.to_path_buf(),
            key: key.to_string(),
            message,
        };
        config.library.validate(&bad)?;
        config.security.check().map_err(|(k, m)| bad(&k, m))?;
        if !config.library.controllers.is_empty() {
            return Err(bad(
                "library.controllers",
                "tlcd is a controller: it drives changers, it does not ask other controllers"
                    .into(),
            ));
        }
        if config.controller.listen.is_empty() {
            return Err(bad(
                "controller.listen",
                "expected at least one endpoint".into(),
            ));
        }
        if config.lease().is_none() {
            return Err(bad(
                "controller.lease",
                "a SCSI library's controllers need a lease file they all see".into(),
            ));
        }
        Ok(config)
    }

    pub fn endpoint(&self) -> String {
        if self.controller.endpoint.is_empty() {
            self.controller.listen[0].clone()
        } else {
            self.controller.endpoint.clone()
        }
    }

    /// The lease file: configured, or in the emulated library.
    pub fn lease(&self) -> Option<PathBuf> {
        self.controller.lease.clone().or_else(|| {
            self.library
                .emulated_root()
                .map(|root| root.join("controller.lease"))
        })
    }
}
