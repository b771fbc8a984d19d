//! The `passkeys` table: a citizen's WebAuthn credentials, stored as the provider serialized
//! them, and their use.

use super::{append_audit, Store, StoreError};
use crate::audit::AuditEvent;
use sqlx::FromRow;
use uuid::Uuid;

/// A stored passkey. `passkey` is the serialized credential as the provider handed it over;
/// the registry does not interpret it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredPasskey {
    pub credential_id: String,
    pub citizen_id: Uuid,
    pub name: String,
    pub passkey: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
}

#[derive(FromRow)]
struct PasskeyRow {
    credential_id: String,
    citizen_id: String,
    name: String,
    passkey: String,
    created_at: i64,
    last_used_at: Option<i64>,
}

impl TryFrom<PasskeyRow> for StoredPasskey {
    type Error = StoreError;

    fn try_from(row: PasskeyRow) -> Result<Self, Self::Error> {
        Ok(Self {
            citizen_id: Uuid::parse_str(&row.citizen_id)
                .map_err(|_| StoreError::Corrupt("passkey citizen id".into()))?,
            credential_id: row.credential_id,
            name: row.name,
            passkey: row.passkey,
            created_at: row.created_at,
            last_used_at: row.last_used_at,
        })
    }
}

impl Store {
    /// A citizen's passkeys, oldest first.
    pub async fn find_passkeys(&self, citizen_id: Uuid) -> Result<Vec<StoredPasskey>, StoreError> {
        let rows: Vec<PasskeyRow> = sqlx::query_as(
            "SELECT credential_id, citizen_id, name, passkey, created_at, last_used_at \
             FROM passkeys WHERE citizen_id = $1 ORDER BY created_at, credential_id",
        )
        .bind(citizen_id.to_string())
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(StoredPasskey::try_from).collect()
    }

    /// Stores a new passkey with its audit event; `Conflict` if the credential id is taken.
    pub async fn insert_passkey(
        &self,
        passkey: &StoredPasskey,
        event: AuditEvent,
    ) -> Result<(), StoreError> {
        let mut transaction = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO passkeys (credential_id, citizen_id, name, passkey, created_at, last_used_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(passkey.credential_id.clone())
        .bind(passkey.citizen_id.to_string())
        .bind(passkey.name.clone())
        .bind(passkey.passkey.clone())
        .bind(passkey.created_at)
        .bind(passkey.last_used_at)
        .execute(&mut *transaction)
        .await
        .map_err(StoreError::from_insert)?;
        append_audit(&mut transaction, vec![event]).await?;
        transaction.commit().await?;
        Ok(())
    }

    /// Records a passkey's use: when, and its updated state (signature counter, backup flags)
    /// when the authenticator reported a change.
    pub async fn update_passkey_used(
        &self,
        citizen_id: Uuid,
        credential_id: &str,
        updated_passkey: Option<&str>,
        now: i64,
        event: AuditEvent,
    ) -> Result<bool, StoreError> {
        let mut transaction = self.pool.begin().await?;
        let result = sqlx::query(
            "UPDATE passkeys SET last_used_at = $1, passkey = COALESCE($2, passkey) \
             WHERE credential_id = $3 AND citizen_id = $4",
        )
        .bind(now)
        .bind(updated_passkey.map(str::to_owned))
        .bind(credential_id.to_owned())
        .bind(citizen_id.to_string())
        .execute(&mut *transaction)
        .await?;
        if result.rows_affected() == 0 {
            return Ok(false);
        }
        append_audit(&mut transaction, vec![event]).await?;
        transaction.commit().await?;
        Ok(true)
    }
}
