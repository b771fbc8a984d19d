//! `/userinfo` (OIDC Core 5.3), GET and POST with a Bearer token (RFC 6750 2.1, 2.2), and
//! `/cpr-match` with the same Bearer token.

use super::form;
use super::AppState;
use crate::flows::error::OAuthError;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use axum::Json;

fn bearer(headers: &HeaderMap) -> Result<Option<String>, ()> {
    match headers.get(header::AUTHORIZATION) {
        None => Ok(None),
        Some(value) => {
            let value = value.to_str().map_err(|_| ())?;
            let (scheme, token) = value.split_once(' ').ok_or(())?;
            if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
                return Err(());
            }
            Ok(Some(token.trim().to_owned()))
        }
    }
}

pub(super) async fn get(State(state): State<AppState>, headers: HeaderMap) -> Response {
    match bearer(&headers) {
        Ok(Some(token)) => answer(&state, &token).await,
        Ok(None) => OAuthError::InvalidToken(None).into_response(),
        Err(()) => OAuthError::InvalidToken(Some("malformed Authorization header")).into_response(),
    }
}

pub(super) async fn post(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let from_header = match bearer(&headers) {
        Ok(token) => token,
        Err(()) => {
            return OAuthError::InvalidToken(Some("malformed Authorization header")).into_response()
        }
    };
    let fields = form::parse(&body).unwrap_or_default();
    let from_body = form::field(&fields, "access_token").map(str::to_owned);
    // RFC 6750 2: a token in more than one place is an error.
    match (from_header, from_body) {
        (Some(_), Some(_)) => {
            OAuthError::InvalidToken(Some("the access token was sent twice")).into_response()
        }
        (Some(token), None) | (None, Some(token)) => answer(&state, &token).await,
        (None, None) => OAuthError::InvalidToken(None).into_response(),
    }
}

/// docs/NEMLOGIN.md section 3: `POST /cpr-match` with the access token as Bearer and the `cpr` the
/// citizen typed: `{"match": true|false}`.
pub(super) async fn cpr_match(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let token = match bearer(&headers) {
        Ok(Some(token)) => token,
        Ok(None) => return OAuthError::InvalidToken(None).into_response(),
        Err(()) => {
            return OAuthError::InvalidToken(Some("malformed Authorization header")).into_response()
        }
    };
    let Ok(fields) = form::parse(&body) else {
        return OAuthError::invalid_request("the body must be form-urlencoded UTF-8")
            .into_response();
    };
    let cpr = form::field(&fields, "cpr").unwrap_or_default();
    match crate::flows::userinfo::cpr_match(&state.context, &token, cpr).await {
        Ok(matches) => {
            let mut response = Json(serde_json::json!({ "match": matches })).into_response();
            response.headers_mut().insert(
                header::CACHE_CONTROL,
                header::HeaderValue::from_static("no-store"),
            );
            response
        }
        Err(error) => error.into_response(),
    }
}

async fn answer(state: &AppState, token: &str) -> Response {
    match crate::flows::userinfo::userinfo(&state.context, token).await {
        Ok(claims) => {
            let mut response = Json(claims).into_response();
            response.headers_mut().insert(
                header::CACHE_CONTROL,
                header::HeaderValue::from_static("no-store"),
            );
            response
        }
        Err(error) => error.into_response(),
    }
}
