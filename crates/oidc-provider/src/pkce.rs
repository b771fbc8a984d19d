//! Proof Key for Code Exchange (RFC 7636), restricted to the `S256` method.
//!
//! Segl requires PKCE with `S256` from every client (NemLog-In profile, RFC 9700 2.1.1), so a
//! [`CodeChallenge`] can only be built from an `S256` challenge; `plain` and a missing method are
//! refused at the authorization endpoint, and the token endpoint calls [`verify`].

use aws_lc_rs::digest;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use subtle::ConstantTimeEq;

/// The only `code_challenge_method` Segl accepts.
pub(crate) const S256: &str = "S256";

/// Length of BASE64URL(SHA-256(..)) without padding: 32 bytes encode to 43 characters.
const CHALLENGE_LENGTH: usize = 43;

/// RFC 7636 4.1: the code verifier is 43 to 128 characters long.
const VERIFIER_MIN_LENGTH: usize = 43;
const VERIFIER_MAX_LENGTH: usize = 128;

/// Why a `code_challenge` was refused; the authorization endpoint answers `invalid_request`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PkceError {
    #[error("code_challenge is required")]
    MissingChallenge,
    #[error("code_challenge_method is required and must be S256")]
    MissingMethod,
    #[error("code_challenge_method plain is not allowed; use S256")]
    PlainRefused,
    #[error("code_challenge_method is not supported; use S256")]
    UnsupportedMethod,
    #[error("code_challenge must be the base64url encoding of a SHA-256 hash (43 characters)")]
    MalformedChallenge,
}

/// An `S256` code challenge sent with an authorization request, kept with the authorization code.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CodeChallenge(String);

impl CodeChallenge {
    /// Checks `code_challenge` and `code_challenge_method` from an authorization request.
    pub fn parse(challenge: &str, method: Option<&str>) -> Result<Self, PkceError> {
        // RFC 7636 4.3: a missing method means `plain`, which this provider refuses; so a client
        // must name S256 explicitly.
        match method {
            None => return Err(PkceError::MissingMethod),
            Some(S256) => {}
            Some("plain") => return Err(PkceError::PlainRefused),
            Some(_) => return Err(PkceError::UnsupportedMethod),
        }
        if challenge.is_empty() {
            return Err(PkceError::MissingChallenge);
        }
        // RFC 7636 4.2: code_challenge = BASE64URL-ENCODE(SHA256(ASCII(code_verifier))), which
        // is always 43 characters and decodes (canonically) to 32 bytes.
        if challenge.len() != CHALLENGE_LENGTH {
            return Err(PkceError::MalformedChallenge);
        }
        match URL_SAFE_NO_PAD.decode(challenge) {
            Ok(bytes) if bytes.len() == digest::SHA256_OUTPUT_LEN => Ok(Self(challenge.to_owned())),
            _ => Err(PkceError::MalformedChallenge),
        }
    }

    /// The challenge as sent by the client (base64url, 43 characters).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Always `S256`.
    pub fn method(&self) -> &'static str {
        S256
    }

    /// Checks a `code_verifier` from a token request against this challenge.
    pub fn verify(&self, verifier: &str) -> bool {
        verify(self, verifier)
    }
}

/// RFC 7636 4.6: checks that BASE64URL(SHA256(code_verifier)) equals the stored challenge.
///
/// A verifier that breaks the RFC 7636 4.1 syntax fails; the comparison is constant-time.
pub(crate) fn verify(challenge: &CodeChallenge, verifier: &str) -> bool {
    if !is_valid_verifier(verifier) {
        return false;
    }
    let hash = digest::digest(&digest::SHA256, verifier.as_bytes());
    let computed = URL_SAFE_NO_PAD.encode(hash.as_ref());
    computed
        .as_bytes()
        .ct_eq(challenge.as_str().as_bytes())
        .into()
}

/// RFC 7636 4.1: code-verifier = 43*128unreserved,
/// unreserved = ALPHA / DIGIT / "-" / "." / "_" / "~".
fn is_valid_verifier(verifier: &str) -> bool {
    (VERIFIER_MIN_LENGTH..=VERIFIER_MAX_LENGTH).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~'))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    // RFC 7636 Appendix B.
    const RFC_VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    const RFC_CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    fn rfc_challenge() -> CodeChallenge {
        CodeChallenge::parse(RFC_CHALLENGE, Some("S256")).unwrap()
    }

    #[test]
    fn rfc_7636_appendix_b_example_verifies() {
        assert!(verify(&rfc_challenge(), RFC_VERIFIER));
        assert!(rfc_challenge().verify(RFC_VERIFIER));
    }

    #[test]
    fn challenge_keeps_its_value_and_method() {
        let challenge = rfc_challenge();
        assert_eq!(challenge.as_str(), RFC_CHALLENGE);
        assert_eq!(challenge.method(), "S256");
    }

    #[test]
    fn wrong_verifier_is_rejected() {
        let other = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXj";
        assert!(!verify(&rfc_challenge(), other));
    }

    #[test]
    fn verifier_shorter_than_43_characters_is_rejected() {
        assert!(!verify(&rfc_challenge(), &RFC_VERIFIER[..42]));
    }

    #[test]
    fn verifier_longer_than_128_characters_is_rejected() {
        let long = "a".repeat(129);
        let challenge_for_long = {
            let hash = digest::digest(&digest::SHA256, long.as_bytes());
            CodeChallenge::parse(&URL_SAFE_NO_PAD.encode(hash.as_ref()), Some("S256")).unwrap()
        };
        assert!(!verify(&challenge_for_long, &long));
    }

    #[test]
    fn verifier_of_128_characters_is_accepted() {
        let verifier = "~._-".repeat(32);
        let hash = digest::digest(&digest::SHA256, verifier.as_bytes());
        let challenge =
            CodeChallenge::parse(&URL_SAFE_NO_PAD.encode(hash.as_ref()), Some("S256")).unwrap();
        assert!(verify(&challenge, &verifier));
    }

    #[test]
    fn verifier_with_characters_outside_unreserved_is_rejected() {
        let verifier = format!("{}+", &RFC_VERIFIER[..42]);
        let hash = digest::digest(&digest::SHA256, verifier.as_bytes());
        let challenge =
            CodeChallenge::parse(&URL_SAFE_NO_PAD.encode(hash.as_ref()), Some("S256")).unwrap();
        assert!(!verify(&challenge, &verifier));
    }

    #[test]
    fn plain_method_is_refused() {
        assert_eq!(
            CodeChallenge::parse(RFC_VERIFIER, Some("plain")),
            Err(PkceError::PlainRefused)
        );
    }

    #[test]
    fn missing_method_is_refused() {
        assert_eq!(
            CodeChallenge::parse(RFC_CHALLENGE, None),
            Err(PkceError::MissingMethod)
        );
    }

    #[test]
    fn method_is_case_sensitive() {
        assert_eq!(
            CodeChallenge::parse(RFC_CHALLENGE, Some("s256")),
            Err(PkceError::UnsupportedMethod)
        );
    }

    #[test]
    fn empty_challenge_is_refused() {
        assert_eq!(
            CodeChallenge::parse("", Some("S256")),
            Err(PkceError::MissingChallenge)
        );
    }

    #[test]
    fn challenge_of_wrong_length_is_refused() {
        assert_eq!(
            CodeChallenge::parse(&RFC_CHALLENGE[..42], Some("S256")),
            Err(PkceError::MalformedChallenge)
        );
        let padded = format!("{RFC_CHALLENGE}=");
        assert_eq!(
            CodeChallenge::parse(&padded, Some("S256")),
            Err(PkceError::MalformedChallenge)
        );
    }

    #[test]
    fn challenge_outside_base64url_alphabet_is_refused() {
        let standard_alphabet = RFC_CHALLENGE.replace('-', "+");
        assert_eq!(
            CodeChallenge::parse(&standard_alphabet, Some("S256")),
            Err(PkceError::MalformedChallenge)
        );
    }

    #[test]
    fn non_canonical_challenge_is_refused() {
        // The last of 43 characters carries 4 bits of the hash and 2 zero bits; `N` sets one of
        // the zero bits, so no SHA-256 output encodes to it.
        let non_canonical = format!("{}N", &RFC_CHALLENGE[..42]);
        assert_eq!(
            CodeChallenge::parse(&non_canonical, Some("S256")),
            Err(PkceError::MalformedChallenge)
        );
    }
}
