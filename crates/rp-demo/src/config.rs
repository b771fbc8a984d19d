//! The portal's configuration, as given by the caller ([`PortalConfig`]) and as checked and
//! completed once at start ([`Settings`]).

use crate::error::Error;
use std::net::SocketAddr;

/// What a public service configures to log citizens in with Segl.
#[derive(Clone)]
pub struct PortalConfig {
    /// Shown on the pages, e.g. "Borger.dk (demo)".
    pub name: String,
    /// Where to listen, e.g. `127.0.0.1:8081` (port 0 picks a free port).
    pub listen: SocketAddr,
    /// The portal's address as browsers see it, e.g. `http://127.0.0.1:8081`; the redirect URI
    /// is `{public_url}/callback`. Empty means `http://{the bound address}` (handy with port 0).
    pub public_url: String,
    /// Segl's issuer URL (discovery is at `{issuer}/.well-known/openid-configuration`).
    pub issuer: String,
    pub client_id: String,
    /// PKCS#8 PEM of the portal's P-256 key for `private_key_jwt`.
    pub private_key_pem: String,
    /// The `kid` under which the public key is registered with Segl.
    pub key_id: String,
    /// Scopes beyond `openid` (always sent), e.g. `["profile", "email"]`.
    pub scopes: Vec<String>,
    /// Display-only: whether this portal expects the CPR number (Segl decides if it comes).
    pub shows_cpr: bool,
}

impl std::fmt::Debug for PortalConfig {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("PortalConfig")
            .field("name", &self.name)
            .field("listen", &self.listen)
            .field("public_url", &self.public_url)
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field("private_key_pem", &"[redacted]")
            .field("key_id", &self.key_id)
            .field("scopes", &self.scopes)
            .field("shows_cpr", &self.shows_cpr)
            .finish()
    }
}

/// The checked configuration the portal runs with.
#[derive(Debug, Clone)]
pub struct Settings {
    pub name: String,
    /// Without a trailing slash.
    pub public_url: String,
    pub issuer: String,
    pub client_id: String,
    pub scopes: Vec<String>,
    pub shows_cpr: bool,
    /// Cookies get `Secure` (and the `__Host-` prefix) when the portal is served over https.
    pub https: bool,
    /// Distinguishes this portal's cookies from those of other portals on the same host:
    /// cookies are not separated by port, and the demo runs several portals on 127.0.0.1.
    pub cookie_suffix: String,
}

impl Settings {
    /// Checks `config`; `bound` is the address actually bound (for an empty `public_url`).
    pub fn parse(config: &PortalConfig, bound: SocketAddr) -> Result<Self, Error> {
        let invalid = |setting: &'static str, reason: &str| Error::InvalidConfig {
            setting,
            reason: reason.to_owned(),
        };
        let public_url = if config.public_url.trim().is_empty() {
            format!("http://{bound}")
        } else {
            config.public_url.trim().trim_end_matches('/').to_owned()
        };
        let https = match public_url.split_once("://") {
            Some(("https", rest)) if !rest.is_empty() => true,
            Some(("http", rest)) if !rest.is_empty() => false,
            _ => return Err(invalid("public_url", "must start with http:// or https://")),
        };
        let issuer = config.issuer.trim().to_owned();
        if !(issuer.starts_with("https://") || issuer.starts_with("http://")) {
            return Err(invalid("issuer", "must start with http:// or https://"));
        }
        let client_id = config.client_id.trim().to_owned();
        if client_id.is_empty() {
            return Err(invalid("client_id", "must not be empty"));
        }
        if config.key_id.trim().is_empty() {
            return Err(invalid("key_id", "must not be empty"));
        }
        let mut scopes: Vec<String> = Vec::new();
        for scope in &config.scopes {
            let scope = scope.trim();
            // RFC 6749 3.3: a scope token is printable ASCII without space, quote or backslash.
            let valid = !scope.is_empty()
                && scope
                    .bytes()
                    .all(|byte| byte > 0x20 && byte < 0x7f && byte != b'"' && byte != b'\\');
            if !valid {
                return Err(invalid(
                    "scopes",
                    "a scope must be printable ASCII without spaces",
                ));
            }
            // openidconnect always sends `openid` itself.
            if scope != "openid" && !scopes.iter().any(|known| known == scope) {
                scopes.push(scope.to_owned());
            }
        }
        let name = match config.name.trim() {
            "" => "Segl demo portal".to_owned(),
            name => name.to_owned(),
        };
        let cookie_suffix: String = client_id
            .chars()
            .map(|character| {
                if character.is_ascii_alphanumeric() {
                    character
                } else {
                    '_'
                }
            })
            .take(40)
            .collect();
        Ok(Self {
            name,
            public_url,
            issuer,
            client_id,
            scopes,
            shows_cpr: config.shows_cpr,
            https,
            cookie_suffix,
        })
    }

    /// OIDC Core 3.1.2.1: the redirect URI registered with Segl.
    pub fn redirect_uri(&self) -> String {
        format!("{}/callback", self.public_url)
    }

    /// OIDC RP-Initiated Logout 1.0 2: where Segl sends the citizen after logout.
    pub fn post_logout_redirect_uri(&self) -> String {
        format!("{}/", self.public_url)
    }

    /// The cookie holding the id of a login in flight.
    pub fn login_cookie(&self) -> String {
        self.cookie_name("login")
    }

    /// The cookie holding the local session id.
    pub fn session_cookie(&self) -> String {
        self.cookie_name("session")
    }

    fn cookie_name(&self, purpose: &str) -> String {
        // RFC 6265bis 4.1.3.2: `__Host-` cookies are Secure, host-only and Path=/; only the
        // session cookie has Path=/, so only it can carry the prefix.
        if self.https && purpose == "session" {
            format!("__Host-rp_{purpose}_{}", self.cookie_suffix)
        } else {
            format!("rp_{purpose}_{}", self.cookie_suffix)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> PortalConfig {
        PortalConfig {
            name: "Borger.dk (demo)".to_owned(),
            listen: "127.0.0.1:8081".parse().unwrap(),
            public_url: "http://127.0.0.1:8081/".to_owned(),
            issuer: "http://127.0.0.1:8080".to_owned(),
            client_id: "borger.dk".to_owned(),
            private_key_pem: String::new(),
            key_id: "k1".to_owned(),
            scopes: vec![
                "openid".to_owned(),
                "profile".to_owned(),
                "email".to_owned(),
            ],
            shows_cpr: true,
        }
    }

    fn bound() -> SocketAddr {
        "127.0.0.1:40001".parse().unwrap()
    }

    #[test]
    fn urls_are_derived_from_the_public_url() {
        let settings = Settings::parse(&config(), bound()).unwrap();
        assert_eq!(settings.redirect_uri(), "http://127.0.0.1:8081/callback");
        assert_eq!(
            settings.post_logout_redirect_uri(),
            "http://127.0.0.1:8081/"
        );
        assert_eq!(settings.scopes, ["profile", "email"]);
        assert!(!settings.https);
    }

    #[test]
    fn an_empty_public_url_uses_the_bound_address() {
        let mut config = config();
        config.public_url = String::new();
        let settings = Settings::parse(&config, bound()).unwrap();
        assert_eq!(settings.redirect_uri(), "http://127.0.0.1:40001/callback");
    }

    #[test]
    fn cookie_names_differ_between_portals() {
        let first = Settings::parse(&config(), bound()).unwrap();
        let mut other = config();
        other.client_id = "skat".to_owned();
        let second = Settings::parse(&other, bound()).unwrap();
        assert_ne!(first.session_cookie(), second.session_cookie());
        assert_eq!(first.session_cookie(), "rp_session_borger_dk");
    }

    #[test]
    fn bad_settings_are_refused() {
        let mut bad = config();
        bad.client_id = " ".to_owned();
        assert!(Settings::parse(&bad, bound()).is_err());
        let mut bad = config();
        bad.issuer = "segl.example".to_owned();
        assert!(Settings::parse(&bad, bound()).is_err());
        let mut bad = config();
        bad.scopes = vec!["two words".to_owned()];
        assert!(Settings::parse(&bad, bound()).is_err());
    }
}
