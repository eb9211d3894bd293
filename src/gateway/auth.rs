//! Bearer tokens of the WLCG token profile: the signature checked against
//! the key of the issuer the token names, its expiry and audience, and its
//! scopes (`storage.stage:/path`, `storage.read:/path`) limited to their
//! path prefix beneath the issuer's base path.

use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header};
use serde::Deserialize;

use super::config::{GatewayConfig, IssuerConfig};
use super::paths::{covers, normalise};

/// The audience meaning "any service" (WLCG token profile).
pub const ANY_AUDIENCE: &str = "https://wlcg.cern.ch/jwt/v1/any";

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AuthError {
    #[error("no bearer token: send \"Authorization: Bearer TOKEN\"")]
    Missing,
    #[error("the token is not valid: {0}")]
    Invalid(String),
}

/// What a request may touch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Stage files (and see, cancel, release the stage requests).
    Stage,
    /// Read a file's metadata (archive info).
    Read,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Scope {
    kind: String,
    /// Absolute, normalised.
    path: String,
}

/// Who asked, and what their token lets them do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// "ISSUER#SUBJECT": a stage request is this requester's only.
    pub requester: String,
    scopes: Vec<Scope>,
}

impl Identity {
    /// A client known by its certificate: it may stage and read beneath
    /// its roots.
    pub fn of_certificate(name: &str, subject: &str, roots: &[String]) -> Self {
        Self {
            requester: format!("x509:{name}#{subject}"),
            scopes: roots
                .iter()
                .filter_map(|r| normalise(r).ok())
                .map(|path| Scope {
                    kind: "storage.stage".into(),
                    path,
                })
                .collect(),
        }
    }

    /// Whether a scope of the token covers `path` for `access`: stage needs
    /// `storage.stage`; reading metadata `storage.read` or `storage.stage`.
    pub fn allows(&self, access: Access, path: &str) -> bool {
        self.scopes.iter().any(|s| {
            let kind_ok = match access {
                Access::Stage => s.kind == "storage.stage",
                Access::Read => s.kind == "storage.read" || s.kind == "storage.stage",
            };
            kind_ok && covers(&s.path, path)
        })
    }
}

#[derive(Debug, Deserialize)]
struct Claims {
    iss: String,
    #[serde(default)]
    sub: String,
    #[serde(default)]
    scope: String,
}

struct Trusted {
    config: IssuerConfig,
    key: DecodingKey,
    algorithm: Algorithm,
}

pub struct Verifier {
    issuers: Vec<Trusted>,
    audiences: Vec<String>,
}

/// An issuer's public key: EC P-256 (ES256) or RSA (RS256).
pub fn decoding_key(pem: &[u8]) -> Result<(DecodingKey, Algorithm), String> {
    if let Ok(k) = DecodingKey::from_ec_pem(pem) {
        return Ok((k, Algorithm::ES256));
    }
    DecodingKey::from_rsa_pem(pem)
        .map(|k| (k, Algorithm::RS256))
        .map_err(|e| format!("not an EC or RSA public key in PEM: {e}"))
}

impl Verifier {
    pub fn new(config: &GatewayConfig) -> Result<Self, String> {
        let mut issuers = Vec::new();
        for i in &config.issuers {
            let pem = std::fs::read(&i.public_key).map_err(|e| {
                format!(
                    "issuer {}: cannot read {}: {e}",
                    i.name,
                    i.public_key.display()
                )
            })?;
            let (key, algorithm) = decoding_key(&pem)
                .map_err(|e| format!("issuer {}: {}: {e}", i.name, i.public_key.display()))?;
            issuers.push(Trusted {
                config: i.clone(),
                key,
                algorithm,
            });
        }
        let mut audiences = config.gateway.audiences.clone();
        audiences.push(ANY_AUDIENCE.into());
        Ok(Self { issuers, audiences })
    }

    /// The identity an `Authorization` header proves.
    pub fn verify(&self, authorization: Option<&str>) -> Result<Identity, AuthError> {
        let token = authorization
            .and_then(|h| h.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or(AuthError::Missing)?;
        let invalid = |e: &dyn std::fmt::Display| AuthError::Invalid(e.to_string());
        let header = decode_header(token).map_err(|e| invalid(&e))?;
        // The issuer it claims, read before its signature is checked only to
        // pick the key that checks it.
        let claimed = {
            let mut v = Validation::new(header.alg);
            v.insecure_disable_signature_validation();
            v.validate_exp = false;
            v.validate_aud = false;
            v.required_spec_claims.clear();
            decode::<Claims>(token, &DecodingKey::from_secret(&[]), &v)
                .map_err(|e| invalid(&e))?
                .claims
                .iss
        };
        let trusted = self
            .issuers
            .iter()
            .find(|t| t.config.issuer == claimed)
            .ok_or_else(|| AuthError::Invalid(format!("issuer {claimed:?} is not trusted here")))?;
        if header.alg != trusted.algorithm {
            return Err(AuthError::Invalid(format!(
                "signed with {:?}; issuer {} signs with {:?}",
                header.alg, trusted.config.name, trusted.algorithm
            )));
        }
        let mut v = Validation::new(trusted.algorithm);
        v.set_issuer(&[&trusted.config.issuer]);
        v.set_audience(&self.audiences);
        v.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        v.leeway = 30;
        let claims = decode::<Claims>(token, &trusted.key, &v)
            .map_err(|e| invalid(&e))?
            .claims;
        let scopes = claims
            .scope
            .split_whitespace()
            .filter_map(|s| {
                let (kind, path) = s.split_once(':').unwrap_or((s, "/"));
                let joined = format!("{}/{}", trusted.config.base_path, path);
                normalise(&joined).ok().map(|path| Scope {
                    kind: kind.to_string(),
                    path,
                })
            })
            .collect();
        Ok(Identity {
            requester: format!("{}#{}", claims.iss, claims.sub),
            scopes,
        })
    }
}
