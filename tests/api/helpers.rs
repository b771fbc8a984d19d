//! Test harness: a fresh database per test, the real application on a random port, and a way
//! to run the real `segl` binary against the same database.

use secrecy::ExposeSecret;
use segl::settings::Settings;
use segl::{Application, Services};
use std::process::Output;
use tempfile::TempDir;

/// A database of the test's own: a SQLite file in a temporary folder, or a new PostgreSQL
/// database `test_<uuid>` created through `TEST_DATABASE_URL`.
pub struct TestDb {
    pub url: String,
    pub is_postgres: bool,
    _folder: Option<TempDir>,
}

impl TestDb {
    pub async fn new() -> TestDb {
        match std::env::var("TEST_DATABASE_URL") {
            Ok(base) if !base.trim().is_empty() => {
                use sqlx::{Connection, Executor};
                sqlx::any::install_default_drivers();
                let mut admin = sqlx::AnyConnection::connect(&base)
                    .await
                    .unwrap_or_else(|error| {
                        panic!("TEST_DATABASE_URL is set but unreachable: {error}")
                    });
                let name = format!("test_{}", uuid::Uuid::new_v4().simple());
                admin
                    .execute(format!("CREATE DATABASE {name}").as_str())
                    .await
                    .expect("create test database");
                let mut url = url::Url::parse(&base).expect("TEST_DATABASE_URL is a URL");
                url.set_path(&format!("/{name}"));
                TestDb {
                    url: url.to_string(),
                    is_postgres: true,
                    _folder: None,
                }
            }
            _ => {
                let folder = TempDir::new().expect("temp dir");
                let url = format!("sqlite://{}", folder.path().join("segl.db").display());
                TestDb {
                    url,
                    is_postgres: false,
                    _folder: Some(folder),
                }
            }
        }
    }
}

pub struct TestApp {
    /// `http://127.0.0.1:PORT`
    pub address: String,
    /// Cookies on, redirects off: tests follow redirects by hand and assert each hop.
    pub client: reqwest::Client,
    pub db: TestDb,
    pub settings: Settings,
    pub services: Services,
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

pub async fn spawn_app_with(configure: impl FnOnce(&mut Settings)) -> TestApp {
    let db = TestDb::new().await;
    let mut settings = Settings::for_tests(&db.url);
    configure(&mut settings);
    let application = Application::build(settings.clone())
        .await
        .expect("application builds");
    let address = format!("http://{}", application.local_addr().expect("bound"));
    let services = application.services.clone();
    tokio::spawn(application.run_until(std::future::pending()));
    let client = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("http client");
    TestApp {
        address,
        client,
        db,
        settings,
        services,
    }
}

/// What a run of the `segl` binary printed.
pub struct CliOutput {
    pub success: bool,
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for CliOutput {
    fn from(output: Output) -> Self {
        CliOutput {
            success: output.status.success(),
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }
}

impl TestApp {
    /// Runs `segl ARGS` against this test's database with the same master key.
    pub async fn segl(&self, args: &[&str]) -> CliOutput {
        self.segl_with_stdin(args, "").await
    }

    pub async fn segl_with_stdin(&self, args: &[&str], stdin: &str) -> CliOutput {
        run_segl(
            args,
            stdin,
            &[
                ("SEGL_DATABASE_URL", self.db.url.as_str()),
                (
                    "SEGL__SECRETS__MASTER_KEY",
                    self.settings.secrets.master_key.expose_secret(),
                ),
            ],
        )
        .await
    }

    /// Counts the rows of an audit kind, straight from the database.
    pub async fn audit_count(&self, kind: &str) -> i64 {
        let (count,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM audit_events WHERE kind = $1")
            .bind(kind)
            .fetch_one(&self.services.pool)
            .await
            .expect("count audit events");
        count
    }

    pub async fn citizen_count(&self) -> i64 {
        let (count,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM citizens")
            .fetch_one(&self.services.pool)
            .await
            .expect("count citizens");
        count
    }
}

/// Runs the real binary with the given environment (and nothing inherited that configures Segl).
pub async fn run_segl(args: &[&str], stdin: &str, env: &[(&str, &str)]) -> CliOutput {
    use tokio::io::AsyncWriteExt;
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_segl"));
    command
        .args(args)
        .env_remove("SEGL_CONFIG")
        .env_remove("RUST_LOG")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    for (key, value) in env {
        command.env(key, value);
    }
    let mut child = command.spawn().expect("segl starts");
    if let Some(mut input) = child.stdin.take() {
        input
            .write_all(stdin.as_bytes())
            .await
            .expect("write stdin");
    }
    child.wait_with_output().await.expect("segl runs").into()
}

/// A valid CPR number for tests: 7 July 1961, serial 4285 (passes modulus 11).
pub const CPR: &str = "070761-4285";
