//! Authorization codes (`authorization_codes`): single use, redeemed with the grant's refresh token in one transaction.

use super::refresh_tokens::{insert_refresh_token, RefreshToken};
use super::{corrupt, json_list, to_json, Store, StoreError};
use crate::pkce::{self, CodeChallenge};
use sqlx::FromRow;
use uuid::Uuid;

/// An authorization code's grant, as stored (the code itself only as its hash).
#[derive(Debug, Clone)]
pub struct AuthorizationCode {
    pub client_id: String,
    pub redirect_uri: String,
    pub citizen_id: Uuid,
    /// The SSO session the code was issued in.
    pub sid: String,
    pub scopes: Vec<String>,
    pub nonce: String,
    pub code_challenge: CodeChallenge,
    pub auth_time: i64,
    pub acr: String,
    pub amr: Vec<String>,
    pub expires_at: i64,
    pub redeemed_at: Option<i64>,
    /// The access token issued when the code was redeemed.
    pub access_jti: Option<String>,
}

#[derive(FromRow)]
struct CodeRow {
    client_id: String,
    redirect_uri: String,
    citizen_id: String,
    sid: String,
    scopes: String,
    nonce: String,
    code_challenge: String,
    auth_time: i64,
    acr: String,
    amr: String,
    expires_at: i64,
    redeemed_at: Option<i64>,
    access_jti: Option<String>,
}

impl TryFrom<CodeRow> for AuthorizationCode {
    type Error = StoreError;

    fn try_from(row: CodeRow) -> Result<Self, StoreError> {
        Ok(AuthorizationCode {
            citizen_id: Uuid::parse_str(&row.citizen_id).map_err(|_| corrupt("code citizen"))?,
            scopes: json_list(&row.scopes, "code scopes")?,
            amr: json_list(&row.amr, "code amr")?,
            // Only S256 challenges are ever stored (RFC 7636 4.2, docs/NEMLOGIN.md).
            code_challenge: CodeChallenge::parse(&row.code_challenge, Some(pkce::S256))
                .map_err(|_| corrupt("code challenge"))?,
            client_id: row.client_id,
            redirect_uri: row.redirect_uri,
            sid: row.sid,
            nonce: row.nonce,
            auth_time: row.auth_time,
            acr: row.acr,
            expires_at: row.expires_at,
            redeemed_at: row.redeemed_at,
            access_jti: row.access_jti,
        })
    }
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

    pub async fn find_code(
        &self,
        code_hash: &str,
    ) -> Result<Option<AuthorizationCode>, StoreError> {
        let row: Option<CodeRow> = sqlx::query_as(
            "SELECT client_id, redirect_uri, citizen_id, sid, scopes, nonce, code_challenge, auth_time, acr, amr, \
             expires_at, redeemed_at, access_jti FROM authorization_codes WHERE code_hash = $1",
        )
        .bind(code_hash)
        .fetch_optional(&self.pool)
        .await?;
        row.map(AuthorizationCode::try_from).transpose()
    }

    /// Redeems a code (compare-and-set on `redeemed_at`) and stores the grant's refresh token in
    /// one transaction: either the code is spent and the token exists, or neither. False when
    /// another request redeemed the code first.
    pub async fn redeem_code(
        &self,
        code_hash: &str,
        access_jti: &str,
        now: i64,
        refresh: Option<&RefreshToken>,
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
        if let Some(token) = refresh {
            insert_refresh_token(&mut transaction, token).await?;
        }
        transaction.commit().await?;
        Ok(true)
    }
}
