//! Token contents: ID token and JWT access token claims, `at_hash`, and pairwise subjects.

use crate::client::SigningAlg;
use aws_lc_rs::digest::{digest, SHA256, SHA512};
use aws_lc_rs::hmac;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// OIDC Core 2: the ID token.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct IdTokenClaims {
    pub iss: String,
    pub sub: String,
    pub aud: String,
    pub exp: i64,
    pub iat: i64,
    pub auth_time: i64,
    pub nonce: String,
    pub acr: String,
    pub amr: Vec<String>,
    pub azp: String,
    pub at_hash: String,
    pub sid: String,
    /// Identity claims released to this client (names, levels, ...).
    #[serde(flatten)]
    pub claims: serde_json::Map<String, serde_json::Value>,
}

/// RFC 9068: a JWT access token (`typ: at+jwt`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct AccessTokenClaims {
    pub iss: String,
    pub sub: String,
    pub aud: String,
    pub exp: i64,
    pub iat: i64,
    pub jti: String,
    pub client_id: String,
    pub scope: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub auth_time: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub acr: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub amr: Option<Vec<String>>,
    /// The SSO session, so that tokens of a login stop working when it ends.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub sid: Option<String>,
}

/// OIDC Back-Channel Logout 1.0 2.4: the logout token (`typ: logout+jwt`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct LogoutTokenClaims {
    pub iss: String,
    pub sub: String,
    pub aud: String,
    pub iat: i64,
    pub exp: i64,
    pub jti: String,
    pub sid: String,
    pub events: serde_json::Value,
}

pub(crate) const BACKCHANNEL_LOGOUT_EVENT: &str =
    "http://schemas.openid.net/event/backchannel-logout";

/// OIDC Core 3.1.3.6: the left half of the hash of the access token, with the hash of the ID
/// token's JWS algorithm (SHA-256 for ES256/RS256/PS256; SHA-512 for EdDSA with Ed25519).
pub(crate) fn at_hash(alg: SigningAlg, access_token: &str) -> String {
    let hashed = match alg {
        SigningAlg::EdDSA => digest(&SHA512, access_token.as_bytes()),
        _ => digest(&SHA256, access_token.as_bytes()),
    };
    let bytes = hashed.as_ref();
    URL_SAFE_NO_PAD.encode(&bytes[..bytes.len() / 2])
}

/// OIDC Core 8.1: a pairwise subject, a keyed hash of the sector and the citizen, so services in
/// different sectors cannot join their records on `sub`, and the same service always sees the
/// same value.
pub(crate) fn pairwise_subject(key: &hmac::Key, sector: &str, citizen_id: Uuid) -> String {
    let mut context = hmac::Context::with_key(key);
    context.update(sector.as_bytes());
    context.update(&[0]);
    context.update(citizen_id.as_bytes());
    URL_SAFE_NO_PAD.encode(context.sign().as_ref())
}

/// A random identifier (`jti`, `sid`, opaque codes): 256 bits from the system CSPRNG.
pub(crate) fn random_token() -> Result<String, aws_lc_rs::error::Unspecified> {
    use aws_lc_rs::rand::SecureRandom;
    let mut bytes = [0u8; 32];
    aws_lc_rs::rand::SystemRandom::new().fill(&mut bytes)?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

/// Hex SHA-256, for storing bearer secrets (codes, session ids) so a database leak does not
/// hand them out.
pub(crate) fn sha256_hex(value: &str) -> String {
    hex::encode(digest(&SHA256, value.as_bytes()).as_ref())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_hash_matches_the_oidc_core_example_shape() {
        // OIDC Core A.3: at_hash of "jHkWEdUXMU1BwAsC4vtUsZwnNmvvuy2eMq2ycasdqmI..." style tokens is
        // 16 bytes base64url (22 chars) for SHA-256.
        assert_eq!(at_hash(SigningAlg::ES256, "token").len(), 22);
        assert_eq!(at_hash(SigningAlg::EdDSA, "token").len(), 43);
    }

    #[test]
    fn at_hash_is_the_left_half_of_sha256() {
        // SHA-256("abc") = ba7816bf8f01cfea414140de5dae2223 b00361a396177a9cb410ff61f20015ad
        let expected =
            URL_SAFE_NO_PAD.encode(hex::decode("ba7816bf8f01cfea414140de5dae2223").expect("hex"));
        assert_eq!(at_hash(SigningAlg::RS256, "abc"), expected);
    }

    #[test]
    fn pairwise_subjects_differ_by_sector_and_are_stable() {
        let key = hmac::Key::new(hmac::HMAC_SHA256, b"test key");
        let citizen = Uuid::new_v4();
        let a = pairwise_subject(&key, "portal.example.dk", citizen);
        assert_eq!(a, pairwise_subject(&key, "portal.example.dk", citizen));
        assert_ne!(a, pairwise_subject(&key, "other.example.dk", citizen));
        assert_ne!(
            a,
            pairwise_subject(&key, "portal.example.dk", Uuid::new_v4())
        );
    }
}
