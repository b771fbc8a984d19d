//! The login page: the password form, the one-time code form, the passkey form, the identity
//! choice, and cancel.

use super::authorize::{BROWSER_COOKIE, SESSION_COOKIE};
use super::form::{self, cookie, field};
use super::{error, AppState};
use crate::flows::login::{FormOutcome, Step};
use axum::body::Bytes;
use axum::extract::{ConnectInfo, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use secrecy::SecretString;
use std::net::SocketAddr;

pub(super) async fn show(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let params = form::parse(query.unwrap_or_default().as_bytes()).unwrap_or_default();
    let Some(pending_id) = field(&params, "request") else {
        return state.pages.expired(&headers);
    };
    let browser = cookie(&headers, BROWSER_COOKIE);
    match crate::flows::login::login_view(&state.context, pending_id, browser.as_deref()).await {
        Ok(Some(view)) => state.pages.login(&view, None, &headers, StatusCode::OK),
        Ok(None) => state.pages.expired(&headers),
        Err(internal) => error::internal_page(&state.pages, &internal, &headers),
    }
}

/// The form fields every login form carries.
struct FormBase {
    fields: Vec<(String, String)>,
    pending_id: String,
    csrf: String,
    browser: Option<String>,
}

fn form_base(headers: &HeaderMap, body: &[u8]) -> Option<FormBase> {
    let fields = form::parse(body).ok()?;
    let pending_id = field(&fields, "request")?.to_owned();
    let csrf = field(&fields, "csrf")?.to_owned();
    Some(FormBase {
        pending_id,
        csrf,
        browser: cookie(headers, BROWSER_COOKIE),
        fields,
    })
}

pub(super) async fn password(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(base) = form_base(&headers, &body) else {
        return state.pages.expired(&headers);
    };
    let user_id = field(&base.fields, "user_id").unwrap_or_default();
    let password = SecretString::from(
        field(&base.fields, "password")
            .unwrap_or_default()
            .to_owned(),
    );
    let outcome = crate::flows::login::password::submit_password(
        &state.context,
        &base.pending_id,
        base.browser.as_deref(),
        &base.csrf,
        user_id,
        password,
        Some(peer.ip().to_string()),
    )
    .await;
    finish(&state, &headers, outcome)
}

pub(super) async fn code(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(base) = form_base(&headers, &body) else {
        return state.pages.expired(&headers);
    };
    let code = field(&base.fields, "code").unwrap_or_default();
    let outcome = crate::flows::login::second_factor::submit_code(
        &state.context,
        &base.pending_id,
        base.browser.as_deref(),
        &base.csrf,
        code,
        Some(peer.ip().to_string()),
    )
    .await;
    finish(&state, &headers, outcome)
}

/// The choice of a professional identity or a power of attorney (CSRF-checked like the others).
pub(super) async fn choose(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(base) = form_base(&headers, &body) else {
        return state.pages.expired(&headers);
    };
    let choice = field(&base.fields, "choice").unwrap_or_default();
    let outcome = crate::flows::login::choice::submit_choice(
        &state.context,
        &base.pending_id,
        base.browser.as_deref(),
        &base.csrf,
        choice,
    )
    .await;
    finish(&state, &headers, outcome)
}

pub(super) async fn passkey(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(base) = form_base(&headers, &body) else {
        return state.pages.expired(&headers);
    };
    let credential = field(&base.fields, "credential").unwrap_or_default();
    let outcome = crate::flows::login::second_factor::submit_passkey(
        &state.context,
        &base.pending_id,
        base.browser.as_deref(),
        &base.csrf,
        credential,
        Some(peer.ip().to_string()),
    )
    .await;
    finish(&state, &headers, outcome)
}

pub(super) async fn cancel(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(base) = form_base(&headers, &body) else {
        return state.pages.expired(&headers);
    };
    match crate::flows::login::cancel(
        &state.context,
        &base.pending_id,
        base.browser.as_deref(),
        &base.csrf,
    )
    .await
    {
        Ok(Some(response)) => state.pages.respond(&response, &headers),
        Ok(None) => state.pages.expired(&headers),
        Err(internal) => error::internal_page(&state.pages, &internal, &headers),
    }
}

fn finish(
    state: &AppState,
    headers: &HeaderMap,
    outcome: Result<FormOutcome, crate::error::InternalError>,
) -> Response {
    match outcome {
        Ok(FormOutcome::Next(step, new_session)) => {
            let mut response = match step {
                Step::Respond(response) => state.pages.respond(&response, headers),
                Step::Login { pending_id, .. } => {
                    Redirect::to(&format!("/login?request={pending_id}")).into_response()
                }
                Step::Denied {
                    reason,
                    response,
                    ui_locales,
                } => state.pages.denied(reason, &response, &ui_locales, headers),
                Step::ErrorPage(page) => state.pages.page_error(page, headers),
            };
            if let Some(session) = new_session {
                let value = form::set_cookie(
                    SESSION_COOKIE,
                    &session.cookie_value,
                    session.max_age_seconds,
                    state.https,
                );
                if let Ok(value) = HeaderValue::from_str(&value) {
                    response.headers_mut().append(header::SET_COOKIE, value);
                }
            }
            response
        }
        // 200 rather than 401: the page is a form to fill in again, not an HTTP auth challenge.
        Ok(FormOutcome::Retry(view, problem)) => {
            state
                .pages
                .login(&view, Some(problem), headers, StatusCode::OK)
        }
        Ok(FormOutcome::Expired) => state.pages.expired(headers),
        Ok(FormOutcome::Overloaded) => state.pages.busy(headers),
        Err(internal) => error::internal_page(&state.pages, &internal, headers),
    }
}
