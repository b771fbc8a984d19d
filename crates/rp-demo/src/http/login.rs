//! `/login` starts the authorization code flow; `/callback` completes it.

use super::error::{login_failed, message_page};
use super::{cookies, now, AppState};
use crate::level::Level;
use crate::login::CallbackParams;
use crate::page::ReturnPage;
use crate::pages::{Link, Message};
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};

/// `GET /login?level=low|substantial|high&return=/path`: the level defaults to Low (or what the
/// return page needs); `return` must be one of the portal's pages.
pub(super) async fn login(
    State(state): State<AppState>,
    Query(query): Query<Vec<(String, String)>>,
) -> Response {
    let value = |name: &str| {
        query
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    };
    let return_to = value("return")
        .and_then(ReturnPage::parse)
        .unwrap_or(ReturnPage::Home);
    let asked = match value("level") {
        None | Some("") => Level::Low,
        Some(level) => match Level::parse_name(level) {
            Some(level) => level,
            None => {
                let message = Message {
                    title: "Unknown assurance level",
                    subtitle: "Ukendt sikringsniveau",
                    message: "The level must be low, substantial or high.".to_owned(),
                    detail: None,
                    is_error: true,
                    link: Link {
                        href: "/",
                        label: "Back to the front page",
                    },
                };
                return message_page(&state, StatusCode::BAD_REQUEST, &message, None);
            }
        },
    };
    let level = asked.max(return_to.required_level());
    let settings = state.relying_party.settings();
    match state
        .relying_party
        .start_login(level, return_to, now())
        .await
    {
        Ok(started) => {
            let mut response = Redirect::to(&started.authorize_url).into_response();
            if let Some(cookie) = cookies::login(settings, &started.pending_id) {
                response.headers_mut().append(header::SET_COOKIE, cookie);
            }
            response
        }
        Err(error) => {
            let (status, message) = login_failed(&error);
            message_page(&state, status, &message, None)
        }
    }
}

/// `GET /callback`: Segl's authorization response (OIDC Core 3.1.2.5 and 3.1.2.6).
pub(super) async fn callback(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<Vec<(String, String)>>,
) -> Response {
    let settings = state.relying_party.settings();
    let pending_id = cookies::read(&headers, &settings.login_cookie());
    let previous_session = cookies::read(&headers, &settings.session_cookie());
    let result = match CallbackParams::parse(&query) {
        Ok(params) => {
            state
                .relying_party
                .finish_login(
                    pending_id.as_deref(),
                    &params,
                    previous_session.as_deref(),
                    now(),
                )
                .await
        }
        Err(error) => Err(error),
    };
    let mut response = match result {
        Ok(finished) => {
            let mut response = Redirect::to(finished.return_to.path()).into_response();
            if let Some(cookie) = cookies::session(settings, &finished.session_id) {
                response.headers_mut().append(header::SET_COOKIE, cookie);
            }
            response
        }
        Err(error) => {
            let (status, message) = login_failed(&error);
            let session = super::pages::current_session(&state, &headers);
            message_page(&state, status, &message, session.as_ref())
        }
    };
    // The login in flight is used up either way.
    if let Some(cookie) = cookies::clear_login(settings) {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    response
}
