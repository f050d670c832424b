//! Cross-tenure customer profiles: `involve.profiles.v1.CustomerProfiles`.
//!
//! `api` decodes and validates requests and encodes responses; `domain` holds the
//! rules in plain Rust; `store` is the only code that touches the database.

pub mod api;
pub mod domain;
pub mod encoding;
pub mod error;
pub mod service;
pub mod store;

use std::sync::Arc;

use persistence::PageTokenKey;

pub use api::ProfilesApi;
pub use error::ERROR_DOMAIN;
pub use store::{Migrator, Store};

/// The service's database schema / SQLite file name.
pub const SERVICE_NAME: &str = "profiles";

/// The profiles service, as the registry in the `involve` binary knows it.
pub static MODULE: ProfilesModule = ProfilesModule;

/// Customer profiles as one [`platform::ServiceModule`].
#[derive(Debug)]
pub struct ProfilesModule;

#[async_trait::async_trait]
impl platform::ServiceModule for ProfilesModule {
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
        let store = Arc::new(Store::new(context.database));
        tokio::spawn(encode_stale_customers(Arc::clone(&store)));
        set.add(service(store, context.page_tokens, context.settings.server.max_message_bytes));
        Ok(())
    }
}

/// Encodes, beside the service, the customers stored without a current encoding
/// (see [`Store::encode_stale_customers`]).
async fn encode_stale_customers(store: Arc<Store>) {
    match store.encode_stale_customers().await {
        Ok(0) => {}
        Ok(encoded) => tracing::info!(encoded, "stored the wire encoding of customers written without one"),
        Err(err) => tracing::warn!(
            error = %err,
            "cannot encode stored customers; their pages are read from the columns until the next start"
        ),
    }
}

/// Builds the tonic service over a migrated store.
pub fn service(
    store: Arc<Store>,
    page_tokens: PageTokenKey,
    max_message_bytes: usize,
) -> contracts::involve::profiles::v1::customer_profiles_server::CustomerProfilesServer<ProfilesApi> {
    contracts::involve::profiles::v1::customer_profiles_server::CustomerProfilesServer::new(ProfilesApi::new(
        store,
        page_tokens,
    ))
    .max_decoding_message_size(max_message_bytes)
    .max_encoding_message_size(max_message_bytes)
}
