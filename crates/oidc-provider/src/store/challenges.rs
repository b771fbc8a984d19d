//! WebAuthn registration ceremonies (`webauthn_challenges`).

use super::{Store, StoreError};
use sqlx::FromRow;

/// A WebAuthn ceremony started from the account page.
#[derive(Debug, Clone, FromRow)]
pub struct ChallengeRow {
    pub id: String,
    pub citizen_id: String,
    /// SHA-256 of the session cookie the ceremony was started in.
    pub session_hash: String,
    /// The serialized ceremony state (challenge, options).
    pub state: String,
    pub created_at: i64,
    pub expires_at: i64,
}

impl Store {
    pub async fn insert_challenge(&self, row: &ChallengeRow) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO webauthn_challenges (id, citizen_id, session_hash, state, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(row.id.clone())
        .bind(row.citizen_id.clone())
        .bind(row.session_hash.clone())
        .bind(row.state.clone())
        .bind(row.created_at)
        .bind(row.expires_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Takes a ceremony (single use): deletes it and returns it if it had not expired.
    pub async fn delete_challenge(
        &self,
        id: &str,
        now: i64,
    ) -> Result<Option<ChallengeRow>, StoreError> {
        let row: Option<ChallengeRow> = sqlx::query_as(
            "DELETE FROM webauthn_challenges WHERE id = $1 \
             RETURNING id, citizen_id, session_hash, state, created_at, expires_at",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.filter(|row| row.expires_at > now))
    }
}
