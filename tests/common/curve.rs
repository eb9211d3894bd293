//! CURVE clients of a test daemon: keys, client configs, the stager.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::bin;

/// A CURVE key pair made by `tapeserverd keygen`: (secret key file, public key).
pub fn keygen(dir: &Path, name: &str) -> (PathBuf, String) {
    let out = Command::new(bin("tapeserverd"))
        .args(["keygen", name, "--dir"])
        .arg(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let public = std::fs::read_to_string(dir.join(format!("{name}.pub"))).unwrap();
    (dir.join(format!("{name}.key")), public.trim().to_string())
}

/// A client-only config for the daemon's TCP stager endpoint, with CURVE
/// keys (the server's public key, the client's key file) or without.
pub fn client_config(dir: &Path, name: &str, port: u16, keys: Option<(&str, &Path)>) -> PathBuf {
    let path = dir.join(format!("{name}.toml"));
    let mut text =
        format!("[client]\nendpoints = [\"tcp://127.0.0.1:{port}\"]\ntimeout = \"3s\"\n");
    if let Some((server, key_file)) = keys {
        text.push_str(&format!(
            "server_key = \"{server}\"\nkey_file = \"{}\"\n",
            key_file.display()
        ));
    }
    std::fs::write(&path, text).unwrap();
    path
}

/// `stager --config CONFIG ARGS...`.
pub fn stager(config: &Path, args: &[&str]) -> std::process::Output {
    Command::new(bin("stager"))
        .arg("--config")
        .arg(config)
        .args(args)
        .output()
        .unwrap()
}

pub fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).trim().to_string()
}
