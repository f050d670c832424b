//! Anti-social behaviour cases: `involve.asb.v1.AsbCases` (issue 10, being built).
//!
//! The one shape of a service: `api` (tonic, thin) -> `service` (use cases) ->
//! `domain` (plain Rust rules) and `store` (sea-orm); `peers` calls profiles
//! through its contract. Every RPC of `proto/involve/asb/v1` is answered.

pub mod api;
pub mod domain;
pub mod error;
pub mod peers;
pub mod service;
mod signals;
pub mod store;

use std::sync::Arc;

use contracts::involve::asb::v1::asb_cases_server::AsbCasesServer;
use serde::Deserialize;

pub use api::AsbApi;
pub use error::ERROR_DOMAIN;
pub use store::{Migrator, Store};

use crate::domain::analysis::AnalysisSettings;
use crate::domain::review::SampleRule;
use crate::domain::standards::StandardSettings;
use crate::domain::trigger::TriggerRule;

/// The service's database schema / SQLite file name.
pub const SERVICE_NAME: &str = "asb";

/// The ASB service, as the registry in the `involve` binary knows it.
pub static MODULE: AsbModule = AsbModule;

/// `[services.asb]`: the partnership's standards, thresholds and sampling.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AsbSettings {
    pub standards: StandardSettings,
    pub community_trigger: TriggerRule,
    pub quality_sample: SampleRule,
    pub analysis: AnalysisSettings,
}

/// ASB cases as one [`platform::ServiceModule`].
#[derive(Debug)]
pub struct AsbModule;

#[async_trait::async_trait]
impl platform::ServiceModule for AsbModule {
    fn name(&self) -> &'static str {
        SERVICE_NAME
    }

    async fn migrate(&self, database: &sea_orm::DatabaseConnection) -> Result<(), sea_orm::DbErr> {
        use sea_orm_migration::MigratorTrait as _;
        Migrator::up(database, None).await
    }

    async fn add_routes(
        &self,
        context: platform::ServiceContext<'_>,
        set: &mut platform::server::ServiceSet,
    ) -> anyhow::Result<()> {
        let settings: AsbSettings = context.section(SERVICE_NAME)?;
        // Fails at start-up when the deployment has no profiles service to check parties with.
        let peers = peers::Peers { profiles: context.client("profiles")? };
        let store = Arc::new(Store::new(context.database));
        // Counted afresh only when the configured threshold is not the one the kept
        // triggers were counted by (and once, on the first start).
        store.keep_triggers(settings.community_trigger).await?;
        let cases = service::Cases::new(
            store,
            peers,
            settings.standards,
            settings.quality_sample,
            context.page_tokens,
            context.clock,
        )
        .with_analysis(settings.analysis);
        let max = context.settings.server.max_message_bytes;
        set.add(
            AsbCasesServer::new(AsbApi::new(cases, max))
                .max_decoding_message_size(max)
                .max_encoding_message_size(max),
        );
        Ok(())
    }

    fn domain_signals(
        &self,
        context: &platform::ServiceContext<'_>,
    ) -> Option<Arc<dyn platform::signals::DomainSignals>> {
        // A section that does not parse stops add_routes, which reports it.
        let settings: AsbSettings = context.section(SERVICE_NAME).ok()?;
        Some(Arc::new(signals::AsbSignals {
            store: Arc::new(Store::new(context.database.clone())),
            standards: settings.standards,
            clock: Arc::clone(&context.clock),
        }))
    }
}
