//! What the monthly quality sample reads: the partnership's secret it is drawn
//! with, the cases it is drawn from, and the quality reviews that satisfy it.

use chrono::{DateTime, Utc};
use persistence::StoreError;
use sea_orm::{ColumnTrait as _, Condition, EntityTrait as _, QueryFilter as _, QuerySelect as _};
use uuid::Uuid;

use super::Store;
use super::entities::{cases, reviews, service_secrets};

/// An action a review's finding puts on a case.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewReviewAction {
    pub action: String,
    pub owner: String,
    pub due_date: chrono::NaiveDate,
}

impl Store {
    /// The secret the monthly sample is drawn with, made when the schema was.
    pub async fn quality_sample_secret(&self) -> Result<Vec<u8>, StoreError> {
        let row = service_secrets::Entity::find_by_id("quality_sample")
            .one(&self.db)
            .await?
            .ok_or_else(|| StoreError::RowNotFound("service_secrets/quality_sample".into()))?;
        Ok(row.secret.into_bytes())
    }

    /// The cases a month's sample is drawn from, with their officers: assigned to
    /// one of `officers`, opened before the month started and not closed by then.
    /// Fixed for the month, so the draw is the same on every read of it.
    pub async fn sample_population(
        &self,
        officers: &[String],
        month_start: DateTime<Utc>,
    ) -> Result<Vec<(Uuid, String)>, StoreError> {
        if officers.is_empty() {
            return Ok(Vec::new());
        }
        Ok(cases::Entity::find()
            .select_only()
            .column(cases::Column::Id)
            .column(cases::Column::AssignedOfficer)
            .filter(cases::Column::AssignedOfficer.is_in(officers.iter().map(String::as_str)))
            .filter(cases::Column::OpenTime.lt(month_start))
            .filter(
                Condition::any()
                    .add(cases::Column::CloseTime.is_null())
                    .add(cases::Column::CloseTime.gte(month_start)),
            )
            .into_tuple()
            .all(&self.db)
            .await?)
    }

    /// The cases given a quality review in `[from, to)`, with when.
    pub async fn quality_reviews(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<(Uuid, DateTime<Utc>)>, StoreError> {
        Ok(reviews::Entity::find()
            .select_only()
            .column(reviews::Column::CaseId)
            .column(reviews::Column::ReviewTime)
            .filter(reviews::Column::Kind.eq("quality"))
            .filter(reviews::Column::ReviewTime.gte(from))
            .filter(reviews::Column::ReviewTime.lt(to))
            .into_tuple()
            .all(&self.db)
            .await?)
    }
}
