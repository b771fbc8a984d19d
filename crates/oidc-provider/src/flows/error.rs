//! The one OAuth error vocabulary of the JSON endpoints: `/token` (RFC 6749 5.2), `/revoke`
//! (RFC 7009 2.2.1), `/introspect` (RFC 7662 2.3), `/userinfo` (RFC 6750 3.1) and `/cpr-match`
//! (docs/NEMLOGIN.md section 3). `http/error.rs` turns it into responses.

use crate::client_auth::{ClientAuthError, Rejection, RequestProblem};
use crate::error::InternalError;
use crate::store::StoreError;
use std::borrow::Cow;
use std::fmt;

/// A failure answered with an OAuth error code: the variants are the codes.
#[derive(Debug, thiserror::Error)]
pub enum OAuthError {
    /// RFC 6749 5.2: the request is malformed (400).
    #[error("invalid_request: {0}")]
    InvalidRequest(Problem),
    /// RFC 6749 5.2: client authentication failed (401 with the `Basic` challenge). The
    /// rejection is for logs only; the client learns no more than that it failed.
    #[error("invalid_client: {0}")]
    InvalidClient(Rejection),
    /// RFC 6749 5.2: the code or refresh token is not acceptable (400).
    #[error("invalid_grant: {0}")]
    InvalidGrant(Cow<'static, str>),
    /// RFC 6749 5.2: the client may not use this grant (400).
    #[error("unauthorized_client: {0}")]
    UnauthorizedClient(Cow<'static, str>),
    /// RFC 6749 5.2 (400).
    #[error("unsupported_grant_type: {0}")]
    UnsupportedGrantType(Cow<'static, str>),
    /// RFC 6749 5.2: more scope than granted or allowed (400).
    #[error("invalid_scope: {0}")]
    InvalidScope(Cow<'static, str>),
    /// RFC 6750 3.1: the access token is missing (`None`), malformed, expired or revoked
    /// (401 with the `Bearer` challenge).
    #[error("invalid_token: {}", .0.unwrap_or("no access token"))]
    InvalidToken(Option<&'static str>),
    /// The request is well-formed but refused (403), e.g. the CPR-match tries are used up.
    #[error("access_denied: {0}")]
    AccessDenied(Cow<'static, str>),
    /// The provider's fault: `server_error`, or `temporarily_unavailable` while the database
    /// cannot serve.
    #[error("internal")]
    Internal(#[from] InternalError),
}

impl OAuthError {
    /// `invalid_request` with a description for the client.
    pub fn invalid_request(description: impl Into<Cow<'static, str>>) -> Self {
        Self::InvalidRequest(Problem::Described(description.into()))
    }

    /// `invalid_grant` with a description for the client.
    pub fn invalid_grant(description: impl Into<Cow<'static, str>>) -> Self {
        Self::InvalidGrant(description.into())
    }
}

/// What is malformed in a request answered `invalid_request`.
#[derive(Debug)]
pub enum Problem {
    /// A problem described for the client.
    Described(Cow<'static, str>),
    /// The client-authentication part of the request is malformed (RFC 6749 2.3).
    ClientAuthentication(RequestProblem),
}

impl fmt::Display for Problem {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Described(description) => formatter.write_str(description),
            // The description clients have always been sent for these: the code, then why.
            Self::ClientAuthentication(problem) => write!(formatter, "invalid_request: {problem}"),
        }
    }
}

impl From<ClientAuthError> for OAuthError {
    fn from(error: ClientAuthError) -> Self {
        match error {
            // RFC 6749 5.2: more than one authentication method is a malformed request.
            ClientAuthError::InvalidRequest(problem) => {
                Self::InvalidRequest(Problem::ClientAuthentication(problem))
            }
            ClientAuthError::InvalidClient(rejection) => Self::InvalidClient(rejection),
        }
    }
}

impl From<StoreError> for OAuthError {
    fn from(error: StoreError) -> Self {
        Self::Internal(error.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_malformed_client_authentication_keeps_its_description() {
        let error = OAuthError::from(ClientAuthError::InvalidRequest(
            RequestProblem::MultipleMethods,
        ));
        let OAuthError::InvalidRequest(problem) = &error else {
            panic!("expected invalid_request, got {error:?}");
        };
        assert_eq!(
            problem.to_string(),
            "invalid_request: more than one client authentication method was used"
        );
    }

    #[test]
    fn a_failed_client_authentication_is_invalid_client_with_its_reason() {
        let error = OAuthError::from(ClientAuthError::InvalidClient(Rejection::WrongSecret));
        assert!(matches!(
            error,
            OAuthError::InvalidClient(Rejection::WrongSecret)
        ));
    }

    #[test]
    fn a_described_problem_is_sent_as_written() {
        let OAuthError::InvalidRequest(problem) = OAuthError::invalid_request("code is missing")
        else {
            panic!("expected invalid_request");
        };
        assert_eq!(problem.to_string(), "code is missing");
    }
}
