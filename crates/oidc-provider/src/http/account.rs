//! `/account`: the citizen's sessions at the provider, behind the SSO session cookie.

use super::authorize::SESSION_COOKIE;
use super::form::{self, cookie, field};
use super::{error, AppState};
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};

pub async fn show(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let params = form::parse(query.unwrap_or_default().as_bytes()).unwrap_or_default();
    let ended = field(&params, "ended") == Some("1");
    let session = cookie(&headers, SESSION_COOKIE);
    match state.provider.account(session.as_deref()).await {
        Ok(view) => state.pages.account(view.as_ref(), ended, &headers),
        Err(internal) => {
            error::log_internal(&internal);
            state.pages.internal(&headers)
        }
    }
}

pub async fn end(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let fields = form::parse(&body).unwrap_or_default();
    let (Some(csrf), Some(sid)) = (field(&fields, "csrf"), field(&fields, "sid")) else {
        return state.pages.bad_request("The form is incomplete.", &headers);
    };
    let session = cookie(&headers, SESSION_COOKIE);
    match state
        .provider
        .end_own_session(session.as_deref(), csrf, sid)
        .await
    {
        Ok(true) => Redirect::to("/account?ended=1").into_response(),
        Ok(false) => state.pages.bad_request(
            "This form is not valid for this browser's session.",
            &headers,
        ),
        Err(internal) => {
            error::log_internal(&internal);
            state.pages.internal(&headers)
        }
    }
}
