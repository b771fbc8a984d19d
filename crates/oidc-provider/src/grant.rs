//! What a login grants a client, as flows and store both see it: the grant behind tokens, the
//! client's own session id, and the release choices kept per client and session.

use crate::claims::ClaimsRequest;
use serde::{Deserialize, Serialize};
use std::fmt;
use uuid::Uuid;

/// The identifier a client knows an SSO session by (`session_clients.client_sid`): the `sid`
/// of its tokens and logout tokens (OIDC Back-Channel Logout 1.0 2.4). Never the SSO session's
/// own `sid`, which stays inside the provider; the distinct type keeps the two from swapping.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ClientSid(String);

impl ClientSid {
    /// A fresh random identifier for a client's first login in a session.
    pub fn random() -> Result<Self, aws_lc_rs::error::Unspecified> {
        Ok(Self(crate::tokens::random_token()?))
    }

    /// A client sid as it came back from a token or a stored row.
    pub fn new(value: String) -> Self {
        Self(value)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ClientSid {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.0)
    }
}

impl From<ClientSid> for String {
    fn from(sid: ClientSid) -> Self {
        sid.0
    }
}

/// What a citizen granted a client: the basis of every token issued from a login.
#[derive(Debug, Clone)]
pub(crate) struct Grant {
    pub client_id: String,
    pub citizen_id: Uuid,
    /// The SSO session (internal: never in a token).
    pub sid: String,
    /// The client's own sid for the session: the `sid` of its tokens.
    pub client_sid: ClientSid,
    pub scopes: Vec<String>,
    pub acr: String,
    pub amr: Vec<String>,
    pub auth_time: i64,
}

/// What a login chose, kept per client and session in `session_clients.release_context`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ReleaseContext {
    #[serde(default)]
    pub claims: ClaimsRequest,
    /// The professional identity (`pro_uuid`) the citizen logged in with.
    #[serde(default)]
    pub professional: Option<Uuid>,
    /// The power of attorney the citizen acts under.
    #[serde(default)]
    pub power_of_attorney: Option<Uuid>,
}
