#![allow(elided_lifetimes_in_paths)] // MigrationTrait's own signature elides it

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{date, integer, pk_uuid, string, timestamp_with_time_zone, uuid};

#[derive(Debug, DeriveMigrationName)]
pub(super) struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("time_entries")
                    .if_not_exists()
                    .col(pk_uuid("id"))
                    .col(uuid("case_id"))
                    .col(string("officer"))
                    .col(date("work_date"))
                    .col(integer("minutes"))
                    .col(timestamp_with_time_zone("create_time"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("time_by_case")
                    .table("time_entries")
                    .col("case_id")
                    .col("work_date")
                    .if_not_exists()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table("time_entries").if_exists().to_owned()).await
    }
}
