#![allow(elided_lifetimes_in_paths)] // MigrationTrait's own signature elides it

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{boolean, string, timestamp_with_time_zone};

#[derive(Debug, DeriveMigrationName)]
pub(super) struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("reference_values")
                    .if_not_exists()
                    .col(string("set_id"))
                    .col(string("code"))
                    .col(string("display_name"))
                    .col(boolean("retired"))
                    .col(timestamp_with_time_zone("create_time"))
                    .primary_key(Index::create().col("set_id").col("code"))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table("reference_values").to_owned()).await
    }
}
