//! The command line (clap): the top-level commands, dispatch, and what every noun shares.
//! Each noun (`citizen`, `client`, `org`, `poa`, `audit`, `keys`, `serve`/`demo`) has its own
//! module with its subcommands and their handlers.

mod audit;
mod citizen;
mod client;
mod keys;
mod org;
mod poa;
mod serve;
mod words;

use anyhow::Context;
use citizen_registry::{Citizen, CitizenLookup};
use clap::{Parser, Subcommand};
use secrecy::SecretString;
use segl::settings::Settings;
use segl::Services;
use std::io::BufRead;
use std::path::PathBuf;
use std::process::ExitCode;

pub(crate) use words::UnknownWord;

#[derive(Parser)]
#[command(
    name = "segl",
    version,
    about = "Segl: a national digital-identity provider modelled on NemLog-In"
)]
pub(crate) struct Cli {
    /// A TOML file layered over the built-in defaults.
    #[arg(long, global = true, env = "SEGL_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the identity provider.
    Serve(serve::ServeArgs),
    /// Run the provider and two demo portals with demo citizens (a fresh SQLite database).
    Demo(serve::DemoArgs),
    /// Apply database migrations and exit.
    Migrate,
    /// Manage citizens.
    #[command(subcommand)]
    Citizen(citizen::CitizenCommand),
    /// Manage relying parties (clients).
    #[command(subcommand)]
    Client(client::ClientCommand),
    /// Manage organisations (by CVR number).
    #[command(subcommand)]
    Org(org::OrgCommand),
    /// Manage powers of attorney.
    #[command(subcommand)]
    Poa(poa::PoaCommand),
    /// Inspect the audit log.
    #[command(subcommand)]
    Audit(audit::AuditCommand),
    /// Manage keys.
    #[command(subcommand)]
    Keys(keys::KeysCommand),
}

/// The actor recorded in the audit log for administrative commands.
const ADMIN: &str = "admin";

pub(crate) async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    // Needs no settings: it makes the key that the settings will hold.
    if let Command::Keys(keys::KeysCommand::GenerateMaster) = cli.command {
        return keys::generate_master();
    }
    let mut settings = Settings::load(cli.config.as_deref())?;
    init_tracing(&settings, cli.command.is_serving());
    match cli.command {
        Command::Serve(args) => serve::serve(&mut settings, args).await?,
        Command::Demo(args) => serve::demo(args).await?,
        Command::Migrate => {
            Services::open(&settings).await?;
            println!("migrations applied");
        }
        Command::Citizen(command) => {
            citizen::run(&Services::open(&settings).await?, command).await?
        }
        Command::Client(command) => {
            client::run(&Services::open(&settings).await?, &settings, command).await?
        }
        Command::Org(command) => org::run(&Services::open(&settings).await?, command).await?,
        Command::Poa(command) => poa::run(&Services::open(&settings).await?, command).await?,
        Command::Audit(command) => audit::run(&Services::open(&settings).await?, command).await?,
        Command::Keys(command) => keys::run(&settings, command).await?,
    }
    Ok(ExitCode::SUCCESS)
}

impl Command {
    /// Whether the command runs a server (which logs at the configured level).
    fn is_serving(&self) -> bool {
        match self {
            Command::Serve(_) => true,
            Command::Demo(args) => args.is_serving(),
            _ => false,
        }
    }
}

fn init_tracing(settings: &Settings, serving: bool) {
    use tracing_subscriber::EnvFilter;
    // Admin commands keep stdout for their output and log only warnings to stderr.
    let default = if serving {
        settings.log.filter.as_str()
    } else {
        "warn"
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = if settings.log.format == "json" {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

/// Reads one line of standard input as a password (without its line ending).
fn read_password_stdin() -> anyhow::Result<SecretString> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("reading the password from standard input")?;
    let password = line.trim_end_matches(['\n', '\r']).to_owned();
    Ok(SecretString::from(password))
}

/// The citizen named by a CPR number or a user ID.
async fn find(services: &Services, who: &str) -> anyhow::Result<Citizen> {
    let lookup = CitizenLookup::parse(who)?;
    Ok(services.registry.find_citizen(&lookup).await?)
}
