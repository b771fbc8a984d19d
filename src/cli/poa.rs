//! `segl poa`: grant, revoke and list powers of attorney.

use super::{find, ADMIN};
use anyhow::bail;
use citizen_registry::{Cvr, NationalId, Principal, Privilege};
use clap::Subcommand;
use segl::Services;

#[derive(Subcommand)]
pub(super) enum PoaCommand {
    /// Let a citizen (the agent) act for a citizen or an organisation (the principal).
    Grant {
        /// The agent, by user ID or CPR number.
        #[arg(long)]
        agent: String,
        #[arg(
            long,
            conflicts_with = "principal_cvr",
            required_unless_present = "principal_cvr"
        )]
        principal_cpr: Option<String>,
        #[arg(long)]
        principal_cvr: Option<String>,
        /// Comma-separated privilege names.
        #[arg(long, value_delimiter = ',', required = true)]
        privileges: Vec<String>,
        /// Start: YYYY-MM-DD (UTC midnight) or RFC 3339; now by default.
        #[arg(long)]
        from: Option<String>,
        /// End (exclusive): YYYY-MM-DD (UTC midnight) or RFC 3339.
        #[arg(long)]
        until: String,
    },
    /// Revoke a power of attorney by its id.
    Revoke { id: String },
    /// List the powers of attorney a citizen holds.
    List { who: String },
}

/// A date (`YYYY-MM-DD`, UTC midnight) or an RFC 3339 instant, as epoch seconds.
fn parse_instant(input: &str, what: &str) -> anyhow::Result<i64> {
    use time::format_description::well_known::Rfc3339;
    if let Ok(instant) = time::OffsetDateTime::parse(input, &Rfc3339) {
        return Ok(instant.unix_timestamp());
    }
    let format = time::macros::format_description!("[year]-[month]-[day]");
    let date = time::Date::parse(input, &format)
        .map_err(|_| anyhow::anyhow!("{what} '{input}' is not YYYY-MM-DD or an RFC 3339 time"))?;
    Ok(date.midnight().assume_utc().unix_timestamp())
}

fn format_instant(seconds: i64) -> String {
    use time::format_description::well_known::Rfc3339;
    time::OffsetDateTime::from_unix_timestamp(seconds)
        .ok()
        .and_then(|instant| instant.format(&Rfc3339).ok())
        .unwrap_or_else(|| seconds.to_string())
}

pub(super) async fn run(services: &Services, command: PoaCommand) -> anyhow::Result<()> {
    let registry = &services.registry;
    match command {
        PoaCommand::Grant {
            agent,
            principal_cpr,
            principal_cvr,
            privileges,
            from,
            until,
        } => {
            let principal = match (principal_cpr, principal_cvr) {
                (Some(cpr), None) => Principal::Citizen(NationalId::parse(&cpr)?),
                (None, Some(cvr)) => Principal::Organisation(Cvr::parse(&cvr)?),
                _ => bail!("give exactly one of --principal-cpr and --principal-cvr"),
            };
            let privileges = privileges
                .iter()
                .map(|privilege| Privilege::parse(privilege))
                .collect::<Result<Vec<_>, _>>()?;
            let valid_from = match from {
                Some(from) => parse_instant(&from, "--from")?,
                None => oidc_provider::context::Clock::system().now(),
            };
            let valid_until = parse_instant(&until, "--until")?;
            let agent = find(services, &agent).await?;
            let poa = registry
                .grant_power_of_attorney(
                    &agent,
                    principal,
                    privileges,
                    valid_from,
                    valid_until,
                    ADMIN,
                )
                .await?;
            println!(
                "granted power of attorney {} to {} for {} until {}",
                poa.id,
                agent.user_id.as_str(),
                poa.principal.label(),
                format_instant(poa.valid_until)
            );
        }
        PoaCommand::Revoke { id } => {
            let id = uuid::Uuid::parse_str(id.trim())
                .map_err(|_| anyhow::anyhow!("'{id}' is not a power of attorney id (a UUID)"))?;
            registry.revoke_power_of_attorney(id, ADMIN).await?;
            println!("revoked power of attorney {id}");
        }
        PoaCommand::List { who } => {
            let agent = find(services, &who).await?;
            let now = oidc_provider::context::Clock::system().now();
            for poa in registry.powers_of_attorney(agent.id).await? {
                let state = if poa.revoked_at.is_some() {
                    "revoked"
                } else if poa.is_usable(now) {
                    "valid"
                } else if now < poa.valid_from {
                    "not yet valid"
                } else {
                    "expired"
                };
                let privileges: Vec<&str> = poa.privileges.iter().map(Privilege::as_str).collect();
                println!(
                    "{}  {:<14} for {}  privileges={}  {} .. {}",
                    poa.id,
                    state,
                    poa.principal.label(),
                    privileges.join(","),
                    format_instant(poa.valid_from),
                    format_instant(poa.valid_until)
                );
            }
        }
    }
    Ok(())
}
