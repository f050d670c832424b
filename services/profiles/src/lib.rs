//! Cross-tenure customer profiles: `involve.profiles.v1.CustomerProfiles`.
//!
//! `api` decodes and validates requests and encodes responses; `domain` holds the
//! rules in plain Rust; `store` is the only code that touches the database.

pub mod api;
pub mod domain;
pub mod error;
pub mod store;

use std::sync::Arc;

use persistence::PageTokenKey;

pub use api::ProfilesApi;
pub use error::ERROR_DOMAIN;
pub use store::{Migrator, Store};

/// The service's database schema / SQLite file name.
pub const SERVICE_NAME: &str = "profiles";

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
