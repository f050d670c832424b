//! The counting behind profile maps, done by the database: one GROUP BY for the
//! cells and one pass of conditional sums for field completeness.

use persistence::{Scope, StoreError};
use sea_orm::sea_query::{Expr, ExprTrait as _, Func, SimpleExpr};
use sea_orm::{
    ColumnTrait as _, ConnectionTrait, EntityTrait as _, QueryFilter as _, QueryOrder as _, QuerySelect as _,
    QueryTrait as _,
};

use super::entities::customers;
use super::rows::to_json;
use crate::domain::customer::{EqualityAnswer, EqualityField, Household, InvolvementInterests};
use crate::domain::equality_groups::{CountedSet, GroupQuery};
use crate::domain::profile_map::{
    Characteristic, CountedCell, FieldCompleteness, ProfileCounts, ProfileField,
};
use crate::domain::{CustomerState, OrganisationName};

fn equality_column(field: EqualityField) -> customers::Column {
    match field {
        EqualityField::Ethnicity => customers::Column::EqEthnicity,
        EqualityField::Disability => customers::Column::EqDisability,
        EqualityField::Sex => customers::Column::EqSex,
        EqualityField::GenderIdentity => customers::Column::EqGenderIdentity,
        EqualityField::AgeBand => customers::Column::EqAgeBand,
        EqualityField::Religion => customers::Column::EqReligion,
        EqualityField::SexualOrientation => customers::Column::EqSexualOrientation,
        EqualityField::CaringResponsibilities => customers::Column::EqCaringResponsibilities,
    }
}

fn characteristic_column(characteristic: Characteristic) -> customers::Column {
    match characteristic {
        Characteristic::Equality(field) => equality_column(field),
        Characteristic::PreferredLanguage => customers::Column::PreferredLanguage,
        Characteristic::PreferredContactChannel => customers::Column::PreferredContactChannel,
    }
}

/// The SQL condition under which `field` counts as recorded.
fn recorded(field: ProfileField) -> Result<SimpleExpr, StoreError> {
    Ok(match field {
        ProfileField::Email => customers::Column::Email.is_not_null(),
        ProfileField::Phone => customers::Column::Phone.is_not_null(),
        ProfileField::Mobile => customers::Column::Mobile.is_not_null(),
        ProfileField::DateOfBirth => customers::Column::DateOfBirth.is_not_null(),
        ProfileField::PreferredContactChannel => customers::Column::PreferredContactChannel.is_not_null(),
        ProfileField::PreferredLanguage => customers::Column::PreferredLanguage.is_not_null(),
        ProfileField::Uprn => customers::Column::Uprn.is_not_null(),
        ProfileField::Postcode => customers::Column::Postcode.is_not_null(),
        ProfileField::Area => customers::Column::Area.is_not_null(),
        ProfileField::AccessibilityNeeds => customers::Column::AccessibilityNeeds.ne("[]"),
        ProfileField::Vulnerabilities => customers::Column::Vulnerabilities.ne("[]"),
        ProfileField::Household => customers::Column::Household.ne(to_json(&Household::default())?),
        ProfileField::InvolvementInterests => {
            customers::Column::InvolvementInterests.ne(to_json(&InvolvementInterests::default())?)
        }
        ProfileField::Equality(field) => equality_column(field).ne(EqualityAnswer::NOT_COLLECTED),
    })
}

/// Counts the current customers inside `scope` (and of `landlord`, when given).
pub(super) async fn count<C: ConnectionTrait>(
    conn: &C,
    scope: &Scope,
    landlord: Option<&OrganisationName>,
    characteristic: Option<Characteristic>,
) -> Result<ProfileCounts, StoreError> {
    let mut counted =
        super::scope_condition(scope).add(customers::Column::State.eq(CustomerState::Active.code()));
    if let Some(landlord) = landlord {
        counted = counted.add(customers::Column::LandlordOrganisation.eq(landlord.as_str()));
    }

    let mut cells_query = customers::Entity::find()
        .select_only()
        .column(customers::Column::Tenure)
        .column(customers::Column::Area)
        .filter(counted.clone());
    cells_query = match characteristic {
        Some(characteristic) => {
            let column = characteristic_column(characteristic);
            cells_query.column_as(column, "value").group_by(column).order_by_asc(column)
        }
        None => cells_query.column_as(Expr::val(Option::<String>::None), "value"),
    };
    let cells: Vec<(String, Option<String>, Option<String>, i64)> = cells_query
        .column_as(Expr::col(customers::Column::Id).count(), "count")
        .group_by(customers::Column::Tenure)
        .group_by(customers::Column::Area)
        .order_by_asc(customers::Column::Tenure)
        .order_by_asc(customers::Column::Area)
        .into_tuple()
        .all(conn)
        .await?;
    let cells = cells
        .into_iter()
        .map(|(tenure, area, value, count)| CountedCell { tenure, area, value, count })
        .collect();

    let fields = ProfileField::all();
    let mut totals_query = customers::Entity::find()
        .select_only()
        .column_as(Expr::col(customers::Column::Id).count(), "total")
        .filter(counted);
    for (index, field) in fields.iter().enumerate() {
        let when = Expr::case(recorded(*field)?, Expr::val(1_i32)).finally(Expr::val(0_i32));
        // COALESCE: SUM over no rows is NULL.
        let sum = Func::coalesce([Expr::from(Func::sum(when)), Expr::val(0_i32)]);
        totals_query = totals_query.expr_as(sum, format!("f{index}"));
    }
    let statement = totals_query.build(conn.get_database_backend());
    let row = conn.query_one_raw(statement).await?.ok_or_else(|| StoreError::corrupt("no totals row"))?;
    let total: i64 = row.try_get("", "total")?;
    let completeness = fields
        .into_iter()
        .enumerate()
        .map(|(index, field)| {
            let recorded: i64 = row.try_get("", &format!("f{index}"))?;
            Ok(FieldCompleteness { field, recorded, total })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    Ok(ProfileCounts { cells, completeness, total })
}

/// Customer ids per query: far below the bind-parameter limits of SQLite and
/// PostgreSQL.
const IDS_PER_QUERY: usize = 5_000;

/// Counts the current customers of each set by `query.field`: one GROUP BY per
/// set (and per 5,000 names of it).
pub(super) async fn count_sets<C: ConnectionTrait>(
    conn: &C,
    query: &GroupQuery,
) -> Result<Vec<CountedSet>, StoreError> {
    let column = equality_column(query.field);
    let mut counted = Vec::with_capacity(query.sets.len());
    for (label, ids) in &query.sets {
        let mut values: std::collections::BTreeMap<String, i64> = std::collections::BTreeMap::new();
        for chunk in ids.chunks(IDS_PER_QUERY) {
            let rows: Vec<(String, i64)> = customers::Entity::find()
                .select_only()
                .column_as(column, "value")
                .column_as(Expr::col(customers::Column::Id).count(), "count")
                .filter(customers::Column::Id.is_in(chunk.iter().copied()))
                .filter(customers::Column::State.eq(CustomerState::Active.code()))
                .group_by(column)
                .into_tuple()
                .all(conn)
                .await?;
            for (value, count) in rows {
                *values.entry(value).or_default() += count;
            }
        }
        counted.push(CountedSet {
            label: label.clone(),
            total: values.values().sum(),
            values: values.into_iter().collect(),
        });
    }
    Ok(counted)
}
