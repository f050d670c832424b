//! Building and running the suite, all-in-one or one service per process.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use persistence::PageTokenKey;
use platform::client::{ServiceChannel, ServiceClients, ServiceDirectory, Upstream};
use platform::rpc::RpcTelemetryLayer;
use platform::server::ServiceSet;
use platform::{HandoffKey, PrincipalSource, Registry, ServiceContext, ServiceModule, Settings};
use tokio::net::TcpListener;

/// Every service of the suite, behind the gateway. Adding a service is one line
/// here (and its crate, its proto and the workspace member list).
pub static SERVICES: Registry = &[&profiles::MODULE, &asb::MODULE];

/// What one process can run on its own.
#[derive(Clone, Copy, Debug)]
pub enum Service {
    /// The partner-facing gateway, forwarding to services at `gateway.backends`.
    Gateway,
    /// One service of the registry, accepting only gateway-signed callers.
    Module(&'static dyn ServiceModule),
}

impl Service {
    /// The gateway, or the registered service called `name`.
    pub fn named(name: &str) -> Option<Self> {
        if name == gateway::SERVICE_NAME {
            return Some(Self::Gateway);
        }
        platform::module::find(SERVICES, name).map(Self::Module)
    }

    /// Every name `involve serve` and `involve migrate` accept.
    pub fn names() -> Vec<&'static str> {
        std::iter::once(gateway::SERVICE_NAME).chain(SERVICES.iter().map(|module| module.name())).collect()
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Gateway => gateway::SERVICE_NAME,
            Self::Module(module) => module.name(),
        }
    }
}

impl PartialEq for Service {
    fn eq(&self, other: &Self) -> bool {
        self.name() == other.name()
    }
}

/// How a process runs.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Mode {
    /// The gateway on the listener, every service in-process behind it.
    AllInOne,
    /// One service alone (distributed deployments).
    Only(Service),
}

enum Running {
    Services { set: ServiceSet, source: PrincipalSource },
    Gateway(gateway::Gateway),
}

/// A bound listener and what it will serve.
pub struct Application {
    listener: TcpListener,
    local_addr: SocketAddr,
    running: Running,
    settings: Settings,
}

impl std::fmt::Debug for Application {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Application").field("local_addr", &self.local_addr).finish_non_exhaustive()
    }
}

/// The key page tokens are signed with. Every instance serving the same data
/// must hold the same one, or a token one instance issued is refused by the next
/// (`INVALID_ARGUMENT: check page_token` on every other page behind a balancer):
/// distributed mode therefore never draws a random one.
fn page_tokens(settings: &Settings, mode: Mode) -> anyhow::Result<PageTokenKey> {
    if let Some(material) = settings.security.page_token_key_material() {
        let accepted = settings.security.accepted_page_token_key_material();
        return Ok(PageTokenKey::from_secret(&material).accepting(accepted.iter().map(Vec::as_slice)));
    }
    match mode {
        Mode::AllInOne => PageTokenKey::random().context("cannot draw a random page-token key"),
        Mode::Only(_) => anyhow::bail!(
            "distributed mode needs a page-token key shared by every instance: set \
             security.principal_signing_secret (page tokens are keyed from it) or security.page_token_secret"
        ),
    }
}

fn handoff_key(settings: &Settings) -> anyhow::Result<HandoffKey> {
    let secret = settings
        .security
        .principal_signing_secret
        .as_ref()
        .map(platform::config::Secret::expose)
        .filter(|secret| secret.len() >= 16);
    let secret = secret.context(
        "distributed mode needs security.principal_signing_secret (INVOLVE__SECURITY__PRINCIPAL_SIGNING_SECRET): \
         the same secret of at least 16 characters on the gateway and every service",
    )?;
    let accepted =
        settings.security.accepted_principal_signing_secrets.iter().map(platform::config::Secret::expose);
    Ok(HandoffKey::from_secret(secret).accepting(accepted))
}

async fn open_database(settings: &Settings, service: &str) -> anyhow::Result<sea_orm::DatabaseConnection> {
    let database = settings.database_for(service);
    let mut connection = persistence::connect(&database, service).await.with_context(|| {
        format!("cannot open the {service} database at {}", persistence::redact_url(&database.url))
    })?;
    platform::db_telemetry::observe(&mut connection, service, &database.url);
    Ok(connection)
}

/// Opens and migrates `module`'s database, then adds its routes to `set`;
/// `clients` are how it reaches its peers.
async fn add_module(
    module: &'static dyn ServiceModule,
    settings: &Settings,
    page_tokens: PageTokenKey,
    clients: ServiceClients,
    clock: &platform::clock::SharedClock,
    set: &mut ServiceSet,
) -> anyhow::Result<()> {
    let database = open_database(settings, module.name()).await?;
    module.migrate(&database).await.with_context(|| format!("cannot migrate {}", module.name()))?;
    let context = ServiceContext { settings, database, page_tokens, clients, clock: Arc::clone(clock) };
    if let Some(signals) = module.domain_signals(&context) {
        let every = Duration::from_secs(settings.telemetry.metrics_interval_secs.max(1));
        platform::signals::export(module.name(), signals, every);
    }
    module.add_routes(context, set).await.with_context(|| format!("cannot start {}", module.name()))
}

async fn gateway_store(settings: &Settings) -> anyhow::Result<Arc<gateway::Store>> {
    let store = gateway::Store::new(open_database(settings, gateway::SERVICE_NAME).await?);
    store.migrate().await.context("cannot migrate the gateway")?;
    Ok(Arc::new(store))
}

fn gateway_settings(settings: &Settings, clock: &platform::clock::SharedClock) -> gateway::GatewaySettings {
    gateway::GatewaySettings {
        default_rate_limit_per_minute: settings.gateway.default_rate_limit_per_minute,
        default_deadline: Duration::from_secs(settings.gateway.default_deadline_secs),
        credential_refresh: Duration::from_secs(settings.gateway.credential_refresh_secs),
        failed_auth_per_minute: settings.gateway.failed_auth_per_minute,
        max_message_bytes: settings.server.max_message_bytes,
        credential_concurrency: settings.gateway.credential_concurrency(settings.server.concurrency_limit),
        stream_idle_timeout: Duration::from_secs(settings.gateway.stream_idle_timeout_secs),
        trusted_proxies: settings.gateway.trusted_proxies.clone(),
        audit: gateway::audit::AuditSettings {
            capacity: settings.gateway.audit_queue_capacity,
            retention: Duration::from_secs(u64::from(settings.gateway.audit_retention_days) * 86_400),
        },
        clock: Arc::clone(clock),
    }
}

/// How the gateway, and services calling their peers, reach `https://` backends: trusting only the CA in
/// `gateway.backend_ca_file` (configuration refuses https backends without it),
/// presenting the certificate in `gateway.backend_cert_file` when one is set.
fn backend_tls(settings: &Settings) -> anyhow::Result<Option<tonic::transport::ClientTlsConfig>> {
    use platform::server::read_pem;
    use tonic::transport::{Certificate, ClientTlsConfig, Identity};
    let gateway = &settings.gateway;
    let Some(path) = &gateway.backend_ca_file else {
        return Ok(None);
    };
    let mut tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(read_pem("gateway.backend_ca_file", path)?));
    if let (Some(cert), Some(key)) = (&gateway.backend_cert_file, &gateway.backend_key_file) {
        tls = tls.identity(Identity::from_pem(
            read_pem("gateway.backend_cert_file", cert)?,
            read_pem("gateway.backend_key_file", key)?,
        ));
    }
    Ok(Some(tls))
}

/// Every service of a distributed deployment, reached over the network across
/// its instances. `gateway.backends` is the deployment's one table of where each
/// service listens: the gateway forwards partner calls by it, and a service
/// calls its peers by it, with the same TLS settings (one list to keep true,
/// not one per caller).
fn remote_directory(settings: &Settings, key: &HandoffKey) -> anyhow::Result<ServiceDirectory> {
    let tls = backend_tls(settings)?;
    let directory = ServiceDirectory::new(settings.gateway.backends.keys().map(String::as_str));
    for (service, addresses) in &settings.gateway.backends {
        let upstream =
            Upstream::with_tls(addresses, key.clone(), settings.server.max_message_bytes, tls.clone())
                .with_context(|| format!("gateway.backends.{service} holds an address that is not a URL"))?;
        directory.provide(service, ServiceChannel::Remote(Arc::new(upstream)))?;
    }
    Ok(directory)
}

impl Application {
    /// Connects and migrates the databases, then binds the listener, so that
    /// `local_addr` is known (port 0 works) before anything is served.
    pub async fn build(settings: Settings, mode: Mode) -> anyhow::Result<Self> {
        Self::build_with(settings, mode, SERVICES, platform::clock::system()).await
    }

    /// As [`Application::build`], with the gateway reading time from `clock`:
    /// tests move it by hand to reach expiry and grace periods exactly.
    pub async fn build_with_clock(
        settings: Settings,
        mode: Mode,
        clock: platform::clock::SharedClock,
    ) -> anyhow::Result<Self> {
        Self::build_with(settings, mode, SERVICES, clock).await
    }

    /// As [`Application::build_with_clock`], all-in-one over `services` instead
    /// of [`SERVICES`] (tests add a service of their own).
    pub async fn build_with(
        settings: Settings,
        mode: Mode,
        services: Registry,
        clock: platform::clock::SharedClock,
    ) -> anyhow::Result<Self> {
        // Configuration mistakes fail here, before anything is opened or logged
        // as listening: the listener's TLS files, then the shared secrets.
        platform::server::tls_config(&settings.server.tls)?;
        if let Mode::Only(_) = mode {
            handoff_key(&settings)?;
        }
        let tokens = page_tokens(&settings, mode)?;
        let running = match mode {
            Mode::AllInOne => {
                // Every registered service in this process, each reached in-process
                // by the gateway and by its peers (whichever order they are built in).
                let directory = ServiceDirectory::new(services.iter().map(|module| module.name()));
                for module in services {
                    let mut set = ServiceSet::new()?;
                    let clients = directory.clients_for(module.name());
                    add_module(*module, &settings, tokens.clone(), clients, &clock, &mut set).await?;
                    let (routes, _health) = set.into_parts();
                    directory.provide(module.name(), ServiceChannel::in_process(routes))?;
                }
                let backends = directory.channels();
                let store = gateway_store(&settings).await?;
                Running::Gateway(gateway::build(
                    store,
                    &backends,
                    tokens,
                    &gateway_settings(&settings, &clock),
                )?)
            }
            Mode::Only(Service::Module(module)) => {
                let key = handoff_key(&settings)?;
                let clients = remote_directory(&settings, &key)?.clients_for(module.name());
                let mut set = ServiceSet::new()?;
                add_module(module, &settings, tokens, clients, &clock, &mut set).await?;
                Running::Services { set, source: PrincipalSource::Signed(key) }
            }
            Mode::Only(Service::Gateway) => {
                let key = handoff_key(&settings)?;
                let backends = remote_directory(&settings, &key)?.channels();
                anyhow::ensure!(
                    !backends.is_empty(),
                    "a gateway on its own needs gateway.backends, for example in involve.toml: \
                     [gateway.backends] profiles = [\"http://127.0.0.1:50061\"]"
                );
                let store = gateway_store(&settings).await?;
                Running::Gateway(gateway::build(
                    store,
                    &backends,
                    tokens,
                    &gateway_settings(&settings, &clock),
                )?)
            }
        };
        let listener = TcpListener::bind(settings.listen)
            .await
            .with_context(|| format!("cannot listen on {}", settings.listen))?;
        let local_addr = listener.local_addr()?;
        Ok(Self { listener, local_addr, running, settings })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// For a gateway: what writes out its audit queue on demand, so tests need
    /// not wait out the batch window.
    pub fn audit_flusher(&self) -> Option<gateway::audit::AuditFlusher> {
        match &self.running {
            Running::Gateway(gateway) => Some(gateway.audit_flusher.clone()),
            Running::Services { .. } => None,
        }
    }

    /// Serves until `shutdown` resolves, then drains calls in flight and, for a
    /// gateway, writes out the audit events still queued.
    pub async fn run_until(self, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
        let Self { listener, running, settings, .. } = self;
        match running {
            Running::Services { set, source } => {
                set.serve(listener, &settings.server, source, shutdown).await?
            }
            Running::Gateway(gateway::Gateway { edge, health, audit_writer, .. }) => {
                let service = tower::ServiceBuilder::new().layer(RpcTelemetryLayer::edge()).service(edge);
                platform::server::serve(service, listener, &settings.server, health, shutdown).await?;
                if tokio::time::timeout(Duration::from_secs(10), audit_writer).await.is_err() {
                    tracing::error!("audit events were still being written at shutdown");
                }
            }
        }
        Ok(())
    }
}

/// Applies pending migrations of the services `mode` runs.
pub async fn migrate(settings: &Settings, mode: Mode) -> anyhow::Result<()> {
    let services: Vec<Service> = match mode {
        Mode::AllInOne => {
            std::iter::once(Service::Gateway).chain(SERVICES.iter().copied().map(Service::Module)).collect()
        }
        Mode::Only(service) => vec![service],
    };
    for service in services {
        match service {
            Service::Module(module) => {
                let database = open_database(settings, module.name()).await?;
                module
                    .migrate(&database)
                    .await
                    .with_context(|| format!("cannot migrate {}", module.name()))?;
            }
            Service::Gateway => {
                gateway_store(settings).await?;
            }
        }
        tracing::info!(service = service.name(), "migrations applied");
    }
    Ok(())
}

/// Issues a credential straight against the gateway's database (for the first
/// operator of a fresh install). Returns its name and secret.
pub async fn create_credential(
    settings: &Settings,
    organisation: &str,
    role: platform::Role,
    display_name: &str,
) -> anyhow::Result<(String, String)> {
    let store = gateway_store(settings).await?;
    Ok(gateway::bootstrap_credential(&store, organisation, role, display_name).await?)
}
