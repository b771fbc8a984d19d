//! Onboarding as code: relying parties declared in a TOML file, loaded at start.

use crate::settings::Settings;
use crate::Services;
use anyhow::Context;
use oidc_provider::client::ClientRegistration;
use oidc_provider::discovery::SCOPES;
use oidc_provider::outbound::Outbound;
use serde::Deserialize;
use std::path::Path;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ClientsFile {
    #[serde(default, rename = "client")]
    clients: Vec<ClientEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ClientEntry {
    id: String,
    name: String,
    redirect_uris: Vec<String>,
    #[serde(default)]
    post_logout_redirect_uris: Vec<String>,
    auth_method: String,
    /// The environment variable that holds the client secret (never the secret itself).
    secret_env: Option<String>,
    /// A JWK Set file with the client's public keys, relative to the clients file.
    jwks_file: Option<String>,
    #[serde(default)]
    scopes: Vec<String>,
    id_token_alg: Option<String>,
    min_acr: Option<String>,
    backchannel_logout_uri: Option<String>,
    frontchannel_logout_uri: Option<String>,
    #[serde(default)]
    refresh_tokens: bool,
    #[serde(default)]
    public_authority: bool,
    #[serde(default)]
    cpr_entitled: bool,
    /// `pairwise` (default) or `public`.
    subject_type: Option<String>,
    /// Fetched at load; it must list every redirect URI (OIDC Registration 5).
    sector_identifier_uri: Option<String>,
}

/// The scopes a client may be registered for.
pub fn supported_scopes() -> Vec<&'static str> {
    SCOPES.iter().map(|(scope, _)| *scope).collect()
}

/// The largest sector identifier document Segl reads.
const SECTOR_DOCUMENT_LIMIT: usize = 64 * 1024;

/// The SSRF-guarded client for fetches at registration, with the deployment's policy.
pub fn outbound(settings: &Settings) -> anyhow::Result<Outbound> {
    Outbound::new(settings.provider_settings().outbound).context("building the HTTP client")
}

/// OIDC Registration 5: fetches the `sector_identifier_uri` document (through the guarded
/// client: no internal addresses, no redirects, at most 64 KiB) and checks that it lists every
/// redirect URI of the client. Call it after `ClientRegistration::validate`.
pub async fn check_sector_identifier(
    outbound: &Outbound,
    uri: &str,
    redirect_uris: &[String],
) -> anyhow::Result<()> {
    let (status, body) = outbound
        .get(uri, SECTOR_DOCUMENT_LIMIT)
        .await
        .with_context(|| format!("cannot fetch sector_identifier_uri {uri}"))?;
    if !status.is_success() {
        anyhow::bail!(
            "sector_identifier_uri {uri} answered HTTP {}",
            status.as_u16()
        );
    }
    let body = String::from_utf8(body)
        .map_err(|_| anyhow::anyhow!("sector_identifier_uri {uri}: the document is not UTF-8"))?;
    oidc_provider::client::check_sector_document(redirect_uris, &body)
        .map_err(|problem| anyhow::anyhow!("sector_identifier_uri {uri}: {problem}"))
}

/// Reads a JWK Set file.
pub fn read_jwks(path: &Path) -> anyhow::Result<serde_json::Value> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read JWK Set {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("JWK Set {} is not JSON", path.display()))
}

/// Validates every client of the file first, then writes them all (replacing earlier versions).
/// One bad entry stops the start with its id named, and nothing is written.
pub async fn load_file(
    services: &Services,
    outbound: &Outbound,
    path: &Path,
) -> anyhow::Result<usize> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read clients file {}", path.display()))?;
    let file: ClientsFile =
        toml::from_str(&text).with_context(|| format!("clients file {}", path.display()))?;
    let folder = path.parent().unwrap_or_else(|| Path::new("."));
    let scopes = supported_scopes();
    let mut clients = Vec::with_capacity(file.clients.len());
    for entry in file.clients {
        let id = entry.id.clone();
        let secret = match &entry.secret_env {
            Some(variable) => Some(std::env::var(variable).with_context(|| {
                format!("client {id}: environment variable {variable} is not set")
            })?),
            None => None,
        };
        let jwks = entry
            .jwks_file
            .as_deref()
            .map(|file| read_jwks(&folder.join(file)))
            .transpose()?;
        let registration = ClientRegistration {
            id: entry.id,
            name: entry.name,
            redirect_uris: entry.redirect_uris,
            post_logout_redirect_uris: entry.post_logout_redirect_uris,
            auth_method: entry.auth_method,
            secret,
            jwks,
            scopes: entry.scopes,
            id_token_alg: entry.id_token_alg,
            min_acr: entry.min_acr,
            backchannel_logout_uri: entry.backchannel_logout_uri,
            frontchannel_logout_uri: entry.frontchannel_logout_uri,
            refresh_tokens: entry.refresh_tokens,
            public_authority: entry.public_authority,
            cpr_entitled: entry.cpr_entitled,
            subject_type: entry.subject_type,
            sector_identifier_uri: entry.sector_identifier_uri,
        };
        // Validated first: nothing is fetched from a URI the rules refuse.
        let (client, generated) = registration
            .clone()
            .validate(&scopes)
            .with_context(|| format!("client {id}"))?;
        if let Some(uri) = &registration.sector_identifier_uri {
            check_sector_identifier(outbound, uri, &registration.redirect_uris)
                .await
                .with_context(|| format!("client {id}"))?;
        }
        if generated.is_some() {
            anyhow::bail!(
                "client {id}: a secret-based client in the clients file needs secret_env"
            );
        }
        clients.push(client);
    }
    let now = oidc_provider::context::Clock::system().now();
    for client in &clients {
        services
            .provider_store
            .upsert_client(client, "config", true, now)
            .await?;
    }
    tracing::info!(count = clients.len(), file = %path.display(), "clients loaded");
    Ok(clients.len())
}
