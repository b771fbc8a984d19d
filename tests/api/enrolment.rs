//! Enrolling an authenticator app from the account page over HTTP: behind a fresh login, QR
//! code and secret shown, saved only once the first code confirms it, audited.

use crate::helpers::{
    hidden_field, jwt_claims, location, query_value, spawn_app, TestApp, SUBSTANTIAL,
};

const CPR: &str = "0101904521";
const USER_ID: &str = "anna";
const PASSWORD: &str = "correct horse battery staple";
const REDIRECT: &str = "https://portal.example.dk/callback";
const LOW: &str = "https://data.gov.dk/concept/core/nsis/loa/Low";

/// RFC 4648 base32 (no padding), as authenticator apps read the secret.
fn base32_decode(text: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut bits: u64 = 0;
    let mut count = 0;
    let mut out = Vec::new();
    for character in text.trim_end_matches('=').bytes() {
        let value = ALPHABET
            .iter()
            .position(|&letter| letter == character)
            .expect("base32 letter") as u64;
        bits = (bits << 5) | value;
        count += 5;
        if count >= 8 {
            count -= 8;
            out.push((bits >> count) as u8);
        }
    }
    out
}

/// The text between two markers, with minijinja's HTML escapes undone.
fn between(page: &str, start: &str, end: &str) -> String {
    let from = page
        .find(start)
        .unwrap_or_else(|| panic!("{start} in page"))
        + start.len();
    let to = page[from..].find(end).expect("end marker") + from;
    unescape(&page[from..to])
}

fn unescape(text: &str) -> String {
    text.replace("&#x2f;", "/")
        .replace("&quot;", "\"")
        .replace("&#x27;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// A password-only (Low) login in the app's browser.
async fn low_login(app: &TestApp) {
    let client = app.add_basic_client("portal", REDIRECT).await;
    let started = app.authorize(&client, &[("acr_values", LOW)]).await;
    let login = started.location.clone().expect("login page");
    let response = app.submit_password(&login, USER_ID, PASSWORD).await;
    assert_eq!(response.status(), 303, "password accepted");
}

async fn post_code(app: &TestApp, page: &str, code: &str) -> reqwest::Response {
    app.client
        .post(format!("{}/account/totp", app.address))
        .form(&[
            ("csrf", hidden_field(page, "csrf")),
            ("enrolment", unescape(&hidden_field(page, "enrolment"))),
            ("code", code.to_owned()),
        ])
        .send()
        .await
        .expect("confirm post")
}

#[tokio::test]
async fn an_authenticator_app_is_enrolled_after_its_first_code() {
    let app = spawn_app().await;
    app.add_citizen(CPR, USER_ID, PASSWORD, false).await;
    low_login(&app).await;

    let page = app.get_page("/account/totp").await;
    assert!(
        page.contains("src=\"data:image/svg+xml;base64,"),
        "a QR code"
    );
    let secret = between(&page, "<code id=\"totp-secret\">", "</code>");
    let uri = between(&page, "<code id=\"otpauth-uri\">", "</code>");
    assert!(uri.starts_with("otpauth://totp/Segl:anna?secret="), "{uri}");
    assert!(uri.contains(&secret));
    // Nothing is stored before the first code.
    assert_eq!(app.audit_count("credential.totp_enrolled").await, 0);
    let (stored,): (Option<String>,) = sqlx::query_as("SELECT totp_secret FROM citizens")
        .fetch_one(&app.services.pool)
        .await
        .expect("row");
    assert_eq!(stored, None);

    let response = post_code(&app, &page, "000000").await;
    assert_eq!(response.status(), 200, "the form again");
    let again = response.text().await.expect("page");
    assert!(again.contains("role=\"alert\""), "{again}");
    assert_eq!(app.audit_count("credential.totp_enrolled").await, 0);

    let confirming_code =
        citizen_registry::totp::code_at(&base32_decode(&secret), now()).expect("code");
    let response = post_code(&app, &again, &confirming_code).await;
    assert_eq!(response.status(), 303);
    assert_eq!(location(&response).as_deref(), Some("/account?enrolled=1"));
    assert_eq!(app.audit_count("credential.totp_enrolled").await, 1);
    let account = app.get_page("/account?enrolled=1").await;
    assert!(
        account.contains("Kodeviser-app: tilknyttet.")
            || account.contains("Authenticator app: enrolled."),
        "{account}"
    );

    // A Substantial login in a new browser now works with the app.
    let browser = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let app = TestApp {
        client: browser,
        ..app
    };
    let client = app.add_basic_client("portal-2", REDIRECT).await;
    let started = app.authorize(&client, &[]).await;
    let login = started.location.clone().expect("login page");
    let response = app.submit_password(&login, USER_ID, PASSWORD).await;
    assert_eq!(response.status(), 303);
    let code_page = location(&response).expect("code page");
    // The confirming code's step counts as used: that code is a replay now.
    let response = app.submit_code(&code_page, &confirming_code).await;
    assert_eq!(response.status(), 200, "a replayed code is refused");
    // The next step's code (within the ±1 step window) is accepted.
    let next = citizen_registry::totp::code_at(&base32_decode(&secret), now() + 30).expect("code");
    let response = app.submit_code(&code_page, &next).await;
    assert_eq!(response.status(), 303, "code accepted");
    let back = location(&response).expect("back");
    let code = query_value(&back, "code").expect("code");
    let tokens = app
        .exchange_code(&client, &code, &started.pkce.verifier)
        .await;
    assert_eq!(tokens.status(), 200);
    let body: serde_json::Value = tokens.json().await.expect("JSON");
    let claims = jwt_claims(body["id_token"].as_str().expect("ID token"));
    assert_eq!(claims["acr"], SUBSTANTIAL);
}

#[tokio::test]
async fn enrolment_without_a_fresh_login_asks_for_the_password_again() {
    let app = spawn_app().await;
    app.add_citizen(CPR, USER_ID, PASSWORD, false).await;

    // No session: refused.
    let response = app
        .client
        .get(format!("{}/account/totp", app.address))
        .send()
        .await
        .expect("page");
    assert_eq!(response.status(), 403);

    low_login(&app).await;
    // Twenty minutes later the login is no longer fresh (5 minutes to show the form, 15 to
    // accept it).
    sqlx::query("UPDATE sso_sessions SET auth_time = auth_time - 1200")
        .execute(&app.services.pool)
        .await
        .expect("age the session");
    let page = app.get_page("/account/totp").await;
    assert!(page.contains("action=\"/account/reauth\""), "{page}");
    assert!(
        !page.contains("totp-secret"),
        "no secret before the fresh login"
    );
    assert!(
        !page.contains("name=\"code\""),
        "a password is enough for an app"
    );

    // A confirmation posted with a stale login is refused too.
    let response = app
        .client
        .post(format!("{}/account/totp", app.address))
        .form(&[
            ("csrf", hidden_field(&page, "csrf")),
            ("enrolment", "forged".to_owned()),
            ("code", "123456".to_owned()),
        ])
        .send()
        .await
        .expect("post");
    assert_eq!(response.status(), 200);
    let text = response.text().await.expect("page");
    assert!(text.contains("action=\"/account/reauth\""));

    // A wrong password: the form again.
    let response = app
        .client
        .post(format!("{}/account/reauth", app.address))
        .form(&[
            ("csrf", hidden_field(&page, "csrf")),
            ("for", "totp".to_owned()),
            ("password", "wrong password".to_owned()),
        ])
        .send()
        .await
        .expect("reauth");
    assert_eq!(response.status(), 200);

    let response = app
        .client
        .post(format!("{}/account/reauth", app.address))
        .form(&[
            ("csrf", hidden_field(&page, "csrf")),
            ("for", "totp".to_owned()),
            ("password", PASSWORD.to_owned()),
        ])
        .send()
        .await
        .expect("reauth");
    assert_eq!(response.status(), 303);
    assert_eq!(location(&response).as_deref(), Some("/account/totp"));
    let page = app.get_page("/account/totp").await;
    assert!(page.contains("totp-secret"));

    // A forged enrolment field is refused with a page, not a 5xx.
    let response = app
        .client
        .post(format!("{}/account/totp", app.address))
        .form(&[
            ("csrf", hidden_field(&page, "csrf")),
            ("enrolment", "forged".to_owned()),
            ("code", "123456".to_owned()),
        ])
        .send()
        .await
        .expect("post");
    assert_eq!(response.status(), 400);
    assert_eq!(app.audit_count("credential.totp_enrolled").await, 0);
}

#[tokio::test]
async fn replacing_an_authenticator_app_needs_the_current_one() {
    let app = spawn_app().await;
    app.add_citizen(CPR, USER_ID, PASSWORD, true).await;
    // A fresh password login is not enough to replace the app that guards Substantial.
    low_login(&app).await;
    let page = app.get_page("/account/totp").await;
    assert!(page.contains("action=\"/account/reauth\""), "{page}");
    assert!(page.contains("name=\"code\""), "the current app's code");
    assert!(!page.contains("totp-secret"));
}
