//! `/token` (RFC 6749 3.2): authorization_code and client_credentials.

use super::form;
use super::{error, AppState};
use crate::flows::token::TokenError;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};

pub async fn token(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/x-www-form-urlencoded"));
    if !is_form {
        return TokenError::InvalidRequest(
            "the body must be application/x-www-form-urlencoded".into(),
        )
        .into_response();
    }
    let Ok(fields) = form::parse(&body) else {
        return TokenError::InvalidRequest("the body is not valid form-urlencoded UTF-8".into())
            .into_response();
    };
    let authorization = match headers
        .get(header::AUTHORIZATION)
        .map(|value| value.to_str())
    {
        None => None,
        Some(Ok(value)) => Some(value),
        Some(Err(_)) => {
            return TokenError::InvalidClient("the Authorization header is not ASCII".into())
                .into_response()
        }
    };
    match crate::flows::token::token(&state.context, &fields, authorization).await {
        Ok(response) => error::token_success(response),
        Err(error) => error.into_response(),
    }
}
