#![allow(elided_lifetimes_in_paths)] // MigrationTrait's own signature elides it

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{
    big_integer, boolean, date, date_null, pk_uuid, string, string_null, text, timestamp_with_time_zone,
    timestamp_with_time_zone_null, uuid,
};

// The store matches refusals against the same constant; renaming the index
// needs a migration of its own, never an edit here.
use crate::store::entities::customers::LANDLORD_REFERENCE;

#[derive(Debug, DeriveMigrationName)]
pub(super) struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("customers")
                    .if_not_exists()
                    .col(pk_uuid("id"))
                    .col(string_null("landlord_organisation"))
                    .col(string_null("external_reference"))
                    .col(string_null("title"))
                    .col(string("given_name"))
                    .col(string("family_name"))
                    .col(string_null("preferred_name"))
                    .col(string("name_key"))
                    .col(date_null("date_of_birth"))
                    .col(string_null("email"))
                    .col(string_null("phone"))
                    .col(string_null("mobile"))
                    .col(string_null("preferred_contact_channel"))
                    .col(string_null("preferred_language"))
                    .col(text("communication_needs"))
                    .col(text("accessibility_needs"))
                    .col(text("household"))
                    .col(string("tenure"))
                    .col(string_null("uprn"))
                    .col(text("address"))
                    .col(string_null("postcode"))
                    .col(string_null("postcode_key"))
                    .col(string_null("area"))
                    .col(text("vulnerabilities"))
                    .col(text("involvement_interests"))
                    .col(boolean("contact_consent"))
                    .col(timestamp_with_time_zone_null("consent_time"))
                    .col(string_null("equality_lawful_basis"))
                    .col(string("eq_ethnicity"))
                    .col(string("eq_disability"))
                    .col(string("eq_sex"))
                    .col(string("eq_gender_identity"))
                    .col(string("eq_age_band"))
                    .col(string("eq_religion"))
                    .col(string("eq_sexual_orientation"))
                    .col(string("eq_caring_responsibilities"))
                    .col(string("state"))
                    .col(timestamp_with_time_zone("create_time"))
                    .col(timestamp_with_time_zone("update_time"))
                    .col(timestamp_with_time_zone_null("delete_time"))
                    .col(big_integer("version"))
                    .to_owned(),
            )
            .await?;
        // A landlord's own reference names one customer. Rows without a reference
        // (NULL) never collide, on SQLite and PostgreSQL alike.
        manager
            .create_index(
                Index::create()
                    .name(LANDLORD_REFERENCE.name)
                    .table(LANDLORD_REFERENCE.table)
                    .col(LANDLORD_REFERENCE.columns[0])
                    .col(LANDLORD_REFERENCE.columns[1])
                    .unique()
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
        // Keyset pages walk (filter column, id); these keep filtered pages as cheap as deep ones.
        for (name, column) in [
            ("customers_by_landlord", "landlord_organisation"),
            ("customers_by_area", "area"),
            ("customers_by_tenure", "tenure"),
        ] {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table("customers")
                        .col(column)
                        .col("id")
                        .if_not_exists()
                        .to_owned(),
                )
                .await?;
        }

        manager
            .create_table(
                Table::create()
                    .table("tenure_periods")
                    .if_not_exists()
                    .col(pk_uuid("id"))
                    .col(uuid("customer_id"))
                    .col(string("tenure"))
                    .col(string_null("landlord_organisation"))
                    .col(date("start_date"))
                    .col(date_null("end_date"))
                    .col(string_null("reason"))
                    .col(timestamp_with_time_zone("record_time"))
                    .foreign_key(
                        ForeignKey::create()
                            .name("tenure_periods_customer")
                            .from("tenure_periods", "customer_id")
                            .to("customers", "id")
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("tenure_periods_by_customer")
                    .table("tenure_periods")
                    .col("customer_id")
                    .col("start_date")
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("erasures")
                    .if_not_exists()
                    .col(pk_uuid("customer_id"))
                    .col(string("reason"))
                    .col(timestamp_with_time_zone("erase_time"))
                    .col(string("organisation"))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in ["erasures", "tenure_periods", "customers"] {
            manager.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        Ok(())
    }
}
