//! Building and running the suite.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context as _;
use persistence::PageTokenKey;
use platform::Settings;
use platform::server::ServiceSet;
use tokio::net::TcpListener;

/// A service this binary can run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Service {
    /// Cross-tenure customer profiles.
    Profiles,
}

impl Service {
    pub const ALL: [Service; 1] = [Service::Profiles];

    pub fn name(self) -> &'static str {
        match self {
            Self::Profiles => profiles::SERVICE_NAME,
        }
    }
}

/// A bound listener and the services it will serve.
#[derive(Debug)]
pub struct Application {
    listener: TcpListener,
    local_addr: SocketAddr,
    services: ServiceSet,
    settings: Settings,
}

impl Application {
    /// Connects and migrates each service's database, then binds the listener, so
    /// that `local_addr` is known (port 0 works) before anything is served.
    pub async fn build(settings: Settings, services: &[Service]) -> anyhow::Result<Self> {
        let page_tokens = match &settings.security.page_token_secret {
            Some(secret) => PageTokenKey::from_secret(secret.as_bytes()),
            None => PageTokenKey::random().context("cannot draw a random page-token key")?,
        };
        let mut set = ServiceSet::new()?;
        for service in services {
            match service {
                Service::Profiles => {
                    let db = persistence::connect(&settings.database_for(service.name()), service.name())
                        .await
                        .with_context(|| format!("cannot open the {} database", service.name()))?;
                    let store = profiles::Store::new(db);
                    store.migrate().await.with_context(|| format!("cannot migrate {}", service.name()))?;
                    set.add(profiles::service(
                        Arc::new(store),
                        page_tokens.clone(),
                        settings.server.max_message_bytes,
                    ));
                }
            }
        }
        let listener = TcpListener::bind(settings.listen)
            .await
            .with_context(|| format!("cannot listen on {}", settings.listen))?;
        let local_addr = listener.local_addr()?;
        Ok(Self { listener, local_addr, services: set, settings })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Serves until `shutdown` resolves, then drains calls in flight.
    pub async fn run_until(self, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
        if self.settings.security.trust_principal_metadata {
            tracing::warn!(
                "security.trust_principal_metadata is on: callers are trusted to name their own organisation \
                 and role (development and tests only)"
            );
        }
        self.services
            .serve(
                self.listener,
                &self.settings.server,
                self.settings.security.trust_principal_metadata,
                shutdown,
            )
            .await?;
        Ok(())
    }
}

/// Applies every service's pending migrations.
pub async fn migrate(settings: &Settings, services: &[Service]) -> anyhow::Result<()> {
    for service in services {
        let db = persistence::connect(&settings.database_for(service.name()), service.name())
            .await
            .with_context(|| format!("cannot open the {} database", service.name()))?;
        match service {
            Service::Profiles => profiles::Store::new(db).migrate().await?,
        }
        tracing::info!(service = service.name(), "migrations applied");
    }
    Ok(())
}
