//! Passwords: setting one, and checking a login with the lockout policy (attempts reserved in
//! the database before argon2id runs, and the short waits while others are in flight).

use super::{AuthenticationError, LoginContext, Registry, RegistryError};
use crate::audit::{self, AuditEvent};
use crate::citizen::{AssuranceLevel, Citizen, CitizenStatus, UserId};
use crate::password::PasswordError;
use crate::store::{Counter, Reservation, StoreError};
use secrecy::SecretString;
use uuid::Uuid;

impl Registry {
    /// Sets a new password (and clears any lockout).
    pub async fn set_password(
        &self,
        citizen: &Citizen,
        password: SecretString,
        actor: &str,
    ) -> Result<(), RegistryError> {
        self.settings.password_policy.check(&password)?;
        let hash = self.hasher.hash(password).await?;
        let at = self.clock.now();
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
        let at = self.clock.now();
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
                .reserve_password_attempt(user_id, self.clock.now(), free_attempts)
                .await?
            {
                break Some(row);
            }
            let Some((id, locked_until)) = self.store.find_password_lock(user_id).await? else {
                break None;
            };
            if let Some(until) = locked_until.filter(|until| *until > self.clock.now()) {
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
                    self.clock.now(),
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
}

fn with_client(mut event: AuditEvent, context: &LoginContext) -> AuditEvent {
    event.client_id = context.client_id.clone();
    event
}

/// Waiting for a citizen's attempts in flight to settle before reserving another: short
/// sleeps, growing, for at most about two seconds in all. One-time code checks
/// ([`Registry::verify_totp`]) wait the same way.
#[derive(Default)]
pub(super) struct AttemptWait {
    waited_ms: u64,
}

impl AttemptWait {
    const LIMIT_MS: u64 = 2_000;

    /// Sleeps before the next try; false once the wait is over.
    pub(super) async fn next(&mut self) -> bool {
        if self.waited_ms >= Self::LIMIT_MS {
            return false;
        }
        let step = (10 + self.waited_ms / 4).min(100);
        tokio::time::sleep(std::time::Duration::from_millis(step)).await;
        self.waited_ms += step;
        true
    }
}
