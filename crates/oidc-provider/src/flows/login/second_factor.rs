//! The second factor of a login or a step-up: a one-time code (RFC 6238) or a passkey
//! (WebAuthn), counted apart from passwords, then the level reached decides what follows.

use crate::authorize::ErrorCode;
use crate::context::Context;
use crate::error::InternalError;
use crate::flows;
use crate::flows::client;
use crate::flows::login;
use crate::flows::login::{
    Browser, DenialReason, FormOutcome, FormProblem, NewSession, Step, MAX_CODE_FAILURES,
};
use crate::level::{self, SecondFactor};
use crate::passkey::PasskeyError;
use crate::session::SsoSession;
use crate::store::{LoginState, PendingLogin};
use crate::tokens;
use citizen_registry::{AssuranceLevel, Citizen, LoginContext, PasskeyFailure, TotpOutcome};

/// The one-time code form (the second factor, or a step-up).
pub async fn submit_code(
    ctx: &Context,
    pending_id: &str,
    browser_cookie: Option<&str>,
    csrf_token: &str,
    code: &str,
    ip: Option<String>,
) -> Result<FormOutcome, InternalError> {
    let Some(pending) =
        login::pending_for_form(ctx, pending_id, browser_cookie, csrf_token).await?
    else {
        return Ok(FormOutcome::Expired);
    };
    // Only the one-time code stage takes a code (not the passkey stage, not a choice).
    let (citizen_id, mut amr) = match &pending.state {
        LoginState::SecondFactor {
            citizen_id,
            amr,
            factor: SecondFactor::OneTimeCode,
            ..
        } => (*citizen_id, amr.clone()),
        _ => return Ok(FormOutcome::Expired),
    };
    let context = LoginContext {
        ip,
        client_id: Some(pending.request.client_id.clone()),
    };
    let Some(citizen) = flows::active_citizen(ctx, citizen_id).await? else {
        return Ok(FormOutcome::Expired);
    };
    match ctx.registry.verify_totp(citizen_id, code, &context).await? {
        TotpOutcome::Accepted => {
            level::add_factor(&mut amr, SecondFactor::OneTimeCode.amr());
            // auth_time: when the factor that completes the level was verified.
            after_factor(ctx, pending, citizen, amr, ctx.clock.now()).await
        }
        TotpOutcome::Rejected => factor_rejected(ctx, pending, FormProblem::WrongCode).await,
    }
}

/// The passkey form: the browser's answer to the challenge stored with the request.
pub async fn submit_passkey(
    ctx: &Context,
    pending_id: &str,
    browser_cookie: Option<&str>,
    csrf_token: &str,
    credential_json: &str,
    ip: Option<String>,
) -> Result<FormOutcome, InternalError> {
    let Some(mut pending) =
        login::pending_for_form(ctx, pending_id, browser_cookie, csrf_token).await?
    else {
        return Ok(FormOutcome::Expired);
    };
    // Only the passkey stage takes a passkey. A challenge is answered once: it is cleared
    // whatever the outcome (the state is written back when the answer is refused).
    let (citizen_id, mut amr, challenge) = match &mut pending.state {
        LoginState::SecondFactor {
            citizen_id,
            amr,
            factor: SecondFactor::Passkey,
            passkey_challenge,
            ..
        } => (*citizen_id, amr.clone(), passkey_challenge.take()),
        _ => return Ok(FormOutcome::Expired),
    };
    let context = LoginContext {
        ip,
        client_id: Some(pending.request.client_id.clone()),
    };
    let Some(citizen) = flows::active_citizen(ctx, citizen_id).await? else {
        return Ok(FormOutcome::Expired);
    };
    let Some(challenge) = challenge else {
        return factor_rejected(ctx, pending, FormProblem::PasskeyRejected).await;
    };
    let stored = ctx.registry.passkeys(citizen_id).await?;
    let verified = ctx
        .passkeys
        .finish_authentication(credential_json, &challenge, &stored);
    let authenticated = match verified {
        Ok(authenticated) => authenticated,
        Err(error @ PasskeyError::State(_)) => return Err(InternalError::Passkey(error)),
        Err(error) => {
            let failure = match error {
                PasskeyError::Rejected("unknown_credential") => PasskeyFailure::UnknownCredential,
                _ => PasskeyFailure::Rejected,
            };
            tracing::info!(reason = %error, "passkey login refused");
            ctx.registry
                .passkey_failed(citizen_id, failure, &context)
                .await?;
            return factor_rejected(ctx, pending, FormProblem::PasskeyRejected).await;
        }
    };
    if !ctx
        .registry
        .passkey_used(
            citizen_id,
            &authenticated.credential_id,
            authenticated.updated_passkey.as_deref(),
            &context,
        )
        .await?
    {
        ctx.registry
            .passkey_failed(citizen_id, PasskeyFailure::UnknownCredential, &context)
            .await?;
        return factor_rejected(ctx, pending, FormProblem::PasskeyRejected).await;
    }
    level::add_factor(&mut amr, SecondFactor::Passkey.amr());
    after_factor(ctx, pending, citizen, amr, ctx.clock.now()).await
}

/// A wrong code or refused passkey: count it; after too many, the login ends with
/// `access_denied`; else the page is shown again (with a new challenge).
pub(crate) async fn factor_rejected(
    ctx: &Context,
    mut pending: PendingLogin,
    problem: FormProblem,
) -> Result<FormOutcome, InternalError> {
    let LoginState::SecondFactor {
        code_failures,
        passkey_challenge,
        ..
    } = &mut pending.state
    else {
        return Ok(FormOutcome::Expired);
    };
    *code_failures += 1;
    *passkey_challenge = None;
    if *code_failures >= MAX_CODE_FAILURES {
        ctx.store.delete_pending(&pending.id).await?;
        let response = pending
            .request
            .error(
                ErrorCode::AccessDenied,
                "too many wrong one-time codes or refused passkeys",
            )
            .to_response(&ctx.settings.issuer);
        return Ok(FormOutcome::Next(
            Step::Denied {
                reason: DenialReason::TooManyCodes,
                response,
                ui_locales: pending.request.ui_locales.clone(),
            },
            None,
        ));
    }
    ctx.store
        .update_pending_state(&pending.id, &pending.state)
        .await?;
    match login::view_with_challenge(ctx, pending).await? {
        Some(view) => Ok(FormOutcome::Retry(view, problem)),
        None => Ok(FormOutcome::Expired),
    }
}

/// After a factor: ask for the next one, refuse, or finish the login.
pub(crate) async fn after_factor(
    ctx: &Context,
    pending: PendingLogin,
    citizen: Citizen,
    amr: Vec<String>,
    auth_time: i64,
) -> Result<FormOutcome, InternalError> {
    let issuer = &ctx.settings.issuer;
    let denied = |reason, description: &str| Step::Denied {
        reason,
        response: pending
            .request
            .error(ErrorCode::AccessDenied, description.to_owned())
            .to_response(issuer),
        ui_locales: pending.request.ui_locales.clone(),
    };
    if citizen.ial < pending.level {
        ctx.store.delete_pending(&pending.id).await?;
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
        let Some(factor) = login::second_factor_for(ctx, &citizen, pending.level).await? else {
            ctx.store.delete_pending(&pending.id).await?;
            return Ok(FormOutcome::Next(
                denied(
                    DenialReason::NoSecondFactor,
                    "the citizen has no second factor for the requested assurance level",
                ),
                None,
            ));
        };
        // The next factor; a step-up stays a step-up, and wrong codes keep counting.
        let (step_up_sid, code_failures) = match &pending.state {
            LoginState::SecondFactor {
                step_up_sid,
                code_failures,
                ..
            } => (step_up_sid.clone(), *code_failures),
            LoginState::Password | LoginState::Choice { .. } => (None, 0),
        };
        let state = LoginState::SecondFactor {
            citizen_id: citizen.id,
            amr,
            factor,
            step_up_sid,
            code_failures,
            passkey_challenge: None,
        };
        ctx.store.update_pending_state(&pending.id, &state).await?;
        return Ok(FormOutcome::Next(
            Step::Login {
                pending_id: pending.id,
                new_browser_binding: None,
            },
            None,
        ));
    }
    // Single use: of two submissions racing, only one finishes the login.
    if !ctx.store.delete_pending(&pending.id).await? {
        return Ok(FormOutcome::Expired);
    }
    let at = ctx.clock.now();
    let Some(client) = client::find_client(ctx, &pending.request.client_id).await? else {
        return Ok(FormOutcome::Expired);
    };
    let step_up_sid = match &pending.state {
        LoginState::SecondFactor { step_up_sid, .. } => step_up_sid.as_deref(),
        LoginState::Password | LoginState::Choice { .. } => None,
    };
    let (session, new_session) = match step_up_sid {
        Some(sid) => {
            let Some(mut session) = ctx.store.find_session_by_sid(sid).await? else {
                return Ok(FormOutcome::Expired);
            };
            // The session is now at a higher level, reached at `auth_time`.
            session.amr = amr;
            session.aal = aal;
            session.auth_time = auth_time;
            ctx.store
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
                absolute_expires_at: at + ctx.settings.session.absolute_seconds,
                ended_at: None,
            };
            ctx.store
                .insert_session(&tokens::sha256_hex(&cookie_value), &session, at)
                .await?;
            let new = NewSession {
                cookie_value,
                max_age_seconds: ctx.settings.session.absolute_seconds,
            };
            (session, Some(new))
        }
    };
    let browser = Browser::Hash(pending.browser_hash.clone());
    let step = login::finish_login(
        ctx,
        &pending.request,
        &client,
        &citizen,
        &session,
        browser,
        at,
    )
    .await?;
    Ok(FormOutcome::Next(step, new_session))
}
