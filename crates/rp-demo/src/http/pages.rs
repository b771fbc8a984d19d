//! The pages about the citizen: landing, `/me`, `/secure` (step-up), `/poa`, and the stylesheet.

use super::error::{message_page, not_found_page, render_failed};
use super::{cookies, now, AppState};
use crate::level::Level;
use crate::page::ReturnPage;
use crate::pages::STYLESHEET;
use crate::session::Session;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};

/// The session the request's cookie names, if it is live.
pub(super) fn current_session(state: &AppState, headers: &HeaderMap) -> Option<Session> {
    let settings = state.relying_party.settings();
    let session_id = cookies::read(headers, &settings.session_cookie());
    state.relying_party.session(session_id.as_deref(), now())
}

fn html(rendered: Result<String, minijinja::Error>) -> Response {
    match rendered {
        Ok(html) => Html(html).into_response(),
        Err(error) => render_failed(&error),
    }
}

/// Where to start a login that reaches `page` at `level`.
pub(super) fn login_path(level: Level, page: ReturnPage) -> String {
    format!("/login?level={}&return={}", level.name(), page.path())
}

pub(super) async fn landing(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let session = current_session(&state, &headers);
    html(state.pages.landing(session.as_ref()))
}

pub(super) async fn me(State(state): State<AppState>, headers: HeaderMap) -> Response {
    match current_session(&state, &headers) {
        Some(session) => html(
            state
                .pages
                .me(&session, state.relying_party.settings().shows_cpr),
        ),
        None => Redirect::to(ReturnPage::Home.path()).into_response(),
    }
}

/// Needs Substantial: a Low session is sent to step up (docs/NEMLOGIN.md section 2: Segl asks
/// only for the missing factor).
pub(super) async fn secure(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let required = ReturnPage::Secure.required_level();
    match current_session(&state, &headers) {
        Some(session) if session.level.satisfies(required) => html(state.pages.secure(&session)),
        _ => Redirect::to(&login_path(required, ReturnPage::Secure)).into_response(),
    }
}

pub(super) async fn power_of_attorney(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Response {
    match current_session(&state, &headers) {
        Some(session) => html(state.pages.power_of_attorney(&session)),
        None => Redirect::to(ReturnPage::Home.path()).into_response(),
    }
}

pub(super) async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        STYLESHEET,
    )
        .into_response()
}

pub(super) async fn not_found(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let session = current_session(&state, &headers);
    message_page(
        &state,
        StatusCode::NOT_FOUND,
        &not_found_page(),
        session.as_ref(),
    )
}
