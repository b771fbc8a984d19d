//! The rules of the authorization response (RFC 6749 4.1.2, OIDC Core 3.1.2.5 and 3.1.2.6,
//! RFC 9207), and why a login can fail: plain types and functions, no I/O.

use crate::level::Level;
use crate::pending::PendingLogin;
use crate::random::secrets_match;

/// The query of the redirect back to `/callback`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallbackParams {
    pub code: Option<String>,
    pub state: Option<String>,
    pub iss: Option<String>,
    pub error: Option<String>,
    pub error_description: Option<String>,
}

impl CallbackParams {
    /// RFC 6749 3.1: parameters must not be repeated; unknown ones are ignored.
    pub fn parse(pairs: &[(String, String)]) -> Result<Self, LoginError> {
        let mut params = Self::default();
        for (name, value) in pairs {
            let slot = match name.as_str() {
                "code" => &mut params.code,
                "state" => &mut params.state,
                "iss" => &mut params.iss,
                "error" => &mut params.error,
                "error_description" => &mut params.error_description,
                _ => continue,
            };
            if slot.replace(value.clone()).is_some() {
                return Err(LoginError::MalformedCallback);
            }
        }
        Ok(params)
    }
}

/// Why a login did not complete. The HTTP layer picks the page and status for each.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoginError {
    /// Segl cannot be reached or its discovery document is unusable: try again later.
    #[error("Segl is unavailable: {0}")]
    ProviderUnavailable(String),
    /// Too many logins in flight or sessions: try again later.
    #[error("too many logins in progress")]
    TooBusy,
    /// No login in flight for this browser, or it expired or was already used: start again.
    #[error("no login in progress, or it expired")]
    Expired,
    #[error("the callback repeats a parameter")]
    MalformedCallback,
    /// `state` does not belong to this browser's login (a forged or crossed response).
    #[error("state does not match the login in progress")]
    StateMismatch,
    /// RFC 9207: the response names another issuer (a mix-up attack), or none when required.
    #[error("the response's iss is not Segl's issuer")]
    IssuerMismatch,
    /// Segl answered with an error (the citizen cancelled, or Segl refused).
    #[error("Segl refused the login: {error}")]
    Refused {
        error: String,
        description: Option<String>,
    },
    #[error("the callback has no code")]
    MissingCode,
    #[error("the token request failed: {0}")]
    TokenRequest(String),
    #[error("the ID token is not acceptable: {0}")]
    IdToken(String),
    /// The login happened at a lower level than the page needs.
    #[error("the login's level is lower than required")]
    LevelNotMet {
        required: Level,
        acr: Option<String>,
    },
    #[error("the userinfo request failed: {0}")]
    Userinfo(String),
    #[error("internal failure: {0}")]
    Internal(String),
}

/// Checks the authorization response against the login this browser started and returns the
/// authorization code. `iss_required` is the provider's
/// `authorization_response_iss_parameter_supported` (RFC 9207 2.4).
pub(crate) fn check_callback(
    params: &CallbackParams,
    pending: &PendingLogin,
    issuer: &str,
    iss_required: bool,
) -> Result<String, LoginError> {
    // RFC 6749 10.12: the state binds the response to this browser's request.
    let state_matches = params
        .state
        .as_deref()
        .is_some_and(|state| secrets_match(&pending.state, state));
    if !state_matches {
        return Err(LoginError::StateMismatch);
    }
    // RFC 9207 2.4: compare iss (error responses included) before using anything else.
    match params.iss.as_deref() {
        Some(iss) if iss != issuer => return Err(LoginError::IssuerMismatch),
        None if iss_required => return Err(LoginError::IssuerMismatch),
        _ => {}
    }
    if let Some(error) = &params.error {
        return Err(LoginError::Refused {
            error: error.clone(),
            description: params.error_description.clone(),
        });
    }
    params
        .code
        .clone()
        .filter(|code| !code.is_empty())
        .ok_or(LoginError::MissingCode)
}

/// Whether the `acr` of an ID token meets `required` (OIDC Core 3.1.3.7 step 12).
pub(crate) fn check_level(acr: Option<&str>, required: Level) -> Result<Level, LoginError> {
    acr.and_then(Level::parse)
        .filter(|level| level.satisfies(required))
        .ok_or_else(|| LoginError::LevelNotMet {
            required,
            acr: acr.map(str::to_owned),
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::page::ReturnPage;

    const ISSUER: &str = "https://segl.example";

    fn pending() -> PendingLogin {
        PendingLogin {
            state: "the-state".to_owned(),
            nonce: "the-nonce".to_owned(),
            pkce_verifier: "the-verifier".to_owned(),
            level: Level::Low,
            return_to: ReturnPage::Home,
        }
    }

    fn params(pairs: &[(&str, &str)]) -> CallbackParams {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
            .collect();
        CallbackParams::parse(&pairs).unwrap()
    }

    #[test]
    fn a_matching_response_yields_the_code() {
        let response = params(&[("code", "c1"), ("state", "the-state"), ("iss", ISSUER)]);
        assert_eq!(
            check_callback(&response, &pending(), ISSUER, true),
            Ok("c1".to_owned())
        );
    }

    #[test]
    fn a_wrong_or_missing_state_is_refused() {
        let response = params(&[("code", "c1"), ("state", "other"), ("iss", ISSUER)]);
        assert_eq!(
            check_callback(&response, &pending(), ISSUER, true),
            Err(LoginError::StateMismatch)
        );
        let response = params(&[("code", "c1"), ("iss", ISSUER)]);
        assert_eq!(
            check_callback(&response, &pending(), ISSUER, true),
            Err(LoginError::StateMismatch)
        );
    }

    #[test]
    fn another_issuer_is_refused_even_in_an_error_response() {
        let response = params(&[
            ("error", "access_denied"),
            ("state", "the-state"),
            ("iss", "https://evil.example"),
        ]);
        assert_eq!(
            check_callback(&response, &pending(), ISSUER, false),
            Err(LoginError::IssuerMismatch)
        );
    }

    #[test]
    fn a_missing_iss_is_refused_only_when_the_provider_promises_it() {
        let response = params(&[("code", "c1"), ("state", "the-state")]);
        assert_eq!(
            check_callback(&response, &pending(), ISSUER, true),
            Err(LoginError::IssuerMismatch)
        );
        assert!(check_callback(&response, &pending(), ISSUER, false).is_ok());
    }

    #[test]
    fn an_error_response_is_reported_with_its_code() {
        let response = params(&[
            ("error", "access_denied"),
            ("error_description", "the citizen cancelled"),
            ("state", "the-state"),
            ("iss", ISSUER),
        ]);
        assert_eq!(
            check_callback(&response, &pending(), ISSUER, true),
            Err(LoginError::Refused {
                error: "access_denied".to_owned(),
                description: Some("the citizen cancelled".to_owned()),
            })
        );
    }

    #[test]
    fn repeated_parameters_are_refused() {
        let pairs = vec![
            ("state".to_owned(), "a".to_owned()),
            ("state".to_owned(), "b".to_owned()),
        ];
        assert_eq!(
            CallbackParams::parse(&pairs),
            Err(LoginError::MalformedCallback)
        );
    }

    #[test]
    fn the_level_must_be_at_least_what_the_page_needs() {
        let substantial = Some(Level::Substantial.uri());
        assert_eq!(check_level(substantial, Level::Low), Ok(Level::Substantial));
        assert_eq!(
            check_level(substantial, Level::Substantial),
            Ok(Level::Substantial)
        );
        assert!(matches!(
            check_level(Some(Level::Low.uri()), Level::Substantial),
            Err(LoginError::LevelNotMet {
                required: Level::Substantial,
                ..
            })
        ));
        assert!(check_level(None, Level::Low).is_err());
        assert!(check_level(Some("urn:unknown"), Level::Low).is_err());
    }
}
