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
mod tests;
