//! `involve`: run the Involve suite, and work ASB cases against a running one.

mod asb_cli;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};
use involve::operations;
use involve::startup::{self, Application, Mode, Service};
use platform::{Role, Settings};

/// jemalloc, not glibc's malloc: strings decoded on one thread and freed on
/// another took glibc's slow path on every call (about a fifth of a loaded
/// server's samples), and with 1,000 calls in flight the gateway peaked at about
/// 60 MB instead of 105 - 125 MB. See README "The hot path".
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// Involve: customer involvement for a cross-tenure housing partnership.
///
/// With no configuration at all, `involve serve` runs the gateway and every
/// service in one process on 127.0.0.1:50051, keeping its data in SQLite files
/// under ./data. Settings come from built-in defaults, then ./involve.toml (or
/// --config), then INVOLVE__SECTION__KEY environment variables, then these flags.
#[derive(Debug, Parser)]
#[command(name = "involve", version, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the suite: gateway and every service in one process (the default),
    /// or just the one named (distributed deployments run one per process).
    Serve {
        /// `gateway`, or a service: `profiles`.
        #[arg(value_parser = parse_service)]
        service: Option<Service>,
        #[command(flatten)]
        common: CommonArgs,
        /// Address to listen on, for example 127.0.0.1:50051 or 0.0.0.0:50051.
        #[arg(long, value_name = "ADDR")]
        listen: Option<SocketAddr>,
    },
    /// Apply database migrations for every service (or the one named), then exit.
    Migrate {
        /// `gateway`, or a service: `profiles`.
        #[arg(value_parser = parse_service)]
        service: Option<Service>,
        #[command(flatten)]
        common: CommonArgs,
    },
    /// Ask a running process over grpc.health.v1 whether it serves: exits 0 when
    /// SERVING, 1 otherwise (container health checks; Kubernetes probes gRPC natively).
    Health {
        /// The process's address, `http://` or `https://`.
        #[arg(long, value_name = "URL", default_value = "http://127.0.0.1:50051")]
        addr: String,
        /// One service's health, for example `involve.profiles.v1.CustomerProfiles`;
        /// empty asks about the whole process.
        #[arg(long, default_value = "")]
        service: String,
        /// PEM CA the listener's certificate chains to, for an `https://` address.
        #[arg(long, value_name = "FILE")]
        ca_file: Option<PathBuf>,
        /// How long to wait for the connection and the answer.
        #[arg(long, value_name = "SECS", default_value_t = 3)]
        timeout_secs: u64,
    },
    /// Copy the embedded SQLite databases (all-in-one) into DIR while the suite
    /// keeps serving (`VACUUM INTO`: one consistent, compact file per database).
    /// Restore by stopping the suite and putting the files in place of data_dir's.
    Backup {
        /// A directory to create (or an empty one): one `<service>.db` per database.
        #[arg(long, value_name = "DIR")]
        to: PathBuf,
        #[command(flatten)]
        common: CommonArgs,
    },
    /// Administer the gateway offline, straight against its database.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
    /// Officers' ASB commands against a running suite: `queue`, `show`,
    /// `report`, `standards`. The credential comes from INVOLVE_CREDENTIAL or
    /// --credential-file and is never printed.
    Asb(Box<asb_cli::AsbArgs>),
}

#[derive(Debug, Subcommand)]
enum AdminCommand {
    /// Issue a credential (creating the organisation if it is new). Prints only
    /// the secret on stdout, so scripts can capture it; messages go to stderr.
    CreateCredential {
        /// Organisation id, for example `council` (the `{organisation}` of `organisations/{organisation}`).
        #[arg(long)]
        organisation: String,
        /// A role name: PARTNER_INTEGRATION, NEIGHBOURHOOD_OFFICER, TENANT_PARTICIPATION_OFFICER,
        /// OPERATOR, MANAGER, ENFORCEMENT_OFFICER, TENANT_INSPECTOR or EXTERNAL_PARTNER (an
        /// organisation may hold only the roles of its kind; see the README's roles table).
        #[arg(long, value_parser = parse_role)]
        role: Role,
        /// A name to recognise the credential by.
        #[arg(long, default_value = "created with involve admin")]
        display_name: String,
        #[command(flatten)]
        common: CommonArgs,
    },
}

fn parse_service(text: &str) -> Result<Service, String> {
    Service::named(text)
        .ok_or_else(|| format!("unknown service {text:?}; one of {}", Service::names().join(", ")))
}

fn parse_role(text: &str) -> Result<Role, String> {
    Role::parse(text).ok_or_else(|| {
        let roles: Vec<&str> = Role::ALL.iter().map(|role| role.as_str()).collect();
        format!("unknown role {text:?}; one of {}", roles.join(", "))
    })
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

fn mode(service: Option<Service>) -> Mode {
    service.map_or(Mode::AllInOne, Mode::Only)
}

#[tokio::main]
async fn main() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve { service, common, listen } => {
            let mut settings = common.settings()?;
            if let Some(listen) = listen {
                settings.listen = listen;
            }
            let process_name = service.map_or("involve", Service::name);
            let _telemetry = platform::telemetry::init(&settings.telemetry, process_name)?;
            let app = Application::build(settings.clone(), mode(service)).await?;
            tracing::info!(
                address = %app.local_addr(),
                mode = service.map_or("all-in-one", Service::name),
                data_dir = %settings.data_dir.display(),
                database = if settings.database.url.is_some() { "postgres" } else { "sqlite" },
                tls = settings.server.tls.enabled(),
                "involve is listening"
            );
            app.run_until(platform::shutdown::signal()).await?;
            tracing::info!("involve stopped");
        }
        Command::Migrate { service, common } => {
            let settings = common.settings()?;
            let _telemetry = platform::telemetry::init(&settings.telemetry, "involve-migrate")?;
            startup::migrate(&settings, mode(service)).await?;
        }
        Command::Asb(args) => return Ok(asb_cli::run(args).await),
        Command::Health { addr, service, ca_file, timeout_secs } => {
            let timeout = std::time::Duration::from_secs(timeout_secs);
            if let Err(err) = operations::health(&addr, &service, ca_file.as_deref(), timeout).await {
                #[allow(clippy::print_stderr)]
                {
                    eprintln!("unhealthy: {err:#}");
                }
                return Ok(ExitCode::FAILURE);
            }
        }
        Command::Backup { to, common } => {
            let settings = common.settings()?;
            let _telemetry = platform::telemetry::init(&settings.telemetry, "involve-backup")?;
            for file in operations::backup(&settings, &to).await? {
                tracing::info!(file = %file.display(), "backed up");
            }
        }
        Command::Admin {
            command: AdminCommand::CreateCredential { organisation, role, display_name, common },
        } => {
            let mut settings = common.settings()?;
            // Only the secret belongs on stdout; keep the log terse on stderr.
            settings.telemetry.log_filter = "warn".to_owned();
            let _telemetry = platform::telemetry::init(&settings.telemetry, "involve-admin")?;
            let (name, secret) =
                startup::create_credential(&settings, &organisation, role, &display_name).await?;
            #[allow(clippy::print_stdout, clippy::print_stderr)]
            {
                eprintln!("issued {name} ({}); its secret follows and is not stored", role.as_str());
                println!("{secret}");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
