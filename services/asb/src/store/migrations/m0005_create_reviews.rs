#![allow(elided_lifetimes_in_paths)] // MigrationTrait's own signature elides it

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{boolean, pk_uuid, string, text, timestamp_with_time_zone, uuid};

#[derive(Debug, DeriveMigrationName)]
pub(super) struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("reviews")
                    .if_not_exists()
                    .col(pk_uuid("id"))
                    .col(uuid("case_id"))
                    // `quality` (the monthly sample) or `closure` (the sign-off).
                    .col(string("kind"))
                    .col(text("findings"))
                    .col(boolean("sign_off"))
                    .col(string("reviewer"))
                    .col(timestamp_with_time_zone("review_time"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("reviews_by_case")
                    .table("reviews")
                    .col("case_id")
                    .col("review_time")
                    .if_not_exists()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table("reviews").if_exists().to_owned()).await
    }
}
