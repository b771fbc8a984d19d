//! `segl serve` and `segl demo`: the commands that run servers until Ctrl-C or SIGTERM.

use clap::{Args, Subcommand};
use segl::settings::Settings;
use segl::Application;
use std::path::PathBuf;

#[derive(Args)]
pub(super) struct ServeArgs {
    /// Address to listen on (overrides server.listen).
    #[arg(long)]
    listen: Option<String>,
    /// Issuer URL (overrides server.issuer).
    #[arg(long)]
    issuer: Option<String>,
}

#[derive(Args)]
pub(super) struct DemoArgs {
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

impl DemoArgs {
    /// `demo` serves; `demo code` prints and exits.
    pub(super) fn is_serving(&self) -> bool {
        self.action.is_none()
    }
}

/// Runs the provider with `args` over the settings until a shutdown signal.
pub(super) async fn serve(settings: &mut Settings, args: ServeArgs) -> anyhow::Result<()> {
    if let Some(listen) = args.listen {
        settings.server.listen = listen;
    }
    if let Some(issuer) = args.issuer {
        settings.server.issuer = issuer;
    }
    let settings = settings.clone();
    let application = Application::build(settings.clone()).await?;
    let address = application.local_addr()?;
    tracing::info!(%address, issuer = %settings.server.issuer, backend = ?application.services.backend, "segl is serving");
    application.run_until(shutdown_signal()).await?;
    tracing::info!("stopped");
    Ok(())
}

pub(super) async fn demo(args: DemoArgs) -> anyhow::Result<()> {
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
