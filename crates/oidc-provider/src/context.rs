//! The shared context every flow runs over: store, registry, key ring, client cache, settings
//! and clock. It holds no flow of its own.

use crate::client_cache::ClientCache;
use crate::discovery;
use crate::error::InternalError;
use crate::keyring::KeyRing;
use crate::passkey::Ceremonies;
use crate::session::SessionPolicy;
use crate::store::Store;
use aws_lc_rs::hmac;
pub use citizen_registry::Clock;
use citizen_registry::Registry;
use std::sync::Arc;

/// Lifetimes and the issuer, from configuration.
#[derive(Debug, Clone)]
pub struct ProviderSettings {
    /// The issuer identifier, without a trailing slash.
    pub issuer: String,
    pub code_lifetime_seconds: i64,
    pub id_token_lifetime_seconds: i64,
    pub access_token_lifetime_seconds: i64,
    /// The longest an `offline_access` refresh token family lives.
    pub offline_refresh_lifetime_seconds: i64,
    /// How long a citizen has to finish the login page.
    pub login_lifetime_seconds: i64,
    /// How long after the login (`auth_time`) a client may ask for a CPR match.
    pub cpr_match_window_seconds: i64,
    pub session: SessionPolicy,
    /// Where back-channel logouts may be delivered (`crate::outbound`).
    pub outbound: crate::outbound::OutboundPolicy,
}

impl ProviderSettings {
    /// Cookies are `Secure` except for plain-http loopback development.
    pub fn secure_cookies(&self) -> bool {
        let loopback = ["http://127.0.0.1", "http://localhost", "http://[::1]"];
        !loopback.iter().any(|prefix| {
            self.issuer == *prefix
                || self.issuer.starts_with(&format!("{prefix}:"))
                || self.issuer.starts_with(&format!("{prefix}/"))
        })
    }

    pub fn token_endpoint(&self) -> String {
        format!("{}{}", self.issuer, discovery::path::TOKEN)
    }
}

pub(crate) const SESSION_PURPOSE: &str = "pairwise-subjects";

#[derive(Clone)]
pub struct Context {
    pub(crate) store: Store,
    pub(crate) registry: Registry,
    pub(crate) settings: Arc<ProviderSettings>,
    pub(crate) keys: Arc<KeyRing>,
    pub(crate) passkeys: Arc<Ceremonies>,
    pub(crate) pairwise_key: Arc<hmac::Key>,
    pub(crate) discovery_json: bytes::Bytes,
    /// For back-channel logout deliveries: the SSRF-guarded client.
    pub(crate) http: crate::outbound::Outbound,
    /// Clients for client authentication, dropped when any client changes.
    pub(crate) clients: ClientCache,
    /// The time every flow reads (`Clock::system()` outside tests).
    pub(crate) clock: Clock,
}

impl Context {
    pub fn new(
        store: Store,
        registry: Registry,
        settings: ProviderSettings,
        keys: Arc<KeyRing>,
        master_key: &citizen_registry::sealing::MasterKey,
    ) -> Result<Self, InternalError> {
        let pairwise = master_key.derive(SESSION_PURPOSE)?;
        let discovery_json = bytes::Bytes::from(discovery::document(&settings.issuer).to_string());
        let passkeys = Arc::new(Ceremonies::new(&settings.issuer));
        let http = crate::outbound::Outbound::new(settings.outbound.clone())?;
        Ok(Self {
            passkeys,
            store,
            registry,
            settings: Arc::new(settings),
            keys,
            pairwise_key: Arc::new(hmac::Key::new(hmac::HMAC_SHA256, &pairwise)),
            discovery_json,
            http,
            clients: ClientCache::default(),
            clock: Clock::system(),
        })
    }

    /// The same context reading the time from `clock` (in-process tests move it forward).
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    pub fn settings(&self) -> &ProviderSettings {
        &self.settings
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn keys(&self) -> &KeyRing {
        &self.keys
    }

    /// The discovery document, rendered once.
    pub fn discovery_json(&self) -> bytes::Bytes {
        self.discovery_json.clone()
    }
}
