//! The database: one `AnyPool` over SQLite (embedded default) or PostgreSQL, and migrations.

use crate::settings::DatabaseSettings;
use secrecy::ExposeSecret;
use sqlx::any::AnyPoolOptions;
use sqlx::migrate::Migrator;
use sqlx::{AnyConnection, AnyPool, Connection, Executor};
use std::path::PathBuf;
use std::time::Duration;

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/postgres");

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Debug, thiserror::Error)]
pub enum DatabaseError {
    #[error("unsupported database URL '{0}': use sqlite://PATH or postgres://…")]
    UnsupportedUrl(String),
    #[error("cannot create the database folder {path}: {source}")]
    Folder {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot connect to the database at {url}")]
    Connect {
        url: String,
        #[source]
        source: sqlx::Error,
    },
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

impl Backend {
    pub fn of(url: &str) -> Option<Self> {
        if url.starts_with("sqlite:") {
            Some(Self::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Some(Self::Postgres)
        } else {
            None
        }
    }
}

/// The file path of a `sqlite://PATH` URL (None for in-memory databases).
pub fn sqlite_path(url: &str) -> Option<PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or_default();
    if path.is_empty() || path == ":memory:" {
        None
    } else {
        Some(PathBuf::from(path))
    }
}

/// The database's pools: `write` for transactions and writes, `read` for plain reads.
#[derive(Clone, Debug)]
pub struct Pools {
    pub write: AnyPool,
    pub read: AnyPool,
    pub backend: Backend,
}

/// Connects, creating a SQLite file and its folder on first use.
///
/// SQLite in WAL mode has one writer and any number of readers. The writer pool has one
/// connection (see below); a file database also gets a reader pool of query-only connections,
/// one per core, opened on first use, so reads run in parallel beside the writer and never
/// queue behind it. A committed write is visible to the next read on any connection. PostgreSQL
/// and in-memory SQLite use one pool for both.
pub async fn connect(settings: &DatabaseSettings) -> Result<Pools, DatabaseError> {
    sqlx::any::install_default_drivers();
    let raw = settings.url.expose_secret();
    let backend =
        Backend::of(raw).ok_or_else(|| DatabaseError::UnsupportedUrl(settings.redacted_url()))?;
    let mut url = raw.to_owned();
    if backend == Backend::Sqlite {
        if let Some(path) = sqlite_path(raw) {
            if let Some(parent) = path
                .parent()
                .filter(|parent| !parent.as_os_str().is_empty())
            {
                std::fs::create_dir_all(parent).map_err(|source| DatabaseError::Folder {
                    path: parent.display().to_string(),
                    source,
                })?;
            }
        }
        if !url.contains("mode=") {
            url.push_str(if url.contains('?') {
                "&mode=rwc"
            } else {
                "?mode=rwc"
            });
        }
    }
    // One direct connection first: the pool would retry until its timeout and report only
    // "timed out", while this reports the cause (refused, unknown host, bad password, ...).
    let timeout = Duration::from_secs(settings.connect_timeout_seconds.max(1));
    let probe = tokio::time::timeout(timeout, AnyConnection::connect(&url)).await;
    let connect_error = |source| DatabaseError::Connect {
        url: settings.redacted_url(),
        source,
    };
    match probe {
        Ok(Ok(connection)) => {
            let _ = connection.close().await;
        }
        Ok(Err(source)) => return Err(connect_error(source)),
        Err(_) => return Err(connect_error(sqlx::Error::PoolTimedOut)),
    }
    // SQLite has one writer at a time per file: with several connections in one process,
    // concurrent writers wait in SQLite's busy handler, which sleeps in steps of up to 100 ms
    // (userinfo p99 was 0.5 s under load). One connection queues them in sqlx instead, in
    // order, with no sleeping; reads are microseconds. PostgreSQL gets the configured pool.
    let max_connections = match backend {
        Backend::Sqlite => 1,
        Backend::Postgres => settings.max_connections.max(1),
    };
    let pool = AnyPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(timeout)
        .after_connect(move |connection, _meta| {
            Box::pin(async move {
                if backend == Backend::Sqlite {
                    // WAL lets readers run beside the writer; NORMAL is durable across process
                    // crashes in WAL mode; busy_timeout makes writers wait rather than fail.
                    connection
                        .execute("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 5000; PRAGMA foreign_keys = ON;")
                        .await?;
                }
                Ok(())
            })
        })
        .connect(&url)
        .await
        .map_err(connect_error)?;
    let read = if backend == Backend::Sqlite && sqlite_path(raw).is_some() {
        let readers =
            std::thread::available_parallelism().map_or(2, |cores| cores.get().clamp(2, 8));
        AnyPoolOptions::new()
            .max_connections(readers as u32)
            .min_connections(0)
            .acquire_timeout(timeout)
            .after_connect(|connection, _meta| {
                Box::pin(async move {
                    connection
                        .execute("PRAGMA busy_timeout = 5000; PRAGMA query_only = ON;")
                        .await?;
                    Ok(())
                })
            })
            .connect_lazy(&url)
            .map_err(connect_error)?
    } else {
        pool.clone()
    };
    Ok(Pools {
        write: pool,
        read,
        backend,
    })
}

/// Applies the migrations of the backend (`migrations/sqlite` or `migrations/postgres`).
pub async fn migrate(pool: &AnyPool, backend: Backend) -> Result<(), DatabaseError> {
    match backend {
        Backend::Sqlite => SQLITE_MIGRATIONS.run(pool).await?,
        Backend::Postgres => POSTGRES_MIGRATIONS.run(pool).await?,
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(url: String) -> DatabaseSettings {
        DatabaseSettings {
            url: url.into(),
            max_connections: 4,
            connect_timeout_seconds: 5,
        }
    }

    #[tokio::test]
    async fn a_sqlite_file_gets_query_only_readers_that_see_each_commit() {
        let folder = tempfile::TempDir::new().expect("temp dir");
        let url = format!("sqlite://{}", folder.path().join("segl.db").display());
        let pools = connect(&settings(url)).await.expect("connect");
        sqlx::query("CREATE TABLE t (v INTEGER)")
            .execute(&pools.write)
            .await
            .expect("create on the writer");
        sqlx::query("INSERT INTO t (v) VALUES (7)")
            .execute(&pools.write)
            .await
            .expect("insert on the writer");
        let (v,): (i64,) = sqlx::query_as("SELECT v FROM t")
            .fetch_one(&pools.read)
            .await
            .expect("the reader sees the committed row");
        assert_eq!(v, 7);
        let refused = sqlx::query("INSERT INTO t (v) VALUES (8)")
            .execute(&pools.read)
            .await
            .expect_err("a reader cannot write");
        assert!(refused.to_string().contains("readonly"), "{refused}");
    }

    #[tokio::test]
    async fn in_memory_sqlite_reads_and_writes_on_one_pool() {
        let pools = connect(&settings("sqlite::memory:".into()))
            .await
            .expect("connect");
        sqlx::query("CREATE TABLE t (v INTEGER)")
            .execute(&pools.write)
            .await
            .expect("create");
        // A second in-memory connection would be another, empty database.
        let (count,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM t")
            .fetch_one(&pools.read)
            .await
            .expect("the table is there");
        assert_eq!(count, 0);
    }

    #[test]
    fn backend_comes_from_the_scheme() {
        assert_eq!(Backend::of("sqlite://data/segl.db"), Some(Backend::Sqlite));
        assert_eq!(Backend::of("postgres://u@h/db"), Some(Backend::Postgres));
        assert_eq!(Backend::of("mysql://u@h/db"), None);
    }

    #[test]
    fn sqlite_path_ignores_query() {
        assert_eq!(
            sqlite_path("sqlite://data/segl.db?mode=rwc"),
            Some(PathBuf::from("data/segl.db"))
        );
        assert_eq!(sqlite_path("sqlite::memory:"), None);
    }
}
