//! Fuzzes the authorization request parser and validator with arbitrary query strings: they
//! must answer with a page error, a redirect error or a request, never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use oidc_provider::authorize;
use oidc_provider::client::{Client, ClientAuthMethod, SigningAlg, SubjectType};

fn client() -> Client {
    Client {
        id: "portal".into(),
        name: "Portal".into(),
        redirect_uris: vec!["https://portal.example.dk/callback".into()],
        post_logout_redirect_uris: Vec::new(),
        auth_method: ClientAuthMethod::ClientSecretBasic,
        secret_hash: None,
        jwks: None,
        jwks_uri: None,
        scopes: vec!["profile".into(), "email".into()],
        id_token_alg: SigningAlg::ES256,
        min_acr: None,
        backchannel_logout_uri: None,
        frontchannel_logout_uri: None,
        refresh_tokens: false,
        public_authority: false,
        cpr_entitled: false,
        subject_type: SubjectType::Pairwise,
        sector_identifier: None,
    }
}

fuzz_target!(|data: &[u8]| {
    let params: Vec<(String, String)> = url::form_urlencoded::parse(data).into_owned().collect();
    let Ok(raw) = authorize::parse(&params) else {
        return;
    };
    let client = client();
    let known = (raw.client_id() == client.id).then_some(&client);
    if let Ok(request) = authorize::validate(&raw, known) {
        // Building the response must work for every valid request.
        let response = request.success("code", "https://login.example.dk");
        let _ = response.location();
        let _ = oidc_provider::level::required_level(&request.acr_values, None);
    }
});
