//! Tokens of the gateway's local issuer (`tapegw token`): ES256 JWTs in
//! the WLCG token profile's shape, for operators and tests, as
//! `tapeserverd keygen` makes CURVE keys.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use serde_json::json;

use super::config::GatewayConfig;

/// A token for `subject` with `scope` (space-separated), valid `lifetime`,
/// signed by the first issuer of the config that has a private key.
pub fn issue(
    config: &GatewayConfig,
    scope: &str,
    lifetime: Duration,
    subject: &str,
    audience: Option<&str>,
) -> Result<String, String> {
    let issuer = config
        .issuers
        .iter()
        .find(|i| i.private_key.is_some())
        .ok_or("no issuer of this config has a private_key: tokens come from the site's issuer")?;
    if let Some(max) = issuer.max_lifetime
        && lifetime > max.0
    {
        return Err(format!(
            "--lifetime {}: issuer {} issues tokens of at most {}",
            humantime::format_duration(lifetime),
            issuer.name,
            humantime::format_duration(max.0)
        ));
    }
    let key_path = issuer.private_key.as_ref().ok_or("no private key")?;
    let pem =
        std::fs::read(key_path).map_err(|e| format!("cannot read {}: {e}", key_path.display()))?;
    let key = EncodingKey::from_ec_pem(&pem)
        .map_err(|e| format!("{}: not an EC private key in PEM: {e}", key_path.display()))?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_err(|e| e.to_string())?
        .as_secs();
    let claims = json!({
        "wlcg.ver": "1.0",
        "iss": issuer.issuer,
        "sub": subject,
        "aud": audience.unwrap_or(super::auth::ANY_AUDIENCE),
        "iat": now,
        "nbf": now,
        "exp": now + lifetime.as_secs(),
        "scope": scope,
        "jti": uuid::Uuid::new_v4().to_string(),
    });
    encode(&Header::new(Algorithm::ES256), &claims, &key).map_err(|e| e.to_string())
}
