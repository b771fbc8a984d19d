//! The flows: one module per endpoint or grant, each owning its sequence of store calls over
//! the shared [`Context`]. The rules they apply live in the pure protocol modules.

pub mod account;
pub mod authorize;
pub mod client;
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

/// What a citizen granted a client: the basis of every token issued from a login.
#[derive(Debug, Clone)]
pub(crate) struct Grant {
    pub client_id: String,
    pub citizen_id: Uuid,
    /// The SSO session (internal: never in a token).
    pub sid: String,
    /// The client's own sid for the session: the `sid` of its tokens.
    pub client_sid: String,
    pub scopes: Vec<String>,
    pub acr: String,
    pub amr: Vec<String>,
    pub auth_time: i64,
}

/// Audit event kinds the provider writes for identity data.
pub mod audit_kind {
    pub const CLAIMS_RELEASED: &str = "claims.released";
    pub const CPR_MATCH: &str = "cpr_match.checked";
}

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
