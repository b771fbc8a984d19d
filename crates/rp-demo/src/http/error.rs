//! The one mapping from the portal's errors to pages and statuses.

use super::AppState;
use crate::login::LoginError;
use crate::pages::{Link, Message};
use crate::relying_party::{BackchannelError, LogoutError};
use crate::session::Session;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::Json;
use serde_json::json;

const HOME: Link = Link {
    href: "/",
    label: "Back to the front page",
};
const TRY_AGAIN: Link = Link {
    href: "/login",
    label: "Log in again",
};

/// Renders `message` with `status`; if even that fails, a plain 500.
pub(super) fn message_page(
    state: &AppState,
    status: StatusCode,
    message: &Message,
    session: Option<&Session>,
) -> Response {
    match state.pages.message(message, session) {
        Ok(html) => (status, Html(html)).into_response(),
        Err(error) => render_failed(&error),
    }
}

/// A template failed to render: a bug. Logged; the citizen sees a plain 500.
pub(super) fn render_failed(error: &minijinja::Error) -> Response {
    tracing::error!(error = %error, "page rendering failed");
    (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
}

/// An OAuth error code from the provider, if it looks like one (RFC 6749 4.1.2.1: printable
/// ASCII without quotes or backslash); anything else is not repeated on the page.
fn safe_code(code: &str) -> Option<String> {
    let looks_like_a_code = !code.is_empty()
        && code.len() <= 64
        && code
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || byte == b'_' || byte == b'-');
    looks_like_a_code.then(|| code.to_owned())
}

/// The status and page for a login that did not complete.
pub(super) fn login_failed(error: &LoginError) -> (StatusCode, Message) {
    let page = |title, subtitle, message: &str, detail: Option<String>, link| Message {
        title,
        subtitle,
        message: message.to_owned(),
        detail,
        is_error: true,
        link,
    };
    match error {
        LoginError::ProviderUnavailable(reason) => {
            tracing::warn!(%reason, "Segl is unavailable");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                page(
                    "Segl cannot be reached",
                    "Segl kan ikke nås lige nu",
                    "The national login cannot be reached right now. Try again in a moment.",
                    None,
                    TRY_AGAIN,
                ),
            )
        }
        LoginError::TooBusy => (
            StatusCode::SERVICE_UNAVAILABLE,
            page(
                "Busy right now",
                "Travlt lige nu",
                "Many people are logging in right now. Try again in a moment.",
                None,
                TRY_AGAIN,
            ),
        ),
        LoginError::Expired | LoginError::StateMismatch | LoginError::MalformedCallback => {
            tracing::info!(%error, "callback without a matching login");
            (
                StatusCode::BAD_REQUEST,
                page(
                    "Login expired",
                    "Login udløbet",
                    "Your login took too long, was already completed, or was started in another \
                     browser. Please log in again.",
                    None,
                    TRY_AGAIN,
                ),
            )
        }
        LoginError::IssuerMismatch => {
            tracing::warn!("authorization response from another issuer (RFC 9207)");
            (
                StatusCode::BAD_REQUEST,
                page(
                    "Login refused",
                    "Login afvist",
                    "The answer did not come from Segl, so this service did not accept it.",
                    None,
                    TRY_AGAIN,
                ),
            )
        }
        LoginError::Refused { error, description } => refused(error, description.as_deref()),
        LoginError::MissingCode => (
            StatusCode::BAD_REQUEST,
            page(
                "Login failed",
                "Login mislykkedes",
                "Segl's answer was incomplete. Please log in again.",
                None,
                TRY_AGAIN,
            ),
        ),
        LoginError::LevelNotMet { required, acr } => {
            tracing::warn!(?required, ?acr, "login below the required level");
            (
                StatusCode::FORBIDDEN,
                page(
                    "Assurance level too low",
                    "Sikringsniveauet er for lavt",
                    &format!(
                        "This page needs a login at level {} or higher.",
                        required.label()
                    ),
                    acr.clone(),
                    HOME,
                ),
            )
        }
        LoginError::TokenRequest(reason)
        | LoginError::IdToken(reason)
        | LoginError::Userinfo(reason) => {
            tracing::error!(%error, %reason, "login could not be completed with Segl");
            (
                StatusCode::BAD_GATEWAY,
                page(
                    "Login failed",
                    "Login mislykkedes",
                    "Segl's answer could not be verified, so you are not logged in. Try again; \
                     if it keeps happening, the service's registration with Segl needs fixing.",
                    None,
                    TRY_AGAIN,
                ),
            )
        }
        LoginError::Internal(reason) => {
            tracing::error!(%reason, "internal failure during login");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                page(
                    "Something went wrong",
                    "Der opstod en fejl",
                    "Something went wrong on our side. Please try again later.",
                    None,
                    HOME,
                ),
            )
        }
    }
}

/// OIDC Core 3.1.2.6 and RFC 6749 4.1.2.1: Segl's error response, explained.
fn refused(error: &str, description: Option<&str>) -> (StatusCode, Message) {
    let (status, title, subtitle, message) = match error {
        "access_denied" => (
            StatusCode::FORBIDDEN,
            "Login cancelled",
            "Login afbrudt",
            "The login was cancelled or refused, so you are not logged in to this service.",
        ),
        "login_required" => (
            StatusCode::UNAUTHORIZED,
            "Not logged in at Segl",
            "Ikke logget på",
            "You are not logged in at Segl. Log in to continue.",
        ),
        "interaction_required" | "consent_required" | "account_selection_required" => (
            StatusCode::UNAUTHORIZED,
            "Segl needs you",
            "Segl har brug for dig",
            "Segl needs you to do something before you can continue (for example, confirm a \
             second factor). Log in again to continue.",
        ),
        "temporarily_unavailable" => (
            StatusCode::SERVICE_UNAVAILABLE,
            "Segl is busy",
            "Segl har travlt",
            "Segl is busy right now. Try again in a moment.",
        ),
        "server_error" => (
            StatusCode::BAD_GATEWAY,
            "Segl had a problem",
            "Der opstod en fejl hos Segl",
            "Segl could not complete the login. Try again later.",
        ),
        _ => (
            StatusCode::BAD_REQUEST,
            "Login refused",
            "Login afvist",
            "Segl refused the login request. The service's registration with Segl may need \
             fixing.",
        ),
    };
    tracing::info!(error, "Segl answered the login with an error");
    // The description came back with our own state, so it is Segl's; it is still shown only as
    // escaped text, shortened.
    let detail = match (safe_code(error), description) {
        (Some(code), Some(description)) => Some(format!(
            "{code}: {}",
            description.chars().take(200).collect::<String>()
        )),
        (Some(code), None) => Some(code),
        (None, _) => None,
    };
    (
        status,
        Message {
            title,
            subtitle,
            message: message.to_owned(),
            detail,
            is_error: true,
            link: if status == StatusCode::FORBIDDEN {
                HOME
            } else {
                TRY_AGAIN
            },
        },
    )
}

/// The logout form did not come from our page.
pub(super) fn logout_refused(error: &LogoutError) -> (StatusCode, Message) {
    match error {
        LogoutError::CsrfMismatch => (
            StatusCode::FORBIDDEN,
            Message {
                title: "Logout not confirmed",
                subtitle: "Log af ikke bekræftet",
                message: "The logout request did not come from this service's page. Use the \
                          Log out button to log out."
                    .to_owned(),
                detail: None,
                is_error: true,
                link: HOME,
            },
        ),
    }
}

/// Back-Channel Logout 1.0 2.8: 400 with a JSON error (the caller adds `no-store`).
pub(super) fn backchannel_refused(error: &BackchannelError) -> Response {
    tracing::warn!(%error, "back-channel logout refused");
    (
        StatusCode::BAD_REQUEST,
        Json(json!({ "error": "invalid_request", "error_description": error.to_string() })),
    )
        .into_response()
}

pub(super) fn not_found_page() -> Message {
    Message {
        title: "Page not found",
        subtitle: "Siden findes ikke",
        message: "There is no such page on this service.".to_owned(),
        detail: None,
        is_error: true,
        link: HOME,
    }
}

pub(super) fn logged_out_locally(portal_name: &str) -> Message {
    Message {
        title: "Logged out",
        subtitle: "Du er logget af",
        message: format!(
            "You are logged out of {portal_name}. Segl does not offer single logout here, so \
             you may still be logged in at Segl: close the browser to end that too."
        ),
        detail: None,
        is_error: false,
        link: HOME,
    }
}
