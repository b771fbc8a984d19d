//! `private_key_jwt` client authentication (OIDC Core 9, RFC 7523 2.2 and 3): the signed JWT
//! the portal sends to Segl's token endpoint instead of a client secret.
//!
//! The `openidconnect` crate cannot sign client assertions itself, so the portal signs one with
//! `jsonwebtoken` for each token request and adds it as `client_assertion` (with
//! `client_assertion_type`) to a request made with `AuthType::RequestBody` and no secret.

use crate::keys::{self, KeyError};
use crate::random::{random_token, RandomSourceFailed};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::Serialize;

/// RFC 7523 2.2.
pub(crate) const JWT_BEARER_ASSERTION_TYPE: &str =
    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// A short life: the assertion is used at once, and Segl refuses to see a `jti` twice.
const LIFETIME_SECONDS: i64 = 60;

#[derive(Debug, thiserror::Error)]
pub(crate) enum AssertionError {
    #[error("cannot make a jti: {0}")]
    Random(#[from] RandomSourceFailed),
    #[error("cannot sign the client assertion: {0}")]
    Signing(#[from] jsonwebtoken::errors::Error),
}

/// RFC 7523 3: the claims of a client assertion.
#[derive(Debug, Serialize)]
struct AssertionClaims<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: &'a str,
    iat: i64,
    exp: i64,
    jti: String,
}

/// Signs client assertions with the portal's key.
pub(crate) struct ClientAssertionSigner {
    client_id: String,
    key_id: String,
    key: EncodingKey,
}

impl std::fmt::Debug for ClientAssertionSigner {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("ClientAssertionSigner")
            .field("client_id", &self.client_id)
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

impl ClientAssertionSigner {
    /// Reads the PKCS#8 PEM of a P-256 key; refuses anything else now rather than at login.
    pub(crate) fn parse(
        client_id: &str,
        key_id: &str,
        private_key_pem: &str,
    ) -> Result<Self, KeyError> {
        // Parsing the key fully (public point included) proves it is a usable P-256 key.
        keys::client_public_keys(private_key_pem)?;
        let der = keys::decode_pem(private_key_pem)?;
        Ok(Self {
            client_id: client_id.to_owned(),
            key_id: key_id.to_owned(),
            key: EncodingKey::from_ec_der(&der),
        })
    }

    /// A fresh assertion for `audience` (Segl's token endpoint): iss = sub = client_id,
    /// exp = now + 60 s, a random `jti`; ES256 with the registered `kid`.
    pub(crate) fn sign(&self, audience: &str, now: i64) -> Result<String, AssertionError> {
        let claims = AssertionClaims {
            iss: &self.client_id,
            sub: &self.client_id,
            aud: audience,
            iat: now,
            exp: now + LIFETIME_SECONDS,
            jti: random_token()?,
        };
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(self.key_id.clone());
        Ok(jsonwebtoken::encode(&header, &claims, &self.key)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::jwk::Jwk;
    use jsonwebtoken::{DecodingKey, Validation};
    use serde_json::Value;

    const TOKEN_ENDPOINT: &str = "https://segl.example/token";
    const NOW: i64 = 1_750_000_000;

    #[test]
    fn an_assertion_verifies_with_the_published_key_and_names_the_client() {
        let (pem, jwks, kid) = keys::generate_client_key().unwrap();
        let signer = ClientAssertionSigner::parse("portal", &kid, &pem).unwrap();
        let assertion = signer.sign(TOKEN_ENDPOINT, NOW).unwrap();

        let header = jsonwebtoken::decode_header(&assertion).unwrap();
        assert_eq!(header.alg, Algorithm::ES256);
        assert_eq!(header.kid.as_deref(), Some(kid.as_str()));

        let jwk: Jwk = serde_json::from_value(jwks["keys"][0].clone()).unwrap();
        let mut validation = Validation::new(Algorithm::ES256);
        validation.set_audience(&[TOKEN_ENDPOINT]);
        validation.set_issuer(&["portal"]);
        validation.validate_exp = false;
        let claims = jsonwebtoken::decode::<Value>(
            &assertion,
            &DecodingKey::from_jwk(&jwk).unwrap(),
            &validation,
        )
        .unwrap()
        .claims;
        assert_eq!(claims["sub"], "portal");
        assert_eq!(claims["iat"], NOW);
        assert_eq!(claims["exp"], NOW + 60);
        assert!(claims["jti"].as_str().is_some_and(|jti| jti.len() >= 32));
    }

    #[test]
    fn each_assertion_has_its_own_jti() {
        let (pem, _, kid) = keys::generate_client_key().unwrap();
        let signer = ClientAssertionSigner::parse("portal", &kid, &pem).unwrap();
        let first = signer.sign(TOKEN_ENDPOINT, NOW).unwrap();
        let second = signer.sign(TOKEN_ENDPOINT, NOW).unwrap();
        assert_ne!(first, second);
    }

    #[test]
    fn a_key_that_is_not_p256_is_refused() {
        assert!(ClientAssertionSigner::parse("portal", "k", "not a key").is_err());
    }
}
