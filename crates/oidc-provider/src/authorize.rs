//! Authorization requests (OIDC Core 3.1.2, RFC 6749 4.1): validation and the answer to the client.
//!
//! Errors at the authorization endpoint come in two kinds (docs/NEMLOGIN.md rule 4, RFC 6749 4.1.2.1,
//! RFC 9700 4.11): while the client and its redirect URI are not yet trusted, an error is shown to
//! the citizen as a page and never redirected; once they are, every error goes back to the client
//! as a redirect. Hence two stages:
//!
//! 1. [`parse`] takes the raw parameters (query string for GET, form body for POST) and returns a
//!    [`RawAuthorizationRequest`] whose [`client_id`](RawAuthorizationRequest::client_id) the
//!    caller looks up, or a [`PageError`].
//! 2. [`validate`] takes that request and the lookup result (`Option<&Client>`) and returns a
//!    validated [`AuthorizationRequest`], or an [`AuthorizeError`]: either
//!    [`ShowPage`](AuthorizeError::ShowPage) (unknown client, missing or unregistered
//!    `redirect_uri`) or [`Redirect`](AuthorizeError::Redirect) with a [`RedirectError`].
//!
//! Both outcomes that reach the client, a code or a [`RedirectError`], become an
//! [`AuthorizationResponse`], whose [`delivery`](AuthorizationResponse::delivery) is either a
//! `Location` for `response_mode=query` or the fields of an auto-submitting form for
//! `response_mode=form_post`. Both carry `iss` (RFC 9207).
//!
//! Choices where the specifications leave room:
//! - `redirect_uri` is always required, even for a client with one registered URI (OIDC Core
//!   3.1.2.1 makes it REQUIRED), and compared character for character (RFC 9700 2.1).
//! - A parameter with an empty value counts as absent (RFC 6749 3.1); a parameter that is sent
//!   twice is `invalid_request` (RFC 6749 3.1), and never redirects if it is `client_id` or
//!   `redirect_uri`. More than [`MAX_PARAMETERS`] parameters, or a name longer than
//!   [`MAX_NAME_BYTES`], is refused before anything else as a page; a value longer than
//!   [`MAX_VALUE_BYTES`] ([`MAX_LARGE_VALUE_BYTES`] for `id_token_hint` and `claims`, since an
//!   ID token can exceed 2 KiB) is `invalid_request`, and a page for `client_id` and
//!   `redirect_uri`.
//!   A `state` that is repeated or too long is not echoed back.
//! - `prompt`: Segl supports `none` and `login`. It has no consent screen (what a client receives
//!   is fixed when it is registered) and one account per citizen, so, as OIDC Core 3.1.2.1 says
//!   for an OP that cannot obtain consent or an account choice, `consent` fails with
//!   `consent_required` and `select_account` with `account_selection_required`. Any other value
//!   is `invalid_request` (OpenID Connect Prompt Create 4.1 for values the OP does not support),
//!   and `none` with any other value is `invalid_request` (OIDC Core 3.1.2.1).
//! - `request`, `request_uri` and `registration` are refused with `request_not_supported`,
//!   `request_uri_not_supported` and `registration_not_supported` (OIDC Core 3.1.2.6).
//! - `unauthorized_client` is not produced here: a [`Client`] has no per-client grant types, so
//!   every registered client may use the code flow.
//! - Unknown parameters are ignored (RFC 6749 3.1), and so is `display`.

use std::collections::{BTreeMap, BTreeSet};

use crate::client::Client;
use crate::pkce::CodeChallenge;

/// More parameters than this is refused outright (an error page), before any other check.
pub const MAX_PARAMETERS: usize = 50;
/// Longest parameter name accepted; no parameter Segl knows comes close.
pub const MAX_NAME_BYTES: usize = 64;
/// Longest parameter value accepted.
pub const MAX_VALUE_BYTES: usize = 2048;
/// Longest value accepted for `id_token_hint` (an ID token) and `claims`.
pub const MAX_LARGE_VALUE_BYTES: usize = 8192;

fn max_value_bytes(name: &str) -> usize {
    match name {
        "id_token_hint" | "claims" => MAX_LARGE_VALUE_BYTES,
        _ => MAX_VALUE_BYTES,
    }
}

/// Errors shown to the citizen as a page, never redirected: the redirect target is not trusted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PageError {
    #[error("The request has too many parameters or a parameter name that is too long.")]
    RequestTooLarge,
    #[error("The request does not name a client (client_id is missing).")]
    MissingClientId,
    #[error("The client_id parameter is repeated or too long.")]
    MalformedClientId,
    #[error("The client is not registered with Segl.")]
    UnknownClient,
    #[error("The request has no redirect_uri.")]
    MissingRedirectUri,
    #[error("The redirect_uri parameter is repeated, too long or contains a fragment.")]
    MalformedRedirectUri,
    #[error("The redirect_uri is not registered for this client.")]
    UnregisteredRedirectUri,
}

/// Error codes returned to the client (RFC 6749 4.1.2.1, OIDC Core 3.1.2.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    InvalidRequest,
    UnauthorizedClient,
    AccessDenied,
    UnsupportedResponseType,
    InvalidScope,
    ServerError,
    TemporarilyUnavailable,
    InteractionRequired,
    LoginRequired,
    AccountSelectionRequired,
    ConsentRequired,
    RequestNotSupported,
    RequestUriNotSupported,
    RegistrationNotSupported,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::UnauthorizedClient => "unauthorized_client",
            Self::AccessDenied => "access_denied",
            Self::UnsupportedResponseType => "unsupported_response_type",
            Self::InvalidScope => "invalid_scope",
            Self::ServerError => "server_error",
            Self::TemporarilyUnavailable => "temporarily_unavailable",
            Self::InteractionRequired => "interaction_required",
            Self::LoginRequired => "login_required",
            Self::AccountSelectionRequired => "account_selection_required",
            Self::ConsentRequired => "consent_required",
            Self::RequestNotSupported => "request_not_supported",
            Self::RequestUriNotSupported => "request_uri_not_supported",
            Self::RegistrationNotSupported => "registration_not_supported",
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(self.as_str())
    }
}

/// How the response reaches the client (OAuth 2.0 Multiple Response Types 2.1, Form Post 2).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum ResponseMode {
    /// Parameters in the query of a redirect: the default for `response_type=code`.
    #[default]
    Query,
    /// Parameters in an HTML form the browser posts to the redirect URI.
    FormPost,
}

impl ResponseMode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Query => "query",
            Self::FormPost => "form_post",
        }
    }
}

/// What the `prompt` parameter asks for; `none` and `login` exclude each other (OIDC Core 3.1.2.1).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Prompt {
    /// No `prompt`: an SSO session that satisfies the request is reused.
    #[default]
    Default,
    /// `prompt=none`: no user interface; fail with `login_required` or `interaction_required`.
    None,
    /// `prompt=login`: authenticate the citizen again even with a session.
    Login,
}

/// An error returned to the client's (trusted) redirect URI.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{error}: {description}")]
pub struct RedirectError {
    pub error: ErrorCode,
    /// Plain English for the developer of the client (`error_description`).
    pub description: String,
    /// Echoed as sent, if the request carried a usable `state`.
    pub state: Option<String>,
    pub redirect_uri: String,
    pub response_mode: ResponseMode,
}

impl RedirectError {
    /// The response that carries this error to the client, with `iss` set to `issuer` (RFC 9207).
    pub fn to_response(&self, issuer: &str) -> AuthorizationResponse {
        AuthorizationResponse::error(self, issuer)
    }
}

/// Why [`validate`] refused a request; the variant says how to answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthorizeError {
    /// Show an error page to the citizen; do not redirect.
    #[error(transparent)]
    ShowPage(#[from] PageError),
    /// Send the error to the client's redirect URI.
    #[error(transparent)]
    Redirect(#[from] RedirectError),
}

/// The parameters of an authorization request, with a `client_id` to look up; see [`parse`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawAuthorizationRequest {
    client_id: String,
    /// Parameters sent exactly once, with a non-empty value of acceptable size.
    parameters: BTreeMap<String, String>,
    /// Names of parameters sent more than once.
    repeated: BTreeSet<String>,
    /// Names of parameters whose value is too long (see [`MAX_VALUE_BYTES`]).
    oversized: BTreeSet<String>,
}

impl RawAuthorizationRequest {
    /// The client to look up before calling [`validate`]. Not yet checked against anything.
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.parameters.get(name).map(String::as_str)
    }

    /// Whether the parameter was sent at all (even repeated or oversized).
    fn has(&self, name: &str) -> bool {
        self.parameters.contains_key(name)
            || self.repeated.contains(name)
            || self.oversized.contains(name)
    }
}

/// A validated authorization request (OIDC Core 3.1.2.2), ready for login.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AuthorizationRequest {
    pub client_id: String,
    /// Registered exactly for the client.
    pub redirect_uri: String,
    /// Requested scopes in the order given, without duplicates; always contains `openid`.
    pub scopes: Vec<String>,
    pub state: String,
    pub nonce: String,
    pub code_challenge: CodeChallenge,
    pub response_mode: ResponseMode,
    pub prompt: Prompt,
    /// Seconds since the last active authentication that the client accepts (OIDC Core 3.1.2.1).
    pub max_age: Option<i64>,
    pub login_hint: Option<String>,
    /// Raw ID token hint; checking it is the session logic's job.
    pub id_token_hint: Option<String>,
    /// Preferred languages (BCP 47 tags), in order of preference.
    pub ui_locales: Vec<String>,
    /// Requested ACR values as sent; the assurance-level module interprets them.
    pub acr_values: Vec<String>,
    /// The `claims` parameter (OIDC Core 5.5) as sent; checked to be a JSON object.
    pub claims: Option<String>,
}

impl AuthorizationRequest {
    /// An error for this request, e.g. `access_denied` when the citizen cancels, or
    /// `login_required` for `prompt=none` without a session.
    pub fn error(&self, error: ErrorCode, description: impl Into<String>) -> RedirectError {
        RedirectError {
            error,
            description: description.into(),
            state: Some(self.state.clone()),
            redirect_uri: self.redirect_uri.clone(),
            response_mode: self.response_mode,
        }
    }

    /// The successful response carrying `code` (RFC 6749 4.1.2, RFC 9207 2).
    pub fn success(&self, code: &str, issuer: &str) -> AuthorizationResponse {
        AuthorizationResponse::success(self, code, issuer)
    }
}

/// Reads the raw parameters of an authorization request (RFC 6749 3.1).
///
/// Fails, as a page, only when the request is too large or has no usable `client_id`; every
/// other problem is kept for [`validate`], which can report it to the client.
pub fn parse(params: &[(String, String)]) -> Result<RawAuthorizationRequest, PageError> {
    if params.len() > MAX_PARAMETERS || params.iter().any(|(name, _)| name.len() > MAX_NAME_BYTES) {
        return Err(PageError::RequestTooLarge);
    }
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    // RFC 6749 3.1: parameters sent without a value MUST be treated as if they were omitted.
    for (name, _) in params.iter().filter(|(_, value)| !value.is_empty()) {
        *seen.entry(name.as_str()).or_default() += 1;
    }
    let mut parameters = BTreeMap::new();
    let mut repeated = BTreeSet::new();
    let mut oversized = BTreeSet::new();
    for (name, value) in params.iter().filter(|(_, value)| !value.is_empty()) {
        if seen.get(name.as_str()).copied().unwrap_or(0) > 1 {
            // RFC 6749 3.1: request parameters MUST NOT be included more than once.
            repeated.insert(name.clone());
        } else if value.len() > max_value_bytes(name) {
            oversized.insert(name.clone());
        } else {
            parameters.insert(name.clone(), value.clone());
        }
    }
    if repeated.contains("client_id") || oversized.contains("client_id") {
        return Err(PageError::MalformedClientId);
    }
    let client_id = parameters
        .get("client_id")
        .cloned()
        .ok_or(PageError::MissingClientId)?;
    Ok(RawAuthorizationRequest {
        client_id,
        parameters,
        repeated,
        oversized,
    })
}

/// Validates a parsed request against the looked-up client (`None`: no such client).
pub fn validate(
    raw: &RawAuthorizationRequest,
    client: Option<&Client>,
) -> Result<AuthorizationRequest, AuthorizeError> {
    let (client, redirect_uri) = trusted_target(raw, client)?;
    validate_for_trusted_redirect(raw, client, redirect_uri).map_err(AuthorizeError::Redirect)
}

/// OIDC Core 3.1.2.1, RFC 6749 4.1.2.1: establishes the client and redirect URI, or a page error.
fn trusted_target<'a, 'c>(
    raw: &'a RawAuthorizationRequest,
    client: Option<&'c Client>,
) -> Result<(&'c Client, &'a str), PageError> {
    // The lookup must be for this very client_id; anything else is treated as unknown.
    let client = client
        .filter(|client| client.id == raw.client_id)
        .ok_or(PageError::UnknownClient)?;
    if raw.repeated.contains("redirect_uri") || raw.oversized.contains("redirect_uri") {
        return Err(PageError::MalformedRedirectUri);
    }
    // OIDC Core 3.1.2.1: redirect_uri is REQUIRED, even when the client has registered one.
    let redirect_uri = raw
        .get("redirect_uri")
        .ok_or(PageError::MissingRedirectUri)?;
    // RFC 6749 3.1.2: the redirection endpoint URI MUST NOT include a fragment component.
    if redirect_uri.contains('#') {
        return Err(PageError::MalformedRedirectUri);
    }
    // OIDC Core 3.1.2.1, RFC 9700 2.1: exact string matching against a registered URI.
    if !client
        .redirect_uris
        .iter()
        .any(|registered| registered == redirect_uri)
    {
        return Err(PageError::UnregisteredRedirectUri);
    }
    Ok((client, redirect_uri))
}

/// Every check made once the redirect target is trusted; each failure goes back to the client.
fn validate_for_trusted_redirect(
    raw: &RawAuthorizationRequest,
    client: &Client,
    redirect_uri: &str,
) -> Result<AuthorizationRequest, RedirectError> {
    // The response mode and state are settled first so that every later error travels the way
    // the client asked and carries its state. A repeated or oversized state is not echoed.
    let requested_mode = parse_response_mode(raw);
    let response_mode = requested_mode.clone().unwrap_or_default();
    let state = raw.get("state");
    let fail = |error: ErrorCode, description: String| RedirectError {
        error,
        description,
        state: state.map(str::to_owned),
        redirect_uri: redirect_uri.to_owned(),
        response_mode,
    };
    let invalid_request = |description: String| fail(ErrorCode::InvalidRequest, description);

    // OIDC Core 3.1.2.6: request objects, request_uri and dynamic registration are not offered.
    if raw.has("request") {
        return Err(fail(
            ErrorCode::RequestNotSupported,
            "The request parameter (request objects) is not supported.".to_owned(),
        ));
    }
    if raw.has("request_uri") {
        return Err(fail(
            ErrorCode::RequestUriNotSupported,
            "The request_uri parameter is not supported.".to_owned(),
        ));
    }
    if raw.has("registration") {
        return Err(fail(
            ErrorCode::RegistrationNotSupported,
            "The registration parameter is not supported.".to_owned(),
        ));
    }
    // RFC 6749 3.1: request and response parameters MUST NOT be included more than once.
    if let Some(name) = raw.repeated.iter().next() {
        return Err(invalid_request(format!(
            "The parameter {} is included more than once.",
            echo(name)
        )));
    }
    if let Some(name) = raw.oversized.iter().next() {
        return Err(invalid_request(format!(
            "The parameter {} is longer than {} bytes.",
            echo(name),
            max_value_bytes(name)
        )));
    }
    if let Err(description) = requested_mode {
        return Err(invalid_request(description));
    }

    // OIDC Core 3.1.2.1, docs/NEMLOGIN.md rule 2: only the authorization code flow.
    match raw.get("response_type") {
        None => return Err(invalid_request("response_type is required.".to_owned())),
        Some("code") => {}
        Some(other) => {
            return Err(fail(
                ErrorCode::UnsupportedResponseType,
                format!("response_type {} is not supported; use code.", echo(other)),
            ))
        }
    }

    // docs/NEMLOGIN.md rule 2: state and nonce are required (OIDC Core makes them optional).
    let state = state
        .ok_or_else(|| invalid_request("state is required.".to_owned()))?
        .to_owned();

    let scopes = validate_scopes(raw.get("scope"), client)
        .map_err(|description| fail(ErrorCode::InvalidScope, description))?;

    let nonce = raw
        .get("nonce")
        .ok_or_else(|| invalid_request("nonce is required.".to_owned()))?
        .to_owned();

    // RFC 7636 4.3, RFC 9700 2.1.1, docs/NEMLOGIN.md rule 2: PKCE with S256 for every client.
    let challenge = raw.get("code_challenge").ok_or_else(|| {
        invalid_request("code_challenge is required (PKCE with S256).".to_owned())
    })?;
    let code_challenge = CodeChallenge::parse(challenge, raw.get("code_challenge_method"))
        .map_err(|error| invalid_request(format!("{error}.")))?;

    let prompt = parse_prompt(raw.get("prompt"))
        .map_err(|(error, description)| fail(error, description.to_owned()))?;

    let max_age = raw
        .get("max_age")
        .map(parse_max_age)
        .transpose()
        .map_err(|description| invalid_request(description.to_owned()))?;

    // OIDC Core 5.5: the claims parameter is a JSON object.
    let claims = raw.get("claims").map(str::to_owned);
    if let Some(claims) = &claims {
        match serde_json::from_str::<serde_json::Value>(claims) {
            Ok(serde_json::Value::Object(_)) => {}
            _ => {
                return Err(invalid_request(
                    "claims must be a JSON object (OIDC Core 5.5).".to_owned(),
                ))
            }
        }
    }

    Ok(AuthorizationRequest {
        client_id: client.id.clone(),
        redirect_uri: redirect_uri.to_owned(),
        scopes,
        state,
        nonce,
        code_challenge,
        response_mode,
        prompt,
        max_age,
        login_hint: raw.get("login_hint").map(str::to_owned),
        id_token_hint: raw.get("id_token_hint").map(str::to_owned),
        ui_locales: split_spaces(raw.get("ui_locales")),
        acr_values: split_spaces(raw.get("acr_values")),
        claims,
    })
}

/// The requested response mode; `Err` carries the description for `invalid_request`.
fn parse_response_mode(raw: &RawAuthorizationRequest) -> Result<ResponseMode, String> {
    match raw.get("response_mode") {
        None | Some("query") => Ok(ResponseMode::Query),
        Some("form_post") => Ok(ResponseMode::FormPost),
        // RFC 9700 2.1.2 keeps codes out of fragments for the code flow; Segl offers only
        // query and form_post.
        Some("fragment") => {
            Err("response_mode fragment is not allowed; use query or form_post.".to_owned())
        }
        Some(other) => Err(format!(
            "response_mode {} is not supported; use query or form_post.",
            echo(other)
        )),
    }
}

/// RFC 6749 3.3, OIDC Core 3.1.2.1: `openid` plus scopes registered for the client.
fn validate_scopes(scope: Option<&str>, client: &Client) -> Result<Vec<String>, String> {
    let mut scopes: Vec<String> = Vec::new();
    for token in scope
        .unwrap_or_default()
        .split(' ')
        .filter(|token| !token.is_empty())
    {
        // RFC 6749 3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ).
        let is_scope_token = token
            .bytes()
            .all(|byte| matches!(byte, 0x21 | 0x23..=0x5B | 0x5D..=0x7E));
        if !is_scope_token {
            return Err(
                "scope contains characters that are not allowed (RFC 6749 3.3).".to_owned(),
            );
        }
        if !scopes.iter().any(|seen| seen == token) {
            scopes.push(token.to_owned());
        }
    }
    // OIDC Core 3.1.2.1: an OpenID Connect request MUST contain the openid scope value.
    if !scopes.iter().any(|scope| scope == "openid") {
        return Err("scope must include openid.".to_owned());
    }
    // docs/NEMLOGIN.md rule 4: a scope the client may not use fails the request.
    if let Some(refused) = scopes
        .iter()
        .find(|scope| *scope != "openid" && !client.scopes.contains(scope))
    {
        return Err(format!(
            "The client is not allowed to request the scope {}.",
            echo(refused)
        ));
    }
    Ok(scopes)
}

/// OIDC Core 3.1.2.1: the `prompt` values; the error pair is code and description.
fn parse_prompt(prompt: Option<&str>) -> Result<Prompt, (ErrorCode, &'static str)> {
    let values: BTreeSet<&str> = prompt
        .unwrap_or_default()
        .split(' ')
        .filter(|value| !value.is_empty())
        .collect();
    // OIDC Core 3.1.2.1: if prompt contains none with any other value, an error is returned.
    if values.contains("none") && values.len() > 1 {
        return Err((
            ErrorCode::InvalidRequest,
            "prompt none cannot be combined with other values.",
        ));
    }
    for value in &values {
        match *value {
            "none" | "login" => {}
            // OIDC Core 3.1.2.1: an OP that cannot obtain consent or an account selection MUST
            // return an error; Segl has neither a consent screen nor several accounts per citizen.
            "consent" => {
                return Err((
                    ErrorCode::ConsentRequired,
                    "prompt consent is not supported: Segl has no consent screen.",
                ))
            }
            "select_account" => {
                return Err((
                    ErrorCode::AccountSelectionRequired,
                    "prompt select_account is not supported: a citizen has one account.",
                ))
            }
            _ => {
                return Err((
                    ErrorCode::InvalidRequest,
                    "prompt contains an unsupported value; use none or login.",
                ))
            }
        }
    }
    Ok(if values.contains("none") {
        Prompt::None
    } else if values.contains("login") {
        Prompt::Login
    } else {
        Prompt::Default
    })
}

/// OIDC Core 3.1.2.1: max_age is a non-negative number of seconds.
fn parse_max_age(value: &str) -> Result<i64, &'static str> {
    // Digits only (no sign), and few enough of them to fit an i64 comfortably.
    if value.is_empty() || value.len() > 10 || !value.bytes().all(|byte| byte.is_ascii_digit()) {
        return Err("max_age must be a non-negative whole number of seconds.");
    }
    value
        .parse()
        .map_err(|_| "max_age must be a non-negative whole number of seconds.")
}

/// A value from the request, fit to quote in an `error_description`: at most 40 characters.
fn echo(value: &str) -> String {
    const LIMIT: usize = 40;
    let mut echoed: String = value.chars().take(LIMIT).collect();
    if value.chars().nth(LIMIT).is_some() {
        echoed.push_str("...");
    }
    echoed
}

/// RFC 6749 4.1.2.1: error_description uses only %x20-21 / %x23-5B / %x5D-7E; anything else
/// becomes `?`.
fn sanitize_description(description: &str) -> String {
    description
        .chars()
        .map(|character| match character {
            '\x20'..='\x21' | '\x23'..='\x5B' | '\x5D'..='\x7E' => character,
            _ => '?',
        })
        .collect()
}

fn split_spaces(value: Option<&str>) -> Vec<String> {
    value
        .unwrap_or_default()
        .split(' ')
        .filter(|item| !item.is_empty())
        .map(str::to_owned)
        .collect()
}

/// A response to send to the client: a code or an error, with `state` and `iss`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizationResponse {
    pub redirect_uri: String,
    pub response_mode: ResponseMode,
    parameters: Vec<(&'static str, String)>,
}

/// How the HTTP layer delivers an [`AuthorizationResponse`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// Answer with a redirect (303 or 302) to `location`.
    Redirect { location: String },
    /// Answer with an HTML page whose form posts `fields` to `action` on load.
    FormPost {
        action: String,
        fields: Vec<(String, String)>,
    },
}

impl AuthorizationResponse {
    /// RFC 6749 4.1.2 and RFC 9207 2: `code`, `state` and `iss`.
    pub fn success(request: &AuthorizationRequest, code: &str, issuer: &str) -> Self {
        Self {
            redirect_uri: request.redirect_uri.clone(),
            response_mode: request.response_mode,
            parameters: vec![
                ("code", code.to_owned()),
                ("state", request.state.clone()),
                ("iss", issuer.to_owned()),
            ],
        }
    }

    /// RFC 6749 4.1.2.1 and RFC 9207 2: `error`, `error_description`, `state` (if any), `iss`.
    pub fn error(error: &RedirectError, issuer: &str) -> Self {
        let mut parameters = vec![
            ("error", error.error.as_str().to_owned()),
            (
                "error_description",
                sanitize_description(&error.description),
            ),
        ];
        if let Some(state) = &error.state {
            parameters.push(("state", state.clone()));
        }
        parameters.push(("iss", issuer.to_owned()));
        Self {
            redirect_uri: error.redirect_uri.clone(),
            response_mode: error.response_mode,
            parameters,
        }
    }

    /// The response parameters in order: the fields of the form for `form_post`.
    pub fn parameters(&self) -> &[(&'static str, String)] {
        &self.parameters
    }

    /// The redirect URI with the parameters added to its query (`response_mode=query`).
    ///
    /// RFC 6749 3.1.2: a query already in the redirect URI MUST be retained.
    pub fn location(&self) -> String {
        let encoded = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(self.parameters.iter().map(|(name, value)| (*name, value)))
            .finish();
        // A registered URI has no fragment (RFC 6749 3.1.2), but keep one after the query if
        // it ever does, so the parameters stay in the query.
        let (base, fragment) = match self.redirect_uri.split_once('#') {
            Some((base, fragment)) => (base, Some(fragment)),
            None => (self.redirect_uri.as_str(), None),
        };
        let mut location = String::with_capacity(base.len() + encoded.len() + 1);
        location.push_str(base);
        if !base.contains('?') {
            location.push('?');
        } else if !base.ends_with('?') && !base.ends_with('&') {
            location.push('&');
        }
        location.push_str(&encoded);
        if let Some(fragment) = fragment {
            location.push('#');
            location.push_str(fragment);
        }
        location
    }

    /// How to send this response, according to its response mode.
    pub fn delivery(&self) -> Delivery {
        match self.response_mode {
            ResponseMode::Query => Delivery::Redirect {
                location: self.location(),
            },
            // OAuth 2.0 Form Post Response Mode 2: the parameters are posted as form fields to
            // the redirect URI as it is.
            ResponseMode::FormPost => Delivery::FormPost {
                action: self.redirect_uri.clone(),
                fields: self
                    .parameters
                    .iter()
                    .map(|(name, value)| ((*name).to_owned(), value.clone()))
                    .collect(),
            },
        }
    }
}

#[cfg(test)]
mod tests;
