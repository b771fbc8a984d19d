//! `/logout` (the citizen's button, RP-initiated logout) and `/backchannel-logout` (Segl's
//! server-to-server notice).

use super::error::{backchannel_refused, logged_out_locally, logout_refused, message_page};
use super::pages::current_session;
use super::{cookies, now, AppState};
use crate::relying_party::LogoutOutcome;
use axum::extract::rejection::FormRejection;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use serde::Deserialize;

#[derive(Deserialize)]
pub(super) struct LogoutForm {
    csrf: Option<String>,
}

/// `POST /logout` with the session's CSRF token: ends the local session, then continues at
/// Segl's `end_session_endpoint` if there is one.
pub(super) async fn logout(
    State(state): State<AppState>,
    headers: HeaderMap,
    form: Result<Form<LogoutForm>, FormRejection>,
) -> Response {
    let settings = state.relying_party.settings();
    let csrf = form.ok().and_then(|Form(form)| form.csrf);
    let session_id = cookies::read(&headers, &settings.session_cookie());
    let outcome = state
        .relying_party
        .logout(session_id.as_deref(), csrf.as_deref(), now())
        .await;
    let mut response = match outcome {
        Ok(LogoutOutcome::NotLoggedIn) => Redirect::to("/").into_response(),
        Ok(LogoutOutcome::ContinueAtProvider(url)) => Redirect::to(&url).into_response(),
        Ok(LogoutOutcome::LocalOnly) => message_page(
            &state,
            StatusCode::OK,
            &logged_out_locally(&settings.name),
            None,
        ),
        Err(error) => {
            let (status, message) = logout_refused(&error);
            let session = current_session(&state, &headers);
            // The session stays: a forged request must not log the citizen out.
            return message_page(&state, status, &message, session.as_ref());
        }
    };
    if let Some(cookie) = cookies::clear_session(settings) {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    response
}

#[derive(Deserialize)]
pub(super) struct BackchannelForm {
    logout_token: String,
}

/// `POST /backchannel-logout` (OIDC Back-Channel Logout 1.0 2.5-2.8): 200 when the token is
/// valid (even if no session matched), 400 with a JSON error otherwise; never cached.
pub(super) async fn backchannel(
    State(state): State<AppState>,
    form: Result<Form<BackchannelForm>, FormRejection>,
) -> Response {
    let mut response = match form {
        Ok(Form(form)) => match state
            .relying_party
            .backchannel_logout(&form.logout_token, now())
            .await
        {
            Ok(_) => StatusCode::OK.into_response(),
            Err(error) => backchannel_refused(&error),
        },
        Err(rejection) => (
            StatusCode::BAD_REQUEST,
            axum::Json(serde_json::json!({
                "error": "invalid_request",
                "error_description": format!("expected a form with logout_token: {rejection}"),
            })),
        )
            .into_response(),
    };
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
