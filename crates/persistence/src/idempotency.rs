//! Idempotency keys for `request_id` (AIP-155).
//!
//! A mutating request that carries a `request_id` remembers which resource it
//! produced, in the same transaction as the change. A retry finds the key and
//! answers with that resource's current state instead of acting twice. Keys are
//! kept per organisation, so one caller's ids never reveal another's resources;
//! only the resource name is stored, never the request or response body, so an
//! erasure has nothing to chase here.

use sea_orm::entity::prelude::*;
use sea_orm::{ConnectionTrait, Set};

use crate::StoreError;

pub mod entity {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "idempotency_keys")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub organisation: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub method: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub request_id: String,
        pub resource: String,
        pub create_time: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// Identifies one logical request.
#[derive(Clone, Copy, Debug)]
pub struct IdempotencyKey<'a> {
    pub organisation: &'a str,
    pub method: &'a str,
    pub request_id: &'a str,
}

impl<'a> IdempotencyKey<'a> {
    /// The key of `actor`'s call with `request_id`, when the request carried one.
    pub fn for_request(actor: &'a crate::Actor, request_id: Option<&'a str>) -> Option<Self> {
        request_id.map(|request_id| Self {
            organisation: &actor.organisation,
            method: &actor.method,
            request_id,
        })
    }
}

/// The resource an earlier request with this key produced, if any.
pub async fn find<C: ConnectionTrait>(
    conn: &C,
    key: IdempotencyKey<'_>,
) -> Result<Option<String>, StoreError> {
    Ok(entity::Entity::find_by_id((
        key.organisation.to_owned(),
        key.method.to_owned(),
        key.request_id.to_owned(),
    ))
    .one(conn)
    .await?
    .map(|row| row.resource))
}

/// Records that this key produced `resource`. A concurrent twin that got there first
/// makes this fail with a unique violation, rolling back the duplicate's work.
pub async fn remember<C: ConnectionTrait>(
    conn: &C,
    key: IdempotencyKey<'_>,
    resource: &str,
) -> Result<(), StoreError> {
    entity::ActiveModel {
        organisation: Set(key.organisation.to_owned()),
        method: Set(key.method.to_owned()),
        request_id: Set(key.request_id.to_owned()),
        resource: Set(resource.to_owned()),
        create_time: Set(chrono::Utc::now()),
    }
    .insert(conn)
    .await?;
    Ok(())
}
