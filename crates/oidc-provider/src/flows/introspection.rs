//! Revocation (RFC 7009) and introspection (RFC 7662), both behind client authentication.

use crate::context::Context;
use crate::flows::client;
use crate::flows::error::OAuthError;
use crate::flows::signing;
use crate::flows::token::refresh;
use crate::flows::token::refresh::Revocation;
use crate::flows::token::single;
use crate::grant::ClientSid;
use crate::tokens::{self, AccessTokenClaims};
use serde_json::{json, Value};

/// RFC 7009: the client revokes a token it holds. Answers success for unknown tokens and
/// for tokens of other clients alike (2.2), so revocation reveals nothing.
pub async fn revoke(
    ctx: &Context,
    form: &[(String, String)],
    authorization: Option<&str>,
) -> Result<(), OAuthError> {
    let client = client::authenticate_client(ctx, form, authorization).await?;
    let token =
        single(form, "token")?.ok_or_else(|| OAuthError::invalid_request("token is missing"))?;
    let at = ctx.clock.now();
    if let Some(row) = ctx
        .store
        .find_refresh_token(&tokens::sha256_hex(token))
        .await?
    {
        if row.client_id == client.id {
            refresh::revoke_family(ctx, &row, at, Revocation::Client).await?;
        }
        return Ok(());
    }
    if let Ok(claims) =
        ctx.keys
            .verify::<AccessTokenClaims>(token, "at+jwt", &ctx.settings.issuer, None, None)
    {
        if claims.client_id == client.id {
            ctx.store
                .insert_revoked_token(&claims.jti, claims.exp)
                .await?;
        }
    }
    Ok(())
}

/// RFC 7662: what a token is, for the client it was issued to or meant for; anything else
/// (unknown, expired, revoked, ended session, another client's) is `{"active": false}`.
pub async fn introspect(
    ctx: &Context,
    form: &[(String, String)],
    authorization: Option<&str>,
) -> Result<Value, OAuthError> {
    let client = client::authenticate_client(ctx, form, authorization).await?;
    let token =
        single(form, "token")?.ok_or_else(|| OAuthError::invalid_request("token is missing"))?;
    let inactive = json!({ "active": false });
    let at = ctx.clock.now();
    if let Some(row) = ctx
        .store
        .find_refresh_token(&tokens::sha256_hex(token))
        .await?
    {
        let live = row.client_id == client.id
            && row.used_at.is_none()
            && row.revoked_at.is_none()
            && at < row.expires_at;
        if !live {
            return Ok(inactive);
        }
        if !row.offline {
            let session = ctx.store.find_session_by_sid(&row.sid).await?;
            if !session.is_some_and(|session| session.is_live(&ctx.settings.session, at)) {
                return Ok(inactive);
            }
        }
        return Ok(json!({
            "active": true,
            "token_type": "refresh_token",
            "scope": row.scopes.join(" "),
            "client_id": row.client_id,
            "sub": signing::subject(ctx, &client, row.citizen_id),
            "iss": ctx.settings.issuer,
            "iat": row.created_at,
            "exp": row.expires_at,
            "acr": row.acr,
            "aud": client.id,
        }));
    }
    let Ok(claims) = ctx.keys.verify::<AccessTokenClaims>(
        token,
        "at+jwt",
        &ctx.settings.issuer,
        None,
        Some(ctx.clock.now()),
    ) else {
        return Ok(inactive);
    };
    // A client learns only about its own tokens, or tokens meant for it.
    if claims.client_id != client.id && claims.aud != client.id {
        return Ok(inactive);
    }
    if ctx.store.is_revoked(&claims.jti).await? {
        return Ok(inactive);
    }
    if let Some(sid) = &claims.sid {
        let session = ctx
            .store
            .find_session_by_client_sid(&claims.client_id, &ClientSid::new(sid.clone()))
            .await?;
        if session.is_none_or(|session| session.ended_at.is_some()) {
            return Ok(inactive);
        }
    }
    let mut answer = json!({
        "active": true,
        "token_type": "Bearer",
        "scope": claims.scope,
        "client_id": claims.client_id,
        "sub": claims.sub,
        "iss": claims.iss,
        "aud": claims.aud,
        "iat": claims.iat,
        "exp": claims.exp,
        "jti": claims.jti,
    });
    if let Some(acr) = claims.acr {
        answer["acr"] = json!(acr);
    }
    if let Some(amr) = claims.amr {
        answer["amr"] = json!(amr);
    }
    if let Some(auth_time) = claims.auth_time {
        answer["auth_time"] = json!(auth_time);
    }
    Ok(answer)
}
