//! All of the registry's SQL, over sqlx's `AnyPool` (SQLite or PostgreSQL). Owns the tables
//! `citizens`, `passkeys`, `audit_head`, `audit_events`, `organisations`, `employments` and
//! `powers_of_attorney`.
//!
//! SQLite note: a write transaction starts with a write, so that it takes the write lock (and
//! waits on `busy_timeout`) up front instead of failing to upgrade a read lock later.
//!
//! One file per table group, each with its own `impl Store` block: `citizens`, `credentials`
//! (password and TOTP columns), `attempts` (the failure counters and locks), `passkeys`,
//! `organisations` (with employments and powers of attorney) and `audit`. The helpers they
//! share (the error type, the dynamic citizen `UPDATE`, multi-row placeholders) are here.

mod attempts;
mod audit;
mod citizens;
mod credentials;
mod organisations;
mod passkeys;

pub use audit::append_audit;
pub use citizens::ImportedCitizen;
pub use passkeys::StoredPasskey;

pub(crate) use attempts::{Counter, Reservation};

use crate::audit::AuditEvent;
use sqlx::AnyPool;
use std::sync::{Arc, OnceLock};
use tokio::sync::mpsc;
use uuid::Uuid;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error")]
    Database(#[from] sqlx::Error),
    #[error("a stored row is corrupt: {0}")]
    Corrupt(String),
    #[error("unique constraint violated")]
    Conflict,
}

impl StoreError {
    /// Whether the database is unreachable or cannot take work now (see [`is_unavailable`]).
    pub fn is_unavailable(&self) -> bool {
        matches!(self, Self::Database(error) if is_unavailable(error))
    }

    fn from_insert(error: sqlx::Error) -> Self {
        match &error {
            sqlx::Error::Database(database) if database.is_unique_violation() => Self::Conflict,
            _ => Self::Database(error),
        }
    }
}

/// Whether a database error means "the database cannot serve now, try again later" rather than
/// a fault in the request or the code: the pool timed out or is closed, the connection failed
/// (I/O, TLS, refused, reset), PostgreSQL SQLSTATE class 08 (connection exception) or 53
/// (insufficient resources, e.g. 53100 disk full), 57P01-57P03 (shutdown, cannot connect now),
/// SQLite SQLITE_BUSY (5), SQLITE_LOCKED (6), SQLITE_IOERR (10), SQLITE_FULL (13) or
/// SQLITE_CANTOPEN (14), extended codes included. The one classification: the HTTP layer
/// answers these with 503 and `Retry-After`.
pub fn is_unavailable(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_) => true,
        sqlx::Error::Database(database) => {
            let Some(code) = database.code() else {
                return false;
            };
            if database
                .try_downcast_ref::<sqlx::sqlite::SqliteError>()
                .is_some()
            {
                // The extended result code: its low byte is the primary code.
                code.parse::<i32>()
                    .is_ok_and(|extended| matches!(extended & 0xff, 5 | 6 | 10 | 13 | 14))
            } else {
                code.starts_with("08")
                    || code.starts_with("53")
                    || matches!(code.as_ref(), "57P01" | "57P02" | "57P03")
            }
        }
        _ => false,
    }
}

/// The registry's handle on the database.
#[derive(Clone, Debug)]
pub struct Store {
    pool: AnyPool,
    /// The writer of standalone audit events, started on first use (see [`Store::insert_audit_events`]).
    audit_writer: Arc<OnceLock<mpsc::Sender<audit::AuditJob>>>,
}

/// A value bound into a dynamic `UPDATE`.
enum SqlValue {
    Text(String),
    Int(i64),
}

impl Store {
    pub fn new(pool: AnyPool) -> Self {
        Self {
            pool,
            audit_writer: Arc::default(),
        }
    }

    /// Runs `UPDATE citizens SET <assignments> WHERE id = ...` and records `event`, atomically.
    /// Returns false (and writes nothing) when no such citizen exists.
    async fn update_citizen_with_event(
        &self,
        citizen_id: Uuid,
        assignments: &str,
        values: Vec<SqlValue>,
        now: i64,
        event: AuditEvent,
    ) -> Result<bool, StoreError> {
        let sql = format!(
            "UPDATE citizens SET {assignments}, updated_at = ${} WHERE id = ${}",
            values.len() + 1,
            values.len() + 2
        );
        let mut query = sqlx::query(&sql);
        for value in values {
            query = match value {
                SqlValue::Text(text) => query.bind(text),
                SqlValue::Int(number) => query.bind(number),
            };
        }
        let mut transaction = self.pool.begin().await?;
        let result = query
            .bind(now)
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

/// Appends the `(…),(…)` parameter list of a multi-row `INSERT … VALUES`: `$1, $2, …` for
/// PostgreSQL, anonymous `?` for SQLite.
///
/// SQLite keeps the names of numbered parameters in a list that `sqlite3_bind_parameter_name`
/// scans from the start, and sqlx calls it for every parameter when it binds (the parser's name
/// lookup while preparing is a linear scan too), so a statement of P numbered parameters costs
/// O(P²): about 0.3 s to bind the 12,000 of a 1,000-row batch. Anonymous parameters have no
/// names and bind in O(P).
fn push_values_placeholders(sql: &mut String, backend: &str, rows: usize, columns: usize) {
    use std::fmt::Write as _;
    let anonymous = backend == <sqlx::Sqlite as sqlx::Database>::NAME;
    for row in 0..rows {
        sql.push_str(if row == 0 { "(" } else { ",(" });
        for column in 0..columns {
            if column > 0 {
                sql.push(',');
            }
            if anonymous {
                sql.push('?');
            } else {
                let _ = write!(sql, "${}", row * columns + column + 1);
            }
        }
        sql.push(')');
    }
}
