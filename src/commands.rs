//! The command line (clap) and what each command wires together.

use anyhow::{bail, Context};
use citizen_registry::{
    AssuranceLevel, Citizen, CitizenLookup, CitizenStatus, Cvr, Email, NationalId, NewCitizen,
    Organisation, OrganisationName, PersonName, Principal, Privilege, UserId,
};
use clap::{Args, Parser, Subcommand};
use oidc_provider::client::{ClientRegistration, SigningAlg};
use secrecy::SecretString;
use segl::settings::Settings;
use segl::{Application, Services};
use std::io::{BufRead, IsTerminal};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "segl",
    version,
    about = "Segl: a national digital-identity provider modelled on NemLog-In"
)]
pub struct Cli {
    /// A TOML file layered over the built-in defaults.
    #[arg(long, global = true, env = "SEGL_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the identity provider.
    Serve(ServeArgs),
    /// Run the provider and two demo portals with demo citizens (a fresh SQLite database).
    Demo(DemoArgs),
    /// Apply database migrations and exit.
    Migrate,
    /// Manage citizens.
    #[command(subcommand)]
    Citizen(CitizenCommand),
    /// Manage relying parties (clients).
    #[command(subcommand)]
    Client(ClientCommand),
    /// Manage organisations (by CVR number).
    #[command(subcommand)]
    Org(OrgCommand),
    /// Manage powers of attorney.
    #[command(subcommand)]
    Poa(PoaCommand),
    /// Inspect the audit log.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Manage keys.
    #[command(subcommand)]
    Keys(KeysCommand),
}

#[derive(Args)]
struct ServeArgs {
    /// Address to listen on (overrides server.listen).
    #[arg(long)]
    listen: Option<String>,
    /// Issuer URL (overrides server.issuer).
    #[arg(long)]
    issuer: Option<String>,
}

#[derive(Args)]
struct DemoArgs {
    /// The demo's folder (wiped and recreated at each start).
    #[arg(long, default_value = "data/demo")]
    folder: PathBuf,
    #[arg(long, default_value_t = 8080)]
    provider_port: u16,
    #[arg(long, default_value_t = 8081)]
    citizen_portal_port: u16,
    #[arg(long, default_value_t = 8082)]
    tax_portal_port: u16,
    #[command(subcommand)]
    action: Option<DemoAction>,
}

#[derive(Subcommand)]
enum DemoAction {
    /// Print the current TOTP code of a demo citizen (only for a demo database).
    Code { user_id: String },
}

#[derive(Subcommand)]
enum CitizenCommand {
    /// Register a citizen. The password, if any, is read from standard input, never from argv.
    Add {
        #[arg(long)]
        cpr: String,
        #[arg(long)]
        user_id: String,
        #[arg(long)]
        given_name: String,
        #[arg(long)]
        family_name: String,
        #[arg(long)]
        email: Option<String>,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Import citizens from CSV: cpr,user_id,given_name,family_name,email,password_hash.
    Import {
        file: PathBuf,
        /// Rows per transaction.
        #[arg(long, default_value_t = 10_000)]
        batch_size: usize,
    },
    /// Show a citizen by CPR number or user ID (never prints secrets).
    Show {
        who: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Set a citizen's status: active, suspended or deceased.
    SetStatus { who: String, status: String },
    /// Set the identity assurance level (IAL) of a citizen's proofing: low, substantial or high.
    SetIal { who: String, level: String },
    /// Set a citizen's password, read from standard input.
    SetPassword { who: String },
    /// Show a citizen's latest audit events.
    History {
        who: String,
        #[arg(long, default_value_t = 20)]
        limit: i64,
    },
    /// TOTP authenticators.
    #[command(subcommand)]
    Totp(TotpCommand),
    /// Set name and address protection: non-public clients no longer get the name.
    SetProtected {
        who: String,
        /// Clear the protection instead.
        #[arg(long)]
        off: bool,
    },
    /// Give a citizen a professional identity at a registered organisation.
    Employ {
        who: String,
        #[arg(long)]
        cvr: String,
        /// The citizen may represent the organisation (authorized_to_represent).
        #[arg(long)]
        authorized_to_represent: bool,
    },
}

#[derive(Subcommand)]
enum OrgCommand {
    /// Register an organisation: CVR number (8 digits, modulus 11) and name.
    Add {
        #[arg(long)]
        cvr: String,
        #[arg(long)]
        name: String,
    },
}

#[derive(Subcommand)]
enum PoaCommand {
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

#[derive(Subcommand)]
enum TotpCommand {
    /// Enrol (or replace) a TOTP authenticator and print its otpauth URI.
    Enroll { who: String },
}

#[derive(Subcommand)]
enum AuditCommand {
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

#[derive(Subcommand)]
enum KeysCommand {
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
        #[arg(long)]
        alg: Option<String>,
    },
}

// Parsed once per process: the size difference between variants does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum ClientCommand {
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
        #[arg(long)]
        auth_method: String,
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
        #[arg(long)]
        id_token_alg: Option<String>,
        /// The lowest assurance level any of its requests gets: low, substantial or high.
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
        #[arg(long)]
        subject_type: Option<String>,
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

const ADMIN: &str = "admin";

pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    if let Command::Keys(KeysCommand::GenerateMaster) = cli.command {
        println!(
            "{}",
            citizen_registry::sealing::MasterKey::generate_encoded()?
        );
        return Ok(ExitCode::SUCCESS);
    }
    let mut settings = Settings::load(cli.config.as_deref())?;
    let serving = matches!(
        cli.command,
        Command::Serve(_) | Command::Demo(DemoArgs { action: None, .. })
    );
    init_tracing(&settings, serving);
    match cli.command {
        Command::Serve(args) => {
            if let Some(listen) = args.listen {
                settings.server.listen = listen;
            }
            if let Some(issuer) = args.issuer {
                settings.server.issuer = issuer;
            }
            serve(settings).await?;
        }
        Command::Demo(args) => demo(args).await?,
        Command::Migrate => {
            Services::open(&settings).await?;
            println!("migrations applied");
        }
        Command::Citizen(command) => citizen(&Services::open(&settings).await?, command).await?,
        Command::Client(command) => {
            client(&Services::open(&settings).await?, &settings, command).await?
        }
        Command::Org(command) => org(&Services::open(&settings).await?, command).await?,
        Command::Poa(command) => poa(&Services::open(&settings).await?, command).await?,
        Command::Keys(KeysCommand::List) => {
            let ring = Services::open(&settings).await?.key_ring().await?;
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
        Command::Keys(KeysCommand::Rotate { alg }) => {
            let algs = match alg {
                Some(alg) => vec![SigningAlg::parse(&alg).ok_or_else(|| {
                    anyhow::anyhow!("unknown algorithm '{alg}': use ES256, RS256, PS256 or EdDSA")
                })?],
                None => SigningAlg::ALL.to_vec(),
            };
            let ring = Services::open(&settings).await?.key_ring().await?;
            let switch_at = ring.rotate(&algs, settings.rotation_timing()).await?;
            let names: Vec<&str> = algs.iter().map(|alg| alg.as_str()).collect();
            println!(
                "rotated {}: every node publishes the new keys within provider.key_refresh_seconds and signs with them from {switch_at} (unix time)",
                names.join(", ")
            );
        }
        Command::Audit(AuditCommand::Head) => {
            let services = Services::open(&settings).await?;
            let head = services.registry.audit_head().await?;
            println!("{}:{}", head.seq, head.hash);
        }
        Command::Audit(AuditCommand::Verify { expect_head }) => {
            let services = Services::open(&settings).await?;
            match services
                .registry
                .verify_audit_chain(expect_head.as_ref())
                .await?
            {
                Ok(count) => println!("audit chain intact: {count} events verified"),
                Err(error) => bail!("{error}"),
            }
        }
        Command::Keys(KeysCommand::GenerateMaster) => {}
    }
    Ok(ExitCode::SUCCESS)
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

async fn serve(settings: Settings) -> anyhow::Result<()> {
    let application = Application::build(settings.clone()).await?;
    let address = application.local_addr()?;
    tracing::info!(%address, issuer = %settings.server.issuer, backend = ?application.services.backend, "segl is serving");
    application.run_until(shutdown_signal()).await?;
    tracing::info!("stopped");
    Ok(())
}

async fn demo(args: DemoArgs) -> anyhow::Result<()> {
    if let Some(DemoAction::Code { user_id }) = args.action {
        println!(
            "{}",
            segl::demo::current_code(&args.folder, &user_id).await?
        );
        return Ok(());
    }
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let options = segl::demo::DemoOptions {
        folder: args.folder.clone(),
        provider_port: args.provider_port,
        portal_ports: [args.citizen_portal_port, args.tax_portal_port],
    };
    let running = segl::demo::start(options, stopped).await?;
    println!();
    println!("Segl demo is running. Open a portal in a browser and log in:");
    for (name, url) in &running.portals {
        println!("  {name:<24} {url}/");
    }
    println!(
        "  {:<24} {}/.well-known/openid-configuration",
        "Segl (the provider)", running.issuer
    );
    println!();
    println!("Demo logins (user ID / password):");
    for login in segl::demo::LOGINS.iter() {
        println!(
            "  {:<6} {:<16} {}",
            login.user_id, login.password, login.description
        );
    }
    println!();
    println!("For the one-time code (TOTP) in demo mode:");
    println!(
        "  cargo run --release -- demo code anna      (or add the secret to an authenticator app)"
    );
    println!("Press Ctrl-C to stop.");
    shutdown_signal().await;
    let _ = stop.send(true);
    running.wait().await?;
    println!("demo stopped");
    Ok(())
}

async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
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

async fn find(services: &Services, who: &str) -> anyhow::Result<Citizen> {
    let lookup = CitizenLookup::parse(who)?;
    Ok(services.registry.find_citizen(&lookup).await?)
}

async fn citizen(services: &Services, command: CitizenCommand) -> anyhow::Result<()> {
    let registry = &services.registry;
    match command {
        CitizenCommand::Add {
            cpr,
            user_id,
            given_name,
            family_name,
            email,
            password_stdin,
        } => {
            let new = NewCitizen {
                cpr: NationalId::parse(&cpr).context("invalid CPR number")?,
                user_id: UserId::parse(&user_id)?,
                given_name: PersonName::parse(&given_name, "given name")?,
                family_name: PersonName::parse(&family_name, "family name")?,
                email: email.as_deref().map(Email::parse).transpose()?,
            };
            let password = if password_stdin {
                Some(read_password_stdin()?)
            } else {
                None
            };
            let created = registry.add_citizen(new, password, ADMIN).await?;
            println!(
                "added citizen {} ({})",
                created.user_id.as_str(),
                created.id
            );
        }
        CitizenCommand::Import { file, batch_size } => import(services, &file, batch_size).await?,
        CitizenCommand::Show { who, json } => {
            let citizen = find(services, &who).await?;
            print_citizen(&citizen, json)?;
        }
        CitizenCommand::SetStatus { who, status } => {
            let status = CitizenStatus::parse(&status)?;
            let citizen = find(services, &who).await?;
            registry.set_status(&citizen, status, ADMIN).await?;
            println!(
                "status of {} set to {}",
                citizen.user_id.as_str(),
                status.as_str()
            );
        }
        CitizenCommand::SetProtected { who, off } => {
            let citizen = find(services, &who).await?;
            registry.set_name_protected(&citizen, !off, ADMIN).await?;
            println!(
                "name and address protection of {} is {}",
                citizen.user_id.as_str(),
                if off { "off" } else { "on" }
            );
        }
        CitizenCommand::Employ {
            who,
            cvr,
            authorized_to_represent,
        } => {
            let cvr = Cvr::parse(&cvr)?;
            let citizen = find(services, &who).await?;
            let employment = registry
                .employ(&citizen, &cvr, authorized_to_represent, ADMIN)
                .await?;
            println!(
                "{} is employed at {} (CVR {}); professional UUID {}",
                citizen.user_id.as_str(),
                employment.organisation.name.as_str(),
                cvr.as_str(),
                employment.pro_uuid
            );
        }
        CitizenCommand::SetIal { who, level } => {
            let level = AssuranceLevel::parse(&level)?;
            let citizen = find(services, &who).await?;
            registry.set_ial(&citizen, level, ADMIN).await?;
            println!(
                "identity assurance of {} set to {}",
                citizen.user_id.as_str(),
                level.as_str()
            );
        }
        CitizenCommand::SetPassword { who } => {
            let citizen = find(services, &who).await?;
            registry
                .set_password(&citizen, read_password_stdin()?, ADMIN)
                .await?;
            println!("password of {} set", citizen.user_id.as_str());
        }
        CitizenCommand::History { who, limit } => {
            let citizen = find(services, &who).await?;
            for chained in registry.history(citizen.id, limit).await? {
                let event = chained.event;
                let at = time::OffsetDateTime::from_unix_timestamp(event.at)
                    .ok()
                    .and_then(|at| {
                        at.format(&time::format_description::well_known::Rfc3339)
                            .ok()
                    })
                    .unwrap_or_else(|| event.at.to_string());
                println!(
                    "{at}  {:<26} actor={} client={} level={} {}",
                    event.kind,
                    event.actor,
                    event.client_id.as_deref().unwrap_or("-"),
                    event.level.as_deref().unwrap_or("-"),
                    event.detail
                );
            }
        }
        CitizenCommand::Totp(TotpCommand::Enroll { who }) => {
            let citizen = find(services, &who).await?;
            let enrollment = registry.enroll_totp(&citizen, ADMIN).await?;
            println!("{}", enrollment.otpauth_uri);
        }
    }
    Ok(())
}

async fn org(services: &Services, command: OrgCommand) -> anyhow::Result<()> {
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

async fn poa(services: &Services, command: PoaCommand) -> anyhow::Result<()> {
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

async fn client(
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
                auth_method,
                secret,
                jwks: jwks.as_deref().map(segl::clients::read_jwks).transpose()?,
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

fn print_citizen(citizen: &Citizen, json: bool) -> anyhow::Result<()> {
    let value = serde_json::json!({
        "id": citizen.id,
        "cpr": citizen.cpr.to_string(),
        "user_id": citizen.user_id.as_str(),
        "given_name": citizen.given_name.as_str(),
        "family_name": citizen.family_name.as_str(),
        "birth_date": citizen.birth_date().to_string(),
        "email": citizen.email.as_ref().map(|email| email.as_str()),
        "status": citizen.status.as_str(),
        "ial": citizen.ial.as_str(),
        "password": citizen.has_password,
        "totp": citizen.has_totp,
        "failed_attempts": citizen.failed_attempts,
        "locked_until": citizen.locked_until,
        "modulus_11": citizen.cpr.passes_modulus_11(),
        "name_protected": citizen.name_protected,
    });
    if json {
        println!("{}", serde_json::to_string_pretty(&value)?);
        return Ok(());
    }
    let yes_no = |flag: bool| if flag { "set" } else { "none" };
    println!("id:          {}", citizen.id);
    println!("user id:     {}", citizen.user_id.as_str());
    println!("cpr:         {}", citizen.cpr);
    println!("name:        {}", citizen.full_name());
    println!("birth date:  {}", citizen.birth_date());
    println!(
        "email:       {}",
        citizen.email.as_ref().map_or("-", |email| email.as_str())
    );
    println!("status:      {}", citizen.status.as_str());
    println!("ial:         {}", citizen.ial.as_str());
    println!("password:    {}", yes_no(citizen.has_password));
    println!(
        "totp:        {}",
        if citizen.has_totp { "enrolled" } else { "none" }
    );
    println!("failed:      {}", citizen.failed_attempts);
    println!(
        "protected:   {}",
        if citizen.name_protected {
            "name and address"
        } else {
            "no"
        }
    );
    Ok(())
}

async fn import(
    services: &Services,
    file: &std::path::Path,
    batch_size: usize,
) -> anyhow::Result<()> {
    let total = std::fs::metadata(file)
        .with_context(|| format!("cannot read {}", file.display()))?
        .len();
    let bar = if std::io::stderr().is_terminal() {
        indicatif::ProgressBar::new(total)
    } else {
        indicatif::ProgressBar::hidden()
    };
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} {msg} ({eta})")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let started = std::time::Instant::now();
    let report = services
        .registry
        .import_csv(file, batch_size, "import", |progress| {
            bar.set_position(progress.bytes_read);
            bar.set_message(format!(
                "{} imported, {} rejected",
                progress.imported, progress.rejected
            ));
        })
        .await?;
    bar.finish_and_clear();
    for rejected in &report.rejected {
        eprintln!("line {}: {}", rejected.line, rejected.reason);
    }
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "imported {} citizens, rejected {} rows in {:.1} s ({:.0} rows/s)",
        report.imported,
        report.rejected.len(),
        seconds,
        report.imported as f64 / seconds.max(1e-9)
    );
    if !report.rejected.is_empty() {
        bail!("{} rows were rejected", report.rejected.len());
    }
    Ok(())
}
