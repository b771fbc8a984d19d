//! TOTP authenticators: enrolment through the CLI, sealed secrets, one use per code.

use crate::helpers::spawn_app;
use citizen_registry::{LoginContext, TotpOutcome};

#[tokio::test]
async fn enrolled_code_is_accepted_once() {
    let app = spawn_app().await;
    app.cli_add_anna("anna", None).await;
    let output = app.segl(&["citizen", "totp", "enroll", "anna"]).await;
    assert!(output.success, "{}", output.stderr);
    let uri = output.stdout.trim();
    assert!(uri.starts_with("otpauth://totp/Segl:anna?secret="), "{uri}");
    assert!(uri.ends_with("&issuer=Segl"), "{uri}");
    assert_eq!(app.audit_count("credential.totp_enrolled").await, 1);

    // The secret is sealed at rest: the stored column is not the base32 secret of the URI.
    let secret = uri
        .split("secret=")
        .nth(1)
        .and_then(|rest| rest.split('&').next())
        .expect("secret");
    let (stored,): (String,) = sqlx::query_as("SELECT totp_secret FROM citizens")
        .fetch_one(&app.services.pool)
        .await
        .expect("row");
    assert!(!stored.contains(secret));

    let registry = &app.services.registry;
    let citizen = registry
        .find_citizen(&citizen_registry::CitizenLookup::parse("anna").expect("lookup"))
        .await
        .expect("citizen");
    let code = registry.current_totp_code(citizen.id).await.expect("code");
    let context = LoginContext::default();
    assert_eq!(
        registry
            .verify_totp(citizen.id, &code, &context)
            .await
            .expect("check"),
        TotpOutcome::Accepted
    );
    assert_eq!(
        registry
            .verify_totp(citizen.id, &code, &context)
            .await
            .expect("check"),
        TotpOutcome::Rejected,
        "a replayed code is refused"
    );
    assert_eq!(
        registry
            .verify_totp(citizen.id, "000000x", &context)
            .await
            .expect("check"),
        TotpOutcome::Rejected
    );
    assert_eq!(app.audit_count("factor.succeeded").await, 1);
    assert_eq!(app.audit_count("factor.failed").await, 2);
}
