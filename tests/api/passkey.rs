//! Passkeys end to end over HTTP with a software authenticator (webauthn-authenticator-rs's
//! `SoftPasskey`, test only): adding one from the account page, logging in and stepping up to
//! High with it, and refusing a bad signature or a stale challenge.

use crate::helpers::{
    hidden_field, jwt_claims, location, query_value, spawn_app_with, Started, TestApp, TestClient,
    SUBSTANTIAL,
};
use citizen_registry::AssuranceLevel;
use webauthn_authenticator_rs::prelude::{
    CreationChallengeResponse, RequestChallengeResponse, Url, WebauthnAuthenticator,
};
use webauthn_authenticator_rs::softpasskey::SoftPasskey;

pub(crate) const HIGH: &str = "https://data.gov.dk/concept/core/nsis/loa/High";
const CPR: &str = "0101904521";
pub(crate) const USER_ID: &str = "anna";
pub(crate) const PASSWORD: &str = "correct horse battery staple";
const REDIRECT: &str = "https://portal.example.dk/callback";

/// WebAuthn needs a domain name: the issuer is `http://localhost:PORT` (a secure context).
pub(crate) async fn spawn_passkey_app() -> TestApp {
    spawn_app_with(|settings| {
        settings.server.issuer = settings.server.issuer.replace("127.0.0.1", "localhost");
    })
    .await
}

fn origin(app: &TestApp) -> Url {
    Url::parse(&app.settings.server.issuer).expect("issuer URL")
}

/// The JSON in the page's `<script type="application/json" id="passkey-options">` block.
fn options_json(page: &str) -> String {
    let marker = "id=\"passkey-options\">";
    let start = page.find(marker).expect("a passkey options block") + marker.len();
    let end = page[start..].find("</script>").expect("end of the block") + start;
    page[start..end].to_owned()
}

fn authenticator() -> WebauthnAuthenticator<SoftPasskey> {
    // `true`: the soft token reports user verification (as a PIN or fingerprint would).
    WebauthnAuthenticator::new(SoftPasskey::new(true))
}

async fn totp_code_for(app: &TestApp, citizen: &citizen_registry::Citizen) -> String {
    app.services
        .registry
        .current_totp_code(citizen.id)
        .await
        .expect("TOTP code")
}

/// Password and TOTP login at Substantial; returns the code for the client.
async fn substantial_login(
    app: &TestApp,
    client: &TestClient,
    citizen: &citizen_registry::Citizen,
) -> (String, Started) {
    let started = app.authorize(client, &[]).await;
    assert_eq!(started.status, 303);
    let login = started.location.clone().expect("login page");
    let response = app.submit_password(&login, USER_ID, PASSWORD).await;
    assert_eq!(response.status(), 303, "password accepted");
    let code_page = location(&response).expect("code page");
    let response = app
        .submit_code(&code_page, &totp_code_for(app, citizen).await)
        .await;
    assert_eq!(response.status(), 303, "code accepted");
    let back = location(&response).expect("back to the client");
    (query_value(&back, "code").expect("code"), started)
}

/// Adds a passkey from the account page (the session must be a fresh Substantial login).
async fn register_passkey(app: &TestApp, authenticator: &mut WebauthnAuthenticator<SoftPasskey>) {
    let page = app.get_page("/account/passkey").await;
    let options: CreationChallengeResponse =
        serde_json::from_str(&options_json(&page)).expect("creation options");
    let credential = authenticator
        .do_registration(origin(app), options)
        .expect("the soft passkey registers");
    let response = app
        .client
        .post(format!("{}/account/passkey", app.address))
        .form(&[
            ("csrf", hidden_field(&page, "csrf")),
            ("challenge", hidden_field(&page, "challenge")),
            ("name", "Laptop".to_owned()),
            (
                "credential",
                serde_json::to_string(&credential).expect("JSON"),
            ),
        ])
        .send()
        .await
        .expect("register post");
    assert_eq!(response.status(), 303, "passkey added");
    assert_eq!(location(&response).as_deref(), Some("/account?enrolled=1"));
}

/// Answers the passkey page at `login_path` (a fresh challenge) and posts the answer, after
/// `tamper` has had its way with the JSON.
async fn answer_passkey_page(
    app: &TestApp,
    login_path: &str,
    authenticator: &mut WebauthnAuthenticator<SoftPasskey>,
    tamper: impl FnOnce(&mut serde_json::Value),
) -> reqwest::Response {
    let page = app.get_page(login_path).await;
    let options: RequestChallengeResponse =
        serde_json::from_str(&options_json(&page)).expect("request options");
    let credential = authenticator
        .do_authentication(origin(app), options)
        .expect("the soft passkey signs");
    let mut json = serde_json::to_value(&credential).expect("JSON");
    tamper(&mut json);
    post_passkey(app, &page, &json.to_string()).await
}

async fn post_passkey(app: &TestApp, page: &str, credential: &str) -> reqwest::Response {
    app.client
        .post(format!("{}/login/passkey", app.address))
        .form(&[
            ("request", hidden_field(page, "request")),
            ("csrf", hidden_field(page, "csrf")),
            ("credential", credential.to_owned()),
        ])
        .send()
        .await
        .expect("passkey post")
}

async fn claims_for(
    app: &TestApp,
    client: &TestClient,
    response: reqwest::Response,
    started: &Started,
) -> serde_json::Value {
    assert_eq!(response.status(), 303, "back to the client");
    let back = location(&response).expect("redirect");
    assert!(back.starts_with(REDIRECT), "{back}");
    let code = query_value(&back, "code").expect("code");
    let tokens = app
        .exchange_code(client, &code, &started.pkce.verifier)
        .await;
    assert_eq!(tokens.status(), 200);
    let body: serde_json::Value = tokens.json().await.expect("token JSON");
    jwt_claims(body["id_token"].as_str().expect("ID token"))
}

fn sorted_amr(claims: &serde_json::Value) -> Vec<String> {
    let mut amr: Vec<String> = claims["amr"]
        .as_array()
        .expect("amr")
        .iter()
        .map(|value| value.as_str().expect("string").to_owned())
        .collect();
    amr.sort_unstable();
    amr
}

/// A citizen proofed at High with an app and a passkey, logged in at Substantial.
pub(crate) async fn high_citizen_with_passkey(
    app: &TestApp,
) -> (
    citizen_registry::Citizen,
    TestClient,
    WebauthnAuthenticator<SoftPasskey>,
) {
    let citizen = app.add_citizen(CPR, USER_ID, PASSWORD, true).await;
    app.services
        .registry
        .set_ial(&citizen, AssuranceLevel::High, "test")
        .await
        .expect("IAL High");
    let client = app.add_basic_client("portal", REDIRECT).await;
    substantial_login(app, &client, &citizen).await;
    let mut authenticator = authenticator();
    register_passkey(app, &mut authenticator).await;
    (citizen, client, authenticator)
}

#[tokio::test]
async fn discovery_advertises_high() {
    let app = spawn_passkey_app().await;
    let document: serde_json::Value = app
        .client
        .get(format!("{}/.well-known/openid-configuration", app.address))
        .send()
        .await
        .expect("discovery")
        .json()
        .await
        .expect("JSON");
    assert_eq!(
        document["acr_values_supported"],
        serde_json::json!([
            "https://data.gov.dk/concept/core/nsis/loa/Low",
            SUBSTANTIAL,
            HIGH
        ])
    );
}

#[tokio::test]
async fn a_passkey_steps_a_substantial_session_up_to_high() {
    let app = spawn_passkey_app().await;
    let (_citizen, client, mut authenticator) = high_citizen_with_passkey(&app).await;
    assert_eq!(app.audit_count("credential.passkey_registered").await, 1);
    let account = app.get_page("/account").await;
    assert!(account.contains("<td>Laptop</td>"), "{account}");

    // The SSO session is at Substantial: a request for High asks only for the passkey.
    let started = app.authorize(&client, &[("acr_values", HIGH)]).await;
    assert_eq!(started.status, 303);
    let login = started.location.clone().expect("login page");
    let page = app.get_page(&login).await;
    assert!(page.contains("action=\"/login/passkey\""), "{page}");
    assert!(!page.contains("name=\"password\""), "no password again");
    assert!(page.contains("<script src=\"/assets/passkey.js\"></script>"));
    let response = answer_passkey_page(&app, &login, &mut authenticator, |_| {}).await;
    let claims = claims_for(&app, &client, response, &started).await;
    assert_eq!(claims["acr"], HIGH);
    assert_eq!(claims["loa"], "high");
    assert_eq!(claims["aal"], "high");
    assert_eq!(sorted_amr(&claims), ["hwk", "mfa", "otp", "pwd", "user"]);
    assert_eq!(
        app.audit_count("factor.succeeded").await,
        2,
        "otp, then hwk"
    );

    // The passkey is marked as used and its signature counter (the soft token counts up)
    // stored, so a cloned authenticator replaying an old counter is caught.
    let (last_used, stored): (Option<i64>, String) =
        sqlx::query_as("SELECT last_used_at, passkey FROM passkeys")
            .fetch_one(&app.services.pool)
            .await
            .expect("row");
    assert!(last_used.is_some());
    let stored: serde_json::Value = serde_json::from_str(&stored).expect("passkey JSON");
    assert!(
        stored["cred"]["counter"]
            .as_u64()
            .is_some_and(|counter| counter > 0),
        "{stored}"
    );
}

#[tokio::test]
async fn high_without_a_passkey_is_access_denied() {
    let app = spawn_passkey_app().await;
    let citizen = app.add_citizen(CPR, USER_ID, PASSWORD, true).await;
    app.services
        .registry
        .set_ial(&citizen, AssuranceLevel::High, "test")
        .await
        .expect("IAL High");
    let client = app.add_basic_client("portal", REDIRECT).await;
    let started = app.authorize(&client, &[("acr_values", HIGH)]).await;
    let login = started.location.clone().expect("login page");
    let response = app.submit_password(&login, USER_ID, PASSWORD).await;
    assert_eq!(
        response.status(),
        403,
        "the access_denied page, not a lower level"
    );
    let page = response.text().await.expect("page");
    assert!(
        page.contains("name=\"error\" value=\"access_denied\""),
        "{page}"
    );
}

#[tokio::test]
async fn a_new_login_for_high_asks_for_password_then_passkey() {
    let app = spawn_passkey_app().await;
    let (_citizen, client, mut authenticator) = high_citizen_with_passkey(&app).await;
    // A new browser (no session), same authenticator.
    let fresh = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let app = TestApp {
        client: fresh,
        ..app
    };
    let started = app.authorize(&client, &[("acr_values", HIGH)]).await;
    let login = started.location.clone().expect("login page");
    let response = app.submit_password(&login, USER_ID, PASSWORD).await;
    assert_eq!(response.status(), 303);
    assert_eq!(location(&response).as_deref(), Some(login.as_str()));
    let response = answer_passkey_page(&app, &login, &mut authenticator, |_| {}).await;
    let claims = claims_for(&app, &client, response, &started).await;
    assert_eq!(claims["acr"], HIGH);
    assert_eq!(sorted_amr(&claims), ["hwk", "mfa", "pwd", "user"]);
}

#[tokio::test]
async fn a_citizen_proofed_at_substantial_with_a_passkey_gets_substantial() {
    let app = spawn_passkey_app().await;
    let (citizen, client, mut authenticator) = high_citizen_with_passkey(&app).await;
    let started = app.authorize(&client, &[("acr_values", HIGH)]).await;
    let login = started.location.clone().expect("login page");
    let response = answer_passkey_page(&app, &login, &mut authenticator, |_| {}).await;
    claims_for(&app, &client, response, &started).await;

    // Identity proofing drops to Substantial: the passkey session (AAL High) gives Substantial.
    app.services
        .registry
        .set_ial(&citizen, AssuranceLevel::Substantial, "test")
        .await
        .expect("IAL Substantial");
    let started = app.authorize(&client, &[]).await;
    assert_eq!(started.status, 303);
    let back = started.location.clone().expect("redirect");
    assert!(
        back.starts_with(REDIRECT),
        "issued from the session: {back}"
    );
    let code = query_value(&back, "code").expect("code");
    let tokens = app
        .exchange_code(&client, &code, &started.pkce.verifier)
        .await;
    let body: serde_json::Value = tokens.json().await.expect("JSON");
    let claims = jwt_claims(body["id_token"].as_str().expect("ID token"));
    assert_eq!(claims["acr"], SUBSTANTIAL);
    assert_eq!(claims["ial"], "substantial");
    assert_eq!(claims["aal"], "high");

    // And High is refused, never answered lower.
    let started = app.authorize(&client, &[("acr_values", HIGH)]).await;
    assert_eq!(started.status, 403, "the access_denied page");
}

#[tokio::test]
async fn a_bad_signature_and_a_stale_challenge_are_refused() {
    let app = spawn_passkey_app().await;
    let (_citizen, client, mut authenticator) = high_citizen_with_passkey(&app).await;
    let started = app
        .authorize(&client, &[("acr_values", HIGH), ("ui_locales", "en")])
        .await;
    let login = started.location.clone().expect("login page");

    // A flipped byte in the signature.
    let response = answer_passkey_page(&app, &login, &mut authenticator, |json| {
        let signature = json["response"]["signature"]
            .as_str()
            .expect("signature")
            .to_owned();
        let mut bytes: Vec<char> = signature.chars().collect();
        bytes[10] = if bytes[10] == 'A' { 'B' } else { 'A' };
        json["response"]["signature"] = bytes.into_iter().collect::<String>().into();
    })
    .await;
    assert_eq!(response.status(), 200, "the passkey page again");
    let page = response.text().await.expect("page");
    assert!(
        page.contains("The passkey was not accepted. Try again."),
        "{page}"
    );
    assert_eq!(app.audit_count("factor.failed").await, 1);

    // An answer to an earlier challenge: the page was shown again since, with a new one.
    let first_page = app.get_page(&login).await;
    let stale: RequestChallengeResponse =
        serde_json::from_str(&options_json(&first_page)).expect("options");
    let _newer_page = app.get_page(&login).await;
    let credential = authenticator
        .do_authentication(origin(&app), stale)
        .expect("signs");
    let response = post_passkey(
        &app,
        &first_page,
        &serde_json::to_string(&credential).expect("JSON"),
    )
    .await;
    assert_eq!(response.status(), 200);
    let page = response.text().await.expect("page");
    assert!(page.contains("The passkey was not accepted. Try again."));
    assert_eq!(app.audit_count("factor.failed").await, 2);

    // Garbage is refused the same way, never a 5xx.
    let page = app.get_page(&login).await;
    let response = post_passkey(&app, &page, "{\"id\":1}").await;
    assert_eq!(response.status(), 200);

    // A good answer still works.
    let response = answer_passkey_page(&app, &login, &mut authenticator, |_| {}).await;
    let claims = claims_for(&app, &client, response, &started).await;
    assert_eq!(claims["acr"], HIGH);
}

#[tokio::test]
async fn adding_a_passkey_needs_a_fresh_substantial_login() {
    let app = spawn_passkey_app().await;
    let citizen = app.add_citizen(CPR, USER_ID, PASSWORD, true).await;
    let client = app.add_basic_client("portal", REDIRECT).await;
    // A Low session: the page asks for the password and the app's code first.
    let started = app
        .authorize(
            &client,
            &[(
                "acr_values",
                "https://data.gov.dk/concept/core/nsis/loa/Low",
            )],
        )
        .await;
    let login = started.location.clone().expect("login");
    let response = app.submit_password(&login, USER_ID, PASSWORD).await;
    assert_eq!(response.status(), 303);
    let page = app.get_page("/account/passkey").await;
    assert!(page.contains("action=\"/account/reauth\""), "{page}");
    assert!(
        page.contains("name=\"code\""),
        "the app's code is asked for"
    );
    assert!(!page.contains("passkey-options"));

    // A wrong code: the form again, with the error.
    let response = app
        .client
        .post(format!("{}/account/reauth", app.address))
        .form(&[
            ("csrf", hidden_field(&page, "csrf")),
            ("for", "passkey".to_owned()),
            ("password", PASSWORD.to_owned()),
            ("code", "000000".to_owned()),
        ])
        .send()
        .await
        .expect("reauth");
    assert_eq!(response.status(), 200);
    let failed = response.text().await.expect("page");
    assert!(failed.contains("role=\"alert\""), "{failed}");

    let response = app
        .client
        .post(format!("{}/account/reauth", app.address))
        .form(&[
            ("csrf", hidden_field(&page, "csrf")),
            ("for", "passkey".to_owned()),
            ("password", PASSWORD.to_owned()),
            ("code", totp_code_for(&app, &citizen).await),
        ])
        .send()
        .await
        .expect("reauth");
    assert_eq!(response.status(), 303);
    assert_eq!(location(&response).as_deref(), Some("/account/passkey"));
    let page = app.get_page("/account/passkey").await;
    assert!(page.contains("id=\"passkey-options\""));

    // Without a session at all: refused.
    let stranger = reqwest::Client::new();
    let response = stranger
        .get(format!("{}/account/passkey", app.address))
        .send()
        .await
        .expect("page");
    assert_eq!(response.status(), 403);
}

#[tokio::test]
async fn a_challenge_shown_by_one_node_is_checked_by_another() {
    let app = spawn_passkey_app().await;
    let (_citizen, client, mut authenticator) = high_citizen_with_passkey(&app).await;
    // A second node on the same database and issuer, as behind a load balancer.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a free port");
    let mut settings = app.settings.clone();
    settings.server.listen = listener.local_addr().expect("bound").to_string();
    let second = segl::Application::build_on(settings, listener)
        .await
        .expect("second node");
    let second_address = format!("http://{}", second.local_addr().expect("bound"));
    tokio::spawn(second.run_until(std::future::pending()));

    let started = app.authorize(&client, &[("acr_values", HIGH)]).await;
    let login = started.location.clone().expect("login page");
    // The challenge comes from the first node ...
    let page = app.get_page(&login).await;
    let options: RequestChallengeResponse =
        serde_json::from_str(&options_json(&page)).expect("request options");
    let credential = authenticator
        .do_authentication(origin(&app), options)
        .expect("the soft passkey signs");
    // ... and the answer goes to the second (cookies are per host, not per port).
    let response = app
        .client
        .post(format!("{second_address}/login/passkey"))
        .form(&[
            ("request", hidden_field(&page, "request")),
            ("csrf", hidden_field(&page, "csrf")),
            (
                "credential",
                serde_json::to_string(&credential).expect("JSON"),
            ),
        ])
        .send()
        .await
        .expect("passkey post");
    let claims = claims_for(&app, &client, response, &started).await;
    assert_eq!(claims["acr"], HIGH);
}
