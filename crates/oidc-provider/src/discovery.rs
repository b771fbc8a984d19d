//! OpenID Connect Discovery 1.0 and RFC 8414 metadata: only what works is advertised.

use crate::client::SigningAlg;
use crate::level;
use serde_json::{json, Value};

/// Endpoint paths, relative to the issuer.
pub mod path {
    pub const AUTHORIZE: &str = "/authorize";
    pub const TOKEN: &str = "/token";
    pub const USERINFO: &str = "/userinfo";
    pub const JWKS: &str = "/jwks";
    pub const LOGIN: &str = "/login";
    pub const END_SESSION: &str = "/logout";
    pub const REVOCATION: &str = "/revoke";
    pub const INTROSPECTION: &str = "/introspect";
    pub const CPR_MATCH: &str = "/cpr-match";
    pub const DISCOVERY: &str = "/.well-known/openid-configuration";
    pub const AUTHORIZATION_SERVER: &str = "/.well-known/oauth-authorization-server";
}

/// Scopes and the claims each releases (docs/NEMLOGIN.md section 3).
pub use crate::claims::SCOPES;

/// Claims that are part of every ID token (OIDC Core 2) or describe the login.
const PROTOCOL_CLAIMS: [&str; 16] = [
    "iss",
    "sub",
    "aud",
    "exp",
    "iat",
    "auth_time",
    "nonce",
    "acr",
    "amr",
    "azp",
    "at_hash",
    "sid",
    "loa",
    "ial",
    "aal",
    "session_expiry",
];

/// The discovery document for `issuer` (no trailing slash).
pub fn document(issuer: &str) -> Value {
    let endpoint = |path: &str| format!("{issuer}{path}");
    let algorithms: Vec<&str> = SigningAlg::ALL.iter().map(|alg| alg.as_str()).collect();
    let mut claims: Vec<&str> = PROTOCOL_CLAIMS.to_vec();
    for claim in crate::claims::supported_claims() {
        if !claims.contains(&claim) {
            claims.push(claim);
        }
    }
    json!({
        "issuer": issuer,
        "authorization_endpoint": endpoint(path::AUTHORIZE),
        "token_endpoint": endpoint(path::TOKEN),
        "userinfo_endpoint": endpoint(path::USERINFO),
        "jwks_uri": endpoint(path::JWKS),
        "end_session_endpoint": endpoint(path::END_SESSION),
        "backchannel_logout_supported": true,
        "backchannel_logout_session_supported": true,
        "frontchannel_logout_supported": true,
        "frontchannel_logout_session_supported": true,
        "response_types_supported": ["code"],
        "response_modes_supported": ["query", "form_post"],
        "grant_types_supported": ["authorization_code", "client_credentials", "refresh_token"],
        "revocation_endpoint": endpoint(path::REVOCATION),
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "private_key_jwt"],
        "introspection_endpoint": endpoint(path::INTROSPECTION),
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "private_key_jwt"],
        "subject_types_supported": ["pairwise", "public"],
        "id_token_signing_alg_values_supported": algorithms,
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "private_key_jwt", "none"],
        "token_endpoint_auth_signing_alg_values_supported": algorithms,
        "code_challenge_methods_supported": ["S256"],
        "scopes_supported": SCOPES.iter().map(|(scope, _)| *scope).collect::<Vec<_>>(),
        "claims_supported": claims,
        "acr_values_supported": level::SUPPORTED,
        "prompt_values_supported": ["none", "login"],
        "ui_locales_supported": ["da", "en"],
        "claims_parameter_supported": true,
        // docs/NEMLOGIN.md section 3: Segl's CPR-match endpoint (a custom metadata field).
        "cpr_match_endpoint": endpoint(path::CPR_MATCH),
        "request_parameter_supported": false,
        "request_uri_parameter_supported": false,
        "authorization_response_iss_parameter_supported": true,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_hang_off_the_issuer() {
        let document = document("https://login.example.dk");
        assert_eq!(document["issuer"], "https://login.example.dk");
        assert_eq!(document["token_endpoint"], "https://login.example.dk/token");
        assert_eq!(
            document["code_challenge_methods_supported"],
            json!(["S256"])
        );
    }

    #[test]
    fn every_claim_and_scope_the_provider_releases_is_listed() {
        let document = document("https://login.example.dk");
        let listed = |field: &str, value: &str| {
            document[field]
                .as_array()
                .is_some_and(|values| values.iter().any(|listed| listed == value))
        };
        for claim in [
            "acr",
            "amr",
            "sid",
            "loa",
            "ial",
            "aal",
            "session_expiry",
            "name",
            "email",
        ] {
            assert!(listed("claims_supported", claim), "{claim}");
        }
        for claim in [
            "dk_cpr",
            "cpr_uuid",
            "spec_ver",
            "identity_type",
            "age",
            "pro_uuid",
            "cvr",
            "org_name",
            "authorized_to_represent",
            "privileges",
            "act",
        ] {
            assert!(listed("claims_supported", claim), "{claim}");
        }
        for scope in [
            "openid",
            "profile",
            "email",
            "offline_access",
            "nemlogin",
            "cpr",
            "professional",
            "privileges",
        ] {
            assert!(listed("scopes_supported", scope), "{scope}");
        }
        assert_eq!(
            document["subject_types_supported"],
            json!(["pairwise", "public"])
        );
        assert_eq!(document["claims_parameter_supported"], json!(true));
        assert_eq!(
            document["cpr_match_endpoint"],
            "https://login.example.dk/cpr-match"
        );
        assert!(listed("grant_types_supported", "refresh_token"));
        // High is reachable with a passkey (and identity proofed at High).
        assert_eq!(
            document["acr_values_supported"],
            json!([
                "https://data.gov.dk/concept/core/nsis/loa/Low",
                "https://data.gov.dk/concept/core/nsis/loa/Substantial",
                "https://data.gov.dk/concept/core/nsis/loa/High"
            ])
        );
        assert_eq!(
            document["end_session_endpoint"],
            "https://login.example.dk/logout"
        );
        assert_eq!(
            document["revocation_endpoint"],
            "https://login.example.dk/revoke"
        );
        assert_eq!(
            document["introspection_endpoint"],
            "https://login.example.dk/introspect"
        );
    }
}
