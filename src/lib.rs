//! Wiring of the `segl` binary: settings, the database pool, migrations, the registry and the
//! HTTP application. Protocol and registry rules live in the crates under `crates/`.

pub mod clients;
pub mod database;
pub mod demo;
pub mod settings;

use anyhow::Context;
use citizen_registry::sealing::MasterKey;
use citizen_registry::store::Store;
use citizen_registry::Registry;
use oidc_provider::context::{Clock, Context as ProviderContext};
use oidc_provider::keyring::KeyRing;
use oidc_provider::store::Store as ProviderStore;
use secrecy::ExposeSecret;
use settings::Settings;
use sqlx::AnyPool;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

/// The database, migrated, with the services built on it.
#[derive(Clone)]
pub struct Services {
    pub pool: AnyPool,
    pub backend: database::Backend,
    pub registry: Registry,
    pub master_key: Arc<MasterKey>,
    /// The provider's store (clients, keys, sessions, codes).
    pub provider_store: ProviderStore,
    /// The time every service reads: the system clock.
    pub clock: Clock,
}

impl Services {
    /// Connects, migrates, resolves the master key and builds the registry.
    pub async fn open(settings: &Settings) -> anyhow::Result<Self> {
        let (pool, backend) = database::connect(&settings.database).await?;
        database::migrate(&pool, backend).await?;
        let master_key = master_key(settings, backend)?;
        let clock = Clock::system();
        let registry = Registry::new(
            Store::new(pool.clone()),
            &master_key,
            settings.registry_settings(),
        )?
        .with_clock(clock.clone());
        Ok(Self {
            provider_store: ProviderStore::new(pool.clone()),
            pool,
            backend,
            registry,
            master_key: Arc::new(master_key),
            clock,
        })
    }

    /// Loads the signing keys (creating the first set on a new database).
    pub async fn key_ring(&self) -> anyhow::Result<KeyRing> {
        Ok(KeyRing::load(
            self.provider_store.clone(),
            &self.master_key,
            self.clock.clone(),
        )
        .await?)
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
            .ok_or_else(|| {
                anyhow::anyhow!("no master key configured for an in-memory database: {hint}")
            })?,
    };
    if path.exists() {
        let encoded = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        return MasterKey::parse(&encoded)
            .with_context(|| format!("master key file {}", path.display()));
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
    pub provider: ProviderContext,
    key_refresh: Duration,
    header_read_timeout: Duration,
    shutdown_drain: Duration,
}

impl Application {
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(&settings.server.listen)
            .await
            .with_context(|| format!("cannot listen on {}", settings.server.listen))?;
        Self::build_on(settings, listener).await
    }

    /// Builds on a listener bound by the caller (so the issuer can name the real port).
    pub async fn build_on(settings: Settings, listener: TcpListener) -> anyhow::Result<Self> {
        let services = Services::open(&settings).await?;
        if !settings.provider.clients_file.trim().is_empty() {
            clients::load_file(
                &services,
                &clients::outbound(&settings)?,
                std::path::Path::new(settings.provider.clients_file.trim()),
            )
            .await?;
        }
        let keys = Arc::new(services.key_ring().await?);
        let provider = ProviderContext::new(
            services.provider_store.clone(),
            services.registry.clone(),
            settings.provider_settings(),
            keys,
            &services.master_key,
        )?
        .with_clock(services.clock.clone());
        let router = oidc_provider::router(
            provider.clone(),
            database::expected_migrations(services.backend),
        )?;
        Ok(Self {
            listener,
            router,
            services,
            provider,
            key_refresh: Duration::from_secs(settings.provider.key_refresh_seconds.max(1)),
            header_read_timeout: Duration::from_secs(
                settings.server.header_read_timeout_seconds.max(1),
            ),
            shutdown_drain: Duration::from_secs(settings.server.shutdown_drain_seconds),
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` completes; then stops accepting, lets open connections finish
    /// for at most `server.shutdown_drain_seconds`, and closes whatever is left.
    ///
    /// HTTP/1.1 through hyper directly (axum::serve has no header-read timeout): a client must
    /// send each request head within `server.header_read_timeout_seconds`, and hyper runs that
    /// timer from the moment it waits for a request, so it also ends idle keep-alive
    /// connections. Each connection is a task of its own.
    pub async fn run_until(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        use axum::extract::ConnectInfo;
        use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
        use hyper_util::server::conn::auto;
        use hyper_util::service::TowerToHyperService;
        use tower::ServiceExt;

        let Self {
            listener,
            router,
            provider,
            key_refresh,
            header_read_timeout,
            shutdown_drain,
            ..
        } = self;
        let maintenance = tokio::spawn(maintain(provider.clone(), key_refresh));
        let clients = tokio::spawn(refresh_clients(provider.clone()));
        let deliveries = tokio::spawn(deliver_logouts(provider.clone()));

        let mut builder = auto::Builder::new(TokioExecutor::new()).http1_only();
        builder
            .http1()
            .timer(TokioTimer::new())
            .header_read_timeout(header_read_timeout);
        let graceful = hyper_util::server::graceful::GracefulShutdown::new();
        let mut connections = tokio::task::JoinSet::new();
        tokio::pin!(shutdown);
        loop {
            let (stream, peer) = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok(accepted) => accepted,
                    Err(error) if is_connection_error(&error) => continue,
                    Err(error) => {
                        // Out of file descriptors, say: wait rather than spin.
                        tracing::error!(%error, "accept failed");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        continue;
                    }
                },
                () = &mut shutdown => break,
            };
            while connections.try_join_next().is_some() {}
            // No Nagle delay: a response is written whole, and a small one must not wait for an ACK.
            if let Err(error) = stream.set_nodelay(true) {
                tracing::debug!(%error, "TCP_NODELAY not set");
            }
            // Handlers read the peer address through axum's ConnectInfo extractor.
            let service = router.clone().map_request(
                move |mut request: axum::http::Request<hyper::body::Incoming>| {
                    request.extensions_mut().insert(ConnectInfo(peer));
                    request
                },
            );
            let connection = builder
                .serve_connection(TokioIo::new(stream), TowerToHyperService::new(service))
                .into_owned();
            let connection = graceful.watch(connection);
            connections.spawn(async move {
                if let Err(error) = connection.await {
                    tracing::debug!(%error, "connection ended with an error");
                }
            });
        }
        drop(listener);
        tracing::info!(
            open = connections.len(),
            "shutting down: no new connections"
        );
        if tokio::time::timeout(shutdown_drain, graceful.shutdown())
            .await
            .is_err()
        {
            tracing::warn!(
                open = connections.len(),
                "drain deadline passed: closing the remaining connections"
            );
        }
        connections.shutdown().await;
        maintenance.abort();
        clients.abort();
        deliveries.abort();
        Ok(())
    }
}

/// Errors of one connection that `accept` reports; the listener itself is fine.
fn is_connection_error(error: &std::io::Error) -> bool {
    matches!(
        error.kind(),
        std::io::ErrorKind::ConnectionRefused
            | std::io::ErrorKind::ConnectionAborted
            | std::io::ErrorKind::ConnectionReset
    )
}

/// Every second on every node: drop the client cache if a client changed anywhere (an indexed
/// read of one row). A task of its own, so nothing else can delay it.
async fn refresh_clients(provider: ProviderContext) {
    let mut ticker = tokio::time::interval(Duration::from_secs(1));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        if let Err(error) = oidc_provider::flows::client::refresh_client_cache(&provider).await {
            tracing::warn!(%error, "client cache refresh failed");
        }
    }
}

/// Every second on every node: start the queued back-channel logout deliveries that are due
/// (an indexed query that usually finds nothing). Each delivery runs in a task of its own, so a
/// slow relying party delays nobody else; a row is leased while tried, so nodes never post the
/// same one at once, and a node that stops leaves its rows to the others.
async fn deliver_logouts(provider: ProviderContext) {
    let mut ticker = tokio::time::interval(Duration::from_secs(1));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        if let Err(error) = oidc_provider::flows::logout::deliver_due_logouts(&provider).await {
            tracing::warn!(%error, "back-channel logout delivery failed");
        }
    }
}

/// Background upkeep on every node: pick up keys rotated elsewhere, delete expired rows.
/// Losing this task loses nothing: all state is in the database.
async fn maintain(provider: ProviderContext, key_refresh: Duration) {
    let mut ticker = tokio::time::interval(key_refresh);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        match provider.keys().refresh().await {
            Ok(true) => tracing::info!("signing keys changed: reloaded"),
            Ok(false) => {}
            Err(error) => tracing::warn!(%error, "signing key refresh failed"),
        }
        let now = provider.clock().now();
        if let Err(error) = provider.store().delete_expired(now).await {
            tracing::warn!(%error, "deleting expired rows failed");
        }
    }
}
