//! The flows: one module per endpoint or grant, each owning its sequence of store calls over
//! the shared [`Context`]. The rules they apply live in the pure protocol modules.

pub mod account;
pub mod authorize;
pub mod client;
pub mod error;
pub mod introspection;
pub mod login;
pub mod logout;
pub mod release;
pub mod signing;
pub mod token;
pub mod userinfo;

use crate::context::Context;
use crate::error::InternalError;
use citizen_registry::{Citizen, RegistryError};
use uuid::Uuid;

pub(crate) use crate::grant::Grant;

/// Audit event kinds the provider writes for identity data.
pub mod audit_kind {
    pub const CLAIMS_RELEASED: &str = "claims.released";
    pub const CPR_MATCH: &str = "cpr_match.checked";
}

/// The citizen behind a session, code or token, if they may still use it: `None` once the
/// citizen is gone or no longer active (every flow then refuses as if the grant had ended).
pub(crate) async fn active_citizen(
    ctx: &Context,
    citizen_id: Uuid,
) -> Result<Option<Citizen>, InternalError> {
    match ctx.registry.find_citizen_by_id(citizen_id).await {
        Ok(citizen) if citizen.is_active() => Ok(Some(citizen)),
        Ok(_) | Err(RegistryError::UnknownCitizen(_)) => Ok(None),
        Err(error) => Err(error.into()),
    }
}
