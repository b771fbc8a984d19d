//! All of the registry's SQL, over sqlx's `AnyPool` (SQLite or PostgreSQL). Owns the tables
//! `citizens`, `passkeys`, `audit_head`, `audit_events`, `organisations`, `employments` and
//! `powers_of_attorney`.
//!
//! SQLite note: a write transaction starts with a write, so that it takes the write lock (and
//! waits on `busy_timeout`) up front instead of failing to upgrade a read lock later.

use crate::audit::{self, AuditEvent, ChainedEvent};
use crate::citizen::{
    AssuranceLevel, Citizen, CitizenLookup, CitizenStatus, Email, NewCitizen, PersonName, UserId,
};
use crate::cpr::NationalId;
use crate::lockout::LockCurve;
use crate::organisation::{
    Cvr, Employment, Organisation, OrganisationName, PowerOfAttorney, Principal, Privilege,
};
use sqlx::AnyConnection;
use sqlx::{AnyPool, FromRow};
use std::sync::{Arc, OnceLock};
use tokio::sync::{mpsc, oneshot};
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
    audit_writer: Arc<OnceLock<mpsc::Sender<AuditJob>>>,
}

/// Standalone events waiting for the audit writer, and who waits for them.
#[derive(Debug)]
struct AuditJob {
    events: Vec<AuditEvent>,
    done: oneshot::Sender<Result<(), StoreError>>,
}

/// At most this many callers' events go into one transaction.
const AUDIT_BATCH_JOBS: usize = 256;

const CITIZEN_COLUMNS: &str = "id, cpr, user_id, given_name, family_name, email, status, ial, \
     CAST(CASE WHEN password_hash IS NULL THEN 0 ELSE 1 END AS BIGINT) AS has_password, \
     CAST(CASE WHEN totp_secret IS NULL THEN 0 ELSE 1 END AS BIGINT) AS has_totp, \
     failed_attempts, locked_until, created_at, updated_at, name_protected";

#[derive(FromRow)]
struct CitizenRow {
    id: String,
    cpr: String,
    user_id: String,
    given_name: String,
    family_name: String,
    email: Option<String>,
    status: String,
    ial: String,
    has_password: i64,
    has_totp: i64,
    failed_attempts: i64,
    locked_until: Option<i64>,
    created_at: i64,
    updated_at: i64,
    name_protected: i64,
}

impl TryFrom<CitizenRow> for Citizen {
    type Error = StoreError;

    fn try_from(row: CitizenRow) -> Result<Self, StoreError> {
        let corrupt = |what: &str| StoreError::Corrupt(format!("citizen {}: {what}", row.id));
        Ok(Citizen {
            id: Uuid::parse_str(&row.id).map_err(|_| corrupt("id"))?,
            cpr: NationalId::parse(&row.cpr).map_err(|_| corrupt("cpr"))?,
            user_id: UserId::parse(&row.user_id).map_err(|_| corrupt("user_id"))?,
            given_name: PersonName::parse(&row.given_name, "given name")
                .map_err(|_| corrupt("given_name"))?,
            family_name: PersonName::parse(&row.family_name, "family name")
                .map_err(|_| corrupt("family_name"))?,
            email: row
                .email
                .as_deref()
                .map(Email::parse)
                .transpose()
                .map_err(|_| corrupt("email"))?,
            status: CitizenStatus::parse(&row.status).map_err(|_| corrupt("status"))?,
            ial: AssuranceLevel::parse(&row.ial).map_err(|_| corrupt("ial"))?,
            has_password: row.has_password != 0,
            has_totp: row.has_totp != 0,
            failed_attempts: row.failed_attempts,
            locked_until: row.locked_until,
            created_at: row.created_at,
            updated_at: row.updated_at,
            name_protected: row.name_protected != 0,
        })
    }
}

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

#[derive(FromRow)]
pub(crate) struct TotpRow {
    pub totp_secret: Option<String>,
    pub totp_last_step: Option<i64>,
    pub totp_locked_until: Option<i64>,
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

fn organisation_from(cvr: &str, name: &str) -> Result<Organisation, StoreError> {
    let corrupt = |what: &str| StoreError::Corrupt(format!("organisation {cvr}: {what}"));
    Ok(Organisation {
        cvr: Cvr::parse(cvr).map_err(|_| corrupt("cvr"))?,
        name: OrganisationName::parse(name).map_err(|_| corrupt("name"))?,
    })
}

#[derive(FromRow)]
struct EmploymentRow {
    pro_uuid: String,
    citizen_id: String,
    cvr: String,
    name: String,
    authorized_to_represent: i64,
}

impl TryFrom<EmploymentRow> for Employment {
    type Error = StoreError;

    fn try_from(row: EmploymentRow) -> Result<Self, StoreError> {
        let corrupt =
            |what: &str| StoreError::Corrupt(format!("employment {}: {what}", row.pro_uuid));
        Ok(Employment {
            pro_uuid: Uuid::parse_str(&row.pro_uuid).map_err(|_| corrupt("pro_uuid"))?,
            citizen_id: Uuid::parse_str(&row.citizen_id).map_err(|_| corrupt("citizen_id"))?,
            organisation: organisation_from(&row.cvr, &row.name)?,
            authorized_to_represent: row.authorized_to_represent != 0,
        })
    }
}

#[derive(FromRow)]
struct PoaRow {
    id: String,
    agent_id: String,
    principal_kind: String,
    principal: String,
    privileges: String,
    valid_from: i64,
    valid_until: i64,
    revoked_at: Option<i64>,
}

impl TryFrom<PoaRow> for PowerOfAttorney {
    type Error = StoreError;

    fn try_from(row: PoaRow) -> Result<Self, StoreError> {
        let corrupt =
            |what: &str| StoreError::Corrupt(format!("power of attorney {}: {what}", row.id));
        let principal = match row.principal_kind.as_str() {
            "cpr" => Principal::Citizen(
                NationalId::parse(&row.principal).map_err(|_| corrupt("principal"))?,
            ),
            "cvr" => Principal::Organisation(
                Cvr::parse(&row.principal).map_err(|_| corrupt("principal"))?,
            ),
            _ => return Err(corrupt("principal_kind")),
        };
        let names: Vec<String> =
            serde_json::from_str(&row.privileges).map_err(|_| corrupt("privileges"))?;
        let privileges = names
            .iter()
            .map(|name| Privilege::parse(name))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| corrupt("privileges"))?;
        Ok(PowerOfAttorney {
            id: Uuid::parse_str(&row.id).map_err(|_| corrupt("id"))?,
            agent_id: Uuid::parse_str(&row.agent_id).map_err(|_| corrupt("agent_id"))?,
            principal,
            privileges,
            valid_from: row.valid_from,
            valid_until: row.valid_until,
            revoked_at: row.revoked_at,
        })
    }
}

/// A value bound into a dynamic `UPDATE`.
enum SqlValue {
    Text(String),
    Int(i64),
}

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

/// A citizen row ready for a bulk insert (from an import).
pub struct ImportedCitizen {
    pub id: Uuid,
    pub citizen: NewCitizen,
    pub password_hash: Option<String>,
}

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
    pub fn new(pool: AnyPool) -> Self {
        Self {
            pool,
            audit_writer: Arc::default(),
        }
    }

    pub async fn find_citizen(
        &self,
        lookup: &CitizenLookup,
    ) -> Result<Option<Citizen>, StoreError> {
        let (column, value) = match lookup {
            CitizenLookup::Cpr(cpr) => ("cpr", cpr.digits().to_owned()),
            CitizenLookup::UserId(user_id) => ("user_id_key", user_id.key()),
        };
        let sql = format!("SELECT {CITIZEN_COLUMNS} FROM citizens WHERE {column} = $1");
        let row: Option<CitizenRow> = sqlx::query_as(&sql)
            .bind(value)
            .fetch_optional(&self.pool)
            .await?;
        row.map(Citizen::try_from).transpose()
    }

    pub async fn find_citizen_by_id(&self, id: Uuid) -> Result<Option<Citizen>, StoreError> {
        let sql = format!("SELECT {CITIZEN_COLUMNS} FROM citizens WHERE id = $1");
        let row: Option<CitizenRow> = sqlx::query_as(&sql)
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await?;
        row.map(Citizen::try_from).transpose()
    }

    /// Which of the CPR number and the user ID are taken already: `(cpr_taken, user_id_taken)`.
    pub async fn find_conflicts(
        &self,
        cpr: &NationalId,
        user_id: &UserId,
    ) -> Result<(bool, bool), StoreError> {
        let rows: Vec<(String, String)> = sqlx::query_as(
            "SELECT cpr, user_id_key FROM citizens WHERE cpr = $1 OR user_id_key = $2",
        )
        .bind(cpr.digits())
        .bind(user_id.key())
        .fetch_all(&self.pool)
        .await?;
        let cpr_taken = rows.iter().any(|(taken, _)| taken == cpr.digits());
        let user_id_taken = rows.iter().any(|(_, taken)| *taken == user_id.key());
        Ok((cpr_taken, user_id_taken))
    }

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

    /// Inserts a citizen and its `citizen.created` event in one transaction.
    pub async fn insert_citizen(
        &self,
        id: Uuid,
        citizen: &NewCitizen,
        password_hash: Option<&str>,
        now: i64,
        event: AuditEvent,
    ) -> Result<(), StoreError> {
        let mut transaction = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO citizens (id, cpr, user_id, user_id_key, given_name, family_name, birth_date, \
             email, status, ial, password_hash, password_changed_at, failed_attempts, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'active', 'substantial', $9, $10, 0, $11, $11)",
        )
        .bind(id.to_string())
        .bind(citizen.cpr.digits())
        .bind(citizen.user_id.as_str())
        .bind(citizen.user_id.key())
        .bind(citizen.given_name.as_str())
        .bind(citizen.family_name.as_str())
        .bind(citizen.cpr.birth_date().to_string())
        .bind(citizen.email.as_ref().map(|email| email.as_str().to_owned()))
        .bind(password_hash.map(str::to_owned))
        .bind(password_hash.map(|_| now))
        .bind(now)
        .execute(&mut *transaction)
        .await
        .map_err(StoreError::from_insert)?;
        append_audit(&mut transaction, vec![event]).await?;
        transaction.commit().await?;
        Ok(())
    }

    /// Inserts a batch in one transaction, skipping rows whose CPR number or user ID is taken.
    /// Returns the indexes (into `batch`) of the rows inserted.
    pub async fn insert_citizens_batch(
        &self,
        batch: &[ImportedCitizen],
        now: i64,
        actor: &str,
    ) -> Result<Vec<usize>, StoreError> {
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        const COLUMNS: usize = 12;
        // Rows per statement: keeps each under SQLite's 32,766 bound parameters, so one
        // transaction (one fsync, one pass over each index page) may hold a larger batch.
        const ROWS_PER_STATEMENT: usize = 2000;
        let mut transaction = self.pool.begin().await?;
        let mut inserted: Vec<(String,)> = Vec::with_capacity(batch.len());
        for chunk in batch.chunks(ROWS_PER_STATEMENT) {
            let mut sql = String::with_capacity(160 + chunk.len() * 64);
            sql.push_str(
                "INSERT INTO citizens (id, cpr, user_id, user_id_key, given_name, family_name, birth_date, \
                 email, password_hash, password_changed_at, created_at, updated_at) VALUES ",
            );
            push_values_placeholders(&mut sql, transaction.backend_name(), chunk.len(), COLUMNS);
            // Both SQLite (3.35+) and PostgreSQL: skip rows hitting any unique constraint.
            sql.push_str(" ON CONFLICT DO NOTHING RETURNING id");
            let mut query = sqlx::query_as::<_, (String,)>(&sql);
            for row in chunk {
                let citizen = &row.citizen;
                query = query
                    .bind(row.id.to_string())
                    .bind(citizen.cpr.digits().to_owned())
                    .bind(citizen.user_id.as_str().to_owned())
                    .bind(citizen.user_id.key())
                    .bind(citizen.given_name.as_str().to_owned())
                    .bind(citizen.family_name.as_str().to_owned())
                    .bind(citizen.cpr.birth_date().to_string())
                    .bind(
                        citizen
                            .email
                            .as_ref()
                            .map(|email| email.as_str().to_owned()),
                    )
                    .bind(row.password_hash.clone())
                    .bind(row.password_hash.as_ref().map(|_| now))
                    .bind(now)
                    .bind(now);
            }
            inserted.extend(query.fetch_all(&mut *transaction).await?);
        }
        let inserted_ids: std::collections::HashSet<String> =
            inserted.into_iter().map(|(id,)| id).collect();
        let mut inserted_indexes = Vec::with_capacity(inserted_ids.len());
        let mut events = Vec::with_capacity(inserted_ids.len());
        for (index, row) in batch.iter().enumerate() {
            if inserted_ids.contains(&row.id.to_string()) {
                inserted_indexes.push(index);
                events.push(
                    AuditEvent::new(audit::kind::CITIZEN_CREATED, Some(row.id), actor, now)
                        .with_detail(serde_json::json!({ "source": "import" })),
                );
            }
        }
        append_audit(&mut transaction, events).await?;
        transaction.commit().await?;
        Ok(inserted_indexes)
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

    pub async fn update_status(
        &self,
        citizen_id: Uuid,
        status: CitizenStatus,
        now: i64,
        event: AuditEvent,
    ) -> Result<bool, StoreError> {
        self.update_citizen_with_event(
            citizen_id,
            "status = $1",
            vec![SqlValue::Text(status.as_str().to_owned())],
            now,
            event,
        )
        .await
    }

    pub async fn update_name_protected(
        &self,
        citizen_id: Uuid,
        protected: bool,
        now: i64,
        event: AuditEvent,
    ) -> Result<bool, StoreError> {
        self.update_citizen_with_event(
            citizen_id,
            "name_protected = $1",
            vec![SqlValue::Int(i64::from(protected))],
            now,
            event,
        )
        .await
    }

    pub async fn update_ial(
        &self,
        citizen_id: Uuid,
        ial: AssuranceLevel,
        now: i64,
        event: AuditEvent,
    ) -> Result<bool, StoreError> {
        self.update_citizen_with_event(
            citizen_id,
            "ial = $1",
            vec![SqlValue::Text(ial.as_str().to_owned())],
            now,
            event,
        )
        .await
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

    // ----- passkeys -----

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

    // ----- organisations, employments, powers of attorney -----

    /// Runs one statement and records `event`, atomically (a unique violation is `Conflict`).
    async fn execute_with_event<'q>(
        &self,
        statement: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
        event: AuditEvent,
    ) -> Result<u64, StoreError> {
        let mut transaction = self.pool.begin().await?;
        let result = statement
            .execute(&mut *transaction)
            .await
            .map_err(StoreError::from_insert)?;
        if result.rows_affected() == 0 {
            return Ok(0);
        }
        append_audit(&mut transaction, vec![event]).await?;
        transaction.commit().await?;
        Ok(result.rows_affected())
    }

    pub async fn insert_organisation(
        &self,
        organisation: &Organisation,
        now: i64,
        event: AuditEvent,
    ) -> Result<(), StoreError> {
        let statement =
            sqlx::query("INSERT INTO organisations (cvr, name, created_at) VALUES ($1, $2, $3)")
                .bind(organisation.cvr.as_str().to_owned())
                .bind(organisation.name.as_str().to_owned())
                .bind(now);
        self.execute_with_event(statement, event).await?;
        Ok(())
    }

    pub async fn find_organisation(&self, cvr: &Cvr) -> Result<Option<Organisation>, StoreError> {
        let row: Option<(String, String)> =
            sqlx::query_as("SELECT cvr, name FROM organisations WHERE cvr = $1")
                .bind(cvr.as_str())
                .fetch_optional(&self.pool)
                .await?;
        row.map(|(cvr, name)| organisation_from(&cvr, &name))
            .transpose()
    }

    pub async fn insert_employment(
        &self,
        employment: &Employment,
        now: i64,
        event: AuditEvent,
    ) -> Result<(), StoreError> {
        let statement = sqlx::query(
            "INSERT INTO employments (pro_uuid, citizen_id, cvr, authorized_to_represent, created_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(employment.pro_uuid.to_string())
        .bind(employment.citizen_id.to_string())
        .bind(employment.organisation.cvr.as_str().to_owned())
        .bind(i64::from(employment.authorized_to_represent))
        .bind(now);
        self.execute_with_event(statement, event).await?;
        Ok(())
    }

    /// A citizen's professional identities, by organisation name.
    pub async fn find_employments(&self, citizen_id: Uuid) -> Result<Vec<Employment>, StoreError> {
        let rows: Vec<EmploymentRow> = sqlx::query_as(
            "SELECT e.pro_uuid, e.citizen_id, e.cvr, o.name, e.authorized_to_represent \
             FROM employments e JOIN organisations o ON o.cvr = e.cvr \
             WHERE e.citizen_id = $1 ORDER BY o.name, e.cvr",
        )
        .bind(citizen_id.to_string())
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(Employment::try_from).collect()
    }

    pub async fn insert_power_of_attorney(
        &self,
        poa: &PowerOfAttorney,
        now: i64,
        event: AuditEvent,
    ) -> Result<(), StoreError> {
        let privileges: Vec<&str> = poa.privileges.iter().map(Privilege::as_str).collect();
        let statement = sqlx::query(
            "INSERT INTO powers_of_attorney (id, agent_id, principal_kind, principal, privileges, \
             valid_from, valid_until, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(poa.id.to_string())
        .bind(poa.agent_id.to_string())
        .bind(poa.principal.kind())
        .bind(poa.principal.identifier().to_owned())
        .bind(serde_json::Value::from(privileges).to_string())
        .bind(poa.valid_from)
        .bind(poa.valid_until)
        .bind(now);
        self.execute_with_event(statement, event).await?;
        Ok(())
    }

    /// Every power of attorney an agent holds (revoked and expired too), oldest first.
    pub async fn find_powers_of_attorney(
        &self,
        agent_id: Uuid,
    ) -> Result<Vec<PowerOfAttorney>, StoreError> {
        let rows: Vec<PoaRow> = sqlx::query_as(
            "SELECT id, agent_id, principal_kind, principal, privileges, valid_from, valid_until, revoked_at \
             FROM powers_of_attorney WHERE agent_id = $1 ORDER BY created_at, id",
        )
        .bind(agent_id.to_string())
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(PowerOfAttorney::try_from).collect()
    }

    pub async fn find_power_of_attorney(
        &self,
        id: Uuid,
    ) -> Result<Option<PowerOfAttorney>, StoreError> {
        let row: Option<PoaRow> = sqlx::query_as(
            "SELECT id, agent_id, principal_kind, principal, privileges, valid_from, valid_until, revoked_at \
             FROM powers_of_attorney WHERE id = $1",
        )
        .bind(id.to_string())
        .fetch_optional(&self.pool)
        .await?;
        row.map(PowerOfAttorney::try_from).transpose()
    }

    /// Revokes an unrevoked power of attorney; false if there is none.
    pub async fn update_poa_revoked(
        &self,
        id: Uuid,
        now: i64,
        event: AuditEvent,
    ) -> Result<bool, StoreError> {
        let statement = sqlx::query(
            "UPDATE powers_of_attorney SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL",
        )
        .bind(now)
        .bind(id.to_string());
        Ok(self.execute_with_event(statement, event).await? > 0)
    }

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
