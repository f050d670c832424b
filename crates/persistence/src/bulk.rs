//! Bulk writes: multi-row inserts in a few fixed shapes, and [`BulkWrite`], a
//! write transaction that loads rows with `COPY` on PostgreSQL.
//!
//! Both sqlx and PostgreSQL keep a prepared statement per distinct SQL text on
//! each connection. A multi-row `INSERT` of N rows has its own text for every N,
//! so inserting batches of whatever size arrived fills those caches with large,
//! single-use statements (hundreds of megabytes across a pool under load). Rows
//! are therefore inserted in chunks whose sizes are powers of two, at most
//! [`MAX_CHUNK`]: about ten statement shapes per table, ever.

use sea_orm::sqlx::{self, Postgres};
use sea_orm::{
    ActiveModelTrait, ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr,
    EntityName as _, EntityTrait, FromQueryResult, QueryResult, QueryTrait, Select, Statement,
};
use tracing::Instrument as _;

use crate::{pg_copy, spans};

/// The largest chunk: well inside SQLite's 32,766 and PostgreSQL's 65,535
/// parameters per statement for tables of up to 60 columns.
pub const MAX_CHUNK: usize = 512;

/// Inserts every row of `rows`, in as few statements as the fixed shapes allow.
pub async fn insert_all<A, C>(conn: &C, rows: Vec<A>) -> Result<(), DbErr>
where
    A: ActiveModelTrait + Send,
    C: ConnectionTrait,
{
    let mut remaining = rows.len();
    let mut rows = rows.into_iter();
    while remaining > 0 {
        let size = chunk_size(remaining);
        let chunk: Vec<A> = rows.by_ref().take(size).collect();
        <A::Entity as EntityTrait>::insert_many(chunk).exec_without_returning(conn).await?;
        remaining -= size;
    }
    Ok(())
}

/// One write transaction for a bulk load. On PostgreSQL it is a sqlx transaction,
/// so its inserts stream through `COPY` (sea-orm does not lend out the connection
/// under its own transactions); on SQLite it is [`crate::begin_write`]'s
/// transaction and inserts go through [`insert_all`]. Queries are sea-orm queries
/// either way, built for the backend and run inside the transaction.
///
/// Dropped without [`BulkWrite::commit`], it rolls back, like any transaction.
pub struct BulkWrite {
    inner: Inner,
}

impl std::fmt::Debug for BulkWrite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BulkWrite").field("backend", &self.backend()).finish()
    }
}

enum Inner {
    SeaOrm(DatabaseTransaction),
    Postgres(sqlx::Transaction<'static, Postgres>),
}

impl BulkWrite {
    pub async fn begin(db: &DatabaseConnection) -> Result<Self, DbErr> {
        let inner = if db.get_database_backend() == DbBackend::Postgres {
            // Cannot panic: the backend was just checked to be PostgreSQL.
            let pool = db.get_postgres_connection_pool();
            Inner::Postgres(pool.begin().await.map_err(pg_copy::exec_error)?)
        } else {
            Inner::SeaOrm(crate::begin_write(db).await?)
        };
        Ok(Self { inner })
    }

    pub fn backend(&self) -> DbBackend {
        match &self.inner {
            Inner::SeaOrm(txn) => txn.get_database_backend(),
            Inner::Postgres(_) => DbBackend::Postgres,
        }
    }

    /// Every row `select` finds.
    pub async fn find_all<E: EntityTrait>(&mut self, select: Select<E>) -> Result<Vec<E::Model>, DbErr> {
        let statement = select.build(self.backend());
        let rows = match &mut self.inner {
            Inner::SeaOrm(txn) => txn.query_all_raw(statement).await?,
            Inner::Postgres(txn) => {
                let Statement { sql, values, .. } = statement;
                let arguments = pg_copy::arguments(values)?;
                let span = spans::postgres("SELECT", E::default().table_name());
                sqlx::query_with(sqlx::AssertSqlSafe(sql), arguments)
                    .fetch_all(&mut **txn)
                    .instrument(span)
                    .await
                    .map_err(pg_copy::exec_error)?
                    .into_iter()
                    .map(QueryResult::from)
                    .collect()
            }
        };
        rows.iter().map(|row| E::Model::from_query_result(row, "")).collect()
    }

    /// Runs `query` (an update or delete), returning the rows it affected.
    pub async fn execute(&mut self, query: &impl QueryTrait) -> Result<u64, DbErr> {
        let statement = query.build(self.backend());
        match &mut self.inner {
            Inner::SeaOrm(txn) => Ok(txn.execute_raw(statement).await?.rows_affected()),
            Inner::Postgres(txn) => {
                let Statement { sql, values, .. } = statement;
                let arguments = pg_copy::arguments(values)?;
                let (operation, collection) = operation_and_table(&sql);
                let span = spans::postgres(operation, collection);
                let done = sqlx::query_with(sqlx::AssertSqlSafe(sql.as_str()), arguments)
                    .execute(&mut **txn)
                    .instrument(span)
                    .await
                    .map_err(pg_copy::exec_error)?;
                Ok(done.rows_affected())
            }
        }
    }

    /// Inserts every row of `rows`: one `COPY` on PostgreSQL, [`insert_all`] elsewhere.
    pub async fn insert_all<A>(&mut self, rows: Vec<A>) -> Result<(), DbErr>
    where
        A: ActiveModelTrait + Send,
    {
        match &mut self.inner {
            Inner::SeaOrm(txn) => insert_all(txn, rows).await,
            Inner::Postgres(txn) => {
                let span = spans::postgres("COPY", A::Entity::default().table_name());
                pg_copy::copy_in(txn, &rows).instrument(span).await.map(|_| ())
            }
        }
    }

    pub async fn commit(self) -> Result<(), DbErr> {
        match self.inner {
            Inner::SeaOrm(txn) => txn.commit().await,
            Inner::Postgres(txn) => txn.commit().await.map_err(pg_copy::exec_error),
        }
    }
}

/// The operation and table of an `UPDATE "t" ...` or `DELETE FROM "t" ...` that
/// sea-orm built, for its span (never the values: those are bound parameters).
fn operation_and_table(sql: &str) -> (&str, &str) {
    let mut words = sql.split_whitespace();
    let operation = words.next().unwrap_or_default();
    let table = if operation.eq_ignore_ascii_case("DELETE") { words.nth(1) } else { words.next() };
    (operation, table.unwrap_or_default().trim_matches('"'))
}

/// The largest power of two not above `remaining` or [`MAX_CHUNK`].
fn chunk_size(remaining: usize) -> usize {
    if remaining >= MAX_CHUNK { MAX_CHUNK } else { 1 << remaining.ilog2() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_take_a_few_fixed_sizes() {
        let sizes = |mut remaining: usize| {
            let mut sizes = Vec::new();
            while remaining > 0 {
                let size = chunk_size(remaining);
                sizes.push(size);
                remaining -= size;
            }
            sizes
        };
        assert_eq!(sizes(1), [1]);
        assert_eq!(sizes(7), [4, 2, 1]);
        assert_eq!(sizes(1_300), [512, 512, 256, 16, 4]);
        let shapes: std::collections::BTreeSet<usize> = (1..=2_000).flat_map(sizes).collect();
        assert_eq!(shapes.len(), 10, "{shapes:?}");
    }

    #[test]
    fn spans_name_the_operation_and_table_not_the_values() {
        assert_eq!(
            operation_and_table(r#"UPDATE "customers" SET "version" = $1 WHERE "id" = $2"#),
            ("UPDATE", "customers")
        );
        assert_eq!(
            operation_and_table(r#"DELETE FROM "tenure_periods" WHERE "id" = $1"#),
            ("DELETE", "tenure_periods")
        );
    }
}
