//! CURVE security for endpoints other hosts can reach.
//!
//! An endpoint bound to anything but loopback (or an ipc path) must carry
//! the server's CURVE key pair, or the server refuses to start. Clients are
//! then authenticated by their public keys: a ZAP handler (RFC 27) in the
//! server's ZMQ context accepts the keys the config lists and rejects all
//! others, and names each accepted key, so a request arrives with the
//! client's name ("User-Id") and the server applies that client's rules.
//!
//! Keys are Z85 text (40 characters), as `zmq_curve_keypair` makes them;
//! `tapeserverd keygen` writes a pair to a file of mode 0600.

use std::collections::HashMap;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use serde::Deserialize;

/// The ZAP domain the servers' sockets announce.
const DOMAIN: &str = "tapeserver";
const ZAP_ENDPOINT: &str = "inproc://zeromq.zap.01";

#[derive(Debug, thiserror::Error)]
pub enum CurveError {
    #[error(
        "{0} is reachable from other hosts: it needs a CURVE key pair ([security] key_file; make one with `tapeserverd keygen`)"
    )]
    NoKey(String),
    #[error(
        "{0}: a TCP endpoint needs a CURVE key pair, even on loopback (a port is open to every user of the host): set [security] key_file (make one with `tapeserverd keygen`) and list the clients in [[security.clients]], or use ipc://PATH"
    )]
    PlainTcp(String),
    #[error(
        "{0}: the daemon serves TCP with CURVE only: give this client its keys ([client] server_key and key_file), or use the daemon's ipc:// socket"
    )]
    NoClientKey(String),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: not a key pair file ({reason})")]
    BadFile { path: PathBuf, reason: String },
    #[error("{what}: not a CURVE key (40 characters of Z85)")]
    BadKey { what: String },
    #[error("{0} already exists: refusing to overwrite a key")]
    Exists(PathBuf),
    #[error("this libzmq has no CURVE support")]
    Unsupported,
    #[error("ZMQ: {0}")]
    Zmq(#[from] zmq::Error),
}

/// A CURVE key pair, as Z85 text.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyPair {
    pub public: String,
    pub secret: String,
}

impl KeyPair {
    pub fn generate() -> Result<Self, CurveError> {
        if !zmq::has("curve").unwrap_or(false) {
            return Err(CurveError::Unsupported);
        }
        let pair = zmq::CurveKeyPair::new()?;
        Ok(Self {
            public: zmq::z85_encode(&pair.public_key).map_err(|_| CurveError::Unsupported)?,
            secret: zmq::z85_encode(&pair.secret_key).map_err(|_| CurveError::Unsupported)?,
        })
    }

    /// Reads a pair file (`public = "..."`, `secret = "..."`).
    pub fn load(path: &Path) -> Result<Self, CurveError> {
        let text = std::fs::read_to_string(path).map_err(|source| CurveError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let pair: KeyPair = toml::from_str(&text).map_err(|e| CurveError::BadFile {
            path: path.to_path_buf(),
            reason: e.message().to_string(),
        })?;
        decode(&pair.public, "its public key")?;
        decode(&pair.secret, "its secret key")?;
        Ok(pair)
    }

    /// Writes `DIR/NAME.key` (the pair, mode 0600) and `DIR/NAME.pub` (the
    /// public key alone, to hand to the other side). Never overwrites.
    pub fn write(&self, dir: &Path, name: &str) -> Result<(PathBuf, PathBuf), CurveError> {
        let secret = dir.join(format!("{name}.key"));
        let public = dir.join(format!("{name}.pub"));
        for path in [&secret, &public] {
            if path.exists() {
                return Err(CurveError::Exists(path.clone()));
            }
        }
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| CurveError::Io { path, source }
        };
        // Created with mode 0600 from the start: never readable by others.
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&secret)
            .map_err(io(&secret))?;
        writeln!(
            f,
            "# CURVE key pair of {name} (keep secret)\npublic = \"{}\"\nsecret = \"{}\"",
            self.public, self.secret
        )
        .and_then(|()| f.sync_all())
        .map_err(io(&secret))?;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o644)
            .open(&public)
            .map_err(io(&public))?;
        writeln!(f, "{}", self.public).map_err(io(&public))?;
        Ok((secret, public))
    }
}

/// A Z85 key as its 32 bytes.
pub fn decode(key: &str, what: &str) -> Result<Vec<u8>, CurveError> {
    match zmq::z85_decode(key) {
        Ok(bytes) if bytes.len() == 32 => Ok(bytes),
        _ => Err(CurveError::BadKey { what: what.into() }),
    }
}

/// True for endpoints only this host can reach: ipc and inproc, and TCP on
/// a loopback address.
pub fn is_local(endpoint: &str) -> bool {
    if endpoint.starts_with("ipc://") || endpoint.starts_with("inproc://") {
        return true;
    }
    let Some(rest) = endpoint.strip_prefix("tcp://") else {
        return false;
    };
    // "HOST:PORT", "[V6]:PORT", or "IFACE;HOST:PORT" (the source part).
    let rest = rest.rsplit(';').next().unwrap_or(rest);
    let host = match rest.rsplit_once(':') {
        Some((h, _)) => h.trim_start_matches('[').trim_end_matches(']'),
        None => rest,
    };
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// A client key a server accepts, and the name its requests carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientKey {
    pub name: String,
    pub public: String,
}

/// Makes `socket` a CURVE server if `endpoint` is not local. Call before
/// bind. A local endpoint is left as it is.
pub fn secure_server(
    socket: &zmq::Socket,
    endpoint: &str,
    keys: Option<&KeyPair>,
) -> Result<(), CurveError> {
    if is_local(endpoint) {
        return Ok(());
    }
    let keys = keys.ok_or_else(|| CurveError::NoKey(endpoint.to_string()))?;
    curve_server(socket, keys)
}

/// ipc (and inproc) endpoints: the socket file's permissions say who
/// connects. Everything else is a network port.
pub fn is_ipc(endpoint: &str) -> bool {
    endpoint.starts_with("ipc://") || endpoint.starts_with("inproc://")
}

/// The daemon's stager and admin endpoints: CURVE on every TCP endpoint,
/// loopback included, since a loopback port is open to every user of the
/// host, while the ipc sockets are 0660. Call before bind.
pub fn secure_daemon_server(
    socket: &zmq::Socket,
    endpoint: &str,
    keys: Option<&KeyPair>,
) -> Result<(), CurveError> {
    if is_ipc(endpoint) {
        return Ok(());
    }
    let keys = keys.ok_or_else(|| CurveError::PlainTcp(endpoint.to_string()))?;
    curve_server(socket, keys)
}

fn curve_server(socket: &zmq::Socket, keys: &KeyPair) -> Result<(), CurveError> {
    socket.set_zap_domain(DOMAIN)?;
    socket.set_curve_server(true)?;
    socket.set_curve_secretkey(&decode(&keys.secret, "the server's secret key")?)?;
    Ok(())
}

/// Whether this process has client keys (`set_client_keys`).
pub fn has_client_keys() -> bool {
    CLIENT_KEYS.get().is_some()
}

/// Serves ZAP requests in `ctx` on a thread of its own: CURVE clients whose
/// key is listed are accepted under their name, all others refused (and
/// logged, at most once a second with a count). Ends when the context does.
pub fn start_authenticator(ctx: &zmq::Context, clients: &[ClientKey]) -> Result<(), CurveError> {
    let socket = ctx.socket(zmq::REP)?;
    socket.set_linger(0)?;
    socket.bind(ZAP_ENDPOINT)?;
    let mut allowed: HashMap<Vec<u8>, String> = HashMap::new();
    for c in clients {
        allowed.insert(
            decode(&c.public, &format!("client {}", c.name))?,
            c.name.clone(),
        );
    }
    std::thread::Builder::new()
        .name("zap".into())
        .spawn(move || authenticate(socket, allowed))
        .map_err(|source| CurveError::Io {
            path: PathBuf::from("zap thread"),
            source,
        })?;
    Ok(())
}

fn authenticate(socket: zmq::Socket, allowed: HashMap<Vec<u8>, String>) {
    let mut refused = 0u64;
    let mut last_log = std::time::Instant::now() - std::time::Duration::from_secs(2);
    loop {
        // The context ending (ETERM) ends the thread.
        let Ok(frames) = socket.recv_multipart(0) else {
            return;
        };
        // version, request id, domain, address, identity, mechanism, credentials...
        let field = |i: usize| frames.get(i).map(Vec::as_slice).unwrap_or_default();
        let (version, id, address, mechanism) = (field(0), field(1), field(3), field(5));
        let name = (version == b"1.0" && mechanism == b"CURVE")
            .then(|| allowed.get(field(6)))
            .flatten();
        let reply: Vec<Vec<u8>> = match name {
            Some(name) => vec![
                b"1.0".to_vec(),
                id.to_vec(),
                b"200".to_vec(),
                b"OK".to_vec(),
                name.as_bytes().to_vec(),
                Vec::new(),
            ],
            None => {
                refused += 1;
                if last_log.elapsed() >= std::time::Duration::from_secs(1) {
                    let key = zmq::z85_encode(field(6)).unwrap_or_default();
                    tracing::warn!(
                        address = %String::from_utf8_lossy(address),
                        key = %key,
                        refused,
                        "connection refused: unknown CURVE key"
                    );
                    last_log = std::time::Instant::now();
                }
                vec![
                    b"1.0".to_vec(),
                    id.to_vec(),
                    b"400".to_vec(),
                    b"unknown key".to_vec(),
                    Vec::new(),
                    Vec::new(),
                ]
            }
        };
        if socket.send_multipart(reply, 0).is_err() {
            return;
        }
    }
}

/// A client's CURVE settings: the server's public key and its own pair.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientKeys {
    pub server: String,
    pub pair: KeyPair,
}

static CLIENT_KEYS: OnceLock<ClientKeys> = OnceLock::new();

/// Sets the keys every client socket of this process uses (a command talks
/// to one site). The first call wins.
pub fn set_client_keys(keys: ClientKeys) {
    let _ = CLIENT_KEYS.set(keys);
}

/// Makes `socket` a CURVE client when keys are set; an endpoint other
/// hosts can reach without them is refused (it would send in the clear).
pub fn secure_client(socket: &zmq::Socket, endpoint: &str) -> Result<(), CurveError> {
    match CLIENT_KEYS.get() {
        Some(k) => {
            socket.set_curve_serverkey(&decode(&k.server, "the server's public key")?)?;
            socket.set_curve_publickey(&decode(&k.pair.public, "the client's public key")?)?;
            socket.set_curve_secretkey(&decode(&k.pair.secret, "the client's secret key")?)?;
            Ok(())
        }
        None if is_local(endpoint) => Ok(()),
        None => Err(CurveError::NoKey(endpoint.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_endpoints_are_told_apart() {
        for local in [
            "ipc:///run/tapeserver/stager.sock",
            "tcp://127.0.0.1:5700",
            "tcp://127.1.2.3:1",
            "tcp://[::1]:5700",
            "tcp://localhost:5700",
        ] {
            assert!(is_local(local), "{local}");
        }
        for remote in [
            "tcp://*:5700",
            "tcp://0.0.0.0:5700",
            "tcp://10.0.0.1:5700",
            "tcp://ts1.example.org:5700",
            "tcp://[::]:5700",
            "tcp://eth0;10.0.0.1:5700",
        ] {
            assert!(!is_local(remote), "{remote}");
        }
    }

    #[test]
    fn key_pairs_are_written_0600_and_never_overwritten() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let pair = KeyPair::generate().unwrap();
        let (secret, public) = pair.write(dir.path(), "stager1").unwrap();
        let mode = std::fs::metadata(&secret).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(KeyPair::load(&secret).unwrap(), pair);
        assert_eq!(std::fs::read_to_string(public).unwrap().trim(), pair.public);
        assert!(matches!(
            KeyPair::generate().unwrap().write(dir.path(), "stager1"),
            Err(CurveError::Exists(_))
        ));
        std::fs::write(
            dir.path().join("bad.key"),
            "public = \"short\"\nsecret = \"x\"\n",
        )
        .unwrap();
        assert!(KeyPair::load(&dir.path().join("bad.key")).is_err());
    }

    #[test]
    fn a_remote_endpoint_without_keys_is_refused() {
        let ctx = zmq::Context::new();
        let s = ctx.socket(zmq::ROUTER).unwrap();
        assert!(matches!(
            secure_server(&s, "tcp://0.0.0.0:5700", None),
            Err(CurveError::NoKey(_))
        ));
        assert!(secure_server(&s, "tcp://127.0.0.1:5700", None).is_ok());
    }
}
