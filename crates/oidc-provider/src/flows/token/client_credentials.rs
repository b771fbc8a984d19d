//! The `client_credentials` grant (RFC 6749 4.4): an access token for a confidential client
//! acting for itself, with no citizen and no ID token.

use crate::client::{Client, ClientAuthMethod};
use crate::context::Context;
use crate::error::InternalError;
use crate::flows::error::OAuthError;
use crate::flows::signing;
use crate::flows::token::TokenResponse;
use crate::tokens::{self, AccessTokenClaims};

/// RFC 6749 4.4: a confidential client's own token. `openid` makes no sense without a citizen.
pub(crate) fn client_credentials(
    ctx: &Context,
    client: &Client,
    scope: Option<&str>,
) -> Result<TokenResponse, OAuthError> {
    if client.auth_method == ClientAuthMethod::None {
        return Err(OAuthError::UnauthorizedClient(
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
            return Err(OAuthError::InvalidScope(
                format!("scope {requested} is not allowed for this client").into(),
            ));
        }
        if !granted.iter().any(|scope| scope == requested) {
            granted.push(requested.to_owned());
        }
    }
    let at = ctx.clock.now();
    let claims = AccessTokenClaims {
        iss: ctx.settings.issuer.clone(),
        sub: client.id.clone(),
        aud: ctx.settings.issuer.clone(),
        exp: at + ctx.settings.access_token_lifetime_seconds,
        iat: at,
        jti: tokens::random_token().map_err(InternalError::from)?,
        client_id: client.id.clone(),
        scope: granted.join(" "),
        auth_time: None,
        acr: None,
        amr: None,
        sid: None,
    };
    let access_token = signing::sign(ctx, client.id_token_alg, Some("at+jwt"), &claims)?;
    Ok(TokenResponse {
        access_token,
        token_type: "Bearer",
        expires_in: ctx.settings.access_token_lifetime_seconds,
        id_token: None,
        refresh_token: None,
        scope: granted.join(" "),
    })
}
