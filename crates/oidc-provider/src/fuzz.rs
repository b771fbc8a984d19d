//! The bodies of the fuzz targets in `fuzz/`, as plain functions: cargo-fuzz runs them on
//! arbitrary input, and this crate's tests run them over the committed seeds in `fuzz/seeds/`,
//! so that a plain `cargo test` keeps them compiling and checks that they still reach the code
//! they are meant to reach.
//!
//! A body panics only when a property fails (a crash, or an unsigned assertion that
//! authenticates): that panic is what the fuzzer reports.

use crate::authorize::{self, AuthorizeError};
use crate::client::{Client, ClientAuthMethod};
use crate::client_auth::{self, ClientCredentials, JWT_BEARER_ASSERTION_TYPE};

/// The issuer the bodies answer as.
const ISSUER: &str = "https://login.example.dk";

/// How far an authorization request got; a seed's file name starts with the one it expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthorizeOutcome {
    /// Shown as an error page to the citizen (no client or redirect URI to trust).
    Page,
    /// Sent as an error to the client's redirect URI.
    Redirect,
    /// A valid request, answered with a code.
    Accepted,
}

impl AuthorizeOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Page => "page",
            Self::Redirect => "redirect",
            Self::Accepted => "accepted",
        }
    }
}

/// The client both bodies know: `portal`, with the fuzz seeds' redirect URI.
fn portal(auth_method: ClientAuthMethod) -> Client {
    Client::builder("portal", "https://portal.example.dk/callback")
        .name("Portal")
        .auth_method(auth_method)
        .scopes(["profile", "email"])
        // A real P-256 public key: no assertion a fuzzer makes can be signed by it.
        .jwks(serde_json::json!({"keys": [{
            "kty": "EC", "crv": "P-256", "alg": "ES256", "kid": "k1",
            "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
            "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"
        }]}))
        .build()
}

/// Target `authorize_request`: `data` is a query string. Parsing and validation must answer
/// with an error page, a redirect error or a request, and building the answer must work.
pub fn authorize_request(data: &[u8]) -> AuthorizeOutcome {
    let params: Vec<(String, String)> = url::form_urlencoded::parse(data).into_owned().collect();
    let Ok(raw) = authorize::parse(&params) else {
        return AuthorizeOutcome::Page;
    };
    let client = portal(ClientAuthMethod::ClientSecretBasic);
    let known = (raw.client_id() == client.id).then_some(&client);
    match authorize::validate(&raw, known) {
        Ok(request) => {
            // Building the response must work for every valid request.
            let _ = request.success("code", ISSUER).location();
            let _ = crate::level::required_level(&request.acr_values, None);
            AuthorizeOutcome::Accepted
        }
        Err(AuthorizeError::Redirect(error)) => {
            let _ = error.to_response(ISSUER).location();
            AuthorizeOutcome::Redirect
        }
        Err(AuthorizeError::ShowPage(_)) => AuthorizeOutcome::Page,
    }
}

/// How far client authentication got; a seed's file name starts with the one it expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AssertionOutcome {
    /// No credentials could be read from the request.
    Malformed,
    /// Credentials were read, and refused.
    Refused,
}

impl AssertionOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Malformed => "malformed",
            Self::Refused => "refused",
        }
    }
}

/// Target `client_assertion`: `data` is an Authorization header line, then a JWT client
/// assertion (no newline: all assertion). They are tried as a request with the assertion in the
/// form and as one without a form; whatever parses must be refused, never authenticated.
pub fn client_assertion(data: &[u8]) -> AssertionOutcome {
    let text = String::from_utf8_lossy(data);
    let (header, assertion) = text.split_once('\n').unwrap_or(("", &text));
    let authorization = (!header.is_empty()).then_some(header);
    let form = vec![
        (
            "client_assertion_type".to_owned(),
            JWT_BEARER_ASSERTION_TYPE.to_owned(),
        ),
        ("client_assertion".to_owned(), assertion.to_owned()),
    ];
    let client = portal(ClientAuthMethod::PrivateKeyJwt);
    let mut outcome = AssertionOutcome::Malformed;
    for form in [form, Vec::new()] {
        if let Ok(credentials) = ClientCredentials::parse(authorization, &form) {
            let known = (credentials.client_id() == client.id).then_some(&client);
            let result = client_auth::authenticate(&credentials, known, &[ISSUER], 1_800_000_000);
            assert!(result.is_err(), "an unsigned fuzz input authenticated");
            outcome = AssertionOutcome::Refused;
        }
    }
    outcome
}

#[cfg(test)]
mod tests;
