//! `/authorize` (GET and POST, OIDC Core 3.1.2.1).

use super::form::{self, cookie};
use super::{error, AppState};
use crate::flows::login::Step;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Redirect, Response};

pub(super) const SESSION_COOKIE: &str = "segl_session";
pub(super) const BROWSER_COOKIE: &str = "segl_browser";

pub(super) async fn get(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let bytes = query.unwrap_or_default();
    handle(state, headers, bytes.as_bytes()).await
}

pub(super) async fn post(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/x-www-form-urlencoded"));
    if !is_form {
        return state.pages.bad_request(
            "The request must be sent as application/x-www-form-urlencoded.",
            &headers,
        );
    }
    handle(state, headers, &body).await
}

async fn handle(state: AppState, headers: HeaderMap, bytes: &[u8]) -> Response {
    let Ok(params) = form::parse(bytes) else {
        return state
            .pages
            .bad_request("The request is not valid form-urlencoded UTF-8.", &headers);
    };
    let session = cookie(&headers, SESSION_COOKIE);
    let browser = cookie(&headers, BROWSER_COOKIE);
    match crate::flows::authorize::authorize(
        &state.context,
        &params,
        session.as_deref(),
        browser.as_deref(),
    )
    .await
    {
        Ok(Step::Respond(response)) => state.pages.respond(&response, &headers),
        Ok(Step::ErrorPage(page)) => state.pages.page_error(page, &headers),
        Ok(Step::Login {
            pending_id,
            new_browser_binding,
        }) => {
            let mut response =
                Redirect::to(&format!("/login?request={pending_id}")).into_response();
            if let Some(binding) = new_browser_binding {
                let lifetime = state.context.settings().session.absolute_seconds;
                let value = form::set_cookie(BROWSER_COOKIE, &binding, lifetime, state.https);
                if let Ok(value) = HeaderValue::from_str(&value) {
                    response.headers_mut().append(header::SET_COOKIE, value);
                }
            }
            response
        }
        Ok(Step::Denied {
            reason,
            response,
            ui_locales,
        }) => state.pages.denied(reason, &response, &ui_locales, &headers),
        Err(internal) => error::internal_page(&state.pages, &internal, &headers),
    }
}
