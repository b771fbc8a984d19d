//! The one mapping from provider errors to HTTP responses.

use super::pages::Pages;
use crate::error::InternalError;
use crate::flows::error::OAuthError;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

/// `Retry-After` when the database cannot serve now (an outage, a full disk, a lock).
pub(super) const RETRY_AFTER_SECONDS: &str = "5";

/// Logs the cause chain of an internal failure (never a secret: errors carry none).
fn log_internal(error: &InternalError) {
    let mut chain = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        chain.push_str(": ");
        chain.push_str(&cause.to_string());
        source = cause.source();
    }
    if error.is_unavailable() {
        tracing::warn!(error = %chain, "database unavailable");
    } else {
        tracing::error!(error = %chain, "internal failure");
    }
}

/// An internal failure as a JSON OAuth error: 503 `temporarily_unavailable` with
/// `Retry-After` when the database cannot serve now, else 500 `server_error`.
pub(super) fn internal_json(error: &InternalError) -> Response {
    log_internal(error);
    if error.is_unavailable() {
        let mut response = oauth_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "temporarily_unavailable",
            "the service is temporarily unavailable; try again later",
        );
        response.headers_mut().insert(
            header::RETRY_AFTER,
            HeaderValue::from_static(RETRY_AFTER_SECONDS),
        );
        response
    } else {
        oauth_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            "internal error",
        )
    }
}

/// An internal failure on a browser page: the same split as [`internal_json`], as HTML.
pub(super) fn internal_page(pages: &Pages, error: &InternalError, headers: &HeaderMap) -> Response {
    log_internal(error);
    if error.is_unavailable() {
        pages.unavailable(headers)
    } else {
        pages.internal(headers)
    }
}

fn no_store(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

/// RFC 6749 5.2: a JSON error with `Cache-Control: no-store`.
pub(super) fn oauth_error(status: StatusCode, code: &str, description: &str) -> Response {
    no_store(
        (
            status,
            Json(json!({ "error": code, "error_description": description })),
        )
            .into_response(),
    )
}

/// RFC 6749 5.1: every token response carries `Cache-Control: no-store`.
pub(super) fn token_success(body: impl serde::Serialize) -> Response {
    no_store(Json(body).into_response())
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let (status, code, description): (StatusCode, &str, &str) = match &self {
            OAuthError::InvalidRequest(problem) => {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    &problem.to_string(),
                )
            }
            OAuthError::InvalidClient(rejection) => {
                // RFC 6749 5.2: 401 with WWW-Authenticate for failed client authentication;
                // the reason is logged, never sent.
                tracing::info!(reason = %rejection, "client authentication failed");
                let mut response = oauth_error(
                    StatusCode::UNAUTHORIZED,
                    "invalid_client",
                    "client authentication failed",
                );
                response.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Basic realm=\"segl\""),
                );
                return response;
            }
            OAuthError::InvalidGrant(description) => {
                (StatusCode::BAD_REQUEST, "invalid_grant", description)
            }
            OAuthError::UnauthorizedClient(description) => {
                (StatusCode::BAD_REQUEST, "unauthorized_client", description)
            }
            OAuthError::UnsupportedGrantType(description) => (
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                description,
            ),
            OAuthError::InvalidScope(description) => {
                (StatusCode::BAD_REQUEST, "invalid_scope", description)
            }
            // RFC 6750 3.1: 401 with the Bearer challenge.
            OAuthError::InvalidToken(description) => return bearer_error(*description),
            OAuthError::AccessDenied(description) => {
                (StatusCode::FORBIDDEN, "access_denied", description)
            }
            OAuthError::Internal(error) => return internal_json(error),
        };
        oauth_error(status, code, description)
    }
}

/// RFC 6750 3: a 401 with the Bearer challenge; no error code when no token was sent at all.
fn bearer_error(description: Option<&str>) -> Response {
    let challenge = match description {
        Some(description) => format!(
            "Bearer realm=\"segl\", error=\"invalid_token\", error_description=\"{description}\""
        ),
        None => "Bearer realm=\"segl\"".to_owned(),
    };
    let body = match description {
        Some(description) => json!({ "error": "invalid_token", "error_description": description }),
        None => json!({ "error": "invalid_token", "error_description": "no access token" }),
    };
    let mut response = no_store((StatusCode::UNAUTHORIZED, Json(body)).into_response());
    if let Ok(value) = HeaderValue::from_str(&challenge) {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, value);
    }
    response
}

pub(super) async fn not_found() -> Response {
    oauth_error(StatusCode::NOT_FOUND, "not_found", "no such endpoint")
}
