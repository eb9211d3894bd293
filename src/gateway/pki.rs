//! What `tapeserverd init --gateway` makes for a gateway on one host: a
//! CA, the listener's certificate signed by it (for 127.0.0.1 and
//! localhost), and the key pair of a local token issuer. Private keys are
//! written 0600.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

/// The files made, by name.
pub struct GatewayFiles {
    pub ca: PathBuf,
    pub certificate: PathBuf,
    pub key: PathBuf,
    pub issuer_public: PathBuf,
    pub issuer_private: PathBuf,
}

fn write(path: &Path, text: &str, private: bool) -> Result<(), String> {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(if private { 0o600 } else { 0o644 })
        .open(path)
        .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
    file.write_all(text.as_bytes())
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// Makes them in `dir` (which must not hold them yet: nothing is
/// overwritten).
pub fn make(dir: &Path, site: &str) -> Result<GatewayFiles, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let err = |e: rcgen::Error| e.to_string();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).map_err(err)?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, format!("{site} gateway CA"));
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_key = KeyPair::generate().map_err(err)?;
    let ca_cert = ca_params.self_signed(&ca_key).map_err(err)?;
    let issuer = Issuer::new(ca_params, ca_key);

    let mut params = CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
        .map_err(err)?;
    params
        .distinguished_name
        .push(DnType::CommonName, format!("{site} tapegw"));
    params.use_authority_key_identifier_extension = true;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let key = KeyPair::generate().map_err(err)?;
    let cert = params.signed_by(&key, &issuer).map_err(err)?;
    let token_key = KeyPair::generate().map_err(err)?;

    let files = GatewayFiles {
        ca: dir.join("ca.pem"),
        certificate: dir.join("cert.pem"),
        key: dir.join("key.pem"),
        issuer_public: dir.join("issuer.pub.pem"),
        issuer_private: dir.join("issuer.key.pem"),
    };
    write(&files.ca, &ca_cert.pem(), false)?;
    // The chain a client is sent: the listener's certificate, then its CA.
    write(
        &files.certificate,
        &format!("{}{}", cert.pem(), ca_cert.pem()),
        false,
    )?;
    write(&files.key, &key.serialize_pem(), true)?;
    write(&files.issuer_public, &token_key.public_key_pem(), false)?;
    write(&files.issuer_private, &token_key.serialize_pem(), true)?;
    Ok(files)
}
