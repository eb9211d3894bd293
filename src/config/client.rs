//! What a stager on another host needs: the daemons' endpoints, tried in
//! turn, and how long to wait for each. A client config holds only this:
//!
//! ```toml
//! [client]
//! endpoints = ["tcp://ts1.example.org:5700", "tcp://ts2.example.org:5700"]
//! timeout = "10s"
//! ```
//!
//! A daemon's full config works too (its stager endpoint), and
//! `--endpoint` overrides either.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::messaging::curve::{ClientKeys, KeyPair, decode};

use super::defaults::default_client_timeout;
use super::{Config, ConfigError, Interval, client_config_path, deserialize};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ClientFile {
    client: ClientConfig,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientConfig {
    /// The stager endpoints of the site's tape servers, in the order to try them.
    pub endpoints: Vec<String>,
    #[serde(default = "default_client_timeout")]
    pub timeout: Interval,
    /// The servers' CURVE public key (Z85), for endpoints on other hosts.
    #[serde(default)]
    pub server_key: Option<String>,
    /// This client's CURVE key pair (`tapeserverd keygen`), listed in the
    /// servers' `[[security.clients]]`.
    #[serde(default)]
    pub key_file: Option<PathBuf>,
}

/// Where a stager sends its requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StagerSettings {
    pub endpoints: Vec<String>,
    pub timeout: Duration,
    /// CURVE keys, when the endpoints are on other hosts.
    pub keys: Option<ClientKeys>,
}

impl StagerSettings {
    /// From `--endpoint` flags if any (the config, if one is found, still
    /// gives the timeout), else from the config file: a client config or
    /// a daemon's.
    pub fn load(flag: Option<PathBuf>, endpoints: Vec<String>) -> Result<Self, ConfigError> {
        let settings = Self::load_unchecked(flag, endpoints)?;
        if let Some(e) = settings.endpoints.iter().find(|e| !is_endpoint(e)) {
            return Err(ConfigError::Key {
                path: PathBuf::from("--endpoint"),
                key: "endpoints".into(),
                message: format!(
                    "{e:?} is missing ipc:// or tcp:// (ipc://PATH for the daemon's socket file on this host, tcp://HOST:PORT for a daemon on another)"
                ),
            });
        }
        Ok(settings)
    }

    fn load_unchecked(flag: Option<PathBuf>, endpoints: Vec<String>) -> Result<Self, ConfigError> {
        let explicit = flag.is_some() || std::env::var_os(super::CONFIG_ENV).is_some();
        let path = client_config_path(flag);
        let from_file = if !endpoints.is_empty() && !explicit && !path.exists() {
            None
        } else {
            Some(Self::from_file(&path)?)
        };
        match (from_file, endpoints.is_empty()) {
            (Some(file), true) => Ok(file),
            (Some(file), false) => Ok(Self {
                endpoints,
                timeout: file.timeout,
                keys: file.keys,
            }),
            (None, _) => Ok(Self {
                endpoints,
                timeout: default_client_timeout().0,
                keys: None,
            }),
        }
    }

    fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let is_client = text
            .parse::<toml::Table>()
            .is_ok_and(|t| t.contains_key("client"));
        if is_client {
            let file: ClientFile = deserialize(path, &text)?;
            if file.client.endpoints.is_empty() {
                return Err(ConfigError::Key {
                    path: path.to_path_buf(),
                    key: "client.endpoints".into(),
                    message: "expected at least one endpoint".into(),
                });
            }
            let keys = match (file.client.server_key, file.client.key_file) {
                (None, None) => None,
                (Some(server), Some(key_file)) => {
                    let bad = |key: &str, message: String| ConfigError::Key {
                        path: path.to_path_buf(),
                        key: key.into(),
                        message,
                    };
                    decode(&server, "key").map_err(|e| bad("client.server_key", e.to_string()))?;
                    let pair = KeyPair::load(&key_file)
                        .map_err(|e| bad("client.key_file", e.to_string()))?;
                    Some(ClientKeys { server, pair })
                }
                _ => {
                    return Err(ConfigError::Key {
                        path: path.to_path_buf(),
                        key: "client.server_key".into(),
                        message: "server_key and key_file go together".into(),
                    });
                }
            };
            return Ok(Self {
                endpoints: file.client.endpoints,
                timeout: file.client.timeout.0,
                keys,
            });
        }
        let config = Config::parse(path, &text)?;
        Ok(Self {
            endpoints: vec![config.stager_endpoint()],
            timeout: config.endpoints.client_timeout.0,
            keys: None,
        })
    }
}

/// `ipc://PATH` or `tcp://HOST:PORT`.
fn is_endpoint(e: &str) -> bool {
    e.strip_prefix("ipc://").is_some_and(|p| !p.is_empty())
        || e.strip_prefix("tcp://").is_some_and(|a| {
            a.rsplit_once(':')
                .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok())
        })
}

/// Whether a config file is a stager's client config (`[client]`).
pub fn is_client_config(path: &Path) -> bool {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|t| t.parse::<toml::Table>().ok())
        .is_some_and(|t| t.contains_key("client"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_config_holds_endpoints_and_a_timeout() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("client.toml");
        std::fs::write(
            &path,
            "[client]\nendpoints = [\"tcp://a:1\", \"tcp://b:2\"]\ntimeout = \"3s\"\n",
        )
        .unwrap();
        let s = StagerSettings::load(Some(path.clone()), Vec::new()).unwrap();
        assert_eq!(s.endpoints, ["tcp://a:1", "tcp://b:2"]);
        assert_eq!(s.timeout, Duration::from_secs(3));
        let s = StagerSettings::load(Some(path.clone()), vec!["tcp://c:3".into()]).unwrap();
        assert_eq!(
            (s.endpoints[0].as_str(), s.timeout.as_secs()),
            ("tcp://c:3", 3)
        );
        std::fs::write(&path, "[client]\nendpoints = []\n").unwrap();
        let err = StagerSettings::load(Some(path.clone()), Vec::new()).unwrap_err();
        assert!(err.to_string().contains("client.endpoints"), "{err}");
        std::fs::write(&path, "[client]\nendpoints = [\"tcp://a:1\"]\n").unwrap();
        for bad in ["/run/tapeserver/stager.sock", "localhost:5700", "tcp://a"] {
            let err = StagerSettings::load(Some(path.clone()), vec![bad.into()]).unwrap_err();
            assert!(
                err.to_string().contains("missing ipc:// or tcp://"),
                "{err}"
            );
        }
        std::fs::write(&path, "[client]\nendpoint = \"tcp://a:1\"\n").unwrap();
        let err = StagerSettings::load(Some(path), Vec::new()).unwrap_err();
        assert!(err.to_string().contains("endpoint"), "{err}");
    }
}
