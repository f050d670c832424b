//! Writes on SQLite as one job per transaction, and several transactions per commit.
//!
//! Through sqlx a write transaction is a hand-off to a worker thread and back for
//! every statement (`BEGIN`, each insert, `COMMIT`), and SQLite's write lock is held
//! across all of them, so the lock is held for several scheduler turns of a busy
//! runtime. Here a whole transaction is one closure, handed once to a writer thread
//! that owns a plain SQLite connection and runs it start to end.
//!
//! Group commit: the writer takes every job queued while it was busy, runs each
//! inside a savepoint of one transaction (a job that fails is rolled back to its
//! savepoint alone), and commits once. A job's caller is answered only after that
//! commit, so a call that returns success has its rows committed, as before (the
//! file is in WAL mode with `synchronous = NORMAL`, the same promise sqlx gave).
//!
//! Only a SQLite file has a writer; PostgreSQL and in-memory SQLite keep sea-orm.
//! Other writes still go through sqlx: they queue on SQLite's lock (busy handler)
//! alongside this connection, as two sqlx connections would.

use std::path::Path;
use std::sync::mpsc;

use rusqlite::types::ToSqlOutput;
use sea_orm::sea_query::Value;
use sea_orm::{
    ActiveModelTrait, ActiveValue, DatabaseConnection, DbBackend, EntityTrait, Iterable as _,
    QueryTrait as _, Statement,
};
use tokio::sync::oneshot;
use tracing::Instrument as _;

use crate::StoreError;
use crate::connect::SQLITE_BUSY_TIMEOUT;
use crate::sqlite_reads::{parameter, sqlite_error, sqlite_file, unavailable};

/// Prepared statements kept: a service has a handful of write shapes.
const STATEMENT_CACHE: usize = 64;
/// Transactions that share one commit at most: bounds the latency of the first
/// caller of a batch and the size of one commit.
const MAX_BATCH: usize = 256;

/// One thread owning the write connection to a SQLite file.
#[derive(Clone, Debug)]
pub struct SqliteWriter {
    jobs: mpsc::Sender<Box<dyn Job>>,
    /// The service the file belongs to, for database spans.
    namespace: std::sync::Arc<str>,
}

impl SqliteWriter {
    /// The writer for `db` when it is a SQLite file; `None` otherwise.
    pub fn for_database(db: &DatabaseConnection) -> Option<Self> {
        let path = sqlite_file(db)?;
        match Self::open(&path) {
            Ok(writer) => Some(writer),
            Err(err) => {
                tracing::warn!(error = %err, "cannot start the SQLite writer thread; writing through sqlx");
                None
            }
        }
    }

    /// A writer thread for `path`; it opens its connection on first use and stops
    /// when the last clone of this value is dropped.
    pub fn open(path: &Path) -> std::io::Result<Self> {
        let (jobs, receiver) = mpsc::channel::<Box<dyn Job>>();
        let namespace = crate::spans::namespace_of(path);
        let path = path.to_owned();
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || serve_writes(&path, &receiver))?;
        Ok(Self { jobs, namespace })
    }

    /// Runs `work` as one transaction on the writer's connection; returns once it
    /// is committed (or with its error, having written nothing). `work` runs
    /// inside a savepoint of a transaction other callers' work may share; its
    /// error (a service's own, or a [`StoreError`]) rolls back that savepoint alone.
    pub async fn transaction<T, E, W>(&self, work: W) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
        W: FnOnce(&rusqlite::Connection) -> Result<T, E> + Send + 'static,
    {
        let (done, answer) = oneshot::channel();
        let job = Box::new(Pending { work: Some(work), outcome: None, done });
        self.jobs.send(job).map_err(|_| E::from(unavailable("the SQLite writer has stopped")))?;
        // One span for the whole job: its statements are the service's own.
        let span = crate::spans::sqlite("TRANSACTION", "", &self.namespace);
        answer.instrument(span).await.map_err(|_| E::from(unavailable("the SQLite writer has stopped")))?
    }
}

/// Runs one statement built by sea-orm (`QueryTrait::build(DbBackend::Sqlite)`),
/// binding its values as sqlx would; the number of rows it changed.
pub fn execute(connection: &rusqlite::Connection, statement: &Statement) -> Result<usize, StoreError> {
    let values = statement.values.as_ref().map_or(&[][..], |values| values.0.as_slice());
    execute_text(connection, &statement.sql, values)
}

/// Runs the statement `sql` (kept prepared) with `values` bound in order.
fn execute_text(connection: &rusqlite::Connection, sql: &str, values: &[Value]) -> Result<usize, StoreError> {
    let mut prepared = connection.prepare_cached(sql).map_err(sqlite_error)?;
    let parameters: Vec<ToSqlOutput<'_>> = values.iter().map(parameter).collect::<Result<_, _>>()?;
    prepared.execute(rusqlite::params_from_iter(parameters)).map_err(sqlite_error)
}

/// Inserts `rows` one statement each, all bound to one prepared statement: the
/// fastest way SQLite takes many rows in one transaction. The text is rendered
/// by sea-orm once, from the first row, and again only for a row that sets other
/// columns; every other row costs its values alone. Returns how many were inserted.
pub fn insert_each<A>(
    connection: &rusqlite::Connection,
    rows: impl IntoIterator<Item = A>,
) -> Result<usize, StoreError>
where
    A: ActiveModelTrait,
{
    // The text of the statement last rendered, and which columns it sets.
    let mut rendered: Option<(String, Vec<bool>)> = None;
    let mut inserted = 0;
    for row in rows {
        let columns: Vec<bool> =
            <A::Entity as EntityTrait>::Column::iter().map(|column| !row.is_not_set(column)).collect();
        let fresh = match &rendered {
            Some((_, set)) if *set == columns && !cfg!(debug_assertions) => None,
            // Every test renders each row, to check its values line up with the text.
            _ => Some(A::Entity::insert(row.clone()).build(DbBackend::Sqlite)),
        };
        let values = set_values(row);
        if let Some(fresh) = fresh {
            debug_assert_eq!(Some(&values), fresh.values.as_ref().map(|values| &values.0));
            if let Some((sql, set)) = &rendered {
                debug_assert!(*set != columns || *sql == fresh.sql, "the columns set decide the text");
            }
            rendered = Some((fresh.sql, columns));
        }
        let sql = rendered
            .as_ref()
            .map(|(sql, _)| sql.as_str())
            .ok_or_else(|| unavailable("no statement rendered"))?;
        inserted += execute_text(connection, sql, &values)?;
    }
    Ok(inserted)
}

/// The values `row` sets, in the order sea-orm's `INSERT` lists them (the
/// entity's column order).
fn set_values<A: ActiveModelTrait>(mut row: A) -> Vec<Value> {
    <A::Entity as EntityTrait>::Column::iter()
        .filter_map(|column| match row.take(column) {
            ActiveValue::Set(value) | ActiveValue::Unchanged(value) => Some(value),
            ActiveValue::NotSet => None,
        })
        .collect()
}

/// A queued transaction, type-erased so one queue carries every caller's.
trait Job: Send {
    /// Runs the work; whether it succeeded (and its writes should be kept).
    fn run(&mut self, connection: &rusqlite::Connection) -> bool;
    /// Answers the caller once the batch's fate is known.
    fn finish(self: Box<Self>, commit: Result<(), &CommitFailure>);
    /// Answers the caller without running the work.
    fn fail(self: Box<Self>, failure: &CommitFailure);
}

struct Pending<T, E, W> {
    work: Option<W>,
    outcome: Option<Result<T, E>>,
    done: oneshot::Sender<Result<T, E>>,
}

impl<T, E, W> Job for Pending<T, E, W>
where
    T: Send + 'static,
    E: From<StoreError> + Send + 'static,
    W: FnOnce(&rusqlite::Connection) -> Result<T, E> + Send + 'static,
{
    fn run(&mut self, connection: &rusqlite::Connection) -> bool {
        let outcome = match self.work.take() {
            Some(work) => work(connection),
            None => Err(E::from(unavailable("a SQLite write job ran twice"))),
        };
        let ok = outcome.is_ok();
        self.outcome = Some(outcome);
        ok
    }

    fn finish(self: Box<Self>, commit: Result<(), &CommitFailure>) {
        let answer = match (self.outcome, commit) {
            // Its own failure wrote nothing whatever became of the batch.
            (Some(Err(err)), _) => Err(err),
            (Some(Ok(value)), Ok(())) => Ok(value),
            (Some(Ok(_)) | None, Err(failure)) => Err(E::from(failure.to_store_error())),
            (None, Ok(())) => Err(E::from(unavailable("a SQLite write job did not run"))),
        };
        // A caller that gave up needs no answer.
        let _ = self.done.send(answer);
    }

    fn fail(self: Box<Self>, failure: &CommitFailure) {
        let _ = self.done.send(Err(E::from(failure.to_store_error())));
    }
}

/// Why a batch was not committed, told to each of its callers.
struct CommitFailure {
    busy: bool,
    message: String,
}

impl CommitFailure {
    fn of(err: &StoreError) -> Self {
        Self { busy: matches!(err, StoreError::Unavailable(_)), message: err.to_string() }
    }

    fn to_store_error(&self) -> StoreError {
        let err = sea_orm::DbErr::Custom(format!("SQLite commit: {}", self.message));
        if self.busy { StoreError::Unavailable(err) } else { StoreError::Database(err) }
    }
}

/// The writer thread: one transaction per batch of queued jobs.
fn serve_writes(path: &Path, jobs: &mpsc::Receiver<Box<dyn Job>>) {
    let mut connection: Option<rusqlite::Connection> = None;
    let mut batch: Vec<Box<dyn Job>> = Vec::with_capacity(MAX_BATCH);
    while let Ok(first) = jobs.recv() {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match jobs.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        let opened = match connection.take() {
            Some(open) => Ok(open),
            None => open_connection(path),
        };
        match opened {
            Ok(open) => {
                run_batch(&open, &mut batch);
                // A connection left inside a transaction (a failed rollback) is
                // closed; the next batch opens a fresh one.
                if open.is_autocommit() {
                    connection = Some(open);
                }
            }
            Err(err) => {
                let failure = CommitFailure::of(&err);
                batch.drain(..).for_each(|job| job.fail(&failure));
            }
        }
    }
}

/// Runs every job of `batch` in one transaction, each in a savepoint, commits,
/// and answers every caller.
fn run_batch(connection: &rusqlite::Connection, batch: &mut Vec<Box<dyn Job>>) {
    if let Err(err) = connection.execute_batch("BEGIN IMMEDIATE").map_err(sqlite_error) {
        let failure = CommitFailure::of(&err);
        batch.drain(..).for_each(|job| job.fail(&failure));
        return;
    }
    let mut broken: Option<StoreError> = None;
    for job in batch.iter_mut() {
        if let Err(err) = connection.execute_batch("SAVEPOINT job").map_err(sqlite_error) {
            broken = Some(err);
            break;
        }
        // A job that panics is rolled back and answered as failed (it has no
        // outcome); the writer thread, which every other write needs, carries on.
        let kept = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job.run(connection)));
        let undo = if kept.unwrap_or(false) { "RELEASE job" } else { "ROLLBACK TO job; RELEASE job" };
        if let Err(err) = connection.execute_batch(undo).map_err(sqlite_error) {
            broken = Some(err);
            break;
        }
    }
    let committed = match broken {
        Some(err) => Err(err),
        None => connection.execute_batch("COMMIT").map_err(sqlite_error),
    };
    match committed {
        Ok(()) => batch.drain(..).for_each(|job| job.finish(Ok(()))),
        Err(err) => {
            if !connection.is_autocommit() {
                // If even this fails the connection is dropped (see serve_writes).
                let _ = connection.execute_batch("ROLLBACK");
            }
            let failure = CommitFailure::of(&err);
            batch.drain(..).for_each(|job| job.finish(Err(&failure)));
        }
    }
}

fn open_connection(path: &Path) -> Result<rusqlite::Connection, StoreError> {
    use rusqlite::OpenFlags;
    // Not CREATE: the file exists (sea-orm made it, in WAL mode, which persists).
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let connection = rusqlite::Connection::open_with_flags(path, flags).map_err(sqlite_error)?;
    connection.busy_timeout(SQLITE_BUSY_TIMEOUT).map_err(sqlite_error)?;
    // The same settings as the sqlx connections (see connect.rs).
    connection
        .execute_batch("PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; PRAGMA secure_delete = ON;")
        .map_err(sqlite_error)?;
    connection.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    Ok(connection)
}

#[cfg(test)]
// The entity derives make public items.
#[allow(unreachable_pub)]
mod tests {
    use std::time::Duration;

    use sea_orm::{
        ConnectionTrait as _, DbBackend, EntityTrait as _, QueryOrder as _, QueryTrait as _, Schema, Set,
    };

    use super::*;
    use crate::UniqueKey;

    mod thing {
        use sea_orm::entity::prelude::*;

        #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
        #[sea_orm(table_name = "things")]
        pub struct Model {
            #[sea_orm(primary_key, auto_increment = false)]
            pub id: i64,
            pub at: DateTimeUtc,
            pub note: Option<String>,
        }

        #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
        pub enum Relation {}

        impl ActiveModelBehavior for ActiveModel {}
    }

    const THING_KEY: UniqueKey = UniqueKey { name: "things_pkey", table: "things", columns: &["id"] };

    async fn database() -> (tempfile::TempDir, DatabaseConnection) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/writes.db", dir.path().display());
        let settings =
            crate::DatabaseSettings { url, max_connections: 2, acquire_timeout: Duration::from_secs(5) };
        let db = crate::connect(&settings, "profiles").await.unwrap();
        let schema = Schema::new(DbBackend::Sqlite);
        db.execute(&schema.create_table_from_entity(thing::Entity)).await.unwrap();
        (dir, db)
    }

    fn insert(id: i64) -> Statement {
        let row = thing::ActiveModel {
            id: Set(id),
            at: Set(chrono::Utc::now()),
            note: Set(Some(format!("thing {id}"))),
        };
        thing::Entity::insert(row).build(DbBackend::Sqlite)
    }

    /// Runs `statements` as one transaction of `writer`.
    async fn write(writer: &SqliteWriter, statements: Vec<Statement>) -> Result<(), StoreError> {
        writer
            .transaction(move |connection| {
                statements.iter().try_for_each(|statement| execute(connection, statement).map(|_| ()))
            })
            .await
    }

    #[tokio::test]
    async fn concurrent_transactions_commit_alone_and_fail_alone() {
        let (_dir, db) = database().await;
        let writer = SqliteWriter::for_database(&db).expect("a SQLite file");
        write(&writer, vec![insert(1)]).await.unwrap();

        // Many at once, so they share commits; one of them collides with row 1
        // after inserting row 100, which must be rolled back with it.
        let mut calls = Vec::new();
        for id in 2..40 {
            let writer = writer.clone();
            calls
                .push(tokio::spawn(async move { write(&writer, vec![insert(id), insert(id + 1000)]).await }));
        }
        let doomed = write(&writer, vec![insert(100), insert(1)]);
        let refused = doomed.await.unwrap_err();
        assert!(refused.violates(&THING_KEY), "{refused:?}");
        for call in calls {
            call.await.unwrap().unwrap();
        }

        // Every committed row is there through sea-orm (and sqlx reads what was bound).
        let rows = thing::Entity::find().order_by_asc(thing::Column::Id).all(&db).await.unwrap();
        let ids: Vec<i64> = rows.iter().map(|row| row.id).collect();
        let expected: Vec<i64> = (1..40).chain(1002..1040).collect();
        assert_eq!(ids, expected);
        assert_eq!(rows[1].note.as_deref(), Some("thing 2"));
    }

    #[tokio::test]
    async fn a_job_that_panics_fails_alone() {
        let (_dir, db) = database().await;
        let writer = SqliteWriter::for_database(&db).expect("a SQLite file");
        let failed: Result<(), StoreError> = writer
            .transaction(|connection| {
                execute(connection, &insert(5))?;
                panic!("a bug in a job");
            })
            .await;
        assert!(matches!(failed, Err(StoreError::Unavailable(_))), "{failed:?}");
        write(&writer, vec![insert(6)]).await.unwrap();
        let ids: Vec<i64> = thing::Entity::find().all(&db).await.unwrap().iter().map(|row| row.id).collect();
        assert_eq!(ids, [6]);
    }

    #[tokio::test]
    async fn a_failing_job_writes_nothing_and_says_why() {
        let (_dir, db) = database().await;
        let writer = SqliteWriter::for_database(&db).expect("a SQLite file");
        let failed: Result<(), StoreError> = writer
            .transaction(|connection| {
                execute(connection, &insert(7))?;
                Err(StoreError::Conflict("changed my mind".into()))
            })
            .await;
        assert!(matches!(failed, Err(StoreError::Conflict(_))), "{failed:?}");
        assert!(thing::Entity::find().all(&db).await.unwrap().is_empty());
        // A value comes back from a committed job.
        let changed: usize = writer.transaction(|connection| execute(connection, &insert(8))).await.unwrap();
        assert_eq!(changed, 1);
    }

    #[tokio::test]
    async fn rows_inserted_one_by_one_read_back_as_sea_orm_wrote_them() {
        let (_dir, db) = database().await;
        let writer = SqliteWriter::for_database(&db).expect("a SQLite file");
        let at = chrono::DateTime::parse_from_rfc3339("2026-12-06T10:11:12.345678Z").unwrap().to_utc();
        let row = |id: i64, note: Option<Option<&str>>| thing::ActiveModel {
            id: Set(id),
            at: Set(at),
            note: note.map_or(sea_orm::ActiveValue::NotSet, |note| Set(note.map(str::to_owned))),
        };
        // Two shapes: a row that leaves `note` out renders a text of its own,
        // and the rows after it go back to the first.
        let rows =
            vec![row(1, Some(Some("one"))), row(2, None), row(3, Some(None)), row(4, Some(Some("four")))];
        let inserted = writer.transaction(move |connection| insert_each(connection, rows)).await.unwrap();
        assert_eq!(inserted, 4);
        let read = thing::Entity::find().order_by_asc(thing::Column::Id).all(&db).await.unwrap();
        let notes: Vec<Option<&str>> = read.iter().map(|row| row.note.as_deref()).collect();
        assert_eq!(notes, [Some("one"), None, None, Some("four")]);
        assert!(read.iter().all(|row| row.at == at), "times read back as bound: {read:?}");
        // A failing row fails the job, and none of its rows stay.
        let clash = vec![row(5, Some(Some("five"))), row(1, Some(Some("again")))];
        let failed = writer.transaction(move |connection| insert_each(connection, clash)).await;
        assert!(matches!(failed, Err(StoreError::UniqueViolation(_))), "{failed:?}");
        assert_eq!(thing::Entity::find().all(&db).await.unwrap().len(), 4);
    }
}
