//! `tapeserverd init DIR --gateway`: a tapegw for this installation in
//! `DIR/tapegw.toml`, an HTTPS listener on a free loopback port with a CA
//! and certificate made in `DIR/gateway`, and a local token issuer whose
//! tokens `tapegw token` signs.

use std::path::{Path, PathBuf};

use super::InitError;
use crate::config::{ByteSize, Interval};
use crate::gateway::config::{GatewayConfig, GatewaySection, IssuerConfig};

/// Writes the gateway's files; returns the path of its config.
pub fn write(dir: &Path, host: &str, daemon_config: &Path) -> Result<PathBuf, InitError> {
    let path = dir.join("tapegw.toml");
    if path.exists() {
        return Err(InitError::Invalid(format!(
            "{} exists: refusing to overwrite a gateway's config",
            path.display()
        )));
    }
    // A port free now on loopback; the gateway binds it when it starts.
    let listen = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| InitError::Invalid(format!("no free loopback port for the gateway: {e}")))?;
    let files =
        crate::gateway::pki::make(&dir.join("gateway"), host).map_err(InitError::Invalid)?;
    let config = GatewayConfig {
        gateway: GatewaySection {
            listen,
            sitename: format!("tapeserver-{host}"),
            description: Some(format!("tapeserver on {host}")),
            public_uri: None,
            certificate: Some(files.certificate),
            key: Some(files.key),
            plain_http: false,
            audiences: vec![format!("https://{listen}")],
            daemon_config: daemon_config.to_path_buf(),
            metrics_listen: None,
            max_body: ByteSize(16 << 20),
        },
        issuers: vec![IssuerConfig {
            name: "local".into(),
            issuer: format!("https://{listen}/local-issuer"),
            public_key: files.issuer_public,
            private_key: Some(files.issuer_private),
            base_path: "/".into(),
            max_lifetime: Some(Interval(std::time::Duration::from_secs(86_400))),
        }],
        x509: None,
    };
    let text = toml::to_string_pretty(&config)
        .map_err(|e| InitError::Invalid(format!("cannot write the gateway config: {e}")))?;
    let text = format!(
        "# tapegw configuration written by `tapeserverd init --gateway`.\n# The CA clients trust is {}.\n\n{text}",
        dir.join("gateway/ca.pem").display()
    );
    crate::util::write_atomically(&path, text.as_bytes())
        .map_err(|e| InitError::Invalid(format!("cannot write {}: {e}", path.display())))?;
    Ok(path)
}
