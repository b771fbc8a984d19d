//! `segl citizen`: register, import, show and change citizens, and enrol their authenticators.

use super::words::{words, Level, Matching, Status};
use super::{find, read_password_stdin, ADMIN};
use anyhow::{bail, Context};
use citizen_registry::{Citizen, Cvr, Email, NationalId, NewCitizen, PersonName, UserId};
use clap::Subcommand;
use segl::Services;
use std::io::IsTerminal;
use std::path::PathBuf;

#[derive(Subcommand)]
pub(super) enum CitizenCommand {
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
    SetStatus {
        who: String,
        #[arg(value_parser = words::<Status>("status", Matching::Lenient))]
        status: Status,
    },
    /// Set the identity assurance level (IAL) of a citizen's proofing: low, substantial or high.
    SetIal {
        who: String,
        #[arg(value_parser = words::<Level>("identity assurance level", Matching::Lenient))]
        level: Level,
    },
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
pub(super) enum TotpCommand {
    /// Enrol (or replace) a TOTP authenticator and print its otpauth URI.
    Enroll { who: String },
}

pub(super) async fn run(services: &Services, command: CitizenCommand) -> anyhow::Result<()> {
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
            let Status(status) = status;
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
            let Level(level) = level;
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
