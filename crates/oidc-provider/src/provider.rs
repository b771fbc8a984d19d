//! The provider service: the authorization code flow from request to tokens, over the store,
//! the signing keys and the citizen registry. The HTTP layer maps requests to these calls and
//! their results to responses; every rule is decided here or in the pure protocol modules.

use crate::authorize::{
    self, AuthorizationRequest, AuthorizationResponse, AuthorizeError, ErrorCode, PageError, Prompt,
};
use crate::claims::{self, ActingFor, ClaimsRequest, ProfessionalIdentity, Release};
use crate::client::{Client, ClientAuthMethod, SigningAlg, SubjectType};
use crate::client_auth::{self, ClientCredentials};
use crate::client_cache::ClientCache;
use crate::discovery;
use crate::keyring::KeyRing;
use crate::level::{self, SecondFactor};
use crate::passkey::{Ceremonies, PasskeyError};
use crate::session::{self, Next, Requirements, SessionPolicy, SsoSession};
use crate::store::{NewCode, PendingRow, Store, StoreError};
use crate::tokens::{self, AccessTokenClaims, IdTokenClaims};
use aws_lc_rs::hmac;
use citizen_registry::audit::AuditEvent;
use citizen_registry::{
    AssuranceLevel, AuthenticationError, Citizen, LoginContext, NationalId, PasskeyFailure,
    Registry, RegistryError, TotpOutcome,
};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use subtle::ConstantTimeEq;
use uuid::Uuid;

/// docs/NEMLOGIN.md section 2: `loa`, `ial` and `aal` as bare words beside the `acr` URI.
fn level_claims(
    citizen: &Citizen,
    acr: Option<&str>,
    amr: &[String],
) -> serde_json::Map<String, serde_json::Value> {
    let mut claims = serde_json::Map::new();
    if let Some(loa) = acr.and_then(level::parse_acr) {
        claims.insert("loa".into(), loa.as_str().into());
    }
    claims.insert("ial".into(), citizen.ial.as_str().into());
    if let Some(aal) = level::authenticator_level(amr) {
        claims.insert("aal".into(), aal.as_str().into());
    }
    claims
}

/// A power of attorney for a citizen names them by CPR number in `privileges`
/// (`urn:dk:gov:saml:cprNumberIdentifier:<cpr>`), so it goes only to CPR-entitled clients;
/// one for an organisation (by CVR) to any public authority asking for `privileges`.
fn may_name_principal(client: &Client, principal: &citizen_registry::Principal) -> bool {
    match principal {
        citizen_registry::Principal::Citizen(_) => client.cpr_entitled,
        citizen_registry::Principal::Organisation(_) => true,
    }
}

/// The claims of an `id_token_hint` at `/authorize` that matter (signature, `iss` and `aud`
/// are checked when it is verified; `exp` is not: a hint may be expired).
#[derive(Deserialize)]
struct HintClaims {
    sub: String,
}

/// The citizen and the factors proven so far of a login waiting for its second factor.
fn pending_factor_state(citizen_id: &str, amr: &str) -> Result<(Uuid, Vec<String>), StoreError> {
    let citizen_id =
        Uuid::parse_str(citizen_id).map_err(|_| StoreError::Corrupt("pending citizen".into()))?;
    let amr = serde_json::from_str(amr).map_err(|_| StoreError::Corrupt("pending amr".into()))?;
    Ok((citizen_id, amr))
}

fn pending_json(pending: &PendingRequest) -> Result<String, InternalError> {
    serde_json::to_string(pending).map_err(|error| InternalError::Signing(error.to_string()))
}

pub fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

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

/// Failures that are the provider's fault: logged, answered with `server_error`, no details.
#[derive(Debug, thiserror::Error)]
pub enum InternalError {
    #[error("storage failure")]
    Store(#[from] StoreError),
    #[error("registry failure")]
    Registry(#[from] RegistryError),
    #[error("signing failure: {0}")]
    Signing(String),
    #[error("random generation failed")]
    Random,
}

impl InternalError {
    /// The database cannot serve now: answered 503 with `Retry-After`, not 500.
    pub fn is_unavailable(&self) -> bool {
        match self {
            Self::Store(error) => error.is_unavailable(),
            Self::Registry(error) => error.is_unavailable(),
            Self::Signing(_) | Self::Random => false,
        }
    }
}

impl From<aws_lc_rs::error::Unspecified> for InternalError {
    fn from(_: aws_lc_rs::error::Unspecified) -> Self {
        Self::Random
    }
}

impl From<AuthenticationError> for InternalError {
    fn from(error: AuthenticationError) -> Self {
        match error {
            AuthenticationError::Storage(store) => Self::Registry(RegistryError::Storage(store)),
            other => Self::Signing(other.to_string()),
        }
    }
}

/// What the citizen's browser is shown next.
#[derive(Debug)]
pub enum Step {
    /// Send the browser back to the client with this response (code or error).
    Respond(AuthorizationResponse),
    /// Show the error page; never redirect (unknown client or unregistered redirect URI).
    ErrorPage(PageError),
    /// Show the login page for this pending request. `new_browser_binding` is a cookie value to set.
    Login {
        pending_id: String,
        new_browser_binding: Option<String>,
    },
    /// The citizen cannot reach the level asked for: explain, then answer `access_denied`.
    Denied {
        reason: DenialReason,
        response: AuthorizationResponse,
        /// The request's `ui_locales`, so the page speaks the language of the login.
        ui_locales: Vec<String>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DenialReason {
    /// Identity proofing is below the requested level.
    IdentityLevel,
    /// No second factor is enrolled.
    NoSecondFactor,
    /// Too many wrong one-time codes or refused passkeys.
    TooManyCodes,
}

/// What a citizen granted a client: the basis of every token issued from a login.
#[derive(Debug, Clone)]
pub(crate) struct Grant {
    pub client_id: String,
    pub citizen_id: Uuid,
    /// The SSO session (internal: never in a token).
    pub sid: String,
    /// The client's own sid for the session: the `sid` of its tokens.
    pub client_sid: String,
    pub scopes: Vec<String>,
    pub acr: String,
    pub amr: Vec<String>,
    pub auth_time: i64,
}

/// The stored state of a pending request.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct PendingRequest {
    request: AuthorizationRequest,
    level: AssuranceLevel,
    /// For a step-up: the session being raised.
    step_up_sid: Option<String>,
    /// Wrong one-time codes so far.
    #[serde(default)]
    code_failures: u32,
    /// Logged in (this SSO session); waiting for the citizen to choose an identity.
    #[serde(default)]
    choose_sid: Option<String>,
    /// The factor asked for after the password (or in a step-up).
    #[serde(default)]
    second_factor: Option<SecondFactor>,
    /// The WebAuthn challenge state of the passkey step (serialized `PasskeyAuthentication`),
    /// renewed each time the page is shown and cleared when an answer is checked.
    #[serde(default)]
    passkey_challenge: Option<serde_json::Value>,
}

/// What a login chose, kept per client and session in `session_clients.release_context`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct ReleaseContext {
    #[serde(default)]
    claims: ClaimsRequest,
    /// The professional identity (`pro_uuid`) the citizen logged in with.
    #[serde(default)]
    professional: Option<Uuid>,
    /// The power of attorney the citizen acts under.
    #[serde(default)]
    power_of_attorney: Option<Uuid>,
}

/// Whom the citizen logs in as, chosen after authentication.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Choice {
    Myself,
    Professional(Uuid),
    Attorney(Uuid),
}

impl Choice {
    fn value(self) -> String {
        match self {
            Self::Myself => "self".to_owned(),
            Self::Professional(id) => format!("pro:{id}"),
            Self::Attorney(id) => format!("poa:{id}"),
        }
    }
}

/// One entry on the choice page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChoiceOption {
    pub value: String,
    /// The organisation (name and CVR), or the principal (a name or a safe label) and privileges;
    /// empty for "myself".
    pub label: String,
}

/// What the choice page offers.
enum Choices {
    Decided(Choice),
    Ask(Vec<(Choice, String)>),
    Denied(&'static str),
}

/// A pending choice, loaded: the login's session, citizen and client, and what is offered.
struct ChoiceState {
    session: SsoSession,
    citizen: Citizen,
    client: Arc<Client>,
    options: Vec<(Choice, String)>,
}

/// A citizen's access token, checked (see `Provider::bearer_grant`).
struct BearerGrant {
    claims: AccessTokenClaims,
    session: SsoSession,
    client: Arc<Client>,
    citizen: Citizen,
}

/// How the browser of a login is known: by the stored hash, or by its cookie (if any).
enum Browser<'a> {
    Hash(String),
    Cookie(Option<&'a str>),
}

/// Where a claim set goes, for the audit event.
#[derive(Debug, Clone, Copy)]
pub(crate) enum ReleaseTarget {
    IdToken,
    Userinfo,
}

impl ReleaseTarget {
    fn as_str(self) -> &'static str {
        match self {
            Self::IdToken => "id_token",
            Self::Userinfo => "userinfo",
        }
    }
}

/// CPR-match failures.
#[derive(Debug, thiserror::Error)]
pub enum CprMatchError {
    #[error("invalid_token")]
    InvalidToken(&'static str),
    #[error("invalid_request")]
    InvalidRequest(&'static str),
    /// Tries used up or the login too old: `access_denied` with the description.
    #[error("access_denied: {0}")]
    Refused(String),
    #[error("internal")]
    Internal(#[from] InternalError),
}

impl From<StoreError> for CprMatchError {
    fn from(error: StoreError) -> Self {
        Self::Internal(error.into())
    }
}

/// docs/NEMLOGIN.md section 3: three CPR-match tries per login at a client.
pub const CPR_MATCH_TRIES: i64 = 3;

/// Audit event kinds the provider writes for identity data.
pub mod audit_kind {
    pub const CLAIMS_RELEASED: &str = "claims.released";
    pub const CPR_MATCH: &str = "cpr_match.checked";
}

/// The login page's state.
#[derive(Debug, Clone)]
pub struct LoginView {
    pub pending_id: String,
    pub csrf_token: String,
    pub client_name: String,
    pub stage: LoginStage,
    pub level: AssuranceLevel,
    pub ui_locales: Vec<String>,
    pub login_hint: Option<String>,
    /// For the choice stage: the identities the citizen may log in as.
    pub choices: Vec<ChoiceOption>,
    /// For the passkey stage: the `publicKey` request options for `navigator.credentials.get`.
    pub passkey_options: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginStage {
    Password,
    OneTimeCode,
    /// Choose a professional identity or a power of attorney.
    Choose,
    Passkey,
}

/// Why a submitted form was not accepted (the page is shown again with the message).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FormProblem {
    /// One message for unknown user ID, wrong password, locked and inactive: no enumeration.
    InvalidCredentials,
    WrongCode,
    /// The passkey's answer did not verify (or was cancelled in the browser).
    PasskeyRejected,
}

/// The result of a form submission.
#[derive(Debug)]
pub enum FormOutcome {
    Next(Step, Option<NewSession>),
    Retry(LoginView, FormProblem),
    /// The pending request is gone, expired, or not bound to this browser (or a bad CSRF token).
    Expired,
    /// Password checking is shedding load.
    Overloaded,
}

/// A session the browser should now carry.
#[derive(Debug)]
pub struct NewSession {
    /// The cookie value (random 256 bits); only its hash is stored.
    pub cookie_value: String,
    pub max_age_seconds: i64,
}

/// Token endpoint failures, RFC 6749 5.2.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("invalid_request: {0}")]
    InvalidRequest(String),
    #[error("invalid_client")]
    InvalidClient(String),
    #[error("invalid_grant: {0}")]
    InvalidGrant(String),
    #[error("unauthorized_client: {0}")]
    UnauthorizedClient(String),
    #[error("unsupported_grant_type")]
    UnsupportedGrantType(String),
    #[error("invalid_scope: {0}")]
    InvalidScope(String),
    #[error("internal")]
    Internal(#[from] InternalError),
}

impl From<StoreError> for TokenError {
    fn from(error: StoreError) -> Self {
        Self::Internal(error.into())
    }
}

/// RFC 6749 5.1.
#[derive(Debug, Serialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    pub scope: String,
}

/// Userinfo failures, RFC 6750 3.1.
#[derive(Debug, thiserror::Error)]
pub enum UserinfoError {
    #[error("invalid_token")]
    InvalidToken(&'static str),
    #[error("internal")]
    Internal(#[from] InternalError),
}

impl From<StoreError> for UserinfoError {
    fn from(error: StoreError) -> Self {
        Self::Internal(error.into())
    }
}

const SESSION_PURPOSE: &str = "pairwise-subjects";
const MAX_CODE_FAILURES: u32 = 5;

#[derive(Clone)]
pub struct Provider {
    pub(crate) store: Store,
    pub(crate) registry: Registry,
    pub(crate) settings: Arc<ProviderSettings>,
    pub(crate) keys: Arc<KeyRing>,
    pub(crate) passkeys: Arc<Ceremonies>,
    pairwise_key: Arc<hmac::Key>,
    discovery_json: bytes::Bytes,
    /// For back-channel logout deliveries: the SSRF-guarded client.
    pub(crate) http: crate::outbound::Outbound,
    /// Clients for client authentication, dropped when any client changes.
    clients: ClientCache,
}

impl Provider {
    pub fn new(
        store: Store,
        registry: Registry,
        settings: ProviderSettings,
        keys: Arc<KeyRing>,
        master_key: &citizen_registry::sealing::MasterKey,
    ) -> Result<Self, InternalError> {
        let pairwise = master_key
            .derive(SESSION_PURPOSE)
            .map_err(|error| InternalError::Signing(error.to_string()))?;
        let discovery_json = bytes::Bytes::from(discovery::document(&settings.issuer).to_string());
        let passkeys = Arc::new(Ceremonies::new(&settings.issuer));
        let http = crate::outbound::Outbound::new(settings.outbound.clone())
            .map_err(|error| InternalError::Signing(error.to_string()))?;
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
        })
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

    // ----- /authorize -----

    /// OIDC Core 3.1.2: validates the request and decides what the browser sees next.
    pub async fn authorize(
        &self,
        params: &[(String, String)],
        session_cookie: Option<&str>,
        browser_cookie: Option<&str>,
    ) -> Result<Step, InternalError> {
        let raw = match authorize::parse(params) {
            Ok(raw) => raw,
            Err(page) => return Ok(Step::ErrorPage(page)),
        };
        let client = self.find_client(raw.client_id()).await?;
        let request = match authorize::validate(&raw, client.as_deref()) {
            Ok(request) => request,
            Err(AuthorizeError::ShowPage(page)) => return Ok(Step::ErrorPage(page)),
            Err(AuthorizeError::Redirect(error)) => {
                return Ok(Step::Respond(error.to_response(&self.settings.issuer)))
            }
        };
        let Some(client) = client else {
            return Ok(Step::ErrorPage(PageError::UnknownClient));
        };
        // docs/NEMLOGIN.md section 3: the identity type rides in acr_values beside the level.
        if request
            .acr_values
            .iter()
            .any(|value| value == claims::PROFESSIONAL_URI)
            && !client.scopes.iter().any(|scope| scope == "professional")
        {
            let error = request.error(
                ErrorCode::InvalidScope,
                "The client is not allowed to request professional identities.",
            );
            return Ok(Step::Respond(error.to_response(&self.settings.issuer)));
        }
        let level_values: Vec<String> = request
            .acr_values
            .iter()
            .filter(|value| !claims::is_identity_type(value))
            .cloned()
            .collect();
        let level = match level::required_level(&level_values, client.min_acr) {
            Ok(level) => level,
            Err(unknown) => {
                let error = request.error(ErrorCode::InvalidRequest, unknown.to_string());
                return Ok(Step::Respond(error.to_response(&self.settings.issuer)));
            }
        };
        // OIDC Core 3.1.2.1: the hint is an ID token we issued to this client (an expired one
        // will do); one that does not verify is refused.
        let hinted_sub = match &request.id_token_hint {
            Some(token) => match self.keys.verify::<HintClaims>(
                token,
                "JWT",
                &self.settings.issuer,
                Some(&client.id),
                false,
            ) {
                Ok(hint) => Some(hint.sub),
                Err(_) => {
                    let error = request.error(
                        ErrorCode::InvalidRequest,
                        "could not validate id_token_hint",
                    );
                    return Ok(Step::Respond(error.to_response(&self.settings.issuer)));
                }
            },
            None => None,
        };
        let at = now();
        let session = match session_cookie {
            Some(cookie) => self.store.find_session(&tokens::sha256_hex(cookie)).await?,
            None => None,
        };
        let live = session.filter(|session| session.is_live(&self.settings.session, at));
        let citizen = match &live {
            Some(session) => self.active_citizen(session.citizen_id).await?,
            None => None,
        };
        // A session whose citizen was suspended since counts as no session.
        let live = live.filter(|_| citizen.is_some());
        // A hint naming someone else than the session's citizen (compared as this client's
        // pairwise subject): never a code for the session's citizen. With prompt=none that is
        // login_required; otherwise the citizen logs in again.
        let hint_mismatch = match (&hinted_sub, &citizen) {
            (Some(sub), Some(citizen)) => *sub != self.subject(&client, citizen.id),
            _ => false,
        };
        if hint_mismatch && request.prompt == Prompt::None {
            let error = request.error(
                ErrorCode::LoginRequired,
                "the citizen named by id_token_hint is not logged in",
            );
            return Ok(Step::Respond(error.to_response(&self.settings.issuer)));
        }
        let requirements = Requirements {
            prompt_none: request.prompt == Prompt::None,
            prompt_login: request.prompt == Prompt::Login || hint_mismatch,
            max_age: request.max_age,
            level,
        };
        let ial = citizen.as_ref().map(|citizen| citizen.ial);
        match session::next_step(
            &requirements,
            live.as_ref(),
            ial,
            &self.settings.session,
            at,
        ) {
            Next::Issue => {
                let (Some(session), Some(citizen)) = (live, citizen) else {
                    return Ok(Step::ErrorPage(PageError::UnknownClient));
                };
                self.store.update_session_seen(&session.sid, at).await?;
                let browser = Browser::Cookie(browser_cookie);
                self.finish_login(&request, &client, &citizen, &session, browser, at)
                    .await
            }
            Next::Fail(code) => {
                let error_code = if code == "interaction_required" {
                    ErrorCode::InteractionRequired
                } else {
                    ErrorCode::LoginRequired
                };
                let description = if code == "interaction_required" {
                    "a higher assurance level needs the citizen's interaction"
                } else {
                    "the citizen is not logged in"
                };
                Ok(Step::Respond(
                    request
                        .error(error_code, description)
                        .to_response(&self.settings.issuer),
                ))
            }
            Next::Unreachable => {
                let response = request
                    .error(
                        ErrorCode::AccessDenied,
                        "the citizen's identity is not proofed at the requested assurance level",
                    )
                    .to_response(&self.settings.issuer);
                if requirements.prompt_none {
                    Ok(Step::Respond(response))
                } else {
                    Ok(Step::Denied {
                        reason: DenialReason::IdentityLevel,
                        response,
                        ui_locales: request.ui_locales.clone(),
                    })
                }
            }
            next @ (Next::Login | Next::StepUp) => {
                let step_up = next == Next::StepUp;
                // A step-up asks only for the missing factor: the app for Substantial, a
                // passkey for High. A citizen with neither cannot reach the level.
                let step_up_factor = match (&citizen, step_up) {
                    (Some(citizen), true) => self.second_factor_for(citizen, level).await?,
                    _ => None,
                };
                if step_up && step_up_factor.is_none() {
                    let response = request
                        .error(
                            ErrorCode::AccessDenied,
                            "the citizen has no second factor for the requested assurance level",
                        )
                        .to_response(&self.settings.issuer);
                    return Ok(Step::Denied {
                        reason: DenialReason::NoSecondFactor,
                        response,
                        ui_locales: request.ui_locales.clone(),
                    });
                }
                let (binding, new_binding) = match browser_cookie {
                    Some(value) if value.len() >= 32 => (value.to_owned(), None),
                    _ => {
                        let value = tokens::random_token()?;
                        (value.clone(), Some(value))
                    }
                };
                let pending = PendingRequest {
                    request,
                    level,
                    step_up_sid: if step_up {
                        live.as_ref().map(|session| session.sid.clone())
                    } else {
                        None
                    },
                    code_failures: 0,
                    choose_sid: None,
                    second_factor: step_up_factor,
                    passkey_challenge: None,
                };
                let (citizen_id, amr) = match (&pending.step_up_sid, &live) {
                    (Some(_), Some(session)) => (
                        Some(session.citizen_id.to_string()),
                        Some(serde_json::to_string(&session.amr).unwrap_or_default()),
                    ),
                    _ => (None, None),
                };
                let pending_id = tokens::random_token()?;
                let row = PendingRow {
                    id: pending_id.clone(),
                    request: pending_json(&pending)?,
                    browser_hash: tokens::sha256_hex(&binding),
                    csrf_token: tokens::random_token()?,
                    citizen_id,
                    amr,
                    created_at: at,
                    expires_at: at + self.settings.login_lifetime_seconds,
                };
                self.store.insert_pending(&row).await?;
                Ok(Step::Login {
                    pending_id,
                    new_browser_binding: new_binding,
                })
            }
        }
    }

    /// Which factor takes `citizen` to `level` after a password (None: none can).
    async fn second_factor_for(
        &self,
        citizen: &Citizen,
        level: AssuranceLevel,
    ) -> Result<Option<SecondFactor>, InternalError> {
        let has_passkey =
            self.passkeys.is_available() && !self.registry.passkeys(citizen.id).await?.is_empty();
        Ok(level::second_factor(level, citizen.has_totp, has_passkey))
    }

    pub(crate) async fn active_citizen(
        &self,
        citizen_id: Uuid,
    ) -> Result<Option<Citizen>, InternalError> {
        match self.registry.find_citizen_by_id(citizen_id).await {
            Ok(citizen) if citizen.is_active() => Ok(Some(citizen)),
            Ok(_) | Err(RegistryError::UnknownCitizen(_)) => Ok(None),
            Err(error) => Err(error.into()),
        }
    }

    // ----- the login page -----

    /// Loads a pending request if it exists, has not expired and belongs to this browser.
    async fn pending(
        &self,
        pending_id: &str,
        browser_cookie: Option<&str>,
    ) -> Result<Option<(PendingRow, PendingRequest)>, InternalError> {
        let Some(browser) = browser_cookie else {
            return Ok(None);
        };
        let Some(row) = self.store.find_pending(pending_id, now()).await? else {
            return Ok(None);
        };
        let presented = tokens::sha256_hex(browser);
        if !bool::from(presented.as_bytes().ct_eq(row.browser_hash.as_bytes())) {
            return Ok(None);
        }
        let pending: PendingRequest = serde_json::from_str(&row.request)
            .map_err(|_| StoreError::Corrupt("pending request".into()))?;
        Ok(Some((row, pending)))
    }

    fn view(&self, row: &PendingRow, pending: &PendingRequest, client_name: String) -> LoginView {
        LoginView {
            pending_id: row.id.clone(),
            csrf_token: row.csrf_token.clone(),
            client_name,
            stage: match (&row.citizen_id, pending.second_factor) {
                _ if pending.choose_sid.is_some() => LoginStage::Choose,
                (None, _) => LoginStage::Password,
                (Some(_), Some(SecondFactor::Passkey)) => LoginStage::Passkey,
                (Some(_), _) => LoginStage::OneTimeCode,
            },
            choices: Vec::new(),
            level: pending.level,
            ui_locales: pending.request.ui_locales.clone(),
            login_hint: pending.request.login_hint.clone(),
            passkey_options: None,
        }
    }

    /// The page for a pending request; the passkey stage gets a new challenge, stored in the
    /// pending request so that any node can check the answer.
    async fn view_with_challenge(
        &self,
        row: &PendingRow,
        mut pending: PendingRequest,
    ) -> Result<Option<LoginView>, InternalError> {
        let name = self.client_name(&pending.request.client_id).await?;
        let mut view = self.view(row, &pending, name);
        if view.stage != LoginStage::Passkey {
            return Ok(Some(view));
        }
        let Some(citizen_id) = row
            .citizen_id
            .as_deref()
            .and_then(|id| Uuid::parse_str(id).ok())
        else {
            return Ok(Some(view));
        };
        let stored = self.registry.passkeys(citizen_id).await?;
        let started = match self.passkeys.start_authentication(&stored) {
            Ok(started) => started,
            // No usable passkey (or passkeys off): this login cannot go on; the page says the
            // login expired and the citizen starts again, never a 500.
            Err(PasskeyError::NoPasskeys | PasskeyError::Unavailable) => return Ok(None),
            Err(error) => return Err(InternalError::Signing(error.to_string())),
        };
        pending.passkey_challenge = Some(started.state);
        self.store
            .update_pending_request(&row.id, &pending_json(&pending)?)
            .await?;
        view.passkey_options = Some(started.options_json);
        Ok(Some(view))
    }

    async fn client_name(&self, client_id: &str) -> Result<String, InternalError> {
        Ok(self
            .find_client(client_id)
            .await?
            .map_or_else(|| client_id.to_owned(), |client| client.name.clone()))
    }

    /// The login page for a pending request (None: expired or not this browser's).
    pub async fn login_view(
        &self,
        pending_id: &str,
        browser_cookie: Option<&str>,
    ) -> Result<Option<LoginView>, InternalError> {
        let Some((row, pending)) = self.pending(pending_id, browser_cookie).await? else {
            return Ok(None);
        };
        if pending.choose_sid.is_some() {
            let name = self.client_name(&pending.request.client_id).await?;
            let mut view = self.view(&row, &pending, name);
            match self.choice_state(&pending).await? {
                Some(state) => {
                    view.choices = state
                        .options
                        .into_iter()
                        .map(|(choice, label)| ChoiceOption {
                            value: choice.value(),
                            label,
                        })
                        .collect();
                }
                None => return Ok(None),
            }
            return Ok(Some(view));
        }
        self.view_with_challenge(&row, pending).await
    }

    /// For a pending choice: the session, citizen and client, and the options (None: the
    /// login is gone or there is nothing to choose any more).
    async fn choice_state(
        &self,
        pending: &PendingRequest,
    ) -> Result<Option<ChoiceState>, InternalError> {
        let Some(sid) = &pending.choose_sid else {
            return Ok(None);
        };
        let session = self.store.find_session_by_sid(sid).await?;
        let Some(session) = session.filter(|session| session.ended_at.is_none()) else {
            return Ok(None);
        };
        let Some(citizen) = self.active_citizen(session.citizen_id).await? else {
            return Ok(None);
        };
        let Some(client) = self.find_client(&pending.request.client_id).await? else {
            return Ok(None);
        };
        match self
            .choices(&pending.request, &client, &citizen, now())
            .await?
        {
            Choices::Ask(options) => Ok(Some(ChoiceState {
                session,
                citizen,
                client,
                options,
            })),
            Choices::Decided(_) | Choices::Denied(_) => Ok(None),
        }
    }

    /// The choice form: log in as a professional identity or under a power of attorney.
    pub async fn submit_choice(
        &self,
        pending_id: &str,
        browser_cookie: Option<&str>,
        csrf_token: &str,
        value: &str,
    ) -> Result<FormOutcome, InternalError> {
        let Some((row, pending)) = self
            .pending_for_form(pending_id, browser_cookie, csrf_token)
            .await?
        else {
            return Ok(FormOutcome::Expired);
        };
        let Some(ChoiceState {
            session,
            citizen,
            client,
            options,
        }) = self.choice_state(&pending).await?
        else {
            return Ok(FormOutcome::Expired);
        };
        // Only an offered option counts: an expired or revoked power of attorney is not offered.
        let Some((choice, _)) = options
            .into_iter()
            .find(|(choice, _)| choice.value() == value)
        else {
            return Ok(FormOutcome::Expired);
        };
        if !self.store.delete_pending(&row.id).await? {
            return Ok(FormOutcome::Expired);
        }
        let at = now();
        let response = self
            .issue_code(&pending.request, &client, &citizen, &session, choice, at)
            .await?;
        Ok(FormOutcome::Next(Step::Respond(response), None))
    }

    /// What the citizen may log in as at this client: a professional identity when asked for
    /// (`acr_values` with the Professional URI), a power of attorney at a public client that
    /// asks for `privileges`, or simply themselves.
    async fn choices(
        &self,
        request: &AuthorizationRequest,
        client: &Client,
        citizen: &Citizen,
        at: i64,
    ) -> Result<Choices, InternalError> {
        if request
            .acr_values
            .iter()
            .any(|value| value == claims::PROFESSIONAL_URI)
        {
            let employments = self.registry.employments(citizen.id).await?;
            return Ok(match employments.as_slice() {
                [] => Choices::Denied("the citizen has no professional identity"),
                [only] => Choices::Decided(Choice::Professional(only.pro_uuid)),
                several => Choices::Ask(
                    several
                        .iter()
                        .map(|employment| {
                            (
                                Choice::Professional(employment.pro_uuid),
                                format!(
                                    "{} (CVR {})",
                                    employment.organisation.name.as_str(),
                                    employment.organisation.cvr.as_str()
                                ),
                            )
                        })
                        .collect(),
                ),
            });
        }
        let wants_privileges = request.scopes.iter().any(|scope| scope == "privileges");
        if !(client.public_authority && wants_privileges) {
            return Ok(Choices::Decided(Choice::Myself));
        }
        let usable: Vec<_> = self
            .registry
            .powers_of_attorney(citizen.id)
            .await?
            .into_iter()
            .filter(|poa| poa.is_usable(at) && may_name_principal(client, &poa.principal))
            .collect();
        if usable.is_empty() {
            return Ok(Choices::Decided(Choice::Myself));
        }
        let mut options = vec![(Choice::Myself, String::new())];
        for poa in usable {
            let principal = match self.registry.principal_citizen(&poa.principal).await? {
                Some(id) => match self.registry.find_citizen_by_id(id).await {
                    Ok(principal) if !principal.name_protected => principal.full_name(),
                    _ => poa.principal.label(),
                },
                None => poa.principal.label(),
            };
            let privileges: Vec<&str> = poa.privileges.iter().map(|p| p.as_str()).collect();
            options.push((
                Choice::Attorney(poa.id),
                format!("{principal}: {}", privileges.join(", ")),
            ));
        }
        Ok(Choices::Ask(options))
    }

    /// After authentication: the choice page if there is a choice, otherwise the code.
    async fn finish_login(
        &self,
        request: &AuthorizationRequest,
        client: &Client,
        citizen: &Citizen,
        session: &SsoSession,
        browser: Browser<'_>,
        at: i64,
    ) -> Result<Step, InternalError> {
        match self.choices(request, client, citizen, at).await? {
            Choices::Decided(choice) => Ok(Step::Respond(
                self.issue_code(request, client, citizen, session, choice, at)
                    .await?,
            )),
            Choices::Denied(description) => Ok(Step::Respond(
                request
                    .error(ErrorCode::AccessDenied, description)
                    .to_response(&self.settings.issuer),
            )),
            // OIDC Core 3.1.2.1: prompt=none shows no page, and a choice is a page.
            Choices::Ask(_) if request.prompt == Prompt::None => Ok(Step::Respond(
                request
                    .error(
                        ErrorCode::InteractionRequired,
                        "the citizen must choose who to log in as",
                    )
                    .to_response(&self.settings.issuer),
            )),
            Choices::Ask(_) => {
                let (browser_hash, new_browser_binding) = match browser {
                    Browser::Hash(hash) => (hash, None),
                    Browser::Cookie(Some(value)) if value.len() >= 32 => {
                        (tokens::sha256_hex(value), None)
                    }
                    Browser::Cookie(_) => {
                        let value = tokens::random_token()?;
                        (tokens::sha256_hex(&value), Some(value))
                    }
                };
                let pending = PendingRequest {
                    request: request.clone(),
                    level: session.aal,
                    step_up_sid: None,
                    code_failures: 0,
                    choose_sid: Some(session.sid.clone()),
                    second_factor: None,
                    passkey_challenge: None,
                };
                let pending_id = tokens::random_token()?;
                let row = PendingRow {
                    id: pending_id.clone(),
                    request: pending_json(&pending)?,
                    browser_hash,
                    csrf_token: tokens::random_token()?,
                    citizen_id: Some(citizen.id.to_string()),
                    amr: Some(
                        serde_json::to_string(&session.amr)
                            .map_err(|error| InternalError::Signing(error.to_string()))?,
                    ),
                    created_at: at,
                    expires_at: at + self.settings.login_lifetime_seconds,
                };
                self.store.insert_pending(&row).await?;
                Ok(Step::Login {
                    pending_id,
                    new_browser_binding,
                })
            }
        }
    }

    /// Checks the CSRF token (constant time) and loads the pending request.
    async fn pending_for_form(
        &self,
        pending_id: &str,
        browser_cookie: Option<&str>,
        csrf_token: &str,
    ) -> Result<Option<(PendingRow, PendingRequest)>, InternalError> {
        let Some((row, pending)) = self.pending(pending_id, browser_cookie).await? else {
            return Ok(None);
        };
        if !bool::from(csrf_token.as_bytes().ct_eq(row.csrf_token.as_bytes())) {
            return Ok(None);
        }
        Ok(Some((row, pending)))
    }

    /// The password form.
    pub async fn submit_password(
        &self,
        pending_id: &str,
        browser_cookie: Option<&str>,
        csrf_token: &str,
        user_id: &str,
        password: SecretString,
        ip: Option<String>,
    ) -> Result<FormOutcome, InternalError> {
        let Some((row, pending)) = self
            .pending_for_form(pending_id, browser_cookie, csrf_token)
            .await?
        else {
            return Ok(FormOutcome::Expired);
        };
        if row.citizen_id.is_some() {
            // The password stage is over for this request (or it is a step-up).
            return Ok(FormOutcome::Expired);
        }
        let context = LoginContext {
            ip,
            client_id: Some(pending.request.client_id.clone()),
        };
        let citizen = match self
            .registry
            .authenticate_password(user_id, password, &context)
            .await
        {
            Ok(citizen) => citizen,
            Err(AuthenticationError::Overloaded) => return Ok(FormOutcome::Overloaded),
            Err(AuthenticationError::Storage(error)) => {
                return Err(InternalError::Registry(RegistryError::Storage(error)))
            }
            Err(_) => {
                let name = self.client_name(&pending.request.client_id).await?;
                return Ok(FormOutcome::Retry(
                    self.view(&row, &pending, name),
                    FormProblem::InvalidCredentials,
                ));
            }
        };
        let mut amr = Vec::new();
        level::add_factor(&mut amr, &["pwd"]);
        let auth_time = now();
        self.after_factor(row, pending, citizen, amr, auth_time)
            .await
    }

    /// The one-time code form (the second factor, or a step-up).
    pub async fn submit_code(
        &self,
        pending_id: &str,
        browser_cookie: Option<&str>,
        csrf_token: &str,
        code: &str,
        ip: Option<String>,
    ) -> Result<FormOutcome, InternalError> {
        let Some((row, mut pending)) = self
            .pending_for_form(pending_id, browser_cookie, csrf_token)
            .await?
        else {
            return Ok(FormOutcome::Expired);
        };
        // The code form is not an answer to the passkey stage.
        if pending.second_factor == Some(SecondFactor::Passkey) {
            return Ok(FormOutcome::Expired);
        }
        let (Some(citizen_id), Some(amr)) = (row.citizen_id.as_deref(), row.amr.as_deref()) else {
            return Ok(FormOutcome::Expired);
        };
        if pending.choose_sid.is_some() {
            return Ok(FormOutcome::Expired);
        }
        let (citizen_id, mut amr) = pending_factor_state(citizen_id, amr)?;
        let context = LoginContext {
            ip,
            client_id: Some(pending.request.client_id.clone()),
        };
        let Some(citizen) = self.active_citizen(citizen_id).await? else {
            return Ok(FormOutcome::Expired);
        };
        match self
            .registry
            .verify_totp(citizen_id, code, &context)
            .await?
        {
            TotpOutcome::Accepted => {
                level::add_factor(&mut amr, SecondFactor::OneTimeCode.amr());
                // auth_time: when the factor that completes the level was verified.
                self.after_factor(row, pending, citizen, amr, now()).await
            }
            TotpOutcome::Rejected => {
                pending.passkey_challenge = None;
                self.factor_rejected(row, pending, FormProblem::WrongCode)
                    .await
            }
        }
    }

    /// The passkey form: the browser's answer to the challenge stored with the request.
    pub async fn submit_passkey(
        &self,
        pending_id: &str,
        browser_cookie: Option<&str>,
        csrf_token: &str,
        credential_json: &str,
        ip: Option<String>,
    ) -> Result<FormOutcome, InternalError> {
        let Some((row, mut pending)) = self
            .pending_for_form(pending_id, browser_cookie, csrf_token)
            .await?
        else {
            return Ok(FormOutcome::Expired);
        };
        let (Some(citizen_id), Some(amr)) = (row.citizen_id.as_deref(), row.amr.as_deref()) else {
            return Ok(FormOutcome::Expired);
        };
        if pending.second_factor != Some(SecondFactor::Passkey) {
            return Ok(FormOutcome::Expired);
        }
        let (citizen_id, mut amr) = pending_factor_state(citizen_id, amr)?;
        let context = LoginContext {
            ip,
            client_id: Some(pending.request.client_id.clone()),
        };
        let Some(citizen) = self.active_citizen(citizen_id).await? else {
            return Ok(FormOutcome::Expired);
        };
        // A challenge is answered once: it is cleared whatever the outcome.
        let Some(challenge) = pending.passkey_challenge.take() else {
            return self
                .factor_rejected(row, pending, FormProblem::PasskeyRejected)
                .await;
        };
        let stored = self.registry.passkeys(citizen_id).await?;
        let verified = self
            .passkeys
            .finish_authentication(credential_json, &challenge, &stored);
        let authenticated = match verified {
            Ok(authenticated) => authenticated,
            Err(PasskeyError::State(error)) => return Err(InternalError::Signing(error)),
            Err(error) => {
                let failure = match error {
                    PasskeyError::Rejected("unknown_credential") => {
                        PasskeyFailure::UnknownCredential
                    }
                    _ => PasskeyFailure::Rejected,
                };
                tracing::info!(reason = %error, "passkey login refused");
                self.registry
                    .passkey_failed(citizen_id, failure, &context)
                    .await?;
                return self
                    .factor_rejected(row, pending, FormProblem::PasskeyRejected)
                    .await;
            }
        };
        if !self
            .registry
            .passkey_used(
                citizen_id,
                &authenticated.credential_id,
                authenticated.updated_passkey.as_deref(),
                &context,
            )
            .await?
        {
            self.registry
                .passkey_failed(citizen_id, PasskeyFailure::UnknownCredential, &context)
                .await?;
            return self
                .factor_rejected(row, pending, FormProblem::PasskeyRejected)
                .await;
        }
        level::add_factor(&mut amr, SecondFactor::Passkey.amr());
        self.after_factor(row, pending, citizen, amr, now()).await
    }

    /// A wrong code or refused passkey: count it; after too many, the login ends with
    /// `access_denied`; else the page is shown again (with a new challenge).
    async fn factor_rejected(
        &self,
        row: PendingRow,
        mut pending: PendingRequest,
        problem: FormProblem,
    ) -> Result<FormOutcome, InternalError> {
        pending.code_failures += 1;
        if pending.code_failures >= MAX_CODE_FAILURES {
            self.store.delete_pending(&row.id).await?;
            let response = pending
                .request
                .error(
                    ErrorCode::AccessDenied,
                    "too many wrong one-time codes or refused passkeys",
                )
                .to_response(&self.settings.issuer);
            return Ok(FormOutcome::Next(
                Step::Denied {
                    reason: DenialReason::TooManyCodes,
                    response,
                    ui_locales: pending.request.ui_locales.clone(),
                },
                None,
            ));
        }
        self.store
            .update_pending_request(&row.id, &pending_json(&pending)?)
            .await?;
        match self.view_with_challenge(&row, pending).await? {
            Some(view) => Ok(FormOutcome::Retry(view, problem)),
            None => Ok(FormOutcome::Expired),
        }
    }

    /// After a factor: ask for the next one, refuse, or finish the login.
    async fn after_factor(
        &self,
        row: PendingRow,
        pending: PendingRequest,
        citizen: Citizen,
        amr: Vec<String>,
        auth_time: i64,
    ) -> Result<FormOutcome, InternalError> {
        let issuer = &self.settings.issuer;
        let denied = |reason, description: &str| Step::Denied {
            reason,
            response: pending
                .request
                .error(ErrorCode::AccessDenied, description.to_owned())
                .to_response(issuer),
            ui_locales: pending.request.ui_locales.clone(),
        };
        if citizen.ial < pending.level {
            self.store.delete_pending(&row.id).await?;
            return Ok(FormOutcome::Next(
                denied(
                    DenialReason::IdentityLevel,
                    "the citizen's identity is not proofed at the requested assurance level",
                ),
                None,
            ));
        }
        let aal = level::authenticator_level(&amr).unwrap_or(AssuranceLevel::Low);
        if aal < pending.level {
            let Some(factor) = self.second_factor_for(&citizen, pending.level).await? else {
                self.store.delete_pending(&row.id).await?;
                return Ok(FormOutcome::Next(
                    denied(
                        DenialReason::NoSecondFactor,
                        "the citizen has no second factor for the requested assurance level",
                    ),
                    None,
                ));
            };
            let mut pending = pending;
            pending.second_factor = Some(factor);
            let request = pending_json(&pending)?;
            self.store
                .update_pending_progress(&row.id, citizen.id, &amr, &request)
                .await?;
            let mut next_row = row;
            next_row.citizen_id = Some(citizen.id.to_string());
            let name = self.client_name(&pending.request.client_id).await?;
            let view = self.view(&next_row, &pending, name);
            return Ok(FormOutcome::Next(
                Step::Login {
                    pending_id: view.pending_id,
                    new_browser_binding: None,
                },
                None,
            ));
        }
        // Single use: of two submissions racing, only one finishes the login.
        if !self.store.delete_pending(&row.id).await? {
            return Ok(FormOutcome::Expired);
        }
        let at = now();
        let Some(client) = self.find_client(&pending.request.client_id).await? else {
            return Ok(FormOutcome::Expired);
        };
        let (session, new_session) = match &pending.step_up_sid {
            Some(sid) => {
                let Some(mut session) = self.store.find_session_by_sid(sid).await? else {
                    return Ok(FormOutcome::Expired);
                };
                // The session is now at a higher level, reached at `auth_time`.
                session.amr = amr;
                session.aal = aal;
                session.auth_time = auth_time;
                self.store
                    .update_session_reauthenticated(sid, &session.amr, aal, auth_time)
                    .await?;
                (session, None)
            }
            None => {
                let cookie_value = tokens::random_token()?;
                let session = SsoSession {
                    sid: tokens::random_token()?,
                    citizen_id: citizen.id,
                    auth_time,
                    amr,
                    aal,
                    last_seen_at: at,
                    absolute_expires_at: at + self.settings.session.absolute_seconds,
                    ended_at: None,
                };
                self.store
                    .insert_session(&tokens::sha256_hex(&cookie_value), &session, at)
                    .await?;
                let new = NewSession {
                    cookie_value,
                    max_age_seconds: self.settings.session.absolute_seconds,
                };
                (session, Some(new))
            }
        };
        let browser = Browser::Hash(row.browser_hash.clone());
        let step = self
            .finish_login(&pending.request, &client, &citizen, &session, browser, at)
            .await?;
        Ok(FormOutcome::Next(step, new_session))
    }

    /// The citizen cancelled: the client gets `access_denied` (docs/NEMLOGIN.md rule 4).
    pub async fn cancel(
        &self,
        pending_id: &str,
        browser_cookie: Option<&str>,
        csrf_token: &str,
    ) -> Result<Option<AuthorizationResponse>, InternalError> {
        let Some((row, pending)) = self
            .pending_for_form(pending_id, browser_cookie, csrf_token)
            .await?
        else {
            return Ok(None);
        };
        self.store.delete_pending(&row.id).await?;
        Ok(Some(
            pending
                .request
                .error(ErrorCode::AccessDenied, "the citizen cancelled the login")
                .to_response(&self.settings.issuer),
        ))
    }

    /// Issues a single-use code bound to the client, redirect URI, PKCE challenge and session.
    async fn issue_code(
        &self,
        request: &AuthorizationRequest,
        client: &Client,
        citizen: &Citizen,
        session: &SsoSession,
        choice: Choice,
        at: i64,
    ) -> Result<AuthorizationResponse, InternalError> {
        let code = tokens::random_token()?;
        let context = ReleaseContext {
            claims: ClaimsRequest::parse(request.claims.as_deref()),
            professional: match choice {
                Choice::Professional(pro_uuid) => Some(pro_uuid),
                _ => None,
            },
            power_of_attorney: match choice {
                Choice::Attorney(id) => Some(id),
                _ => None,
            },
        };
        let context = serde_json::to_string(&context)
            .map_err(|error| InternalError::Signing(error.to_string()))?;
        let reached = level::level_reached(citizen.ial, session.aal);
        self.store
            .insert_code(&NewCode {
                code_hash: &tokens::sha256_hex(&code),
                client_id: &client.id,
                redirect_uri: &request.redirect_uri,
                citizen_id: citizen.id,
                sid: &session.sid,
                scopes: &request.scopes,
                nonce: &request.nonce,
                code_challenge: request.code_challenge.as_str(),
                auth_time: session.auth_time,
                acr: level::acr_uri(reached),
                amr: &session.amr,
                created_at: at,
                expires_at: at + self.settings.code_lifetime_seconds,
            })
            .await?;
        // A fresh sid for this client; kept if the client already took part in the session.
        self.store
            .insert_session_client(
                &session.sid,
                &client.id,
                &tokens::random_token()?,
                session.absolute_expires_at,
                &context,
            )
            .await?;
        Ok(request.success(&code, &self.settings.issuer))
    }

    // ----- /token -----

    /// RFC 6749 3.2: authenticates the client and runs the grant.
    pub async fn token(
        &self,
        form: &[(String, String)],
        authorization: Option<&str>,
    ) -> Result<TokenResponse, TokenError> {
        let single = |name: &str| -> Result<Option<&str>, TokenError> {
            let mut values = form
                .iter()
                .filter(|(key, _)| key == name)
                .map(|(_, value)| value.as_str());
            let first = values.next();
            if values.next().is_some() {
                return Err(TokenError::InvalidRequest(format!(
                    "parameter {name} is repeated"
                )));
            }
            Ok(first)
        };
        let grant_type = single("grant_type")?
            .ok_or_else(|| TokenError::InvalidRequest("grant_type is missing".into()))?;
        let client = self.authenticate_client(form, authorization).await?;
        match grant_type {
            "authorization_code" => {
                let code = single("code")?
                    .ok_or_else(|| TokenError::InvalidRequest("code is missing".into()))?;
                let redirect_uri = single("redirect_uri")?
                    .ok_or_else(|| TokenError::InvalidRequest("redirect_uri is missing".into()))?;
                let verifier = single("code_verifier")?.ok_or_else(|| {
                    TokenError::InvalidRequest("code_verifier is missing (PKCE is required)".into())
                })?;
                self.exchange_code(&client, code, redirect_uri, verifier)
                    .await
            }
            "client_credentials" => self.client_credentials(&client, single("scope")?),
            "refresh_token" => {
                let token = single("refresh_token")?
                    .ok_or_else(|| TokenError::InvalidRequest("refresh_token is missing".into()))?;
                self.refresh(&client, token, single("scope")?).await
            }
            other => Err(TokenError::UnsupportedGrantType(format!(
                "grant_type {other} is not supported"
            ))),
        }
    }

    pub(crate) async fn authenticate_client(
        &self,
        form: &[(String, String)],
        authorization: Option<&str>,
    ) -> Result<Client, TokenError> {
        let credentials = ClientCredentials::parse(authorization, form).map_err(|error| {
            match error.error_code() {
                // RFC 6749 5.2: more than one authentication method is a malformed request.
                "invalid_request" => TokenError::InvalidRequest(error.to_string()),
                _ => TokenError::InvalidClient(error.to_string()),
            }
        })?;
        let client = self
            .clients
            .find(&self.store, credentials.client_id())
            .await?;
        let at = now();
        let token_endpoint = self.settings.token_endpoint();
        let audiences = [self.settings.issuer.as_str(), token_endpoint.as_str()];
        let authenticated =
            client_auth::authenticate(&credentials, client.as_deref(), &audiences, at)
                .map_err(|error| TokenError::InvalidClient(error.to_string()))?;
        let Some(client) = client else {
            return Err(TokenError::InvalidClient("unknown client".into()));
        };
        if let Some(assertion) = authenticated.assertion {
            // RFC 7523 3: a jti may be used once.
            let key = format!("{}|{}", client.id, assertion.jti);
            if !self
                .store
                .insert_used_assertion(
                    &key,
                    assertion
                        .exp
                        .saturating_add(client_auth::CLOCK_SKEW_SECONDS),
                )
                .await?
            {
                return Err(TokenError::InvalidClient(
                    "the client assertion was used before".into(),
                ));
            }
        }
        Ok(Client::clone(&client))
    }

    /// A registered client, from the cache: a change reaches every node within about a second
    /// (see [`ClientCache`]), the same for authorization as for client authentication.
    pub(crate) async fn find_client(&self, id: &str) -> Result<Option<Arc<Client>>, StoreError> {
        self.clients.find(&self.store, id).await
    }

    /// Drops the client cache if a client changed anywhere; every node calls this each second.
    pub async fn refresh_client_cache(&self) -> Result<bool, InternalError> {
        Ok(self.clients.refresh(&self.store).await?)
    }

    async fn exchange_code(
        &self,
        client: &Client,
        code: &str,
        redirect_uri: &str,
        verifier: &str,
    ) -> Result<TokenResponse, TokenError> {
        let code_hash = tokens::sha256_hex(code);
        let Some(row) = self.store.find_code(&code_hash).await? else {
            return Err(TokenError::InvalidGrant(
                "the code is unknown or expired".into(),
            ));
        };
        let at = now();
        // RFC 6749 4.1.3: the code is bound to the client and redirect URI; RFC 7636 4.6: PKCE.
        // These come first: a client that is not the code's own learns only invalid_grant, and
        // neither consumes the code nor revokes what was issued from it.
        if row.client_id != client.id {
            return Err(TokenError::InvalidGrant(
                "the code was issued to another client".into(),
            ));
        }
        if row.redirect_uri != redirect_uri {
            return Err(TokenError::InvalidGrant(
                "redirect_uri does not match the authorization request".into(),
            ));
        }
        let challenge =
            crate::pkce::CodeChallenge::parse(&row.code_challenge, Some(crate::pkce::S256))
                .map_err(|_| StoreError::Corrupt("code challenge".into()))?;
        if !challenge.verify(verifier) {
            return Err(TokenError::InvalidGrant(
                "code_verifier does not match the code_challenge".into(),
            ));
        }
        if row.redeemed_at.is_some() {
            self.revoke_grant(&row).await?;
            return Err(TokenError::InvalidGrant(
                "the code was already used; tokens issued from it are revoked".into(),
            ));
        }
        if at >= row.expires_at {
            return Err(TokenError::InvalidGrant("the code has expired".into()));
        }
        let session = self.store.find_session_by_sid(&row.sid).await?;
        if session.is_none_or(|session| session.ended_at.is_some()) {
            return Err(TokenError::InvalidGrant(
                "the login session has ended".into(),
            ));
        }
        let citizen_id = Uuid::parse_str(&row.citizen_id)
            .map_err(|_| StoreError::Corrupt("code citizen".into()))?;
        let Some(citizen) = self.active_citizen(citizen_id).await? else {
            return Err(TokenError::InvalidGrant(
                "the citizen can no longer log in".into(),
            ));
        };
        let Some(client_sid) = self.store.find_client_sid(&row.sid, &client.id).await? else {
            return Err(TokenError::InvalidGrant(
                "the login session has ended".into(),
            ));
        };
        let scopes: Vec<String> = serde_json::from_str(&row.scopes)
            .map_err(|_| StoreError::Corrupt("code scopes".into()))?;
        let amr: Vec<String> =
            serde_json::from_str(&row.amr).map_err(|_| StoreError::Corrupt("code amr".into()))?;
        let jti = tokens::random_token().map_err(InternalError::from)?;
        let sub = self.subject(client, citizen.id);
        let grant = Grant {
            client_id: client.id.clone(),
            citizen_id: citizen.id,
            sid: row.sid.clone(),
            client_sid: client_sid.clone(),
            scopes: scopes.clone(),
            acr: row.acr.clone(),
            amr: amr.clone(),
            auth_time: row.auth_time,
        };
        let access_token = self.mint_access_token(
            &grant,
            &sub,
            jti.clone(),
            at,
            self.settings.access_token_lifetime_seconds,
        )?;
        let refresh = self.prepare_refresh_token(client, &grant, &jti, at).await?;
        // The release is audited before the code is spent: if the audit cannot be written the
        // code stays unused and the client may retry. Only a concurrent redemption of the same
        // code, refused below, leaves an audited release that was not delivered.
        let mut released = self
            .release_claims(
                client,
                &citizen,
                &scopes,
                &row.sid,
                &sub,
                ReleaseTarget::IdToken,
                at,
            )
            .await?;
        released.extend(level_claims(&citizen, Some(&row.acr), &amr));
        let id_claims = IdTokenClaims {
            iss: self.settings.issuer.clone(),
            sub,
            aud: client.id.clone(),
            exp: at + self.settings.id_token_lifetime_seconds,
            iat: at,
            auth_time: row.auth_time,
            nonce: row.nonce.clone(),
            acr: row.acr.clone(),
            amr,
            azp: client.id.clone(),
            at_hash: tokens::at_hash(client.id_token_alg, &access_token),
            sid: client_sid,
            claims: released,
        };
        let id_token = self.sign(client.id_token_alg, Some("JWT"), &id_claims)?;
        // Spending the code and storing the refresh token are one transaction: a client that
        // got an error (503 while the database is unavailable) can retry with the same code.
        if !self
            .store
            .redeem_code(&code_hash, &jti, at, refresh.as_ref().map(|(_, row)| row))
            .await?
        {
            // Another request redeemed it between our read and write: treat as reuse.
            if let Some(row) = self.store.find_code(&code_hash).await? {
                self.revoke_grant(&row).await?;
            }
            return Err(TokenError::InvalidGrant(
                "the code was already used; tokens issued from it are revoked".into(),
            ));
        }
        let refresh_token = refresh.map(|(token, _)| token);
        Ok(TokenResponse {
            access_token,
            token_type: "Bearer",
            expires_in: self.settings.access_token_lifetime_seconds,
            id_token: Some(id_token),
            refresh_token,
            scope: scopes.join(" "),
        })
    }

    /// RFC 9068: an access token for a citizen's grant, signed ES256.
    pub(crate) fn mint_access_token(
        &self,
        grant: &Grant,
        sub: &str,
        jti: String,
        at: i64,
        lifetime: i64,
    ) -> Result<String, InternalError> {
        let claims = AccessTokenClaims {
            iss: self.settings.issuer.clone(),
            sub: sub.to_owned(),
            aud: self.settings.issuer.clone(),
            exp: at + lifetime,
            iat: at,
            jti,
            client_id: grant.client_id.clone(),
            scope: grant.scopes.join(" "),
            auth_time: Some(grant.auth_time),
            acr: Some(grant.acr.clone()),
            amr: Some(grant.amr.clone()),
            sid: Some(grant.client_sid.clone()),
        };
        self.sign(SigningAlg::ES256, Some("at+jwt"), &claims)
    }

    /// RFC 6749 4.1.2 and 10.5, RFC 9700 4.5: a reused code revokes the whole grant: the
    /// access token issued from it, and the refresh token family issued with it together with
    /// every access token its refreshes issued.
    async fn revoke_grant(&self, row: &crate::store::CodeRow) -> Result<(), InternalError> {
        if let Some(jti) = &row.access_jti {
            let expires =
                row.redeemed_at.unwrap_or_else(now) + self.settings.access_token_lifetime_seconds;
            self.store.insert_revoked_token(jti, expires).await?;
            if let Some(refresh) = self
                .store
                .find_refresh_token_of_code(&row.sid, &row.client_id, jti)
                .await?
            {
                self.revoke_family(&refresh, now(), crate::refresh::Revocation::CodeReuse)
                    .await?;
            }
        }
        tracing::warn!(client_id = %row.client_id, "authorization code reused; its tokens were revoked");
        Ok(())
    }

    /// RFC 6749 4.4: a confidential client's own token. `openid` makes no sense without a citizen.
    fn client_credentials(
        &self,
        client: &Client,
        scope: Option<&str>,
    ) -> Result<TokenResponse, TokenError> {
        if client.auth_method == ClientAuthMethod::None {
            return Err(TokenError::UnauthorizedClient(
                "public clients cannot use client_credentials".into(),
            ));
        }
        let mut granted: Vec<String> = Vec::new();
        for requested in scope
            .unwrap_or_default()
            .split(' ')
            .filter(|scope| !scope.is_empty())
        {
            if requested == "openid" || !client.scopes.iter().any(|allowed| allowed == requested) {
                return Err(TokenError::InvalidScope(format!(
                    "scope {requested} is not allowed for this client"
                )));
            }
            if !granted.iter().any(|scope| scope == requested) {
                granted.push(requested.to_owned());
            }
        }
        let at = now();
        let claims = AccessTokenClaims {
            iss: self.settings.issuer.clone(),
            sub: client.id.clone(),
            aud: self.settings.issuer.clone(),
            exp: at + self.settings.access_token_lifetime_seconds,
            iat: at,
            jti: tokens::random_token().map_err(InternalError::from)?,
            client_id: client.id.clone(),
            scope: granted.join(" "),
            auth_time: None,
            acr: None,
            amr: None,
            sid: None,
        };
        let access_token = self.sign(client.id_token_alg, Some("at+jwt"), &claims)?;
        Ok(TokenResponse {
            access_token,
            token_type: "Bearer",
            expires_in: self.settings.access_token_lifetime_seconds,
            id_token: None,
            refresh_token: None,
            scope: granted.join(" "),
        })
    }

    pub(crate) fn sign(
        &self,
        alg: SigningAlg,
        typ: Option<&str>,
        claims: &impl Serialize,
    ) -> Result<String, InternalError> {
        self.keys
            .sign(alg, typ, claims)
            .map_err(|error| InternalError::Signing(error.to_string()))
    }

    /// OIDC Core 8: the citizen's global `cpr_uuid` for a client registered for the public
    /// subject type, otherwise a pairwise subject for the client's sector: its registered
    /// sector identifier host, or the host of its first redirect URI (OIDC Core 8.1).
    pub(crate) fn subject(&self, client: &Client, citizen_id: Uuid) -> String {
        if client.subject_type == SubjectType::Public {
            return citizen_id.to_string();
        }
        let sector = client.sector_identifier.clone().unwrap_or_else(|| {
            client
                .redirect_uris
                .first()
                .and_then(|uri| url::Url::parse(uri).ok())
                .and_then(|uri| uri.host_str().map(str::to_owned))
                .unwrap_or_else(|| client.id.clone())
        });
        tokens::pairwise_subject(&self.pairwise_key, &sector, citizen_id)
    }

    /// docs/NEMLOGIN.md section 3: the identity claims of a grant for one target (ID token or
    /// userinfo), with the login's choices; every release is audited with the claim names.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn release_claims(
        &self,
        client: &Client,
        citizen: &Citizen,
        scopes: &[String],
        sid: &str,
        sub: &str,
        target: ReleaseTarget,
        at: i64,
    ) -> Result<serde_json::Map<String, serde_json::Value>, InternalError> {
        let context: ReleaseContext = match self.store.find_release_context(sid, &client.id).await?
        {
            Some(json) => serde_json::from_str(&json)
                .map_err(|_| StoreError::Corrupt("release context".into()))?,
            None => ReleaseContext::default(),
        };
        let professional = match context.professional {
            Some(pro_uuid) => self
                .registry
                .employments(citizen.id)
                .await?
                .into_iter()
                .find(|employment| employment.pro_uuid == pro_uuid)
                .map(|employment| ProfessionalIdentity {
                    pro_uuid: employment.pro_uuid.to_string(),
                    cvr: employment.organisation.cvr.as_str().to_owned(),
                    org_name: employment.organisation.name.as_str().to_owned(),
                    authorized_to_represent: if employment.authorized_to_represent {
                        vec![employment.organisation.cvr.as_str().to_owned()]
                    } else {
                        Vec::new()
                    },
                }),
            None => None,
        };
        let mut principal_audit = serde_json::Value::Null;
        let acting_for = match context.power_of_attorney {
            Some(id) => match self.registry.find_power_of_attorney(id).await? {
                // Checked again at every release: a revoked or expired one stops at once.
                Some(poa)
                    if poa.agent_id == citizen.id
                        && poa.is_usable(at)
                        && may_name_principal(client, &poa.principal) =>
                {
                    let principal_citizen = self.registry.principal_citizen(&poa.principal).await?;
                    principal_audit = serde_json::json!({
                        "poa_id": poa.id.to_string(),
                        "principal": poa.principal.label(),
                        "principal_citizen_id": principal_citizen.map(|id| id.to_string()),
                    });
                    Some(ActingFor {
                        principal_scope: poa.principal.scope_urn(),
                        privileges: poa
                            .privileges
                            .iter()
                            .map(|privilege| privilege.as_str().to_owned())
                            .collect(),
                    })
                }
                _ => None,
            },
            None => None,
        };
        let requested = match target {
            ReleaseTarget::IdToken => &context.claims.id_token,
            ReleaseTarget::Userinfo => &context.claims.userinfo,
        };
        let today = time::OffsetDateTime::from_unix_timestamp(at)
            .map_err(|error| InternalError::Signing(error.to_string()))?
            .date();
        let released = claims::release(&Release {
            citizen,
            client,
            scopes,
            requested,
            subject: sub,
            professional: professional.as_ref(),
            acting_for: acting_for.as_ref(),
            today,
        });
        let mut names: Vec<&str> = vec!["sub"];
        names.extend(released.keys().map(String::as_str));
        let event = AuditEvent::new(
            audit_kind::CLAIMS_RELEASED,
            Some(citizen.id),
            &format!("client:{}", client.id),
            at,
        )
        .with_client(&client.id)
        .with_detail(serde_json::json!({
            "to": target.as_str(),
            "claims": names,
            "acting_for": principal_audit,
        }));
        self.registry
            .store()
            .insert_audit_events(vec![event])
            .await
            .map_err(|error| InternalError::Registry(RegistryError::Storage(error)))?;
        Ok(released)
    }

    /// The grant behind a citizen's access token: the token verified, not revoked, its session
    /// live, its client and citizen still there. `Err` carries the `invalid_token` description.
    async fn bearer_grant(
        &self,
        access_token: &str,
    ) -> Result<Result<BearerGrant, &'static str>, InternalError> {
        let Ok(claims) = self.keys.verify_access_token::<AccessTokenClaims>(
            access_token,
            &self.settings.issuer,
            now(),
        ) else {
            return Ok(Err("the access token is invalid or expired"));
        };
        let Some(sid) = &claims.sid else {
            return Ok(Err("the access token was not issued for a citizen"));
        };
        if self.store.is_revoked(&claims.jti).await? {
            return Ok(Err("the access token was revoked"));
        }
        let session = self
            .store
            .find_session_by_client_sid(&claims.client_id, sid)
            .await?;
        let Some(session) = session.filter(|session| session.ended_at.is_none()) else {
            return Ok(Err("the login session has ended"));
        };
        let Some(client) = self.find_client(&claims.client_id).await? else {
            return Ok(Err("the client no longer exists"));
        };
        let Some(citizen) = self.active_citizen(session.citizen_id).await? else {
            return Ok(Err("the citizen can no longer log in"));
        };
        if self.subject(&client, citizen.id) != claims.sub {
            return Ok(Err("the access token does not match its session"));
        }
        Ok(Ok(BearerGrant {
            claims,
            session,
            client,
            citizen,
        }))
    }

    // ----- /cpr-match -----

    /// docs/NEMLOGIN.md section 3: does the CPR number the citizen typed at the client belong to
    /// the logged-in citizen? Three tries per login at a client, within the configured window
    /// after `auth_time`; every call is audited, never with the number.
    pub async fn cpr_match(&self, access_token: &str, cpr: &str) -> Result<bool, CprMatchError> {
        let BearerGrant {
            claims,
            session,
            client,
            citizen,
        } = match self.bearer_grant(access_token).await? {
            Ok(grant) => grant,
            Err(description) => return Err(CprMatchError::InvalidToken(description)),
        };
        let at = now();
        let audit = |outcome: &str| {
            AuditEvent::new(
                audit_kind::CPR_MATCH,
                Some(citizen.id),
                &format!("client:{}", client.id),
                at,
            )
            .with_client(&client.id)
            .with_detail(serde_json::json!({ "outcome": outcome }))
        };
        let record = |event: AuditEvent| async move {
            self.registry
                .store()
                .insert_audit_events(vec![event])
                .await
                .map_err(|error| InternalError::Registry(RegistryError::Storage(error)))
        };
        if cpr.trim().is_empty() {
            return Err(CprMatchError::InvalidRequest("the cpr field is missing"));
        }
        if at >= session.auth_time + self.settings.cpr_match_window_seconds {
            record(audit("refused_login_too_old")).await?;
            return Err(CprMatchError::Refused(
                "the CPR-match window after this login has passed".to_owned(),
            ));
        }
        if !self
            .store
            .update_cpr_match_try(&session.sid, &claims.client_id, CPR_MATCH_TRIES)
            .await?
        {
            record(audit("refused_tries_used")).await?;
            return Err(CprMatchError::Refused(format!(
                "the {CPR_MATCH_TRIES} CPR-match tries of this login are used up"
            )));
        }
        // A number that is not CPR-shaped simply does not match (and uses a try).
        let matches = NationalId::parse(cpr).is_ok_and(|typed| {
            bool::from(
                typed
                    .digits()
                    .as_bytes()
                    .ct_eq(citizen.cpr.digits().as_bytes()),
            )
        });
        record(audit(if matches { "match" } else { "no_match" })).await?;
        Ok(matches)
    }

    // ----- /userinfo -----

    /// OIDC Core 5.3: the claims of the token's scopes, with the same `sub` as the ID token.
    pub async fn userinfo(&self, access_token: &str) -> Result<serde_json::Value, UserinfoError> {
        let BearerGrant {
            claims,
            session,
            client,
            citizen,
        } = match self.bearer_grant(access_token).await? {
            Ok(grant) => grant,
            Err(description) => return Err(UserinfoError::InvalidToken(description)),
        };
        let scopes: Vec<String> = claims.scope.split(' ').map(str::to_owned).collect();
        let mut body = serde_json::Map::new();
        body.insert("sub".into(), claims.sub.clone().into());
        if let Some(acr) = &claims.acr {
            body.insert("acr".into(), acr.clone().into());
        }
        if let Some(amr) = &claims.amr {
            body.insert("amr".into(), amr.clone().into());
            body.extend(level_claims(&citizen, claims.acr.as_deref(), amr));
        }
        // docs/NEMLOGIN.md section 4: when the SSO session ends, if nothing else happens.
        body.insert(
            "session_expiry".into(),
            session.expires_at(&self.settings.session).into(),
        );
        let released = self
            .release_claims(
                &client,
                &citizen,
                &scopes,
                &session.sid,
                &claims.sub,
                ReleaseTarget::Userinfo,
                now(),
            )
            .await?;
        body.extend(released);
        Ok(serde_json::Value::Object(body))
    }
}
