//! The relying party: discovery (lazy and retried, since Segl may start after the portal), the
//! authorization code flow with PKCE and `private_key_jwt`, ID token and userinfo, local
//! sessions, and RP-initiated and back-channel logout. Segl is reached over HTTP only, with
//! the `openidconnect` crate.

use crate::client_assertion::{ClientAssertionSigner, JWT_BEARER_ASSERTION_TYPE};
use crate::config::{PortalConfig, Settings};
use crate::error::Error;
use crate::level::Level;
use crate::login::{check_callback, check_level, CallbackParams, LoginError};
use crate::logout_token::{self, LogoutTokenError, SeenLogoutTokens};
use crate::page::ReturnPage;
use crate::pending::{PendingLogin, PendingLogins};
use crate::random::{random_token, secrets_match};
use crate::session::{Session, Sessions};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::jwk::Jwk;
use openidconnect::core::{
    CoreAuthDisplay, CoreClaimName, CoreClaimType, CoreClient, CoreClientAuthMethod,
    CoreGenderClaim, CoreGrantType, CoreIdToken, CoreJsonWebKey, CoreJweContentEncryptionAlgorithm,
    CoreJweKeyManagementAlgorithm, CoreResponseMode, CoreResponseType, CoreSubjectIdentifierType,
};
use openidconnect::{
    AccessToken, AccessTokenHash, AdditionalClaims, AdditionalProviderMetadata, AuthType,
    AuthenticationContextClass, AuthenticationFlow, AuthorizationCode, ClaimsVerificationError,
    ClientId, ConfigurationError, CsrfToken, EndSessionUrl, EndpointMaybeSet, EndpointNotSet,
    EndpointSet, IssuerUrl, LogoutRequest, Nonce, OAuth2TokenResponse, PkceCodeChallenge,
    PkceCodeVerifier, PostLogoutRedirectUrl, ProviderMetadata, RedirectUrl, RequestTokenError,
    Scope, SignatureVerificationError, TokenResponse, UserInfoClaims,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::str::FromStr;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

/// Clock skew allowed on the ID token's `exp` and `iat` (docs/NEMLOGIN.md rule 5).
const CLOCK_SKEW_SECONDS: i64 = 300;
/// Discovery is fetched again after this long, so a changed configuration is picked up.
const DISCOVERY_MAX_AGE: Duration = Duration::from_secs(60 * 60);
/// An unknown `kid` in a logout token makes the portal fetch the JWKS again, but no more
/// often than this, so forged tokens cannot make it hammer Segl.
const JWKS_REFETCH_INTERVAL: Duration = Duration::from_secs(10);
/// Timeouts for every request to Segl.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);

/// Discovery metadata beyond OIDC Discovery 1.0 that the portal uses.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub(crate) struct SeglMetadata {
    /// OIDC RP-Initiated Logout 1.0 2.1.
    end_session_endpoint: Option<EndSessionUrl>,
    /// RFC 9207 3: when true, every authorization response carries `iss`.
    #[serde(default)]
    authorization_response_iss_parameter_supported: bool,
    /// OIDC Back-Channel Logout 1.0 2.1.
    #[serde(default)]
    backchannel_logout_supported: bool,
}
impl AdditionalProviderMetadata for SeglMetadata {}

type SeglProviderMetadata = ProviderMetadata<
    SeglMetadata,
    CoreAuthDisplay,
    CoreClientAuthMethod,
    CoreClaimName,
    CoreClaimType,
    CoreGrantType,
    CoreJweContentEncryptionAlgorithm,
    CoreJweKeyManagementAlgorithm,
    CoreJsonWebKey,
    CoreResponseMode,
    CoreResponseType,
    CoreSubjectIdentifierType,
>;

/// The client `CoreClient::from_provider_metadata` makes: authorization endpoint set, token and
/// userinfo endpoints as discovered.
type DiscoveredClient = CoreClient<
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// Every claim beyond the standard ones (`dk_cpr`, `privileges`, `loa`, ...), kept as JSON.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(transparent)]
struct OtherClaims(Map<String, Value>);
impl AdditionalClaims for OtherClaims {}

/// What discovery told the portal about Segl.
pub struct DiscoveredProvider {
    client: DiscoveredClient,
    /// The `aud` of client assertions (RFC 7523 3).
    token_endpoint: String,
    jwks_uri: String,
    end_session_endpoint: Option<EndSessionUrl>,
    iss_parameter_required: bool,
    backchannel_logout_supported: bool,
    discovered_at: Instant,
}

impl std::fmt::Debug for DiscoveredProvider {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("DiscoveredProvider")
            .field("token_endpoint", &self.token_endpoint)
            .field("jwks_uri", &self.jwks_uri)
            .field("end_session_endpoint", &self.end_session_endpoint)
            .field("iss_parameter_required", &self.iss_parameter_required)
            .field(
                "backchannel_logout_supported",
                &self.backchannel_logout_supported,
            )
            .finish_non_exhaustive()
    }
}

/// A login started: send the browser to `authorize_url`, holding `pending_id` in a cookie.
#[derive(Debug)]
pub struct StartedLogin {
    pub authorize_url: String,
    pub pending_id: String,
}

/// A login completed: set the session cookie to `session_id`, then go to `return_to`.
#[derive(Debug)]
pub struct FinishedLogin {
    pub session_id: String,
    pub return_to: ReturnPage,
}

/// What a logout did.
#[derive(Debug, PartialEq, Eq)]
pub enum LogoutOutcome {
    /// There was no session to end.
    NotLoggedIn,
    /// The local session ended; send the browser here to end Segl's session too.
    ContinueAtProvider(String),
    /// The local session ended; Segl advertises no `end_session_endpoint` (or is unreachable).
    LocalOnly,
}

/// Why a logout was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LogoutError {
    /// The form's CSRF token is missing or wrong: the request did not come from our page.
    #[error("the logout form's token does not match the session")]
    CsrfMismatch,
}

/// Why a back-channel logout request was refused (answered with 400, Back-Channel Logout 1.0
/// 2.8).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BackchannelError {
    #[error("{0}")]
    InvalidToken(#[from] LogoutTokenError),
    #[error("cannot fetch Segl's keys: {0}")]
    KeysUnavailable(String),
}

struct LogoutKeys {
    keys: Arc<Vec<Jwk>>,
    fetched_at: Instant,
}

/// The portal's OIDC client and its in-memory state.
pub struct RelyingParty {
    settings: Settings,
    signer: ClientAssertionSigner,
    http: reqwest::Client,
    provider: RwLock<Option<Arc<DiscoveredProvider>>>,
    /// One discovery at a time; others wait for its result.
    discovery_lock: tokio::sync::Mutex<()>,
    logout_keys: Mutex<Option<LogoutKeys>>,
    keys_lock: tokio::sync::Mutex<()>,
    pending: PendingLogins,
    sessions: Sessions,
    seen_logout_tokens: SeenLogoutTokens,
}

impl std::fmt::Debug for RelyingParty {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("RelyingParty")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// The text of an error and its causes on one line.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut chain = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !chain.contains(&text) {
            chain.push_str(": ");
            chain.push_str(&text);
        }
        source = cause.source();
    }
    chain
}

/// The payload of a JWT whose signature has already been verified, as a JSON object.
fn jwt_payload(token: &str) -> Option<Map<String, Value>> {
    let payload = token.split('.').nth(1)?;
    let bytes = URL_SAFE_NO_PAD.decode(payload).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// The name to greet the citizen with.
fn display_name(claims: impl Fn(&str) -> Option<String>) -> String {
    if let Some(name) = claims("name") {
        return name;
    }
    let parts: Vec<String> = ["given_name", "family_name"]
        .into_iter()
        .filter_map(&claims)
        .collect();
    if !parts.is_empty() {
        return parts.join(" ");
    }
    claims("nickname").unwrap_or_else(|| "(name not released to this service)".to_owned())
}

enum IdTokenFailure {
    /// No key in the cached JWKS has the token's `kid`: Segl may have rotated its keys.
    UnknownKey,
    Invalid(String),
}

impl RelyingParty {
    /// Checks `config` (with `bound`, the address actually listened on) and reads the key.
    /// Segl is not contacted yet.
    pub fn new(config: &PortalConfig, bound: std::net::SocketAddr) -> Result<Self, Error> {
        let settings = Settings::parse(config, bound)?;
        IssuerUrl::new(settings.issuer.clone()).map_err(|error| Error::InvalidConfig {
            setting: "issuer",
            reason: error.to_string(),
        })?;
        RedirectUrl::new(settings.redirect_uri()).map_err(|error| Error::InvalidConfig {
            setting: "public_url",
            reason: error.to_string(),
        })?;
        let signer = ClientAssertionSigner::parse(
            &settings.client_id,
            config.key_id.trim(),
            &config.private_key_pem,
        )?;
        let http = reqwest::Client::builder()
            // Following redirects would open the portal to SSRF (openidconnect's advice).
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            .user_agent(concat!("segl-rp-demo/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(Error::HttpClient)?;
        Ok(Self {
            settings,
            signer,
            http,
            provider: RwLock::new(None),
            discovery_lock: tokio::sync::Mutex::new(()),
            logout_keys: Mutex::new(None),
            keys_lock: tokio::sync::Mutex::new(()),
            pending: PendingLogins::default(),
            sessions: Sessions::default(),
            seen_logout_tokens: SeenLogoutTokens::default(),
        })
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    fn cached_provider(&self) -> Option<Arc<DiscoveredProvider>> {
        self.provider
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    async fn discover(&self) -> Result<DiscoveredProvider, String> {
        let issuer = IssuerUrl::new(self.settings.issuer.clone()).map_err(|e| e.to_string())?;
        let metadata = SeglProviderMetadata::discover_async(issuer, &self.http)
            .await
            .map_err(|error| error_chain(&error))?;
        let extras = metadata.additional_metadata().clone();
        let token_endpoint = metadata
            .token_endpoint()
            .map(|url| url.url().to_string())
            .ok_or("the discovery document has no token_endpoint")?;
        let jwks_uri = metadata.jwks_uri().url().to_string();
        let redirect_url =
            RedirectUrl::new(self.settings.redirect_uri()).map_err(|e| e.to_string())?;
        let client = CoreClient::from_provider_metadata(
            metadata,
            ClientId::new(self.settings.client_id.clone()),
            None,
        )
        .set_redirect_uri(redirect_url)
        // private_key_jwt: client_id goes in the body, with the assertion and no secret.
        .set_auth_type(AuthType::RequestBody);
        Ok(DiscoveredProvider {
            client,
            token_endpoint,
            jwks_uri,
            end_session_endpoint: extras.end_session_endpoint,
            iss_parameter_required: extras.authorization_response_iss_parameter_supported,
            backchannel_logout_supported: extras.backchannel_logout_supported,
            discovered_at: Instant::now(),
        })
    }

    /// Segl's discovered configuration: cached, fetched on first use (or when an hour old, or
    /// when `stale` is the cached one and has proved out of date).
    async fn provider_refreshing(
        &self,
        stale: Option<&Arc<DiscoveredProvider>>,
    ) -> Result<Arc<DiscoveredProvider>, LoginError> {
        let usable = |provider: &Arc<DiscoveredProvider>| {
            stale.is_none_or(|stale| !Arc::ptr_eq(provider, stale))
                && provider.discovered_at.elapsed() < DISCOVERY_MAX_AGE
        };
        if let Some(provider) = self.cached_provider().filter(usable) {
            return Ok(provider);
        }
        let _one_at_a_time = self.discovery_lock.lock().await;
        let cached = self.cached_provider();
        if let Some(provider) = cached.clone().filter(usable) {
            return Ok(provider);
        }
        match self.discover().await {
            Ok(provider) => {
                let provider = Arc::new(provider);
                tracing::info!(issuer = %self.settings.issuer, ?provider, "discovered Segl");
                *self
                    .provider
                    .write()
                    .unwrap_or_else(PoisonError::into_inner) = Some(provider.clone());
                Ok(provider)
            }
            Err(reason) => {
                tracing::warn!(issuer = %self.settings.issuer, %reason, "discovery failed");
                // An old configuration is better than none when only a refresh failed.
                match (cached, stale) {
                    (Some(cached), None) => Ok(cached),
                    _ => Err(LoginError::ProviderUnavailable(reason)),
                }
            }
        }
    }

    /// Segl's configuration, discovering it if needed.
    pub async fn provider(&self) -> Result<Arc<DiscoveredProvider>, LoginError> {
        self.provider_refreshing(None).await
    }

    /// Tries discovery until it succeeds, backing off up to 30 s between tries, so the first
    /// login is fast even when Segl starts after the portal. Logins retry on their own too.
    pub async fn discover_with_retries(&self) {
        let mut delay = Duration::from_millis(250);
        loop {
            if self.provider().await.is_ok() {
                return;
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(30));
        }
    }

    /// Drops expired logins in flight and sessions.
    pub fn sweep(&self, now: i64) {
        self.pending.sweep(now);
        self.sessions.sweep(now);
    }

    /// The live session under `session_id` (the session cookie), if any.
    pub fn session(&self, session_id: Option<&str>, now: i64) -> Option<Session> {
        self.sessions.find(session_id?, now)
    }

    /// OIDC Core 3.1.2.1: an authorization request for `level`, with PKCE S256 (RFC 7636),
    /// `state` and `nonce`, all remembered server-side under a new random id.
    pub async fn start_login(
        &self,
        level: Level,
        return_to: ReturnPage,
        now: i64,
    ) -> Result<StartedLogin, LoginError> {
        let provider = self.provider().await?;
        let (pkce_challenge, pkce_verifier) = PkceCodeChallenge::new_random_sha256();
        let mut request = provider
            .client
            .authorize_url(
                AuthenticationFlow::<CoreResponseType>::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .set_pkce_challenge(pkce_challenge)
            .add_auth_context_value(AuthenticationContextClass::new(level.uri().to_owned()));
        for scope in &self.settings.scopes {
            request = request.add_scope(Scope::new(scope.clone()));
        }
        let (authorize_url, state, nonce) = request.url();
        let pending_id = random_token().map_err(|error| LoginError::Internal(error.to_string()))?;
        let login = PendingLogin {
            state: state.secret().clone(),
            nonce: nonce.secret().clone(),
            pkce_verifier: pkce_verifier.secret().clone(),
            level,
            return_to,
        };
        self.pending
            .insert(pending_id.clone(), login, now)
            .map_err(|_| LoginError::TooBusy)?;
        Ok(StartedLogin {
            authorize_url: authorize_url.to_string(),
            pending_id,
        })
    }

    /// Completes a login at `/callback`: checks the response, exchanges the code (with a
    /// `private_key_jwt` assertion), verifies the ID token and its level, calls userinfo and
    /// starts a session (ending `previous_session`, e.g. the Low session before a step-up).
    pub async fn finish_login(
        &self,
        pending_id: Option<&str>,
        params: &CallbackParams,
        previous_session: Option<&str>,
        now: i64,
    ) -> Result<FinishedLogin, LoginError> {
        // One use: the pending login is gone whatever happens next.
        let pending = pending_id
            .and_then(|id| self.pending.take(id, now))
            .ok_or(LoginError::Expired)?;
        let provider = self.provider().await?;
        let code = check_callback(
            params,
            &pending,
            &self.settings.issuer,
            provider.iss_parameter_required,
        )?;

        // OIDC Core 9 private_key_jwt, RFC 7523 2.2: openidconnect sends client_id in the body
        // (AuthType::RequestBody, no secret); the assertion goes in as extra parameters.
        let assertion = self
            .signer
            .sign(&provider.token_endpoint, now)
            .map_err(|error| LoginError::Internal(error_chain(&error)))?;
        let token_response = provider
            .client
            .exchange_code(AuthorizationCode::new(code))
            .map_err(|error| LoginError::ProviderUnavailable(error.to_string()))?
            .set_pkce_verifier(PkceCodeVerifier::new(pending.pkce_verifier.clone()))
            .add_extra_param("client_assertion_type", JWT_BEARER_ASSERTION_TYPE)
            .add_extra_param("client_assertion", assertion)
            .request_async(&self.http)
            .await
            .map_err(|error| match error {
                RequestTokenError::ServerResponse(response) => {
                    let mut text = response.error().to_string();
                    if let Some(description) = response.error_description() {
                        text.push_str(": ");
                        text.push_str(description);
                    }
                    LoginError::TokenRequest(text)
                }
                other => LoginError::TokenRequest(error_chain(&other)),
            })?;

        let id_token = token_response
            .id_token()
            .ok_or_else(|| LoginError::IdToken("the token response has no id_token".to_owned()))?;
        let nonce = Nonce::new(pending.nonce.clone());
        let access_token = token_response.access_token();
        let (subject, acr) =
            match verify_id_token(&provider, id_token, access_token, &nonce, now) {
                Err(IdTokenFailure::UnknownKey) => {
                    // Segl may have rotated its keys since discovery: fetch them again, once.
                    let fresh = self.provider_refreshing(Some(&provider)).await?;
                    verify_id_token(&fresh, id_token, access_token, &nonce, now)
                }
                verified => verified,
            }
            .map_err(|failure| match failure {
                IdTokenFailure::UnknownKey => {
                    LoginError::IdToken("no key in Segl's JWKS verifies the ID token".to_owned())
                }
                IdTokenFailure::Invalid(reason) => LoginError::IdToken(reason),
            })?;
        let level = check_level(acr.as_deref(), pending.level)?;
        let raw_id_token = id_token.to_string();
        let id_token_claims = jwt_payload(&raw_id_token).ok_or_else(|| {
            LoginError::IdToken("the ID token payload is not a JSON object".to_owned())
        })?;

        let userinfo_claims = match provider.client.user_info(
            access_token.clone(),
            Some(openidconnect::SubjectIdentifier::new(subject.clone())),
        ) {
            Err(ConfigurationError::MissingUrl(_)) => Map::new(),
            Err(error) => return Err(LoginError::Userinfo(error.to_string())),
            Ok(request) => {
                let claims: UserInfoClaims<OtherClaims, CoreGenderClaim> = request
                    .request_async(&self.http)
                    .await
                    .map_err(|error| LoginError::Userinfo(error_chain(&error)))?;
                match serde_json::to_value(&claims) {
                    Ok(Value::Object(claims)) => claims,
                    _ => {
                        return Err(LoginError::Userinfo(
                            "the userinfo response is not a JSON object".to_owned(),
                        ))
                    }
                }
            }
        };

        let claim_text = |name: &str| {
            userinfo_claims
                .get(name)
                .or_else(|| id_token_claims.get(name))
                .and_then(Value::as_str)
                .filter(|text| !text.trim().is_empty())
                .map(str::to_owned)
        };
        let session = Session {
            name: display_name(claim_text),
            subject,
            sid: id_token_claims
                .get("sid")
                .and_then(Value::as_str)
                .map(str::to_owned),
            acr: acr.unwrap_or_default(),
            level,
            id_token_claims,
            userinfo_claims,
            id_token: raw_id_token,
            csrf_token: random_token().map_err(|error| LoginError::Internal(error.to_string()))?,
        };
        if let Some(previous) = previous_session {
            self.sessions.remove(previous);
        }
        let session_id = random_token().map_err(|error| LoginError::Internal(error.to_string()))?;
        tracing::info!(?session, "citizen logged in");
        self.sessions
            .insert(session_id.clone(), session, now)
            .map_err(|_| LoginError::TooBusy)?;
        Ok(FinishedLogin {
            session_id,
            return_to: pending.return_to,
        })
    }

    /// Ends the local session (the form's `csrf` must match it) and, when Segl advertises an
    /// `end_session_endpoint`, returns where to send the browser (OIDC RP-Initiated Logout 1.0
    /// 2: `id_token_hint`, `post_logout_redirect_uri`, `state`).
    pub async fn logout(
        &self,
        session_id: Option<&str>,
        csrf: Option<&str>,
        now: i64,
    ) -> Result<LogoutOutcome, LogoutError> {
        let Some((session_id, session)) =
            session_id.and_then(|id| Some((id, self.sessions.find(id, now)?)))
        else {
            return Ok(LogoutOutcome::NotLoggedIn);
        };
        if !csrf.is_some_and(|csrf| secrets_match(&session.csrf_token, csrf)) {
            return Err(LogoutError::CsrfMismatch);
        }
        self.sessions.remove(session_id);
        tracing::info!(?session, "citizen logged out");
        let Ok(provider) = self.provider().await else {
            return Ok(LogoutOutcome::LocalOnly);
        };
        let Some(endpoint) = provider.end_session_endpoint.clone() else {
            return Ok(LogoutOutcome::LocalOnly);
        };
        let mut request = LogoutRequest::from(endpoint)
            .set_client_id(ClientId::new(self.settings.client_id.clone()));
        if let Ok(id_token) = CoreIdToken::from_str(&session.id_token) {
            request = request.set_id_token_hint(&id_token);
        }
        if let Ok(redirect) = PostLogoutRedirectUrl::new(self.settings.post_logout_redirect_uri()) {
            request = request.set_post_logout_redirect_uri(redirect);
        }
        let url = request.set_state(CsrfToken::new_random()).http_get_url();
        Ok(LogoutOutcome::ContinueAtProvider(url.to_string()))
    }

    /// Segl's signing keys for logout tokens, from discovery's `jwks_uri`; fetched again when
    /// `refresh` is asked (an unknown `kid`) and the last fetch is not too recent.
    async fn logout_keys(&self, refresh: bool) -> Result<Arc<Vec<Jwk>>, BackchannelError> {
        let cached = |refresh: bool| {
            let keys = self
                .logout_keys
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            keys.as_ref()
                .filter(|keys| !refresh || keys.fetched_at.elapsed() < JWKS_REFETCH_INTERVAL)
                .map(|keys| keys.keys.clone())
        };
        if let Some(keys) = cached(refresh) {
            return Ok(keys);
        }
        let _one_at_a_time = self.keys_lock.lock().await;
        if let Some(keys) = cached(refresh) {
            return Ok(keys);
        }
        let provider = self
            .provider()
            .await
            .map_err(|error| BackchannelError::KeysUnavailable(error.to_string()))?;
        let unavailable =
            |error: reqwest::Error| BackchannelError::KeysUnavailable(error_chain(&error));
        let jwks: Value = self
            .http
            .get(&provider.jwks_uri)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(unavailable)?
            .json()
            .await
            .map_err(unavailable)?;
        let keys = Arc::new(logout_token::parse_key_set(&jwks));
        *self
            .logout_keys
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(LogoutKeys {
            keys: keys.clone(),
            fetched_at: Instant::now(),
        });
        Ok(keys)
    }

    /// OIDC Back-Channel Logout 1.0 2.5-2.7: validates the logout token and ends every local
    /// session it names. Returns how many sessions ended.
    pub async fn backchannel_logout(
        &self,
        logout_token: &str,
        now: i64,
    ) -> Result<usize, BackchannelError> {
        let issuer = &self.settings.issuer;
        let client_id = &self.settings.client_id;
        let keys = self.logout_keys(false).await?;
        let request = match logout_token::validate(logout_token, &keys, issuer, client_id, now) {
            Err(LogoutTokenError::NoMatchingKey) => {
                let keys = self.logout_keys(true).await?;
                logout_token::validate(logout_token, &keys, issuer, client_id, now)
            }
            checked => checked,
        }?;
        self.seen_logout_tokens.record(&request, now)?;
        let ended = self
            .sessions
            .remove_for_logout(request.sid.as_deref(), request.sub.as_deref());
        tracing::info!(ended, sid = ?request.sid, "back-channel logout");
        Ok(ended)
    }
}

/// OIDC Core 3.1.3.7 with openidconnect: signature (JWKS from discovery), iss, aud, exp (with
/// skew), nonce; then `at_hash` (3.2.2.9) when present. Returns `sub` and `acr`.
fn verify_id_token(
    provider: &DiscoveredProvider,
    id_token: &CoreIdToken,
    access_token: &AccessToken,
    nonce: &Nonce,
    now: i64,
) -> Result<(String, Option<String>), IdTokenFailure> {
    let skewed_now = chrono::DateTime::from_timestamp(now - CLOCK_SKEW_SECONDS, 0)
        .unwrap_or_else(chrono::Utc::now);
    let latest_issue = now + CLOCK_SKEW_SECONDS;
    let verifier = provider
        .client
        .id_token_verifier()
        .set_time_fn(move || skewed_now)
        .set_issue_time_verifier_fn(move |issued_at| {
            if issued_at.timestamp() > latest_issue {
                Err("the ID token is issued in the future".to_owned())
            } else {
                Ok(())
            }
        });
    let claims = id_token
        .claims(&verifier, nonce)
        .map_err(|error| match error {
            ClaimsVerificationError::SignatureVerification(
                SignatureVerificationError::NoMatchingKey,
            ) => IdTokenFailure::UnknownKey,
            other => IdTokenFailure::Invalid(error_chain(&other)),
        })?;
    if let Some(expected) = claims.access_token_hash() {
        let invalid = |error: &dyn std::error::Error| IdTokenFailure::Invalid(error_chain(error));
        let algorithm = id_token.signing_alg().map_err(|e| invalid(&e))?;
        let key = id_token.signing_key(&verifier).map_err(|e| invalid(&e))?;
        let actual =
            AccessTokenHash::from_token(access_token, algorithm, key).map_err(|e| invalid(&e))?;
        if actual != *expected {
            return Err(IdTokenFailure::Invalid(
                "at_hash does not match the access token".to_owned(),
            ));
        }
    }
    Ok((
        claims.subject().to_string(),
        claims.auth_context_ref().map(|acr| acr.to_string()),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_display_name_prefers_name_then_given_and_family() {
        let claims = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(key, _)| *key == name)
                    .map(|(_, value)| (*value).to_owned())
            }
        };
        assert_eq!(
            display_name(claims(&[("name", "Anna Jensen"), ("given_name", "A")])),
            "Anna Jensen"
        );
        assert_eq!(
            display_name(claims(&[("given_name", "Anna"), ("family_name", "Jensen")])),
            "Anna Jensen"
        );
        assert_eq!(
            display_name(claims(&[])),
            "(name not released to this service)"
        );
    }

    #[test]
    fn a_jwt_payload_is_read_as_json() {
        let payload = URL_SAFE_NO_PAD.encode(r#"{"sub":"abc","sid":"s1"}"#);
        let claims = jwt_payload(&format!("e30.{payload}.sig")).unwrap();
        assert_eq!(claims["sid"], "s1");
        assert!(jwt_payload("no-dots").is_none());
    }
}
