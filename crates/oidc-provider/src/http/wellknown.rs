//! Discovery, the JWK Set, the stylesheet and the passkey script: documents rendered once, served as bytes.

use super::AppState;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};

/// `body` is shared, not copied: a clone of `Bytes` is a reference count.
fn json_document(body: Bytes, max_age: &'static str) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(max_age));
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    response
}

pub(super) async fn discovery(State(state): State<AppState>) -> Response {
    json_document(state.context.discovery_json(), "public, max-age=300")
}

/// Short caching: a relying party must see a new key soon after it is published.
pub(super) async fn jwks(State(state): State<AppState>) -> Response {
    let mut response = json_document(state.context.keys().jwks(), "public, max-age=60");
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/jwk-set+json"),
    );
    response
}

pub(super) async fn stylesheet() -> Response {
    let mut response = include_str!("../../assets/segl.css").into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/css; charset=utf-8"),
    );
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    response
}

/// The passkey ceremony script (pages carry no inline script: CSP `script-src 'self'`).
pub(super) async fn passkey_script() -> Response {
    let mut response = include_str!("../../assets/passkey.js").into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/javascript; charset=utf-8"),
    );
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    response
}
