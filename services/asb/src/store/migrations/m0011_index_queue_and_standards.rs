#![allow(elided_lifetimes_in_paths)] // MigrationTrait's own signature elides it

//! Indexes for the work queue and the service standards as they read in SQL,
//! each holding every column its read needs so the read never visits the table:
//! an officer's or a team's open cases; a period's cases across every landlord by
//! when they were received; a case's
//! contacts by party role and time (the queue's "contacted lately?" probe and the
//! contact standard); and, for the community triggers a queue raises, the
//! complainants of a set of cases, every report each of them made, and when.

use sea_orm_migration::prelude::*;

#[derive(Debug, DeriveMigrationName)]
pub(super) struct Migration;

const INDEXES: [(&str, &str, &[&str]); 8] = [
    // An officer's or a team's open cases, by id, to join their parties and contacts to.
    ("cases_by_officer_state_id", "cases", &["assigned_officer", "state", "id"]),
    ("cases_by_team_state_id", "cases", &["team", "state", "id"]),
    ("cases_by_receipt", "cases", &["receive_time"]),
    ("contacts_by_case_role", "contacts", &["case_id", "party_role", "contact_time"]),
    ("parties_by_case_role", "parties", &["case_id", "role", "customer", "external_key"]),
    ("parties_by_customer_role", "parties", &["customer", "role", "case_id", "report_id", "external_key"]),
    (
        "parties_by_external_key_role",
        "parties",
        &["external_key", "role", "case_id", "report_id", "customer"],
    ),
    ("reports_received", "reports", &["id", "receive_time"]),
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
