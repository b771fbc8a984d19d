//! Test harness: a fresh database per test, the real application on a random port, and a way
//! to run the real `segl` binary against the same database.

use secrecy::ExposeSecret;
use segl::settings::Settings;
use segl::{Application, Services};
use std::process::Output;
use tempfile::TempDir;

/// A database of the test's own: a SQLite file in a temporary folder, or a new PostgreSQL
/// database `test_<uuid>` created through `TEST_DATABASE_URL`.
pub(crate) struct TestDb {
    pub url: String,
    pub is_postgres: bool,
    _folder: Option<TempDir>,
    /// For PostgreSQL: the server URL and database name, to drop it when the test ends.
    postgres: Option<(String, String)>,
}

impl Drop for TestDb {
    /// Drops a test's PostgreSQL database (the SQLite file goes with its TempDir). Runs on a
    /// thread of its own: `Drop` cannot await, and the test's runtime may be shutting down.
    fn drop(&mut self) {
        let Some((base, name)) = self.postgres.take() else {
            return;
        };
        let dropper = std::thread::spawn(move || {
            use sqlx::{Connection, Executor};
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            runtime.block_on(async {
                if let Ok(mut admin) = sqlx::AnyConnection::connect(&base).await {
                    // PostgreSQL 13+: FORCE ends the test server's pooled connections first.
                    let _ = admin
                        .execute(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str())
                        .await;
                }
            });
        });
        let _ = dropper.join();
    }
}

impl TestDb {
    /// A SQLite database at `path`, in a folder the caller owns, whatever TEST_DATABASE_URL says.
    pub(crate) fn sqlite_at(path: &std::path::Path) -> TestDb {
        TestDb {
            url: format!("sqlite://{}", path.display()),
            is_postgres: false,
            _folder: None,
            postgres: None,
        }
    }

    pub(crate) async fn new() -> TestDb {
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
                    postgres: Some((base, name)),
                }
            }
            _ => {
                let folder = TempDir::new().expect("temp dir");
                let url = format!("sqlite://{}", folder.path().join("segl.db").display());
                TestDb {
                    url,
                    is_postgres: false,
                    _folder: Some(folder),
                    postgres: None,
                }
            }
        }
    }
}

pub(crate) struct TestApp {
    /// `http://127.0.0.1:PORT`
    pub address: String,
    /// Cookies on, redirects off: tests follow redirects by hand and assert each hop.
    pub client: reqwest::Client,
    pub db: TestDb,
    pub settings: Settings,
    pub services: Services,
}

pub(crate) async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

pub(crate) async fn spawn_app_with(configure: impl FnOnce(&mut Settings)) -> TestApp {
    let db = TestDb::new().await;
    let mut settings = Settings::for_tests(&db.url);
    // Bind first, so the issuer names the real port (strict clients check it against discovery).
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a free port");
    let bound = listener.local_addr().expect("bound address");
    settings.server.listen = bound.to_string();
    settings.server.issuer = format!("http://{bound}");
    configure(&mut settings);
    let application = Application::build_on(settings.clone(), listener)
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
pub(crate) struct CliOutput {
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

/// Registers an active citizen named Anna Jensen with a password (and a TOTP authenticator if
/// asked) through the registry: for HTTP tests through [`TestApp::add_citizen`], and for the
/// in-process flow tests directly.
pub(crate) async fn register_citizen(
    registry: &citizen_registry::Registry,
    cpr: &str,
    user_id: &str,
    password: &str,
    with_totp: bool,
) -> citizen_registry::Citizen {
    use citizen_registry::{NationalId, NewCitizen, PersonName, UserId};
    let citizen = registry
        .add_citizen(
            NewCitizen {
                cpr: NationalId::parse(cpr).expect("valid CPR"),
                user_id: UserId::parse(user_id).expect("valid user id"),
                given_name: PersonName::parse("Anna", "given name").expect("name"),
                family_name: PersonName::parse("Jensen", "family name").expect("name"),
                email: Some(citizen_registry::Email::parse("anna@example.dk").expect("email")),
            },
            Some(secrecy::SecretString::from(password.to_owned())),
            "test",
        )
        .await
        .expect("citizen added");
    if with_totp {
        registry
            .enroll_totp(&citizen, "test")
            .await
            .expect("totp enrolled");
    }
    registry
        .find_citizen_by_id(citizen.id)
        .await
        .expect("citizen")
}

impl TestApp {
    /// Runs `segl ARGS` against this test's database with the same master key.
    pub(crate) async fn segl(&self, args: &[&str]) -> CliOutput {
        self.segl_with_stdin(args, "").await
    }

    pub(crate) async fn segl_with_stdin(&self, args: &[&str], stdin: &str) -> CliOutput {
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

    /// `segl citizen add` for Anna Jensen (CPR 070761-4285) with `user_id`, and a password
    /// from stdin if one is given. Asserts that it succeeded.
    pub(crate) async fn cli_add_anna(&self, user_id: &str, password: Option<&str>) {
        let mut args = vec![
            "citizen",
            "add",
            "--cpr",
            CPR,
            "--user-id",
            user_id,
            "--given-name",
            "Anna",
            "--family-name",
            "Jensen",
        ];
        if password.is_some() {
            args.push("--password-stdin");
        }
        let stdin = password
            .map(|password| format!("{password}\n"))
            .unwrap_or_default();
        let output = self.segl_with_stdin(&args, &stdin).await;
        assert!(output.success, "segl citizen add failed: {}", output.stderr);
    }

    /// Counts the rows of an audit kind, straight from the database.
    pub(crate) async fn audit_count(&self, kind: &str) -> i64 {
        let (count,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM audit_events WHERE kind = $1")
            .bind(kind)
            .fetch_one(&self.services.pool)
            .await
            .expect("count audit events");
        count
    }

    pub(crate) async fn citizen_count(&self) -> i64 {
        let (count,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM citizens")
            .fetch_one(&self.services.pool)
            .await
            .expect("count citizens");
        count
    }
}

/// Runs the real binary with the given environment (and nothing inherited that configures Segl).
pub(crate) async fn run_segl(args: &[&str], stdin: &str, env: &[(&str, &str)]) -> CliOutput {
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
pub(crate) const CPR: &str = "070761-4285";

/// A registered test client and its credentials.
#[derive(Debug, Clone)]
pub(crate) struct TestClient {
    pub id: String,
    /// Empty for clients without a secret.
    pub secret: String,
    pub redirect_uri: String,
}

/// A PKCE pair (RFC 7636): the verifier the client keeps and the S256 challenge it sends.
#[derive(Debug, Clone)]
pub(crate) struct Pkce {
    pub verifier: String,
    pub challenge: String,
}

impl Pkce {
    pub(crate) fn new() -> Pkce {
        use base64::Engine;
        let verifier = format!(
            "{}{}",
            uuid::Uuid::new_v4().simple(),
            uuid::Uuid::new_v4().simple()
        );
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, verifier.as_bytes());
        let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest.as_ref());
        Pkce {
            verifier,
            challenge,
        }
    }
}

/// An authorization request the test sent, with what it must remember.
#[derive(Debug, Clone)]
pub(crate) struct Started {
    /// The first response of /authorize.
    pub status: u16,
    pub location: Option<String>,
    pub pkce: Pkce,
    pub state: String,
    pub nonce: String,
}

pub(crate) const LOW: &str = "https://data.gov.dk/concept/core/nsis/loa/Low";
pub(crate) const SUBSTANTIAL: &str = "https://data.gov.dk/concept/core/nsis/loa/Substantial";

impl TestApp {
    /// Registers an active citizen with a password (and a TOTP authenticator if asked) through
    /// the registry.
    pub(crate) async fn add_citizen(
        &self,
        cpr: &str,
        user_id: &str,
        password: &str,
        with_totp: bool,
    ) -> citizen_registry::Citizen {
        register_citizen(&self.services.registry, cpr, user_id, password, with_totp).await
    }

    /// Registers a client through the same validation as `segl client add`.
    pub(crate) async fn add_client(
        &self,
        registration: oidc_provider::client::ClientRegistration,
    ) -> TestClient {
        let redirect_uri = registration.redirect_uris[0].clone();
        let given_secret = registration.secret.clone();
        let (client, generated) = registration
            .validate(&segl::clients::supported_scopes())
            .expect("valid client registration");
        let added = self
            .services
            .provider_store
            .upsert_client(
                &client,
                "test",
                false,
                oidc_provider::context::Clock::system().now(),
            )
            .await
            .expect("client stored");
        assert!(added, "client id {} is new", client.id);
        TestClient {
            id: client.id,
            secret: generated.or(given_secret).unwrap_or_default(),
            redirect_uri,
        }
    }

    /// A `client_secret_basic` client with profile and email scopes.
    pub(crate) async fn add_basic_client(&self, id: &str, redirect_uri: &str) -> TestClient {
        self.add_client(oidc_provider::client::ClientRegistration {
            id: id.to_owned(),
            name: format!("Client {id}"),
            redirect_uris: vec![redirect_uri.to_owned()],
            auth_method: "client_secret_basic".to_owned(),
            scopes: vec!["profile".to_owned(), "email".to_owned()],
            ..Default::default()
        })
        .await
    }

    /// Sends GET /authorize with the standard parameters (code, S256, fresh state and nonce)
    /// plus `extra` (which may override any of them; a value of "" drops the parameter).
    pub(crate) async fn authorize(&self, client: &TestClient, extra: &[(&str, &str)]) -> Started {
        let pkce = Pkce::new();
        let state = uuid::Uuid::new_v4().to_string();
        let nonce = uuid::Uuid::new_v4().to_string();
        let mut params: Vec<(String, String)> = vec![
            ("response_type".into(), "code".into()),
            ("client_id".into(), client.id.clone()),
            ("redirect_uri".into(), client.redirect_uri.clone()),
            ("scope".into(), "openid profile".into()),
            ("state".into(), state.clone()),
            ("nonce".into(), nonce.clone()),
            ("code_challenge".into(), pkce.challenge.clone()),
            ("code_challenge_method".into(), "S256".into()),
        ];
        for (name, value) in extra {
            params.retain(|(existing, _)| existing != name);
            if !value.is_empty() {
                params.push(((*name).to_owned(), (*value).to_owned()));
            }
        }
        let response = self
            .client
            .get(format!("{}/authorize", self.address))
            .query(&params)
            .send()
            .await
            .expect("authorize request");
        Started {
            status: response.status().as_u16(),
            location: location(&response),
            pkce,
            state,
            nonce,
        }
    }

    /// Opens the login page at `login_path` and posts the password form. Returns the response.
    pub(crate) async fn submit_password(
        &self,
        login_path: &str,
        user_id: &str,
        password: &str,
    ) -> reqwest::Response {
        let page = self.get_page(login_path).await;
        let form = [
            ("request", hidden_field(&page, "request")),
            ("csrf", hidden_field(&page, "csrf")),
            ("user_id", user_id.to_owned()),
            ("password", password.to_owned()),
        ];
        self.client
            .post(format!("{}/login", self.address))
            .form(&form)
            .send()
            .await
            .expect("login post")
    }

    /// Opens the one-time code page at `login_path` and posts `code`.
    pub(crate) async fn submit_code(&self, login_path: &str, code: &str) -> reqwest::Response {
        let page = self.get_page(login_path).await;
        let form = [
            ("request", hidden_field(&page, "request")),
            ("csrf", hidden_field(&page, "csrf")),
            ("code", code.to_owned()),
        ];
        self.client
            .post(format!("{}/login/code", self.address))
            .form(&form)
            .send()
            .await
            .expect("code post")
    }

    pub(crate) async fn get_page(&self, path: &str) -> String {
        let url = if path.starts_with("http") {
            path.to_owned()
        } else {
            format!("{}{path}", self.address)
        };
        let response = self.client.get(url).send().await.expect("page");
        assert_eq!(response.status(), 200, "GET {path}");
        response.text().await.expect("page body")
    }

    /// Posts the token request for `code` with client_secret_basic.
    pub(crate) async fn exchange_code(
        &self,
        client: &TestClient,
        code: &str,
        verifier: &str,
    ) -> reqwest::Response {
        self.client
            .post(format!("{}/token", self.address))
            .basic_auth(&client.id, Some(&client.secret))
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", client.redirect_uri.as_str()),
                ("code_verifier", verifier),
            ])
            .send()
            .await
            .expect("token request")
    }

    /// The full password login for `client`: returns the code from the final redirect.
    pub(crate) async fn login_for_code(
        &self,
        client: &TestClient,
        user_id: &str,
        password: &str,
        extra: &[(&str, &str)],
    ) -> (String, Started) {
        let started = self.authorize(client, extra).await;
        assert_eq!(started.status, 303, "authorize redirects to the login page");
        let login = started.location.clone().expect("login location");
        let response = self.submit_password(&login, user_id, password).await;
        assert_eq!(response.status(), 303, "password accepted");
        let back = location(&response).expect("redirect to client");
        (
            query_value(&back, "code").expect("code in redirect"),
            started,
        )
    }
}

/// The Location header of a response.
pub(crate) fn location(response: &reqwest::Response) -> Option<String> {
    response
        .headers()
        .get(reqwest::header::LOCATION)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned)
}

/// A query parameter of an absolute or relative URL.
pub(crate) fn query_value(url: &str, name: &str) -> Option<String> {
    let absolute = if url.starts_with('/') {
        format!("http://x{url}")
    } else {
        url.to_owned()
    };
    url::Url::parse(&absolute)
        .ok()?
        .query_pairs()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.into_owned())
}

/// The value of `<input type="hidden" name="NAME" value="...">` in a page.
pub(crate) fn hidden_field(page: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = page
        .find(&marker)
        .unwrap_or_else(|| panic!("no hidden field {name} in page"))
        + marker.len();
    let end = page[start..].find('"').expect("closing quote") + start;
    page[start..end].to_owned()
}

/// Decodes a JWT's payload without verifying it (tests verify with the openidconnect crate).
pub(crate) fn jwt_claims(token: &str) -> serde_json::Value {
    use base64::Engine;
    let payload = token.split('.').nth(1).expect("a JWT has a payload");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .expect("base64url payload");
    serde_json::from_slice(&bytes).expect("JSON payload")
}
