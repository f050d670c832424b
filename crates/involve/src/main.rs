//! `involve`: run the Involve suite.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};
use involve::startup::{self, Application, Service};
use platform::Settings;

/// Involve: customer involvement for a cross-tenure housing partnership.
///
/// With no configuration at all, `involve serve` runs every service in one
/// process on 127.0.0.1:50051, keeping its data in SQLite files under ./data.
/// Settings come from built-in defaults, then ./involve.toml (or --config), then
/// INVOLVE__SECTION__KEY environment variables, then these flags.
#[derive(Debug, Parser)]
#[command(name = "involve", version, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the suite: every service (the default) or just the one named.
    Serve {
        /// Run only this service (distributed deployments run one per process).
        service: Option<Service>,
        #[command(flatten)]
        common: CommonArgs,
        /// Address to listen on, for example 127.0.0.1:50051 or 0.0.0.0:50051.
        #[arg(long, value_name = "ADDR")]
        listen: Option<SocketAddr>,
    },
    /// Apply database migrations for every service (or the one named), then exit.
    Migrate {
        service: Option<Service>,
        #[command(flatten)]
        common: CommonArgs,
    },
}

#[derive(Debug, Args)]
struct CommonArgs {
    /// Configuration file (TOML); defaults to ./involve.toml when it exists.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Directory for the embedded SQLite databases (ignored with a database URL).
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
}

impl CommonArgs {
    fn settings(&self) -> anyhow::Result<Settings> {
        let mut settings = Settings::load(self.config.as_deref()).context("cannot load configuration")?;
        if let Some(dir) = &self.data_dir {
            settings.data_dir = dir.clone();
        }
        Ok(settings)
    }
}

fn selected(service: Option<Service>) -> Vec<Service> {
    service.map_or_else(|| Service::ALL.to_vec(), |service| vec![service])
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve { service, common, listen } => {
            let mut settings = common.settings()?;
            if let Some(listen) = listen {
                settings.listen = listen;
            }
            let process_name = service.map_or("involve", Service::name);
            let _telemetry = platform::telemetry::init(&settings.telemetry, process_name)?;
            let services = selected(service);
            let app = Application::build(settings.clone(), &services).await?;
            let names: Vec<&str> = services.iter().map(|service| service.name()).collect();
            tracing::info!(
                address = %app.local_addr(),
                services = ?names,
                data_dir = %settings.data_dir.display(),
                database = if settings.database.url.is_some() { "postgres" } else { "sqlite" },
                "involve is listening"
            );
            app.run_until(platform::shutdown::signal()).await?;
            tracing::info!("involve stopped");
        }
        Command::Migrate { service, common } => {
            let settings = common.settings()?;
            let _telemetry = platform::telemetry::init(&settings.telemetry, "involve-migrate")?;
            startup::migrate(&settings, &selected(service)).await?;
        }
    }
    Ok(())
}
