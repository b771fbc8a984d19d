//! `segl keys rotate` with two nodes on one database: every token either node signs verifies
//! against the JWK Set of both nodes for its whole life, and after the refresh window both nodes
//! sign with the new key.

use crate::helpers::{run_segl, spawn_app_with, TestApp};
use openidconnect::core::{CoreJsonWebKeySet, CoreJwsSigningAlgorithm};
use openidconnect::JsonWebKey;
use secrecy::ExposeSecret;
use segl::Application;
use serde_json::Value;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Short enough for a test, long enough that a node lagging one refresh is visible.
const KEY_REFRESH_SECONDS: u64 = 2;
/// Access tokens live this long (seconds); the test watches each one until it expires.
const TOKEN_LIFETIME: i64 = 3;
const POLL: Duration = Duration::from_millis(250);

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs_f64()
}

fn jwt_part(token: &str, index: usize) -> Value {
    use base64::Engine;
    let part = token.split('.').nth(index).expect("a compact JWS");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .expect("base64url");
    serde_json::from_slice(&bytes).expect("JSON")
}

/// A token one node signed, as a relying party holds it.
struct Issued {
    node: &'static str,
    token: String,
    kid: String,
    exp: i64,
    /// Wall-clock time the request was sent.
    asked_at: f64,
}

/// A second node on the test's database: the same settings and issuer, its own port, key ring
/// and caches, as a second `segl serve` behind the load balancer.
async fn spawn_second_node(app: &TestApp) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a free port");
    let mut settings = app.settings.clone();
    settings.server.listen = listener.local_addr().expect("bound").to_string();
    let node = Application::build_on(settings, listener)
        .await
        .expect("second node builds");
    let address = format!("http://{}", node.local_addr().expect("bound"));
    tokio::spawn(node.run_until(std::future::pending()));
    address
}

async fn client_credentials_token(
    http: &reqwest::Client,
    node: &'static str,
    address: &str,
    client: &crate::helpers::TestClient,
) -> Issued {
    let asked_at = unix_now();
    let response = http
        .post(format!("{address}/token"))
        .basic_auth(&client.id, Some(&client.secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .expect("token request");
    assert_eq!(response.status(), 200, "token from {node}");
    let body: Value = response.json().await.expect("JSON token response");
    let token = body["access_token"]
        .as_str()
        .expect("an access token")
        .to_owned();
    let header = jwt_part(&token, 0);
    let claims = jwt_part(&token, 1);
    assert_eq!(header["alg"], "ES256");
    assert_eq!(
        claims["exp"].as_i64().expect("exp") - claims["iat"].as_i64().expect("iat"),
        TOKEN_LIFETIME
    );
    Issued {
        node,
        kid: header["kid"].as_str().expect("a kid").to_owned(),
        exp: claims["exp"].as_i64().expect("exp"),
        token,
        asked_at,
    }
}

async fn jwks(http: &reqwest::Client, address: &str) -> CoreJsonWebKeySet {
    let response = http
        .get(format!("{address}/jwks"))
        .send()
        .await
        .expect("JWKS request");
    assert_eq!(response.status(), 200);
    response.json().await.expect("a JWK Set")
}

/// Verifies `token`'s signature with the key its `kid` names in `jwks`, as a relying party does.
fn verify(jwks: &CoreJsonWebKeySet, token: &str) -> Result<(), String> {
    use base64::Engine;
    let header = jwt_part(token, 0);
    let kid = header["kid"].as_str().unwrap_or_default();
    let key = jwks
        .keys()
        .iter()
        .find(|key| key.key_id().is_some_and(|id| id.as_str() == kid))
        .ok_or_else(|| format!("kid {kid} is not published"))?;
    let alg: CoreJwsSigningAlgorithm =
        serde_json::from_value(header["alg"].clone()).expect("a known JWS algorithm");
    let (signing_input, signature) = token.rsplit_once('.').expect("a compact JWS");
    let signature = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(signature)
        .expect("base64url signature");
    key.verify_signature(&alg, signing_input.as_bytes(), &signature)
        .map_err(|error| format!("kid {kid}: {error:?}"))
}

/// The ES256 key in the `active` state, from `segl keys list`.
async fn active_es256_kid(env: &[(&str, &str)]) -> String {
    let listed = run_segl(&["keys", "list"], "", env).await;
    assert!(listed.success, "keys list: {}", listed.stderr);
    listed
        .stdout
        .lines()
        .map(|line| line.split_whitespace().collect::<Vec<_>>())
        .find(|fields| fields.get(1) == Some(&"ES256") && fields.get(2) == Some(&"active"))
        .map(|fields| fields[0].to_owned())
        .unwrap_or_else(|| panic!("an active ES256 key in {}", listed.stdout))
}

#[tokio::test]
async fn tokens_verify_on_every_node_throughout_a_key_rotation() {
    let app = spawn_app_with(|settings| {
        settings.provider.key_refresh_seconds = KEY_REFRESH_SECONDS;
        settings.provider.access_token_lifetime_seconds = TOKEN_LIFETIME;
        settings.provider.id_token_lifetime_seconds = TOKEN_LIFETIME;
    })
    .await;
    let second = spawn_second_node(&app).await;
    let nodes = [("first", app.address.clone()), ("second", second)];
    let client = app
        .add_basic_client("machine", "https://rp.localhost/cb")
        .await;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("http client");
    // The CLI with the nodes' database, master key and timing settings.
    let master_key = app.settings.secrets.master_key.expose_secret().to_owned();
    let refresh = KEY_REFRESH_SECONDS.to_string();
    let lifetime = TOKEN_LIFETIME.to_string();
    let env = [
        ("SEGL_DATABASE_URL", app.db.url.as_str()),
        ("SEGL__SECRETS__MASTER_KEY", master_key.as_str()),
        ("SEGL__PROVIDER__KEY_REFRESH_SECONDS", refresh.as_str()),
        (
            "SEGL__PROVIDER__ACCESS_TOKEN_LIFETIME_SECONDS",
            lifetime.as_str(),
        ),
        (
            "SEGL__PROVIDER__ID_TOKEN_LIFETIME_SECONDS",
            lifetime.as_str(),
        ),
    ];

    let original = active_es256_kid(&env).await;
    let mut issued = Vec::new();
    for (name, address) in &nodes {
        let token = client_credentials_token(&http, name, address, &client).await;
        assert_eq!(token.kid, original, "{name} signs with the original key");
        issued.push(token);
    }

    // Two rotations back to back, as an operator repeating the command would: the second one
    // activates a key the first one only just made.
    for _ in 0..2 {
        let rotated = run_segl(&["keys", "rotate"], "", &env).await;
        assert!(rotated.success, "keys rotate: {}", rotated.stderr);
    }
    let rotated_at = unix_now();
    let rotated = active_es256_kid(&env).await;
    assert_ne!(rotated, original);

    // Both nodes sign with the new key once every node has reloaded (one refresh interval) and
    // the clock-skew margin has passed.
    let switched_by = rotated_at
        + KEY_REFRESH_SECONDS as f64
        + oidc_provider::keys::CLOCK_SKEW_SECONDS as f64
        + 1.0;
    let issue_until = switched_by + 1.5;
    let deadline = Instant::now() + Duration::from_secs(25);
    let mut checks = 0_usize;
    loop {
        assert!(
            Instant::now() < deadline,
            "the test stays within its time box"
        );
        let now = unix_now();
        if now < issue_until {
            for (name, address) in &nodes {
                issued.push(client_credentials_token(&http, name, address, &client).await);
            }
        }
        let published = [
            (nodes[0].0, jwks(&http, &nodes[0].1).await),
            (nodes[1].0, jwks(&http, &nodes[1].1).await),
        ];
        // A token is valid while now < exp (RFC 7519 4.1.4); check every live one on both nodes.
        let now = unix_now();
        let live: Vec<&Issued> = issued
            .iter()
            .filter(|token| now < token.exp as f64)
            .collect();
        for token in &live {
            for (jwks_node, jwks) in &published {
                if let Err(error) = verify(jwks, &token.token) {
                    panic!(
                        "a token {} signed at {:.2} (exp {}) does not verify against the JWKS of {jwks_node} at {now:.2} (rotation done at {rotated_at:.2}): {error}",
                        token.node, token.asked_at, token.exp
                    );
                }
                checks += 1;
            }
        }
        if now >= issue_until && live.is_empty() {
            break;
        }
        tokio::time::sleep(POLL).await;
    }

    // After the refresh window, both nodes sign with the new key.
    for (name, _) in &nodes {
        let late: Vec<&Issued> = issued
            .iter()
            .filter(|token| token.node == *name && token.asked_at >= switched_by)
            .collect();
        assert!(late.len() >= 2, "{name} issued tokens after the switch");
        for token in late {
            assert_eq!(token.kid, rotated, "{name} signs with the new key");
        }
    }
    assert!(
        checks >= issued.len() * 2 * 2,
        "every token was checked on both nodes through its life ({checks} checks)"
    );
}
