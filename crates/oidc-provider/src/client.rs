//! Registered relying parties (clients) and their settings.

use serde::{Deserialize, Serialize};

/// How a client authenticates at the token endpoint (OIDC Core 9).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientAuthMethod {
    ClientSecretBasic,
    ClientSecretPost,
    PrivateKeyJwt,
    None,
}

impl ClientAuthMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ClientSecretBasic => "client_secret_basic",
            Self::ClientSecretPost => "client_secret_post",
            Self::PrivateKeyJwt => "private_key_jwt",
            Self::None => "none",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "client_secret_basic" => Some(Self::ClientSecretBasic),
            "client_secret_post" => Some(Self::ClientSecretPost),
            "private_key_jwt" => Some(Self::PrivateKeyJwt),
            "none" => Some(Self::None),
            _ => None,
        }
    }
}

/// JWS algorithms Segl signs with (NemLog-In profile: ES256 recommended, RS256 mandatory in OIDC).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SigningAlg {
    ES256,
    RS256,
    PS256,
    EdDSA,
}

impl SigningAlg {
    pub const ALL: [SigningAlg; 4] = [Self::ES256, Self::RS256, Self::PS256, Self::EdDSA];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::ES256 => "ES256",
            Self::RS256 => "RS256",
            Self::PS256 => "PS256",
            Self::EdDSA => "EdDSA",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|alg| alg.as_str() == value)
    }
}

/// A registered relying party.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Client {
    pub id: String,
    pub name: String,
    /// Matched exactly, character for character (OIDC Core 3.1.2.1, RFC 9700 2.1).
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub auth_method: ClientAuthMethod,
    /// Hex SHA-256 of the client secret; secrets are random and high-entropy, so a fast hash suffices.
    pub secret_hash: Option<String>,
    /// The client's public keys for `private_key_jwt`, as a JWK Set document.
    pub jwks: Option<serde_json::Value>,
    pub jwks_uri: Option<String>,
    /// Scopes the client may request; `openid` is always allowed.
    pub scopes: Vec<String>,
    pub id_token_alg: SigningAlg,
}
