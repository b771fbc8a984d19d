//! Signing what a flow issues: JWTs with the key ring's current key, the `sub` a client sees
//! (public or pairwise, OIDC Core 8), and access tokens (RFC 9068).

use crate::client::{Client, SigningAlg, SubjectType};
use crate::context::Context;
use crate::error::InternalError;
use crate::flows::Grant;
use crate::tokens::{self, AccessTokenClaims};
use serde::Serialize;
use uuid::Uuid;

pub(crate) fn sign(
    ctx: &Context,
    alg: SigningAlg,
    typ: Option<&str>,
    claims: &impl Serialize,
) -> Result<String, InternalError> {
    Ok(ctx.keys.sign(alg, typ, claims)?)
}

/// OIDC Core 8: the citizen's global `cpr_uuid` for a client registered for the public
/// subject type, otherwise a pairwise subject for the client's sector: its registered
/// sector identifier host, or the host of its first redirect URI (OIDC Core 8.1).
pub(crate) fn subject(ctx: &Context, client: &Client, citizen_id: Uuid) -> String {
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
    tokens::pairwise_subject(&ctx.pairwise_key, &sector, citizen_id)
}

/// RFC 9068: an access token for a citizen's grant, signed ES256.
pub(crate) fn mint_access_token(
    ctx: &Context,
    grant: &Grant,
    sub: &str,
    jti: String,
    at: i64,
    lifetime: i64,
) -> Result<String, InternalError> {
    let claims = AccessTokenClaims {
        iss: ctx.settings.issuer.clone(),
        sub: sub.to_owned(),
        aud: ctx.settings.issuer.clone(),
        exp: at + lifetime,
        iat: at,
        jti,
        client_id: grant.client_id.clone(),
        scope: grant.scopes.join(" "),
        auth_time: Some(grant.auth_time),
        acr: Some(grant.acr.clone()),
        amr: Some(grant.amr.clone()),
        sid: Some(grant.client_sid.to_string()),
    };
    sign(ctx, SigningAlg::ES256, Some("at+jwt"), &claims)
}
