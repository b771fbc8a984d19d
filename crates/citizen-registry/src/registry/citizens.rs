//! Citizens: registering one, finding one, and changing status, identity assurance level and
//! name protection, each change written with its audit event.

use super::{citizen_id, Registry, RegistryError};
use crate::audit::{self, AuditEvent};
use crate::citizen::{AssuranceLevel, Citizen, CitizenLookup, CitizenStatus, NewCitizen};
use crate::store::StoreError;
use secrecy::SecretString;
use uuid::Uuid;

impl Registry {
    /// Creates a citizen (status active). Validation and hashing happen before anything is written.
    pub async fn add_citizen(
        &self,
        citizen: NewCitizen,
        password: Option<SecretString>,
        actor: &str,
    ) -> Result<Citizen, RegistryError> {
        if let Some(password) = &password {
            self.settings.password_policy.check(password)?;
        }
        self.check_conflicts(&citizen).await?;
        let hash = match password {
            Some(password) => Some(self.hasher.hash(password).await?),
            None => None,
        };
        let id = citizen_id();
        let at = self.clock.now();
        let event = AuditEvent::new(audit::kind::CITIZEN_CREATED, Some(id), actor, at)
            .with_detail(serde_json::json!({ "source": "single", "password": hash.is_some() }));
        match self
            .store
            .insert_citizen(id, &citizen, hash.as_deref(), at, event)
            .await
        {
            Ok(()) => {}
            // Lost a race with another writer: say which field, as the pre-check would have.
            Err(StoreError::Conflict) => {
                self.check_conflicts(&citizen).await?;
                return Err(RegistryError::Storage(StoreError::Conflict));
            }
            Err(error) => return Err(error.into()),
        }
        self.store
            .find_citizen_by_id(id)
            .await?
            .ok_or(RegistryError::UnknownCitizen("id"))
    }

    async fn check_conflicts(&self, citizen: &NewCitizen) -> Result<(), RegistryError> {
        match self
            .store
            .find_conflicts(&citizen.cpr, &citizen.user_id)
            .await?
        {
            (true, _) => Err(RegistryError::DuplicateCpr),
            (false, true) => Err(RegistryError::DuplicateUserId(
                citizen.user_id.as_str().to_owned(),
            )),
            (false, false) => Ok(()),
        }
    }

    pub async fn find_citizen(&self, lookup: &CitizenLookup) -> Result<Citizen, RegistryError> {
        let what = match lookup {
            CitizenLookup::Cpr(_) => "CPR number",
            CitizenLookup::UserId(_) => "user ID",
        };
        self.store
            .find_citizen(lookup)
            .await?
            .ok_or(RegistryError::UnknownCitizen(what))
    }

    pub async fn find_citizen_by_id(&self, id: Uuid) -> Result<Citizen, RegistryError> {
        self.store
            .find_citizen_by_id(id)
            .await?
            .ok_or(RegistryError::UnknownCitizen("id"))
    }

    pub async fn set_status(
        &self,
        citizen: &Citizen,
        status: CitizenStatus,
        actor: &str,
    ) -> Result<(), RegistryError> {
        let at = self.clock.now();
        let event = AuditEvent::new(audit::kind::STATUS_CHANGED, Some(citizen.id), actor, at)
            .with_detail(
                serde_json::json!({ "from": citizen.status.as_str(), "to": status.as_str() }),
            );
        if !self
            .store
            .update_status(citizen.id, status, at, event)
            .await?
        {
            return Err(RegistryError::UnknownCitizen("id"));
        }
        Ok(())
    }

    pub async fn set_ial(
        &self,
        citizen: &Citizen,
        ial: AssuranceLevel,
        actor: &str,
    ) -> Result<(), RegistryError> {
        let at = self.clock.now();
        let event = AuditEvent::new(audit::kind::IAL_CHANGED, Some(citizen.id), actor, at)
            .with_level(ial.as_str())
            .with_detail(serde_json::json!({ "from": citizen.ial.as_str(), "to": ial.as_str() }));
        if !self.store.update_ial(citizen.id, ial, at, event).await? {
            return Err(RegistryError::UnknownCitizen("id"));
        }
        Ok(())
    }

    /// Sets or clears name and address protection.
    pub async fn set_name_protected(
        &self,
        citizen: &Citizen,
        protected: bool,
        actor: &str,
    ) -> Result<(), RegistryError> {
        let at = self.clock.now();
        let event = AuditEvent::new(
            audit::kind::NAME_PROTECTION_CHANGED,
            Some(citizen.id),
            actor,
            at,
        )
        .with_detail(serde_json::json!({ "protected": protected }));
        if !self
            .store
            .update_name_protected(citizen.id, protected, at, event)
            .await?
        {
            return Err(RegistryError::UnknownCitizen("id"));
        }
        Ok(())
    }
}
