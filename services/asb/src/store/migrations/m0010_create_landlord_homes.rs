#![allow(elided_lifetimes_in_paths)] // MigrationTrait's own signature elides it

//! Homes per landlord and year, the denominator of the regulator's NM01
//! measures, and the indexes the analysis reads cases by. Nothing is seeded: the
//! figures are each landlord's own, set by operators (`SetLandlordHomes`).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{big_integer, integer, string, timestamp_with_time_zone};

#[derive(Debug, DeriveMigrationName)]
pub(super) struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("landlord_homes")
                    .if_not_exists()
                    .col(string("landlord_organisation"))
                    .col(integer("year"))
                    .col(big_integer("homes"))
                    .col(string("updated_by"))
                    .col(timestamp_with_time_zone("update_time"))
                    .primary_key(Index::create().col("landlord_organisation").col("year"))
                    .to_owned(),
            )
            .await?;
        // The analysis asks of each closed case whether a later one repeats it, and
        // a manager's covers every landlord and area by when cases were received.
        for (name, column) in [("cases_by_repeat_of", "repeat_of"), ("cases_by_receive_time", "receive_time")]
        {
            manager
                .create_index(
                    Index::create().name(name).table("cases").col(column).if_not_exists().to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for name in ["cases_by_repeat_of", "cases_by_receive_time"] {
            manager.drop_index(Index::drop().name(name).table("cases").if_exists().to_owned()).await?;
        }
        manager.drop_table(Table::drop().table("landlord_homes").if_exists().to_owned()).await
    }
}
