//! Migrations for the tables every service keeps in its own schema. A service lists
//! these first in its migrator.

// `MigrationTrait` is declared with an elided `SchemaManager` lifetime; impls must match it.
#![allow(elided_lifetimes_in_paths)]

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{boolean, pk_uuid, string, timestamp_with_time_zone};

/// Creates `audit_events`.
#[derive(Debug)]
pub struct CreateAuditEvents;

impl MigrationName for CreateAuditEvents {
    fn name(&self) -> &str {
        "m0001_shared_create_audit_events"
    }
}

#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for CreateAuditEvents {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("audit_events")
                    .if_not_exists()
                    .col(pk_uuid("id"))
                    .col(timestamp_with_time_zone("event_time"))
                    .col(string("organisation"))
                    .col(string("role"))
                    .col(string("subject"))
                    .col(string("method"))
                    .col(string("resource"))
                    .col(string("purpose"))
                    .col(boolean("special_category"))
                    .col(string("trace_id"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("audit_events_by_resource")
                    .table("audit_events")
                    .col("resource")
                    .col("event_time")
                    .if_not_exists()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table("audit_events").to_owned()).await
    }
}

/// Creates `idempotency_keys`.
#[derive(Debug)]
pub struct CreateIdempotencyKeys;

impl MigrationName for CreateIdempotencyKeys {
    fn name(&self) -> &str {
        "m0002_shared_create_idempotency_keys"
    }
}

#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for CreateIdempotencyKeys {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("idempotency_keys")
                    .if_not_exists()
                    .col(string("organisation"))
                    .col(string("method"))
                    .col(string("request_id"))
                    .col(string("resource"))
                    .col(timestamp_with_time_zone("create_time"))
                    .primary_key(Index::create().col("organisation").col("method").col("request_id"))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table("idempotency_keys").to_owned()).await
    }
}

/// Adds `idempotency_keys.request_digest`, so a reused `request_id` with another
/// request is told apart from a retry. Older keys keep NULL and replay as before.
#[derive(Debug)]
pub struct AddIdempotencyRequestDigest;

impl MigrationName for AddIdempotencyRequestDigest {
    fn name(&self) -> &str {
        "m0006_shared_add_idempotency_request_digest"
    }
}

#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for AddIdempotencyRequestDigest {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table("idempotency_keys")
                    .add_column(ColumnDef::new("request_digest").string().null())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(Table::alter().table("idempotency_keys").drop_column("request_digest").to_owned())
            .await
    }
}
