#![allow(elided_lifetimes_in_paths)] // MigrationTrait's own signature elides it

//! Community triggers kept as they are reached, instead of recounted on every
//! read: one row per complainant (or victim) whose qualifying reports have reached
//! the threshold, rewritten in the transaction of each report about them, and the
//! rule the rows were counted by. The rule row starts at 0/0 ("never counted"):
//! the service counts every report once when it starts, and again whenever its
//! configured rule differs from the one recorded.
//!
//! With them, the index a team's queue finds its officers by (whose monthly
//! quality samples it shows) without visiting every open case's row.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{integer, string, text, timestamp_with_time_zone, uuid};

#[derive(Debug, DeriveMigrationName)]
pub(super) struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("community_triggers")
                    .if_not_exists()
                    // `customer` (the person is `customers/{id}`) or `external` (an
                    // officer's key for someone outside the customer base).
                    .col(string("person_kind"))
                    .col(string("person"))
                    .col(uuid("owning_case"))
                    .col(timestamp_with_time_zone("first_time"))
                    .col(timestamp_with_time_zone("reached_time"))
                    .col(integer("reports"))
                    // Every case their qualifying reports are in: a JSON array of ids.
                    .col(text("cases"))
                    .primary_key(Index::create().col("person_kind").col("person"))
                    .to_owned(),
            )
            .await?;
        // A queue asks for the triggers owned by the cases it covers.
        manager
            .create_index(
                Index::create()
                    .name("community_triggers_by_owning_case")
                    .table("community_triggers")
                    .col("owning_case")
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("community_trigger_rule")
                    .if_not_exists()
                    .col(integer("id").primary_key())
                    .col(integer("reports"))
                    .col(integer("months"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("cases_by_team_state_officer")
                    .table("cases")
                    .col("team")
                    .col("state")
                    .col("assigned_officer")
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
        let mut never_counted = Query::insert();
        never_counted
            .into_table("community_trigger_rule")
            .columns(["id", "reports", "months"])
            .values([1.into(), 0.into(), 0.into()])
            .map_err(|err| DbErr::Custom(err.to_string()))?;
        manager.exec_stmt(never_counted).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop().name("cases_by_team_state_officer").table("cases").if_exists().to_owned(),
            )
            .await?;
        for table in ["community_trigger_rule", "community_triggers"] {
            manager.drop_table(Table::drop().table(table).if_exists().to_owned()).await?;
        }
        Ok(())
    }
}
