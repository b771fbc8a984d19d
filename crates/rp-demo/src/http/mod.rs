//! HTTP: the router, security headers, cookies and the handlers. A handler extracts, calls the
//! [`RelyingParty`], and maps the result; the protocol decisions live outside this module.

mod cookies;
mod error;
mod login;
mod logout;
mod pages;

use crate::error::Error;
use crate::pages::Pages;
use crate::relying_party::RelyingParty;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;

/// What every handler can reach.
#[derive(Clone)]
struct AppState {
    relying_party: Arc<RelyingParty>,
    pages: Arc<Pages>,
}

/// Request bodies over this are refused (413) before any handler runs.
const BODY_LIMIT_BYTES: usize = 64 * 1024;

/// The current time in epoch seconds, passed into the domain.
fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| i64::try_from(elapsed.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or_default()
}

/// The portal's routes.
pub fn router(relying_party: Arc<RelyingParty>) -> Result<Router, Error> {
    let pages = Pages::new(&relying_party.settings().name).map_err(Error::Templates)?;
    let content_security_policy = content_security_policy(&relying_party.settings().issuer)?;
    let state = AppState {
        relying_party,
        pages: Arc::new(pages),
    };
    let router = Router::new()
        .route("/", get(pages::landing))
        .route("/me", get(pages::me))
        .route("/secure", get(pages::secure))
        .route("/poa", get(pages::power_of_attorney))
        .route("/login", get(login::login))
        .route("/callback", get(login::callback))
        .route("/logout", post(logout::logout))
        .route("/backchannel-logout", post(logout::backchannel))
        .route("/assets/portal.css", get(pages::stylesheet))
        .route("/healthz", get(|| async { "ok" }))
        .fallback(pages::not_found)
        .layer(RequestBodyLimitLayer::new(BODY_LIMIT_BYTES))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(30),
        ))
        .layer(middleware::from_fn_with_state(
            content_security_policy,
            security_headers,
        ))
        .with_state(state);
    Ok(router)
}

/// No scripts, frames or plugins; styles only from our own stylesheet; forms may lead only
/// here and to Segl (login and logout forms redirect there).
fn content_security_policy(issuer: &str) -> Result<HeaderValue, Error> {
    let origin = openidconnect::url::Url::parse(issuer)
        .map(|url| url.origin().ascii_serialization())
        .map_err(|error| Error::InvalidConfig {
            setting: "issuer",
            reason: error.to_string(),
        })?;
    let policy = format!(
        "default-src 'none'; style-src 'self'; img-src 'self'; frame-ancestors 'none'; \
         base-uri 'none'; form-action 'self' {origin}"
    );
    HeaderValue::from_str(&policy).map_err(|error| Error::InvalidConfig {
        setting: "issuer",
        reason: error.to_string(),
    })
}

/// Security headers on every response; pages hold personal data, so nothing is cached
/// unless a handler says otherwise (the stylesheet does).
async fn security_headers(
    State(content_security_policy): State<HeaderValue>,
    request: Request,
    next: Next,
) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_SECURITY_POLICY, content_security_policy);
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::HeaderName::from_static("cross-origin-opener-policy"),
        HeaderValue::from_static("same-origin"),
    );
    headers
        .entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    response
}

/// A router bound to nothing yet; [`Server::serve`] runs it on a listener.
pub(crate) struct Server {
    router: Router,
}

impl Server {
    pub(crate) fn new(relying_party: Arc<RelyingParty>) -> Result<Self, Error> {
        Ok(Self {
            router: router(relying_party)?,
        })
    }

    /// Serves until `shutdown` completes, then finishes the requests in flight.
    pub(crate) async fn serve(
        self,
        listener: tokio::net::TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), Error> {
        axum::serve(listener, self.router)
            .with_graceful_shutdown(shutdown)
            .await
            .map_err(Error::Serve)
    }
}

#[cfg(test)]
mod tests;
