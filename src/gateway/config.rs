//! `tapegw.toml`: where the gateway listens, its certificate, the daemon
//! it is a stager client of, and the token issuers it trusts.
//!
//! ```toml
//! [gateway]
//! listen = "127.0.0.1:8443"
//! sitename = "example-tape"
//! certificate = "/etc/tapeserver/gateway/cert.pem"
//! key = "/etc/tapeserver/gateway/key.pem"
//! audiences = ["https://tape.example.org:8443"]
//! daemon_config = "/etc/tapeserver/tapeserver.toml"
//!
//! [[issuers]]
//! name = "local"
//! issuer = "https://tape.example.org:8443/local-issuer"
//! public_key = "/etc/tapeserver/gateway/issuer.pub.pem"
//! ```

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::config::{ByteSize, Interval};

#[derive(Debug, thiserror::Error)]
pub enum GatewayConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct GatewayConfig {
    pub gateway: GatewaySection,
    #[serde(default)]
    pub issuers: Vec<IssuerConfig>,
    /// Clients that authenticate with an X.509 certificate instead of a
    /// token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x509: Option<X509Config>,
}

/// X.509 client certificates: verified against `ca`, each mapped by its
/// subject to a configured client limited to its roots.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct X509Config {
    /// PEM bundle of the CAs client certificates must chain to.
    pub ca: PathBuf,
    #[serde(default)]
    pub clients: Vec<CertClient>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CertClient {
    pub name: String,
    /// The certificate's subject in the order of the certificate, as
    /// `openssl x509 -noout -subject` prints it ("C = CH, O = Example,
    /// CN = fts"); spaces around "=" and "," do not matter.
    pub subject: String,
    /// The paths it may stage and read, with everything beneath them.
    pub roots: Vec<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct GatewaySection {
    /// Address and port of the HTTPS listener.
    pub listen: SocketAddr,
    /// The endpoint's identifier in `/.well-known/wlcg-tape-rest-api` (the
    /// key of targeted metadata meant for this site).
    pub sitename: String,
    #[serde(default)]
    pub description: Option<String>,
    /// The base URI clients reach this gateway by (default:
    /// https://LISTEN); the API is at BASE/api/v1.
    #[serde(default)]
    pub public_uri: Option<String>,
    /// PEM certificate chain and private key of the HTTPS listener.
    #[serde(default)]
    pub certificate: Option<PathBuf>,
    #[serde(default)]
    pub key: Option<PathBuf>,
    /// Plain HTTP instead of HTTPS: refused unless `listen` is loopback.
    #[serde(default)]
    pub plain_http: bool,
    /// Audiences a token may be for (besides the WLCG "any" audience).
    #[serde(default)]
    pub audiences: Vec<String>,
    /// The tapeserver config (a client config, or the daemon's) whose
    /// stager endpoints and keys the gateway uses.
    pub daemon_config: PathBuf,
    /// Where Prometheus scrapes tapegw's metrics (plain HTTP, loopback
    /// only; unset: no endpoint).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics_listen: Option<SocketAddr>,
    /// The largest request body taken (a larger one is answered 413).
    #[serde(default = "default_max_body")]
    pub max_body: ByteSize,
}

fn default_max_body() -> ByteSize {
    ByteSize(16 << 20)
}

/// A token issuer whose tokens are accepted.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct IssuerConfig {
    pub name: String,
    /// The `iss` claim of its tokens.
    pub issuer: String,
    /// Its public key (PEM: EC P-256 for ES256, or RSA for RS256).
    pub public_key: PathBuf,
    /// Its private key, only for the local issuer of `tapegw token`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub private_key: Option<PathBuf>,
    /// What a scope's path is relative to (WLCG token profile): "/" for
    /// absolute paths.
    #[serde(default = "root")]
    pub base_path: String,
    /// The longest token lifetime `tapegw token` issues.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_lifetime: Option<Interval>,
}

fn root() -> String {
    "/".into()
}

impl GatewayConfig {
    pub fn load(path: &Path) -> Result<Self, GatewayConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| GatewayConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let invalid = |message: String| GatewayConfigError::Invalid {
            path: path.to_path_buf(),
            message,
        };
        let config: GatewayConfig = toml::from_str(&text).map_err(|e| invalid(e.to_string()))?;
        config.check().map_err(invalid)?;
        Ok(config)
    }

    /// The first setting that makes no sense, in one sentence.
    pub fn check(&self) -> Result<(), String> {
        let g = &self.gateway;
        if g.sitename.trim().is_empty() {
            return Err("gateway.sitename: a site name is needed".into());
        }
        if g.plain_http && !g.listen.ip().is_loopback() {
            return Err(format!(
                "gateway.plain_http: plain HTTP is served only on loopback, not on {}",
                g.listen
            ));
        }
        if !g.plain_http && (g.certificate.is_none() || g.key.is_none()) {
            return Err(
                "gateway.certificate and gateway.key: HTTPS needs both (or plain_http on loopback)"
                    .into(),
            );
        }
        if let Some(m) = g.metrics_listen
            && !m.ip().is_loopback()
        {
            return Err(format!(
                "gateway.metrics_listen: the metrics endpoint has no authentication and listens on loopback only, not on {m}"
            ));
        }
        let certificates = self.x509.as_ref().is_some_and(|x| !x.clients.is_empty());
        if self.issuers.is_empty() && !certificates {
            return Err(
                "issuers: no token issuer is trusted and no x509 client is configured, so no request could pass"
                    .into(),
            );
        }
        if let Some(x) = &self.x509 {
            if g.plain_http {
                return Err("x509: client certificates need HTTPS, not plain_http".into());
            }
            let mut seen = std::collections::BTreeSet::new();
            for c in &x.clients {
                if !seen.insert(&c.subject) {
                    return Err(format!(
                        "x509.clients: two have the subject {:?}",
                        c.subject
                    ));
                }
                if c.roots.is_empty() {
                    return Err(format!(
                        "x509.clients.{}: roots: name at least one path",
                        c.name
                    ));
                }
                if let Some(r) = c.roots.iter().find(|r| super::paths::normalise(r).is_err()) {
                    return Err(format!(
                        "x509.clients.{}: roots: {r:?} is not an absolute path",
                        c.name
                    ));
                }
            }
        }
        let mut names = std::collections::BTreeSet::new();
        for i in &self.issuers {
            if !names.insert(&i.name) {
                return Err(format!("issuers: two are named {:?}", i.name));
            }
            if !i.base_path.starts_with('/') {
                return Err(format!(
                    "issuers.{}.base_path: {:?} is not an absolute path",
                    i.name, i.base_path
                ));
            }
        }
        Ok(())
    }

    /// The API's base URI, as the discovery endpoint gives it.
    pub fn api_uri(&self) -> String {
        let base = self.gateway.public_uri.clone().unwrap_or_else(|| {
            let scheme = if self.gateway.plain_http {
                "http"
            } else {
                "https"
            };
            format!("{scheme}://{}", self.gateway.listen)
        });
        format!("{}/api/v1", base.trim_end_matches('/'))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_config_is_valid_and_plain_http_stays_on_loopback() {
        let text = include_str!("../../config/tapegw.toml");
        let mut config: GatewayConfig = toml::from_str(text).unwrap();
        config.check().unwrap();
        assert_eq!(config.api_uri(), "https://tape.example.org:8443/api/v1");
        assert_eq!(config.gateway.max_body.0, 16 << 20);
        config.gateway.plain_http = true;
        let err = config.check().unwrap_err();
        assert!(err.contains("loopback"), "{err}");
        config.gateway.listen = "127.0.0.1:8080".parse().unwrap();
        // Certificates are for HTTPS only.
        assert!(config.check().unwrap_err().contains("x509"));
        let x509 = config.x509.take().unwrap();
        config.check().unwrap();
        config.issuers.clear();
        assert!(config.check().unwrap_err().contains("issuer"));
        config.gateway.plain_http = false;
        config.x509 = Some(x509.clone());
        config.check().unwrap();
        let mut no_roots = x509;
        no_roots.clients[0].roots.clear();
        config.x509 = Some(no_roots);
        assert!(config.check().unwrap_err().contains("roots"));
        config.gateway.metrics_listen = Some("0.0.0.0:9478".parse().unwrap());
        config.x509 = None;
        config.issuers.push(IssuerConfig {
            name: "i".into(),
            issuer: "https://i/".into(),
            public_key: "/i.pem".into(),
            private_key: None,
            base_path: "/".into(),
            max_lifetime: None,
        });
        assert!(config.check().unwrap_err().contains("metrics_listen"));
    }
}
