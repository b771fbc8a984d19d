//! Organisations, employments (professional identities) and powers of attorney.

use super::{Registry, RegistryError};
use crate::audit::{self, AuditEvent};
use crate::citizen::{Citizen, CitizenLookup};
use crate::organisation::{Cvr, Employment, Organisation, PowerOfAttorney, Principal, Privilege};
use crate::store::StoreError;
use uuid::Uuid;

impl Registry {
    /// Registers an organisation.
    pub async fn add_organisation(
        &self,
        organisation: &Organisation,
        actor: &str,
    ) -> Result<(), RegistryError> {
        let at = self.clock.now();
        let event = AuditEvent::new(audit::kind::ORGANISATION_ADDED, None, actor, at).with_detail(
            serde_json::json!({ "cvr": organisation.cvr.as_str(), "name": organisation.name.as_str() }),
        );
        match self
            .store
            .insert_organisation(organisation, at, event)
            .await
        {
            Err(StoreError::Conflict) => Err(RegistryError::DuplicateOrganisation(
                organisation.cvr.as_str().to_owned(),
            )),
            other => Ok(other?),
        }
    }

    pub async fn find_organisation(&self, cvr: &Cvr) -> Result<Organisation, RegistryError> {
        self.store
            .find_organisation(cvr)
            .await?
            .ok_or_else(|| RegistryError::UnknownOrganisation(cvr.as_str().to_owned()))
    }

    /// Gives a citizen a professional identity at a registered organisation, with a new
    /// persistent professional UUID.
    pub async fn employ(
        &self,
        citizen: &Citizen,
        cvr: &Cvr,
        authorized_to_represent: bool,
        actor: &str,
    ) -> Result<Employment, RegistryError> {
        let organisation = self.find_organisation(cvr).await?;
        let employment = Employment {
            pro_uuid: Uuid::new_v4(),
            citizen_id: citizen.id,
            organisation,
            authorized_to_represent,
        };
        let at = self.clock.now();
        let event = AuditEvent::new(audit::kind::EMPLOYMENT_ADDED, Some(citizen.id), actor, at)
            .with_detail(serde_json::json!({
                "cvr": cvr.as_str(),
                "pro_uuid": employment.pro_uuid.to_string(),
                "authorized_to_represent": authorized_to_represent,
            }));
        match self.store.insert_employment(&employment, at, event).await {
            Err(StoreError::Conflict) => {
                Err(RegistryError::DuplicateEmployment(cvr.as_str().to_owned()))
            }
            other => {
                other?;
                Ok(employment)
            }
        }
    }

    pub async fn employments(&self, citizen_id: Uuid) -> Result<Vec<Employment>, RegistryError> {
        Ok(self.store.find_employments(citizen_id).await?)
    }

    /// Grants a power of attorney. The audit event names the agent (citizen id) and the
    /// principal by a safe label, never a CPR number.
    pub async fn grant_power_of_attorney(
        &self,
        agent: &Citizen,
        principal: Principal,
        privileges: Vec<Privilege>,
        valid_from: i64,
        valid_until: i64,
        actor: &str,
    ) -> Result<PowerOfAttorney, RegistryError> {
        crate::organisation::check_grant(&privileges, valid_from, valid_until)?;
        let principal_citizen = self.principal_citizen(&principal).await?;
        let poa = PowerOfAttorney {
            id: Uuid::new_v4(),
            agent_id: agent.id,
            principal,
            privileges,
            valid_from,
            valid_until,
            revoked_at: None,
        };
        let at = self.clock.now();
        let names: Vec<&str> = poa.privileges.iter().map(Privilege::as_str).collect();
        let event = AuditEvent::new(audit::kind::POA_GRANTED, Some(agent.id), actor, at)
            .with_detail(serde_json::json!({
                "poa_id": poa.id.to_string(),
                "principal": poa.principal.label(),
                "principal_citizen_id": principal_citizen.map(|id| id.to_string()),
                "privileges": names,
                "valid_from": valid_from,
                "valid_until": valid_until,
            }));
        self.store.insert_power_of_attorney(&poa, at, event).await?;
        Ok(poa)
    }

    /// The registered citizen behind a CPR-number principal, if there is one (for audit).
    pub async fn principal_citizen(
        &self,
        principal: &Principal,
    ) -> Result<Option<Uuid>, RegistryError> {
        match principal {
            Principal::Citizen(cpr) => Ok(self
                .store
                .find_citizen(&CitizenLookup::Cpr(cpr.clone()))
                .await?
                .map(|citizen| citizen.id)),
            Principal::Organisation(_) => Ok(None),
        }
    }

    pub async fn revoke_power_of_attorney(
        &self,
        id: Uuid,
        actor: &str,
    ) -> Result<(), RegistryError> {
        let Some(poa) = self.store.find_power_of_attorney(id).await? else {
            return Err(RegistryError::UnknownPowerOfAttorney);
        };
        let at = self.clock.now();
        let event = AuditEvent::new(audit::kind::POA_REVOKED, Some(poa.agent_id), actor, at)
            .with_detail(serde_json::json!({ "poa_id": id.to_string() }));
        if !self.store.update_poa_revoked(id, at, event).await? {
            return Err(RegistryError::UnknownPowerOfAttorney);
        }
        Ok(())
    }

    pub async fn powers_of_attorney(
        &self,
        agent_id: Uuid,
    ) -> Result<Vec<PowerOfAttorney>, RegistryError> {
        Ok(self.store.find_powers_of_attorney(agent_id).await?)
    }

    pub async fn find_power_of_attorney(
        &self,
        id: Uuid,
    ) -> Result<Option<PowerOfAttorney>, RegistryError> {
        Ok(self.store.find_power_of_attorney(id).await?)
    }
}
