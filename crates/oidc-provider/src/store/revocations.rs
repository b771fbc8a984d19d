//! Revoked access tokens (`revoked_tokens`) and used client assertions (`used_assertions`).

use super::{Store, StoreError};

impl Store {
    pub async fn insert_revoked_token(&self, jti: &str, expires_at: i64) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO revoked_tokens (jti, expires_at) VALUES ($1, $2) ON CONFLICT (jti) DO NOTHING")
            .bind(jti)
            .bind(expires_at)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn is_revoked(&self, jti: &str) -> Result<bool, StoreError> {
        let row: Option<(String,)> =
            sqlx::query_as("SELECT jti FROM revoked_tokens WHERE jti = $1")
                .bind(jti)
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.is_some())
    }

    /// Records an assertion id; false if it was used before (RFC 7523 3, item 7).
    pub async fn insert_used_assertion(
        &self,
        client_jti: &str,
        expires_at: i64,
    ) -> Result<bool, StoreError> {
        let result = sqlx::query(
            "INSERT INTO used_assertions (client_jti, expires_at) VALUES ($1, $2) ON CONFLICT (client_jti) DO NOTHING",
        )
        .bind(client_jti)
        .bind(expires_at)
        .execute(&self.pool)
        .await?;
        Ok(result.rows_affected() > 0)
    }
}
