//! Client authentication at the token endpoint (RFC 6749 2.3, OIDC Core 9, RFC 7523 2.2 and 3).
//!
//! The token endpoint uses this module in three steps:
//!
//! 1. [`ClientCredentials::parse`] reads the `Authorization` header and the form body, decides
//!    which method the client used (OIDC Core 9) and refuses a request that uses more than one
//!    (RFC 6749 2.3). [`ClientCredentials::client_id`] is the client to look up; it is a claim,
//!    not yet a fact.
//! 2. The caller looks the client up.
//! 3. [`authenticate`] takes the lookup result (`Option<&Client>`) and checks that the method is
//!    the one registered for the client, then the secret or the `private_key_jwt` assertion.
//!    For an assertion it returns the `jti` and `exp`, which the caller records (per client) and
//!    refuses to see again until `exp + CLOCK_SKEW_SECONDS` has passed.
//!
//! Keys for `private_key_jwt` come from [`Client::jwks`]; a client registered with only a
//! `jwks_uri` must have its key set fetched by the caller and put there first.

use aws_lc_rs::digest;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, DecodingKey};
use serde_json::{Map, Value};
use subtle::ConstantTimeEq;

use crate::client::{Client, ClientAuthMethod, SigningAlg};

/// RFC 7523 2.2: the `client_assertion_type` for a JWT used for client authentication.
pub(crate) const JWT_BEARER_ASSERTION_TYPE: &str =
    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// Clock skew allowed when checking a client's assertion (docs/NEMLOGIN.md rule 5).
pub(crate) const CLOCK_SKEW_SECONDS: i64 = 300;
/// Longest lifetime accepted for an assertion, from `iat` (if sent) and from now.
pub(crate) const MAX_ASSERTION_LIFETIME_SECONDS: i64 = 600;
/// Longest assertion accepted, in bytes; a signed JWT with a few claims is far smaller.
const MAX_ASSERTION_BYTES: usize = 8192;
/// Longest `jti` accepted, in bytes, so the replay store stays small.
const MAX_JTI_BYTES: usize = 256;

/// Why a client could not be authenticated; the variant says how to answer (RFC 6749 5.2).
///
/// When the client used the `Authorization` header, `InvalidClient` is answered with 401 and
/// `WWW-Authenticate: Basic` (RFC 6749 5.2). The inner reason is for logs; it need not be sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientAuthError {
    /// Answer 400 `invalid_request`: the request itself is malformed.
    #[error("invalid_request: {0}")]
    InvalidRequest(RequestProblem),
    /// Answer 401 `invalid_client`: client authentication failed.
    #[error("invalid_client: {0}")]
    InvalidClient(Rejection),
}

impl ClientAuthError {
    /// The OAuth error code (RFC 6749 5.2).
    pub fn error_code(&self) -> &'static str {
        match self {
            Self::InvalidRequest(_) => "invalid_request",
            Self::InvalidClient(_) => "invalid_client",
        }
    }
}

/// Malformed token requests (RFC 6749 5.2 `invalid_request`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RequestProblem {
    #[error("more than one client authentication method was used")]
    MultipleMethods,
    #[error("a client authentication parameter is repeated")]
    RepeatedParameter,
    #[error("client_assertion and client_assertion_type must be sent together")]
    IncompleteAssertion,
}

/// Failed client authentication (RFC 6749 5.2 `invalid_client`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    #[error("the Authorization header is not valid HTTP Basic credentials")]
    MalformedAuthorizationHeader,
    /// RFC 9110 5.5: a header value outside visible ASCII cannot carry credentials.
    #[error("the Authorization header is not ASCII")]
    NonAsciiAuthorizationHeader,
    #[error("the request carries no client credentials and no client_id")]
    NoCredentials,
    #[error("client_secret was sent without client_id")]
    MissingClientId,
    #[error("client_assertion_type is not supported")]
    UnsupportedAssertionType,
    #[error("client_id differs between the parts of the request")]
    ClientIdMismatch,
    #[error("the client is not registered")]
    UnknownClient,
    #[error("the client used {} but is registered for {}", .used.as_str(), .registered.as_str())]
    MethodNotRegistered {
        registered: ClientAuthMethod,
        used: ClientAuthMethod,
    },
    #[error("the client secret is wrong")]
    WrongSecret,
    #[error("the client assertion is not acceptable: {0}")]
    Assertion(AssertionError),
    /// RFC 7523 3: the caller saw this assertion's `jti` from this client before.
    #[error("the client assertion was used before")]
    AssertionReplayed,
}

/// Why a `private_key_jwt` assertion was refused (RFC 7523 3, OIDC Core 9).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AssertionError {
    #[error("not a well-formed signed JWT")]
    Malformed,
    #[error("the signing algorithm is not allowed")]
    DisallowedAlgorithm,
    #[error("the header has critical extensions")]
    CriticalHeader,
    #[error("the client has no registered keys")]
    NoKeys,
    #[error("no registered key matches the header")]
    NoMatchingKey,
    #[error("the signature does not verify")]
    BadSignature,
    #[error("iss is not the client_id")]
    IssuerNotClient,
    #[error("sub is not the client_id")]
    SubjectNotClient,
    #[error("aud does not name this server")]
    WrongAudience,
    #[error("exp is missing or not a number")]
    MissingExpiry,
    #[error("the assertion has expired")]
    Expired,
    #[error("the assertion lives too long")]
    LifetimeTooLong,
    #[error("iat is in the future")]
    IssuedInFuture,
    #[error("nbf is in the future")]
    NotYetValid,
    #[error("jti is missing")]
    MissingJti,
}

impl From<AssertionError> for ClientAuthError {
    fn from(error: AssertionError) -> Self {
        Self::InvalidClient(Rejection::Assertion(error))
    }
}

impl From<Rejection> for ClientAuthError {
    fn from(rejection: Rejection) -> Self {
        Self::InvalidClient(rejection)
    }
}

impl From<RequestProblem> for ClientAuthError {
    fn from(problem: RequestProblem) -> Self {
        Self::InvalidRequest(problem)
    }
}

/// The system random source failed; no secret could be generated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the system random number generator failed")]
pub(crate) struct RandomSourceFailed;

/// The credentials a token request presents, one per method (OIDC Core 9).
#[derive(Clone, PartialEq, Eq)]
pub(crate) enum ClientCredentials {
    ClientSecretBasic {
        client_id: String,
        secret: String,
    },
    ClientSecretPost {
        client_id: String,
        secret: String,
    },
    /// `client_id` is the one the request claims (form `client_id`, or else the unverified
    /// `iss` of the assertion); it only selects the keys to verify with.
    PrivateKeyJwt {
        client_id: String,
        assertion: String,
    },
    None {
        client_id: String,
    },
}

impl std::fmt::Debug for ClientCredentials {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Secrets and assertions stay out of logs.
        formatter
            .debug_struct("ClientCredentials")
            .field("method", &self.method())
            .field("client_id", &self.client_id())
            .finish_non_exhaustive()
    }
}

impl ClientCredentials {
    /// Reads client credentials from the `Authorization` header value (if any) and the form body.
    pub(crate) fn parse(
        authorization: Option<&str>,
        form: &[(String, String)],
    ) -> Result<Self, ClientAuthError> {
        let client_id = single_form_value(form, "client_id")?;
        let client_secret = single_form_value(form, "client_secret")?;
        let assertion_type = single_form_value(form, "client_assertion_type")?;
        let assertion = single_form_value(form, "client_assertion")?;

        // RFC 6749 2.3: the client MUST NOT use more than one authentication method in each
        // request; RFC 6749 5.2 answers that with invalid_request.
        let methods_used = [
            authorization.is_some(),
            client_secret.is_some(),
            assertion_type.is_some() || assertion.is_some(),
        ]
        .into_iter()
        .filter(|used| *used)
        .count();
        if methods_used > 1 {
            return Err(RequestProblem::MultipleMethods.into());
        }

        if let Some(header) = authorization {
            let (basic_id, secret) = parse_basic_authorization(header)?;
            // A client_id in the body as well is tolerated only if it names the same client.
            if client_id.is_some_and(|body_id| body_id != basic_id) {
                return Err(Rejection::ClientIdMismatch.into());
            }
            return Ok(Self::ClientSecretBasic {
                client_id: basic_id,
                secret,
            });
        }
        if let Some(secret) = client_secret {
            // RFC 6749 2.3.1: client_secret_post sends client_id and client_secret in the body.
            let client_id = client_id.ok_or(Rejection::MissingClientId)?;
            return Ok(Self::ClientSecretPost {
                client_id: client_id.to_owned(),
                secret: secret.to_owned(),
            });
        }
        match (assertion_type, assertion) {
            (Some(assertion_type), Some(assertion)) => {
                // RFC 7523 2.2: the only assertion type accepted.
                if assertion_type != JWT_BEARER_ASSERTION_TYPE {
                    return Err(Rejection::UnsupportedAssertionType.into());
                }
                let claimed_id = match client_id {
                    Some(client_id) => client_id.to_owned(),
                    None => unverified_issuer(assertion)?,
                };
                Ok(Self::PrivateKeyJwt {
                    client_id: claimed_id,
                    assertion: assertion.to_owned(),
                })
            }
            (Some(_), None) | (None, Some(_)) => Err(RequestProblem::IncompleteAssertion.into()),
            (None, None) => match client_id {
                Some(client_id) => Ok(Self::None {
                    client_id: client_id.to_owned(),
                }),
                None => Err(Rejection::NoCredentials.into()),
            },
        }
    }

    /// The client to look up; not authenticated until [`authenticate`] succeeds.
    pub(crate) fn client_id(&self) -> &str {
        match self {
            Self::ClientSecretBasic { client_id, .. }
            | Self::ClientSecretPost { client_id, .. }
            | Self::PrivateKeyJwt { client_id, .. }
            | Self::None { client_id } => client_id,
        }
    }

    /// The authentication method these credentials use (OIDC Core 9).
    pub(crate) fn method(&self) -> ClientAuthMethod {
        match self {
            Self::ClientSecretBasic { .. } => ClientAuthMethod::ClientSecretBasic,
            Self::ClientSecretPost { .. } => ClientAuthMethod::ClientSecretPost,
            Self::PrivateKeyJwt { .. } => ClientAuthMethod::PrivateKeyJwt,
            Self::None { .. } => ClientAuthMethod::None,
        }
    }
}

/// A client that proved who it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AuthenticatedClient {
    pub client_id: String,
    pub method: ClientAuthMethod,
    /// For `private_key_jwt`: the assertion's identity, to record and refuse if seen again.
    pub assertion: Option<AssertionId>,
}

/// RFC 7523 3 item 7: a `jti` with its expiry. Keep `(client_id, jti)` at least until
/// `exp + CLOCK_SKEW_SECONDS` and refuse an assertion whose pair is already recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AssertionId {
    pub jti: String,
    pub exp: i64,
}

/// Authenticates the client that `credentials` claim to be, given the lookup result.
///
/// `accepted_audiences` are the values an assertion's `aud` may name (the issuer identifier
/// and the token endpoint URL, RFC 7523 3 item 3); `now` is in unix seconds.
pub(crate) fn authenticate(
    credentials: &ClientCredentials,
    client: Option<&Client>,
    accepted_audiences: &[&str],
    now: i64,
) -> Result<AuthenticatedClient, ClientAuthError> {
    let client = client
        .filter(|client| client.id == credentials.client_id())
        .ok_or(Rejection::UnknownClient)?;
    // OIDC Core 9: the client authenticates with the method it registered, and no other.
    if client.auth_method != credentials.method() {
        return Err(Rejection::MethodNotRegistered {
            registered: client.auth_method,
            used: credentials.method(),
        }
        .into());
    }
    let assertion = match credentials {
        ClientCredentials::ClientSecretBasic { secret, .. }
        | ClientCredentials::ClientSecretPost { secret, .. } => {
            if !verify_client_secret(client, secret) {
                return Err(Rejection::WrongSecret.into());
            }
            None
        }
        ClientCredentials::PrivateKeyJwt { assertion, .. } => Some(verify_client_assertion(
            assertion,
            client,
            accepted_audiences,
            now,
        )?),
        // A public client proves nothing here; PKCE binds the code to it (RFC 7636).
        ClientCredentials::None { .. } => None,
    };
    Ok(AuthenticatedClient {
        client_id: client.id.clone(),
        method: client.auth_method,
        assertion,
    })
}

/// RFC 6749 2.3.1, RFC 7617: reads `Basic base64(urlencode(client_id) ":" urlencode(secret))`.
pub(crate) fn parse_basic_authorization(
    header_value: &str,
) -> Result<(String, String), ClientAuthError> {
    let malformed = || ClientAuthError::InvalidClient(Rejection::MalformedAuthorizationHeader);
    let (scheme, token) = header_value.trim().split_once(' ').ok_or_else(malformed)?;
    // RFC 7235 2.1: the scheme name is case-insensitive.
    if !scheme.eq_ignore_ascii_case("Basic") {
        return Err(malformed());
    }
    let decoded = STANDARD
        .decode(token.trim_start())
        .map_err(|_| malformed())?;
    let decoded = String::from_utf8(decoded).map_err(|_| malformed())?;
    // The encoded client_id cannot contain ':', so the first one separates the two parts.
    let (encoded_id, encoded_secret) = decoded.split_once(':').ok_or_else(malformed)?;
    // RFC 6749 2.3.1: both parts are application/x-www-form-urlencoded before Basic encoding.
    let client_id = form_urldecode(encoded_id).ok_or_else(malformed)?;
    let secret = form_urldecode(encoded_secret).ok_or_else(malformed)?;
    if client_id.is_empty() || secret.is_empty() {
        return Err(malformed());
    }
    Ok((client_id, secret))
}

/// Hex SHA-256 of a client secret, as stored in [`Client::secret_hash`].
///
/// Client secrets are random and high-entropy ([`generate_client_secret`]), so a fast hash is
/// enough: there is nothing to guess that a slow hash would protect.
pub(crate) fn hash_client_secret(secret: &str) -> String {
    hex::encode(digest::digest(&digest::SHA256, secret.as_bytes()))
}

/// Whether `presented` is the client's secret; the comparison is constant-time.
pub(crate) fn verify_client_secret(client: &Client, presented: &str) -> bool {
    let Some(stored) = client.secret_hash.as_deref() else {
        return false;
    };
    let Ok(stored) = hex::decode(stored) else {
        return false;
    };
    let presented = digest::digest(&digest::SHA256, presented.as_bytes());
    // ct_eq on slices of different lengths is false without comparing contents.
    stored.as_slice().ct_eq(presented.as_ref()).into()
}

/// A new client secret: 32 random bytes, base64url without padding (43 characters).
pub(crate) fn generate_client_secret() -> Result<String, RandomSourceFailed> {
    let mut bytes = [0_u8; 32];
    aws_lc_rs::rand::fill(&mut bytes).map_err(|_| RandomSourceFailed)?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

/// Verifies a `private_key_jwt` client assertion (RFC 7523 3, OIDC Core 9) for `client`.
///
/// The signature is checked first, against the client's own keys; only then are the claims
/// read, so nothing in the assertion is trusted before it is known to come from the client.
pub(crate) fn verify_client_assertion(
    assertion: &str,
    client: &Client,
    accepted_audiences: &[&str],
    now: i64,
) -> Result<AssertionId, AssertionError> {
    if assertion.len() > MAX_ASSERTION_BYTES {
        return Err(AssertionError::Malformed);
    }
    let mut parts = assertion.split('.');
    let (Some(encoded_header), Some(encoded_payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(AssertionError::Malformed);
    };
    let header = decode_json_object(encoded_header)?;
    // Decoded now only to refuse a malformed payload as such; its claims are read after the
    // signature has been verified.
    decode_json_object(encoded_payload)?;

    // RFC 7515 4.1.11: a recipient that does not understand a critical extension MUST reject.
    if header.contains_key("crit") {
        return Err(AssertionError::CriticalHeader);
    }
    // RFC 9700 / RFC 8725 3.1: only the asymmetric algorithms Segl supports; never `none`
    // and never HS*, whose key a client would have to share.
    let alg = header
        .get("alg")
        .and_then(Value::as_str)
        .and_then(SigningAlg::parse)
        .ok_or(AssertionError::DisallowedAlgorithm)?;
    let kid = match header.get("kid") {
        None => None,
        Some(Value::String(kid)) => Some(kid.as_str()),
        Some(_) => return Err(AssertionError::Malformed),
    };

    let keys = client
        .jwks
        .as_ref()
        .and_then(|jwks| jwks.get("keys"))
        .and_then(Value::as_array)
        .filter(|keys| !keys.is_empty())
        .ok_or(AssertionError::NoKeys)?;
    let candidates: Vec<DecodingKey> = keys
        .iter()
        .filter(|key| key_fits(key, alg, kid))
        .filter_map(|key| serde_json::from_value::<Jwk>(key.clone()).ok())
        .filter_map(|jwk| DecodingKey::from_jwk(&jwk).ok())
        .collect();
    if candidates.is_empty() {
        return Err(AssertionError::NoMatchingKey);
    }
    let signed_message = &assertion[..encoded_header.len() + 1 + encoded_payload.len()];
    let algorithm = jwt_algorithm(alg);
    let verified = candidates.iter().any(|key| {
        jsonwebtoken::crypto::verify(signature, signed_message.as_bytes(), key, algorithm)
            .unwrap_or(false)
    });
    if !verified {
        return Err(AssertionError::BadSignature);
    }

    let claims = decode_json_object(encoded_payload)?;
    check_claims(&claims, client, accepted_audiences, now)
}

/// RFC 7523 3 and OIDC Core 9: the claims of a verified assertion.
fn check_claims(
    claims: &Map<String, Value>,
    client: &Client,
    accepted_audiences: &[&str],
    now: i64,
) -> Result<AssertionId, AssertionError> {
    // RFC 7523 3 item 1, OIDC Core 9: iss is the client_id.
    if claims.get("iss").and_then(Value::as_str) != Some(client.id.as_str()) {
        return Err(AssertionError::IssuerNotClient);
    }
    // RFC 7523 3 item 2.B: for client authentication, sub is the client_id.
    if claims.get("sub").and_then(Value::as_str) != Some(client.id.as_str()) {
        return Err(AssertionError::SubjectNotClient);
    }
    // RFC 7523 3 item 3: aud names this server (issuer or token endpoint), compared exactly.
    let names_us = |audience: &Value| {
        audience
            .as_str()
            .is_some_and(|audience| accepted_audiences.contains(&audience))
    };
    let audience_ok = match claims.get("aud") {
        Some(Value::Array(audiences)) => audiences.iter().any(names_us),
        Some(audience) => names_us(audience),
        None => false,
    };
    if !audience_ok {
        return Err(AssertionError::WrongAudience);
    }
    // RFC 7523 3 item 4: exp is required; the assertion is refused on or after exp, allowing
    // for clock skew.
    let exp = numeric_date(claims.get("exp")).ok_or(AssertionError::MissingExpiry)?;
    if now >= exp.saturating_add(CLOCK_SKEW_SECONDS) {
        return Err(AssertionError::Expired);
    }
    // RFC 7523 3 item 4 lets the server refuse an exp unreasonably far in the future; Segl
    // bounds the lifetime both from now and from iat.
    if exp > now.saturating_add(MAX_ASSERTION_LIFETIME_SECONDS + CLOCK_SKEW_SECONDS) {
        return Err(AssertionError::LifetimeTooLong);
    }
    if let Some(issued_at) = claims.get("iat") {
        let issued_at = numeric_date(Some(issued_at)).ok_or(AssertionError::Malformed)?;
        if issued_at > now.saturating_add(CLOCK_SKEW_SECONDS) {
            return Err(AssertionError::IssuedInFuture);
        }
        if exp.saturating_sub(issued_at) > MAX_ASSERTION_LIFETIME_SECONDS {
            return Err(AssertionError::LifetimeTooLong);
        }
    }
    // RFC 7523 3 item 5: not to be accepted before nbf.
    if let Some(not_before) = claims.get("nbf") {
        let not_before = numeric_date(Some(not_before)).ok_or(AssertionError::Malformed)?;
        if not_before > now.saturating_add(CLOCK_SKEW_SECONDS) {
            return Err(AssertionError::NotYetValid);
        }
    }
    // OIDC Core 9: jti is required so the server can refuse replays (RFC 7523 3 item 7).
    let jti = match claims.get("jti").and_then(Value::as_str) {
        Some(jti) if !jti.is_empty() && jti.len() <= MAX_JTI_BYTES => jti.to_owned(),
        Some(jti) if jti.len() > MAX_JTI_BYTES => return Err(AssertionError::Malformed),
        _ => return Err(AssertionError::MissingJti),
    };
    Ok(AssertionId { jti, exp })
}

/// Whether a JWK from the client's set may verify a signature made with `alg` (RFC 7517 4).
fn key_fits(key: &Value, alg: SigningAlg, kid: Option<&str>) -> bool {
    let Some(key) = key.as_object() else {
        return false;
    };
    let field = |name: &str| key.get(name).and_then(Value::as_str);
    // With a kid in the header, only the key with that kid is used.
    if kid.is_some() && field("kid") != kid {
        return false;
    }
    if key.contains_key("alg") && field("alg") != Some(alg.as_str()) {
        return false;
    }
    if key.contains_key("use") && field("use") != Some("sig") {
        return false;
    }
    if let Some(operations) = key.get("key_ops") {
        let may_verify = operations
            .as_array()
            .is_some_and(|operations| operations.iter().any(|op| op.as_str() == Some("verify")));
        if !may_verify {
            return false;
        }
    }
    // RFC 7518 3.1 and RFC 8037 3.1: the key type and curve each algorithm uses.
    match alg {
        SigningAlg::ES256 => field("kty") == Some("EC") && field("crv") == Some("P-256"),
        SigningAlg::RS256 | SigningAlg::PS256 => field("kty") == Some("RSA"),
        SigningAlg::EdDSA => field("kty") == Some("OKP") && field("crv") == Some("Ed25519"),
    }
}

fn jwt_algorithm(alg: SigningAlg) -> Algorithm {
    match alg {
        SigningAlg::ES256 => Algorithm::ES256,
        SigningAlg::RS256 => Algorithm::RS256,
        SigningAlg::PS256 => Algorithm::PS256,
        SigningAlg::EdDSA => Algorithm::EdDSA,
    }
}

/// RFC 7519 2: a NumericDate is a JSON number of seconds, possibly with a fraction.
fn numeric_date(value: Option<&Value>) -> Option<i64> {
    let value = value?;
    if let Some(seconds) = value.as_i64() {
        return Some(seconds);
    }
    let seconds = value.as_f64()?;
    // Both bounds are exactly representable; the cast is in range after the check.
    (seconds.is_finite() && (-9.0e15..=9.0e15).contains(&seconds)).then(|| seconds.floor() as i64)
}

/// RFC 7515 7.1: a base64url (unpadded) JSON object.
fn decode_json_object(encoded: &str) -> Result<Map<String, Value>, AssertionError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(encoded)
        .map_err(|_| AssertionError::Malformed)?;
    match serde_json::from_slice(&bytes) {
        Ok(Value::Object(object)) => Ok(object),
        _ => Err(AssertionError::Malformed),
    }
}

/// The `iss` an assertion claims, read without verification, only to choose the keys.
fn unverified_issuer(assertion: &str) -> Result<String, ClientAuthError> {
    let malformed = || ClientAuthError::from(AssertionError::Malformed);
    let encoded_payload = assertion.split('.').nth(1).ok_or_else(malformed)?;
    let claims = decode_json_object(encoded_payload).map_err(ClientAuthError::from)?;
    claims
        .get("iss")
        .and_then(Value::as_str)
        .filter(|issuer| !issuer.is_empty())
        .map(str::to_owned)
        .ok_or_else(malformed)
}

/// One of the client authentication form parameters; empty counts as absent (RFC 6749 3.1).
fn single_form_value<'a>(
    form: &'a [(String, String)],
    name: &str,
) -> Result<Option<&'a str>, ClientAuthError> {
    let mut values = form
        .iter()
        .filter(|(key, value)| key == name && !value.is_empty())
        .map(|(_, value)| value.as_str());
    let first = values.next();
    // RFC 6749 3.1: parameters MUST NOT be included more than once.
    if values.next().is_some() {
        return Err(RequestProblem::RepeatedParameter.into());
    }
    Ok(first)
}

/// Decodes one application/x-www-form-urlencoded component ('+' is a space, %XX a byte).
fn form_urldecode(encoded: &str) -> Option<String> {
    let bytes = encoded.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        match bytes[index] {
            b'+' => decoded.push(b' '),
            b'%' => {
                let high = hex_value(*bytes.get(index + 1)?)?;
                let low = hex_value(*bytes.get(index + 2)?)?;
                decoded.push((high << 4) | low);
                index += 2;
            }
            byte => decoded.push(byte),
        }
        index += 1;
    }
    String::from_utf8(decoded).ok()
}

fn hex_value(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        b'A'..=b'F' => Some(digit - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests;
