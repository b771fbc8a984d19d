//! The OpenID Connect provider: discovery, clients, authorization, tokens and signing keys.
//!
//! Protocol rules live in plain modules (no axum, no sqlx) that take the time as an argument;
//! `store` holds all of the crate's SQL and `http` maps requests to the domain and back.

pub mod authorize;
mod claims;
pub mod client;
mod client_auth;
mod client_cache;
pub mod context;
pub mod discovery;
mod error;
pub mod flows;
pub mod fuzz;
mod grant;
mod http;
pub mod keyring;
pub mod keys;
mod level;
pub mod outbound;
mod passkey;
mod pkce;
pub mod session;
pub mod store;
mod tokens;

pub use http::router;
