//! Pending logins (`pending_authorizations`): an authorization request waiting for the citizen.

use super::{to_json, Store, StoreError};
use sqlx::FromRow;
use uuid::Uuid;

/// A pending authorization request row.
#[derive(Debug, Clone, FromRow)]
pub struct PendingRow {
    pub id: String,
    pub request: String,
    pub browser_hash: String,
    pub csrf_token: String,
    pub citizen_id: Option<String>,
    pub amr: Option<String>,
    pub created_at: i64,
    pub expires_at: i64,
}

impl Store {
    pub async fn insert_pending(&self, row: &PendingRow) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO pending_authorizations (id, request, browser_hash, csrf_token, citizen_id, amr, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&row.id)
        .bind(&row.request)
        .bind(&row.browser_hash)
        .bind(&row.csrf_token)
        .bind(row.citizen_id.clone())
        .bind(row.amr.clone())
        .bind(row.created_at)
        .bind(row.expires_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn find_pending(&self, id: &str, now: i64) -> Result<Option<PendingRow>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT id, request, browser_hash, csrf_token, citizen_id, amr, created_at, expires_at \
             FROM pending_authorizations WHERE id = $1 AND expires_at > $2",
        )
        .bind(id)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Records the citizen and factors so far (between the password and a second factor).
    pub async fn update_pending_progress(
        &self,
        id: &str,
        citizen_id: Uuid,
        amr: &[String],
        request: &str,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE pending_authorizations SET citizen_id = $1, amr = $2, request = $3 WHERE id = $4")
            .bind(citizen_id.to_string())
            .bind(to_json(&amr))
            .bind(request)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Replaces the stored request state (e.g. the count of wrong codes).
    pub async fn update_pending_request(&self, id: &str, request: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE pending_authorizations SET request = $1 WHERE id = $2")
            .bind(request)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Deletes a pending request; true only for the one caller that deleted it (single use).
    pub async fn delete_pending(&self, id: &str) -> Result<bool, StoreError> {
        let result = sqlx::query("DELETE FROM pending_authorizations WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(result.rows_affected() > 0)
    }
}
