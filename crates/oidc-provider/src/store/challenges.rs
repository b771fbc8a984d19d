//! WebAuthn registration ceremonies (`webauthn_challenges`).

use super::{corrupt, Store, StoreError};
use sqlx::FromRow;
use uuid::Uuid;

/// A WebAuthn ceremony started from the account page.
#[derive(Debug, Clone)]
pub struct Challenge {
    pub id: String,
    pub citizen_id: Uuid,
    /// SHA-256 of the session cookie the ceremony was started in.
    pub session_hash: String,
    /// The ceremony state (challenge, options), as the passkey module keeps it.
    pub state: serde_json::Value,
    pub created_at: i64,
    pub expires_at: i64,
}

#[derive(FromRow)]
struct ChallengeRow {
    id: String,
    citizen_id: String,
    session_hash: String,
    state: String,
    created_at: i64,
    expires_at: i64,
}

impl TryFrom<ChallengeRow> for Challenge {
    type Error = StoreError;

    fn try_from(row: ChallengeRow) -> Result<Self, StoreError> {
        Ok(Challenge {
            citizen_id: Uuid::parse_str(&row.citizen_id)
                .map_err(|_| corrupt("webauthn challenge citizen"))?,
            state: serde_json::from_str(&row.state).map_err(|_| corrupt("webauthn challenge"))?,
            id: row.id,
            session_hash: row.session_hash,
            created_at: row.created_at,
            expires_at: row.expires_at,
        })
    }
}

impl Store {
    pub async fn insert_challenge(&self, challenge: &Challenge) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO webauthn_challenges (id, citizen_id, session_hash, state, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&challenge.id)
        .bind(challenge.citizen_id.to_string())
        .bind(&challenge.session_hash)
        .bind(challenge.state.to_string())
        .bind(challenge.created_at)
        .bind(challenge.expires_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Takes a ceremony (single use): deletes it and returns it if it had not expired.
    pub async fn delete_challenge(
        &self,
        id: &str,
        now: i64,
    ) -> Result<Option<Challenge>, StoreError> {
        let row: Option<ChallengeRow> = sqlx::query_as(
            "DELETE FROM webauthn_challenges WHERE id = $1 \
             RETURNING id, citizen_id, session_hash, state, created_at, expires_at",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.filter(|row| row.expires_at > now)
            .map(Challenge::try_from)
            .transpose()
    }
}
