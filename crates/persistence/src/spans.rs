//! Database spans for the SQLite paths that bypass sqlx (the reader threads
//! and the writer thread), following the OpenTelemetry database conventions:
//! `db.system.name`, `db.operation.name`, `db.collection.name`, `db.namespace`.
//! Never the statement's values. Off until telemetry exports traces
//! ([`enable`]), so a process without a collector pays one atomic load a call.
//! Statements run through sqlx are spanned by the platform's telemetry.

use std::sync::atomic::{AtomicBool, Ordering};

static ENABLED: AtomicBool = AtomicBool::new(false);

/// Called by telemetry when traces are exported.
pub fn enable() {
    ENABLED.store(true, Ordering::Relaxed);
}

/// A client span for `operation` on `collection` (a table, or empty) in the
/// SQLite database `namespace` (the service's file name), or a disabled span.
pub(crate) fn sqlite(operation: &'static str, collection: &str, namespace: &str) -> tracing::Span {
    // Only inside something worth tracing (an RPC): background reads such as
    // the domain signals' would otherwise each start a trace of their own.
    if !ENABLED.load(Ordering::Relaxed) || tracing::Span::current().is_none() {
        return tracing::Span::none();
    }
    let name = if collection.is_empty() { operation.to_owned() } else { format!("{operation} {collection}") };
    tracing::info_span!(
        "db",
        otel.name = %name,
        otel.kind = "client",
        db.system.name = "sqlite",
        db.operation.name = operation,
        db.collection.name = collection,
        db.namespace = namespace,
    )
}

/// A client span for `operation` on `collection` in PostgreSQL, for the bulk
/// writes that run on sqlx directly ([`crate::BulkWrite`]), which sea-orm's
/// per-statement callback does not see.
pub(crate) fn postgres(operation: &str, collection: &str) -> tracing::Span {
    if !ENABLED.load(Ordering::Relaxed) || tracing::Span::current().is_none() {
        return tracing::Span::none();
    }
    tracing::info_span!(
        "db",
        otel.name = %format!("{operation} {collection}"),
        otel.kind = "client",
        db.system.name = "postgresql",
        db.operation.name = operation,
        db.collection.name = collection,
    )
}

/// The service a SQLite file belongs to: its name without `.db`.
pub(crate) fn namespace_of(path: &std::path::Path) -> std::sync::Arc<str> {
    path.file_stem().and_then(|stem| stem.to_str()).unwrap_or_default().into()
}
