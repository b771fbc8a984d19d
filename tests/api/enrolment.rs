//! Enrolling an authenticator app from the account page over HTTP: only replacing an app an
//! administrator enrolled, behind a fresh Substantial login (password and the current app);
//! QR code and secret shown, saved only once the first code confirms it, audited. A citizen
//! with a password alone is sent to an administrator.

use crate::helpers::{
    hidden_field, jwt_claims, location, query_value, spawn_app, TestApp, TestClient, SUBSTANTIAL,
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

/// A Substantial login (password and `code`) at `client` in the app's browser; returns the
/// response to the code form.
async fn substantial_login(app: &TestApp, client: &TestClient, code: &str) -> reqwest::Response {
    let started = app.authorize(client, &[]).await;
    let login = started.location.clone().expect("login page");
    let response = app.submit_password(&login, USER_ID, PASSWORD).await;
    assert_eq!(response.status(), 303, "password accepted");
    let code_page = location(&response).expect("code page");
    app.submit_code(&code_page, code).await
}

fn code_of(secret_base32: &str, at: i64) -> String {
    citizen_registry::totp::code_at(&base32_decode(secret_base32), at).expect("code")
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

async fn stored_secret(app: &TestApp) -> Option<String> {
    let (stored,): (Option<String>,) = sqlx::query_as("SELECT totp_secret FROM citizens")
        .fetch_one(&app.services.pool)
        .await
        .expect("row");
    stored
}

#[tokio::test]
async fn a_new_authenticator_app_replaces_the_old_one_after_a_fresh_substantial_login() {
    let app = spawn_app().await;
    let citizen = app.add_citizen(CPR, USER_ID, PASSWORD, false).await;
    // The first app, enrolled by an administrator (as `segl citizen totp enroll` does).
    let old_app = app
        .services
        .registry
        .enroll_totp(&citizen, "administrator")
        .await
        .expect("first app");
    let old_secret = old_app.secret_base32;
    assert_eq!(app.audit_count("credential.totp_enrolled").await, 1);

    let portal = app.add_basic_client("portal", REDIRECT).await;
    let response = substantial_login(&app, &portal, &code_of(&old_secret, now())).await;
    assert_eq!(response.status(), 303, "the old app's code accepted");

    let page = app.get_page("/account").await;
    assert!(page.contains("href=\"/account/totp\""), "{page}");
    let page = app.get_page("/account/totp").await;
    assert!(
        page.contains("src=\"data:image/svg+xml;base64,"),
        "a QR code"
    );
    let secret = between(&page, "<code id=\"totp-secret\">", "</code>");
    let uri = between(&page, "<code id=\"otpauth-uri\">", "</code>");
    assert!(uri.starts_with("otpauth://totp/Segl:anna?secret="), "{uri}");
    assert!(uri.contains(&secret));
    assert_ne!(secret, old_secret);
    // Nothing is stored before the first code: the old app stays.
    let old_stored = stored_secret(&app).await;
    assert!(old_stored.is_some());
    assert_eq!(app.audit_count("credential.totp_enrolled").await, 1);

    let response = post_code(&app, &page, "000000").await;
    assert_eq!(response.status(), 200, "the form again");
    let again = response.text().await.expect("page");
    assert!(again.contains("role=\"alert\""), "{again}");
    assert_eq!(app.audit_count("credential.totp_enrolled").await, 1);
    assert_eq!(stored_secret(&app).await, old_stored);

    let confirming_code = code_of(&secret, now());
    let response = post_code(&app, &again, &confirming_code).await;
    assert_eq!(response.status(), 303);
    assert_eq!(location(&response).as_deref(), Some("/account?enrolled=1"));
    assert_eq!(app.audit_count("credential.totp_enrolled").await, 2);
    assert_ne!(stored_secret(&app).await, old_stored);
    let account = app.get_page("/account?enrolled=1").await;
    assert!(
        account.contains("Kodeviser-app: tilknyttet.")
            || account.contains("Authenticator app: enrolled."),
        "{account}"
    );

    // A Substantial login in a new browser now works with the new app, not the old one.
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
    // The old app's next code (unused, within the ±1 step window) is refused.
    let response = app
        .submit_code(&code_page, &code_of(&old_secret, now() + 30))
        .await;
    assert_eq!(response.status(), 200, "the old app no longer works");
    // The confirming code's step counts as used: that code is a replay now.
    let response = app.submit_code(&code_page, &confirming_code).await;
    assert_eq!(response.status(), 200, "a replayed code is refused");
    // The next step's code is accepted.
    let response = app
        .submit_code(&code_page, &code_of(&secret, now() + 30))
        .await;
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
async fn a_citizen_with_a_password_alone_is_sent_to_an_administrator() {
    // On a domain name, so that passkeys are on and the passkey page says why not yet.
    let app = crate::passkey::spawn_passkey_app().await;
    app.add_citizen(CPR, USER_ID, PASSWORD, false).await;
    low_login(&app).await;

    // The account page offers no enrolment, and says who enrols the first app.
    let account = app.get_page("/account").await;
    assert!(!account.contains("href=\"/account/totp\""), "{account}");
    assert!(
        account.contains("administrator"),
        "the administrator text: {account}"
    );

    for language in ["en", "da"] {
        let response = app
            .client
            .get(format!("{}/account/totp", app.address))
            .header("Accept-Language", language)
            .send()
            .await
            .expect("page");
        assert_eq!(response.status(), 403);
        let page = response.text().await.expect("page");
        let expected = if language == "en" {
            "Your first authenticator app is enrolled by an administrator"
        } else {
            "Din første kodeviser-app tilknyttes af en administrator"
        };
        assert!(page.contains(expected), "{page}");
        assert!(!page.contains("totp-secret"), "no secret");
        assert!(!page.contains("action=\"/account/reauth\""), "no form");
    }

    // A confirmation or a fresh login posted anyway is refused the same way.
    let csrf = hidden_field(&account, "csrf");
    let response = app
        .client
        .post(format!("{}/account/reauth", app.address))
        .header("Accept-Language", "en")
        .form(&[
            ("csrf", csrf.clone()),
            ("for", "totp".to_owned()),
            ("password", PASSWORD.to_owned()),
            ("code", "123456".to_owned()),
        ])
        .send()
        .await
        .expect("reauth");
    assert_eq!(response.status(), 403);
    let page = response.text().await.expect("page");
    assert!(page.contains("enrolled by an administrator"), "{page}");
    let response = app
        .client
        .post(format!("{}/account/totp", app.address))
        .form(&[
            ("csrf", csrf),
            ("enrolment", "forged".to_owned()),
            ("code", "123456".to_owned()),
        ])
        .send()
        .await
        .expect("confirm");
    assert_eq!(response.status(), 403);

    // A passkey explains that it needs the app first.
    let response = app
        .client
        .get(format!("{}/account/passkey", app.address))
        .header("Accept-Language", "en")
        .send()
        .await
        .expect("page");
    assert_eq!(response.status(), 403);
    let page = response.text().await.expect("page");
    assert!(
        page.contains("Adding a passkey needs a fresh login at level Substantial"),
        "{page}"
    );

    // Nothing stored, nothing audited.
    assert_eq!(stored_secret(&app).await, None);
    assert_eq!(app.audit_count("credential.totp_enrolled").await, 0);
    // The posted fresh login was not even checked: no password or code event beyond the
    // first login's.
    assert_eq!(
        app.audit_count("login.succeeded").await,
        1,
        "the login only"
    );
    assert_eq!(app.audit_count("login.failed").await, 0);
    assert_eq!(app.audit_count("factor.succeeded").await, 0);
    assert_eq!(app.audit_count("factor.failed").await, 0);
}

#[tokio::test]
async fn enrolment_without_a_fresh_login_asks_for_the_password_and_code_again() {
    let app = spawn_app().await;
    let citizen = app.add_citizen(CPR, USER_ID, PASSWORD, true).await;

    // No session: refused.
    let response = app
        .client
        .get(format!("{}/account/totp", app.address))
        .send()
        .await
        .expect("page");
    assert_eq!(response.status(), 403);

    low_login(&app).await;
    // A fresh password login is not enough to replace the app that guards Substantial.
    let page = app.get_page("/account/totp").await;
    assert!(page.contains("action=\"/account/reauth\""), "{page}");
    assert!(page.contains("name=\"code\""), "the current app's code");
    assert!(!page.contains("totp-secret"));
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
    assert!(page.contains("name=\"code\""), "the current app's code");

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

    let code = app
        .services
        .registry
        .current_totp_code(citizen.id)
        .await
        .expect("code");
    let reauth = |password: &str, code: &str| {
        app.client
            .post(format!("{}/account/reauth", app.address))
            .form(&[
                ("csrf", hidden_field(&page, "csrf")),
                ("for", "totp".to_owned()),
                ("password", password.to_owned()),
                ("code", code.to_owned()),
            ])
            .send()
    };
    // A wrong password, or the right password alone: the form again.
    let response = reauth("wrong password", &code).await.expect("reauth");
    assert_eq!(response.status(), 200);
    let response = reauth(PASSWORD, "").await.expect("reauth");
    assert_eq!(response.status(), 200);

    let response = reauth(PASSWORD, &code).await.expect("reauth");
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
    assert_eq!(
        app.audit_count("credential.totp_enrolled").await,
        1,
        "the administrator's only"
    );
}
