//! Storage set-up: bad database URLs give one-line errors; SQLite runs in WAL mode.

use crate::helpers::{run_segl, spawn_app};

#[tokio::test]
async fn an_unreachable_database_is_one_line_and_a_failure() {
    // Port 1 on loopback: nothing listens there, so the connection is refused at once.
    let output = run_segl(
        &["citizen", "show", "anna"],
        "",
        &[(
            "SEGL_DATABASE_URL",
            "postgres://segl:hunter2@127.0.0.1:1/segl",
        )],
    )
    .await;
    assert_eq!(output.code, Some(1));
    let message = output.stderr.trim();
    assert_eq!(message.lines().count(), 1, "{message}");
    assert!(
        message.starts_with(
            "error: cannot connect to the database at postgres://segl:***@127.0.0.1:1/segl: "
        ),
        "{message}"
    );
    assert!(message.contains("Connection refused"), "{message}");
    assert!(
        !message.contains("hunter2"),
        "the password leaked: {message}"
    );
}

#[tokio::test]
async fn an_unsupported_database_url_is_refused() {
    let output = run_segl(
        &["migrate"],
        "",
        &[("SEGL_DATABASE_URL", "mysql://root@127.0.0.1/segl")],
    )
    .await;
    assert_eq!(output.code, Some(1));
    assert_eq!(
        output.stderr.trim(),
        "error: unsupported database URL 'mysql://root@127.0.0.1/segl': use sqlite://PATH or postgres://…"
    );
}

#[tokio::test]
async fn a_missing_config_file_is_named() {
    let output = run_segl(&["--config", "/nonexistent/segl.toml", "migrate"], "", &[]).await;
    assert_eq!(output.code, Some(1));
    assert_eq!(
        output.stderr.trim(),
        "error: configuration file /nonexistent/segl.toml: no such file"
    );
}

#[tokio::test]
async fn migrate_is_idempotent() {
    let app = spawn_app().await;
    let output = app.segl(&["migrate"]).await;
    assert!(output.success, "{}", output.stderr);
    assert_eq!(output.stdout.trim(), "migrations applied");
}

#[tokio::test]
async fn sqlite_runs_in_wal_mode() {
    let app = spawn_app().await;
    if app.db.is_postgres {
        return;
    }
    let (mode,): (String,) = sqlx::query_as("PRAGMA journal_mode")
        .fetch_one(&app.services.pool)
        .await
        .expect("pragma");
    assert_eq!(mode, "wal");
}

#[tokio::test]
async fn the_server_answers_health_checks() {
    let app = spawn_app().await;
    let response = app
        .client
        .get(format!("{}/healthz", app.address))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.expect("body"), "ok");
}
