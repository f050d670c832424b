//! Upkeep of the reference data triage and casework read: categories and
//! intervention types, created idempotently, edited compare-and-set on their
//! version, never deleted (cases and interventions keep their codes).

use std::sync::Arc;
use std::time::Duration;

use persistence::idempotency::{self, IdempotencyKey, RequestIdentity};
use persistence::{Actor, AuditEntry, Etag, StoreError, audit, begin_write};
use sea_orm::{EntityTrait as _, QueryOrder as _};

use super::entities::{self, categories, intervention_types};
use super::{ReferenceData, Store, WriteError};

/// How long reference data read here is used before it is read again: what an
/// edit made through another instance of the service takes to reach this one.
/// Edits made through this store are seen at once.
pub(super) const REFERENCE_FRESH_FOR: Duration = Duration::from_secs(5);

/// How a create ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Created {
    /// Written now.
    New,
    /// A retry of a create that was written: nothing more was.
    Replayed,
    /// Something with that code is held already.
    Exists,
}

impl Store {
    /// The triage rules and the working calendar in force (at most
    /// [`REFERENCE_FRESH_FOR`] old).
    pub async fn reference_data(&self) -> Result<Arc<ReferenceData>, StoreError> {
        self.reference.get_or_read(|| self.read_reference_data()).await
    }

    /// Every category, retired ones too, by code.
    pub async fn categories(&self) -> Result<Vec<categories::Model>, StoreError> {
        Ok(categories::Entity::find().order_by_asc(categories::Column::Code).all(&self.db).await?)
    }

    pub async fn category(&self, code: &str) -> Result<Option<categories::Model>, StoreError> {
        Ok(categories::Entity::find_by_id(code).one(&self.db).await?)
    }

    /// Adds a category; idempotent by request id.
    pub async fn create_category(
        &self,
        actor: &Actor,
        request: Option<&RequestIdentity>,
        row: categories::Model,
    ) -> Result<Created, WriteError> {
        let resource = format!("categories/{}", row.code);
        self.create_reference(
            actor,
            IdempotencyKey::for_request(actor, request),
            &resource,
            async move |txn| {
                categories::Entity::insert(categories::ActiveModel::from(row))
                    .exec_without_returning(txn)
                    .await
            },
        )
        .await
    }

    /// Replaces a category's rules: `false` when there is no such category,
    /// `Stale` when `expected` is not its version.
    pub async fn update_category(
        &self,
        actor: &Actor,
        expected: Option<Etag>,
        row: categories::ActiveModel,
        code: &str,
    ) -> Result<bool, StoreError> {
        let txn = begin_write(&self.db).await?;
        let Some(current) = categories::Entity::find_by_id(code).one(&txn).await? else { return Ok(false) };
        persistence::versioned::expect_version(current.version, expected)?;
        entities::CATEGORIES_VERSIONED.save(&txn, row, code, current.version).await?;
        audit::record(&txn, actor, [AuditEntry::new(format!("categories/{code}"))]).await?;
        txn.commit().await?;
        self.reference.forget();
        Ok(true)
    }

    /// Every intervention type, retired ones too, by code.
    pub async fn intervention_types(&self) -> Result<Vec<intervention_types::Model>, StoreError> {
        Ok(intervention_types::Entity::find()
            .order_by_asc(intervention_types::Column::Code)
            .all(&self.db)
            .await?)
    }

    pub async fn intervention_type_row(
        &self,
        code: &str,
    ) -> Result<Option<intervention_types::Model>, StoreError> {
        Ok(intervention_types::Entity::find_by_id(code).one(&self.db).await?)
    }

    /// Adds an intervention type; idempotent by request id.
    pub async fn create_intervention_type(
        &self,
        actor: &Actor,
        request: Option<&RequestIdentity>,
        row: intervention_types::Model,
    ) -> Result<Created, WriteError> {
        let resource = format!("interventionTypes/{}", row.code);
        self.create_reference(
            actor,
            IdempotencyKey::for_request(actor, request),
            &resource,
            async move |txn| {
                intervention_types::Entity::insert(intervention_types::ActiveModel::from(row))
                    .exec_without_returning(txn)
                    .await
            },
        )
        .await
    }

    /// Changes an intervention type's name and dates: `false` when there is none.
    pub async fn update_intervention_type(
        &self,
        actor: &Actor,
        expected: Option<Etag>,
        row: intervention_types::ActiveModel,
        code: &str,
    ) -> Result<bool, StoreError> {
        let txn = begin_write(&self.db).await?;
        let Some(current) = intervention_types::Entity::find_by_id(code).one(&txn).await? else {
            return Ok(false);
        };
        persistence::versioned::expect_version(current.version, expected)?;
        entities::INTERVENTION_TYPES_VERSIONED.save(&txn, row, code, current.version).await?;
        audit::record(&txn, actor, [AuditEntry::new(format!("interventionTypes/{code}"))]).await?;
        txn.commit().await?;
        Ok(true)
    }

    /// Writes one reference row as `resource` with its audit row, claiming the
    /// request's key first: a retry (or a twin that claimed it first) is
    /// `Replayed`, a code already held `Exists`.
    async fn create_reference(
        &self,
        actor: &Actor,
        key: Option<IdempotencyKey<'_>>,
        resource: &str,
        insert: impl AsyncFnOnce(&sea_orm::DatabaseTransaction) -> Result<u64, sea_orm::DbErr>,
    ) -> Result<Created, WriteError> {
        if let Some(replayed) = self.replay_reference(key, resource).await? {
            return Ok(replayed);
        }
        let txn = begin_write(&self.db).await.map_err(StoreError::from)?;
        if let Some(key) = key
            && let Err(err) = idempotency::claim(&txn, key, resource).await
        {
            drop(txn);
            if idempotency::lost_to_a_twin(&err)
                && let Some(replayed) = self.replay_reference(Some(key), resource).await?
            {
                return Ok(replayed);
            }
            return Err(err.into());
        }
        match insert(&txn).await.map_err(StoreError::from) {
            Ok(_) => {}
            Err(StoreError::UniqueViolation(_)) => return Ok(Created::Exists),
            Err(other) => return Err(other.into()),
        }
        audit::record(&txn, actor, [AuditEntry::new(resource)]).await?;
        txn.commit().await.map_err(StoreError::from)?;
        self.reference.forget();
        Ok(Created::New)
    }

    /// `Replayed` when an earlier request with this key created `resource`.
    async fn replay_reference(
        &self,
        key: Option<IdempotencyKey<'_>>,
        resource: &str,
    ) -> Result<Option<Created>, WriteError> {
        let Some(key) = key else { return Ok(None) };
        let Some(found) = idempotency::find(&self.db, key).await? else { return Ok(None) };
        let created = found.map_err(WriteError::RequestIdReused)?;
        if created != resource {
            return Err(WriteError::RequestIdReused(idempotency::RequestIdReused {
                request_id: key.request_id.to_owned(),
            }));
        }
        Ok(Some(Created::Replayed))
    }
}
