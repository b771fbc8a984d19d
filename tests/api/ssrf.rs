//! Server-side request forgery through client URIs: unsafe logout and sector URIs are refused
//! at registration (CLI and clients file), and the guarded outbound client outside development
//! makes no connection to a loopback listener. Only loopback is ever contacted here.

use crate::helpers::{run_segl, spawn_app, TestApp};
use oidc_provider::outbound::{Outbound, OutboundError, OutboundPolicy};
use secrecy::ExposeSecret;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// A loopback listener that counts the connections it accepts and answers each with a 204.
async fn counting_listener() -> (u16, Arc<AtomicUsize>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("address").port();
    let connections = Arc::new(AtomicUsize::new(0));
    let counter = connections.clone();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut buffer = [0_u8; 4096];
                let _ =
                    tokio::time::timeout(Duration::from_secs(2), stream.read(&mut buffer)).await;
                let _ = stream
                    .write_all(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n")
                    .await;
            });
        }
    });
    (port, connections)
}

/// `segl client add` for a public client with one extra option.
async fn add_client_with(app: &TestApp, option: &str, uri: &str) -> crate::helpers::CliOutput {
    app.segl(&[
        "client",
        "add",
        "--id",
        "rp",
        "--name",
        "RP",
        "--redirect-uri",
        "https://rp.example.dk/callback",
        "--auth-method",
        "none",
        option,
        uri,
    ])
    .await
}

async fn client_count(app: &TestApp) -> i64 {
    let (count,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM clients")
        .fetch_one(&app.services.pool)
        .await
        .expect("count clients");
    count
}

#[tokio::test]
async fn client_add_refuses_unsafe_logout_and_sector_uris_with_a_one_line_error() {
    let app = spawn_app().await;
    let back = "--backchannel-logout-uri";
    let front = "--frontchannel-logout-uri";
    let sector = "--sector-identifier-uri";
    let post = "--post-logout-redirect-uri";
    let cases = [
        (back, "http://169.254.169.254/latest/meta-data", "backchannel_logout_uri is refused: its host 169.254.169.254 is the cloud metadata address"),
        (back, "http://10.0.0.5/logout", "backchannel_logout_uri is refused: its host 10.0.0.5 is a private address (RFC 1918)"),
        (back, "https://10.0.0.5/", "backchannel_logout_uri is refused: its host 10.0.0.5 is a private address (RFC 1918)"),
        (back, "https://[fe80::1]/", "backchannel_logout_uri is refused: its host fe80::1 is a link-local address"),
        (back, "https://[::ffff:169.254.169.254]/", "backchannel_logout_uri is refused: its host ::ffff:169.254.169.254 is the cloud metadata address"),
        (back, "https://user:pw@example.com/", "backchannel_logout_uri is refused: it must not contain a user name or password"),
        (back, "https://rp.example/logout#frag", "backchannel_logout_uri is refused: it must not contain a fragment"),
        (back, "http://rp.example.dk/logout", "backchannel_logout_uri is refused: http is only allowed on 127.0.0.1, [::1] or localhost: use https"),
        (back, "file:///etc/passwd", "backchannel_logout_uri is refused: scheme 'file' is not allowed: use https"),
        (back, "gopher://x", "backchannel_logout_uri is refused: scheme 'gopher' is not allowed: use https"),
        (back, "logout", "backchannel_logout_uri is refused: it is not an absolute URL"),
        (front, "javascript:alert(1)", "frontchannel_logout_uri is refused: scheme 'javascript' is not allowed: use https"),
        (front, "data:text/plain,x", "frontchannel_logout_uri is refused: scheme 'data' is not allowed: use https"),
        (front, "https://user:pw@rp.example.dk/fc", "frontchannel_logout_uri is refused: it must not contain a user name or password"),
        (sector, "https://100.64.0.1/sector.json", "sector_identifier_uri is refused: its host 100.64.0.1 is a shared address (100.64.0.0/10)"),
        (sector, "https://[fc00::1]/sector.json", "sector_identifier_uri is refused: its host fc00::1 is a unique-local address"),
        (sector, "https://0.0.0.0/sector.json", "sector_identifier_uri is refused: its host 0.0.0.0 is the unspecified address"),
        (post, "https://rp.example.dk/#x", "post_logout_redirect_uris is refused: it must not contain a fragment"),
        (post, "javascript:alert(1)", "post_logout_redirect_uris is refused: scheme 'javascript' is not allowed: use https"),
    ];
    for (option, uri, expected) in cases {
        let output = add_client_with(&app, option, uri).await;
        assert_eq!(output.code, Some(1), "{option} {uri}: {}", output.stderr);
        assert_eq!(
            output.stderr,
            format!("error: {expected}\n"),
            "{option} {uri}"
        );
        assert!(!output.stderr.contains("pw@"), "no password echoed");
        assert_eq!(output.stdout, "");
    }
    assert_eq!(client_count(&app).await, 0, "nothing was registered");

    // A public https endpoint and a loopback one (the development rule) are accepted; nothing
    // is fetched at registration for a logout URI.
    let public = add_client_with(&app, back, "https://rp.example.dk/backchannel-logout").await;
    assert!(public.success, "{}", public.stderr);
    assert_eq!(public.stdout, "added client rp\n");
    assert_eq!(client_count(&app).await, 1);
}

#[tokio::test]
async fn the_clients_file_refuses_an_internal_backchannel_uri_and_writes_nothing() {
    let app = spawn_app().await;
    let folder = tempfile::TempDir::new().expect("temp dir");
    let path = folder.path().join("clients.toml");
    std::fs::write(
        &path,
        r#"
[[client]]
id = "good"
name = "Good"
redirect_uris = ["https://good.example.dk/callback"]
auth_method = "none"
backchannel_logout_uri = "https://good.example.dk/backchannel-logout"

[[client]]
id = "metadata"
name = "Metadata"
redirect_uris = ["https://rp.example.dk/callback"]
auth_method = "none"
backchannel_logout_uri = "http://169.254.169.254/latest/meta-data"
"#,
    )
    .expect("write clients file");
    let outbound = segl::clients::outbound(&app.settings).expect("outbound client");
    let error = segl::clients::load_file(&app.services, &outbound, &path)
        .await
        .expect_err("the file is refused");
    assert_eq!(
        format!("{error:#}"),
        "client metadata: backchannel_logout_uri is refused: its host 169.254.169.254 is the cloud metadata address"
    );
    assert_eq!(client_count(&app).await, 0, "one bad entry writes nothing");
}

#[tokio::test]
async fn outside_development_the_guarded_client_makes_no_connection_to_loopback() {
    let (port, connections) = counting_listener().await;
    let production = Outbound::new(OutboundPolicy {
        allow_loopback: false,
        // Internal hosts may reach private networks, never loopback.
        internal_hosts: vec!["localhost".to_owned()],
    })
    .expect("client");
    let literal = format!("http://127.0.0.1:{port}/backchannel-logout");
    match production
        .post_form(&literal, &[("logout_token", "x")])
        .await
    {
        Err(OutboundError::Refused(reason)) => {
            assert_eq!(reason, "the address 127.0.0.1 is a loopback address")
        }
        other => panic!("a literal loopback address must be refused: {other:?}"),
    }
    // A host name is refused after resolution, by the resolver the connection goes through.
    let named = format!("http://localhost:{port}/sector.json");
    for outcome in [
        production.get(&named, 1024).await.map(|_| ()),
        production.post_form(&named, &[]).await.map(|_| ()),
    ] {
        match outcome {
            Err(OutboundError::Refused(reason)) => {
                assert!(
                    reason.starts_with("localhost resolves to ")
                        && reason.ends_with(", a loopback address"),
                    "{reason}"
                );
            }
            other => panic!("localhost must be refused: {other:?}"),
        }
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        connections.load(Ordering::SeqCst),
        0,
        "no connection was made"
    );

    // The same listener is reached in development: the refusal above is the guard's.
    let development = Outbound::new(OutboundPolicy {
        allow_loopback: true,
        internal_hosts: Vec::new(),
    })
    .expect("client");
    let status = development
        .post_form(&literal, &[("logout_token", "x")])
        .await
        .expect("delivered in development");
    assert_eq!(status.as_u16(), 204);
    assert_eq!(connections.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn outside_development_segl_client_add_fetches_no_sector_document_from_loopback() {
    let app = spawn_app().await;
    let (port, connections) = counting_listener().await;
    for (uri, expected) in [
        (
            format!("http://127.0.0.1:{port}/sector.json"),
            "the address 127.0.0.1 is a loopback address".to_owned(),
        ),
        (
            format!("https://127.0.0.1:{port}/sector.json"),
            "the address 127.0.0.1 is a loopback address".to_owned(),
        ),
    ] {
        let output = run_segl(
            &[
                "client",
                "add",
                "--id",
                "rp",
                "--name",
                "RP",
                "--redirect-uri",
                "https://rp.example.dk/callback",
                "--auth-method",
                "none",
                "--sector-identifier-uri",
                &uri,
            ],
            "",
            &[
                ("SEGL_DATABASE_URL", app.db.url.as_str()),
                (
                    "SEGL__SECRETS__MASTER_KEY",
                    app.settings.secrets.master_key.expose_secret(),
                ),
                // Not development: an https issuer.
                ("SEGL__SERVER__ISSUER", "https://login.example.dk"),
            ],
        )
        .await;
        assert_eq!(output.code, Some(1), "{}", output.stderr);
        assert_eq!(
            output.stderr,
            format!("error: cannot fetch sector_identifier_uri {uri}: {expected}\n")
        );
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(connections.load(Ordering::SeqCst), 0, "nothing was fetched");
    assert_eq!(client_count(&app).await, 0);
}
