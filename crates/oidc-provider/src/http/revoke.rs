//! `/revoke` (RFC 7009) and `/introspect` (RFC 7662): authenticated client requests.

use super::form;
use super::{error, AppState};
use crate::client_auth::Rejection;
use crate::flows::error::OAuthError;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

/// A client's request: its form fields and Authorization header.
struct ClientRequest {
    fields: Vec<(String, String)>,
    authorization: Option<String>,
}

/// Reads a client request, or says why it is malformed.
fn read(headers: &HeaderMap, body: &[u8]) -> Result<ClientRequest, OAuthError> {
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/x-www-form-urlencoded"));
    if !is_form {
        return Err(OAuthError::invalid_request(
            "the body must be application/x-www-form-urlencoded",
        ));
    }
    let fields = form::parse(body)
        .map_err(|_| OAuthError::invalid_request("the body is not valid form-urlencoded UTF-8"))?;
    let authorization = match headers
        .get(header::AUTHORIZATION)
        .map(|value| value.to_str())
    {
        None => None,
        Some(Ok(value)) => Some(value.to_owned()),
        Some(Err(_)) => {
            return Err(OAuthError::InvalidClient(
                Rejection::NonAsciiAuthorizationHeader,
            ))
        }
    };
    Ok(ClientRequest {
        fields,
        authorization,
    })
}

pub(super) async fn revoke(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let request = match read(&headers, &body) {
        Ok(request) => request,
        Err(error) => return error.into_response(),
    };
    let revoked = crate::flows::introspection::revoke(
        &state.context,
        &request.fields,
        request.authorization.as_deref(),
    )
    .await;
    match revoked {
        // RFC 7009 2.2: 200 whether or not the token was valid.
        Ok(()) => {
            let mut response = StatusCode::OK.into_response();
            response
                .headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            response
        }
        Err(error) => error.into_response(),
    }
}

pub(super) async fn introspect(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let request = match read(&headers, &body) {
        Ok(request) => request,
        Err(error) => return error.into_response(),
    };
    match crate::flows::introspection::introspect(
        &state.context,
        &request.fields,
        request.authorization.as_deref(),
    )
    .await
    {
        Ok(answer) => error::token_success(answer),
        Err(error) => error.into_response(),
    }
}
