//! `segl audit`: verify the audit log's hash chain and print its head.

use anyhow::bail;
use clap::Subcommand;
use segl::Services;

#[derive(Subcommand)]
pub(super) enum AuditCommand {
    /// Verify the audit log's hash chain, and that it ends at its head.
    Verify {
        /// A head printed earlier by `segl audit head` (SEQ:HASH): the log must still hold
        /// that event with that hash. Detects a lost tail, which the chain alone cannot show.
        #[arg(long, value_name = "SEQ:HASH")]
        expect_head: Option<citizen_registry::audit::Anchor>,
    },
    /// Print the chain head as SEQ:HASH, to keep outside the database (for `verify --expect-head`).
    Head,
}

pub(super) async fn run(services: &Services, command: AuditCommand) -> anyhow::Result<()> {
    match command {
        AuditCommand::Head => {
            let head = services.registry.audit_head().await?;
            println!("{}:{}", head.seq, head.hash);
        }
        AuditCommand::Verify { expect_head } => {
            match services
                .registry
                .verify_audit_chain(expect_head.as_ref())
                .await?
            {
                Ok(count) => println!("audit chain intact: {count} events verified"),
                Err(error) => bail!("{error}"),
            }
        }
    }
    Ok(())
}
