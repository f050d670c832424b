//! The only door to the profiles tables. Every query takes the caller's scope;
//! every write runs in one transaction together with its audit rows and its
//! idempotency key, so a failed request leaves nothing half-written.

pub mod entities;
mod import;
mod migrations;
mod profile_map;
mod rows;
mod sqlite_rows;

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use persistence::audit::{self, AuditEvent};
use persistence::idempotency::{self, IdempotencyKey, RequestIdentity};
use persistence::statement_cache::{self, Arguments, Placeholders, StatementCache};
use persistence::{
    Actor, AuditEntry, AuditWriter, Etag, ReadSettings, Scope, SqliteReads, SqliteWriter, StoreError,
    begin_write, sqlite_reads, sqlite_writes, versioned,
};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait as _, ColumnTrait as _, Condition, ConnectionTrait, DatabaseConnection, DbErr,
    EntityTrait as _, IntoActiveModel as _, QueryFilter as _, QueryOrder as _, QuerySelect as _,
    QueryTrait as _, Set, TryIntoModel as _,
};
use sea_orm_migration::MigratorTrait as _;
use uuid::Uuid;

use self::entities::{customers, erasures, reference_values, tenure_periods};
pub use self::import::{CommitTurn, Committed, ImportBatch, ImportOutcome, ImportRow};
pub use self::migrations::Migrator;
use self::rows::{
    JoinedRow, RowParts, customer_from_row, first_period, new_row, period_from_row, period_row,
    periods_after, seal, seal_next_version, write_details,
};
use crate::domain::reference::ReferenceValue;
use crate::domain::tenure::{TenureChange, plan_change};
use crate::domain::{
    Code, Customer, CustomerDetails, CustomerId, CustomerState, OrganisationName, ReferenceData, ReferenceSet,
};
use crate::error::ProfileError;

/// The backend the SQLite writer's statements are built for.
const SQLITE: sea_orm::DatabaseBackend = sea_orm::DatabaseBackend::Sqlite;

/// How long a reference-data snapshot is trusted before it is read again. Local
/// writes refresh it at once; this bounds staleness across instances.
const REFERENCE_CACHE_TTL: Duration = Duration::from_secs(30);

/// Filters of `ListCustomers`, already validated. Page tokens bind all of it.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct CustomerFilter {
    pub landlord: Option<OrganisationName>,
    pub tenure: Option<Code>,
    pub area: Option<Code>,
    /// Lower-cased search term.
    pub search: Option<String>,
}

/// A customer to create.
#[derive(Clone, Debug)]
pub struct NewCustomer {
    pub landlord: Option<OrganisationName>,
    pub tenure: Code,
    pub tenure_start: NaiveDate,
    pub details: CustomerDetails,
}

/// The record kept of an erasure.
#[derive(Clone, Debug)]
pub struct Erasure {
    pub customer: CustomerId,
    pub reason: String,
    pub erase_time: DateTime<Utc>,
}

#[derive(Debug)]
pub struct Store {
    db: DatabaseConnection,
    /// Group commit for the audit rows of reads (see [`Store::record_reads`]).
    read_audit: AuditWriter,
    /// Every reference set, read once for many calls.
    reference_cache: persistence::Snapshot<ReferenceData>,
    /// Customer reads on a SQLite file, without sqlx's hand-off per statement.
    sqlite_reads: Option<SqliteReads>,
    /// Customer writes on a SQLite file: one hand-off per transaction, group commit.
    sqlite_writer: Option<SqliteWriter>,
    /// The customer reads' SQLite statements, rendered once per shape.
    statements: CustomerStatements,
}

impl Store {
    pub fn new(db: DatabaseConnection) -> Self {
        Self {
            read_audit: AuditWriter::new(db.clone()),
            // Customer reads are index lookups whatever the values bound, so their
            // statements need not be planned again for each (see ReadSettings).
            sqlite_reads: SqliteReads::for_database_with(&db, ReadSettings { stable_plans: true }),
            sqlite_writer: SqliteWriter::for_database(&db),
            statements: CustomerStatements::default(),
            db,
            reference_cache: persistence::Snapshot::new(REFERENCE_CACHE_TTL),
        }
    }

    /// Applies every pending migration of this service.
    pub async fn migrate(&self) -> Result<(), DbErr> {
        Migrator::up(&self.db, None).await
    }

    pub fn connection(&self) -> &DatabaseConnection {
        &self.db
    }

    // ---- reference data ----

    /// A snapshot of every reference set, cached briefly.
    pub async fn reference_data(&self) -> Result<Arc<ReferenceData>, StoreError> {
        self.reference_cache
            .get_or_read(|| async {
                let rows = reference_values::Entity::find().all(&self.db).await?;
                Ok(ReferenceData::from_values(rows.into_iter().filter_map(reference_from_row)))
            })
            .await
    }

    pub async fn list_reference_values(
        &self,
        set: ReferenceSet,
        after: Option<String>,
        limit: u64,
    ) -> Result<Vec<ReferenceValue>, StoreError> {
        let mut query = reference_values::Entity::find().filter(reference_values::Column::SetId.eq(set.id()));
        if let Some(after) = after {
            query = query.filter(reference_values::Column::Code.gt(after));
        }
        let rows = query.order_by_asc(reference_values::Column::Code).limit(limit).all(&self.db).await?;
        Ok(rows.into_iter().filter_map(reference_from_row).collect())
    }

    pub async fn create_reference_value(
        &self,
        actor: &Actor,
        value: ReferenceValue,
    ) -> Result<ReferenceValue, ProfileError> {
        let name = format!("{}/values/{}", value.set.name(), value.code);
        let txn = begin_write(&self.db).await.map_err(StoreError::from)?;
        let inserted = reference_values::ActiveModel {
            set_id: Set(value.set.id().to_owned()),
            code: Set(value.code.to_string()),
            display_name: Set(value.display_name.clone()),
            retired: Set(value.retired),
            create_time: Set(persistence::now()),
        }
        .insert(&txn)
        .await;
        match inserted.map_err(StoreError::from) {
            Ok(_) => {}
            Err(StoreError::UniqueViolation(_)) => return Err(ProfileError::ReferenceValueExists { name }),
            Err(other) => return Err(other.into()),
        }
        audit::record(&txn, actor, [AuditEntry::new(name)]).await?;
        txn.commit().await.map_err(StoreError::from)?;
        self.reference_cache.forget();
        Ok(value)
    }

    // ---- customers ----

    /// A current (active) customer inside the scope.
    /// One query: the row and its tenure history, joined.
    pub async fn get_customer(&self, scope: &Scope, id: CustomerId) -> Result<Customer, ProfileError> {
        let lookup = CustomerLookup { scope: Cow::Borrowed(scope), id: id.uuid() };
        let mut found = match &self.sqlite_reads {
            Some(reads) => {
                let (sql, values) = self.statements.lookups.statement(&lookup, CustomerLookup::sqlite)?;
                fold_histories(reads.lookup(TABLE, sql, values, sqlite_rows::CUSTOMERS_WITH_PERIODS).await?)
            }
            None => fold_models(lookup.query().all(&self.db).await.map_err(StoreError::from)?)?,
        };
        found.pop().ok_or_else(|| ProfileError::customer_not_found(id.name()))
    }

    /// `GetCustomer`'s read: the active customer `id` inside `scope` as its stored
    /// encoding (`crate::encoding`), without its tenure periods or any other
    /// column; `None` when it has no encoding of the current format, and the
    /// caller reads its columns instead ([`Self::get_customer`]).
    pub async fn get_encoded(
        &self,
        scope: &Scope,
        id: CustomerId,
    ) -> Result<Option<EncodedCustomer>, ProfileError> {
        let lookup = CustomerLookup { scope: Cow::Borrowed(scope), id: id.uuid() };
        let mut found = match &self.sqlite_reads {
            Some(reads) => {
                let (sql, values) =
                    self.statements.encoded_lookups.statement(&lookup, CustomerLookup::encoded_sqlite)?;
                reads.lookup(TABLE, sql, values, sqlite_rows::ENCODED_CUSTOMERS).await?
            }
            None => lookup.encoded_query().all(&self.db).await.map_err(StoreError::from)?,
        };
        let row = found.pop().ok_or_else(|| ProfileError::customer_not_found(id.name()))?;
        Ok(row.current())
    }

    pub async fn create_customer(
        &self,
        scope: &Scope,
        actor: &Actor,
        request: Option<&RequestIdentity>,
        new: NewCustomer,
    ) -> Result<Customer, ProfileError> {
        let key = IdempotencyKey::for_request(actor, request);
        if let Some(existing) = self.replay(scope, key).await? {
            return Ok(existing);
        }
        let now = persistence::now();
        let id = CustomerId::generate();
        let consent_time = new.details.contact_consent.then_some(now);
        let parts = RowParts {
            landlord: new.landlord.as_ref(),
            tenure: &new.tenure,
            details: &new.details,
            consent_time,
        };
        let mut row = new_row(id, parts, now)?;
        let period = period_row(id, &first_period(&new.tenure, new.landlord.as_ref(), new.tenure_start, now));
        let audit_entry = AuditEntry::new(id.name()).special_category(new.details.equality.any_recorded());
        // The transaction commits exactly these rows, and both databases keep
        // every value as bound (`now` is whole microseconds), so the answer is made
        // from them rather than read back: one query (and on SQLite one hand-off)
        // fewer. The store's conformance tests hold every write's answer to a read.
        let written = customer_from_row(
            row.clone().try_into_model().map_err(StoreError::from)?,
            vec![period.clone().try_into_model().map_err(StoreError::from)?],
        )?;
        seal(&mut row, written.clone());
        let result = match &self.sqlite_writer {
            Some(writer) => {
                // Built here, run there: the writer thread only binds and steps.
                let mut statements = Vec::with_capacity(4);
                // First, so a concurrent twin fails on the key, not on the customer.
                if let Some(key) = key {
                    statements.push(
                        idempotency::entity::Entity::insert(idempotency::claim_row(key, &id.name()))
                            .build(SQLITE),
                    );
                }
                statements.push(customers::Entity::insert(row).build(SQLITE));
                statements.push(tenure_periods::Entity::insert(period).build(SQLITE));
                statements.push(
                    audit::entity::Entity::insert_many(audit::rows_of(actor, [audit_entry])).build(SQLITE),
                );
                writer
                    .transaction(move |connection| {
                        statements.iter().try_for_each(|statement| {
                            sqlite_writes::execute(connection, statement).map(|_| ())
                        })
                    })
                    .await
            }
            None => {
                async {
                    let txn = begin_write(&self.db).await?;
                    // First, so a concurrent twin queues on the key, not on the customer.
                    if let Some(key) = key {
                        idempotency::claim(&txn, key, &id.name()).await?;
                    }
                    customers::Entity::insert(row).exec_without_returning(&txn).await?;
                    tenure_periods::Entity::insert(period).exec_without_returning(&txn).await?;
                    audit::record(&txn, actor, [audit_entry]).await?;
                    txn.commit().await?;
                    Ok::<(), StoreError>(())
                }
                .await
            }
        };
        match result {
            Ok(()) => Ok(written),
            // A twin with the same request_id committed first: answer as it did.
            Err(err) if idempotency::lost_to_a_twin(&err) => {
                self.replay(scope, key).await?.ok_or(ProfileError::Store(err))
            }
            Err(err) if err.violates(&customers::LANDLORD_REFERENCE) => {
                Err(ProfileError::ExternalReferenceTaken {
                    external_reference: new.details.external_reference.unwrap_or_default(),
                })
            }
            Err(other) => Err(other.into()),
        }
    }

    /// The customer an earlier request with this idempotency key produced;
    /// `REQUEST_ID_REUSED` when that request was a different one.
    async fn replay(
        &self,
        scope: &Scope,
        key: Option<IdempotencyKey<'_>>,
    ) -> Result<Option<Customer>, ProfileError> {
        let Some(key) = key else { return Ok(None) };
        let Some(found) = idempotency::find(&self.db, key).await? else { return Ok(None) };
        let name = found.map_err(ProfileError::RequestIdReused)?;
        let id = CustomerId::from_name(&name)
            .ok_or_else(|| StoreError::corrupt(format!("idempotent resource {name}")))?;
        self.get_customer(scope, id).await.map(Some)
    }

    /// A page as [`Self::list_customers`] finds it, as the customers' stored
    /// encodings; `None` when one of them has none of the current format (written
    /// before encodings were kept, or by an older build), and the page must be
    /// read from the columns instead.
    pub async fn list_encoded(
        &self,
        scope: &Scope,
        filter: &CustomerFilter,
        after: Option<Uuid>,
        limit: u64,
    ) -> Result<Option<Vec<EncodedCustomer>>, ProfileError> {
        let page = CustomerPage::new(scope, filter, after, limit);
        let rows = match &self.sqlite_reads {
            Some(reads) => {
                let (sql, values) =
                    self.statements.encoded_pages.statement(&page, CustomerPage::encoded_sqlite)?;
                reads.scan(TABLE, sql, values, sqlite_rows::ENCODED_CUSTOMERS).await?
            }
            None => page.encoded_query().all(&self.db).await.map_err(StoreError::from)?,
        };
        Ok(rows.into_iter().map(EncodedRow::current).collect())
    }

    /// Gives every customer without an encoding of the current format one (rows
    /// written before encodings were kept, or after `crate::encoding::FORMAT`
    /// changed), in batches of their own transactions, and returns how many it
    /// encoded. The customer and its etag do not change; a customer written
    /// meanwhile was encoded by that write, and is left as it is (the update
    /// checks the version). Runs beside the service after start-up: pages with
    /// such customers are read from the columns until it is done.
    pub async fn encode_stale_customers(&self) -> Result<u64, StoreError> {
        let mut encoded = 0;
        let mut after = None;
        loop {
            let mut stale = customers::Entity::find().filter(
                Condition::any()
                    .add(customers::Column::EncodingFormat.is_null())
                    .add(customers::Column::EncodingFormat.ne(crate::encoding::FORMAT)),
            );
            if let Some(after) = after {
                stale = stale.filter(customers::Column::Id.gt(after));
            }
            let rows = stale.order_by_asc(customers::Column::Id).limit(ENCODING_BATCH).all(&self.db).await?;
            let Some(last) = rows.last() else { return Ok(encoded) };
            after = Some(last.id);
            let mut histories = load_histories(&self.db, rows.iter().map(|row| row.id).collect()).await?;
            let txn = begin_write(&self.db).await?;
            for row in rows {
                let (id, version) = (row.id, row.version);
                let customer = customer_from_row(row, histories.remove(&id).unwrap_or_default())?;
                // Only the encoding's columns: the customer and its version stay.
                let mut sealed = <customers::ActiveModel as Default>::default();
                seal(&mut sealed, customer);
                encoded += customers::Entity::update_many()
                    .set(sealed)
                    .filter(customers::Column::Id.eq(id))
                    .filter(customers::Column::Version.eq(version))
                    .exec(&txn)
                    .await?
                    .rows_affected;
            }
            txn.commit().await?;
        }
    }

    /// Replaces a customer's details. `expected_version` is the version the caller's
    /// change was based on; if the row moved on since, the change is ABORTED.
    pub async fn update_customer(
        &self,
        scope: &Scope,
        actor: &Actor,
        id: CustomerId,
        expected_version: i64,
        details: CustomerDetails,
        caller_reads_equality: bool,
    ) -> Result<Customer, ProfileError> {
        let now = persistence::now();
        if let Some(writer) = &self.sqlite_writer {
            // The whole read-check-write runs on the writer thread, in its transaction.
            let find = find_query(scope, id, &[CustomerState::Active]).build(SQLITE);
            let periods = history_query(id).build(SQLITE);
            let actor = actor.clone();
            return writer
                .transaction(move |connection| {
                    let current = sqlite_reads::models::<customers::Entity>(connection, &find)?
                        .pop()
                        .ok_or_else(|| ProfileError::customer_not_found(id.name()))?;
                    let (mut row, special) =
                        updated_row(current, expected_version, &details, caller_reads_equality, now)?;
                    let history = sqlite_reads::models::<tenure_periods::Entity>(connection, &periods)?;
                    let updated = seal_next_version(&mut row, expected_version, now, history)?;
                    let update = customers::VERSIONED.update(row, id.uuid(), expected_version).build(SQLITE);
                    match sqlite_writes::execute(connection, &update) {
                        Ok(1) => {}
                        Ok(_) => return Err(StoreError::Stale.into()),
                        Err(err) => return Err(reference_taken(err, details.external_reference.as_deref())),
                    }
                    let entry = AuditEntry::new(id.name()).special_category(special);
                    let audit =
                        audit::entity::Entity::insert_many(audit::rows_of(&actor, [entry])).build(SQLITE);
                    sqlite_writes::execute(connection, &audit)?;
                    Ok::<Customer, ProfileError>(updated)
                })
                .await;
        }
        let txn = begin_write(&self.db).await.map_err(StoreError::from)?;
        let current = find_row(&txn, scope, id, &[CustomerState::Active]).await?;
        let (mut row, special) =
            updated_row(current, expected_version, &details, caller_reads_equality, now)?;
        let history = history_query(id).all(&txn).await.map_err(StoreError::from)?;
        let updated = seal_next_version(&mut row, expected_version, now, history)?;
        save_versioned(&txn, row, id, expected_version, details.external_reference.as_deref()).await?;
        audit::record(&txn, actor, [AuditEntry::new(id.name()).special_category(special)]).await?;
        txn.commit().await.map_err(StoreError::from)?;
        Ok(updated)
    }

    pub async fn delete_customer(
        &self,
        scope: &Scope,
        actor: &Actor,
        id: CustomerId,
        etag_version: Option<i64>,
    ) -> Result<Customer, ProfileError> {
        let txn = begin_write(&self.db).await.map_err(StoreError::from)?;
        let current = find_row(&txn, scope, id, &[CustomerState::Active]).await?;
        versioned::expect_version(current.version, etag_version.map(Etag::from_version))?;
        let now = persistence::now();
        let version = current.version;
        let mut row = current.into_active_model();
        row.state = Set(CustomerState::Deleted.code().to_owned());
        row.delete_time = Set(Some(now));
        let history = history_query(id).all(&txn).await.map_err(StoreError::from)?;
        // AIP-164: a soft delete answers with the deleted resource, as committed.
        let deleted = seal_next_version(&mut row, version, now, history)?;
        save_versioned(&txn, row, id, version, None).await?;
        audit::record(&txn, actor, [AuditEntry::new(id.name())]).await?;
        txn.commit().await.map_err(StoreError::from)?;
        Ok(deleted)
    }

    /// One page of active customers in creation order, after `after`.
    pub async fn list_customers(
        &self,
        scope: &Scope,
        filter: &CustomerFilter,
        after: Option<Uuid>,
        limit: u64,
    ) -> Result<Vec<Customer>, ProfileError> {
        let page = CustomerPage::new(scope, filter, after, limit);
        Ok(match &self.sqlite_reads {
            Some(reads) => {
                let (sql, values) = self.statements.pages.statement(&page, CustomerPage::sqlite)?;
                fold_histories(reads.scan(TABLE, sql, values, sqlite_rows::CUSTOMERS_WITH_PERIODS).await?)
            }
            None => fold_models(page.query().all(&self.db).await.map_err(StoreError::from)?)?,
        })
    }

    pub async fn change_tenure(
        &self,
        scope: &Scope,
        actor: &Actor,
        id: CustomerId,
        etag_version: Option<i64>,
        change: TenureChange,
        request: Option<&RequestIdentity>,
    ) -> Result<Customer, ProfileError> {
        let key = IdempotencyKey::for_request(actor, request);
        if let Some(existing) = self.replay(scope, key).await? {
            return Ok(existing);
        }
        match self.change_tenure_once(scope, actor, id, etag_version, change, key).await {
            // A twin with the same request_id committed first: answer as it did.
            Err(ProfileError::Store(err)) if idempotency::lost_to_a_twin(&err) => {
                self.replay(scope, key).await?.ok_or(ProfileError::Store(err))
            }
            other => other,
        }
    }

    async fn change_tenure_once(
        &self,
        scope: &Scope,
        actor: &Actor,
        id: CustomerId,
        etag_version: Option<i64>,
        change: TenureChange,
        key: Option<IdempotencyKey<'_>>,
    ) -> Result<Customer, ProfileError> {
        if let Some(writer) = &self.sqlite_writer {
            // The whole read-plan-write runs on the writer thread, in its transaction.
            let claim = key.map(|key| {
                idempotency::entity::Entity::insert(idempotency::claim_row(key, &id.name())).build(SQLITE)
            });
            let find = find_query(scope, id, &[CustomerState::Active]).build(SQLITE);
            let periods = history_query(id).build(SQLITE);
            let actor = actor.clone();
            return writer
                .transaction(move |connection| {
                    // First, so a concurrent twin fails on the key.
                    if let Some(claim) = &claim {
                        sqlite_writes::execute(connection, claim)?;
                    }
                    let current = sqlite_reads::models::<customers::Entity>(connection, &find)?
                        .pop()
                        .ok_or_else(|| ProfileError::customer_not_found(id.name()))?;
                    versioned::expect_version(current.version, etag_version.map(Etag::from_version))?;
                    let history = sqlite_reads::models::<tenure_periods::Entity>(connection, &periods)?;
                    let rows = tenure_change_rows(id, current, history, change, persistence::now())?;
                    if let Some((open, end)) = rows.close {
                        let close = tenure_periods::Entity::update_many()
                            .col_expr(tenure_periods::Column::EndDate, Expr::value(end))
                            .filter(tenure_periods::Column::Id.eq(open))
                            .build(SQLITE);
                        sqlite_writes::execute(connection, &close)?;
                    }
                    sqlite_writes::execute(
                        connection,
                        &tenure_periods::Entity::insert(rows.next).build(SQLITE),
                    )?;
                    let update =
                        customers::VERSIONED.update(rows.customer, id.uuid(), rows.version).build(SQLITE);
                    match sqlite_writes::execute(connection, &update) {
                        Ok(1) => {}
                        Ok(_) => return Err(StoreError::Stale.into()),
                        Err(err) => return Err(reference_taken(err, rows.external_reference.as_deref())),
                    }
                    let audit = audit::entity::Entity::insert_many(audit::rows_of(
                        &actor,
                        [AuditEntry::new(id.name())],
                    ))
                    .build(SQLITE);
                    sqlite_writes::execute(connection, &audit)?;
                    // Answered as written, whether or not it is still inside the
                    // caller's scope (the caller may have moved the customer out).
                    Ok::<Customer, ProfileError>(rows.changed)
                })
                .await;
        }
        let txn = begin_write(&self.db).await.map_err(StoreError::from)?;
        // First, so a concurrent twin queues on the key.
        if let Some(key) = key {
            idempotency::claim(&txn, key, &id.name()).await?;
        }
        let current = find_row(&txn, scope, id, &[CustomerState::Active]).await?;
        versioned::expect_version(current.version, etag_version.map(Etag::from_version))?;
        let history = history_query(id).all(&txn).await.map_err(StoreError::from)?;
        let now = persistence::now();
        let rows = tenure_change_rows(id, current, history, change, now)?;
        if let Some((open, end)) = rows.close {
            tenure_periods::Entity::update_many()
                .col_expr(tenure_periods::Column::EndDate, Expr::value(end))
                .filter(tenure_periods::Column::Id.eq(open))
                .exec(&txn)
                .await
                .map_err(StoreError::from)?;
        }
        tenure_periods::Entity::insert(rows.next)
            .exec_without_returning(&txn)
            .await
            .map_err(StoreError::from)?;
        save_versioned(&txn, rows.customer, id, rows.version, rows.external_reference.as_deref()).await?;
        audit::record(&txn, actor, [AuditEntry::new(id.name())]).await?;
        txn.commit().await.map_err(StoreError::from)?;
        // Answered as written, whether or not it is still inside the caller's scope.
        Ok(rows.changed)
    }

    /// Records reads of special-category data; returns once the rows are committed.
    /// Concurrent reads share one commit (group commit) instead of one write
    /// transaction each, which on SQLite serialised every such read.
    pub async fn record_reads(&self, actor: &Actor, entries: Vec<AuditEntry>) -> Result<(), StoreError> {
        self.read_audit.record(actor, entries).await
    }

    /// Everything held on a customer (deleted ones included), with its audit trail;
    /// the export itself is audited first, so it appears in its own trail.
    pub async fn export_customer(
        &self,
        scope: &Scope,
        actor: &Actor,
        id: CustomerId,
    ) -> Result<(Customer, Vec<AuditEvent>), ProfileError> {
        let txn = begin_write(&self.db).await.map_err(StoreError::from)?;
        let row = find_row(&txn, scope, id, &[CustomerState::Active, CustomerState::Deleted]).await?;
        audit::record(&txn, actor, [AuditEntry::new(id.name()).special_category(true)]).await?;
        let customer = with_history(&txn, row).await?;
        let events = audit::for_resource(&txn, &id.name()).await?;
        txn.commit().await.map_err(StoreError::from)?;
        Ok((customer, events))
    }

    /// Removes a customer's personal data for good. What stays: the id, tenure,
    /// landlord, area and tenure dates, which aggregate figures over time need and
    /// which identify nobody on their own; and the record of the erasure.
    pub async fn erase_customer(
        &self,
        scope: &Scope,
        actor: &Actor,
        id: CustomerId,
        reason: String,
        etag_version: Option<i64>,
    ) -> Result<Erasure, ProfileError> {
        let txn = begin_write(&self.db).await.map_err(StoreError::from)?;
        let current = find_row(&txn, scope, id, &[CustomerState::Active, CustomerState::Deleted]).await?;
        versioned::expect_version(current.version, etag_version.map(Etag::from_version))?;
        let now = persistence::now();
        let version = current.version;
        let landlord = current.landlord_organisation.clone();
        let tenure = Code::trusted(&current.tenure);
        let area = current.area.clone();
        let delete_time = current.delete_time.unwrap_or(now);
        let mut row = current.into_active_model();
        let blank =
            CustomerDetails { area: area.as_deref().map(Code::trusted), ..CustomerDetails::default() };
        let landlord = landlord
            .as_deref()
            .map(str::parse::<OrganisationName>)
            .transpose()
            .map_err(StoreError::corrupt)?;
        write_details(
            &mut row,
            RowParts { landlord: landlord.as_ref(), tenure: &tenure, details: &blank, consent_time: None },
        )?;
        row.state = Set(CustomerState::Erased.code().to_owned());
        row.delete_time = Set(Some(delete_time));
        tenure_periods::Entity::update_many()
            .col_expr(tenure_periods::Column::Reason, Expr::value(Option::<String>::None))
            .filter(tenure_periods::Column::CustomerId.eq(id.uuid()))
            .exec(&txn)
            .await
            .map_err(StoreError::from)?;
        // Sealed from the erased row and periods: no encoding of what was erased survives.
        let history = history_query(id).all(&txn).await.map_err(StoreError::from)?;
        seal_next_version(&mut row, version, now, history)?;
        save_versioned(&txn, row, id, version, None).await?;
        erasures::ActiveModel {
            customer_id: Set(id.uuid()),
            reason: Set(reason.clone()),
            erase_time: Set(now),
            organisation: Set(actor.organisation.clone()),
        }
        .insert(&txn)
        .await
        .map_err(StoreError::from)?;
        audit::record(&txn, actor, [AuditEntry::new(id.name()).special_category(true)]).await?;
        txn.commit().await.map_err(StoreError::from)?;
        if let Err(err) = persistence::flush_erased_pages(&self.db).await {
            // The erasure stands; the log is truncated at the next checkpoint instead.
            tracing::warn!(error = %err, "cannot truncate the write-ahead log after an erasure yet");
        }
        Ok(Erasure { customer: id, reason, erase_time: now })
    }

    /// Counts for a profile map of the customers inside `scope` (and of
    /// `landlord`, when given). Reads of equality data in aggregate are audited in
    /// the same transaction as the read, so none goes unrecorded.
    pub async fn profile_map(
        &self,
        scope: &Scope,
        actor: &Actor,
        landlord: Option<&OrganisationName>,
        characteristic: Option<crate::domain::profile_map::Characteristic>,
        audit_entry: AuditEntry,
    ) -> Result<crate::domain::profile_map::ProfileCounts, StoreError> {
        let txn = begin_write(&self.db).await?;
        let counts = profile_map::count(&txn, scope, landlord, characteristic).await?;
        audit::record(&txn, actor, [audit_entry]).await?;
        txn.commit().await?;
        Ok(counts)
    }

    /// Counts labelled sets of customers by one equality characteristic, and
    /// records the read (special category) in the same transaction.
    pub async fn count_equality_groups(
        &self,
        actor: &Actor,
        query: &crate::domain::equality_groups::GroupQuery,
        audit_entry: AuditEntry,
    ) -> Result<Vec<crate::domain::equality_groups::CountedSet>, StoreError> {
        let txn = begin_write(&self.db).await?;
        let counted = profile_map::count_sets(&txn, query).await?;
        audit::record(&txn, actor, [audit_entry]).await?;
        txn.commit().await?;
        Ok(counted)
    }

    /// Applies one batch of import rows in one transaction, committed in its `turn`.
    pub async fn import_batch(
        &self,
        scope: &Scope,
        actor: &Actor,
        may_write_equality: bool,
        rows: Vec<ImportRow>,
        mut turn: CommitTurn,
    ) -> Result<ImportBatch, StoreError> {
        // A concurrent import of the same references can win a unique index race,
        // or change a matched row under us; the one retry sees the rows as they now are.
        let mut retried = false;
        loop {
            let writer = self.sqlite_writer.as_ref();
            match import::apply(&self.db, writer, scope, actor, may_write_equality, &rows, &mut turn).await {
                Err(StoreError::UniqueViolation(_) | StoreError::Conflict(_)) if !retried => retried = true,
                other => return other,
            }
        }
    }

    /// Refreshes the planner's statistics after a bulk change. Until autovacuum
    /// gets round to it, a freshly loaded table looks empty to PostgreSQL's planner,
    /// which then sorts every row of a landlord to serve one page (measured: 17 ms
    /// instead of 0.3 ms at 20k customers). Both databases sample, so this is cheap.
    pub async fn refresh_statistics(&self) -> Result<(), StoreError> {
        let backend = self.db.get_database_backend();
        let sql = if backend == sea_orm::DatabaseBackend::Postgres {
            "ANALYZE customers, tenure_periods, audit_events"
        } else if backend == sea_orm::DatabaseBackend::Sqlite {
            "PRAGMA optimize"
        } else {
            return Ok(());
        };
        self.db.execute_unprepared(sql).await?;
        Ok(())
    }
}

fn reference_from_row(row: reference_values::Model) -> Option<ReferenceValue> {
    Some(ReferenceValue {
        set: ReferenceSet::from_id(&row.set_id)?,
        code: Code::trusted(&row.code),
        display_name: row.display_name,
        retired: row.retired,
    })
}

/// The caller's scope as a condition on `customers`.
pub(crate) fn scope_condition(scope: &Scope) -> Condition {
    scope.condition(customers::SCOPE)
}

/// The query for the row of `id` if it is inside `scope` and in one of `states`.
fn find_query(scope: &Scope, id: CustomerId, states: &[CustomerState]) -> sea_orm::Select<customers::Entity> {
    customers::Entity::find_by_id(id.uuid())
        .filter(scope_condition(scope))
        .filter(customers::Column::State.is_in(states.iter().map(|state| state.code())))
}

/// `current` with `details` written over it (an UPDATE of a customer's details,
/// based on `expected_version`), and whether that touches special-category data.
fn updated_row(
    current: customers::Model,
    expected_version: i64,
    details: &CustomerDetails,
    caller_reads_equality: bool,
    now: DateTime<Utc>,
) -> Result<(customers::ActiveModel, bool), ProfileError> {
    versioned::expect_version(current.version, Some(Etag::from_version(expected_version)))?;
    let consent_time =
        if current.contact_consent == details.contact_consent { current.consent_time } else { Some(now) };
    let landlord = current
        .landlord_organisation
        .as_deref()
        .map(str::parse::<OrganisationName>)
        .transpose()
        .map_err(StoreError::corrupt)?;
    let tenure = Code::trusted(&current.tenure);
    let previous = customer_from_row(current.clone(), Vec::new())?;
    // Special-category data is written when it changes, and read when the
    // response carries it back to a caller allowed to see it.
    let special = previous.details.equality != details.equality
        || (caller_reads_equality && details.equality.any_recorded());
    let mut row = current.into_active_model();
    write_details(
        &mut row,
        RowParts { landlord: landlord.as_ref(), tenure: &tenure, details, consent_time },
    )?;
    Ok((row, special))
}

/// A customer's tenure periods, oldest first.
fn history_query(id: CustomerId) -> sea_orm::Select<tenure_periods::Entity> {
    tenure_periods::Entity::find()
        .filter(tenure_periods::Column::CustomerId.eq(id.uuid()))
        .order_by_asc(tenure_periods::Column::StartDate)
}

/// What a change of tenure writes.
struct TenureChangeRows {
    /// The open period to close, and its end date.
    close: Option<(Uuid, NaiveDate)>,
    next: tenure_periods::ActiveModel,
    /// The customer's new tenure and landlord, to save over `version`.
    customer: customers::ActiveModel,
    version: i64,
    /// The customer once these rows are committed: the change's answer.
    changed: Customer,
    /// Moving to a landlord that already uses this external reference collides.
    external_reference: Option<String>,
}

fn tenure_change_rows(
    id: CustomerId,
    current: customers::Model,
    history: Vec<tenure_periods::Model>,
    change: TenureChange,
    now: DateTime<Utc>,
) -> Result<TenureChangeRows, ProfileError> {
    let open = history.last().map(|period| period.id);
    let stored = history.clone();
    let customer = customer_from_row(current.clone(), history)?;
    let transition =
        plan_change(&customer.tenure_history, customer.landlord.as_ref(), &customer.tenure, change, now)?;
    let close = transition.close_current_on.zip(open).map(|(end, open)| (open, end));
    let version = current.version;
    let mut row = current.into_active_model();
    row.tenure = Set(transition.next.tenure.to_string());
    row.landlord_organisation = Set(transition.next.landlord.as_ref().map(|org| org.as_str().to_owned()));
    let next = period_row(id, &transition.next);
    let after = periods_after(stored, close, std::slice::from_ref(&next))?;
    let changed = seal_next_version(&mut row, version, now, after)?;
    Ok(TenureChangeRows {
        close,
        next,
        customer: row,
        version,
        changed,
        external_reference: customer.details.external_reference,
    })
}

/// The row of `id` if it is inside `scope` and in one of `states`; NOT_FOUND
/// otherwise, so a caller cannot tell "not yours" from "not there".
async fn find_row<C: ConnectionTrait>(
    conn: &C,
    scope: &Scope,
    id: CustomerId,
    states: &[CustomerState],
) -> Result<customers::Model, ProfileError> {
    find_query(scope, id, states)
        .one(conn)
        .await
        .map_err(StoreError::from)?
        .ok_or_else(|| ProfileError::customer_not_found(id.name()))
}

/// `query` LEFT JOINed with each customer's tenure periods, ordered by customer
/// then period start, ready for [`fold_histories`] or [`fold_models`].
fn with_periods(
    query: sea_orm::Select<customers::Entity>,
) -> sea_orm::SelectTwo<customers::Entity, tenure_periods::Entity> {
    let periods: sea_orm::RelationDef = tenure_periods::Entity::belongs_to(customers::Entity)
        .from(tenure_periods::Column::CustomerId)
        .to(customers::Column::Id)
        .into();
    query
        .join(sea_orm::JoinType::LeftJoin, periods.rev())
        .select_also(tenure_periods::Entity)
        .order_by_asc(customers::Column::Id)
        .order_by_asc(tenure_periods::Column::StartDate)
}

/// Folds the joined rows the SQLite read path decoded (one per period, customers
/// in order) into customers.
fn fold_histories(joined: Vec<JoinedRow>) -> Vec<Customer> {
    let mut customers: Vec<Customer> = Vec::with_capacity(joined.len());
    for (customer, period) in joined {
        match customers.last_mut() {
            // A later period of the customer just read: the row's copy of the customer goes.
            Some(held) if held.id == customer.id => held.tenure_history.extend(period),
            Some(_) | None => {
                let mut customer = customer;
                customer.tenure_history.extend(period);
                customers.push(customer);
            }
        }
    }
    customers
}

/// sea-orm's joined rows (PostgreSQL, in-memory SQLite) folded into customers as
/// [`fold_histories`] folds decoded rows, each customer decoded from its first
/// row only.
fn fold_models(
    joined: Vec<(customers::Model, Option<tenure_periods::Model>)>,
) -> Result<Vec<Customer>, StoreError> {
    let mut customers: Vec<Customer> = Vec::with_capacity(joined.len());
    for (row, period) in joined {
        let period = period.map(period_from_row).transpose()?;
        match customers.last_mut() {
            Some(held) if held.id.uuid() == row.id => held.tenure_history.extend(period),
            Some(_) | None => {
                let mut customer = customer_from_row(row, Vec::new())?;
                customer.tenure_history.extend(period);
                customers.push(customer);
            }
        }
    }
    Ok(customers)
}

async fn with_history<C: ConnectionTrait>(conn: &C, row: customers::Model) -> Result<Customer, StoreError> {
    let mut histories = load_histories(conn, vec![row.id]).await?;
    let history = histories.remove(&row.id).unwrap_or_default();
    customer_from_row(row, history)
}

/// Tenure periods of several customers in one query, each list oldest first.
async fn load_histories<C: ConnectionTrait>(
    conn: &C,
    ids: Vec<Uuid>,
) -> Result<HashMap<Uuid, Vec<tenure_periods::Model>>, StoreError> {
    let mut histories: HashMap<Uuid, Vec<tenure_periods::Model>> = HashMap::new();
    if ids.is_empty() {
        return Ok(histories);
    }
    let periods = tenure_periods::Entity::find()
        .filter(tenure_periods::Column::CustomerId.is_in(ids))
        .order_by_asc(tenure_periods::Column::CustomerId)
        .order_by_asc(tenure_periods::Column::StartDate)
        .all(conn)
        .await?;
    for period in periods {
        histories.entry(period.customer_id).or_default().push(period);
    }
    Ok(histories)
}

/// Writes `row` (readied by [`seal_next_version`]) as the next version after
/// `version`, only if nobody else wrote it since (compare-and-set: `ETAG_MISMATCH`
/// otherwise). A clash on the landlord's external reference index is reported as such.
async fn save_versioned<C: ConnectionTrait>(
    conn: &C,
    row: customers::ActiveModel,
    id: CustomerId,
    version: i64,
    external_reference: Option<&str>,
) -> Result<(), ProfileError> {
    customers::VERSIONED
        .save(conn, row, id.uuid(), version)
        .await
        .map_err(|err| reference_taken(err, external_reference))
}

/// A clash on the landlord's external reference index reported as such.
fn reference_taken(err: StoreError, external_reference: Option<&str>) -> ProfileError {
    if err.violates(&customers::LANDLORD_REFERENCE) {
        ProfileError::ExternalReferenceTaken {
            external_reference: external_reference.unwrap_or_default().to_owned(),
        }
    } else {
        err.into()
    }
}

/// The table customer reads are reported under in database spans.
const TABLE: &str = "customers";

/// The rendered SQLite statements of the customer reads, by shape.
#[derive(Debug, Default)]
struct CustomerStatements {
    lookups: StatementCache<LookupShape>,
    encoded_lookups: StatementCache<LookupShape>,
    pages: StatementCache<PageShape>,
    encoded_pages: StatementCache<PageShape>,
}

/// Customers [`Store::encode_stale_customers`] encodes per transaction.
const ENCODING_BATCH: u64 = 500;

/// What a page of stored encodings selects of each customer.
const ENCODED_COLUMNS: [customers::Column; 5] = [
    customers::Column::Id,
    customers::Column::Encoded,
    customers::Column::EncodedEquality,
    customers::Column::EqualityRecorded,
    customers::Column::EncodingFormat,
];

/// A customer as stored: its encodings, when it has current ones.
#[derive(Debug, sea_orm::FromQueryResult)]
pub(crate) struct EncodedRow {
    pub(crate) id: Uuid,
    pub(crate) encoded: Option<Vec<u8>>,
    pub(crate) encoded_equality: Option<Vec<u8>>,
    pub(crate) equality_recorded: bool,
    pub(crate) encoding_format: Option<i32>,
}

/// One customer as its stored wire encoding (`crate::encoding`).
#[derive(Debug)]
pub struct EncodedCustomer {
    pub id: CustomerId,
    /// The `Customer` message without its equality answers.
    pub body: bytes::Bytes,
    /// The equality answers as the message's field 21.
    pub equality: bytes::Bytes,
    pub equality_recorded: bool,
}

impl EncodedRow {
    /// The customer's encodings, if they are there and of the current format.
    fn current(self) -> Option<EncodedCustomer> {
        if self.encoding_format != Some(crate::encoding::FORMAT) {
            return None;
        }
        Some(EncodedCustomer {
            id: CustomerId::from_uuid(self.id),
            body: self.encoded?.into(),
            equality: self.encoded_equality?.into(),
            equality_recorded: self.equality_recorded,
        })
    }
}

type LookupShape = (bool, Option<usize>);

/// `GetCustomer`'s query: the active customer `id` inside `scope`.
#[derive(Debug)]
struct CustomerLookup<'a> {
    scope: Cow<'a, Scope>,
    id: Uuid,
}

impl CustomerLookup<'_> {
    fn query(&self) -> sea_orm::SelectTwo<customers::Entity, tenure_periods::Entity> {
        with_periods(
            customers::Entity::find_by_id(self.id)
                .filter(scope_condition(&self.scope))
                .filter(customers::Column::State.eq(CustomerState::Active.code())),
        )
    }

    fn sqlite(&self) -> sea_orm::Statement {
        self.query().build(SQLITE)
    }

    /// The same customer's stored encoding alone.
    fn encoded_query(&self) -> sea_orm::Selector<sea_orm::SelectModel<EncodedRow>> {
        customers::Entity::find_by_id(self.id)
            .select_only()
            .columns(ENCODED_COLUMNS)
            .filter(scope_condition(&self.scope))
            .filter(customers::Column::State.eq(CustomerState::Active.code()))
            .into_model::<EncodedRow>()
    }

    fn encoded_sqlite(&self) -> sea_orm::Statement {
        self.encoded_query().into_statement(SQLITE)
    }
}

impl Arguments for CustomerLookup<'_> {
    type Shape = LookupShape;

    fn shape(&self) -> LookupShape {
        statement_cache::scope_shape(&self.scope)
    }

    fn placeholders(&self) -> Self {
        let mut next = Placeholders::default();
        Self { id: next.uuid(), scope: Cow::Owned(next.scope(&self.scope)) }
    }

    fn values(&self) -> Vec<sea_orm::sea_query::Value> {
        let mut values = vec![self.id.into()];
        statement_cache::scope_values(&self.scope, &mut values);
        values
    }
}

/// The scope's shape, then whether each of landlord, tenure, area, search and
/// `after` is given.
type PageShape = ((bool, Option<usize>), [bool; 5]);

/// `ListCustomers`' query: a page of active customers inside `scope`, filtered.
#[derive(Debug)]
struct CustomerPage<'a> {
    scope: Cow<'a, Scope>,
    landlord: Option<String>,
    tenure: Option<String>,
    area: Option<String>,
    /// `LIKE` patterns of a search: a word of the name, a postcode.
    name_like: Option<String>,
    postcode_like: Option<String>,
    after: Option<Uuid>,
    limit: u64,
}

impl<'a> CustomerPage<'a> {
    fn new(scope: &'a Scope, filter: &CustomerFilter, after: Option<Uuid>, limit: u64) -> Self {
        // The search term holds no LIKE wildcards: validation refuses them.
        let search = filter.search.as_ref();
        Self {
            scope: Cow::Borrowed(scope),
            landlord: filter.landlord.as_ref().map(|landlord| landlord.as_str().to_owned()),
            tenure: filter.tenure.as_ref().map(ToString::to_string),
            area: filter.area.as_ref().map(ToString::to_string),
            name_like: search.map(|search| format!("% {search}%")),
            postcode_like: search.map(|search| format!("{}%", crate::domain::validate::postcode_key(search))),
            after,
            limit,
        }
    }

    /// Which customers the page holds (before `after` and `limit`).
    fn condition(&self) -> Condition {
        let mut condition =
            scope_condition(&self.scope).add(customers::Column::State.eq(CustomerState::Active.code()));
        if let Some(landlord) = &self.landlord {
            condition = condition.add(customers::Column::LandlordOrganisation.eq(landlord.as_str()));
        }
        if let Some(tenure) = &self.tenure {
            condition = condition.add(customers::Column::Tenure.eq(tenure.as_str()));
        }
        if let Some(area) = &self.area {
            condition = condition.add(customers::Column::Area.eq(area.as_str()));
        }
        if let (Some(name), Some(postcode)) = (&self.name_like, &self.postcode_like) {
            condition = condition.add(
                Condition::any()
                    .add(customers::Column::NameKey.like(name.as_str()))
                    .add(customers::Column::PostcodeKey.like(postcode.as_str())),
            );
        }
        if let Some(after) = self.after {
            condition = condition.add(customers::Column::Id.gt(after));
        }
        condition
    }

    /// One query: the page is chosen in a subquery (so LIMIT counts customers,
    /// not joined rows), then joined with its tenure periods.
    fn query(&self) -> sea_orm::SelectTwo<customers::Entity, tenure_periods::Entity> {
        let page = customers::Entity::find()
            .select_only()
            .column(customers::Column::Id)
            .filter(self.condition())
            .order_by_asc(customers::Column::Id)
            .limit(self.limit)
            .into_query();
        with_periods(customers::Entity::find().filter(customers::Column::Id.in_subquery(page)))
    }

    fn sqlite(&self) -> sea_orm::Statement {
        self.query().build(SQLITE)
    }

    /// The same page as stored encodings: no periods to join, no columns to decode.
    fn encoded_query(&self) -> sea_orm::Selector<sea_orm::SelectModel<EncodedRow>> {
        customers::Entity::find()
            .select_only()
            .columns(ENCODED_COLUMNS)
            .filter(self.condition())
            .order_by_asc(customers::Column::Id)
            .limit(self.limit)
            .into_model::<EncodedRow>()
    }

    fn encoded_sqlite(&self) -> sea_orm::Statement {
        self.encoded_query().into_statement(SQLITE)
    }
}

impl Arguments for CustomerPage<'_> {
    type Shape = PageShape;

    fn shape(&self) -> PageShape {
        let given = [
            self.landlord.is_some(),
            self.tenure.is_some(),
            self.area.is_some(),
            self.name_like.is_some() && self.postcode_like.is_some(),
            self.after.is_some(),
        ];
        (statement_cache::scope_shape(&self.scope), given)
    }

    fn placeholders(&self) -> Self {
        let mut next = Placeholders::default();
        Self {
            scope: Cow::Owned(next.scope(&self.scope)),
            landlord: next.text_for(self.landlord.as_ref()),
            tenure: next.text_for(self.tenure.as_ref()),
            area: next.text_for(self.area.as_ref()),
            name_like: next.text_for(self.name_like.as_ref()),
            postcode_like: next.text_for(self.postcode_like.as_ref()),
            after: self.after.map(|_| next.uuid()),
            limit: next.number(),
        }
    }

    fn values(&self) -> Vec<sea_orm::sea_query::Value> {
        let mut values = Vec::with_capacity(8);
        statement_cache::scope_values(&self.scope, &mut values);
        let texts = [&self.landlord, &self.tenure, &self.area, &self.name_like, &self.postcode_like];
        values.extend(texts.into_iter().flatten().map(|text| text.as_str().into()));
        values.extend(self.after.map(sea_orm::sea_query::Value::from));
        values.push(self.limit.into());
        values
    }
}
