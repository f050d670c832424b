#![allow(elided_lifetimes_in_paths)] // MigrationTrait's own signature elides it

//! Indexes for the work queue and the service standards as they read in SQL:
//! a period's cases across every landlord by when they were received, and a
//! case's contacts with one party role by time (the queue's "contacted lately?"
//! probe and the standards' contact read answer from the index alone).

use sea_orm_migration::prelude::*;

#[derive(Debug, DeriveMigrationName)]
pub(super) struct Migration;

const INDEXES: [(&str, &str, &[&str]); 2] = [
    ("cases_by_receipt", "cases", &["receive_time"]),
    ("contacts_by_case_role", "contacts", &["case_id", "party_role", "contact_time"]),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (name, table, columns) in INDEXES {
            let mut index = Index::create();
            index.name(name).table(Alias::new(table)).if_not_exists();
            for column in columns {
                index.col(Alias::new(*column));
            }
            manager.create_index(index.to_owned()).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (name, table, _) in INDEXES {
            manager
                .drop_index(Index::drop().name(name).table(Alias::new(table)).if_exists().to_owned())
                .await?;
        }
        Ok(())
    }
}
