//! `[security]`: who may reach the daemon and as whom its sessions run.
//!
//! ```toml
//! [security]
//! key_file = "/etc/tapeserver/server.key"  # CURVE pair (tapeserverd keygen)
//! admin_group = "tape"                      # group of the 0660 admin socket
//! user = "tapeserver"                       # sessions drop to it from root
//!
//! [[security.clients]]
//! name = "stager1"
//! key = "Z85 public key of stager1"
//! archive_roots = ["/data/stager1"]         # default: [paths] archive_roots
//! recall_roots = ["/data/stager1/back"]     # default: [paths] recall_roots
//! owner = "atlas"                           # default: its name
//! ```

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::messaging::curve::{self, ClientKey, KeyPair};

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SecurityConfig {
    /// The daemon's CURVE key pair; needed once an endpoint is bound to an
    /// address other hosts reach.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_file: Option<PathBuf>,
    /// The admin socket's group (it is created 0660).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admin_group: Option<String>,
    /// Started as root, sessions (and tlcd) become this user, with its
    /// groups and no capability. The sockets sessions use and the SQLite
    /// catalogue are given to it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// The CURVE clients accepted on remote endpoints.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub clients: Vec<ClientEntry>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ClientEntry {
    pub name: String,
    /// Its public key (Z85).
    pub key: String,
    /// Where this client may archive from (default: `[paths]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub archive_roots: Option<Vec<PathBuf>>,
    /// Where this client may recall into (default: `[paths]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recall_roots: Option<Vec<PathBuf>>,
    /// Who owns the files it archives (default: its name): clients with
    /// one owner see and recall each other's files, no other client does.
    /// "local" shares them with the local stagers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
}

impl ClientEntry {
    /// The owner of the files this client archives, and of those it may see.
    pub fn owner(&self) -> &str {
        self.owner.as_deref().unwrap_or(&self.name)
    }
}

impl SecurityConfig {
    pub fn client_keys(&self) -> Vec<ClientKey> {
        self.clients
            .iter()
            .map(|c| ClientKey {
                name: c.name.clone(),
                public: c.key.clone(),
            })
            .collect()
    }

    pub fn key_pair(&self) -> Result<Option<KeyPair>, curve::CurveError> {
        self.key_file.as_deref().map(KeyPair::load).transpose()
    }

    /// (key, message) of the first bad entry.
    pub fn check(&self) -> Result<(), (String, String)> {
        let mut names = std::collections::HashSet::new();
        for (i, c) in self.clients.iter().enumerate() {
            if c.name.is_empty() || !names.insert(c.name.as_str()) {
                return Err((
                    format!("security.clients[{i}].name"),
                    format!("{:?}: client names must be unique and not empty", c.name),
                ));
            }
            // "local": the scheduler's owner of the local stagers' files.
            if c.name == "local" && c.owner.is_none() {
                return Err((
                    format!("security.clients[{i}].name"),
                    "\"local\" owns the local stagers' files: name the client otherwise, or set owner = \"local\" to share them".into(),
                ));
            }
            if c.owner.as_deref().is_some_and(str::is_empty) {
                return Err((
                    format!("security.clients[{i}].owner"),
                    "an owner cannot be empty (leave it out: the client's name)".into(),
                ));
            }
            if curve::decode(&c.key, "key").is_err() {
                return Err((
                    format!("security.clients[{i}].key"),
                    "expected a CURVE public key (40 characters of Z85, from `tapeserverd keygen`)"
                        .into(),
                ));
            }
            for roots in [&c.archive_roots, &c.recall_roots].into_iter().flatten() {
                if let Some(r) = roots.iter().find(|r| !r.is_absolute()) {
                    return Err((
                        format!("security.clients[{i}]"),
                        format!("expected absolute paths, got {}", r.display()),
                    ));
                }
            }
        }
        Ok(())
    }
}
