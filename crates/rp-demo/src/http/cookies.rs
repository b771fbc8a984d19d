//! The portal's two cookies: the login in flight (`Path=/callback`, 10 minutes) and the
//! session (`Path=/`, until the browser closes). Both are HttpOnly and SameSite=Lax, so the
//! redirect back from Segl (a top-level GET) carries them but cross-site POSTs do not.

use crate::config::Settings;
use crate::pending::PENDING_LIFETIME_SECONDS;
use axum::http::{header, HeaderMap, HeaderValue};
use cookie::time::Duration;
use cookie::{Cookie, SameSite};

/// The value of the cookie `name` in the request, if sent (first one wins).
pub(super) fn read(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|cookie| cookie.name() == name)
        .map(|cookie| cookie.value().to_owned())
}

fn build(settings: &Settings, name: String, value: String, path: &'static str) -> Cookie<'static> {
    Cookie::build((name, value))
        .path(path)
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(settings.https)
        .build()
}

fn header_value(cookie: &Cookie<'_>) -> Option<HeaderValue> {
    HeaderValue::from_str(&cookie.to_string()).ok()
}

/// Holds the id of a login in flight, for the callback only.
pub(super) fn login(settings: &Settings, pending_id: &str) -> Option<HeaderValue> {
    let mut cookie = build(
        settings,
        settings.login_cookie(),
        pending_id.to_owned(),
        "/callback",
    );
    cookie.set_max_age(Duration::seconds(PENDING_LIFETIME_SECONDS));
    header_value(&cookie)
}

/// Removes the login cookie.
pub(super) fn clear_login(settings: &Settings) -> Option<HeaderValue> {
    let mut cookie = build(
        settings,
        settings.login_cookie(),
        String::new(),
        "/callback",
    );
    cookie.make_removal();
    header_value(&cookie)
}

/// Holds the local session id.
pub(super) fn session(settings: &Settings, session_id: &str) -> Option<HeaderValue> {
    header_value(&build(
        settings,
        settings.session_cookie(),
        session_id.to_owned(),
        "/",
    ))
}

/// Removes the session cookie.
pub(super) fn clear_session(settings: &Settings) -> Option<HeaderValue> {
    let mut cookie = build(settings, settings.session_cookie(), String::new(), "/");
    cookie.make_removal();
    header_value(&cookie)
}
