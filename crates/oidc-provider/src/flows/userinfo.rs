//! Resources reached with an access token: `/userinfo` (OIDC Core 5.3) and the CPR match
//! (docs/NEMLOGIN.md section 3), after the token, its session and its citizen are checked.

use crate::client::Client;
use crate::context::Context;
use crate::error::InternalError;
use crate::flows::audit_kind;
use crate::flows::release::{level_claims, ReleaseTarget};
use crate::session::SsoSession;
use crate::store::StoreError;
use crate::tokens::AccessTokenClaims;
use citizen_registry::audit::AuditEvent;
use citizen_registry::{Citizen, NationalId, RegistryError};
use std::sync::Arc;
use subtle::ConstantTimeEq;

/// A citizen's access token, checked (see `Context::bearer_grant`).
pub(crate) struct BearerGrant {
    pub(crate) claims: AccessTokenClaims,
    pub(crate) session: SsoSession,
    pub(crate) client: Arc<Client>,
    pub(crate) citizen: Citizen,
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

/// The grant behind a citizen's access token: the token verified, not revoked, its session
/// live, its client and citizen still there. `Err` carries the `invalid_token` description.
pub(crate) async fn bearer_grant(
    ctx: &Context,
    access_token: &str,
) -> Result<Result<BearerGrant, &'static str>, InternalError> {
    let Ok(claims) = ctx.keys.verify_access_token::<AccessTokenClaims>(
        access_token,
        &ctx.settings.issuer,
        ctx.clock.now(),
    ) else {
        return Ok(Err("the access token is invalid or expired"));
    };
    let Some(sid) = &claims.sid else {
        return Ok(Err("the access token was not issued for a citizen"));
    };
    if ctx.store.is_revoked(&claims.jti).await? {
        return Ok(Err("the access token was revoked"));
    }
    let session = ctx
        .store
        .find_session_by_client_sid(&claims.client_id, sid)
        .await?;
    let Some(session) = session.filter(|session| session.ended_at.is_none()) else {
        return Ok(Err("the login session has ended"));
    };
    let Some(client) = crate::flows::client::find_client(ctx, &claims.client_id).await? else {
        return Ok(Err("the client no longer exists"));
    };
    let Some(citizen) = crate::flows::active_citizen(ctx, session.citizen_id).await? else {
        return Ok(Err("the citizen can no longer log in"));
    };
    if crate::flows::signing::subject(ctx, &client, citizen.id) != claims.sub {
        return Ok(Err("the access token does not match its session"));
    }
    Ok(Ok(BearerGrant {
        claims,
        session,
        client,
        citizen,
    }))
}

/// docs/NEMLOGIN.md section 3: does the CPR number the citizen typed at the client belong to
/// the logged-in citizen? Three tries per login at a client, within the configured window
/// after `auth_time`; every call is audited, never with the number.
pub async fn cpr_match(
    ctx: &Context,
    access_token: &str,
    cpr: &str,
) -> Result<bool, CprMatchError> {
    let BearerGrant {
        claims,
        session,
        client,
        citizen,
    } = match crate::flows::userinfo::bearer_grant(ctx, access_token).await? {
        Ok(grant) => grant,
        Err(description) => return Err(CprMatchError::InvalidToken(description)),
    };
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
            .store()
            .insert_audit_events(vec![event])
            .await
            .map_err(|error| InternalError::Registry(RegistryError::Storage(error)))
    };
    if cpr.trim().is_empty() {
        return Err(CprMatchError::InvalidRequest("the cpr field is missing"));
    }
    if at >= session.auth_time + ctx.settings.cpr_match_window_seconds {
        record(audit("refused_login_too_old")).await?;
        return Err(CprMatchError::Refused(
            "the CPR-match window after this login has passed".to_owned(),
        ));
    }
    if !ctx
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

/// OIDC Core 5.3: the claims of the token's scopes, with the same `sub` as the ID token.
pub async fn userinfo(
    ctx: &Context,
    access_token: &str,
) -> Result<serde_json::Value, UserinfoError> {
    let BearerGrant {
        claims,
        session,
        client,
        citizen,
    } = match crate::flows::userinfo::bearer_grant(ctx, access_token).await? {
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
        session.expires_at(&ctx.settings.session).into(),
    );
    let released = crate::flows::release::release_claims(
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
