//! Fuzzes client authentication at the token endpoint: arbitrary Authorization headers, form
//! fields and JWT client assertions must be refused cleanly, never panic or be accepted.
#![no_main]

use libfuzzer_sys::fuzz_target;
use oidc_provider::client::{Client, ClientAuthMethod, SigningAlg, SubjectType};
use oidc_provider::client_auth::{self, ClientCredentials, JWT_BEARER_ASSERTION_TYPE};

fn client() -> Client {
    Client {
        id: "portal".into(),
        name: "Portal".into(),
        redirect_uris: vec!["https://portal.example.dk/callback".into()],
        post_logout_redirect_uris: Vec::new(),
        auth_method: ClientAuthMethod::PrivateKeyJwt,
        secret_hash: None,
        // A real P-256 public key: no assertion the fuzzer makes can be signed by it.
        jwks: Some(serde_json::json!({"keys": [{
            "kty": "EC", "crv": "P-256", "alg": "ES256", "kid": "k1",
            "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
            "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"
        }]})),
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
    }
}

fuzz_target!(|data: &[u8]| {
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
    let client = client();
    for form in [form, Vec::new()] {
        if let Ok(credentials) = ClientCredentials::parse(authorization, &form) {
            let known = (credentials.client_id() == client.id).then_some(&client);
            let result = client_auth::authenticate(
                &credentials,
                known,
                &["https://login.example.dk"],
                1_800_000_000,
            );
            assert!(result.is_err(), "an unsigned fuzz input authenticated");
        }
    }
});
