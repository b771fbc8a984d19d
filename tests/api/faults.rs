//! Fault injection: what Segl acknowledged survives a failed commit, a full disk and a restart.
//!
//! The disk-full test mounts a small tmpfs, so it needs root: elsewhere it prints why it skips,
//! and under CI (where `.ci/run` runs as root) it must run.

use segl::settings::Settings;
use sqlx::{Acquire, Connection, Executor};
use tempfile::TempDir;

/// The sqlx behaviour behind the lost writes, reproduced without a full disk. A trigger's
/// `RAISE(ROLLBACK)` rolls the whole transaction back inside SQLite, as SQLITE_FULL can; sqlx's
/// own ROLLBACK then fails and it keeps believing a transaction is open. Without Segl's guard
/// the next transaction on that connection becomes a SAVEPOINT, its rollback leaves SQLite
/// inside a transaction nobody commits, and every later "committed" write is lost: other
/// connections never see it. With the guard the connection is replaced and writes are durable.
#[tokio::test]
async fn a_transaction_sqlite_rolled_back_by_itself_never_swallows_later_writes() {
    let folder = TempDir::new().expect("temp dir");
    let url = format!("sqlite://{}", folder.path().join("segl.db").display());
    let settings = Settings::for_tests(&url);
    let (pool, _) = segl::database::connect(&settings.database)
        .await
        .expect("database opens");
    pool.execute(
        "CREATE TABLE notes (body TEXT NOT NULL); \
         CREATE TRIGGER abort_all BEFORE INSERT ON notes WHEN NEW.body = 'abort' \
         BEGIN SELECT RAISE(ROLLBACK, 'rolled back by SQLite'); END;",
    )
    .await
    .expect("scratch table");
    let insert =
        |body: &'static str| sqlx::query("INSERT INTO notes (body) VALUES ($1)").bind(body);

    // SQLite rolls this transaction back by itself: the statement fails, and so does the
    // ROLLBACK that dropping the transaction queues.
    let mut failed = pool.begin().await.expect("begin");
    let error = insert("abort")
        .execute(&mut *failed)
        .await
        .expect_err("the trigger aborts");
    assert!(
        error.to_string().contains("rolled back by SQLite"),
        "{error}"
    );
    drop(failed);

    // A transaction that is rolled back, as every early return does.
    let mut abandoned = pool.begin().await.expect("begin");
    insert("abandoned")
        .execute(&mut *abandoned)
        .await
        .expect("insert");
    drop(abandoned);

    // Then a write that is committed and acknowledged.
    let mut durable = pool.begin().await.expect("begin");
    insert("durable")
        .execute(&mut *durable)
        .await
        .expect("insert");
    durable.commit().await.expect("commit");
    // Autocommit statements are durable too.
    insert("autocommit").execute(&pool).await.expect("insert");

    // Another connection (another process would be the same) sees both.
    let mut other = sqlx::AnyConnection::connect(&url).await.expect("connect");
    let (seen,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM notes WHERE body IN ('durable', 'autocommit')")
            .fetch_one(other.acquire().await.expect("connection"))
            .await
            .expect("count");
    assert_eq!(seen, 2, "acknowledged writes were not committed");
    let (abandoned,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM notes WHERE body IN ('abort', 'abandoned')")
            .fetch_one(&mut other)
            .await
            .expect("count");
    assert_eq!(abandoned, 0, "rolled-back writes were committed");
    // And it can write: no transaction is left holding SQLite's write lock.
    sqlx::query("INSERT INTO notes (body) VALUES ('from another connection')")
        .execute(&mut other)
        .await
        .expect("another connection can write");
}
