//! Refresh tokens (`refresh_tokens`): families, rotation and revocation.

use super::{corrupt, json_list, to_json, Store, StoreError};
use crate::grant::ClientSid;
use sqlx::FromRow;
use uuid::Uuid;

/// A refresh token as stored (the token itself only as its hash).
#[derive(Debug, Clone)]
pub struct RefreshToken {
    pub token_hash: String,
    /// Every token rotated from one grant shares the family; reuse revokes it whole.
    pub family_id: String,
    pub client_id: String,
    pub citizen_id: Uuid,
    /// The SSO session of the grant.
    pub sid: String,
    /// The client's own sid for this session (see `session_clients.client_sid`).
    pub client_sid: ClientSid,
    pub scopes: Vec<String>,
    pub acr: String,
    pub amr: Vec<String>,
    pub auth_time: i64,
    /// Granted `offline_access`: outlives the SSO session.
    pub offline: bool,
    /// The access token issued with this refresh token.
    pub access_jti: Option<String>,
    pub created_at: i64,
    pub expires_at: i64,
    pub used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

#[derive(FromRow)]
struct RefreshRow {
    token_hash: String,
    family_id: String,
    client_id: String,
    citizen_id: String,
    sid: String,
    client_sid: String,
    scopes: String,
    acr: String,
    amr: String,
    auth_time: i64,
    offline: i64,
    access_jti: Option<String>,
    created_at: i64,
    expires_at: i64,
    used_at: Option<i64>,
    revoked_at: Option<i64>,
}

impl TryFrom<RefreshRow> for RefreshToken {
    type Error = StoreError;

    fn try_from(row: RefreshRow) -> Result<Self, StoreError> {
        Ok(RefreshToken {
            citizen_id: Uuid::parse_str(&row.citizen_id).map_err(|_| corrupt("refresh citizen"))?,
            scopes: json_list(&row.scopes, "refresh scopes")?,
            amr: json_list(&row.amr, "refresh amr")?,
            client_sid: ClientSid::new(row.client_sid),
            offline: row.offline != 0,
            token_hash: row.token_hash,
            family_id: row.family_id,
            client_id: row.client_id,
            sid: row.sid,
            acr: row.acr,
            auth_time: row.auth_time,
            access_jti: row.access_jti,
            created_at: row.created_at,
            expires_at: row.expires_at,
            used_at: row.used_at,
            revoked_at: row.revoked_at,
        })
    }
}

/// One refresh token, on a connection or inside a transaction.
pub(super) async fn insert_refresh_token(
    connection: &mut sqlx::AnyConnection,
    token: &RefreshToken,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO refresh_tokens (token_hash, family_id, client_id, citizen_id, sid, scopes, acr, amr, auth_time, \
         offline, access_jti, created_at, expires_at, client_sid) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
    )
    .bind(&token.token_hash)
    .bind(&token.family_id)
    .bind(&token.client_id)
    .bind(token.citizen_id.to_string())
    .bind(&token.sid)
    .bind(to_json(&token.scopes))
    .bind(&token.acr)
    .bind(to_json(&token.amr))
    .bind(token.auth_time)
    .bind(i64::from(token.offline))
    .bind(token.access_jti.clone())
    .bind(token.created_at)
    .bind(token.expires_at)
    .bind(token.client_sid.as_str())
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
    ) -> Result<Option<RefreshToken>, StoreError> {
        let row: Option<RefreshRow> = sqlx::query_as(
            "SELECT token_hash, family_id, client_id, citizen_id, sid, client_sid, scopes, acr, amr, auth_time, offline, \
             access_jti, created_at, expires_at, used_at, revoked_at FROM refresh_tokens \
             WHERE sid = $1 AND client_id = $2 AND access_jti = $3",
        )
        .bind(sid)
        .bind(client_id)
        .bind(access_jti)
        .fetch_optional(&self.pool)
        .await?;
        row.map(RefreshToken::try_from).transpose()
    }

    pub async fn find_refresh_token(
        &self,
        token_hash: &str,
    ) -> Result<Option<RefreshToken>, StoreError> {
        let row: Option<RefreshRow> = sqlx::query_as(
            "SELECT token_hash, family_id, client_id, citizen_id, sid, client_sid, scopes, acr, amr, auth_time, offline, \
             access_jti, created_at, expires_at, used_at, revoked_at FROM refresh_tokens WHERE token_hash = $1",
        )
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await?;
        row.map(RefreshToken::try_from).transpose()
    }

    /// Rotates a refresh token in one transaction: marks it used, only if it was not used or
    /// revoked before (compare-and-set: of two concurrent refreshes with one token, one wins and
    /// the other is a reuse), and stores its successor. Either both happen or neither, so a
    /// client that got an error may retry with the same token.
    pub async fn rotate_refresh_token(
        &self,
        token_hash: &str,
        now: i64,
        next: &RefreshToken,
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
        insert_refresh_token(&mut transaction, next).await?;
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
