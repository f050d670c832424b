#![allow(elided_lifetimes_in_paths)] // MigrationTrait's own signature elides it

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{
    boolean, integer, pk_uuid, string, string_null, text_null, timestamp_with_time_zone,
    timestamp_with_time_zone_null,
};

#[derive(Debug, DeriveMigrationName)]
pub(super) struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("organisations")
                    .if_not_exists()
                    .col(string("id").primary_key())
                    .col(string("display_name"))
                    .col(string("kind"))
                    .col(timestamp_with_time_zone("create_time"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("credentials")
                    .if_not_exists()
                    .col(string("id").primary_key())
                    .col(string("organisation_id"))
                    .col(string("display_name"))
                    .col(string("role"))
                    .col(text_null("areas"))
                    .col(integer("rate_limit_per_minute"))
                    .col(timestamp_with_time_zone_null("expire_time"))
                    .col(string("secret_hash"))
                    .col(string_null("previous_secret_hash"))
                    .col(timestamp_with_time_zone_null("previous_secret_expire_time"))
                    .col(timestamp_with_time_zone_null("rotate_time"))
                    .col(timestamp_with_time_zone_null("revoke_time"))
                    .col(timestamp_with_time_zone("create_time"))
                    .foreign_key(
                        ForeignKey::create()
                            .name("credentials_organisation")
                            .from("credentials", "organisation_id")
                            .to("organisations", "id"),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("credentials_by_organisation")
                    .table("credentials")
                    .col("organisation_id")
                    .col("id")
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("calls")
                    .if_not_exists()
                    .col(pk_uuid("id"))
                    .col(timestamp_with_time_zone("event_time"))
                    .col(string("credential"))
                    .col(string("organisation"))
                    .col(string("role"))
                    .col(string("method"))
                    .col(string("resource"))
                    .col(string("status"))
                    .col(boolean("special_category"))
                    .col(string("trace_id"))
                    .to_owned(),
            )
            .await?;
        // Audit pages walk newest first, by time then id.
        manager
            .create_index(
                Index::create()
                    .name("calls_by_time")
                    .table("calls")
                    .col("event_time")
                    .col("id")
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("calls_by_organisation")
                    .table("calls")
                    .col("organisation")
                    .col("event_time")
                    .if_not_exists()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in ["calls", "credentials", "organisations"] {
            manager.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        Ok(())
    }
}
