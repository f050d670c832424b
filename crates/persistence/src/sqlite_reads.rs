//! Reads on SQLite with one thread hand-off per call instead of one per statement.
//!
//! sqlx runs each SQLite connection on a worker thread of its own and hands it
//! every statement, and every row back, over channels: measured under load, the
//! wake-ups of those threads cost more than the queries. Here a read is the same
//! sea-orm query (so scoping and every filter are written once, for both
//! databases), rendered to SQL and handed once to a reader thread that owns a
//! plain SQLite connection and reuses its prepared statements.
//!
//! Only reads come this way: the connections are `query_only`, and every write
//! still goes through sea-orm and its transactions. Under WAL a read started after
//! a commit sees it, whichever connection made it. PostgreSQL, and in-memory SQLite
//! databases (which a second connection could not open), keep the sea-orm path.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};

use chrono::{DateTime, NaiveDateTime, Utc};
use rusqlite::types::{ToSqlOutput, ValueRef};
use sea_orm::sea_query::{ColumnType, Value, Values};
use sea_orm::{
    ActiveModelTrait, DatabaseConnection, DbBackend, DbErr, EntityTrait, QueryTrait as _, Select, Statement,
    TryIntoModel,
};
use tokio::sync::oneshot;
use tracing::Instrument as _;

use crate::StoreError;
use crate::connect::SQLITE_BUSY_TIMEOUT;
use crate::sqlite_rows::Decoder;

/// Prepared statements kept per connection: a service has a handful of read shapes.
const STATEMENT_CACHE: usize = 64;

/// How much of a database file a reader maps (`PRAGMA mmap_size`).
const READ_MAP_BYTES: i64 = 256 * 1024 * 1024;

/// A read for a reader thread: given its connection (or why it has none), it
/// runs and sends its answer back to the waiting call.
type Job = Box<dyn FnOnce(Result<&rusqlite::Connection, StoreError>) + Send>;

/// Read-only SQLite connections to one database file, each owned by a thread of
/// its own that runs the reads queued for it one after another. Under load a
/// reader finds the next read already queued, so most reads cost no wake-up at
/// all; a thread pool (`spawn_blocking`) parks and wakes a thread for each.
#[derive(Clone, Debug)]
pub struct SqliteReads {
    readers: Arc<[Reader]>,
    nearby: Arc<Nearby>,
    /// The service the file belongs to, for database spans.
    namespace: Arc<str>,
}

#[derive(Debug)]
struct Reader {
    jobs: mpsc::Sender<Job>,
    /// Reads queued or running on this reader: calls go to the least busy one.
    queued: Arc<AtomicUsize>,
}

/// How the reader connections plan their statements.
#[derive(Clone, Copy, Debug, Default)]
pub struct ReadSettings {
    /// SQLite's query planner stability guarantee (`SQLITE_DBCONFIG_ENABLE_QPSG`):
    /// plans never depend on bound values. The bundled SQLite keeps STAT4
    /// statistics (once `PRAGMA optimize` has run), and then a statement whose
    /// plan looked at a bound value (a scope's organisation, say) expires at every
    /// new binding and is parsed and planned again: measured, a quarter of the
    /// readers' time on `ListCustomers`. With this on, a cached statement stays
    /// prepared; for reads whose plans are index lookups whatever the values. Off
    /// by default: a read whose best plan depends on the values keeps STAT4's help.
    pub stable_plans: bool,
}

impl SqliteReads {
    /// The fast read path for `db` when it is a SQLite file; `None` otherwise
    /// (PostgreSQL, or an in-memory database).
    pub fn for_database(db: &DatabaseConnection) -> Option<Self> {
        Self::for_database_with(db, ReadSettings::default())
    }

    /// As [`Self::for_database`], with reader connections set up as `settings` says.
    pub fn for_database_with(db: &DatabaseConnection, settings: ReadSettings) -> Option<Self> {
        let path = sqlite_file(db)?;
        let pool = db.get_sqlite_connection_pool();
        // More readers than cores only adds switching; more than the pool's
        // connections would exceed the limit configured.
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        let configured = usize::try_from(pool.options().get_max_connections()).unwrap_or(1);
        match Self::open_with(&path, configured.min(cores), settings) {
            Ok(reads) => Some(reads),
            Err(err) => {
                tracing::warn!(error = %err, "cannot start SQLite reader threads; reading through sqlx");
                None
            }
        }
    }

    /// `readers` threads reading `path`; each opens its connection on first use
    /// and stops when the last clone of this value is dropped.
    pub fn open(path: &Path, readers: usize) -> std::io::Result<Self> {
        Self::open_with(path, readers, ReadSettings::default())
    }

    /// As [`Self::open`], with reader connections set up as `settings` says.
    pub fn open_with(path: &Path, readers: usize, settings: ReadSettings) -> std::io::Result<Self> {
        let mut started = Vec::with_capacity(readers.max(1));
        for _ in 0..readers.max(1) {
            let (jobs, receiver) = mpsc::channel::<Job>();
            let queued = Arc::new(AtomicUsize::new(0));
            let (path, in_queue) = (path.to_owned(), Arc::clone(&queued));
            std::thread::Builder::new()
                .name("sqlite-reader".into())
                .spawn(move || serve_reads(&path, settings, &receiver, &in_queue))?;
            started.push(Reader { jobs, queued });
        }
        let nearby = Nearby::new(path, settings, readers.max(1));
        Ok(Self {
            readers: started.into(),
            nearby: Arc::new(nearby),
            namespace: crate::spans::namespace_of(path),
        })
    }

    /// Every row `query` selects, as sea-orm would return them.
    pub async fn all<E>(&self, query: Select<E>) -> Result<Vec<E::Model>, StoreError>
    where
        E: EntityTrait,
        E::ActiveModel: TryIntoModel<E::Model> + Send,
        E::Model: Send + 'static,
    {
        let statement = query.build(DbBackend::Sqlite);
        let span = crate::spans::sqlite("SELECT", E::default().table_name(), &self.namespace);
        self.run(move |connection| models::<E>(connection, &statement)).instrument(span).await
    }

    /// Every row of `sql` bound to `values`, read by `decoder` on a reader
    /// thread: for scans and searches, whose time grows with the data.
    pub async fn scan<T: Send + 'static>(
        &self,
        table: &str,
        sql: Arc<str>,
        values: Values,
        decoder: Decoder<T>,
    ) -> Result<Vec<T>, StoreError> {
        let span = crate::spans::sqlite("SELECT", table, &self.namespace);
        self.run(move |connection| decoded(connection, &sql, &values, decoder)).instrument(span).await
    }

    /// As [`Self::scan`], for a lookup by key (a few rows through an index):
    /// run on the calling thread when one of its connections is free, which
    /// costs no thread hand-off at all. A lookup takes microseconds, well inside
    /// what a Tokio worker may spend between awaits; scans and searches, whose
    /// time grows with the data, keep to the reader threads.
    pub async fn lookup<T: Send + 'static>(
        &self,
        table: &str,
        sql: Arc<str>,
        values: Values,
        decoder: Decoder<T>,
    ) -> Result<Vec<T>, StoreError> {
        let span = crate::spans::sqlite("SELECT", table, &self.namespace);
        self.run_nearby(span, move |connection| decoded(connection, &sql, &values, decoder)).await
    }

    /// Runs `work` on an idle connection of the calling thread's, or on a
    /// reader thread when none is free or the file is busy.
    async fn run_nearby<T, W>(&self, span: tracing::Span, work: W) -> Result<T, StoreError>
    where
        T: Send + 'static,
        W: Fn(&rusqlite::Connection) -> Result<T, StoreError> + Send + 'static,
    {
        if let Some(connection) = self.nearby.take() {
            match span.in_scope(|| work(&connection)) {
                // Busy (a checkpoint or recovery holds the file for a moment):
                // wait for it on a reader thread, never on a Tokio worker.
                Err(StoreError::Unavailable(_)) => self.nearby.discard(connection),
                answer => {
                    self.nearby.give_back(connection);
                    return answer;
                }
            }
        }
        self.run(work).instrument(span).await
    }

    /// Runs `work` on the least busy reader's connection: the one hand-off.
    async fn run<T, W>(&self, work: W) -> Result<T, StoreError>
    where
        T: Send + 'static,
        W: FnOnce(&rusqlite::Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let reader = self
            .readers
            .iter()
            .min_by_key(|reader| reader.queued.load(Ordering::Relaxed))
            .ok_or_else(|| unavailable("no SQLite reader"))?;
        let (done, answer) = oneshot::channel();
        let job: Job = Box::new(move |connection| {
            // A caller that gave up needs no answer.
            let _ = done.send(connection.and_then(work));
        });
        reader.queued.fetch_add(1, Ordering::Relaxed);
        if reader.jobs.send(job).is_err() {
            reader.queued.fetch_sub(1, Ordering::Relaxed);
            return Err(unavailable("the SQLite reader has stopped"));
        }
        answer.await.map_err(|_| unavailable("the SQLite reader has stopped"))?
    }
}

/// Every row a statement built from a `Select<E>` returns, as sea-orm would
/// return them, read on `connection` (a reader's, or the writer's inside its
/// transaction).
pub fn models<E>(
    connection: &rusqlite::Connection,
    statement: &Statement,
) -> Result<Vec<E::Model>, StoreError>
where
    E: EntityTrait,
    E::ActiveModel: TryIntoModel<E::Model>,
{
    query_rows(connection, &statement.sql, statement.values.as_ref(), |prepared| {
        let columns = Layout::of::<E>(&prepared.column_names(), "")?;
        Ok(move |row: &rusqlite::Row<'_>| columns.model::<E>(row))
    })
}

/// Every row of `sql` bound to `values`, read by `decoder`. The decoder checks
/// the statement's column names once per statement text on each thread, not on
/// every call: the names are the aliases the text itself gives its columns, so
/// the same text always has the same ones (reading and comparing 49 names was
/// 3% of a `GetCustomer`).
pub fn decoded<T>(
    connection: &rusqlite::Connection,
    sql: &Arc<str>,
    values: &Values,
    decoder: Decoder<T>,
) -> Result<Vec<T>, StoreError> {
    query_rows(connection, sql, Some(values), |statement| {
        if !checked_shapes::contains(sql, decoder.columns) {
            (decoder.columns)(&statement.column_names())?;
            checked_shapes::insert(sql, decoder.columns);
        }
        Ok(decoder.row)
    })
}

/// The statement texts whose columns a decoder has accepted, on this thread.
/// Each entry holds its text, so no other text can take its address while it
/// is here; a service has a few dozen read shapes, and the list starts over if
/// it ever holds more than [`CHECKED_SHAPES`].
mod checked_shapes {
    use std::cell::RefCell;
    use std::sync::Arc;

    use crate::StoreError;

    /// Far more read shapes than any service has.
    const CHECKED_SHAPES: usize = 256;

    type Check = fn(&[&str]) -> Result<(), StoreError>;

    thread_local! {
        static CHECKED: RefCell<Vec<(Arc<str>, Check)>> = const { RefCell::new(Vec::new()) };
    }

    pub(super) fn contains(sql: &Arc<str>, check: Check) -> bool {
        CHECKED.with_borrow(|checked| {
            checked
                .iter()
                .any(|(text, accepted)| Arc::ptr_eq(text, sql) && std::ptr::fn_addr_eq(*accepted, check))
        })
    }

    pub(super) fn insert(sql: &Arc<str>, check: Check) {
        CHECKED.with_borrow_mut(|checked| {
            if checked.len() >= CHECKED_SHAPES {
                checked.clear();
            }
            checked.push((Arc::clone(sql), check));
        });
    }
}

/// Connections for lookups run on the calling thread: one per thread that may
/// be running one at a time (never more than `limit`), kept while idle.
#[derive(Debug)]
struct Nearby {
    path: std::path::PathBuf,
    settings: ReadSettings,
    idle: Mutex<Vec<rusqlite::Connection>>,
    /// Connections open, idle or in use.
    open: AtomicUsize,
    limit: usize,
}

impl Nearby {
    fn new(path: &Path, settings: ReadSettings, limit: usize) -> Self {
        Self {
            path: path.to_owned(),
            settings,
            idle: Mutex::new(Vec::new()),
            open: AtomicUsize::new(0),
            limit,
        }
    }

    /// An idle connection, or a new one while fewer than `limit` are open;
    /// `None` sends the read to a reader thread.
    fn take(&self) -> Option<rusqlite::Connection> {
        if let Some(connection) = self.idle.lock().ok().and_then(|mut idle| idle.pop()) {
            return Some(connection);
        }
        if self.open.fetch_add(1, Ordering::Relaxed) >= self.limit {
            self.open.fetch_sub(1, Ordering::Relaxed);
            return None;
        }
        // Never wait on a lock here: a busy file is left to the reader threads.
        match open_connection(&self.path, self.settings).and_then(|connection| {
            connection.busy_timeout(std::time::Duration::ZERO).map_err(sqlite_error)?;
            Ok(connection)
        }) {
            Ok(connection) => Some(connection),
            Err(err) => {
                self.open.fetch_sub(1, Ordering::Relaxed);
                tracing::debug!(error = %err, "cannot open a SQLite connection for lookups");
                None
            }
        }
    }

    fn give_back(&self, connection: rusqlite::Connection) {
        // A connection left inside a transaction (a failed read) is closed.
        if !connection.is_autocommit() {
            return self.discard(connection);
        }
        match self.idle.lock() {
            Ok(mut idle) => idle.push(connection),
            Err(_) => self.discard(connection),
        }
    }

    fn discard(&self, connection: rusqlite::Connection) {
        drop(connection);
        self.open.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The file of `db` when it is a SQLite file (not PostgreSQL, not in memory).
pub(crate) fn sqlite_file(db: &DatabaseConnection) -> Option<std::path::PathBuf> {
    if db.get_database_backend() != DbBackend::Sqlite {
        return None;
    }
    let path = db.get_sqlite_connection_pool().connect_options().get_filename().to_owned();
    path.is_file().then_some(path)
}

/// A reader thread: runs queued reads until every sender is gone.
fn serve_reads(path: &Path, settings: ReadSettings, jobs: &mpsc::Receiver<Job>, queued: &AtomicUsize) {
    let mut connection: Option<rusqlite::Connection> = None;
    while let Ok(job) = jobs.recv() {
        let opened = match connection.take() {
            Some(open) => Ok(open),
            None => open_connection(path, settings),
        };
        match opened {
            Ok(open) => {
                job(Ok(&open));
                // A connection left inside a transaction (a failed read) is
                // closed; the next read opens a fresh one.
                if open.is_autocommit() {
                    connection = Some(open);
                }
            }
            Err(err) => job(Err(err)),
        }
        queued.fetch_sub(1, Ordering::Relaxed);
    }
}

fn open_connection(path: &Path, settings: ReadSettings) -> Result<rusqlite::Connection, StoreError> {
    use rusqlite::OpenFlags;
    // Not CREATE: the file exists (sea-orm made it). READ_WRITE, not READ_ONLY, so
    // the connection may set up the WAL index like any other; query_only keeps it
    // from writing.
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let connection = rusqlite::Connection::open_with_flags(path, flags).map_err(sqlite_error)?;
    connection.busy_timeout(SQLITE_BUSY_TIMEOUT).map_err(sqlite_error)?;
    connection.pragma_update(None, "query_only", true).map_err(sqlite_error)?;
    // Pages read straight from the operating system's cache through a mapping: a
    // scan over a team's open cases touches more pages than the default 2 MiB page
    // cache holds, and each miss was a `pread` and a copy (a fifth of a queue's
    // samples). The mapped pages are the page cache's own, not a second copy.
    connection.pragma_update(None, "mmap_size", READ_MAP_BYTES).map_err(sqlite_error)?;
    if settings.stable_plans {
        connection
            .set_db_config(rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)
            .map_err(sqlite_error)?;
    }
    connection.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    Ok(connection)
}

/// Runs `sql` with `values` and decodes each row with the decoder `prepare`
/// makes from the prepared statement (its column names).
fn query_rows<T, D, P>(
    connection: &rusqlite::Connection,
    sql: &str,
    values: Option<&sea_orm::sea_query::Values>,
    prepare: P,
) -> Result<Vec<T>, StoreError>
where
    P: FnOnce(&rusqlite::Statement<'_>) -> Result<D, StoreError>,
    D: Fn(&rusqlite::Row<'_>) -> Result<T, StoreError>,
{
    let mut statement = connection.prepare_cached(sql).map_err(sqlite_error)?;
    let decode = prepare(&statement)?;
    let parameters: Vec<ToSqlOutput<'_>> =
        values.map_or(Ok(Vec::new()), |values| values.0.iter().map(parameter).collect())?;
    let mut rows = statement.query(rusqlite::params_from_iter(parameters)).map_err(sqlite_error)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(sqlite_error)? {
        out.push(decode(row)?);
    }
    Ok(out)
}

/// A sea-query value bound as sqlx binds it on SQLite (UUIDs as 16-byte blobs,
/// booleans as integers, times as RFC 3339 text), so comparisons match what
/// sea-orm wrote.
pub(crate) fn parameter(value: &Value) -> Result<ToSqlOutput<'_>, StoreError> {
    use rusqlite::types::Value as Owned;
    let null = ToSqlOutput::Owned(Owned::Null);
    // Value has many variants no query of ours binds; those are refused, not guessed.
    #[allow(clippy::wildcard_enum_match_arm)]
    let bound = match value {
        Value::Bool(v) => v.map_or(null, |v| ToSqlOutput::Owned(Owned::Integer(i64::from(v)))),
        Value::TinyInt(v) => v.map_or(null, |v| ToSqlOutput::Owned(Owned::Integer(i64::from(v)))),
        Value::SmallInt(v) => v.map_or(null, |v| ToSqlOutput::Owned(Owned::Integer(i64::from(v)))),
        Value::Int(v) => v.map_or(null, |v| ToSqlOutput::Owned(Owned::Integer(i64::from(v)))),
        Value::BigInt(v) => v.map_or(null, |v| ToSqlOutput::Owned(Owned::Integer(v))),
        Value::TinyUnsigned(v) => v.map_or(null, |v| ToSqlOutput::Owned(Owned::Integer(i64::from(v)))),
        Value::SmallUnsigned(v) => v.map_or(null, |v| ToSqlOutput::Owned(Owned::Integer(i64::from(v)))),
        Value::Unsigned(v) => v.map_or(null, |v| ToSqlOutput::Owned(Owned::Integer(i64::from(v)))),
        Value::BigUnsigned(v) => match v {
            Some(v) => ToSqlOutput::Owned(Owned::Integer(
                i64::try_from(*v).map_err(|_| unsupported("an unsigned value beyond i64"))?,
            )),
            None => null,
        },
        Value::String(v) => {
            v.as_deref().map_or(null, |v| ToSqlOutput::Borrowed(ValueRef::Text(v.as_bytes())))
        }
        Value::Bytes(v) => v.as_deref().map_or(null, |v| ToSqlOutput::Borrowed(ValueRef::Blob(v))),
        Value::Uuid(v) => v.as_ref().map_or(null, |v| ToSqlOutput::Borrowed(ValueRef::Blob(v.as_bytes()))),
        Value::ChronoDate(v) => {
            v.map_or(null, |v| ToSqlOutput::Owned(Owned::Text(v.format("%F").to_string())))
        }
        Value::ChronoDateTimeUtc(v) => v.map_or(null, |v| {
            ToSqlOutput::Owned(Owned::Text(v.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, false)))
        }),
        other => return Err(unsupported(&format!("a bound value {other:?}"))),
    };
    Ok(bound)
}

/// How a column's stored value becomes a sea-query value of the model's type.
#[derive(Clone, Copy, Debug)]
enum Kind {
    Uuid,
    Text,
    Date,
    TimestampUtc,
    Bool,
    Int,
    BigInt,
    Bytes,
}

impl Kind {
    fn of(column_type: &ColumnType) -> Option<Self> {
        #[allow(clippy::wildcard_enum_match_arm)] // the types our entities use; the rest are refused
        match column_type {
            ColumnType::Uuid => Some(Self::Uuid),
            ColumnType::String(_) | ColumnType::Text | ColumnType::Char(_) => Some(Self::Text),
            ColumnType::Date => Some(Self::Date),
            ColumnType::TimestampWithTimeZone => Some(Self::TimestampUtc),
            ColumnType::Boolean => Some(Self::Bool),
            ColumnType::Integer => Some(Self::Int),
            ColumnType::BigInteger => Some(Self::BigInt),
            ColumnType::Binary(_) | ColumnType::VarBinary(_) | ColumnType::Blob => Some(Self::Bytes),
            _ => None,
        }
    }

    fn decode(self, value: ValueRef<'_>, column: &str) -> Result<Value, StoreError> {
        use crate::sqlite_rows::{date_of, integer_of, text_of, time_of, uuid_of};
        let corrupt = || StoreError::corrupt(format!("column {column}: unexpected {:?}", value.data_type()));
        if let ValueRef::Null = value {
            return Ok(match self {
                Self::Uuid => Value::Uuid(None),
                Self::Text => Value::String(None),
                Self::Date => Value::ChronoDate(None),
                Self::TimestampUtc => Value::ChronoDateTimeUtc(None),
                Self::Bool => Value::Bool(None),
                Self::Int => Value::Int(None),
                Self::BigInt => Value::BigInt(None),
                Self::Bytes => Value::Bytes(None),
            });
        }
        let integer = || integer_of(value).ok_or_else(corrupt);
        Ok(match self {
            Self::Uuid => Value::Uuid(Some(uuid_of(value).ok_or_else(corrupt)?)),
            Self::Text => Value::String(Some(text_of(value).ok_or_else(corrupt)?.to_owned())),
            Self::Date => Value::ChronoDate(Some(date_of(value).ok_or_else(corrupt)?)),
            Self::TimestampUtc => Value::ChronoDateTimeUtc(Some(time_of(value).ok_or_else(corrupt)?)),
            Self::Bool => Value::Bool(Some(integer()? != 0)),
            Self::Int => Value::Int(Some(i32::try_from(integer()?).map_err(|_| corrupt())?)),
            Self::BigInt => Value::BigInt(Some(integer()?)),
            Self::Bytes => match value {
                ValueRef::Blob(bytes) => Value::Bytes(Some(bytes.to_vec())),
                ValueRef::Null | ValueRef::Integer(_) | ValueRef::Real(_) | ValueRef::Text(_) => {
                    return Err(corrupt());
                }
            },
        })
    }
}

/// A time as sqlx reads one from SQLite text: RFC 3339 (what it writes), or one
/// of SQLite's own layouts, UTC when no offset is given.
pub(crate) fn timestamp(text: &str) -> Option<DateTime<Utc>> {
    if let Ok(time) = DateTime::parse_from_rfc3339(text) {
        return Some(time.with_timezone(&Utc));
    }
    const LAYOUTS: [&str; 12] = [
        "%F %T%.f",
        "%F %R",
        "%F %RZ",
        "%F %R%:z",
        "%F %T%.fZ",
        "%F %T%.f%:z",
        "%FT%R",
        "%FT%RZ",
        "%FT%R%:z",
        "%FT%T%.f",
        "%FT%T%.fZ",
        "%FT%T%.f%:z",
    ];
    LAYOUTS.iter().find_map(|layout| {
        DateTime::parse_from_str(text, layout)
            .map(|time| time.with_timezone(&Utc))
            .ok()
            .or_else(|| NaiveDateTime::parse_from_str(text, layout).ok().map(|time| time.and_utc()))
    })
}

/// Where each of an entity's columns is in a statement's result, and how to read it.
struct Layout<C> {
    columns: Vec<(C, Kind, usize)>,
}

impl<C: sea_orm::ColumnTrait> Layout<C> {
    /// Finds every column of `E` (named `{prefix}{column}`) among `names`.
    fn of<E: EntityTrait<Column = C>>(names: &[&str], prefix: &str) -> Result<Self, StoreError> {
        let mut columns = Vec::new();
        let mut next = 0;
        for column in E::Column::iter() {
            let name = column.as_str();
            let matches = |candidate: &str| candidate.strip_prefix(prefix) == Some(name);
            // sea-orm selects the columns in declaration order: look there first.
            let index = names
                .get(next)
                .is_some_and(|candidate| matches(candidate))
                .then_some(next)
                .or_else(|| names.iter().position(|candidate| matches(candidate)))
                .ok_or_else(|| unsupported(&format!("a query without column {prefix}{name}")))?;
            next = index + 1;
            let kind = Kind::of(column.def().get_column_type())
                .ok_or_else(|| unsupported(&format!("the type of column {name}")))?;
            columns.push((column, kind, index));
        }
        Ok(Self { columns })
    }

    fn model<E: EntityTrait<Column = C>>(&self, row: &rusqlite::Row<'_>) -> Result<E::Model, StoreError>
    where
        E::ActiveModel: TryIntoModel<E::Model>,
    {
        let mut model = <E::ActiveModel as ActiveModelTrait>::default();
        for (column, kind, index) in &self.columns {
            let value = kind.decode(row.get_ref(*index).map_err(sqlite_error)?, column.as_str())?;
            model
                .try_set(*column, value)
                .map_err(|err| StoreError::corrupt(format!("{}: {err}", column.as_str())))?;
        }
        model.try_into_model().map_err(StoreError::corrupt)
    }
}

/// A rusqlite failure classified as sea-orm's are (see [`StoreError`]'s `From<DbErr>`):
/// a unique or foreign key violation carries SQLite's own message, which
/// [`crate::UniqueKey`] matches the same whichever driver reported it.
pub(crate) fn sqlite_error(err: rusqlite::Error) -> StoreError {
    use rusqlite::ffi;
    if let rusqlite::Error::SqliteFailure(failure, message) = &err {
        let detail = || message.clone().unwrap_or_else(|| err.to_string());
        match failure.extended_code {
            ffi::SQLITE_CONSTRAINT_UNIQUE | ffi::SQLITE_CONSTRAINT_PRIMARYKEY => {
                return StoreError::UniqueViolation(detail());
            }
            ffi::SQLITE_CONSTRAINT_FOREIGNKEY => return StoreError::ForeignKeyViolation(detail()),
            _ => {}
        }
    }
    let busy = matches!(
        err.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    );
    let err = DbErr::Custom(format!("SQLite: {err}"));
    if busy { StoreError::Unavailable(err) } else { StoreError::Database(err) }
}

pub(crate) fn unavailable(why: &str) -> StoreError {
    StoreError::Unavailable(DbErr::Custom(why.to_owned()))
}

/// A query this module cannot run: a bug in the caller, found by its tests.
fn unsupported(what: &str) -> StoreError {
    StoreError::Database(DbErr::Custom(format!("the SQLite read path does not support {what}")))
}

#[cfg(test)]
// The entity derives make public items.
#[allow(unreachable_pub)]
mod tests {
    use std::time::Duration;

    use chrono::{NaiveDate, TimeZone as _};
    use sea_orm::{
        ColumnTrait as _, ConnectionTrait as _, EntityTrait as _, IdenStatic as _, Iterable as _,
        QueryFilter as _, QueryOrder as _, QuerySelect as _, Schema, Set,
    };
    use uuid::Uuid;

    use super::*;

    /// One column of every kind the read path decodes, nullable and not.
    mod thing {
        use sea_orm::entity::prelude::*;

        #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
        #[sea_orm(table_name = "things")]
        pub struct Model {
            #[sea_orm(primary_key, auto_increment = false)]
            pub id: Uuid,
            pub name: String,
            pub note: Option<String>,
            pub day: Date,
            pub maybe_day: Option<Date>,
            pub at: DateTimeUtc,
            pub maybe_at: Option<DateTimeUtc>,
            pub flag: bool,
            pub count: i64,
            pub small: i32,
            pub owner: Option<Uuid>,
        }

        #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
        pub enum Relation {}

        impl ActiveModelBehavior for ActiveModel {}
    }

    mod part {
        use sea_orm::entity::prelude::*;

        #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
        #[sea_orm(table_name = "parts")]
        pub struct Model {
            #[sea_orm(primary_key, auto_increment = false)]
            pub id: Uuid,
            pub thing_id: Uuid,
            pub label: String,
        }

        #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
        pub enum Relation {}

        impl ActiveModelBehavior for ActiveModel {}
    }

    async fn database() -> (tempfile::TempDir, DatabaseConnection) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/reads.db", dir.path().display());
        let settings =
            crate::DatabaseSettings { url, max_connections: 2, acquire_timeout: Duration::from_secs(5) };
        let db = crate::connect(&settings, "profiles").await.unwrap();
        let schema = Schema::new(DbBackend::Sqlite);
        db.execute(&schema.create_table_from_entity(thing::Entity)).await.unwrap();
        db.execute(&schema.create_table_from_entity(part::Entity)).await.unwrap();
        (dir, db)
    }

    #[tokio::test]
    async fn reads_the_same_models_as_sea_orm() {
        let (_dir, db) = database().await;
        let parent = Uuid::now_v7();
        let rows = [
            thing::ActiveModel {
                id: Set(parent),
                name: Set("first, with every optional value".into()),
                note: Set(Some("a note with 'quotes' and ünïcode".into())),
                day: Set(NaiveDate::from_ymd_opt(1999, 12, 31).unwrap()),
                maybe_day: Set(NaiveDate::from_ymd_opt(2024, 2, 29)),
                at: Set(Utc::now()),
                maybe_at: Set(Some(Utc.timestamp_opt(1_700_000_000, 123_456_000).unwrap())),
                flag: Set(true),
                count: Set(i64::MAX),
                small: Set(-7),
                owner: Set(None),
            },
            thing::ActiveModel {
                id: Set(Uuid::now_v7()),
                name: Set("second, with none".into()),
                note: Set(None),
                day: Set(NaiveDate::from_ymd_opt(2026, 1, 1).unwrap()),
                maybe_day: Set(None),
                at: Set(Utc::now()),
                maybe_at: Set(None),
                flag: Set(false),
                count: Set(0),
                small: Set(0),
                owner: Set(Some(parent)),
            },
        ];
        thing::Entity::insert_many(rows).exec(&db).await.unwrap();
        let reads = SqliteReads::for_database(&db).expect("a SQLite file");

        let query = || thing::Entity::find().order_by_asc(thing::Column::Id);
        let expected = query().all(&db).await.unwrap();
        assert_eq!(expected.len(), 2);
        assert_eq!(reads.all(query()).await.unwrap(), expected);
        // Bound parameters of every kind filter as they do through sqlx.
        let filtered = || {
            query()
                .filter(thing::Column::Id.eq(parent))
                .filter(thing::Column::Name.like("first%"))
                .filter(thing::Column::Flag.eq(true))
                .filter(thing::Column::Day.eq(NaiveDate::from_ymd_opt(1999, 12, 31).unwrap()))
        };
        let one = filtered().all(&db).await.unwrap();
        assert_eq!(one.len(), 1);
        assert_eq!(reads.all(filtered()).await.unwrap(), one);

        // A LEFT JOIN, as a customer and its tenure periods: a row without
        // parts comes back with None.
        part::Entity::insert(part::ActiveModel {
            id: Set(Uuid::now_v7()),
            thing_id: Set(parent),
            label: Set("p".into()),
        })
        .exec(&db)
        .await
        .unwrap();
        let parts: sea_orm::RelationDef =
            part::Entity::belongs_to(thing::Entity).from(part::Column::ThingId).to(thing::Column::Id).into();
        let joined = || {
            thing::Entity::find()
                .join(sea_orm::JoinType::LeftJoin, parts.clone().rev())
                .select_also(part::Entity)
                .order_by_asc(thing::Column::Id)
        };
        let expected = joined().all(&db).await.unwrap();
        assert!(expected[0].1.is_some() && expected[1].1.is_none());
        // Read by a decoder: each thing's id, and whether a part came with it.
        let decoder: Decoder<(Uuid, bool)> = Decoder {
            columns: |names| {
                crate::sqlite_rows::expect_columns(
                    names,
                    0,
                    "A_",
                    thing::Column::iter().map(|c| c.as_str()),
                )?;
                let parts_at = thing::Column::iter().count();
                crate::sqlite_rows::expect_columns(
                    names,
                    parts_at,
                    "B_",
                    part::Column::iter().map(|c| c.as_str()),
                )
            },
            row: |row| {
                let parts_at = thing::Column::iter().count();
                Ok((crate::sqlite_rows::uuid(row, 0)?, !crate::sqlite_rows::is_null(row, parts_at)?))
            },
        };
        let expected: Vec<(Uuid, bool)> = expected.iter().map(|(t, p)| (t.id, p.is_some())).collect();
        let statement = joined().build(DbBackend::Sqlite);
        let (sql, values): (Arc<str>, Values) =
            (statement.sql.into(), statement.values.unwrap_or(Values(Vec::new())));
        assert_eq!(reads.scan("things", Arc::clone(&sql), values.clone(), decoder).await.unwrap(), expected);
        // A lookup on the calling thread reads the same, and keeps its
        // connection for the next one instead of opening another.
        for _ in 0..3 {
            assert_eq!(
                reads.lookup("things", Arc::clone(&sql), values.clone(), decoder).await.unwrap(),
                expected
            );
        }
        assert_eq!(reads.nearby.open.load(Ordering::Relaxed), 1);
        assert_eq!(
            reads.all(query().limit(1)).await.unwrap().iter().map(|t| t.id).collect::<Vec<_>>(),
            [expected[0].0]
        );
        // The columns were accepted once for this text; a decoder that expects
        // others is still checked against the same text, and refused each time.
        let wrong: Decoder<(Uuid, bool)> = Decoder {
            columns: |names| crate::sqlite_rows::expect_columns(names, 0, "B_", ["id"]),
            row: decoder.row,
        };
        for _ in 0..2 {
            let refused = reads.lookup("things", Arc::clone(&sql), values.clone(), wrong).await;
            assert!(
                matches!(&refused, Err(StoreError::Database(err)) if err.to_string().contains("expected column B_id")),
                "{refused:?}"
            );
        }
        assert_eq!(
            reads.lookup("things", Arc::clone(&sql), values.clone(), decoder).await.unwrap(),
            expected
        );
    }

    #[tokio::test]
    async fn in_memory_databases_keep_the_sea_orm_path() {
        let settings = crate::DatabaseSettings {
            url: "sqlite::memory:".into(),
            max_connections: 1,
            acquire_timeout: Duration::from_secs(5),
        };
        let db = crate::connect(&settings, "profiles").await.unwrap();
        assert!(SqliteReads::for_database(&db).is_none());
    }
}
