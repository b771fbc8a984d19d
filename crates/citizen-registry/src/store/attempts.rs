//! The failure counters of `citizens` (passwords and one-time codes): attempts reserved before
//! a credential is compared, settled as a failure (with the lock the lockout policy calls for,
//! computed in SQL) or as a success, or released uncounted.

use super::{append_audit, Store, StoreError};
use crate::audit::AuditEvent;
use crate::citizen::UserId;
use crate::lockout::LockCurve;
use sqlx::FromRow;
use std::sync::OnceLock;
use uuid::Uuid;

/// Credentials needed to check a password login, and the failure count when the attempt was
/// reserved. Never leaves the crate.
#[derive(FromRow)]
pub(crate) struct PasswordRow {
    pub id: String,
    pub status: String,
    pub password_hash: Option<String>,
    pub failed_attempts: i64,
}

/// Which failure counter of a citizen to count on.
#[derive(Clone, Copy)]
pub(crate) enum Counter {
    /// Wrong passwords (`failed_attempts`, `locked_until`).
    Password,
    /// Wrong one-time codes (`totp_failures`, `totp_locked_until`).
    Totp,
}

impl Counter {
    /// The counter's columns: the count, the lock, the attempts in flight and their lease
    /// (fixed names, never input).
    fn columns(self) -> Columns {
        match self {
            Counter::Password => Columns {
                count: "failed_attempts",
                lock: "locked_until",
                in_flight: "attempts_in_flight",
                lease: "attempts_lease_until",
            },
            Counter::Totp => Columns {
                count: "totp_failures",
                lock: "totp_locked_until",
                in_flight: "totp_in_flight",
                lease: "totp_lease_until",
            },
        }
    }
}

struct Columns {
    count: &'static str,
    lock: &'static str,
    in_flight: &'static str,
    lease: &'static str,
}

/// How long a reserved attempt holds its place if its node never settles it (a crash): far
/// longer than any check, queueing for a hashing thread included.
const ATTEMPT_LEASE_SECONDS: i64 = 60;

/// The conditional UPDATE that reserves an attempt, in one statement, on `$1` (`key`):
/// unless the citizen is locked at `$2`, and only while fewer attempts are in flight than may
/// still fail before the lock (the free attempts left, or one once they are spent), one more
/// is in flight. `$3` is `free_attempts`, `$4` the lease's end.
fn reserve_sql(columns: &Columns, key: &str, also: &str, returning: &str) -> String {
    let Columns {
        count,
        lock,
        in_flight,
        lease,
    } = columns;
    let live = format!("CASE WHEN {lease} IS NULL OR {lease} <= $2 THEN 0 ELSE {in_flight} END");
    format!(
        "UPDATE citizens SET {in_flight} = {live} + 1, {lease} = $4 \
         WHERE {key} = $1{also} AND ({lock} IS NULL OR {lock} <= $2) \
         AND {live} < CASE WHEN $3 - {count} > 1 THEN $3 - {count} ELSE 1 END \
         RETURNING {returning}"
    )
}

/// Takes one attempt out of flight (never below zero).
fn leave_flight(in_flight: &str) -> String {
    format!("{in_flight} = CASE WHEN {in_flight} > 0 THEN {in_flight} - 1 ELSE 0 END")
}

/// A reserved attempt: the failure count when it was reserved, to settle a success with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Reservation {
    pub count: i64,
}

/// The TOTP state of a citizen whose code attempt was just reserved.
#[derive(FromRow)]
pub(crate) struct ReservedTotpRow {
    pub totp_secret: String,
    pub totp_last_step: Option<i64>,
    pub totp_failures: i64,
}

/// The lock after one more failure on `count` (the column, before the update), in SQL: the
/// policy's [`LockoutPolicy::locked_until`](crate::lockout::LockoutPolicy::locked_until)
/// through its [`LockCurve`], with `$2` the time and `$3`..`$7` the curve (see
/// [`bind_curve`]). The shift runs only below `steady_from`, where it cannot overflow.
fn lock_after_next(count: &str) -> String {
    format!(
        "CASE WHEN {count} + 1 < $3 THEN NULL \
         WHEN {count} + 1 - $3 >= $6 THEN $2 + $7 \
         WHEN ($4 << CAST({count} + 1 - $3 AS INTEGER)) > $5 THEN $2 + $5 \
         ELSE $2 + ($4 << CAST({count} + 1 - $3 AS INTEGER)) END"
    )
}

/// Binds `$2` (the time) and `$3`..`$7` of [`lock_after_next`] after `$1`.
fn bind_curve<'q, O>(
    query: sqlx::query::QueryAs<'q, sqlx::Any, O, sqlx::any::AnyArguments<'q>>,
    at: i64,
    curve: LockCurve,
) -> sqlx::query::QueryAs<'q, sqlx::Any, O, sqlx::any::AnyArguments<'q>> {
    query
        .bind(at)
        .bind(curve.free_attempts)
        .bind(curve.base_delay_seconds)
        .bind(curve.max_delay_seconds)
        .bind(curve.steady_from)
        .bind(curve.steady_delay)
}

/// Settles a reserved attempt that succeeded: the failure count starts again, only if no
/// failure was counted since the reservation (`$2`, the count it saw); a failure that came
/// meanwhile stands, with its lock.
fn reset_if_unchanged(count: &str, lock: &str) -> String {
    format!(
        "{count} = CASE WHEN {count} = $2 THEN 0 ELSE {count} END, \
         {lock} = CASE WHEN {count} = $2 THEN NULL ELSE {lock} END"
    )
}

impl Store {
    /// Reserves a password attempt, atomically and before the password is checked (see
    /// [`reserve_sql`]), and returns the credentials with the failure count. `None`: no such
    /// user ID, locked, or as many attempts in flight as may fail (see
    /// [`Store::find_password_lock`]). So a burst of guesses, on any number of nodes, gets only
    /// the policy's free attempts checked.
    pub(crate) async fn reserve_password_attempt(
        &self,
        user_id: &UserId,
        at: i64,
        free_attempts: i64,
    ) -> Result<Option<PasswordRow>, StoreError> {
        static SQL: OnceLock<String> = OnceLock::new();
        let sql = SQL.get_or_init(|| {
            reserve_sql(
                &Counter::Password.columns(),
                "user_id_key",
                "",
                "id, status, password_hash, failed_attempts",
            )
        });
        Ok(sqlx::query_as(sql)
            .bind(user_id.key())
            .bind(at)
            .bind(free_attempts)
            .bind(at + ATTEMPT_LEASE_SECONDS)
            .fetch_optional(&self.pool)
            .await?)
    }

    /// The citizen id and password lock of a user ID, if it exists.
    pub(crate) async fn find_password_lock(
        &self,
        user_id: &UserId,
    ) -> Result<Option<(String, Option<i64>)>, StoreError> {
        Ok(
            sqlx::query_as("SELECT id, locked_until FROM citizens WHERE user_id_key = $1")
                .bind(user_id.key())
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    /// Reserves a one-time code attempt, as [`Store::reserve_password_attempt`] does for
    /// passwords (none without an authenticator), and returns the secret, the last used step
    /// and the failure count.
    pub(crate) async fn reserve_totp_attempt(
        &self,
        citizen_id: Uuid,
        at: i64,
        free_attempts: i64,
    ) -> Result<Option<ReservedTotpRow>, StoreError> {
        static SQL: OnceLock<String> = OnceLock::new();
        let sql = SQL.get_or_init(|| {
            reserve_sql(
                &Counter::Totp.columns(),
                "id",
                " AND totp_secret IS NOT NULL",
                "totp_secret, totp_last_step, totp_failures",
            )
        });
        Ok(sqlx::query_as(sql)
            .bind(citizen_id.to_string())
            .bind(at)
            .bind(free_attempts)
            .bind(at + ATTEMPT_LEASE_SECONDS)
            .fetch_optional(&self.pool)
            .await?)
    }

    /// Takes a reserved attempt out of flight without counting it: it was never compared
    /// (hashing was overloaded), or it was the right password of a citizen who may not log in.
    pub(crate) async fn release_attempt(
        &self,
        counter: Counter,
        citizen_id: Uuid,
    ) -> Result<(), StoreError> {
        let columns = counter.columns();
        sqlx::query(&format!(
            "UPDATE citizens SET {} WHERE id = $1",
            leave_flight(columns.in_flight)
        ))
        .bind(citizen_id.to_string())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Records a used TOTP step, only if it is newer than the last one (compare-and-set, so two
    /// nodes cannot both accept the same code), and settles the reserved attempt as a success
    /// (see [`reset_if_unchanged`]). Returns whether this call won; if not, the caller counts
    /// the attempt as a failure.
    pub(crate) async fn update_totp_step(
        &self,
        citizen_id: Uuid,
        step: i64,
        reserved: Reservation,
        event: AuditEvent,
    ) -> Result<bool, StoreError> {
        static SQL: OnceLock<String> = OnceLock::new();
        let sql = SQL.get_or_init(|| {
            format!(
                "UPDATE citizens SET totp_last_step = $3, {}, {} \
                 WHERE id = $1 AND (totp_last_step IS NULL OR totp_last_step < $3)",
                reset_if_unchanged("totp_failures", "totp_locked_until"),
                leave_flight("totp_in_flight")
            )
        });
        let mut transaction = self.pool.begin().await?;
        let result = sqlx::query(sql)
            .bind(citizen_id.to_string())
            .bind(reserved.count)
            .bind(step)
            .execute(&mut *transaction)
            .await?;
        if result.rows_affected() == 0 {
            return Ok(false);
        }
        append_audit(&mut transaction, vec![event]).await?;
        transaction.commit().await?;
        Ok(true)
    }

    /// Settles a reserved attempt as a failure: one more on `counter`, the lock its new count
    /// calls for (the lockout policy, computed in SQL from `curve`), the attempt out of
    /// flight, and the event (with the count and the lock in its detail), in one transaction.
    pub(crate) async fn update_failure(
        &self,
        counter: Counter,
        citizen_id: Uuid,
        at: i64,
        curve: LockCurve,
        event: AuditEvent,
    ) -> Result<(), StoreError> {
        let columns = counter.columns();
        let detail_name = match counter {
            Counter::Password => "failed_attempts",
            Counter::Totp => "failed_codes",
        };
        let sql = format!(
            "UPDATE citizens SET {count} = {count} + 1, {lock} = {next}, {flight} \
             WHERE id = $1 RETURNING {count}, {lock}",
            count = columns.count,
            lock = columns.lock,
            next = lock_after_next(columns.count),
            flight = leave_flight(columns.in_flight),
        );
        let mut transaction = self.pool.begin().await?;
        let (failures, until): (i64, Option<i64>) =
            bind_curve(sqlx::query_as(&sql).bind(citizen_id.to_string()), at, curve)
                .fetch_one(&mut *transaction)
                .await?;
        let mut event = event;
        if let serde_json::Value::Object(detail) = &mut event.detail {
            detail.insert(detail_name.into(), failures.into());
            if let Some(until) = until {
                detail.insert("locked_until".into(), until.into());
            }
        }
        append_audit(&mut transaction, vec![event]).await?;
        transaction.commit().await?;
        Ok(())
    }

    /// Settles a reserved password attempt as a success (see [`reset_if_unchanged`]) and
    /// records it.
    pub(crate) async fn update_login_success(
        &self,
        citizen_id: Uuid,
        reserved: Reservation,
        event: AuditEvent,
    ) -> Result<(), StoreError> {
        static SQL: OnceLock<String> = OnceLock::new();
        let sql = SQL.get_or_init(|| {
            format!(
                "UPDATE citizens SET {}, {} WHERE id = $1",
                reset_if_unchanged("failed_attempts", "locked_until"),
                leave_flight("attempts_in_flight")
            )
        });
        let mut transaction = self.pool.begin().await?;
        sqlx::query(sql)
            .bind(citizen_id.to_string())
            .bind(reserved.count)
            .execute(&mut *transaction)
            .await?;
        append_audit(&mut transaction, vec![event]).await?;
        transaction.commit().await?;
        Ok(())
    }
}
