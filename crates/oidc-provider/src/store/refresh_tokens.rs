//! Refresh tokens (`refresh_tokens`): families, rotation and revocation.

use super::{Store, StoreError};
use sqlx::FromRow;

/// A refresh token as stored (the token itself only as its hash).
#[derive(Debug, Clone, FromRow)]
pub struct RefreshRow {
    pub token_hash: String,
    pub family_id: String,
    pub client_id: String,
    pub citizen_id: String,
    pub sid: String,
    /// The client's own sid for this session (see `session_clients.client_sid`).
    pub client_sid: String,
    pub scopes: String,
    pub acr: String,
    pub amr: String,
    pub auth_time: i64,
    pub offline: i64,
    pub access_jti: Option<String>,
    pub created_at: i64,
    pub expires_at: i64,
    #[sqlx(default)]
    pub used_at: Option<i64>,
    #[sqlx(default)]
    pub revoked_at: Option<i64>,
}

/// One refresh-token row, on a connection or inside a transaction.
pub(super) async fn insert_refresh_row(
    connection: &mut sqlx::AnyConnection,
    row: &RefreshRow,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO refresh_tokens (token_hash, family_id, client_id, citizen_id, sid, scopes, acr, amr, auth_time, \
         offline, access_jti, created_at, expires_at, client_sid) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
    )
    .bind(&row.token_hash)
    .bind(&row.family_id)
    .bind(&row.client_id)
    .bind(&row.citizen_id)
    .bind(&row.sid)
    .bind(&row.scopes)
    .bind(&row.acr)
    .bind(&row.amr)
    .bind(row.auth_time)
    .bind(row.offline)
    .bind(row.access_jti.clone())
    .bind(row.created_at)
    .bind(row.expires_at)
    .bind(&row.client_sid)
    .execute(&mut *connection)
    .await?;
    Ok(())
}

impl Store {
    /// The first refresh token of the family issued with a code's access token (uses
    /// `refresh_tokens_sid`), to revoke the grant when the code is replayed.
    pub async fn find_refresh_token_of_code(
        &self,
        sid: &str,
        client_id: &str,
        access_jti: &str,
    ) -> Result<Option<RefreshRow>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT token_hash, family_id, client_id, citizen_id, sid, client_sid, scopes, acr, amr, auth_time, offline, \
             access_jti, created_at, expires_at, used_at, revoked_at FROM refresh_tokens \
             WHERE sid = $1 AND client_id = $2 AND access_jti = $3",
        )
        .bind(sid)
        .bind(client_id)
        .bind(access_jti)
        .fetch_optional(&self.pool)
        .await?)
    }

    pub async fn find_refresh_token(
        &self,
        token_hash: &str,
    ) -> Result<Option<RefreshRow>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT token_hash, family_id, client_id, citizen_id, sid, client_sid, scopes, acr, amr, auth_time, offline, \
             access_jti, created_at, expires_at, used_at, revoked_at FROM refresh_tokens WHERE token_hash = $1",
        )
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Rotates a refresh token in one transaction: marks it used, only if it was not used or
    /// revoked before (compare-and-set: of two concurrent refreshes with one token, one wins and
    /// the other is a reuse), and stores its successor. Either both happen or neither, so a
    /// client that got an error may retry with the same token.
    pub async fn rotate_refresh_token(
        &self,
        token_hash: &str,
        now: i64,
        next: &RefreshRow,
    ) -> Result<bool, StoreError> {
        let mut transaction = self.pool.begin().await?;
        let result = sqlx::query(
            "UPDATE refresh_tokens SET used_at = $1 WHERE token_hash = $2 AND used_at IS NULL AND revoked_at IS NULL",
        )
        .bind(now)
        .bind(token_hash)
        .execute(&mut *transaction)
        .await?;
        if result.rows_affected() == 0 {
            return Ok(false);
        }
        insert_refresh_row(&mut transaction, next).await?;
        transaction.commit().await?;
        Ok(true)
    }

    /// Revokes a whole family; returns the access token ids issued from it, to revoke them too.
    pub async fn update_refresh_family_revoked(
        &self,
        family_id: &str,
        now: i64,
    ) -> Result<Vec<(String, i64)>, StoreError> {
        sqlx::query(
            "UPDATE refresh_tokens SET revoked_at = $1 WHERE family_id = $2 AND revoked_at IS NULL",
        )
        .bind(now)
        .bind(family_id)
        .execute(&self.pool)
        .await?;
        let rows: Vec<(Option<String>, i64)> = sqlx::query_as(
            "SELECT access_jti, created_at FROM refresh_tokens WHERE family_id = $1",
        )
        .bind(family_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .filter_map(|(jti, created)| jti.map(|jti| (jti, created)))
            .collect())
    }
}
