//! Automated accessibility checks: axe-core (pinned in tests/browser/package.json) in headless
//! Chromium on the login page, the one-time code page and the passkey page, in Danish and
//! English, and on the account and enrolment pages, at WCAG 2.1 A and AA. Skipped without
//! chromedriver unless CI is set.
#![allow(clippy::expect_used)]

use crate::browser::{find_on_path, ChromeDriver};
use crate::helpers::TestApp;
use crate::passkey::{high_citizen_with_passkey, spawn_passkey_app, HIGH, PASSWORD, USER_ID};
use fantoccini::{Client, Locator};
use std::path::{Path, PathBuf};
use std::time::Duration;

const PAGE_WAIT: Duration = Duration::from_secs(20);
const LOW: &str = "https://data.gov.dk/concept/core/nsis/loa/Low";

/// tests/browser/node_modules/axe-core/axe.min.js, installed with `npm ci` when missing.
fn axe_source() -> String {
    let folder = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser");
    let script: PathBuf = folder.join("node_modules/axe-core/axe.min.js");
    if !script.is_file() {
        let status = std::process::Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(&folder)
            .status()
            .expect("npm runs (install Node.js and npm)");
        assert!(status.success(), "npm ci in tests/browser failed");
    }
    std::fs::read_to_string(&script).expect("axe.min.js")
}

/// Runs axe on the current page; returns the violations (id, impact, help, targets).
async fn violations(client: &Client, axe: &str) -> Vec<serde_json::Value> {
    client.execute(axe, vec![]).await.expect("axe injected");
    let result = client
        .execute_async(
            "const done = arguments[arguments.length - 1];
             axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] } })
               .then(result => done(JSON.stringify({
                   passes: result.passes.length,
                   violations: result.violations.map(v => ({
                       id: v.id, impact: v.impact, help: v.help,
                       targets: v.nodes.map(n => n.target.join(' ')) })) })))
               .catch(error => done(JSON.stringify({ passes: 0, violations: [{ id: 'axe-error', help: String(error) }] })));",
            vec![],
        )
        .await
        .expect("axe ran");
    let report: serde_json::Value =
        serde_json::from_str(result.as_str().expect("a JSON string")).expect("axe JSON");
    // axe really ran its WCAG rules on the page (not an empty document).
    assert!(
        report["passes"].as_u64().is_some_and(|passes| passes > 0),
        "axe checked nothing: {report}"
    );
    report["violations"].as_array().expect("violations").clone()
}

fn authorize_url(app: &TestApp, client_id: &str, acr: Option<&str>, language: &str) -> String {
    let mut params = vec![
        ("response_type", "code"),
        ("client_id", client_id),
        ("redirect_uri", "https://portal.example.dk/callback"),
        ("scope", "openid"),
        ("state", "state-value-for-axe"),
        ("nonce", "nonce-value-for-axe"),
        (
            "code_challenge",
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
        ),
        ("code_challenge_method", "S256"),
        ("ui_locales", language),
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

async fn log_in_with_password(client: &Client, user_id: &str) {
    wait_for(client, "input#user_id")
        .await
        .send_keys(user_id)
        .await
        .expect("type user ID");
    wait_for(client, "input#password")
        .await
        .send_keys(PASSWORD)
        .await
        .expect("type password");
    wait_for(client, r#"form[action="/login"] > button[type="submit"]"#)
        .await
        .click()
        .await
        .expect("submit");
}

#[tokio::test]
async fn login_code_and_passkey_pages_pass_axe_in_danish_and_english() {
    let Some(chromedriver) = find_on_path("chromedriver") else {
        if std::env::var_os("CI").is_some() {
            panic!("accessibility test: chromedriver is not on PATH; CI must install it");
        }
        println!("accessibility test skipped: chromedriver not installed");
        return;
    };
    let axe = axe_source();
    let app = spawn_passkey_app().await;
    let (_citizen, portal, _authenticator) = high_citizen_with_passkey(&app).await;
    let driver = ChromeDriver::start(&chromedriver).await;
    let mut report = Vec::new();
    for language in ["da", "en"] {
        let client = driver.connect().await;

        // The password page.
        client
            .goto(&authorize_url(&app, &portal.id, None, language))
            .await
            .expect("open the login page");
        wait_for(&client, "input#user_id").await;
        let html_lang = wait_for(&client, "html")
            .await
            .attr("lang")
            .await
            .expect("lang");
        assert_eq!(html_lang.as_deref(), Some(language));
        report.push((
            format!("login page ({language})"),
            violations(&client, &axe).await,
        ));

        // The one-time code page (Substantial).
        log_in_with_password(&client, USER_ID).await;
        wait_for(&client, "input#code").await;
        report.push((
            format!("code page ({language})"),
            violations(&client, &axe).await,
        ));

        // The passkey page (High), in a fresh browser session.
        client.close().await.expect("close");
        let client = driver.connect().await;
        client
            .goto(&authorize_url(&app, &portal.id, Some(HIGH), language))
            .await
            .expect("open the login page");
        log_in_with_password(&client, USER_ID).await;
        wait_for(&client, r#"form[action="/login/passkey"] button"#).await;
        report.push((
            format!("passkey page ({language})"),
            violations(&client, &axe).await,
        ));
        client.close().await.expect("close");
    }

    // The account pages (in the browser's language, English): after a password login by a
    // citizen without an app, the account page and the pages an app and a passkey show
    // without an app; then, with an app an administrator enrolled, the fresh-login form
    // (password and code) and, after it, the authenticator-app form (QR code).
    let citizen = app
        .add_citizen("0707614285", "bohansen", PASSWORD, false)
        .await;
    let client = driver.connect().await;
    client
        .goto(&authorize_url(&app, &portal.id, Some(LOW), "en"))
        .await
        .expect("open the login page");
    log_in_with_password(&client, "bohansen").await;
    // The portal's callback does not exist; the session cookie is set all the same.
    let deadline = std::time::Instant::now() + PAGE_WAIT;
    while client
        .current_url()
        .await
        .is_ok_and(|url| url.host_str() == Some("localhost"))
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the password login did not finish"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let issuer = app.settings.server.issuer.clone();
    for (path, marker) in [
        ("/account", "main h2"),
        ("/account/totp", "main h1"),
        ("/account/passkey", "main h1"),
    ] {
        client
            .goto(&format!("{issuer}{path}"))
            .await
            .expect("open the page");
        wait_for(&client, marker).await;
        report.push((format!("{path} (en)"), violations(&client, &axe).await));
    }
    app.services
        .registry
        .enroll_totp(&citizen, "administrator")
        .await
        .expect("app enrolled");
    client
        .goto(&format!("{issuer}/account/totp"))
        .await
        .expect("open the page");
    wait_for(&client, r#"form[action="/account/reauth"] input#code"#).await;
    report.push((
        "/account/totp fresh login (en)".to_owned(),
        violations(&client, &axe).await,
    ));
    wait_for(&client, "input#password")
        .await
        .send_keys(PASSWORD)
        .await
        .expect("type password");
    let code = app
        .services
        .registry
        .current_totp_code(citizen.id)
        .await
        .expect("code");
    wait_for(&client, "input#code")
        .await
        .send_keys(&code)
        .await
        .expect("type code");
    wait_for(
        &client,
        r#"form[action="/account/reauth"] > button[type="submit"]"#,
    )
    .await
    .click()
    .await
    .expect("submit");
    wait_for(&client, "img.qr").await;
    report.push((
        "/account/totp QR code (en)".to_owned(),
        violations(&client, &axe).await,
    ));
    client.close().await.expect("close");

    let failures: Vec<String> = report
        .iter()
        .filter(|(_, violations)| !violations.is_empty())
        .map(|(page, violations)| {
            format!("{page}: {}", serde_json::Value::from(violations.clone()))
        })
        .collect();
    assert!(
        failures.is_empty(),
        "axe violations:\n{}",
        failures.join("\n")
    );
    assert_eq!(report.len(), 11, "eleven pages checked");
}
