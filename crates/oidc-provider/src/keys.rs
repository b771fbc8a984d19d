//! The provider's signing keys: generation, storage form, JWK Set, rotation and JWT signing.
//!
//! Pure domain code: no HTTP, no SQL, and the time comes in as `now` (unix seconds). Keys are made
//! by aws-lc-rs and JWTs are signed by jsonwebtoken; this module only arranges the two.
//!
//! Lifecycle of a key (per algorithm): `Next` (published, not signing) -> `Active` (signs from its
//! `active_from`; one per algorithm) -> `Retired` (published until `retire_after`, so tokens it
//! signed still verify) -> dropped. Publishing the `Next` key one rotation ahead lets relying
//! parties cache it before the first token signed with it arrives (OIDC Core 10.1.1).
//!
//! Nodes reload the keys every key refresh interval, so a rotation does not switch at once: the
//! new key signs from `RotationTiming::switch_at` (one refresh interval and a margin ahead), when
//! every node serves it in its JWK Set; until then the retiring key still signs, and it stays
//! published for the longest token lifetime (and the margin) after the switch.

use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::error::Unspecified;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{
    EcdsaKeyPair, Ed25519KeyPair, KeyPair as _, RsaKeyPair, RsaPublicKeyComponents,
    ECDSA_P256_SHA256_FIXED_SIGNING, RSA_PKCS1_SHA256, RSA_PSS_SHA256,
};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jsonwebtoken::{Algorithm, DecodingKey, Header};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::client::SigningAlg;

/// Random bytes in a generated key id: 128 bits, so two keys never share one by chance.
const KID_BYTES: usize = 16;

/// RFC 7518 3.3 and 3.5: RS256 and PS256 keys must be 2048 bits or larger.
const MIN_RSA_MODULUS_BYTES: usize = 256;

/// Length of one P-256 coordinate in bytes (RFC 7518 6.2.1.2: `x` and `y` keep their full length).
const P256_COORDINATE_BYTES: usize = 32;

/// Margin for clocks that differ between nodes (and the CLI's host) and for a key refresh that
/// runs late (a slow query, a busy runtime).
pub const CLOCK_SKEW_SECONDS: i64 = 5;

/// How a rotation is timed, from the deployment's settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RotationTiming {
    /// The longest a node goes without reloading the keys (`provider.key_refresh_seconds`).
    pub key_refresh_seconds: i64,
    /// The longest lifetime of a token we sign: ID, access and logout tokens.
    pub max_token_lifetime: i64,
}

impl RotationTiming {
    /// When the new key starts signing after a rotation at `now`: by then every node has
    /// reloaded the keys, so every node's JWK Set holds the new key before any node signs with it.
    pub fn switch_at(&self, now: i64) -> i64 {
        now.saturating_add(self.key_refresh_seconds.max(0))
            .saturating_add(CLOCK_SKEW_SECONDS)
    }

    /// Until when the key that signs up to `switch_at` stays published: the last token any node
    /// signs with it expires by then, even on a node whose clock is a little behind.
    pub fn retire_after(&self, switch_at: i64) -> i64 {
        switch_at
            .saturating_add(self.max_token_lifetime.max(0))
            .saturating_add(CLOCK_SKEW_SECONDS)
    }
}

/// Signing key failures, named for what the caller can do about them.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The crypto library could not make a key or a key id; nothing to fix but to retry.
    #[error("could not generate a {alg:?} signing key")]
    Generation {
        alg: SigningAlg,
        #[source]
        source: Unspecified,
    },
    /// Stored key material does not parse, or does not fit its algorithm; replace the stored key.
    #[error("key {kid:?} is not a usable {alg:?} key: {reason}")]
    InvalidKeyMaterial {
        kid: String,
        alg: SigningAlg,
        reason: String,
    },
    /// Two keys carry the same `kid`; verifiers could not tell them apart (RFC 7517 4.5).
    #[error("more than one key has the key id {0:?}")]
    DuplicateKid(String),
    /// More than one key of an algorithm is `Active`; the store must retire all but one.
    #[error("more than one active {0:?} key")]
    SeveralActive(SigningAlg),
    /// A rotation plan names a key the set does not hold; reload the keys and plan again.
    #[error("no key has the key id {0:?}")]
    UnknownKid(String),
    /// The claims did not serialize.
    #[error("could not serialize the JWT")]
    Serializing(#[source] serde_json::Error),
    /// The crypto library could not sign; nothing to fix but to retry.
    #[error("could not sign the JWT")]
    Signing(#[source] Unspecified),
}

/// The jsonwebtoken algorithm for one of ours.
pub fn jwt_algorithm(alg: SigningAlg) -> Algorithm {
    match alg {
        SigningAlg::ES256 => Algorithm::ES256,
        SigningAlg::RS256 => Algorithm::RS256,
        SigningAlg::PS256 => Algorithm::PS256,
        SigningAlg::EdDSA => Algorithm::EdDSA,
    }
}

/// One signing key, parsed and checked once: the jsonwebtoken key, the public JWK and the
/// verification key are ready when it is built. (jsonwebtoken 10's aws-lc-rs signer still loads
/// its DER into a key pair on every signature; its API offers no way to hand it a parsed one.)
///
/// RS256 and PS256 get separate RSA keys: a JWK names one `alg` (RFC 7517 4.4), and keeping one key
/// per padding scheme avoids cross-algorithm use of the same key.
#[derive(Clone)]
pub struct SigningKey {
    kid: String,
    alg: SigningAlg,
    /// PKCS#8 v1 `PrivateKeyInfo` (RFC 5208) DER, the form the store encrypts and keeps.
    pkcs8_der: Vec<u8>,
    created_at: i64,
    key_pair: Arc<PreparedKeyPair>,
    decoding_key: DecodingKey,
    /// The public JWK with `kid`, `alg` and `use`, ready for the JWK Set.
    public_jwk: Value,
}

impl SigningKey {
    /// Generates a fresh key with a random `kid`.
    pub fn generate(alg: SigningAlg, now: i64) -> Result<Self, KeyError> {
        let generation_failed = |source| KeyError::Generation { alg, source };
        let kid = new_kid().map_err(generation_failed)?;
        let pkcs8_der = generate_pkcs8(alg).map_err(generation_failed)?;
        Self::from_pkcs8(kid, alg, pkcs8_der, now)
    }

    /// Rebuilds a key from its stored PKCS#8 DER, checking that the material fits `alg`.
    pub fn from_pkcs8(
        kid: String,
        alg: SigningAlg,
        pkcs8_der: Vec<u8>,
        created_at: i64,
    ) -> Result<Self, KeyError> {
        let invalid = |reason: String| KeyError::InvalidKeyMaterial {
            kid: kid.clone(),
            alg,
            reason,
        };
        if kid.is_empty() {
            return Err(invalid("the key id is empty".to_owned()));
        }
        let (key_pair, public_key) = parse_pkcs8(alg, &pkcs8_der).map_err(&invalid)?;
        let decoding_key = public_key
            .decoding_key()
            .map_err(|error| invalid(error.to_string()))?;
        let public_jwk = public_key.jwk(&kid, alg);
        Ok(Self {
            kid,
            alg,
            pkcs8_der,
            created_at,
            key_pair: Arc::new(key_pair),
            decoding_key,
            public_jwk,
        })
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    pub fn alg(&self) -> SigningAlg {
        self.alg
    }

    /// The private key as PKCS#8 DER; the caller encrypts it before storing.
    pub fn pkcs8_der(&self) -> &[u8] {
        &self.pkcs8_der
    }

    pub fn created_at(&self) -> i64 {
        self.created_at
    }

    /// The public JWK (RFC 7517 4, RFC 7518 6, RFC 8037 2); it never holds private members.
    pub fn public_jwk(&self) -> &Value {
        &self.public_jwk
    }

    /// The public key for verifying tokens this key signed.
    pub fn decoding_key(&self) -> &DecodingKey {
        &self.decoding_key
    }
}

impl fmt::Debug for SigningKey {
    // Written by hand so the private key never reaches a log line.
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("SigningKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("created_at", &self.created_at)
            .finish_non_exhaustive()
    }
}

/// A random key id: 16 bytes from aws-lc-rs's system RNG, base64url without padding.
fn new_kid() -> Result<String, Unspecified> {
    let mut bytes = [0u8; KID_BYTES];
    aws_lc_rs::rand::fill(&mut bytes)?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

fn generate_pkcs8(alg: SigningAlg) -> Result<Vec<u8>, Unspecified> {
    Ok(match alg {
        SigningAlg::ES256 => EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING)?
            .to_pkcs8v1()?
            .as_ref()
            .to_vec(),
        SigningAlg::RS256 | SigningAlg::PS256 => RsaKeyPair::generate(KeySize::Rsa2048)?
            .as_der()?
            .as_ref()
            .to_vec(),
        SigningAlg::EdDSA => Ed25519KeyPair::generate()?.to_pkcs8v1()?.as_ref().to_vec(),
    })
}

/// The public half of a key, each member already base64url without padding (RFC 7515 2).
enum PublicKey {
    /// RFC 7518 6.2.1: P-256 point coordinates.
    Ec { x: String, y: String },
    /// RFC 7518 6.3.1: modulus and exponent as Base64urlUInt.
    Rsa { n: String, e: String },
    /// RFC 8037 2: the raw Ed25519 public key.
    Okp { x: String },
}

impl PublicKey {
    fn jwk(&self, kid: &str, alg: SigningAlg) -> Value {
        let mut members = Map::new();
        let mut put = |name: &str, value: &str| {
            members.insert(name.to_owned(), Value::from(value));
        };
        match self {
            Self::Ec { x, y } => {
                put("kty", "EC");
                put("crv", "P-256");
                put("x", x);
                put("y", y);
            }
            Self::Rsa { n, e } => {
                put("kty", "RSA");
                put("n", n);
                put("e", e);
            }
            Self::Okp { x } => {
                put("kty", "OKP");
                put("crv", "Ed25519");
                put("x", x);
            }
        }
        // RFC 7517 4.5: `kid` matches the JWS header; 4.4: `alg` pins the key to one algorithm;
        // 4.2: `use` "sig", because these keys only sign.
        put("kid", kid);
        put("alg", alg.as_str());
        put("use", "sig");
        Value::Object(members)
    }

    /// Built from the same members we publish, so verifying our own tokens uses what RPs see.
    fn decoding_key(&self) -> Result<DecodingKey, jsonwebtoken::errors::Error> {
        match self {
            Self::Ec { x, y } => DecodingKey::from_ec_components(x, y),
            Self::Rsa { n, e } => DecodingKey::from_rsa_components(n, e),
            Self::Okp { x } => DecodingKey::from_ed_components(x),
        }
    }
}

/// A private key parsed once, when the key is loaded. (jsonwebtoken 10's aws-lc-rs signer parses
/// its DER into a key pair again for every signature, which for RSA costs about as much as the
/// signature itself; its API takes no parsed key, so signing uses aws-lc-rs directly and
/// jsonwebtoken stays for headers and verification.)
enum PreparedKeyPair {
    Ec(EcdsaKeyPair),
    Rsa(RsaKeyPair, &'static dyn aws_lc_rs::signature::RsaEncoding),
    Ed(Ed25519KeyPair),
}

impl PreparedKeyPair {
    /// RFC 7518 3: the JWS signature of `message` (ECDSA as fixed-width R || S, 3.4).
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, Unspecified> {
        match self {
            PreparedKeyPair::Ec(key_pair) => Ok(key_pair
                .sign(&SystemRandom::new(), message)?
                .as_ref()
                .to_vec()),
            PreparedKeyPair::Rsa(key_pair, padding) => {
                let mut signature = vec![0; key_pair.public_modulus_len()];
                key_pair.sign(*padding, &SystemRandom::new(), message, &mut signature)?;
                Ok(signature)
            }
            PreparedKeyPair::Ed(key_pair) => Ok(key_pair.sign(message).as_ref().to_vec()),
        }
    }
}

/// Parses PKCS#8 DER with aws-lc-rs (which also rejects material of another key type) into the
/// key pair that signs and the public key members.
fn parse_pkcs8(alg: SigningAlg, der: &[u8]) -> Result<(PreparedKeyPair, PublicKey), String> {
    match alg {
        SigningAlg::ES256 => {
            let key_pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der)
                .map_err(|rejected| rejected.to_string())?;
            // aws-lc-rs gives the point uncompressed (SEC 1 2.3.3): 0x04 || X || Y, each
            // coordinate left-padded to 32 bytes, which is exactly what RFC 7518 6.2.1.2 asks.
            let (x, y) = match key_pair.public_key().as_ref() {
                [0x04, coordinates @ ..] if coordinates.len() == 2 * P256_COORDINATE_BYTES => {
                    coordinates.split_at(P256_COORDINATE_BYTES)
                }
                _ => return Err("the P-256 public key is not an uncompressed point".to_owned()),
            };
            let public_key = PublicKey::Ec {
                x: URL_SAFE_NO_PAD.encode(x),
                y: URL_SAFE_NO_PAD.encode(y),
            };
            Ok((PreparedKeyPair::Ec(key_pair), public_key))
        }
        SigningAlg::RS256 | SigningAlg::PS256 => {
            let key_pair = RsaKeyPair::from_pkcs8(der).map_err(|rejected| rejected.to_string())?;
            if key_pair.public_modulus_len() < MIN_RSA_MODULUS_BYTES {
                return Err("the RSA modulus is shorter than 2048 bits".to_owned());
            }
            // n and e come straight from aws-lc-rs (`RsaPublicKeyComponents`, default feature
            // `ring-io`) as big-endian bytes without leading zeros, which is the Base64urlUInt
            // form RFC 7518 2 and 6.3.1 require; no DER reader of our own is needed.
            let components = RsaPublicKeyComponents::<Vec<u8>>::from(key_pair.public_key());
            let public_key = PublicKey::Rsa {
                n: URL_SAFE_NO_PAD.encode(&components.n),
                e: URL_SAFE_NO_PAD.encode(&components.e),
            };
            let padding: &'static dyn aws_lc_rs::signature::RsaEncoding = match alg {
                SigningAlg::PS256 => &RSA_PSS_SHA256,
                _ => &RSA_PKCS1_SHA256,
            };
            Ok((PreparedKeyPair::Rsa(key_pair, padding), public_key))
        }
        SigningAlg::EdDSA => {
            let key_pair =
                Ed25519KeyPair::from_pkcs8(der).map_err(|rejected| rejected.to_string())?;
            let public_key = PublicKey::Okp {
                x: URL_SAFE_NO_PAD.encode(key_pair.public_key().as_ref()),
            };
            Ok((PreparedKeyPair::Ed(key_pair), public_key))
        }
    }
}

/// Signs `claims` as a JWS compact serialization with the key's `alg` and `kid` in the header.
///
/// `header_typ` is the explicit type: "JWT" for ID tokens, "at+jwt" for access tokens (RFC 9068
/// 2.1), "logout+jwt" for logout tokens (OIDC Back-Channel Logout 2.4); `None` leaves `typ` out.
pub fn sign_jwt(
    key: &SigningKey,
    header_typ: Option<&str>,
    claims: &impl Serialize,
) -> Result<String, KeyError> {
    let mut header = Header::new(jwt_algorithm(key.alg));
    // RFC 7515 4.1.4: the kid lets verifiers pick the key; OIDC Core 10.1 requires it when the
    // JWK Set holds more than one key, which ours always does.
    header.kid = Some(key.kid.clone());
    // RFC 8725 3.11: explicit typing keeps one kind of token from passing for another.
    header.typ = header_typ.map(str::to_owned);
    let header = serde_json::to_vec(&header).map_err(KeyError::Serializing)?;
    let claims = serde_json::to_vec(claims).map_err(KeyError::Serializing)?;
    // RFC 7515 7.1: BASE64URL(header) || '.' || BASE64URL(payload), then '.' || BASE64URL(sig).
    let mut jws = String::with_capacity((header.len() + claims.len()) * 4 / 3 + 360);
    URL_SAFE_NO_PAD.encode_string(&header, &mut jws);
    jws.push('.');
    URL_SAFE_NO_PAD.encode_string(&claims, &mut jws);
    let signature = key
        .key_pair
        .sign(jws.as_bytes())
        .map_err(KeyError::Signing)?;
    jws.push('.');
    URL_SAFE_NO_PAD.encode_string(&signature, &mut jws);
    Ok(jws)
}

/// Where a key is in its lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyState {
    /// Published in the JWK Set, not signing yet.
    Next,
    /// Signs; at most one per algorithm.
    Active,
    /// No longer signs; published until `retire_after` (unix seconds), then dropped.
    Retired { retire_after: i64 },
}

impl KeyState {
    /// The storage form of the state; `retire_after` is stored beside it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Next => "next",
            Self::Active => "active",
            Self::Retired { .. } => "retired",
        }
    }

    pub fn retire_after(self) -> Option<i64> {
        match self {
            Self::Retired { retire_after } => Some(retire_after),
            Self::Next | Self::Active => None,
        }
    }

    /// Reads the storage form back; a retired key without `retire_after` is not a valid state.
    pub fn parse(state: &str, retire_after: Option<i64>) -> Option<Self> {
        match (state, retire_after) {
            ("next", None) => Some(Self::Next),
            ("active", None) => Some(Self::Active),
            ("retired", Some(retire_after)) => Some(Self::Retired { retire_after }),
            _ => None,
        }
    }

    /// Whether the key belongs in the JWK Set at `now`.
    pub fn is_published(self, now: i64) -> bool {
        match self {
            Self::Next | Self::Active => true,
            Self::Retired { retire_after } => now < retire_after,
        }
    }

    /// JWK Set order: the signing key first, then the coming one, then the retiring ones.
    fn publication_rank(self) -> u8 {
        match self {
            Self::Active => 0,
            Self::Next => 1,
            Self::Retired { .. } => 2,
        }
    }
}

/// A key with its lifecycle state, as the store holds it.
#[derive(Debug, Clone)]
pub struct KeyEntry {
    pub key: SigningKey,
    pub state: KeyState,
    /// When the key signs (or signed) from, unix seconds; `None` for a key that never signed. A
    /// `Retired` key keeps it: it still signs until the newer key's `active_from` has come.
    pub active_from: Option<i64>,
}

/// The public side of a key, for verifying tokens we issued (`id_token_hint`, introspection).
#[derive(Clone, Copy)]
pub struct VerificationKey<'a> {
    pub kid: &'a str,
    pub alg: SigningAlg,
    pub decoding_key: &'a DecodingKey,
}

impl VerificationKey<'_> {
    /// The one algorithm to accept for this key (RFC 8725 3.1: never trust the header's `alg`).
    pub fn algorithm(&self) -> Algorithm {
        jwt_algorithm(self.alg)
    }
}

impl fmt::Debug for VerificationKey<'_> {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("VerificationKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

/// All of the provider's keys, with at most one `Active` key per algorithm and unique `kid`s.
#[derive(Debug, Clone, Default)]
pub struct KeySet {
    entries: Vec<KeyEntry>,
}

impl KeySet {
    pub fn new(entries: Vec<KeyEntry>) -> Result<Self, KeyError> {
        check_entries(&entries)?;
        Ok(Self { entries })
    }

    pub fn entries(&self) -> &[KeyEntry] {
        &self.entries
    }

    /// The `Active` key of `alg`: the one that signs once its `active_from` has come.
    pub fn active(&self, alg: SigningAlg) -> Option<&SigningKey> {
        self.entries
            .iter()
            .find(|entry| entry.key.alg == alg && entry.state == KeyState::Active)
            .map(|entry| &entry.key)
    }

    /// The key that signs `alg` tokens at `now`: of the keys that have started signing and are
    /// still published, the one that started last. Between a rotation and its switch that is the
    /// retiring key; after it, the `Active` one (also when no key qualifies, which only keys
    /// stored without `active_from` can cause).
    pub fn signing_key(&self, alg: SigningAlg, now: i64) -> Option<&SigningKey> {
        self.entries
            .iter()
            .filter(|entry| entry.key.alg == alg && entry.state.is_published(now))
            .filter_map(|entry| match (entry.state, entry.active_from) {
                (KeyState::Next, _) => None,
                (state, Some(from)) if from <= now => {
                    Some(((from, state == KeyState::Active), &entry.key))
                }
                _ => None,
            })
            .max_by_key(|(rank, _)| *rank)
            .map(|(_, key)| key)
            .or_else(|| self.active(alg))
    }

    /// The JWK Set document (RFC 7517 5) of every key published at `now`: `Next`, `Active`, and
    /// `Retired` before its `retire_after`. The caller may cache it until `next_jwks_change(now)`.
    pub fn jwks_json(&self, now: i64) -> String {
        let mut published: Vec<&KeyEntry> = self
            .entries
            .iter()
            .filter(|entry| entry.state.is_published(now))
            .collect();
        published.sort_by_key(|entry| {
            (
                entry.state.publication_rank(),
                alg_rank(entry.key.alg),
                entry.key.created_at,
            )
        });
        let keys = published
            .into_iter()
            .map(|entry| entry.key.public_jwk.clone())
            .collect();
        let mut document = Map::new();
        document.insert("keys".to_owned(), Value::Array(keys));
        Value::Object(document).to_string()
    }

    /// When the JWK Set next changes on its own (the earliest pending `retire_after`), if ever.
    /// Rotations change it too, so a cache must also be dropped when the keys are reloaded.
    pub fn next_jwks_change(&self, now: i64) -> Option<i64> {
        self.entries
            .iter()
            .filter_map(|entry| entry.state.retire_after())
            .filter(|retire_after| *retire_after > now)
            .min()
    }

    /// The public key for `kid`, whatever its state: a token signed by a key that another node has
    /// already rotated in (or out) must still verify here. Expiry is the token's own `exp`.
    pub fn verification_key(&self, kid: &str) -> Option<VerificationKey<'_>> {
        self.entries
            .iter()
            .find(|entry| entry.key.kid == kid)
            .map(|entry| VerificationKey {
                kid: &entry.key.kid,
                alg: entry.key.alg,
                decoding_key: &entry.key.decoding_key,
            })
    }

    /// Applies a plan made by `plan_rotation` or `plan_initial_keys` to the keys in memory, after
    /// the store has persisted it. All or nothing: on error the set is unchanged.
    pub fn apply(&mut self, plan: RotationPlan) -> Result<(), KeyError> {
        let mut entries = self.entries.clone();
        for change in &plan.changes {
            let kid = change.kid();
            let position = entries
                .iter()
                .position(|entry| entry.key.kid == kid)
                .ok_or_else(|| KeyError::UnknownKid(kid.to_owned()))?;
            match change {
                KeyChange::Activate { active_from, .. } => {
                    entries[position].state = KeyState::Active;
                    entries[position].active_from = Some(*active_from);
                }
                KeyChange::Retire { retire_after, .. } => {
                    entries[position].state = KeyState::Retired {
                        retire_after: *retire_after,
                    }
                }
                KeyChange::Delete { .. } => {
                    entries.remove(position);
                }
            }
        }
        entries.extend(plan.new_keys);
        check_entries(&entries)?;
        self.entries = entries;
        Ok(())
    }
}

fn alg_rank(alg: SigningAlg) -> usize {
    SigningAlg::ALL
        .iter()
        .position(|candidate| *candidate == alg)
        .unwrap_or(SigningAlg::ALL.len())
}

fn check_entries(entries: &[KeyEntry]) -> Result<(), KeyError> {
    let mut kids = HashSet::new();
    let mut active_algs = HashSet::new();
    for entry in entries {
        if !kids.insert(entry.key.kid.as_str()) {
            return Err(KeyError::DuplicateKid(entry.key.kid.clone()));
        }
        if entry.state == KeyState::Active && !active_algs.insert(entry.key.alg) {
            return Err(KeyError::SeveralActive(entry.key.alg));
        }
    }
    Ok(())
}

/// One state change of a stored key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyChange {
    /// A `Next` key becomes `Active`: it signs from `active_from`.
    Activate { kid: String, active_from: i64 },
    /// An `Active` key stops signing and stays published until `retire_after`.
    Retire { kid: String, retire_after: i64 },
    /// A `Retired` key past its `retire_after`: no longer published, so its private part can go.
    Delete { kid: String },
}

impl KeyChange {
    pub fn kid(&self) -> &str {
        match self {
            Self::Activate { kid, .. } | Self::Retire { kid, .. } | Self::Delete { kid } => kid,
        }
    }
}

/// What a rotation does, for the store to persist in one transaction: update or delete existing
/// keys by `changes`, insert `new_keys`.
#[derive(Debug, Clone, Default)]
pub struct RotationPlan {
    pub changes: Vec<KeyChange>,
    pub new_keys: Vec<KeyEntry>,
}

impl RotationPlan {
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty() && self.new_keys.is_empty()
    }
}

/// Plans `segl keys rotate` for one algorithm.
///
/// The oldest `Next` key (published longest, so most likely in relying parties' caches) becomes
/// `Active`, signing from `timing.switch_at(now)`, when every node has reloaded the keys and
/// serves it; the old `Active` key becomes `Retired`, keeps signing until then, and stays
/// published until `timing.retire_after` of that moment, so every token any node signed with it
/// verifies until it expires. Retired keys already past `retire_after` are deleted; a new `Next`
/// key is generated unless another one is still waiting. With no `Next` key (lost), a fresh key
/// becomes `Active` at the same switch; with no `Active` key (first start), nothing signs yet, so
/// the new key signs at once.
///
/// Operators should rotate less often than relying parties cache the JWK Set, so the `Next` key is
/// known before it signs.
pub fn plan_rotation(
    keys: &[KeyEntry],
    alg: SigningAlg,
    now: i64,
    timing: RotationTiming,
) -> Result<RotationPlan, KeyError> {
    let mut plan = RotationPlan::default();
    let of_alg = || keys.iter().filter(move |entry| entry.key.alg == alg);
    let has_active = of_alg().any(|entry| entry.state == KeyState::Active);
    let switch_at = if has_active {
        timing.switch_at(now)
    } else {
        now
    };

    for entry in of_alg() {
        match entry.state {
            KeyState::Active => plan.changes.push(KeyChange::Retire {
                kid: entry.key.kid.clone(),
                retire_after: timing.retire_after(switch_at),
            }),
            KeyState::Retired { retire_after } if retire_after <= now => {
                plan.changes.push(KeyChange::Delete {
                    kid: entry.key.kid.clone(),
                })
            }
            KeyState::Retired { .. } | KeyState::Next => {}
        }
    }

    let mut waiting: Vec<&KeyEntry> = of_alg()
        .filter(|entry| entry.state == KeyState::Next)
        .collect();
    waiting.sort_by(|left, right| {
        (left.key.created_at, &left.key.kid).cmp(&(right.key.created_at, &right.key.kid))
    });
    match waiting.first() {
        Some(next) => plan.changes.push(KeyChange::Activate {
            kid: next.key.kid.clone(),
            active_from: switch_at,
        }),
        None => plan.new_keys.push(KeyEntry {
            key: SigningKey::generate(alg, now)?,
            state: KeyState::Active,
            active_from: Some(switch_at),
        }),
    }
    if waiting.len() <= 1 {
        plan.new_keys.push(KeyEntry {
            key: SigningKey::generate(alg, now)?,
            state: KeyState::Next,
            active_from: None,
        });
    }
    Ok(plan)
}

/// Plans the start-up keys: for every algorithm in `algs` without an `Active` key, a rotation
/// (on an empty store: one `Active` and one `Next` key per algorithm). Empty when all are set.
pub fn plan_initial_keys(
    keys: &[KeyEntry],
    algs: &[SigningAlg],
    now: i64,
) -> Result<RotationPlan, KeyError> {
    let mut plan = RotationPlan::default();
    for &alg in algs {
        let has_active = keys
            .iter()
            .any(|entry| entry.key.alg == alg && entry.state == KeyState::Active);
        if !has_active {
            // No active key: nothing signs yet and nothing retires, so the new key signs at once
            // and the timing does not matter here.
            let rotation = plan_rotation(keys, alg, now, RotationTiming::default())?;
            plan.changes.extend(rotation.changes);
            plan.new_keys.extend(rotation.new_keys);
        }
    }
    Ok(plan)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use jsonwebtoken::jwk::JwkSet;
    use jsonwebtoken::Validation;
    use serde_json::json;

    const NOW: i64 = 1_750_000_000;
    const TOKEN_LIFETIME: i64 = 3_600;
    const TIMING: RotationTiming = RotationTiming {
        key_refresh_seconds: 30,
        max_token_lifetime: TOKEN_LIFETIME,
    };
    const ISSUER: &str = "https://segl.test";
    const AUDIENCE: &str = "rp-demo";

    fn claims() -> Value {
        // Far-future `exp`: jsonwebtoken checks it against the real clock.
        json!({ "iss": ISSUER, "sub": "citizen-1", "aud": AUDIENCE, "exp": 4_102_444_800_i64 })
    }

    /// Verifies `token` the way a relying party does: kid from the header, key from the JWK Set
    /// through `DecodingKey::from_jwk`, algorithm from the JWK.
    fn verify_with_published_jwk(jwks_json: &str, token: &str) -> Value {
        let jwks: JwkSet =
            serde_json::from_str(jwks_json).expect("the JWKS is an RFC 7517 JWK Set");
        let header = jsonwebtoken::decode_header(token).expect("the token has a JWS header");
        let kid = header.kid.expect("the header names a kid");
        let jwk = jwks.find(&kid).expect("the kid is published");
        let alg = jwk.common.key_algorithm.expect("the JWK names its alg");
        let algorithm: Algorithm = alg.to_string().parse().expect("a JWS algorithm");
        let decoding_key = DecodingKey::from_jwk(jwk).expect("the JWK converts to a key");
        let mut validation = Validation::new(algorithm);
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        jsonwebtoken::decode::<Value>(token, &decoding_key, &validation)
            .expect("the signature verifies")
            .claims
    }

    fn published_kids(jwks_json: &str) -> Vec<String> {
        let jwks: Value = serde_json::from_str(jwks_json).expect("the JWKS is JSON");
        jwks["keys"]
            .as_array()
            .expect("keys is an array")
            .iter()
            .map(|jwk| jwk["kid"].as_str().expect("every JWK has a kid").to_owned())
            .collect()
    }

    fn entry(alg: SigningAlg, state: KeyState) -> KeyEntry {
        let active_from = (state == KeyState::Active).then_some(NOW - TOKEN_LIFETIME);
        KeyEntry {
            key: SigningKey::generate(alg, NOW).expect("key generation works"),
            state,
            active_from,
        }
    }

    fn b64_len(value: &Value) -> usize {
        URL_SAFE_NO_PAD
            .decode(value.as_str().expect("a string member"))
            .expect("base64url without padding")
            .len()
    }

    #[test]
    fn every_algorithm_signs_a_jwt_its_published_jwk_verifies() {
        for alg in SigningAlg::ALL {
            let key_set = KeySet::new(vec![entry(alg, KeyState::Active)]).expect("a valid set");
            let key = key_set.active(alg).expect("an active key");
            let token = sign_jwt(key, Some("JWT"), &claims()).expect("signing works");

            let verified = verify_with_published_jwk(&key_set.jwks_json(NOW), &token);

            assert_eq!(verified, claims(), "{alg:?}");
        }
    }

    #[test]
    fn published_jwks_have_the_members_rfc_7518_and_8037_define() {
        for alg in SigningAlg::ALL {
            let key = SigningKey::generate(alg, NOW).expect("key generation works");
            let jwk = key.public_jwk();

            assert_eq!(jwk["kid"], key.kid());
            assert_eq!(jwk["alg"], alg.as_str());
            assert_eq!(jwk["use"], "sig");
            match alg {
                SigningAlg::ES256 => {
                    assert_eq!((&jwk["kty"], &jwk["crv"]), (&json!("EC"), &json!("P-256")));
                    assert_eq!((b64_len(&jwk["x"]), b64_len(&jwk["y"])), (32, 32));
                }
                SigningAlg::RS256 | SigningAlg::PS256 => {
                    assert_eq!(jwk["kty"], "RSA");
                    let modulus = URL_SAFE_NO_PAD
                        .decode(jwk["n"].as_str().expect("n is a string"))
                        .expect("n is base64url");
                    // RFC 7518 6.3.1.1: no leading zero octet; 2048 bits exactly.
                    assert_eq!(modulus.len(), 256);
                    assert_ne!(modulus[0], 0);
                    assert_eq!(jwk["e"], "AQAB");
                }
                SigningAlg::EdDSA => {
                    assert_eq!(
                        (&jwk["kty"], &jwk["crv"]),
                        (&json!("OKP"), &json!("Ed25519"))
                    );
                    assert_eq!(b64_len(&jwk["x"]), 32);
                }
            }
        }
    }

    #[test]
    fn a_key_rebuilt_from_pkcs8_signs_tokens_the_original_jwk_verifies() {
        for alg in SigningAlg::ALL {
            let original = entry(alg, KeyState::Active);
            let original_jwks = KeySet::new(vec![original.clone()])
                .expect("a valid set")
                .jwks_json(NOW);

            let rebuilt = SigningKey::from_pkcs8(
                original.key.kid().to_owned(),
                alg,
                original.key.pkcs8_der().to_vec(),
                original.key.created_at(),
            )
            .expect("stored material parses");
            let token = sign_jwt(&rebuilt, Some("JWT"), &claims()).expect("signing works");

            assert_eq!(verify_with_published_jwk(&original_jwks, &token), claims());
            assert_eq!(rebuilt.public_jwk(), original.key.public_jwk(), "{alg:?}");
        }
    }

    #[test]
    fn stored_material_of_another_algorithm_is_rejected() {
        let ec = SigningKey::generate(SigningAlg::ES256, NOW).expect("key generation works");
        let rsa = SigningKey::generate(SigningAlg::RS256, NOW).expect("key generation works");
        let ed = SigningKey::generate(SigningAlg::EdDSA, NOW).expect("key generation works");
        let mismatches = [
            (ec.pkcs8_der(), SigningAlg::RS256),
            (ec.pkcs8_der(), SigningAlg::EdDSA),
            (rsa.pkcs8_der(), SigningAlg::ES256),
            (rsa.pkcs8_der(), SigningAlg::EdDSA),
            (ed.pkcs8_der(), SigningAlg::ES256),
            (ed.pkcs8_der(), SigningAlg::PS256),
            (&b"not a key"[..], SigningAlg::ES256),
        ];

        for (der, alg) in mismatches {
            let result = SigningKey::from_pkcs8("kid".to_owned(), alg, der.to_vec(), NOW);
            assert!(
                matches!(result, Err(KeyError::InvalidKeyMaterial { .. })),
                "{alg:?} accepted foreign material"
            );
        }
    }

    #[test]
    fn key_ids_are_random_url_safe_and_128_bits() {
        let first = SigningKey::generate(SigningAlg::EdDSA, NOW).expect("key generation works");
        let second = SigningKey::generate(SigningAlg::EdDSA, NOW).expect("key generation works");

        assert_ne!(first.kid(), second.kid());
        assert_eq!(
            URL_SAFE_NO_PAD
                .decode(first.kid())
                .expect("base64url")
                .len(),
            KID_BYTES
        );
    }

    #[test]
    fn signed_jwt_header_carries_kid_alg_and_the_requested_typ() {
        let key = SigningKey::generate(SigningAlg::ES256, NOW).expect("key generation works");

        let access_token = sign_jwt(&key, Some("at+jwt"), &claims()).expect("signing works");
        let header = jsonwebtoken::decode_header(&access_token).expect("a JWS header");
        assert_eq!(header.kid.as_deref(), Some(key.kid()));
        assert_eq!(header.alg, Algorithm::ES256);
        assert_eq!(header.typ.as_deref(), Some("at+jwt"));

        let untyped = sign_jwt(&key, None, &claims()).expect("signing works");
        let header = jsonwebtoken::decode_header(&untyped).expect("a JWS header");
        assert_eq!(header.typ, None);
    }

    #[test]
    fn jwks_never_contains_private_key_members() {
        let entries = SigningAlg::ALL
            .into_iter()
            .map(|alg| entry(alg, KeyState::Active))
            .collect();
        let key_set = KeySet::new(entries).expect("a valid set");
        let jwks: Value = serde_json::from_str(&key_set.jwks_json(NOW)).expect("JSON");
        // RFC 7518 6.2.2, 6.3.2 and 6.4, RFC 8037 2: the private and symmetric members.
        let private_members = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

        let keys = jwks["keys"].as_array().expect("keys is an array");
        assert_eq!(keys.len(), SigningAlg::ALL.len());
        for jwk in keys {
            let members = jwk.as_object().expect("a JWK is an object");
            for member in private_members {
                assert!(!members.contains_key(member), "{member} published in {jwk}");
            }
        }
    }

    #[test]
    fn first_start_creates_one_active_and_one_next_key_per_algorithm() {
        let mut key_set = KeySet::default();
        let plan =
            plan_initial_keys(key_set.entries(), &SigningAlg::ALL, NOW).expect("planning works");
        assert!(plan.changes.is_empty());
        key_set.apply(plan).expect("the plan applies");

        for alg in SigningAlg::ALL {
            let states: Vec<KeyState> = key_set
                .entries()
                .iter()
                .filter(|entry| entry.key.alg() == alg)
                .map(|entry| entry.state)
                .collect();
            assert_eq!(states.len(), 2, "{alg:?}");
            assert!(states.contains(&KeyState::Active) && states.contains(&KeyState::Next));
        }
        let again = plan_initial_keys(key_set.entries(), &SigningAlg::ALL, NOW).expect("planning");
        assert!(again.is_empty(), "a second start changes nothing");
    }

    #[test]
    fn rotation_keeps_the_previous_key_in_the_jwks_until_retire_after() {
        let alg = SigningAlg::ES256;
        let previous = entry(alg, KeyState::Active);
        let next = entry(alg, KeyState::Next);
        let mut key_set = KeySet::new(vec![previous.clone(), next.clone()]).expect("a valid set");
        let old_token = sign_jwt(&previous.key, Some("JWT"), &claims()).expect("signing works");

        let plan = plan_rotation(key_set.entries(), alg, NOW, TIMING).expect("planning");
        key_set.apply(plan).expect("the plan applies");

        let retire_after = NOW + 30 + CLOCK_SKEW_SECONDS + TOKEN_LIFETIME + CLOCK_SKEW_SECONDS;
        assert_eq!(
            key_set.active(alg).map(SigningKey::kid),
            Some(next.key.kid())
        );
        let jwks_before = key_set.jwks_json(retire_after - 1);
        assert!(published_kids(&jwks_before).contains(&previous.key.kid().to_owned()));
        assert_eq!(
            verify_with_published_jwk(&jwks_before, &old_token),
            claims()
        );
        assert_eq!(key_set.next_jwks_change(NOW), Some(retire_after));

        let jwks_after = key_set.jwks_json(retire_after);
        assert!(!published_kids(&jwks_after).contains(&previous.key.kid().to_owned()));
        assert!(published_kids(&jwks_after).contains(&next.key.kid().to_owned()));
        assert_eq!(key_set.next_jwks_change(retire_after), None);
    }

    #[test]
    fn rotation_timing_covers_the_refresh_interval_the_longest_token_and_clock_skew() {
        let cases = [(30, 600), (2, 120), (0, 0), (3_600, 86_400)];
        for (key_refresh_seconds, max_token_lifetime) in cases {
            let timing = RotationTiming {
                key_refresh_seconds,
                max_token_lifetime,
            };
            let switch_at = timing.switch_at(NOW);
            let retire_after = timing.retire_after(switch_at);

            // Every node has reloaded (one refresh interval) before the new key signs.
            assert_eq!(switch_at, NOW + key_refresh_seconds + CLOCK_SKEW_SECONDS);
            // The finding's bound: rotation + refresh + longest lifetime + a skew margin.
            assert!(
                retire_after >= NOW + key_refresh_seconds + max_token_lifetime + CLOCK_SKEW_SECONDS
            );
            // The last token signed with the old key (just before the switch) expires in time,
            // even on a node whose clock runs CLOCK_SKEW_SECONDS behind.
            assert!(switch_at + CLOCK_SKEW_SECONDS + max_token_lifetime <= retire_after);
            assert_eq!(
                retire_after,
                NOW + key_refresh_seconds + max_token_lifetime + 2 * CLOCK_SKEW_SECONDS
            );
        }
        let nonsense = RotationTiming {
            key_refresh_seconds: -10,
            max_token_lifetime: i64::MAX,
        };
        assert_eq!(nonsense.switch_at(NOW), NOW + CLOCK_SKEW_SECONDS);
        assert_eq!(nonsense.retire_after(NOW), i64::MAX);
    }

    #[test]
    fn the_retiring_key_signs_until_the_switch_and_its_last_token_outlives_no_publication() {
        let alg = SigningAlg::ES256;
        let previous = entry(alg, KeyState::Active);
        let next = entry(alg, KeyState::Next);
        let mut key_set = KeySet::new(vec![previous.clone(), next.clone()]).expect("a valid set");

        let plan = plan_rotation(key_set.entries(), alg, NOW, TIMING).expect("planning");
        key_set.apply(plan).expect("the plan applies");

        let switch_at = TIMING.switch_at(NOW);
        let signer = |at: i64| key_set.signing_key(alg, at).map(SigningKey::kid);
        assert_eq!(signer(NOW), Some(previous.key.kid()));
        assert_eq!(signer(switch_at - 1), Some(previous.key.kid()));
        assert_eq!(signer(switch_at), Some(next.key.kid()));
        assert_eq!(signer(switch_at + TOKEN_LIFETIME), Some(next.key.kid()));
        // The old key's last token (signed the second before the switch) is published for its
        // whole life; the new key is published from the rotation on, before it signs.
        let last_exp = switch_at - 1 + TOKEN_LIFETIME;
        assert!(
            published_kids(&key_set.jwks_json(last_exp)).contains(&previous.key.kid().to_owned())
        );
        assert!(published_kids(&key_set.jwks_json(NOW)).contains(&next.key.kid().to_owned()));
    }

    #[test]
    fn two_quick_rotations_never_sign_with_an_unpublished_key() {
        let alg = SigningAlg::EdDSA;
        let mut key_set = KeySet::default();
        key_set
            .apply(
                plan_initial_keys(key_set.entries(), &[alg], NOW - TOKEN_LIFETIME).expect("plan"),
            )
            .expect("the plan applies");
        let first = key_set.active(alg).expect("an active key").kid().to_owned();
        // Right after the first rotation, a second one: its new `Next` key was never published
        // before, and the first switch has not come yet.
        for at in [NOW, NOW + 1] {
            let plan = plan_rotation(key_set.entries(), alg, at, TIMING).expect("planning");
            key_set.apply(plan).expect("the plan applies");
        }

        let last_switch = TIMING.switch_at(NOW + 1);
        let mut signers = Vec::new();
        for at in NOW - 1..=last_switch + 1 {
            let kid = key_set
                .signing_key(alg, at)
                .expect("a signing key")
                .kid()
                .to_owned();
            // Published by nodes that have reloaded since the rotation (every node, one
            // refresh interval after it) at the moment it signs and until its token expires.
            for moment in [at, at + TOKEN_LIFETIME - 1] {
                assert!(
                    published_kids(&key_set.jwks_json(moment)).contains(&kid),
                    "the key signing at {at} is published at {moment}"
                );
            }
            if signers.last() != Some(&kid) {
                signers.push(kid);
            }
        }
        assert_eq!(
            signers.len(),
            3,
            "first key, then each rotation's key in turn"
        );
        assert_eq!(signers[0], first);
        assert_eq!(
            key_set
                .signing_key(alg, TIMING.switch_at(NOW))
                .map(SigningKey::kid),
            Some(signers[1].as_str())
        );
        assert_eq!(
            key_set.signing_key(alg, last_switch).map(SigningKey::kid),
            key_set.active(alg).map(SigningKey::kid)
        );
    }

    #[test]
    fn the_first_key_signs_at_once_and_a_key_without_active_from_still_signs() {
        let mut key_set = KeySet::default();
        let plan = plan_initial_keys(key_set.entries(), &[SigningAlg::RS256], NOW).expect("plan");
        key_set.apply(plan).expect("the plan applies");
        assert_eq!(
            key_set
                .signing_key(SigningAlg::RS256, NOW)
                .map(SigningKey::kid),
            key_set.active(SigningAlg::RS256).map(SigningKey::kid)
        );

        let mut legacy = entry(SigningAlg::PS256, KeyState::Active);
        legacy.active_from = None;
        let key_set = KeySet::new(vec![legacy.clone()]).expect("a valid set");
        assert_eq!(
            key_set
                .signing_key(SigningAlg::PS256, NOW)
                .map(SigningKey::kid),
            Some(legacy.key.kid())
        );
    }

    #[test]
    fn rotation_leaves_exactly_one_active_and_one_next_key_per_algorithm() {
        let mut key_set = KeySet::default();
        let initial =
            plan_initial_keys(key_set.entries(), &SigningAlg::ALL, NOW).expect("planning");
        key_set.apply(initial).expect("the plan applies");

        for round in 1..=2 {
            let now = NOW + round * 10 * TOKEN_LIFETIME;
            for alg in SigningAlg::ALL {
                let plan =
                    plan_rotation(key_set.entries(), alg, now, TIMING).expect("planning works");
                key_set.apply(plan).expect("the plan applies");
            }
            for alg in SigningAlg::ALL {
                let count = |state: KeyState| {
                    key_set
                        .entries()
                        .iter()
                        .filter(|entry| entry.key.alg() == alg && entry.state == state)
                        .count()
                };
                assert_eq!(count(KeyState::Active), 1, "{alg:?} round {round}");
                assert_eq!(count(KeyState::Next), 1, "{alg:?} round {round}");
            }
        }
    }

    #[test]
    fn rotation_deletes_retired_keys_past_retire_after() {
        let alg = SigningAlg::EdDSA;
        let expired = entry(alg, KeyState::Retired { retire_after: NOW });
        let retiring = entry(
            alg,
            KeyState::Retired {
                retire_after: NOW + 1,
            },
        );
        let key_set = KeySet::new(vec![
            expired.clone(),
            retiring,
            entry(alg, KeyState::Active),
            entry(alg, KeyState::Next),
        ])
        .expect("a valid set");

        let plan = plan_rotation(key_set.entries(), alg, NOW, TIMING).expect("planning");

        let deleted: Vec<&str> = plan
            .changes
            .iter()
            .filter(|change| matches!(change, KeyChange::Delete { .. }))
            .map(KeyChange::kid)
            .collect();
        assert_eq!(deleted, vec![expired.key.kid()]);
    }

    #[test]
    fn rotation_without_a_next_key_activates_a_fresh_one() {
        let alg = SigningAlg::RS256;
        let previous = entry(alg, KeyState::Active);
        let mut key_set = KeySet::new(vec![previous.clone()]).expect("a valid set");

        let plan = plan_rotation(key_set.entries(), alg, NOW, TIMING).expect("planning");
        key_set.apply(plan).expect("the plan applies");

        let active = key_set.active(alg).expect("an active key");
        assert_ne!(active.kid(), previous.key.kid());
        assert_eq!(key_set.entries().len(), 3);
    }

    #[test]
    fn key_set_rejects_two_active_keys_for_one_algorithm_and_shared_kids() {
        let alg = SigningAlg::ES256;
        let two_active = KeySet::new(vec![
            entry(alg, KeyState::Active),
            entry(alg, KeyState::Active),
        ]);
        assert!(matches!(
            two_active,
            Err(KeyError::SeveralActive(SigningAlg::ES256))
        ));

        let key = entry(alg, KeyState::Active);
        let twin = KeyEntry {
            key: key.key.clone(),
            state: KeyState::Next,
            active_from: None,
        };
        assert!(matches!(
            KeySet::new(vec![key, twin]),
            Err(KeyError::DuplicateKid(_))
        ));
    }

    #[test]
    fn verification_key_finds_our_keys_by_kid_with_their_algorithm() {
        let next = entry(SigningAlg::PS256, KeyState::Next);
        let retired = entry(SigningAlg::ES256, KeyState::Retired { retire_after: NOW });
        let key_set = KeySet::new(vec![next.clone(), retired.clone()]).expect("a valid set");
        let token = sign_jwt(&next.key, Some("JWT"), &claims()).expect("signing works");

        let verification_key = key_set
            .verification_key(next.key.kid())
            .expect("the next key is known");
        assert_eq!(verification_key.algorithm(), Algorithm::PS256);
        let mut validation = Validation::new(verification_key.algorithm());
        validation.set_audience(&[AUDIENCE]);
        let decoded =
            jsonwebtoken::decode::<Value>(&token, verification_key.decoding_key, &validation);
        assert_eq!(decoded.expect("the signature verifies").claims, claims());

        assert!(key_set.verification_key(retired.key.kid()).is_some());
        assert!(key_set.verification_key("unknown").is_none());
    }

    #[test]
    fn key_state_round_trips_through_its_storage_form() {
        let states = [
            KeyState::Next,
            KeyState::Active,
            KeyState::Retired { retire_after: NOW },
        ];
        for state in states {
            assert_eq!(
                KeyState::parse(state.as_str(), state.retire_after()),
                Some(state)
            );
        }
        assert_eq!(KeyState::parse("retired", None), None);
        assert_eq!(KeyState::parse("active", Some(NOW)), None);
        assert_eq!(KeyState::parse("revoked", None), None);
    }

    #[test]
    fn debug_output_leaves_the_private_key_out() {
        let key = SigningKey::generate(SigningAlg::EdDSA, NOW).expect("key generation works");

        let debug = format!("{key:?}");

        assert!(debug.contains(key.kid()));
        assert!(!debug.contains("pkcs8"));
    }
}
