//! The token endpoint (RFC 6749 3.2): client authentication, then one grant.

pub mod authorization_code;
pub mod client_credentials;
pub mod refresh;

use crate::context::Context;
use crate::flows::client;
use crate::flows::error::OAuthError;
use serde::Serialize;

/// RFC 6749 5.1.
#[derive(Debug, Serialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    pub scope: String,
}

/// RFC 6749 3.2: authenticates the client and runs the grant.
pub async fn token(
    ctx: &Context,
    form: &[(String, String)],
    authorization: Option<&str>,
) -> Result<TokenResponse, OAuthError> {
    let single = |name: &str| single(form, name);
    let grant_type = single("grant_type")?
        .ok_or_else(|| OAuthError::invalid_request("grant_type is missing"))?;
    let client = client::authenticate_client(ctx, form, authorization).await?;
    match grant_type {
        "authorization_code" => {
            let code =
                single("code")?.ok_or_else(|| OAuthError::invalid_request("code is missing"))?;
            let redirect_uri = single("redirect_uri")?
                .ok_or_else(|| OAuthError::invalid_request("redirect_uri is missing"))?;
            let verifier = single("code_verifier")?.ok_or_else(|| {
                OAuthError::invalid_request("code_verifier is missing (PKCE is required)")
            })?;
            authorization_code::exchange_code(ctx, &client, code, redirect_uri, verifier).await
        }
        "client_credentials" => {
            client_credentials::client_credentials(ctx, &client, single("scope")?)
        }
        "refresh_token" => {
            let token = single("refresh_token")?
                .ok_or_else(|| OAuthError::invalid_request("refresh_token is missing"))?;
            refresh::refresh(ctx, &client, token, single("scope")?).await
        }
        other => Err(OAuthError::UnsupportedGrantType(
            format!("grant_type {other} is not supported").into(),
        )),
    }
}

pub(crate) fn single<'a>(
    form: &'a [(String, String)],
    name: &str,
) -> Result<Option<&'a str>, OAuthError> {
    let mut values = form
        .iter()
        .filter(|(key, _)| key == name)
        .map(|(_, value)| value.as_str());
    let first = values.next();
    if values.next().is_some() {
        return Err(OAuthError::invalid_request(format!(
            "parameter {name} is repeated"
        )));
    }
    Ok(first)
}
