//! Passkeys (WebAuthn Level 2 with user verification, through `webauthn-rs`): the two
//! ceremonies as plain functions over serialized state, so the state can live in the database
//! (a login's pending request, or `webauthn_challenges`) and any node can finish what another
//! started. The relying party id and origin come from the issuer URL.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use citizen_registry::StoredPasskey;
use webauthn_rs::prelude::{
    Passkey, PasskeyAuthentication, PasskeyRegistration, PublicKeyCredential,
    RegisterPublicKeyCredential, Url, Webauthn, WebauthnBuilder, WebauthnError,
};

/// Why a ceremony did not succeed. `Rejected` carries a short reason for the audit log.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PasskeyError {
    /// The browser's answer is not a WebAuthn response at all.
    #[error("malformed passkey response")]
    Malformed,
    /// The answer did not verify: wrong challenge, origin, signature, or no user verification.
    #[error("passkey response rejected: {0}")]
    Rejected(&'static str),
    /// The citizen has no (readable) passkey to ask for.
    #[error("the citizen has no passkey")]
    NoPasskeys,
    /// The issuer is not a domain name (an IP address), so WebAuthn cannot be offered.
    #[error("passkeys are not available for this issuer")]
    Unavailable,
    #[error("passkey state could not be stored: {0}")]
    State(String),
}

/// Maps a verification failure to a reason word for the audit log (never the raw data).
fn rejected(error: WebauthnError) -> PasskeyError {
    PasskeyError::Rejected(match error {
        WebauthnError::MismatchedChallenge => "challenge",
        WebauthnError::InvalidRPOrigin | WebauthnError::InvalidRPIDHash => "origin",
        WebauthnError::UserNotVerified => "user_not_verified",
        WebauthnError::AuthenticationFailure => "signature",
        WebauthnError::CredentialPossibleCompromise => "counter",
        WebauthnError::CredentialNotFound => "unknown_credential",
        _ => "invalid",
    })
}

/// The WebAuthn relying party of this issuer.
pub(crate) struct Ceremonies {
    webauthn: Option<Webauthn>,
}

/// A started ceremony: what the page hands to `navigator.credentials`, and the state to keep.
#[derive(Debug, Clone)]
pub(crate) struct Started {
    /// JSON for the browser (`publicKey` options), safe to embed in a `<script
    /// type="application/json">` block: `<`, `>` and `&` are escaped.
    pub options_json: String,
    pub state: serde_json::Value,
}

/// A verified registration.
#[derive(Debug, Clone)]
pub(crate) struct Registered {
    pub credential_id: String,
    /// The credential to store (serialized `Passkey`).
    pub passkey: String,
}

/// A verified authentication.
#[derive(Debug, Clone)]
pub(crate) struct Authenticated {
    pub credential_id: String,
    /// The credential with its new counter and backup state, when they changed.
    pub updated_passkey: Option<String>,
}

fn script_safe_json<T: serde::Serialize>(value: &T) -> Result<String, PasskeyError> {
    let json =
        serde_json::to_string(value).map_err(|error| PasskeyError::State(error.to_string()))?;
    Ok(json
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026"))
}

fn to_state<T: serde::Serialize>(value: &T) -> Result<serde_json::Value, PasskeyError> {
    serde_json::to_value(value).map_err(|error| PasskeyError::State(error.to_string()))
}

fn credential_id(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

impl Ceremonies {
    /// The relying party for `issuer`: its host is the RP ID and its origin the only origin.
    /// An issuer on an IP address gets no passkeys (WebAuthn needs a domain).
    pub(crate) fn new(issuer: &str) -> Self {
        let webauthn = Url::parse(issuer).ok().and_then(|url| {
            let rp_id = url.domain()?.to_owned();
            let origin = Url::parse(&url.origin().ascii_serialization()).ok()?;
            WebauthnBuilder::new(&rp_id, &origin)
                .ok()?
                .rp_name("Segl")
                .build()
                .ok()
        });
        if webauthn.is_none() {
            tracing::warn!("the issuer is not on a domain name: passkeys (level High) are off");
        }
        Self { webauthn }
    }

    pub(crate) fn is_available(&self) -> bool {
        self.webauthn.is_some()
    }

    fn webauthn(&self) -> Result<&Webauthn, PasskeyError> {
        self.webauthn.as_ref().ok_or(PasskeyError::Unavailable)
    }

    /// Starts adding a passkey for a citizen; their existing passkeys are excluded.
    pub(crate) fn start_registration(
        &self,
        user_handle: uuid::Uuid,
        user_name: &str,
        display_name: &str,
        existing: &[StoredPasskey],
    ) -> Result<Started, PasskeyError> {
        let exclude = parse_passkeys(existing)
            .into_iter()
            .map(|(_, passkey)| passkey.cred_id().clone())
            .collect::<Vec<_>>();
        let (options, state) = self
            .webauthn()?
            .start_passkey_registration(user_handle, user_name, display_name, Some(exclude))
            .map_err(|error| PasskeyError::State(error.to_string()))?;
        Ok(Started {
            options_json: script_safe_json(&options)?,
            state: to_state(&state)?,
        })
    }

    /// Verifies the browser's answer to a registration.
    pub(crate) fn finish_registration(
        &self,
        response_json: &str,
        state: &serde_json::Value,
    ) -> Result<Registered, PasskeyError> {
        let webauthn = self.webauthn()?;
        let response: RegisterPublicKeyCredential =
            serde_json::from_str(response_json).map_err(|_| PasskeyError::Malformed)?;
        let state: PasskeyRegistration = serde_json::from_value(state.clone())
            .map_err(|error| PasskeyError::State(error.to_string()))?;
        let passkey = webauthn
            .finish_passkey_registration(&response, &state)
            .map_err(rejected)?;
        Ok(Registered {
            credential_id: credential_id(passkey.cred_id().as_slice()),
            passkey: serde_json::to_string(&passkey)
                .map_err(|error| PasskeyError::State(error.to_string()))?,
        })
    }

    /// Starts a login with one of the citizen's passkeys (user verification required).
    pub(crate) fn start_authentication(
        &self,
        stored: &[StoredPasskey],
    ) -> Result<Started, PasskeyError> {
        let passkeys: Vec<Passkey> = parse_passkeys(stored)
            .into_iter()
            .map(|(_, passkey)| passkey)
            .collect();
        // An empty list would let any discoverable credential answer: never start one.
        if passkeys.is_empty() {
            return Err(PasskeyError::NoPasskeys);
        }
        let (options, state) = self
            .webauthn()?
            .start_passkey_authentication(&passkeys)
            .map_err(|error| PasskeyError::State(error.to_string()))?;
        Ok(Started {
            options_json: script_safe_json(&options)?,
            state: to_state(&state)?,
        })
    }

    /// Verifies the browser's answer to a login against the stored challenge, and works out
    /// the credential's new state.
    pub(crate) fn finish_authentication(
        &self,
        response_json: &str,
        state: &serde_json::Value,
        stored: &[StoredPasskey],
    ) -> Result<Authenticated, PasskeyError> {
        let webauthn = self.webauthn()?;
        let response: PublicKeyCredential =
            serde_json::from_str(response_json).map_err(|_| PasskeyError::Malformed)?;
        let state: PasskeyAuthentication = serde_json::from_value(state.clone())
            .map_err(|error| PasskeyError::State(error.to_string()))?;
        let result = webauthn
            .finish_passkey_authentication(&response, &state)
            .map_err(rejected)?;
        let used = credential_id(result.cred_id().as_slice());
        let mut passkey = parse_passkeys(stored)
            .into_iter()
            .find(|(id, _)| *id == used)
            .map(|(_, passkey)| passkey)
            .ok_or(PasskeyError::Rejected("unknown_credential"))?;
        let updated_passkey = match passkey.update_credential(&result) {
            Some(true) => Some(
                serde_json::to_string(&passkey)
                    .map_err(|error| PasskeyError::State(error.to_string()))?,
            ),
            _ => None,
        };
        Ok(Authenticated {
            credential_id: used,
            updated_passkey,
        })
    }
}

/// The stored credentials that parse (a corrupt row is skipped and logged, not fatal).
fn parse_passkeys(stored: &[StoredPasskey]) -> Vec<(String, Passkey)> {
    stored
        .iter()
        .filter_map(|row| match serde_json::from_str::<Passkey>(&row.passkey) {
            Ok(passkey) => Some((row.credential_id.clone(), passkey)),
            Err(_) => {
                tracing::error!(credential = %row.credential_id, "a stored passkey does not parse");
                None
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ip_issuer_has_no_passkeys() {
        assert!(!Ceremonies::new("http://127.0.0.1:8080").is_available());
        assert!(Ceremonies::new("http://localhost:8080").is_available());
        assert!(Ceremonies::new("https://login.example.dk").is_available());
    }

    #[test]
    fn options_are_safe_inside_a_script_block() {
        let json = script_safe_json(&serde_json::json!({ "name": "</script><b>&" })).unwrap();
        assert!(!json.contains('<') && !json.contains('>') && !json.contains('&'));
        let back: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(back["name"], "</script><b>&");
    }

    #[test]
    fn a_malformed_answer_is_refused() {
        let ceremonies = Ceremonies::new("https://login.example.dk");
        // With no passkeys there is nothing to ask for.
        assert_eq!(
            ceremonies.start_authentication(&[]).unwrap_err(),
            PasskeyError::NoPasskeys
        );
        assert_eq!(
            ceremonies
                .finish_authentication("{not json", &serde_json::Value::Null, &[])
                .unwrap_err(),
            PasskeyError::Malformed
        );
    }
}
