//! The passkey JavaScript (crates/oidc-provider/assets/passkey.js) in a real browser: headless
//! Chromium with ChromeDriver's virtual authenticator (W3C WebAuthn Level 2 §11) adds a passkey
//! from /account (navigator.credentials.create), then logs in at High with the password and
//! the passkey (navigator.credentials.get). Skipped without chromedriver unless CI is set.
#![allow(clippy::expect_used)]

use crate::browser::{find_on_path, ChromeDriver};
use crate::helpers::{jwt_claims, query_value, Pkce, TestApp};
use crate::passkey::{spawn_passkey_app, HIGH, PASSWORD, USER_ID};
use axum::http::Method;
use citizen_registry::AssuranceLevel;
use fantoccini::wd::WebDriverCompatibleCommand;
use fantoccini::{Client, Locator};
use std::time::{Duration, Instant};

const PAGE_WAIT: Duration = Duration::from_secs(20);
const CPR: &str = "0101904521";
const REDIRECT: &str = "https://portal.example.dk/callback";

/// WebAuthn Level 2 §11.3 "Add Virtual Authenticator": a platform authenticator that keeps
/// resident keys and verifies its user (as a PIN or fingerprint would).
#[derive(Debug)]
struct AddVirtualAuthenticator;

impl WebDriverCompatibleCommand for AddVirtualAuthenticator {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/webauthn/authenticator",
            session_id.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _request_url: &url::Url) -> (Method, Option<String>) {
        let body = serde_json::json!({
            "protocol": "ctap2",
            "transport": "internal",
            "hasResidentKey": true,
            "hasUserVerification": true,
            "isUserVerified": true,
        });
        (Method::POST, Some(body.to_string()))
    }
}

fn authorize_url(app: &TestApp, client_id: &str, acr: Option<&str>, pkce: &Pkce) -> String {
    let mut params = vec![
        ("response_type", "code"),
        ("client_id", client_id),
        ("redirect_uri", REDIRECT),
        ("scope", "openid"),
        ("state", "state-value-for-the-passkey-test"),
        ("nonce", "nonce-value-for-the-passkey-test"),
        ("code_challenge", pkce.challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    if let Some(acr) = acr {
        params.push(("acr_values", acr));
    }
    url::Url::parse_with_params(
        &format!("{}/authorize", app.settings.server.issuer),
        &params,
    )
    .expect("URL")
    .to_string()
}

async fn wait_for(client: &Client, css: &str) -> fantoccini::elements::Element {
    client
        .wait()
        .at_most(PAGE_WAIT)
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|error| panic!("no `{css}` on the page: {error}"))
}

async fn type_into(client: &Client, css: &str, text: &str) {
    wait_for(client, css)
        .await
        .send_keys(text)
        .await
        .unwrap_or_else(|error| panic!("cannot type into `{css}`: {error}"));
}

async fn click(client: &Client, css: &str) {
    wait_for(client, css)
        .await
        .click()
        .await
        .unwrap_or_else(|error| panic!("cannot click `{css}`: {error}"));
}

/// Waits until the browser is sent to the client's redirect URI (which does not exist) and
/// returns that URL.
async fn wait_for_callback(client: &Client) -> url::Url {
    let deadline = Instant::now() + PAGE_WAIT;
    loop {
        if let Ok(url) = client.current_url().await {
            if url.as_str().starts_with(REDIRECT) {
                return url;
            }
        }
        assert!(
            Instant::now() < deadline,
            "the login did not reach the client: {:?}",
            client.current_url().await
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn wait_for_path(client: &Client, path_and_query: &str) {
    let deadline = Instant::now() + PAGE_WAIT;
    loop {
        if let Ok(url) = client.current_url().await {
            let here = format!("{}?{}", url.path(), url.query().unwrap_or_default());
            if here == path_and_query {
                return;
            }
        }
        assert!(
            Instant::now() < deadline,
            "not at {path_and_query}: {:?}",
            client.current_url().await
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_passkey_is_added_and_used_for_high_in_a_real_browser() {
    let Some(chromedriver) = find_on_path("chromedriver") else {
        if std::env::var_os("CI").is_some() {
            panic!("passkey browser test: chromedriver is not on PATH; CI must install it");
        }
        println!("passkey browser test skipped: chromedriver not installed");
        return;
    };
    let app = spawn_passkey_app().await;
    let citizen = app.add_citizen(CPR, USER_ID, PASSWORD, true).await;
    app.services
        .registry
        .set_ial(&citizen, AssuranceLevel::High, "test")
        .await
        .expect("IAL High");
    let portal = app.add_basic_client("portal", REDIRECT).await;
    let issuer = app.settings.server.issuer.clone();

    let driver = ChromeDriver::start(&chromedriver).await;
    let client = driver.connect().await;
    client
        .issue_cmd(AddVirtualAuthenticator)
        .await
        .expect("a virtual authenticator");

    // A Substantial login: password and the app's code.
    client
        .goto(&authorize_url(&app, &portal.id, None, &Pkce::new()))
        .await
        .expect("open the login page");
    type_into(&client, "input#user_id", USER_ID).await;
    type_into(&client, "input#password", PASSWORD).await;
    click(&client, r#"form[action="/login"] > button[type="submit"]"#).await;
    let code = app
        .services
        .registry
        .current_totp_code(citizen.id)
        .await
        .expect("code");
    type_into(&client, "input#code", &code).await;
    click(
        &client,
        r#"form[action="/login/code"] > button[type="submit"]"#,
    )
    .await;
    wait_for_callback(&client).await;

    // Adding a passkey: the page's script calls navigator.credentials.create.
    client
        .goto(&format!("{issuer}/account/passkey"))
        .await
        .expect("open the passkey form");
    type_into(&client, "input#name", "Virtual key").await;
    click(
        &client,
        r#"form[data-passkey="create"] > button[type="submit"]"#,
    )
    .await;
    wait_for_path(&client, "/account?enrolled=1").await;
    let account = client.source().await.expect("page source");
    assert!(account.contains("<td>Virtual key</td>"), "{account}");
    assert_eq!(app.audit_count("credential.passkey_registered").await, 1);

    // A new login at High (the SSO session forgotten): the password, then the passkey page's
    // script calls navigator.credentials.get.
    client
        .delete_all_cookies()
        .await
        .expect("forget the session");
    let pkce = Pkce::new();
    client
        .goto(&authorize_url(&app, &portal.id, Some(HIGH), &pkce))
        .await
        .expect("open the login page");
    type_into(&client, "input#user_id", USER_ID).await;
    type_into(&client, "input#password", PASSWORD).await;
    click(&client, r#"form[action="/login"] > button[type="submit"]"#).await;
    click(
        &client,
        r#"form[data-passkey="get"] > button[type="submit"]"#,
    )
    .await;
    let callback = wait_for_callback(&client).await;
    client.close().await.expect("close");

    let code = query_value(callback.as_str(), "code").expect("a code for the client");
    let tokens = app.exchange_code(&portal, &code, &pkce.verifier).await;
    assert_eq!(tokens.status(), 200);
    let body: serde_json::Value = tokens.json().await.expect("JSON");
    let claims = jwt_claims(body["id_token"].as_str().expect("ID token"));
    assert_eq!(claims["acr"], HIGH);
    assert_eq!(app.audit_count("credential.passkey_registered").await, 1);
}
