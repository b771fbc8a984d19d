//! The `citizens` table as a register of people: finding citizens, inserting them (one, or an
//! import's batch), and changing status, identity assurance level and name protection.

use super::{append_audit, push_values_placeholders, SqlValue, Store, StoreError};
use crate::audit::{self, AuditEvent};
use crate::citizen::{
    AssuranceLevel, Citizen, CitizenLookup, CitizenStatus, Email, NewCitizen, PersonName, UserId,
};
use crate::cpr::NationalId;
use sqlx::FromRow;
use uuid::Uuid;

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

/// A citizen row ready for a bulk insert (from an import).
pub struct ImportedCitizen {
    pub id: Uuid,
    pub citizen: NewCitizen,
    pub password_hash: Option<String>,
}

impl Store {
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
}
