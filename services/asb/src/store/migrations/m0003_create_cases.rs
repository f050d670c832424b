#![allow(elided_lifetimes_in_paths)] // MigrationTrait's own signature elides it

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{
    big_integer, big_integer_null, boolean, date, date_null, pk_uuid, string, string_null, text, text_null,
    timestamp_with_time_zone, timestamp_with_time_zone_null, uuid, uuid_null,
};

#[derive(Debug, DeriveMigrationName)]
pub(super) struct Migration;

/// `CREATE INDEX {name} ON {table} ({columns})`.
fn index(name: &str, table: &str, columns: &[&str]) -> IndexCreateStatement {
    let mut index = Index::create();
    index.name(name).table(Alias::new(table)).if_not_exists();
    for column in columns {
        index.col(Alias::new(*column));
    }
    index.to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("cases")
                    .if_not_exists()
                    .col(pk_uuid("id"))
                    .col(string("reference").unique_key())
                    .col(string("landlord_organisation"))
                    .col(string("area"))
                    .col(string("state"))
                    .col(text("categories"))
                    .col(string_null("hate_motivation"))
                    .col(string_null("priority"))
                    .col(string_null("route"))
                    .col(big_integer_null("first_response_secs"))
                    .col(string_null("risk"))
                    .col(text("vulnerabilities"))
                    .col(text_null("priority_reason"))
                    .col(string_null("triaged_by"))
                    .col(timestamp_with_time_zone_null("triage_time"))
                    .col(string_null("assigned_officer"))
                    .col(string_null("team"))
                    .col(uuid_null("repeat_of"))
                    .col(text_null("mediation"))
                    .col(text_null("action_plan"))
                    .col(text_null("closure_reason"))
                    .col(text_null("closure_outcome"))
                    .col(timestamp_with_time_zone_null("close_time"))
                    .col(string_null("satisfaction"))
                    .col(boolean("signed_off"))
                    .col(timestamp_with_time_zone("receive_time"))
                    .col(timestamp_with_time_zone("open_time"))
                    .col(timestamp_with_time_zone_null("acknowledge_time"))
                    .col(timestamp_with_time_zone_null("first_response_time"))
                    .col(timestamp_with_time_zone("update_time"))
                    .col(big_integer("version"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("reports")
                    .if_not_exists()
                    .col(pk_uuid("id"))
                    .col(uuid("case_id"))
                    .col(string("channel"))
                    .col(timestamp_with_time_zone("receive_time"))
                    .col(timestamp_with_time_zone_null("incident_time"))
                    .col(text("description"))
                    .col(string("area"))
                    .col(string_null("uprn"))
                    .col(text_null("location_description"))
                    .col(text("categories"))
                    .col(string_null("hate_motivation"))
                    .col(string("organisation"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("parties")
                    .if_not_exists()
                    .col(pk_uuid("id"))
                    .col(uuid("case_id"))
                    .col(uuid("report_id"))
                    .col(string("role"))
                    .col(string_null("customer"))
                    .col(string_null("customer_landlord"))
                    .col(string_null("external_key"))
                    .col(text("details"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("diary_entries")
                    .if_not_exists()
                    .col(pk_uuid("id"))
                    .col(uuid("case_id"))
                    .col(timestamp_with_time_zone("occur_time"))
                    .col(text("text"))
                    .col(string_null("reported_by"))
                    .col(text("evidence"))
                    .col(uuid_null("corrects"))
                    .col(string("author"))
                    .col(timestamp_with_time_zone("create_time"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("contacts")
                    .if_not_exists()
                    .col(pk_uuid("id"))
                    .col(uuid("case_id"))
                    .col(string("party_role"))
                    .col(string("channel"))
                    .col(timestamp_with_time_zone("contact_time"))
                    .col(text_null("summary"))
                    .col(string("author"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("interventions")
                    .if_not_exists()
                    .col(pk_uuid("id"))
                    .col(uuid("case_id"))
                    .col(string("intervention_type"))
                    .col(string("kind"))
                    .col(date("start_date"))
                    .col(text_null("notes"))
                    .col(string_null("outcome"))
                    .col(date_null("outcome_date"))
                    .col(text_null("court_outcome"))
                    .col(string("author"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("categories")
                    .if_not_exists()
                    .col(string("code").primary_key())
                    .col(string("display_name"))
                    .col(string("priority"))
                    .col(string("route"))
                    .col(big_integer_null("first_response_secs"))
                    .col(boolean("needs_motivation"))
                    .col(boolean("retired"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("intervention_types")
                    .if_not_exists()
                    .col(string("code").primary_key())
                    .col(string("display_name"))
                    .col(string("kind"))
                    .col(date("effective_from"))
                    .col(date_null("effective_to"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("bank_holidays")
                    .if_not_exists()
                    .col(date("holiday_date").primary_key())
                    .col(string("display_name"))
                    .to_owned(),
            )
            .await?;
        // Queues walk an officer's or a team's open cases; standards and analysis a
        // landlord's or an area's cases by when they were received.
        for (name, table, columns) in [
            ("cases_by_officer", "cases", &["assigned_officer", "state"][..]),
            ("cases_by_team", "cases", &["team", "state"]),
            ("cases_by_area", "cases", &["area", "receive_time"]),
            ("cases_by_landlord", "cases", &["landlord_organisation", "receive_time"]),
            ("reports_by_case", "reports", &["case_id", "receive_time"]),
            // Joining a report to a case looks parties up by who they are.
            ("parties_by_customer", "parties", &["customer", "case_id"]),
            ("parties_by_external_key", "parties", &["external_key", "case_id"]),
            ("parties_by_case", "parties", &["case_id"]),
            ("parties_by_landlord", "parties", &["customer_landlord", "case_id"]),
            ("diary_by_case", "diary_entries", &["case_id", "create_time"]),
            ("contacts_by_case", "contacts", &["case_id", "contact_time"]),
            ("interventions_by_case", "interventions", &["case_id"]),
        ] {
            manager.create_index(index(name, table, columns)).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            "bank_holidays",
            "intervention_types",
            "categories",
            "interventions",
            "contacts",
            "diary_entries",
            "parties",
            "reports",
            "cases",
        ] {
            manager.drop_table(Table::drop().table(Alias::new(table)).if_exists().to_owned()).await?;
        }
        Ok(())
    }
}
