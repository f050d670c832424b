//! The partner-facing gateway: `involve.gateway.v1.PartnerAdmin` and the edge that
//! authenticates, limits, audits and forwards every partner call.

pub mod api;
pub mod audit;
pub mod auth;
pub mod domain;
pub mod edge;
pub mod error;
pub mod store;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use contracts::involve::gateway::v1::partner_admin_server::PartnerAdminServer;
use persistence::PageTokenKey;
use platform::Role;
/// Wraps a set of routes to be called in-process (the principal handed over
/// as a request extension, the service with its own RPC span).
pub use platform::client::in_process;
use platform::server::{Health, ServeError, ServiceSet};

pub use edge::{Edge, EdgeSettings, InnerService, ServiceChannel};
pub use error::GatewayError;
pub use store::Store;

/// The gateway's database schema / SQLite file name.
pub const SERVICE_NAME: &str = "gateway";

/// How the gateway is assembled.
#[derive(Debug)]
pub struct GatewaySettings {
    pub default_rate_limit_per_minute: u32,
    pub default_deadline: Duration,
    /// How often each instance re-reads the credentials.
    pub credential_refresh: Duration,
    /// Failed slow secret checks a minute allowed per credential id.
    pub failed_auth_per_minute: u32,
    pub max_message_bytes: usize,
    /// Calls in flight one credential may hold at once.
    pub credential_concurrency: usize,
    pub stream_idle_timeout: Duration,
    /// `gateway.trusted_proxies`, as configured.
    pub trusted_proxies: Vec<String>,
    pub audit: audit::AuditSettings,
    /// The system clock, or one a test moves by hand.
    pub clock: platform::clock::SharedClock,
}

/// A ready edge, its health, and the audit writer to await on shutdown.
#[derive(Debug)]
pub struct Gateway {
    pub edge: Edge,
    pub health: Health,
    pub audit_writer: tokio::task::JoinHandle<()>,
    /// Writes out the audit queue on demand (tests; shutdown drains it anyway).
    pub audit_flusher: audit::AuditFlusher,
}

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(transparent)]
    Serve(#[from] ServeError),
    #[error("{0}")]
    Config(String),
}

/// Builds the edge over `backends` (by backend name: `profiles`, ...; see
/// `platform::client::ServiceDirectory::channels`). Every service in the
/// contracts whose backend is present is routed; the others answer UNIMPLEMENTED.
pub fn build(
    store: Arc<Store>,
    backends: &HashMap<String, ServiceChannel>,
    page_tokens: PageTokenKey,
    settings: &GatewaySettings,
) -> Result<Gateway, BuildError> {
    let trusted_proxies =
        edge::TrustedProxies::parse(&settings.trusted_proxies).map_err(BuildError::Config)?;
    let auth = Arc::new(auth::Authenticator::new(
        Arc::clone(&store),
        auth::AuthSettings {
            refresh: settings.credential_refresh,
            default_rate_limit: settings.default_rate_limit_per_minute,
            failed_checks_per_minute: settings.failed_auth_per_minute,
            clock: std::sync::Arc::clone(&settings.clock),
        },
    ));
    // The first read happens on the refresher's first tick, at once.
    auth.spawn_refresher();
    let limiter = Arc::new(domain::rate_limit::RateLimiter::default());
    let (audit, audit_writer) = audit::AuditLog::start(Arc::clone(&store), settings.audit);
    let audit_flusher = audit.flusher();

    let mut local = ServiceSet::new()?;
    local.add(
        PartnerAdminServer::new(api::AdminApi::new(
            store,
            Arc::clone(&auth),
            Arc::clone(&limiter),
            page_tokens,
            Arc::clone(&settings.clock),
        ))
        .max_decoding_message_size(settings.max_message_bytes)
        .max_encoding_message_size(settings.max_message_bytes),
    );
    let contracts = edge::contracts();
    let mut routes = HashMap::new();
    for (service, backend_name) in &contracts.services {
        if let Some(backend) = backends.get(backend_name) {
            routes.insert(service.clone(), backend.clone());
        }
    }
    for service in routes.keys() {
        local.report(service.clone());
    }
    let (local_routes, health) = local.into_parts();
    let edge = Edge::new(
        in_process(local_routes),
        routes,
        contracts,
        auth,
        limiter,
        audit,
        EdgeSettings {
            default_deadline: settings.default_deadline,
            credential_concurrency: settings.credential_concurrency.max(1),
            stream_idle_timeout: settings.stream_idle_timeout,
            trusted_proxies,
            clock: Arc::clone(&settings.clock),
        },
    );
    Ok(Gateway { edge, health, audit_writer, audit_flusher })
}

/// Creates (or reuses) an organisation and issues it a credential, straight
/// against the gateway's database: how a fresh install gets its first operator.
/// Returns the credential's name and its secret.
pub async fn bootstrap_credential(
    store: &Store,
    organisation_id: &str,
    role: Role,
    display_name: &str,
) -> Result<(String, String), GatewayError> {
    if let Some(existing) = store.organisation(organisation_id).await? {
        if !domain::policy::kind_allows(&existing.kind, role) {
            return Err(GatewayError::RoleNotAllowed { role: role.as_str(), kind: existing.kind });
        }
    } else {
        let row = domain::records::Organisation {
            id: organisation_id.to_owned(),
            display_name: organisation_id.to_owned(),
            kind: "council".to_owned(),
            create_time: chrono::Utc::now(),
        };
        match store.create_organisation(row).await {
            Ok(_) | Err(GatewayError::OrganisationExists { .. }) => {}
            Err(other) => return Err(other),
        }
    }
    let issued = api::new_credential(organisation_id, display_name.to_owned(), role, None, 0, None)?;
    let row = store.insert_credential(issued.row).await?;
    Ok((domain::credentials::credential_name(&row.organisation_id, &row.id), issued.secret))
}
