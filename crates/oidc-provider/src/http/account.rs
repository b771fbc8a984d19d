//! `/account`: the citizen's sessions and authenticators at the provider, behind the SSO
//! session cookie; enrolling an authenticator app or a passkey behind a fresh login.

use super::authorize::SESSION_COOKIE;
use super::form::{self, cookie, field};
use super::{error, AppState};
use crate::flows::account::{Enrolment, EnrolmentOutcome, Reauthentication};
use axum::body::Bytes;
use axum::extract::{ConnectInfo, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use secrecy::SecretString;
use std::net::SocketAddr;

pub(super) async fn show(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let params = form::parse(query.unwrap_or_default().as_bytes()).unwrap_or_default();
    let ended = field(&params, "ended") == Some("1");
    let enrolled = field(&params, "enrolled") == Some("1");
    let session = cookie(&headers, SESSION_COOKIE);
    match crate::flows::account::account(&state.context, session.as_deref()).await {
        Ok(view) => state
            .pages
            .account(view.as_ref(), ended, enrolled, &headers),
        Err(internal) => error::internal_page(&state.pages, &internal, &headers),
    }
}

pub(super) async fn end(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let fields = form::parse(&body).unwrap_or_default();
    let (Some(csrf), Some(sid)) = (field(&fields, "csrf"), field(&fields, "sid")) else {
        return state.pages.bad_request("The form is incomplete.", &headers);
    };
    let session = cookie(&headers, SESSION_COOKIE);
    match crate::flows::account::end_own_session(&state.context, session.as_deref(), csrf, sid)
        .await
    {
        Ok(true) => Redirect::to("/account?ended=1").into_response(),
        Ok(false) => state.pages.bad_request(
            "This form is not valid for this browser's session.",
            &headers,
        ),
        Err(internal) => error::internal_page(&state.pages, &internal, &headers),
    }
}

fn internal(
    state: &AppState,
    headers: &HeaderMap,
    internal: crate::error::InternalError,
) -> Response {
    error::internal_page(&state.pages, &internal, headers)
}

fn enrolment_outcome(
    state: &AppState,
    headers: &HeaderMap,
    outcome: Result<EnrolmentOutcome, crate::error::InternalError>,
) -> Response {
    match outcome {
        Ok(EnrolmentOutcome::Enrolled) => Redirect::to("/account?enrolled=1").into_response(),
        Ok(EnrolmentOutcome::WrongCode(form)) => state.pages.totp_form(&form, true, headers),
        Ok(EnrolmentOutcome::Refused) => state.pages.enrolment_refused(headers),
        Ok(EnrolmentOutcome::Gate(gate)) => state.pages.enrolment_gate(&gate, false, headers),
        Err(error) => internal(state, headers, error),
    }
}

pub(super) async fn totp_page(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let session = cookie(&headers, SESSION_COOKIE);
    match crate::flows::account::totp_form(&state.context, session.as_deref()).await {
        Ok(Ok(form)) => state.pages.totp_form(&form, false, &headers),
        Ok(Err(gate)) => state.pages.enrolment_gate(&gate, false, &headers),
        Err(error) => internal(&state, &headers, error),
    }
}

pub(super) async fn totp_confirm(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let fields = form::parse(&body).unwrap_or_default();
    let (Some(csrf), Some(enrolment), Some(code)) = (
        field(&fields, "csrf"),
        field(&fields, "enrolment"),
        field(&fields, "code"),
    ) else {
        return state.pages.bad_request("The form is incomplete.", &headers);
    };
    let session = cookie(&headers, SESSION_COOKIE);
    let outcome = crate::flows::account::confirm_totp(
        &state.context,
        session.as_deref(),
        csrf,
        enrolment,
        code,
    )
    .await;
    enrolment_outcome(&state, &headers, outcome)
}

pub(super) async fn passkey_page(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let session = cookie(&headers, SESSION_COOKIE);
    match crate::flows::account::passkey_form(&state.context, session.as_deref()).await {
        Ok(Ok(form)) => state.pages.passkey_form(&form, &headers),
        Ok(Err(gate)) => state.pages.enrolment_gate(&gate, false, &headers),
        Err(error) => internal(&state, &headers, error),
    }
}

pub(super) async fn passkey_finish(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let fields = form::parse(&body).unwrap_or_default();
    let (Some(csrf), Some(challenge)) = (field(&fields, "csrf"), field(&fields, "challenge"))
    else {
        return state.pages.bad_request("The form is incomplete.", &headers);
    };
    let name = field(&fields, "name").unwrap_or_default();
    let credential = field(&fields, "credential").unwrap_or_default();
    let session = cookie(&headers, SESSION_COOKIE);
    let outcome = crate::flows::account::finish_passkey(
        &state.context,
        session.as_deref(),
        csrf,
        challenge,
        name,
        credential,
        Some(peer.ip().to_string()),
    )
    .await;
    enrolment_outcome(&state, &headers, outcome)
}

pub(super) async fn reauthenticate(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let fields = form::parse(&body).unwrap_or_default();
    let (Some(csrf), Some(enrolment)) = (
        field(&fields, "csrf"),
        field(&fields, "for").and_then(Enrolment::parse),
    ) else {
        return state.pages.bad_request("The form is incomplete.", &headers);
    };
    let password = SecretString::from(field(&fields, "password").unwrap_or_default().to_owned());
    let session = cookie(&headers, SESSION_COOKIE);
    match crate::flows::account::reauthenticate(
        &state.context,
        session.as_deref(),
        csrf,
        enrolment,
        password,
        field(&fields, "code"),
        Some(peer.ip().to_string()),
    )
    .await
    {
        Ok(Reauthentication::Done) => {
            Redirect::to(&format!("/account/{}", enrolment.as_str())).into_response()
        }
        Ok(Reauthentication::Failed(gate)) => state.pages.enrolment_gate(&gate, true, &headers),
        Ok(Reauthentication::Overloaded) => state.pages.busy(&headers),
        Err(error) => internal(&state, &headers, error),
    }
}
