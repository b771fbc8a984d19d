//! Citizens, credentials and the audit log: the state's registry behind Segl.
//!
//! Owns the tables `citizens`, `passkeys`, `audit_head`, `audit_events`, `organisations`,
//! `employments` and `powers_of_attorney`. Everything that touches a
//! password, a TOTP secret or the failed-attempt counter goes through [`Registry`], so the rules
//! (argon2id off the runtime, lockout, replay-safe TOTP, an audit event per change) hold for
//! every caller: the CLI, the provider's login page, the import.

pub mod audit;
mod citizen;
mod clock;
mod cpr;
mod import;
pub mod lockout;
mod organisation;
pub mod password;
pub mod sealing;
pub mod store;
pub mod totp;

mod registry;

pub use citizen::{
    AssuranceLevel, Citizen, CitizenLookup, CitizenStatus, Email, FieldError, NewCitizen,
    PersonName, UserId,
};
pub use clock::Clock;
pub use cpr::{CprError, NationalId};
pub use organisation::{
    Cvr, Employment, Organisation, OrganisationError, OrganisationName, PowerOfAttorney, Principal,
    Privilege,
};
pub use registry::{
    AuthenticationError, ImportProgress, ImportReport, LoginContext, PasskeyFailure, PendingTotp,
    Registry, RegistryError, RegistrySettings, TotpConfirmation, TotpEnrollment, TotpOutcome,
};
pub use store::StoredPasskey;
