//! The portal's own P-256 key for `private_key_jwt` (RFC 7523): making one, writing it as
//! PKCS#8 PEM, and publishing its public half as a JWK Set for Segl's client registration.
//!
//! The cryptography is aws-lc-rs's; this module only encodes (PEM, JWK, RFC 7638 thumbprint).

use aws_lc_rs::digest;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use serde_json::{json, Value};

const PEM_LABEL: &str = "PRIVATE KEY";

/// Why a key could not be made or read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("the system random number generator failed")]
    Random,
    #[error("the private key is not PEM with a `-----BEGIN PRIVATE KEY-----` (PKCS#8) block")]
    NotPkcs8Pem,
    #[error("the private key is not a PKCS#8 P-256 (ES256) key")]
    NotP256,
}

/// A new P-256 key: the private key as PKCS#8 PEM, the public JWK Set to register with Segl, and
/// the key id (the RFC 7638 thumbprint) used in both.
pub(crate) fn generate_client_key() -> Result<(String, Value, String), KeyError> {
    let pkcs8 =
        EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
            .map_err(|_| KeyError::Random)?;
    let pem = encode_pem(pkcs8.as_ref());
    let (jwks, kid) = client_public_keys(&pem)?;
    Ok((pem, jwks, kid))
}

/// The public JWK Set (one ES256 key, `use: sig`) and its RFC 7638 thumbprint for a private key.
pub(crate) fn client_public_keys(private_key_pem: &str) -> Result<(Value, String), KeyError> {
    let der = decode_pem(private_key_pem)?;
    let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &der)
        .map_err(|_| KeyError::NotP256)?;
    // SEC 1 uncompressed point: 0x04 || x || y, 32 bytes each.
    let point = pair.public_key().as_ref();
    let coordinates = point
        .strip_prefix(&[0x04])
        .filter(|rest| rest.len() == 64)
        .ok_or(KeyError::NotP256)?;
    let (x, y) = coordinates.split_at(32);
    let x = URL_SAFE_NO_PAD.encode(x);
    let y = URL_SAFE_NO_PAD.encode(y);
    // RFC 7638 3.2: the required members in lexicographic order, no whitespace.
    let canonical = format!(r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#);
    let kid = URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, canonical.as_bytes()));
    let jwks = json!({
        "keys": [{
            "kty": "EC",
            "crv": "P-256",
            "x": x,
            "y": y,
            "use": "sig",
            "alg": "ES256",
            "kid": kid,
        }]
    });
    Ok((jwks, kid))
}

/// RFC 7468: base64 in lines of 64 characters between the BEGIN and END lines.
fn encode_pem(der: &[u8]) -> String {
    let body = STANDARD.encode(der);
    let mut pem = format!("-----BEGIN {PEM_LABEL}-----\n");
    for line in body.as_bytes().chunks(64) {
        pem.push_str(&String::from_utf8_lossy(line));
        pem.push('\n');
    }
    pem.push_str(&format!("-----END {PEM_LABEL}-----\n"));
    pem
}

/// The DER inside the first `PRIVATE KEY` block of a PEM text.
pub(crate) fn decode_pem(pem: &str) -> Result<Vec<u8>, KeyError> {
    let begin = format!("-----BEGIN {PEM_LABEL}-----");
    let end = format!("-----END {PEM_LABEL}-----");
    let start = pem.find(&begin).ok_or(KeyError::NotPkcs8Pem)? + begin.len();
    let stop = pem[start..].find(&end).ok_or(KeyError::NotPkcs8Pem)? + start;
    let body: String = pem[start..stop]
        .chars()
        .filter(|character| !character.is_ascii_whitespace())
        .collect();
    STANDARD.decode(body).map_err(|_| KeyError::NotPkcs8Pem)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_key_reads_back_with_the_same_public_key() {
        let (pem, jwks, kid) = generate_client_key().unwrap();
        assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----\n"));
        assert!(pem.lines().all(|line| line.len() <= 64));
        let (again, again_kid) = client_public_keys(&pem).unwrap();
        assert_eq!(again, jwks);
        assert_eq!(again_kid, kid);
        let key = &jwks["keys"][0];
        assert_eq!(key["kty"], "EC");
        assert_eq!(key["crv"], "P-256");
        assert_eq!(key["kid"], kid.as_str());
        assert!(
            key.get("d").is_none(),
            "the private scalar must not be published"
        );
    }

    #[test]
    fn two_keys_differ() {
        let (_, _, first) = generate_client_key().unwrap();
        let (_, _, second) = generate_client_key().unwrap();
        assert_ne!(first, second);
    }

    #[test]
    fn garbage_is_not_a_key() {
        assert_eq!(client_public_keys("hello"), Err(KeyError::NotPkcs8Pem));
        assert_eq!(
            client_public_keys("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"),
            Err(KeyError::NotP256)
        );
    }

    #[test]
    fn the_thumbprint_follows_rfc_7638() {
        // RFC 7638 3.1 uses an RSA key; the same recipe on this EC key must give the same kid
        // as a hand-built canonical form.
        let (pem, jwks, kid) = generate_client_key().unwrap();
        drop(pem);
        let key = &jwks["keys"][0];
        let canonical = format!(
            "{{\"crv\":\"P-256\",\"kty\":\"EC\",\"x\":\"{}\",\"y\":\"{}\"}}",
            key["x"].as_str().unwrap(),
            key["y"].as_str().unwrap()
        );
        let expected =
            URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, canonical.as_bytes()));
        assert_eq!(kid, expected);
    }
}
