//! X.509 client certificates: the HTTPS listener asks for one (and takes a
//! connection without, for bearer tokens), verifies it against the
//! configured CAs, and a request made with one is its configured client's,
//! limited to that client's roots.

use std::path::Path;
use std::sync::Arc;

use rustls::server::WebPkiClientVerifier;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use super::config::{CertClient, X509Config};

/// The listener's TLS: its certificate and key, and client certificates
/// verified against `x509.ca` when configured.
pub fn server_config(
    certificate: &Path,
    key: &Path,
    x509: Option<&X509Config>,
) -> Result<rustls::ServerConfig, String> {
    let chain = certificates(certificate)?;
    let key = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| format!("cannot read the key {}: {e}", key.display()))?;
    let builder = rustls::ServerConfig::builder();
    let builder = match x509 {
        None => builder.with_no_client_auth(),
        Some(x) => {
            let mut roots = rustls::RootCertStore::empty();
            for ca in certificates(&x.ca)? {
                roots
                    .add(ca)
                    .map_err(|e| format!("x509.ca {}: {e}", x.ca.display()))?;
            }
            let verifier = WebPkiClientVerifier::builder(Arc::new(roots))
                .allow_unauthenticated()
                .build()
                .map_err(|e| format!("x509.ca {}: {e}", x.ca.display()))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config = builder
        .with_single_cert(chain, key)
        .map_err(|e| format!("the certificate {}: {e}", certificate.display()))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

fn certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs: Vec<_> = CertificateDer::pem_file_iter(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{}: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!("{}: no certificate in it", path.display()));
    }
    Ok(certs)
}

/// A certificate's subject, in the certificate's order ("C=CH, O=Example,
/// CN=fts"), or None if it cannot be parsed.
pub fn subject(der: &[u8]) -> Option<String> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    Some(cert.subject().to_string())
}

/// A subject with the spaces around "=" and "," dropped, to compare.
fn canonical(subject: &str) -> String {
    subject
        .split(',')
        .map(|part| {
            let (k, v) = part.split_once('=').unwrap_or((part, ""));
            format!("{}={}", k.trim(), v.trim())
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// The configured client a verified certificate of `subject` belongs to.
pub fn client<'a>(x509: &'a X509Config, subject: &str) -> Option<&'a CertClient> {
    let wanted = canonical(subject);
    x509.clients
        .iter()
        .find(|c| canonical(&c.subject) == wanted)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_match_however_they_are_spaced_and_only_exactly() {
        let x = X509Config {
            ca: "/ca.pem".into(),
            clients: vec![CertClient {
                name: "fts".into(),
                subject: "C = CH, O = Example, CN = fts".into(),
                roots: vec!["/data".into()],
            }],
        };
        assert_eq!(
            client(&x, "C=CH, O=Example, CN=fts").map(|c| c.name.as_str()),
            Some("fts")
        );
        assert!(client(&x, "C=CH, O=Example, CN=fts2").is_none());
        assert!(client(&x, "O=Example, CN=fts").is_none());
    }

    #[test]
    fn a_certificates_subject_is_read_in_its_order() {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(rcgen::DnType::OrganizationName, "Example");
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "fts");
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        assert_eq!(subject(cert.der()).as_deref(), Some("O=Example, CN=fts"));
        assert!(subject(b"not a certificate").is_none());
    }
}
