//! Persistence shared by every Involve service.
//!
//! Each service owns its tables and its migrations; this crate only knows how to
//! connect (SQLite or PostgreSQL from one URL), run a service's migrator, page with
//! keyset tokens, derive etags, remember idempotency keys and write the audit log.
//! Those last two are tables every service keeps in its own schema, created by the
//! migrations exported from [`shared_migrations`].

pub mod audit;
pub mod bulk;
pub mod connect;
pub mod constraint;
pub mod error;
pub mod etag;
pub mod idempotency;
pub mod paging;
pub mod pg_copy;
pub mod scope;
pub mod shared_migrations;
pub mod snapshot;
pub mod spans;
pub mod sqlite_reads;
pub mod sqlite_rows;
pub mod sqlite_writes;
pub mod statement_cache;
pub mod versioned;

pub use audit::{Actor, AuditEntry, AuditWriter};
pub use bulk::{BulkWrite, insert_all};
pub use connect::{
    Backend, DatabaseSettings, SQLITE_BUSY_TIMEOUT, begin_write, connect, flush_erased_pages,
    postgres_url_with_database, redact_url,
};
pub use constraint::UniqueKey;
pub use error::StoreError;
pub use etag::Etag;
pub use paging::{PageRequest, PageToken, PageTokenError, PageTokenKey};
pub use scope::{Scope, ScopeColumns};
pub use snapshot::Snapshot;
pub use sqlite_reads::{ReadSettings, SqliteReads};
pub use sqlite_writes::SqliteWriter;
pub use versioned::Versioned;

/// The current time as both databases keep it: to the microsecond (PostgreSQL's
/// `timestamptz` precision; SQLite keeps whatever is bound). A row written with it
/// reads back equal on either, so a write can answer from what it wrote instead of
/// reading it back.
pub fn now() -> chrono::DateTime<chrono::Utc> {
    let now = chrono::Utc::now();
    // Cannot fail: a microsecond always divides the time.
    chrono::DurationRound::duration_trunc(now, chrono::TimeDelta::microseconds(1)).unwrap_or(now)
}

#[cfg(test)]
mod tests {
    #[test]
    fn now_is_whole_microseconds() {
        assert_eq!(chrono::Timelike::nanosecond(&super::now()) % 1_000, 0);
    }
}
