//! `segl demo`: the provider and two demo portals on one embedded SQLite database, with demo
//! citizens, for a newcomer to try single sign-on in a browser.

use crate::settings::Settings;
use crate::Application;
use anyhow::Context;
use citizen_registry::{
    AssuranceLevel, CitizenLookup, Cvr, Email, NationalId, NewCitizen, Organisation,
    OrganisationName, PersonName, Principal, Privilege, UserId,
};
use oidc_provider::client::ClientRegistration;
use secrecy::SecretString;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use tokio::net::TcpListener;

/// Marks a folder as made by `segl demo`: only there may `segl demo code` show TOTP codes.
const MARKER: &str = "DEMO";

/// Where and on which ports the demo runs (port 0: any free port).
#[derive(Debug, Clone)]
pub struct DemoOptions {
    pub folder: PathBuf,
    pub provider_port: u16,
    pub portal_ports: [u16; 2],
}

/// A demo citizen, printed for the person trying the demo.
#[derive(Debug, Clone)]
pub struct DemoLogin {
    pub user_id: &'static str,
    pub password: &'static str,
    pub description: &'static str,
    pub with_totp: bool,
}

pub const LOGINS: [DemoLogin; 4] = [
    DemoLogin {
        user_id: "anna",
        password: "demo-anna-2026",
        description: "Anna Jensen: password and TOTP (Substantial)",
        with_totp: true,
    },
    DemoLogin {
        user_id: "lars",
        password: "demo-lars-2026",
        description: "Lars Nielsen: password only (Low; a Substantial page is refused)",
        with_totp: false,
    },
    DemoLogin {
        user_id: "bodil",
        password: "demo-bodil-2026",
        description:
            "Bodil Hansen: password and TOTP; professional at Segl Demo ApS (CVR 12345674)",
        with_totp: true,
    },
    DemoLogin {
        user_id: "carla",
        password: "demo-carla-2026",
        description: "Carla Holm: password and TOTP; holds a power of attorney for Anna Jensen",
        with_totp: true,
    },
];

const CITIZENS: [(&str, &str, &str, &str); 4] = [
    ("anna", "070761-4285", "Anna", "Jensen"),
    ("lars", "010165-4000", "Lars", "Nielsen"),
    ("bodil", "120390-1234", "Bodil", "Hansen"),
    ("carla", "241285-2468", "Carla", "Holm"),
];

/// The running demo.
pub struct Demo {
    pub issuer: String,
    pub portals: Vec<(String, String)>,
    tasks: Vec<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

impl Demo {
    /// Waits for every server to stop (after the shutdown signal).
    pub async fn wait(self) -> anyhow::Result<()> {
        for task in self.tasks {
            task.await.context("a demo server panicked")??;
        }
        Ok(())
    }
}

fn demo_settings(folder: &Path) -> anyhow::Result<Settings> {
    let mut settings = Settings::load(None)?;
    settings.database.url =
        SecretString::from(format!("sqlite://{}", folder.join("segl.db").display()));
    Ok(settings)
}

/// Settings for the demo folder (`segl demo code` uses them to reach the demo database).
pub fn settings_for(folder: &Path) -> anyhow::Result<Settings> {
    if !folder.join(MARKER).is_file() {
        anyhow::bail!(
            "{} is not a demo folder made by `segl demo`: codes are only shown in demo mode",
            folder.display()
        );
    }
    demo_settings(folder)
}

/// Wipes the folder, starts the provider and both portals, seeds citizens and clients.
pub async fn start(
    options: DemoOptions,
    shutdown: tokio::sync::watch::Receiver<bool>,
) -> anyhow::Result<Demo> {
    // A fresh demo each time: the old database, key file and marker go.
    for file in ["segl.db", "segl.db-wal", "segl.db-shm", "segl.key", MARKER] {
        let path = options.folder.join(file);
        if path.exists() {
            std::fs::remove_file(&path).with_context(|| format!("removing {}", path.display()))?;
        }
    }
    std::fs::create_dir_all(&options.folder)
        .with_context(|| format!("creating {}", options.folder.display()))?;
    std::fs::write(
        options.folder.join(MARKER),
        "made by `segl demo`; safe to delete\n",
    )?;

    let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], options.provider_port)))
        .await
        .with_context(|| {
            format!(
                "cannot listen on 127.0.0.1:{} (is another demo running?)",
                options.provider_port
            )
        })?;
    let address = listener.local_addr()?;
    let issuer = format!("http://{address}");
    let mut settings = demo_settings(&options.folder)?;
    settings.server.issuer = issuer.clone();
    settings.server.listen = address.to_string();
    let application = Application::build_on(settings, listener).await?;
    let services = application.services.clone();
    seed_citizens(&services).await?;

    // Two portals in two sectors (hosts 127.0.0.1 and localhost): different pairwise `sub`s.
    let sectors = [
        ("citizen-portal", "Citizen portal (demo)", "127.0.0.1"),
        ("tax-portal", "Tax service (demo)", "localhost"),
    ];
    let mut tasks = Vec::new();
    let mut portals = Vec::new();
    for ((client_id, name, host), port) in sectors.into_iter().zip(options.portal_ports) {
        let port = match port {
            0 => free_port()?,
            port => port,
        };
        let (private_key_pem, jwks, key_id) = rp_demo::generate_client_key()?;
        let config = rp_demo::PortalConfig {
            name: name.to_owned(),
            listen: SocketAddr::from(([127, 0, 0, 1], port)),
            public_url: format!("http://{host}:{port}"),
            issuer: issuer.clone(),
            client_id: client_id.to_owned(),
            private_key_pem,
            key_id,
            scopes: vec!["profile".to_owned(), "email".to_owned()],
            shows_cpr: false,
        };
        let portal = rp_demo::Portal::build(config)
            .await
            .with_context(|| format!("cannot start the {name} on port {port}"))?;
        let registration = ClientRegistration {
            id: client_id.to_owned(),
            name: name.to_owned(),
            redirect_uris: vec![portal.redirect_uri()],
            post_logout_redirect_uris: vec![portal.post_logout_redirect_uri()],
            auth_method: "private_key_jwt".to_owned(),
            jwks: Some(jwks),
            scopes: vec!["profile".to_owned(), "email".to_owned()],
            backchannel_logout_uri: Some(portal.backchannel_logout_uri()),
            ..ClientRegistration::default()
        };
        let (client, _) = registration.validate(&crate::clients::supported_scopes())?;
        services
            .provider_store
            .upsert_client(
                &client,
                "demo",
                true,
                oidc_provider::context::Clock::system().now(),
            )
            .await?;
        portals.push((name.to_owned(), portal.public_url().to_owned()));
        let mut stop = shutdown.clone();
        tasks.push(tokio::spawn(async move {
            portal
                .run_until(async move {
                    let _ = stop.changed().await;
                })
                .await
                .map_err(anyhow::Error::from)
        }));
    }
    let mut stop = shutdown.clone();
    tasks.push(tokio::spawn(async move {
        application
            .run_until(async move {
                let _ = stop.changed().await;
            })
            .await
            .map_err(anyhow::Error::from)
    }));
    Ok(Demo {
        issuer,
        portals,
        tasks,
    })
}

async fn seed_citizens(services: &crate::Services) -> anyhow::Result<()> {
    let registry = &services.registry;
    for ((user_id, cpr, given, family), login) in CITIZENS.into_iter().zip(LOGINS.iter()) {
        let citizen = registry
            .add_citizen(
                NewCitizen {
                    cpr: NationalId::parse(cpr)?,
                    user_id: UserId::parse(user_id)?,
                    given_name: PersonName::parse(given, "given name")?,
                    family_name: PersonName::parse(family, "family name")?,
                    email: Some(Email::parse(&format!("{user_id}@example.dk"))?),
                },
                Some(SecretString::from(login.password.to_owned())),
                "demo",
            )
            .await?;
        if login.with_totp {
            registry.enroll_totp(&citizen, "demo").await?;
        }
        registry
            .set_ial(&citizen, AssuranceLevel::Substantial, "demo")
            .await?;
    }
    seed_identities(services).await
}

/// A demo organisation with Bodil as its professional, and Carla's power of attorney for Anna
/// (for a year), so that both choices of docs/NEMLOGIN.md section 3 can be tried.
async fn seed_identities(services: &crate::Services) -> anyhow::Result<()> {
    let registry = &services.registry;
    let cvr = Cvr::parse("12345674")?;
    registry
        .add_organisation(
            &Organisation {
                cvr: cvr.clone(),
                name: OrganisationName::parse("Segl Demo ApS")?,
            },
            "demo",
        )
        .await?;
    let bodil = registry
        .find_citizen(&CitizenLookup::UserId(UserId::parse("bodil")?))
        .await?;
    registry.employ(&bodil, &cvr, true, "demo").await?;
    let carla = registry
        .find_citizen(&CitizenLookup::UserId(UserId::parse("carla")?))
        .await?;
    let now = oidc_provider::context::Clock::system().now();
    registry
        .grant_power_of_attorney(
            &carla,
            Principal::Citizen(NationalId::parse("070761-4285")?),
            vec![Privilege::parse("tax.read")?, Privilege::parse("tax.file")?],
            now,
            now + 365 * 24 * 3600,
            "demo",
        )
        .await?;
    Ok(())
}

/// The current TOTP code of a demo citizen (demo folders only).
pub async fn current_code(folder: &Path, user_id: &str) -> anyhow::Result<String> {
    let settings = settings_for(folder)?;
    let services = crate::Services::open(&settings).await?;
    let citizen = services
        .registry
        .find_citizen(&CitizenLookup::parse(user_id)?)
        .await?;
    Ok(services.registry.current_totp_code(citizen.id).await?)
}

/// A port free at the time of asking (for a portal whose public URL must name its port).
fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}
