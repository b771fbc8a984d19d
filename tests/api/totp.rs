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

#[tokio::test]
async fn wrong_codes_lock_the_authenticator_even_for_the_right_code() {
    let app = spawn_app().await;
    app.cli_add_anna("anna", None).await;
    let output = app.segl(&["citizen", "totp", "enroll", "anna"]).await;
    assert!(output.success, "{}", output.stderr);
    let registry = &app.services.registry;
    let citizen = registry
        .find_citizen(&citizen_registry::CitizenLookup::parse("anna").expect("lookup"))
        .await
        .expect("citizen");
    let context = LoginContext::default();
    // The lockout policy: the fifth wrong code in a row (by default) locks.
    for _ in 0..5 {
        let code = registry.current_totp_code(citizen.id).await.expect("code");
        // A code that is certainly wrong: the current one with its last digit changed.
        let last = code.chars().last().expect("digit");
        let wrong = format!("{}{}", &code[..5], if last == '0' { '1' } else { '0' });
        assert_eq!(
            registry
                .verify_totp(citizen.id, &wrong, &context)
                .await
                .expect("check"),
            TotpOutcome::Rejected
        );
    }
    let (failures, locked_until): (i64, Option<i64>) =
        sqlx::query_as("SELECT totp_failures, totp_locked_until FROM citizens")
            .fetch_one(&app.services.pool)
            .await
            .expect("row");
    assert_eq!(failures, 5);
    assert!(locked_until.is_some_and(|until| until > oidc_provider::context::Clock::system().now()));
    let code = registry.current_totp_code(citizen.id).await.expect("code");
    assert_eq!(
        registry
            .verify_totp(citizen.id, &code, &context)
            .await
            .expect("check"),
        TotpOutcome::Rejected,
        "while locked, even the right code is refused"
    );
    assert_eq!(app.audit_count("factor.succeeded").await, 0);
    assert_eq!(app.audit_count("factor.failed").await, 6);

    // Once the lock has passed, the right code works and the counter starts again.
    sqlx::query("UPDATE citizens SET totp_locked_until = 1")
        .execute(&app.services.pool)
        .await
        .expect("unlock");
    let code = registry.current_totp_code(citizen.id).await.expect("code");
    assert_eq!(
        registry
            .verify_totp(citizen.id, &code, &context)
            .await
            .expect("check"),
        TotpOutcome::Accepted
    );
    let (failures,): (i64,) = sqlx::query_as("SELECT totp_failures FROM citizens")
        .fetch_one(&app.services.pool)
        .await
        .expect("row");
    assert_eq!(failures, 0);
}

/// Counts `factor.failed` events whose detail holds `needle`.
async fn failed_factors_with(app: &crate::helpers::TestApp, needle: &str) -> i64 {
    let (count,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM audit_events WHERE kind = 'factor.failed' AND detail LIKE $1",
    )
    .bind(format!("%{needle}%"))
    .fetch_one(&app.services.pool)
    .await
    .expect("count events");
    count
}

#[tokio::test]
async fn a_burst_of_parallel_wrong_codes_compares_only_the_free_attempts() {
    let app = spawn_app().await;
    app.cli_add_anna("anna", None).await;
    let output = app.segl(&["citizen", "totp", "enroll", "anna"]).await;
    assert!(output.success, "{}", output.stderr);
    let registry = &app.services.registry;
    let citizen = registry
        .find_citizen(&citizen_registry::CitizenLookup::parse("anna").expect("lookup"))
        .await
        .expect("citizen");
    let context = LoginContext::default();
    let code = registry.current_totp_code(citizen.id).await.expect("code");
    let last = code.chars().last().expect("digit");
    let wrong = format!("{}{}", &code[..5], if last == '0' { '1' } else { '0' });
    // 40 wrong codes at once: each attempt is reserved before the comparison, so only the
    // policy's five free attempts are compared and counted; the rest are refused as locked.
    let attempts = (0..40).map(|_| registry.verify_totp(citizen.id, &wrong, &context));
    let results = futures::future::join_all(attempts).await;
    assert!(
        results
            .iter()
            .all(|result| matches!(result, Ok(TotpOutcome::Rejected))),
        "{results:?}"
    );
    // A compared wrong code is audited with its count (`failed_codes`); a refused one as locked.
    assert_eq!(failed_factors_with(&app, "\"failed_codes\"").await, 5);
    assert_eq!(failed_factors_with(&app, "\"reason\":\"locked\"").await, 35);
    let (failures, locked_until): (i64, Option<i64>) =
        sqlx::query_as("SELECT totp_failures, totp_locked_until FROM citizens")
            .fetch_one(&app.services.pool)
            .await
            .expect("row");
    assert_eq!(failures, 5);
    assert!(locked_until.is_some_and(|until| until > oidc_provider::context::Clock::system().now()));

    // Right after the burst, the right code is refused while locked.
    let code = registry.current_totp_code(citizen.id).await.expect("code");
    assert_eq!(
        registry
            .verify_totp(citizen.id, &code, &context)
            .await
            .expect("check"),
        TotpOutcome::Rejected,
        "while locked, even the right code is refused"
    );
    assert_eq!(app.audit_count("factor.succeeded").await, 0);
    assert_eq!(failed_factors_with(&app, "\"reason\":\"locked\"").await, 36);
}
