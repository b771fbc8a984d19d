//! Professional identities (docs/NEMLOGIN.md section 3): organisations by CVR number, employments
//! with a persistent professional UUID, the choice of organisation, and the CLI's errors.

use crate::claims::{add_client_with, login, tokens_for_code, PASSWORD, USER_ID};
use crate::helpers::{hidden_field, location, query_value, spawn_app, TestApp, CPR, LOW};

const PROFESSIONAL: &str = "https://data.gov.dk/eid/Professional";
const CVR_ONE: &str = "12345674";
const CVR_TWO: &str = "11111114";

/// The `value`s of the radio buttons on a choice page.
pub(crate) fn choice_values(page: &str) -> Vec<String> {
    let marker = "name=\"choice\" value=\"";
    page.match_indices(marker)
        .map(|(start, _)| {
            let rest = &page[start + marker.len()..];
            rest[..rest.find('"').expect("closing quote")].to_owned()
        })
        .collect()
}

/// Posts the choice form of the page at `path`.
pub(crate) async fn choose(app: &TestApp, page: &str, value: &str) -> reqwest::Response {
    app.client
        .post(format!("{}/login/choose", app.address))
        .form(&[
            ("request", hidden_field(page, "request")),
            ("csrf", hidden_field(page, "csrf")),
            ("choice", value.to_owned()),
        ])
        .send()
        .await
        .expect("choice post")
}

async fn add_org(app: &TestApp, cvr: &str, name: &str) {
    let output = app
        .segl(&["org", "add", "--cvr", cvr, "--name", name])
        .await;
    assert!(output.success, "{}", output.stderr);
    assert_eq!(
        output.stdout.trim(),
        format!("added organisation {name} (CVR {cvr})")
    );
}

/// `segl citizen employ`; returns the professional UUID it printed.
async fn employ(app: &TestApp, cvr: &str, extra: &[&str]) -> String {
    let mut args = vec!["citizen", "employ", USER_ID, "--cvr", cvr];
    args.extend_from_slice(extra);
    let output = app.segl(&args).await;
    assert!(output.success, "{}", output.stderr);
    output
        .stdout
        .trim()
        .rsplit(' ')
        .next()
        .expect("professional UUID")
        .to_owned()
}

async fn professional_client(app: &TestApp) -> crate::helpers::TestClient {
    add_client_with(
        app,
        "erhverv",
        "http://localhost:9001/cb",
        "profile nemlogin professional",
        |_| {},
    )
    .await
}

fn professional_acr() -> String {
    format!("{LOW} {PROFESSIONAL}")
}

#[tokio::test]
async fn a_professional_login_yields_cvr_org_name_and_pro_uuid() {
    let app = spawn_app().await;
    app.add_citizen(CPR, USER_ID, PASSWORD, false).await;
    add_org(&app, CVR_ONE, "Demo ApS").await;
    let pro_uuid = employ(&app, CVR_ONE, &["--authorized-to-represent"]).await;
    let client = professional_client(&app).await;
    let acr = professional_acr();
    let tokens = login(
        &app,
        &client,
        &[("scope", "openid nemlogin"), ("acr_values", acr.as_str())],
    )
    .await;
    assert_eq!(tokens.id_token["identity_type"], "professional");
    assert_eq!(tokens.id_token["cvr"], CVR_ONE);
    assert_eq!(tokens.id_token["org_name"], "Demo ApS");
    assert_eq!(tokens.id_token["pro_uuid"], pro_uuid.as_str());
    assert_eq!(
        tokens.id_token["authorized_to_represent"],
        serde_json::json!([CVR_ONE])
    );
    assert_eq!(
        tokens.id_token["loa"], "low",
        "the level is read beside the identity type"
    );
    let (info, _) = crate::claims::userinfo(&app, &tokens.access_token).await;
    assert_eq!(info["pro_uuid"], pro_uuid.as_str());

    // Persistent: a later login has the same professional UUID; a private login has none.
    let again = login(
        &app,
        &client,
        &[("acr_values", acr.as_str()), ("prompt", "login")],
    )
    .await;
    assert_eq!(again.id_token["pro_uuid"], pro_uuid.as_str());
    let private = login(
        &app,
        &client,
        &[("scope", "openid nemlogin"), ("prompt", "login")],
    )
    .await;
    assert_eq!(private.id_token["identity_type"], "private");
    assert!(private.id_token.get("cvr").is_none());
}

#[tokio::test]
async fn with_two_organisations_the_citizen_chooses_one() {
    let app = spawn_app().await;
    app.add_citizen(CPR, USER_ID, PASSWORD, false).await;
    add_org(&app, CVR_ONE, "Alfa ApS").await;
    add_org(&app, CVR_TWO, "Beta A/S").await;
    employ(&app, CVR_ONE, &[]).await;
    let beta_uuid = employ(&app, CVR_TWO, &[]).await;
    let client = professional_client(&app).await;
    let acr = professional_acr();
    let started = app
        .authorize(&client, &[("acr_values", acr.as_str())])
        .await;
    let login_page = started.location.clone().expect("login page");
    let response = app.submit_password(&login_page, USER_ID, PASSWORD).await;
    assert_eq!(response.status(), 303);
    let choice_path = location(&response).expect("choice page");
    assert!(choice_path.starts_with("/login?request="), "{choice_path}");
    let page = app.get_page(&choice_path).await;
    assert!(page.contains("Alfa ApS (CVR 12345674)"), "{page}");
    // minijinja escapes the '/' of "A/S" as &#x2f;.
    assert!(page.contains("Beta A&#x2f;S (CVR 11111114)"), "{page}");
    let values = choice_values(&page);
    assert_eq!(values.len(), 2);
    let beta = format!("pro:{beta_uuid}");
    assert!(values.contains(&beta), "{values:?}");

    // CSRF-protected like the login form.
    let forged = app
        .client
        .post(format!("{}/login/choose", app.address))
        .form(&[
            ("request", hidden_field(&page, "request")),
            ("csrf", "forged".to_owned()),
            ("choice", beta.clone()),
        ])
        .send()
        .await
        .expect("forged post");
    assert_eq!(forged.status(), 400);

    let response = choose(&app, &page, &beta).await;
    assert_eq!(response.status(), 303);
    let back = location(&response).expect("back to client");
    let code = query_value(&back, "code").expect("code");
    let tokens = tokens_for_code(&app, &client, &code, &started.pkce.verifier).await;
    assert_eq!(tokens.id_token["cvr"], CVR_TWO);
    assert_eq!(tokens.id_token["org_name"], "Beta A/S");
    assert_eq!(tokens.id_token["pro_uuid"], beta_uuid.as_str());
}

#[tokio::test]
async fn a_professional_login_without_an_employment_is_access_denied() {
    let app = spawn_app().await;
    app.add_citizen(CPR, USER_ID, PASSWORD, false).await;
    let client = professional_client(&app).await;
    let acr = professional_acr();
    let started = app
        .authorize(&client, &[("acr_values", acr.as_str())])
        .await;
    let response = app
        .submit_password(&started.location.expect("login"), USER_ID, PASSWORD)
        .await;
    assert_eq!(response.status(), 303);
    let back = location(&response).expect("back to client");
    assert_eq!(
        query_value(&back, "error").as_deref(),
        Some("access_denied")
    );
    assert_eq!(
        query_value(&back, "error_description").as_deref(),
        Some("the citizen has no professional identity")
    );
}

#[tokio::test]
async fn a_client_not_registered_for_professional_identities_gets_invalid_scope() {
    let app = spawn_app().await;
    let client = app
        .add_basic_client("portal", "http://localhost:9001/cb")
        .await;
    let acr = professional_acr();
    let started = app
        .authorize(&client, &[("acr_values", acr.as_str())])
        .await;
    let back = started.location.expect("redirect");
    assert_eq!(
        query_value(&back, "error").as_deref(),
        Some("invalid_scope")
    );
}

#[tokio::test]
async fn bad_cvr_numbers_and_unknown_organisations_are_one_line_errors() {
    let app = spawn_app().await;
    app.add_citizen(CPR, USER_ID, PASSWORD, false).await;
    for (cvr, message) in [
        (
            "12345678",
            "error: the CVR number fails the modulus-11 check",
        ),
        ("1234567", "error: a CVR number has exactly 8 digits"),
        ("1234567x", "error: a CVR number has exactly 8 digits"),
    ] {
        let output = app.segl(&["org", "add", "--cvr", cvr, "--name", "X"]).await;
        assert!(!output.success, "{cvr}");
        assert_eq!(output.code, Some(1), "{cvr}");
        assert_eq!(output.stderr.trim(), message, "{cvr}");
    }
    let output = app
        .segl(&["citizen", "employ", USER_ID, "--cvr", CVR_ONE])
        .await;
    assert!(!output.success);
    assert_eq!(
        output.stderr.trim(),
        "error: no organisation has CVR number 12345674"
    );
    add_org(&app, CVR_ONE, "Demo ApS").await;
    let twice = app
        .segl(&["org", "add", "--cvr", CVR_ONE, "--name", "Y"])
        .await;
    assert_eq!(
        twice.stderr.trim(),
        "error: an organisation with CVR number 12345674 is already registered"
    );
    employ(&app, CVR_ONE, &[]).await;
    let again = app
        .segl(&["citizen", "employ", USER_ID, "--cvr", CVR_ONE])
        .await;
    assert_eq!(
        again.stderr.trim(),
        "error: the citizen is already employed at CVR 12345674"
    );
}
