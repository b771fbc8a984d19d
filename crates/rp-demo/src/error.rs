//! The errors of the portal's library boundary: starting and running the server.

use crate::keys::KeyError;
use std::net::SocketAddr;

/// Why the portal could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Fix the named setting.
    #[error("setting {setting}: {reason}")]
    InvalidConfig {
        setting: &'static str,
        reason: String,
    },
    /// Fix or replace the private key.
    #[error("private key: {0}")]
    Key(#[from] KeyError),
    /// Pick another address, or stop what holds it.
    #[error("cannot listen on {address}: {source}")]
    Bind {
        address: SocketAddr,
        source: std::io::Error,
    },
    #[error("the HTTP server failed: {0}")]
    Serve(#[source] std::io::Error),
    #[error("cannot build the HTTP client: {0}")]
    HttpClient(#[source] reqwest::Error),
    #[error("cannot load the page templates: {0}")]
    Templates(#[source] minijinja::Error),
}
