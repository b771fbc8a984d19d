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

/// OIDC Core 8: which subject identifier a client gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SubjectType {
    /// A keyed hash of the sector and the citizen (the default).
    #[default]
    Pairwise,
    /// The citizen's global `cpr_uuid`: only for public authorities.
    Public,
}

impl SubjectType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pairwise => "pairwise",
            Self::Public => "public",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "pairwise" => Some(Self::Pairwise),
            "public" => Some(Self::Public),
            _ => None,
        }
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
    /// The lowest assurance level any request of this client gets (`--min-acr`).
    pub min_acr: Option<citizen_registry::AssuranceLevel>,
    /// Where a signed logout token is posted when a session it took part in ends.
    pub backchannel_logout_uri: Option<String>,
    /// Loaded in an iframe (with `iss` and `sid`) when a session it took part in ends.
    pub frontchannel_logout_uri: Option<String>,
    /// Gets refresh tokens (bound to the SSO session unless `offline_access` is granted).
    pub refresh_tokens: bool,
    /// A public authority: sees protected names, may get `privileges` and the public subject.
    pub public_authority: bool,
    /// May receive the CPR number (`dk_cpr`); only a public authority can be entitled.
    pub cpr_entitled: bool,
    pub subject_type: SubjectType,
    /// The sector host shared with other clients (from `sector_identifier_uri`); None: the host
    /// of the first redirect URI.
    pub sector_identifier: Option<String>,
}

impl Client {
    /// The way tests and fuzz targets make a client: `id` with one redirect URI and safe
    /// defaults, changed by the builder's methods. Defaults: named after its id,
    /// `client_secret_basic` with no secret registered (so nothing authenticates as it), no
    /// keys, no scope beyond `openid`, ES256 ID tokens, no minimum level, no logout URIs, no
    /// refresh tokens, not a public authority, not CPR-entitled, pairwise subjects, the sector
    /// of its redirect URI. Production clients come from `ClientRegistration::validate`.
    ///
    /// ```
    /// use oidc_provider::client::{Client, ClientAuthMethod};
    ///
    /// let client = Client::builder("portal", "https://portal.example.dk/callback")
    ///     .auth_method(ClientAuthMethod::PrivateKeyJwt)
    ///     .scopes(["profile", "email"])
    ///     .build();
    /// assert_eq!(client.scopes, ["profile", "email"]);
    /// ```
    pub fn builder(id: impl Into<String>, redirect_uri: impl Into<String>) -> ClientBuilder {
        let id = id.into();
        ClientBuilder {
            client: Client {
                name: id.clone(),
                id,
                redirect_uris: vec![redirect_uri.into()],
                post_logout_redirect_uris: Vec::new(),
                auth_method: ClientAuthMethod::ClientSecretBasic,
                secret_hash: None,
                jwks: None,
                jwks_uri: None,
                scopes: Vec::new(),
                id_token_alg: SigningAlg::ES256,
                min_acr: None,
                backchannel_logout_uri: None,
                frontchannel_logout_uri: None,
                refresh_tokens: false,
                public_authority: false,
                cpr_entitled: false,
                subject_type: SubjectType::Pairwise,
                sector_identifier: None,
            },
        }
    }
}

/// Builds a [`Client`] for tests and fuzz targets; see [`Client::builder`]. It checks none of
/// the rules of `ClientRegistration::validate`, so a test can also make a client that breaks them.
#[derive(Debug, Clone)]
#[must_use]
pub struct ClientBuilder {
    client: Client,
}

impl ClientBuilder {
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.client.name = name.into();
        self
    }

    /// Adds a redirect URI after the first.
    pub fn redirect_uri(mut self, uri: impl Into<String>) -> Self {
        self.client.redirect_uris.push(uri.into());
        self
    }

    pub fn post_logout_redirect_uri(mut self, uri: impl Into<String>) -> Self {
        self.client.post_logout_redirect_uris.push(uri.into());
        self
    }

    pub fn auth_method(mut self, method: ClientAuthMethod) -> Self {
        self.client.auth_method = method;
        self
    }

    /// Registers `secret` (its hash, as `ClientRegistration::validate` keeps it).
    pub fn secret(mut self, secret: &str) -> Self {
        self.client.secret_hash = Some(crate::client_auth::hash_client_secret(secret));
        self
    }

    /// The client's public keys, a JWK Set document (for `private_key_jwt`).
    pub fn jwks(mut self, jwks: serde_json::Value) -> Self {
        self.client.jwks = Some(jwks);
        self
    }

    /// The scopes it may request besides `openid`.
    pub fn scopes<S: Into<String>>(mut self, scopes: impl IntoIterator<Item = S>) -> Self {
        self.client.scopes = scopes.into_iter().map(Into::into).collect();
        self
    }

    pub fn id_token_alg(mut self, alg: SigningAlg) -> Self {
        self.client.id_token_alg = alg;
        self
    }

    pub fn min_acr(mut self, level: citizen_registry::AssuranceLevel) -> Self {
        self.client.min_acr = Some(level);
        self
    }

    pub fn backchannel_logout_uri(mut self, uri: impl Into<String>) -> Self {
        self.client.backchannel_logout_uri = Some(uri.into());
        self
    }

    pub fn frontchannel_logout_uri(mut self, uri: impl Into<String>) -> Self {
        self.client.frontchannel_logout_uri = Some(uri.into());
        self
    }

    pub fn refresh_tokens(mut self, refresh_tokens: bool) -> Self {
        self.client.refresh_tokens = refresh_tokens;
        self
    }

    pub fn public_authority(mut self, public_authority: bool) -> Self {
        self.client.public_authority = public_authority;
        self
    }

    pub fn cpr_entitled(mut self, cpr_entitled: bool) -> Self {
        self.client.cpr_entitled = cpr_entitled;
        self
    }

    pub fn subject_type(mut self, subject_type: SubjectType) -> Self {
        self.client.subject_type = subject_type;
        self
    }

    /// The sector host it shares pairwise subjects with (from `sector_identifier_uri`).
    pub fn sector_identifier(mut self, host: impl Into<String>) -> Self {
        self.client.sector_identifier = Some(host.into());
        self
    }

    pub fn build(self) -> Client {
        self.client
    }
}

/// A client as an administrator describes it (`segl client add`, or the clients file).
#[derive(Debug, Clone, Default)]
pub struct ClientRegistration {
    pub id: String,
    pub name: String,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub auth_method: String,
    /// For the secret methods; one is generated when absent.
    pub secret: Option<String>,
    pub jwks: Option<serde_json::Value>,
    pub scopes: Vec<String>,
    pub id_token_alg: Option<String>,
    pub min_acr: Option<String>,
    pub backchannel_logout_uri: Option<String>,
    pub frontchannel_logout_uri: Option<String>,
    pub refresh_tokens: bool,
    pub public_authority: bool,
    pub cpr_entitled: bool,
    /// `pairwise` (default) or `public`.
    pub subject_type: Option<String>,
    /// OIDC Registration 2: a https URL listing the client's redirect URIs. The caller fetches
    /// and checks it (`check_sector_document`) before validation; its host becomes the sector.
    pub sector_identifier_uri: Option<String>,
}

/// Why a registration was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistrationError {
    #[error("a client id has 1 to 128 characters: letters, digits, '.', '_', ':' or '-'")]
    Id,
    #[error("a client needs a name of 1 to 100 characters")]
    Name,
    #[error("a client needs at least one redirect URI")]
    NoRedirectUri,
    #[error("URI '{0}' must be an absolute https URL without a fragment (http only on 127.0.0.1, [::1] or localhost)")]
    RedirectUri(String),
    #[error("unknown authentication method '{0}': use client_secret_basic, client_secret_post, private_key_jwt or none")]
    AuthMethod(String),
    #[error("private_key_jwt needs the client's public keys (--jwks FILE)")]
    MissingJwks,
    #[error("the client's JWK Set is not valid: {0}")]
    Jwks(String),
    #[error("a client secret must have at least 32 characters")]
    WeakSecret,
    #[error("method {0} takes no secret")]
    UnexpectedSecret(&'static str),
    #[error("unknown scope '{0}'")]
    Scope(String),
    #[error("unknown ID token algorithm '{0}': use ES256, RS256, PS256 or EdDSA")]
    Algorithm(String),
    #[error("unknown assurance level '{0}': use low, substantial or high")]
    Level(String),
    #[error("--cpr-entitled is only for public authorities (--public-authority)")]
    CprNeedsPublicAuthority,
    #[error("scope cpr needs a CPR-entitled client (--cpr-entitled)")]
    CprScopeNotEntitled,
    #[error("scope privileges is only for public authorities (--public-authority)")]
    PrivilegesNeedsPublicAuthority,
    #[error("unknown subject type '{0}': use pairwise or public")]
    SubjectType(String),
    #[error("the public subject type is only for public authorities (--public-authority)")]
    PublicSubjectNeedsPublicAuthority,
    /// A logout or sector URI that breaks a rule of `check_endpoint`; the URI itself is not
    /// repeated (it may hold a password).
    #[error("{field} is refused: {reason}")]
    Endpoint { field: &'static str, reason: String },
    #[error("random generation failed")]
    Random,
}

/// OIDC Registration 5: the document at `sector_identifier_uri` is a JSON array of URIs that
/// must include every redirect URI of the client.
pub fn check_sector_document(redirect_uris: &[String], document: &str) -> Result<(), String> {
    let listed: Vec<String> = serde_json::from_str(document)
        .map_err(|_| "the sector identifier document is not a JSON array of URIs".to_owned())?;
    match redirect_uris
        .iter()
        .find(|uri| !listed.iter().any(|entry| entry == *uri))
    {
        Some(missing) => Err(format!(
            "redirect URI {missing} is not listed in the sector identifier document"
        )),
        None => Ok(()),
    }
}

/// OIDC Core 3.1.2.1 and RFC 9700 2.1: exact URIs, https except loopback development.
fn check_uri(uri: &str) -> Result<(), RegistrationError> {
    let bad = || RegistrationError::RedirectUri(uri.to_owned());
    // The URI becomes a Location header, and Url::parse silently drops tabs and newlines.
    if uri.chars().any(|c| c.is_ascii_control()) {
        return Err(bad());
    }
    let parsed = url::Url::parse(uri).map_err(|_| bad())?;
    if parsed.fragment().is_some() || parsed.cannot_be_a_base() {
        return Err(bad());
    }
    let loopback = parsed
        .host()
        .is_some_and(|host| crate::outbound::is_loopback_host(&host));
    match parsed.scheme() {
        "https" => Ok(()),
        "http" if loopback => Ok(()),
        _ => Err(bad()),
    }
}

/// Who follows a registered URI: the citizen's browser, or Segl itself (SSRF rules).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reach {
    Browser,
    Server,
}

/// The rules for logout and sector URIs: an absolute https URL with a host (http only on a
/// loopback host, as for redirect URIs), no user name or password, no fragment; one that Segl
/// fetches itself may not name an internal IP address (`outbound::classify`; loopback under
/// the loopback rule). Host names are checked again after resolution by `outbound::Outbound`.
fn check_endpoint(
    field: &'static str,
    uri: &str,
    reach: Reach,
) -> Result<url::Url, RegistrationError> {
    let refuse = |reason: String| RegistrationError::Endpoint { field, reason };
    if uri.chars().any(|c| c.is_control()) {
        return Err(refuse("it contains control characters".into()));
    }
    let parsed = url::Url::parse(uri).map_err(|_| refuse("it is not an absolute URL".into()))?;
    let scheme = parsed.scheme();
    if scheme != "https" && scheme != "http" {
        return Err(refuse(format!(
            "scheme '{scheme}' is not allowed: use https"
        )));
    }
    let host = parsed
        .host()
        .ok_or_else(|| refuse("it has no host".into()))?;
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(refuse("it must not contain a user name or password".into()));
    }
    if parsed.fragment().is_some() {
        return Err(refuse("it must not contain a fragment".into()));
    }
    let ip = match host {
        url::Host::Domain(_) => None,
        url::Host::Ipv4(ip) => Some(std::net::IpAddr::V4(ip)),
        url::Host::Ipv6(ip) => Some(std::net::IpAddr::V6(ip)),
    };
    if let (Reach::Server, Some(ip)) = (reach, ip) {
        match crate::outbound::classify(ip) {
            None | Some(crate::outbound::AddressKind::Loopback) => {}
            Some(kind) => return Err(refuse(format!("its host {ip} is {}", kind.describe()))),
        }
    }
    if scheme == "http" && !crate::outbound::is_loopback_host(&host) {
        return Err(refuse(
            "http is only allowed on 127.0.0.1, [::1] or localhost: use https".into(),
        ));
    }
    Ok(parsed)
}

impl ClientRegistration {
    /// Validates and builds the client. Returns the secret to show once if one was generated.
    pub fn validate(
        self,
        supported_scopes: &[&str],
    ) -> Result<(Client, Option<String>), RegistrationError> {
        let id_ok = (1..=128).contains(&self.id.len())
            && self
                .id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '-'));
        if !id_ok {
            return Err(RegistrationError::Id);
        }
        let name = self.name.trim().to_owned();
        if name.is_empty() || name.chars().count() > 100 {
            return Err(RegistrationError::Name);
        }
        if self.redirect_uris.is_empty() {
            return Err(RegistrationError::NoRedirectUri);
        }
        for uri in &self.redirect_uris {
            check_uri(uri)?;
        }
        for uri in &self.post_logout_redirect_uris {
            check_endpoint("post_logout_redirect_uris", uri, Reach::Browser)?;
        }
        if let Some(uri) = &self.frontchannel_logout_uri {
            check_endpoint("frontchannel_logout_uri", uri, Reach::Browser)?;
        }
        if let Some(uri) = &self.backchannel_logout_uri {
            check_endpoint("backchannel_logout_uri", uri, Reach::Server)?;
        }
        let auth_method = ClientAuthMethod::parse(&self.auth_method)
            .ok_or_else(|| RegistrationError::AuthMethod(self.auth_method.clone()))?;
        let mut generated = None;
        let secret_hash = match auth_method {
            ClientAuthMethod::ClientSecretBasic | ClientAuthMethod::ClientSecretPost => {
                let secret = match self.secret {
                    Some(secret) if secret.len() >= 32 => secret,
                    Some(_) => return Err(RegistrationError::WeakSecret),
                    None => {
                        let secret = crate::client_auth::generate_client_secret()
                            .map_err(|_| RegistrationError::Random)?;
                        generated = Some(secret.clone());
                        secret
                    }
                };
                Some(crate::client_auth::hash_client_secret(&secret))
            }
            ClientAuthMethod::PrivateKeyJwt | ClientAuthMethod::None => {
                if self.secret.is_some() {
                    return Err(RegistrationError::UnexpectedSecret(auth_method.as_str()));
                }
                None
            }
        };
        let jwks = match (&auth_method, self.jwks) {
            (ClientAuthMethod::PrivateKeyJwt, None) => return Err(RegistrationError::MissingJwks),
            (_, Some(jwks)) => {
                let keys = jwks.get("keys").and_then(|keys| keys.as_array());
                if keys.is_none_or(|keys| keys.is_empty()) {
                    return Err(RegistrationError::Jwks(
                        "it needs a non-empty \"keys\" array".into(),
                    ));
                }
                let has_private = keys.into_iter().flatten().any(|key| {
                    ["d", "p", "q", "dp", "dq", "qi", "k"]
                        .iter()
                        .any(|name| key.get(name).is_some())
                });
                if has_private {
                    return Err(RegistrationError::Jwks(
                        "it contains private key material".into(),
                    ));
                }
                Some(jwks)
            }
            (_, None) => None,
        };
        let mut scopes: Vec<String> = Vec::new();
        for scope in self
            .scopes
            .iter()
            .flat_map(|scope| scope.split(' '))
            .filter(|scope| !scope.is_empty())
        {
            if !supported_scopes.contains(&scope) {
                return Err(RegistrationError::Scope(scope.to_owned()));
            }
            if scope != "openid" && !scopes.iter().any(|known| known == scope) {
                scopes.push(scope.to_owned());
            }
        }
        let id_token_alg = match self.id_token_alg.as_deref() {
            None => SigningAlg::ES256,
            Some(alg) => SigningAlg::parse(alg)
                .ok_or_else(|| RegistrationError::Algorithm(alg.to_owned()))?,
        };
        let min_acr = self
            .min_acr
            .as_deref()
            .map(|level| {
                crate::level::parse_acr(level)
                    .or_else(|| citizen_registry::AssuranceLevel::parse(level).ok())
                    .ok_or_else(|| RegistrationError::Level(level.to_owned()))
            })
            .transpose()?;
        if self.cpr_entitled && !self.public_authority {
            return Err(RegistrationError::CprNeedsPublicAuthority);
        }
        if scopes.iter().any(|scope| scope == "cpr") && !self.cpr_entitled {
            return Err(RegistrationError::CprScopeNotEntitled);
        }
        if scopes.iter().any(|scope| scope == "privileges") && !self.public_authority {
            return Err(RegistrationError::PrivilegesNeedsPublicAuthority);
        }
        let subject_type = match self.subject_type.as_deref() {
            None => SubjectType::Pairwise,
            Some(value) => SubjectType::parse(value)
                .ok_or_else(|| RegistrationError::SubjectType(value.to_owned()))?,
        };
        if subject_type == SubjectType::Public && !self.public_authority {
            return Err(RegistrationError::PublicSubjectNeedsPublicAuthority);
        }
        let sector_identifier = match &self.sector_identifier_uri {
            None => None,
            Some(uri) => {
                let parsed = check_endpoint("sector_identifier_uri", uri, Reach::Server)?;
                parsed.host_str().map(str::to_owned)
            }
        };
        let client = Client {
            id: self.id,
            name,
            redirect_uris: self.redirect_uris,
            post_logout_redirect_uris: self.post_logout_redirect_uris,
            auth_method,
            secret_hash,
            jwks,
            jwks_uri: None,
            scopes,
            id_token_alg,
            min_acr,
            backchannel_logout_uri: self.backchannel_logout_uri,
            frontchannel_logout_uri: self.frontchannel_logout_uri,
            refresh_tokens: self.refresh_tokens,
            public_authority: self.public_authority,
            cpr_entitled: self.cpr_entitled,
            subject_type,
            sector_identifier,
        };
        Ok((client, generated))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCOPES: [&str; 5] = ["openid", "profile", "email", "cpr", "privileges"];

    fn registration() -> ClientRegistration {
        ClientRegistration {
            id: "portal".into(),
            name: "Portal".into(),
            redirect_uris: vec!["https://portal.example.dk/callback".into()],
            auth_method: "client_secret_basic".into(),
            scopes: vec!["openid profile".into()],
            ..ClientRegistration::default()
        }
    }

    #[test]
    fn a_secret_is_generated_and_only_its_hash_kept() {
        let (client, secret) = registration().validate(&SCOPES).expect("valid");
        let secret = secret.expect("generated");
        assert!(secret.len() >= 43);
        assert_eq!(
            client.secret_hash,
            Some(crate::client_auth::hash_client_secret(&secret))
        );
        assert_eq!(client.scopes, vec!["profile".to_owned()]);
    }

    #[test]
    fn plain_http_is_only_for_loopback() {
        let mut remote = registration();
        remote.redirect_uris = vec!["http://portal.example.dk/callback".into()];
        assert!(matches!(
            remote.validate(&SCOPES),
            Err(RegistrationError::RedirectUri(_))
        ));
        let mut local = registration();
        local.redirect_uris = vec!["http://127.0.0.1:8081/callback".into()];
        assert!(local.validate(&SCOPES).is_ok());
    }

    #[test]
    fn fragments_are_refused() {
        let mut with_fragment = registration();
        with_fragment.redirect_uris = vec!["https://portal.example.dk/cb#x".into()];
        assert!(matches!(
            with_fragment.validate(&SCOPES),
            Err(RegistrationError::RedirectUri(_))
        ));
    }

    #[test]
    fn private_key_jwt_needs_public_keys_only() {
        let mut jwt = registration();
        jwt.auth_method = "private_key_jwt".into();
        assert_eq!(
            jwt.clone().validate(&SCOPES).err(),
            Some(RegistrationError::MissingJwks)
        );
        jwt.jwks = Some(
            serde_json::json!({"keys": [{"kty": "EC", "crv": "P-256", "x": "a", "y": "b", "d": "secret"}]}),
        );
        assert!(matches!(
            jwt.validate(&SCOPES),
            Err(RegistrationError::Jwks(_))
        ));
    }

    #[test]
    fn unknown_scopes_are_refused() {
        let mut unknown = registration();
        unknown.scopes = vec!["openid banking".into()];
        assert_eq!(
            unknown.validate(&SCOPES).err(),
            Some(RegistrationError::Scope("banking".into()))
        );
    }

    #[test]
    fn cpr_entitlement_needs_a_public_authority() {
        let mut private = registration();
        private.cpr_entitled = true;
        assert_eq!(
            private.validate(&SCOPES).err(),
            Some(RegistrationError::CprNeedsPublicAuthority)
        );
        let mut asks_cpr = registration();
        asks_cpr.scopes = vec!["openid cpr".into()];
        assert_eq!(
            asks_cpr.validate(&SCOPES).err(),
            Some(RegistrationError::CprScopeNotEntitled)
        );
        let mut entitled = registration();
        entitled.public_authority = true;
        entitled.cpr_entitled = true;
        entitled.scopes = vec!["openid cpr privileges".into()];
        entitled.subject_type = Some("public".into());
        let (client, _) = entitled.validate(&SCOPES).expect("valid");
        assert_eq!(client.subject_type, SubjectType::Public);
        assert!(client.cpr_entitled);
    }

    #[test]
    fn the_public_subject_and_privileges_are_for_public_authorities() {
        let mut public = registration();
        public.subject_type = Some("public".into());
        assert_eq!(
            public.validate(&SCOPES).err(),
            Some(RegistrationError::PublicSubjectNeedsPublicAuthority)
        );
        let mut privileges = registration();
        privileges.scopes = vec!["privileges".into()];
        assert_eq!(
            privileges.validate(&SCOPES).err(),
            Some(RegistrationError::PrivilegesNeedsPublicAuthority)
        );
    }

    #[test]
    fn the_builder_agrees_with_a_validated_registration() {
        let (registered, secret) = registration().validate(&SCOPES).expect("valid");
        let secret = secret.expect("generated");
        let built = Client::builder("portal", "https://portal.example.dk/callback")
            .name("Portal")
            .secret(&secret)
            .scopes(["profile"])
            .build();
        assert_eq!(built, registered);
    }

    #[test]
    fn the_sector_identifier_host_becomes_the_sector() {
        let mut shared = registration();
        shared.sector_identifier_uri = Some("https://sector.example.dk/uris.json".into());
        let (client, _) = shared.validate(&SCOPES).expect("valid");
        assert_eq!(
            client.sector_identifier.as_deref(),
            Some("sector.example.dk")
        );
        let redirects = vec!["https://a.example.dk/cb".to_owned()];
        assert!(check_sector_document(&redirects, r#"["https://a.example.dk/cb"]"#).is_ok());
        assert!(check_sector_document(&redirects, r#"["https://b.example.dk/cb"]"#).is_err());
        assert!(check_sector_document(&redirects, "{}").is_err());
    }
}
