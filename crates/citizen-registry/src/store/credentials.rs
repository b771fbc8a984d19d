//! The credential columns of `citizens`: the password hash and the sealed TOTP secret with its
//! last used step (the failure counters on them are in `attempts.rs`).

use super::{SqlValue, Store, StoreError};
use crate::audit::AuditEvent;
use sqlx::FromRow;
use uuid::Uuid;

#[derive(FromRow)]
pub(crate) struct TotpRow {
    pub totp_secret: Option<String>,
    pub totp_last_step: Option<i64>,
    pub totp_locked_until: Option<i64>,
}

impl Store {
    pub(crate) async fn find_totp_row(
        &self,
        citizen_id: Uuid,
    ) -> Result<Option<TotpRow>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT totp_secret, totp_last_step, totp_locked_until FROM citizens WHERE id = $1",
        )
        .bind(citizen_id.to_string())
        .fetch_optional(&self.pool)
        .await?)
    }

    pub async fn update_password(
        &self,
        citizen_id: Uuid,
        hash: &str,
        now: i64,
        event: AuditEvent,
    ) -> Result<bool, StoreError> {
        self.update_citizen_with_event(
            citizen_id,
            "password_hash = $1, password_changed_at = $2, failed_attempts = 0, locked_until = NULL",
            vec![SqlValue::Text(hash.to_owned()), SqlValue::Int(now)],
            now,
            event,
        )
        .await
    }

    pub async fn update_totp(
        &self,
        citizen_id: Uuid,
        sealed_secret: &str,
        now: i64,
        event: AuditEvent,
    ) -> Result<bool, StoreError> {
        self.update_citizen_with_event(
            citizen_id,
            "totp_secret = $1, totp_enrolled_at = $2, totp_last_step = NULL",
            vec![SqlValue::Text(sealed_secret.to_owned()), SqlValue::Int(now)],
            now,
            event,
        )
        .await
    }

    /// Saves a TOTP secret confirmed with its first code: that code's step counts as used.
    pub async fn update_totp_confirmed(
        &self,
        citizen_id: Uuid,
        sealed_secret: &str,
        used_step: i64,
        now: i64,
        event: AuditEvent,
    ) -> Result<bool, StoreError> {
        self.update_citizen_with_event(
            citizen_id,
            "totp_secret = $1, totp_enrolled_at = $2, totp_last_step = $3",
            vec![
                SqlValue::Text(sealed_secret.to_owned()),
                SqlValue::Int(now),
                SqlValue::Int(used_step),
            ],
            now,
            event,
        )
        .await
    }
}
