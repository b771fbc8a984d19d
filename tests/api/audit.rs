//! The audit log: append-only, hash-chained, verifiable with `segl audit verify`.

use crate::helpers::spawn_app;

async fn some_events(app: &crate::helpers::TestApp) {
    app.cli_add_anna("anna", None).await;
    app.segl(&["citizen", "set-status", "anna", "suspended"])
        .await;
    app.segl(&["citizen", "set-status", "anna", "active"]).await;
}

#[tokio::test]
async fn an_intact_chain_verifies() {
    let app = spawn_app().await;
    some_events(&app).await;
    let output = app.segl(&["audit", "verify"]).await;
    assert!(output.success, "{}", output.stderr);
    assert_eq!(
        output.stdout.trim(),
        "audit chain intact: 3 events verified"
    );
}

#[tokio::test]
async fn audit_events_cannot_be_updated() {
    let app = spawn_app().await;
    some_events(&app).await;
    let result = sqlx::query("UPDATE audit_events SET actor = 'nobody' WHERE seq = 1")
        .execute(&app.services.pool)
        .await;
    let error = result.expect_err("updates are refused by a trigger");
    assert!(
        error.to_string().contains("audit events are append-only"),
        "{error}"
    );
}

#[tokio::test]
async fn a_deleted_event_breaks_the_chain() {
    let app = spawn_app().await;
    some_events(&app).await;
    sqlx::query("DELETE FROM audit_events WHERE seq = 2")
        .execute(&app.services.pool)
        .await
        .expect("delete");
    let output = app.segl(&["audit", "verify"]).await;
    assert_eq!(output.code, Some(1));
    assert_eq!(
        output.stderr.trim(),
        "error: audit event 3 does not follow the event before it: the chain is broken"
    );
}

#[tokio::test]
async fn history_lists_a_citizens_events_newest_first() {
    let app = spawn_app().await;
    some_events(&app).await;
    let output = app.segl(&["citizen", "history", "anna"]).await;
    assert!(output.success, "{}", output.stderr);
    let kinds: Vec<&str> = output
        .stdout
        .lines()
        .map(|line| line.split_whitespace().nth(1).unwrap_or_default())
        .collect();
    assert_eq!(
        kinds,
        vec![
            "citizen.status_changed",
            "citizen.status_changed",
            "citizen.created"
        ]
    );
    assert!(
        !output.stdout.contains("0707614285"),
        "no CPR number in the audit detail"
    );
}

/// Concurrent releases share the audit writer's transactions (group commit): each one is still
/// recorded exactly once, before its answer, in one unbroken chain.
#[tokio::test]
async fn concurrent_releases_are_each_audited_once_in_one_chain() {
    use crate::claims::{login, userinfo, PASSWORD, USER_ID};
    let app = spawn_app().await;
    app.add_citizen(crate::helpers::CPR, USER_ID, PASSWORD, false)
        .await;
    let client = app
        .add_basic_client("burst", "http://localhost:9001/cb")
        .await;
    let tokens = login(&app, &client, &[]).await;
    let before = app.audit_count("claims.released").await;

    const REQUESTS: i64 = 40;
    let answers =
        futures::future::join_all((0..REQUESTS).map(|_| userinfo(&app, &tokens.access_token)))
            .await;
    assert_eq!(answers.len() as i64, REQUESTS);
    // Every answer was sent after its event committed: nothing to wait for here.
    assert_eq!(app.audit_count("claims.released").await - before, REQUESTS);

    let (total,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM audit_events")
        .fetch_one(&app.services.pool)
        .await
        .expect("count audit events");
    let output = app.segl(&["audit", "verify"]).await;
    assert!(output.success, "{}", output.stderr);
    assert_eq!(
        output.stdout.trim(),
        format!("audit chain intact: {total} events verified")
    );
}
