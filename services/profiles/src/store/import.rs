//! Bulk import: one batch of rows in one transaction. Rows are matched on the
//! landlord's own external reference; each is created, updated, left unchanged or
//! failed with its reasons, and a re-run of the same rows writes nothing.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, NaiveDate, Utc};
use persistence::audit;
use persistence::{Actor, AuditEntry, BulkWrite, Scope, SqliteWriter, StoreError, sqlite_writes};
use platform::FieldViolation;
use sea_orm::{
    ColumnTrait as _, Condition, ConnectionTrait as _, DatabaseConnection, EntityTrait as _,
    IntoActiveModel as _, QueryFilter as _, QueryTrait as _, Set, TransactionTrait as _,
};
use tokio::sync::oneshot;
use uuid::Uuid;

use super::SQLITE;
use super::entities::{customers, tenure_periods};
use super::rows::{
    RowParts, customer_from_row, first_period, new_row, period_row, periods_after, seal, seal_next_version,
    write_details,
};
use crate::domain::tenure::{TenureChange, plan_change};
use crate::domain::{
    Code, Customer, CustomerDetails, CustomerId, CustomerState, OrganisationName, TenurePeriod,
};

/// One validated row of an import stream.
#[derive(Clone, Debug)]
pub struct ImportRow {
    /// 1-based position in the stream.
    pub row: i64,
    pub landlord: OrganisationName,
    pub tenure: Code,
    /// `external_reference` is always set.
    pub details: CustomerDetails,
}

#[derive(Clone, Debug, PartialEq)]
pub enum ImportOutcome {
    Created(CustomerId),
    Updated(CustomerId),
    Unchanged(CustomerId),
    Failed(Vec<FieldViolation>),
}

/// What became of one chunk of an import.
#[derive(Debug)]
pub enum ImportBatch {
    /// Committed: every row's outcome, in the order given.
    Committed(Vec<(i64, ImportOutcome)>),
    /// Rolled back, nothing written, because the chunk before it failed.
    Withdrawn,
}

/// When a chunk may commit: once the chunk before it has. Two chunks of one stream
/// can then be in hand at once (never two touching the same customer: the caller
/// keeps those apart) and still commit in stream order, and a chunk that fails
/// takes every later one down with it, so an import that ends in an error has
/// written exactly the chunks it answered.
#[derive(Debug)]
pub struct CommitTurn {
    /// Fires when the chunk before commits; dropped unfired when it fails.
    earlier: Option<oneshot::Receiver<()>>,
}

/// Handed to the chunk a [`CommitTurn`] waits on: fired once it has committed.
#[derive(Debug)]
pub struct Committed(oneshot::Sender<()>);

impl CommitTurn {
    /// The turn of the first chunk of a stream (or of a lone batch): at once.
    pub fn now() -> Self {
        Self { earlier: None }
    }

    /// The turn of the chunk after this one, and what this one fires when it commits.
    pub fn next() -> (Committed, Self) {
        let (done, earlier) = oneshot::channel();
        (Committed(done), Self { earlier: Some(earlier) })
    }

    /// Whether the chunk before committed (it may have done so long ago).
    async fn earlier_committed(&mut self) -> bool {
        match self.earlier.take() {
            None => true,
            Some(earlier) => earlier.await.is_ok(),
        }
    }
}

impl Committed {
    pub fn fire(self) {
        // The next chunk may be gone already (its stream ended): nothing waits then.
        let _ = self.0.send(());
    }
}

/// One customer the batch touches, as it will be written.
struct Entry {
    id: CustomerId,
    /// Absent for customers this batch creates.
    stored: Option<customers::Model>,
    landlord: OrganisationName,
    tenure: Code,
    details: CustomerDetails,
    state: CustomerState,
    consent_time: Option<DateTime<Utc>>,
    /// The open tenure period: its row id (if stored) and start.
    open_period: Option<(Option<Uuid>, NaiveDate)>,
    /// A stored period this batch ends, and the day it ends.
    close_stored_period: Option<(Uuid, NaiveDate)>,
    /// Every stored period of a stored customer, for its encoding once written.
    stored_periods: Vec<tenure_periods::Model>,
    new_periods: Vec<TenurePeriod>,
    changed: bool,
}

pub(super) async fn apply(
    db: &DatabaseConnection,
    writer: Option<&SqliteWriter>,
    scope: &Scope,
    actor: &Actor,
    may_write_equality: bool,
    rows: &[ImportRow],
    turn: &mut CommitTurn,
) -> Result<ImportBatch, StoreError> {
    let now = persistence::now();
    let today = now.date_naive();
    // Matched and built before the write transaction, so that on either database
    // the next chunk is prepared while this one is written (the importer keeps two
    // chunks touching the same customer apart). A concurrent writer that changes a
    // matched customer in between fails the version check of the update below, and
    // one that creates a customer with the same reference fails the insert on the
    // unique key: either way the whole batch fails and the caller retries it
    // against the rows as they now are, so every row still gets its own outcome.
    let mut entries = load_entries(db, rows).await?;
    let mut outcomes = Vec::with_capacity(rows.len());
    for row in rows {
        outcomes.push((row.row, apply_row(&mut entries, scope, row, may_write_equality, now, today)));
    }

    let mut inserts = Vec::new();
    let mut updates = Vec::new();
    let mut closes = Vec::new();
    let mut periods = Vec::new();
    let mut audit_entries = Vec::new();
    for entry in entries.into_values().filter(|entry| entry.changed) {
        let parts = RowParts {
            landlord: Some(&entry.landlord),
            tenure: &entry.tenure,
            details: &entry.details,
            consent_time: entry.consent_time,
        };
        let new_periods: Vec<tenure_periods::ActiveModel> =
            entry.new_periods.iter().map(|period| period_row(entry.id, period)).collect();
        match entry.stored {
            None => {
                let mut row = new_row(entry.id, parts, now)?;
                // The customer the new row reads back as, built from what was
                // written rather than by reading the row (which parses its JSON
                // columns): the store's conformance tests hold the two equal.
                let customer = Customer {
                    id: entry.id,
                    landlord: Some(entry.landlord.clone()),
                    tenure: entry.tenure.clone(),
                    details: entry.details.clone(),
                    tenure_history: entry.new_periods.clone(),
                    state: CustomerState::Active,
                    consent_time: entry.consent_time,
                    create_time: now,
                    update_time: now,
                    delete_time: None,
                    version: 1,
                };
                seal(&mut row, customer);
                inserts.push(row);
            }
            Some(stored) => {
                // The customer's periods once this batch commits, for its encoding.
                let history = periods_after(entry.stored_periods, entry.close_stored_period, &new_periods)?;
                let version = stored.version;
                let mut row = stored.into_active_model();
                write_details(&mut row, parts)?;
                row.state = Set(entry.state.code().to_owned());
                row.delete_time = Set(None);
                seal_next_version(&mut row, version, now, history)?;
                row.id = sea_orm::ActiveValue::NotSet;
                let update = customers::Entity::update_many()
                    .set(row)
                    .filter(customers::Column::Id.eq(entry.id.uuid()))
                    .filter(customers::Column::Version.eq(version));
                updates.push((entry.id, update));
            }
        }
        if let Some((period_id, end)) = entry.close_stored_period {
            closes.push(
                tenure_periods::Entity::update_many()
                    .col_expr(tenure_periods::Column::EndDate, sea_orm::sea_query::Expr::value(Some(end)))
                    .filter(tenure_periods::Column::Id.eq(period_id)),
            );
        }
        periods.extend(new_periods);
        audit_entries
            .push(AuditEntry::new(entry.id.name()).special_category(entry.details.equality.any_recorded()));
    }
    let audit_rows = audit::rows_of(actor, audit_entries);
    // SQLite has one write lock: the chunk before must end before this one can
    // write, so wait for it here rather than in SQLite's busy handler, which
    // sleeps in steps of up to 100 ms. PostgreSQL writes both at once and only
    // commits in turn.
    if db.get_database_backend() == sea_orm::DatabaseBackend::Sqlite && !turn.earlier_committed().await {
        return Ok(ImportBatch::Withdrawn);
    }
    if let Some(writer) = writer {
        // A SQLite file: the whole chunk is one job of the writer thread, every row
        // bound to a statement prepared once, instead of a statement of 512 rows
        // rendered by sea-orm and handed to sqlx's thread for each table.
        let updates: Vec<_> = updates.into_iter().map(|(id, update)| (id, update.build(SQLITE))).collect();
        let closes: Vec<_> = closes.into_iter().map(|close| close.build(SQLITE)).collect();
        writer
            .transaction(move |connection| {
                for (id, update) in &updates {
                    if sqlite_writes::execute(connection, update)? != 1 {
                        return Err(StoreError::Conflict(id.name()));
                    }
                }
                for close in &closes {
                    sqlite_writes::execute(connection, close)?;
                }
                sqlite_writes::insert_each(connection, inserts)?;
                sqlite_writes::insert_each(connection, periods)?;
                sqlite_writes::insert_each(connection, audit_rows)?;
                Ok(())
            })
            .await?;
        return Ok(ImportBatch::Committed(outcomes));
    }
    // On PostgreSQL the new rows of all three tables go in by COPY.
    let mut txn = BulkWrite::begin(db).await?;
    for (id, update) in updates {
        if txn.execute(&update).await? != 1 {
            return Err(StoreError::Conflict(id.name()));
        }
    }
    for close in closes {
        txn.execute(&close).await?;
    }
    txn.insert_all(inserts).await?;
    txn.insert_all(periods).await?;
    txn.insert_all(audit_rows).await?;
    if !turn.earlier_committed().await {
        // Dropped uncommitted: rolled back.
        return Ok(ImportBatch::Withdrawn);
    }
    txn.commit().await?;
    Ok(ImportBatch::Committed(outcomes))
}

/// The stored customers the batch refers to, with their open tenure periods.
async fn load_entries(
    db: &DatabaseConnection,
    rows: &[ImportRow],
) -> Result<HashMap<(String, String), Entry>, StoreError> {
    let mut references: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for row in rows {
        if let Some(reference) = &row.details.external_reference {
            references.entry(row.landlord.as_str()).or_default().push(reference);
        }
    }
    let mut entries = HashMap::new();
    if references.is_empty() {
        return Ok(entries);
    }
    let mut condition = Condition::any();
    for (landlord, refs) in references {
        condition = condition.add(
            Condition::all()
                .add(customers::Column::LandlordOrganisation.eq(landlord))
                .add(customers::Column::ExternalReference.is_in(refs)),
        );
    }
    let stored = customers::Entity::find().filter(condition).all(db).await?;
    if stored.is_empty() {
        // A batch of new customers (every batch of a first load) needs no second query.
        return Ok(entries);
    }
    let mut stored_periods: HashMap<Uuid, Vec<tenure_periods::Model>> = HashMap::new();
    for period in tenure_periods::Entity::find()
        .filter(tenure_periods::Column::CustomerId.is_in(stored.iter().map(|row| row.id)))
        .all(db)
        .await?
    {
        stored_periods.entry(period.customer_id).or_default().push(period);
    }
    for row in stored {
        let customer = customer_from_row(row.clone(), Vec::new())?;
        let (Some(landlord), Some(reference)) =
            (customer.landlord, customer.details.external_reference.clone())
        else {
            continue;
        };
        let periods = stored_periods.remove(&row.id).unwrap_or_default();
        let open_period = periods
            .iter()
            .find(|period| period.end_date.is_none())
            .map(|period| (Some(period.id), period.start_date));
        entries.insert(
            (landlord.as_str().to_owned(), reference),
            Entry {
                id: customer.id,
                landlord,
                tenure: customer.tenure,
                details: customer.details,
                state: customer.state,
                consent_time: customer.consent_time,
                open_period,
                close_stored_period: None,
                stored_periods: periods,
                new_periods: Vec::new(),
                changed: false,
                stored: Some(row),
            },
        );
    }
    Ok(entries)
}

/// Decides one row's fate and folds it into `entries`.
///
/// A row may change only a customer its caller could change through
/// `UpdateCustomer`. A stored customer outside the caller's scope is never
/// overwritten, and its row fails exactly as `CreateCustomer` with that reference
/// would (`EXTERNAL_REFERENCE_TAKEN`), which says no more than that call does. A
/// deleted customer is not brought back by an import: its row fails
/// `CUSTOMER_DELETED`, and the landlord decides (the record stays available to
/// subject-access export until it is erased).
fn apply_row(
    entries: &mut HashMap<(String, String), Entry>,
    scope: &Scope,
    row: &ImportRow,
    may_write_equality: bool,
    now: DateTime<Utc>,
    today: NaiveDate,
) -> ImportOutcome {
    if !may_write_equality && row.details.equality.any_recorded() {
        return ImportOutcome::Failed(vec![FieldViolation::new(
            "customer.equality",
            "EQUALITY_NOT_PERMITTED",
            "this role may not record equality information",
        )]);
    }
    let reference = row.details.external_reference.clone().unwrap_or_default();
    let key = (row.landlord.as_str().to_owned(), reference);
    let Some(entry) = entries.get_mut(&key) else {
        let id = CustomerId::generate();
        let period = first_period(&row.tenure, Some(&row.landlord), today, now);
        entries.insert(
            key,
            Entry {
                id,
                stored: None,
                consent_time: row.details.contact_consent.then_some(now),
                landlord: row.landlord.clone(),
                tenure: row.tenure.clone(),
                details: row.details.clone(),
                state: CustomerState::Active,
                open_period: Some((None, today)),
                close_stored_period: None,
                stored_periods: Vec::new(),
                new_periods: vec![period],
                changed: true,
            },
        );
        return ImportOutcome::Created(id);
    };

    if let Some(stored) = &entry.stored {
        if !scope.admits(stored.landlord_organisation.as_deref(), stored.area.as_deref()) {
            return ImportOutcome::Failed(vec![FieldViolation::new(
                "customer.external_reference",
                "EXTERNAL_REFERENCE_TAKEN",
                "the landlord already has a customer with this external reference",
            )]);
        }
        if stored.state == CustomerState::Deleted.code() {
            return ImportOutcome::Failed(vec![FieldViolation::new(
                "customer.external_reference",
                "CUSTOMER_DELETED",
                "the customer with this external reference was deleted; an import does not bring it back",
            )]);
        }
    }
    let mut details = row.details.clone();
    if !may_write_equality {
        // Keep what is held: this caller can neither see nor replace it.
        details.equality = entry.details.equality.clone();
    }
    if entry.state == CustomerState::Active && entry.tenure == row.tenure && entry.details == details {
        return ImportOutcome::Unchanged(entry.id);
    }
    if entry.tenure != row.tenure {
        let history: Vec<TenurePeriod> = entry
            .open_period
            .map(|(_, start)| first_period(&entry.tenure, Some(&entry.landlord), start, now))
            .into_iter()
            .collect();
        let change = TenureChange {
            tenure: row.tenure.clone(),
            landlord: Some(entry.landlord.clone()),
            effective_date: today,
            reason: Some("import".to_owned()),
        };
        match plan_change(&history, Some(&entry.landlord), &entry.tenure, change, now) {
            Ok(transition) => {
                if let (Some((Some(stored), _)), Some(end)) = (entry.open_period, transition.close_current_on)
                {
                    entry.close_stored_period = Some((stored, end));
                } else if let Some(open) = entry.new_periods.last_mut() {
                    open.end_date = transition.close_current_on;
                }
                entry.open_period = Some((None, transition.next.start_date));
                entry.new_periods.push(transition.next);
                entry.tenure = row.tenure.clone();
            }
            Err(rule) => {
                return ImportOutcome::Failed(vec![FieldViolation::new(
                    "customer.tenure",
                    "TENURE_CHANGE_REFUSED",
                    rule.to_string(),
                )]);
            }
        }
    }
    if entry.details.contact_consent != details.contact_consent {
        entry.consent_time = Some(now);
    }
    entry.details = details;
    entry.state = CustomerState::Active;
    entry.changed = true;
    ImportOutcome::Updated(entry.id)
}

/// Rows PostgreSQL's `ANALYZE` samples are 300 times this; 10 (3,000 rows, against
/// 30,000 at the default 100) is enough to stop a growing table looking empty.
const QUICK_STATISTICS_TARGET: u32 = 10;

impl super::Store {
    /// Rows an import commits per transaction at most. On PostgreSQL the rows go
    /// in by `COPY`, so a batch costs mostly its nine round trips (begin, match,
    /// three copies of two each, commit), which 2,048 rows share. On SQLite a batch
    /// holds the one write lock for its whole transaction, keeping every other
    /// writer waiting, so it stays at 512.
    pub fn import_batch_rows(&self) -> usize {
        if self.db.get_database_backend() == sea_orm::DatabaseBackend::Postgres {
            4 * persistence::bulk::MAX_CHUNK
        } else {
            persistence::bulk::MAX_CHUNK
        }
    }

    /// A coarse refresh of the planner's statistics while an import is still
    /// loading (the full one runs when it ends): on PostgreSQL a tenth of the
    /// default sample, because at 100,000 customers a full `ANALYZE` of the three
    /// tables took a quarter of the database's time during an import.
    pub async fn refresh_statistics_quickly(&self) -> Result<(), StoreError> {
        if self.db.get_database_backend() != sea_orm::DatabaseBackend::Postgres {
            return self.refresh_statistics().await;
        }
        let txn = self.db.begin().await?;
        txn.execute_unprepared(&format!("SET LOCAL default_statistics_target = {QUICK_STATISTICS_TARGET}"))
            .await?;
        txn.execute_unprepared("ANALYZE customers, tenure_periods, audit_events").await?;
        txn.commit().await?;
        Ok(())
    }
}
