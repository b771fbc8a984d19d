//! The OpenID Connect provider: discovery, clients, authorization, tokens and signing keys.
//!
//! Protocol rules live in plain modules (no axum, no sqlx) that take the time as an argument;
//! `store` holds all of the crate's SQL and `http` maps requests to the domain and back.

pub mod authorize;
pub mod client;
pub mod client_auth;
pub mod keys;
pub mod pkce;
