//! The audit log: who did what to which resource, and why.
//!
//! Entries are written through the same connection (transaction) as the change they
//! record, so a change and its audit row commit or roll back together. Reads of
//! special-category data are recorded too, flagged as such.

use chrono::{DateTime, Utc};
use sea_orm::entity::prelude::*;
use sea_orm::{ConnectionTrait, QueryOrder, Set};

use crate::StoreError;

/// The caller on whose behalf a request runs, as the audit log records it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Actor {
    /// `organisations/{id}` of the caller.
    pub organisation: String,
    /// The caller's role name.
    pub role: String,
    /// The credential or user.
    pub subject: String,
    /// The fully qualified RPC: `involve.profiles.v1.CustomerProfiles/GetCustomer`.
    pub method: String,
    /// The stated purpose of the request.
    pub purpose: String,
    /// W3C trace id of the request, when there is one.
    pub trace_id: String,
}

/// One thing done to one resource.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditEntry {
    pub resource: String,
    /// Special-category (equality) data was read or written.
    pub special_category: bool,
}

impl AuditEntry {
    pub fn new(resource: impl Into<String>) -> Self {
        Self { resource: resource.into(), special_category: false }
    }

    pub fn special_category(mut self, special: bool) -> Self {
        self.special_category = special;
        self
    }
}

pub mod entity {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "audit_events")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub event_time: DateTimeUtc,
        pub organisation: String,
        pub role: String,
        pub subject: String,
        pub method: String,
        pub resource: String,
        pub purpose: String,
        pub special_category: bool,
        pub trace_id: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub use entity::Model as AuditEvent;

/// Writes one audit row per entry, all stamped with the same time.
pub async fn record<C: ConnectionTrait>(
    conn: &C,
    actor: &Actor,
    entries: impl IntoIterator<Item = AuditEntry>,
) -> Result<(), StoreError> {
    let now: DateTime<Utc> = Utc::now();
    let rows: Vec<entity::ActiveModel> = entries
        .into_iter()
        .map(|entry| entity::ActiveModel {
            id: Set(Uuid::now_v7()),
            event_time: Set(now),
            organisation: Set(actor.organisation.clone()),
            role: Set(actor.role.clone()),
            subject: Set(actor.subject.clone()),
            method: Set(actor.method.clone()),
            resource: Set(entry.resource),
            purpose: Set(actor.purpose.clone()),
            special_category: Set(entry.special_category),
            trace_id: Set(actor.trace_id.clone()),
        })
        .collect();
    crate::bulk::insert_all(conn, rows).await?;
    Ok(())
}

/// Every event about one resource, oldest first (for subject-access exports).
pub async fn for_resource<C: ConnectionTrait>(
    conn: &C,
    resource: &str,
) -> Result<Vec<AuditEvent>, StoreError> {
    Ok(entity::Entity::find()
        .filter(entity::Column::Resource.eq(resource))
        .order_by_asc(entity::Column::EventTime)
        .order_by_asc(entity::Column::Id)
        .all(conn)
        .await?)
}
