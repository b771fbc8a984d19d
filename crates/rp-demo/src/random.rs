//! Random identifiers (cookie values, CSRF tokens, `jti`) from the system CSPRNG.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

/// The system random number generator failed; nothing secret could be made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the system random number generator failed")]
pub(crate) struct RandomSourceFailed;

/// 256 random bits, base64url without padding (43 characters).
pub(crate) fn random_token() -> Result<String, RandomSourceFailed> {
    let mut bytes = [0u8; 32];
    aws_lc_rs::rand::fill(&mut bytes).map_err(|_| RandomSourceFailed)?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

/// Compares two secrets in time that does not depend on where they differ.
pub(crate) fn secrets_match(expected: &str, presented: &str) -> bool {
    aws_lc_rs::constant_time::verify_slices_are_equal(expected.as_bytes(), presented.as_bytes())
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_long_and_distinct() {
        let first = random_token().unwrap();
        let second = random_token().unwrap();
        assert_eq!(first.len(), 43);
        assert_ne!(first, second);
    }

    #[test]
    fn secrets_match_only_when_equal() {
        assert!(secrets_match("abc", "abc"));
        assert!(!secrets_match("abc", "abd"));
        assert!(!secrets_match("abc", "ab"));
    }
}
