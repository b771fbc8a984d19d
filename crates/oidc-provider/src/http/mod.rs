//! HTTP: the router, security headers, and the handlers. A handler extracts, calls the
//! [`Provider`], and maps the result; protocol decisions live outside this module.

mod account;
mod authorize;
mod error;
mod form;
mod health;
mod login;
mod logout;
pub(crate) mod pages;
mod revoke;
mod token;
mod userinfo;
mod wellknown;

use crate::context::Context;
use crate::discovery::path;
use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderValue, Response, StatusCode};
use axum::routing::{get, post};
use axum::Router;
use pages::Pages;
use std::sync::Arc;
use std::time::Duration;
use tower::ServiceBuilder;
use tower_http::limit::{RequestBodyLimitLayer, ResponseBody as LimitedBody};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};

/// What every handler can reach. Every request clones it, so it is one reference count: the
/// provider alone holds a dozen, and two cores incrementing them all was measurable.
#[derive(Clone)]
pub(crate) struct AppState(Arc<Shared>);

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

pub(crate) struct Shared {
    pub context: Context,
    pub pages: Pages,
    /// `Secure` on cookies, HSTS on responses: off only for plain-http loopback development.
    pub https: bool,
    /// How many migrations the binary has: `/readyz` expects that many applied.
    pub expected_migrations: i64,
}

/// Request bodies over this are refused (413) before any handler runs.
const BODY_LIMIT_BYTES: usize = 64 * 1024;

/// The provider's routes. `expected_migrations` is the number of migrations the binary applies
/// (the migrations live with the binary): `/readyz` is ready only when the database has them.
pub fn router(context: Context, expected_migrations: i64) -> Result<Router, minijinja::Error> {
    let https = context.settings().secure_cookies();
    let state = AppState(Arc::new(Shared {
        context,
        pages: Pages::new()?,
        https,
        expected_migrations,
    }));
    let router = Router::new()
        .route(path::DISCOVERY, get(wellknown::discovery))
        .route(path::AUTHORIZATION_SERVER, get(wellknown::discovery))
        .route(path::JWKS, get(wellknown::jwks))
        .route(path::AUTHORIZE, get(authorize::get).post(authorize::post))
        .route(path::LOGIN, get(login::show).post(login::password))
        .route("/login/code", post(login::code))
        .route("/login/passkey", post(login::passkey))
        .route("/login/cancel", post(login::cancel))
        .route("/login/choose", post(login::choose))
        .route(path::CPR_MATCH, post(userinfo::cpr_match))
        .route(path::TOKEN, post(token::token))
        .route(path::USERINFO, get(userinfo::get).post(userinfo::post))
        .route(path::END_SESSION, get(logout::get).post(logout::post))
        .route("/account", get(account::show))
        .route("/account/sessions/end", post(account::end))
        .route(
            "/account/totp",
            get(account::totp_page).post(account::totp_confirm),
        )
        .route(
            "/account/passkey",
            get(account::passkey_page).post(account::passkey_finish),
        )
        .route("/account/reauth", post(account::reauthenticate))
        .route(path::REVOCATION, post(revoke::revoke))
        .route(path::INTROSPECTION, post(revoke::introspect))
        .route("/assets/segl.css", get(wellknown::stylesheet))
        .route("/assets/passkey.js", get(wellknown::passkey_script))
        .route("/healthz", get(health::live))
        .route("/readyz", get(health::ready))
        .fallback(error::not_found)
        // One stack, applied once: each `Router::layer` call would box every request again.
        // Outermost first. The trace records method and path only: query strings and bodies
        // carry codes, state and credentials.
        .layer(
            ServiceBuilder::new()
                .layer(
                    TraceLayer::new_for_http()
                        .make_span_with(|request: &Request| {
                            tracing::debug_span!("request", method = %request.method(), path = %request.uri().path())
                        })
                        .on_request(())
                        .on_response(DefaultOnResponse::new().level(tracing::Level::DEBUG)),
                )
                .option_layer(https.then(|| {
                    SetResponseHeaderLayer::overriding(
                        header::STRICT_TRANSPORT_SECURITY,
                        HeaderValue::from_static("max-age=31536000; includeSubDomains"),
                    )
                }))
                // Security headers on every response; a handler may set a stricter CSP of its own.
                .layer(SetResponseHeaderLayer::if_not_present(
                    header::CONTENT_SECURITY_POLICY,
                    HeaderValue::from_static(
                        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'",
                    ),
                ))
                .layer(SetResponseHeaderLayer::overriding(
                    header::X_CONTENT_TYPE_OPTIONS,
                    HeaderValue::from_static("nosniff"),
                ))
                .layer(SetResponseHeaderLayer::overriding(
                    header::REFERRER_POLICY,
                    HeaderValue::from_static("no-referrer"),
                ))
                .layer(SetResponseHeaderLayer::overriding(
                    header::X_FRAME_OPTIONS,
                    HeaderValue::from_static("DENY"),
                ))
                .layer(SetResponseHeaderLayer::overriding(
                    header::HeaderName::from_static("cross-origin-opener-policy"),
                    HeaderValue::from_static("same-origin"),
                ))
                .layer(TimeoutLayer::with_status_code(
                    StatusCode::REQUEST_TIMEOUT,
                    Duration::from_secs(30),
                ))
                .map_response(|response: Response<LimitedBody<Body>>| response.map(Body::new))
                .layer(RequestBodyLimitLayer::new(BODY_LIMIT_BYTES)),
        )
        .with_state(state);
    Ok(router)
}
