//! What a service's database connection tells telemetry: a client span per
//! statement that sqlx runs (sea-orm reports each one, with its duration, after
//! it ran; the span is back-dated to its start), under the RPC that ran it; and
//! the pool's connections in use and idle as a gauge. The SQLite reader and
//! writer threads span their own work (`persistence::spans`).
//!
//! Attributes follow the OpenTelemetry database conventions and never carry
//! values: the operation and table come from the SQL text sea-orm built, whose
//! values are all bound parameters, and the statement itself is not recorded.

use std::sync::Arc;
use std::time::SystemTime;

use opentelemetry::KeyValue;
use opentelemetry::trace::{SpanKind, Status, TraceContextExt as _, Tracer as _};
use sea_orm::{DatabaseConnection, DbBackend};
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

/// Spans each statement of `db` (only those in a sampled trace, and nothing at
/// all, not even a look at the current span, when no collector takes spans),
/// and, when metrics are exported, measures its pool.
pub fn observe(db: &mut DatabaseConnection, service: &str, url: &str) {
    let system = if db.get_database_backend() == DbBackend::Postgres { "postgresql" } else { "sqlite" };
    let mut common =
        vec![KeyValue::new("db.system.name", system), KeyValue::new("db.namespace", service.to_owned())];
    if let Some((host, port)) = server_of(url) {
        common.push(KeyValue::new("server.address", host));
        if let Some(port) = port {
            common.push(KeyValue::new("server.port", i64::from(port)));
        }
    }
    let common: Arc<[KeyValue]> = common.into();
    db.set_metric_callback(move |info| {
        // Nothing exports a span: not even the current span's context is worth
        // looking up (a lock and an allocation per statement).
        if !crate::telemetry::spans_exported() {
            return;
        }
        let parent = tracing::Span::current().context();
        if !parent.span().span_context().is_sampled() {
            return;
        }
        let ended = SystemTime::now();
        let started = ended.checked_sub(info.elapsed).unwrap_or(ended);
        let (operation, collection) = summarise(&info.statement.sql);
        let name = match collection {
            Some(collection) => format!("{operation} {collection}"),
            None => operation.to_owned(),
        };
        let mut attributes = common.to_vec();
        attributes.push(KeyValue::new("db.operation.name", operation.to_owned()));
        if let Some(collection) = collection {
            attributes.push(KeyValue::new("db.collection.name", collection.to_owned()));
        }
        if info.failed {
            attributes.push(KeyValue::new("error.type", "database_error"));
        }
        let tracer = opentelemetry::global::tracer("involve");
        let mut span = tracer
            .span_builder(name)
            .with_kind(SpanKind::Client)
            .with_start_time(started)
            .with_attributes(attributes)
            .start_with_context(&tracer, &parent);
        if info.failed {
            opentelemetry::trace::Span::set_status(&mut span, Status::error("statement failed"));
        }
        opentelemetry::trace::Span::end_with_timestamp(&mut span, ended);
    });
    if crate::telemetry::metrics_enabled() {
        measure_pool(db.clone(), service.to_owned());
    }
}

/// `db.client.connection.count` by state (`idle`, `used`) for the service's pool.
fn measure_pool(db: DatabaseConnection, service: String) {
    let _gauge = opentelemetry::global::meter("involve")
        .i64_observable_gauge("db.client.connection.count")
        .with_unit("{connection}")
        .with_description("Database connections of the service's pool, by state")
        .with_callback(move |gauge| {
            // The suite connects to PostgreSQL or SQLite only (persistence::connect).
            let (size, idle) = if db.get_database_backend() == DbBackend::Postgres {
                let pool = db.get_postgres_connection_pool();
                (pool.size(), pool.num_idle())
            } else {
                let pool = db.get_sqlite_connection_pool();
                (pool.size(), pool.num_idle())
            };
            let idle = i64::try_from(idle).unwrap_or(i64::MAX);
            let used = i64::from(size).saturating_sub(idle).max(0);
            let pool = KeyValue::new("db.client.connection.pool.name", service.clone());
            gauge.observe(idle, &[pool.clone(), KeyValue::new("db.client.connection.state", "idle")]);
            gauge.observe(used, &[pool, KeyValue::new("db.client.connection.state", "used")]);
        })
        .build();
}

/// Host and port of a `postgres://` URL, without user or password; `None` for SQLite.
fn server_of(url: &str) -> Option<(String, Option<u16>)> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split(['/', '?']).next()?;
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
    if host_port.is_empty() || url.starts_with("sqlite:") {
        return None;
    }
    match host_port.rsplit_once(':') {
        Some((host, port)) if !host.ends_with(']') || host.starts_with('[') => {
            Some((host.to_owned(), port.parse().ok()))
        }
        Some(_) | None => Some((host_port.to_owned(), None)),
    }
}

/// The operation (first keyword) and the table a statement acts on, from the
/// SQL text alone.
fn summarise(sql: &str) -> (&'static str, Option<&str>) {
    let mut words = sql.split_whitespace();
    let first = words.next().unwrap_or_default();
    let operation =
        ["SELECT", "INSERT", "UPDATE", "DELETE", "WITH", "BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT"]
            .into_iter()
            .find(|known| first.eq_ignore_ascii_case(known))
            .unwrap_or("OTHER");
    let after = match operation {
        "SELECT" | "DELETE" => "FROM",
        "INSERT" => "INTO",
        "UPDATE" => "UPDATE",
        _ => return (operation, None),
    };
    let mut words = sql.split_whitespace();
    let collection = if operation == "UPDATE" {
        words.nth(1)
    } else {
        words.by_ref().find(|word| word.eq_ignore_ascii_case(after));
        words.next()
    };
    let collection = collection.map(|name| {
        let name = name.trim_end_matches(['(', ',', ';']);
        let name = name.rsplit('.').next().unwrap_or(name);
        name.trim_matches(['"', '`'])
    });
    (operation, collection.filter(|name| !name.is_empty() && !name.starts_with('(')))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_are_summarised_by_operation_and_table_only() {
        assert_eq!(
            summarise(r#"SELECT "customers"."id" FROM "profiles"."customers" WHERE "id" = $1"#),
            ("SELECT", Some("customers"))
        );
        assert_eq!(summarise(r#"INSERT INTO "cases" ("id") VALUES ($1)"#), ("INSERT", Some("cases")));
        assert_eq!(summarise(r#"UPDATE "cases" SET "state" = $1"#), ("UPDATE", Some("cases")));
        assert_eq!(summarise(r#"DELETE FROM "nonces" WHERE 1"#), ("DELETE", Some("nonces")));
        assert_eq!(summarise("SELECT 1"), ("SELECT", None));
        assert_eq!(summarise("PRAGMA journal_mode"), ("OTHER", None));
    }

    #[test]
    fn the_server_is_named_without_credentials() {
        assert_eq!(
            server_of("postgres://involve:secret@db.example:5433/involve?sslmode=require"),
            Some(("db.example".to_owned(), Some(5433)))
        );
        assert_eq!(server_of("postgres://127.0.0.1/involve"), Some(("127.0.0.1".to_owned(), None)));
        assert_eq!(server_of("sqlite://data/asb.db"), None);
    }
}
