//! TOTP authenticators: enrolment (direct, or offered and confirmed with a first code), the
//! sealed secret, and code checks that accept each code once and back off like passwords.

use super::passwords::AttemptWait;
use super::{LoginContext, Registry, RegistryError};
use crate::audit::{self, AuditEvent};
use crate::citizen::{AssuranceLevel, Citizen};
use crate::store::{Counter, Reservation};
use crate::totp;
use uuid::Uuid;

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

impl Registry {
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
        let at = self.clock.now();
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
        Ok(totp::code_at(&secret, self.clock.now())?)
    }

    /// Checks a TOTP code (±1 step). A code is accepted once only, across all nodes: the used
    /// step is recorded with a compare-and-set. Each check is audited.
    pub async fn verify_totp(
        &self,
        citizen_id: Uuid,
        code: &str,
        context: &LoginContext,
    ) -> Result<TotpOutcome, RegistryError> {
        let at = self.clock.now();
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
                .reserve_totp_attempt(citizen_id, self.clock.now(), free_attempts)
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
            if row
                .totp_locked_until
                .is_some_and(|until| until > self.clock.now())
            {
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
                self.clock.now(),
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
        let mut plaintext = self.clock.now().to_be_bytes().to_vec();
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
        if self.clock.now() - issued_at > TOTP_ENROLMENT_SECONDS {
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
        let at = self.clock.now();
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
}
