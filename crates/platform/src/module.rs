//! The one shape of a service: each service crate exposes one [`ServiceModule`]
//! value, and the binary (`involve serve`, `involve serve <service>`,
//! `involve migrate`) and the gateway's route table loop over the registry of
//! them. Adding a service is its own crate, its proto, and one registry line.

use std::sync::Arc;

use persistence::PageTokenKey;
use sea_orm::{DatabaseConnection, DbErr};
use serde::de::DeserializeOwned;

use crate::Settings;
use crate::client::{ServiceClient, ServiceClients, UnknownService};
use crate::server::ServiceSet;
use crate::signals::DomainSignals;

/// What a service is given by the process that runs it.
#[derive(Debug)]
pub struct ServiceContext<'a> {
    pub settings: &'a Settings,
    /// Connected to the service's own database: its SQLite file or its PostgreSQL
    /// schema, already migrated.
    pub database: DatabaseConnection,
    /// The key page tokens are signed with, shared by every instance.
    pub page_tokens: PageTokenKey,
    /// The other services of the deployment, as this service calls them.
    pub clients: ServiceClients,
    /// Time as the service reads it: the system's, or one a test moves ahead.
    pub clock: crate::clock::SharedClock,
}

impl ServiceContext<'_> {
    /// The service's own configuration section, `[services.{name}]`, or its
    /// defaults when the section is absent.
    pub fn section<T: DeserializeOwned + Default>(&self, name: &str) -> Result<T, serde_json::Error> {
        match self.settings.services.get(name) {
            Some(section) => serde_json::from_value(section.clone()),
            None => Ok(T::default()),
        }
    }

    /// A client of the service called `service` (`"profiles"`), to keep and
    /// bind to a caller on each call: `client.acting_for(&ctx.principal)` for
    /// the person being served, `client.as_service()` for scheduled work. Fails
    /// when the deployment has no such service, so add_routes stops at start-up.
    pub fn client(&self, service: &str) -> Result<ServiceClient, UnknownService> {
        self.clients.client(service)
    }
}

/// One service of the suite.
#[async_trait::async_trait]
pub trait ServiceModule: Send + Sync + std::fmt::Debug {
    /// The service's name: `involve serve {name}`, its database (SQLite file,
    /// PostgreSQL schema), its key in `gateway.backends`, and the second part of its
    /// proto package (`involve.{name}.v1`), by which the gateway routes to it.
    fn name(&self) -> &'static str;

    /// Applies the service's pending migrations to its database.
    async fn migrate(&self, database: &DatabaseConnection) -> Result<(), DbErr>;

    /// Builds the service's gRPC services over its (migrated) database and adds
    /// them to `set`.
    async fn add_routes(&self, context: ServiceContext<'_>, set: &mut ServiceSet) -> anyhow::Result<()>;

    /// The service's domain signals (open cases, overdue work...), read over its
    /// database and clock: the one place a service declares what operators
    /// watch. The platform exports them as gauges (see [`crate::signals`]).
    fn domain_signals(&self, _context: &ServiceContext<'_>) -> Option<Arc<dyn DomainSignals>> {
        None
    }
}

/// The registry: every service this binary can run.
pub type Registry = &'static [&'static dyn ServiceModule];

/// The service called `name` in `registry`.
pub fn find(registry: Registry, name: &str) -> Option<&'static dyn ServiceModule> {
    registry.iter().copied().find(|module| module.name() == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Default, PartialEq, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Section {
        contact_every_days: u32,
    }

    #[tokio::test]
    async fn a_service_reads_its_own_section_or_its_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("involve.toml");
        std::fs::write(&path, "[services.asb]\ncontact_every_days = 14\n").unwrap();
        let settings = Settings::load_from(Some(&path), Vec::new()).unwrap();
        let database = sea_orm::Database::connect("sqlite::memory:").await.unwrap();
        let context = ServiceContext {
            settings: &settings,
            database,
            page_tokens: PageTokenKey::from_secret(b"test"),
            clients: crate::client::ServiceDirectory::default().clients_for("asb"),
            clock: crate::clock::system(),
        };
        assert_eq!(context.section::<Section>("asb").unwrap(), Section { contact_every_days: 14 });
        assert_eq!(context.section::<Section>("profiles").unwrap(), Section::default());
    }
}
