//! Refresh tokens (RFC 6749 6, RFC 9700 4.14: rotation with reuse detection), revocation
//! of a whole family when a used token comes back.

use crate::client::Client;
use crate::context::Context;
use crate::error::InternalError;
use crate::flows;
use crate::flows::error::OAuthError;
use crate::flows::signing;
use crate::flows::token::TokenResponse;
use crate::flows::Grant;
use crate::store::RefreshToken;
use crate::tokens;
use citizen_registry::audit::AuditEvent;

/// Why a refresh token family is revoked (the audit event kind and actor follow from it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Revocation {
    /// A used refresh token was presented again: suspected theft.
    RefreshReuse,
    /// The authorization code of the grant was replayed.
    CodeReuse,
    /// The client revoked it (RFC 7009).
    Client,
}

/// A refresh token for a new grant, if the client is registered for them or the citizen
/// granted `offline_access`. Without `offline_access` it ends with the SSO session. Only
/// prepared: the caller stores the row in the transaction that redeems the code.
pub(crate) async fn prepare_refresh_token(
    ctx: &Context,
    client: &Client,
    grant: &Grant,
    access_jti: &str,
    at: i64,
) -> Result<Option<(String, RefreshToken)>, InternalError> {
    let offline = grant.scopes.iter().any(|scope| scope == "offline_access");
    if !client.refresh_tokens && !offline {
        return Ok(None);
    }
    let expires_at = if offline {
        at + ctx.settings.offline_refresh_lifetime_seconds
    } else {
        match ctx.store.find_session_by_sid(&grant.sid).await? {
            Some(session) => session.absolute_expires_at,
            None => return Ok(None),
        }
    };
    let token = tokens::random_token()?;
    let row = RefreshToken {
        token_hash: tokens::sha256_hex(&token),
        family_id: tokens::random_token()?,
        client_id: client.id.clone(),
        citizen_id: grant.citizen_id,
        sid: grant.sid.clone(),
        client_sid: grant.client_sid.clone(),
        scopes: grant.scopes.clone(),
        acr: grant.acr.clone(),
        amr: grant.amr.clone(),
        auth_time: grant.auth_time,
        offline,
        access_jti: Some(access_jti.to_owned()),
        created_at: at,
        expires_at,
        used_at: None,
        revoked_at: None,
    };
    Ok(Some((token, row)))
}

/// The `refresh_token` grant. Each use rotates the token; presenting a used one revokes
/// the family (a stolen token was used by someone) and is audited as suspected theft. The
/// new tokens never get more scope, a higher level, or a longer life than the grant.
pub(crate) async fn refresh(
    ctx: &Context,
    client: &Client,
    token: &str,
    scope: Option<&str>,
) -> Result<TokenResponse, OAuthError> {
    let token_hash = tokens::sha256_hex(token);
    let at = ctx.clock.now();
    let Some(row) = ctx.store.find_refresh_token(&token_hash).await? else {
        return Err(OAuthError::InvalidGrant(
            "the refresh token is unknown or expired".into(),
        ));
    };
    // RFC 6749 6: the refresh token is bound to the client it was issued to.
    if row.client_id != client.id {
        return Err(OAuthError::InvalidGrant(
            "the refresh token was issued to another client".into(),
        ));
    }
    if row.revoked_at.is_some() {
        return Err(OAuthError::InvalidGrant(
            "the refresh token was revoked".into(),
        ));
    }
    if row.used_at.is_some() {
        revoke_family(ctx, &row, at, Revocation::RefreshReuse).await?;
        return Err(OAuthError::InvalidGrant(
            "the refresh token was already used; its grant is revoked".into(),
        ));
    }
    if at >= row.expires_at {
        return Err(OAuthError::InvalidGrant(
            "the refresh token has expired".into(),
        ));
    }
    if !row.offline {
        let session = ctx.store.find_session_by_sid(&row.sid).await?;
        // Without offline_access the grant ends with the SSO session: logout, idle or cap.
        if !session.is_some_and(|session| session.is_live(&ctx.settings.session, at)) {
            return Err(OAuthError::InvalidGrant(
                "the login session has ended".into(),
            ));
        }
    }
    let Some(citizen) = flows::active_citizen(ctx, row.citizen_id).await? else {
        return Err(OAuthError::InvalidGrant(
            "the citizen can no longer log in".into(),
        ));
    };
    let granted = &row.scopes;
    // RFC 6749 6: a narrower scope may be asked for, never a wider one.
    let scopes = match scope {
        None => granted.clone(),
        Some(requested) => {
            let mut narrowed = Vec::new();
            for scope in requested.split(' ').filter(|scope| !scope.is_empty()) {
                if !granted.iter().any(|granted| granted == scope) {
                    return Err(OAuthError::InvalidScope(
                        format!("scope {scope} was not granted").into(),
                    ));
                }
                narrowed.push(scope.to_owned());
            }
            narrowed
        }
    };
    let grant = Grant {
        client_id: client.id.clone(),
        citizen_id: row.citizen_id,
        sid: row.sid.clone(),
        client_sid: row.client_sid.clone(),
        scopes: scopes.clone(),
        acr: row.acr.clone(),
        amr: row.amr.clone(),
        auth_time: row.auth_time,
    };
    let jti = tokens::random_token().map_err(InternalError::from)?;
    let sub = signing::subject(ctx, client, citizen.id);
    let lifetime = ctx
        .settings
        .access_token_lifetime_seconds
        .min(row.expires_at - at);
    let access_token = signing::mint_access_token(ctx, &grant, &sub, jti.clone(), at, lifetime)?;
    let next = tokens::random_token().map_err(InternalError::from)?;
    let successor = RefreshToken {
        token_hash: tokens::sha256_hex(&next),
        access_jti: Some(jti),
        created_at: at,
        used_at: None,
        revoked_at: None,
        ..row.clone()
    };
    // Only a request answered with tokens uses the token up: a refused one (or one that
    // failed to store its successor) may be retried. Compare-and-set: of two concurrent
    // refreshes with one token, the loser is a reuse.
    if !ctx
        .store
        .rotate_refresh_token(&token_hash, at, &successor)
        .await?
    {
        revoke_family(ctx, &row, at, Revocation::RefreshReuse).await?;
        return Err(OAuthError::InvalidGrant(
            "the refresh token was already used; its grant is revoked".into(),
        ));
    }
    Ok(TokenResponse {
        access_token,
        token_type: "Bearer",
        expires_in: lifetime,
        id_token: None,
        refresh_token: Some(next),
        scope: scopes.join(" "),
    })
}

/// Revokes every token of a family and the access tokens issued from it.
pub(crate) async fn revoke_family(
    ctx: &Context,
    row: &RefreshToken,
    at: i64,
    why: Revocation,
) -> Result<(), InternalError> {
    let access = ctx
        .store
        .update_refresh_family_revoked(&row.family_id, at)
        .await?;
    for (jti, issued_at) in access {
        ctx.store
            .insert_revoked_token(&jti, issued_at + ctx.settings.access_token_lifetime_seconds)
            .await?;
    }
    let citizen = Some(row.citizen_id);
    let (kind, actor) = match why {
        Revocation::RefreshReuse => {
            tracing::warn!(client_id = %row.client_id, "refresh token reused: grant revoked as suspected theft");
            ("token.refresh_reuse_suspected_theft", "system")
        }
        Revocation::CodeReuse => ("token.code_reuse_revoked", "system"),
        Revocation::Client => ("token.revoked", "client"),
    };
    let event = AuditEvent::new(kind, citizen, actor, at).with_client(&row.client_id);
    ctx.registry
        .record(vec![event])
        .await
        .map_err(InternalError::Registry)?;
    Ok(())
}
