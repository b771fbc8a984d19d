//! Failed attempts: counting, lockout with backoff, and one answer for unknown user IDs.

use crate::helpers::{spawn_app, spawn_app_with};
use citizen_registry::{AuthenticationError, LoginContext};
use secrecy::SecretString;

async fn add_citizen(app: &crate::helpers::TestApp) {
    app.cli_add_anna("anna", Some("correct horse battery"))
        .await;
}

async fn login(
    app: &crate::helpers::TestApp,
    password: &str,
) -> Result<citizen_registry::Citizen, AuthenticationError> {
    app.services
        .registry
        .authenticate_password(
            "anna",
            SecretString::from(password.to_owned()),
            &LoginContext::default(),
        )
        .await
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

#[tokio::test]
async fn five_failures_lock_the_account_even_for_the_right_password() {
    let app = spawn_app().await;
    add_citizen(&app).await;
    for _ in 0..4 {
        assert!(matches!(
            login(&app, "wrong password").await,
            Err(AuthenticationError::InvalidCredentials)
        ));
    }
    // The fifth failure locks for base_delay_seconds (30).
    let before = now();
    assert!(matches!(
        login(&app, "wrong password").await,
        Err(AuthenticationError::InvalidCredentials)
    ));
    match login(&app, "correct horse battery").await {
        Err(AuthenticationError::Locked { until }) => {
            assert!(
                (before + 30..=now() + 30).contains(&until),
                "until {until}, now {}",
                now()
            );
        }
        other => panic!("expected Locked, got {other:?}"),
    }
    assert_eq!(app.audit_count("login.failed").await, 6);
    assert_eq!(app.audit_count("login.succeeded").await, 0);
}

#[tokio::test]
async fn each_further_failure_doubles_the_delay() {
    // No delay before locking starts, so the test can fail again while locked-out time passes.
    let app = spawn_app_with(|settings| {
        settings.lockout.free_attempts = 1;
        settings.lockout.base_delay_seconds = 0;
    })
    .await;
    add_citizen(&app).await;
    // base 0 doubles to 0: the lock is immediate but already over; the counter keeps growing.
    for _ in 0..3 {
        assert!(matches!(
            login(&app, "wrong password").await,
            Err(AuthenticationError::InvalidCredentials)
        ));
    }
    let shown = app.segl(&["citizen", "show", "anna", "--json"]).await;
    let shown: serde_json::Value = serde_json::from_str(&shown.stdout).expect("json");
    assert_eq!(shown["failed_attempts"], 3);

    let policy = citizen_registry::lockout::LockoutPolicy {
        free_attempts: 1,
        base_delay_seconds: 10,
        max_delay_seconds: 25,
    };
    assert_eq!(
        policy.locked_until(3, 0),
        Some(25),
        "10 * 2^2 = 40, capped at 25"
    );
}

#[tokio::test]
async fn a_success_before_the_limit_resets_the_counter() {
    let app = spawn_app().await;
    add_citizen(&app).await;
    for _ in 0..4 {
        let _ = login(&app, "wrong password").await;
    }
    login(&app, "correct horse battery")
        .await
        .expect("the fifth attempt is correct");
    let shown = app.segl(&["citizen", "show", "anna", "--json"]).await;
    let shown: serde_json::Value = serde_json::from_str(&shown.stdout).expect("json");
    assert_eq!(shown["failed_attempts"], 0);
    assert_eq!(shown["locked_until"], serde_json::Value::Null);
}

#[tokio::test]
async fn an_unknown_user_id_gets_the_same_answer_as_a_wrong_password() {
    let app = spawn_app().await;
    add_citizen(&app).await;
    let registry = &app.services.registry;
    let unknown = registry
        .authenticate_password(
            "nobody",
            SecretString::from("correct horse battery"),
            &LoginContext::default(),
        )
        .await;
    let malformed = registry
        .authenticate_password(
            "a b",
            SecretString::from("correct horse battery"),
            &LoginContext::default(),
        )
        .await;
    let wrong = login(&app, "wrong password").await;
    for result in [unknown, malformed, wrong] {
        assert!(
            matches!(result, Err(AuthenticationError::InvalidCredentials)),
            "{result:?}"
        );
    }
    assert_eq!(app.audit_count("login.failed").await, 3);
}

#[tokio::test]
async fn setting_a_new_password_lifts_a_lock() {
    let app = spawn_app().await;
    add_citizen(&app).await;
    for _ in 0..5 {
        let _ = login(&app, "wrong password").await;
    }
    assert!(matches!(
        login(&app, "correct horse battery").await,
        Err(AuthenticationError::Locked { .. })
    ));
    let output = app
        .segl_with_stdin(
            &["citizen", "set-password", "anna"],
            "a brand new password\n",
        )
        .await;
    assert!(output.success, "{}", output.stderr);
    login(&app, "a brand new password")
        .await
        .expect("unlocked with the new password");
}

/// Counts `login.failed` events whose detail holds `needle` (the reason, say).
async fn failed_logins_with(app: &crate::helpers::TestApp, needle: &str) -> i64 {
    let (count,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM audit_events WHERE kind = 'login.failed' AND detail LIKE $1",
    )
    .bind(format!("%{needle}%"))
    .fetch_one(&app.services.pool)
    .await
    .expect("count events");
    count
}

#[tokio::test]
async fn a_burst_of_parallel_wrong_passwords_verifies_only_the_free_attempts() {
    let app = spawn_app().await;
    add_citizen(&app).await;
    // 40 wrong passwords at once: each attempt is reserved before argon2 runs, so only the
    // policy's five free attempts are verified; the fifth reservation locks the rest out.
    let attempts = (0..40).map(|_| login(&app, "wrong password"));
    let results = futures::future::join_all(attempts).await;
    let wrong = results
        .iter()
        .filter(|result| matches!(result, Err(AuthenticationError::InvalidCredentials)))
        .count();
    let locked = results
        .iter()
        .filter(|result| matches!(result, Err(AuthenticationError::Locked { .. })))
        .count();
    assert_eq!((wrong, locked), (5, 35), "{results:?}");
    // Each verified wrong password is one `wrong_password` event; the rest were refused unseen.
    assert_eq!(failed_logins_with(&app, "\"wrong_password\"").await, 5);
    assert_eq!(failed_logins_with(&app, "\"locked\"").await, 35);
    let shown = app.segl(&["citizen", "show", "anna", "--json"]).await;
    let shown: serde_json::Value = serde_json::from_str(&shown.stdout).expect("json");
    assert_eq!(shown["failed_attempts"], 5);

    // Right after the burst, the right password is refused: the citizen is locked.
    match login(&app, "correct horse battery").await {
        Err(AuthenticationError::Locked { until }) => assert!(until > now(), "until {until}"),
        other => panic!("expected Locked, got {other:?}"),
    }
    assert_eq!(app.audit_count("login.succeeded").await, 0);
    assert_eq!(app.audit_count("login.failed").await, 41);
}

#[tokio::test]
async fn the_reserved_lock_follows_the_backoff_policy() {
    let app = spawn_app().await;
    add_citizen(&app).await;
    let policy = citizen_registry::lockout::LockoutPolicy::default();
    // The lock is computed in SQL when the attempt is reserved: it must be the policy's.
    for count in 1..=13_i64 {
        let before = now();
        assert!(matches!(
            login(&app, "wrong password").await,
            Err(AuthenticationError::InvalidCredentials)
        ));
        let after = now();
        let (failures, locked_until): (i64, Option<i64>) =
            sqlx::query_as("SELECT failed_attempts, locked_until FROM citizens")
                .fetch_one(&app.services.pool)
                .await
                .expect("row");
        assert_eq!(failures, count);
        let expected = (before..=after)
            .map(|at| policy.locked_until(count, at))
            .collect::<Vec<_>>();
        assert!(
            expected.contains(&locked_until),
            "after {count}: {locked_until:?}, expected one of {expected:?}"
        );
        // Let the lock pass, so the next attempt is checked and counted.
        sqlx::query("UPDATE citizens SET locked_until = 1 WHERE locked_until IS NOT NULL")
            .execute(&app.services.pool)
            .await
            .expect("unlock");
    }
}

#[tokio::test]
async fn parallel_right_passwords_all_log_in() {
    let app = spawn_app().await;
    add_citizen(&app).await;
    // More logins at once than there are free attempts: the ones beyond wait for a place
    // instead of being counted as failures or locked out.
    let attempts = (0..12).map(|_| login(&app, "correct horse battery"));
    let results = futures::future::join_all(attempts).await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    assert_eq!(app.audit_count("login.succeeded").await, 12);
    assert_eq!(app.audit_count("login.failed").await, 0);
    let (failures, locked_until, in_flight): (i64, Option<i64>, i64) =
        sqlx::query_as("SELECT failed_attempts, locked_until, attempts_in_flight FROM citizens")
            .fetch_one(&app.services.pool)
            .await
            .expect("row");
    assert_eq!((failures, locked_until, in_flight), (0, None, 0));
}
