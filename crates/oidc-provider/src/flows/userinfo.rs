//! Resources reached with an access token: `/userinfo` (OIDC Core 5.3) and the CPR match
//! (docs/NEMLOGIN.md section 3), after the token, its session and its citizen are checked.

use crate::client::Client;
use crate::context::Context;
use crate::error::InternalError;
use crate::flows;
use crate::flows::audit_kind;
use crate::flows::client;
use crate::flows::error::OAuthError;
use crate::flows::release;
use crate::flows::release::{level_claims, ReleaseTarget};
use crate::flows::signing;
use crate::grant::ClientSid;
use crate::session::SsoSession;
use crate::tokens::AccessTokenClaims;
use citizen_registry::audit::AuditEvent;
use citizen_registry::{Citizen, NationalId};
use std::sync::Arc;
use subtle::ConstantTimeEq;

/// A citizen's access token, checked (see `Context::bearer_grant`).
pub(crate) struct BearerGrant {
    pub(crate) claims: AccessTokenClaims,
    pub(crate) session: SsoSession,
    pub(crate) client: Arc<Client>,
    pub(crate) citizen: Citizen,
}

/// docs/NEMLOGIN.md section 3: three CPR-match tries per login at a client.
pub const CPR_MATCH_TRIES: i64 = 3;

/// The grant behind a citizen's access token: the token verified, not revoked, its session
/// live, its client and citizen still there; else `invalid_token` (RFC 6750 3.1).
pub(crate) async fn bearer_grant(
    ctx: &Context,
    access_token: &str,
) -> Result<BearerGrant, OAuthError> {
    let invalid = |description: &'static str| Err(OAuthError::InvalidToken(Some(description)));
    let Ok(claims) = ctx.keys.verify_access_token::<AccessTokenClaims>(
        access_token,
        &ctx.settings.issuer,
        ctx.clock.now(),
    ) else {
        return invalid("the access token is invalid or expired");
    };
    let Some(sid) = &claims.sid else {
        return invalid("the access token was not issued for a citizen");
    };
    if ctx.store.is_revoked(&claims.jti).await? {
        return invalid("the access token was revoked");
    }
    let session = ctx
        .store
        .find_session_by_client_sid(&claims.client_id, &ClientSid::new(sid.clone()))
        .await?;
    let Some(session) = session.filter(|session| session.ended_at.is_none()) else {
        return invalid("the login session has ended");
    };
    let Some(client) = client::find_client(ctx, &claims.client_id).await? else {
        return invalid("the client no longer exists");
    };
    let Some(citizen) = flows::active_citizen(ctx, session.citizen_id).await? else {
        return invalid("the citizen can no longer log in");
    };
    if signing::subject(ctx, &client, citizen.id) != claims.sub {
        return invalid("the access token does not match its session");
    }
    Ok(BearerGrant {
        claims,
        session,
        client,
        citizen,
    })
}

/// docs/NEMLOGIN.md section 3: does the CPR number the citizen typed at the client belong to
/// the logged-in citizen? Three tries per login at a client, within the configured window
/// after `auth_time`; every call is audited, never with the number.
pub async fn cpr_match(ctx: &Context, access_token: &str, cpr: &str) -> Result<bool, OAuthError> {
    let BearerGrant {
        claims,
        session,
        client,
        citizen,
    } = bearer_grant(ctx, access_token).await?;
    let at = ctx.clock.now();
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
        ctx.registry
            .record(vec![event])
            .await
            .map_err(InternalError::Registry)
    };
    if cpr.trim().is_empty() {
        return Err(OAuthError::invalid_request("the cpr field is missing"));
    }
    if at >= session.auth_time + ctx.settings.cpr_match_window_seconds {
        record(audit("refused_login_too_old")).await?;
        return Err(OAuthError::AccessDenied(
            "the CPR-match window after this login has passed".into(),
        ));
    }
    if !ctx
        .store
        .update_cpr_match_try(&session.sid, &claims.client_id, CPR_MATCH_TRIES)
        .await?
    {
        record(audit("refused_tries_used")).await?;
        return Err(OAuthError::AccessDenied(
            format!("the {CPR_MATCH_TRIES} CPR-match tries of this login are used up").into(),
        ));
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

/// OIDC Core 5.3: the claims of the token's scopes, with the same `sub` as the ID token.
pub async fn userinfo(ctx: &Context, access_token: &str) -> Result<serde_json::Value, OAuthError> {
    let BearerGrant {
        claims,
        session,
        client,
        citizen,
    } = bearer_grant(ctx, access_token).await?;
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
        session.expires_at(&ctx.settings.session).into(),
    );
    let released = release::release_claims(
        ctx,
        &client,
        &citizen,
        &scopes,
        &session.sid,
        &claims.sub,
        ReleaseTarget::Userinfo,
        ctx.clock.now(),
    )
    .await?;
    body.extend(released);
    Ok(serde_json::Value::Object(body))
}
