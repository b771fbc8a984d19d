//! Several `segl serve` processes on one database, as behind a load balancer: any node serves
//! any step of a login, and a node killed with SIGKILL loses nothing it acknowledged.

use crate::helpers::{hidden_field, jwt_claims, location, query_value, Pkce, TestDb, CPR, LOW};
use crate::lifecycle::verified_jwt;
use oidc_provider::client::ClientRegistration;
use secrecy::ExposeSecret;
use segl::settings::Settings;
use segl::Services;
use serde_json::Value;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tempfile::TempDir;

pub(crate) const USER_ID: &str = "anna.jensen";
pub(crate) const PASSWORD: &str = "correct horse battery staple";
pub(crate) const REDIRECT: &str = "http://localhost:9001/cb";
const CLIENT_ID: &str = "portal";
const CLIENT_SECRET: &str = "a-client-secret-of-at-least-32-characters";

/// One database, its master key, a folder for the nodes' logs, and the services opened on it
/// in the test process (to register the citizen and the client before any node starts).
pub(crate) struct Cluster {
    db: TestDb,
    master_key: String,
    logs: TempDir,
    /// The issuer all nodes share, as one provider behind a load balancer.
    pub(crate) issuer: String,
    pub(crate) services: Services,
}

/// Where a node answers: what the HTTP helpers need.
#[derive(Clone)]
pub(crate) struct Target {
    pub(crate) name: &'static str,
    /// `http://127.0.0.1:PORT`: the node itself, not the shared issuer.
    pub(crate) address: String,
}

/// A running `segl serve`; killed (SIGKILL) when dropped, so no test leaves one behind.
pub(crate) struct Node {
    pub(crate) target: Target,
    child: tokio::process::Child,
    log: PathBuf,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port()
}

impl Cluster {
    /// A fresh database (PostgreSQL with TEST_DATABASE_URL, else a SQLite file in WAL mode)
    /// with a citizen and a refresh-token client. `issuer_port` is the port of the first node.
    pub(crate) async fn new(issuer_port: u16) -> Cluster {
        Cluster::on(TestDb::new().await, issuer_port).await
    }

    /// A cluster with two nodes started and ready, the first one's port in the issuer.
    pub(crate) async fn two_nodes() -> (Cluster, Node, Node) {
        let (port_a, port_b) = (free_port(), free_port());
        let cluster = Cluster::new(port_a).await;
        let mut node_a = cluster.start("A", port_a);
        let mut node_b = cluster.start("B", port_b);
        node_a.ready().await;
        node_b.ready().await;
        (cluster, node_a, node_b)
    }

    /// The same on a database the caller chose.
    pub(crate) async fn on(db: TestDb, issuer_port: u16) -> Cluster {
        let settings = Settings::for_tests(&db.url);
        let master_key = settings.secrets.master_key.expose_secret().to_owned();
        let services = Services::open(&settings).await.expect("database opens");
        use citizen_registry::{NationalId, NewCitizen, PersonName, UserId};
        services
            .registry
            .add_citizen(
                NewCitizen {
                    cpr: NationalId::parse(CPR).expect("valid CPR"),
                    user_id: UserId::parse(USER_ID).expect("valid user id"),
                    given_name: PersonName::parse("Anna", "given name").expect("name"),
                    family_name: PersonName::parse("Jensen", "family name").expect("name"),
                    email: None,
                },
                Some(secrecy::SecretString::from(PASSWORD.to_owned())),
                "test",
            )
            .await
            .expect("citizen added");
        let (client, _) = ClientRegistration {
            id: CLIENT_ID.to_owned(),
            name: "Portal".to_owned(),
            redirect_uris: vec![REDIRECT.to_owned()],
            auth_method: "client_secret_basic".to_owned(),
            secret: Some(CLIENT_SECRET.to_owned()),
            scopes: vec!["profile".to_owned()],
            refresh_tokens: true,
            ..Default::default()
        }
        .validate(&segl::clients::supported_scopes())
        .expect("valid client");
        services
            .provider_store
            .upsert_client(
                &client,
                "test",
                false,
                oidc_provider::context::Clock::system().now(),
            )
            .await
            .expect("client stored");
        Cluster {
            db,
            master_key,
            logs: TempDir::new().expect("log folder"),
            issuer: format!("http://127.0.0.1:{issuer_port}"),
            services,
        }
    }

    /// Runs `segl ARGS` against the cluster's database with its master key.
    pub(crate) async fn segl(&self, args: &[&str]) -> crate::helpers::CliOutput {
        crate::helpers::run_segl(
            args,
            "",
            &[
                ("SEGL_DATABASE_URL", self.db.url.as_str()),
                ("SEGL__SECRETS__MASTER_KEY", self.master_key.as_str()),
            ],
        )
        .await
    }

    /// Starts `segl serve` on `port` with the shared issuer, database and master key.
    pub(crate) fn start(&self, name: &'static str, port: u16) -> Node {
        let log = self.logs.path().join(format!("{name}.log"));
        let output = std::fs::File::create(&log).expect("log file");
        let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_segl"))
            .args([
                "serve",
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--issuer",
                &self.issuer,
            ])
            .env_remove("SEGL_CONFIG")
            .env_remove("RUST_LOG")
            .env("SEGL_DATABASE_URL", &self.db.url)
            .env("SEGL__SECRETS__MASTER_KEY", &self.master_key)
            .stdin(std::process::Stdio::null())
            .stdout(output.try_clone().expect("log file"))
            .stderr(output)
            .kill_on_drop(true)
            .spawn()
            .expect("segl serve starts");
        Node {
            target: Target {
                name,
                address: format!("http://127.0.0.1:{port}"),
            },
            child,
            log,
        }
    }
}

impl Node {
    /// Polls /healthz until the node answers (migrations and keys are done by then).
    pub(crate) async fn ready(&mut self) {
        let probe = reqwest::Client::new();
        for _ in 0..300 {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "node {} exited with {status}:\n{}",
                    self.target.name,
                    std::fs::read_to_string(&self.log).unwrap_or_default()
                );
            }
            let healthy = probe
                .get(format!("{}/healthz", self.target.address))
                .timeout(Duration::from_secs(1))
                .send()
                .await
                .is_ok_and(|response| response.status() == 200);
            if healthy {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!(
            "node {} not ready within 30 s:\n{}",
            self.target.name,
            std::fs::read_to_string(&self.log).unwrap_or_default()
        );
    }

    /// SIGKILL (std and tokio send SIGKILL on Unix): no graceful shutdown, no flushing.
    pub(crate) async fn kill(&mut self) {
        self.child.kill().await.expect("SIGKILL the node");
    }
}

/// A citizen's browser: cookies on (they are per host, so shared by the nodes), no redirects.
pub(crate) fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .expect("http client")
}

/// An authorization request sent to a node: the first response and the PKCE pair.
pub(crate) struct Authorization {
    pub(crate) status: u16,
    pub(crate) location: Option<String>,
    pub(crate) pkce: Pkce,
}

pub(crate) async fn authorize(
    browser: &reqwest::Client,
    node: &Target,
    extra: &[(&str, &str)],
) -> reqwest::Result<Authorization> {
    let pkce = Pkce::new();
    let state = uuid::Uuid::new_v4().to_string();
    let nonce = uuid::Uuid::new_v4().to_string();
    let mut params = vec![
        ("response_type", "code"),
        ("client_id", CLIENT_ID),
        ("redirect_uri", REDIRECT),
        ("scope", "openid profile"),
        ("state", state.as_str()),
        ("nonce", nonce.as_str()),
        ("code_challenge", pkce.challenge.as_str()),
        ("code_challenge_method", "S256"),
        ("acr_values", LOW),
    ];
    params.extend_from_slice(extra);
    let response = browser
        .get(format!("{}/authorize", node.address))
        .query(&params)
        .send()
        .await?;
    Ok(Authorization {
        status: response.status().as_u16(),
        location: location(&response),
        pkce,
    })
}

/// Opens the login page at `login_path` on `node` and posts the password.
async fn submit_password(
    browser: &reqwest::Client,
    node: &Target,
    login_path: &str,
) -> reqwest::Result<reqwest::Response> {
    let page = browser
        .get(format!("{}{login_path}", node.address))
        .send()
        .await?
        .error_for_status()?
        .text()
        .await?;
    let form = [
        ("request", hidden_field(&page, "request")),
        ("csrf", hidden_field(&page, "csrf")),
        ("user_id", USER_ID.to_owned()),
        ("password", PASSWORD.to_owned()),
    ];
    browser
        .post(format!("{}/login", node.address))
        .form(&form)
        .send()
        .await
}

/// A login the provider acknowledged: the code and verifier, and the browser with its session.
struct Acknowledged {
    code: String,
    verifier: String,
    browser: reqwest::Client,
}

/// Authorize and log in on `node`. Some only when the node answered with a code: the moment
/// the provider acknowledges the login to the client.
async fn log_in(node: &Target) -> reqwest::Result<Option<Acknowledged>> {
    let browser = browser();
    let started = authorize(&browser, node, &[]).await?;
    let Some(login_path) = started.location.filter(|_| started.status == 303) else {
        return Ok(None);
    };
    let response = submit_password(&browser, node, &login_path).await?;
    if response.status() != 303 {
        return Ok(None);
    }
    let Some(code) = location(&response).and_then(|back| query_value(&back, "code")) else {
        return Ok(None);
    };
    Ok(Some(Acknowledged {
        code,
        verifier: started.pkce.verifier,
        browser,
    }))
}

async fn json_answer(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let text = response.text().await.expect("body");
    let body = serde_json::from_str(&text)
        .unwrap_or_else(|error| panic!("a JSON body ({error}) with status {status}: {text}"));
    (status, body)
}

async fn token(node: &Target, form: &[(&str, &str)]) -> (u16, Value) {
    json_answer(
        reqwest::Client::new()
            .post(format!("{}/token", node.address))
            .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
            .form(form)
            .send()
            .await
            .expect("token request"),
    )
    .await
}

pub(crate) async fn redeem(node: &Target, code: &str, verifier: &str) -> (u16, Value) {
    token(
        node,
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", verifier),
        ],
    )
    .await
}

pub(crate) async fn refresh(node: &Target, refresh_token: &str) -> (u16, Value) {
    token(
        node,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
        ],
    )
    .await
}

/// `prompt=none` on `node` in `browser`: the parameters of the redirect to the client.
pub(crate) async fn prompt_none(browser: &reqwest::Client, node: &Target) -> Vec<(String, String)> {
    let started = authorize(browser, node, &[("prompt", "none")])
        .await
        .expect("authorize request");
    assert_eq!(started.status, 303, "prompt=none on {}", node.name);
    let back = started.location.expect("redirect to the client");
    url::Url::parse(&back)
        .expect("absolute redirect")
        .query_pairs()
        .into_owned()
        .collect()
}

pub(crate) fn value<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.as_str())
}

pub(crate) fn text<'a>(body: &'a Value, name: &str) -> &'a str {
    body[name]
        .as_str()
        .unwrap_or_else(|| panic!("{name} is a string in {body}"))
}

#[tokio::test]
async fn two_nodes_on_one_database_serve_one_login_from_start_to_logout() {
    let (cluster, node_a, node_b) = Cluster::two_nodes().await;
    let (a, b) = (node_a.target.clone(), node_b.target.clone());
    let browser = browser();

    // Both nodes are one provider: one issuer, one key set.
    for node in [&a, &b] {
        let discovery: Value =
            reqwest::get(format!("{}/.well-known/openid-configuration", node.address))
                .await
                .expect("discovery")
                .json()
                .await
                .expect("JSON");
        assert_eq!(
            discovery["issuer"],
            cluster.issuer.as_str(),
            "{}",
            node.name
        );
    }
    let jwks = |node: &Target| {
        let url = format!("{}/jwks", node.address);
        async move {
            reqwest::get(url)
                .await
                .expect("jwks")
                .json::<Value>()
                .await
                .expect("JSON")
        }
    };
    assert_eq!(jwks(&a).await, jwks(&b).await, "one key set");

    // Authorize and log in on A.
    let started = authorize(&browser, &a, &[]).await.expect("authorize");
    assert_eq!(started.status, 303, "to the login page");
    let login_path = started.location.clone().expect("login page");
    let response = submit_password(&browser, &a, &login_path)
        .await
        .expect("login");
    assert_eq!(response.status(), 303, "password accepted on A");
    let back = location(&response).expect("redirect to the client");
    assert!(back.starts_with(&format!("{REDIRECT}?")), "{back}");
    assert_eq!(
        query_value(&back, "iss").as_deref(),
        Some(cluster.issuer.as_str())
    );
    let code = query_value(&back, "code").expect("code");

    // Redeem the code on B.
    let (status, tokens) = redeem(&b, &code, &started.pkce.verifier).await;
    assert_eq!(status, 200, "code redeemed on B: {tokens}");
    let (_, id_claims) =
        verified_jwt(&format!("{}/jwks", b.address), text(&tokens, "id_token")).await;
    assert_eq!(id_claims["iss"], cluster.issuer.as_str());
    assert_eq!(id_claims["aud"], CLIENT_ID);
    assert_eq!(id_claims["acr"], LOW);
    // Refresh on A, userinfo on B.
    let (status, refreshed) = refresh(&a, text(&tokens, "refresh_token")).await;
    assert_eq!(status, 200, "refresh on A: {refreshed}");
    assert_eq!(
        jwt_claims(text(&refreshed, "access_token"))["iss"],
        cluster.issuer.as_str()
    );
    let response = reqwest::Client::new()
        .get(format!("{}/userinfo", b.address))
        .bearer_auth(text(&refreshed, "access_token"))
        .send()
        .await
        .expect("userinfo");
    assert_eq!(response.status(), 200, "userinfo on B");
    let info: Value = response.json().await.expect("JSON");
    assert_eq!(info["sub"], id_claims["sub"]);
    assert_eq!(info["name"], "Anna Jensen");

    // Single sign-on works on either node until the logout, which is on B.
    let pairs = prompt_none(&browser, &b).await;
    assert!(value(&pairs, "code").is_some(), "SSO on B: {pairs:?}");
    let response = browser
        .get(format!("{}/logout", b.address))
        .query(&[("id_token_hint", text(&tokens, "id_token"))])
        .send()
        .await
        .expect("logout");
    assert_eq!(response.status(), 200, "logged out on B");

    let pairs = prompt_none(&browser, &a).await;
    assert_eq!(
        value(&pairs, "error"),
        Some("login_required"),
        "on A: {pairs:?}"
    );
    let answer = refresh(&a, text(&refreshed, "refresh_token")).await;
    assert_eq!(answer.0, 400, "refresh on A after logout: {}", answer.1);
    assert_eq!(answer.1["error"], "invalid_grant");
    let (logouts,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM audit_events WHERE kind = 'logout'")
            .fetch_one(&cluster.services.pool)
            .await
            .expect("count logouts");
    assert_eq!(logouts, 1, "one logout, audited once");

    // A second redemption, now on A, is refused: the code is single-use across nodes. (Last:
    // a replayed code revokes the whole grant, refresh tokens included.)
    let (status, again) = redeem(&a, &code, &started.pkce.verifier).await;
    assert_eq!(
        (status, &again["error"]),
        (400, &Value::from("invalid_grant"))
    );
}

#[tokio::test]
async fn a_sigkilled_node_loses_nothing_it_acknowledged() {
    const LOGINS: usize = 20;
    let (port_a, port_b) = (free_port(), free_port());
    let cluster = Cluster::new(port_a).await;
    let mut node_a = cluster.start("A", port_a);
    node_a.ready().await;

    // A load of logins on A; each keeps what A acknowledged, if anything.
    let acknowledged_count = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..LOGINS)
        .map(|_| {
            let target = node_a.target.clone();
            let acknowledged_count = Arc::clone(&acknowledged_count);
            tokio::spawn(async move {
                // Requests in flight at the kill may fail: only acknowledged logins count.
                let outcome = log_in(&target).await.ok().flatten();
                if outcome.is_some() {
                    acknowledged_count.fetch_add(1, Ordering::SeqCst);
                }
                outcome
            })
        })
        .collect();
    let mut waited = Duration::ZERO;
    while acknowledged_count.load(Ordering::SeqCst) < LOGINS / 2 {
        assert!(
            waited < Duration::from_secs(120),
            "half the logins were not acknowledged within 2 minutes"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
        waited += Duration::from_millis(5);
    }
    node_a.kill().await;

    let mut acknowledged = Vec::new();
    for task in tasks {
        if let Some(login) = task.await.expect("login task") {
            acknowledged.push(login);
        }
    }
    assert!(acknowledged.len() >= LOGINS / 2, "{}", acknowledged.len());
    assert!(
        acknowledged.len() < LOGINS,
        "the kill came in the middle of the load, not after it"
    );

    // Another node on the same database honours every acknowledged code and session.
    let mut node_b = cluster.start("B", port_b);
    node_b.ready().await;
    let b = node_b.target.clone();
    for (index, login) in acknowledged.iter().enumerate() {
        let (status, tokens) = redeem(&b, &login.code, &login.verifier).await;
        assert_eq!(status, 200, "acknowledged code {index} on B: {tokens}");
        assert_eq!(
            jwt_claims(text(&tokens, "id_token"))["iss"],
            cluster.issuer.as_str()
        );
        let pairs = prompt_none(&login.browser, &b).await;
        assert!(
            value(&pairs, "code").is_some(),
            "acknowledged session {index} on B: {pairs:?}"
        );
    }
    println!(
        "{} of {LOGINS} logins were acknowledged before or during the SIGKILL; all survived",
        acknowledged.len()
    );
}
