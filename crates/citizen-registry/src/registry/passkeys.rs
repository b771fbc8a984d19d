//! Passkeys: the citizen's stored credentials (verified by the provider, opaque here), their
//! registration and use, and the audit events of both.

use super::{LoginContext, Registry, RegistryError};
use crate::audit::{self, AuditEvent};
use crate::citizen::AssuranceLevel;
use crate::store::{StoreError, StoredPasskey};
use uuid::Uuid;

/// What the registry records about a passkey ceremony, for the audit log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasskeyFailure {
    /// The authenticator's answer did not verify (signature, challenge, origin, flags).
    Rejected,
    /// The credential is not one of the citizen's.
    UnknownCredential,
}

impl PasskeyFailure {
    fn as_str(self) -> &'static str {
        match self {
            Self::Rejected => "rejected",
            Self::UnknownCredential => "unknown_credential",
        }
    }
}

impl Registry {
    /// The citizen's passkeys (the serialized credentials, as the provider stored them).
    pub async fn passkeys(&self, citizen_id: Uuid) -> Result<Vec<StoredPasskey>, RegistryError> {
        Ok(self.store.find_passkeys(citizen_id).await?)
    }

    /// Adds a passkey the provider has verified. Audited with the level it gives (High).
    pub async fn add_passkey(
        &self,
        citizen_id: Uuid,
        credential_id: &str,
        name: &str,
        passkey: &str,
        actor: &str,
        context: &LoginContext,
    ) -> Result<(), RegistryError> {
        let at = self.clock.now();
        let name: String = name.trim().chars().take(64).collect();
        let name = if name.is_empty() {
            "Passkey".to_owned()
        } else {
            name
        };
        let event = AuditEvent::new(audit::kind::PASSKEY_REGISTERED, Some(citizen_id), actor, at)
            .with_ip(context.ip.clone())
            .with_level(AssuranceLevel::High.as_str())
            .with_detail(serde_json::json!({ "factor": "hwk" }));
        let stored = StoredPasskey {
            credential_id: credential_id.to_owned(),
            citizen_id,
            name,
            passkey: passkey.to_owned(),
            created_at: at,
            last_used_at: None,
        };
        match self.store.insert_passkey(&stored, event).await {
            Ok(()) => Ok(()),
            Err(StoreError::Conflict) => Err(RegistryError::DuplicatePasskey),
            Err(error) => Err(error.into()),
        }
    }

    /// Records a failed passkey registration.
    pub async fn passkey_registration_failed(
        &self,
        citizen_id: Uuid,
        context: &LoginContext,
    ) -> Result<(), RegistryError> {
        let event = AuditEvent::new(
            audit::kind::PASSKEY_REGISTRATION_FAILED,
            Some(citizen_id),
            "citizen",
            self.clock.now(),
        )
        .with_ip(context.ip.clone())
        .with_level(AssuranceLevel::High.as_str())
        .with_detail(serde_json::json!({ "factor": "hwk" }));
        self.store.insert_audit_events(vec![event]).await?;
        Ok(())
    }

    /// Records a verified passkey login: its last use, its updated counter and backup state
    /// (`updated_passkey`, when they changed), and the audit event. False if the passkey is
    /// not the citizen's (any more).
    pub async fn passkey_used(
        &self,
        citizen_id: Uuid,
        credential_id: &str,
        updated_passkey: Option<&str>,
        context: &LoginContext,
    ) -> Result<bool, RegistryError> {
        let at = self.clock.now();
        let mut event = AuditEvent::new(
            audit::kind::FACTOR_SUCCEEDED,
            Some(citizen_id),
            "citizen",
            at,
        )
        .with_ip(context.ip.clone())
        .with_level(AssuranceLevel::High.as_str())
        .with_detail(serde_json::json!({ "factor": "hwk" }));
        event.client_id = context.client_id.clone();
        Ok(self
            .store
            .update_passkey_used(citizen_id, credential_id, updated_passkey, at, event)
            .await?)
    }

    /// Records a failed passkey login.
    pub async fn passkey_failed(
        &self,
        citizen_id: Uuid,
        failure: PasskeyFailure,
        context: &LoginContext,
    ) -> Result<(), RegistryError> {
        let mut event = AuditEvent::new(
            audit::kind::FACTOR_FAILED,
            Some(citizen_id),
            "citizen",
            self.clock.now(),
        )
        .with_ip(context.ip.clone())
        .with_level(AssuranceLevel::High.as_str())
        .with_detail(serde_json::json!({ "factor": "hwk", "reason": failure.as_str() }));
        event.client_id = context.client_id.clone();
        self.store.insert_audit_events(vec![event]).await?;
        Ok(())
    }
}
