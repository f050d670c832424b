//! Database failures, classified once so every service maps them the same way.

use sea_orm::{DbErr, RuntimeErr, SqlErr};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique constraint refused the write: the thing already exists.
    #[error("a unique constraint was violated: {0}")]
    UniqueViolation(String),
    /// A foreign key refused the write: something it refers to is missing.
    #[error("a foreign key constraint was violated: {0}")]
    ForeignKeyViolation(String),
    /// A concurrent write changed the rows this one was based on; retrying may succeed.
    #[error("a concurrent write won: {0}")]
    Conflict(String),
    /// A compare-and-set write found the row at another version than the one it
    /// was based on (the caller's etag, or its own read): read again and retry.
    #[error("the row changed since it was read")]
    Stale,
    /// A row an invariant says is there was not.
    #[error("row not found: {0}")]
    RowNotFound(String),
    /// Stored data could not be decoded (a bug or a hand edit, never user input).
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// The database could not be reached or timed out: worth a retry.
    #[error("database unavailable")]
    Unavailable(#[source] DbErr),
    /// Anything else.
    #[error("database error")]
    Database(#[source] DbErr),
}

impl StoreError {
    pub fn corrupt(what: impl std::fmt::Display) -> Self {
        Self::Corrupt(what.to_string())
    }
}

impl From<DbErr> for StoreError {
    fn from(err: DbErr) -> Self {
        match err.sql_err() {
            Some(SqlErr::UniqueConstraintViolation(detail)) => return Self::UniqueViolation(detail),
            Some(SqlErr::ForeignKeyConstraintViolation(detail)) => {
                return Self::ForeignKeyViolation(detail);
            }
            Some(_) | None => {}
        }
        // DbErr is non-exhaustive: whatever is not classified here is a plain database error.
        #[allow(clippy::wildcard_enum_match_arm)]
        match err {
            DbErr::RecordNotFound(detail) => Self::RowNotFound(detail),
            DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => Self::Unavailable(err),
            DbErr::Exec(RuntimeErr::SqlxError(ref sqlx)) | DbErr::Query(RuntimeErr::SqlxError(ref sqlx))
                if connection_lost(sqlx) =>
            {
                Self::Unavailable(err)
            }
            other => Self::Database(other),
        }
    }
}

/// Whether a statement failed because the database went away under it (the
/// server stopped, restarted or dropped the connection) rather than because of
/// the statement: that is worth a retry, not an INTERNAL answer.
fn connection_lost(err: &sea_orm::sqlx::Error) -> bool {
    use sea_orm::sqlx::Error;
    #[allow(clippy::wildcard_enum_match_arm)] // sqlx::Error is non-exhaustive
    match err {
        Error::Io(_) | Error::Tls(_) | Error::PoolTimedOut | Error::PoolClosed | Error::WorkerCrashed => true,
        // SQLSTATE class 08 (connection exception); 57P01-57P03 (administrator or
        // crash shutdown, cannot connect now); 53300 (too many connections).
        Error::Database(database) => database.code().is_some_and(|code| {
            code.starts_with("08") || matches!(code.as_ref(), "57P01" | "57P02" | "57P03" | "53300")
        }),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use sea_orm::ConnAcquireErr;

    use super::*;

    fn sqlx(err: sea_orm::sqlx::Error) -> RuntimeErr {
        RuntimeErr::SqlxError(Arc::new(err))
    }

    #[test]
    fn a_database_that_went_away_is_unavailable_not_internal() {
        let reset = || sea_orm::sqlx::Error::Io(std::io::Error::from(std::io::ErrorKind::ConnectionReset));
        for err in [
            DbErr::ConnectionAcquire(ConnAcquireErr::Timeout),
            DbErr::Query(sqlx(reset())),
            DbErr::Exec(sqlx(reset())),
            DbErr::Query(sqlx(sea_orm::sqlx::Error::PoolClosed)),
        ] {
            assert!(matches!(StoreError::from(err), StoreError::Unavailable(_)));
        }
        let bug = DbErr::Query(sqlx(sea_orm::sqlx::Error::ColumnNotFound("x".into())));
        assert!(matches!(StoreError::from(bug), StoreError::Database(_)));
    }
}
