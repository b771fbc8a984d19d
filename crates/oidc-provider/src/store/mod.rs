//! All of the provider's SQL, over sqlx's `AnyPool`. Owns the tables `clients`,
//! `signing_keys`, `pending_authorizations`, `sso_sessions`, `authorization_codes`,
//! `revoked_tokens`, `used_assertions`, `session_clients`, `refresh_tokens`,
//! `backchannel_deliveries`, `clients_version` and `webauthn_challenges`.

mod challenges;
mod clients;
mod codes;
mod deliveries;
mod keys;
mod pending_logins;
mod refresh_tokens;
mod revocations;
mod sessions;

pub use challenges::Challenge;
pub use codes::{AuthorizationCode, NewCode};
pub use deliveries::{Delivery, NewDelivery};
pub use keys::{KeyStateChange, StoredKey};
pub use pending_logins::{LoginState, PendingLogin};
pub use refresh_tokens::RefreshToken;

use sqlx::AnyPool;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error")]
    Database(#[from] sqlx::Error),
    #[error("a stored row is corrupt: {0}")]
    Corrupt(String),
}

impl StoreError {
    /// The database cannot serve now (one classification: [`citizen_registry::store::is_unavailable`]).
    pub fn is_unavailable(&self) -> bool {
        matches!(self, Self::Database(error) if citizen_registry::store::is_unavailable(error))
    }
}

fn corrupt(what: impl Into<String>) -> StoreError {
    StoreError::Corrupt(what.into())
}

fn json_list(text: &str, what: &str) -> Result<Vec<String>, StoreError> {
    serde_json::from_str(text).map_err(|_| corrupt(what))
}

fn to_json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "null".to_owned())
}

#[derive(Clone, Debug)]
pub struct Store {
    pool: AnyPool,
}

impl Store {
    /// How many migrations are applied (sqlx's own table): `/readyz` compares it with the
    /// binary's, and the query shows the database answers.
    pub async fn applied_migrations(&self) -> Result<i64, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations WHERE success")
                .fetch_one(&self.pool)
                .await?,
        )
    }

    pub fn new(pool: AnyPool) -> Self {
        Self { pool }
    }

    /// Deletes rows that can no longer matter. Each table has an index on its expiry.
    pub async fn delete_expired(&self, now: i64) -> Result<u64, StoreError> {
        let mut deleted = 0;
        for sql in [
            "DELETE FROM pending_authorizations WHERE expires_at <= $1",
            "DELETE FROM authorization_codes WHERE expires_at <= $1 - 3600",
            "DELETE FROM used_assertions WHERE expires_at <= $1",
            "DELETE FROM revoked_tokens WHERE expires_at <= $1",
            "DELETE FROM session_clients WHERE expires_at <= $1",
            "DELETE FROM refresh_tokens WHERE expires_at <= $1",
            "DELETE FROM webauthn_challenges WHERE expires_at <= $1",
        ] {
            deleted += sqlx::query(sql)
                .bind(now)
                .execute(&self.pool)
                .await?
                .rows_affected();
        }
        Ok(deleted)
    }
}
