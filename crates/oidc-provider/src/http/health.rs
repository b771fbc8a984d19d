//! Liveness and readiness. `/healthz`: the process answers (restart it if not). `/readyz`:
//! this node can serve now (take it out of rotation if not): the database answers within
//! [`DATABASE_TIMEOUT`], the signing keys are loaded, and the database has exactly the
//! migrations of this binary.

use super::error::RETRY_AFTER_SECONDS;
use super::AppState;
use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;
use std::time::Duration;

/// How long `/readyz` waits for the database (a pooled connection and one query).
const DATABASE_TIMEOUT: Duration = Duration::from_secs(2);

pub(super) async fn live() -> &'static str {
    "ok"
}

pub(super) async fn ready(State(state): State<AppState>) -> Response {
    let keys = if state.context.keys().is_ready() {
        "ok"
    } else {
        "no active signing key"
    };
    let applied =
        tokio::time::timeout(DATABASE_TIMEOUT, state.context.store().applied_migrations()).await;
    let (database, migrations) = match applied {
        Ok(Ok(applied)) if applied == state.expected_migrations => ("ok", "ok".to_owned()),
        Ok(Ok(applied)) => (
            "ok",
            format!(
                "{applied} applied, this binary has {}",
                state.expected_migrations
            ),
        ),
        Ok(Err(error)) => {
            tracing::warn!(%error, "readiness: the database query failed");
            ("unavailable", "unknown".to_owned())
        }
        Err(_) => ("no answer in time", "unknown".to_owned()),
    };
    let ready = keys == "ok" && database == "ok" && migrations == "ok";
    let body = if ready {
        json!({ "status": "ready" })
    } else {
        json!({
            "status": "not_ready",
            "checks": { "database": database, "keys": keys, "migrations": migrations },
        })
    };
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let mut response = (status, Json(body)).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if !ready {
        headers.insert(
            header::RETRY_AFTER,
            HeaderValue::from_static(RETRY_AFTER_SECONDS),
        );
    }
    response
}
