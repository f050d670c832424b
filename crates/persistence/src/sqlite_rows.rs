//! Reading SQLite rows by column index straight into a service's own row types.
//!
//! The generic path in [`crate::sqlite_reads`] turns every column into a
//! sea-query value, sets it on an `ActiveModel` and converts that into a model:
//! three copies of every string and a match per column. A hot read instead names
//! a [`Decoder`]: the statement is still built by sea-orm from the entity (so the
//! columns are selected in the entity's declaration order, the same order on both
//! databases), and the decoder reads each field at `offset + Column::X as usize`.
//! [`expect_columns`] checks, for every statement, that the names there are the
//! entity's, so a query and a decoder that disagree fail loudly instead of
//! reading one column as another.

use chrono::{DateTime, NaiveDate, TimeZone as _, Utc};
pub use rusqlite::Row;
use rusqlite::types::ValueRef;
use uuid::Uuid;

use crate::StoreError;
use crate::sqlite_reads::sqlite_error;

/// How the rows of one statement shape are read: `columns` checks the
/// statement's column names once per call, `row` decodes each row by index.
#[derive(Debug)]
pub struct Decoder<T> {
    pub columns: fn(&[&str]) -> Result<(), StoreError>,
    pub row: fn(&Row<'_>) -> Result<T, StoreError>,
}

impl<T> Clone for Decoder<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for Decoder<T> {}

/// Checks that `names[offset..]` starts with `expected` (the entity's columns
/// in declaration order), each written `{prefix}{column}`.
pub fn expect_columns<'a>(
    names: &[&str],
    offset: usize,
    prefix: &str,
    expected: impl IntoIterator<Item = &'a str>,
) -> Result<(), StoreError> {
    for (index, column) in expected.into_iter().enumerate() {
        let found = names.get(offset + index).copied().unwrap_or_default();
        if found.strip_prefix(prefix) != Some(column) {
            return Err(StoreError::Database(sea_orm::DbErr::Custom(format!(
                "the SQLite read path expected column {prefix}{column} at {}, found {found:?}",
                offset + index
            ))));
        }
    }
    Ok(())
}

fn cell<'r>(row: &'r Row<'_>, index: usize) -> Result<ValueRef<'r>, StoreError> {
    row.get_ref(index).map_err(sqlite_error)
}

fn corrupt(row: &Row<'_>, index: usize, value: ValueRef<'_>) -> StoreError {
    let column = row.as_ref().column_name(index).unwrap_or("?");
    StoreError::corrupt(format!("column {column}: unexpected {:?}", value.data_type()))
}

/// A value read from column `index`, or `None` for NULL.
fn optional<'r, T>(
    row: &'r Row<'_>,
    index: usize,
    read: impl FnOnce(ValueRef<'r>) -> Option<T>,
) -> Result<Option<T>, StoreError> {
    let value = cell(row, index)?;
    if let ValueRef::Null = value {
        return Ok(None);
    }
    read(value).map(Some).ok_or_else(|| corrupt(row, index, value))
}

fn required<T>(row: &Row<'_>, index: usize, value: Option<T>) -> Result<T, StoreError> {
    match value {
        Some(value) => Ok(value),
        None => Err(cell(row, index).map_or_else(|err| err, |value| corrupt(row, index, value))),
    }
}

pub(crate) fn text_of(value: ValueRef<'_>) -> Option<&str> {
    match value {
        ValueRef::Text(bytes) => std::str::from_utf8(bytes).ok(),
        ValueRef::Null | ValueRef::Integer(_) | ValueRef::Real(_) | ValueRef::Blob(_) => None,
    }
}

/// UUIDs as sqlx writes them on SQLite (16-byte blobs), or as text.
pub(crate) fn uuid_of(value: ValueRef<'_>) -> Option<Uuid> {
    match value {
        ValueRef::Blob(bytes) => Uuid::from_slice(bytes).ok(),
        ValueRef::Text(_) => text_of(value)?.parse().ok(),
        ValueRef::Null | ValueRef::Integer(_) | ValueRef::Real(_) => None,
    }
}

/// Dates as `YYYY-MM-DD` text.
pub(crate) fn date_of(value: ValueRef<'_>) -> Option<NaiveDate> {
    text_of(value)?.parse().ok()
}

/// Times as sqlx reads them on SQLite: RFC 3339 text (what it writes), one of
/// SQLite's own layouts, or seconds since the epoch.
pub(crate) fn time_of(value: ValueRef<'_>) -> Option<DateTime<Utc>> {
    match value {
        ValueRef::Integer(seconds) => Utc.timestamp_opt(seconds, 0).single(),
        ValueRef::Text(_) => crate::sqlite_reads::timestamp(text_of(value)?),
        ValueRef::Null | ValueRef::Real(_) | ValueRef::Blob(_) => None,
    }
}

pub(crate) fn integer_of(value: ValueRef<'_>) -> Option<i64> {
    match value {
        ValueRef::Integer(number) => Some(number),
        ValueRef::Null | ValueRef::Real(_) | ValueRef::Text(_) | ValueRef::Blob(_) => None,
    }
}

pub fn text(row: &Row<'_>, index: usize) -> Result<String, StoreError> {
    let value = optional(row, index, |value| text_of(value).map(str::to_owned))?;
    required(row, index, value)
}

pub fn optional_text(row: &Row<'_>, index: usize) -> Result<Option<String>, StoreError> {
    optional(row, index, |value| text_of(value).map(str::to_owned))
}

/// Column `index` as text borrowed from the row, for callers that parse it
/// rather than keep it.
pub fn text_ref<'r>(row: &'r Row<'_>, index: usize) -> Result<&'r str, StoreError> {
    let value = optional(row, index, text_of)?;
    required(row, index, value)
}

/// [`text_ref`], or `None` for NULL.
pub fn optional_text_ref<'r>(row: &'r Row<'_>, index: usize) -> Result<Option<&'r str>, StoreError> {
    optional(row, index, text_of)
}

pub fn uuid(row: &Row<'_>, index: usize) -> Result<Uuid, StoreError> {
    let value = optional(row, index, uuid_of)?;
    required(row, index, value)
}

pub fn optional_uuid(row: &Row<'_>, index: usize) -> Result<Option<Uuid>, StoreError> {
    optional(row, index, uuid_of)
}

pub fn date(row: &Row<'_>, index: usize) -> Result<NaiveDate, StoreError> {
    let value = optional(row, index, date_of)?;
    required(row, index, value)
}

pub fn optional_date(row: &Row<'_>, index: usize) -> Result<Option<NaiveDate>, StoreError> {
    optional(row, index, date_of)
}

pub fn time(row: &Row<'_>, index: usize) -> Result<DateTime<Utc>, StoreError> {
    let value = optional(row, index, time_of)?;
    required(row, index, value)
}

pub fn optional_time(row: &Row<'_>, index: usize) -> Result<Option<DateTime<Utc>>, StoreError> {
    optional(row, index, time_of)
}

pub fn flag(row: &Row<'_>, index: usize) -> Result<bool, StoreError> {
    let value = optional(row, index, |value| integer_of(value).map(|number| number != 0))?;
    required(row, index, value)
}

pub fn big_int(row: &Row<'_>, index: usize) -> Result<i64, StoreError> {
    let value = optional(row, index, integer_of)?;
    required(row, index, value)
}

pub fn optional_big_int(row: &Row<'_>, index: usize) -> Result<Option<i64>, StoreError> {
    optional(row, index, integer_of)
}

/// Column `index` as bytes (a BLOB), or `None` for NULL.
pub fn optional_blob(row: &Row<'_>, index: usize) -> Result<Option<Vec<u8>>, StoreError> {
    optional(row, index, |value| match value {
        ValueRef::Blob(bytes) => Some(bytes.to_vec()),
        ValueRef::Null | ValueRef::Integer(_) | ValueRef::Real(_) | ValueRef::Text(_) => None,
    })
}

/// Whether column `index` is NULL (a LEFT JOIN's missing row, say).
pub fn is_null(row: &Row<'_>, index: usize) -> Result<bool, StoreError> {
    Ok(matches!(cell(row, index)?, ValueRef::Null))
}
