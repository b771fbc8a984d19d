//! `segl org`: register organisations (by CVR number).

use super::ADMIN;
use citizen_registry::{Cvr, Organisation, OrganisationName};
use clap::Subcommand;
use segl::Services;

#[derive(Subcommand)]
pub(super) enum OrgCommand {
    /// Register an organisation: CVR number (8 digits, modulus 11) and name.
    Add {
        #[arg(long)]
        cvr: String,
        #[arg(long)]
        name: String,
    },
}

pub(super) async fn run(services: &Services, command: OrgCommand) -> anyhow::Result<()> {
    match command {
        OrgCommand::Add { cvr, name } => {
            let organisation = Organisation {
                cvr: Cvr::parse(&cvr)?,
                name: OrganisationName::parse(&name)?,
            };
            services
                .registry
                .add_organisation(&organisation, ADMIN)
                .await?;
            println!(
                "added organisation {} (CVR {})",
                organisation.name.as_str(),
                organisation.cvr.as_str()
            );
        }
    }
    Ok(())
}
