//! TOTP authenticators (RFC 6238): secrets, otpauth URIs, and replay-safe code checks.

use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use subtle::ConstantTimeEq;
use totp_rs::{Algorithm, TOTP};

/// RFC 6238 defaults that every authenticator app understands: SHA-1, 6 digits, 30 s steps.
pub const STEP_SECONDS: i64 = 30;
const DIGITS: usize = 6;
/// RFC 6238 5.2: accept one step either side for clock drift.
const SKEW_STEPS: i64 = 1;
pub const SECRET_BYTES: usize = 20;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TotpError {
    #[error("the TOTP secret is invalid")]
    Secret,
    #[error("random generation failed")]
    Random,
}

/// A fresh 160-bit secret (RFC 4226 4: the recommended length).
pub fn generate_secret() -> Result<Vec<u8>, TotpError> {
    let mut secret = vec![0u8; SECRET_BYTES];
    SystemRandom::new()
        .fill(&mut secret)
        .map_err(|_| TotpError::Random)?;
    Ok(secret)
}

fn totp(secret: &[u8], account: &str, issuer: &str) -> Result<TOTP, TotpError> {
    // The otpauth label must not contain ':' (it separates issuer and account).
    let account = account.replace(':', "_");
    TOTP::new(
        Algorithm::SHA1,
        DIGITS,
        1,
        STEP_SECONDS as u64,
        secret.to_vec(),
        Some(issuer.to_owned()),
        account,
    )
    .map_err(|_| TotpError::Secret)
}

/// The `otpauth://totp/...` URI an authenticator app scans.
pub fn otpauth_uri(secret: &[u8], account: &str, issuer: &str) -> Result<String, TotpError> {
    Ok(totp(secret, account, issuer)?.get_url())
}

/// The secret in RFC 4648 base32, for typing into an authenticator app by hand.
pub fn secret_base32(secret: &[u8]) -> Result<String, TotpError> {
    Ok(totp(secret, "code", "Segl")?.get_secret_base32())
}

/// The code for the step containing `now` (for `segl citizen totp code` in demo mode and tests).
pub fn code_at(secret: &[u8], now: i64) -> Result<String, TotpError> {
    Ok(totp(secret, "code", "Segl")?.generate(u64::try_from(now).unwrap_or_default()))
}

/// Returns the time step a code belongs to, if it matches within the skew window and is newer
/// than `last_used_step`: a code is accepted once only (RFC 6238 5.2).
pub fn matching_step(
    secret: &[u8],
    code: &str,
    now: i64,
    last_used_step: Option<i64>,
) -> Result<Option<i64>, TotpError> {
    let code = code.trim();
    if code.len() != DIGITS || !code.bytes().all(|byte| byte.is_ascii_digit()) {
        return Ok(None);
    }
    let generator = totp(secret, "code", "Segl")?;
    let current_step = now.div_euclid(STEP_SECONDS);
    let mut matched = None;
    // Check every step in the window (no early exit) so timing does not tell which matched.
    for step in (current_step - SKEW_STEPS)..=(current_step + SKEW_STEPS) {
        let Ok(time) = u64::try_from(step * STEP_SECONDS) else {
            continue;
        };
        let expected = generator.generate(time);
        if bool::from(expected.as_bytes().ct_eq(code.as_bytes())) && matched.is_none() {
            matched = Some(step);
        }
    }
    Ok(matched.filter(|step| last_used_step.is_none_or(|last| *step > last)))
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 6238 Appendix B, SHA-1 seed "12345678901234567890" (8-digit codes there; we use
    // the last six digits, as RFC 4226 truncation to 6 digits gives).
    const SEED: &[u8] = b"12345678901234567890";

    #[test]
    fn rfc6238_test_vector_matches() {
        assert_eq!(code_at(SEED, 59).expect("code"), "287082");
        assert_eq!(code_at(SEED, 1_111_111_109).expect("code"), "081804");
    }

    #[test]
    fn a_code_from_the_previous_step_is_accepted() {
        let code = code_at(SEED, 1_000_000_000 - 30).expect("code");
        let step = matching_step(SEED, &code, 1_000_000_000, None).expect("check");
        assert_eq!(step, Some((1_000_000_000 - 30) / 30));
    }

    #[test]
    fn a_code_two_steps_old_is_refused() {
        let code = code_at(SEED, 1_000_000_000 - 60).expect("code");
        assert_eq!(
            matching_step(SEED, &code, 1_000_000_000, None).expect("check"),
            None
        );
    }

    #[test]
    fn a_used_code_is_refused_the_second_time() {
        let now = 1_000_000_000;
        let code = code_at(SEED, now).expect("code");
        let step = matching_step(SEED, &code, now, None).expect("check");
        assert!(step.is_some());
        assert_eq!(
            matching_step(SEED, &code, now + 5, step).expect("check"),
            None
        );
    }

    #[test]
    fn otpauth_uri_names_issuer_and_account() {
        let uri = otpauth_uri(SEED, "anna", "Segl").expect("uri");
        assert!(uri.starts_with("otpauth://totp/Segl:anna?secret="), "{uri}");
        assert!(uri.contains("issuer=Segl"), "{uri}");
    }

    #[test]
    fn malformed_codes_never_match() {
        for code in ["", "12345", "1234567", "12a456"] {
            assert_eq!(matching_step(SEED, code, 59, None).expect("check"), None);
        }
    }
}
