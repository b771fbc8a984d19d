//! The citizen's own sessions page at the provider (`/account`): behind the SSO session,
//! listing live sessions and the services in each, and ending one.

use crate::helpers::{hidden_field, location, query_value, spawn_app, CPR, LOW};

#[tokio::test]
async fn a_citizen_sees_and_ends_their_own_session() {
    let app = spawn_app().await;
    app.add_citizen(CPR, "anna", "correct horse battery", false)
        .await;
    let client = app
        .add_basic_client("portal", "http://127.0.0.1:9001/cb")
        .await;
    app.login_for_code(
        &client,
        "anna",
        "correct horse battery",
        &[("acr_values", LOW)],
    )
    .await;

    let page = app.get_page("/account").await;
    assert!(page.contains("<strong>Anna Jensen</strong>"), "{page}");
    assert!(
        page.contains("Client portal"),
        "the session lists the service: {page}"
    );
    let sid = hidden_field(&page, "sid");
    let csrf = hidden_field(&page, "csrf");

    // A form from another browser (a wrong token) ends nothing.
    let forged = app
        .client
        .post(format!("{}/account/sessions/end", app.address))
        .form(&[("csrf", "forged"), ("sid", sid.as_str())])
        .send()
        .await
        .expect("post");
    assert_eq!(forged.status(), 400);

    let ended = app
        .client
        .post(format!("{}/account/sessions/end", app.address))
        .form(&[("csrf", csrf.as_str()), ("sid", sid.as_str())])
        .send()
        .await
        .expect("post");
    assert_eq!(ended.status(), 303);
    assert_eq!(location(&ended).as_deref(), Some("/account?ended=1"));

    // The session is over everywhere: prompt=none now needs a login.
    let again = app
        .authorize(&client, &[("acr_values", LOW), ("prompt", "none")])
        .await;
    let back = again.location.expect("redirect to the client");
    assert_eq!(
        query_value(&back, "error").as_deref(),
        Some("login_required")
    );
    let page = app.get_page("/account").await;
    assert!(
        page.contains("You are not logged in to Segl")
            || page.contains("Du er ikke logget på Segl"),
        "{page}"
    );
}

#[tokio::test]
async fn without_a_session_the_account_page_shows_nothing_personal() {
    let app = spawn_app().await;
    let page = app.get_page("/account").await;
    assert!(
        page.contains("Du er ikke logget på Segl i denne browser"),
        "{page}"
    );
    assert!(!page.contains("name=\"sid\""), "{page}");
}
