//! The session lifecycle: refresh token rotation and reuse detection, revocation (RFC 7009) and
//! introspection (RFC 7662), idle expiry, logout with confirmation, post-logout redirects, and
//! back-channel logout delivered to another client of the session.

use crate::helpers::{
    hidden_field, jwt_claims, location, query_value, spawn_app, spawn_app_with, Started, TestApp,
    TestClient, CPR, LOW,
};
use oidc_provider::client::ClientRegistration;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const USER_ID: &str = "anna.jensen";
const PASSWORD: &str = "correct horse battery staple";
/// Client A and client B sit on different redirect hosts, hence different pairwise sectors.
const REDIRECT_A: &str = "http://localhost:9001/cb";
const REDIRECT_B: &str = "http://127.0.0.1:9002/cb";
const LOGGED_OUT_A: &str = "http://localhost:9001/logged-out";
const BACKCHANNEL_LOGOUT_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

fn issuer(app: &TestApp) -> String {
    app.settings.provider_settings().issuer
}

fn now() -> i64 {
    oidc_provider::context::Clock::system().now()
}

/// A `client_secret_basic` client for profile and email that gets refresh tokens.
async fn add_refresh_client(app: &TestApp, id: &str, redirect_uri: &str) -> TestClient {
    app.add_client(ClientRegistration {
        id: id.to_owned(),
        name: format!("Client {id}"),
        redirect_uris: vec![redirect_uri.to_owned()],
        auth_method: "client_secret_basic".to_owned(),
        scopes: vec!["profile".to_owned(), "email".to_owned()],
        refresh_tokens: true,
        ..Default::default()
    })
    .await
}

/// Portal B: a `client_secret_basic` client whose back-channel logout endpoint is `receiver`.
async fn add_backchannel_client(app: &TestApp, receiver: &LogoutReceiver) -> TestClient {
    app.add_client(ClientRegistration {
        id: "portal-b".to_owned(),
        name: "Portal B".to_owned(),
        redirect_uris: vec![REDIRECT_B.to_owned()],
        auth_method: "client_secret_basic".to_owned(),
        scopes: vec!["profile".to_owned()],
        backchannel_logout_uri: Some(receiver.url.clone()),
        ..Default::default()
    })
    .await
}

/// The audited back-channel delivery outcomes, waiting up to 5 s for the first.
async fn delivery_outcomes(app: &TestApp) -> Vec<Value> {
    let mut outcomes = Vec::new();
    for _ in 0..50 {
        outcomes = audit_details(app, "logout.backchannel").await;
        if !outcomes.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    outcomes
}

/// A response's status and JSON body, read once.
async fn json_answer(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let text = response.text().await.expect("body");
    let body = serde_json::from_str(&text)
        .unwrap_or_else(|error| panic!("a JSON body ({error}) with status {status}: {text}"));
    (status, body)
}

/// Logs the citizen in at `client` (acr Low) and redeems the code: the token response body.
async fn log_in_and_redeem(app: &TestApp, client: &TestClient, scope: &str) -> Value {
    let (code, started) = app
        .login_for_code(
            client,
            USER_ID,
            PASSWORD,
            &[("acr_values", LOW), ("scope", scope)],
        )
        .await;
    redeem(app, client, &code, &started).await
}

async fn redeem(app: &TestApp, client: &TestClient, code: &str, started: &Started) -> Value {
    let (status, body) = json_answer(
        app.exchange_code(client, code, &started.pkce.verifier)
            .await,
    )
    .await;
    assert_eq!(status, 200, "token response: {body}");
    body
}

fn text<'a>(body: &'a Value, name: &str) -> &'a str {
    body[name]
        .as_str()
        .unwrap_or_else(|| panic!("{name} is a string in {body}"))
}

/// POST /token with grant_type=refresh_token (client_secret_basic).
async fn refresh(
    app: &TestApp,
    client: &TestClient,
    refresh_token: &str,
    scope: Option<&str>,
) -> (u16, Value) {
    let mut form = vec![
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh_token),
    ];
    if let Some(scope) = scope {
        form.push(("scope", scope));
    }
    json_answer(
        app.client
            .post(format!("{}/token", app.address))
            .basic_auth(&client.id, Some(&client.secret))
            .form(&form)
            .send()
            .await
            .expect("refresh request"),
    )
    .await
}

/// Asserts a 400 token error with this code.
fn assert_token_error(answer: &(u16, Value), code: &str, what: &str) {
    assert_eq!(answer.0, 400, "{what}: {}", answer.1);
    assert_eq!(answer.1["error"], code, "{what}: {}", answer.1);
}

/// POST /introspect authenticated as `client`.
async fn introspect(app: &TestApp, client: &TestClient, token: &str) -> Value {
    let (status, body) = json_answer(
        app.client
            .post(format!("{}/introspect", app.address))
            .basic_auth(&client.id, Some(&client.secret))
            .form(&[("token", token)])
            .send()
            .await
            .expect("introspection request"),
    )
    .await;
    assert_eq!(status, 200, "introspection: {body}");
    body
}

/// POST /revoke authenticated as `client`: the status.
async fn revoke(app: &TestApp, client: &TestClient, token: &str) -> u16 {
    app.client
        .post(format!("{}/revoke", app.address))
        .basic_auth(&client.id, Some(&client.secret))
        .form(&[("token", token)])
        .send()
        .await
        .expect("revocation request")
        .status()
        .as_u16()
}

/// GET /userinfo with a bearer token.
async fn userinfo(app: &TestApp, access_token: &str) -> reqwest::Response {
    app.client
        .get(format!("{}/userinfo", app.address))
        .bearer_auth(access_token)
        .send()
        .await
        .expect("userinfo request")
}

/// `prompt=none` at `client`: the parameters of the redirect back to it.
async fn prompt_none(app: &TestApp, client: &TestClient) -> HashMap<String, String> {
    let started = app
        .authorize(client, &[("prompt", "none"), ("acr_values", LOW)])
        .await;
    assert_eq!(started.status, 303, "prompt=none always redirects");
    let back = started.location.expect("redirect to the client");
    assert!(
        back.starts_with(&format!("{}?", client.redirect_uri)),
        "back to the client: {back}"
    );
    url::Url::parse(&back)
        .expect("absolute redirect")
        .query_pairs()
        .into_owned()
        .collect()
}

async fn assert_logged_out(app: &TestApp, client: &TestClient, what: &str) {
    let back = prompt_none(app, client).await;
    assert_eq!(
        back.get("error").map(String::as_str),
        Some("login_required"),
        "{what}: {back:?}"
    );
}

async fn assert_logged_in(app: &TestApp, client: &TestClient, what: &str) {
    let back = prompt_none(app, client).await;
    assert!(back.contains_key("code"), "{what}: {back:?}");
}

/// GET /logout?id_token_hint=... in the citizen's browser.
async fn logout_with_hint(app: &TestApp, id_token: &str) -> reqwest::Response {
    app.client
        .get(format!("{}/logout", app.address))
        .query(&[("id_token_hint", id_token)])
        .send()
        .await
        .expect("logout request")
}

/// The details of the audit events of a kind, oldest first.
async fn audit_details(app: &TestApp, kind: &str) -> Vec<Value> {
    let rows: Vec<(String,)> =
        sqlx::query_as("SELECT detail FROM audit_events WHERE kind = $1 ORDER BY seq")
            .bind(kind)
            .fetch_all(&app.services.pool)
            .await
            .expect("audit events");
    rows.into_iter()
        .map(|(detail,)| serde_json::from_str(&detail).expect("JSON audit detail"))
        .collect()
}

/// Verifies a compact JWS against the JWK Set at `jwks_url` with the `openidconnect` crate's
/// key types; returns its header and claims. Panics unless the signature verifies.
pub(crate) async fn verified_jwt(jwks_url: &str, token: &str) -> (Value, Value) {
    use base64::Engine;
    use openidconnect::core::{CoreJsonWebKeySet, CoreJwsSigningAlgorithm};
    use openidconnect::JsonWebKey;
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3, "a compact JWS has three parts: {token}");
    let decode = |part: &str| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(part)
            .expect("base64url JWS part")
    };
    let header: Value = serde_json::from_slice(&decode(parts[0])).expect("JSON header");
    let claims: Value = serde_json::from_slice(&decode(parts[1])).expect("JSON claims");
    let signature = decode(parts[2]);
    let jwks: CoreJsonWebKeySet = reqwest::get(jwks_url)
        .await
        .expect("JWKS request")
        .json()
        .await
        .expect("a JWK Set");
    let kid = header["kid"].as_str().expect("the header names its key");
    let key = jwks
        .keys()
        .iter()
        .find(|key| key.key_id().is_some_and(|id| id.as_str() == kid))
        .unwrap_or_else(|| panic!("key {kid} is published at {jwks_url}"));
    let alg: CoreJwsSigningAlgorithm =
        serde_json::from_value(header["alg"].clone()).expect("a known JWS algorithm");
    let signing_input = format!("{}.{}", parts[0], parts[1]);
    key.verify_signature(&alg, signing_input.as_bytes(), &signature)
        .unwrap_or_else(|error| panic!("the signature verifies: {error:?}"));
    // The check has teeth: the same signature over other claims is refused.
    let forged = format!("{}.{}", parts[0], parts[1].replacen('e', "f", 1));
    assert!(
        forged == signing_input
            || key
                .verify_signature(&alg, forged.as_bytes(), &signature)
                .is_err(),
        "a changed payload must not verify"
    );
    (header, claims)
}

/// A relying party's back-channel logout endpoint: records every POSTed `logout_token`, and
/// answers 503 to the first `refuse` of them (recorded in `refused`).
struct LogoutReceiver {
    url: String,
    tokens: Arc<Mutex<Vec<String>>>,
    refused: Arc<Mutex<Vec<String>>>,
}

impl LogoutReceiver {
    async fn start() -> LogoutReceiver {
        Self::start_refusing(0).await
    }

    async fn start_refusing(refuse: usize) -> LogoutReceiver {
        let tokens: Arc<Mutex<Vec<String>>> = Arc::default();
        let refused: Arc<Mutex<Vec<String>>> = Arc::default();
        let (recorded, refusals) = (Arc::clone(&tokens), Arc::clone(&refused));
        let router = axum::Router::new().route(
            "/bc",
            axum::routing::post(
                move |axum::Form(form): axum::Form<HashMap<String, String>>| {
                    let (recorded, refusals) = (Arc::clone(&recorded), Arc::clone(&refusals));
                    async move {
                        let token = form.get("logout_token").cloned().unwrap_or_default();
                        let mut refused = refusals.lock().expect("lock");
                        if refused.len() < refuse {
                            refused.push(token);
                            return axum::http::StatusCode::SERVICE_UNAVAILABLE;
                        }
                        recorded.lock().expect("lock").push(token);
                        axum::http::StatusCode::OK
                    }
                },
            ),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the receiver");
        let url = format!("http://{}/bc", listener.local_addr().expect("bound"));
        tokio::spawn(async move { axum::serve(listener, router).await });
        LogoutReceiver {
            url,
            tokens,
            refused,
        }
    }

    /// Waits up to 5 s for the first logout token.
    async fn first_token(&self) -> String {
        for _ in 0..50 {
            if let Some(token) = self.tokens.lock().expect("lock").first() {
                return token.clone();
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("no logout_token arrived at {} within 5 s", self.url);
    }
}

// ----- refresh tokens -----

#[tokio::test]
async fn a_reused_refresh_token_revokes_its_whole_family() {
    let app = spawn_app().await;
    app.add_citizen(CPR, USER_ID, PASSWORD, false).await;
    let client = add_refresh_client(&app, "portal", REDIRECT_A).await;
    let first = log_in_and_redeem(&app, &client, "openid profile").await;
    let first_refresh = text(&first, "refresh_token").to_owned();
    let first_access = text(&first, "access_token").to_owned();

    let (status, second) = refresh(&app, &client, &first_refresh, None).await;
    assert_eq!(status, 200, "refresh: {second}");
    let second_refresh = text(&second, "refresh_token").to_owned();
    let second_access = text(&second, "access_token").to_owned();
    assert_ne!(second_refresh, first_refresh, "the refresh token rotates");
    assert_ne!(second_access, first_access, "a new access token");
    assert_eq!(second["token_type"], "Bearer");
    assert_eq!(second["scope"], "openid profile");
    assert_eq!(userinfo(&app, &second_access).await.status(), 200);
    assert_eq!(
        app.audit_count("token.refresh_reuse_suspected_theft").await,
        0
    );

    // RFC 9700 4.14.2: the old token again means one of two parties stole it.
    let reuse = refresh(&app, &client, &first_refresh, None).await;
    assert_token_error(&reuse, "invalid_grant", "the used refresh token");
    let after = refresh(&app, &client, &second_refresh, None).await;
    assert_token_error(&after, "invalid_grant", "the family is revoked");

    for (access_token, what) in [(&second_access, "refreshed"), (&first_access, "original")] {
        let response = userinfo(&app, access_token).await;
        assert_eq!(
            response.status(),
            401,
            "the {what} access token at /userinfo"
        );
        assert_eq!(
            introspect(&app, &client, access_token).await,
            serde_json::json!({ "active": false }),
            "the {what} access token"
        );
    }
    assert_eq!(
        introspect(&app, &client, &second_refresh).await,
        serde_json::json!({ "active": false })
    );
    assert_eq!(
        app.audit_count("token.refresh_reuse_suspected_theft").await,
        1
    );
}

#[tokio::test]
async fn a_replayed_code_revokes_its_refresh_token_family_and_every_access_token() {
    let app = spawn_app().await;
    app.add_citizen(CPR, USER_ID, PASSWORD, false).await;
    let client = add_refresh_client(&app, "portal", REDIRECT_A).await;
    let (code, started) = app
        .login_for_code(
            &client,
            USER_ID,
            PASSWORD,
            &[("acr_values", LOW), ("scope", "openid profile")],
        )
        .await;
    let first = redeem(&app, &client, &code, &started).await;
    let first_refresh = text(&first, "refresh_token").to_owned();
    let first_access = text(&first, "access_token").to_owned();
    let (status, second) = refresh(&app, &client, &first_refresh, None).await;
    assert_eq!(status, 200, "refresh: {second}");
    let second_refresh = text(&second, "refresh_token").to_owned();
    let second_access = text(&second, "access_token").to_owned();
    assert_eq!(userinfo(&app, &second_access).await.status(), 200);

    // RFC 6749 4.1.2, RFC 9700 4.5: the replay revokes every token issued based on the code.
    let replay = json_answer(
        app.exchange_code(&client, &code, &started.pkce.verifier)
            .await,
    )
    .await;
    assert_token_error(&replay, "invalid_grant", "the replayed code");

    // The rotated (unused) refresh token first: before the fix it still worked.
    let rotated = refresh(&app, &client, &second_refresh, None).await;
    assert_token_error(&rotated, "invalid_grant", "the rotated refresh token");
    let original = refresh(&app, &client, &first_refresh, None).await;
    assert_token_error(&original, "invalid_grant", "the original refresh token");
    for (token, what) in [
        (&first_access, "first access token"),
        (&second_access, "refreshed access token"),
    ] {
        assert_eq!(
            userinfo(&app, token).await.status(),
            401,
            "{what} at /userinfo"
        );
        assert_eq!(
            introspect(&app, &client, token).await,
            serde_json::json!({ "active": false }),
            "{what}"
        );
    }
    for (token, what) in [(&first_refresh, "original"), (&second_refresh, "rotated")] {
        assert_eq!(
            introspect(&app, &client, token).await,
            serde_json::json!({ "active": false }),
            "the {what} refresh token"
        );
    }
    assert_eq!(app.audit_count("token.code_reuse_revoked").await, 1);
    assert_eq!(
        app.audit_count("token.refresh_reuse_suspected_theft").await,
        0,
        "a refresh token of a revoked family is no theft signal"
    );
}

#[tokio::test]
async fn a_refresh_can_narrow_but_never_widen_the_scope_and_keeps_the_acr() {
    let app = spawn_app().await;
    app.add_citizen(CPR, USER_ID, PASSWORD, false).await;
    let client = add_refresh_client(&app, "portal", REDIRECT_A).await;
    let first = log_in_and_redeem(&app, &client, "openid profile").await;
    assert_eq!(first["scope"], "openid profile");
    let refresh_token = text(&first, "refresh_token").to_owned();

    // RFC 6749 6: email is registered for the client but was not granted.
    let widened = refresh(&app, &client, &refresh_token, Some("openid profile email")).await;
    assert_token_error(&widened, "invalid_scope", "a wider scope");

    // A refused request changes nothing: the client may retry with the same token.
    let (status, narrowed) = refresh(&app, &client, &refresh_token, Some("openid")).await;
    assert_eq!(
        status, 200,
        "a narrower scope after a refused one: {narrowed}"
    );
    assert_eq!(narrowed["scope"], "openid");
    let access_token = text(&narrowed, "access_token");
    let claims = jwt_claims(access_token);
    assert_eq!(claims["acr"], LOW, "the acr of the login");
    assert_eq!(claims["scope"], "openid");
    let answer = introspect(&app, &client, access_token).await;
    assert_eq!(answer["active"], true);
    assert_eq!(answer["acr"], LOW);
    let response = userinfo(&app, access_token).await;
    assert_eq!(response.status(), 200);
    let info: Value = response.json().await.expect("userinfo JSON");
    assert_eq!(info["acr"], LOW);
    assert!(
        info.get("name").is_none(),
        "profile was narrowed away: {info}"
    );
}

#[tokio::test]
async fn a_refresh_token_of_one_client_is_refused_to_another() {
    let app = spawn_app().await;
    app.add_citizen(CPR, USER_ID, PASSWORD, false).await;
    let client_a = add_refresh_client(&app, "portal-a", REDIRECT_A).await;
    let client_b = add_refresh_client(&app, "portal-b", REDIRECT_B).await;
    let tokens = log_in_and_redeem(&app, &client_a, "openid profile").await;
    let answer = refresh(&app, &client_b, text(&tokens, "refresh_token"), None).await;
    assert_token_error(&answer, "invalid_grant", "client A's token at client B");
}

#[tokio::test]
async fn without_offline_access_a_refresh_token_ends_with_the_logout() {
    let app = spawn_app().await;
    app.add_citizen(CPR, USER_ID, PASSWORD, false).await;
    let client = add_refresh_client(&app, "portal", REDIRECT_A).await;
    let tokens = log_in_and_redeem(&app, &client, "openid profile").await;
    let (status, refreshed) = refresh(&app, &client, text(&tokens, "refresh_token"), None).await;
    assert_eq!(status, 200, "refresh while logged in: {refreshed}");

    let response = logout_with_hint(&app, text(&tokens, "id_token")).await;
    assert_eq!(response.status(), 200);
    assert_logged_out(&app, &client, "after logout").await;

    let answer = refresh(&app, &client, text(&refreshed, "refresh_token"), None).await;
    assert_token_error(&answer, "invalid_grant", "refresh after logout");
}

#[tokio::test]
async fn with_offline_access_a_refresh_token_outlives_the_logout() {
    let app = spawn_app().await;
    app.add_citizen(CPR, USER_ID, PASSWORD, false).await;
    let client = app
        .add_client(ClientRegistration {
            id: "offline-portal".to_owned(),
            name: "Offline portal".to_owned(),
            redirect_uris: vec![REDIRECT_A.to_owned()],
            auth_method: "client_secret_basic".to_owned(),
            scopes: vec!["profile".to_owned(), "offline_access".to_owned()],
            ..Default::default()
        })
        .await;
    let tokens = log_in_and_redeem(&app, &client, "openid profile offline_access").await;
    assert_eq!(tokens["scope"], "openid profile offline_access");
    let refresh_token = text(&tokens, "refresh_token");

    let response = logout_with_hint(&app, text(&tokens, "id_token")).await;
    assert_eq!(response.status(), 200);
    assert_logged_out(&app, &client, "after logout").await;

    let (status, refreshed) = refresh(&app, &client, refresh_token, None).await;
    assert_eq!(status, 200, "offline refresh after logout: {refreshed}");
    assert_eq!(refreshed["scope"], "openid profile offline_access");
    assert_ne!(text(&refreshed, "refresh_token"), refresh_token);
}

// ----- revocation and introspection -----

#[tokio::test]
async fn revoked_tokens_introspect_as_inactive() {
    let app = spawn_app().await;
    app.add_citizen(CPR, USER_ID, PASSWORD, false).await;
    let client = add_refresh_client(&app, "portal", REDIRECT_A).await;
    let tokens = log_in_and_redeem(&app, &client, "openid profile").await;
    let access_token = text(&tokens, "access_token");
    let refresh_token = text(&tokens, "refresh_token");
    assert_eq!(
        introspect(&app, &client, access_token).await["active"],
        true
    );
    assert_eq!(
        introspect(&app, &client, refresh_token).await["active"],
        true
    );

    assert_eq!(revoke(&app, &client, access_token).await, 200);
    assert_eq!(
        introspect(&app, &client, access_token).await,
        serde_json::json!({ "active": false })
    );
    assert_eq!(userinfo(&app, access_token).await.status(), 401);

    assert_eq!(revoke(&app, &client, refresh_token).await, 200);
    assert_eq!(
        introspect(&app, &client, refresh_token).await,
        serde_json::json!({ "active": false })
    );
    let answer = refresh(&app, &client, refresh_token, None).await;
    assert_token_error(&answer, "invalid_grant", "a revoked refresh token");

    // RFC 7009 2.2: an invalid token is no error.
    assert_eq!(revoke(&app, &client, "no-such-token").await, 200);
}

#[tokio::test]
async fn introspection_shows_a_client_only_its_own_tokens() {
    let app = spawn_app().await;
    app.add_citizen(CPR, USER_ID, PASSWORD, false).await;
    let client_a = add_refresh_client(&app, "portal-a", REDIRECT_A).await;
    let client_b = add_refresh_client(&app, "portal-b", REDIRECT_B).await;
    let tokens = log_in_and_redeem(&app, &client_a, "openid profile").await;
    let access_token = text(&tokens, "access_token");
    let id_claims = jwt_claims(text(&tokens, "id_token"));

    let own = introspect(&app, &client_a, access_token).await;
    assert_eq!(own["active"], true, "{own}");
    assert_eq!(own["scope"], "openid profile");
    assert_eq!(own["client_id"], client_a.id.as_str());
    assert_eq!(own["sub"], id_claims["sub"]);
    assert_eq!(own["acr"], LOW);
    assert_eq!(own["aud"], issuer(&app).as_str());
    assert_eq!(own["iss"], issuer(&app).as_str());
    let iat = own["iat"].as_i64().expect("iat");
    let exp = own["exp"].as_i64().expect("exp");
    assert!(iat <= now() && now() < exp, "iat {iat} <= now < exp {exp}");

    for token in [access_token, text(&tokens, "refresh_token")] {
        assert_eq!(
            introspect(&app, &client_b, token).await,
            serde_json::json!({ "active": false }),
            "another client's token"
        );
    }
    // Client B's refusal to revoke someone else's token leaves it alone.
    assert_eq!(revoke(&app, &client_b, access_token).await, 200);
    assert_eq!(
        introspect(&app, &client_a, access_token).await["active"],
        true
    );
}

#[tokio::test]
async fn introspection_and_revocation_need_client_authentication() {
    let app = spawn_app().await;
    app.add_citizen(CPR, USER_ID, PASSWORD, false).await;
    let client = add_refresh_client(&app, "portal", REDIRECT_A).await;
    let tokens = log_in_and_redeem(&app, &client, "openid profile").await;
    let access_token = text(&tokens, "access_token");
    for endpoint in ["introspect", "revoke"] {
        let anonymous = json_answer(
            app.client
                .post(format!("{}/{endpoint}", app.address))
                .form(&[("token", access_token)])
                .send()
                .await
                .expect("request"),
        )
        .await;
        assert_eq!(anonymous.0, 401, "/{endpoint} without credentials");
        assert_eq!(anonymous.1["error"], "invalid_client");
        let wrong_secret = json_answer(
            app.client
                .post(format!("{}/{endpoint}", app.address))
                .basic_auth(&client.id, Some("not-the-secret-not-the-secret-xx"))
                .form(&[("token", access_token)])
                .send()
                .await
                .expect("request"),
        )
        .await;
        assert_eq!(wrong_secret.0, 401, "/{endpoint} with a wrong secret");
        assert_eq!(wrong_secret.1["error"], "invalid_client");
    }
    assert_eq!(
        introspect(&app, &client, access_token).await["active"],
        true,
        "the unauthenticated revocation revoked nothing"
    );
}

// ----- logout -----

#[tokio::test]
async fn logout_at_one_client_reaches_another_by_back_channel() {
    let app = spawn_app().await;
    app.add_citizen(CPR, USER_ID, PASSWORD, false).await;
    let receiver = LogoutReceiver::start().await;
    let client_a = app.add_basic_client("portal-a", REDIRECT_A).await;
    let client_b = add_backchannel_client(&app, &receiver).await;
    let tokens_a = log_in_and_redeem(&app, &client_a, "openid profile").await;
    // Single sign-on into B.
    let started_b = app
        .authorize(&client_b, &[("prompt", "none"), ("acr_values", LOW)])
        .await;
    assert_eq!(started_b.status, 303);
    let location_b = started_b.location.clone().expect("redirect to B");
    let code_b = query_value(&location_b, "code").expect("a code for B without a login");
    let tokens_b = redeem(&app, &client_b, &code_b, &started_b).await;
    let id_claims_b = jwt_claims(text(&tokens_b, "id_token"));
    assert!(receiver.tokens.lock().expect("lock").is_empty());

    let response = logout_with_hint(&app, text(&tokens_a, "id_token")).await;
    assert_eq!(response.status(), 200, "logged out at A");

    let logout_token = receiver.first_token().await;
    let (header, claims) = verified_jwt(&format!("{}/jwks", app.address), &logout_token).await;
    assert_eq!(header["typ"], "logout+jwt");
    assert_eq!(header["alg"], "ES256", "B's ID token algorithm");
    assert_eq!(claims["iss"], issuer(&app).as_str());
    assert_eq!(claims["aud"], client_b.id.as_str());
    assert_eq!(claims["sid"], id_claims_b["sid"], "the session's sid");
    assert_eq!(claims["sub"], id_claims_b["sub"], "B's pairwise subject");
    assert!(
        claims["events"]
            .as_object()
            .is_some_and(|events| events.contains_key(BACKCHANNEL_LOGOUT_EVENT)),
        "the back-channel logout event: {claims}"
    );
    assert!(claims["jti"].as_str().is_some_and(|jti| !jti.is_empty()));
    let iat = claims["iat"].as_i64().expect("iat");
    assert!(claims["exp"].as_i64().expect("exp") > iat);
    // Back-Channel Logout 1.0 2.4: a logout token must not contain a nonce.
    assert!(claims.get("nonce").is_none(), "no nonce: {claims}");

    assert_logged_out(&app, &client_a, "A after logout").await;
    let delivered = delivery_outcomes(&app).await;
    assert_eq!(delivered.len(), 1, "one delivery audited: {delivered:?}");
    assert_eq!(delivered[0]["outcome"], "delivered (200)");
    assert_eq!(
        receiver.tokens.lock().expect("lock").len(),
        1,
        "exactly one logout token (A has no back-channel URI)"
    );
}

/// The front-channel logout URLs in the `<iframe src>` of a logout page, HTML-unescaped.
fn frontchannel_urls(page: &str) -> Vec<String> {
    page.split("<iframe src=\"")
        .skip(1)
        .map(|rest| {
            rest[..rest.find('"').expect("closing quote")]
                .replace("&#x2f;", "/")
                .replace("&#x27;", "'")
                .replace("&quot;", "\"")
                .replace("&amp;", "&")
        })
        .collect()
}

/// A client on `redirect_uri` whose back-channel logout endpoint is `receiver` and whose
/// front-channel logout URI is `frontchannel` (loaded by the browser only, never by Segl).
async fn add_logout_client(
    app: &TestApp,
    id: &str,
    redirect_uri: &str,
    receiver: &LogoutReceiver,
    frontchannel: &str,
) -> TestClient {
    app.add_client(ClientRegistration {
        id: id.to_owned(),
        name: format!("Client {id}"),
        redirect_uris: vec![redirect_uri.to_owned()],
        auth_method: "client_secret_basic".to_owned(),
        scopes: vec!["profile".to_owned()],
        backchannel_logout_uri: Some(receiver.url.clone()),
        frontchannel_logout_uri: Some(frontchannel.to_owned()),
        ..Default::default()
    })
    .await
}

/// A code at `client` by single sign-on (`prompt=none`), redeemed.
async fn single_sign_on(app: &TestApp, client: &TestClient) -> Value {
    let started = app
        .authorize(client, &[("prompt", "none"), ("acr_values", LOW)])
        .await;
    assert_eq!(started.status, 303);
    let back = started.location.clone().expect("redirect to the client");
    let code = query_value(&back, "code").expect("a code without a login");
    redeem(app, client, &code, &started).await
}

#[tokio::test]
async fn each_client_of_a_session_gets_a_sid_of_its_own_in_every_token_and_logout() {
    let app = spawn_app().await;
    app.add_citizen(CPR, USER_ID, PASSWORD, false).await;
    let (receiver_a, receiver_b) = (LogoutReceiver::start().await, LogoutReceiver::start().await);
    let client_a = add_logout_client(
        &app,
        "portal-a",
        REDIRECT_A,
        &receiver_a,
        "http://localhost:9001/fc",
    )
    .await;
    let client_b = add_logout_client(
        &app,
        "portal-b",
        REDIRECT_B,
        &receiver_b,
        "http://127.0.0.1:9002/fc",
    )
    .await;
    let tokens_a = log_in_and_redeem(&app, &client_a, "openid profile").await;
    let tokens_b = single_sign_on(&app, &client_b).await;
    let sid_a = jwt_claims(text(&tokens_a, "id_token"))["sid"].clone();
    let sid_b = jwt_claims(text(&tokens_b, "id_token"))["sid"].clone();
    assert!(sid_a.as_str().is_some_and(|sid| sid.len() >= 32), "{sid_a}");
    assert!(sid_b.as_str().is_some_and(|sid| sid.len() >= 32), "{sid_b}");
    assert_ne!(sid_a, sid_b, "one SSO session, a sid per client");
    // The access tokens (JWTs the clients can read) carry the same per-client sid.
    assert_eq!(jwt_claims(text(&tokens_a, "access_token"))["sid"], sid_a);
    assert_eq!(jwt_claims(text(&tokens_b, "access_token"))["sid"], sid_b);
    // A client keeps its sid for the session: a second code at A carries the same one.
    let again_a = single_sign_on(&app, &client_a).await;
    assert_eq!(jwt_claims(text(&again_a, "id_token"))["sid"], sid_a);
    assert_eq!(
        userinfo(&app, text(&tokens_b, "access_token"))
            .await
            .status(),
        200
    );

    // The hint carries A's sid: it still ties the logout to the browser's session.
    let response = logout_with_hint(&app, text(&tokens_a, "id_token")).await;
    assert_eq!(response.status(), 200, "logged out without confirmation");
    let page = response.text().await.expect("page");
    assert!(
        !page.contains("name=\"confirm\""),
        "no confirmation asked:\n{page}"
    );
    let frontchannel = frontchannel_urls(&page);
    assert_eq!(frontchannel.len(), 2, "two iframes:\n{page}");
    for (prefix, sid) in [
        ("http://localhost:9001/fc?", &sid_a),
        ("http://127.0.0.1:9002/fc?", &sid_b),
    ] {
        let url = frontchannel
            .iter()
            .find(|url| url.starts_with(prefix))
            .unwrap_or_else(|| panic!("an iframe for {prefix} in {frontchannel:?}"));
        assert_eq!(
            query_value(url, "iss").as_deref(),
            Some(issuer(&app).as_str())
        );
        assert_eq!(
            query_value(url, "sid").as_deref(),
            sid.as_str(),
            "the front-channel URL carries that client's own sid"
        );
    }

    let jwks = format!("{}/jwks", app.address);
    for (receiver, client, sid) in [
        (&receiver_a, &client_a, &sid_a),
        (&receiver_b, &client_b, &sid_b),
    ] {
        let (_, claims) = verified_jwt(&jwks, &receiver.first_token().await).await;
        assert_eq!(claims["aud"], client.id.as_str());
        assert_eq!(
            &claims["sid"], sid,
            "{}'s logout token carries its own sid",
            client.id
        );
    }
    assert_logged_out(&app, &client_b, "B after the logout at A").await;
}

#[tokio::test]
async fn an_idle_session_expires() {
    let app = spawn_app_with(|settings| settings.session.idle_seconds = 1).await;
    app.add_citizen(CPR, USER_ID, PASSWORD, false).await;
    let client = app.add_basic_client("portal", REDIRECT_A).await;
    app.login_for_code(&client, USER_ID, PASSWORD, &[("acr_values", LOW)])
        .await;
    // A wait for the expiry, not a timing assertion.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_logged_out(&app, &client, "after the idle time").await;
}

#[tokio::test]
async fn a_refresh_token_without_offline_access_ends_when_the_session_idles_out() {
    let app = spawn_app_with(|settings| settings.session.idle_seconds = 1).await;
    app.add_citizen(CPR, USER_ID, PASSWORD, false).await;
    let client = add_refresh_client(&app, "portal", REDIRECT_A).await;
    let tokens = log_in_and_redeem(&app, &client, "openid profile").await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_logged_out(&app, &client, "after the idle time").await;
    let answer = refresh(&app, &client, text(&tokens, "refresh_token"), None).await;
    assert_token_error(
        &answer,
        "invalid_grant",
        "refresh after the session idled out",
    );
}

#[tokio::test]
async fn userinfo_reports_when_the_session_ends() {
    let app = spawn_app().await;
    app.add_citizen(CPR, USER_ID, PASSWORD, false).await;
    let client = app.add_basic_client("portal", REDIRECT_A).await;
    let before = now();
    let tokens = log_in_and_redeem(&app, &client, "openid profile").await;
    let response = userinfo(&app, text(&tokens, "access_token")).await;
    assert_eq!(response.status(), 200);
    let info: Value = response.json().await.expect("userinfo JSON");
    let expiry = info["session_expiry"]
        .as_i64()
        .unwrap_or_else(|| panic!("session_expiry is an integer: {info}"));
    let idle = app.settings.session.idle_seconds;
    let after = now();
    // The idle limit comes first: the session ends idle_seconds after its last use.
    assert!(
        before + idle <= expiry && expiry <= after + idle,
        "session_expiry {expiry} within [{}, {}]",
        before + idle,
        after + idle
    );
}

#[tokio::test]
async fn logout_without_a_hint_asks_for_confirmation() {
    let app = spawn_app().await;
    app.add_citizen(CPR, USER_ID, PASSWORD, false).await;
    let client = app.add_basic_client("portal", REDIRECT_A).await;
    app.login_for_code(&client, USER_ID, PASSWORD, &[("acr_values", LOW)])
        .await;

    let page = app.get_page("/logout").await;
    assert!(
        page.contains("<form method=\"post\" action=\"/logout\">"),
        "a form posting to /logout:\n{page}"
    );
    let confirm = hidden_field(&page, "confirm");
    assert!(!confirm.is_empty());
    assert_logged_in(&app, &client, "showing the question logs nobody out").await;

    // Without the confirmation token, a cross-site POST only gets the question again.
    let forged = app
        .client
        .post(format!("{}/logout", app.address))
        .form(&[("confirm", "forged")])
        .send()
        .await
        .expect("forged confirmation");
    assert_eq!(forged.status(), 200);
    assert!(forged
        .text()
        .await
        .expect("page")
        .contains("name=\"confirm\""));
    assert_logged_in(&app, &client, "a forged confirmation").await;

    let response = app
        .client
        .post(format!("{}/logout", app.address))
        .form(&[("confirm", confirm.as_str())])
        .send()
        .await
        .expect("confirmation");
    assert_eq!(response.status(), 200);
    assert!(location(&response).is_none());
    let page = response.text().await.expect("page");
    assert!(
        page.contains("role=\"status\""),
        "the logged-out page:\n{page}"
    );
    assert!(!page.contains("name=\"confirm\""));
    assert_logged_out(&app, &client, "after confirming").await;
}

#[tokio::test]
async fn post_logout_redirect_uri_must_be_registered_exactly() {
    let app = spawn_app().await;
    app.add_citizen(CPR, USER_ID, PASSWORD, false).await;
    let client = app
        .add_client(ClientRegistration {
            id: "portal".to_owned(),
            name: "Portal".to_owned(),
            redirect_uris: vec![REDIRECT_A.to_owned()],
            post_logout_redirect_uris: vec![LOGGED_OUT_A.to_owned()],
            auth_method: "client_secret_basic".to_owned(),
            scopes: vec!["profile".to_owned()],
            ..Default::default()
        })
        .await;
    let tokens = log_in_and_redeem(&app, &client, "openid profile").await;
    let id_token = text(&tokens, "id_token");
    let logout = |post_logout: &'static str| {
        app.client
            .get(format!("{}/logout", app.address))
            .query(&[
                ("id_token_hint", id_token),
                ("post_logout_redirect_uri", post_logout),
                ("state", "af0ifjsldkj"),
            ])
            .send()
    };

    for unregistered in [
        "http://localhost:9001/elsewhere",
        "http://localhost:9001/logged-out/",
        "http://localhost:9001/logged-out?x=1",
    ] {
        let response = logout(unregistered).await.expect("logout request");
        assert_eq!(response.status(), 400, "{unregistered}");
        assert!(location(&response).is_none(), "never a redirect");
        assert_logged_in(&app, &client, "a refused logout request").await;
    }

    let response = logout(LOGGED_OUT_A).await.expect("logout request");
    assert_eq!(response.status(), 303);
    assert_eq!(
        location(&response).as_deref(),
        Some("http://localhost:9001/logged-out?state=af0ifjsldkj")
    );
    assert_logged_out(&app, &client, "after logout").await;
}

#[tokio::test]
async fn a_refused_back_channel_delivery_is_retried_from_the_queue() {
    let app = spawn_app().await;
    app.add_citizen(CPR, USER_ID, PASSWORD, false).await;
    let receiver = LogoutReceiver::start_refusing(1).await;
    let client = add_backchannel_client(&app, &receiver).await;
    let tokens = log_in_and_redeem(&app, &client, "openid profile").await;

    let response = logout_with_hint(&app, text(&tokens, "id_token")).await;
    assert_eq!(response.status(), 200, "logged out");

    // The first POST is refused with 503; the queued delivery is tried again a second later.
    let delivered = receiver.first_token().await;
    let refused = receiver.refused.lock().expect("lock").clone();
    assert_eq!(refused.len(), 1, "one refused attempt");
    let (_, first) = verified_jwt(&format!("{}/jwks", app.address), &refused[0]).await;
    let (_, second) = verified_jwt(&format!("{}/jwks", app.address), &delivered).await;
    assert_eq!(
        first["jti"], second["jti"],
        "a retry is the same logout (same jti)"
    );
    assert_eq!(second["sid"], first["sid"]);

    let outcomes = delivery_outcomes(&app).await;
    assert_eq!(
        outcomes.len(),
        1,
        "the outcome is audited once: {outcomes:?}"
    );
    assert_eq!(outcomes[0]["outcome"], "delivered (200)");
    assert_eq!(outcomes[0]["attempts"], 2);
    let (queued,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM backchannel_deliveries")
        .fetch_one(&app.services.pool)
        .await
        .expect("count");
    assert_eq!(queued, 0, "a delivered logout leaves the queue");
}
