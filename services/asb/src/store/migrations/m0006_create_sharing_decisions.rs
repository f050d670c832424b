#![allow(elided_lifetimes_in_paths)] // MigrationTrait's own signature elides it

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{pk_uuid, string, text, timestamp_with_time_zone, uuid};

#[derive(Debug, DeriveMigrationName)]
pub(super) struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("sharing_decisions")
                    .if_not_exists()
                    .col(pk_uuid("id"))
                    .col(uuid("case_id"))
                    .col(string("shared_with"))
                    .col(text("scope"))
                    .col(text("reason"))
                    .col(string("agreement"))
                    .col(string("decided_by"))
                    .col(string("organisation"))
                    .col(timestamp_with_time_zone("decide_time"))
                    .to_owned(),
            )
            .await?;
        for (name, columns) in [
            ("sharing_by_case", ["case_id", "decide_time"]),
            ("sharing_by_organisation", ["shared_with", "case_id"]),
        ] {
            let mut index = Index::create();
            index.name(name).table("sharing_decisions").if_not_exists();
            for column in columns {
                index.col(Alias::new(column));
            }
            manager.create_index(index.to_owned()).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table("sharing_decisions").if_exists().to_owned()).await
    }
}
