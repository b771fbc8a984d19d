//! Identity data and privacy (docs/NEMLOGIN.md section 3): pairwise and public subjects, scopes to
//! claims, the CPR number only for entitled public authorities, CPR match, protected names,
//! and the audit of every release.

use crate::helpers::{
    jwt_claims, query_value, spawn_app, spawn_app_with, TestApp, TestClient, CPR, LOW,
};
use oidc_provider::client::ClientRegistration;
use serde_json::Value;

pub(crate) const USER_ID: &str = "anna.jensen";
pub(crate) const PASSWORD: &str = "correct horse battery staple";
/// The digits of `CPR`, as they would appear in any leak.
const CPR_DIGITS: &str = "0707614285";

/// A client_secret_basic client with the given registration flags.
pub(crate) async fn add_client_with(
    app: &TestApp,
    id: &str,
    redirect_uri: &str,
    scopes: &str,
    configure: impl FnOnce(&mut ClientRegistration),
) -> TestClient {
    let mut registration = ClientRegistration {
        id: id.to_owned(),
        name: format!("Client {id}"),
        redirect_uris: vec![redirect_uri.to_owned()],
        auth_method: "client_secret_basic".to_owned(),
        scopes: vec![scopes.to_owned()],
        ..Default::default()
    };
    configure(&mut registration);
    app.add_client(registration).await
}

/// What one login and code exchange gave the client.
pub(crate) struct Tokens {
    pub id_token: Value,
    pub access_token: String,
    /// Every response body the client saw, for leak checks.
    pub bodies: String,
}

/// Exchanges `code` and returns the tokens.
pub(crate) async fn tokens_for_code(
    app: &TestApp,
    client: &TestClient,
    code: &str,
    verifier: &str,
) -> Tokens {
    let response = app.exchange_code(client, code, verifier).await;
    assert_eq!(response.status(), 200, "token exchange");
    let text = response.text().await.expect("token body");
    let body: Value = serde_json::from_str(&text).expect("token JSON");
    Tokens {
        id_token: jwt_claims(body["id_token"].as_str().expect("id_token")),
        access_token: body["access_token"]
            .as_str()
            .expect("access_token")
            .to_owned(),
        bodies: text,
    }
}

/// A full password login at Low plus the code exchange.
pub(crate) async fn login(app: &TestApp, client: &TestClient, extra: &[(&str, &str)]) -> Tokens {
    let mut parameters = vec![("acr_values", LOW)];
    parameters.extend_from_slice(extra);
    let (code, started) = app
        .login_for_code(client, USER_ID, PASSWORD, &parameters)
        .await;
    tokens_for_code(app, client, &code, &started.pkce.verifier).await
}

pub(crate) async fn userinfo(app: &TestApp, access_token: &str) -> (Value, String) {
    let response = app
        .client
        .get(format!("{}/userinfo", app.address))
        .bearer_auth(access_token)
        .send()
        .await
        .expect("userinfo");
    assert_eq!(response.status(), 200, "userinfo");
    let text = response.text().await.expect("userinfo body");
    (serde_json::from_str(&text).expect("userinfo JSON"), text)
}

async fn introspect(app: &TestApp, client: &TestClient, token: &str) -> String {
    let response = app
        .client
        .post(format!("{}/introspect", app.address))
        .basic_auth(&client.id, Some(&client.secret))
        .form(&[("token", token)])
        .send()
        .await
        .expect("introspect");
    assert_eq!(response.status(), 200, "introspect");
    response.text().await.expect("introspection body")
}

async fn cpr_match(app: &TestApp, access_token: &str, cpr: &str) -> (u16, Value) {
    let response = app
        .client
        .post(format!("{}/cpr-match", app.address))
        .bearer_auth(access_token)
        .form(&[("cpr", cpr)])
        .send()
        .await
        .expect("cpr match");
    let status = response.status().as_u16();
    (status, response.json().await.expect("cpr-match JSON"))
}

/// The details of every audit event of a kind, as JSON text.
pub(crate) async fn audit_details(app: &TestApp, kind: &str) -> Vec<String> {
    let rows: Vec<(String,)> =
        sqlx::query_as("SELECT detail FROM audit_events WHERE kind = $1 ORDER BY seq")
            .bind(kind)
            .fetch_all(&app.services.pool)
            .await
            .expect("audit details");
    rows.into_iter().map(|(detail,)| detail).collect()
}

async fn anna(app: &TestApp) -> citizen_registry::Citizen {
    app.add_citizen(CPR, USER_ID, PASSWORD, false).await
}

#[tokio::test]
async fn subjects_are_pairwise_per_sector_and_stable() {
    let app = spawn_app().await;
    let citizen = anna(&app).await;
    let a = app
        .add_basic_client("sector-a", "http://localhost:9001/cb")
        .await;
    let a_again = app
        .add_basic_client("sector-a-too", "http://localhost:9003/other")
        .await;
    let b = app
        .add_basic_client("sector-b", "http://127.0.0.1:9002/cb")
        .await;
    let shared = add_client_with(&app, "shared", "http://127.0.0.1:9004/cb", "profile", |r| {
        r.sector_identifier_uri = Some("http://localhost/sector.json".into());
    })
    .await;

    let sub_a = login(&app, &a, &[]).await.id_token["sub"].clone();
    let sub_a_again = login(&app, &a_again, &[("prompt", "login")]).await.id_token["sub"].clone();
    let sub_b = login(&app, &b, &[("prompt", "login")]).await.id_token["sub"].clone();
    let sub_shared = login(&app, &shared, &[("prompt", "login")]).await.id_token["sub"].clone();
    let repeated = login(&app, &a, &[("prompt", "login")]).await;

    assert_ne!(sub_a, sub_b, "different sectors, different sub");
    assert_eq!(sub_a, sub_a_again, "one sector (host localhost), one sub");
    assert_eq!(
        sub_a, sub_shared,
        "a registered sector identifier host joins that sector"
    );
    assert_eq!(
        repeated.id_token["sub"], sub_a,
        "a repeated login, the same sub"
    );
    let (info, _) = userinfo(&app, &repeated.access_token).await;
    assert_eq!(info["sub"], sub_a);
    assert_ne!(sub_a, Value::String(citizen.id.to_string()));
}

#[tokio::test]
async fn a_public_authority_with_the_public_subject_type_gets_the_cpr_uuid() {
    let app = spawn_app().await;
    let citizen = anna(&app).await;
    let client = add_client_with(
        &app,
        "authority",
        "http://localhost:9001/cb",
        "nemlogin",
        |r| {
            r.public_authority = true;
            r.subject_type = Some("public".into());
        },
    )
    .await;
    let tokens = login(&app, &client, &[("scope", "openid nemlogin")]).await;
    assert_eq!(tokens.id_token["sub"], citizen.id.to_string());
    assert_eq!(tokens.id_token["cpr_uuid"], citizen.id.to_string());
    assert_eq!(tokens.id_token["spec_ver"], "OIO-SAML-3.0");
    assert_eq!(tokens.id_token["identity_type"], "private");
    assert_eq!(tokens.id_token["loa"], "low");
}

#[tokio::test]
async fn scopes_release_their_claims_and_the_claims_parameter_adds_single_ones() {
    let app = spawn_app().await;
    anna(&app).await;
    let client = add_client_with(
        &app,
        "portal",
        "http://localhost:9001/cb",
        "profile email nemlogin",
        |_| {},
    )
    .await;
    let tokens = login(
        &app,
        &client,
        &[
            ("scope", "openid profile"),
            (
                "claims",
                r#"{"userinfo": {"email": null, "cpr_uuid": {"essential": true}}}"#,
            ),
        ],
    )
    .await;
    assert_eq!(tokens.id_token["name"], "Anna Jensen");
    assert_eq!(tokens.id_token["given_name"], "Anna");
    assert_eq!(tokens.id_token["family_name"], "Jensen");
    assert_eq!(tokens.id_token["birthdate"], "1961-07-07");
    assert!(tokens.id_token["age"].as_i64().is_some_and(|age| age >= 64));
    assert!(
        tokens.id_token.get("email").is_none(),
        "email asked only for userinfo"
    );
    let (info, _) = userinfo(&app, &tokens.access_token).await;
    assert_eq!(info["email"], "anna@example.dk");
    assert!(info["cpr_uuid"].is_string());
    assert!(info.get("spec_ver").is_none(), "nemlogin was not asked for");
}

#[tokio::test]
async fn a_client_without_cpr_entitlement_asking_for_cpr_gets_invalid_scope_and_never_the_number() {
    let app = spawn_app().await;
    anna(&app).await;
    let client = add_client_with(
        &app,
        "private",
        "http://localhost:9001/cb",
        "profile nemlogin",
        |_| {},
    )
    .await;

    let started = app
        .authorize(&client, &[("scope", "openid cpr"), ("acr_values", LOW)])
        .await;
    assert_eq!(started.status, 303);
    let back = started.location.expect("redirect");
    assert!(back.starts_with("http://localhost:9001/cb?"), "{back}");
    assert_eq!(
        query_value(&back, "error").as_deref(),
        Some("invalid_scope")
    );
    assert_eq!(
        query_value(&back, "error_description").as_deref(),
        Some("The client is not allowed to request the scope cpr.")
    );
    assert!(!back.contains(CPR_DIGITS));

    // Asking for dk_cpr through the claims parameter is ignored, everywhere.
    let claims = r#"{"id_token": {"dk_cpr": {"essential": true}}, "userinfo": {"dk_cpr": null}}"#;
    let tokens = login(
        &app,
        &client,
        &[("scope", "openid profile nemlogin"), ("claims", claims)],
    )
    .await;
    assert!(tokens.id_token.get("dk_cpr").is_none());
    let (info, userinfo_text) = userinfo(&app, &tokens.access_token).await;
    assert!(info.get("dk_cpr").is_none());
    let introspection = introspect(&app, &client, &tokens.access_token).await;
    for text in [&tokens.bodies, &userinfo_text, &introspection] {
        assert!(!text.contains(CPR_DIGITS), "CPR number leaked: {text}");
    }
    for detail in audit_details(&app, "claims.released").await {
        assert!(!detail.contains(CPR_DIGITS));
        assert!(!detail.contains("dk_cpr"), "{detail}");
    }
}

#[tokio::test]
async fn an_entitled_public_authority_gets_the_cpr_number() {
    let app = spawn_app().await;
    anna(&app).await;
    let client = add_client_with(
        &app,
        "skat",
        "http://localhost:9001/cb",
        "cpr profile",
        |r| {
            r.public_authority = true;
            r.cpr_entitled = true;
        },
    )
    .await;
    let tokens = login(&app, &client, &[("scope", "openid cpr")]).await;
    assert_eq!(tokens.id_token["dk_cpr"], CPR_DIGITS);
    let (info, _) = userinfo(&app, &tokens.access_token).await;
    assert_eq!(info["dk_cpr"], CPR_DIGITS);
}

#[tokio::test]
async fn the_cli_refuses_cpr_for_clients_that_are_not_entitled_public_authorities() {
    let app = spawn_app().await;
    let base = [
        "client",
        "add",
        "--id",
        "rp",
        "--name",
        "RP",
        "--redirect-uri",
        "https://rp.example.dk/cb",
        "--auth-method",
        "client_secret_basic",
    ];
    let mut entitled_only = base.to_vec();
    entitled_only.push("--cpr-entitled");
    let output = app.segl(&entitled_only).await;
    assert!(!output.success);
    assert_eq!(
        output.stderr.trim(),
        "error: --cpr-entitled is only for public authorities (--public-authority)"
    );
    let mut cpr_scope = base.to_vec();
    cpr_scope.extend(["--scopes", "openid cpr"]);
    let output = app.segl(&cpr_scope).await;
    assert!(!output.success);
    assert_eq!(
        output.stderr.trim(),
        "error: scope cpr needs a CPR-entitled client (--cpr-entitled)"
    );
    let mut entitled = base.to_vec();
    entitled.extend([
        "--public-authority",
        "--cpr-entitled",
        "--subject-type",
        "public",
        "--scopes",
        "openid profile nemlogin cpr privileges",
    ]);
    let output = app.segl(&entitled).await;
    assert!(output.success, "{}", output.stderr);
    let listed = app.segl(&["client", "list"]).await;
    assert!(
        listed
            .stdout
            .contains("subject=public public-authority cpr-entitled"),
        "{}",
        listed.stdout
    );
}

#[tokio::test]
async fn cpr_match_answers_counts_three_tries_and_is_audited_without_the_number() {
    let app = spawn_app().await;
    anna(&app).await;
    let client = app
        .add_basic_client("portal", "http://localhost:9001/cb")
        .await;
    let tokens = login(&app, &client, &[]).await;

    assert_eq!(
        cpr_match(&app, &tokens.access_token, "070761-4285").await,
        (200, serde_json::json!({ "match": true }))
    );
    assert_eq!(
        cpr_match(&app, &tokens.access_token, "0101901234").await,
        (200, serde_json::json!({ "match": false }))
    );
    assert_eq!(
        cpr_match(&app, &tokens.access_token, "not a number").await,
        (200, serde_json::json!({ "match": false }))
    );
    assert_eq!(
        cpr_match(&app, &tokens.access_token, CPR_DIGITS).await,
        (
            403,
            serde_json::json!({
                "error": "access_denied",
                "error_description": "the 3 CPR-match tries of this login are used up",
            })
        )
    );
    let details = audit_details(&app, "cpr_match.checked").await;
    assert_eq!(
        details
            .iter()
            .map(|detail| serde_json::from_str::<Value>(detail).expect("detail")["outcome"].clone())
            .collect::<Vec<_>>(),
        vec!["match", "no_match", "no_match", "refused_tries_used"]
    );
    for detail in details {
        assert!(!detail.contains(CPR_DIGITS) && !detail.contains("0101901234"));
    }
    // Without a token: RFC 6750.
    let response = app
        .client
        .post(format!("{}/cpr-match", app.address))
        .form(&[("cpr", CPR_DIGITS)])
        .send()
        .await
        .expect("cpr match");
    assert_eq!(response.status(), 401);
}

#[tokio::test]
async fn cpr_match_is_refused_after_the_window() {
    // A window of 0 seconds: every call is already too late, without sleeping.
    let app = spawn_app_with(|settings| settings.provider.cpr_match_window_seconds = 0).await;
    anna(&app).await;
    let client = app
        .add_basic_client("portal", "http://localhost:9001/cb")
        .await;
    let tokens = login(&app, &client, &[]).await;
    assert_eq!(
        cpr_match(&app, &tokens.access_token, CPR_DIGITS).await,
        (
            403,
            serde_json::json!({
                "error": "access_denied",
                "error_description": "the CPR-match window after this login has passed",
            })
        )
    );
    assert_eq!(app.audit_count("cpr_match.checked").await, 1);
}

#[tokio::test]
async fn a_protected_citizen_has_the_name_masked_at_private_clients_only() {
    let app = spawn_app().await;
    anna(&app).await;
    let output = app.segl(&["citizen", "set-protected", USER_ID]).await;
    assert!(output.success, "{}", output.stderr);
    assert_eq!(
        output.stdout.trim(),
        "name and address protection of anna.jensen is on"
    );
    let shown = app.segl(&["citizen", "show", USER_ID]).await;
    assert!(
        shown.stdout.contains("protected:   name and address"),
        "{}",
        shown.stdout
    );
    let private = app
        .add_basic_client("private", "http://localhost:9001/cb")
        .await;
    let tokens = login(&app, &private, &[]).await;
    for claim in ["name", "given_name", "family_name"] {
        assert!(tokens.id_token.get(claim).is_none(), "{claim} released");
    }
    assert_eq!(tokens.id_token["birthdate"], "1961-07-07");
    let (info, text) = userinfo(&app, &tokens.access_token).await;
    assert!(info.get("name").is_none());
    assert!(!text.contains("Jensen") && !tokens.bodies.contains("Jensen"));

    let public = add_client_with(
        &app,
        "authority",
        "http://127.0.0.1:9002/cb",
        "profile",
        |r| {
            r.public_authority = true;
        },
    )
    .await;
    let tokens = login(&app, &public, &[("prompt", "login")]).await;
    assert_eq!(tokens.id_token["name"], "Anna Jensen");
}

#[tokio::test]
async fn every_release_is_audited_with_the_claim_names_only() {
    let app = spawn_app().await;
    let citizen = anna(&app).await;
    let client = app
        .add_basic_client("portal", "http://localhost:9001/cb")
        .await;
    let tokens = login(&app, &client, &[("scope", "openid profile email")]).await;
    userinfo(&app, &tokens.access_token).await;
    let details = audit_details(&app, "claims.released").await;
    assert_eq!(details.len(), 2, "{details:?}");
    let id_token: Value = serde_json::from_str(&details[0]).expect("detail");
    assert_eq!(id_token["to"], "id_token");
    assert_eq!(
        id_token["claims"],
        serde_json::json!([
            "sub",
            "age",
            "birthdate",
            "email",
            "family_name",
            "given_name",
            "name"
        ])
    );
    let from_userinfo: Value = serde_json::from_str(&details[1]).expect("detail");
    assert_eq!(from_userinfo["to"], "userinfo");
    for detail in &details {
        assert!(!detail.contains("Anna") && !detail.contains("anna@example.dk"));
    }
    let (client_id, citizen_id): (Option<String>, Option<String>) = sqlx::query_as(
        "SELECT client_id, citizen_id FROM audit_events WHERE kind = 'claims.released' ORDER BY seq LIMIT 1",
    )
    .fetch_one(&app.services.pool)
    .await
    .expect("event");
    assert_eq!(client_id.as_deref(), Some("portal"));
    assert_eq!(citizen_id, Some(citizen.id.to_string()));
}

#[tokio::test]
async fn discovery_advertises_the_claim_model() {
    let app = spawn_app().await;
    let document: Value = app
        .client
        .get(format!("{}/.well-known/openid-configuration", app.address))
        .send()
        .await
        .expect("discovery")
        .json()
        .await
        .expect("JSON");
    assert_eq!(
        document["subject_types_supported"],
        serde_json::json!(["pairwise", "public"])
    );
    assert_eq!(document["claims_parameter_supported"], true);
    assert_eq!(
        document["cpr_match_endpoint"],
        format!("{}/cpr-match", app.settings.provider_settings().issuer)
    );
    let scopes = document["scopes_supported"].as_array().expect("scopes");
    for scope in ["nemlogin", "cpr", "professional", "privileges"] {
        assert!(scopes.iter().any(|listed| listed == scope), "{scope}");
    }
}

/// Serves `document` at `/sector.json` on a random loopback port; returns its URL.
async fn serve_sector_document(document: &'static str) -> String {
    let router = axum::Router::new().route(
        "/sector.json",
        axum::routing::get(move || async move { document }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address");
    tokio::spawn(async move { axum::serve(listener, router).await });
    format!("http://{address}/sector.json")
}

#[tokio::test]
async fn the_sector_identifier_document_is_fetched_and_must_list_every_redirect_uri() {
    let app = spawn_app().await;
    let uri =
        serve_sector_document(r#"["http://localhost:9001/cb", "http://localhost:9002/cb"]"#).await;
    let add = |id: &'static str, redirect: &'static str| {
        let uri = uri.clone();
        let app = &app;
        async move {
            app.segl(&[
                "client",
                "add",
                "--id",
                id,
                "--name",
                id,
                "--redirect-uri",
                redirect,
                "--auth-method",
                "client_secret_basic",
                "--sector-identifier-uri",
                &uri,
            ])
            .await
        }
    };
    let listed = add("listed", "http://localhost:9002/cb").await;
    assert!(listed.success, "{}", listed.stderr);
    let unlisted = add("unlisted", "http://localhost:9003/cb").await;
    assert!(!unlisted.success);
    assert_eq!(
        unlisted.stderr.trim(),
        format!(
            "error: sector_identifier_uri {uri}: redirect URI http://localhost:9003/cb is not listed in the sector identifier document"
        )
    );
    let (sector,): (Option<String>,) =
        sqlx::query_as("SELECT sector_identifier FROM clients WHERE id = 'listed'")
            .fetch_one(&app.services.pool)
            .await
            .expect("client");
    assert_eq!(sector.as_deref(), Some("127.0.0.1"));
}
