//! The `authorization_code` grant (RFC 6749 4.1.3, OIDC Core 3.1.3): the code is redeemed once,
//! with PKCE, and a replayed code revokes everything the grant issued (RFC 6749 4.1.2).

use crate::client::Client;
use crate::context::Context;
use crate::error::InternalError;
use crate::flows;
use crate::flows::error::OAuthError;
use crate::flows::release;
use crate::flows::release::{level_claims, ReleaseTarget};
use crate::flows::signing;
use crate::flows::token::refresh;
use crate::flows::token::refresh::Revocation;
use crate::flows::token::TokenResponse;
use crate::flows::Grant;
use crate::store::AuthorizationCode;
use crate::tokens::{self, IdTokenClaims};

pub(crate) async fn exchange_code(
    ctx: &Context,
    client: &Client,
    code: &str,
    redirect_uri: &str,
    verifier: &str,
) -> Result<TokenResponse, OAuthError> {
    let code_hash = tokens::sha256_hex(code);
    let Some(row) = ctx.store.find_code(&code_hash).await? else {
        return Err(OAuthError::InvalidGrant(
            "the code is unknown or expired".into(),
        ));
    };
    let at = ctx.clock.now();
    // RFC 6749 4.1.3: the code is bound to the client and redirect URI; RFC 7636 4.6: PKCE.
    // These come first: a client that is not the code's own learns only invalid_grant, and
    // neither consumes the code nor revokes what was issued from it.
    if row.client_id != client.id {
        return Err(OAuthError::InvalidGrant(
            "the code was issued to another client".into(),
        ));
    }
    if row.redirect_uri != redirect_uri {
        return Err(OAuthError::InvalidGrant(
            "redirect_uri does not match the authorization request".into(),
        ));
    }
    if !row.code_challenge.verify(verifier) {
        return Err(OAuthError::InvalidGrant(
            "code_verifier does not match the code_challenge".into(),
        ));
    }
    if row.redeemed_at.is_some() {
        revoke_grant(ctx, &row).await?;
        return Err(OAuthError::InvalidGrant(
            "the code was already used; tokens issued from it are revoked".into(),
        ));
    }
    if at >= row.expires_at {
        return Err(OAuthError::InvalidGrant("the code has expired".into()));
    }
    let session = ctx.store.find_session_by_sid(&row.sid).await?;
    if session.is_none_or(|session| session.ended_at.is_some()) {
        return Err(OAuthError::InvalidGrant(
            "the login session has ended".into(),
        ));
    }
    let Some(citizen) = flows::active_citizen(ctx, row.citizen_id).await? else {
        return Err(OAuthError::InvalidGrant(
            "the citizen can no longer log in".into(),
        ));
    };
    let Some(client_sid) = ctx.store.find_client_sid(&row.sid, &client.id).await? else {
        return Err(OAuthError::InvalidGrant(
            "the login session has ended".into(),
        ));
    };
    let AuthorizationCode { scopes, amr, .. } = row.clone();
    let jti = tokens::random_token().map_err(InternalError::from)?;
    let sub = signing::subject(ctx, client, citizen.id);
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
    let access_token = signing::mint_access_token(
        ctx,
        &grant,
        &sub,
        jti.clone(),
        at,
        ctx.settings.access_token_lifetime_seconds,
    )?;
    let refresh = refresh::prepare_refresh_token(ctx, client, &grant, &jti, at).await?;
    // The release is audited before the code is spent: if the audit cannot be written the
    // code stays unused and the client may retry. Only a concurrent redemption of the same
    // code, refused below, leaves an audited release that was not delivered.
    let mut released = release::release_claims(
        ctx,
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
        iss: ctx.settings.issuer.clone(),
        sub,
        aud: client.id.clone(),
        exp: at + ctx.settings.id_token_lifetime_seconds,
        iat: at,
        auth_time: row.auth_time,
        nonce: row.nonce.clone(),
        acr: row.acr.clone(),
        amr,
        azp: client.id.clone(),
        at_hash: tokens::at_hash(client.id_token_alg, &access_token),
        sid: client_sid.to_string(),
        claims: released,
    };
    let id_token = signing::sign(ctx, client.id_token_alg, Some("JWT"), &id_claims)?;
    // Spending the code and storing the refresh token are one transaction: a client that
    // got an error (503 while the database is unavailable) can retry with the same code.
    if !ctx
        .store
        .redeem_code(&code_hash, &jti, at, refresh.as_ref().map(|(_, row)| row))
        .await?
    {
        // Another request redeemed it between our read and write: treat as reuse.
        if let Some(row) = ctx.store.find_code(&code_hash).await? {
            revoke_grant(ctx, &row).await?;
        }
        return Err(OAuthError::InvalidGrant(
            "the code was already used; tokens issued from it are revoked".into(),
        ));
    }
    let refresh_token = refresh.map(|(token, _)| token);
    Ok(TokenResponse {
        access_token,
        token_type: "Bearer",
        expires_in: ctx.settings.access_token_lifetime_seconds,
        id_token: Some(id_token),
        refresh_token,
        scope: scopes.join(" "),
    })
}

/// RFC 6749 4.1.2 and 10.5, RFC 9700 4.5: a reused code revokes the whole grant: the
/// access token issued from it, and the refresh token family issued with it together with
/// every access token its refreshes issued.
pub(crate) async fn revoke_grant(
    ctx: &Context,
    row: &AuthorizationCode,
) -> Result<(), InternalError> {
    if let Some(jti) = &row.access_jti {
        let expires = row.redeemed_at.unwrap_or_else(|| ctx.clock.now())
            + ctx.settings.access_token_lifetime_seconds;
        ctx.store.insert_revoked_token(jti, expires).await?;
        if let Some(refresh) = ctx
            .store
            .find_refresh_token_of_code(&row.sid, &row.client_id, jti)
            .await?
        {
            refresh::revoke_family(ctx, &refresh, ctx.clock.now(), Revocation::CodeReuse).await?;
        }
    }
    tracing::warn!(client_id = %row.client_id, "authorization code reused; its tokens were revoked");
    Ok(())
}
