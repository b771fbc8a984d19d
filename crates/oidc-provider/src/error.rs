//! Internal failures: the provider's fault, logged with their source and answered `server_error`
//! (or 503 with `Retry-After` while the database cannot serve).

use crate::store::StoreError;
use citizen_registry::{AuthenticationError, RegistryError};

/// Failures that are the provider's fault: logged, answered with `server_error`, no details.
#[derive(Debug, thiserror::Error)]
pub enum InternalError {
    #[error("storage failure")]
    Store(#[from] StoreError),
    #[error("registry failure")]
    Registry(#[from] RegistryError),
    #[error("signing failure: {0}")]
    Signing(String),
    #[error("random generation failed")]
    Random,
}

impl InternalError {
    /// The database cannot serve now: answered 503 with `Retry-After`, not 500.
    pub fn is_unavailable(&self) -> bool {
        match self {
            Self::Store(error) => error.is_unavailable(),
            Self::Registry(error) => error.is_unavailable(),
            Self::Signing(_) | Self::Random => false,
        }
    }
}

impl From<aws_lc_rs::error::Unspecified> for InternalError {
    fn from(_: aws_lc_rs::error::Unspecified) -> Self {
        Self::Random
    }
}

impl From<AuthenticationError> for InternalError {
    fn from(error: AuthenticationError) -> Self {
        match error {
            AuthenticationError::Storage(store) => Self::Registry(RegistryError::Storage(store)),
            other => Self::Signing(other.to_string()),
        }
    }
}
