//! Powers of attorney (docs/NEMLOGIN.md section 3): granting, revoking and listing them; choosing to
//! act for a principal at a public client; `privileges` and `act` in the tokens; expired and
//! revoked ones unusable; the audit naming both people.

use crate::claims::{
    add_client_with, audit_details, login, tokens_for_code, userinfo, PASSWORD, USER_ID,
};
use crate::helpers::{location, query_value, spawn_app, TestApp, TestClient, CPR, LOW};
use crate::professional::{choice_values, choose};
use serde_json::{json, Value};

const PRINCIPAL_CPR: &str = "0101901234";
const PRINCIPAL_CVR: &str = "12345674";

/// A public authority entitled to CPR numbers: a power of attorney for a citizen names the
/// principal by CPR number, so only such a client may see one.
async fn authority(app: &TestApp) -> TestClient {
    add_client_with(
        app,
        "borger",
        "http://localhost:9001/cb",
        "profile privileges",
        |registration| {
            registration.public_authority = true;
            registration.cpr_entitled = true;
        },
    )
    .await
}

/// `segl poa grant`; returns the id it printed.
async fn grant(app: &TestApp, principal: &[&str], extra: &[&str]) -> String {
    let mut args = vec![
        "poa",
        "grant",
        "--agent",
        USER_ID,
        "--privileges",
        "tax.read,tax.write",
    ];
    args.extend_from_slice(principal);
    args.extend_from_slice(extra);
    let output = app.segl(&args).await;
    assert!(output.success, "{}", output.stderr);
    output
        .stdout
        .split_whitespace()
        .nth(4)
        .expect("the id")
        .to_owned()
}

/// Logs in at `client` asking for privileges; returns the request and where the password
/// form sent the browser next.
async fn start(app: &TestApp, client: &TestClient) -> (crate::helpers::Started, String) {
    let started = app
        .authorize(
            client,
            &[("scope", "openid profile privileges"), ("acr_values", LOW)],
        )
        .await;
    let response = app
        .submit_password(
            started.location.as_deref().expect("login page"),
            USER_ID,
            PASSWORD,
        )
        .await;
    assert_eq!(response.status(), 303);
    (started, location(&response).expect("next"))
}

#[tokio::test]
async fn a_valid_power_of_attorney_yields_privileges_and_act_and_is_audited_with_both_people() {
    let app = spawn_app().await;
    let agent = app.add_citizen(CPR, USER_ID, PASSWORD, false).await;
    let principal = app
        .add_citizen(PRINCIPAL_CPR, "bo.hansen", PASSWORD, false)
        .await;
    let poa_id = grant(
        &app,
        &["--principal-cpr", PRINCIPAL_CPR],
        &["--until", "2099-01-01"],
    )
    .await;
    let client = authority(&app).await;

    let (started, next) = start(&app, &client).await;
    assert!(next.starts_with("/login?request="), "{next}");
    let page = app.get_page(&next).await;
    assert!(
        !page.contains(PRINCIPAL_CPR),
        "the page never shows the CPR number"
    );
    assert_eq!(
        choice_values(&page),
        vec!["self".to_owned(), format!("poa:{poa_id}")]
    );
    let response = choose(&app, &page, &format!("poa:{poa_id}")).await;
    assert_eq!(response.status(), 303);
    let code = query_value(&location(&response).expect("back"), "code").expect("code");
    let tokens = tokens_for_code(&app, &client, &code, &started.pkce.verifier).await;
    let expected_privileges = json!([{
        "scope": "urn:dk:gov:saml:cprNumberIdentifier:0101901234",
        "privileges": ["tax.read", "tax.write"],
    }]);
    assert_eq!(tokens.id_token["privileges"], expected_privileges);
    assert_eq!(
        tokens.id_token["act"],
        json!({ "sub": tokens.id_token["sub"] })
    );
    let (info, _) = userinfo(&app, &tokens.access_token).await;
    assert_eq!(info["privileges"], expected_privileges);

    let details = audit_details(&app, "claims.released").await;
    let first: Value = serde_json::from_str(&details[0]).expect("detail");
    assert_eq!(first["acting_for"]["poa_id"], poa_id.as_str());
    assert_eq!(
        first["acting_for"]["principal_citizen_id"],
        principal.id.to_string()
    );
    assert_eq!(first["acting_for"]["principal"], "citizen born 1990-01-01");
    assert!(!details[0].contains(PRINCIPAL_CPR));
    let (citizen_id,): (Option<String>,) = sqlx::query_as(
        "SELECT citizen_id FROM audit_events WHERE kind = 'claims.released' ORDER BY seq LIMIT 1",
    )
    .fetch_one(&app.services.pool)
    .await
    .expect("event");
    assert_eq!(citizen_id, Some(agent.id.to_string()));
}

#[tokio::test]
async fn choosing_myself_gives_no_privileges_and_an_organisation_principal_is_scoped_by_cvr() {
    let app = spawn_app().await;
    app.add_citizen(CPR, USER_ID, PASSWORD, false).await;
    let poa_id = grant(
        &app,
        &["--principal-cvr", PRINCIPAL_CVR],
        &["--until", "2099-01-01"],
    )
    .await;
    let client = authority(&app).await;

    let (started, next) = start(&app, &client).await;
    let page = app.get_page(&next).await;
    assert!(page.contains("CVR 12345674: tax.read, tax.write"), "{page}");
    let response = choose(&app, &page, "self").await;
    let code = query_value(&location(&response).expect("back"), "code").expect("code");
    let tokens = tokens_for_code(&app, &client, &code, &started.pkce.verifier).await;
    assert!(tokens.id_token.get("privileges").is_none());
    assert!(tokens.id_token.get("act").is_none());

    // With prompt=none no page may be shown, and a choice is a page: interaction_required.
    let silent = app
        .authorize(
            &client,
            &[
                ("scope", "openid profile privileges"),
                ("acr_values", LOW),
                ("prompt", "none"),
            ],
        )
        .await;
    assert_eq!(silent.status, 303);
    let back = silent.location.clone().expect("back to the client");
    assert!(back.starts_with("http://localhost:9001/cb?"), "{back}");
    assert_eq!(
        query_value(&back, "error").as_deref(),
        Some("interaction_required")
    );

    // Already logged in (single sign-on): the choice comes straight from /authorize.
    let started = app
        .authorize(
            &client,
            &[("scope", "openid profile privileges"), ("acr_values", LOW)],
        )
        .await;
    let next = started.location.clone().expect("choice page");
    assert!(next.starts_with("/login?request="), "{next}");
    let page = app.get_page(&next).await;
    let response = choose(&app, &page, &format!("poa:{poa_id}")).await;
    let code = query_value(&location(&response).expect("back"), "code").expect("code");
    let tokens = tokens_for_code(&app, &client, &code, &started.pkce.verifier).await;
    assert_eq!(
        tokens.id_token["privileges"][0]["scope"],
        "urn:dk:gov:saml:cvrNumberIdentifier:12345674"
    );
}

#[tokio::test]
async fn an_expired_power_of_attorney_cannot_be_used() {
    let app = spawn_app().await;
    app.add_citizen(CPR, USER_ID, PASSWORD, false).await;
    grant(
        &app,
        &["--principal-cpr", PRINCIPAL_CPR],
        &["--from", "2020-01-01", "--until", "2021-01-01"],
    )
    .await;
    let listed = app.segl(&["poa", "list", USER_ID]).await;
    assert!(listed.stdout.contains(" expired "), "{}", listed.stdout);
    let client = authority(&app).await;
    // No choice: straight back to the client, and no privileges.
    let tokens = login(&app, &client, &[("scope", "openid profile privileges")]).await;
    assert!(tokens.id_token.get("privileges").is_none());
    assert!(tokens.id_token.get("act").is_none());
}

#[tokio::test]
async fn a_revoked_power_of_attorney_cannot_be_used_even_from_an_open_choice_page() {
    let app = spawn_app().await;
    app.add_citizen(CPR, USER_ID, PASSWORD, false).await;
    let poa_id = grant(
        &app,
        &["--principal-cpr", PRINCIPAL_CPR],
        &["--until", "2099-01-01"],
    )
    .await;
    let client = authority(&app).await;
    let (_, next) = start(&app, &client).await;
    let page = app.get_page(&next).await;

    let revoked = app.segl(&["poa", "revoke", &poa_id]).await;
    assert!(revoked.success, "{}", revoked.stderr);
    assert_eq!(
        revoked.stdout.trim(),
        format!("revoked power of attorney {poa_id}")
    );
    let response = choose(&app, &page, &format!("poa:{poa_id}")).await;
    assert_eq!(response.status(), 400, "the revoked choice is refused");
    let listed = app.segl(&["poa", "list", USER_ID]).await;
    assert!(listed.stdout.contains(" revoked "), "{}", listed.stdout);

    let tokens = login(
        &app,
        &client,
        &[("scope", "openid profile privileges"), ("prompt", "login")],
    )
    .await;
    assert!(tokens.id_token.get("privileges").is_none());
    let again = app.segl(&["poa", "revoke", &poa_id]).await;
    assert!(!again.success);
    assert_eq!(
        again.stderr.trim(),
        "error: no power of attorney has that id (or it is already revoked)"
    );
}

#[tokio::test]
async fn privileges_are_only_for_public_authorities() {
    let app = spawn_app().await;
    let private = app
        .add_basic_client("portal", "http://localhost:9001/cb")
        .await;
    let started = app
        .authorize(
            &private,
            &[("scope", "openid privileges"), ("acr_values", LOW)],
        )
        .await;
    let back = started.location.expect("redirect");
    assert_eq!(
        query_value(&back, "error").as_deref(),
        Some("invalid_scope")
    );
    let output = app
        .segl(&[
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
            "--scopes",
            "privileges",
        ])
        .await;
    assert_eq!(
        output.stderr.trim(),
        "error: scope privileges is only for public authorities (--public-authority)"
    );
}

#[tokio::test]
async fn poa_grant_errors_are_one_line() {
    let app = spawn_app().await;
    app.add_citizen(CPR, USER_ID, PASSWORD, false).await;
    let base = [
        "poa",
        "grant",
        "--agent",
        USER_ID,
        "--principal-cvr",
        PRINCIPAL_CVR,
        "--privileges",
        "a",
    ];
    for (extra, message) in [
        (
            ["--from", "2030-01-01", "--until", "2029-01-01"],
            "error: a power of attorney must end after it starts",
        ),
        (
            ["--from", "2030-01-01", "--until", "soon"],
            "error: --until 'soon' is not YYYY-MM-DD or an RFC 3339 time",
        ),
    ] {
        let mut args = base.to_vec();
        args.extend(extra);
        let output = app.segl(&args).await;
        assert!(!output.success);
        assert_eq!(output.stderr.trim(), message);
    }
    let output = app
        .segl(&[
            "poa",
            "grant",
            "--agent",
            USER_ID,
            "--principal-cvr",
            "12345678",
            "--privileges",
            "a",
            "--until",
            "2099-01-01",
        ])
        .await;
    assert_eq!(
        output.stderr.trim(),
        "error: the CVR number fails the modulus-11 check"
    );
}

#[tokio::test]
async fn a_power_of_attorney_for_a_citizen_is_not_offered_to_an_authority_without_cpr_entitlement()
{
    let app = spawn_app().await;
    app.add_citizen(CPR, USER_ID, PASSWORD, false).await;
    grant(
        &app,
        &["--principal-cpr", PRINCIPAL_CPR],
        &["--until", "2099-01-01"],
    )
    .await;
    let client = add_client_with(
        &app,
        "kommune",
        "http://localhost:9001/cb",
        "profile privileges",
        |registration| registration.public_authority = true,
    )
    .await;
    // Its privileges would carry the principal's CPR number: no choice, no privileges.
    let tokens = login(&app, &client, &[("scope", "openid profile privileges")]).await;
    assert!(
        tokens.id_token.get("privileges").is_none(),
        "{}",
        tokens.id_token
    );
    assert!(tokens.id_token.get("act").is_none());
    assert!(!tokens.id_token.to_string().contains(PRINCIPAL_CPR));
}
