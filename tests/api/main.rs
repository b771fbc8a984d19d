//! The API test binary: every test starts the real server on a random port against a fresh
//! database (SQLite, or PostgreSQL when TEST_DATABASE_URL is set).

// Test helpers beside the #[test] functions fail loudly on purpose.
#![allow(clippy::expect_used, clippy::unwrap_used)]

mod helpers;

mod accessibility;
mod account;
mod audit;
mod authorize_errors;
mod browser;
mod citizens;
mod claims;
mod database;
mod enrolment;
mod faults;
mod flows;
mod import;
mod key_rotation;
mod lifecycle;
mod lockout;
mod nodes;
mod oidc_flow;
mod overload;
mod passkey;
mod passkey_browser;
mod poa;
mod professional;
mod server;
mod ssrf;
mod token_errors;
mod totp;
