//! Secrets at rest: a master key from configuration, purpose-bound subkeys (HKDF), AES-256-GCM.

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use aws_lc_rs::hkdf::{Salt, HKDF_SHA256};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use secrecy::{ExposeSecret, SecretBox};

/// The 256-bit master key. Never stored in the repository: it comes from configuration or
/// the environment (or, for the embedded SQLite default, a key file beside the database).
pub struct MasterKey(SecretBox<[u8; 32]>);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    #[error("the master key must be 32 bytes encoded in base64")]
    BadMasterKey,
    #[error("a sealed value could not be opened (wrong master key or tampered data)")]
    Open,
    #[error("sealing failed")]
    Seal,
}

impl MasterKey {
    /// Parses standard or URL-safe base64 of exactly 32 bytes.
    pub fn parse(encoded: &str) -> Result<Self, SealError> {
        let trimmed = encoded.trim();
        let bytes = STANDARD
            .decode(trimmed)
            .or_else(|_| URL_SAFE_NO_PAD.decode(trimmed))
            .map_err(|_| SealError::BadMasterKey)?;
        let key: [u8; 32] = bytes.try_into().map_err(|_| SealError::BadMasterKey)?;
        Ok(Self(SecretBox::new(Box::new(key))))
    }

    /// A fresh random key, base64-encoded, for `segl keys generate-master` and first start.
    pub fn generate_encoded() -> Result<String, SealError> {
        let mut key = [0u8; 32];
        SystemRandom::new()
            .fill(&mut key)
            .map_err(|_| SealError::Seal)?;
        Ok(STANDARD.encode(key))
    }

    /// Derives 32 bytes for one purpose (HKDF-SHA256, RFC 5869), so that keys for different
    /// uses (TOTP secrets, signing keys, pairwise subjects) are independent.
    pub fn derive(&self, purpose: &str) -> Result<[u8; 32], SealError> {
        let salt = Salt::new(HKDF_SHA256, b"segl master key v1");
        let prk = salt.extract(self.0.expose_secret());
        let info = [purpose.as_bytes()];
        let okm = prk
            .expand(&info, HKDF_SHA256)
            .map_err(|_| SealError::Seal)?;
        let mut out = [0u8; 32];
        okm.fill(&mut out).map_err(|_| SealError::Seal)?;
        Ok(out)
    }

    /// An AEAD sealer for one purpose.
    pub fn sealer(&self, purpose: &str) -> Result<Sealer, SealError> {
        let key = self.derive(purpose)?;
        let unbound = UnboundKey::new(&AES_256_GCM, &key).map_err(|_| SealError::Seal)?;
        Ok(Sealer {
            key: LessSafeKey::new(unbound),
            random: SystemRandom::new(),
        })
    }
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("MasterKey(<redacted>)")
    }
}

/// Encrypts small secrets with AES-256-GCM and a random 96-bit nonce. The associated data binds
/// a ciphertext to its owner (e.g. the citizen's id), so it cannot be moved to another row.
pub struct Sealer {
    key: LessSafeKey,
    random: SystemRandom,
}

impl Sealer {
    /// Returns `base64(nonce || ciphertext || tag)`.
    pub fn seal(&self, plaintext: &[u8], associated: &str) -> Result<String, SealError> {
        let mut nonce_bytes = [0u8; NONCE_LEN];
        self.random
            .fill(&mut nonce_bytes)
            .map_err(|_| SealError::Seal)?;
        let mut buffer = plaintext.to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce_bytes),
                Aad::from(associated.as_bytes()),
                &mut buffer,
            )
            .map_err(|_| SealError::Seal)?;
        let mut out = nonce_bytes.to_vec();
        out.extend_from_slice(&buffer);
        Ok(STANDARD.encode(out))
    }

    pub fn open(&self, sealed: &str, associated: &str) -> Result<Vec<u8>, SealError> {
        let bytes = STANDARD.decode(sealed).map_err(|_| SealError::Open)?;
        if bytes.len() < NONCE_LEN {
            return Err(SealError::Open);
        }
        let (nonce_bytes, ciphertext) = bytes.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce_bytes).map_err(|_| SealError::Open)?;
        let mut buffer = ciphertext.to_vec();
        let plaintext = self
            .key
            .open_in_place(nonce, Aad::from(associated.as_bytes()), &mut buffer)
            .map_err(|_| SealError::Open)?;
        Ok(plaintext.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> MasterKey {
        MasterKey::parse(&MasterKey::generate_encoded().expect("generate")).expect("parse")
    }

    #[test]
    fn sealed_value_opens_with_the_same_owner_only() {
        let sealer = key().sealer("totp").expect("sealer");
        let sealed = sealer.seal(b"secret", "citizen-1").expect("seal");
        assert_eq!(sealer.open(&sealed, "citizen-1").expect("open"), b"secret");
        assert_eq!(sealer.open(&sealed, "citizen-2"), Err(SealError::Open));
    }

    #[test]
    fn purposes_give_independent_keys() {
        let master = key();
        let sealed = master
            .sealer("totp")
            .expect("sealer")
            .seal(b"x", "a")
            .expect("seal");
        assert_eq!(
            master
                .sealer("signing-keys")
                .expect("sealer")
                .open(&sealed, "a"),
            Err(SealError::Open)
        );
    }

    #[test]
    fn master_key_must_be_32_bytes() {
        assert!(MasterKey::parse("c2hvcnQ=").is_err());
        assert!(MasterKey::parse("not base64!").is_err());
    }
}
