//! Internal failures: the provider's fault, logged with their source and answered `server_error`
//! (or 503 with `Retry-After` while the database cannot serve).

use crate::keyring::KeyRingError;
use crate::passkey::PasskeyError;
use crate::store::StoreError;
use citizen_registry::{AuthenticationError, RegistryError};

/// Failures that are the provider's fault: logged, answered with `server_error`, no details.
#[derive(Debug, thiserror::Error)]
pub enum InternalError {
    #[error("storage failure")]
    Store(#[from] StoreError),
    #[error("registry failure")]
    Registry(#[from] RegistryError),
    /// The key ring could not sign a token.
    #[error("signing failure")]
    Signing(#[from] KeyRingError),
    /// A WebAuthn ceremony could not be started, or its stored state not read back.
    #[error("passkey ceremony failure")]
    Passkey(#[source] PasskeyError),
    /// State the provider wrote itself could not be encoded.
    #[error("encoding failure")]
    Encoding(#[from] serde_json::Error),
    /// An instant outside the calendar (a corrupt or absurd timestamp).
    #[error("time out of range")]
    Time(#[from] time::error::ComponentRange),
    /// A URI the provider registered no longer parses.
    #[error("a registered URI does not parse")]
    Uri(#[from] url::ParseError),
    /// Deriving a key from the master key failed.
    #[error("key derivation failure")]
    KeyDerivation(#[from] citizen_registry::sealing::SealError),
    /// The guarded outbound HTTP client could not be built.
    #[error("outbound client failure")]
    Outbound(#[from] crate::outbound::OutboundError),
    /// The registry answered an authentication with an outcome this flow does not expect.
    #[error("unexpected authentication outcome")]
    Authentication(#[source] AuthenticationError),
    #[error("random generation failed")]
    Random,
}

impl InternalError {
    /// The database cannot serve now: answered 503 with `Retry-After`, not 500.
    pub fn is_unavailable(&self) -> bool {
        match self {
            Self::Store(error) => error.is_unavailable(),
            Self::Registry(error) => error.is_unavailable(),
            Self::Signing(_)
            | Self::Passkey(_)
            | Self::Encoding(_)
            | Self::Time(_)
            | Self::Uri(_)
            | Self::KeyDerivation(_)
            | Self::Outbound(_)
            | Self::Authentication(_)
            | Self::Random => false,
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
            other => Self::Authentication(other),
        }
    }
}
