//! The OpenID Connect provider: discovery, clients, authorization, tokens and signing keys.
//!
//! Protocol rules live in plain modules (no axum, no sqlx) that take the time as an argument;
//! `store` holds all of the crate's SQL and `http` maps requests to the domain and back.

pub mod authorize;
pub mod claims;
pub mod client;
pub mod client_auth;
pub mod client_cache;
pub mod context;
pub mod discovery;
pub mod error;
pub mod flows;
pub mod fuzz;
pub mod grant;
pub mod http;
pub mod keyring;
pub mod keys;
pub mod level;
pub mod outbound;
pub mod passkey;
pub mod pkce;
pub mod session;
pub mod store;
pub mod tokens;

pub use http::router;
