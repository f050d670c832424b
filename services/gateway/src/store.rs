//! The only door to the gateway's tables: organisations, credentials, and the
//! audit of every call.

pub mod entities;
mod migrations;

use chrono::{DateTime, Utc};
use std::sync::Arc;

use persistence::{SqliteWriter, StoreError, begin_write, sqlite_writes};
use sea_orm::{
    ActiveModelTrait as _, ColumnTrait as _, Condition, DatabaseConnection, DbErr, EntityTrait as _,
    IntoActiveModel as _, QueryFilter as _, QueryOrder as _, QuerySelect as _, Set,
};
use sea_orm_migration::MigratorTrait as _;
use uuid::Uuid;

use self::entities::{calls, credentials, organisations};
pub use self::migrations::Migrator;
use crate::domain::records::{Call, Credential, Organisation};
use crate::error::GatewayError;

/// Filters of `ListAuditEvents`, validated.
#[derive(Clone, Debug, Default)]
pub struct CallFilter {
    pub organisation: Option<String>,
    pub credential: Option<String>,
    pub method: Option<String>,
    pub start_time: Option<DateTime<Utc>>,
    pub end_time: Option<DateTime<Utc>>,
}

#[derive(Debug)]
pub struct Store {
    db: DatabaseConnection,
    /// On a SQLite file, the thread the audit of calls is written by.
    sqlite_writer: Option<SqliteWriter>,
}

impl Store {
    pub fn new(db: DatabaseConnection) -> Self {
        let sqlite_writer = SqliteWriter::for_database(&db);
        Self { db, sqlite_writer }
    }

    pub async fn migrate(&self) -> Result<(), DbErr> {
        Migrator::up(&self.db, None).await
    }

    pub async fn create_organisation(&self, record: Organisation) -> Result<Organisation, GatewayError> {
        let name = format!("organisations/{}", record.id);
        let row = organisations::Model::from(record).into_active_model();
        match row.insert(&self.db).await.map_err(StoreError::from) {
            Ok(created) => Ok(created.into()),
            Err(StoreError::UniqueViolation(_)) => Err(GatewayError::OrganisationExists { name }),
            Err(other) => Err(other.into()),
        }
    }

    pub async fn organisation(&self, id: &str) -> Result<Option<Organisation>, StoreError> {
        Ok(organisations::Entity::find_by_id(id.to_owned()).one(&self.db).await?.map(Organisation::from))
    }

    pub async fn list_organisations(
        &self,
        after: Option<String>,
        limit: u64,
    ) -> Result<Vec<Organisation>, StoreError> {
        let mut query = organisations::Entity::find();
        if let Some(after) = after {
            query = query.filter(organisations::Column::Id.gt(after));
        }
        let rows = query.order_by_asc(organisations::Column::Id).limit(limit).all(&self.db).await?;
        Ok(rows.into_iter().map(Organisation::from).collect())
    }

    pub async fn insert_credential(&self, record: Credential) -> Result<Credential, StoreError> {
        let row = credentials::Model::from(record).into_active_model();
        Ok(row.insert(&self.db).await?.into())
    }

    pub async fn credential(&self, id: &str) -> Result<Option<Credential>, StoreError> {
        Ok(credentials::Entity::find_by_id(id.to_owned()).one(&self.db).await?.map(Credential::from))
    }

    /// Every credential not revoked: what each gateway instance keeps in memory.
    pub async fn unrevoked_credentials(&self) -> Result<Vec<Credential>, StoreError> {
        let rows = credentials::Entity::find()
            .filter(credentials::Column::RevokeTime.is_null())
            .all(&self.db)
            .await?;
        Ok(rows.into_iter().map(Credential::from).collect())
    }

    pub async fn list_credentials(
        &self,
        organisation_id: &str,
        after: Option<String>,
        limit: u64,
    ) -> Result<Vec<Credential>, StoreError> {
        let mut query =
            credentials::Entity::find().filter(credentials::Column::OrganisationId.eq(organisation_id));
        if let Some(after) = after {
            query = query.filter(credentials::Column::Id.gt(after));
        }
        let rows = query.order_by_asc(credentials::Column::Id).limit(limit).all(&self.db).await?;
        Ok(rows.into_iter().map(Credential::from).collect())
    }

    /// Replaces the secret; the old one stays valid until `previous_valid_until`.
    pub async fn rotate_credential(
        &self,
        id: &str,
        new_hash: String,
        previous_valid_until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Credential, GatewayError> {
        let txn = begin_write(&self.db).await.map_err(StoreError::from)?;
        let current = credential_in(&txn, id).await?;
        if current.revoke_time.is_some() {
            return Err(GatewayError::CredentialRevoked { name: id.to_owned() });
        }
        let previous = current.secret_hash.clone();
        let mut row = current.into_active_model();
        row.previous_secret_hash = Set(Some(previous));
        row.previous_secret_expire_time = Set(Some(previous_valid_until));
        row.secret_hash = Set(new_hash);
        row.rotate_time = Set(Some(now));
        let updated = row.update(&txn).await.map_err(StoreError::from)?;
        txn.commit().await.map_err(StoreError::from)?;
        Ok(updated.into())
    }

    pub async fn revoke_credential(&self, id: &str, now: DateTime<Utc>) -> Result<Credential, GatewayError> {
        let txn = begin_write(&self.db).await.map_err(StoreError::from)?;
        let current = credential_in(&txn, id).await?;
        if current.revoke_time.is_some() {
            txn.commit().await.map_err(StoreError::from)?;
            return Ok(current.into());
        }
        let mut row = current.into_active_model();
        row.revoke_time = Set(Some(now));
        let updated = row.update(&txn).await.map_err(StoreError::from)?;
        txn.commit().await.map_err(StoreError::from)?;
        Ok(updated.into())
    }

    /// Appends audited calls, in one transaction. Every call through the
    /// gateway makes one, so on SQLite they go to the writer thread and one
    /// prepared statement (measured: building and binding a many-row sea-orm
    /// `INSERT` through sqlx cost about a seventh of a `GetCustomer`'s CPU).
    pub async fn record_calls(&self, records: Arc<[Call]>) -> Result<(), StoreError> {
        let rows =
            |records: &[Call]| records.iter().cloned().map(calls::ActiveModel::from).collect::<Vec<_>>();
        if let Some(writer) = &self.sqlite_writer {
            return writer
                .transaction(move |connection| {
                    sqlite_writes::insert_each(connection, rows(&records)).map(|_| ())
                })
                .await;
        }
        let txn = begin_write(&self.db).await?;
        persistence::insert_all(&txn, rows(&records)).await?;
        txn.commit().await?;
        Ok(())
    }

    /// Deletes calls recorded before `cutoff`; returns how many.
    pub async fn purge_calls_before(&self, cutoff: DateTime<Utc>) -> Result<u64, StoreError> {
        let deleted =
            calls::Entity::delete_many().filter(calls::Column::EventTime.lt(cutoff)).exec(&self.db).await?;
        Ok(deleted.rows_affected)
    }

    /// A page of calls, newest first, strictly older than `before`.
    pub async fn list_calls(
        &self,
        filter: &CallFilter,
        before: Option<(DateTime<Utc>, Uuid)>,
        limit: u64,
    ) -> Result<Vec<Call>, StoreError> {
        let mut condition = Condition::all();
        if let Some(organisation) = &filter.organisation {
            condition = condition.add(calls::Column::Organisation.eq(organisation.as_str()));
        }
        if let Some(credential) = &filter.credential {
            condition = condition.add(calls::Column::Credential.eq(credential.as_str()));
        }
        if let Some(method) = &filter.method {
            condition = condition.add(calls::Column::Method.eq(method.as_str()));
        }
        if let Some(start) = filter.start_time {
            condition = condition.add(calls::Column::EventTime.gte(start));
        }
        if let Some(end) = filter.end_time {
            condition = condition.add(calls::Column::EventTime.lt(end));
        }
        if let Some((time, id)) = before {
            condition =
                condition.add(Condition::any().add(calls::Column::EventTime.lt(time)).add(
                    Condition::all().add(calls::Column::EventTime.eq(time)).add(calls::Column::Id.lt(id)),
                ));
        }
        let rows = calls::Entity::find()
            .filter(condition)
            .order_by_desc(calls::Column::EventTime)
            .order_by_desc(calls::Column::Id)
            .limit(limit)
            .all(&self.db)
            .await?;
        Ok(rows.into_iter().map(Call::from).collect())
    }
}

/// Credential `id`, read inside a write transaction; NOT_FOUND when absent.
async fn credential_in<C: sea_orm::ConnectionTrait>(
    conn: &C,
    id: &str,
) -> Result<credentials::Model, GatewayError> {
    credentials::Entity::find_by_id(id.to_owned()).one(conn).await.map_err(StoreError::from)?.ok_or_else(
        || GatewayError::NotFound { resource_type: "involve.gateway.v1.Credential", name: id.to_owned() },
    )
}
