//! `/token` (RFC 6749 3.2): authorization_code and client_credentials.

use super::form;
use super::{error, AppState};
use crate::client_auth::Rejection;
use crate::flows::error::OAuthError;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};

pub(super) async fn token(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/x-www-form-urlencoded"));
    if !is_form {
        return OAuthError::invalid_request("the body must be application/x-www-form-urlencoded")
            .into_response();
    }
    let Ok(fields) = form::parse(&body) else {
        return OAuthError::invalid_request("the body is not valid form-urlencoded UTF-8")
            .into_response();
    };
    let authorization = match headers
        .get(header::AUTHORIZATION)
        .map(|value| value.to_str())
    {
        None => None,
        Some(Ok(value)) => Some(value),
        Some(Err(_)) => {
            return OAuthError::InvalidClient(Rejection::NonAsciiAuthorizationHeader)
                .into_response()
        }
    };
    match crate::flows::token::token(&state.context, &fields, authorization).await {
        Ok(response) => error::token_success(response),
        Err(error) => error.into_response(),
    }
}
