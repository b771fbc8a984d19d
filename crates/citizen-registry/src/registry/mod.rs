//! The registry service: the operations callers use, each validating input, doing the
//! credential work off the async runtime, and writing the change with its audit event.
//!
//! Here: [`Registry`], its settings and errors, and what the areas share. Each area adds its
//! own `impl Registry` block: `citizens`, `organisations` (with employments and powers of
//! attorney), `passwords` (with the password login), `totp`, `passkeys`, `audit` and `import`.

mod audit;
mod citizens;
mod import;
mod organisations;
mod passkeys;
mod passwords;
mod totp;

pub use import::{ImportProgress, ImportReport};
pub use passkeys::PasskeyFailure;
pub use totp::{PendingTotp, TotpConfirmation, TotpEnrollment, TotpOutcome};

use crate::audit::AuditEvent;
use crate::citizen::{CitizenStatus, FieldError};
use crate::clock::Clock;
use crate::cpr::CprError;
use crate::lockout::LockoutPolicy;
use crate::organisation::OrganisationError;
use crate::password::{PasswordCost, PasswordError, PasswordHasher, PasswordPolicy};
use crate::sealing::{MasterKey, SealError, Sealer};
use crate::store::{Store, StoreError};
use crate::totp::TotpError;
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

const TOTP_SEAL_PURPOSE: &str = "totp-secrets";

#[derive(Clone)]
pub struct Registry {
    store: Store,
    hasher: PasswordHasher,
    totp_sealer: Arc<Sealer>,
    settings: Arc<RegistrySettings>,
    /// The time every operation reads (`Clock::system()` unless a test moves it).
    clock: Clock,
}

/// A new citizen's internal id: a UUIDv7, ordered by creation time, so the `citizens` primary
/// key and the `audit_events (citizen_id, at)` index grow at their right edge instead of taking
/// each insert on a random page (UUIDv4). The id is never a `sub` (those are pairwise), and the
/// creation time it carries is in `created_at` already.
fn citizen_id() -> Uuid {
    Uuid::now_v7()
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
            clock: Clock::system(),
        })
    }

    /// The same registry reading the time from `clock` (tests move a fixed clock forward).
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// Appends events to the audit log for things that happen outside the registry (a claims
    /// release, a token revocation, a logout): callers reach the audit log only through here.
    pub async fn record(&self, events: Vec<AuditEvent>) -> Result<(), RegistryError> {
        self.store.insert_audit_events(events).await?;
        Ok(())
    }
}
