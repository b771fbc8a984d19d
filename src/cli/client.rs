//! `segl client`: register, list and remove relying parties.

use super::read_password_stdin;
use super::words::{words, Alg, AuthMethod, Matching, Subject};
use anyhow::bail;
use clap::Subcommand;
use oidc_provider::client::ClientRegistration;
use segl::settings::Settings;
use segl::Services;
use std::path::PathBuf;

// Parsed once per process: the size difference between variants does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
pub(super) enum ClientCommand {
    /// Register a relying party. A secret is read from stdin with --secret-stdin, or generated
    /// and shown once.
    Add {
        #[arg(long)]
        id: String,
        #[arg(long)]
        name: String,
        /// Registered exactly; repeat for several.
        #[arg(long = "redirect-uri", required = true)]
        redirect_uris: Vec<String>,
        #[arg(long = "post-logout-redirect-uri")]
        post_logout_redirect_uris: Vec<String>,
        /// client_secret_basic, client_secret_post, private_key_jwt or none.
        #[arg(long, value_parser = words::<AuthMethod>("authentication method", Matching::Exact))]
        auth_method: AuthMethod,
        /// Read the client secret from the first line of standard input.
        #[arg(long)]
        secret_stdin: bool,
        /// The client's public keys (a JWK Set file), for private_key_jwt.
        #[arg(long)]
        jwks: Option<PathBuf>,
        /// Fetching keys from a jwks_uri is not supported yet: give --jwks FILE.
        #[arg(long)]
        jwks_uri: Option<String>,
        /// Scopes the client may request (openid is always allowed); repeat or space-separate.
        #[arg(long = "scope", visible_alias = "scopes")]
        scopes: Vec<String>,
        /// ES256 (default), RS256, PS256 or EdDSA.
        #[arg(long, value_parser = words::<Alg>("ID token algorithm", Matching::Exact))]
        id_token_alg: Option<Alg>,
        /// The lowest assurance level any of its requests gets: low, substantial or high (or
        /// its NSIS or eIDAS ACR URI, which is why this one is not a fixed list of words).
        #[arg(long)]
        min_acr: Option<String>,
        /// Where Segl posts a signed logout token when a session the client took part in ends.
        #[arg(long)]
        backchannel_logout_uri: Option<String>,
        /// Loaded in an iframe (with iss and sid) when a session the client took part in ends.
        #[arg(long)]
        frontchannel_logout_uri: Option<String>,
        /// Issue refresh tokens (they end with the SSO session unless offline_access is granted).
        #[arg(long)]
        refresh_tokens: bool,
        /// A public authority: sees protected names; may get privileges and the public subject.
        #[arg(long)]
        public_authority: bool,
        /// May receive the CPR number (dk_cpr, scope cpr); only with --public-authority.
        #[arg(long)]
        cpr_entitled: bool,
        /// pairwise (default) or public (the citizen's cpr_uuid; public authorities only).
        #[arg(long, value_parser = words::<Subject>("subject type", Matching::Exact))]
        subject_type: Option<Subject>,
        /// A https URL listing the client's redirect URIs (fetched now); its host is the sector
        /// whose clients share pairwise subjects.
        #[arg(long)]
        sector_identifier_uri: Option<String>,
    },
    /// List registered clients.
    List,
    /// Remove a client.
    Remove { id: String },
}

pub(super) async fn run(
    services: &Services,
    settings: &Settings,
    command: ClientCommand,
) -> anyhow::Result<()> {
    let store = &services.provider_store;
    match command {
        ClientCommand::Add {
            id,
            name,
            redirect_uris,
            post_logout_redirect_uris,
            auth_method,
            secret_stdin,
            jwks,
            jwks_uri,
            scopes,
            id_token_alg,
            min_acr,
            backchannel_logout_uri,
            frontchannel_logout_uri,
            refresh_tokens,
            public_authority,
            cpr_entitled,
            subject_type,
            sector_identifier_uri,
        } => {
            if jwks_uri.is_some() {
                bail!("--jwks-uri is not supported yet: download the client's JWK Set and give --jwks FILE");
            }
            let secret = if secret_stdin {
                use secrecy::ExposeSecret;
                Some(read_password_stdin()?.expose_secret().to_owned())
            } else {
                None
            };
            let registration = ClientRegistration {
                id,
                name,
                redirect_uris,
                post_logout_redirect_uris,
                // The registration is the clients file's form too, which names them in words.
                auth_method: auth_method.0.as_str().to_owned(),
                secret,
                jwks: jwks.as_deref().map(segl::clients::read_jwks).transpose()?,
                scopes,
                id_token_alg: id_token_alg.map(|alg| alg.0.as_str().to_owned()),
                min_acr,
                backchannel_logout_uri,
                frontchannel_logout_uri,
                refresh_tokens,
                public_authority,
                cpr_entitled,
                subject_type: subject_type.map(|subject| subject.0.as_str().to_owned()),
                sector_identifier_uri,
            };
            let (client, generated) = registration
                .clone()
                .validate(&segl::clients::supported_scopes())?;
            if let Some(uri) = &registration.sector_identifier_uri {
                let outbound = segl::clients::outbound(settings)?;
                segl::clients::check_sector_identifier(&outbound, uri, &registration.redirect_uris)
                    .await?;
            }
            if !store
                .upsert_client(
                    &client,
                    "cli",
                    false,
                    oidc_provider::context::Clock::system().now(),
                )
                .await?
            {
                bail!("a client with id '{}' already exists", client.id);
            }
            println!("added client {}", client.id);
            if let Some(secret) = generated {
                println!("client secret (shown once, store it now): {secret}");
            }
        }
        ClientCommand::List => {
            for (client, source) in store.find_clients().await? {
                println!(
                    "{}  {:<20} {:<19} scopes=[{}] alg={} min_acr={} subject={}{}{} source={} redirect={}",
                    client.id,
                    client.name,
                    client.auth_method.as_str(),
                    client.scopes.join(" "),
                    client.id_token_alg.as_str(),
                    client.min_acr.map_or("-", |level| level.as_str()),
                    client.subject_type.as_str(),
                    if client.public_authority { " public-authority" } else { "" },
                    if client.cpr_entitled { " cpr-entitled" } else { "" },
                    source,
                    client.redirect_uris.join(",")
                );
            }
        }
        ClientCommand::Remove { id } => {
            if !store.delete_client(&id).await? {
                bail!("unknown client '{id}'");
            }
            println!("removed client {id}");
        }
    }
    Ok(())
}
