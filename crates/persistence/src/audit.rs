//! The audit log: who did what to which resource, and why.
//!
//! Entries are written through the same connection (transaction) as the change they
//! record, so a change and its audit row commit or roll back together. Reads of
//! special-category data are recorded too, flagged as such.
//!
//! Audit rows that record only a read (there is no change to commit them with) go
//! through an [`AuditWriter`]: a group commit, where the rows of every call waiting
//! at that moment share one transaction and one commit, and each call is answered
//! only once its own rows are durable.

use std::sync::OnceLock;

use chrono::{DateTime, Utc};
use sea_orm::entity::prelude::*;
use sea_orm::{ConnectionTrait, DatabaseConnection, QueryOrder, Set};
use tokio::sync::{mpsc, oneshot};

use crate::StoreError;

/// The caller on whose behalf a request runs, as the audit log records it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Actor {
    /// `organisations/{id}` of the caller.
    pub organisation: String,
    /// The caller's role name.
    pub role: String,
    /// The credential or user.
    pub subject: String,
    /// The fully qualified RPC: `involve.profiles.v1.CustomerProfiles/GetCustomer`.
    pub method: String,
    /// The stated purpose of the request.
    pub purpose: String,
    /// W3C trace id of the request, when there is one.
    pub trace_id: String,
}

/// One thing done to one resource.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditEntry {
    pub resource: String,
    /// Special-category (equality) data was read or written.
    pub special_category: bool,
}

impl AuditEntry {
    pub fn new(resource: impl Into<String>) -> Self {
        Self { resource: resource.into(), special_category: false }
    }

    pub fn special_category(mut self, special: bool) -> Self {
        self.special_category = special;
        self
    }
}

pub mod entity {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "audit_events")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub event_time: DateTimeUtc,
        pub organisation: String,
        pub role: String,
        pub subject: String,
        pub method: String,
        pub resource: String,
        pub purpose: String,
        pub special_category: bool,
        pub trace_id: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub use entity::Model as AuditEvent;

/// Writes one audit row per entry, all stamped with the same time.
pub async fn record<C: ConnectionTrait>(
    conn: &C,
    actor: &Actor,
    entries: impl IntoIterator<Item = AuditEntry>,
) -> Result<(), StoreError> {
    crate::bulk::insert_all(conn, rows_of(actor, entries)).await?;
    Ok(())
}

/// The audit rows of `entries`, all stamped with the same time (what [`record`]
/// inserts, for a store that runs its own statements).
pub fn rows_of(actor: &Actor, entries: impl IntoIterator<Item = AuditEntry>) -> Vec<entity::ActiveModel> {
    let now: DateTime<Utc> = Utc::now();
    entries
        .into_iter()
        .map(|entry| entity::ActiveModel {
            id: Set(Uuid::now_v7()),
            event_time: Set(now),
            organisation: Set(actor.organisation.clone()),
            role: Set(actor.role.clone()),
            subject: Set(actor.subject.clone()),
            method: Set(actor.method.clone()),
            resource: Set(entry.resource),
            purpose: Set(actor.purpose.clone()),
            special_category: Set(entry.special_category),
            trace_id: Set(actor.trace_id.clone()),
        })
        .collect()
}

/// Calls whose audit rows wait for the writer; beyond this, callers wait to enqueue
/// (back-pressure rather than unbounded memory).
const QUEUE: usize = 4096;
/// Calls whose rows share one commit at most: bounds one transaction's size and
/// the latency of the calls at the front of the queue.
const MAX_BATCH: usize = 512;

/// One call's rows and where to tell it they are durable.
struct Pending {
    rows: Vec<entity::ActiveModel>,
    done: oneshot::Sender<Result<(), StoreError>>,
}

/// Group commit for audit rows written on their own (reads): one writer task
/// drains every call queued while the previous commit ran, inserts all their rows
/// in one transaction and answers each call after the commit. A failed commit
/// fails every call of the batch, so no call is told its read was recorded when
/// it was not. The task starts on first use (so constructing one needs no runtime)
/// and ends when the writer is dropped.
#[derive(Debug)]
pub struct AuditWriter {
    db: DatabaseConnection,
    queue: OnceLock<mpsc::Sender<Pending>>,
}

impl AuditWriter {
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db, queue: OnceLock::new() }
    }

    /// Writes one audit row per entry and returns once they are committed.
    pub async fn record(
        &self,
        actor: &Actor,
        entries: impl IntoIterator<Item = AuditEntry>,
    ) -> Result<(), StoreError> {
        let rows = rows_of(actor, entries);
        if rows.is_empty() {
            return Ok(());
        }
        let queue = self.queue.get_or_init(|| {
            let (sender, receiver) = mpsc::channel(QUEUE);
            tokio::spawn(write_batches(self.db.clone(), receiver));
            sender
        });
        let (done, answer) = oneshot::channel();
        queue.send(Pending { rows, done }).await.map_err(|_| writer_gone())?;
        answer.await.map_err(|_| writer_gone())?
    }
}

/// The writer task: one transaction per batch of waiting calls.
async fn write_batches(db: DatabaseConnection, mut receiver: mpsc::Receiver<Pending>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while receiver.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let rows: Vec<entity::ActiveModel> =
            batch.iter_mut().flat_map(|pending| std::mem::take(&mut pending.rows)).collect();
        let outcome = commit(&db, rows).await;
        for pending in batch.drain(..) {
            // DbErr is Clone: every waiter gets the same failure, classified alike.
            let answer = outcome.clone().map_err(StoreError::from);
            // A caller that went away (cancelled) needs no answer; its rows are durable anyway.
            let _ = pending.done.send(answer);
        }
    }
}

async fn commit(db: &DatabaseConnection, rows: Vec<entity::ActiveModel>) -> Result<(), DbErr> {
    let txn = crate::begin_write(db).await?;
    crate::bulk::insert_all(&txn, rows).await?;
    txn.commit().await
}

/// The writer task is gone (the runtime is shutting down): nothing was recorded.
fn writer_gone() -> StoreError {
    StoreError::Unavailable(DbErr::Custom("the audit writer has stopped".to_owned()))
}

/// Every event about one resource, oldest first (for subject-access exports).
pub async fn for_resource<C: ConnectionTrait>(
    conn: &C,
    resource: &str,
) -> Result<Vec<AuditEvent>, StoreError> {
    Ok(entity::Entity::find()
        .filter(entity::Column::Resource.eq(resource))
        .order_by_asc(entity::Column::EventTime)
        .order_by_asc(entity::Column::Id)
        .all(conn)
        .await?)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::sync::Arc;
    use std::time::Duration;

    use sea_orm_migration::{MigrationTrait as _, SchemaManager};

    use super::*;
    use crate::DatabaseSettings;

    async fn database(dir: &tempfile::TempDir) -> DatabaseConnection {
        let url = format!("sqlite://{}/audit.db", dir.path().display());
        let settings = DatabaseSettings { url, max_connections: 4, acquire_timeout: Duration::from_secs(5) };
        let db = crate::connect(&settings, "profiles").await.unwrap();
        crate::shared_migrations::CreateAuditEvents.up(&SchemaManager::new(&db)).await.unwrap();
        db
    }

    fn actor() -> Actor {
        Actor { organisation: "organisations/riverside".into(), role: "partner".into(), ..Actor::default() }
    }

    #[tokio::test]
    async fn every_call_returns_only_once_its_rows_are_committed() {
        let dir = tempfile::tempdir().unwrap();
        let db = database(&dir).await;
        let writer = Arc::new(AuditWriter::new(db.clone()));
        let calls: Vec<_> = (0..64)
            .map(|call| {
                let (writer, db) = (Arc::clone(&writer), db.clone());
                tokio::spawn(async move {
                    let resource = format!("customers/{call}");
                    writer
                        .record(
                            &actor(),
                            [AuditEntry::new(&resource).special_category(true), AuditEntry::new("x")],
                        )
                        .await
                        .unwrap();
                    // Read on another connection: the row is committed, not just queued.
                    let rows = for_resource(&db, &resource).await.unwrap();
                    assert_eq!(rows.len(), 1, "{resource}");
                    assert!(rows[0].special_category);
                })
            })
            .collect();
        for call in calls {
            call.await.unwrap();
        }
        assert_eq!(for_resource(&db, "x").await.unwrap().len(), 64);
        writer.record(&actor(), []).await.unwrap();
    }

    #[tokio::test]
    async fn a_failed_commit_fails_every_call_in_it() {
        let dir = tempfile::tempdir().unwrap();
        let db = database(&dir).await;
        db.execute_unprepared("DROP TABLE audit_events").await.unwrap();
        let writer = Arc::new(AuditWriter::new(db.clone()));
        let calls: Vec<_> = (0..16)
            .map(|call| {
                let writer = Arc::clone(&writer);
                tokio::spawn(
                    async move { writer.record(&actor(), [AuditEntry::new(format!("c/{call}"))]).await },
                )
            })
            .collect();
        for call in calls {
            assert!(call.await.unwrap().is_err());
        }
    }
}
