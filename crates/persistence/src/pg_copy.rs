//! PostgreSQL's `COPY ... FROM STDIN` for sea-orm rows, and sea-orm statements run
//! on a plain sqlx connection.
//!
//! A multi-row `INSERT` of 512 customers binds over 20,000 parameters, which the
//! server parses, plans and executes one value at a time; `COPY` streams the same
//! rows as tab-separated text that the server reads straight into the table (with
//! the same constraint and index checks). sea-orm keeps the connection under its
//! transactions to itself, so a transaction that copies is a sqlx transaction, and
//! its queries (still built with sea-orm) are bound here.

use std::fmt::Write as _;
use std::sync::Arc;

use sea_orm::sea_query::Value;
use sea_orm::sqlx::postgres::PgArguments;
use sea_orm::sqlx::{self, Arguments as _, PgConnection};
use sea_orm::{
    ActiveModelTrait, DbErr, EntityName as _, EntityTrait, IdenStatic as _, Iterable as _, RuntimeErr,
};

/// Copies every row of `rows` into its table in one `COPY`. Every row must set the
/// same columns (those the first row sets); the rest take their defaults.
pub async fn copy_in<A>(conn: &mut PgConnection, rows: &[A]) -> Result<u64, DbErr>
where
    A: ActiveModelTrait,
{
    let Some(first) = rows.first() else {
        return Ok(0);
    };
    let columns: Vec<_> =
        <A::Entity as EntityTrait>::Column::iter().filter(|column| first.get(*column).is_set()).collect();
    let mut statement = format!("COPY \"{}\" (", A::Entity::default().table_name());
    for (index, column) in columns.iter().enumerate() {
        if index > 0 {
            statement.push_str(", ");
        }
        let _ = write!(statement, "\"{}\"", column.as_str());
    }
    statement.push_str(") FROM STDIN");

    let mut data = Vec::with_capacity(rows.len() * 256);
    for row in rows {
        for (index, column) in columns.iter().enumerate() {
            if index > 0 {
                data.push(b'\t');
            }
            let Some(value) = row.get(*column).into_value() else {
                return Err(DbErr::Custom(format!("COPY: a row leaves {} unset", column.as_str())));
            };
            write_text(&mut data, &value)?;
        }
        data.push(b'\n');
    }

    let mut copy = conn.copy_in_raw(&statement).await.map_err(exec_error)?;
    copy.send(data).await.map_err(exec_error)?;
    copy.finish().await.map_err(exec_error)
}

/// Appends one value in `COPY`'s text format: `\N` for NULL, text with backslash,
/// tab, newline and carriage return escaped, everything else as PostgreSQL prints it.
fn write_text(out: &mut Vec<u8>, value: &Value) -> Result<(), DbErr> {
    const NULL: &[u8] = b"\\N";
    #[allow(clippy::wildcard_enum_match_arm)] // the types the services store; anything else is refused
    match value {
        Value::Bool(value) => match value {
            Some(true) => out.push(b't'),
            Some(false) => out.push(b'f'),
            None => out.extend_from_slice(NULL),
        },
        Value::SmallInt(value) => write_display(out, value.as_ref()),
        Value::Int(value) => write_display(out, value.as_ref()),
        Value::BigInt(value) => write_display(out, value.as_ref()),
        Value::Double(value) => write_display(out, value.as_ref()),
        Value::String(value) => match value {
            Some(text) => write_escaped(out, text),
            None => out.extend_from_slice(NULL),
        },
        Value::Uuid(value) => write_display(out, value.as_ref()),
        Value::Bytes(value) => match value {
            // bytea's hex form, `\x0a1b...`, its backslash escaped for COPY.
            Some(bytes) => {
                out.extend_from_slice(b"\\\\x");
                for byte in bytes {
                    let _ = write!(ByteWriter(out), "{byte:02x}");
                }
            }
            None => out.extend_from_slice(NULL),
        },
        Value::Json(value) => match value {
            Some(json) => write_escaped(out, &json.to_string()),
            None => out.extend_from_slice(NULL),
        },
        Value::ChronoDate(value) => match value {
            Some(date) => write_date(out, date)?,
            None => out.extend_from_slice(NULL),
        },
        Value::ChronoDateTimeUtc(value) => match value {
            Some(time) => {
                write_date(out, &time.date_naive())?;
                // Microseconds: PostgreSQL's resolution, as sqlx binds it.
                let _ = write!(ByteWriter(out), " {}+00", time.format("%H:%M:%S%.6f"));
            }
            None => out.extend_from_slice(NULL),
        },
        other => return Err(DbErr::Custom(format!("COPY cannot encode {other:?}"))),
    }
    Ok(())
}

/// `YYYY-MM-DD`; years outside 1-9999 (which PostgreSQL writes with `BC` or more
/// digits) are refused rather than risk a different date.
fn write_date(out: &mut Vec<u8>, date: &chrono::NaiveDate) -> Result<(), DbErr> {
    use chrono::Datelike as _;
    if !(1..=9999).contains(&date.year()) {
        return Err(DbErr::Custom(format!("COPY: date {date} is out of range")));
    }
    let _ = write!(ByteWriter(out), "{}", date.format("%Y-%m-%d"));
    Ok(())
}

fn write_display(out: &mut Vec<u8>, value: Option<&impl std::fmt::Display>) {
    match value {
        Some(value) => {
            let _ = write!(ByteWriter(out), "{value}");
        }
        None => out.extend_from_slice(b"\\N"),
    }
}

fn write_escaped(out: &mut Vec<u8>, text: &str) {
    for byte in text.bytes() {
        match byte {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\t' => out.extend_from_slice(b"\\t"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            other => out.push(other),
        }
    }
}

/// `fmt::Write` into a byte buffer, so `write!` formats without an interim `String`.
struct ByteWriter<'a>(&'a mut Vec<u8>);

impl std::fmt::Write for ByteWriter<'_> {
    fn write_str(&mut self, text: &str) -> std::fmt::Result {
        self.0.extend_from_slice(text.as_bytes());
        Ok(())
    }
}

/// The parameters of a sea-orm statement, bound as sea-orm binds them for PostgreSQL.
pub fn arguments(values: Option<sea_orm::Values>) -> Result<PgArguments, DbErr> {
    let mut arguments = PgArguments::default();
    for value in values.map(|values| values.0).unwrap_or_default() {
        #[allow(clippy::wildcard_enum_match_arm)] // the types the services store; anything else is refused
        let bound = match value {
            Value::Bool(value) => arguments.add(value),
            Value::SmallInt(value) => arguments.add(value),
            Value::Int(value) => arguments.add(value),
            Value::BigInt(value) => arguments.add(value),
            Value::Double(value) => arguments.add(value),
            Value::String(value) => arguments.add(value),
            Value::Uuid(value) => arguments.add(value),
            Value::Bytes(value) => arguments.add(value),
            Value::Json(value) => arguments.add(value.map(|json| *json)),
            Value::ChronoDate(value) => arguments.add(value),
            Value::ChronoDateTimeUtc(value) => arguments.add(value),
            other => return Err(DbErr::Custom(format!("cannot bind {other:?}"))),
        };
        bound.map_err(|err| DbErr::Custom(format!("cannot bind a parameter: {err}")))?;
    }
    Ok(arguments)
}

/// A sqlx failure as sea-orm reports a failed statement, so [`crate::StoreError`]
/// classifies it alike (unique violations, lost connections).
pub fn exec_error(err: sqlx::Error) -> DbErr {
    DbErr::Exec(RuntimeErr::SqlxError(Arc::new(err)))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use chrono::{NaiveDate, TimeZone as _, Utc};

    use super::*;

    fn text(value: Value) -> String {
        let mut out = Vec::new();
        write_text(&mut out, &value).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn values_are_written_as_copy_text() {
        assert_eq!(text(Value::String(Some("a\tb\nc\\d\re".into()))), "a\\tb\\nc\\\\d\\re");
        assert_eq!(text(Value::String(None)), "\\N");
        assert_eq!(text(Value::Bool(Some(true))), "t");
        assert_eq!(text(Value::BigInt(Some(-7))), "-7");
        assert_eq!(text(Value::ChronoDate(Some(NaiveDate::from_ymd_opt(1961, 2, 3).unwrap()))), "1961-02-03");
        let time = Utc.with_ymd_and_hms(2026, 12, 6, 4, 5, 6).unwrap() + chrono::Duration::microseconds(7);
        assert_eq!(text(Value::ChronoDateTimeUtc(Some(time))), "2026-12-06 04:05:06.000007+00");
        let id = uuid::Uuid::nil();
        assert_eq!(text(Value::Uuid(Some(id))), "00000000-0000-0000-0000-000000000000");
        assert_eq!(text(Value::Bytes(Some(vec![0x0a, 0x00, 0xff]))), "\\\\x0a00ff");
        assert_eq!(text(Value::Bytes(None)), "\\N");
    }

    #[test]
    fn dates_postgresql_would_write_otherwise_are_refused() {
        let mut out = Vec::new();
        let year_zero = NaiveDate::from_ymd_opt(0, 1, 1).unwrap();
        assert!(write_text(&mut out, &Value::ChronoDate(Some(year_zero))).is_err());
    }
}
