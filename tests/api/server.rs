//! The server process: slow clients are cut off, SIGTERM drains and exits 0 within the drain
//! deadline, `/readyz` says whether the node can serve (and the node answers 503 with
//! Retry-After during a database outage, recovering by itself), and the SQLite files are
//! readable by the owner only.

use crate::helpers::{spawn_app, spawn_app_with, TestDb};
use secrecy::{ExposeSecret, SecretString};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Reads until the server closes the connection; panics if it is still open after `limit`.
/// Returns what was read and how long it took.
async fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> (Vec<u8>, Duration) {
    let started = Instant::now();
    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        let read = tokio::time::timeout(
            limit.saturating_sub(started.elapsed()),
            stream.read(&mut buffer),
        )
        .await
        .unwrap_or_else(|_| panic!("the connection is still open after {limit:?}"));
        match read {
            Ok(0) | Err(_) => return (received, started.elapsed()),
            Ok(count) => received.extend_from_slice(&buffer[..count]),
        }
    }
}

fn host(address: &str) -> &str {
    address.trim_start_matches("http://")
}

#[tokio::test]
async fn a_half_sent_request_head_is_closed_within_the_header_read_timeout() {
    let app = spawn_app_with(|settings| settings.server.header_read_timeout_seconds = 1).await;
    let mut stream = TcpStream::connect(host(&app.address))
        .await
        .expect("connect");
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost:")
        .await
        .expect("half a request head");
    let (received, took) = read_until_closed(&mut stream, Duration::from_secs(3)).await;
    assert!(received.is_empty(), "no response to half a head");
    assert!(took >= Duration::from_millis(900), "closed at {took:?}");

    // A client that connects and sends nothing is closed the same way.
    let mut silent = TcpStream::connect(host(&app.address))
        .await
        .expect("connect");
    let (received, _) = read_until_closed(&mut silent, Duration::from_secs(3)).await;
    assert!(received.is_empty());
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_after_the_header_read_timeout() {
    let app = spawn_app_with(|settings| settings.server.header_read_timeout_seconds = 1).await;
    let mut stream = TcpStream::connect(host(&app.address))
        .await
        .expect("connect");
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .expect("a whole request");
    let (received, took) = read_until_closed(&mut stream, Duration::from_secs(3)).await;
    let text = String::from_utf8_lossy(&received);
    assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
    assert!(text.ends_with("\r\n\r\nok"), "{text}");
    assert!(
        took >= Duration::from_millis(900),
        "kept alive only {took:?}"
    );
}

#[tokio::test]
async fn sigterm_with_a_half_sent_request_exits_0_within_the_drain_deadline() {
    let db = TestDb::new().await;
    let settings = segl::settings::Settings::for_tests(&db.url);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port();
    let address = format!("127.0.0.1:{port}");
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_segl"))
        .args(["serve", "--listen", &address])
        .env_remove("SEGL_CONFIG")
        .env_remove("RUST_LOG")
        .env("SEGL_DATABASE_URL", &db.url)
        .env(
            "SEGL__SECRETS__MASTER_KEY",
            settings.secrets.master_key.expose_secret(),
        )
        .env("SEGL__SERVER__HEADER_READ_TIMEOUT_SECONDS", "60")
        .env("SEGL__SERVER__SHUTDOWN_DRAIN_SECONDS", "2")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("segl serve starts");
    let probe = reqwest::Client::new();
    let mut up = false;
    for _ in 0..300 {
        up = probe
            .get(format!("http://{address}/healthz"))
            .timeout(Duration::from_secs(1))
            .send()
            .await
            .is_ok_and(|response| response.status() == 200);
        if up {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(up, "segl serve answers within 30 s");

    let mut stream = TcpStream::connect(&address).await.expect("connect");
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost:")
        .await
        .expect("half a request head");
    // Let the server read it before the signal.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let pid = child.id().expect("running").to_string();
    let signalled = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill runs");
    assert!(signalled.success());
    let started = Instant::now();
    let status = tokio::time::timeout(Duration::from_secs(8), child.wait())
        .await
        .expect("segl exits within the drain deadline (2 s) and a margin")
        .expect("exit status");
    assert_eq!(status.code(), Some(0), "exit status {status}");
    assert!(started.elapsed() < Duration::from_secs(8));
}

#[tokio::test]
async fn readyz_is_200_ready_on_a_healthy_node_and_healthz_stays_liveness() {
    let app = spawn_app().await;
    let response = app
        .client
        .get(format!("{}/readyz", app.address))
        .send()
        .await
        .expect("readyz");
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body: serde_json::Value = response.json().await.expect("json");
    assert_eq!(body, serde_json::json!({ "status": "ready" }));
    let live = app
        .client
        .get(format!("{}/healthz", app.address))
        .send()
        .await
        .expect("healthz");
    assert_eq!(live.status(), 200);
    assert_eq!(live.text().await.expect("body"), "ok");
}

/// A TCP forwarder on loopback between the application and PostgreSQL that the test can cut:
/// `down` drops every forwarded connection and closes each new one at once, as a database
/// host that went away would; `up` forwards again. The shared PostgreSQL server is untouched.
struct Outage {
    address: SocketAddr,
    up: Arc<AtomicBool>,
    links: Arc<Mutex<Vec<tokio::task::AbortHandle>>>,
    accept: tokio::task::JoinHandle<()>,
}

impl Drop for Outage {
    fn drop(&mut self) {
        self.accept.abort();
        self.down();
    }
}

impl Outage {
    async fn start(upstream: String) -> Outage {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let address = listener.local_addr().expect("address");
        let up = Arc::new(AtomicBool::new(true));
        let links: Arc<Mutex<Vec<tokio::task::AbortHandle>>> = Arc::default();
        let accept = tokio::spawn({
            let up = up.clone();
            let links = links.clone();
            async move {
                while let Ok((mut inbound, _)) = listener.accept().await {
                    if !up.load(Ordering::SeqCst) {
                        drop(inbound);
                        continue;
                    }
                    let upstream = upstream.clone();
                    let link = tokio::spawn(async move {
                        if let Ok(mut outbound) = TcpStream::connect(upstream).await {
                            let _ =
                                tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                        }
                    });
                    links.lock().expect("links").push(link.abort_handle());
                }
            }
        });
        Outage {
            address,
            up,
            links,
            accept,
        }
    }

    fn down(&self) {
        self.up.store(false, Ordering::SeqCst);
        for link in self.links.lock().expect("links").drain(..) {
            link.abort();
        }
    }

    fn up(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

async fn client_credentials(
    app: &crate::helpers::TestApp,
    id: &str,
    secret: &str,
) -> (reqwest::Response, Duration) {
    let started = Instant::now();
    let response = app
        .client
        .post(format!("{}/token", app.address))
        .basic_auth(id, Some(secret))
        .form(&[("grant_type", "client_credentials"), ("scope", "profile")])
        .timeout(Duration::from_secs(20))
        .send()
        .await
        .expect("token answers");
    (response, started.elapsed())
}

async fn readyz(app: &crate::helpers::TestApp) -> (reqwest::Response, Duration) {
    let started = Instant::now();
    let response = app
        .client
        .get(format!("{}/readyz", app.address))
        .timeout(Duration::from_secs(20))
        .send()
        .await
        .expect("readyz answers");
    (response, started.elapsed())
}

#[tokio::test]
async fn a_database_outage_gives_503_with_retry_after_fast_and_the_node_recovers() {
    let Ok(base) = std::env::var("TEST_DATABASE_URL") else {
        println!("skipped: needs PostgreSQL (set TEST_DATABASE_URL) to cut the database off");
        return;
    };
    let base = url::Url::parse(&base).expect("TEST_DATABASE_URL is a URL");
    let upstream = format!(
        "{}:{}",
        base.host_str().expect("host"),
        base.port().unwrap_or(5432)
    );
    let outage = Outage::start(upstream).await;
    let proxied = outage.address;
    let app = spawn_app_with(move |settings| {
        let mut url = url::Url::parse(settings.database.url.expose_secret()).expect("database URL");
        url.set_ip_host(proxied.ip()).expect("ip host");
        url.set_port(Some(proxied.port())).expect("port");
        settings.database.url = SecretString::from(url.to_string());
        settings.database.acquire_timeout_seconds = 2;
    })
    .await;
    let client = app
        .add_basic_client("rp-outage", "https://rp.example/callback")
        .await;
    let (ready, _) = readyz(&app).await;
    assert_eq!(ready.status(), 200);

    outage.down();
    let (ready, took) = readyz(&app).await;
    assert_eq!(ready.status(), 503);
    assert_eq!(ready.headers()["retry-after"], "5");
    let body: serde_json::Value = ready.json().await.expect("json");
    assert_eq!(body["status"], "not_ready");
    assert_eq!(body["checks"]["keys"], "ok");
    assert_ne!(body["checks"]["database"], "ok");
    assert!(took < Duration::from_secs(3), "readyz took {took:?}");

    let (token, took) = client_credentials(&app, &client.id, &client.secret).await;
    assert_eq!(token.status(), 503);
    assert_eq!(token.headers()["retry-after"], "5");
    assert_eq!(token.headers()["cache-control"], "no-store");
    let body: serde_json::Value = token.json().await.expect("json");
    assert_eq!(body["error"], "temporarily_unavailable");
    assert!(took < Duration::from_secs(3), "token took {took:?}");

    outage.up();
    let mut recovered = false;
    for _ in 0..50 {
        let (ready, _) = readyz(&app).await;
        if ready.status() == 200 {
            recovered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(recovered, "readyz is 200 again once the database is back");
    let (token, _) = client_credentials(&app, &client.id, &client.secret).await;
    assert_eq!(token.status(), 200);
    let body: serde_json::Value = token.json().await.expect("json");
    assert_eq!(body["token_type"], "Bearer");
}

#[cfg(unix)]
#[tokio::test]
async fn the_sqlite_folder_is_0700_and_its_files_0600() {
    use std::os::unix::fs::PermissionsExt;
    let folder = tempfile::TempDir::new().expect("temp dir");
    let data = folder.path().join("data");
    let database = data.join("segl.db");
    let url = format!("sqlite://{}", database.display());
    let app = spawn_app_with(|settings| {
        settings.database.url = SecretString::from(url.clone());
    })
    .await;
    // A write, so the -wal and -shm files exist.
    app.add_basic_client("rp-files", "https://rp.example/callback")
        .await;
    let mode = |path: &std::path::Path| {
        std::fs::metadata(path)
            .unwrap_or_else(|error| panic!("{}: {error}", path.display()))
            .permissions()
            .mode()
            & 0o777
    };
    assert_eq!(mode(&data), 0o700, "data folder");
    for name in ["segl.db", "segl.db-wal", "segl.db-shm"] {
        assert_eq!(mode(&data.join(name)), 0o600, "{name}");
    }
}

#[cfg(unix)]
#[tokio::test]
async fn an_existing_sqlite_file_readable_by_others_is_tightened_at_start() {
    use std::os::unix::fs::PermissionsExt;
    let folder = tempfile::TempDir::new().expect("temp dir");
    let database = folder.path().join("segl.db");
    std::fs::write(&database, b"").expect("empty database file");
    std::fs::set_permissions(&database, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let url = format!("sqlite://{}", database.display());
    let _app = spawn_app_with(|settings| {
        settings.database.url = SecretString::from(url.clone());
    })
    .await;
    let mode = std::fs::metadata(&database)
        .expect("db")
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600);
}

/// Opening the database a second time in one process (a second node, as the key rotation test
/// runs) must not release the first one's SQLite locks: fcntl locks belong to the process, and
/// closing any descriptor of the file drops them all. Without its locks the first node looked
/// unused to `segl`, which checkpointed and deleted the `-wal` (and `-shm`) file on exit while
/// the node kept reading the unlinked copy: a stale snapshot that never saw the rotation.
#[cfg(target_os = "linux")]
#[tokio::test]
async fn a_second_open_in_one_process_keeps_the_first_ones_sqlite_files() {
    let app = spawn_app().await;
    if !app.db.url.starts_with("sqlite:") {
        return;
    }
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let mut settings = app.settings.clone();
    settings.server.listen = listener.local_addr().expect("bound").to_string();
    let node = segl::Application::build_on(settings, listener)
        .await
        .expect("a second node on the database");
    let second = node.services.clone();
    tokio::spawn(node.run_until(std::future::pending()));
    let listed = app.segl(&["keys", "list"]).await;
    assert!(listed.success, "keys list: {}", listed.stderr);
    // Other processes write and exit, as `segl keys rotate` does. Whether one of them closes
    // its connection (and checkpoints) before it exits is a race, so there are several.
    for _ in 0..4 {
        let rotated = app.segl(&["keys", "rotate"]).await;
        assert!(rotated.success, "keys rotate: {}", rotated.stderr);
    }

    // Only this test's files: other tests in this process may still hold connections to the
    // databases of their own folders, removed when they ended.
    let database = app
        .db
        .url
        .trim_start_matches("sqlite://")
        .trim_start_matches("sqlite:")
        .split('?')
        .next()
        .unwrap_or_default()
        .to_string();
    assert!(!database.is_empty(), "a database path in {}", app.db.url);
    let deleted: Vec<String> = std::fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd")
        .flatten()
        .filter_map(|entry| std::fs::read_link(entry.path()).ok())
        .map(|target| target.display().to_string())
        .filter(|target| target.starts_with(&database) && target.ends_with("(deleted)"))
        .collect();
    assert!(
        deleted.is_empty(),
        "SQLite files deleted under open connections: {deleted:?}"
    );
    // Both pools see the rotations: four versions past the first keys.
    for (name, pool) in [("first", &app.services.pool), ("second", &second.pool)] {
        let (version,): (i64,) =
            sqlx::query_as("SELECT version FROM signing_keys_version WHERE id = 1")
                .fetch_one(pool)
                .await
                .expect("the version row");
        assert_eq!(version, 5, "the rotation is visible to the {name} pool");
    }
}

/// Migration 0007 was edited in a comment only after databases had applied it. A database that
/// recorded the old checksum still migrates (and now records the current one); one whose
/// recorded checksum is anything else is still refused, as sqlx refuses any edited migration.
#[tokio::test]
async fn a_comment_only_edit_of_an_applied_migration_is_accepted_and_nothing_else() {
    let app = spawn_app().await;
    let old = hex::decode(
        "6da53c985889173578a9c5c986bcde190b66d042c85cc123dc6db12a312ad4b15cc4273976abdd35451cc23c8a5b90b5",
    )
    .expect("hex");
    let checksum = |pool: sqlx::AnyPool| async move {
        let (checksum,): (Vec<u8>,) =
            sqlx::query_as("SELECT checksum FROM _sqlx_migrations WHERE version = 7")
                .fetch_one(&pool)
                .await
                .expect("migration 7 is recorded");
        checksum
    };
    let current = checksum(app.services.pool.clone()).await;
    assert_ne!(current, old, "the file was edited since");
    let set = |value: Vec<u8>| {
        let pool = app.services.pool.clone();
        async move {
            sqlx::query("UPDATE _sqlx_migrations SET checksum = $1 WHERE version = 7")
                .bind(value)
                .execute(&pool)
                .await
                .expect("set the recorded checksum");
        }
    };

    set(old).await;
    let migrated = app.segl(&["migrate"]).await;
    assert!(migrated.success, "segl migrate: {}", migrated.stderr);
    assert_eq!(checksum(app.services.pool.clone()).await, current);

    set(vec![0u8; 48]).await;
    let refused = app.segl(&["migrate"]).await;
    assert!(
        !refused.success,
        "a migration edited otherwise must be refused"
    );
    assert!(
        refused.stderr.contains("migration 7"),
        "names the migration: {}",
        refused.stderr
    );
    assert_eq!(checksum(app.services.pool.clone()).await, vec![0u8; 48]);
}
