//! Authorization codes (`authorization_codes`): single use, redeemed with the grant's refresh token in one transaction.

use super::refresh_tokens::{insert_refresh_row, RefreshRow};
use super::{to_json, Store, StoreError};
use sqlx::FromRow;
use uuid::Uuid;

/// An authorization code's grant, as stored.
#[derive(Debug, Clone, FromRow)]
pub struct CodeRow {
    pub client_id: String,
    pub redirect_uri: String,
    pub citizen_id: String,
    pub sid: String,
    pub scopes: String,
    pub nonce: String,
    pub code_challenge: String,
    pub auth_time: i64,
    pub acr: String,
    pub amr: String,
    pub expires_at: i64,
    pub redeemed_at: Option<i64>,
    pub access_jti: Option<String>,
}

/// A new authorization code's grant.
pub struct NewCode<'a> {
    pub code_hash: &'a str,
    pub client_id: &'a str,
    pub redirect_uri: &'a str,
    pub citizen_id: Uuid,
    pub sid: &'a str,
    pub scopes: &'a [String],
    pub nonce: &'a str,
    pub code_challenge: &'a str,
    pub auth_time: i64,
    pub acr: &'a str,
    pub amr: &'a [String],
    pub created_at: i64,
    pub expires_at: i64,
}

impl Store {
    pub async fn insert_code(&self, code: &NewCode<'_>) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO authorization_codes (code_hash, client_id, redirect_uri, citizen_id, sid, scopes, nonce, \
             code_challenge, auth_time, acr, amr, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
        )
        .bind(code.code_hash)
        .bind(code.client_id)
        .bind(code.redirect_uri)
        .bind(code.citizen_id.to_string())
        .bind(code.sid)
        .bind(to_json(&code.scopes))
        .bind(code.nonce)
        .bind(code.code_challenge)
        .bind(code.auth_time)
        .bind(code.acr)
        .bind(to_json(&code.amr))
        .bind(code.created_at)
        .bind(code.expires_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn find_code(&self, code_hash: &str) -> Result<Option<CodeRow>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT client_id, redirect_uri, citizen_id, sid, scopes, nonce, code_challenge, auth_time, acr, amr, \
             expires_at, redeemed_at, access_jti FROM authorization_codes WHERE code_hash = $1",
        )
        .bind(code_hash)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Redeems a code (compare-and-set on `redeemed_at`) and stores the grant's refresh token in
    /// one transaction: either the code is spent and the token exists, or neither. False when
    /// another request redeemed the code first.
    pub async fn redeem_code(
        &self,
        code_hash: &str,
        access_jti: &str,
        now: i64,
        refresh: Option<&RefreshRow>,
    ) -> Result<bool, StoreError> {
        let mut transaction = self.pool.begin().await?;
        let result = sqlx::query(
            "UPDATE authorization_codes SET redeemed_at = $1, access_jti = $2 WHERE code_hash = $3 AND redeemed_at IS NULL",
        )
        .bind(now)
        .bind(access_jti)
        .bind(code_hash)
        .execute(&mut *transaction)
        .await?;
        if result.rows_affected() == 0 {
            return Ok(false);
        }
        if let Some(row) = refresh {
            insert_refresh_row(&mut transaction, row).await?;
        }
        transaction.commit().await?;
        Ok(true)
    }
}
