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
