//! The signing keys in use: loaded from the store (private parts sealed), shared by every node,
//! parsed once, with the JWK Set rendered once per change.

use crate::client::SigningAlg;
use crate::keys::{
    self, KeyChange, KeyEntry, KeyError, KeySet, KeyState, RotationPlan, RotationTiming, SigningKey,
};
use crate::store::{KeyStateChange, Store, StoreError, StoredKey};
use bytes::Bytes;
use citizen_registry::sealing::{MasterKey, Sealer};
use citizen_registry::Clock;
use serde::de::DeserializeOwned;
use std::sync::{Arc, RwLock};

const SEAL_PURPOSE: &str = "signing-keys";

#[derive(Debug, thiserror::Error)]
pub enum KeyRingError {
    #[error("storage failure")]
    Store(#[from] StoreError),
    #[error("signing key failure: {0}")]
    Key(#[from] KeyError),
    #[error(
        "a signing key could not be unsealed: is this the master key the keys were made with?"
    )]
    Unseal,
    #[error("no active key for {0}")]
    NoActiveKey(&'static str),
    #[error("the signing keys changed during the rotation (another rotation, or a node creating its first keys): nothing was changed, rotate again")]
    Concurrent,
}

/// Why a token we issued did not verify.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("malformed token")]
    Malformed,
    #[error("unknown key")]
    UnknownKey,
    #[error("wrong token type")]
    WrongType,
    #[error("invalid token: {0}")]
    Invalid(String),
}

struct Published {
    keys: KeySet,
    jwks: Bytes,
    /// When the JWK Set must be rendered again (a retired key drops out).
    jwks_valid_until: Option<i64>,
    /// The `signing_keys_version` the keys were read under.
    version: i64,
}

pub struct KeyRing {
    store: Store,
    sealer: Sealer,
    current: RwLock<Arc<Published>>,
    /// When keys become active and retire: the same clock as the flows that sign with them.
    clock: Clock,
}

impl KeyRing {
    /// Loads the keys, creating the first set (one active and one next key per algorithm) if
    /// there is none. Two nodes starting at once: the loser's insert fails and it reloads.
    pub async fn load(
        store: Store,
        master_key: &MasterKey,
        clock: Clock,
    ) -> Result<Self, KeyRingError> {
        let sealer = master_key
            .sealer(SEAL_PURPOSE)
            .map_err(|_| KeyRingError::Unseal)?;
        let ring = Self {
            store,
            sealer,
            clock,
            current: RwLock::new(Arc::new(Published {
                keys: KeySet::default(),
                jwks: Bytes::from_static(b"{\"keys\":[]}"),
                jwks_valid_until: None,
                version: -1,
            })),
        };
        ring.reload().await?;
        let at = ring.clock.now();
        let plan = keys::plan_initial_keys(ring.snapshot().keys.entries(), &SigningAlg::ALL, at)?;
        if !plan.is_empty() {
            match ring.persist(&plan, at, ring.snapshot().version).await {
                Ok(true) => {}
                Ok(false) => {
                    tracing::info!("another node created the signing keys first; reloading")
                }
                Err(error) => {
                    tracing::info!(%error, "another node created the signing keys first; reloading")
                }
            }
            ring.reload().await?;
        }
        for alg in SigningAlg::ALL {
            if ring.snapshot().keys.active(alg).is_none() {
                return Err(KeyRingError::NoActiveKey(alg.as_str()));
            }
        }
        Ok(ring)
    }

    fn snapshot(&self) -> Arc<Published> {
        match self.current.read() {
            Ok(guard) => Arc::clone(&guard),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    fn replace(&self, published: Published) {
        match self.current.write() {
            Ok(mut guard) => *guard = Arc::new(published),
            Err(poisoned) => *poisoned.into_inner() = Arc::new(published),
        }
    }

    /// Reads every key from the store, unseals and parses each once, renders the JWK Set.
    async fn reload(&self) -> Result<(), KeyRingError> {
        let version = self.store.find_signing_keys_version().await?;
        let stored = self.store.find_signing_keys().await?;
        let mut entries = Vec::with_capacity(stored.len());
        for row in stored {
            let alg = SigningAlg::parse(&row.alg)
                .ok_or_else(|| StoreError::Corrupt(format!("key {} alg", row.kid)))?;
            let state = KeyState::parse(&row.state, row.retire_after)
                .ok_or_else(|| StoreError::Corrupt(format!("key {} state", row.kid)))?;
            let der = self
                .sealer
                .open(&row.private_key, &row.kid)
                .map_err(|_| KeyRingError::Unseal)?;
            let key = SigningKey::from_pkcs8(row.kid.clone(), alg, der, row.created_at)?;
            entries.push(KeyEntry {
                key,
                state,
                active_from: row.active_from,
            });
        }
        let keys = KeySet::new(entries)?;
        let at = self.clock.now();
        let published = Published {
            jwks: Bytes::from(keys.jwks_json(at)),
            jwks_valid_until: keys.next_jwks_change(at),
            keys,
            version,
        };
        self.replace(published);
        Ok(())
    }

    /// Reloads if another node (or `segl keys rotate`) changed the keys. Returns whether it did.
    pub async fn refresh(&self) -> Result<bool, KeyRingError> {
        let version = self.store.find_signing_keys_version().await?;
        if version == self.snapshot().version {
            return Ok(false);
        }
        self.reload().await?;
        Ok(true)
    }

    /// Stores `plan` if the keys are still at `expected_version`; `Ok(false)` (nothing written)
    /// if another writer changed them since.
    async fn persist(
        &self,
        plan: &RotationPlan,
        at: i64,
        expected_version: i64,
    ) -> Result<bool, KeyRingError> {
        let mut inserts = Vec::with_capacity(plan.new_keys.len());
        for entry in &plan.new_keys {
            let sealed = self
                .sealer
                .seal(entry.key.pkcs8_der(), entry.key.kid())
                .map_err(|_| KeyRingError::Unseal)?;
            inserts.push(StoredKey {
                kid: entry.key.kid().to_owned(),
                alg: entry.key.alg().as_str().to_owned(),
                state: entry.state.as_str().to_owned(),
                private_key: sealed,
                created_at: entry.key.created_at(),
                retire_after: entry.state.retire_after(),
                active_from: entry.active_from,
            });
        }
        let mut state_changes = Vec::new();
        let mut deletes = Vec::new();
        for change in &plan.changes {
            match change {
                KeyChange::Activate { kid, active_from } => state_changes.push(KeyStateChange {
                    kid: kid.clone(),
                    state: "active",
                    retire_after: None,
                    active_from: Some(*active_from),
                }),
                KeyChange::Retire { kid, retire_after } => state_changes.push(KeyStateChange {
                    kid: kid.clone(),
                    state: "retired",
                    retire_after: Some(*retire_after),
                    active_from: None,
                }),
                KeyChange::Delete { kid } => deletes.push(kid.clone()),
            }
        }
        Ok(self
            .store
            .update_signing_keys(&inserts, &state_changes, &deletes, at, expected_version)
            .await?)
    }

    /// `segl keys rotate`: the next key becomes active and signs from the returned moment (unix
    /// seconds), when every node has reloaded it; the active one signs until then and retires
    /// (published until every token it signed has expired), and a new next key is published.
    pub async fn rotate(
        &self,
        algs: &[SigningAlg],
        timing: RotationTiming,
    ) -> Result<i64, KeyRingError> {
        self.reload().await?;
        let at = self.clock.now();
        let mut plan = RotationPlan::default();
        let published = self.snapshot();
        let entries = published.keys.entries().to_vec();
        for alg in algs {
            let rotation = keys::plan_rotation(&entries, *alg, at, timing)?;
            plan.changes.extend(rotation.changes);
            plan.new_keys.extend(rotation.new_keys);
        }
        if !self.persist(&plan, at, published.version).await? {
            return Err(KeyRingError::Concurrent);
        }
        self.reload().await?;
        Ok(timing.switch_at(at))
    }

    /// Whether every algorithm has an active signing key (for `/readyz`).
    pub fn is_ready(&self) -> bool {
        let published = self.snapshot();
        SigningAlg::ALL
            .iter()
            .all(|alg| published.keys.active(*alg).is_some())
    }

    /// Every key with its state, creation time and the time it signs (or signed) from, for
    /// `segl keys list`.
    pub fn entries(&self) -> Vec<(String, SigningAlg, KeyState, i64, Option<i64>)> {
        self.snapshot()
            .keys
            .entries()
            .iter()
            .map(|entry| {
                (
                    entry.key.kid().to_owned(),
                    entry.key.alg(),
                    entry.state,
                    entry.key.created_at(),
                    entry.active_from,
                )
            })
            .collect()
    }

    /// The JWK Set document, rendered once per change.
    pub fn jwks(&self) -> Bytes {
        let published = self.snapshot();
        if published
            .jwks_valid_until
            .is_some_and(|until| self.clock.now() >= until)
        {
            let at = self.clock.now();
            let refreshed = Published {
                jwks: Bytes::from(published.keys.jwks_json(at)),
                jwks_valid_until: published.keys.next_jwks_change(at),
                keys: published.keys.clone(),
                version: published.version,
            };
            let jwks = refreshed.jwks.clone();
            self.replace(refreshed);
            return jwks;
        }
        published.jwks.clone()
    }

    pub fn sign(
        &self,
        alg: SigningAlg,
        typ: Option<&str>,
        claims: &impl serde::Serialize,
    ) -> Result<String, KeyRingError> {
        let published = self.snapshot();
        let key = published
            .keys
            .signing_key(alg, self.clock.now())
            .ok_or(KeyRingError::NoActiveKey(alg.as_str()))?;
        Ok(keys::sign_jwt(key, typ, claims)?)
    }

    /// Verifies a JWT we signed: signature by `kid` with that key's one algorithm (RFC 8725 3.1),
    /// `typ`, issuer, (if given) audience, and with `expires_check: Some(now)` that `exp` is
    /// present and not before `now`: the flow's clock, not the system's, so expiry follows the
    /// same time as everything else a flow decides.
    pub fn verify<T: DeserializeOwned>(
        &self,
        token: &str,
        expected_typ: &str,
        issuer: &str,
        audience: Option<&str>,
        expires_check: Option<i64>,
    ) -> Result<T, VerifyError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| VerifyError::Malformed)?;
        if !header
            .typ
            .as_deref()
            .is_some_and(|typ| typ.eq_ignore_ascii_case(expected_typ))
        {
            return Err(VerifyError::WrongType);
        }
        let kid = header.kid.ok_or(VerifyError::UnknownKey)?;
        let published = self.snapshot();
        let key = published
            .keys
            .verification_key(&kid)
            .ok_or(VerifyError::UnknownKey)?;
        let mut validation = jsonwebtoken::Validation::new(key.algorithm());
        validation.set_issuer(&[issuer]);
        match audience {
            Some(audience) => validation.set_audience(&[audience]),
            None => validation.validate_aud = false,
        }
        // jsonwebtoken would compare `exp` with the system clock: checked below instead.
        validation.validate_exp = false;
        validation.leeway = 0;
        validation.set_required_spec_claims(&["iss"]);
        let claims =
            jsonwebtoken::decode::<serde_json::Value>(token, key.decoding_key, &validation)
                .map_err(|error| VerifyError::Invalid(error.to_string()))?
                .claims;
        if let Some(now) = expires_check {
            // RFC 7519 4.1.4: the current time must be before `exp` (no leeway: we issued it).
            match claims.get("exp").and_then(serde_json::Value::as_i64) {
                Some(exp) if now < exp => {}
                Some(_) => return Err(VerifyError::Invalid("ExpiredSignature".to_owned())),
                None => {
                    return Err(VerifyError::Invalid(
                        "Missing required claim: exp".to_owned(),
                    ))
                }
            }
        }
        serde_json::from_value(claims).map_err(|error| VerifyError::Invalid(error.to_string()))
    }

    /// RFC 9068 4: an access token we issued, for our own resource (userinfo).
    pub fn verify_access_token<T: DeserializeOwned>(
        &self,
        token: &str,
        issuer: &str,
        now: i64,
    ) -> Result<T, VerifyError> {
        self.verify(token, "at+jwt", issuer, Some(issuer), Some(now))
    }
}
