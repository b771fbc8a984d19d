//! The login: the pending request, its page, and its steps.

pub mod choice;
pub mod password;
pub mod second_factor;

use crate::authorize::{AuthorizationRequest, AuthorizationResponse, ErrorCode, PageError, Prompt};
use crate::claims::ClaimsRequest;
use crate::client::Client;
use crate::context::Context;
use crate::error::InternalError;
use crate::flows::client;
use crate::flows::login::choice::{Choice, ChoiceOption, Choices};
use crate::flows::release::ReleaseContext;
use crate::level::{self, SecondFactor};
use crate::passkey::PasskeyError;
use crate::session::SsoSession;
use crate::store::{LoginState, NewCode, PendingLogin};
use crate::tokens;
use citizen_registry::{AssuranceLevel, Citizen};
use subtle::ConstantTimeEq;

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

/// How the browser of a login is known: by the stored hash, or by its cookie (if any).
pub(crate) enum Browser<'a> {
    Hash(String),
    Cookie(Option<&'a str>),
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

pub(crate) const MAX_CODE_FAILURES: u32 = 5;

/// Which factor takes `citizen` to `level` after a password (None: none can).
pub(crate) async fn second_factor_for(
    ctx: &Context,
    citizen: &Citizen,
    level: AssuranceLevel,
) -> Result<Option<SecondFactor>, InternalError> {
    let has_passkey =
        ctx.passkeys.is_available() && !ctx.registry.passkeys(citizen.id).await?.is_empty();
    Ok(level::second_factor(level, citizen.has_totp, has_passkey))
}

/// Loads a pending login if it exists, has not expired and belongs to this browser.
pub(crate) async fn pending(
    ctx: &Context,
    pending_id: &str,
    browser_cookie: Option<&str>,
) -> Result<Option<PendingLogin>, InternalError> {
    let Some(browser) = browser_cookie else {
        return Ok(None);
    };
    let Some(pending) = ctx.store.find_pending(pending_id, ctx.clock.now()).await? else {
        return Ok(None);
    };
    let presented = tokens::sha256_hex(browser);
    if !bool::from(presented.as_bytes().ct_eq(pending.browser_hash.as_bytes())) {
        return Ok(None);
    }
    Ok(Some(pending))
}

pub(crate) fn view(_ctx: &Context, pending: &PendingLogin, client_name: String) -> LoginView {
    LoginView {
        pending_id: pending.id.clone(),
        csrf_token: pending.csrf_token.clone(),
        client_name,
        stage: match &pending.state {
            LoginState::Password => LoginStage::Password,
            LoginState::SecondFactor {
                factor: SecondFactor::OneTimeCode,
                ..
            } => LoginStage::OneTimeCode,
            LoginState::SecondFactor {
                factor: SecondFactor::Passkey,
                ..
            } => LoginStage::Passkey,
            LoginState::Choice { .. } => LoginStage::Choose,
        },
        choices: Vec::new(),
        level: pending.level,
        ui_locales: pending.request.ui_locales.clone(),
        login_hint: pending.request.login_hint.clone(),
        passkey_options: None,
    }
}

/// The page for a pending login; the passkey stage gets a new challenge, stored in the
/// login's state so that any node can check the answer.
pub(crate) async fn view_with_challenge(
    ctx: &Context,
    mut pending: PendingLogin,
) -> Result<Option<LoginView>, InternalError> {
    let name = client_name(ctx, &pending.request.client_id).await?;
    let mut view = view(ctx, &pending, name);
    let LoginState::SecondFactor {
        citizen_id,
        factor: SecondFactor::Passkey,
        passkey_challenge,
        ..
    } = &mut pending.state
    else {
        return Ok(Some(view));
    };
    let stored = ctx.registry.passkeys(*citizen_id).await?;
    let started = match ctx.passkeys.start_authentication(&stored) {
        Ok(started) => started,
        // No usable passkey (or passkeys off): this login cannot go on; the page says the
        // login expired and the citizen starts again, never a 500.
        Err(PasskeyError::NoPasskeys | PasskeyError::Unavailable) => return Ok(None),
        Err(error) => return Err(InternalError::Passkey(error)),
    };
    *passkey_challenge = Some(started.state);
    ctx.store
        .update_pending_state(&pending.id, &pending.state)
        .await?;
    view.passkey_options = Some(started.options_json);
    Ok(Some(view))
}

pub(crate) async fn client_name(ctx: &Context, client_id: &str) -> Result<String, InternalError> {
    Ok(client::find_client(ctx, client_id)
        .await?
        .map_or_else(|| client_id.to_owned(), |client| client.name.clone()))
}

/// The login page for a pending request (None: expired or not this browser's).
pub async fn login_view(
    ctx: &Context,
    pending_id: &str,
    browser_cookie: Option<&str>,
) -> Result<Option<LoginView>, InternalError> {
    let Some(pending) = pending(ctx, pending_id, browser_cookie).await? else {
        return Ok(None);
    };
    let LoginState::Choice { sid } = &pending.state else {
        // The password and second-factor stages (a passkey stage gets a new challenge).
        return view_with_challenge(ctx, pending).await;
    };
    let Some(state) = choice::choice_state(ctx, &pending.request, sid).await? else {
        return Ok(None);
    };
    let name = client_name(ctx, &pending.request.client_id).await?;
    let mut view = view(ctx, &pending, name);
    view.choices = state
        .options
        .into_iter()
        .map(|(choice, label)| ChoiceOption {
            value: choice.value(),
            label,
        })
        .collect();
    Ok(Some(view))
}

/// After authentication: the choice page if there is a choice, otherwise the code.
pub(crate) async fn finish_login(
    ctx: &Context,
    request: &AuthorizationRequest,
    client: &Client,
    citizen: &Citizen,
    session: &SsoSession,
    browser: Browser<'_>,
    at: i64,
) -> Result<Step, InternalError> {
    match choice::choices(ctx, request, client, citizen, at).await? {
        Choices::Decided(choice) => Ok(Step::Respond(
            issue_code(ctx, request, client, citizen, session, choice, at).await?,
        )),
        Choices::Denied(description) => Ok(Step::Respond(
            request
                .error(ErrorCode::AccessDenied, description)
                .to_response(&ctx.settings.issuer),
        )),
        // OIDC Core 3.1.2.1: prompt=none shows no page, and a choice is a page.
        Choices::Ask(_) if request.prompt == Prompt::None => Ok(Step::Respond(
            request
                .error(
                    ErrorCode::InteractionRequired,
                    "the citizen must choose who to log in as",
                )
                .to_response(&ctx.settings.issuer),
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
            let pending_id = tokens::random_token()?;
            let pending = PendingLogin {
                id: pending_id.clone(),
                request: request.clone(),
                level: session.aal,
                state: LoginState::Choice {
                    sid: session.sid.clone(),
                },
                browser_hash,
                csrf_token: tokens::random_token()?,
                created_at: at,
                expires_at: at + ctx.settings.login_lifetime_seconds,
            };
            ctx.store.insert_pending(&pending).await?;
            Ok(Step::Login {
                pending_id,
                new_browser_binding,
            })
        }
    }
}

/// Checks the CSRF token (constant time) and loads the pending login.
pub(crate) async fn pending_for_form(
    ctx: &Context,
    pending_id: &str,
    browser_cookie: Option<&str>,
    csrf_token: &str,
) -> Result<Option<PendingLogin>, InternalError> {
    let Some(pending) = pending(ctx, pending_id, browser_cookie).await? else {
        return Ok(None);
    };
    if !bool::from(csrf_token.as_bytes().ct_eq(pending.csrf_token.as_bytes())) {
        return Ok(None);
    }
    Ok(Some(pending))
}

/// The citizen cancelled, at any stage: the client gets `access_denied` (docs/NEMLOGIN.md
/// rule 4).
pub async fn cancel(
    ctx: &Context,
    pending_id: &str,
    browser_cookie: Option<&str>,
    csrf_token: &str,
) -> Result<Option<AuthorizationResponse>, InternalError> {
    let Some(pending) = pending_for_form(ctx, pending_id, browser_cookie, csrf_token).await? else {
        return Ok(None);
    };
    ctx.store.delete_pending(&pending.id).await?;
    Ok(Some(
        pending
            .request
            .error(ErrorCode::AccessDenied, "the citizen cancelled the login")
            .to_response(&ctx.settings.issuer),
    ))
}

/// Issues a single-use code bound to the client, redirect URI, PKCE challenge and session.
pub(crate) async fn issue_code(
    ctx: &Context,
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
    let reached = level::level_reached(citizen.ial, session.aal);
    ctx.store
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
            expires_at: at + ctx.settings.code_lifetime_seconds,
        })
        .await?;
    // A fresh sid for this client; kept if the client already took part in the session.
    ctx.store
        .insert_session_client(
            &session.sid,
            &client.id,
            &crate::grant::ClientSid::random()?,
            session.absolute_expires_at,
            &context,
        )
        .await?;
    Ok(request.success(&code, &ctx.settings.issuer))
}
