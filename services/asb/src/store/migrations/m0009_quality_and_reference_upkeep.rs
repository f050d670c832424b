#![allow(elided_lifetimes_in_paths)] // MigrationTrait's own signature elides it

//! Monthly quality sampling and reference-data upkeep: the actions reviews put on
//! cases, the partnership's secret the sample is drawn with, and a version (the
//! etag) on the categories and intervention types operators now edit.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{big_integer, date, pk_uuid, string, text, timestamp_with_time_zone, uuid};

#[derive(Debug, DeriveMigrationName)]
pub(super) struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in ["categories", "intervention_types"] {
            manager
                .alter_table(
                    Table::alter().table(table).add_column(big_integer("version").default(1)).to_owned(),
                )
                .await?;
        }
        manager
            .create_table(
                Table::create()
                    .table("review_actions")
                    .if_not_exists()
                    .col(pk_uuid("id"))
                    .col(uuid("case_id"))
                    .col(uuid("review_id"))
                    .col(text("action"))
                    .col(string("owner"))
                    .col(date("due_date"))
                    .col(timestamp_with_time_zone("create_time"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("review_actions_by_case")
                    .table("review_actions")
                    .col("case_id")
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
        // Every queue read asks which cases had a quality review this month or last.
        manager
            .create_index(
                Index::create()
                    .name("reviews_by_kind_and_time")
                    .table("reviews")
                    .col("kind")
                    .col("review_time")
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("service_secrets")
                    .if_not_exists()
                    .col(string("name").primary_key())
                    .col(string("secret"))
                    .to_owned(),
            )
            .await?;
        // Drawn once, here, and shared by every instance on this database: nobody
        // who reads the code can tell which cases a month's sample will take.
        let secret = format!("{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple());
        let mut insert = Query::insert();
        insert
            .into_table("service_secrets")
            .columns(["name", "secret"])
            .values(["quality_sample".into(), secret.into()])
            .map_err(|err| DbErr::Migration(err.to_string()))?;
        manager.exec_stmt(insert).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(Index::drop().name("reviews_by_kind_and_time").table("reviews").to_owned())
            .await?;
        for table in ["service_secrets", "review_actions"] {
            manager.drop_table(Table::drop().table(table).if_exists().to_owned()).await?;
        }
        for table in ["categories", "intervention_types"] {
            manager.alter_table(Table::alter().table(table).drop_column("version").to_owned()).await?;
        }
        Ok(())
    }
}
