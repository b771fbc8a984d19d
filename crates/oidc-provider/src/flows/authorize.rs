//! `/authorize` (OIDC Core 3.1.2): validates the request against the client, then answers from
//! the SSO session (`prompt=none`, a session at the level asked for) or starts a pending login.

use crate::authorize::{self, AuthorizeError, ErrorCode, PageError, Prompt};
use crate::claims;
use crate::context::Context;
use crate::error::InternalError;
use crate::flows;
use crate::flows::client;
use crate::flows::login;
use crate::flows::login::{Browser, DenialReason, Step};
use crate::flows::signing;
use crate::level;
use crate::session::{self, Next, Requirements};
use crate::store::{LoginState, PendingLogin};
use crate::tokens;
use serde::Deserialize;

/// The claims of an `id_token_hint` at `/authorize` that matter (signature, `iss` and `aud`
/// are checked when it is verified; `exp` is not: a hint may be expired).
#[derive(Deserialize)]
pub(crate) struct HintClaims {
    pub(crate) sub: String,
}

/// OIDC Core 3.1.2: validates the request and decides what the browser sees next.
pub async fn authorize(
    ctx: &Context,
    params: &[(String, String)],
    session_cookie: Option<&str>,
    browser_cookie: Option<&str>,
) -> Result<Step, InternalError> {
    let raw = match authorize::parse(params) {
        Ok(raw) => raw,
        Err(page) => return Ok(Step::ErrorPage(page)),
    };
    let client = client::find_client(ctx, raw.client_id()).await?;
    let request = match authorize::validate(&raw, client.as_deref()) {
        Ok(request) => request,
        Err(AuthorizeError::ShowPage(page)) => return Ok(Step::ErrorPage(page)),
        Err(AuthorizeError::Redirect(error)) => {
            return Ok(Step::Respond(error.to_response(&ctx.settings.issuer)))
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
        return Ok(Step::Respond(error.to_response(&ctx.settings.issuer)));
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
            return Ok(Step::Respond(error.to_response(&ctx.settings.issuer)));
        }
    };
    // OIDC Core 3.1.2.1: the hint is an ID token we issued to this client (an expired one
    // will do); one that does not verify is refused.
    let hinted_sub = match &request.id_token_hint {
        Some(token) => match ctx.keys.verify::<HintClaims>(
            token,
            "JWT",
            &ctx.settings.issuer,
            Some(&client.id),
            None,
        ) {
            Ok(hint) => Some(hint.sub),
            Err(_) => {
                let error = request.error(
                    ErrorCode::InvalidRequest,
                    "could not validate id_token_hint",
                );
                return Ok(Step::Respond(error.to_response(&ctx.settings.issuer)));
            }
        },
        None => None,
    };
    let at = ctx.clock.now();
    let session = match session_cookie {
        Some(cookie) => ctx.store.find_session(&tokens::sha256_hex(cookie)).await?,
        None => None,
    };
    let live = session.filter(|session| session.is_live(&ctx.settings.session, at));
    let citizen = match &live {
        Some(session) => flows::active_citizen(ctx, session.citizen_id).await?,
        None => None,
    };
    // A session whose citizen was suspended since counts as no session.
    let live = live.filter(|_| citizen.is_some());
    // A hint naming someone else than the session's citizen (compared as this client's
    // pairwise subject): never a code for the session's citizen. With prompt=none that is
    // login_required; otherwise the citizen logs in again.
    let hint_mismatch = match (&hinted_sub, &citizen) {
        (Some(sub), Some(citizen)) => *sub != signing::subject(ctx, &client, citizen.id),
        _ => false,
    };
    if hint_mismatch && request.prompt == Prompt::None {
        let error = request.error(
            ErrorCode::LoginRequired,
            "the citizen named by id_token_hint is not logged in",
        );
        return Ok(Step::Respond(error.to_response(&ctx.settings.issuer)));
    }
    let requirements = Requirements {
        prompt_none: request.prompt == Prompt::None,
        prompt_login: request.prompt == Prompt::Login || hint_mismatch,
        max_age: request.max_age,
        level,
    };
    let ial = citizen.as_ref().map(|citizen| citizen.ial);
    match session::next_step(&requirements, live.as_ref(), ial, &ctx.settings.session, at) {
        Next::Issue => {
            let (Some(session), Some(citizen)) = (live, citizen) else {
                return Ok(Step::ErrorPage(PageError::UnknownClient));
            };
            ctx.store.update_session_seen(&session.sid, at).await?;
            let browser = Browser::Cookie(browser_cookie);
            login::finish_login(ctx, &request, &client, &citizen, &session, browser, at).await
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
                    .to_response(&ctx.settings.issuer),
            ))
        }
        Next::Unreachable => {
            let response = request
                .error(
                    ErrorCode::AccessDenied,
                    "the citizen's identity is not proofed at the requested assurance level",
                )
                .to_response(&ctx.settings.issuer);
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
                (Some(citizen), true) => login::second_factor_for(ctx, citizen, level).await?,
                _ => None,
            };
            if step_up && step_up_factor.is_none() {
                let response = request
                    .error(
                        ErrorCode::AccessDenied,
                        "the citizen has no second factor for the requested assurance level",
                    )
                    .to_response(&ctx.settings.issuer);
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
            // A step-up starts past the password: the session's citizen and methods are
            // proven, and only the missing factor is asked for.
            let state = match (step_up_factor, &live) {
                (Some(factor), Some(session)) => LoginState::SecondFactor {
                    citizen_id: session.citizen_id,
                    amr: session.amr.clone(),
                    factor,
                    step_up_sid: Some(session.sid.clone()),
                    code_failures: 0,
                    passkey_challenge: None,
                },
                _ => LoginState::Password,
            };
            let pending_id = tokens::random_token()?;
            let pending = PendingLogin {
                id: pending_id.clone(),
                request,
                level,
                state,
                browser_hash: tokens::sha256_hex(&binding),
                csrf_token: tokens::random_token()?,
                created_at: at,
                expires_at: at + ctx.settings.login_lifetime_seconds,
            };
            ctx.store.insert_pending(&pending).await?;
            Ok(Step::Login {
                pending_id,
                new_browser_binding: new_binding,
            })
        }
    }
}
