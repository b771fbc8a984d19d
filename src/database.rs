//! The database: one `AnyPool` over SQLite (embedded default) or PostgreSQL, and migrations.

use crate::settings::DatabaseSettings;
use secrecy::ExposeSecret;
use sqlx::any::AnyPoolOptions;
use sqlx::migrate::{MigrateError, Migrator};
use sqlx::{AnyConnection, AnyPool, Connection, Executor};
use std::path::{Path, PathBuf};
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
    #[error("cannot create the database file or folder {path}: {source}")]
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

/// Creates the database folder (and any missing parents) readable by the owner only.
fn create_private_folder(folder: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(folder)
}

/// The SQLite file holds CPR numbers, password hashes and the audit log: it is created here,
/// owner-only (0600), before SQLite opens it, and SQLite gives its `-wal` and `-shm` files the
/// database file's mode. Files left with a looser mode are tightened, with a warning.
///
/// An existing file is never opened here, only checked by path: closing any descriptor of a
/// file drops every POSIX advisory lock this process holds on it (fcntl locks are per process,
/// not per descriptor), so opening and closing the database beside a pool that already has it
/// open (a second node or CLI command in the same process) silently released that pool's SQLite
/// locks. Another process (`segl keys rotate`) then took the exclusive lock on close, believed
/// itself the last connection, checkpointed and deleted the `-wal` file, and this process kept
/// reading the unlinked one: a stale snapshot, keys never reloaded, for good.
fn secure_sqlite_files(database: &Path) -> std::io::Result<()> {
    if !database.exists() {
        let mut options = std::fs::OpenOptions::new();
        // create_new: if it appeared meanwhile, it is someone's open database; leave it be.
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        match options.open(database) {
            Ok(created) => drop(created),
            Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(error) => return Err(error),
        }
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        for suffix in ["", "-wal", "-shm"] {
            let mut name = database.as_os_str().to_owned();
            name.push(suffix);
            let file = PathBuf::from(name);
            let Ok(metadata) = std::fs::metadata(&file) else {
                continue;
            };
            let mode = metadata.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600))?;
                tracing::warn!(file = %file.display(), mode = format!("{mode:o}"), "database file was readable by others: set to 0600");
            }
        }
    }
    Ok(())
}

/// Connects, creating a SQLite file (0600) and its folder (0700) on first use.
pub async fn connect(settings: &DatabaseSettings) -> Result<(AnyPool, Backend), DatabaseError> {
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
                create_private_folder(parent).map_err(|source| DatabaseError::Folder {
                    path: parent.display().to_string(),
                    source,
                })?;
            }
            secure_sqlite_files(&path).map_err(|source| DatabaseError::Folder {
                path: path.display().to_string(),
                source,
            })?;
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
        .acquire_timeout(Duration::from_secs(settings.acquire_timeout_seconds.max(1)))
        // Never hand out a connection that sqlx still believes to be inside a transaction.
        // When a statement or COMMIT fails with SQLITE_FULL or SQLITE_IOERR, SQLite may roll the
        // transaction back by itself; sqlx's own ROLLBACK then fails, and its transaction depth
        // stays at 1 (sqlx-sqlite 0.8.6, src/connection/worker.rs, `Command::Rollback` and
        // `Command::Commit` only decrement the depth when the statement succeeds). The next
        // `begin()` on that connection issues `SAVEPOINT _sqlx_savepoint_1` instead of `BEGIN`,
        // and its first rollback (`ROLLBACK TO SAVEPOINT`) leaves SQLite inside a transaction
        // that nothing ever commits: every later write is acknowledged and then lost. Such a
        // connection is closed here (SQLite rolls back whatever it holds) and the pool opens a
        // fresh one. The depth is settled by then: the pool pings a released connection, which
        // runs after any rollback a dropped transaction queued. An atomic load, no round trip.
        .before_acquire(|connection, _meta| {
            Box::pin(async move {
                if connection.is_in_transaction() {
                    tracing::warn!(
                        "a database connection was left inside a failed transaction: closing it"
                    );
                    return Ok(false);
                }
                Ok(true)
            })
        })
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
    Ok((pool, backend))
}

/// How many migrations this binary applies on `backend`: what `/readyz` expects to find applied.
pub fn expected_migrations(backend: Backend) -> i64 {
    let migrator = match backend {
        Backend::Sqlite => &SQLITE_MIGRATIONS,
        Backend::Postgres => &POSTGRES_MIGRATIONS,
    };
    let count = migrator
        .iter()
        .filter(|migration| !migration.migration_type.is_down_migration())
        .count();
    i64::try_from(count).unwrap_or(i64::MAX)
}

/// Applied migrations whose files were since edited in comments only: (version, the SHA-384
/// sqlx recorded for the file as it was). sqlx refuses a database whose recorded checksum
/// differs from the file's; for these the old checksum is known to mean the same SQL, so it is
/// replaced by the current one before migrating. Anything else that differs is still refused.
const COMMENT_ONLY_EDITS: &[(i64, &str)] = &[
    // 0007: its first comment cited "NEMLOGIN.md" before the domain document lived in docs/.
    (
        7,
        "6da53c985889173578a9c5c986bcde190b66d042c85cc123dc6db12a312ad4b15cc4273976abdd35451cc23c8a5b90b5",
    ),
];

/// Applies the migrations of the backend (`migrations/sqlite` or `migrations/postgres`).
pub async fn migrate(pool: &AnyPool, backend: Backend) -> Result<(), DatabaseError> {
    let migrator = match backend {
        Backend::Sqlite => &SQLITE_MIGRATIONS,
        Backend::Postgres => &POSTGRES_MIGRATIONS,
    };
    accept_comment_only_edits(pool, backend, migrator).await?;
    migrator.run(pool).await?;
    Ok(())
}

/// Rewrites the recorded checksum of each migration in [`COMMENT_ONLY_EDITS`] from its old
/// value to the file's current one (a compare-and-set: any other recorded value is left for
/// sqlx to refuse). Nothing to do on a database sqlx has not migrated yet.
async fn accept_comment_only_edits(
    pool: &AnyPool,
    backend: Backend,
    migrator: &Migrator,
) -> Result<(), DatabaseError> {
    let exists = match backend {
        Backend::Sqlite => {
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'"
        }
        Backend::Postgres => {
            "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = current_schema() \
             AND table_name = '_sqlx_migrations'"
        }
    };
    let tables: i64 = sqlx::query_scalar(exists)
        .fetch_one(pool)
        .await
        .map_err(MigrateError::Execute)?;
    if tables == 0 {
        return Ok(());
    }
    for (version, old_checksum) in COMMENT_ONLY_EDITS {
        let (Some(migration), Ok(old_checksum)) = (
            migrator
                .iter()
                .find(|migration| migration.version == *version),
            hex::decode(old_checksum),
        ) else {
            continue;
        };
        sqlx::query(
            "UPDATE _sqlx_migrations SET checksum = $1 WHERE version = $2 AND checksum = $3",
        )
        .bind(migration.checksum.to_vec())
        .bind(*version)
        .bind(old_checksum)
        .execute(pool)
        .await
        .map_err(MigrateError::Execute)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

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
