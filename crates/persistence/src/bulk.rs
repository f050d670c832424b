//! Multi-row inserts in a few fixed shapes.
//!
//! Both sqlx and PostgreSQL keep a prepared statement per distinct SQL text on
//! each connection. A multi-row `INSERT` of N rows has its own text for every N,
//! so inserting batches of whatever size arrived fills those caches with large,
//! single-use statements (hundreds of megabytes across a pool under load). Rows
//! are therefore inserted in chunks whose sizes are powers of two, at most
//! [`MAX_CHUNK`]: about ten statement shapes per table, ever.
//!
//! On PostgreSQL rows go as one JSON array per statement instead, expanded by
//! `json_populate_recordset` into the table's own row type: one statement text per
//! table, one parameter however many rows, and no parse and bind of thousands of
//! placeholders. Measured on the import benchmark (README "Benchmarks").

use sea_orm::sea_query::Value;
use sea_orm::{
    ActiveModelTrait, ActiveValue, ConnectionTrait, DbBackend, DbErr, EntityName as _, EntityTrait,
    Iterable as _, Statement,
};

/// The largest chunk: well inside SQLite's 32,766 and PostgreSQL's 65,535
/// parameters per statement for tables of up to 60 columns.
pub const MAX_CHUNK: usize = 512;

/// Inserts every row of `rows`, in as few statements as the fixed shapes allow.
pub async fn insert_all<A, C>(conn: &C, rows: Vec<A>) -> Result<(), DbErr>
where
    A: ActiveModelTrait + Send,
    C: ConnectionTrait,
{
    if conn.get_database_backend() == DbBackend::Postgres {
        for chunk in rows.chunks(JSON_CHUNK) {
            conn.execute_raw(json_insert(chunk)?).await?;
        }
        return Ok(());
    }
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

/// Rows per JSON statement on PostgreSQL: bounds the size of one parameter.
const JSON_CHUNK: usize = 4_096;

/// `INSERT INTO t (columns) SELECT columns FROM json_populate_recordset(NULL::t, $1)`
/// for `rows`, every column of which must be set.
fn json_insert<A: ActiveModelTrait>(rows: &[A]) -> Result<Statement, DbErr> {
    let table = <A::Entity as Default>::default().table_name().to_owned();
    let columns: Vec<_> = <A::Entity as EntityTrait>::Column::iter().collect();
    let mut records = Vec::with_capacity(rows.len());
    for row in rows {
        let mut record = serde_json::Map::with_capacity(columns.len());
        for column in &columns {
            let name = sea_orm::IdenStatic::as_str(column);
            let value = match row.get(*column) {
                ActiveValue::Set(value) | ActiveValue::Unchanged(value) => value,
                ActiveValue::NotSet => {
                    return Err(DbErr::Custom(format!("insert into {table}: column {name} is not set")));
                }
            };
            record.insert(name.to_owned(), json_of(value, &table, name)?);
        }
        records.push(serde_json::Value::Object(record));
    }
    let names = columns.iter().map(|column| format!("\"{}\"", sea_orm::IdenStatic::as_str(column)));
    let names = names.collect::<Vec<_>>().join(", ");
    let sql = format!(
        "INSERT INTO \"{table}\" ({names}) SELECT {names} FROM json_populate_recordset(NULL::\"{table}\", $1::json)"
    );
    Ok(Statement::from_sql_and_values(
        DbBackend::Postgres,
        sql,
        [Value::Json(Some(Box::new(serde_json::Value::Array(records))))],
    ))
}

/// A column's value as `json_populate_recordset` reads it into the column's type.
fn json_of(value: Value, table: &str, column: &str) -> Result<serde_json::Value, DbErr> {
    use serde_json::Value as Json;
    // The kinds our entities use; any other is refused, not guessed.
    #[allow(clippy::wildcard_enum_match_arm)]
    Ok(match value {
        Value::Bool(v) => v.map_or(Json::Null, Json::Bool),
        Value::Int(v) => v.map_or(Json::Null, Json::from),
        Value::BigInt(v) => v.map_or(Json::Null, Json::from),
        Value::String(v) => v.map_or(Json::Null, Json::String),
        Value::Uuid(v) => v.map_or(Json::Null, |v| Json::String(v.to_string())),
        Value::ChronoDate(v) => v.map_or(Json::Null, |v| Json::String(v.format("%F").to_string())),
        Value::ChronoDateTimeUtc(v) => {
            v.map_or(Json::Null, |v| Json::String(v.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)))
        }
        Value::Json(v) => v.map_or(Json::Null, |v| *v),
        other => {
            return Err(DbErr::Custom(format!("insert into {table}: column {column} holds {other:?}")));
        }
    })
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
}
