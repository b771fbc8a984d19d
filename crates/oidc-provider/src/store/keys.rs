//! Signing keys (`signing_keys`, `signing_keys_version`).

use super::{Store, StoreError};
use sqlx::FromRow;

/// A signing key as stored: the private key sealed.
#[derive(Debug, Clone, FromRow)]
pub struct StoredKey {
    pub kid: String,
    pub alg: String,
    pub state: String,
    pub private_key: String,
    pub created_at: i64,
    pub retire_after: Option<i64>,
    /// When the key signs (or signed) from; `None` for a key that never signed.
    pub active_from: Option<i64>,
}

/// A stored key's new state: `retire_after` is written as given, `active_from` only when set
/// (a retiring key keeps the moment it started signing).
#[derive(Debug, Clone)]
pub struct KeyStateChange {
    pub kid: String,
    pub state: &'static str,
    pub retire_after: Option<i64>,
    pub active_from: Option<i64>,
}

impl Store {
    pub async fn find_signing_keys(&self) -> Result<Vec<StoredKey>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT kid, alg, state, private_key, created_at, retire_after, active_from FROM signing_keys ORDER BY created_at, kid",
        )
        .fetch_all(&self.pool)
        .await?)
    }

    /// Bumped with every change to `signing_keys`, in the same transaction: nodes poll this one
    /// row to notice another node's rotation (or `segl keys rotate`) cheaply.
    pub async fn find_signing_keys_version(&self) -> Result<i64, StoreError> {
        let (version,): (i64,) =
            sqlx::query_as("SELECT version FROM signing_keys_version WHERE id = 1")
                .fetch_one(&self.pool)
                .await?;
        Ok(version)
    }

    /// Applies a rotation in one transaction: new keys, then state changes, then drops. A
    /// compare-and-set on `signing_keys_version` comes first: if another writer changed the keys
    /// since they were read at `expected_version`, nothing is written and the result is false.
    /// Also fails (and writes nothing) if another node activated a key for the same algorithm.
    pub async fn update_signing_keys(
        &self,
        inserts: &[StoredKey],
        state_changes: &[KeyStateChange],
        deletes: &[String],
        now: i64,
        expected_version: i64,
    ) -> Result<bool, StoreError> {
        let mut transaction = self.pool.begin().await?;
        // The first statement writes (SQLite), and the row lock serialises rotations (PostgreSQL).
        let bumped = sqlx::query(
            "UPDATE signing_keys_version SET version = version + 1 WHERE id = 1 AND version = $1",
        )
        .bind(expected_version)
        .execute(&mut *transaction)
        .await?;
        if bumped.rows_affected() != 1 {
            transaction.rollback().await?;
            return Ok(false);
        }
        // Demote first so that the one-active-key index holds at every statement.
        for change in state_changes
            .iter()
            .filter(|change| change.state != "active")
        {
            sqlx::query("UPDATE signing_keys SET state = $1, retire_after = $2, updated_at = $3 WHERE kid = $4")
                .bind(change.state)
                .bind(change.retire_after)
                .bind(now)
                .bind(&change.kid)
                .execute(&mut *transaction)
                .await?;
        }
        for change in state_changes
            .iter()
            .filter(|change| change.state == "active")
        {
            sqlx::query("UPDATE signing_keys SET state = $1, retire_after = $2, active_from = $3, updated_at = $4 WHERE kid = $5")
                .bind(change.state)
                .bind(change.retire_after)
                .bind(change.active_from)
                .bind(now)
                .bind(&change.kid)
                .execute(&mut *transaction)
                .await?;
        }
        for key in inserts {
            sqlx::query(
                "INSERT INTO signing_keys (kid, alg, state, private_key, created_at, retire_after, active_from, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(&key.kid)
            .bind(&key.alg)
            .bind(&key.state)
            .bind(&key.private_key)
            .bind(key.created_at)
            .bind(key.retire_after)
            .bind(key.active_from)
            .bind(now)
            .execute(&mut *transaction)
            .await?;
        }
        for kid in deletes {
            sqlx::query("DELETE FROM signing_keys WHERE kid = $1")
                .bind(kid)
                .execute(&mut *transaction)
                .await?;
        }
        transaction.commit().await?;
        Ok(true)
    }
}
