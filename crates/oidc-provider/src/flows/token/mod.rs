//! The token endpoint (RFC 6749 3.2): client authentication, then one grant.

pub mod authorization_code;
pub mod client_credentials;
pub mod refresh;

use crate::context::Context;
use crate::error::InternalError;
use crate::store::StoreError;
use serde::Serialize;

/// Token endpoint failures, RFC 6749 5.2.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("invalid_request: {0}")]
    InvalidRequest(String),
    #[error("invalid_client")]
    InvalidClient(String),
    #[error("invalid_grant: {0}")]
    InvalidGrant(String),
    #[error("unauthorized_client: {0}")]
    UnauthorizedClient(String),
    #[error("unsupported_grant_type")]
    UnsupportedGrantType(String),
    #[error("invalid_scope: {0}")]
    InvalidScope(String),
    #[error("internal")]
    Internal(#[from] InternalError),
}

impl From<StoreError> for TokenError {
    fn from(error: StoreError) -> Self {
        Self::Internal(error.into())
    }
}

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
) -> Result<TokenResponse, TokenError> {
    let single = |name: &str| -> Result<Option<&str>, TokenError> {
        let mut values = form
            .iter()
            .filter(|(key, _)| key == name)
            .map(|(_, value)| value.as_str());
        let first = values.next();
        if values.next().is_some() {
            return Err(TokenError::InvalidRequest(format!(
                "parameter {name} is repeated"
            )));
        }
        Ok(first)
    };
    let grant_type = single("grant_type")?
        .ok_or_else(|| TokenError::InvalidRequest("grant_type is missing".into()))?;
    let client = crate::flows::client::authenticate_client(ctx, form, authorization).await?;
    match grant_type {
        "authorization_code" => {
            let code = single("code")?
                .ok_or_else(|| TokenError::InvalidRequest("code is missing".into()))?;
            let redirect_uri = single("redirect_uri")?
                .ok_or_else(|| TokenError::InvalidRequest("redirect_uri is missing".into()))?;
            let verifier = single("code_verifier")?.ok_or_else(|| {
                TokenError::InvalidRequest("code_verifier is missing (PKCE is required)".into())
            })?;
            crate::flows::token::authorization_code::exchange_code(
                ctx,
                &client,
                code,
                redirect_uri,
                verifier,
            )
            .await
        }
        "client_credentials" => crate::flows::token::client_credentials::client_credentials(
            ctx,
            &client,
            single("scope")?,
        ),
        "refresh_token" => {
            let token = single("refresh_token")?
                .ok_or_else(|| TokenError::InvalidRequest("refresh_token is missing".into()))?;
            crate::flows::token::refresh::refresh(ctx, &client, token, single("scope")?).await
        }
        other => Err(TokenError::UnsupportedGrantType(format!(
            "grant_type {other} is not supported"
        ))),
    }
}

pub(crate) fn single<'a>(
    form: &'a [(String, String)],
    name: &str,
) -> Result<Option<&'a str>, TokenError> {
    let mut values = form
        .iter()
        .filter(|(key, _)| key == name)
        .map(|(_, value)| value.as_str());
    let first = values.next();
    if values.next().is_some() {
        return Err(TokenError::InvalidRequest(format!(
            "parameter {name} is repeated"
        )));
    }
    Ok(first)
}

pub(crate) fn corrupt(what: &str) -> TokenError {
    TokenError::Internal(InternalError::Store(crate::store::StoreError::Corrupt(
        what.to_owned(),
    )))
}
