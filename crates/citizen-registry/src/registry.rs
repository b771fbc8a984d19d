//! The registry service: the operations callers use, each validating input, doing the
//! credential work off the async runtime, and writing the change with its audit event.

use crate::audit::{self, AuditEvent, ChainedEvent};
use crate::citizen::{
    AssuranceLevel, Citizen, CitizenLookup, CitizenStatus, FieldError, NewCitizen, UserId,
};
use crate::cpr::CprError;
use crate::import::{self, RejectedRow};
use crate::lockout::LockoutPolicy;
use crate::organisation::{
    Cvr, Employment, Organisation, OrganisationError, PowerOfAttorney, Principal, Privilege,
};
use crate::password::{PasswordCost, PasswordError, PasswordHasher, PasswordPolicy};
use crate::sealing::{MasterKey, SealError, Sealer};
use crate::store::{Counter, ImportedCitizen, Reservation, Store, StoreError, StoredPasskey};
use crate::totp::{self, TotpError};
use secrecy::SecretString;
use std::path::Path;
use std::sync::Arc;
use uuid::Uuid;

/// Registry failures, named for what the caller can do about them.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("invalid CPR number: {0}")]
    InvalidCpr(#[from] CprError),
    #[error("{0}")]
    InvalidField(#[from] FieldError),
    #[error("{0}")]
    Password(#[from] PasswordError),
    #[error("a citizen with this CPR number is already registered")]
    DuplicateCpr,
    #[error("the user ID '{0}' is already taken")]
    DuplicateUserId(String),
    /// Never echoes a CPR number.
    #[error("unknown citizen: no citizen has that {0}")]
    UnknownCitizen(&'static str),
    #[error("the citizen has no TOTP authenticator")]
    NoTotp,
    /// The enrolment form is too old, or not this citizen's.
    #[error("the authenticator enrolment has expired; start again")]
    EnrolmentExpired,
    #[error("this passkey is already registered")]
    DuplicatePasskey,
    #[error("TOTP failure: {0}")]
    Totp(#[from] TotpError),
    #[error("{0}")]
    Seal(#[from] SealError),
    #[error("cannot import: {0}")]
    Import(String),
    #[error("{0}")]
    Organisation(#[from] OrganisationError),
    #[error("no organisation has CVR number {0}")]
    UnknownOrganisation(String),
    #[error("an organisation with CVR number {0} is already registered")]
    DuplicateOrganisation(String),
    #[error("the citizen is already employed at CVR {0}")]
    DuplicateEmployment(String),
    #[error("no power of attorney has that id (or it is already revoked)")]
    UnknownPowerOfAttorney,
    #[error("storage failure")]
    Storage(#[from] StoreError),
}

impl RegistryError {
    /// The database cannot serve now (see [`crate::store::is_unavailable`]).
    pub fn is_unavailable(&self) -> bool {
        matches!(self, Self::Storage(error) if error.is_unavailable())
    }
}

/// Why a password login failed. The login page shows one message for all of these except
/// `Overloaded`, so it never reveals whether a user ID exists.
#[derive(Debug, thiserror::Error)]
pub enum AuthenticationError {
    #[error("wrong user ID or password")]
    InvalidCredentials,
    #[error("too many failed attempts; locked until {until}")]
    Locked { until: i64 },
    #[error("the citizen's status is {}", .0.as_str())]
    Inactive(CitizenStatus),
    #[error("password checking is overloaded")]
    Overloaded,
    #[error("storage failure")]
    Storage(#[from] StoreError),
}

/// Where a login comes from, for the audit log.
#[derive(Debug, Clone, Default)]
pub struct LoginContext {
    pub ip: Option<String>,
    pub client_id: Option<String>,
}

/// Knobs of the registry, from configuration.
#[derive(Debug, Clone)]
pub struct RegistrySettings {
    pub password_cost: PasswordCost,
    /// Hashes computed at once; 0 means one per core.
    pub password_max_in_flight: usize,
    pub password_queue_limit: usize,
    pub password_policy: PasswordPolicy,
    pub lockout: LockoutPolicy,
    /// The issuer label shown in authenticator apps.
    pub totp_issuer: String,
}

impl Default for RegistrySettings {
    fn default() -> Self {
        Self {
            password_cost: PasswordCost::default(),
            password_max_in_flight: 0,
            password_queue_limit: 256,
            password_policy: PasswordPolicy::default(),
            lockout: LockoutPolicy::default(),
            totp_issuer: "Segl".to_owned(),
        }
    }
}

/// A newly enrolled TOTP authenticator, shown once.
#[derive(Debug, Clone)]
pub struct TotpEnrollment {
    pub otpauth_uri: String,
    pub secret_base32: String,
}

/// The result of checking a TOTP code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TotpOutcome {
    Accepted,
    /// Wrong, expired, or already used.
    Rejected,
}

/// Progress of an import, for a progress bar.
#[derive(Debug, Clone, Copy, Default)]
pub struct ImportProgress {
    pub bytes_read: u64,
    pub imported: u64,
    pub rejected: u64,
}

/// The outcome of an import: the count imported and each rejected line with its reason.
#[derive(Debug, Clone, Default)]
pub struct ImportReport {
    pub imported: u64,
    pub rejected: Vec<RejectedRow>,
}

const TOTP_SEAL_PURPOSE: &str = "totp-secrets";
/// How long a citizen has to confirm a new authenticator app with its first code.
const TOTP_ENROLMENT_SECONDS: i64 = 600;

/// A TOTP secret offered to a citizen but not yet confirmed. `sealed` goes into the enrolment
/// form (sealed with the citizen's id and the time it was made, so it is useless elsewhere);
/// nothing is stored until the first code confirms it.
#[derive(Debug, Clone)]
pub struct PendingTotp {
    pub enrollment: TotpEnrollment,
    pub sealed: String,
}

/// The result of confirming a new authenticator app.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TotpConfirmation {
    Enrolled,
    WrongCode,
}

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

#[derive(Clone)]
pub struct Registry {
    store: Store,
    hasher: PasswordHasher,
    totp_sealer: Arc<Sealer>,
    settings: Arc<RegistrySettings>,
}

/// A new citizen's internal id: a UUIDv7, ordered by creation time, so the `citizens` primary
/// key and the `audit_events (citizen_id, at)` index grow at their right edge instead of taking
/// each insert on a random page (UUIDv4). The id is never a `sub` (those are pairwise), and the
/// creation time it carries is in `created_at` already.
fn citizen_id() -> Uuid {
    Uuid::now_v7()
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

impl Registry {
    pub fn new(
        store: Store,
        master_key: &MasterKey,
        settings: RegistrySettings,
    ) -> Result<Self, RegistryError> {
        let cores = std::thread::available_parallelism()
            .map(usize::from)
            .unwrap_or(1);
        let in_flight = match settings.password_max_in_flight {
            0 => cores,
            configured => configured,
        };
        let hasher = PasswordHasher::new(
            settings.password_cost,
            in_flight,
            settings.password_queue_limit,
        )?;
        Ok(Self {
            store,
            hasher,
            totp_sealer: Arc::new(master_key.sealer(TOTP_SEAL_PURPOSE)?),
            settings: Arc::new(settings),
        })
    }

    /// Appends events to the audit log for things that happen outside the registry (a claims
    /// release, a token revocation, a logout): callers reach the audit log only through here.
    pub async fn record(&self, events: Vec<AuditEvent>) -> Result<(), RegistryError> {
        self.store.insert_audit_events(events).await?;
        Ok(())
    }

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
        let at = now();
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
        let at = now();
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
        let at = now();
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
        let at = now();
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

    /// Registers an organisation.
    pub async fn add_organisation(
        &self,
        organisation: &Organisation,
        actor: &str,
    ) -> Result<(), RegistryError> {
        let at = now();
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
        let at = now();
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
        let at = now();
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
        let at = now();
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

    /// Sets a new password (and clears any lockout).
    pub async fn set_password(
        &self,
        citizen: &Citizen,
        password: SecretString,
        actor: &str,
    ) -> Result<(), RegistryError> {
        self.settings.password_policy.check(&password)?;
        let hash = self.hasher.hash(password).await?;
        let at = now();
        let event = AuditEvent::new(audit::kind::PASSWORD_SET, Some(citizen.id), actor, at);
        if !self
            .store
            .update_password(citizen.id, &hash, at, event)
            .await?
        {
            return Err(RegistryError::UnknownCitizen("id"));
        }
        Ok(())
    }

    /// Enrols (or replaces) the citizen's TOTP authenticator; the secret is sealed at rest.
    pub async fn enroll_totp(
        &self,
        citizen: &Citizen,
        actor: &str,
    ) -> Result<TotpEnrollment, RegistryError> {
        let secret = totp::generate_secret()?;
        let sealed = self.totp_sealer.seal(&secret, &citizen.id.to_string())?;
        let otpauth_uri = totp::otpauth_uri(
            &secret,
            citizen.user_id.as_str(),
            &self.settings.totp_issuer,
        )?;
        let at = now();
        let event = AuditEvent::new(audit::kind::TOTP_ENROLLED, Some(citizen.id), actor, at)
            .with_level(AssuranceLevel::Substantial.as_str());
        if !self
            .store
            .update_totp(citizen.id, &sealed, at, event)
            .await?
        {
            return Err(RegistryError::UnknownCitizen("id"));
        }
        Ok(TotpEnrollment {
            otpauth_uri,
            secret_base32: totp::secret_base32(&secret)?,
        })
    }

    async fn totp_secret(&self, citizen_id: Uuid) -> Result<(Vec<u8>, Option<i64>), RegistryError> {
        let (secret, last_step, _) = self.totp_state(citizen_id).await?;
        Ok((secret, last_step))
    }

    /// The secret, the last used step and the lock after wrong codes.
    async fn totp_state(
        &self,
        citizen_id: Uuid,
    ) -> Result<(Vec<u8>, Option<i64>, Option<i64>), RegistryError> {
        let row = self
            .store
            .find_totp_row(citizen_id)
            .await?
            .ok_or(RegistryError::UnknownCitizen("id"))?;
        let sealed = row.totp_secret.ok_or(RegistryError::NoTotp)?;
        let secret = self.totp_sealer.open(&sealed, &citizen_id.to_string())?;
        Ok((secret, row.totp_last_step, row.totp_locked_until))
    }

    /// The current TOTP code of a citizen. Only for demo mode and tests: production never
    /// shows a second factor's code to anyone but the authenticator.
    pub async fn current_totp_code(&self, citizen_id: Uuid) -> Result<String, RegistryError> {
        let (secret, _) = self.totp_secret(citizen_id).await?;
        Ok(totp::code_at(&secret, now())?)
    }

    /// Checks a TOTP code (±1 step). A code is accepted once only, across all nodes: the used
    /// step is recorded with a compare-and-set. Each check is audited.
    pub async fn verify_totp(
        &self,
        citizen_id: Uuid,
        code: &str,
        context: &LoginContext,
    ) -> Result<TotpOutcome, RegistryError> {
        let at = now();
        let event = |kind: &str| {
            let mut event = AuditEvent::new(kind, Some(citizen_id), "citizen", at)
                .with_ip(context.ip.clone())
                .with_detail(serde_json::json!({ "factor": "otp" }));
            event.client_id = context.client_id.clone();
            event
        };
        // Wrong codes back off like wrong passwords (the lockout policy), per citizen and
        // apart from the password counter, which a correct password resets: otherwise anyone
        // with the password could guess codes without end. Each attempt is reserved in the
        // database before the code is compared, so parallel guesses on any nodes get only
        // the attempts the policy allows compared; while locked, no code is compared.
        let refused = |reason: &str| {
            let mut refused = event(audit::kind::FACTOR_FAILED);
            if let serde_json::Value::Object(detail) = &mut refused.detail {
                detail.insert("reason".into(), reason.into());
            }
            refused
        };
        let free_attempts = self.settings.lockout.free_attempts;
        let mut wait = AttemptWait::default();
        let row = loop {
            if let Some(row) = self
                .store
                .reserve_totp_attempt(citizen_id, now(), free_attempts)
                .await?
            {
                break row;
            }
            let row = self
                .store
                .find_totp_row(citizen_id)
                .await?
                .ok_or(RegistryError::UnknownCitizen("id"))?;
            if row.totp_secret.is_none() {
                return Err(RegistryError::NoTotp);
            }
            if row.totp_locked_until.is_some_and(|until| until > now()) {
                self.store
                    .insert_audit_events(vec![refused("locked")])
                    .await?;
                return Ok(TotpOutcome::Rejected);
            }
            if !wait.next().await {
                self.store
                    .insert_audit_events(vec![refused("busy")])
                    .await?;
                return Ok(TotpOutcome::Rejected);
            }
        };
        let reserved = Reservation {
            count: row.totp_failures,
        };
        let secret = self
            .totp_sealer
            .open(&row.totp_secret, &citizen_id.to_string())?;
        if let Some(step) = totp::matching_step(&secret, code, at, row.totp_last_step)? {
            let succeeded = event(audit::kind::FACTOR_SUCCEEDED)
                .with_level(AssuranceLevel::Substantial.as_str());
            if self
                .store
                .update_totp_step(citizen_id, step, reserved, succeeded)
                .await?
            {
                return Ok(TotpOutcome::Accepted);
            }
        }
        // A wrong or replayed code.
        self.store
            .update_failure(
                Counter::Totp,
                citizen_id,
                now(),
                self.settings.lockout.curve(),
                event(audit::kind::FACTOR_FAILED),
            )
            .await?;
        Ok(TotpOutcome::Rejected)
    }

    /// Offers a new TOTP secret for the citizen to add to an authenticator app. Nothing is
    /// stored: [`Registry::confirm_totp_enrollment`] saves it once a first code matches.
    pub fn begin_totp_enrollment(&self, citizen: &Citizen) -> Result<PendingTotp, RegistryError> {
        let secret = totp::generate_secret()?;
        let mut plaintext = now().to_be_bytes().to_vec();
        plaintext.extend_from_slice(&secret);
        let sealed = self
            .totp_sealer
            .seal(&plaintext, &format!("enrolment:{}", citizen.id))?;
        Ok(PendingTotp {
            enrollment: TotpEnrollment {
                otpauth_uri: totp::otpauth_uri(
                    &secret,
                    citizen.user_id.as_str(),
                    &self.settings.totp_issuer,
                )?,
                secret_base32: totp::secret_base32(&secret)?,
            },
            sealed,
        })
    }

    /// The secret of an enrolment form, if it is this citizen's and recent.
    pub fn open_totp_enrollment(
        &self,
        citizen: &Citizen,
        sealed: &str,
    ) -> Result<PendingTotp, RegistryError> {
        let secret = self.pending_totp_secret(citizen, sealed)?;
        Ok(PendingTotp {
            enrollment: TotpEnrollment {
                otpauth_uri: totp::otpauth_uri(
                    &secret,
                    citizen.user_id.as_str(),
                    &self.settings.totp_issuer,
                )?,
                secret_base32: totp::secret_base32(&secret)?,
            },
            sealed: sealed.to_owned(),
        })
    }

    fn pending_totp_secret(
        &self,
        citizen: &Citizen,
        sealed: &str,
    ) -> Result<Vec<u8>, RegistryError> {
        let plaintext = self
            .totp_sealer
            .open(sealed, &format!("enrolment:{}", citizen.id))
            .map_err(|_| RegistryError::EnrolmentExpired)?;
        let (issued, secret) = plaintext
            .split_first_chunk::<8>()
            .ok_or(RegistryError::EnrolmentExpired)?;
        let issued_at = i64::from_be_bytes(*issued);
        if now() - issued_at > TOTP_ENROLMENT_SECONDS {
            return Err(RegistryError::EnrolmentExpired);
        }
        Ok(secret.to_vec())
    }

    /// Saves a new authenticator app (replacing any earlier one) once `code` matches it; the
    /// code counts as used. Audited with the level the factor gives (Substantial).
    pub async fn confirm_totp_enrollment(
        &self,
        citizen: &Citizen,
        sealed: &str,
        code: &str,
        actor: &str,
    ) -> Result<TotpConfirmation, RegistryError> {
        let secret = self.pending_totp_secret(citizen, sealed)?;
        let at = now();
        let Some(step) = totp::matching_step(&secret, code, at, None)? else {
            return Ok(TotpConfirmation::WrongCode);
        };
        let stored = self.totp_sealer.seal(&secret, &citizen.id.to_string())?;
        let event = AuditEvent::new(audit::kind::TOTP_ENROLLED, Some(citizen.id), actor, at)
            .with_level(AssuranceLevel::Substantial.as_str())
            .with_detail(serde_json::json!({ "confirmed": true }));
        if !self
            .store
            .update_totp_confirmed(citizen.id, &stored, step, at, event)
            .await?
        {
            return Err(RegistryError::UnknownCitizen("id"));
        }
        Ok(TotpConfirmation::Enrolled)
    }

    // ----- passkeys -----

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
        let at = now();
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
            now(),
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
        let at = now();
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
            now(),
        )
        .with_ip(context.ip.clone())
        .with_level(AssuranceLevel::High.as_str())
        .with_detail(serde_json::json!({ "factor": "hwk", "reason": failure.as_str() }));
        event.client_id = context.client_id.clone();
        self.store.insert_audit_events(vec![event]).await?;
        Ok(())
    }

    /// Checks a user ID and password. Takes the time of one argon2id verification whether or
    /// not the user ID exists; counts failures and locks with backoff; audits every attempt.
    ///
    /// The attempt is reserved in the database before the password is checked, in one
    /// statement that refuses while the citizen is locked or while as many attempts are in
    /// flight as may still fail before the lock (then it waits for them, briefly). So parallel
    /// guesses, on any number of nodes, get only the policy's attempts verified. A success
    /// starts the counter again only if no failure was counted since its reservation.
    pub async fn authenticate_password(
        &self,
        user_id: &str,
        password: SecretString,
        context: &LoginContext,
    ) -> Result<Citizen, AuthenticationError> {
        let overloaded = |error: PasswordError| match error {
            PasswordError::Overloaded => AuthenticationError::Overloaded,
            _ => AuthenticationError::InvalidCredentials,
        };
        let at = now();
        let failed = |citizen_id: Option<Uuid>, reason: &str| {
            with_client(
                AuditEvent::new(audit::kind::LOGIN_FAILED, citizen_id, "citizen", at)
                    .with_ip(context.ip.clone())
                    .with_detail(serde_json::json!({ "reason": reason })),
                context,
            )
        };
        let parse_id =
            |id: &str| Uuid::parse_str(id).map_err(|_| StoreError::Corrupt("citizen id".into()));
        let free_attempts = self.settings.lockout.free_attempts;
        let user_id = UserId::parse(user_id).ok();
        let mut wait = AttemptWait::default();
        let row = loop {
            let Some(user_id) = &user_id else {
                break None;
            };
            if let Some(row) = self
                .store
                .reserve_password_attempt(user_id, now(), free_attempts)
                .await?
            {
                break Some(row);
            }
            let Some((id, locked_until)) = self.store.find_password_lock(user_id).await? else {
                break None;
            };
            if let Some(until) = locked_until.filter(|until| *until > now()) {
                let citizen_id = parse_id(&id)?;
                self.hasher
                    .verify_decoy(password)
                    .await
                    .map_err(overloaded)?;
                self.store
                    .insert_audit_events(vec![failed(Some(citizen_id), "locked")])
                    .await?;
                return Err(AuthenticationError::Locked { until });
            }
            // Not locked, but as many attempts in flight as may fail: wait for them.
            if !wait.next().await {
                return Err(AuthenticationError::Overloaded);
            }
        };
        let Some(row) = row else {
            self.hasher
                .verify_decoy(password)
                .await
                .map_err(overloaded)?;
            self.store
                .insert_audit_events(vec![failed(None, "unknown_user_id")])
                .await?;
            return Err(AuthenticationError::InvalidCredentials);
        };
        let citizen_id = parse_id(&row.id)?;
        let reserved = Reservation {
            count: row.failed_attempts,
        };
        let verified = match row.password_hash {
            Some(hash) => self.hasher.verify(password, hash).await,
            None => self.hasher.verify_decoy(password).await,
        };
        let verified = match verified {
            Ok(verified) => verified,
            Err(error) => {
                // Nothing was compared (load shed): the attempt is not a failure.
                self.store
                    .release_attempt(Counter::Password, citizen_id)
                    .await?;
                return Err(overloaded(error));
            }
        };
        if !verified {
            self.store
                .update_failure(
                    Counter::Password,
                    citizen_id,
                    now(),
                    self.settings.lockout.curve(),
                    failed(Some(citizen_id), "wrong_password"),
                )
                .await?;
            return Err(AuthenticationError::InvalidCredentials);
        }
        let status = CitizenStatus::parse(&row.status)
            .map_err(|_| StoreError::Corrupt("citizen status".into()))?;
        if status != CitizenStatus::Active {
            // The right password of a citizen who may not log in: not a wrong password.
            self.store
                .release_attempt(Counter::Password, citizen_id)
                .await?;
            self.store
                .insert_audit_events(vec![failed(Some(citizen_id), status.as_str())])
                .await?;
            return Err(AuthenticationError::Inactive(status));
        }
        let succeeded = with_client(
            AuditEvent::new(
                audit::kind::LOGIN_SUCCEEDED,
                Some(citizen_id),
                "citizen",
                at,
            )
            .with_ip(context.ip.clone())
            .with_level(AssuranceLevel::Low.as_str())
            .with_detail(serde_json::json!({ "factor": "pwd" })),
            context,
        );
        self.store
            .update_login_success(citizen_id, reserved, succeeded)
            .await?;
        self.store
            .find_citizen_by_id(citizen_id)
            .await?
            .ok_or(AuthenticationError::InvalidCredentials)
    }

    /// A citizen's latest audit events, newest first.
    pub async fn history(
        &self,
        citizen_id: Uuid,
        limit: i64,
    ) -> Result<Vec<ChainedEvent>, RegistryError> {
        Ok(self.store.find_audit_events_for(citizen_id, limit).await?)
    }

    /// The audit chain head `(seq, hash)`: record it elsewhere to check later, with
    /// [`Registry::verify_audit_chain`], that the log still reaches it.
    pub async fn audit_head(&self) -> Result<audit::Anchor, RegistryError> {
        let (seq, hash) = self.store.find_audit_head().await?;
        Ok(audit::Anchor { seq, hash })
    }

    /// Verifies the whole audit chain, page by page: every event's hash, every link, the
    /// sequence without gaps, that the log ends at the head row, and, if given, that the event
    /// an earlier head named is still there with the same hash. Returns the number of events
    /// checked.
    pub async fn verify_audit_chain(
        &self,
        expected: Option<&audit::Anchor>,
    ) -> Result<Result<u64, audit::ChainError>, RegistryError> {
        let mut checked = 0u64;
        let mut after = 0i64;
        let mut previous: Option<ChainedEvent> = None;
        loop {
            let page = self.store.find_audit_events(after, 5000).await?;
            let Some(last) = page.last().cloned() else {
                break;
            };
            let mut window = Vec::with_capacity(page.len() + 1);
            window.extend(previous.take());
            window.extend(page);
            if let Err(error) = audit::verify(&window) {
                return Ok(Err(error));
            }
            checked += (window.len() - usize::from(checked > 0)) as u64;
            after = last.seq;
            previous = Some(last);
        }
        let (head_seq, head_hash) = self.store.find_audit_head().await?;
        let last_seq = previous.as_ref().map_or(0, |last| last.seq);
        if last_seq < head_seq {
            return Ok(Err(audit::ChainError::TailMissing {
                head: head_seq,
                last: last_seq,
            }));
        }
        if let Some(last) = previous {
            if last.seq != head_seq || last.hash != head_hash {
                return Ok(Err(audit::ChainError::Broken { seq: head_seq }));
            }
        }
        if let Some(anchor) = expected {
            let found = self.store.find_audit_events(anchor.seq - 1, 1).await?;
            match found.first() {
                Some(event) if event.seq == anchor.seq => {
                    if event.hash != anchor.hash {
                        return Ok(Err(audit::ChainError::AnchorMismatch { seq: anchor.seq }));
                    }
                }
                _ => return Ok(Err(audit::ChainError::AnchorMissing { seq: anchor.seq })),
            }
        }
        Ok(Ok(checked))
    }

    /// Imports citizens from a CSV file. A reader thread parses and validates rows while this
    /// task inserts batches; a rejected row writes nothing and the others are imported.
    pub async fn import_csv(
        &self,
        path: &Path,
        batch_size: usize,
        actor: &str,
        mut progress: impl FnMut(ImportProgress),
    ) -> Result<ImportReport, RegistryError> {
        let file = std::fs::File::open(path)
            .map_err(|error| RegistryError::Import(format!("{}: {error}", path.display())))?;
        // One transaction per batch (the store splits it into statements within SQLite's
        // parameter limit). 20,000 rows hold SQLite's write lock about a second, well inside
        // the 5 s busy_timeout that other writers (logins' audit events) wait.
        let batch_size = batch_size.clamp(1, 20_000);
        let (sender, mut receiver) = tokio::sync::mpsc::channel::<Result<ParsedBatch, String>>(4);
        let reader = std::thread::spawn(move || read_batches(file, batch_size, &sender));
        let mut report = ImportReport::default();
        let mut state = ImportProgress::default();
        while let Some(batch) = receiver.recv().await {
            let batch = batch.map_err(RegistryError::Import)?;
            let at = now();
            let rows: Vec<ImportedCitizen> = batch
                .rows
                .iter()
                .map(|row| ImportedCitizen {
                    id: citizen_id(),
                    citizen: row.citizen.clone(),
                    password_hash: row.password_hash.clone(),
                })
                .collect();
            let inserted = self.store.insert_citizens_batch(&rows, at, actor).await?;
            let mut inserted_flags = vec![false; rows.len()];
            for index in &inserted {
                inserted_flags[*index] = true;
            }
            for (row, was_inserted) in batch.rows.iter().zip(inserted_flags) {
                if !was_inserted {
                    let reason = match self
                        .store
                        .find_conflicts(&row.citizen.cpr, &row.citizen.user_id)
                        .await?
                    {
                        (true, _) => {
                            "a citizen with this CPR number is already registered".to_owned()
                        }
                        _ => format!(
                            "the user ID '{}' is already taken",
                            row.citizen.user_id.as_str()
                        ),
                    };
                    report.rejected.push(RejectedRow {
                        line: row.line,
                        reason,
                    });
                }
            }
            report.imported += inserted.len() as u64;
            report.rejected.extend(batch.rejected);
            report.rejected.sort_by_key(|row| row.line);
            state.imported = report.imported;
            state.rejected = report.rejected.len() as u64;
            state.bytes_read = batch.bytes_read;
            progress(state);
        }
        reader
            .join()
            .map_err(|_| RegistryError::Import("the CSV reader stopped unexpectedly".into()))?;
        Ok(report)
    }
}

fn with_client(mut event: AuditEvent, context: &LoginContext) -> AuditEvent {
    event.client_id = context.client_id.clone();
    event
}

struct ParsedBatch {
    rows: Vec<import::ImportRow>,
    rejected: Vec<RejectedRow>,
    bytes_read: u64,
}

/// Runs on its own thread: blocking file reads and CSV parsing stay off the async runtime.
fn read_batches(
    file: std::fs::File,
    batch_size: usize,
    sender: &tokio::sync::mpsc::Sender<Result<ParsedBatch, String>>,
) {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .buffer_capacity(1 << 20)
        .from_reader(std::io::BufReader::with_capacity(1 << 20, file));
    let mut record = csv::ByteRecord::new();
    let mut batch = ParsedBatch {
        rows: Vec::with_capacity(batch_size),
        rejected: Vec::new(),
        bytes_read: 0,
    };
    let mut is_header = true;
    loop {
        match reader.read_byte_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(error) => {
                let line = error
                    .position()
                    .map(|position| position.line())
                    .unwrap_or_default();
                let _ = sender.blocking_send(Err(format!("line {line}: {error}")));
                return;
            }
        }
        let line = record
            .position()
            .map(|position| position.line())
            .unwrap_or_default();
        let fields: Vec<&[u8]> = record.iter().collect();
        if is_header {
            is_header = false;
            if let Err(message) = import::check_header(&fields) {
                let _ = sender.blocking_send(Err(message));
                return;
            }
            continue;
        }
        match import::parse_row(&fields, line) {
            Ok(row) => batch.rows.push(row),
            Err(rejected) => batch.rejected.push(rejected),
        }
        if batch.rows.len() + batch.rejected.len() >= batch_size {
            batch.bytes_read = reader.position().byte();
            let full = std::mem::replace(
                &mut batch,
                ParsedBatch {
                    rows: Vec::with_capacity(batch_size),
                    rejected: Vec::new(),
                    bytes_read: 0,
                },
            );
            if sender.blocking_send(Ok(full)).is_err() {
                return;
            }
        }
    }
    if is_header {
        let _ = sender.blocking_send(Err("the file is empty: it needs a header row".to_owned()));
        return;
    }
    batch.bytes_read = reader.position().byte();
    let _ = sender.blocking_send(Ok(batch));
}

/// Waiting for a citizen's attempts in flight to settle before reserving another: short
/// sleeps, growing, for at most about two seconds in all.
#[derive(Default)]
struct AttemptWait {
    waited_ms: u64,
}

impl AttemptWait {
    const LIMIT_MS: u64 = 2_000;

    /// Sleeps before the next try; false once the wait is over.
    async fn next(&mut self) -> bool {
        if self.waited_ms >= Self::LIMIT_MS {
            return false;
        }
        let step = (10 + self.waited_ms / 4).min(100);
        tokio::time::sleep(std::time::Duration::from_millis(step)).await;
        self.waited_ms += step;
        true
    }
}
