//! The counting behind `GetAsbAnalysis`, done by the database: one GROUP BY per
//! figure over the cases in the caller's reach, never every case loaded into
//! Rust. Periods are split into buckets (months, years) by conditional sums, so
//! each figure is one query whatever its length. The only names read are the
//! customers the equality sets send to profiles.

use chrono::{DateTime, Utc};
use persistence::{Actor, AuditEntry, StoreError, audit, begin_write};
use sea_orm::sea_query::{Alias, Expr, ExprTrait as _, Func, SimpleExpr};
use sea_orm::{
    ColumnTrait as _, Condition, ConnectionTrait as _, EntityTrait as _, QueryFilter as _, QueryOrder as _,
    QuerySelect as _, QueryTrait as _, Set,
};

use super::entities::{cases, interventions, landlord_homes, parties};
use super::{ListReach, Store, reach_condition};
use crate::domain::analysis::{Bucket, HATE_INCIDENT, PerpetratorType};
use crate::domain::calendar::start_of_day;

/// Which cases an analysis counts: those in the caller's reach, of one landlord
/// when named, whose first report was received in `[from, to)`.
#[derive(Clone, Debug)]
pub struct AnalysisScope {
    pub reach: ListReach,
    pub landlord: Option<String>,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

impl AnalysisScope {
    fn condition(&self) -> Condition {
        let mut condition = reach_condition(&self.reach)
            .add(cases::Column::ReceiveTime.gte(self.from))
            .add(cases::Column::ReceiveTime.lt(self.to));
        if let Some(landlord) = &self.landlord {
            condition = condition.add(cases::Column::LandlordOrganisation.eq(landlord.as_str()));
        }
        condition
    }

    /// The ids of the cases counted (and, with `closed_only`, closed), as a subquery.
    fn case_ids(&self, closed_only: bool) -> sea_orm::sea_query::SelectStatement {
        let mut condition = self.condition();
        if closed_only {
            condition = condition.add(cases::Column::State.eq("closed"));
        }
        cases::Entity::find().select_only().column(cases::Column::Id).filter(condition).into_query()
    }
}

/// Cases of one combination of categories and one perpetrator type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CategoryRow {
    pub categories: Vec<String>,
    pub perpetrator: PerpetratorType,
    pub cases: i64,
    pub minutes: i64,
}

/// Closed cases an intervention type was used on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemedyRow {
    pub intervention_type: String,
    pub cases: i64,
    /// Where its outcome was `successful`.
    pub resolved: i64,
    /// Followed by a repeat case.
    pub repeated: i64,
}

/// One landlord's cases in one year.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LandlordYearRow {
    pub landlord: String,
    pub year: i32,
    pub cases: i64,
    pub hate_incident_cases: i64,
    pub minutes: i64,
}

/// Every figure an analysis counts in the store, before domain rules apply.
#[derive(Clone, Debug, Default)]
pub struct AnalysisFigures {
    pub categories: Vec<CategoryRow>,
    pub remedies: Vec<RemedyRow>,
    /// `(area, month label, cases)`.
    pub area_months: Vec<(String, String, i64)>,
    pub landlord_years: Vec<LandlordYearRow>,
    pub cases: i64,
    pub minutes: i64,
    /// Complainants' closure survey answers (satisfied or not) and the satisfied.
    pub surveyed: i64,
    pub satisfied: i64,
}

/// The customers in each role over the counted cases, each once: what ASB sends
/// profiles to count by an equality characteristic.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EqualitySets {
    pub complainants: Vec<String>,
    pub victims: Vec<String>,
    pub perpetrators: Vec<String>,
    /// Complainants of cases whose closure survey was answered...
    pub surveyed: Vec<String>,
    /// ...and of those answered `satisfied`.
    pub satisfied: Vec<String>,
}

/// Officer minutes logged on the case of the current row of `cases`.
const CASE_MINUTES: &str =
    "COALESCE((SELECT SUM(time_entries.minutes) FROM time_entries WHERE time_entries.case_id = cases.id), 0)";

/// The case's perpetrator type code (see [`PerpetratorType`]): the most identified
/// alleged perpetrator decides, read in one lookup of the case's parties.
const PERPETRATOR_TYPE: &str = "CASE (SELECT MIN(CASE WHEN parties.customer IS NOT NULL THEN 1 \
       WHEN parties.external_key IS NOT NULL THEN 2 ELSE 3 END) \
       FROM parties WHERE parties.case_id = cases.id AND parties.role = 'alleged_perpetrator') \
     WHEN 1 THEN 'customer' WHEN 2 THEN 'external' WHEN 3 THEN 'unknown' ELSE 'none' END";

/// `SUM(expr)` as a BIGINT on both backends (PostgreSQL sums BIGINTs to NUMERIC),
/// 0 over no rows.
fn sum(expr: SimpleExpr) -> SimpleExpr {
    let summed = Func::coalesce([Expr::from(Func::sum(expr)), Expr::val(0_i64)]);
    Func::cast_as(summed, Alias::new("BIGINT")).into()
}

/// 1 for a case received in `bucket`, else 0 (`and` narrows it further).
fn in_bucket(bucket: &Bucket, and: Option<SimpleExpr>) -> SimpleExpr {
    let mut condition = cases::Column::ReceiveTime
        .gte(start_of_day(bucket.start))
        .and(cases::Column::ReceiveTime.lt(start_of_day(bucket.end)));
    if let Some(and) = and {
        condition = condition.and(and);
    }
    Expr::case(condition, Expr::val(1_i64)).finally(Expr::val(0_i64)).into()
}

fn hate_incident() -> SimpleExpr {
    cases::Column::Categories.like(format!("%\"{HATE_INCIDENT}\"%"))
}

impl Store {
    /// Every count of an analysis of `scope`, by `months` and `years` (both
    /// inside the scope's period).
    pub async fn analysis_figures(
        &self,
        scope: &AnalysisScope,
        months: &[Bucket],
        years: &[Bucket],
    ) -> Result<AnalysisFigures, StoreError> {
        let backend = self.db.get_database_backend();
        let condition = scope.condition();

        // Cases and officer time by category set and perpetrator type.
        let rows: Vec<(String, String, i64, i64)> = cases::Entity::find()
            .select_only()
            .column(cases::Column::Categories)
            .column_as(Expr::cust(PERPETRATOR_TYPE), "perpetrator")
            .column_as(Expr::col(cases::Column::Id).count(), "cases")
            .column_as(sum(Expr::cust(CASE_MINUTES)), "minutes")
            .filter(condition.clone())
            .group_by(cases::Column::Categories)
            .group_by(Expr::cust(PERPETRATOR_TYPE))
            .into_tuple()
            .all(&self.db)
            .await?;
        let mut categories = Vec::with_capacity(rows.len());
        for (codes, perpetrator, cases, minutes) in rows {
            let categories_of_case: Vec<String> = serde_json::from_str(&codes)
                .map_err(|err| StoreError::corrupt(format!("case categories {codes:?}: {err}")))?;
            let perpetrator = PerpetratorType::parse(&perpetrator)
                .ok_or_else(|| StoreError::corrupt(format!("perpetrator type {perpetrator:?}")))?;
            categories.push(CategoryRow { categories: categories_of_case, perpetrator, cases, minutes });
        }

        // Outcome and repeat rate by intervention type, over closed cases.
        let remedies: Vec<(String, i64, i64, i64)> = interventions::Entity::find()
            .select_only()
            .column(interventions::Column::InterventionType)
            .column_as(Expr::cust("COUNT(DISTINCT interventions.case_id)"), "cases")
            .column_as(
                Expr::cust(
                    "COUNT(DISTINCT CASE WHEN interventions.outcome = 'successful' \
                     THEN interventions.case_id END)",
                ),
                "resolved",
            )
            .column_as(
                Expr::cust(
                    "COUNT(DISTINCT CASE WHEN EXISTS (SELECT 1 FROM cases AS repeats \
                     WHERE repeats.repeat_of = interventions.case_id) THEN interventions.case_id END)",
                ),
                "repeated",
            )
            .filter(interventions::Column::CaseId.in_subquery(scope.case_ids(true)))
            .group_by(interventions::Column::InterventionType)
            .order_by_asc(interventions::Column::InterventionType)
            .into_tuple()
            .all(&self.db)
            .await?;
        let remedies = remedies
            .into_iter()
            .map(|(intervention_type, cases, resolved, repeated)| RemedyRow {
                intervention_type,
                cases,
                resolved,
                repeated,
            })
            .collect();

        // Cases by area and month: one conditional sum per month.
        let mut by_area = cases::Entity::find().select_only().column(cases::Column::Area);
        for (index, month) in months.iter().enumerate() {
            by_area = by_area.column_as(sum(in_bucket(month, None)), format!("m{index}"));
        }
        let statement = by_area
            .filter(condition.clone())
            .group_by(cases::Column::Area)
            .order_by_asc(cases::Column::Area)
            .build(backend);
        let mut area_months = Vec::new();
        for row in self.db.query_all_raw(statement).await? {
            let area: String = row.try_get("", "area")?;
            for (index, month) in months.iter().enumerate() {
                let cases: i64 = row.try_get("", &format!("m{index}"))?;
                area_months.push((area.clone(), month.label.clone(), cases));
            }
        }

        // Cases, hate-incident cases and officer time by landlord and year, and
        // closure survey answers by landlord: summed, the whole period's too.
        let answered = cases::Column::Satisfaction.is_in(["satisfied", "dissatisfied"]);
        let satisfied = cases::Column::Satisfaction.eq("satisfied");
        let mut by_landlord = cases::Entity::find()
            .select_only()
            .column(cases::Column::LandlordOrganisation)
            .column_as(
                sum(Expr::case(answered, Expr::val(1_i64)).finally(Expr::val(0_i64)).into()),
                "surveyed",
            )
            .column_as(
                sum(Expr::case(satisfied, Expr::val(1_i64)).finally(Expr::val(0_i64)).into()),
                "satisfied",
            );
        for (index, year) in years.iter().enumerate() {
            let minutes_in_year = Expr::case(
                cases::Column::ReceiveTime
                    .gte(start_of_day(year.start))
                    .and(cases::Column::ReceiveTime.lt(start_of_day(year.end))),
                Expr::cust(CASE_MINUTES),
            )
            .finally(Expr::val(0_i64));
            by_landlord = by_landlord
                .column_as(sum(in_bucket(year, None)), format!("c{index}"))
                .column_as(sum(in_bucket(year, Some(hate_incident()))), format!("h{index}"))
                .column_as(sum(minutes_in_year.into()), format!("t{index}"));
        }
        let statement = by_landlord
            .filter(condition)
            .group_by(cases::Column::LandlordOrganisation)
            .order_by_asc(cases::Column::LandlordOrganisation)
            .build(backend);
        let mut figures = AnalysisFigures { categories, remedies, area_months, ..AnalysisFigures::default() };
        for row in self.db.query_all_raw(statement).await? {
            let landlord: String = row.try_get("", "landlord_organisation")?;
            figures.surveyed += row.try_get::<i64>("", "surveyed")?;
            figures.satisfied += row.try_get::<i64>("", "satisfied")?;
            for (index, year) in years.iter().enumerate() {
                let counted = LandlordYearRow {
                    landlord: landlord.clone(),
                    year: year.label.parse().map_err(|_| StoreError::corrupt("year label"))?,
                    cases: row.try_get("", &format!("c{index}"))?,
                    hate_incident_cases: row.try_get("", &format!("h{index}"))?,
                    minutes: row.try_get("", &format!("t{index}"))?,
                };
                // The years cover the period exactly, so their sums are the whole's.
                figures.cases += counted.cases;
                figures.minutes += counted.minutes;
                figures.landlord_years.push(counted);
            }
        }
        Ok(figures)
    }

    /// The customers who are complainants, victims and alleged perpetrators of the
    /// cases of `scope`, and the complainants surveyed and satisfied, each once.
    pub async fn equality_sets(&self, scope: &AnalysisScope) -> Result<EqualitySets, StoreError> {
        let customers_in = |role: &'static str, cases: sea_orm::sea_query::SelectStatement| {
            parties::Entity::find()
                .select_only()
                .column(parties::Column::Customer)
                .distinct()
                .filter(parties::Column::Role.eq(role))
                .filter(parties::Column::Customer.is_not_null())
                .filter(parties::Column::CaseId.in_subquery(cases))
                .order_by_asc(parties::Column::Customer)
                .into_tuple::<String>()
                .all(&self.db)
        };
        let surveyed_cases = |answers: &'static [&'static str]| {
            cases::Entity::find()
                .select_only()
                .column(cases::Column::Id)
                .filter(scope.condition())
                .filter(cases::Column::Satisfaction.is_in(answers.iter().copied()))
                .into_query()
        };
        Ok(EqualitySets {
            complainants: customers_in("complainant", scope.case_ids(false)).await?,
            victims: customers_in("victim", scope.case_ids(false)).await?,
            perpetrators: customers_in("alleged_perpetrator", scope.case_ids(false)).await?,
            surveyed: customers_in("complainant", surveyed_cases(&["satisfied", "dissatisfied"])).await?,
            satisfied: customers_in("complainant", surveyed_cases(&["satisfied"])).await?,
        })
    }

    /// Whether `landlord` is known here: it has cases, or homes on record.
    pub async fn knows_landlord(&self, landlord: &str) -> Result<bool, StoreError> {
        let case: Option<uuid::Uuid> = cases::Entity::find()
            .select_only()
            .column(cases::Column::Id)
            .filter(cases::Column::LandlordOrganisation.eq(landlord))
            .limit(1)
            .into_tuple()
            .one(&self.db)
            .await?;
        if case.is_some() {
            return Ok(true);
        }
        Ok(!self.landlord_homes(Some(landlord)).await?.is_empty())
    }

    /// The homes on record (of one landlord, when named), by landlord then year.
    pub async fn landlord_homes(
        &self,
        landlord: Option<&str>,
    ) -> Result<Vec<landlord_homes::Model>, StoreError> {
        let mut query = landlord_homes::Entity::find();
        if let Some(landlord) = landlord {
            query = query.filter(landlord_homes::Column::LandlordOrganisation.eq(landlord));
        }
        Ok(query
            .order_by_asc(landlord_homes::Column::LandlordOrganisation)
            .order_by_asc(landlord_homes::Column::Year)
            .all(&self.db)
            .await?)
    }

    /// Records a landlord's homes for a year, replacing any earlier figure.
    pub async fn set_landlord_homes(
        &self,
        actor: &Actor,
        row: landlord_homes::Model,
    ) -> Result<landlord_homes::Model, StoreError> {
        use sea_orm::sea_query::OnConflict;
        let txn = begin_write(&self.db).await?;
        let resource = format!("landlordHomes/{}/{}", row.landlord_organisation, row.year);
        landlord_homes::Entity::insert(landlord_homes::ActiveModel {
            landlord_organisation: Set(row.landlord_organisation.clone()),
            year: Set(row.year),
            homes: Set(row.homes),
            updated_by: Set(row.updated_by.clone()),
            update_time: Set(row.update_time),
        })
        .on_conflict(
            OnConflict::columns([landlord_homes::Column::LandlordOrganisation, landlord_homes::Column::Year])
                .update_columns([
                    landlord_homes::Column::Homes,
                    landlord_homes::Column::UpdatedBy,
                    landlord_homes::Column::UpdateTime,
                ])
                .to_owned(),
        )
        .exec_without_returning(&txn)
        .await?;
        audit::record(&txn, actor, [AuditEntry::new(resource)]).await?;
        txn.commit().await?;
        Ok(row)
    }
}
