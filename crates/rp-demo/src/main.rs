//! The `rp-demo` binary: one demo portal configured from environment variables (for
//! docker-compose), or `rp-demo generate-key PRIVATE_KEY_FILE JWKS_FILE` to make its key.

use anyhow::{bail, Context};
use rp_demo::PortalConfig;
use std::net::SocketAddr;

const USAGE: &str = "usage: rp-demo                     (configured by RP_* environment variables)
       rp-demo generate-key PRIVATE_KEY_FILE JWKS_FILE

environment:
  RP_CLIENT_ID          the client id registered with Segl (required)
  RP_PRIVATE_KEY_FILE   PKCS#8 PEM of the P-256 key for private_key_jwt (required)
  RP_ISSUER             Segl's issuer URL (default http://127.0.0.1:8080)
  RP_LISTEN             address to listen on (default 127.0.0.1:8081)
  RP_PUBLIC_URL         the portal's URL as browsers see it (default http://RP_LISTEN)
  RP_NAME               the name shown on the pages (default \"Segl demo portal\")
  RP_KEY_ID             the key's kid (default: its RFC 7638 thumbprint)
  RP_SCOPES             scopes beyond openid, space- or comma-separated (default \"profile email\")
  RP_SHOWS_CPR          true if the portal expects the CPR number (display only; default false)";

fn variable(name: &str) -> anyhow::Result<Option<String>> {
    match std::env::var(name) {
        Ok(value) if value.trim().is_empty() => Ok(None),
        Ok(value) => Ok(Some(value.trim().to_owned())),
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(_)) => bail!("{name} is not valid UTF-8"),
    }
}

fn required(name: &str) -> anyhow::Result<String> {
    variable(name)?.with_context(|| format!("{name} is not set (run rp-demo --help)"))
}

fn config_from_environment() -> anyhow::Result<PortalConfig> {
    let listen: SocketAddr = variable("RP_LISTEN")?
        .unwrap_or_else(|| "127.0.0.1:8081".to_owned())
        .parse()
        .context("RP_LISTEN is not an address like 127.0.0.1:8081")?;
    let key_file = required("RP_PRIVATE_KEY_FILE")?;
    let private_key_pem = std::fs::read_to_string(&key_file)
        .with_context(|| format!("cannot read RP_PRIVATE_KEY_FILE {key_file}"))?;
    let key_id = match variable("RP_KEY_ID")? {
        Some(key_id) => key_id,
        None => {
            rp_demo::client_public_keys(&private_key_pem)
                .with_context(|| format!("RP_PRIVATE_KEY_FILE {key_file}"))?
                .1
        }
    };
    let scopes = variable("RP_SCOPES")?
        .unwrap_or_else(|| "profile email".to_owned())
        .split([' ', ','])
        .filter(|scope| !scope.is_empty())
        .map(str::to_owned)
        .collect();
    let shows_cpr = match variable("RP_SHOWS_CPR")?.as_deref() {
        None | Some("false" | "0" | "no") => false,
        Some("true" | "1" | "yes") => true,
        Some(other) => bail!("RP_SHOWS_CPR must be true or false, not {other:?}"),
    };
    Ok(PortalConfig {
        name: variable("RP_NAME")?.unwrap_or_else(|| "Segl demo portal".to_owned()),
        listen,
        public_url: variable("RP_PUBLIC_URL")?.unwrap_or_else(|| format!("http://{listen}")),
        issuer: variable("RP_ISSUER")?.unwrap_or_else(|| "http://127.0.0.1:8080".to_owned()),
        client_id: required("RP_CLIENT_ID")?,
        private_key_pem,
        key_id,
        scopes,
        shows_cpr,
    })
}

/// Writes a new key pair: the private key (mode 0600 on Unix) and the public JWK Set.
fn generate_key(private_key_file: &str, jwks_file: &str) -> anyhow::Result<()> {
    let (pem, jwks, kid) = rp_demo::generate_client_key()?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(private_key_file)
        .with_context(|| format!("cannot create {private_key_file} (it must not exist yet)"))?;
    std::io::Write::write_all(&mut file, pem.as_bytes())
        .with_context(|| format!("cannot write {private_key_file}"))?;
    let jwks = serde_json::to_string_pretty(&jwks).context("cannot encode the JWK Set")?;
    std::fs::write(jwks_file, jwks + "\n").with_context(|| format!("cannot write {jwks_file}"))?;
    println!("wrote {private_key_file} and {jwks_file} (kid {kid})");
    Ok(())
}

async fn shutdown_signal() {
    let interrupt = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {},
        () = terminate => {},
    }
}

async fn run() -> anyhow::Result<()> {
    let arguments: Vec<String> = std::env::args().skip(1).collect();
    match arguments
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        [] => {}
        ["-h" | "--help" | "help"] => {
            println!("{USAGE}");
            return Ok(());
        }
        ["generate-key", private_key_file, jwks_file] => {
            return generate_key(private_key_file, jwks_file)
        }
        _ => bail!("unexpected arguments (run rp-demo --help)"),
    }
    let config = config_from_environment()?;
    rp_demo::serve(config, shutdown_signal()).await?;
    Ok(())
}

/// The error and its causes on one line, skipping causes already quoted.
fn one_line(error: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in error.chain() {
        let text = cause.to_string();
        if line.contains(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    match run().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("rp-demo: {}", one_line(&error));
            std::process::ExitCode::FAILURE
        }
    }
}
