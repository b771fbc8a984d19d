//! `segl keys`: the master key for secrets, and the signing keys (list, rotate).

use super::words::{words, Alg, Matching};
use clap::Subcommand;
use oidc_provider::client::SigningAlg;
use segl::settings::Settings;
use segl::Services;
use std::process::ExitCode;

#[derive(Subcommand)]
pub(super) enum KeysCommand {
    /// Print a new random master key (base64) for secrets.master_key.
    GenerateMaster,
    /// List the signing keys and their states.
    List,
    /// Rotate signing keys: the published next key starts signing once every node has reloaded
    /// it (provider.key_refresh_seconds and a margin from now), the active one signs until then
    /// and retires (still published until every token it signed has expired), a new next key is
    /// published.
    Rotate {
        /// Only this algorithm (ES256, RS256, PS256, EdDSA); all by default.
        #[arg(long, value_parser = words::<Alg>("algorithm", Matching::Exact))]
        alg: Option<Alg>,
    },
}

/// `keys generate-master`: runs before the settings are read, since it makes their key.
pub(super) fn generate_master() -> anyhow::Result<ExitCode> {
    println!(
        "{}",
        citizen_registry::sealing::MasterKey::generate_encoded()?
    );
    Ok(ExitCode::SUCCESS)
}

pub(super) async fn run(settings: &Settings, command: KeysCommand) -> anyhow::Result<()> {
    match command {
        // Handled before the settings are loaded (`generate_master`).
        KeysCommand::GenerateMaster => {}
        KeysCommand::List => {
            let ring = Services::open(settings).await?.key_ring().await?;
            for (kid, alg, state, created_at, active_from) in ring.entries() {
                let retire = state
                    .retire_after()
                    .map(|at| format!(" until {at}"))
                    .unwrap_or_default();
                let signs = active_from
                    .map(|at| format!("  signs from {at}"))
                    .unwrap_or_default();
                println!(
                    "{kid}  {:<6} {}{retire}  created {created_at}{signs}",
                    alg.as_str(),
                    state.as_str()
                );
            }
        }
        KeysCommand::Rotate { alg } => {
            let algs = match alg {
                Some(Alg(alg)) => vec![alg],
                None => SigningAlg::ALL.to_vec(),
            };
            let ring = Services::open(settings).await?.key_ring().await?;
            let switch_at = ring.rotate(&algs, settings.rotation_timing()).await?;
            let names: Vec<&str> = algs.iter().map(|alg| alg.as_str()).collect();
            println!(
                "rotated {}: every node publishes the new keys within provider.key_refresh_seconds and signs with them from {switch_at} (unix time)",
                names.join(", ")
            );
        }
    }
    Ok(())
}
