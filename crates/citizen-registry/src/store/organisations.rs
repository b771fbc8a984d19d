//! The tables `organisations`, `employments` and `powers_of_attorney`.

use super::{append_audit, Store, StoreError};
use crate::audit::AuditEvent;
use crate::cpr::NationalId;
use crate::organisation::{
    Cvr, Employment, Organisation, OrganisationName, PowerOfAttorney, Principal, Privilege,
};
use sqlx::FromRow;
use uuid::Uuid;

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

impl Store {
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
}
