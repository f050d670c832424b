#![allow(elided_lifetimes_in_paths)] // MigrationTrait's own signature elides it

//! The reference data the service starts with, from the domain's defaults:
//! categories with their triage rules, intervention types with their dates, and
//! England and Wales bank holidays. Operators change them afterwards.

use sea_orm_migration::prelude::*;

use crate::domain::calendar::ENGLAND_AND_WALES;
use crate::domain::casework::default_interventions;
use crate::domain::triage::TriageRules;
use crate::store::codes;

#[derive(Debug, DeriveMigrationName)]
pub(super) struct Migration;

fn values(insert: &mut InsertStatement, row: impl IntoIterator<Item = SimpleExpr>) -> Result<(), DbErr> {
    insert.values(row).map(|_| ()).map_err(|err| DbErr::Migration(err.to_string()))
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let mut categories = Query::insert();
        categories.into_table("categories").columns([
            "code",
            "display_name",
            "priority",
            "route",
            "first_response_secs",
            "needs_motivation",
            "retired",
        ]);
        for rule in TriageRules::defaults().categories() {
            values(
                &mut categories,
                [
                    rule.code.as_str().into(),
                    rule.display_name.clone().into(),
                    codes::priority(rule.priority).into(),
                    codes::route(rule.route).into(),
                    rule.first_response.map(|within| within.num_seconds()).into(),
                    rule.needs_motivation.into(),
                    false.into(),
                ],
            )?;
        }
        manager.exec_stmt(categories).await?;

        let mut types = Query::insert();
        types.into_table("intervention_types").columns([
            "code",
            "display_name",
            "kind",
            "effective_from",
            "effective_to",
        ]);
        for kind in default_interventions() {
            values(
                &mut types,
                [
                    kind.code.as_str().into(),
                    kind.display_name.clone().into(),
                    codes::intervention_kind(kind.kind).into(),
                    kind.effective_from.into(),
                    kind.effective_to.into(),
                ],
            )?;
        }
        manager.exec_stmt(types).await?;

        let mut holidays = Query::insert();
        holidays.into_table("bank_holidays").columns(["holiday_date", "display_name"]);
        for (year, month, day) in ENGLAND_AND_WALES {
            let Some(date) = chrono::NaiveDate::from_ymd_opt(year, month, day) else { continue };
            values(&mut holidays, [date.into(), "Bank holiday (England and Wales)".into()])?;
        }
        manager.exec_stmt(holidays).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in ["bank_holidays", "intervention_types", "categories"] {
            manager.exec_stmt(Query::delete().from_table(Alias::new(table)).to_owned()).await?;
        }
        Ok(())
    }
}
