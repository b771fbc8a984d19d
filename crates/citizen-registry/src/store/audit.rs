//! The tables `audit_head` and `audit_events`: appending to the hash chain (inside a caller's
//! transaction, or standalone through the group-commit writer) and reading it back.

use super::{push_values_placeholders, Store, StoreError};
use crate::audit::{self, AuditEvent, ChainedEvent};
use sqlx::{AnyConnection, AnyPool, FromRow};
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

/// Standalone events waiting for the audit writer, and who waits for them.
#[derive(Debug)]
pub(super) struct AuditJob {
    events: Vec<AuditEvent>,
    done: oneshot::Sender<Result<(), StoreError>>,
}

/// At most this many callers' events go into one transaction.
const AUDIT_BATCH_JOBS: usize = 256;

#[derive(FromRow)]
struct AuditRow {
    seq: i64,
    id: String,
    at: i64,
    kind: String,
    citizen_id: Option<String>,
    actor: String,
    client_id: Option<String>,
    ip: Option<String>,
    level: Option<String>,
    detail: String,
    prev_hash: String,
    hash: String,
}

impl TryFrom<AuditRow> for ChainedEvent {
    type Error = StoreError;

    fn try_from(row: AuditRow) -> Result<Self, StoreError> {
        let corrupt = |what: &str| StoreError::Corrupt(format!("audit event {}: {what}", row.seq));
        Ok(ChainedEvent {
            seq: row.seq,
            event: AuditEvent {
                id: Uuid::parse_str(&row.id).map_err(|_| corrupt("id"))?,
                at: row.at,
                kind: row.kind,
                citizen_id: row
                    .citizen_id
                    .as_deref()
                    .map(Uuid::parse_str)
                    .transpose()
                    .map_err(|_| corrupt("citizen_id"))?,
                actor: row.actor,
                client_id: row.client_id,
                ip: row.ip,
                level: row.level,
                detail: serde_json::from_str(&row.detail).map_err(|_| corrupt("detail"))?,
            },
            prev_hash: row.prev_hash,
            hash: row.hash,
        })
    }
}

impl Store {
    /// Records events outside any other change, and returns once they are committed.
    ///
    /// Group commit: one writer task takes the events of every caller waiting at that moment
    /// and appends them in one transaction, so a burst of `/userinfo` releases costs one chain
    /// update and one commit, not one each. If that transaction fails, each caller's events
    /// are retried in a transaction of their own, so one caller's failure is nobody else's.
    pub async fn insert_audit_events(&self, events: Vec<AuditEvent>) -> Result<(), StoreError> {
        if events.is_empty() {
            return Ok(());
        }
        let writer = self.audit_writer.get_or_init(|| {
            let (sender, jobs) = mpsc::channel(4 * AUDIT_BATCH_JOBS);
            tokio::spawn(write_audit_batches(self.pool.clone(), jobs));
            sender
        });
        let (done, committed) = oneshot::channel();
        if let Err(mpsc::error::SendError(job)) = writer.send(AuditJob { events, done }).await {
            // The writer's runtime has stopped (a test's, say): write directly.
            return insert_audit_transaction(&self.pool, job.events).await;
        }
        committed
            .await
            .unwrap_or(Err(StoreError::Database(sqlx::Error::WorkerCrashed)))
    }

    /// Events in chain order, from `after_seq` (exclusive), at most `limit`.
    pub async fn find_audit_events(
        &self,
        after_seq: i64,
        limit: i64,
    ) -> Result<Vec<ChainedEvent>, StoreError> {
        let rows: Vec<AuditRow> = sqlx::query_as(
            "SELECT seq, id, at, kind, citizen_id, actor, client_id, ip, level, detail, prev_hash, hash \
             FROM audit_events WHERE seq > $1 ORDER BY seq LIMIT $2",
        )
        .bind(after_seq)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(ChainedEvent::try_from).collect()
    }

    /// A citizen's most recent events, newest first (uses `audit_events_citizen_at`).
    pub async fn find_audit_events_for(
        &self,
        citizen_id: Uuid,
        limit: i64,
    ) -> Result<Vec<ChainedEvent>, StoreError> {
        let rows: Vec<AuditRow> = sqlx::query_as(
            "SELECT seq, id, at, kind, citizen_id, actor, client_id, ip, level, detail, prev_hash, hash \
             FROM audit_events WHERE citizen_id = $1 ORDER BY at DESC, seq DESC LIMIT $2",
        )
        .bind(citizen_id.to_string())
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(ChainedEvent::try_from).collect()
    }

    /// The chain head `(seq, hash)`.
    pub async fn find_audit_head(&self) -> Result<(i64, String), StoreError> {
        Ok(
            sqlx::query_as("SELECT seq, hash FROM audit_head WHERE id = 1")
                .fetch_one(&self.pool)
                .await?,
        )
    }
}

/// The audit writer task: waits for a job, takes every job already queued behind it, and
/// commits them together.
async fn write_audit_batches(pool: AnyPool, mut jobs: mpsc::Receiver<AuditJob>) {
    let mut batch: Vec<AuditJob> = Vec::new();
    while let Some(job) = jobs.recv().await {
        batch.push(job);
        while batch.len() < AUDIT_BATCH_JOBS {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        if batch.len() > 1 {
            let events: Vec<AuditEvent> = batch
                .iter()
                .flat_map(|job| job.events.iter().cloned())
                .collect();
            if insert_audit_transaction(&pool, events).await.is_ok() {
                for job in batch.drain(..) {
                    let _ = job.done.send(Ok(()));
                }
                continue;
            }
        }
        for job in batch.drain(..) {
            let result = insert_audit_transaction(&pool, job.events).await;
            let _ = job.done.send(result);
        }
    }
}

async fn insert_audit_transaction(
    pool: &AnyPool,
    events: Vec<AuditEvent>,
) -> Result<(), StoreError> {
    let mut transaction = pool.begin().await?;
    append_audit(&mut transaction, events).await?;
    transaction.commit().await?;
    Ok(())
}

/// Appends events to the hash chain inside the caller's transaction.
///
/// Updating the single `audit_head` row first serialises appenders: PostgreSQL holds its row
/// lock and SQLite its write lock until the transaction ends, so the chain stays linear across
/// processes and nodes. Callers make this the last statement before commit, to hold it briefly.
pub async fn append_audit(
    connection: &mut AnyConnection,
    events: Vec<AuditEvent>,
) -> Result<(), StoreError> {
    if events.is_empty() {
        return Ok(());
    }
    let count = events.len() as i64;
    let (new_seq, head_hash): (i64, String) =
        sqlx::query_as("UPDATE audit_head SET seq = seq + $1 WHERE id = 1 RETURNING seq, hash")
            .bind(count)
            .fetch_one(&mut *connection)
            .await?;
    let chained = audit::chain(events, new_seq - count, &head_hash);
    // Keep each statement under SQLite's 32,766 bound parameters.
    for chunk in chained.chunks(1000) {
        const COLUMNS: usize = 12;
        let mut sql = String::from(
            "INSERT INTO audit_events (seq, id, at, kind, citizen_id, actor, client_id, ip, level, detail, prev_hash, hash) VALUES ",
        );
        push_values_placeholders(&mut sql, connection.backend_name(), chunk.len(), COLUMNS);
        let mut query = sqlx::query(&sql);
        for chained in chunk {
            let event = &chained.event;
            query = query
                .bind(chained.seq)
                .bind(event.id.to_string())
                .bind(event.at)
                .bind(event.kind.clone())
                .bind(event.citizen_id.map(|id| id.to_string()))
                .bind(event.actor.clone())
                .bind(event.client_id.clone())
                .bind(event.ip.clone())
                .bind(event.level.clone())
                .bind(event.detail.to_string())
                .bind(chained.prev_hash.clone())
                .bind(chained.hash.clone());
        }
        query.execute(&mut *connection).await?;
    }
    let last_hash = chained
        .last()
        .map(|event| event.hash.clone())
        .unwrap_or(head_hash);
    sqlx::query("UPDATE audit_head SET hash = $1 WHERE id = 1")
        .bind(last_hash)
        .execute(&mut *connection)
        .await?;
    Ok(())
}
