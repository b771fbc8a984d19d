//! `end_session_endpoint` (OIDC RP-Initiated Logout 1.0), GET and POST.

use super::authorize::SESSION_COOKIE;
use super::form::{self, cookie};
use super::{error, AppState};
use crate::flows::logout::LogoutStep;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::Response;

pub(super) async fn get(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    handle(state, headers, query.unwrap_or_default().as_bytes()).await
}

pub(super) async fn post(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    handle(state, headers, &body).await
}

async fn handle(state: AppState, headers: HeaderMap, bytes: &[u8]) -> Response {
    let Ok(params) = form::parse(bytes) else {
        return state
            .pages
            .bad_request("The request is not valid form-urlencoded UTF-8.", &headers);
    };
    let session = cookie(&headers, SESSION_COOKIE);
    let confirmed_with = form::field(&params, "confirm").map(str::to_owned);
    match crate::flows::logout::end_session(
        &state.context,
        &params,
        session.as_deref(),
        confirmed_with.as_deref(),
    )
    .await
    {
        Ok(LogoutStep::ErrorPage(message)) => state.pages.bad_request(message, &headers),
        Ok(LogoutStep::Confirm { csrf_token, params }) => {
            state.pages.logout_confirm(&csrf_token, &params, &headers)
        }
        Ok(LogoutStep::Done {
            frontchannel,
            redirect,
            ended,
        }) => {
            let mut response = state
                .pages
                .logged_out(&frontchannel, redirect.as_deref(), &headers);
            if ended || session.is_some() {
                let removal = form::set_cookie(SESSION_COOKIE, "", 0, state.https);
                if let Ok(value) = HeaderValue::from_str(&removal) {
                    response.headers_mut().append(header::SET_COOKIE, value);
                }
            }
            response
        }
        Err(internal) => error::internal_page(&state.pages, &internal, &headers),
    }
}
