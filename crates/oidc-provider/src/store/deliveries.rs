//! Back-channel logout deliveries (`backchannel_deliveries`): queued with the logout, leased while tried.

use super::{corrupt, Store, StoreError};
use crate::grant::ClientSid;
use sqlx::FromRow;
use uuid::Uuid;

/// A back-channel logout to deliver; `id` becomes the logout token's `jti`.
pub struct NewDelivery {
    pub id: String,
    pub client_id: String,
    pub citizen_id: Uuid,
    /// The client's own sid for the session, carried by its logout token.
    pub client_sid: ClientSid,
}

/// A queued back-channel logout delivery.
#[derive(Clone, Debug)]
pub struct Delivery {
    pub id: String,
    pub client_id: String,
    pub citizen_id: Uuid,
    /// The client's own sid for the session, carried by its logout token.
    pub client_sid: ClientSid,
    /// Attempts made so far.
    pub attempts: i64,
}

#[derive(FromRow)]
pub(super) struct DeliveryRow {
    id: String,
    client_id: String,
    citizen_id: String,
    sid: String,
    attempts: i64,
}

impl TryFrom<DeliveryRow> for Delivery {
    type Error = StoreError;

    fn try_from(row: DeliveryRow) -> Result<Self, StoreError> {
        Ok(Delivery {
            citizen_id: Uuid::parse_str(&row.citizen_id)
                .map_err(|_| corrupt("backchannel_deliveries.citizen_id"))?,
            id: row.id,
            client_id: row.client_id,
            client_sid: ClientSid::new(row.sid),
            attempts: row.attempts,
        })
    }
}

impl Store {
    /// Ends a session and queues its back-channel logout deliveries in one transaction, so an
    /// acknowledged logout reaches every client even if this node stops. False when the
    /// session had already ended (nothing is queued then).
    pub async fn update_session_ended_queueing(
        &self,
        sid: &str,
        now: i64,
        deliveries: &[NewDelivery],
    ) -> Result<bool, StoreError> {
        let mut transaction = self.pool.begin().await?;
        let ended = sqlx::query(
            "UPDATE sso_sessions SET ended_at = $1 WHERE sid = $2 AND ended_at IS NULL",
        )
        .bind(now)
        .bind(sid)
        .execute(&mut *transaction)
        .await?
        .rows_affected()
            > 0;
        if !ended {
            transaction.rollback().await?;
            return Ok(false);
        }
        for delivery in deliveries {
            sqlx::query(
                "INSERT INTO backchannel_deliveries (id, client_id, citizen_id, sid, attempts, next_attempt_at, created_at) \
                 VALUES ($1, $2, $3, $4, 0, $5, $5)",
            )
            .bind(&delivery.id)
            .bind(&delivery.client_id)
            .bind(delivery.citizen_id.to_string())
            .bind(delivery.client_sid.as_str())
            .bind(now)
            .execute(&mut *transaction)
            .await?;
        }
        transaction.commit().await?;
        Ok(true)
    }

    /// Deliveries due at `now`, oldest first.
    pub async fn find_due_deliveries(
        &self,
        now: i64,
        limit: i64,
    ) -> Result<Vec<Delivery>, StoreError> {
        let rows: Vec<DeliveryRow> = sqlx::query_as(
            "SELECT id, client_id, citizen_id, sid, attempts FROM backchannel_deliveries \
             WHERE next_attempt_at <= $1 ORDER BY next_attempt_at LIMIT $2",
        )
        .bind(now)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(Delivery::try_from).collect()
    }

    /// Takes a due delivery for one attempt: counts the attempt and leases the row until
    /// `lease_until`, so no other node tries it meanwhile. False when another node took it.
    pub async fn claim_delivery(
        &self,
        delivery: &Delivery,
        now: i64,
        lease_until: i64,
    ) -> Result<bool, StoreError> {
        let result = sqlx::query(
            "UPDATE backchannel_deliveries SET attempts = attempts + 1, next_attempt_at = $1 \
             WHERE id = $2 AND attempts = $3 AND next_attempt_at <= $4",
        )
        .bind(lease_until)
        .bind(&delivery.id)
        .bind(delivery.attempts)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(result.rows_affected() > 0)
    }

    pub async fn update_delivery_retry(&self, id: &str, at: i64) -> Result<(), StoreError> {
        sqlx::query("UPDATE backchannel_deliveries SET next_attempt_at = $1 WHERE id = $2")
            .bind(at)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn delete_delivery(&self, id: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM backchannel_deliveries WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
