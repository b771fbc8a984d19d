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

/// Every event gone but the head row: the log ends before its head, which is reported.
#[tokio::test]
async fn a_log_that_ends_before_its_head_is_reported() {
    let app = spawn_app().await;
    some_events(&app).await;
    sqlx::query("DELETE FROM audit_events")
        .execute(&app.services.pool)
        .await
        .expect("delete");
    let output = app.segl(&["audit", "verify"]).await;
    assert_eq!(output.code, Some(1), "{}", output.stdout);
    assert_eq!(
        output.stderr.trim(),
        "error: the audit head is at event 3 but the log ends at event 0: events are missing at the end"
    );
}

/// A tail lost together with its head row (the last transactions of a crash or an old backup)
/// leaves a chain that is consistent in itself; a head recorded earlier shows what is missing.
#[tokio::test]
async fn a_tail_lost_with_its_head_is_caught_by_an_expected_head() {
    let app = spawn_app().await;
    some_events(&app).await;
    let head = app.segl(&["audit", "head"]).await;
    assert!(head.success, "{}", head.stderr);
    let head = head.stdout.trim().to_owned();
    let (seq, hash) = head.split_once(':').expect("SEQ:HASH");
    assert_eq!(seq, "3");
    assert_eq!(hash.len(), 64, "{head}");

    let verified = app.segl(&["audit", "verify", "--expect-head", &head]).await;
    assert!(verified.success, "{}", verified.stderr);
    assert_eq!(
        verified.stdout.trim(),
        "audit chain intact: 3 events verified"
    );

    // Lose event 3 and move the head back to event 2, as a lost transaction would.
    let (previous,): (String,) = sqlx::query_as("SELECT hash FROM audit_events WHERE seq = 2")
        .fetch_one(&app.services.pool)
        .await
        .expect("event 2");
    sqlx::query("DELETE FROM audit_events WHERE seq = 3")
        .execute(&app.services.pool)
        .await
        .expect("delete");
    sqlx::query("UPDATE audit_head SET seq = 2, hash = $1 WHERE id = 1")
        .bind(&previous)
        .execute(&app.services.pool)
        .await
        .expect("move the head");
    let alone = app.segl(&["audit", "verify"]).await;
    assert!(alone.success, "consistent in itself: {}", alone.stderr);
    let anchored = app.segl(&["audit", "verify", "--expect-head", &head]).await;
    assert_eq!(anchored.code, Some(1));
    assert_eq!(
        anchored.stderr.trim(),
        "error: audit event 3 named by the expected head is missing: the log lost its tail"
    );

    let bad = app
        .segl(&["audit", "verify", "--expect-head", "3:nothex"])
        .await;
    assert_eq!(bad.code, Some(2), "a usage error: {}", bad.stderr);
    assert!(bad.stderr.contains("is not SEQ:HASH"), "{}", bad.stderr);
}
