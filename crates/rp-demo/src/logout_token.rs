//! OpenID Connect Back-Channel Logout 1.0: validating the `logout_token` Segl posts to the
//! portal (section 2.6), and remembering `jti` values so a token cannot be replayed.
//!
//! The signature is checked with `jsonwebtoken` against the keys of Segl's JWKS (the caller
//! fetches it from discovery's `jwks_uri`); the claims are checked here, with time passed in.

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

/// Back-Channel Logout 1.0 2.4: the member of `events` that makes a JWT a logout token.
pub(crate) const BACKCHANNEL_LOGOUT_EVENT: &str =
    "http://schemas.openid.net/event/backchannel-logout";
/// Clock skew allowed on `iat` and `exp` (docs/NEMLOGIN.md rule 5).
pub(crate) const CLOCK_SKEW_SECONDS: i64 = 300;
/// A logout token without `exp` is accepted only this long after its `iat`.
const MAX_AGE_WITHOUT_EXP_SECONDS: i64 = 600;
/// Longest token read; a logout token is a few hundred bytes.
const MAX_TOKEN_BYTES: usize = 16 * 1024;

/// Why a logout token was refused. Every variant is answered with 400 `invalid_request`
/// (Back-Channel Logout 1.0 2.8); the text is for the log and the `error_description`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LogoutTokenError {
    #[error("the logout token is not a well-formed signed JWT")]
    Malformed,
    #[error("the logout token's typ is not logout+jwt")]
    WrongType,
    #[error("the logout token's signing algorithm is not allowed")]
    DisallowedAlgorithm,
    #[error("no key in the provider's JWKS fits the logout token")]
    NoMatchingKey,
    #[error("the logout token's signature does not verify")]
    BadSignature,
    #[error("the logout token's iss is not the provider")]
    WrongIssuer,
    #[error("the logout token's aud does not name this client")]
    WrongAudience,
    #[error("the logout token has no iat")]
    MissingIssuedAt,
    #[error("the logout token is issued in the future")]
    IssuedInFuture,
    #[error("the logout token has expired")]
    Expired,
    #[error("the logout token has no jti")]
    MissingJti,
    #[error("the logout token's events claim lacks the back-channel logout event")]
    MissingEvent,
    #[error("the logout token has neither sid nor sub")]
    NoSubjectOrSession,
    #[error("the logout token carries a nonce")]
    HasNonce,
    #[error("the logout token was already used")]
    Replayed,
}

/// The sessions a valid logout token ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LogoutRequest {
    pub sid: Option<String>,
    pub sub: Option<String>,
    pub jti: String,
    /// Until when the `jti` must be remembered to refuse a replay.
    pub remember_until: i64,
}

/// Algorithms a logout token may be signed with: asymmetric only, never `none` or HMAC
/// (RFC 8725 3.1), the same as Segl's ID tokens.
fn allowed(algorithm: Algorithm) -> bool {
    matches!(
        algorithm,
        Algorithm::ES256
            | Algorithm::ES384
            | Algorithm::RS256
            | Algorithm::RS384
            | Algorithm::RS512
            | Algorithm::PS256
            | Algorithm::PS384
            | Algorithm::PS512
            | Algorithm::EdDSA
    )
}

/// Whether a JWK may verify a signature made with `algorithm` under header `kid`.
fn key_fits(key: &Jwk, algorithm: Algorithm, kid: Option<&str>) -> bool {
    if kid.is_some() && key.common.key_id.as_deref() != kid {
        return false;
    }
    if matches!(key.common.public_key_use, Some(PublicKeyUse::Encryption)) {
        return false;
    }
    if let Some(key_algorithm) = key.common.key_algorithm {
        if !same_algorithm(key_algorithm, algorithm) {
            return false;
        }
    }
    // RFC 7518 3.1: the key type (and curve) each algorithm uses.
    match (&key.algorithm, algorithm) {
        (AlgorithmParameters::EllipticCurve(params), Algorithm::ES256) => {
            params.curve == EllipticCurve::P256
        }
        (AlgorithmParameters::EllipticCurve(params), Algorithm::ES384) => {
            params.curve == EllipticCurve::P384
        }
        (
            AlgorithmParameters::RSA(_),
            Algorithm::RS256
            | Algorithm::RS384
            | Algorithm::RS512
            | Algorithm::PS256
            | Algorithm::PS384
            | Algorithm::PS512,
        ) => true,
        (AlgorithmParameters::OctetKeyPair(params), Algorithm::EdDSA) => {
            params.curve == EllipticCurve::Ed25519
        }
        _ => false,
    }
}

/// Whether a key's declared `alg` is the header's: both enums use the JWA names.
fn same_algorithm(key_algorithm: KeyAlgorithm, algorithm: Algorithm) -> bool {
    format!("{key_algorithm:?}") == format!("{algorithm:?}")
}

/// Reads the keys of a JWK Set, skipping any this library cannot use (unknown `kty`, ...).
pub(crate) fn parse_key_set(jwks: &Value) -> Vec<Jwk> {
    jwks.get("keys")
        .and_then(Value::as_array)
        .map(|keys| {
            keys.iter()
                .filter_map(|key| serde_json::from_value::<Jwk>(key.clone()).ok())
                .collect()
        })
        .unwrap_or_default()
}

/// Back-Channel Logout 1.0 2.6: validates `token` as a logout token from `issuer` for
/// `client_id`, signed by one of `keys`, at time `now` (epoch seconds).
pub(crate) fn validate(
    token: &str,
    keys: &[Jwk],
    issuer: &str,
    client_id: &str,
    now: i64,
) -> Result<LogoutRequest, LogoutTokenError> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(LogoutTokenError::Malformed);
    }
    let header = jsonwebtoken::decode_header(token).map_err(|_| LogoutTokenError::Malformed)?;
    // Section 2.4 recommends explicit typing; a token typed as anything else (an ID token, an
    // access token) is refused.
    if let Some(typ) = header.typ.as_deref() {
        let typ = typ.to_ascii_lowercase();
        let typ = typ.strip_prefix("application/").unwrap_or(&typ);
        if typ != "logout+jwt" && typ != "jwt" {
            return Err(LogoutTokenError::WrongType);
        }
    }
    // Step 2: the signature, as for an ID token.
    if !allowed(header.alg) {
        return Err(LogoutTokenError::DisallowedAlgorithm);
    }
    let candidates: Vec<&Jwk> = keys
        .iter()
        .filter(|key| key_fits(key, header.alg, header.kid.as_deref()))
        .collect();
    if candidates.is_empty() {
        return Err(LogoutTokenError::NoMatchingKey);
    }
    // Claims are checked below with our own clock and skew; here only the signature.
    let mut validation = Validation::new(header.alg);
    validation.required_spec_claims.clear();
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    let claims = candidates
        .into_iter()
        .filter_map(|key| DecodingKey::from_jwk(key).ok())
        .find_map(|key| jsonwebtoken::decode::<Map<String, Value>>(token, &key, &validation).ok())
        .ok_or(LogoutTokenError::BadSignature)?
        .claims;
    check_claims(&claims, issuer, client_id, now)
}

/// Steps 3 to 6 of section 2.6, on claims whose signature has been verified.
fn check_claims(
    claims: &Map<String, Value>,
    issuer: &str,
    client_id: &str,
    now: i64,
) -> Result<LogoutRequest, LogoutTokenError> {
    // Step 3: iss, aud, iat and exp as for an ID token (OIDC Core 3.1.3.7).
    if claims.get("iss").and_then(Value::as_str) != Some(issuer) {
        return Err(LogoutTokenError::WrongIssuer);
    }
    let audience_ok = match claims.get("aud") {
        Some(Value::String(audience)) => audience == client_id,
        Some(Value::Array(audiences)) => audiences
            .iter()
            .any(|audience| audience.as_str() == Some(client_id)),
        _ => false,
    };
    if !audience_ok {
        return Err(LogoutTokenError::WrongAudience);
    }
    let issued_at = claims
        .get("iat")
        .and_then(Value::as_i64)
        .ok_or(LogoutTokenError::MissingIssuedAt)?;
    if issued_at > now + CLOCK_SKEW_SECONDS {
        return Err(LogoutTokenError::IssuedInFuture);
    }
    let expires_at = match claims.get("exp") {
        Some(exp) => exp.as_i64().ok_or(LogoutTokenError::Expired)?,
        None => issued_at + MAX_AGE_WITHOUT_EXP_SECONDS,
    };
    if now > expires_at + CLOCK_SKEW_SECONDS {
        return Err(LogoutTokenError::Expired);
    }
    let jti = claims
        .get("jti")
        .and_then(Value::as_str)
        .filter(|jti| !jti.is_empty())
        .ok_or(LogoutTokenError::MissingJti)?;
    // Step 5: events names the back-channel logout event, whose value is a JSON object.
    let has_event = claims
        .get("events")
        .and_then(Value::as_object)
        .and_then(|events| events.get(BACKCHANNEL_LOGOUT_EVENT))
        .is_some_and(Value::is_object);
    if !has_event {
        return Err(LogoutTokenError::MissingEvent);
    }
    // Step 4: sub, sid, or both.
    let text = |name: &str| {
        claims
            .get(name)
            .and_then(Value::as_str)
            .filter(|value| !value.is_empty())
            .map(str::to_owned)
    };
    let sid = text("sid");
    let sub = text("sub");
    if sid.is_none() && sub.is_none() {
        return Err(LogoutTokenError::NoSubjectOrSession);
    }
    // Step 6: a nonce would make it confusable with an ID token.
    if claims.contains_key("nonce") {
        return Err(LogoutTokenError::HasNonce);
    }
    Ok(LogoutRequest {
        sid,
        sub,
        jti: jti.to_owned(),
        remember_until: expires_at + CLOCK_SKEW_SECONDS,
    })
}

/// Step 7: `jti` values seen recently, so the same logout token is not accepted twice.
#[derive(Default)]
pub(crate) struct SeenLogoutTokens {
    seen: Mutex<HashMap<String, i64>>,
}

impl SeenLogoutTokens {
    /// Records the token's `jti`; refuses one seen before that has not yet been forgotten.
    pub(crate) fn record(&self, request: &LogoutRequest, now: i64) -> Result<(), LogoutTokenError> {
        let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        seen.retain(|_, remember_until| *remember_until >= now);
        if seen.contains_key(&request.jti) {
            return Err(LogoutTokenError::Replayed);
        }
        seen.insert(request.jti.clone(), request.remember_until);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::{decode_pem, generate_client_key};
    use jsonwebtoken::{EncodingKey, Header};
    use serde_json::json;

    const ISSUER: &str = "https://segl.example";
    const CLIENT_ID: &str = "borger-dk";
    const NOW: i64 = 1_750_000_000;

    struct TestKey {
        kid: String,
        encoding: EncodingKey,
        jwks: Value,
    }

    fn test_key() -> TestKey {
        let (pem, jwks, kid) = generate_client_key().unwrap();
        TestKey {
            kid,
            encoding: EncodingKey::from_ec_der(&decode_pem(&pem).unwrap()),
            jwks,
        }
    }

    fn claims() -> Value {
        json!({
            "iss": ISSUER,
            "aud": CLIENT_ID,
            "iat": NOW,
            "exp": NOW + 120,
            "jti": "jti-1",
            "sub": "pairwise-sub",
            "sid": "sid-1",
            "events": { BACKCHANNEL_LOGOUT_EVENT: {} },
        })
    }

    fn sign(key: &TestKey, claims: &Value) -> String {
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(key.kid.clone());
        header.typ = Some("logout+jwt".to_owned());
        jsonwebtoken::encode(&header, claims, &key.encoding).unwrap()
    }

    fn check(key: &TestKey, token: &str) -> Result<LogoutRequest, LogoutTokenError> {
        validate(token, &parse_key_set(&key.jwks), ISSUER, CLIENT_ID, NOW)
    }

    fn without(name: &str) -> Value {
        let mut claims = claims();
        claims.as_object_mut().unwrap().remove(name);
        claims
    }

    fn with(name: &str, value: Value) -> Value {
        let mut claims = claims();
        claims[name] = value;
        claims
    }

    #[test]
    fn a_valid_logout_token_names_the_session() {
        let key = test_key();
        let request = check(&key, &sign(&key, &claims())).unwrap();
        assert_eq!(request.sid.as_deref(), Some("sid-1"));
        assert_eq!(request.sub.as_deref(), Some("pairwise-sub"));
        assert_eq!(request.jti, "jti-1");
    }

    #[test]
    fn a_token_for_another_client_is_refused() {
        let key = test_key();
        let token = sign(&key, &with("aud", json!("other-portal")));
        assert_eq!(check(&key, &token), Err(LogoutTokenError::WrongAudience));
        let token = sign(&key, &with("aud", json!(["other-portal", CLIENT_ID])));
        assert!(check(&key, &token).is_ok());
    }

    #[test]
    fn a_token_without_the_logout_event_is_refused() {
        let key = test_key();
        assert_eq!(
            check(&key, &sign(&key, &without("events"))),
            Err(LogoutTokenError::MissingEvent)
        );
        let other_event = with("events", json!({ "http://example.com/other": {} }));
        assert_eq!(
            check(&key, &sign(&key, &other_event)),
            Err(LogoutTokenError::MissingEvent)
        );
    }

    #[test]
    fn a_token_with_a_nonce_is_refused() {
        let key = test_key();
        let token = sign(&key, &with("nonce", json!("n-0S6_WzA2Mj")));
        assert_eq!(check(&key, &token), Err(LogoutTokenError::HasNonce));
    }

    #[test]
    fn a_token_signed_by_another_key_is_refused() {
        let key = test_key();
        let impostor = test_key();
        // The impostor signs under the real key's kid.
        let forged = TestKey {
            kid: key.kid.clone(),
            encoding: impostor.encoding,
            jwks: impostor.jwks,
        };
        assert_eq!(
            check(&key, &sign(&forged, &claims())),
            Err(LogoutTokenError::BadSignature)
        );
    }

    #[test]
    fn a_tampered_payload_is_refused() {
        let key = test_key();
        let token = sign(&key, &claims());
        let mut parts: Vec<&str> = token.split('.').collect();
        let other = sign(&key, &with("sid", json!("someone-else")));
        let other_payload = other.split('.').nth(1).unwrap().to_owned();
        parts[1] = &other_payload;
        assert_eq!(
            check(&key, &parts.join(".")),
            Err(LogoutTokenError::BadSignature)
        );
    }

    #[test]
    fn an_unknown_kid_finds_no_key() {
        let key = test_key();
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some("rotated-away".to_owned());
        let token = jsonwebtoken::encode(&header, &claims(), &key.encoding).unwrap();
        assert_eq!(check(&key, &token), Err(LogoutTokenError::NoMatchingKey));
    }

    #[test]
    fn hmac_and_none_are_refused() {
        let key = test_key();
        let token = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims(),
            &EncodingKey::from_secret(b"a shared secret"),
        )
        .unwrap();
        assert_eq!(
            check(&key, &token),
            Err(LogoutTokenError::DisallowedAlgorithm)
        );
        let unsigned = format!(
            "{}.{}.",
            base64_url(r#"{"alg":"none"}"#),
            base64_url(&claims().to_string())
        );
        assert!(check(&key, &unsigned).is_err());
    }

    fn base64_url(text: &str) -> String {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text)
    }

    #[test]
    fn iss_iat_and_exp_are_checked() {
        let key = test_key();
        assert_eq!(
            check(
                &key,
                &sign(&key, &with("iss", json!("https://evil.example")))
            ),
            Err(LogoutTokenError::WrongIssuer)
        );
        assert_eq!(
            check(&key, &sign(&key, &without("iat"))),
            Err(LogoutTokenError::MissingIssuedAt)
        );
        assert_eq!(
            check(&key, &sign(&key, &with("iat", json!(NOW + 301)))),
            Err(LogoutTokenError::IssuedInFuture)
        );
        assert_eq!(
            check(&key, &sign(&key, &with("exp", json!(NOW - 301)))),
            Err(LogoutTokenError::Expired)
        );
        // Within the allowed skew.
        assert!(check(&key, &sign(&key, &with("exp", json!(NOW - 299)))).is_ok());
    }

    #[test]
    fn sid_or_sub_must_be_present() {
        let key = test_key();
        let mut neither = claims();
        neither.as_object_mut().unwrap().remove("sid");
        neither.as_object_mut().unwrap().remove("sub");
        assert_eq!(
            check(&key, &sign(&key, &neither)),
            Err(LogoutTokenError::NoSubjectOrSession)
        );
        let only_sid = check(&key, &sign(&key, &without("sub"))).unwrap();
        assert_eq!(only_sid.sub, None);
        assert_eq!(only_sid.sid.as_deref(), Some("sid-1"));
    }

    #[test]
    fn a_token_typed_as_something_else_is_refused() {
        let key = test_key();
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(key.kid.clone());
        header.typ = Some("at+jwt".to_owned());
        let token = jsonwebtoken::encode(&header, &claims(), &key.encoding).unwrap();
        assert_eq!(check(&key, &token), Err(LogoutTokenError::WrongType));
    }

    #[test]
    fn a_replayed_jti_is_refused_until_forgotten() {
        let key = test_key();
        let request = check(&key, &sign(&key, &claims())).unwrap();
        let seen = SeenLogoutTokens::default();
        assert_eq!(seen.record(&request, NOW), Ok(()));
        assert_eq!(
            seen.record(&request, NOW + 1),
            Err(LogoutTokenError::Replayed)
        );
        assert_eq!(seen.record(&request, request.remember_until + 1), Ok(()));
    }

    #[test]
    fn garbage_is_malformed() {
        let key = test_key();
        assert_eq!(check(&key, "not-a-jwt"), Err(LogoutTokenError::Malformed));
    }
}
