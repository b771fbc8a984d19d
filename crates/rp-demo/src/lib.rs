//! A demo public-service portal (a relying party) that logs citizens in with Segl.
//!
//! It shows a public service how to integrate: OpenID Connect authorization code flow with
//! PKCE, `private_key_jwt` client authentication, NSIS assurance levels with step-up,
//! pairwise subjects, released claims (CPR number only if Segl allows it), power of attorney,
//! RP-initiated and back-channel logout. It depends on no crate of Segl's: it reaches the
//! provider over HTTP only, with the `openidconnect` crate, as a real service would.
//!
//! Start one with [`serve`], or with [`Portal::build`] then [`Portal::run_until`] when the
//! bound address is needed first (tests bind port 0).

mod client_assertion;
mod config;
mod error;
mod http;
mod keys;
mod level;
mod login;
mod logout_token;
mod page;
mod pages;
mod pending;
mod random;
mod relying_party;
mod session;

pub use config::PortalConfig;
pub use error::Error;
pub use http::router;
pub use keys::KeyError;
pub use level::Level;
pub use relying_party::RelyingParty;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// How often expired logins in flight and sessions are swept from memory.
const SWEEP_INTERVAL: Duration = Duration::from_secs(60);

/// A new P-256 key for `private_key_jwt`: the private key (PKCS#8 PEM, for
/// [`PortalConfig::private_key_pem`]), the public JWK Set to register with Segl, and the key
/// id (its RFC 7638 thumbprint, for [`PortalConfig::key_id`]).
pub fn generate_client_key() -> Result<(String, serde_json::Value, String), Error> {
    Ok(keys::generate_client_key()?)
}

/// The public JWK Set and key id for an existing private key (PKCS#8 PEM, P-256).
pub fn client_public_keys(private_key_pem: &str) -> Result<(serde_json::Value, String), Error> {
    Ok(keys::client_public_keys(private_key_pem)?)
}

/// Builds the portal and serves it until `shutdown` completes.
pub async fn serve(
    config: PortalConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), Error> {
    Portal::build(config).await?.run_until(shutdown).await
}

/// A portal bound to its address but not yet serving.
pub struct Portal {
    listener: tokio::net::TcpListener,
    local_addr: SocketAddr,
    relying_party: Arc<RelyingParty>,
    server: http::Server,
}

impl std::fmt::Debug for Portal {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("Portal")
            .field("local_addr", &self.local_addr)
            .field("relying_party", &self.relying_party)
            .finish_non_exhaustive()
    }
}

impl Portal {
    /// Checks the configuration, reads the key and binds `config.listen`. Segl need not be up:
    /// discovery happens in the background once running, and again at the first login if
    /// it has not succeeded by then.
    pub async fn build(config: PortalConfig) -> Result<Self, Error> {
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .map_err(|source| Error::Bind {
                address: config.listen,
                source,
            })?;
        let local_addr = listener.local_addr().map_err(|source| Error::Bind {
            address: config.listen,
            source,
        })?;
        let relying_party = Arc::new(RelyingParty::new(&config, local_addr)?);
        let server = http::Server::new(relying_party.clone())?;
        Ok(Self {
            listener,
            local_addr,
            relying_party,
            server,
        })
    }

    /// The address actually bound (the real port when `listen` had port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The portal's public URL (derived from the bound address if none was configured).
    pub fn public_url(&self) -> &str {
        &self.relying_party.settings().public_url
    }

    /// The redirect URI to register with Segl: `{public_url}/callback`.
    pub fn redirect_uri(&self) -> String {
        self.relying_party.settings().redirect_uri()
    }

    /// The post-logout redirect URI to register with Segl: `{public_url}/`.
    pub fn post_logout_redirect_uri(&self) -> String {
        self.relying_party.settings().post_logout_redirect_uri()
    }

    /// The back-channel logout URI to register with Segl: `{public_url}/backchannel-logout`.
    pub fn backchannel_logout_uri(&self) -> String {
        format!(
            "{}/backchannel-logout",
            self.relying_party.settings().public_url
        )
    }

    /// Serves until `shutdown` completes; meanwhile discovers Segl (with retries) and sweeps
    /// expired state.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), Error> {
        let discovery = tokio::spawn({
            let relying_party = self.relying_party.clone();
            async move { relying_party.discover_with_retries().await }
        });
        let sweeper = tokio::spawn({
            let relying_party = self.relying_party.clone();
            async move {
                let mut interval = tokio::time::interval(SWEEP_INTERVAL);
                loop {
                    interval.tick().await;
                    let now = std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map(|elapsed| i64::try_from(elapsed.as_secs()).unwrap_or(i64::MAX))
                        .unwrap_or_default();
                    relying_party.sweep(now);
                }
            }
        });
        tracing::info!(
            address = %self.local_addr,
            public_url = %self.relying_party.settings().public_url,
            "portal listening"
        );
        let served = self.server.serve(self.listener, shutdown).await;
        discovery.abort();
        sweeper.abort();
        served
    }
}
