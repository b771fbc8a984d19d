//! Clients as the flows see them: looked up through the cache every node drops when any client
//! changes, and authenticated at the token, revocation and introspection endpoints.

use crate::client::Client;
use crate::client_auth::{self, ClientCredentials, Rejection};
use crate::context::Context;
use crate::error::InternalError;
use crate::flows::error::OAuthError;
use crate::store::StoreError;
use std::sync::Arc;

pub(crate) async fn authenticate_client(
    ctx: &Context,
    form: &[(String, String)],
    authorization: Option<&str>,
) -> Result<Client, OAuthError> {
    let credentials = ClientCredentials::parse(authorization, form)?;
    let client = ctx
        .clients
        .find(&ctx.store, credentials.client_id())
        .await?;
    let at = ctx.clock.now();
    let token_endpoint = ctx.settings.token_endpoint();
    let audiences = [ctx.settings.issuer.as_str(), token_endpoint.as_str()];
    let authenticated = client_auth::authenticate(&credentials, client.as_deref(), &audiences, at)?;
    let Some(client) = client else {
        return Err(OAuthError::InvalidClient(Rejection::UnknownClient));
    };
    if let Some(assertion) = authenticated.assertion {
        // RFC 7523 3: a jti may be used once.
        let key = format!("{}|{}", client.id, assertion.jti);
        if !ctx
            .store
            .insert_used_assertion(
                &key,
                assertion
                    .exp
                    .saturating_add(client_auth::CLOCK_SKEW_SECONDS),
            )
            .await?
        {
            return Err(OAuthError::InvalidClient(Rejection::AssertionReplayed));
        }
    }
    Ok(Client::clone(&client))
}

/// A registered client, from the cache: a change reaches every node within about a second
/// (see [`ClientCache`]), the same for authorization as for client authentication.
pub(crate) async fn find_client(
    ctx: &Context,
    id: &str,
) -> Result<Option<Arc<Client>>, StoreError> {
    ctx.clients.find(&ctx.store, id).await
}

/// Drops the client cache if a client changed anywhere; every node calls this each second.
pub async fn refresh_client_cache(ctx: &Context) -> Result<bool, InternalError> {
    Ok(ctx.clients.refresh(&ctx.store).await?)
}
