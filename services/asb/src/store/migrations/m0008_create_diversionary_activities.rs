#![allow(elided_lifetimes_in_paths)] // MigrationTrait's own signature elides it

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{
    big_integer, date, date_null, integer, pk_uuid, string, timestamp_with_time_zone,
};

#[derive(Debug, DeriveMigrationName)]
pub(super) struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("diversionary_activities")
                    .if_not_exists()
                    .col(pk_uuid("id"))
                    .col(string("display_name"))
                    .col(string("area"))
                    .col(date("start_date"))
                    .col(date_null("end_date"))
                    .col(big_integer("budget_pence"))
                    .col(integer("participants"))
                    .col(string("organisation"))
                    .col(timestamp_with_time_zone("create_time"))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table("diversionary_activities").if_exists().to_owned()).await
    }
}
