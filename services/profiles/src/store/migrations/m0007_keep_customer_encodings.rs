#![allow(elided_lifetimes_in_paths)] // MigrationTrait's own signature elides it

//! Each customer's wire encoding beside its row (`crate::encoding`). Rows already
//! there get none: they are answered from their columns until written again.

use sea_orm_migration::prelude::*;

#[derive(Debug, DeriveMigrationName)]
pub(super) struct Migration;

const COLUMNS: [&str; 4] = ["encoded", "encoded_equality", "equality_recorded", "encoding_format"];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite alters a table one column at a time.
        let columns = [
            ColumnDef::new("encoded").blob().null().to_owned(),
            ColumnDef::new("encoded_equality").blob().null().to_owned(),
            ColumnDef::new("equality_recorded").boolean().not_null().default(false).to_owned(),
            ColumnDef::new("encoding_format").integer().null().to_owned(),
        ];
        for mut column in columns {
            manager.alter_table(Table::alter().table("customers").add_column(&mut column).to_owned()).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in COLUMNS {
            manager.alter_table(Table::alter().table("customers").drop_column(column).to_owned()).await?;
        }
        Ok(())
    }
}
