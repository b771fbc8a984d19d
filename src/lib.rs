//! Wiring of the `segl` binary: settings, the database pool, migrations, the registry and the
//! HTTP application. Protocol and registry rules live in the crates under `crates/`.

pub mod database;
pub mod settings;

use anyhow::Context;
use citizen_registry::sealing::MasterKey;
use citizen_registry::store::Store;
use citizen_registry::Registry;
use secrecy::ExposeSecret;
use settings::Settings;
use sqlx::AnyPool;
use std::net::SocketAddr;
use tokio::net::TcpListener;

/// The database, migrated, with the services built on it.
#[derive(Clone)]
pub struct Services {
    pub pool: AnyPool,
    pub backend: database::Backend,
    pub registry: Registry,
}

impl Services {
    /// Connects, migrates, resolves the master key and builds the registry.
    pub async fn open(settings: &Settings) -> anyhow::Result<Self> {
        let (pool, backend) = database::connect(&settings.database).await?;
        database::migrate(&pool, backend).await?;
        let master_key = master_key(settings, backend)?;
        let registry = Registry::new(Store::new(pool.clone()), &master_key, settings.registry_settings())?;
        Ok(Self { pool, backend, registry })
    }
}

/// The master key from settings; for an embedded SQLite database without one, a key file beside
/// the database (made on first start, readable by the owner only). PostgreSQL deployments must
/// configure it: they run several nodes that must share it.
pub fn master_key(settings: &Settings, backend: database::Backend) -> anyhow::Result<MasterKey> {
    let configured = settings.secrets.master_key.expose_secret();
    if !configured.trim().is_empty() {
        return MasterKey::parse(configured).context("secrets.master_key");
    }
    let hint = "set SEGL__SECRETS__MASTER_KEY to the output of `segl keys generate-master`";
    let path = match backend {
        database::Backend::Postgres => anyhow::bail!("no master key configured: {hint}"),
        database::Backend::Sqlite => database::sqlite_path(settings.database.url.expose_secret())
            .map(|database| database.with_file_name("segl.key"))
            .ok_or_else(|| anyhow::anyhow!("no master key configured for an in-memory database: {hint}"))?,
    };
    if path.exists() {
        let encoded = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
        return MasterKey::parse(&encoded).with_context(|| format!("master key file {}", path.display()));
    }
    let encoded = MasterKey::generate_encoded()?;
    write_private_file(&path, &encoded).with_context(|| format!("writing {}", path.display()))?;
    tracing::warn!(path = %path.display(), "no master key configured: generated a development key file");
    Ok(MasterKey::parse(&encoded)?)
}

fn write_private_file(path: &std::path::Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)?.write_all(contents.as_bytes())
}

/// The HTTP server, bound and ready to run.
pub struct Application {
    listener: TcpListener,
    router: axum::Router,
    pub services: Services,
}

impl Application {
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let services = Services::open(&settings).await?;
        let listener = TcpListener::bind(&settings.server.listen)
            .await
            .with_context(|| format!("cannot listen on {}", settings.server.listen))?;
        let router = axum::Router::new().route("/healthz", axum::routing::get(|| async { "ok" }));
        Ok(Self { listener, router, services })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` completes, then finishes in-flight requests.
    pub async fn run_until(self, shutdown: impl std::future::Future<Output = ()> + Send + 'static) -> std::io::Result<()> {
        let service = self.router.into_make_service_with_connect_info::<SocketAddr>();
        axum::serve(self.listener, service).with_graceful_shutdown(shutdown).await
    }
}
