//! Negative tests for /token: grant and client-authentication errors (RFC 6749 5.2), code reuse,
//! client_credentials, private_key_jwt assertions (RFC 7523), and robustness.

use crate::helpers::{jwt_claims, spawn_app, spawn_app_with, TestApp, TestClient, CPR, LOW};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use oidc_provider::client::ClientRegistration;
use reqwest::header::{HeaderValue, AUTHORIZATION, CACHE_CONTROL, CONTENT_TYPE, WWW_AUTHENTICATE};
use serde_json::{json, Value};

const CALLBACK: &str = "https://rp.example/callback";
const USER_ID: &str = "anna.jensen";
const PASSWORD: &str = "correct horse battery";
const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

fn issuer(app: &TestApp) -> String {
    app.settings.server.issuer.trim_end_matches('/').to_owned()
}

fn token_endpoint(app: &TestApp) -> String {
    format!("{}/token", issuer(app))
}

/// A /token response, read once; every one must carry `Cache-Control: no-store`.
#[derive(Debug)]
struct TokenAnswer {
    status: u16,
    body: Value,
    www_authenticate: Option<String>,
}

async fn read(response: reqwest::Response) -> TokenAnswer {
    let status = response.status().as_u16();
    assert_eq!(
        response
            .headers()
            .get(CACHE_CONTROL)
            .and_then(|value| value.to_str().ok()),
        Some("no-store"),
        "RFC 6749 5.1/5.2: Cache-Control no-store on a {status} token response"
    );
    let www_authenticate = response
        .headers()
        .get(WWW_AUTHENTICATE)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    let text = response.text().await.expect("body");
    let body =
        serde_json::from_str(&text).unwrap_or_else(|error| panic!("a JSON body ({error}): {text}"));
    TokenAnswer {
        status,
        body,
        www_authenticate,
    }
}

/// Posts `form` to /token, with HTTP Basic credentials if given.
async fn post_token(
    app: &TestApp,
    form: &[(&str, &str)],
    basic: Option<(&str, &str)>,
) -> TokenAnswer {
    let mut request = app.client.post(format!("{}/token", app.address)).form(form);
    if let Some((id, secret)) = basic {
        request = request.basic_auth(id, Some(secret));
    }
    read(request.send().await.expect("token request")).await
}

/// Posts `form` with a raw Authorization header value.
async fn post_token_with_header(
    app: &TestApp,
    form: &[(&str, &str)],
    authorization: HeaderValue,
) -> TokenAnswer {
    let response = app
        .client
        .post(format!("{}/token", app.address))
        .header(AUTHORIZATION, authorization)
        .form(form)
        .send()
        .await
        .expect("token request");
    read(response).await
}

/// Asserts an RFC 6749 5.2 error; `invalid_client` also needs 401 and a WWW-Authenticate header.
fn assert_token_error(answer: &TokenAnswer, status: u16, error: &str, case: &str) {
    assert_eq!(answer.status, status, "{case}: status of {answer:?}");
    assert_eq!(
        answer.body["error"].as_str(),
        Some(error),
        "{case}: error of {answer:?}"
    );
    assert!(
        answer.body.get("access_token").is_none(),
        "{case}: no token in an error"
    );
    if error == "invalid_client" {
        let challenge = answer
            .www_authenticate
            .as_deref()
            .unwrap_or_else(|| panic!("{case}: WWW-Authenticate on invalid_client"));
        assert!(challenge.starts_with("Basic"), "{case}: {challenge}");
    }
}

async fn assert_still_healthy(app: &TestApp) {
    let response = app
        .client
        .get(format!("{}/healthz", app.address))
        .send()
        .await
        .expect("healthz request");
    assert_eq!(response.status(), 200, "/healthz after malformed requests");
}

/// A client with `auth_method` and the given scopes.
async fn add_client_with(
    app: &TestApp,
    id: &str,
    auth_method: &str,
    scopes: &[&str],
    jwks: Option<Value>,
) -> TestClient {
    app.add_client(ClientRegistration {
        id: id.to_owned(),
        name: format!("Client {id}"),
        redirect_uris: vec![CALLBACK.to_owned()],
        auth_method: auth_method.to_owned(),
        scopes: scopes.iter().map(|scope| (*scope).to_owned()).collect(),
        jwks,
        ..Default::default()
    })
    .await
}

/// Registers the test citizen and logs in at Low for `client`: the code and its PKCE verifier.
async fn code_for(app: &TestApp, client: &TestClient) -> (String, String) {
    if app.citizen_count().await == 0 {
        app.add_citizen(CPR, USER_ID, PASSWORD, false).await;
    }
    let (code, started) = app
        .login_for_code(client, USER_ID, PASSWORD, &[("acr_values", LOW)])
        .await;
    (code, started.pkce.verifier)
}

fn code_form<'a>(
    code: &'a str,
    redirect_uri: &'a str,
    verifier: &'a str,
) -> Vec<(&'a str, &'a str)> {
    vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", redirect_uri),
        ("code_verifier", verifier),
    ]
}

async fn userinfo(app: &TestApp, access_token: &str) -> reqwest::Response {
    app.client
        .get(format!("{}/userinfo", app.address))
        .bearer_auth(access_token)
        .send()
        .await
        .expect("userinfo request")
}

fn jwt_header(token: &str) -> Value {
    let header = token.split('.').next().expect("a JWT header");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).expect("base64url header"))
        .expect("JSON header")
}

// ----- grant_type -----

#[tokio::test]
async fn password_grant_type_is_unsupported_grant_type() {
    let app = spawn_app().await;
    let client = app.add_basic_client("rp-basic", CALLBACK).await;
    let answer = post_token(
        &app,
        &[
            ("grant_type", "password"),
            ("username", USER_ID),
            ("password", PASSWORD),
        ],
        Some((&client.id, &client.secret)),
    )
    .await;
    assert_token_error(&answer, 400, "unsupported_grant_type", "password");
    // A refresh_token grant without the token is malformed, not unsupported.
    let answer = post_token(
        &app,
        &[("grant_type", "refresh_token")],
        Some((&client.id, &client.secret)),
    )
    .await;
    assert_token_error(&answer, 400, "invalid_request", "refresh_token is missing");
    for grant_type in ["implicit", "urn:ietf:params:oauth:grant-type:device_code"] {
        let answer = post_token(
            &app,
            &[("grant_type", grant_type)],
            Some((&client.id, &client.secret)),
        )
        .await;
        assert_token_error(&answer, 400, "unsupported_grant_type", grant_type);
    }
}

#[tokio::test]
async fn missing_grant_type_is_invalid_request() {
    let app = spawn_app().await;
    let client = app.add_basic_client("rp-basic", CALLBACK).await;
    let answer = post_token(
        &app,
        &[("code", "abc"), ("redirect_uri", CALLBACK)],
        Some((&client.id, &client.secret)),
    )
    .await;
    assert_token_error(&answer, 400, "invalid_request", "no grant_type");
    let answer = post_token(
        &app,
        &[
            ("grant_type", "client_credentials"),
            ("grant_type", "client_credentials"),
        ],
        Some((&client.id, &client.secret)),
    )
    .await;
    assert_token_error(&answer, 400, "invalid_request", "repeated grant_type");
}

#[tokio::test]
async fn non_form_token_request_is_invalid_request() {
    let app = spawn_app().await;
    let client = app.add_basic_client("rp-basic", CALLBACK).await;
    let response = app
        .client
        .post(format!("{}/token", app.address))
        .basic_auth(&client.id, Some(&client.secret))
        .header(CONTENT_TYPE, "application/json")
        .body(r#"{"grant_type":"client_credentials"}"#)
        .send()
        .await
        .expect("token request");
    assert_token_error(&read(response).await, 400, "invalid_request", "JSON body");
    let response = app
        .client
        .post(format!("{}/token", app.address))
        .basic_auth(&client.id, Some(&client.secret))
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials&scope=%FF")
        .send()
        .await
        .expect("token request");
    assert_token_error(
        &read(response).await,
        400,
        "invalid_request",
        "invalid UTF-8",
    );
    assert_still_healthy(&app).await;
}

// ----- client authentication -----

#[tokio::test]
async fn wrong_client_secret_is_invalid_client_with_www_authenticate() {
    let app = spawn_app().await;
    let client = app.add_basic_client("rp-basic", CALLBACK).await;
    let wrong = format!("{}x", client.secret);
    let answer = post_token(
        &app,
        &[("grant_type", "client_credentials")],
        Some((&client.id, &wrong)),
    )
    .await;
    assert_token_error(&answer, 401, "invalid_client", "wrong secret");
}

#[tokio::test]
async fn unknown_client_is_invalid_client() {
    let app = spawn_app().await;
    let answer = post_token(
        &app,
        &[("grant_type", "client_credentials")],
        Some(("rp-nobody", "a-secret-of-more-than-32-characters!!")),
    )
    .await;
    assert_token_error(&answer, 401, "invalid_client", "unknown client, basic");
    let answer = post_token(
        &app,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", "rp-nobody"),
            ("client_secret", "a-secret-of-more-than-32-characters!!"),
        ],
        None,
    )
    .await;
    assert_token_error(&answer, 401, "invalid_client", "unknown client, post");
    let answer = post_token(
        &app,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", "rp-nobody"),
        ],
        None,
    )
    .await;
    assert_token_error(&answer, 401, "invalid_client", "unknown client, none");
}

#[tokio::test]
async fn no_client_credentials_at_all_is_invalid_client() {
    let app = spawn_app().await;
    let answer = post_token(&app, &[("grant_type", "client_credentials")], None).await;
    assert_token_error(&answer, 401, "invalid_client", "nothing");
}

#[tokio::test]
async fn malformed_authorization_headers_are_invalid_client_never_5xx() {
    let app = spawn_app().await;
    let client = app.add_basic_client("rp-basic", CALLBACK).await;
    let no_colon = format!("Basic {}", STANDARD.encode(client.id.as_bytes()));
    let bad_utf8 = format!("Basic {}", STANDARD.encode([0xff, 0xfe, b':', 0xfd]));
    let bad_escape = format!("Basic {}", STANDARD.encode(b"rp-basic%zz:secret"));
    let empty_secret = format!("Basic {}", STANDARD.encode(b"rp-basic:"));
    let headers: Vec<(&str, HeaderValue)> = vec![
        ("Basic !!!", HeaderValue::from_static("Basic !!!")),
        ("Basic", HeaderValue::from_static("Basic")),
        ("Basic and a space", HeaderValue::from_static("Basic ")),
        ("no colon", HeaderValue::from_str(&no_colon).expect("ascii")),
        (
            "not UTF-8",
            HeaderValue::from_str(&bad_utf8).expect("ascii"),
        ),
        (
            "bad escape",
            HeaderValue::from_str(&bad_escape).expect("ascii"),
        ),
        (
            "empty secret",
            HeaderValue::from_str(&empty_secret).expect("ascii"),
        ),
        ("Bearer", HeaderValue::from_static("Bearer abc.def.ghi")),
        ("Digest", HeaderValue::from_static("Digest username=\"x\"")),
        (
            "non-ASCII",
            HeaderValue::from_bytes(b"Basic \xc3\xa6\xc3\xb8\xc3\xa5").expect("obs-text"),
        ),
    ];
    for (case, header) in headers {
        let answer =
            post_token_with_header(&app, &[("grant_type", "client_credentials")], header).await;
        assert!(
            (400..500).contains(&answer.status),
            "{case}: 4xx, got {answer:?}"
        );
        assert_token_error(&answer, 401, "invalid_client", case);
    }
    assert_still_healthy(&app).await;
}

#[tokio::test]
async fn client_secret_post_for_a_basic_client_is_invalid_client() {
    let app = spawn_app().await;
    let client = app.add_basic_client("rp-basic", CALLBACK).await;
    let answer = post_token(
        &app,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", &client.id),
            ("client_secret", &client.secret),
        ],
        None,
    )
    .await;
    assert_token_error(&answer, 401, "invalid_client", "post for basic");
    // And the other way round: basic for a client_secret_post client.
    let post_client =
        add_client_with(&app, "rp-post", "client_secret_post", &["profile"], None).await;
    let answer = post_token(
        &app,
        &[("grant_type", "client_credentials")],
        Some((&post_client.id, &post_client.secret)),
    )
    .await;
    assert_token_error(&answer, 401, "invalid_client", "basic for post");
    // No credentials at all for a confidential client is method none: refused too.
    let answer = post_token(
        &app,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", &client.id),
        ],
        None,
    )
    .await;
    assert_token_error(&answer, 401, "invalid_client", "none for basic");
}

#[tokio::test]
async fn basic_and_client_secret_in_the_body_together_is_invalid_request() {
    let app = spawn_app().await;
    let client = app.add_basic_client("rp-basic", CALLBACK).await;
    let answer = post_token(
        &app,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", &client.id),
            ("client_secret", &client.secret),
        ],
        Some((&client.id, &client.secret)),
    )
    .await;
    assert_token_error(&answer, 400, "invalid_request", "basic and post");
}

// ----- authorization_code -----

#[tokio::test]
async fn reused_code_is_invalid_grant_and_revokes_the_first_access_token() {
    let app = spawn_app().await;
    let client = app.add_basic_client("rp-basic", CALLBACK).await;
    let (code, verifier) = code_for(&app, &client).await;

    let first = read(app.exchange_code(&client, &code, &verifier).await).await;
    assert_eq!(first.status, 200, "first exchange: {first:?}");
    let access_token = first.body["access_token"]
        .as_str()
        .expect("an access token")
        .to_owned();
    assert!(first.body["id_token"].is_string());
    assert_eq!(userinfo(&app, &access_token).await.status(), 200);

    let second = read(app.exchange_code(&client, &code, &verifier).await).await;
    assert_token_error(&second, 400, "invalid_grant", "second exchange");

    let refused = userinfo(&app, &access_token).await;
    assert_eq!(refused.status(), 401, "the first access token is revoked");
    let challenge = refused
        .headers()
        .get(WWW_AUTHENTICATE)
        .and_then(|value| value.to_str().ok())
        .expect("WWW-Authenticate")
        .to_owned();
    assert!(challenge.starts_with("Bearer"), "{challenge}");
    assert!(challenge.contains("error=\"invalid_token\""), "{challenge}");
}

#[tokio::test]
async fn wrong_code_verifier_is_invalid_grant() {
    let app = spawn_app().await;
    let client = app.add_basic_client("rp-basic", CALLBACK).await;
    let (code, verifier) = code_for(&app, &client).await;
    let other = crate::helpers::Pkce::new().verifier;
    for wrong in [other.as_str(), "short", &verifier[..verifier.len() - 1]] {
        let answer = post_token(
            &app,
            &code_form(&code, CALLBACK, wrong),
            Some((&client.id, &client.secret)),
        )
        .await;
        assert_token_error(&answer, 400, "invalid_grant", wrong);
    }
}

#[tokio::test]
async fn missing_code_verifier_is_invalid_request() {
    let app = spawn_app().await;
    let client = app.add_basic_client("rp-basic", CALLBACK).await;
    let (code, _) = code_for(&app, &client).await;
    let answer = post_token(
        &app,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", CALLBACK),
        ],
        Some((&client.id, &client.secret)),
    )
    .await;
    assert_token_error(&answer, 400, "invalid_request", "no code_verifier");
}

#[tokio::test]
async fn wrong_redirect_uri_at_the_token_endpoint_is_invalid_grant() {
    let app = spawn_app().await;
    let client = app.add_basic_client("rp-basic", CALLBACK).await;
    let (code, verifier) = code_for(&app, &client).await;
    for wrong in [
        "https://rp.example/callback/",
        "https://rp.example/other",
        "https://RP.example/callback",
    ] {
        let answer = post_token(
            &app,
            &code_form(&code, wrong, &verifier),
            Some((&client.id, &client.secret)),
        )
        .await;
        assert_token_error(&answer, 400, "invalid_grant", wrong);
    }
}

#[tokio::test]
async fn code_issued_to_another_client_is_invalid_grant() {
    let app = spawn_app().await;
    let client_a = app.add_basic_client("rp-a", CALLBACK).await;
    let client_b = app.add_basic_client("rp-b", CALLBACK).await;
    let (code, verifier) = code_for(&app, &client_a).await;
    let answer = read(app.exchange_code(&client_b, &code, &verifier).await).await;
    assert_token_error(&answer, 400, "invalid_grant", "B redeems A's code");
}

#[tokio::test]
async fn another_client_presenting_a_code_neither_consumes_it_nor_revokes_its_tokens() {
    let app = spawn_app().await;
    let client_a = app
        .add_client(ClientRegistration {
            id: "rp-a".to_owned(),
            name: "Client rp-a".to_owned(),
            redirect_uris: vec![CALLBACK.to_owned()],
            auth_method: "client_secret_basic".to_owned(),
            scopes: vec!["profile".to_owned()],
            refresh_tokens: true,
            ..Default::default()
        })
        .await;
    let client_b = app.add_basic_client("rp-b", CALLBACK).await;
    let (code, verifier) = code_for(&app, &client_a).await;

    // RFC 6749 4.1.3: B (properly authenticated) presents A's unredeemed code: invalid_grant,
    // and the code is not used up.
    let answer = read(app.exchange_code(&client_b, &code, &verifier).await).await;
    assert_token_error(
        &answer,
        400,
        "invalid_grant",
        "B presents A's unredeemed code",
    );
    let first = read(app.exchange_code(&client_a, &code, &verifier).await).await;
    assert_eq!(first.status, 200, "A still redeems its code: {first:?}");
    let access_token = first.body["access_token"].as_str().expect("access token");
    let refresh_token = first.body["refresh_token"].as_str().expect("refresh token");

    // B presents A's redeemed code: invalid_grant, and A's tokens stay valid.
    let answer = read(app.exchange_code(&client_b, &code, &verifier).await).await;
    assert_token_error(
        &answer,
        400,
        "invalid_grant",
        "B presents A's redeemed code",
    );
    assert_eq!(
        userinfo(&app, access_token).await.status(),
        200,
        "A's access token still works"
    );
    let refreshed = post_token(
        &app,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
        ],
        Some((&client_a.id, &client_a.secret)),
    )
    .await;
    assert_eq!(
        refreshed.status, 200,
        "A's refresh token still works: {refreshed:?}"
    );
    assert!(refreshed.body["access_token"].is_string());
}

#[tokio::test]
async fn unknown_code_is_invalid_grant() {
    let app = spawn_app().await;
    let client = app.add_basic_client("rp-basic", CALLBACK).await;
    let verifier = crate::helpers::Pkce::new().verifier;
    let answer = read(app.exchange_code(&client, "no-such-code", &verifier).await).await;
    assert_token_error(&answer, 400, "invalid_grant", "unknown code");
}

#[tokio::test]
async fn expired_code_is_invalid_grant() {
    let app = spawn_app_with(|settings| settings.provider.code_lifetime_seconds = 0).await;
    let client = app.add_basic_client("rp-basic", CALLBACK).await;
    let (code, verifier) = code_for(&app, &client).await;
    let answer = read(app.exchange_code(&client, &code, &verifier).await).await;
    assert_token_error(&answer, 400, "invalid_grant", "expired code");
}

// ----- client_credentials -----

#[tokio::test]
async fn client_credentials_works_for_a_confidential_client() {
    let app = spawn_app().await;
    let client = app.add_basic_client("rp-basic", CALLBACK).await;
    let before = oidc_provider::context::Clock::system().now();
    let answer = post_token(
        &app,
        &[("grant_type", "client_credentials"), ("scope", "profile")],
        Some((&client.id, &client.secret)),
    )
    .await;
    assert_eq!(answer.status, 200, "{answer:?}");
    assert_eq!(answer.body["token_type"], "Bearer");
    assert!(
        answer.body.get("id_token").is_none(),
        "no ID token without a citizen"
    );
    let access_token = answer.body["access_token"].as_str().expect("access token");
    assert_eq!(jwt_header(access_token)["typ"], "at+jwt");
    let claims = jwt_claims(access_token);
    assert_eq!(claims["client_id"], client.id.as_str());
    assert_eq!(claims["scope"], "profile");
    assert_eq!(claims["aud"], issuer(&app).as_str());
    assert_eq!(claims["iss"], issuer(&app).as_str());
    assert!(claims["exp"].as_i64().expect("exp") > before);
    assert!(!claims["jti"].as_str().expect("jti").is_empty());
    // A token about the client, not a citizen: userinfo refuses it.
    assert_eq!(userinfo(&app, access_token).await.status(), 401);
}

#[tokio::test]
async fn client_credentials_is_refused_for_a_public_client() {
    let app = spawn_app().await;
    let public = add_client_with(&app, "rp-public", "none", &["profile"], None).await;
    let answer = post_token(
        &app,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", &public.id),
        ],
        None,
    )
    .await;
    assert_token_error(&answer, 400, "unauthorized_client", "public client");
}

#[tokio::test]
async fn client_credentials_with_openid_or_an_unregistered_scope_is_invalid_scope() {
    let app = spawn_app().await;
    let client = add_client_with(
        &app,
        "rp-profile",
        "client_secret_basic",
        &["profile"],
        None,
    )
    .await;
    for scope in [
        "openid",
        "openid profile",
        "email",
        "profile email",
        "no-such-scope",
    ] {
        let answer = post_token(
            &app,
            &[("grant_type", "client_credentials"), ("scope", scope)],
            Some((&client.id, &client.secret)),
        )
        .await;
        assert_token_error(&answer, 400, "invalid_scope", scope);
    }
}

// ----- private_key_jwt (RFC 7523) -----

/// A P-256 key pair of the test's own; assertions are ES256 JWS (RFC 7518 3.4: r || s).
struct ClientKey {
    pair: EcdsaKeyPair,
    kid: String,
}

impl ClientKey {
    fn generate(kid: &str) -> ClientKey {
        let pkcs8 =
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
                .expect("key generation");
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref())
            .expect("PKCS#8 key");
        ClientKey {
            pair,
            kid: kid.to_owned(),
        }
    }

    /// The public key as a JWK (RFC 7518 6.2): the uncompressed point 0x04 || x || y.
    fn public_jwk(&self) -> Value {
        let point = self.pair.public_key().as_ref();
        assert_eq!(point.len(), 65, "uncompressed P-256 point");
        let (x, y) = point[1..].split_at(32);
        json!({
            "kty": "EC",
            "crv": "P-256",
            "kid": self.kid,
            "use": "sig",
            "alg": "ES256",
            "x": URL_SAFE_NO_PAD.encode(x),
            "y": URL_SAFE_NO_PAD.encode(y),
        })
    }

    fn sign(&self, header: &Value, claims: &Value) -> String {
        let signing_input = format!("{}.{}", b64_json(header), b64_json(claims));
        let signature = self
            .pair
            .sign(&SystemRandom::new(), signing_input.as_bytes())
            .expect("signing");
        format!(
            "{signing_input}.{}",
            URL_SAFE_NO_PAD.encode(signature.as_ref())
        )
    }

    fn es256_header(&self) -> Value {
        json!({ "alg": "ES256", "typ": "JWT", "kid": self.kid })
    }
}

fn b64_json(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).expect("JSON"))
}

/// RFC 7523 3: iss = sub = client_id, aud = the token endpoint, exp = now + 60, a fresh jti.
fn assertion_claims(app: &TestApp, client_id: &str) -> Value {
    let now = oidc_provider::context::Clock::system().now();
    json!({
        "iss": client_id,
        "sub": client_id,
        "aud": token_endpoint(app),
        "iat": now,
        "exp": now + 60,
        "jti": uuid::Uuid::new_v4().to_string(),
    })
}

async fn add_jwt_client(app: &TestApp, key: &ClientKey) -> TestClient {
    add_client_with(
        app,
        "rp-jwt",
        "private_key_jwt",
        &["profile"],
        Some(json!({ "keys": [key.public_jwk()] })),
    )
    .await
}

async fn client_credentials_with_assertion(
    app: &TestApp,
    client_id: Option<&str>,
    assertion: &str,
) -> TokenAnswer {
    let mut form = vec![
        ("grant_type", "client_credentials"),
        ("scope", "profile"),
        ("client_assertion_type", JWT_BEARER),
        ("client_assertion", assertion),
    ];
    if let Some(client_id) = client_id {
        form.push(("client_id", client_id));
    }
    post_token(app, &form, None).await
}

#[tokio::test]
async fn private_key_jwt_assertion_works_with_client_credentials() {
    let app = spawn_app().await;
    let key = ClientKey::generate("key-1");
    let client = add_jwt_client(&app, &key).await;
    let assertion = key.sign(&key.es256_header(), &assertion_claims(&app, &client.id));
    let answer = client_credentials_with_assertion(&app, Some(&client.id), &assertion).await;
    assert_eq!(answer.status, 200, "{answer:?}");
    let claims = jwt_claims(answer.body["access_token"].as_str().expect("token"));
    assert_eq!(claims["client_id"], client.id.as_str());
    // Without client_id in the body, the assertion's iss names the client (RFC 7523 3).
    let assertion = key.sign(&key.es256_header(), &assertion_claims(&app, &client.id));
    let answer = client_credentials_with_assertion(&app, None, &assertion).await;
    assert_eq!(answer.status, 200, "without client_id: {answer:?}");
    // The issuer itself is an accepted audience too.
    let mut claims = assertion_claims(&app, &client.id);
    claims["aud"] = json!(issuer(&app));
    let answer = client_credentials_with_assertion(
        &app,
        Some(&client.id),
        &key.sign(&key.es256_header(), &claims),
    )
    .await;
    assert_eq!(answer.status, 200, "aud = issuer: {answer:?}");
}

#[tokio::test]
async fn reused_assertion_jti_is_invalid_client() {
    let app = spawn_app().await;
    let key = ClientKey::generate("key-1");
    let client = add_jwt_client(&app, &key).await;
    let claims = assertion_claims(&app, &client.id);
    let assertion = key.sign(&key.es256_header(), &claims);
    let first = client_credentials_with_assertion(&app, Some(&client.id), &assertion).await;
    assert_eq!(first.status, 200, "{first:?}");
    let replay = client_credentials_with_assertion(&app, Some(&client.id), &assertion).await;
    assert_token_error(&replay, 401, "invalid_client", "same assertion again");
    // A new assertion that reuses the jti is a replay too.
    let mut again = assertion_claims(&app, &client.id);
    again["jti"] = claims["jti"].clone();
    let answer = client_credentials_with_assertion(
        &app,
        Some(&client.id),
        &key.sign(&key.es256_header(), &again),
    )
    .await;
    assert_token_error(&answer, 401, "invalid_client", "same jti, new assertion");
}

#[tokio::test]
async fn replayed_assertion_is_refused_after_expired_rows_are_cleaned_up() {
    // RFC 7523 3 item 7: the jti must be remembered as long as the assertion is accepted,
    // which is until exp plus the allowed clock skew (client_auth::CLOCK_SKEW_SECONDS).
    let app = spawn_app().await;
    let key = ClientKey::generate("key-1");
    let client = add_jwt_client(&app, &key).await;
    let now = oidc_provider::context::Clock::system().now();
    let mut claims = assertion_claims(&app, &client.id);
    // Past exp, but within the 300 s of clock skew: still accepted.
    claims["iat"] = json!(now - 120);
    claims["exp"] = json!(now - 60);
    let assertion = key.sign(&key.es256_header(), &claims);
    let first = client_credentials_with_assertion(&app, Some(&client.id), &assertion).await;
    assert_eq!(first.status, 200, "accepted within the skew: {first:?}");
    // The maintenance task runs this every key_refresh_seconds on every node.
    app.services
        .provider_store
        .delete_expired(oidc_provider::context::Clock::system().now())
        .await
        .expect("cleanup");
    let replay = client_credentials_with_assertion(&app, Some(&client.id), &assertion).await;
    assert_token_error(&replay, 401, "invalid_client", "replay after cleanup");
}

#[tokio::test]
async fn expired_assertion_is_invalid_client() {
    let app = spawn_app().await;
    let key = ClientKey::generate("key-1");
    let client = add_jwt_client(&app, &key).await;
    let now = oidc_provider::context::Clock::system().now();
    let mut claims = assertion_claims(&app, &client.id);
    // Beyond the 300 s of clock skew.
    claims["iat"] = json!(now - 460);
    claims["exp"] = json!(now - 400);
    let answer = client_credentials_with_assertion(
        &app,
        Some(&client.id),
        &key.sign(&key.es256_header(), &claims),
    )
    .await;
    assert_token_error(&answer, 401, "invalid_client", "expired");
    let mut no_exp = assertion_claims(&app, &client.id);
    no_exp.as_object_mut().expect("object").remove("exp");
    let answer = client_credentials_with_assertion(
        &app,
        Some(&client.id),
        &key.sign(&key.es256_header(), &no_exp),
    )
    .await;
    assert_token_error(&answer, 401, "invalid_client", "no exp");
}

#[tokio::test]
async fn assertion_with_a_wrong_audience_is_invalid_client() {
    let app = spawn_app().await;
    let key = ClientKey::generate("key-1");
    let client = add_jwt_client(&app, &key).await;
    for audience in [
        json!("https://evil.example/token"),
        json!(format!("{}/", token_endpoint(&app))),
        json!(format!("{}/authorize", issuer(&app))),
        json!([]),
        json!(null),
    ] {
        let mut claims = assertion_claims(&app, &client.id);
        claims["aud"] = audience.clone();
        let answer = client_credentials_with_assertion(
            &app,
            Some(&client.id),
            &key.sign(&key.es256_header(), &claims),
        )
        .await;
        assert_token_error(&answer, 401, "invalid_client", &format!("aud {audience}"));
    }
}

#[tokio::test]
async fn assertion_about_another_client_is_invalid_client() {
    let app = spawn_app().await;
    let key = ClientKey::generate("key-1");
    let client = add_jwt_client(&app, &key).await;
    for (claim, value) in [("iss", "rp-other"), ("sub", "rp-other")] {
        let mut claims = assertion_claims(&app, &client.id);
        claims[claim] = json!(value);
        let answer = client_credentials_with_assertion(
            &app,
            Some(&client.id),
            &key.sign(&key.es256_header(), &claims),
        )
        .await;
        assert_token_error(&answer, 401, "invalid_client", claim);
    }
}

#[tokio::test]
async fn assertion_signed_by_another_key_is_invalid_client() {
    let app = spawn_app().await;
    let key = ClientKey::generate("key-1");
    let client = add_jwt_client(&app, &key).await;
    // Same kid, different key: the signature check must fail.
    let impostor = ClientKey::generate("key-1");
    let answer = client_credentials_with_assertion(
        &app,
        Some(&client.id),
        &impostor.sign(
            &impostor.es256_header(),
            &assertion_claims(&app, &client.id),
        ),
    )
    .await;
    assert_token_error(&answer, 401, "invalid_client", "same kid, other key");
    let stranger = ClientKey::generate("key-2");
    let answer = client_credentials_with_assertion(
        &app,
        Some(&client.id),
        &stranger.sign(
            &stranger.es256_header(),
            &assertion_claims(&app, &client.id),
        ),
    )
    .await;
    assert_token_error(&answer, 401, "invalid_client", "unknown kid");
    // A valid assertion with one signature byte changed.
    let assertion = key.sign(&key.es256_header(), &assertion_claims(&app, &client.id));
    let (signed, signature) = assertion.rsplit_once('.').expect("three parts");
    let mut bytes = URL_SAFE_NO_PAD.decode(signature).expect("signature");
    bytes[10] ^= 0x01;
    let tampered = format!("{signed}.{}", URL_SAFE_NO_PAD.encode(bytes));
    let answer = client_credentials_with_assertion(&app, Some(&client.id), &tampered).await;
    assert_token_error(&answer, 401, "invalid_client", "tampered signature");
}

#[tokio::test]
async fn assertion_with_alg_none_or_hs256_is_invalid_client() {
    let app = spawn_app().await;
    let key = ClientKey::generate("key-1");
    let client = add_jwt_client(&app, &key).await;

    let claims = assertion_claims(&app, &client.id);
    let unsigned = format!(
        "{}.{}.",
        b64_json(&json!({ "alg": "none", "typ": "JWT" })),
        b64_json(&claims)
    );
    let answer = client_credentials_with_assertion(&app, Some(&client.id), &unsigned).await;
    assert_token_error(&answer, 401, "invalid_client", "alg none");

    // Algorithm confusion: HMAC keyed with the client's public key.
    let claims = assertion_claims(&app, &client.id);
    let signing_input = format!(
        "{}.{}",
        b64_json(&json!({ "alg": "HS256", "typ": "JWT", "kid": key.kid })),
        b64_json(&claims)
    );
    let hmac_key =
        aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, key.pair.public_key().as_ref());
    let tag = aws_lc_rs::hmac::sign(&hmac_key, signing_input.as_bytes());
    let hs256 = format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()));
    let answer = client_credentials_with_assertion(&app, Some(&client.id), &hs256).await;
    assert_token_error(&answer, 401, "invalid_client", "alg HS256");

    // An ES256 signature under a header that claims another algorithm.
    let claims = assertion_claims(&app, &client.id);
    let relabelled = key.sign(&json!({ "alg": "RS256", "kid": key.kid }), &claims);
    let answer = client_credentials_with_assertion(&app, Some(&client.id), &relabelled).await;
    assert_token_error(&answer, 401, "invalid_client", "alg RS256 on an EC key");
}

#[tokio::test]
async fn garbage_assertions_are_invalid_client_never_5xx() {
    let app = spawn_app().await;
    let key = ClientKey::generate("key-1");
    let client = add_jwt_client(&app, &key).await;
    let huge = "A".repeat(9000);
    let not_json = format!(
        "{}.{}.sig",
        URL_SAFE_NO_PAD.encode(b"not json"),
        URL_SAFE_NO_PAD.encode(b"{}")
    );
    let array_header = format!("{}.{}.sig", b64_json(&json!([1])), b64_json(&json!({})));
    let crit = key.sign(
        &json!({ "alg": "ES256", "kid": key.kid, "crit": ["exp"] }),
        &assertion_claims(&app, &client.id),
    );
    let garbage = [
        "garbage",
        "a.b.c",
        "a.b.c.d",
        "..",
        "e30.e30.e30",
        "eyJhbGciOiJFUzI1NiJ9.%%%.sig",
        "\u{e6}\u{f8}\u{e5}.x.y",
        huge.as_str(),
        not_json.as_str(),
        array_header.as_str(),
        crit.as_str(),
    ];
    for assertion in garbage {
        let case: String = assertion.chars().take(40).collect();
        for client_id in [Some(client.id.as_str()), None] {
            let answer = client_credentials_with_assertion(&app, client_id, assertion).await;
            assert!(
                (400..500).contains(&answer.status),
                "{case} (client_id {client_id:?}): 4xx, got {answer:?}"
            );
            assert_token_error(
                &answer,
                401,
                "invalid_client",
                &format!("{case} (client_id {client_id:?})"),
            );
        }
    }
    // A wrong assertion type, and a type without an assertion.
    let assertion = key.sign(&key.es256_header(), &assertion_claims(&app, &client.id));
    let answer = post_token(
        &app,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", &client.id),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:saml2-bearer",
            ),
            ("client_assertion", &assertion),
        ],
        None,
    )
    .await;
    assert_token_error(&answer, 401, "invalid_client", "saml2-bearer type");
    let answer = post_token(
        &app,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", &client.id),
            ("client_assertion_type", JWT_BEARER),
        ],
        None,
    )
    .await;
    assert_token_error(&answer, 400, "invalid_request", "type without assertion");
    assert_still_healthy(&app).await;
}

// ----- robustness -----

#[tokio::test]
async fn token_body_over_64_kib_is_payload_too_large() {
    let app = spawn_app().await;
    let client = app.add_basic_client("rp-basic", CALLBACK).await;
    let padding = "p".repeat(65 * 1024);
    let response = app
        .client
        .post(format!("{}/token", app.address))
        .basic_auth(&client.id, Some(&client.secret))
        .form(&[("grant_type", "client_credentials"), ("padding", &padding)])
        .send()
        .await
        .expect("token request");
    assert_eq!(response.status(), 413);
    assert_still_healthy(&app).await;
}

#[tokio::test]
async fn a_removed_client_is_refused_once_the_client_cache_sees_the_change() {
    let app = spawn_app().await;
    let client = app.add_basic_client("rp-removed", CALLBACK).await;
    let form = [("grant_type", "client_credentials"), ("scope", "profile")];
    let basic = Some((client.id.as_str(), client.secret.as_str()));
    // Two grants: the first reads the client from the database, the second from the cache.
    for _ in 0..2 {
        assert_eq!(post_token(&app, &form, basic).await.status, 200);
        tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    }
    // `segl client remove` does this, from another process.
    assert!(app
        .services
        .provider_store
        .delete_client(&client.id)
        .await
        .expect("removed"));
    // Each node polls the clients version once a second and then forgets the client.
    let mut answer = post_token(&app, &form, basic).await;
    for _ in 0..30 {
        if answer.status != 200 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        answer = post_token(&app, &form, basic).await;
    }
    assert_token_error(&answer, 401, "invalid_client", "a removed client");
}
